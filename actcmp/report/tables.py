"""Frames -> tables: every reshape of the long-format results into the report's tables.

Conventions, used by the tables and by the figures alike:

* a grid *cell* is ``dataset``, ``depth`` and every other config field that varies
  independently of the activation (:func:`actcmp.analysis.cells.cell_keys`); seeds are replicates;
* statistics (means, std, ranks, curves) are over *converged* runs (status ``done``);
  diverged runs are counted (``diverged`` column, figure titles and legends) but their
  losses are left out; failed runs are counted in the status table only;
* the best activation of a cell has the fewest diverged seeds, then the lowest mean; the
  main table also marks the activations *tied* with it (:mod:`actcmp.report.significance`);
* an activation none of whose converged seeds learned in a cell (:mod:`actcmp.analysis.learning`)
  is marked "(did not learn)" beside its test loss, and where the cell's best learned it is not
  bold even when the paired test cannot separate it from the best (:func:`demoted_rows`);
* an activation that *diverged on every seed* of a cell (:func:`all_diverged_rows`, the one
  definition) is marked so beside its test loss and is never bold, whatever the rank test says
  (with 3 seeds it cannot go below p = 0.25);
* what is bold is decided once, :func:`shown_bold`, and carried by the main table's ``bold``
  column (``tables/main.csv``, ``summary(statistics=True)``): ``tied_with_best`` stays the test's
  outcome.

A table is written as CSV (raw numbers), Markdown (formatted, best and ties in bold), LaTeX
and HTML. The jobs live in sibling modules, re-exported here: :mod:`~actcmp.report.frames`
(per-cell frames shared with the figures), :mod:`~actcmp.report.significance` (intervals,
ties, notes), :mod:`~actcmp.report.display` (formatted strings), :mod:`~actcmp.report.writers`
(Markdown, LaTeX, HTML) and :mod:`~actcmp.report.format` (every number and p-value).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from actcmp.analysis.cells import ALPHA, FINISHED, NOT_CELL, activation_order, cell_keys, config_fields
from actcmp.analysis.learning import cell_id, learning_per_cell
from actcmp.analysis.stats import DEPTH_FACTOR, depth_scaling
from actcmp.atomic import make_dir, write_text
from actcmp.report.display import depth_caption, display_depth, display_main, display_plain
from actcmp.report.format import fmt_fraction, fmt_interval, fmt_mean_std, fmt_number, fmt_p, fmt_vs_best
from actcmp.report.frames import (
    REQUIRED,
    cell_columns,
    complete,
    converged,
    epoch_curves,
    heatmap_matrix,
    label,
    layer_curves,
    layer_profile,
    matching,
    panel_keys,
    sort_rows,
)
from actcmp.report.significance import (
    CI_LABEL,
    STAT_COLUMNS,
    TIED_NOTE,
    bold_tied,
    detectable_note,
    loss_statistics,
    main_notes,
    split_note,
    with_statistics,
)
from actcmp.report.writers import (
    LATEX_LONG,
    LATEX_WIDE,
    latex_escape,
    markdown_escape,
    to_html,
    to_latex,
    to_markdown,
)

if TYPE_CHECKING:
    from actcmp.store.database import Results


#: a rule marking the best rows of one cell: Series of test-loss means -> bool Series
#: (it sees the rows with the fewest diverged seeds only, see :func:`mark_best`)
BestRule = Callable[["pd.Series"], "pd.Series"]


def lowest(values: pd.Series) -> pd.Series:
    """Default best rule: the lowest mean (exact ties all marked)."""
    if values.notna().sum() == 0:
        return values.notna()
    return values == values.min()


#: beside the test loss of an activation none of whose converged seeds learned in the cell
NOT_LEARNED = "did not learn"

#: the main table's note on :data:`NOT_LEARNED` (only when some row carries it)
NOT_LEARNED_NOTE = (
    f"({NOT_LEARNED}): none of the activation's converged seeds in the cell learned (each ended with a final "
    "validation loss not below its value at initialisation or the loss of predicting the training mean); "
    f"(k of n {NOT_LEARNED}): k of its n converged seeds did not. Where the cell's best learned, an activation "
    f"marked ({NOT_LEARNED}) is not bold even when the paired test cannot separate it from the best (p vs best "
    "is the test's, unchanged): not separable with few seeds does not make it as good as the best."
)


#: beside the test loss of an activation none of whose seeds converged in the cell (:func:`all_diverged_rows`)
ALL_DIVERGED = "diverged on every seed"

#: the main table's note on :data:`ALL_DIVERGED` (only when some row carries it)
ALL_DIVERGED_NOTE = (
    f"An activation that {ALL_DIVERGED} of a cell (no seed converged) is never bold, whatever its p vs best: "
    "a seed where only it diverged counts as worse than any converged one in an exact signed-rank test, which with "
    "n seeds cannot go below p = 2/2^n (0.25 at 3 seeds) and so may not separate it from the best; every one of its "
    "outcomes is the worst."
)


def all_diverged_rows(main: pd.DataFrame) -> pd.Series:
    """Bool per row of a main table (:func:`main_table`): the activation *diverged on every seed*
    of the cell: some of its runs diverged and none converged (a failed run is no outcome). The
    one definition of it: the main table's mark and bold, the Findings, the rank table's
    ``all_diverged`` and the Tuned comparison read it."""
    if main.empty or "diverged" not in main or "converged" not in main:
        return pd.Series(False, index=main.index)
    diverged = pd.to_numeric(main["diverged"], errors="coerce").fillna(0)
    converged = pd.to_numeric(main["converged"], errors="coerce").fillna(0)
    return (diverged > 0) & (converged == 0)


def none_learned(counts: tuple[int, int]) -> bool:
    """``(did not learn, converged)`` of a cell (or a cell's activation): some run converged
    and none of them learned."""
    stuck, done = counts
    return bool(done) and stuck == done


@dataclass(frozen=True)
class Learning:
    """The converged runs that did not learn (:mod:`actcmp.analysis.learning`), counted once
    for a report (:func:`count_learning`) and read by the main table (its marks and notes,
    :func:`build_tables`) and by the Findings (:func:`actcmp.report.findings.findings_blocks`),
    so that the two cannot disagree. Each count is ``(did not learn, converged)``, keyed as
    :func:`actcmp.analysis.learning.learning_per_cell` keys them."""

    #: the cell keys
    keys: tuple[str, ...]
    #: per cell
    per_cell: dict[tuple[str, ...], tuple[int, int]]
    #: per cell and activation
    per_activation: dict[tuple[str, ...], tuple[int, int]]

    def cells_without_learning(self) -> list[tuple[str, ...]]:
        """The cells none of whose converged runs learned, in the order the runs are stored."""
        return [cell for cell, counts in self.per_cell.items() if none_learned(counts)]


def count_learning(results: Results, keys: list[str] | None = None) -> Learning:
    """:class:`Learning` of ``results`` per cell and per cell and activation; ``keys``: the
    cell keys, by default the main table's (:func:`main_table`: the cell keys of its runs)."""
    keys = cell_keys(complete(results).runs) if keys is None else keys
    per_activation = learning_per_cell(results, [*keys, "activation"]) if keys else {}
    return Learning(tuple(keys), learning_per_cell(results, keys), per_activation)


def learning_of_rows(main: pd.DataFrame, learning: dict[tuple[str, ...], tuple[int, int]]) -> pd.DataFrame:
    """Per row of the main table: ``stuck`` (converged seeds that did not learn) and ``done``
    (converged seeds), from ``learning`` (:func:`actcmp.analysis.learning.learning_per_cell`
    over the cell keys and ``activation``)."""
    if main.empty or "activation" not in main:
        return pd.DataFrame({"stuck": pd.Series(dtype=int), "done": pd.Series(dtype=int)}, index=main.index)
    keys = [*cell_columns(main), "activation"]
    counts = [learning.get(cell_id(tuple(row)), (0, 0)) for row in main[keys].itertuples(index=False)]
    return pd.DataFrame(counts, columns=["stuck", "done"], index=main.index, dtype=int)


def unlearned_rows(main: pd.DataFrame, learning: dict[tuple[str, ...], tuple[int, int]]) -> pd.Series:
    """Bool per row: every converged seed of the activation in the cell did not learn
    (:func:`none_learned`, row by row)."""
    counts = learning_of_rows(main, learning)
    return (counts["done"] > 0) & (counts["stuck"] == counts["done"])


def demoted_rows(main: pd.DataFrame, learning: dict[tuple[str, ...], tuple[int, int]]) -> pd.Series:
    """Bool per row: not the best, did not learn (:func:`unlearned_rows`), in a cell whose best
    learned. Such a row is not bold, and the Findings name it apart from the activations not
    separable from the best, whatever the paired test says (with 3 seeds it often cannot
    separate an activation that did not learn from one that did)."""
    unlearned = unlearned_rows(main, learning)
    demoted = pd.Series(False, index=main.index)
    if main.empty or "best" not in main or not unlearned.any():
        return demoted
    keys = cell_columns(main)
    best = main["best"].astype(bool)
    groups = main.groupby(keys, dropna=False, sort=False).groups.values() if keys else [main.index]
    for index in groups:
        if (best[index] & ~unlearned[index]).any():  # the cell's best learned
            demoted[index] = unlearned[index] & ~best[index]
    return demoted


def shown_bold(main: pd.DataFrame, learning: dict[tuple[str, ...], tuple[int, int]]) -> pd.Series:
    """Bool per row: bold in the report's tables. The best of its cell or not separable from it
    after Holm (:func:`~actcmp.report.significance.bold_tied`), except a row that did not learn
    beside a best that did (:func:`demoted_rows`) or that diverged on every seed
    (:func:`all_diverged_rows`). The main table's ``bold`` column; ``learning``: as
    :func:`learning_of_rows` reads it."""
    if main.empty or "best" not in main:
        return pd.Series(False, index=main.index, dtype=bool)
    return (bold_tied(main) & ~demoted_rows(main, learning) & ~all_diverged_rows(main)).astype(bool)


def mark_learning(
    main: pd.DataFrame, display: pd.DataFrame, bold: pd.DataFrame, learning: dict[tuple[str, ...], tuple[int, int]]
) -> tuple[pd.DataFrame, pd.DataFrame, bool]:
    """The main table's display and bold mask with :data:`NOT_LEARNED` beside the test loss of
    the rows where converged seeds did not learn and no bold on :func:`demoted_rows` nor on
    :func:`all_diverged_rows` (as :func:`shown_bold`); and whether any row is marked (then
    :data:`NOT_LEARNED_NOTE` goes under the table)."""
    loss = next((c for c in display.columns if str(c).startswith("test loss")), None)
    if loss is None:
        return display, bold, False
    demoted = (demoted_rows(main, learning) | all_diverged_rows(main)).to_numpy(dtype=bool)
    if demoted.any():
        bold = bold.copy()
        bold.loc[demoted, loss] = False
    counts = learning_of_rows(main, learning)
    marked = counts["stuck"] > 0
    if not marked.any():
        return display, bold, False
    display = display.copy()
    for i in counts.index[marked]:
        stuck, done = int(counts.at[i, "stuck"]), int(counts.at[i, "done"])
        mark = NOT_LEARNED if stuck == done else f"{stuck} of {done} {NOT_LEARNED}"
        display.at[i, loss] = f"{display.at[i, loss]} ({mark})"
    return display, bold, True


def mark_diverged(main: pd.DataFrame, display: pd.DataFrame) -> tuple[pd.DataFrame, bool]:
    """The main table's display with :data:`ALL_DIVERGED` beside the test loss of the rows that
    diverged on every seed (:func:`all_diverged_rows`), and whether any row is marked (then
    :data:`ALL_DIVERGED_NOTE` goes under the table)."""
    loss = next((c for c in display.columns if str(c).startswith("test loss")), None)
    rows = all_diverged_rows(main)
    if loss is None or not rows.any():
        return display, False
    display = display.copy()
    for i in rows.index[rows]:
        display.at[i, loss] = f"{display.at[i, loss]} ({ALL_DIVERGED})"
    return display, True


# -- the report's tables --------------------------------------------------------------
def _values(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series([], dtype=float)
    return pd.to_numeric(frame[column], errors="coerce").dropna()


def _stat(frame: pd.DataFrame, column: str, how: str) -> float:
    values = _values(frame, column)
    if len(values) == 0 or (how == "std" and len(values) < 2):
        return math.nan
    return float(getattr(values, how)(ddof=1) if how == "std" else getattr(values, how)())


def main_table(
    results: Results, best_rule: BestRule = lowest, *, statistics: bool = True, learning: Learning | None = None
) -> pd.DataFrame:
    """One row per cell x activation: test loss (mean/std/min/max over converged seeds),
    dead and saturated fractions, epochs to threshold, probe accuracy / AUROC (only when
    some run has them), counts. ``best`` marks the best activation(s) of each cell (see
    :func:`mark_best`).

    With ``statistics`` (the default) it adds ``test_loss_ci_low`` / ``test_loss_ci_high``
    (Student t 95% interval of the mean over converged seeds, NaN under 2 seeds) and, from
    paired t-tests against the cell's best (:func:`loss_statistics`), ``tied_with_best``
    (True / False / NA when fewer than 2 seeds pair up), ``p_vs_best`` (raw),
    ``p_vs_best_holm`` (Holm-adjusted within the cell; decides ``tied_with_best``) and
    ``effect_size_dz``; then ``not_learned`` (converged seeds that did not learn,
    :mod:`actcmp.analysis.learning`: "(did not learn)" in the display when it equals ``converged``,
    "(k of n did not learn)" below) and ``bold``, what the report shows bold (:func:`shown_bold`:
    ``best`` or ``tied_with_best``, except an activation that did not learn beside a best that did
    or that diverged on every seed), so that a reader of ``main.csv`` sees the display's decision;
    ``tied_with_best`` stays the test's outcome. ``learning``: :func:`count_learning` of
    ``results`` (counted here when not given). Figures pass ``statistics=False`` (they need none of it)."""
    results = complete(results)
    runs = results.runs
    if runs.empty or "activation" not in runs.columns:
        return pd.DataFrame(columns=["dataset", "depth", "activation", "test_loss_mean", "runs", "best"])
    keys = cell_keys(runs)
    rows = []
    for key, group in runs.groupby([*keys, "activation"], dropna=False, sort=False):
        done = converged(group)
        row: dict[str, Any] = dict(zip([*keys, "activation"], key, strict=True))
        for how in ("mean", "std", "min", "max"):
            row[f"test_loss_{how}"] = _stat(done, "test_loss", how)
        row["dead_fraction_init"] = _stat(done, "dead_fraction_init", "mean")
        row["dead_fraction_final"] = _stat(done, "dead_fraction_final", "mean")
        row["saturated_fraction_final"] = _stat(done, "saturated_fraction_final", "mean")
        row["epochs_to_threshold"] = _stat(done, "epochs_to_threshold", "mean")
        row["threshold_reached"] = len(_values(done, "epochs_to_threshold"))
        for metric in ("probe_accuracy", "anomaly_auroc"):
            row[f"{metric}_mean"] = _stat(done, metric, "mean")
            row[f"{metric}_std"] = _stat(done, metric, "std")
        row["converged"] = len(done)
        row["diverged"] = int((group["status"] == "diverged").sum())
        row["failed"] = int((group["status"] == "failed").sum())
        row["runs"] = int(group["status"].isin(FINISHED).sum())
        rows.append(row)
    table = sort_rows(pd.DataFrame(rows), keys)
    # drop a metric's mean and std together, only when the metric is absent (a single seed
    # leaves the std NaN while the mean exists)
    absent = [m for m in ("probe_accuracy", "anomaly_auroc") if table[f"{m}_mean"].isna().all()]
    table = table.drop(columns=[f"{m}_{how}" for m in absent for how in ("mean", "std")])
    table["best"] = mark_best(table, keys, best_rule)
    if statistics:
        table = with_statistics(table, results.runs)
        per_activation = (count_learning(results, keys) if learning is None else learning).per_activation
        table["not_learned"] = learning_of_rows(table, per_activation)["stuck"].astype(int)
        table["bold"] = shown_bold(table, per_activation)
    return table


def mark_best(table: pd.DataFrame, keys: list[str], rule: BestRule = lowest) -> pd.Series:
    """Bool per row: is this activation the best of its cell? ``rule`` picks among the rows
    with a mean test loss and the fewest diverged seeds of the cell (a diverged seed is
    the worst outcome, as in :mod:`actcmp.analysis.stats`); the other rows are never best."""
    best = pd.Series(False, index=table.index)
    for _, group in table.groupby(keys, dropna=False, sort=False):
        means = pd.to_numeric(group["test_loss_mean"], errors="coerce")
        candidates = group[means.notna()]
        if "diverged" in group and len(candidates):
            candidates = candidates[candidates["diverged"] == candidates["diverged"].min()]
        if len(candidates):
            best.loc[candidates.index] = rule(candidates["test_loss_mean"]).to_numpy(dtype=bool)
    return best


def rank_table(main: pd.DataFrame) -> pd.DataFrame:
    """Mean rank per activation across cells (rank 1 = lowest mean test loss in the cell;
    an activation with a diverged seed in a cell ranks last there, ties averaged: the
    scores of :func:`actcmp.analysis.stats.cell_scores`, so these are the Friedman test's ranks
    when every activation ran in every cell). ``all_diverged``: cells where every seed of
    the activation diverged (:func:`all_diverged_rows`)."""
    columns = ["activation", "mean_rank", "cells", "best", "all_diverged"]
    ranked = main[main["runs"] > 0] if "runs" in main else main
    if ranked.empty:
        return pd.DataFrame(columns=columns)
    keys = [k for k in main.columns if k in ("dataset", "depth") or k in _extra_columns(main)]
    score = ranked["test_loss_mean"].where(ranked["diverged"] == 0, math.inf) if "diverged" in ranked else None
    ranked = ranked.assign(_score=ranked["test_loss_mean"] if score is None else score)
    ranks = ranked.groupby(keys, dropna=False)["_score"].rank(method="average", na_option="bottom")
    ranked = ranked.assign(rank=ranks, all_diverged=all_diverged_rows(ranked))
    rows = []
    for name in activation_order(ranked["activation"]):
        mine = ranked[ranked["activation"] == name]
        rows.append(
            {
                "activation": name,
                "mean_rank": float(mine["rank"].mean()),
                "cells": len(mine),
                "best": int(mine["best"].sum()),
                "all_diverged": int(mine["all_diverged"].sum()),
            }
        )
    table = pd.DataFrame(rows, columns=columns)
    return table.sort_values("mean_rank", kind="mergesort").reset_index(drop=True)


def _extra_columns(main: pd.DataFrame) -> list[str]:
    before_activation = cell_columns(main)
    return [c for c in before_activation if c not in ("dataset", "depth")]


def status_table(results: Results) -> pd.DataFrame:
    """Runs per activation and status; ``pending`` = planned but not stored."""
    results = complete(results)
    runs, planned = results.runs, results.planned
    statuses = ("done", "diverged", "failed")
    names = list(runs["activation"]) if "activation" in runs else []
    stored = set(runs["run_id"]) if "run_id" in runs else set()
    waiting = planned[~planned["run_id"].isin(stored)] if "run_id" in planned and "activation" in planned else None
    if waiting is not None:
        names += list(waiting["activation"])
    rows = []
    for name in activation_order(names):
        mine = runs[runs["activation"] == name] if names and "activation" in runs else runs.iloc[0:0]
        row: dict[str, Any] = {"activation": name}
        for status in statuses:
            row[status] = int((mine["status"] == status).sum()) if "status" in mine else 0
        row["pending"] = int((waiting["activation"] == name).sum()) if waiting is not None else 0
        rows.append(row)
    table = pd.DataFrame(rows, columns=["activation", *statuses, "pending"])
    total = {"activation": "all", **{c: int(table[c].sum()) for c in (*statuses, "pending")}}
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    table["total"] = table[[*statuses, "pending"]].sum(axis=1).astype(int)
    return table


def init_table(results: Results) -> pd.DataFrame:
    """The weight-init rule(s) each activation's runs used (from the runs' ``init``)."""
    results = complete(results)
    runs = results.runs
    if runs.empty or "init" not in runs or "activation" not in runs:
        return pd.DataFrame(columns=["activation", "init"])
    rows = [
        {"activation": name, "init": ", ".join(sorted({str(v) for v in runs.loc[runs["activation"] == name, "init"]}))}
        for name in activation_order(runs["activation"])
    ]
    return pd.DataFrame(rows)


def depth_table(results: Results, factor: float | None = None) -> pd.DataFrame:
    """Per panel (dataset and extra cell fields) x activation: the depths tried, the best
    depth, its mean test loss and the deepest depth that still trains
    (:func:`actcmp.analysis.stats.depth_scaling`), in legend order."""
    results = complete(results)
    factor = DEPTH_FACTOR if factor is None else factor
    table = depth_scaling(results.runs, factor=factor)
    panel = cell_columns(table)
    table = sort_rows(table, panel)
    for column in ("best_depth", "deepest_trained"):
        table[column] = pd.to_numeric(table[column], errors="coerce").round().astype("Int64")
    return table


@dataclass
class Table:
    """One report table: raw numbers plus its formatted strings and bold mask; ``notes``
    are footnotes printed under it (Markdown, report) or as comments (LaTeX)."""

    name: str
    title: str
    caption: str
    raw: pd.DataFrame
    display: pd.DataFrame
    bold: pd.DataFrame
    group_by: list[str]
    notes: list[str] = field(default_factory=list)


#: what bold and "p vs best (Holm)" mean, in the main table's caption and the Tuned comparison's
BOLD_AND_P_CAPTION = (
    "bold: the best of each cell and every activation not separable from it after Holm's correction (*), "
    f"except one marked ({NOT_LEARNED}) in a cell whose best learned and one that {ALL_DIVERGED}; "
    "p vs best (Holm): paired t-test over seeds of the log test loss (the ratio to the best) against the "
    "cell's best (fewest diverged seeds, then lowest mean), Holm-adjusted over every pair of the cell's "
    "activations (the best is picked from the same data)."
)


def build_tables(results: Results, best_rule: BestRule = lowest, learning: Learning | None = None) -> list[Table]:
    """The report's tables in report order. ``learning``: :func:`count_learning` of ``results``
    (counted here when not given; ``make_report`` counts it once for these tables and the Findings)."""
    learning = count_learning(results) if learning is None else learning
    main = main_table(results, best_rule, learning=learning)
    keys = cell_columns(main)
    unlearned = [label(keys, cell) or "all runs" for cell in learning.cells_without_learning()]
    learning_note = (
        [
            f"No converged run learned in {', '.join(unlearned)} (each ended no lower than its initial loss or "
            "the mean predictor's): the best there is the least bad of runs that did not learn."
        ]
        if unlearned
        else []
    )
    display, bold, marked = mark_learning(main, *display_main(main), learning.per_activation)
    display, diverged = mark_diverged(main, display)
    ranks, status, init = rank_table(main), status_table(results), init_table(results)
    depth = depth_table(results, DEPTH_FACTOR)
    depth_panel = cell_columns(depth)
    return [
        Table(
            "main",
            "Results per cell",
            "Test loss mean ± std over converged seeds, with the 95% Student t interval of the mean (95% CI (t)); "
            f"{BOLD_AND_P_CAPTION} "
            "Dead/saturated: mean share of hidden units; epochs to thr.: mean epochs to reach the loss threshold "
            "(reached/converged); diverged runs are counted, not averaged.",
            main,
            display,
            bold,
            keys,
            main_notes(main)
            + ([NOT_LEARNED_NOTE] if marked else [])
            + ([ALL_DIVERGED_NOTE] if diverged else [])
            + learning_note
            + [note for note in [split_note(results.runs)] if note and not main.empty],
        ),
        Table(
            "ranks",
            "Mean rank per activation",
            "Rank of the mean test loss within each cell (1 = best), averaged over the cells the activation "
            "ran in; an activation with a diverged seed ranks last in that cell; best: cells where it is the "
            "best.",
            ranks,
            *display_plain(ranks),
            [],
        ),
        Table(
            "depth_scaling",
            "Depth scaling",
            depth_caption(DEPTH_FACTOR),
            depth,
            *display_depth(depth),
            depth_panel,
        ),
        Table(
            "status",
            "Run status",
            "Stored runs by status; pending = planned but not (yet) stored.",
            status,
            *display_plain(status),
            [],
        ),
        Table(
            "init", "Weight initialisation", "Init rule used by each activation's runs.", init, *display_plain(init), []
        ),
    ]


def write_table(table: Table, directory: Path) -> list[Path]:
    """``NAME.csv`` (raw), ``NAME.md`` and ``NAME.tex`` under ``directory``."""
    make_dir(directory)
    paths = [directory / f"{table.name}.{ext}" for ext in ("csv", "md", "tex")]
    raw_csv = table.raw.to_csv(index=False, lineterminator="\n")
    markdown = to_markdown(table.display, table.bold)
    latex = to_latex(
        table.display, table.bold, table.group_by, caption=table.caption, label=table.name, notes=table.notes
    )
    if table.notes:
        markdown += "\n" + "".join(f"{markdown_escape(n)}  \n" for n in table.notes)
    texts = (raw_csv, markdown, latex)
    for path, text in zip(paths, texts, strict=True):
        write_text(path, text)
    return paths


def extra_fields(runs: pd.DataFrame) -> list[str]:
    """The cell keys beyond dataset and depth (:func:`actcmp.analysis.cells.cell_keys`)."""
    return [k for k in cell_keys(runs) if k not in ("dataset", "depth")]


__all__ = [
    "ALL_DIVERGED",
    "ALL_DIVERGED_NOTE",
    "ALPHA",
    "CI_LABEL",
    "LATEX_LONG",
    "LATEX_WIDE",
    "NOT_CELL",
    "NOT_LEARNED",
    "NOT_LEARNED_NOTE",
    "REQUIRED",
    "STAT_COLUMNS",
    "TIED_NOTE",
    "BestRule",
    "Learning",
    "Table",
    "all_diverged_rows",
    "bold_tied",
    "build_tables",
    "cell_keys",
    "complete",
    "config_fields",
    "converged",
    "count_learning",
    "demoted_rows",
    "depth_caption",
    "depth_table",
    "detectable_note",
    "display_depth",
    "display_main",
    "display_plain",
    "epoch_curves",
    "extra_fields",
    "fmt_fraction",
    "fmt_interval",
    "fmt_mean_std",
    "fmt_number",
    "fmt_p",
    "fmt_vs_best",
    "heatmap_matrix",
    "init_table",
    "label",
    "latex_escape",
    "layer_curves",
    "layer_profile",
    "learning_of_rows",
    "loss_statistics",
    "lowest",
    "main_notes",
    "main_table",
    "mark_best",
    "mark_diverged",
    "mark_learning",
    "markdown_escape",
    "matching",
    "none_learned",
    "panel_keys",
    "rank_table",
    "shown_bold",
    "sort_rows",
    "split_note",
    "status_table",
    "to_html",
    "to_latex",
    "to_markdown",
    "unlearned_rows",
    "write_table",
]
