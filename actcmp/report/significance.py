"""The main table's significance columns and notes: the interval of each mean, the paired
tests against the cell's best (Holm-adjusted), what bold means and what the seeds could detect.

The best activation of a cell has the fewest diverged seeds, then the lowest mean (the rule of
:mod:`actcmp.analysis.stats`); the activations *tied* with it are those whose paired t-tests
over seeds against the best, Holm-adjusted over every pair of the cell's activations, give p >= 0.05
(``stats.paired_vs_best``); intervals are Student t over seeds.
"""

from __future__ import annotations

import math

import pandas as pd

from actcmp.analysis import stats
from actcmp.analysis.cells import ALPHA, cell_keys
from actcmp.analysis.paired import NO_SPREAD
from actcmp.report.format import MISSING, NO_SPREAD_TEXT, is_missing
from actcmp.report.frames import cell_columns

TIED_NOTE = (
    "bold = the best, or not separable from the best after Holm's correction (paired t-tests over seeds "
    "of the log test loss, i.e. of the ratio to the best, Holm-adjusted p ≥ 0.05 over every pair of the cell's activations, so that picking the best from the same data does not inflate the error)"
)


#: the main table's interval, named in its caption and notes
CI_LABEL = "95% CI (t)"


STAT_COLUMNS = (
    "test_loss_ci_low",
    "test_loss_ci_high",
    "tied_with_best",
    "p_vs_best",
    "p_vs_best_holm",
    "effect_size_dz",
)


