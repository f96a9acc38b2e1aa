"""Run the claim sweeps (resuming what is stored) and write the claims report.

Layout under ``out`` (default ``results/claims``)::

    out/<sweep>/actcmp.sqlite    one results directory per claim sweep (experiments/claims/<sweep>.toml)
    out/figures/*.png|pdf|svg    one figure per claim, plus the explaining and depth-scaling figures
    out/claims.md  out/claims.html (self-contained)  out/claims.json (verdicts, machine-readable)

Each claim is judged only on the runs its sweep file plans (with the same overrides), so
an edited sweep never mixes old and new settings, and what is already stored is reused.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actcmp.errors import ConfigError

if TYPE_CHECKING:
    from actcmp.analysis.tune import Selection
    from actcmp.claims.document import ClaimDoc, FigureDoc, SweepDoc
    from actcmp.claims.registry import Claim
    from actcmp.config import SweepConfig
    from actcmp.progress import ProgressSink
    from actcmp.store.database import Results
    from actcmp.tune_spec import TuneSpec

FORMATS = ("png", "pdf", "svg")


@dataclass
class ClaimsRun:
    """What :func:`run_claims` did: the verdicts, the sweeps and the files written."""

    out_dir: Path
    claims: list[ClaimDoc]
    sweeps: list[SweepDoc]
    paths: list[Path] = field(default_factory=list)
    failed_runs: int = 0
    interrupted: bool = False
    #: the interruption was SIGTERM (exit 143), not Ctrl-C (130)
    terminated: bool = False
    #: it came after a sweep's last run was stored (no run was cut short; what followed was skipped)
    late_interrupt: bool = False
    #: the claims ``only`` named (their keys; empty: every claim was asked for)
    chosen: list[str] = field(default_factory=list)
    #: with ``only``: the other claims, left out of the documents because no run of their sweeps with
    #: these settings (``--set``) is stored
    left_out: list[Claim] = field(default_factory=list)

    def only_note(self) -> str:
        """With ``only``: what the documents cover besides the named claims, in one sentence,
        worded as the documents' Summary says it (:func:`actcmp.claims.document.only_note`)."""
        from actcmp.claims.document import only_note

        return only_note([doc.claim for doc in self.claims], self.chosen, self.left_out, self.out_dir, markdown=False)

    @property
    def verdicts(self) -> dict[str, str]:
        return {doc.claim.key: doc.verdict.verdict for doc in self.claims}


