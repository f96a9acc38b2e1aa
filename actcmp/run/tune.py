"""The fair protocol: each activation at its own tuned value (a sweep's ``[tune]`` table).

What a ``[tune]`` table means is in :mod:`actcmp.tune_spec`. Here, the plan and the
selection:

* a **unit** is one cell (dataset x depth x every other grid axis and fixed field) x one
  activation: everything but the seed and the tuned fields;
* **tuning runs** (role ``tune``): per unit, every candidate combination x every tuning seed;
* **common runs** (role ``eval``): the grid as written, i.e. the evaluation seeds at the
  tuned fields' fixed (or default) value: the common-value comparison;
* **evaluation runs** (role ``eval``): per unit, the evaluation seeds at the combination
  selected for that unit. Where the selection is the common value, they *are* the common
  runs (same config, same run id, trained once).

**Selection** (:func:`select`) is recomputed from the stored tuning runs every time it is
needed (the sweep's evaluation phase, ``status``, the report), never kept only in memory:
per unit, the combination with the lowest final validation loss, mean over the tuning
seeds (test loss is never read). A diverged tuning run counts as +inf, so a combination
that diverges on any tuning seed is chosen only if every combination does, and then none
is (the unit has no evaluation runs at a selected value). A unit is selected only when all
its tuning runs are finished (done or diverged); a failed one (an exception) holds it back
until a rerun retries it. A selected value at the end of its (numeric) candidate list is an
**edge** choice: the optimum may lie outside the candidates.

**Roles are bookkeeping, not identity.** A run's numbers depend only on its config, so the
role is not a run field: it is in neither the run id nor the stored run config (an
evaluation run at the selected lr *is* the plain grid run at that lr, with one id). It is
recorded in the sweep's plan (the ``planned`` entries of a tuned sweep carry ``role`` and
``tune_unit``) and follows from the sweep alone: the tuning seeds are disjoint from the
evaluation seeds, so within a tuned sweep a run is a tuning run exactly when its seed is a
tuning seed. (The same config may be a tuning run of one sweep and a grid run of another.)

**Shards** deal whole units (see :func:`actcmp.shard.assign_shards`), so each shard holds
every tuning run of its units and selects and evaluates them without the others.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actcmp.analysis.cells import FINISHED
from actcmp.analysis.status import CELL_KEYS
from actcmp.config import RunConfig, SweepConfig, config_hash, make_run
from actcmp.plan import resolve_runs
from actcmp.store.database import Store
from actcmp.tune_spec import TuneSpec, common_values, evaluation_seeds, parse_tune

#: bookkeeping keys of a tuned sweep's planned entries (never part of a run's config or id)
PLAN_KEYS = ("role", "tune_unit")

ROLE_TUNE = "tune"
ROLE_EVAL = "eval"
#: the final metric selection reads (``select_by = "val_loss"``)
SELECT_METRIC = {"val_loss": "final_val_loss"}
EDGE_NOTE = "at the edge of the candidates; the optimum may lie outside"


def unit_key(run: RunConfig, tuned: tuple[str, ...]) -> str:
    """The unit (cell x activation) of a run: a hash of its fields but the seed and ``tuned``."""

    values = {k: v for k, v in run.model_dump().items() if k != "seed" and k not in tuned}
    return config_hash(values)[:12]


def _combo_key(cfg: dict[str, Any], fields: tuple[str, ...]) -> str:
    return json.dumps([cfg.get(f) for f in fields])


@dataclass
class TunePlan:
    """The runs of a tuned sweep known before selection, and what selection builds on."""

    spec: TuneSpec
    tuning: list[dict[str, Any]]
    common: list[dict[str, Any]]
    #: unit -> the raw evaluation-seed runs of that unit (rebuilt at the selected values)
    members: dict[str, list[Any]]
    common_values: dict[str, Any]
    data_dir: Any = None

    @property
    def static(self) -> list[dict[str, Any]]:
        """Tuning and common runs (what every sweep of this plan trains whatever is selected)."""
        return [*self.tuning, *self.common]


def _annotate(configs: list[dict[str, Any]], units: list[str], role: str) -> list[dict[str, Any]]:
    unique: dict[str, dict[str, Any]] = {}
    for cfg, unit in zip(configs, units, strict=True):
        unique.setdefault(cfg["run_id"], {**cfg, "role": role, "tune_unit": unit})
    return list(unique.values())


def plan_tune(sweep: SweepConfig, data_dir: str | Path | None = None) -> TunePlan:
    """Tuning and common runs of a sweep with ``[tune]`` (resolved, with ``run_id``, ``role``
    and ``tune_unit``); datasets are loaded once each."""

    spec = sweep.tune
    if spec is None:
        raise ValueError("plan_tune needs a sweep with a [tune] table")
    fields = spec.fields
    common_raw = sweep.runs()
    members: dict[str, list[Any]] = {}
    for run in common_raw:
        members.setdefault(unit_key(run, fields), []).append(run)
    tuning_raw, tuning_units = [], []
    for unit, runs in members.items():
        base = runs[0].model_dump()
        for combo in spec.combos():
            where = f"{sweep.source}: tune candidate " + ", ".join(f"{k}={v}" for k, v in combo.items())
            for seed in spec.seeds:
                tuning_raw.append(make_run({**base, **combo, "seed": seed}, where))
                tuning_units.append(unit)
    resolved = resolve_runs([*common_raw, *tuning_raw], data_dir)
    common_units = [unit_key(r, fields) for r in common_raw]
    return TunePlan(
        spec=spec,
        tuning=_annotate(resolved[len(common_raw) :], tuning_units, ROLE_TUNE),
        common=_annotate(resolved[: len(common_raw)], common_units, ROLE_EVAL),
        members=members,
        common_values=common_values(spec, sweep.fixed),
        data_dir=data_dir,
    )


@dataclass
class Selection:
    """What selection decided for one unit (cell x activation)."""

    unit: str
    #: a tuning config of the unit (its cell fields and activation)
    config: dict[str, Any]
    #: candidate combination -> mean final validation loss over the tuning seeds (inf: a
    #: seed diverged; None: not all seeds finished), in the order the candidates were planned
    scores: list[tuple[dict[str, Any], float | None]] = field(default_factory=list)
    chosen: dict[str, Any] | None = None
    complete: bool = False
    #: tuned fields whose chosen value is the smallest or largest of their candidates
    edges: tuple[str, ...] = ()

    @property
    def activation(self) -> str:
        return str(self.config.get("activation"))

    @property
    def all_diverged(self) -> bool:
        return self.complete and self.chosen is None


def select(
    tuning: list[dict[str, Any]], finals: dict[str, tuple[str, float | None]], spec: TuneSpec
) -> list[Selection]:
    """Per unit, the candidate combination with the lowest mean final validation loss over
    the tuning seeds. ``tuning``: the planned tuning configs (with ``tune_unit``);
    ``finals``: ``{run_id: (status, final validation loss)}`` of the stored runs."""
    fields = spec.fields
    units: dict[str, list[dict[str, Any]]] = {}
    for cfg in tuning:
        units.setdefault(str(cfg["tune_unit"]), []).append(cfg)
    selections = []
    for unit, configs in units.items():
        combos: dict[str, list[dict[str, Any]]] = {}
        for cfg in configs:
            combos.setdefault(_combo_key(cfg, fields), []).append(cfg)
        selection = Selection(unit=unit, config=configs[0])
        for members in combos.values():
            selection.scores.append(({f: members[0][f] for f in fields}, _score(members, finals)))
        selection.complete = all(score is not None for _, score in selection.scores)
        if selection.complete:
            finite = [
                (score, i) for i, (_, score) in enumerate(selection.scores) if score is not None and score < math.inf
            ]
            if finite:
                selection.chosen = selection.scores[min(finite)[1]][0]
                selection.edges = edge_fields(selection.chosen, spec)
        selections.append(selection)
    return selections


def _score(members: list[dict[str, Any]], finals: dict[str, tuple[str, float | None]]) -> float | None:
    """Mean final validation loss over the tuning seeds; inf if one diverged (or has no
    finite loss); None while one is not finished."""

    values = []
    for cfg in members:
        status, value = finals.get(cfg["run_id"], ("pending", None))
        if status not in FINISHED:
            return None
        values.append(math.inf if status != "done" or value is None or not math.isfinite(value) else float(value))
    return sum(values) / len(values)


def _numeric(values: list[Any]) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def edge_fields(chosen: dict[str, Any], spec: TuneSpec) -> tuple[str, ...]:
    """Tuned fields whose chosen value is the smallest or largest of 2+ numeric candidates."""
    edges = []
    for key, options in spec.candidates.items():
        if len(options) >= 2 and _numeric(options) and chosen.get(key) in (min(options), max(options)):
            edges.append(key)
    return tuple(edges)


def evaluation_runs(plan: TunePlan, selections: list[Selection]) -> list[dict[str, Any]]:
    """The common runs plus, per selected unit, the evaluation seeds at the selected
    combination (one entry per run id: a selection equal to the common value adds nothing)."""

    raw, units = [], []
    for selection in selections:
        if selection.chosen is None:
            continue
        for run in plan.members.get(selection.unit, []):
            raw.append(make_run({**run.model_dump(), **selection.chosen}, "tune: selected value"))
            units.append(selection.unit)
    selected = _annotate(resolve_runs(raw, plan.data_dir), units, ROLE_EVAL) if raw else []
    unique = {cfg["run_id"]: cfg for cfg in [*plan.common, *selected]}
    return list(unique.values())


def select_from_store(plan: TunePlan, store: Store) -> list[Selection]:
    """:func:`select` with the final validation losses stored now."""
    metric = SELECT_METRIC[plan.spec.select_by]
    finals = store.final_metric([cfg["run_id"] for cfg in plan.tuning], metric)
    return select(plan.tuning, finals, plan.spec)


def selected_plan(
    sweep: SweepConfig, directory: str | Path, data_dir: str | Path | None = None
) -> tuple[TunePlan, list[Selection], list[dict[str, Any]]]:
    """For code that reads a tuned sweep's results (claims, notebooks): its plan, the
    selection from the runs stored in ``directory`` now, and the evaluation runs (common and
    selected; each with ``role`` and ``tune_unit``)."""

    plan = plan_tune(sweep, data_dir)
    with Store(directory, create=False) as store:
        selections = select_from_store(plan, store)
    return plan, selections, evaluation_runs(plan, selections)


# -- reading a results directory (status, report) ---------------------------------------------
@dataclass
class StoredTune:
    """A tuned sweep as a results directory holds it: its spec, plan and current selection."""

    sweep_id: str
    name: str
    spec: TuneSpec
    fixed: dict[str, Any]
    grid: dict[str, list[Any]]
    planned: dict[str, dict[str, Any]]
    selections: list[Selection]

    @property
    def common_values(self) -> dict[str, Any]:
        return common_values(self.spec, self.fixed)

    @property
    def evaluation_seeds(self) -> list[Any]:
        return evaluation_seeds(self.fixed, self.grid)

    def counts(self, finished: set[str]) -> dict[str, int]:
        """Tuning runs planned / finished, evaluation runs expected / planned / finished."""
        tune_ids = [r for r, c in self.planned.items() if c.get("role") == ROLE_TUNE]
        eval_ids = [r for r, c in self.planned.items() if c.get("role") == ROLE_EVAL]
        units = {c.get("tune_unit") for c in self.planned.values() if c.get("role") == ROLE_TUNE}
        pending_units = sum(1 for s in self.selections if not s.complete)
        return {
            "tuning": len(tune_ids),
            "tuning_finished": sum(r in finished for r in tune_ids),
            "evaluation": len(eval_ids),
            "evaluation_finished": sum(r in finished for r in eval_ids),
            "units": len(units),
            "units_selected": sum(1 for s in self.selections if s.chosen is not None),
            "units_pending": pending_units,
            # at most: a selection equal to the common value adds no run
            "evaluation_awaiting_selection": pending_units * len(self.evaluation_seeds),
        }


def stored_tunes(store: Store, expected: dict[str, dict[str, Any]] | None = None) -> list[StoredTune]:
    """Every tuned sweep recorded in ``store``, with the selection recomputed from its
    stored tuning runs. ``expected`` (e.g. ``store.expected_configs()``) restricts the plan
    to the runs this directory holds (a shard's units)."""

    found = []
    for entry in store.sweeps():
        table = entry["config"].get("tune")
        if not table:
            continue
        spec = parse_tune(table, f"stored sweep {entry['name']}")
        planned = store.planned_for(entry["sweep_id"])
        if expected is not None:
            planned = {rid: cfg for rid, cfg in planned.items() if rid in expected}
        tuning = [cfg for cfg in planned.values() if cfg.get("role") == ROLE_TUNE]
        metric = SELECT_METRIC[spec.select_by]
        finals = store.final_metric([cfg["run_id"] for cfg in tuning], metric)
        # fmt: off
        found.append(StoredTune(
            sweep_id=entry["sweep_id"], name=entry["name"], spec=spec, fixed=entry["config"].get("fixed", {}),
            grid=entry["config"].get("grid", {}), planned=planned, selections=select(tuning, finals, spec),
        ))
        # fmt: on
    return found


def describe_value(values: dict[str, Any]) -> str:
    """``lr=0.003`` / ``lr=0.003, weight_decay=0.0001``."""
    return ", ".join(f"{k}={v:g}" if _numeric([v]) else f"{k}={v}" for k, v in values.items())


def cell_fields(selections: list[Selection]) -> tuple[str, ...]:
    """The cell fields that tell the units apart (dataset and depth always shown)."""

    keys = ["dataset", "depth"]
    by_dataset: dict[str, list[dict[str, Any]]] = {}
    for s in selections:  # a field that follows the dataset (output_activation "auto") tells nothing apart
        by_dataset.setdefault(json.dumps([s.config.get("dataset"), s.activation]), []).append(s.config)
    for key in CELL_KEYS:
        if key not in keys and any(len({json.dumps(c.get(key)) for c in group}) > 1 for group in by_dataset.values()):
            keys.append(key)
    return tuple(keys)


def describe_cell(config: dict[str, Any], keys: tuple[str, ...]) -> str:
    return " · ".join(
        f"depth {config.get(k)}" if k == "depth" else f"{k} {config.get(k)}" if k != "dataset" else str(config.get(k))
        for k in keys
    )


def status_lines(tune: StoredTune, finished: set[str]) -> list[str]:
    """What ``actcmp status`` prints for a tuned sweep: tuning vs evaluation counts, the
    selected values, and a warning per selection at the edge of its candidates."""
    counts = tune.counts(finished)
    lines = [
        f"tune ({tune.name}): {describe_candidates(tune.spec)}, tuning seeds {tune.spec.seeds}, "
        f"evaluation seeds {tune.evaluation_seeds}",
        f"  tuning runs: {counts['tuning_finished']}/{counts['tuning']} finished; "
        f"evaluation runs: {counts['evaluation_finished']}/{counts['evaluation']} finished"
        + (
            f" (+{counts['evaluation_awaiting_selection']} awaiting the selection of "
            f"{counts['units_pending']} unit{'s' if counts['units_pending'] != 1 else ''})"
            if counts["units_pending"]
            else ""
        ),
    ]
    keys = cell_fields(tune.selections)
    for selection in sorted(tune.selections, key=lambda s: (describe_cell(s.config, keys), s.activation)):
        where = f"{describe_cell(selection.config, keys)} · {selection.activation}"
        if not selection.complete:
            lines.append(f"  {where}: selection pending (tuning runs not all finished)")
        elif selection.chosen is None:
            lines.append(f"  {where}: no selection: every candidate diverged on some tuning seed")
        else:
            edge = f"  warning: {', '.join(selection.edges)} {EDGE_NOTE}" if selection.edges else ""
            lines.append(f"  {where}: selected {describe_value(selection.chosen)}{edge}")
    return lines


def tune_status(directory: str | Path) -> list[str]:
    """:func:`status_lines` of every tuned sweep in a results directory (read only)."""

    with Store(directory, create=False) as store, store.snapshot():
        tunes = stored_tunes(store, store.expected_configs())
        finished = store.finished_ids()
    return [line for tune in tunes for line in status_lines(tune, finished)]


def plan_lines(counts: dict[str, Any]) -> list[str]:
    """What ``--dry-run`` prints for a tuned sweep (``counts`` from ``describe_plan``)."""
    seeds = counts["seeds"]
    return [
        f"  tune: {counts['candidates']}; tuning seeds {', '.join(str(s) for s in seeds)}",
        f"  tuning runs: {counts['tuning']} ({counts['units']} cell-activation pairs x {counts['combinations']} "
        f"candidate{'s' if counts['combinations'] != 1 else ''} x {len(seeds)} tuning seed{'s' if len(seeds) != 1 else ''})",
        f"  evaluation runs: {counts['evaluation_common']} at the common value {describe_value(counts['common_values'])}"
        f" + up to {counts['evaluation_selected_at_most']} at the selected values (none where the selection is the "
        "common value)",
    ]


def describe_candidates(spec: TuneSpec) -> str:
    parts = [
        f"{k} in [{', '.join(f'{v:g}' if _numeric([v]) else str(v) for v in vs)}]" for k, vs in spec.candidates.items()
    ]
    product = f" ({len(spec.combos())} combinations)" if len(spec.candidates) > 1 else ""
    return " x ".join(parts) + product


__all__ = [
    "EDGE_NOTE",
    "ROLE_EVAL",
    "ROLE_TUNE",
    "Selection",
    "StoredTune",
    "TunePlan",
    "evaluation_runs",
    "plan_lines",
    "plan_tune",
    "select",
    "select_from_store",
    "selected_plan",
    "status_lines",
    "stored_tunes",
    "tune_status",
]
