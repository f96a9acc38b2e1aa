"""A sweep's plan: every run resolved (with its id), and what ``--dry-run`` prints.

Loads no data (shapes come from the registry or a file's header, see
:func:`actcmp.plan.resolve_runs`), so an unknown dataset, a missing file or a bottleneck
wider than the input fails before any training starts, and a dry run stays light. Torch is
imported only to build and apply a custom (``module:callable``) activation once, which a dry
run does as a real run does (a callable that cannot act on a tensor is refused by both).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from actcmp.config import MAX_RUNS, SweepConfig, check_size, check_sweep_size, config_hash
from actcmp.core.activations import check_builds, parse_activation
from actcmp.plan import resolve_runs
from actcmp.run.tune import ROLE_TUNE, TunePlan, describe_candidates, plan_tune
from actcmp.shard import parse_shard, select_shard

#: a dry run plans a grid of up to this many points in full; a bigger one by its axes
PLAN_IN_FULL = 2000
#: grid axes whose values interact (rules between fields, dataset defaults, spellings that
#: resolve alike): a dry run plans their product in full; other axes only multiply counts
INTERACTING = (
    "activation", "dataset", "init", "loss", "output_activation", "width", "bottleneck", "val_fraction",
    "test_fraction", "widths", "activity_l1", "activity_l1_on", "input_noise", "input_noise_kind",
)  # fmt: skip


def plan_runs(
    sweep: SweepConfig, data_dir: str | Path | None = None, *, max_runs: int = MAX_RUNS, build: bool = True
) -> list[dict[str, Any]]:
    """Resolved configs (with ``run_id``) of every run of the sweep, in grid order.

    Loads no data (nor torch, unless an activation must be built): each dataset's shape comes from the registry or a file
    header (:func:`~actcmp.datasets.dataset_shape`; a user file is read for its content
    fingerprint), so an unknown dataset, a missing file or a bottleneck wider than the
    input still fails before any training starts. A grid of more than ``max_runs`` points
    is refused before it is expanded.
    """
    check_sweep_size(sweep, max_runs)  # before anything is expanded ([tune] candidates included)
    # two spellings that resolve alike (init "auto" and the rule it stands for) are one run
    unique: dict[str, dict[str, Any]] = {}
    for cfg in resolve_runs(sweep.runs(max_runs), data_dir, build=build):
        unique.setdefault(cfg["run_id"], cfg)
    return list(unique.values())


def sweep_id(sweep: SweepConfig) -> str:
    return config_hash(sweep.to_dict())[:12]


def describe_plan(
    sweep: SweepConfig,
    data_dir: str | Path | None = None,
    shard: str | tuple[int, int] | None = None,
    *,
    max_runs: int = MAX_RUNS,
    finished: set[str] | None = None,
) -> dict[str, Any]:
    """What ``--dry-run`` prints: grid size, varied fields, runs per dataset (of the shard).
    ``finished``: the run ids the results directory holds as done or diverged (what a run
    skips); the plan then counts them as ``stored`` (None: no store there, or a grid of more
    than :data:`PLAN_IN_FULL` points, which is described by its axes, not run by run)."""
    if shard is None and sweep.tune is None and sweep.size() > PLAN_IN_FULL:
        return {**_describe_by_axes(sweep, data_dir, max_runs), "stored": None}
    planned = plan_runs(sweep, data_dir, max_runs=max_runs, build=False)
    # a custom (module:callable) activation is built and applied once, as a real run does before
    # anything is stored (that imports torch); a registry name with parameters is checked by its
    # parser and range rules, not built (a review: building it took the dry run to 9x --help)
    for name in dict.fromkeys(cfg["activation"] for cfg in planned):
        if parse_activation(name).callable_path is not None:
            check_builds(name)
    tune_plan = None
    if sweep.tune is not None:  # tuning + common runs now; evaluation runs once selected
        tune_plan = plan_tune(sweep, data_dir)
        planned = tune_plan.static
    total = len(planned)
    if shard is not None:
        planned = select_shard(planned, *(parse_shard(shard) if isinstance(shard, str) else shard))
    varied = {k: v for k, v in sweep.grid.items() if len(v) > 1}
    per_dataset: dict[str, int] = {}
    for cfg in planned:
        per_dataset[cfg["dataset"]] = per_dataset.get(cfg["dataset"], 0) + 1
    # fmt: off
    return {
        "name": sweep.name, "runs": len(planned), "total": total, "varied": varied, "fixed": sweep.resolved_fixed,
        "per_dataset": per_dataset,
        "stored": None if finished is None else sum(cfg["run_id"] in finished for cfg in planned),
        **({"tune": _tune_counts(tune_plan, planned, finished)} if tune_plan is not None else {}),
    }
    # fmt: on


def _tune_counts(tune_plan: TunePlan, planned: list[dict[str, Any]], finished: set[str] | None) -> dict[str, Any]:
    """Tuning and evaluation runs of a tuned sweep's plan (of the shard in ``planned``), and
    how many of each the directory holds finished (None: no store)."""
    tuning = [c for c in planned if c["role"] == ROLE_TUNE]
    common = [c for c in planned if c["role"] != ROLE_TUNE]

    def stored(runs: list[dict[str, Any]]) -> int | None:
        return None if finished is None else sum(cfg["run_id"] in finished for cfg in runs)

    # fmt: off
    return {
        "tuning": len(tuning), "evaluation_common": len(common), "evaluation_selected_at_most": len(common),
        "units": len({c["tune_unit"] for c in planned}), "candidates": describe_candidates(tune_plan.spec),
        "combinations": len(tune_plan.spec.combos()), "seeds": list(tune_plan.spec.seeds),
        "common_values": tune_plan.common_values, "record": tune_plan.spec.record,
        "tuning_stored": stored(tuning), "evaluation_common_stored": stored(common),
    }
    # fmt: on


def _describe_by_axes(sweep: SweepConfig, data_dir: str | Path | None, max_runs: int) -> dict[str, Any]:
    """:func:`describe_plan` of a big grid without expanding it: the interacting axes are
    planned (validated, resolved, de-duplicated) in full, each other axis is counted by its
    distinct values. The counts equal those of a full plan; 10^5 points take milliseconds."""
    check_size(sweep.grid, max_runs, sweep.source)
    reduced: dict[str, list[Any]] = {}
    factor = 1
    for key, values in sweep.grid.items():
        # depth meets explicit widths in a rule (widths set depth)
        if key in INTERACTING or (key == "depth" and ("widths" in sweep.grid or "widths" in sweep.fixed)):
            reduced[key] = values
            continue
        distinct = list(dict.fromkeys(values))  # numbers: 1 and 1.0 are one value, as stored
        reduced[key] = distinct[:1]
        factor *= len(distinct)
    small = SweepConfig(name=sweep.name, description=sweep.description, fixed=sweep.fixed, grid=reduced)
    planned = plan_runs(small.with_source(sweep.source), data_dir, max_runs=max_runs)
    per_dataset: dict[str, int] = {}
    for cfg in planned:
        per_dataset[cfg["dataset"]] = per_dataset.get(cfg["dataset"], 0) + factor
    runs = len(planned) * factor
    varied = {k: v for k, v in sweep.grid.items() if len(v) > 1}
    # fmt: off
    return {
        "name": sweep.name, "runs": runs, "total": runs, "varied": varied, "fixed": sweep.resolved_fixed,
        "per_dataset": per_dataset,
    }
    # fmt: on


__all__ = ["INTERACTING", "PLAN_IN_FULL", "describe_plan", "plan_runs", "resolve_runs", "sweep_id"]