def claims_dir() -> Path:
    """``experiments/claims`` of the checkout, or the copy packaged into the wheel."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "experiments" / "claims", here.parent / "experiments" / "claims"):
        if candidate.is_dir():
            return candidate
    raise ConfigError("experiments/claims not found (neither in the checkout nor in the installed package)")


def select(only: Sequence[str] | None = None) -> list[Claim]:
    """The claims to check, in report order; ``only`` names keys or numbers (``dying``, ``3``, ``A1``)."""
    from actcmp.claims.registry import CLAIMS
    from actcmp.errors import did_you_mean

    if only is None:
        return list(CLAIMS)
    if not [name for name in only if name.strip()]:  # an empty --only is a mistake, never "every claim"
        raise ConfigError(
            f"--only: name at least one claim (claims: {', '.join(c.key for c in CLAIMS)}; see 'actcmp claims --list')"
        )
    by_name = {c.key: c for c in CLAIMS} | {c.number.lower(): c for c in CLAIMS}
    chosen = []
    for name in only:
        key = name.strip().lower()
        if key not in by_name:
            raise ConfigError(
                f"unknown claim '{name}'{did_you_mean(key, by_name)} (claims: {', '.join(c.key for c in CLAIMS)})"
            )
        if by_name[key] not in chosen:
            chosen.append(by_name[key])
    order = {c.key: i for i, c in enumerate(CLAIMS)}
    return sorted(chosen, key=lambda c: order[c.key])


def load_claim_sweep(name: str, overrides: dict[str, Any] | None = None) -> tuple[Path, SweepConfig]:
    from actcmp.config import apply_overrides, load_sweep

    path = claims_dir() / f"{name}.toml"
    sweep = load_sweep(path)
    if overrides:
        sweep = apply_overrides(sweep, fixed=overrides)
    return path, sweep


def selected_runs(sweep: SweepConfig, directory: Path, data_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """The evaluation runs of a tuned sweep at each unit's selected values (not the common
    runs at the fixed value, unless that is what was selected): what its claims judge. A
    unit whose candidates all diverged (or whose tuning is unfinished) has none."""
    return _selected(sweep, directory, data_dir)[0]


def edge_summary(selections: Sequence[Selection], spec: TuneSpec) -> str:
    """How many selections lie at an edge of the candidates, at which value and where (per
    depth where the sweep varies it): "" when none. A selection at the smallest or largest
    candidate may not be the optimum; a verdict read there compares activations at values
    that are not shown to be best for them."""
    chosen = [s for s in selections if s.chosen is not None]
    at_edge = [s for s in chosen if s.edges]
    if not at_edge:
        return ""
    sides: dict[str, int] = {}
    for sel in at_edge:
        assert sel.chosen is not None
        for key in sel.edges:
            options = spec.candidates[key]
            side = "the largest" if sel.chosen[key] == max(options) else "the smallest"
            label = f"{key} = {sel.chosen[key]:g}, {side}"
            sides[label] = sides.get(label, 0) + 1
    by_side = "; ".join(f"{label}: {n}" for label, n in sides.items())
    depths = sorted({int(s.config["depth"]) for s in chosen if s.config.get("depth") is not None})
    where = ""
    if len(depths) > 1:
        parts = []
        for depth in depths:
            mine = [s for s in chosen if s.config.get("depth") == depth]
            parts.append(f"depth {depth}: {sum(1 for s in mine if s.edges)} of {len(mine)}")
        where = f" ({', '.join(parts)})"
    return (
        f"{len(at_edge)} of {len(chosen)} selections lie at an edge of the candidates ({by_side}){where}. The best "
        "value may lie beyond them: where a verdict reads such cells, it compares activations at values not shown "
        "to be their optima (widen the candidates to check)."
    )


def _selected(
    sweep: SweepConfig, directory: Path, data_dir: str | Path | None = None
) -> tuple[list[dict[str, Any]], Any, int, str, list[dict[str, Any]], set[str]]:
    """(the evaluation runs at the values selected so far, a table of the selected values per
    cell and activation, how many evaluation runs the claim judges once every unit has its
    selection: one per grid point, less those of units whose every candidate diverged,
    :func:`edge_summary` of the selections, :func:`unselected_runs`: the evaluation seeds
    of those units, to enter the verdicts as diverged, and the run ids of the tuning runs,
    which the selection read)."""
    import pandas as pd

    from actcmp.run.tune import describe_value, selected_plan

    plan, selections, runs = selected_plan(sweep, directory, data_dir)
    chosen = {s.unit: s.chosen for s in selections if s.chosen is not None}
    cell = unit_fields(sweep)
    rows = []
    for sel in selections:
        row: dict[str, Any] = {k: sel.config.get(k) for k in cell if k in sel.config}
        row["activation"] = sel.activation
        row["selected"] = (
            describe_value(sel.chosen)
            if sel.chosen is not None
            else ("all diverged" if sel.all_diverged else "pending")
        )
        row["selected"] += " (edge)" if sel.edges else ""
        rows.append(row)
    table = pd.DataFrame(rows)
    if not table.empty:
        keys = [k for k in cell if k in table]  # one row per cell of a unit: no two units share a row and column
        table = table.pivot_table(index=keys, columns="activation", values="selected", aggfunc="first").reset_index()
        table.columns.name = None
    judged = [
        cfg
        for cfg in runs
        if cfg["tune_unit"] in chosen and all(cfg.get(k) == v for k, v in chosen[cfg["tune_unit"]].items())
    ]
    # every unit's evaluation runs are planned except those of a unit whose every candidate
    # diverged in tuning: it gets no evaluation run at a selected value, so none is pending
    gone = {s.unit for s in selections if s.all_diverged}
    planned = sum(len(runs) for unit, runs in plan.members.items() if unit not in gone)
    unselected = unselected_runs(plan.common, selections, plan.spec.fields)
    tuning = {cfg["run_id"] for cfg in plan.tuning}
    return judged, table, planned, edge_summary(selections, plan.spec), unselected, tuning


def unit_fields(sweep: SweepConfig) -> list[str]:
    """The fields a tuned sweep selects per, besides the activation: every grid axis but the
    seed, the activation and the tuned fields; the dataset where no such axis remains (a
    tuning unit is one grid point without its seed: ``dataset, depth`` for claim 2,
    ``bottleneck`` for A2, ``depth, output_activation`` for claim 7). Read from the sweep
    before any selection exists; :func:`actcmp.analysis.tune.cell_fields` tells stored
    selections apart for the report's tuned tables."""
    tuned = set(sweep.tune.candidates) if sweep.tune is not None else set()
    axes = [k for k in sweep.grid if k not in ("seed", "activation") and k not in tuned]
    return axes if axes else ["dataset"]


