"""The report's part for a sweep with ``[tune]`` (see :mod:`actcmp.run.tune` and :mod:`actcmp.analysis.tune`).

For each tuned sweep in a results directory (selection recomputed from its stored tuning
runs):

* ``tables/tune_selection.*``: the selected value per cell and activation, its mean final
  validation loss over the tuning seeds, and edge choices marked;
* ``tables/tune_comparison.*``: per cell and activation, the test loss over the evaluation
  seeds at the activation's *selected* value beside the test loss at the *common* value
  (the sweep's fixed value or the default), each with its rank in the cell and, computed as the
  main table computes a cell (:func:`actcmp.report.tables.main_table`, one side at a time), its
  95% t interval, the paired test against the side's best in the cell (Holm over the cell), bold
  (the best or not separable from it) and "(did not learn)" (not bold beside a best that learned).
  The tuned comparison is never shown without the common one, nor the other way round;
* ``tables/tune_ranks.*``: mean rank per activation across cells, tuned vs common, and the cells
  where it did not learn (a mean rank orders the sample; it is not a test);
* ``figures/tune_sensitivity.*``: final validation loss (mean over tuning seeds) against
  each candidate value per activation, one panel per cell; the selected value circled, the
  common value dashed.

:func:`evaluation_only` keeps the report's other tables and figures to the runs at the
*common* value of every tuned field: the tuning runs (other seeds, every candidate) and the
evaluation runs at a selected value other than the common one appear only here. Which
activations have runs at a selected value is the outcome of the selection, so such a value
never defines a cell of the other tables (a cell holding only the activations that happened
to select it would compare them with nothing else).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actcmp.analysis.cells import activation_order
from actcmp.analysis.learning import cell_id, cells_without_learning, learning_per_cell
from actcmp.analysis.tune import (
    EDGE_NOTE,
    ROLE_EVAL,
    StoredTune,
    cell_fields,
    describe_candidates,
    describe_cell,
    describe_value,
    left_out_ids,
    matches_values,
    numeric_values,
    stored_tunes,
    untuned_runs,
)
from actcmp.report import canvas, tables
from actcmp.report.format import MISSING, fmt_value
from actcmp.report.render import FigureDoc, Section
from actcmp.report.style import line_kwargs

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from actcmp.store.database import Results

SENSITIVITY_STEM = "tune_sensitivity"


@dataclass
class TunedReport:
    """What the tune part of a report holds (``context.extra["tune"]``)."""

    tunes: list[StoredTune]
    tables: list[tables.Table] = field(default_factory=list)
    figures: list[FigureDoc] = field(default_factory=list)
    #: one sentence per edge choice ("digits · depth 2 · relu: lr=0.03 at the edge ...")
    edges: list[str] = field(default_factory=list)
    #: every run kept out of the other tables: the tuning runs and the evaluation runs at a
    #: selected value other than the common one (less those another, untuned sweep planned)
    left_out_ids: set[str] = field(default_factory=set)
    #: with ``build(later=True)``: the sensitivity figures still to draw, each a task giving its
    #: :class:`FigureDoc` and the paths written (``make_report`` hands them to its workers)
    figure_tasks: list[Callable[[], tuple[FigureDoc, list[Path]]]] = field(default_factory=list)


def load_tunes(directory: Path) -> list[StoredTune]:
    """The tuned sweeps of a results directory, selections recomputed from the store."""
    return _load(directory)[0]


def _load(directory: Path) -> tuple[list[StoredTune], set[str]]:
    """:func:`load_tunes`, and the runs that sweeps without [tune] planned in the directory."""
    from actcmp.store.database import Store

    with Store(directory, create=False) as store, store.snapshot():
        tunes = stored_tunes(store, store.expected_configs())
        return tunes, untuned_runs(store, tunes)


def evaluation_only(results: Results, report: TunedReport) -> Results:
    """``results`` at the common value of every tuned field: without the tuning runs and
    the evaluation runs at a selected value (runs, curves, layers and plan); see the module
    docstring. Unchanged for a directory without [tune]."""
    if not report.left_out_ids:
        return results
    ids = report.left_out_ids

    def keep(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[~frame["run_id"].isin(ids)].reset_index(drop=True) if "run_id" in frame else frame

    return replace(
        results, runs=keep(results.runs), epochs=keep(results.epochs), layers=keep(results.layers),
        planned=keep(results.planned),
    )  # fmt: skip


def build(
    source: Path,
    directory: Path,
    results: Results,
    formats: tuple[str, ...],
    written: list[Path],
    *,
    later: bool = False,
) -> TunedReport:
    """Tables and the sensitivity figure of every tuned sweep stored in ``source``, written
    under ``directory`` (``report --out``; paths appended to ``written``). Nothing for a
    results directory without [tune]. ``later``: the figures are left as
    :attr:`TunedReport.figure_tasks` (the caller draws them, appends each FigureDoc to
    ``figures`` and its paths to ``written``)."""
    tunes, untuned = _load(source)
    report = TunedReport(tunes, left_out_ids=left_out_ids(tunes, untuned))
    if not tunes:
        for old in (directory / "figures").glob(f"{SENSITIVITY_STEM}*.*"):
            old.unlink()
        return report
    runs = results.runs.set_index("run_id") if "run_id" in results.runs else None
    for index, tune in enumerate(tunes):
        suffix = "" if len(tunes) == 1 else f"_{index + 1}"
        report.edges += [sentence if not suffix else f"`{tune.title}`: {sentence}" for sentence in edge_sentences(tune)]
        report.tables += [
            _selection_table(tune, suffix, runs),
            *_comparison_tables(tune, suffix, results),
        ]
        task = functools.partial(_draw_sensitivity, tune, runs, directory, SENSITIVITY_STEM + suffix, formats)
        if later:
            report.figure_tasks.append(task)
        else:
            figure, paths = task()
            report.figures.append(figure)
            written += paths
    for table in report.tables:
        written += tables.write_table(table, directory / "tables")
    return report


def _draw_sensitivity(
    tune: StoredTune, runs: pd.DataFrame | None, directory: Path, stem: str, formats: tuple[str, ...]
) -> tuple[FigureDoc, list[Path]]:
    """Draw and save one tuned sweep's sensitivity figure: its FigureDoc and the paths written."""
    paths: list[Path] = []
    return _render(plot_sensitivity(tune, runs), directory, stem, tune, formats, paths), paths


def _render(
    fig: Figure, directory: Path, stem: str, tune: StoredTune, formats: tuple[str, ...], written: list[Path]
) -> FigureDoc:

    png = None if "png" in formats else canvas.png_bytes(fig)
    written += canvas.save(fig, directory / "figures" / stem, formats)
    if png is None:
        png = (directory / "figures" / f"{stem}.png").read_bytes()
    field_name = _x_field(tune)
    others = [f for f in tune.spec.fields if f != field_name]
    profile = f" (for each {field_name}, the best over {', '.join(others)})" if others else ""
    caption = (
        f"Final validation loss, mean over the tuning seeds {tune.spec.seeds}, against {field_name}{profile}, per "
        "activation; one panel per cell. The circled point is the selected value, the dashed line the common "
        "value the other tables hold; a candidate that diverged on a "
        "tuning seed has no point (counted in the panel title). Units dying or saturating at a high "
        f"{field_name} show as a loss that rises at the high end."
    )
    return FigureDoc(stem, f"Sensitivity to {field_name} ({tune.title})", caption, png, formats)


# -- selection ----------------------------------------------------------------------------------
def _best_score(tune: StoredTune, selection: Any) -> float:
    for combo, score in selection.scores:
        if combo == selection.chosen:
            return float(score) if score is not None else math.nan
    return math.nan


def edge_sentences(tune: StoredTune) -> list[str]:
    keys = cell_fields(tune.selections)
    out = []
    for s in _sorted(tune):
        if s.chosen is not None and s.edges:
            chosen = describe_value({k: s.chosen[k] for k in s.edges})
            out.append(f"{describe_cell(s.config, keys)} · {s.activation}: {chosen} is {EDGE_NOTE}.")
    return out


def _sorted(tune: StoredTune) -> list[Any]:
    keys = cell_fields(tune.selections)
    order = {name: i for i, name in enumerate(activation_order(s.activation for s in tune.selections))}
    return sorted(
        tune.selections, key=lambda s: (tuple(str(s.config.get(k)) for k in keys), order.get(s.activation, 0))
    )


def _selection_table(tune: StoredTune, suffix: str, runs: Any) -> tables.Table:
    import pandas as pd

    keys = list(cell_fields(tune.selections))
    rows = []
    for s in _sorted(tune):
        row: dict[str, Any] = {k: s.config.get(k) for k in keys}
        row["activation"] = s.activation
        for f in tune.spec.fields:
            row[f"selected_{f}"] = s.chosen.get(f) if s.chosen else None
        row["tuning_val_loss"] = _best_score(tune, s) if s.chosen else math.nan
        row["note"] = (
            "selection pending (tuning runs not all finished)"
            if not s.complete
            else "every candidate diverged"
            if s.chosen is None
            else f"{', '.join(s.edges)} {EDGE_NOTE}"
            if s.edges
            else ""
        )
        rows.append(row)
    raw = pd.DataFrame(rows)
    display, bold = tables.display_plain(raw)
    for f in tune.spec.fields:
        column = f"selected {f}".replace("_", " ")
        display[column] = [fmt_value(v) for v in raw[f"selected_{f}"]]
    caption = (
        f"The value selected for each cell and activation: candidates {_candidates(tune)}, lowest final "
        f"validation loss, mean over the tuning seeds {tune.spec.seeds} (test loss is never used; a candidate "
        "that diverged on a tuning seed is not selected). A value at the end of its candidate list is marked: "
        "the optimum may lie outside."
    )
    return tables.Table(
        f"tune_selection{suffix}", _titled("Selected values", tune, suffix), caption, raw, display, bold, keys
    )


def _titled(title: str, tune: StoredTune, suffix: str) -> str:
    """A table's title; where the directory holds several tuned sweeps, with the sweep's."""
    return f"{title} ({tune.title})" if suffix else title


def _candidates(tune: StoredTune) -> str:

    return describe_candidates(tune.spec)


# -- comparison ---------------------------------------------------------------------------------
def _ranks(rows: list[dict[str, Any]], keys: list[str], prefix: str) -> None:
    """``{prefix}_rank`` within each cell, 1 = best, average ranks on ties: first the units
    whose seeds all converged, by mean test loss; then those with some diverged seeds, by the
    mean of the others; last, tied, those with no converged seed: every seed diverged, or
    (``{prefix}_none``) no value to evaluate because every candidate diverged in tuning. A
    unit with nothing stored yet (pending) has no rank (NaN)."""
    from scipy.stats import rankdata

    cells: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        cells.setdefault(json.dumps([str(row[k]) for k in keys]), []).append(row)
    for members in cells.values():
        ranked: list[tuple[dict[str, Any], tuple[int, float]]] = []
        for row in members:
            mean, diverged = row[f"{prefix}_mean"], row[f"{prefix}_diverged"]
            row[f"{prefix}_rank"] = math.nan
            if mean == mean:
                ranked.append((row, (1 if diverged else 0, float(mean))))
            elif diverged or row.get(f"{prefix}_none"):
                ranked.append((row, (2, 0.0)))
        if not ranked:
            continue
        order = {key: code for code, key in enumerate(sorted({key for _, key in ranked}))}
        for (row, _), rank in zip(ranked, rankdata([order[key] for _, key in ranked], method="average"), strict=True):
            row[f"{prefix}_rank"] = float(rank)


def _unit_runs(tune: StoredTune) -> dict[str, set[str]]:
    """The evaluation runs of each unit (``tune_unit``)."""
    units: dict[str, set[str]] = {}
    for rid, cfg in tune.planned.items():
        if cfg.get("role") == ROLE_EVAL:
            units.setdefault(str(cfg.get("tune_unit")), set()).add(rid)
    return units


@dataclass
class _Side:
    """One side of one cell (each activation at its selected value, or every one at the common
    value) computed as the main table computes a cell: :func:`tables.main_table` over the side's
    runs of the cell, its display and bold (:func:`tables.display_main`) and its did-not-learn
    marks (:func:`tables.mark_learning`). Each Series is indexed by activation."""

    main: pd.DataFrame
    #: the main table's texts: test loss (with ``(k diverged)`` and the did-not-learn mark),
    #: interval, p vs best (Holm)
    texts: pd.DataFrame
    #: the best, or not separable from it after Holm; not one that did not learn beside a best that did
    bold: pd.Series
    #: converged seeds that did not learn
    stuck: pd.Series
    #: no converged run of the cell's side learned (:func:`cells_without_learning`)
    none_learned: bool


#: the two sides of the comparison: each activation at its selected value; every one at the common value
SIDES = ("tuned", "common")
#: the texts of :class:`_Side` (columns of ``texts``)
SIDE_TEXTS = ("loss", "interval", "p")


def _sides(base: Results, cells: dict[str, set[str]], tuned: tuple[str, ...]) -> dict[str, _Side]:
    """:class:`_Side` of each cell (``cells``: cell -> its run ids on this side) with stored runs.

    One :func:`tables.main_table` over every cell of the side, the tuned fields (``tuned``) set to
    one value first, so that each activation's selected value is no cell key. Should its cells not
    be ``cells`` one to one (a cell key of the main table's own choosing), each cell on its own."""
    import pandas as pd

    runs = base.runs
    ids = set().union(*cells.values()) if cells else set()
    mine = runs[runs["run_id"].isin(ids)] if "run_id" in runs else runs.iloc[0:0]
    if mine.empty:
        return {}
    mine = mine.assign(**{f: "tuned" for f in tuned if f in mine.columns}).reset_index(drop=True)
    epochs = base.epochs[base.epochs["run_id"].isin(ids)] if "run_id" in base.epochs else base.epochs
    results = replace(base, runs=mine, epochs=epochs)
    main = tables.main_table(results)
    keys = list(main.columns[: list(main.columns).index("activation")])
    cell_of = {rid: cell for cell, rids in cells.items() for rid in rids}
    found: dict[str, set[str]] = {}  # the main table's cell -> the cells of ``cells`` its runs are in
    for label, rid in zip(_labels(mine, keys), mine["run_id"], strict=True):
        found.setdefault(label, set()).add(cell_of[rid])
    if len(cells) > 1 and (any(len(v) != 1 for v in found.values()) or len(found) != len({*cell_of.values()})):
        return {cell: side for cell, rids in cells.items() for side in _sides(base, {cell: rids}, tuned).values()}
    learning = learning_per_cell(results, [*keys, "activation"])
    display, bold = tables.display_main(main)
    loss = next(c for c in display.columns if str(c).startswith("test loss"))
    diverged = [f" ({d} diverged)" if d else "" for d in main["diverged"]]
    display[loss] = [text + more for text, more in zip(display[loss], diverged, strict=True)]
    display, bold, _ = tables.mark_learning(main, display, bold, learning)
    stuck = tables.learning_of_rows(main, learning)["stuck"]
    unlearned = {json.dumps(list(cell)) for cell in cells_without_learning(results, keys)}
    labels = _labels(main, keys)
    out = {}
    for label, members in found.items():
        rows = [i for i, other in zip(main.index, labels, strict=True) if other == label]
        names = main.loc[rows, "activation"].astype(str).tolist()
        texts = pd.DataFrame(
            {"loss": display.loc[rows, loss].to_list(), "interval": display.loc[rows, tables.CI_LABEL].to_list(),
             "p": display.loc[rows, "p vs best (Holm)"].to_list()}, index=names,
        )  # fmt: skip
        side = _Side(
            main.loc[rows].set_axis(names), texts, bold.loc[rows, loss].astype(bool).set_axis(names),
            stuck.loc[rows].set_axis(names), label in unlearned,
        )  # fmt: skip
        out[next(iter(members))] = side
    return out


def _labels(frame: pd.DataFrame, keys: list[str]) -> list[str]:
    """Each row's cell (``keys``) as text, as :func:`actcmp.analysis.learning.cell_id` gives it."""
    return [json.dumps(list(cell_id(tuple(row)))) for row in frame[keys].itertuples(index=False)]


def _side_columns(row: dict[str, Any], prefix: str, side: _Side | None, name: str) -> None:
    """The raw columns ``{prefix}_*`` of activation ``name`` on one side (NaN, 0 or None without a
    stored run): the main table's mean, std, interval, counts, best, tie, p-values, and the
    converged seeds that did not learn, whether none learned, and bold."""
    main = side.main.loc[name] if side is not None and name in side.main.index else None

    def value(column: str) -> Any:
        return math.nan if main is None else main[column]

    for column, key in (("test_loss_mean", "mean"), ("test_loss_std", "std"), ("test_loss_ci_low", "ci_low"),
                        ("test_loss_ci_high", "ci_high"), ("p_vs_best", "p_vs_best"),
                        ("p_vs_best_holm", "p_vs_best_holm")):  # fmt: skip
        row[f"{prefix}_{key}"] = float(value(column))
    row[f"{prefix}_seeds"] = 0 if main is None else int(main["converged"])
    row[f"{prefix}_diverged"] = 0 if main is None else int(main["diverged"])
    row[f"{prefix}_best"] = main is not None and bool(main["best"])
    tied = None if main is None else main["tied_with_best"]
    row[f"{prefix}_tied_with_best"] = None if tied is None or tied != tied else bool(tied)
    row[f"{prefix}_not_learned"] = 0 if side is None or main is None else int(side.stuck[name])
    row[f"{prefix}_learned_none"] = (
        row[f"{prefix}_seeds"] > 0 and row[f"{prefix}_not_learned"] == row[f"{prefix}_seeds"]
    )
    row[f"{prefix}_bold"] = side is not None and main is not None and bool(side.bold[name])


def _cell_id(config: dict[str, Any], keys: list[str]) -> str:
    return json.dumps([str(config.get(k)) for k in keys])


def _comparison_tables(tune: StoredTune, suffix: str, results: Results) -> list[tables.Table]:
    """The tuned-vs-common table and the mean-rank table of one tuned sweep. Each side of each
    cell gets the main table's statistics (:func:`_sides`): Student t interval, paired test of the
    log test loss against the side's best in the cell, Holm over every pair of the cell's
    activations, bold and did-not-learn as there."""
    import pandas as pd

    keys = list(cell_fields(tune.selections))
    common = tune.common_values
    common_ids = tune.common_ids
    units = _unit_runs(tune)
    # the learning rule reads each run's validation loss at epoch 0, nothing else of the epochs
    epochs = results.epochs
    if {"metric", "epoch"} <= set(epochs.columns):
        epochs = epochs[(epochs["metric"] == "val_loss") & (epochs["epoch"] == 0)]
    base = replace(results, epochs=epochs, layers=results.layers.iloc[0:0], planned=results.planned.iloc[0:0])
    cells: dict[str, list[Any]] = {}
    for s in _sorted(tune):
        cells.setdefault(_cell_id(s.config, keys), []).append(s)
    # each side's runs per cell: each activation at its selected value; every one at the common value
    runs_of: dict[str, dict[str, set[str]]] = {prefix: {} for prefix in SIDES}
    for cell, members in cells.items():
        tuned_ids: set[str] = set()
        for s in members:
            if s.chosen:
                tuned_ids |= {rid for rid in units.get(s.unit, ()) if matches_values(tune.planned[rid], s.chosen)}
        runs_of["tuned"][cell] = tuned_ids
        runs_of["common"][cell] = {rid for s in members for rid in units.get(s.unit, ()) if rid in common_ids}
    sides = {prefix: _sides(base, runs_of[prefix], tune.spec.fields) for prefix in SIDES}
    rows = []
    texts: dict[str, list[tuple[str, ...]]] = {prefix: [] for prefix in SIDES}
    learned_none: dict[str, list[str]] = {prefix: [] for prefix in SIDES}
    for cell, members in cells.items():
        cell_sides = {prefix: sides[prefix].get(cell) for prefix in SIDES}
        for prefix, side in cell_sides.items():
            if side is not None and side.none_learned:
                learned_none[prefix].append(describe_cell(members[0].config, tuple(keys)))
        for s in members:
            row: dict[str, Any] = {k: s.config.get(k) for k in keys}
            row["activation"] = s.activation
            row["selected"] = (
                describe_value(s.chosen) if s.chosen else "– (every candidate diverged)" if s.complete else "–"
            )
            row["tuned_none"] = s.all_diverged  # no value to evaluate: ranks last
            for prefix, side in cell_sides.items():
                _side_columns(row, prefix, side, s.activation)
                if side is not None and s.activation in side.texts.index:
                    texts[prefix].append(tuple(side.texts.loc[s.activation]))
                else:
                    texts[prefix].append((MISSING,) * len(SIDE_TEXTS))
            row["edge"] = ", ".join(s.edges)
            rows.append(row)
    _ranks(rows, keys, "tuned")
    _ranks(rows, keys, "common")
    raw = pd.DataFrame(rows)
    shown = describe_value(common)
    display = pd.DataFrame({k: raw[k].astype(str) for k in keys}) if rows else pd.DataFrame()
    display["activation"] = raw["activation"] if rows else []
    display["selected"] = [
        f"{v} (edge)" if e else v for v, e in zip(raw.get("selected", []), raw.get("edge", []), strict=True)
    ]
    bold_columns: dict[str, list[bool]] = {}
    for prefix, tail in (("tuned", ", tuned"), ("common", f" at {shown}")):
        loss_column = f"test loss{tail}*"
        for index, column in enumerate((loss_column, f"{tables.CI_LABEL}{tail}", f"p vs best (Holm){tail}")):
            display[column] = [t[index] for t in texts[prefix]]
        display[f"rank{tail}"] = [fmt_value(r[f"{prefix}_rank"]) for r in rows]
        bold_columns[loss_column] = [bool(r[f"{prefix}_bold"]) for r in rows]
    bold = pd.DataFrame(False, index=display.index, columns=display.columns)
    for column, values in bold_columns.items():
        bold[column] = values
    seeds = tune.evaluation_seeds
    caption = (
        f"Test loss mean ± std over the evaluation seeds {seeds}, with the 95% Student t interval of the mean "
        f"({tables.CI_LABEL}): left, each activation at its own selected value (tuned on seeds {tune.spec.seeds}, "
        f"disjoint); right, every activation at the common value {shown}; each side is tested on its own, as the "
        f"main table tests a cell. {tables.BOLD_AND_P_CAPTION[0].upper()}{tables.BOLD_AND_P_CAPTION[1:]} Rank: of the mean within the cell (1 = lowest; "
        "ties share the average rank; an order of the sample, not a test): a unit with a diverged seed ranks after "
        "those without, and one with no converged seed (or no selection, every candidate having diverged in "
        "tuning) ranks last. (edge): the selected value is at the edge of the candidates; the optimum may lie "
        "outside."
    )
    # the main table's notes, each side's cells apart (Holm's family is a side's cell, never both sides)
    every = [side.main.assign(side=p).reset_index(drop=True) for p in SIDES for side in sides[p].values()]
    every = [frame[["side", *frame.columns.drop("side")]] for frame in every]  # the side first: a cell key
    notes = tables.main_notes(pd.concat(every, ignore_index=True)) if every else []
    if any(r[f"{p}_not_learned"] for r in rows for p in ("tuned", "common")):
        notes.append(tables.NOT_LEARNED_NOTE)
    for prefix, where in (("tuned", "at the selected values"), ("common", f"at {shown}")):
        if learned_none[prefix]:
            notes.append(
                f"No converged run {where} learned in {', '.join(learned_none[prefix])} (each ended no lower than "
                "its initial loss or the mean predictor's): the best there is the least bad of runs that did not learn."
            )
    title = _titled("Tuned vs common value", tune, suffix)
    comparison = tables.Table(f"tune_comparison{suffix}", title, caption, raw, display, bold, keys, notes)
    ranks, used, n_cells = _mean_ranks(raw, keys, shown)
    rank_display, rank_bold = tables.display_plain(ranks)
    scope = (
        ("the one cell" if n_cells == 1 else f"all {n_cells} cells")
        if used == n_cells
        else f"the {used} of {n_cells} cells where every activation has both ranks (the others: runs or a "
        "selection still pending)"
    )
    rank_caption = (
        f"Rank of each activation's mean test loss within a cell, averaged over {scope}, the same cells for every "
        f"activation: at its selected value and at the common value {shown}. Did not learn: of those cells, where "
        "none of its converged seeds learned (its rank there orders runs that did not learn). A mean rank orders "
        "the sample, it is not a test: where the two orders differ, the mean ranks differ, and whether either "
        "ordering holds needs a test: see p vs best (Holm) in the table above (bold = the best or not separable "
        "from it)."
    )
    rank_table = tables.Table(
        f"tune_ranks{suffix}",
        _titled("Mean rank, tuned vs common", tune, suffix),
        rank_caption,
        ranks,
        rank_display,
        rank_bold,
        [],
    )
    return [comparison, rank_table]


def _mean_ranks(raw: pd.DataFrame, keys: list[str], shown: str) -> tuple[pd.DataFrame, int, int]:
    """Per activation, its mean rank tuned and at the common value over the same cells for
    every activation: those where every activation has both ranks; and in how many of them
    it did not learn (every converged seed) on each side. Also (cells used, cells)."""
    import pandas as pd

    names = activation_order(raw["activation"]) if len(raw) else []
    cell = raw[keys].astype(str).apply(lambda r: json.dumps(list(r)), axis=1) if len(raw) else pd.Series(dtype=str)
    complete = set()
    for key, members in raw.groupby(cell, sort=False) if len(raw) else ():
        if set(members["activation"]) >= set(names) and members[["tuned_rank", "common_rank"]].notna().all().all():
            complete.add(key)
    used = raw[cell.isin(complete)] if len(raw) else raw
    rows = []
    for name in names:
        mine = used[used["activation"] == name]
        rows.append(
            {
                "activation": name,
                "mean_rank_tuned": float(mine["tuned_rank"].mean()) if len(mine) else math.nan,
                f"mean_rank_at_{shown}": float(mine["common_rank"].mean()) if len(mine) else math.nan,
                "cells": len(mine),
                "did_not_learn_tuned": int(mine["tuned_learned_none"].sum()),
                f"did_not_learn_at_{shown}": int(mine["common_learned_none"].sum()),
                "edge_choices": int((raw.loc[raw["activation"] == name, "edge"] != "").sum()),
            }
        )
    return pd.DataFrame(rows), len(complete), int(cell.nunique()) if len(raw) else 0


# -- figure -------------------------------------------------------------------------------------
def _x_field(tune: StoredTune) -> str:
    """The tuned field on the x axis: lr if tuned, else the first numeric one, else the first."""

    if "lr" in tune.spec.candidates:
        return "lr"
    numeric = [f for f, values in tune.spec.candidates.items() if numeric_values(values)]
    return numeric[0] if numeric else tune.spec.fields[0]


def sensitivity_points(tune: StoredTune) -> list[dict[str, Any]]:
    """Long format: per unit and value of the x field, the best mean validation loss over
    the other tuned fields' values (inf: diverged on a tuning seed; NaN: not finished)."""
    x_field = _x_field(tune)
    keys = cell_fields(tune.selections)
    out: list[dict[str, Any]] = []
    for s in tune.selections:
        best: dict[str, float] = {}
        values: dict[str, Any] = {}
        for combo, score in s.scores:
            key = json.dumps(combo[x_field])
            values[key] = combo[x_field]
            value = math.nan if score is None else float(score)
            if key not in best or (value < best[key]) or math.isnan(best[key]):
                best[key] = value
        for key, value in best.items():
            # fmt: off
            out.append({
                "cell": describe_cell(s.config, keys), "activation": s.activation, "x": values[key],
                "val_loss": value, "selected": s.chosen is not None and s.chosen.get(x_field) == values[key],
            })
            # fmt: on
    return out


def plot_sensitivity(tune: StoredTune, runs: Any = None) -> Figure:
    """Final validation loss vs candidate value per activation, one panel per cell."""

    points = sensitivity_points(tune)
    x_field = _x_field(tune)
    candidates = tune.spec.candidates[x_field]
    numeric = numeric_values(candidates)
    cells = sorted({p["cell"] for p in points})
    with canvas.rc():
        if not points:
            return canvas.no_data(text="no tuning runs stored")
        fig, axes = canvas.panel_grid(len(cells), (canvas.PANEL_W + 0.3, canvas.PANEL_H + 0.3))
        for ax, cell in zip(axes, cells, strict=True):
            mine = [p for p in points if p["cell"] == cell]
            finite: list[float] = []
            diverged = 0
            for name in activation_order(p["activation"] for p in mine):
                line = [p for p in mine if p["activation"] == name]
                line.sort(key=lambda p: p["x"] if numeric else candidates.index(p["x"]))
                ok = [p for p in line if math.isfinite(p["val_loss"])]
                diverged += sum(1 for p in line if p["val_loss"] == math.inf)
                xs = [p["x"] if numeric else candidates.index(p["x"]) for p in ok]
                ys = [p["val_loss"] for p in ok]
                finite += ys
                ax.plot(xs, ys, markersize=4, linewidth=1.1, **line_kwargs(name))
                for p in ok:
                    if p["selected"]:
                        x = p["x"] if numeric else candidates.index(p["x"])
                        colour = line_kwargs(name)["color"]
                        ax.plot([x], [p["val_loss"]], marker="o", markersize=10, fillstyle="none", color=colour,
                                linestyle="none", markeredgewidth=1.2)  # fmt: skip
            common = tune.common_values.get(x_field)
            if common is not None and (common in candidates or numeric):  # where the other tables sit
                x_common = candidates.index(common) if not numeric else common
                ax.axvline(x_common, color="#888888", linestyle="--", linewidth=0.9)
            if numeric and min(candidates) > 0 and (x_field == "lr" or max(candidates) / min(candidates) >= 10):
                ax.set_xscale("log")
                canvas.compact_log_formatters(ax.xaxis)
            if not numeric:
                ax.set_xticks(range(len(candidates)), [str(c) for c in candidates])
            canvas.log_if_positive(ax, finite)
            canvas.readable_ticks(ax)  # at least 3 labelled ticks, the top points' too
            extra = f" ({diverged} diverged)" if diverged else ""
            ax.set_title(cell + extra)
            ax.set_xlabel(x_field)
            ax.set_ylabel("final val loss (tuning seeds)")
            ax.grid(alpha=0.3, linewidth=0.5)
        from matplotlib.lines import Line2D

        selected = Line2D([], [], marker="o", markersize=10, fillstyle="none", color="#444444", linestyle="none")
        extras = [(selected, "selected")]
        if tune.common_values.get(x_field) is not None:
            common_line = Line2D([], [], color="#888888", linestyle="--", linewidth=0.9)
            extras.append((common_line, f"common value ({x_field} = {tune.common_values[x_field]:g})" if numeric
                           else f"common value ({x_field} = {tune.common_values[x_field]})"))  # fmt: skip
        canvas.legend(fig, activation_order(p["activation"] for p in points), extras)
    return fig


# -- findings -----------------------------------------------------------------------------------
def findings(report: TunedReport | None) -> list[str]:
    """Sentences for the report's Findings section (the stats helper's; call it from there), per
    tuned sweep: the best mean rank tuned and at the common value (tied activations named together,
    a cell where one did not learn said), that mean ranks are not a test and where the paired test
    leaves each activation bold; what became of the runs only the Tuned comparison holds; and
    every edge choice."""
    if report is None:
        return []
    out = []
    by_name = {table.name: table for table in report.tables}
    for table in report.tables:
        if not table.name.startswith("tune_ranks") or table.raw.empty:
            continue
        raw = table.raw
        if not (raw["cells"] > 0).any():
            continue
        index = table.name.removeprefix("tune_ranks").removeprefix("_")
        tune = report.tunes[int(index) - 1] if index else report.tunes[0]
        shown = next(c for c in raw.columns if c.startswith("mean_rank_at_")).removeprefix("mean_rank_at_")
        where = f"In sweep `{tune.title}`, each" if index else "Each"
        tuned = _leaders(raw, "mean_rank_tuned", "did_not_learn_tuned", verb=True)
        common = _leaders(raw, f"mean_rank_at_{shown}", f"did_not_learn_at_{shown}", verb=False)
        out.append(f"{where} activation at its own tuned value, {tuned}; at the common value {shown}, {common}.")
        comparison = by_name.get(table.name.replace("tune_ranks", "tune_comparison"))
        if comparison is not None:
            out.append(_tested_sentence(comparison.raw, tune, shown, int(raw["cells"].max())))
    for tune in report.tunes:
        shown = describe_value(tune.common_values)
        out.append(_left_out_sentence(tune, report.left_out_ids, shown, len(report.tunes) > 1))
    out += [f"Edge choice: {sentence}" for sentence in report.edges]
    return out


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _leaders(raw: pd.DataFrame, column: str, stuck: str, *, verb: bool) -> str:
    """``relu has the best mean rank (1.50)`` / ``relu and tanh share the best mean rank (1.50)``
    (``verb``; else ``relu and tanh (1.50)``), with the cells where a leader did not learn."""
    ranked = raw[raw[column].notna() & (raw["cells"] > 0)]
    best = float(ranked[column].min())
    leaders = ranked[[math.isclose(float(r), best, abs_tol=1e-9) for r in ranked[column]]]
    names = [str(n) for n in leaders["activation"]]
    unlearned = [
        (str(r["activation"]), int(r[stuck]), int(r["cells"])) for _, r in leaders.iterrows() if int(r[stuck]) > 0
    ]
    detail = ""
    if unlearned:
        first, *others = unlearned
        parts = [f"{'it' if len(names) == 1 else first[0]} did not learn in {first[1]} of its {first[2]} cells"]
        parts += [f"{name} in {k} of {n}" for name, k, n in others]
        detail = f", though {', '.join(parts)}"
    value = f"({best:.2f}{detail})"
    if not verb:
        return f"{_and(names)} {value}"
    if len(names) == 1:
        return f"{names[0]} has the best mean rank {value}"
    return f"{_and(names)} share the best mean rank {value}"


