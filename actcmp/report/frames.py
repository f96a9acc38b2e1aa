"""Stored frames -> per-cell frames shared by the tables and the figures: the columns every
one relies on, labels, legend-order sorting, and the curves and matrices the figures draw.

Statistics here (means, min, max over seeds) are over *converged* runs (status ``done``);
diverged runs are counted elsewhere (``diverged`` columns, figure titles and legends).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pandas as pd

from actcmp.analysis.cells import activation_order, cell_keys

if TYPE_CHECKING:
    from actcmp.store.database import Results


REQUIRED = {
    "runs": ("run_id", "status", "activation", "dataset", "depth", "seed"),
    "epochs": ("run_id", "epoch", "metric", "value"),
    "layers": ("run_id", "epoch", "layer", "metric", "value"),
    "planned": ("run_id", "activation"),
}


def complete(results: Results) -> Results:
    """``results`` with the columns every table and figure relies on (an empty store
    gives frames without config columns)."""
    frames = {}
    for name, columns in REQUIRED.items():
        frame = getattr(results, name)
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            frame = frame.assign(**{c: [None] * len(frame) for c in missing})
        frames[name] = frame
    return replace(results, **frames)


def cell_columns(table: pd.DataFrame) -> list[str]:
    """The cell keys of a per-cell table (the main table and its kin): the columns before
    ``activation``; none where it has no ``activation`` column."""
    columns = list(table.columns)
    return columns[: columns.index("activation")] if "activation" in columns else []


def panel_keys(keys: list[str]) -> list[str]:
    """Cell keys that pick a figure panel row: everything but depth."""
    return [k for k in keys if k != "depth"]


def _key_text(value: Any) -> str:
    """A cell key's value as text for matching: an integral float reads as the int (a column of
    seeds and None turns 0 into 0.0 in some frames)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def matching(column: pd.Series, value: Any) -> pd.Series:
    """Rows of ``column`` equal to the cell key ``value``: a missing value (None or NaN:
    ``split_seed`` unset, no ``widths``) matches the missing ones, numbers match as numbers."""
    import pandas as pd

    if not isinstance(value, list | tuple) and pd.isna(value):
        return column.isna()
    return column.notna() & (column.map(_key_text) == _key_text(value))


def key_value_text(key: str, value: Any) -> str:
    """A cell key's value as tables and labels show it: unset (``split_seed`` None, no
    ``widths``) reads "none", and a split seed in a column that also holds None (read as
    floats) stays a whole number."""
    import pandas as pd

    if not isinstance(value, list | tuple) and pd.isna(value):
        return "none"
    if key == "split_seed" and isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def label(keys: list[str], values: tuple[Any, ...]) -> str:
    """``digits · depth 4`` / ``digits · lr=0.01``."""
    parts = []
    for key, value in zip(keys, values, strict=True):
        if key == "dataset":
            parts.append(str(value))
        elif key == "depth":
            parts.append(f"depth {value}")
        else:
            parts.append(f"{key}={key_value_text(key, value)}")
    return " · ".join(parts)


def sort_rows(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Sort by cell keys, then activation in legend order (stable, deterministic)."""
    if frame.empty:
        return frame.reset_index(drop=True)
    order = {name: i for i, name in enumerate(activation_order(frame["activation"]))}
    ranked = frame.assign(_order=frame["activation"].map(order))
    return ranked.sort_values([*keys, "_order"], kind="mergesort").drop(columns="_order").reset_index(drop=True)


def converged(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == "done"] if "status" in runs else runs


# -- aggregated curves for the figures ------------------------------------------------
def _with_cells(per_run: pd.DataFrame, results: Results, keys: list[str]) -> pd.DataFrame:
    runs = converged(results.runs)[["run_id", "activation", *keys]]
    return per_run.merge(runs, on="run_id", how="inner")


def _over_seeds(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    stats = frame.groupby(by, dropna=False, sort=False)["value"].agg(["mean", "min", "max", "count"])
    return sort_rows(stats.reset_index(), [k for k in by if k != "activation"])


def epoch_curves(results: Results, metric: str = "val_loss") -> pd.DataFrame:
    """Per cell x activation x epoch: mean, min, max and count over converged seeds."""
    results = complete(results)
    keys = cell_keys(results.runs)
    values = results.epochs[results.epochs["metric"] == metric][["run_id", "epoch", "value"]]
    return _over_seeds(_with_cells(values, results, keys), [*keys, "activation", "epoch"])


def layer_curves(results: Results, metric: str = "dead_fraction") -> pd.DataFrame:
    """Like :func:`epoch_curves` for a layer metric averaged over a run's layers."""
    results = complete(results)
    keys = cell_keys(results.runs)
    layers = results.layers[results.layers["metric"] == metric]
    per_run = layers.groupby(["run_id", "epoch"], sort=True)["value"].mean().reset_index()
    return _over_seeds(_with_cells(per_run, results, keys), [*keys, "activation", "epoch"])


def layer_profile(results: Results, metric: str = "grad_norm_weight") -> pd.DataFrame:
    """Per layer at init (epoch 0) and at each run's last epoch (``stage`` = init/end), for
    the deepest depth of each panel (dataset and extra fields); stats over seeds."""
    results = complete(results)
    keys = cell_keys(results.runs)
    layers = _with_cells(results.layers[results.layers["metric"] == metric], results, keys)
    if layers.empty or "depth" not in keys:
        return pd.DataFrame(columns=[*keys, "activation", "stage", "layer", "mean", "min", "max", "count"])
    panels = panel_keys(keys)
    deepest = layers.groupby(panels, dropna=False)["depth"].transform("max") if panels else layers["depth"].max()
    layers = layers[layers["depth"] == deepest]
    last = layers.groupby("run_id")["epoch"].transform("max")
    init = layers[layers["epoch"] == 0].assign(stage="init")
    end = layers[layers["epoch"] == last].assign(stage="end")
    both = pd.concat([init, end], ignore_index=True)
    return _over_seeds(both, [*keys, "stage", "activation", "layer"])


def heatmap_matrix(main: pd.DataFrame, panel: dict[str, Any], value: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Activation x depth matrices of ``value`` and of 'all seeds diverged' for one panel."""
    rows = main
    for key, wanted in panel.items():
        rows = rows[matching(rows[key], wanted)]
    order = activation_order(rows["activation"])
    values = rows.pivot_table(index="activation", columns="depth", values=value, aggfunc="first", dropna=False)
    lost = rows.assign(lost=(rows["runs"] > 0) & (rows["diverged"] == rows["runs"]))
    lost_matrix = lost.pivot_table(index="activation", columns="depth", values="lost", aggfunc="any", fill_value=False)
    depths = sorted(rows["depth"].unique())
    return values.reindex(index=order, columns=depths), lost_matrix.reindex(
        index=order, columns=depths, fill_value=False
    )


__all__ = [
    "REQUIRED",
    "complete",
    "converged",
    "epoch_curves",
    "heatmap_matrix",
    "label",
    "layer_curves",
    "layer_profile",
    "panel_keys",
    "sort_rows",
]