#: how the run id of :func:`unselected_runs`' rows ends (never a stored run's: those are hashes)
UNSELECTED_SUFFIX = ":no-selection"


def unselected_runs(
    evaluation: Sequence[dict[str, Any]], selections: Sequence[Selection], fields: Sequence[str]
) -> list[dict[str, Any]]:
    """The evaluation seeds of every unit whose candidates all diverged in tuning
    (:attr:`~actcmp.analysis.tune.Selection.all_diverged`), as runs that diverged: one per
    evaluation config of the unit in ``evaluation`` (the plan's common runs, tagged with
    ``tune_unit``), its run id suffixed :data:`UNSELECTED_SUFFIX`, status ``diverged``, the
    tuned ``fields`` None (no value was selected) and no metrics.

    Such a unit has no evaluation run at a selected value. Left out, it would vanish from the
    verdicts (a cell missing an activation is dropped from the Friedman test, and the
    comparison with a cell's best has no row for it): the worst outcome would remove the
    cell instead of counting against the activation. As diverged runs it is the worst outcome
    of its cell (:func:`~actcmp.analysis.cells.outcomes`) and ranks last, as the report's
    tuned rank table ranks it (``tuned_none``)."""
    gone = {s.unit for s in selections if s.all_diverged}
    rows = []
    for cfg in evaluation:
        if cfg.get("tune_unit") not in gone:
            continue
        row = {k: v for k, v in cfg.items() if k not in ("role", "tune_unit")}
        row.update({field: None for field in fields})
        row.update(run_id=f"{cfg['run_id']}{UNSELECTED_SUFFIX}", status="diverged")
        rows.append(row)
    return rows


def _with_unselected(results: Results, unselected: Sequence[dict[str, Any]]) -> Results:
    """``results`` with :func:`unselected_runs`' rows appended to its runs (their config
    fields, no metrics; no epochs or layers)."""
    if not unselected:
        return results
    import pandas as pd

    from actcmp.store.database import Results

    return Results(
        runs=pd.concat([results.runs, pd.DataFrame(list(unselected))], ignore_index=True),
        epochs=results.epochs,
        layers=results.layers,
        planned=results.planned,
        directory=results.directory,
        environments=results.environments,
    )


def _unselected_note(unselected: Sequence[dict[str, Any]]) -> str:
    """What the tuned protocol's line adds about :func:`unselected_runs` ("" if none)."""
    if not unselected:
        return ""
    units = sorted({(str(r.get("activation")), str(r.get("dataset")), str(r.get("depth"))) for r in unselected})
    named = ", ".join(f"{a} on {d} at depth {depth}" for a, d, depth in units)
    return (
        f"; {len(units)} {'unit' if len(units) == 1 else 'units'} whose every candidate diverged in tuning ({named}) "
        f"{'has' if len(units) == 1 else 'have'} no selected value: {'its' if len(units) == 1 else 'their'} "
        f"{len(unselected)} evaluation runs enter the verdicts as diverged (the worst outcome of the cell, ranked "
        "last), not left out"
    )


def _per_seed_warning(directory: Path) -> str:
    """What claims.md says when ``directory`` holds a tuned sweep stored before ``split_seed``
    (each seed its own split): its runs are not the claim's and are not judged ("" if none)."""
    from actcmp.analysis.tune import per_seed_tuned
    from actcmp.store.database import Store

    with Store(directory, create=False) as store:
        old = per_seed_tuned(store)
    if not old:
        return ""
    return (
        f"`{directory.name}` also holds the tuned sweep {', '.join(repr(n) for n in old)} stored by an older "
        "actcmp, whose runs drew each seed's own split (its selection saw test rows). Those runs are not "
        "judged here: the claim reads only runs of one split. Train the claims into a new directory with --out."
    )


def _restrict(results: Results, run_ids: set[str]) -> Results:
    from actcmp.store.database import Results

    def keep(frame: Any) -> Any:
        return frame[frame["run_id"].isin(run_ids)].reset_index(drop=True) if "run_id" in frame else frame

    return Results(
        runs=keep(results.runs),
        epochs=keep(results.epochs),
        layers=keep(results.layers),
        planned=keep(results.planned),
        directory=results.directory,
        environments=keep(results.environments) if results.environments is not None else None,
    )


def _json_safe(value: Any) -> Any:
    """``value`` as plain JSON (numpy scalars to Python numbers; anything else unknown as text)."""
    import json

    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


def sweep_setup(
    stored: Results, run_ids: set[str], directory: Path, written: set[str], *, tuning: int = 0
) -> dict[str, Any]:
    """What one claim sweep's runs were computed with, read from what they stored (the Setup
    of the claims documents; :mod:`actcmp.report.setup` collects the same for the report):

    * ``runs``: the stored runs of ``run_ids`` (those the claims read; a tuned sweep's tuning
      runs included, ``tuning`` of them);
    * ``environment``: per :data:`~actcmp.report.setup.ENV_KEYS` entry the values the runs
      recorded (a list where they differ, with ``environment_counts``: runs per value);
    * ``provenance``: sweep.json's sweep file, git commit and ``git_dirty`` (of the last run
      into ``directory``; the store records no commit per run);
    * ``dates``: the first and last ``finished_at``;
    * ``defaults``: the run fields the sweep file does not write (``written``: its fixed,
      grid and tuned fields) with one value in every run, as the runs resolved them
      (optimizer, batch size, ...), and ``defaults_varied``: those it does not write that
      vary with the dataset or activation (``per_dataset`` / ``per_activation``) or otherwise
      (``varied``)."""
    from actcmp.report.setup import NOT_RECORDED, date_range, environment, provenance, read_sweep_file, run_fields

    mine = _restrict(stored, run_ids)
    env = environment(mine)
    counts: dict[str, dict[str, int]] = {}
    envs = mine.environments
    for key, value in env.items():
        if isinstance(value, list) and envs is not None and key in envs:
            found = envs[key].map(lambda v: NOT_RECORDED if v is None or v != v else str(v)).value_counts()
            counts[key] = {str(v): int(found.get(v, 0)) for v in value}
    defaults: dict[str, Any] = {}
    varied: dict[str, dict[str, Any]] = {}
    if len(mine.runs):
        fields = run_fields(mine.runs)
        defaults = {k: v for k, v in fields["fixed"].items() if k not in written}
        for group, label in (("per_dataset", "per_dataset"), ("per_activation", "per_activation"), ("grid", "varied")):
            mapping = {
                k: v for k, v in fields[group].items() if k not in written and k not in ("activation", "dataset")
            }
            if mapping:
                varied[label] = mapping
    return _json_safe(
        {
            "runs": len(mine.runs),
            **({"tuning_runs": tuning} if tuning else {}),
            "environment": env,
            **({"environment_counts": counts} if counts else {}),
            "provenance": provenance(directory, read_sweep_file(directory)),
            "dates": date_range(mine.runs),
            "defaults": defaults,
            **({"defaults_varied": varied} if varied else {}),
        }
    )


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def run_claims(
    out: str | Path = "results/claims",
    *,
    only: Sequence[str] | None = None,
    overrides: dict[str, Any] | None = None,
    train: bool = True,
    jobs: int = 1,
    engine: str = "auto",
    device: str = "cpu",
    data_dir: str | Path | None = None,
    progress: Callable[[], ProgressSink] | None = None,
    formats: Sequence[str] = FORMATS,
    command: str = "actcmp claims",
) -> ClaimsRun:
    """Run every claim sweep into ``out/<sweep>/`` (resuming; skipped with ``train=False``),
    judge every claim on its sweep's runs, and write claims.md / claims.html / claims.json
    and the figures under ``out``.

    ``only`` (claim names or numbers; an empty list is refused) trains only those claims'
    sweeps, but the documents still cover every claim: the others are re-decided from the
    runs stored under ``out`` (with the same ``overrides``, as ``train=False`` would), and
    a claim with no run of its sweep stored there with these settings (not trained, or trained
    with another ``--set``: it would be judged on nothing) is left out and named
    (:attr:`ClaimsRun.left_out`): a subset never makes the other claims vanish from
    claims.md without a word."""
    from actcmp.claims.document import SweepDoc
    from actcmp.claims.registry import CLAIMS
    from actcmp.run.sweep import plan_runs, refuse_per_seed_tuned, run_sweep
    from actcmp.store.database import db_path, load_results

    out_dir = Path(out)
    claims = select(only)
    sweep_names = list(dict.fromkeys(c.sweep for c in claims))
    # the claims of the documents, in the registry's order: with ``only``, every claim whose sweep
    # is named or stored here (those whose stored runs match nothing are left out below)
    named = set(sweep_names)
    kept = [c for c in CLAIMS if c in claims or (only is not None and (c.sweep in named or _stored(out_dir, c)))]
    left_out = [c for c in CLAIMS if only is not None and c not in kept]
    judged_sweeps = list(dict.fromkeys(c.sweep for c in kept))
    loaded = {name: load_claim_sweep(name, overrides) for name in judged_sweeps}  # --set checked first
    if not train and not any(db_path(out_dir / name).is_file() for name in sweep_names):
        # judging nothing would write claims.md with every claim inconclusive (a mistyped --out)
        raise ConfigError(
            f"{out_dir}: holds no stored claim sweep ({', '.join(sweep_names)}): run 'actcmp claims' without "
            "--report-only to train them, or give --out the directory that holds them"
        )
    if train:  # before any sweep trains: a tuned claim sweep stored with per-seed splits is refused
        for name in sweep_names:
            if loaded[name][1].tune is not None:
                refuse_per_seed_tuned(out_dir / name)
    sweeps: dict[str, SweepDoc] = {}
    results: dict[str, Results | None] = {}
    failed, interrupted, terminated, late = 0, False, False, False
    for name in judged_sweeps:
        path, sweep = loaded[name]
        planned = plan_runs(sweep, data_dir)
        directory = out_dir / name
        doc = SweepDoc(
            name=name,
            file=_display_path(path),
            results_dir=_display_path(directory),
            fixed=sweep.resolved_fixed,
            grid=sweep.grid,
            planned=len(planned),
            counts={},
        )
        if train and not interrupted and name in sweep_names:  # only the named claims' sweeps train
            started = time.perf_counter()
            summary = run_sweep(
                sweep,
                directory,
                jobs=jobs,
                engine=engine,
                device=device,
                data_dir=data_dir,
                progress=progress() if progress else None,
            )
            doc.trained, doc.wall_time_s = summary.ran, time.perf_counter() - started
            failed += summary.failed
            # a Ctrl-C after a sweep's last run still stops what comes after it (the next claim
            # sweeps; the exit code says the command was stopped, as `run --report` does)
            interrupted = summary.interrupted or summary.late_interrupt
            terminated, late = summary.terminated and interrupted, summary.late_interrupt
        stored = load_results(directory) if db_path(directory).exists() else None
        unselected: list[dict[str, Any]] = []  # a tuned sweep's units with no selected value
        tuning: set[str] = set()  # a tuned sweep's tuning runs (its selection read them)
        if stored is not None:
            judged = planned
            if sweep.tune is not None:  # rank-based claims: only the evaluation runs at the selected values
                from actcmp.run.tune import describe_candidates

                # units without a selection yet count their evaluation runs as pending
                judged, doc.selected, doc.planned, doc.edges, unselected, tuning = _selected(sweep, directory, data_dir)
                doc.warning = _per_seed_warning(directory)
                doc.tune = (
                    f"each activation at its own {', '.join(sweep.tune.candidates)}, selected per "
                    f"{' and '.join(unit_fields(sweep))} "
                    f"from {describe_candidates(sweep.tune)} by mean final validation loss over tuning seeds "
                    f"{', '.join(str(s) for s in sweep.tune.seeds)} (never the evaluation seeds); the verdict "
                    "reads only the evaluation runs at the selected values" + _unselected_note(unselected)
                )
            judged_ids = {cfg["run_id"] for cfg in judged}
            # the Setup: what the runs the claims read (the selection's tuning runs too) were computed with
            tuning &= set(stored.runs["run_id"])
            written = {*doc.fixed, *doc.grid, *(sweep.tune.candidates if sweep.tune is not None else ())}
            doc.setup = sweep_setup(stored, judged_ids | tuning, directory, written, tuning=len(tuning - judged_ids))
            stored = _restrict(stored, judged_ids)
            statuses = stored.runs["status"].value_counts() if len(stored.runs) else {}
            doc.counts = {s: int(statuses.get(s, 0)) for s in ("done", "diverged", "failed")}
            doc.counts["pending"] = max(0, doc.planned - len(stored.runs))
            if "wall_time_s" in stored.runs:
                doc.stored_time_s = float(stored.runs["wall_time_s"].fillna(0).sum())
            # counted above as what is stored; judged beside it as diverged (see unselected_runs), once
            # something is stored to judge them beside
            stored = None if stored.runs.empty else _with_unselected(stored, unselected)
        else:
            doc.counts = {"pending": len(planned)}
        sweeps[name], results[name] = doc, stored
    if only is not None:  # another claim whose stored runs none match these settings (another --set
        # than they were trained with) would be judged on nothing: left out and named, not "inconclusive"
        unmatched = [c for c in kept if c not in claims and results.get(c.sweep) is None]
        kept = [c for c in kept if c not in unmatched]
        left_out = [c for c in CLAIMS if c in left_out or c in unmatched]
    run = write_claims_report(
        out_dir,
        kept,
        sweeps,
        results,
        formats=formats,
        command=command,
        left_out=left_out,
        chosen=claims if only is not None else None,
    )
    run.failed_runs, run.interrupted, run.terminated = failed, interrupted, terminated
    run.late_interrupt = late
    if only is not None:
        run.chosen, run.left_out = [c.key for c in claims], left_out
    return run


