"""Depth scaling: how each treatment's loss grows with depth, and the deepest network that still
trains. Pure functions on the runs frame; see :mod:`actcmp.analysis.stats`."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from actcmp.analysis.cells import cell_groups, cell_keys, outcomes

if TYPE_CHECKING:
    import pandas as pd

#: a depth still trains while its mean loss is within this factor of the best depth's
DEPTH_FACTOR = 1.5


def depth_profile(
    runs: pd.DataFrame, metric: str = "test_loss", *, treatment: str = "activation", factor: float = DEPTH_FACTOR
) -> pd.DataFrame:
    """Per panel (cell keys but depth) x treatment x depth: ``mean`` over converged seeds,
    ``n``, ``n_diverged``, ``ratio`` to the treatment's best depth and ``trains`` (no seed
    diverged and ``ratio <= factor``). The best depth is the lowest mean among depths
    where no seed diverged."""
    import pandas as pd

    keys = cell_keys(runs, treatment)
    panel = [k for k in keys if k != "depth"]
    columns = [*panel, treatment, "depth", "n", "n_diverged", "mean", "ratio", "trains"]
    if "depth" not in keys:
        return pd.DataFrame(columns=columns)
    data = outcomes(runs, metric, treatment=treatment, keys=keys)
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
            rows.append(
                {
                    **dict(zip([*panel, treatment], key, strict=True)),
                    "depth": depth,
                    "n": n,
                    "n_diverged": diverged,
                    "mean": mean,
                    "ratio": ratio,
                    "trains": bool(diverged == 0 and n > 0 and ratio <= factor),
                }
            )
    return pd.DataFrame(rows, columns=columns)


def depth_scaling(
    runs: pd.DataFrame, metric: str = "test_loss", *, treatment: str = "activation", factor: float = DEPTH_FACTOR
) -> pd.DataFrame:
    """Per panel x treatment: the deepest depth that still trains (no seed diverged and
    mean ``metric`` within ``factor`` x that of the treatment's best depth), with
    ``best_depth``, ``depths`` tried and the ``factor`` used. NaN when no depth trains."""
    import pandas as pd

    profile = depth_profile(runs, metric, treatment=treatment, factor=factor)
    panel = [c for c in profile.columns if c not in (treatment, "depth", "n", "n_diverged", "mean", "ratio", "trains")]
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


__all__ = ["DEPTH_FACTOR", "depth_profile", "depth_scaling"]
