"""Depth scaling: how each treatment's loss grows with depth, and the deepest network that still
trains. Pure functions on the runs frame; see :mod:`actcmp.analysis.stats`."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from actcmp.analysis.cells import cell_groups, cell_keys, outcomes

if TYPE_CHECKING:
    import pandas as pd

#: a depth still trains while its mean loss is within this factor of the best depth's
DEPTH_FACTOR = 1.5
#: the columns of :func:`depth_profile` besides the panel keys and the treatment
PROFILE_VALUES = ("depth", "n", "n_diverged", "n_stuck", "learned", "mean", "ratio", "trains")
#: what "trains" means, in words (captions of the report and the claims)
TRAINS = (
    "no seed diverged, the median seed learned (final validation loss below the loss of predicting the "
    "training mean) and the mean test loss is within {factor:g}x the loss at the activation's best depth"
)


def depth_profile(
    runs: pd.DataFrame, metric: str = "test_loss", *, treatment: str = "activation", factor: float = DEPTH_FACTOR
) -> pd.DataFrame:
    """Per panel (cell keys but depth) x treatment x depth: ``mean`` over converged seeds,
    ``n``, ``n_diverged``, ``n_stuck`` (converged seeds that did not learn: final validation
    loss not below the loss of predicting the training mean), ``learned`` (the median seed's
    final validation loss is below that loss: a majority of seeds learned, whatever their
    number, and one stray seed does not decide; True where the runs do not record it),
    ``ratio`` to the treatment's best depth and ``trains`` (no seed diverged, ``learned`` and
    ``ratio <= factor``). The best depth is the lowest mean among depths where no seed
    diverged. A network that never learned is not said to train because its loss is flat
    across depths."""
    import pandas as pd

    keys = cell_keys(runs, treatment)
    panel = [k for k in keys if k != "depth"]
    columns = [*panel, treatment, *PROFILE_VALUES]
    if "depth" not in keys:
        return pd.DataFrame(columns=columns)
    data = outcomes(runs, metric, treatment=treatment, keys=keys)
    stuck = _learning(runs, [*panel, treatment, "depth"])
    rows = []
    for key, group in cell_groups(data, [*panel, treatment]):
        per_depth = []
        for depth, mine in group.groupby("depth", sort=True):
            values = mine.loc[~mine["worst"], "value"]
            per_depth.append(
                (depth, len(values), int(mine["worst"].sum()), float(values.mean()) if len(values) else math.nan)
            )
        clean = [m for _, n, d, m in per_depth if d == 0 and n > 0]
        best = min(clean) if clean else math.nan
        for depth, n, diverged, mean in per_depth:
            ratio = mean / best if best and math.isfinite(best) and best > 0 else math.nan
            n_stuck, median = stuck.get(_text_key((*key, depth)), (0, math.nan))
            learned = not median >= 1.0  # NaN (not recorded): no evidence either way
            rows.append(
                {
                    **dict(zip([*panel, treatment], key, strict=True)),
                    "depth": depth,
                    "n": n,
                    "n_diverged": diverged,
                    "n_stuck": n_stuck,
                    "learned": learned,
                    "mean": mean,
                    "ratio": ratio,
                    "trains": bool(diverged == 0 and learned and n > 0 and ratio <= factor),
                }
            )
    return pd.DataFrame(rows, columns=columns)


def _text_key(values: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple("none" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in values)


def _learning(runs: pd.DataFrame, keys: list[str]) -> dict[tuple[str, ...], tuple[int, float]]:
    """Per cell (``keys``, as text) of the converged runs: how many did not learn (final
    validation loss not below ``baseline_loss``, the loss of predicting the training mean) and
    the median over them of final / baseline (NaN where not recorded)."""
    import pandas as pd

    if runs.empty or not {"final_val_loss", "baseline_loss", "status"} <= set(runs.columns):
        return {}
    done = runs[runs["status"] == "done"]
    ratio = pd.to_numeric(done["final_val_loss"], errors="coerce") / pd.to_numeric(
        done["baseline_loss"], errors="coerce"
    )
    out: dict[tuple[str, ...], tuple[int, float]] = {}
    frame = done[keys].assign(_ratio=ratio.to_numpy())
    for values, group in frame.groupby(keys, dropna=False, sort=False):
        known = group["_ratio"].dropna()
        median = float(known.median()) if len(known) else math.nan
        key = _text_key(values if isinstance(values, tuple) else (values,))
        out[key] = (int((known >= 1.0).sum()), median)
    return out


def depth_scaling(
    runs: pd.DataFrame, metric: str = "test_loss", *, treatment: str = "activation", factor: float = DEPTH_FACTOR
) -> pd.DataFrame:
    """Per panel x treatment: the deepest depth that still trains (no seed diverged, none
    stuck (see :func:`depth_profile`) and
    mean ``metric`` within ``factor`` x that of the treatment's best depth), with
    ``best_depth``, ``depths`` tried and the ``factor`` used. NaN when no depth trains."""
    import pandas as pd

    profile = depth_profile(runs, metric, treatment=treatment, factor=factor)
    panel = [c for c in profile.columns if c != treatment and c not in PROFILE_VALUES]
    columns = [*panel, treatment, "depths", "best_depth", "best_mean", "deepest_trained", "factor"]
    rows = []
    for key, group in cell_groups(profile, [*panel, treatment]):
        ok = group[group["trains"]]
        best = group[group["ratio"] == 1.0]
        rows.append(
            {
                **dict(zip([*panel, treatment], key, strict=True)),
                "depths": ",".join(str(d) for d in group["depth"]),
                "best_depth": best["depth"].iloc[0] if len(best) else math.nan,
                "best_mean": float(best["mean"].iloc[0]) if len(best) else math.nan,
                "deepest_trained": ok["depth"].max() if len(ok) else math.nan,
                "factor": factor,
            }
        )
    return pd.DataFrame(rows, columns=columns)


__all__ = ["DEPTH_FACTOR", "PROFILE_VALUES", "TRAINS", "depth_profile", "depth_scaling"]