def _stored(out_dir: Path, claim: Claim) -> bool:
    """Whether ``out_dir`` holds a store of ``claim``'s sweep."""
    from actcmp.store.database import db_path

    return db_path(out_dir / claim.sweep).is_file()


def write_claims_report(
    out_dir: Path,
    claims: Sequence[Claim],
    sweeps: dict[str, SweepDoc],
    results: dict[str, Results | None],
    *,
    formats: Sequence[str] = FORMATS,
    command: str = "actcmp claims",
    left_out: Sequence[Claim] = (),
    chosen: Sequence[Claim] | None = None,
) -> ClaimsRun:
    """Judge ``claims`` on ``results`` (per sweep name) and write the documents.
    ``left_out``: claims not in them (their sweeps not stored), which the documents name;
    ``chosen``: the claims ``--only`` named (None: every claim was asked for)."""
    from actcmp.claims import document, figures
    from actcmp.claims.context import ClaimContext

    formats = tuple(dict.fromkeys(f.lower().lstrip(".") for f in formats)) or ("png",)
    written: list[Path] = []
    contexts = {
        name: ClaimContext(results.get(name), Path(sweeps[name].file), Path(sweeps[name].results_dir))
        for name in sweeps
    }

    def figure_doc(stem: str, title: str, caption: str, fig: Any) -> FigureDoc:
        paths, png = figures.save(fig, out_dir / "figures" / stem, formats)
        written.extend(paths)
        fig.clear()
        return document.FigureDoc(f"figures/{stem}", title, caption, png, formats)

    docs: list[ClaimDoc] = []
    for claim in claims:
        ctx = contexts[claim.sweep]
        verdict = claim.decide(ctx)
        fig = figure_doc(f"claim_{claim.number.lower()}_{claim.key}", claim.title, claim.caption, claim.figure(ctx))
        docs.append(document.ClaimDoc(claim, verdict, sweeps[claim.sweep], fig, claim.tables(ctx)))
    explain = [figure_doc(stem, title, caption, fig) for stem, title, caption, fig in _explaining(contexts)]
    depth = _depth(contexts, figure_doc)
    note = (
        document.only_note([d.claim for d in docs], [c.key for c in chosen], left_out, out_dir)
        if chosen is not None
        else ""
    )
    sections = document.build_sections(docs, explain, depth, list(sweeps.values()), command, note=note)
    written += document.write_documents(
        out_dir,
        sections,
        docs,
        list(sweeps.values()),
        only=[c.key for c in chosen] if chosen is not None else None,
        left_out=left_out,
    )
    return ClaimsRun(out_dir, docs, list(sweeps.values()), written)


