"""actcmp's numpy AUROC against scikit-learn's ``roc_auc_score``: the same float, bit for bit.

Stored runs hold the AUROC scikit-learn computed; the worker now computes it without
scikit-learn (its import alone costs over a CPU-second), so every float must be equal, not close.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from actcmp.core.metrics import anomaly_auroc, anomaly_aurocs


def _sklearn(errors: np.ndarray, flags: np.ndarray) -> float:
    return float(roc_auc_score(flags.astype(int), errors))


def _flags(rng: np.random.Generator, n: int, share: float) -> np.ndarray:
    """``n >= 2`` flags with about ``share`` anomalies, at least one of each class."""
    flags = rng.random(n) < share
    one, other = rng.choice(n, 2, replace=False)
    flags[one], flags[other] = True, False
    return flags


def _fixtures() -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(20240611)
    cases: list[tuple[str, np.ndarray, np.ndarray]] = []
    for trial in range(100):
        n = int(rng.choice([4, 7, 9, 30, 128, 129, 257, 1000, 3001]))
        share = float(rng.choice([0.5, 0.2, 0.05, 0.01, 0.95]))
        flags = _flags(rng, n, share)
        scores = rng.standard_normal(n) + flags * rng.uniform(-0.5, 2.0)  # some worse than chance
        for dtype in (np.float64, np.float32):
            cases.append((f"distinct-{trial}-{np.dtype(dtype).name}", scores.astype(dtype), flags))
            decimals = int(rng.integers(0, 3))  # 0: a handful of distinct values, many ties
            cases.append(
                (f"ties-{trial}-{decimals}-{np.dtype(dtype).name}", np.round(scores, decimals).astype(dtype), flags)
            )
    for n in (2, 3):  # tiny sets, every flag pattern with both classes, ties and no ties
        for pattern in range(1, 2**n - 1):
            flags = np.array([(pattern >> i) & 1 for i in range(n)], dtype=bool)
            for scores in (rng.random(n), np.round(rng.random(n)), np.zeros(n), np.arange(n, dtype=float)[::-1]):
                for dtype in (np.float64, np.float32):
                    cases.append((f"tiny-{n}-{pattern}", scores.astype(dtype), flags))
    for n in (2, 10, 500):  # all errors equal: the chance diagonal
        flags = _flags(rng, n, 0.3)
        cases.append((f"equal-{n}", np.full(n, 0.25, dtype=np.float32), flags))
        cases.append((f"equal-{n}-64", np.full(n, 1e-3), flags))
    for n, anomalies in ((1000, 1), (1000, 2), (4000, 3), (1000, 999), (300, 299)):  # heavy imbalance
        flags = np.zeros(n, dtype=bool)
        flags[rng.choice(n, anomalies, replace=False)] = True
        scores = rng.exponential(size=n) + flags
        cases.append((f"imbalance-{n}-{anomalies}", scores, flags))
        cases.append((f"imbalance-{n}-{anomalies}-32-ties", np.round(scores, 1).astype(np.float32), flags))
    # reconstruction-error-like: positive, float32, a few exact repeats, signed zeros
    flags = _flags(rng, 600, 0.2)
    errors = (rng.gamma(2.0, size=600) * (1 + flags)).astype(np.float32)
    errors[::50] = errors[1]
    errors[:5] = [0.0, -0.0, 0.0, -0.0, 0.0]
    cases.append(("errors-like", errors, flags))
    return cases


FIXTURES = _fixtures()


@pytest.mark.parametrize("name, errors, flags", FIXTURES, ids=[c[0] for c in FIXTURES])
def test_auroc_is_sklearns_float_bit_for_bit(name: str, errors: np.ndarray, flags: np.ndarray) -> None:
    assert anomaly_auroc(errors, flags) == _sklearn(errors, flags)


def test_fixtures_cover_what_they_claim() -> None:
    names = [c[0] for c in FIXTURES]
    assert len(FIXTURES) > 450
    for prefix in ("distinct", "ties", "tiny-2", "tiny-3", "equal", "imbalance", "errors-like"):
        assert any(n.startswith(prefix) for n in names), prefix
    # not a trivially easy set: the values are spread and rarely round
    values = [_sklearn(e, f) for _, e, f in FIXTURES]
    assert min(values) < 0.3 and max(values) == 1.0
    assert sum(1 for v in values if v not in (0.0, 0.5, 1.0)) > 300


def test_batched_form_is_each_models_auroc_and_keeps_the_none_rules() -> None:
    chosen = FIXTURES[::7]
    errors = [e for _, e, _ in chosen] + [np.array([np.nan, 0.1, 0.2]), np.array([0.1, np.inf]), np.array([0.3, 0.1])]
    flags = [f for _, _, f in chosen] + [np.array([True, False, True]), np.array([True, False]), np.array([True, True])]
    found = anomaly_aurocs(errors, flags)
    assert found[: len(chosen)] == [_sklearn(e, f) for _, e, f in chosen]
    assert found[len(chosen) :] == [None, None, None]
    assert anomaly_aurocs([], []) == []
    with pytest.raises(ValueError):
        anomaly_aurocs([np.zeros(2)], [])


def test_none_cases() -> None:
    assert anomaly_auroc(np.array([0.1, 0.2]), np.array([False, False])) is None  # one class
    assert anomaly_auroc(np.array([0.1, 0.2]), np.array([True, True])) is None
    assert anomaly_auroc(np.array([np.nan, 0.2, 0.3]), np.array([True, False, True])) is None
    assert anomaly_auroc(np.array([-np.inf, 0.2, 0.3]), np.array([True, False, True])) is None
    assert anomaly_auroc(np.array([0.1, 0.2], dtype=np.float32), np.array([1, 0])) == 0.0  # int flags count as bool


def test_auroc_does_not_import_sklearn() -> None:
    code = (
        "import sys, numpy as np\n"
        "from actcmp.core.metrics import anomaly_auroc, anomaly_aurocs\n"
        "import actcmp.engine.plain, actcmp.engine.batched\n"
        "assert anomaly_auroc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == 0.75\n"
        "assert abs(anomaly_aurocs([np.arange(5.0)], [np.array([0, 1, 0, 1, 1])])[0] - 5 / 6) < 1e-12\n"
        "print(sorted(m for m in sys.modules if m == 'sklearn' or m.startswith(('sklearn.', 'scipy'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout
