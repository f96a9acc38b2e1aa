"""The cost model behind the ETA: relative costs from shapes alone."""

from __future__ import annotations

from actcmp.cost import run_units, task_units
from actcmp.datasets import DataShape

SHAPE = DataShape(n_train=1000, n_val=200, n_test=200, n_features=64)


def cfg(**changes: int) -> dict[str, int]:
    base = {
        "depth": 2,
        "width": 64,
        "bottleneck": 8,
        "epochs": 10,
        "batch_size": 64,
        "probe_size": 512,
        "probe_every": 2,
    }
    return {**base, **changes}


def test_costs_grow_with_the_work() -> None:
    base = run_units(cfg(), 1000, 200, 200, 64)
    assert run_units(cfg(depth=4), 1000, 200, 200, 64) > base
    assert run_units(cfg(epochs=20), 1000, 200, 200, 64) > 1.4 * base
    assert run_units(cfg(), 2000, 200, 200, 64) > 1.5 * base
    assert run_units(cfg(probe_every=1), 1000, 200, 200, 64) > base


def test_a_batched_group_pays_the_step_overhead_once() -> None:
    runs = [cfg()] * 24
    batched = task_units(runs, SHAPE, "batched")
    plain = task_units(runs, SHAPE, "plain")
    assert batched < plain
    assert task_units(runs[:1], SHAPE, "batched") == task_units(runs[:1], SHAPE, "plain")  # one run: no stack
    assert task_units([], SHAPE, "batched") == 0.0


def test_explicit_widths_count() -> None:
    """A run with explicit ``widths`` costs what its layers cost, not the geometric shape its
    depth and width would give (the planner sets depth = len(widths) + 1, width = widths[0])."""
    geometric = run_units(cfg(depth=4, width=1000, bottleneck=30), 1000, 200, 200, 784)
    explicit = run_units({**cfg(depth=4, width=1000, bottleneck=30), "widths": [1000, 500, 250]}, 1000, 200, 200, 784)
    assert explicit > 1.2 * geometric  # 1000-500-250-30 against 1000-322-98-30
    assert run_units({**cfg(), "widths": None}, 1000, 200, 200, 64) == run_units(cfg(), 1000, 200, 200, 64)