def loss_statistics(runs: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """Per cell x activation (keys of :func:`actcmp.analysis.cells.cell_keys`): Student t interval
    of the mean test loss and the paired t-test of the log test loss (the ratio) against the
    cell's best, Holm-adjusted over every pair of the cell's activations.

    ``tied_with_best``: True for the best and for an activation whose Holm-adjusted p is
    ``>= alpha``; False when it is below; NA (untested, never bold) when fewer than 2 seeds
    are tested or when the log ratio to the best is the same on every seed (no spread: no
    t statistic, :data:`~actcmp.analysis.paired.NO_SPREAD`; ``p_vs_best`` is then the t-test's
    limit, 0, and :func:`no_spread_rows` finds them; a pair where a seed diverged is tested by
    ranks and is not such a row). A seed where one of the pair diverged counts as worse for it than any
    converged one (the exact signed-rank test, :func:`~actcmp.analysis.paired.paired_with_divergence`).
    ``effect_size_dz`` (Cohen's d_z of this minus best; > 0 = worse) comes from the seeds
    where both converged."""
    keys = cell_keys(runs)
    summary = stats.summarise(runs, "test_loss")
    paired = stats.paired_vs_best(runs, "test_loss", alpha=alpha, scale="log", equivalence=False)
    tied = paired["tied"].astype(object)
    untested = ~paired["is_best"].astype(bool) & (paired["n_pairs"] < 2) & paired["tied"].astype(bool)
    # the same ratio to the best on every seed (no seed diverged): no t statistic (no spread), so
    # shown untested, as above (paired.py's p, the t-test's limit 0, stays in p_vs_best); a pair
    # with a diverged seed, whose note quotes NO_SPREAD for its t part, was tested by ranks
    untested |= ~paired["is_best"].astype(bool) & (paired["note"].astype(str) == NO_SPREAD)
    tied[untested] = pd.NA
    out = summary[[*keys, "activation", "ci_low", "ci_high"]].merge(
        paired[[*keys, "activation"]].assign(
            tied=tied, p_value=paired["p_value"], p_adjusted=paired["p_adjusted"], d_z=paired["d_z"]
        ),
        on=[*keys, "activation"],
        how="outer",
    )
    return out.rename(
        columns={
            "ci_low": "test_loss_ci_low",
            "ci_high": "test_loss_ci_high",
            "tied": "tied_with_best",
            "p_value": "p_vs_best",
            "p_adjusted": "p_vs_best_holm",
            "d_z": "effect_size_dz",
        }
    )


def with_statistics(table: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """``table`` with :data:`STAT_COLUMNS`: the CI beside the other test-loss columns, the
    paired-test columns after ``best``."""
    keys = cell_keys(runs) if not runs.empty else []
    if table.empty or not set(keys) <= set(table.columns):
        extra = pd.DataFrame({c: [math.nan] * len(table) for c in STAT_COLUMNS}, index=table.index)
        merged = pd.concat([table, extra], axis=1)
    else:
        merged = table.merge(loss_statistics(runs), on=[*keys, "activation"], how="left")
    merged["tied_with_best"] = merged["tied_with_best"].astype(object).where(merged["tied_with_best"].notna(), None)
    columns = list(table.columns)
    at = columns.index("test_loss_max") + 1
    order = [*columns[:at], "test_loss_ci_low", "test_loss_ci_high", *columns[at:]]
    return merged[[*order, "tied_with_best", "p_vs_best", "p_vs_best_holm", "effect_size_dz"]]


#: under the main table where some row's seeds all gave the same ratio to the best
NO_SPREAD_NOTE = (
    f"p vs best '{NO_SPREAD_TEXT}': the log ratio to the best was the same on every seed where both converged, "
    "so there is no t statistic: shown untested and not bold (nearly equal seeds would be separable, their "
    "t-test's p going to 0 as the spread shrinks; main.csv's p_vs_best holds that limit, 0)."
)


def no_spread_rows(main: pd.DataFrame) -> pd.Series:
    """Bool per row: not the best and untested because its log ratio to the best was the same on
    every seed (:func:`loss_statistics`: ``tied_with_best`` NA, ``effect_size_dz`` infinite)."""
    if main.empty or "effect_size_dz" not in main or "best" not in main or "tied_with_best" not in main:
        return pd.Series(False, index=main.index, dtype=bool)
    d_z = pd.to_numeric(main["effect_size_dz"], errors="coerce")
    untested = main["tied_with_best"].map(is_missing).astype(bool)
    return (d_z.abs() == math.inf) & untested & ~main["best"].astype(bool)


def bold_tied(main: pd.DataFrame) -> pd.Series:
    """Bool per row: best of its cell or statistically tied with the best."""
    best = main["best"].astype(bool)
    if "tied_with_best" not in main:
        return best
    tied = main["tied_with_best"].map(lambda v: not is_missing(v) and bool(v))
    return best | tied.astype(bool)


def main_notes(main: pd.DataFrame) -> list[str]:
    """Footnotes of the main table: the interval method, what bold means (Holm), what
    difference the seeds could detect, and when ties could not be tested."""
    if main.empty or "tied_with_best" not in main:
        return []
    notes = [
        f"* {TIED_NOTE}; where one of a pair diverged on a seed, that seed counts as worse for it than any "
        "converged one, in an exact signed-rank test combined with the t-test of the seeds where both converged "
        "(Bonferroni; with 3 seeds and no pair to t-test, the rank test's floor is p = 0.25)."
    ]
    stored = main[main["runs"] > 0] if "runs" in main else main
    seeds = int(stored["converged"].max()) if len(stored) else 0
    notes.append(
        f"{CI_LABEL}: Student t interval of the mean over converged seeds (mean ± t(0.975, n−1)·s/√n; "
        "assumes roughly normal seed-to-seed variation; cut at 0, as a loss cannot be negative); "
        "none under 2 seeds."
    )
    if seeds <= 1:
        notes.append("One seed per cell: ties with the best cannot be tested, so only the best is bold.")
    else:
        if (stored["tied_with_best"].isna() & ~stored["best"].astype(bool) & ~no_spread_rows(stored)).any():
            notes.append(f"p vs best {MISSING}: fewer than 2 seeds pair up with the best, so no test and not bold.")
        most = int(stored.groupby(cell_columns(stored), dropna=False).size().max()) if len(stored) else 0
        n_compared = holm_family(most)
        notes.append(detectable_note(seeds, n_compared))
    if no_spread_rows(stored).any():
        notes.append(NO_SPREAD_NOTE)
    return notes


def split_note(runs: pd.DataFrame, *, selected: bool = False) -> str | None:
    """Where every seed of a cell tests on the same rows (``split_seed`` set in every run: a
    ``[tune]`` sweep's 0, or the sweep's own): the intervals and tests are conditional on that
    one split. ``selected``: the runs are at values selected on tuning seeds (the Tuned
    comparison), which the intervals treat as fixed. None where each seed draws its own split."""
    if runs.empty or "split_seed" not in runs:
        return None
    splits = runs["split_seed"]
    if splits.isna().any():
        return None
    values = sorted({int(v) if float(v).is_integer() else v for v in splits})
    shown = ", ".join(str(v) for v in values)
    text = (
        f"Every seed of a cell tests on the same rows (split_seed = {shown}): the intervals and tests are over "
        "what a seed varies here (the initial weights and the batch order), conditional on this one split of the "
        "data; they leave out the variation between splits"
    )
    if selected:
        text += (
            ", and they treat each selected value as fixed: it was chosen on the tuning seeds (disjoint from "
            "these) on the same split, and the intervals leave out the chance that another value would have been "
            "selected"
        )
    return text + "."


def holm_family(activations: int) -> int:
    """How many tests Holm's correction of a cell with ``activations`` activations takes:
    every pair of them (``stats.paired_vs_best``)."""
    return activations * (activations - 1) // 2


def detectable_note(seeds: int, n_compared: int, alpha: float = ALPHA) -> str:
    """What "not separable from the best" can mean with ``seeds`` paired seeds and
    ``n_compared`` comparisons per cell: the minimum detectable effect at 80% power."""
    single = stats.min_detectable_effect(seeds, alpha)
    text = (
        f"With {seeds} seeds a paired t-test detects, with {stats.POWER:.0%} power at α = {alpha:g}, a difference "
        f"of {single:.2f} standard deviations of the seed-paired log ratios (d_z)"
    )
    if n_compared > 1:
        strict = stats.min_detectable_effect(seeds, alpha / n_compared)
        text += f"; at Holm's strictest step (α/{n_compared}) {strict:.2f}"
    return (
        text
        + ": smaller differences are usually not separable, so bold means not shown to differ, not shown to be equal."
    )


__all__ = [
    "CI_LABEL",
    "NO_SPREAD_NOTE",
    "STAT_COLUMNS",
    "TIED_NOTE",
    "bold_tied",
    "detectable_note",
    "holm_family",
    "loss_statistics",
    "main_notes",
    "no_spread_rows",
    "split_note",
    "with_statistics",
]
