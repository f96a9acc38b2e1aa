"""A tuned sweep's results: the selection of each unit's value from its stored tuning runs, and
what ``status`` and the report say about it (reads the store; plans and trains nothing).

The protocol (units, roles, tuning and evaluation runs) is described in
:mod:`actcmp.run.tune`, which plans and runs it. **Selection** (:func:`select`) is
recomputed from the stored tuning runs every time it is needed (the sweep's evaluation
phase, ``status``, the report): per unit, the combination with the lowest final validation
loss, mean over the tuning seeds (test loss is never read); a diverged tuning run counts as
+inf; a unit is selected only when all its tuning runs are finished. A selected value at the
end of its (numeric) candidate list is an **edge** choice.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actcmp.analysis.cells import FINISHED
from actcmp.analysis.status import CELL_KEYS
from actcmp.store.database import Store
from actcmp.tune_spec import TuneSpec, common_values, evaluation_seeds, parse_stored_tune

ROLE_TUNE = "tune"
ROLE_EVAL = "eval"
#: the final metric selection reads (``select_by = "val_loss"``)
SELECT_METRIC = {"val_loss": "final_val_loss"}
EDGE_NOTE = "at the edge of the candidates; the optimum may lie outside"


def combo_key(cfg: dict[str, Any], fields: tuple[str, ...]) -> str:
    return json.dumps([cfg.get(f) for f in fields])


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
            combos.setdefault(combo_key(cfg, fields), []).append(cfg)
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


def numeric_values(values: list[Any]) -> bool:
    """Every value a number (not a bool): the candidates that can be at an edge."""
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def edge_fields(chosen: dict[str, Any], spec: TuneSpec) -> tuple[str, ...]:
    """Tuned fields whose chosen value is the smallest or largest of 2+ numeric candidates."""
    edges = []
    for key, options in spec.candidates.items():
        if len(options) >= 2 and numeric_values(options) and chosen.get(key) in (min(options), max(options)):
            edges.append(key)
    return tuple(edges)


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
    #: the stored status of each planned run (absent: not stored)
    statuses: dict[str, str] = field(default_factory=dict)
    #: ``(k, n)`` where the directory holds n versions of the tuned sweep of this name (edited
    #: candidates, grid or settings run into the same directory) and this one was first stored
    #: k-th; None otherwise
    version: tuple[int, int] | None = None

    @property
    def title(self) -> str:
        """The sweep's name, with its version where the directory holds several of that name."""
        return self.name if self.version is None else f"{self.name}, version {self.version[0]} of {self.version[1]}"

    @property
    def common_values(self) -> dict[str, Any]:
        return common_values(self.spec, self.fixed)

    @property
    def tuning_ids(self) -> set[str]:
        """The tuning runs (other seeds, every candidate): only the Tuned comparison reads them."""
        return {rid for rid, cfg in self.planned.items() if cfg.get("role") == ROLE_TUNE}

    @property
    def common_ids(self) -> set[str]:
        """The evaluation runs at the common value of every tuned field: the grid as written,
        every activation at the same value (an evaluation run at a selected value equal to
        the common value is one of them, the same run)."""
        common = self.common_values
        evaluation = {rid: cfg for rid, cfg in self.planned.items() if cfg.get("role") == ROLE_EVAL}
        found = {rid for rid, cfg in evaluation.items() if matches_values(cfg, common)}
        # a common value a run resolves per dataset ("auto" output activation or loss) matches
        # no stored value: per unit and seed, the evaluation run that is not at the unit's
        # selected value is the common one (a lone run is the common run itself)
        chosen = {s.unit: s.chosen for s in self.selections if s.chosen is not None}
        by_seed: dict[tuple[str, str], list[str]] = {}
        for rid, cfg in evaluation.items():
            by_seed.setdefault((str(cfg.get("tune_unit")), json.dumps(cfg.get("seed"))), []).append(rid)
        for (unit, _), rids in by_seed.items():
            if found.intersection(rids):
                continue
            picked = chosen.get(unit)
            rest = [rid for rid in rids if picked is None or not matches_values(evaluation[rid], picked)]
            found.update(rest if len(rids) > 1 else rids)
        return found

    @property
    def selected_ids(self) -> set[str]:
        """The evaluation runs at a selected value other than the common one. Which
        activations have runs at a value is the outcome of the selection, so these never
        define a cell of the report's other tables."""
        return {rid for rid, cfg in self.planned.items() if cfg.get("role") == ROLE_EVAL} - self.common_ids

    def selected_values(self) -> dict[str, list[Any]]:
        """Per tuned field, the values some unit selected (sorted; the common value only
        where a unit selected it)."""
        out: dict[str, list[Any]] = {}
        for name in self.spec.fields:
            chosen = {json.dumps(s.chosen[name]): s.chosen[name] for s in self.selections if s.chosen is not None}
            out[name] = sorted(chosen.values(), key=lambda v: (str(type(v)), v))
        return out

    def stored_counts(self, ids: set[str]) -> dict[str, int]:
        """How many of ``ids`` are stored, and how many of those are done / diverged / failed."""
        found = [self.statuses[rid] for rid in ids if rid in self.statuses]
        return {"stored": len(found), **{s: found.count(s) for s in ("done", "diverged", "failed")}}

    @property
    def evaluation_seeds(self) -> list[Any]:
        return evaluation_seeds(self.fixed, self.grid)

    @property
    def per_seed_split(self) -> bool:
        """See :func:`per_seed_split`."""
        return per_seed_split(self.planned, self.fixed, self.grid)

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


