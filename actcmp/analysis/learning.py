"""Which converged runs did not learn: the rule the report's Findings, its results table and
its notes share (one place, so that they cannot disagree).

A converged run did not learn when its final validation loss is not below its value at
initialisation (epoch 0), or not below ``baseline_loss`` (the loss of predicting the
training mean).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from actcmp.store.database import Results


def cell_id(key: Any) -> tuple[str, ...]:
    """A pandas group key (a value or a tuple) as a tuple of strings."""
    return tuple(str(v) for v in (key if isinstance(key, tuple) else (key,)))


def not_learning(results: Results) -> pd.DataFrame:
    """Converged runs that did not learn (see the module). Columns: the runs' columns plus
    ``reason``."""
    import pandas as pd

    runs = results.runs
    done = runs[runs["status"] == "done"] if "status" in runs else runs.iloc[0:0]
    if done.empty or "final_val_loss" not in done:
        return done.assign(reason=pd.Series(dtype=str))
    epochs = results.epochs
    start = epochs[(epochs["metric"] == "val_loss") & (epochs["epoch"] == 0)].set_index("run_id")["value"]
    initial = done["run_id"].map(start)
    final = pd.to_numeric(done["final_val_loss"], errors="coerce")
    baseline = pd.to_numeric(done["baseline_loss"], errors="coerce") if "baseline_loss" in done else math.nan
    stuck = final >= initial
    no_better = final >= baseline
    reason = pd.Series("", index=done.index)
    reason[no_better] = "not below the loss of predicting the training mean"
    reason[stuck] = "not below its value at initialisation"
    return done.assign(reason=reason)[stuck | no_better]


def learning_per_cell(results: Results, keys: list[str]) -> dict[tuple[str, ...], tuple[int, int]]:
    """Per cell (``keys``, as :func:`cell_id`): (converged runs that did not learn,
    converged runs), in the order the runs are stored."""
    runs = results.runs
    if runs.empty or not keys or "status" not in runs or any(k not in runs for k in keys):
        return {}
    done = runs[runs["status"] == "done"]
    stuck = not_learning(results)
    counts = {cell_id(k): (0, len(g)) for k, g in done.groupby(keys, sort=False, dropna=False)}
    for key, group in stuck.groupby(keys, sort=False, dropna=False):
        cell = cell_id(key)
        counts[cell] = (len(group), counts.get(cell, (0, len(group)))[1])
    return counts


def cells_without_learning(results: Results, keys: list[str]) -> list[tuple[str, ...]]:
    """The cells (``keys``, as :func:`cell_id`) whose converged runs all did not learn."""
    return [cell for cell, (stuck, done) in learning_per_cell(results, keys).items() if done and stuck == done]


__all__ = ["cell_id", "cells_without_learning", "learning_per_cell", "not_learning"]
