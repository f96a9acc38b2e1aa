"""The fair protocol: each activation at its own tuned value (a sweep's ``[tune]`` table).

What a ``[tune]`` table means is in :mod:`actcmp.tune_spec`. Here, the plan (the selection
and what ``status`` and the report say of it, which only read the store, are in
:mod:`actcmp.analysis.tune` and re-exported here):

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
evaluation run at the selected lr *is* the plain grid run at that lr and split, with one id). It is
recorded in the sweep's plan (the ``planned`` entries of a tuned sweep carry ``role`` and
``tune_unit``) and follows from the sweep alone: the tuning seeds are disjoint from the
evaluation seeds, so within a tuned sweep a run is a tuning run exactly when its seed is a
tuning seed. (The same config may be a tuning run of one sweep and a grid run of another.)

**One split.** Every run of a tuned sweep draws its train/validation/test rows from one
``split_seed`` (0 unless the sweep sets it; :meth:`actcmp.config.SweepConfig.runs`), not from its
own seed: the evaluation seeds test on the same rows, and no tuning run's validation (or
training) rows are among them, so selection never sees test data.

**Shards** deal whole units (see :func:`actcmp.shard.assign_shards`), so each shard holds
every tuning run of its units and selects and evaluates them without the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from actcmp.analysis.tune import (
    EDGE_NOTE,
    ROLE_EVAL,
    ROLE_TUNE,
    SELECT_METRIC,
    Selection,
    StoredTune,
    cell_fields,
    combo_key,
    describe_candidates,
    describe_cell,
    describe_value,
    edge_fields,
    numeric_values,
    plan_lines,
    runs_content,
    select,
    status_lines,
    stored_tunes,
    tune_status,
)
from actcmp.config import LATER_FIELDS, RunConfig, SweepConfig, config_hash, make_run, run_id
from actcmp.errors import ConfigError
from actcmp.plan import resolve_runs
from actcmp.store.database import Store
from actcmp.tune_spec import TuneSpec, common_values

#: bookkeeping keys of a tuned sweep's planned entries (never part of a run's config or id)
PLAN_KEYS = ("role", "tune_unit")


#: Run fields added after tuned sweeps first stored their units (``planned``'s ``tune_unit``,
#: which ``--shard`` deals by): left out of a unit's key at their old value (``LATER_FIELDS``),
#: so that a stored tuned sweep resumed, extended or sharded by a newer actcmp keeps its units.
UNIT_LATER_FIELDS = ("record",)


def unit_key(run: RunConfig, tuned: tuple[str, ...]) -> str:
    """The unit (cell x activation) of a run: a hash of its fields but the seed and ``tuned``
    (and ``UNIT_LATER_FIELDS`` at their old value)."""

    values = {
        k: v
        for k, v in run.model_dump().items()
        if k != "seed" and k not in tuned and not (k in UNIT_LATER_FIELDS and v == LATER_FIELDS[k])
    }
    return config_hash(values)[:12]


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
                tuning_raw.append(make_run({**base, **combo, "seed": seed, "record": spec.record}, where))
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


def run_id_with_record(cfg: dict[str, Any], record: str) -> str:
    """The run id of a planned tuning run's config with ``record`` set to ``record``."""
    resolved = {k: v for k, v in cfg.items() if k != "run_id" and k not in PLAN_KEYS}
    return run_id({**resolved, "record": record})


def as_stored(
    sweep: SweepConfig, directory: str | Path, data_dir: str | Path | None = None
) -> tuple[SweepConfig, str | None]:
    """``sweep`` as ``directory`` stored it, where it holds this tuned sweep's tuning runs
    with another ``record`` and none with its own (read from the runs, not the sweep's id,
    which edits such as a new description change). Tuning runs stored with ``record =
    "full"`` (every tuned sweep stored before the key existed) are resumed with it when the
    file does not say ``record``: they count, nothing is trained again. Any other mismatch
    (``record`` written in the file against tuning runs of the other kind) is refused in
    one line: the directory would hold the sweep twice. Returns the sweep to run and a line
    saying what was adopted (None: nothing)."""
    from actcmp.store.database import db_path

    spec = sweep.tune
    if spec is None or not db_path(Path(directory)).is_file():
        return sweep, None
    tuning = plan_tune(sweep, data_dir).tuning
    other = "full" if spec.record != "full" else "val_loss"
    with Store(directory, create=False) as store:
        stored = set(store.stored_ids())
    if not tuning or stored.intersection(cfg["run_id"] for cfg in tuning):
        return sweep, None
    if not stored.intersection(run_id_with_record(cfg, other) for cfg in tuning):
        return sweep, None
    if other == "full" and "record" not in spec.model_fields_set:
        variant = sweep.model_copy(update={"tune": spec.model_copy(update={"record": other})})
        variant._source, variant._path = sweep.source, sweep.path
        return variant, (
            f"resuming the tuned sweep {sweep.name!r} as stored: its tuning runs record everything "
            "([tune] record = 'full'; a new directory records their validation loss alone)"
        )
    raise ConfigError(
        f"{directory}: holds the tuning runs of the tuned sweep {sweep.name!r} stored with [tune] record = "
        f"{other!r}; resume it with record = {other!r} under [tune], or run this one into a new directory with --out"
    )


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

    plan = plan_tune(as_stored(sweep, directory, data_dir)[0], data_dir)
    with Store(directory, create=False) as store:
        selections = select_from_store(plan, store)
    return plan, selections, evaluation_runs(plan, selections)


__all__ = [  # with the selection and its descriptions, from actcmp.analysis.tune
    "EDGE_NOTE",
    "ROLE_EVAL",
    "ROLE_TUNE",
    "SELECT_METRIC",
    "Selection",
    "StoredTune",
    "TunePlan",
    "cell_fields",
    "combo_key",
    "describe_candidates",
    "describe_cell",
    "describe_value",
    "edge_fields",
    "evaluation_runs",
    "numeric_values",
    "plan_lines",
    "plan_tune",
    "runs_content",
    "select",
    "select_from_store",
    "selected_plan",
    "status_lines",
    "stored_tunes",
    "tune_status",
]