def per_seed_split(planned: dict[str, dict[str, Any]], fixed: dict[str, Any], grid: dict[str, Any]) -> bool:
    """A tuned sweep stored by an actcmp before ``split_seed``: each seed drew its own split,
    so its tuning runs validated on rows that were evaluation runs' test rows. Read from the
    planned runs (any without a split seed), else from the stored sweep's fields."""
    if planned:
        return any(cfg.get("split_seed") is None for cfg in planned.values())
    return fixed.get("split_seed") is None and "split_seed" not in grid


def per_seed_tuned(store: Store) -> list[str]:
    """Names of the tuned sweeps in ``store`` that split per seed (no selection computed)."""
    names = set()
    for entry in store.sweeps():
        config = entry["config"]
        if config.get("tune") and per_seed_split(
            store.planned_for(entry["sweep_id"]), config.get("fixed", {}), config.get("grid", {})
        ):
            names.add(entry["name"])
    return sorted(names)


def stored_tunes(store: Store, expected: dict[str, dict[str, Any]] | None = None) -> list[StoredTune]:
    """Every tuned sweep recorded in ``store``, with the selection recomputed from its
    stored tuning runs. ``expected`` (e.g. ``store.expected_configs()``) restricts the plan
    to the runs this directory holds (a shard's units)."""

    found = []
    for entry in store.sweeps():
        table = entry["config"].get("tune")
        if not table:
            continue
        spec = parse_stored_tune(table, f"stored sweep {entry['name']}")
        planned = store.planned_for(entry["sweep_id"])
        if expected is not None:
            planned = {rid: cfg for rid, cfg in planned.items() if rid in expected}
        tuning = [cfg for cfg in planned.values() if cfg.get("role") == ROLE_TUNE]
        metric = SELECT_METRIC[spec.select_by]
        finals = store.final_metric(list(planned), metric)  # the tuning runs' select; every status kept
        # fmt: off
        found.append(StoredTune(
            sweep_id=entry["sweep_id"], name=entry["name"], spec=spec, fixed=entry["config"].get("fixed", {}),
            grid=entry["config"].get("grid", {}), planned=planned, selections=select(tuning, finals, spec),
            statuses={rid: status for rid, (status, _) in finals.items()},
        ))
        # fmt: on
    return _numbered(found)


def runs_content(config: dict[str, Any]) -> str:
    """What of a stored sweep's config decides its runs (``tune``, ``fixed``, ``grid``; not its
    description, which its id also covers), as comparable text."""
    return json.dumps({key: config.get(key) for key in ("tune", "fixed", "grid")}, sort_keys=True, default=str)


def _numbered(found: list[StoredTune]) -> list[StoredTune]:
    """One entry per distinct version of each tuned sweep (two entries that differ only in
    their description plan the same runs and select alike: the first stored is kept), numbered
    ``k of n`` in the order first stored where a name has several."""
    first: dict[tuple[str, str], StoredTune] = {}
    for tune in found:
        key = (tune.name, runs_content({"tune": tune.spec.to_dict(), "fixed": tune.fixed, "grid": tune.grid}))
        first.setdefault(key, tune)
    chosen = {id(tune) for tune in first.values()}
    kept = [tune for tune in found if id(tune) in chosen]
    for tune in kept:  # in the order first stored
        same = [other for other in kept if other.name == tune.name]
        if len(same) > 1:
            tune.version = (same.index(tune) + 1, len(same))
    return kept