def _explaining(contexts: dict[str, Any]) -> list[tuple[str, str, str, Any]]:
    """Per-layer pre-activation histograms beside f and f' (dying and gradients sweeps),
    and died / revived units over training (dying sweep)."""
    from actcmp.claims import explaining

    out = []
    dying = contexts.get("dying")
    if dying is not None and dying.has_runs:
        chosen = explaining.choose_runs(
            dying.runs, ["relu", "leaky_relu", "prelu"], prefer="relu", metric="dead_fraction_final"
        )
        if not chosen.empty:
            out.append(
                (
                    "explain_layers_dying",
                    "Why ReLU units die: pre-activations per layer",
                    "For the cell where ReLU loses most units (depth up to 4), each hidden layer's pre-activations "
                    "on the probe set at initialisation (grey outline) and after training (filled), beside f(z) "
                    "(solid) and f'(z) (dashed): a ReLU unit whose pre-activations all fall below zero gets no "
                    "gradient; Leaky ReLU and PReLU keep a slope there. Histograms are recorded on the probe set at "
                    "epoch 0 and the last epoch (48 bins on [-6, 6], the end bins holding everything beyond).",
                    explaining.plot_layer_histograms(chosen, dying.results.layers),
                )
            )
        out.append(
            (
                "explain_died_revived",
                "Died and revived units over training",
                "Share of hidden units that died (solid) or came back to life (dashed) since the previous measurement, "
                "mean over layers and seeds, in the deepest network of the dying sweep, per learning rate.",
                explaining.plot_died_revived(dying.runs, dying.results.layers),
            )
        )
    gradients = contexts.get("gradients")
    if gradients is not None and gradients.has_runs:
        chosen = explaining.choose_runs(
            gradients.runs, ["sigmoid", "tanh", "relu"], prefer="sigmoid", metric="test_loss", max_depth=4
        )
        if not chosen.empty:
            out.append(
                (
                    "explain_layers_bounded",
                    "Sigmoid and tanh: where the pre-activations sit",
                    "Pre-activations per hidden layer at initialisation (grey outline) and after training "
                    "(filled) beside f(z) (solid) and f'(z) (dashed), for the cell where sigmoid does worst "
                    "(depth up to 4): mass in the flat tails of f' means saturated units; a narrow peak in the "
                    "middle with f' at most 0.25 (sigmoid) shrinks every backpropagated gradient.",
                    explaining.plot_layer_histograms(chosen, gradients.results.layers),
                )
            )
    return out


