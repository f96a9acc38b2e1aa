"""The Tuned comparison's tables (:mod:`actcmp.report.tune` builds the section): each
activation at its own selected value beside the common value, each side with the main
table's statistics (:func:`actcmp.report.tables.main_table`: the 95% t interval, the paired
test against the cell's best with Holm in the cell, bold and "(did not learn)"), and the
mean ranks of both sides (an order of the sample, not a test)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from actcmp.analysis.cells import activation_order
from actcmp.analysis.learning import cell_id
from actcmp.analysis.tune import (
    ROLE_EVAL,
    StoredTune,
    cell_fields,
    describe_cell,
    describe_value,
    matches_values,
)
from actcmp.report import tables
from actcmp.report.format import MISSING, fmt_value
from actcmp.report.frames import cell_columns
from actcmp.report.writers import CELL_BREAK

if TYPE_CHECKING:
    import pandas as pd

    from actcmp.store.database import Results


def sorted_selections(tune: StoredTune) -> list[Any]:
    keys = cell_fields(tune.selections)
    order = {name: i for i, name in enumerate(activation_order(s.activation for s in tune.selections))}
    return sorted(
        tune.selections, key=lambda s: (tuple(str(s.config.get(k)) for k in keys), order.get(s.activation, 0))
    )


def titled(title: str, tune: StoredTune, suffix: str) -> str:
    """A table's title; where the directory holds several tuned sweeps, with the sweep's."""
    return f"{title} ({tune.title})" if suffix else title


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
    #: the main table's texts in two columns: ``loss``, its test loss with the interval and the marks
    #: (``(k diverged)``, did not learn) in one cell (:func:`loss_cell`), and ``p``, p vs best (Holm)
    texts: pd.DataFrame
    #: the best, or not separable from it after Holm; not one that did not learn beside a best that did
    bold: pd.Series
    #: converged seeds that did not learn
    stuck: pd.Series
    #: no converged run of the cell's side learned (:meth:`tables.Learning.cells_without_learning`)
    none_learned: bool


#: the two sides of the comparison: each activation at its selected value; every one at the common value
SIDES = ("tuned", "common")
#: the texts of :class:`_Side` (columns of ``texts``)
SIDE_TEXTS = ("loss", "p")


def loss_cell(loss: str, interval: str, marks: list[str]) -> str:
    """One side's test loss in one cell, so that the table fits a window: the main table's mean ±
    std (``loss``), its interval in brackets (none where it has none: under 2 converged seeds) and
    its marks (``(k diverged)``, did not learn; empty ones left out), each on a line of its own in
    HTML (:data:`~actcmp.report.writers.CELL_BREAK`; a space in Markdown and LaTeX)."""
    parts = [loss, f"[{interval}]" if interval != MISSING else "", *marks]
    return CELL_BREAK.join(part for part in parts if part)


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
    learning = tables.count_learning(results)
    main = tables.main_table(results, learning=learning)
    keys = cell_columns(main)
    cell_of = {rid: cell for cell, rids in cells.items() for rid in rids}
    found: dict[str, set[str]] = {}  # the main table's cell -> the cells of ``cells`` its runs are in
    for label, rid in zip(_labels(mine, keys), mine["run_id"], strict=True):
        found.setdefault(label, set()).add(cell_of[rid])
    if len(cells) > 1 and (any(len(v) != 1 for v in found.values()) or len(found) != len({*cell_of.values()})):
        return {cell: side for cell, rids in cells.items() for side in _sides(base, {cell: rids}, tuned).values()}
    display, bold = tables.display_main(main)
    loss = next(c for c in display.columns if str(c).startswith("test loss"))
    plain = display[loss].copy()
    display, bold, _ = tables.mark_learning(main, display, bold, learning.per_activation)
    # the did-not-learn mark the main table appends to the test loss, for a line of its own
    learned = [marked.removeprefix(text).strip() for text, marked in zip(plain, display[loss], strict=True)]
    diverged = [f"({d} diverged)" if d else "" for d in main["diverged"]]
    display[loss] = [
        loss_cell(text, interval, [more, mark])
        for text, interval, more, mark in zip(plain, display[tables.CI_LABEL], diverged, learned, strict=True)
    ]
    stuck = tables.learning_of_rows(main, learning.per_activation)["stuck"]
    unlearned = {json.dumps(list(cell)) for cell in learning.cells_without_learning()}
    labels = _labels(main, keys)
    out = {}
    for label, members in found.items():
        rows = [i for i, other in zip(main.index, labels, strict=True) if other == label]
        names = main.loc[rows, "activation"].astype(str).tolist()
        texts = pd.DataFrame(
            {"loss": display.loc[rows, loss].to_list(), "p": display.loc[rows, "p vs best (Holm)"].to_list()},
            index=names,
        )
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


def comparison_tables(tune: StoredTune, suffix: str, results: Results) -> list[tables.Table]:
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
    for s in sorted_selections(tune):
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
        loss_column = f"test loss{tail}* [{tables.CI_LABEL}]"
        for index, column in enumerate((loss_column, f"p vs best (Holm){tail}")):
            display[column] = [t[index] for t in texts[prefix]]
        display[f"rank{tail}"] = [fmt_value(r[f"{prefix}_rank"]) for r in rows]
        bold_columns[loss_column] = [bool(r[f"{prefix}_bold"]) for r in rows]
    bold = pd.DataFrame(False, index=display.index, columns=display.columns)
    for column, values in bold_columns.items():
        bold[column] = values
    seeds = tune.evaluation_seeds
    caption = (
        f"Test loss mean ± std over the evaluation seeds {seeds}, with the 95% Student t interval of the mean "
        f"in brackets ([{tables.CI_LABEL}]; none under 2 converged seeds) and the marks (k diverged) and (did not "
        f"learn) in the same cell: left, each activation at its own selected value (tuned on seeds {tune.spec.seeds}, "
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
    if any(r[f"{p}_diverged"] and not r[f"{p}_seeds"] for r in rows for p in SIDES):
        notes.append(tables.ALL_DIVERGED_NOTE)
    evaluated = set().union(*(ids for side in runs_of.values() for ids in side.values()))
    split = tables.split_note(base.runs[base.runs["run_id"].isin(evaluated)], selected=True) if rows else None
    if split:
        notes.append(split)
    for prefix, where in (("tuned", "at the selected values"), ("common", f"at {shown}")):
        if learned_none[prefix]:
            notes.append(
                f"No converged run {where} learned in {', '.join(learned_none[prefix])} (each ended no lower than "
                "its initial loss or the mean predictor's): the best there is the least bad of runs that did not learn."
            )
    title = titled("Tuned vs common value", tune, suffix)
    comparison = tables.Table(f"tune_comparison{suffix}", title, caption, raw, display, bold, keys, notes)
    ranks, used, n_cells = mean_ranks(raw, keys, shown)
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
        titled("Mean rank, tuned vs common", tune, suffix),
        rank_caption,
        ranks,
        rank_display,
        rank_bold,
        [],
    )
    return [comparison, rank_table]


def mean_ranks(raw: pd.DataFrame, keys: list[str], shown: str) -> tuple[pd.DataFrame, int, int]:
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