def matches_values(cfg: dict[str, Any], values: dict[str, Any]) -> bool:
    """``cfg`` has each of ``values`` (compared as JSON, so 3 and 3.0 match as stored)."""
    return all(json.dumps(cfg.get(k)) == json.dumps(v) or cfg.get(k) == v for k, v in values.items())


def untuned_runs(store: Store, tunes: list[StoredTune]) -> set[str]:
    """The runs that sweeps without [tune] planned in ``store`` (``tunes``: its tuned sweeps)."""
    tuned = {t.sweep_id for t in tunes}
    return {rid for sid, rids in store.sweep_runs().items() if sid not in tuned for rid in rids}


def left_out_ids(tunes: list[StoredTune], untuned: Collection[str] = ()) -> set[str]:
    """The runs the report's tables (all but the Tuned comparison) leave out: every tuned
    sweep's tuning runs and its evaluation runs at a selected value other than the common one,
    less the runs at the common value of some tuned sweep and those a sweep without [tune]
    planned (``untuned``, :func:`untuned_runs`). What is left: every activation at the same,
    common value, so a selected value never defines a cell."""
    out: set[str] = set()
    kept = set(untuned)
    for tune in tunes:
        out |= tune.tuning_ids | tune.selected_ids
        kept |= tune.common_ids
    return out - kept


def report_left_out(store: Store) -> set[str]:
    """:func:`left_out_ids` of the tuned sweeps of ``store`` as the report reads them (its
    plan: ``store.expected_configs()``; call inside one snapshot of the store): what
    ``compare`` and ``load_results(...).summary()`` leave out as the report's tables do."""
    tunes = stored_tunes(store, store.expected_configs())
    return left_out_ids(tunes, untuned_runs(store, tunes)) if tunes else set()


def describe_value(values: dict[str, Any]) -> str:
    """``lr=0.003`` / ``lr=0.003, weight_decay=0.0001``."""
    return ", ".join(f"{k}={v:g}" if numeric_values([v]) else f"{k}={v}" for k, v in values.items())


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
        f"tune ({tune.title}): {describe_candidates(tune.spec)}, tuning seeds {tune.spec.seeds}, "
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


#: what a tuning run records, by ``[tune] record`` (``--dry-run``'s words)
RECORDED = {"full": "everything (record = 'full')", "val_loss": "the validation loss alone (record = 'val_loss')"}


def plan_lines(counts: dict[str, Any], *, fresh: bool = False) -> list[str]:
    """What ``--dry-run`` prints for a tuned sweep (``counts`` from ``describe_plan``;
    ``fresh``: the run trains stored runs again)."""
    seeds = counts["seeds"]
    return [
        f"  tune: {counts['candidates']}; tuning seeds {', '.join(str(s) for s in seeds)}",
        f"  tuning runs: {counts['tuning']} ({counts['units']} cell-activation pairs x {counts['combinations']} "
        f"candidate{'s' if counts['combinations'] != 1 else ''} x {len(seeds)} tuning seed{'s' if len(seeds) != 1 else ''}), "
        f"recording {RECORDED[counts['record']]}",
        f"  evaluation runs: {counts['evaluation_common']} at the common value {describe_value(counts['common_values'])}"
        f" + up to {counts['evaluation_selected_at_most']} at the selected values (none where the selection is the "
        "common value)",
        *(
            [
                f"  already stored: {counts['tuning_stored']} of {counts['tuning']} tuning runs, "
                f"{counts['evaluation_common_stored']} of {counts['evaluation_common']} evaluation runs at the common "
                f"value ({'--fresh trains them again' if fresh else 'a run skips them'})"
            ]
            if counts.get("tuning_stored") is not None
            else []
        ),
    ]


def describe_candidates(spec: TuneSpec) -> str:
    parts = [
        f"{k} in [{', '.join(f'{v:g}' if numeric_values([v]) else str(v) for v in vs)}]"
        for k, vs in spec.candidates.items()
    ]
    product = f" ({len(spec.combos())} combinations)" if len(spec.candidates) > 1 else ""
    return " x ".join(parts) + product


__all__ = [
    "EDGE_NOTE",
    "ROLE_EVAL",
    "ROLE_TUNE",
    "SELECT_METRIC",
    "Selection",
    "StoredTune",
    "cell_fields",
    "combo_key",
    "describe_candidates",
    "describe_cell",
    "describe_value",
    "edge_fields",
    "left_out_ids",
    "matches_values",
    "numeric_values",
    "per_seed_split",
    "per_seed_tuned",
    "plan_lines",
    "runs_content",
    "select",
    "status_lines",
    "stored_tunes",
    "tune_status",
    "untuned_runs",
]
