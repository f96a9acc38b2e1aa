"""The report's Findings: sentences generated from the statistics, each linking to the
table or figure it comes from.

:func:`findings_blocks` returns report blocks (``("text", str)`` / ``("list", [str])``)
in this order: where planned runs are not stored yet, that the sweep is incomplete and the
statistics cover the stored runs only; the best activation(s) of every cell with the ones not separable from it
after Holm's correction (one that did not learn where the best did is named apart: the test
cannot separate it, which does not make it as good; :func:`actcmp.report.tables.demoted_rows`;
so is one that diverged on every seed, :func:`actcmp.report.tables.all_diverged_rows`);
the mean ranks over cells and the Friedman test; where units
died and which activations; runs that diverged, failed, or did not learn (final
validation loss not below its value at initialisation, or not below the loss of
predicting the training mean); what difference the seeds could detect. Links are
Markdown ``[text](#anchor)`` to the anchors of :func:`table_anchor` / :func:`figure_anchor`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from actcmp.analysis.cells import activation_order, cell_keys
from actcmp.analysis.learning import cell_id, not_learning
from actcmp.report.format import MISSING, fmt_fraction, fmt_number, fmt_p, p_clause
from actcmp.report.frames import cell_columns, label
from actcmp.text import plural

if TYPE_CHECKING:
    import pandas as pd

    from actcmp.report.statistics import Statistics
    from actcmp.report.tables import Learning
    from actcmp.store.database import Results

Block = tuple[str, Any]


def table_anchor(name: str) -> str:
    return f"table-{name}"


def figure_anchor(stem: str) -> str:
    return f"figure-{stem}"


def link(text: str, anchor: str) -> str:
    return f"[{text}](#{anchor})"


def _missing(value: Any) -> bool:
    import pandas as pd

    return value is None or bool(pd.isna(value))


def _names(values: Iterable[Any]) -> str:
    return ", ".join(str(v) for v in values)


def _keys(main: pd.DataFrame) -> list[str]:
    return cell_columns(main)


def _cell_label(keys: list[str], key: Any) -> str:
    """``digits · depth 4``, a user's name in it Markdown-escaped as in the tables (a link's text
    too: a file name's ``*`` would be emphasis, its ``|`` a table's edge)."""
    from actcmp.report.writers import markdown_name

    values = key if isinstance(key, tuple) else (key,)
    return markdown_name(label(keys, tuple(values))) or "all runs"


def best_per_cell(
    main: pd.DataFrame,
    learning: dict[tuple[str, ...], tuple[int, int]] | None = None,
    by_activation: dict[tuple[str, ...], tuple[int, int]] | None = None,
) -> list[str]:
    """Per cell: the best activation(s) with their mean test loss, the activations not
    separable from it after Holm's correction, and those too few seeds could not test;
    where no converged run of the cell learned (``learning``: :func:`learning_per_cell`),
    that the ranking there says nothing about what the activations learn. An activation
    that did not learn where the best did (``by_activation``: :func:`learning_per_cell` over
    the cell keys and ``activation``; :func:`actcmp.report.tables.demoted_rows`) and that the
    test cannot separate from the best is named apart, with its loss and p; so is one that
    diverged on every seed (:func:`actcmp.report.tables.all_diverged_rows`), whatever the test says."""
    from actcmp.report.significance import no_spread_rows
    from actcmp.report.tables import all_diverged_rows, demoted_rows, none_learned

    keys = _keys(main)
    if main.empty or not keys or "best" not in main:
        return []
    rows = main[main["runs"] > 0] if "runs" in main else main
    demoted = demoted_rows(rows, by_activation or {})
    lost = all_diverged_rows(rows)
    items = []
    for key, cell in rows.groupby(keys, sort=False, dropna=False):
        best = cell[cell["best"].astype(bool)]
        where = link(_cell_label(keys, key), table_anchor("main"))
        if best.empty:
            items.append(f"{where}: no converged run.")
            continue
        if none_learned((learning or {}).get(cell_id(key), (0, 0))):
            items.append(
                f"{where}: no converged run learned (each ended no lower than its initial loss or the mean "
                "predictor's), so no activation is named best here."
            )
            continue
        shown = _names(
            f"**{n}** ({fmt_number(m)})" for n, m in zip(best["activation"], best["test_loss_mean"], strict=True)
        )
        if "tied_with_best" not in cell:
            items.append(f"{where}: best {shown}.")
            continue
        others = cell[~cell["best"].astype(bool)]
        diverged = others[lost[others.index]]
        others = others.drop(index=diverged.index)
        is_tied = others["tied_with_best"].map(lambda v: not _missing(v) and bool(v)).astype(bool)
        stuck_tied = others[is_tied & demoted[others.index]]
        others = others.drop(index=stuck_tied.index)
        tied = others[is_tied[others.index]]
        untested = others[others["tied_with_best"].map(_missing).astype(bool)]
        same = untested[no_spread_rows(untested)] if len(untested) else untested
        clauses = [f"best {shown}"]
        if len(others) or not (len(stuck_tied) or len(diverged)):
            which = " that learned" if len(stuck_tied) else " that converged" if len(diverged) else ""
            clauses.append(_tie_clause(others, tied, untested, which=which))
        if len(untested) > len(same):
            clauses.append(f"too few seeds to test: {_names(untested.drop(index=same.index)['activation'])}")
        if len(same):
            clauses.append(f"no test (the same ratio to the best on every seed): {_names(same['activation'])}")
        if len(stuck_tied):
            clauses.append(_stuck_clause(stuck_tied))
        if len(diverged):
            clauses.append(_diverged_clause(diverged))
        items.append(f"{where}: {'; '.join(clauses)}.")
    return items


def _tie_clause(others: pd.DataFrame, tied: pd.DataFrame, untested: pd.DataFrame, *, which: str = "") -> str:
    """``which``: what ``others`` keeps where activations are named apart (``" that learned"``:
    not those that did not learn; ``" that converged"``: not those that diverged on every seed)."""
    if len(tied):
        return f"not separable from it after Holm: {_names(tied['activation'])}"
    if not len(others):
        return "no other activation ran"
    if len(untested) == len(others):
        return "no other activation could be tested"
    return f"every other tested activation{which} is separably worse after Holm"


def _diverged_clause(diverged: pd.DataFrame) -> str:
    """``elu diverged on every seed (not bold: ...)``: activations none of whose seeds converged
    (:func:`actcmp.report.tables.all_diverged_rows`), never bold; where the test cannot separate
    them from the best, its p and why."""
    from actcmp.report.tables import ALL_DIVERGED

    text = f"{_names(diverged['activation'])} {ALL_DIVERGED}"
    tied = diverged["tied_with_best"].map(lambda v: not _missing(v) and bool(v)) if "tied_with_best" in diverged else []
    if not any(tied):
        return text
    p_values = [fmt_p(p) for p in diverged["p_vs_best_holm"]] if "p_vs_best_holm" in diverged else []
    shown = f", p = {_names(p_values)} after Holm" if p_values and MISSING not in p_values else ""
    seeds = sorted({int(n) for n in diverged["runs"]}) if "runs" in diverged else []
    with_seeds = f" with {' to '.join(str(n) for n in sorted({seeds[0], seeds[-1]}))} seeds" if seeds else ""
    return (
        f"{text} (not bold: the worst outcome on every seed, though the rank test cannot separate "
        f"{'it' if len(diverged) == 1 else 'them'} from the best{with_seeds}{shown})"
    )


def _stuck_clause(stuck: pd.DataFrame) -> str:
    """``sigmoid (0.982) did not learn here; with 3 seeds the paired test cannot separate it from
    the best (p = 0.0761 after Holm)``: activations that did not learn where the best did, which
    the test could not separate from the best (so not bold, see
    :func:`actcmp.report.tables.demoted_rows`)."""
    names = _names(f"{n} ({fmt_number(m)})" for n, m in zip(stuck["activation"], stuck["test_loss_mean"], strict=True))
    seeds = sorted({int(n) for n in stuck["converged"]}) if "converged" in stuck else []
    with_seeds = f"with {' to '.join(str(n) for n in sorted({seeds[0], seeds[-1]}))} seeds " if seeds else ""
    p_values = [fmt_p(p) for p in stuck["p_vs_best_holm"]] if "p_vs_best_holm" in stuck else []
    shown = f" (p = {_names(p_values)} after Holm)" if p_values and MISSING not in p_values else ""
    them = "it" if len(stuck) == 1 else "them"
    return f"{names} did not learn here; {with_seeds}the paired test cannot separate {them} from the best{shown}"


def ranks_text(statistics: Statistics | None) -> str | None:
    """Mean ranks over cells and the Friedman test, or why there is no test."""
    if statistics is None:
        return None
    result = statistics.friedman
    if not result.mean_ranks:
        return None
    ranks = _names(f"{n} {r:.2f}" for n, r in result.mean_ranks.items())
    text = f"{link('Mean ranks', table_anchor('ranks'))} of test loss over {result.n_cells} cells (1 = best): {ranks}. "
    if result.reason:
        return text + f"No Friedman test: {result.reason}."
    from actcmp.report.statistics import unreachable

    blocks = result.by_dataset
    significant = result.decision_p < result.alpha  # where the cells share datasets, the test over them
    verdict = "the activations' ranks differ" if significant else "no significant difference between the ranks"
    verdict += f" at α = {result.alpha:g}"
    floored = unreachable(result)  # as the statistics section says it (statistics.block_verdict)
    if floored:
        verdict = (
            f"no verdict either way: with {floored[0]} and {result.k} activations this test cannot reach "
            f"p < {result.alpha:g}, its smallest p being {floored[1]:.2g}"
        )
    if blocks is None:
        caveat = ""
    elif blocks.n_blocks == 1:
        caveat = ", optimistic: the cells are all of one dataset, so no test over datasets is possible"
    elif math.isfinite(blocks.p_value):
        caveat = f", optimistic: the cells share {blocks.n_blocks} datasets; with datasets as blocks {p_clause(blocks.p_value)}"
    else:
        caveat = ", optimistic: the cells share datasets"
    text += (
        f"Friedman test: χ² = {result.statistic:.2f}, {result.p_prefix}{p_clause(result.p_value)}{caveat} ({verdict}); "
    )
    # the diagram draws the test that decides (statistics.plot_critical_difference): the link goes with it
    diagram = (
        f" ({link('critical-difference diagram', figure_anchor('critical_difference'))})"
        if statistics.cd_drawn and "critical_difference" in statistics.figures
        else ""
    )
    over = result.decisive_blocks
    within_cells = f"within the CD of the best ({result.best}): {_names(result.top_group())}"
    if over is not None and over.mean_ranks and math.isfinite(over.cd):
        best = next(iter(over.mean_ranks))
        text += (
            f"over the {over.n_blocks} datasets as blocks (the test that is not optimistic) the CD is "
            f"{over.cd:.2f} ranks, and within it of the best ({best}): {_names(over.top_group())}{diagram}; "
            f"over the cells (optimistic) the Nemenyi critical difference (CD) is {result.cd:.2f} ranks, {within_cells}"
        )
    else:
        text += f"Nemenyi critical difference (CD) {result.cd:.2f} ranks; {within_cells}{diagram}"
    return text + "."


def dead_units_text(main: pd.DataFrame, *, untrained: bool = False) -> str | None:
    """Which activations ended with dead units (derivative zero on every probe input),
    in how many cells, and where the most, with the share dead there at initialisation where
    the table has it (units dead from the start did not die in training: "dead after training",
    never "died"). ``untrained``: the runs did not train (epochs 0), so the units were dead at
    initialisation."""
    if main.empty or "dead_fraction_final" not in main:
        return None
    keys = _keys(main)
    dead = main[main["dead_fraction_final"].fillna(0) > 0]
    heatmap = link("dead fraction at the end", figure_anchor("heatmap_dead_fraction"))
    curves = link("over training", figure_anchor("dead_fraction"))
    measured = main[main["dead_fraction_final"].notna()]
    if dead.empty:
        when = "had dead units at initialisation (no training: epochs 0;" if untrained else "ended with dead units ("
        return f"No activation {when}{heatmap} 0 in all {len(measured)} cell-activation pairs measured)."

    parts = []
    for name in activation_order(dead["activation"]):
        mine = dead[dead["activation"] == name]
        worst = mine.loc[mine["dead_fraction_final"].idxmax()]
        n_cells = int((measured["activation"] == name).sum())
        where = _cell_label(keys, tuple(worst[k] for k in keys))
        parts.append(
            f"{name} in {len(mine)} of {n_cells} cells (most at {where}: {fmt_fraction(worst['dead_fraction_final'])} of "
            f"hidden units{'' if untrained else _at_init(worst.get('dead_fraction_init'))})"
        )
    clean = [n for n in activation_order(measured["activation"]) if n not in set(dead["activation"])]
    if untrained:
        text = f"Units dead at initialisation (no training: epochs 0; {heatmap}): " + "; ".join(parts) + "."
        return text + (f" No dead units: {_names(clean)}." if clean else "")
    # dead at the end is not died in training: with the share at initialisation beside, where stored
    after = "Units dead after training" if "dead_fraction_init" in main else "Units died"
    text = f"{after} ({heatmap}, {curves}): " + "; ".join(parts) + "."
    if clean:
        text += f" No dead units at the end: {_names(clean)}."
    return text


def _at_init(share: Any) -> str:
    """``, 0.15 at initialisation``: the share of the worst cell already dead before training,
    where some was (where none was, they died in training; nothing where not stored)."""
    if _missing(share) or float(share) <= 0:
        return ""
    return f", {fmt_fraction(float(share))} at initialisation"


def untrained(results: Results) -> bool:
    """Whether no stored run trained (every one has epochs 0: it measured its initial weights)."""
    import pandas as pd

    runs = results.runs
    if runs.empty or "epochs" not in runs:
        return False
    epochs = pd.to_numeric(runs["epochs"], errors="coerce")
    return bool(epochs.notna().all() and (epochs == 0).all())


#: above this many (cell, activation) groups a list of runs is summarised by counts
MAX_LISTED = 8


def _runs_by_cell(runs: pd.DataFrame, keys: list[str]) -> str:
    """``sigmoid at digits · depth 8 (seed 0, 1); ...``, or with more than
    :data:`MAX_LISTED` groups the counts by activation and by cell."""

    order = {n: i for i, n in enumerate(activation_order(runs["activation"]))}
    groups = sorted(
        runs.groupby([*keys, "activation"], sort=False, dropna=False),
        key=lambda item: (order[item[0][-1]], str(item[0][:-1])),
    )
    if len(groups) > MAX_LISTED:
        by_activation = runs["activation"].value_counts()
        by_cell = runs.groupby(keys, sort=True, dropna=False).size() if keys else None
        text = "by activation " + _names(f"{n} ({by_activation[n]})" for n in order)
        if by_cell is not None:
            cells = by_cell.sort_values(ascending=False, kind="mergesort")
            text += "; by cell " + _names(f"{_cell_label(keys, k)} ({v})" for k, v in cells.items())
        return text
    parts = []
    for key, group in groups:
        seeds = _names(sorted(group["seed"].tolist())) if "seed" in group else ""
        parts.append(f"{key[-1]} at {_cell_label(keys, tuple(key[:-1]))} (seed {seeds})")
    return "; ".join(parts)


def _tuned(results: Results) -> bool:
    """Whether a [tune] sweep planned the runs (its evaluation runs at the common value carry a role)."""
    from actcmp.analysis.tune import ROLE_EVAL, ROLE_TUNE

    planned = results.planned
    return "role" in planned and bool(planned["role"].isin([ROLE_EVAL, ROLE_TUNE]).any())


def outcomes_text(results: Results) -> list[str]:
    """Diverged and failed runs, and converged runs that did not learn."""
    runs = results.runs
    if runs.empty:  # e.g. a tuned sweep interrupted while tuning: nothing to say of no run
        return ["No run is stored in the tables yet: nothing diverged, failed or learned so far."]
    keys = cell_keys(runs)
    status = link("run status", table_anchor("status"))
    out = []
    diverged = runs[runs["status"] == "diverged"]
    failed = runs[runs["status"] == "failed"]
    # a [tune] sweep's tables hold its runs at the common value only: its tuning runs and those at a
    # selected value are counted by the Tuned comparison's Findings
    scope = " at the common value" if _tuned(results) else ""
    if diverged.empty and failed.empty:
        out.append(f"No run{scope} diverged or failed ({status}).")
    if len(diverged):
        out.append(
            f"{plural(len(diverged), 'run')}{scope} diverged (a non-finite loss, counted as the worst outcome; "
            f"{status}): {_runs_by_cell(diverged, keys)}."
        )
    if len(failed):
        out.append(
            f"{plural(len(failed), 'run')}{scope} failed (an error, not a result; see `actcmp status`, {status}): "
            f"{_runs_by_cell(failed, keys)}."
        )
    stuck = not_learning(results)
    curves = link("validation loss over training", figure_anchor("loss_curves"))
    if stuck.empty and (runs["status"] == "done").any():
        out.append(
            f"Every converged run{scope} ended with a validation loss below its initial value and below the loss "
            f"of predicting the training mean ({curves})."
        )
    else:
        for reason, group in stuck.groupby("reason", sort=True):
            out.append(
                f"{plural(len(group), 'converged run')}{scope} did not learn, final validation loss {reason} "
                f"({curves}): {_runs_by_cell(group, keys)}."
            )
    return out


def power_text(main: pd.DataFrame) -> str | None:
    """What difference the seeds could detect (see :func:`actcmp.report.tables.detectable_note`)."""
    from actcmp.report.significance import holm_family
    from actcmp.report.tables import detectable_note

    if main.empty or "converged" not in main:
        return None
    stored = main[main["runs"] > 0] if "runs" in main else main
    seeds = int(stored["converged"].max()) if len(stored) else 0
    if seeds < 2:
        return f"One seed per cell: no activation can be shown to differ from the best ({link('results', table_anchor('main'))})."
    keys = _keys(stored)
    compared = holm_family(int(stored.groupby(keys, dropna=False).size().max()) if keys else len(stored))
    note = detectable_note(seeds, compared).removesuffix(".")
    return f"{note} ({link('results per cell', table_anchor('main'))})."


def learning_rate_text(results: Results) -> str | None:
    """Without [tune]: that the activations were compared at the learning rates the sweep
    gave them all (one shared value, or each grid value), not each at its own best. None for
    a [tune] sweep (its Tuned comparison says how the values were selected) or no runs."""
    import pandas as pd

    runs = results.runs
    if _tuned(results) or runs.empty or "lr" not in runs:
        return None
    lrs = sorted({float(v) for v in pd.to_numeric(runs["lr"], errors="coerce").dropna()})
    if not lrs:
        return None
    tuned = "`[tune]` (e.g. `experiments/tuned.toml`) selects each activation's own on tuning seeds."
    if len(lrs) == 1:
        return (
            f"Every activation ran at the same learning rate ({lrs[0]:g}), not at its own best: a ranking at one "
            f"shared learning rate can favour the activations it happens to suit. {tuned}"
        )
    return (
        f"The learning rates {_names(f'{v:g}' for v in lrs)} were given to every activation alike (a grid axis), "
        f"not selected per activation: each comparison is at one of them. {tuned}"
    )


def incomplete_text(results: Results, main: pd.DataFrame) -> str | None:
    """Where planned runs are not stored yet: that the sweep is incomplete, how many of its
    planned runs are stored, which axis values have none yet, and that the statistics cover
    the stored cells only (:func:`actcmp.report.incomplete.plan_counts`). None for a complete
    sweep, and where no run is stored."""
    from actcmp.analysis.cells import as_text
    from actcmp.report.incomplete import described_runs, not_stored_text, not_stored_values, plan_counts
    from actcmp.report.setup import run_fields

    counts = plan_counts(results)
    if not counts["pending"] or results.runs.empty:  # nothing stored: outcomes_text says so
        return None
    described = described_runs(results)
    missing = not_stored_text(not_stored_values(results, list(run_fields(described)["grid"])))
    missing = f" (no run yet for {missing})" if missing else ""
    what = "evaluation runs at the common value" if _tuned(results) else "runs"
    keys = _keys(main)
    stored = main[main["runs"] > 0] if "runs" in main else main
    cells = ""
    if keys and set(keys) <= set(described.columns) and len(stored):
        planned = len(as_text(described[keys]).drop_duplicates())
        held = len(as_text(stored[keys]).drop_duplicates())
        cells = f", in {held} of the {planned} planned cells" if held < planned else ""
    return (
        f"**The sweep is incomplete:** {len(results.runs)} of its {counts['planned']} planned {what} are stored"
        f"{missing}; the statistics below cover the stored runs only{cells} "
        f"({link('run status', table_anchor('status'))})."
    )


def findings_blocks(
    results: Results, main: pd.DataFrame, statistics: Statistics | None, learning: Learning | None = None
) -> list[Block]:
    """The Findings section's blocks (see the module docstring). ``learning``: the counts the
    main table's marks came from (:func:`actcmp.report.tables.count_learning`; counted here
    when not given)."""
    from actcmp.report.tables import count_learning

    blocks: list[Block] = []
    incomplete = incomplete_text(results, main)
    if incomplete:  # first: every statement below is of the stored part of the sweep
        blocks.append(("text", incomplete))
    if learning is None:
        learning = count_learning(results, _keys(main))
    best = best_per_cell(main, learning.per_cell, learning.per_activation)
    if best:
        blocks.append(("text", "Best test loss per cell (mean over converged seeds; bold = best):"))
        blocks.append(("list", best))
        shared = learning_rate_text(results)
        if shared:
            blocks.append(("text", shared))
    for text in (ranks_text(statistics), dead_units_text(main, untrained=untrained(results))):
        if text:
            blocks.append(("text", text))
    blocks += [("text", t) for t in outcomes_text(results)]
    power = power_text(main)
    if power:
        blocks.append(("text", power))
    return blocks


__all__ = ["figure_anchor", "findings_blocks", "link", "table_anchor"]
