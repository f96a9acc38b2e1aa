"""Per cell: the mean over seeds, its spread and its interval (:func:`summarise`), and the
interval methods themselves. Pure functions on the runs frame; see :mod:`actcmp.analysis.stats`
for the conventions."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from actcmp.analysis.cells import cell_groups, cell_keys, outcomes

if TYPE_CHECKING:
    import pandas as pd

CONFIDENCE = 0.95
N_RESAMPLES = 2000
RANDOM_STATE = 0
#: how the tables' interval of a mean over seeds is computed (named in every footnote)
CI_METHOD = "Student t interval"


def metric_range(metric: str) -> tuple[float, float] | None:
    """The values a metric can take, where it is bounded: losses are >= 0; fractions,
    accuracies and AUROCs lie in [0, 1]. None: unbounded (or unknown)."""
    if metric.endswith("loss") or metric.endswith("_error"):
        return (0.0, math.inf)
    if metric.endswith("_fraction") or metric in ("probe_accuracy", "anomaly_auroc"):
        return (0.0, 1.0)
    return None


def t_interval(
    values: Sequence[float], confidence: float = CONFIDENCE, bounds: tuple[float, float] | None = None
) -> tuple[float, float, str]:
    """(low, high, note) of the Student t interval of the mean: mean +- t(1 - a/2, n - 1) *
    s / sqrt(n). Exact coverage for normal data at any n >= 2 (the seed counts people use,
    3-10, are where a bootstrap interval falls short: 71% nominal-95% BCa coverage at 3
    seeds); for skewed data it covers somewhat less (see tests/test_coverage.py). Fewer
    than 2 values: NaN with a note; all equal: a zero-width interval, said in the note.

    ``bounds`` (:func:`metric_range`): the interval is cut to the values the metric can
    take (a loss's mean cannot be below 0), and the note says so. Cutting never removes
    the true mean, so the coverage is the t interval's."""
    from scipy import stats

    data = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
    n = len(data)
    if n < 2:
        return math.nan, math.nan, f"{n} seed{'s' if n != 1 else ''}: too few for an interval"
    mean = float(data.mean())
    if np.ptp(data) == 0:
        return mean, mean, "all seeds equal"
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * float(data.std(ddof=1)) / math.sqrt(n)
    notes = [] if n >= 3 else ["2 seeds: a very wide interval"]
    low, high = mean - half, mean + half
    if bounds is not None and (low < bounds[0] or high > bounds[1]):
        low, high = max(low, bounds[0]), min(high, bounds[1])
        notes.append(f"cut to the metric's range [{bounds[0]:g}, {bounds[1]:g}]")
    return low, high, "; ".join(notes)


def bootstrap_ci(
    values: Sequence[float],
    confidence: float = CONFIDENCE,
    n_resamples: int = N_RESAMPLES,
    random_state: int = RANDOM_STATE,
) -> tuple[float, float, str]:
    """(low, high, note) of a bootstrap CI of the mean (``scipy.stats.bootstrap``, BCa,
    fixed seed). Not used by the tables: with 3-10 seeds it covers far less than its
    nominal level (:func:`t_interval` does not). Fewer than 3 values: NaN with a note;
    all equal: a zero-width interval; where BCa fails it falls back to the percentile
    method and says so."""
    from scipy import stats

    data = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
    if len(data) < 3:
        return math.nan, math.nan, f"{len(data)} seed{'s' if len(data) != 1 else ''}: too few for a bootstrap CI"
    if np.ptp(data) == 0:
        return float(data[0]), float(data[0]), "all seeds equal"
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # degenerate resamples: checked below instead
            result = stats.bootstrap(
                (data,),
                np.mean,
                confidence_level=confidence,
                n_resamples=n_resamples,
                method=method,
                rng=np.random.default_rng(random_state),
            )
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
        if math.isfinite(low) and math.isfinite(high):
            note = "" if len(data) >= 5 else f"{len(data)} seeds: a rough interval"
            if method != "BCa":
                note = (note + "; " if note else "") + "percentile bootstrap (BCa failed)"
            return low, high, note
    return math.nan, math.nan, "bootstrap failed"


def summarise(
    runs: pd.DataFrame,
    metric: str = "test_loss",
    *,
    treatment: str = "activation",
    fill_missing: float | str | None = None,
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """Per cell x treatment: ``n`` converged seeds with a value, ``n_diverged``, ``mean``,
    ``std`` (ddof 1), ``ci_low`` / ``ci_high`` (:func:`t_interval` over seeds,
    :data:`CI_METHOD`, cut to :func:`metric_range`) and a ``note``."""
    import pandas as pd

    keys = cell_keys(runs, treatment)
    data = outcomes(runs, metric, treatment=treatment, keys=keys, fill_missing=fill_missing)
    rows = []
    for key, group in cell_groups(data, [*keys, treatment]):
        values = group.loc[~group["worst"], "value"].to_numpy(dtype=float)
        low, high, note = t_interval(values, confidence, metric_range(metric))
        rows.append(
            {
                **dict(zip([*keys, treatment], key, strict=True)),
                "n": len(values),
                "n_diverged": int(group["worst"].sum()),
                "mean": float(values.mean()) if len(values) else math.nan,
                "std": float(values.std(ddof=1)) if len(values) > 1 else math.nan,
                "ci_low": low,
                "ci_high": high,
                "note": note,
            }
        )
    columns = [*keys, treatment, "n", "n_diverged", "mean", "std", "ci_low", "ci_high", "note"]
    return pd.DataFrame(rows, columns=columns)


__all__ = [
    "CI_METHOD",
    "CONFIDENCE",
    "N_RESAMPLES",
    "RANDOM_STATE",
    "bootstrap_ci",
    "metric_range",
    "summarise",
    "t_interval",
]
