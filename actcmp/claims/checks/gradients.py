"""Claims about gradients across depth: sigmoid and tanh gradients vanish with depth while
the ReLU family keeps gradient norms (claim 4, per condition: its verdict is the map of its
conditions, with no pooled verdict), from the ratio of the first to the last linear layer's
weight-gradient norm at initialisation."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from actcmp.analysis import stats as stats
from actcmp.claims.checks.frames import (
    family_of,
    finished_runs,
    fmt_p,
)
from actcmp.claims.checks.ranktests import below
from actcmp.claims.checks.units import saturation_part
from actcmp.claims.checks.verdict import FAILS, HOLDS, UNSURE, Verdict, combine, no_data

if TYPE_CHECKING:
    import pandas as pd


# -- claim 4: saturation and vanishing gradients ------------------------------------------------
def gradient_ratios(
    runs: pd.DataFrame, layers: pd.DataFrame, epoch: int = 0, metric: str = "grad_norm_weight"
) -> pd.DataFrame:
    """Per finished run: ``log10_ratio`` = log10(first linear layer's / last linear
    layer's ``metric``) at ``epoch`` (0 = initialisation), with activation and depth.
    Negative: the gradient shrinks on its way back to the input. A first-layer gradient
    of exactly 0 under a nonzero last one (it underflowed float32: vanished completely)
    is kept as ``-inf``; runs without a usable ratio (a last-layer gradient of 0, a
    missing or non-finite norm) are left out."""
    import pandas as pd

    finished = finished_runs(runs)
    columns = ["run_id", "activation", "depth", "seed", "log10_ratio"]
    if finished.empty or layers.empty:
        return pd.DataFrame(columns=columns)
    grads = layers[(layers["metric"] == metric) & (layers["epoch"] == epoch)]
    grads = grads[grads["run_id"].isin(finished["run_id"])]
    first = grads.loc[grads.groupby("run_id")["layer"].idxmin()].set_index("run_id")["value"]
    last = grads.loc[grads.groupby("run_id")["layer"].idxmax()].set_index("run_id")["value"]
    top, bottom = first.astype(float), last.reindex(first.index).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.log10(top / bottom)
    usable = np.isfinite(ratio) | ((top == 0) & np.isfinite(bottom) & (bottom > 0))
    frame = finished.set_index("run_id").loc[ratio.index, ["activation", "depth", "seed"]].assign(log10_ratio=ratio)
    return frame[usable.to_numpy()].reset_index()[columns]


def _size_text(values: np.ndarray) -> str:
    """How large the first layer's gradient is against the last's over the seeds ``values``
    (log10 r, ``-inf`` where it underflowed to 0): the median, the statistic the verdict
    shows and its signed-rank test reads, and the range over the seeds."""
    gone = int(np.isneginf(values).sum())
    rest = values[np.isfinite(values)]
    median = float(np.median(values))
    if not gone:
        return (
            f"{_power(median)} of the last's (median over {len(values)} seeds; from {_power(float(rest.min()))} "
            f"to {_power(float(rest.max()))})"
        )
    if not len(rest):
        return "exactly 0 in every seed (it underflowed: vanished completely)"
    middle = "0 (underflowed)" if math.isinf(median) else _power(median)
    spread = (
        _power(float(rest[0])) if len(rest) == 1 else f"from {_power(float(rest.min()))} to {_power(float(rest.max()))}"
    )
    return (
        f"exactly 0 in {gone} of {len(values)} seeds (it underflowed: log10 r = -inf) and {spread} of the "
        f"last's in the other {len(rest)}; median over all {len(values)} seeds {middle}"
    )


def _power(log10: float) -> str:
    """``10^-0.99``: a log10 ratio as a power of ten, two decimals (no ``-0.00``)."""
    text = f"{log10:.2f}"
    return f"10^{'0.00' if text == '-0.00' else text}"


def check_vanishing_cell(
    runs: pd.DataFrame,
    layers: pd.DataFrame,
    *,
    max_orders: float = 1.0,
    min_saturated: float = 0.05,
    alpha: float = stats.ALPHA,
) -> Verdict:
    """The vanishing-gradient claim in one condition (one init rule and depth: the runs
    given), from r = |grad W_first| / |grad W_last| at initialisation:

    * each bounded activation's gradient *vanishes*: log10 r over seeds lies below
      ``-max_orders`` (a one-sided exact signed-rank test, p < alpha; an underflowed seed is
      -inf, ranked lowest); does not hold when it lies significantly above; else inconclusive;
    * each ReLU-family activation *keeps* it: two one-sided signed-rank tests that log10 r lies
      within ``max_orders`` of 0 (an equivalence test);
    * each bounded activation *saturates* after training: its seeds' saturated fractions lie
      above ``min_saturated`` (one-sided exact signed-rank test, p < alpha; does not hold where
      they lie significantly below; :func:`~actcmp.claims.checks.units.saturation_part`;
      saturation as defined in :mod:`actcmp.core.metrics`: f' under 5% of its peak; only
      bounded activations are judged, see the claim's definitions).
    """
    ratios = gradient_ratios(runs, layers)
    if ratios.empty:
        return no_data("no gradient norms stored for these runs")
    depth = ratios["depth"].max()
    parts = []
    lead_value, lead_p = math.nan, math.nan
    for name in sorted(set(ratios["activation"])):
        values = ratios.loc[ratios["activation"] == name, "log10_ratio"].to_numpy(float)
        family = family_of(name)
        if family == "bounded":
            part = _vanishes_in_cell(name, values, max_orders, alpha)
            if not math.isfinite(lead_value) or name == "sigmoid":
                lead_value, lead_p = part.value, part.p_value
            parts.append(part)
        elif family == "relu":
            parts.append(_keeps_in_cell(name, values, max_orders, alpha))
    # a bounded activation with finished runs but no usable ratio (no gradient norms stored, or
    # a last-layer gradient of 0): nothing to judge (an underflowed first layer is a -inf ratio)
    finished = finished_runs(runs)
    for name in sorted(set(finished["activation"]) - set(ratios["activation"])):
        if family_of(name) == "bounded":
            parts.append(_no_ratio(name))
    parts.append(saturation_part(runs, depth, min_saturated, alpha))
    return combine(parts, "median log10(first/last gradient norm), sigmoid", lead_value, lead_p)


def _vanishes_in_cell(name: str, values: np.ndarray, max_orders: float, alpha: float) -> Verdict:
    """A bounded activation's gradient vanishes in one condition: the seeds' log10 r
    (``values``) are significantly below ``-max_orders`` by the one-sided signed-rank test
    (:func:`~actcmp.claims.checks.ranktests.below`; the median is shown). Seeds whose first-layer gradient underflowed to
    0 (``-inf``) count as below any bound: all of them, it vanishes."""
    gone = int(np.isneginf(values).sum())
    if gone == len(values):
        return _underflowed(name)
    verdict, p = below(values, -max_orders, alpha)
    ending = {HOLDS: ": it vanishes.", FAILS: ": no vanishing here.", UNSURE: "."}[verdict]
    return Verdict(
        verdict,
        "median log10 r",
        float(np.median(values)),
        p,
        f"{name}: the first layer's gradient is {_size_text(values)} "
        f"(one-sided signed-rank test over {len(values)} seeds against 10^-{max_orders:g}"
        f"{', underflowed seeds lowest' if gone else ''}: {fmt_p(p)})" + ending,
        label=f"{name} gradients vanish",
    )


def _keeps_in_cell(name: str, values: np.ndarray, max_orders: float, alpha: float = stats.ALPHA) -> Verdict:
    """A ReLU-family activation keeps gradient norms in one condition: the seeds' log10 r
    (``values``) lie within ``max_orders`` orders of magnitude of 0, shown by two one-sided
    exact signed-rank tests (:func:`~actcmp.claims.checks.ranktests.below`: significantly below +max_orders and above
    -max_orders; p the larger of the two, an equivalence test). Does not hold when they are
    significantly beyond either bound (a seed that underflowed to 0, ``-inf``, is the lowest
    value); inconclusive otherwise (with 5 seeds, "keeps" needs every seed within the bounds,
    as "vanishes" needs every seed below its bound). The median is shown."""
    upper, p_upper = below(values, max_orders, alpha)  # HOLDS: below +max; FAILS: above it
    lower, p_lower = below(-values, max_orders, alpha)  # HOLDS: above -max; FAILS: below it
    median = float(np.median(values)) if len(values) else math.nan
    if upper == HOLDS and lower == HOLDS:
        verdict, p, ending = HOLDS, max(p_upper, p_lower), f"within {max_orders:g} order of magnitude"
    elif upper == FAILS or lower == FAILS:
        verdict = FAILS
        p = p_upper if upper == FAILS else p_lower
        ending = f"beyond {max_orders:g} order of magnitude"
    else:
        verdict, p = UNSURE, max(p_upper, p_lower)
        ending = f"not shown within or beyond {max_orders:g} order of magnitude"
    gone = int(np.isneginf(values).sum())
    return Verdict(
        verdict,
        "median log10 r",
        median,
        p,
        explanation=f"{name}: the first layer's gradient is {_size_text(values)} ({ending}: two one-sided "
        f"signed-rank tests over {len(values)} seeds against 10^±{max_orders:g}"
        f"{', underflowed seeds lowest' if gone else ''}, {fmt_p(p)}).",
        label=f"{name} keeps gradient norms",
    )


def _no_ratio(name: str) -> Verdict:
    """A bounded activation with finished runs but no usable gradient ratio: undecided."""
    return Verdict(
        UNSURE,
        "runs with a gradient ratio",
        0.0,
        explanation=f"{name}: no usable gradient norms stored (missing, or a last-layer gradient of 0).",
        label=f"{name} gradients vanish",
    )


def _underflowed(name: str) -> Verdict:
    """A bounded activation whose first-layer gradient is exactly 0 in every seed: vanished."""
    return Verdict(
        HOLDS,
        "median log10 r",
        -math.inf,
        explanation=f"{name}: the first layer's gradient is exactly 0 in every seed (below float32's "
        "range): it vanishes completely.",
        label=f"{name} gradients vanish",
    )


__all__ = [
    "check_vanishing_cell",
    "gradient_ratios",
]
