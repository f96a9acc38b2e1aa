"""What every check shares: the runs it reads (converged, finished), the columns as
numbers, runs of two treatments paired by cell and seed, Spearman's rho, an activation's
family, and how numbers and p-values are worded in an explanation. The tests that decide a
direction live in :mod:`actcmp.claims.checks.ranktests` (:func:`~actcmp.claims.checks.ranktests.sided_test`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from actcmp.analysis import stats as stats
from actcmp.report.format import fmt_stat, p_clause

if TYPE_CHECKING:
    import pandas as pd


def fmt_number(value: float, digits: int = 3) -> str:
    """A statistic in a verdict's sentence (the report's one formatter)."""
    return fmt_stat(value, digits)


def fmt_p(p_value: float) -> str:
    """A p-value in a verdict's sentence: ``p < 0.001``, ``p = 0.0497`` (the report's)."""
    return p_clause(p_value)


def done_runs(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == "done"] if "status" in runs.columns else runs


def finished_runs(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"].isin(stats.FINISHED)] if "status" in runs.columns else runs


def numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    import pandas as pd

    if column not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    return pd.to_numeric(frame[column], errors="coerce").astype(float)


def spearman(x: Sequence[float], y: Sequence[float]) -> tuple[float, float, int]:
    """(rho, p, n) of ``scipy.stats.spearmanr`` over finite pairs; NaN when fewer than 3
    pairs or either side is constant (where scipy would only warn)."""
    from scipy import stats as sps

    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan, math.nan, len(a)
    result = sps.spearmanr(a, b)
    return float(result.statistic), float(result.pvalue), len(a)


def paired_runs(
    runs: pd.DataFrame, a: str, b: str, columns: Sequence[str], treatment: str = "activation"
) -> pd.DataFrame:
    """Converged runs of treatments ``a`` and ``b`` joined on cell keys and seed:
    ``COLUMN_a`` / ``COLUMN_b`` for each requested column."""
    keys = [*stats.cell_keys(runs, treatment), "seed"]
    done = done_runs(runs)
    left = done[done[treatment] == a][[*keys, *columns]]
    right = done[done[treatment] == b][[*keys, *columns]]
    return left.merge(right, on=keys, suffixes=(f"_{a}", f"_{b}"))


def on_datasets(frame: pd.DataFrame) -> str:
    """`` on digits and mnist1d``: the datasets of ``frame``'s runs or pairs, for a verdict's
    sentence that must not read as a statement about datasets in general ("" without a
    ``dataset`` column)."""
    if "dataset" not in frame.columns or frame.empty:
        return ""
    names = sorted(str(d) for d in frame["dataset"].dropna().unique())
    if not names:
        return ""
    return " on " + (names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}")


def family_of(name: str) -> str:
    from actcmp.core.activations import REGISTRY

    info = REGISTRY.get(str(name).split("(", 1)[0])
    return info.family if info is not None else "custom"


__all__ = [
    "done_runs",
    "family_of",
    "finished_runs",
    "fmt_number",
    "fmt_p",
    "numeric",
    "on_datasets",
    "paired_runs",
    "spearman",
]
