"""Stored results as comparable frames, shared by the tests that check two sweeps agree
(merge, resilience, Ray). Imported as ``frames``: pytest puts ``tests/`` on ``sys.path``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from actcmp.store.database import load_results

#: columns that differ between any two sweeps by nature
VOLATILE = ["wall_time_s", "finished_at"]


def stable_frames(directory: Path, planned: bool = False) -> dict[str, pd.DataFrame]:
    """Runs (without the volatile columns), epoch and layer metrics, and with ``planned``
    the planned runs, each in a canonical row and column order."""
    results = load_results(directory)
    runs = results.runs.drop(columns=VOLATILE).sort_values("run_id").reset_index(drop=True)
    frames = {
        "runs": runs[sorted(runs.columns)],
        "epochs": results.epochs.sort_values(["run_id", "epoch", "metric"]).reset_index(drop=True),
        "layers": results.layers.sort_values(["run_id", "epoch", "layer", "metric"]).reset_index(drop=True),
    }
    if planned:
        table = results.planned.sort_values("run_id").reset_index(drop=True)
        frames["planned"] = table[sorted(table.columns)]
    return frames


def assert_same_results(a: Path, b: Path, planned: bool = False) -> None:
    """The two result directories hold exactly the same stored values."""
    left, right = stable_frames(a, planned), stable_frames(b, planned)
    assert left.keys() == right.keys()
    for name in left:
        pd.testing.assert_frame_equal(left[name], right[name], check_exact=True, obj=name)