def _tested_sentence(raw: pd.DataFrame, tune: StoredTune, shown: str, cells: int) -> str:
    """That mean ranks are not a test, and per activation the cells where the paired test leaves
    it bold (the best or not separable from it after Holm) on each side."""
    seeds = len(tune.evaluation_seeds)
    parts = []
    for prefix, label in (("tuned", "tuned"), ("common", f"at {shown}")):
        counts = []
        for name in activation_order(raw["activation"]):
            mine = raw[(raw["activation"] == name) & (raw[f"{prefix}_seeds"] + raw[f"{prefix}_diverged"] > 0)]
            stuck = int(mine[f"{prefix}_learned_none"].sum())
            counts.append(
                f"{name} {int(mine[f'{prefix}_bold'].sum())} of {len(mine)}"
                + (f" (did not learn in {stuck})" if stuck else "")
            )
        parts.append(f"{label}: {', '.join(counts)}")
    return (
        f"These mean ranks ({cells} cell{'s' if cells != 1 else ''}, {seeds} evaluation seed{'s' if seeds != 1 else ''}) "
        "order the sample and are not a test; whether an ordering holds needs one: the paired test of each cell, "
        "p vs best (Holm). Cells where it leaves the activation bold (the best or not separable from it after "
        f"Holm), {'; '.join(parts)}."
    )


def _left_out_sentence(tune: StoredTune, left_out: set[str], shown: str, titled: bool) -> str:
    """What became of the runs only the Tuned comparison holds (the other tables and their
    Findings count the runs at the common value only)."""
    groups = (("tuning run", tune.tuning_ids & left_out), ("run at a selected value", tune.selected_ids & left_out))
    parts = []
    for what, ids in groups:
        statuses = [tune.statuses[rid] for rid in ids if rid in tune.statuses]
        diverged, failed = statuses.count("diverged"), statuses.count("failed")
        runs = f"{len(statuses)} {what.replace('run', 'runs', 1) if len(statuses) != 1 else what}"
        if not diverged and not failed:
            parts.append(f"{runs}, none diverged or failed")
            continue
        why = (
            " (a candidate that diverged on a tuning seed is not selected)" if what == "tuning run" and diverged else ""
        )
        parts.append(f"{runs}, {diverged} diverged, {failed} failed{why}")
    where = f"In sweep `{tune.title}`, runs" if titled else "Runs"
    return (
        f"{where} only the Tuned comparison holds (the other tables count the runs at the common value {shown} "
        f"only): {'; '.join(parts)}."
    )


# -- section ------------------------------------------------------------------------------------
def tune_section(ctx: Any) -> Section | None:
    """The report section of a sweep with [tune] (``ctx.extra["tune"]``, a :class:`TunedReport`)."""
    report = ctx.extra.get("tune")
    if report is None or not report.tunes:
        return None
    blocks: list[tuple[str, Any]] = []
    for index, tune in enumerate(report.tunes):
        suffix = "" if len(report.tunes) == 1 else f"_{index + 1}"
        common = describe_value(tune.common_values)
        blocks.append(
            (
                "text",
                f"Sweep `{tune.title}` tunes {_candidates(tune)} per cell and activation on the tuning seeds "
                f"{tune.spec.seeds}, selects by final validation loss (mean over the tuning seeds; never test "
                f"loss), and evaluates on the seeds {tune.evaluation_seeds} at the selected value, beside the "
                f"common value {common}. Several tuned fields mean their Cartesian product. The other tables and "
                f"figures of this report hold the runs at the common value {common} only, every activation at the "
                "same value: the tuning runs and the runs at the selected values appear in this section only "
                "(which activations ran at a selected value is the outcome of the selection, never a cell).",
            )
        )
        pending = [s for s in tune.selections if not s.complete]
        if pending:
            blocks.append(("text", f"**{len(pending)} selections pending**: their tuning runs are not all stored."))
        edges = edge_sentences(tune)
        if edges:
            blocks.append(("text", f"**Edge choices ({len(edges)})**: the optimum may lie outside the candidates:"))
            blocks.append(("list", edges))
        else:
            blocks.append(("text", "No selected value lies at the edge of its candidate list."))
        blocks += [("table", f"tune_comparison{suffix}"), ("table", f"tune_ranks{suffix}")]
        blocks.append(("table", f"tune_selection{suffix}"))
    blocks += [("figure", fig) for fig in report.figures]
    return Section("Tuned comparison", blocks)


__all__ = ["TunedReport", "build", "evaluation_only", "findings", "left_out_ids", "plot_sensitivity", "tune_section"]
