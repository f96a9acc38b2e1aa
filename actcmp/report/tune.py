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
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actcmp.analysis.cells import activation_order
from actcmp.analysis.tune import (
    EDGE_NOTE,
    StoredTune,
    cell_fields,
    describe_candidates,
    describe_cell,
    describe_value,
    left_out_ids,
    numeric_values,
    stored_tunes,
    untuned_runs,
)
from actcmp.report import canvas, tables
from actcmp.report.format import fmt_value
from actcmp.report.render import FigureDoc, Section
from actcmp.report.style import line_kwargs
from actcmp.report.tune_tables import comparison_tables, sorted_selections, titled

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


def evaluation_only(results: Results, left_out_ids: Collection[str]) -> Results:
    """``results`` without the runs ``left_out_ids`` (runs, curves, layers and plan): with the
    ids a [tune] directory's tables leave out (:attr:`TunedReport.left_out_ids`,
    :func:`actcmp.analysis.tune.left_out_ids`), the runs at the common value of every tuned
    field, as the report's other tables and figures read them (see the module docstring).
    Unchanged (the same object) when there is nothing to leave out, as without [tune]."""
    if not left_out_ids:
        return results
    ids = set(left_out_ids)

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
            *comparison_tables(tune, suffix, results),
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
    for s in sorted_selections(tune):
        if s.chosen is not None and s.edges:
            chosen = describe_value({k: s.chosen[k] for k in s.edges})
            out.append(f"{describe_cell(s.config, keys)} · {s.activation}: {chosen} is {EDGE_NOTE}.")
    return out


def _selection_table(tune: StoredTune, suffix: str, runs: Any) -> tables.Table:
    import pandas as pd

    keys = list(cell_fields(tune.selections))
    rows = []
    for s in sorted_selections(tune):
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
        f"tune_selection{suffix}", titled("Selected values", tune, suffix), caption, raw, display, bold, keys
    )


def _candidates(tune: StoredTune) -> str:

    return describe_candidates(tune.spec)


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