def _depth(contexts: dict[str, Any], figure_doc: Callable[..., FigureDoc]) -> Any:
    from actcmp.analysis import stats as stats
    from actcmp.claims import document, figures
    from actcmp.claims.tables import fmt

    ranking = contexts.get("ranking")
    if ranking is None or not ranking.has_runs or ranking.runs["depth"].nunique() < 2:
        return None
    table = stats.depth_scaling(ranking.runs)

    def depth(value: Any) -> str:  # a whole depth, or "none" (no depth trains)
        return "none" if value is None or value != value else str(int(value))

    shown = (
        table.assign(
            best_mean=table["best_mean"].map(fmt),
            best_depth=table["best_depth"].map(depth),
            deepest_trained=table["deepest_trained"].map(depth),
        )
        .rename(
            columns={
                "depths": "depths tried",
                "best_depth": "best depth",
                "best_mean": "loss at best depth",
                "deepest_trained": "deepest that trains",
            }
        )
        .drop(columns=["factor"])
    )
    figure = figure_doc(
        "depth_scaling",
        "Depth scaling",
        f"Mean test loss relative to each activation's best depth (log scales); the dashed line is "
        f"{stats.DEPTH_FACTOR:g}x: the deepest point at or under it still trains unless a hollow circle marks "
        "that the median seed did not learn; crosses mark depths where a seed diverged.",
        figures.plot_depth(ranking.runs),
    )
    return document.depth_section(figure, shown, stats.DEPTH_FACTOR)
