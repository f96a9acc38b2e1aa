"""Metric functions on hand-built tensors, and against theory."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from actcmp.core.activations import parse_activation
from actcmp.core.metrics import (
    PREACT_HIST_BINS,
    PREACT_HIST_RANGE,
    anomaly_auroc,
    dead_mask,
    epochs_to_threshold,
    linear_probe_accuracy,
    peak_derivative,
    preact_histogram,
    saturated_mask,
    transitions,
    zero_fraction,
)


def deriv(name: str, z: torch.Tensor) -> torch.Tensor:
    return parse_activation(name).derivative(z)


def test_relu_unit_with_all_negative_preactivations_is_dead() -> None:
    z = torch.tensor([[-1.0, 0.5], [-2.0, -0.1], [-0.3, 2.0]])  # unit 0 always negative
    assert dead_mask(deriv("relu", z)).tolist() == [True, False]


def test_leaky_unit_with_all_negative_preactivations_is_not_dead() -> None:
    z = torch.tensor([[-1.0], [-2.0], [-0.3]])
    assert dead_mask(deriv("leaky_relu", z)).tolist() == [False]
    assert dead_mask(deriv("prelu", z)).tolist() == [False]
    assert dead_mask(deriv("elu", z)).tolist() == [False]


def test_relu_at_exactly_zero_counts_as_dead() -> None:
    # torch's ReLU gradient at 0 is 0; a unit stuck at 0 learns nothing
    assert dead_mask(deriv("relu", torch.zeros(4, 1))).tolist() == [True]


def test_saturated_sigmoid_unit() -> None:
    z = torch.tensor([[9.0, 0.1], [12.0, -0.2], [-10.0, 0.3], [15.0, 1.0]])
    peak = peak_derivative("sigmoid")
    assert math.isclose(peak, 0.25, rel_tol=1e-6)
    mask = saturated_mask(deriv("sigmoid", z), peak, threshold=0.05, share=0.95)
    assert mask.tolist() == [True, False]
    # sigmoid never has an exactly-zero derivative at moderate z: saturated, not dead
    assert dead_mask(deriv("sigmoid", z)).tolist() == [False, False]


def test_saturation_share_boundary() -> None:
    z = torch.tensor([[8.0], [8.0], [8.0], [0.0]])  # 75% saturated inputs
    peak = peak_derivative("tanh")
    d = deriv("tanh", z)
    assert saturated_mask(d, peak, 0.05, 0.75).tolist() == [True]
    assert saturated_mask(d, peak, 0.05, 0.80).tolist() == [False]


def test_dead_relu_is_not_also_saturated() -> None:
    z = -torch.ones(5, 1)
    d = deriv("relu", z)
    assert dead_mask(d).tolist() == [True]
    assert saturated_mask(d, 1.0, 0.05, 0.95).tolist() == [False]


@pytest.mark.parametrize(
    ("name", "peak"),
    [
        ("relu", 1.0),
        ("sigmoid", 0.25),
        ("tanh", 1.0),
        ("selu", 1.0507009873554805 * 1.6732632423543772),
        ("identity", 1.0),
        ("softsign", 1.0),
    ],
)
def test_peak_derivative_theory(name: str, peak: float) -> None:
    assert math.isclose(peak_derivative(name), peak, rel_tol=1e-3)


def test_zero_fraction_and_transitions() -> None:
    post = torch.tensor([[0.0, 1.0], [0.0, 0.0]])
    assert zero_fraction(post) == 0.75
    before = torch.tensor([True, False, True, False])
    after = torch.tensor([True, True, False, False])
    assert transitions(before, after) == (1, 1)
    assert transitions(None, after) == (0, 0)


def test_epochs_to_threshold() -> None:
    assert epochs_to_threshold([1.0, 0.6, 0.4, 0.3], 0.5) == 2
    assert epochs_to_threshold([1.0, 0.9], 0.5) is None
    assert epochs_to_threshold([float("nan"), 0.1], 0.5) == 1
    assert epochs_to_threshold([0.1], 0.5) == 0


def test_linear_probe_separable_and_degenerate() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 50)
    codes = rng.normal(size=(100, 2)) + y[:, None] * 6.0
    assert linear_probe_accuracy(codes, y, codes, y) == 1.0
    assert linear_probe_accuracy(codes, np.zeros(100, int), codes, y) is None
    codes_nan = codes.copy()
    codes_nan[0, 0] = np.nan
    assert linear_probe_accuracy(codes_nan, y, codes, y) is None


def test_anomaly_auroc() -> None:
    flags = np.array([False, False, True, True])
    assert anomaly_auroc(np.array([0.1, 0.2, 0.9, 0.8]), flags) == 1.0
    assert anomaly_auroc(np.array([0.9, 0.8, 0.1, 0.2]), flags) == 0.0
    assert anomaly_auroc(np.array([0.1, 0.2]), np.array([False, False])) is None
    assert anomaly_auroc(np.array([np.nan, 0.2, 0.3, 0.4]), flags) is None


def test_preact_histogram_bins_clipping_and_non_finite() -> None:
    low, high = PREACT_HIST_RANGE
    width = (high - low) / PREACT_HIST_BINS
    z = torch.tensor([[low + width / 2, low + width / 2], [high - width / 2, 0.01], [-100.0, 100.0]])
    shares = preact_histogram(z)
    assert shares is not None and shares.shape == (PREACT_HIST_BINS,)
    assert shares.sum() == pytest.approx(1.0)
    # two in the first bin plus -100 clipped into it; 100 clipped into the last, with one
    assert shares[0] == pytest.approx(3 / 6) and shares[-1] == pytest.approx(2 / 6)
    assert shares[PREACT_HIST_BINS // 2] == pytest.approx(1 / 6)  # 0.01 is just above the centre edge
    with_nan = torch.tensor([0.01, float("nan"), float("inf")])
    assert preact_histogram(with_nan)[PREACT_HIST_BINS // 2] == 1.0  # nan and inf are left out
    assert preact_histogram(torch.tensor([float("nan")])) is None


def test_linear_probe_fits_on_one_blas_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_info, threadpool_limits

    seen: list[int] = []
    fit = LogisticRegression.fit

    def spy(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.extend(lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas")
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(LogisticRegression, "fit", spy)
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 50)
    codes = rng.normal(size=(100, 2)) + y[:, None] * 6.0
    with threadpool_limits(limits=2, user_api="blas"):
        assert linear_probe_accuracy(codes, y, codes, y) == 1.0
        after = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    assert seen and set(seen) == {1}
    assert set(after) == {2}  # restored


def test_preact_histograms_count_like_numpy_in_one_pass() -> None:
    from actcmp.core.metrics import preact_histograms

    gen = torch.Generator().manual_seed(0)
    low, high = PREACT_HIST_RANGE
    zs = [torch.randn(64, 10, generator=gen) * scale for scale in (0.3, 2.0, 9.0)]
    zs.append(torch.full((4, 3), float("nan")))
    found = preact_histograms(zs)
    for z, shares in zip(zs[:3], found[:3], strict=True):
        expected, _ = np.histogram(np.clip(z.double().numpy(), low, high), bins=PREACT_HIST_BINS, range=(low, high))
        np.testing.assert_array_equal(shares, expected / z.numel())
    assert found[3] is None
    assert preact_histograms([]) == []


def test_preact_histograms_match_the_definition_value_by_value() -> None:
    """Each value's bin is floor((z - low) * bins / (high - low)) in float64, clipped to the
    end bins; non-finite values left out. Edge values (bin edges, tiny magnitudes whose float64
    sum with -low rounds to an edge, huge values), float64 and non-contiguous inputs, empty
    tensors and tensors mixing finite and non-finite values, all counted in one pass."""
    from actcmp.core.metrics import preact_histograms

    low, high = PREACT_HIST_RANGE
    bins, scale = PREACT_HIST_BINS, PREACT_HIST_BINS / (high - low)
    edges = [low + k / scale for k in range(bins + 1)]
    special = [*edges, -1e-30, 1e-30, -(2.0**-51), -(2.0**-50), -0.0, 1e300, -1e300, math.nan, math.inf, -math.inf]
    gen = torch.Generator().manual_seed(3)
    zs = [
        torch.tensor(special, dtype=torch.float32),
        torch.tensor(special, dtype=torch.float64),
        (torch.randn(40, 7, generator=gen) * 4).t(),  # non-contiguous
        torch.empty(0),
        torch.tensor([math.nan, 2.0, math.inf]),
        torch.randn(300, generator=gen, dtype=torch.float64) * 20,
    ]
    found = preact_histograms(zs)
    for z, shares in zip(zs, found, strict=True):
        counts = [0] * bins
        for value in z.double().reshape(-1).tolist():
            if math.isfinite(value):
                counts[int(min(max((value - low) * scale, 0.0), bins - 0.5))] += 1
        if sum(counts) == 0:
            assert shares is None
        else:
            assert shares is not None
            np.testing.assert_array_equal(shares, np.asarray(counts, dtype=np.float64) / sum(counts))
