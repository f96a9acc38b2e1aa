"""Claims decided by how the activations rank: ReLU is a strong default (claim 2), the
activation changes how well and how quickly an AE learns (claim 8), a ReLU encoder
compresses as well as the alternatives (A2). Friedman / Nemenyi over cells and the
paired comparison with each cell's best (:mod:`actcmp.analysis.stats`)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from actcmp.analysis import stats as stats
from actcmp.claims.checks.frames import (
    finished_runs,
    fmt_number,
    fmt_p,
    numeric,
)
from actcmp.claims.checks.verdict import FAILS, HOLDS, UNSURE, Verdict, combine, no_data

if TYPE_CHECKING:
    import pandas as pd


def _cell_shares(table: pd.DataFrame, candidate: str, treatment: str = "activation") -> tuple[float, float, int]:
    """(share of cells where ``candidate`` is shown within the margin of the best, whichever
    it is (the sample's best too must show it), share where it is significantly worse than the best, number of cells)."""
    mine = table[table[treatment] == candidate]
    if mine.empty:
        return math.nan, math.nan, 0
    return float(mine["equivalent"].mean()), float((~mine["tied"]).mean()), len(mine)


def check_relu_default(
    runs: pd.DataFrame,
    *,
    candidate: str = "relu",
    metric: str = "test_loss",
    margin: float = 0.1,
    alpha: float = stats.ALPHA,
) -> Verdict:
    """ReLU is a strong default. Needs activations to differ at all (Friedman p < alpha,
    with datasets as blocks where cells share a dataset: :func:`decision_p`; else
    inconclusive). Holds: ReLU is in the top group (mean rank within the
    Nemenyi CD of the best; over the datasets where the test is, so that the CD is not the
    optimistic one over cells of shared datasets) and, in at least half the cells, is shown to be
    within ``1 + margin`` of the best, whichever it is (:func:`~actcmp.analysis.paired.within_margin_of_all`:
    the sample's best must show it too). Does not hold: outside
    the top group, or significantly worse than the best (paired t) in more than half the
    cells. Inconclusive otherwise: too few seeds to show it is as good.
    """
    if "activation" not in runs or candidate not in set(runs["activation"]):
        return no_data(f"no {candidate} runs")
    result = stats.friedman(runs, metric, alpha=alpha)
    rank = result.mean_ranks.get(candidate, math.nan)
    statistic = f"mean rank of {candidate} (1 = best of {result.k})"
    if result.reason:
        return Verdict(UNSURE, statistic, rank, math.nan, f"Inconclusive: {result.reason}.")
    table = stats.paired_vs_best(runs, metric, alpha=alpha, margin=margin, scale=stats.scale_for(metric))
    as_good, worse, cells = _cell_shares(table, candidate)
    p_value, blocks = decision_p(result)
    over = result.decisive_blocks
    if over is not None:  # mean ranks and CD over the datasets, the blocks the test used
        rank = over.mean_ranks.get(candidate, math.nan)
        in_top = candidate in over.top_group()
        best, best_rank, cd, unit = next(iter(over.mean_ranks)), min(over.mean_ranks.values()), over.cd, "datasets"
        caveat = _cd_caveat(cd, len(over.mean_ranks), over.n_blocks, unit)
    else:
        in_top = candidate in result.top_group()
        best, best_rank, cd, unit = str(result.best), min(result.mean_ranks.values()), result.cd, "cells"
        caveat = _cd_caveat(cd, result.k, result.n_cells, unit)
    where = (
        f"{candidate} has mean rank {rank:.2f} over the {unit} (best {best}: {best_rank:.2f}, CD {cd:.2f}, "
        f"{'inside' if in_top else 'outside'} the top group{caveat}); it is shown within "
        f"{margin:.0%} of the best in {as_good:.0%} and significantly worse in {worse:.0%} of {cells} cells"
    )
    friedman = f"Friedman {result.p_prefix}{fmt_p(result.p_value)}" + (
        f"; with the {blocks} datasets as blocks, permutation {fmt_p(p_value)}" if blocks else ""
    )
    if not p_value < alpha:
        return Verdict(
            UNSURE,
            statistic,
            rank,
            p_value,
            f"Inconclusive: no activation separates from the others ({friedman}); {where}.",
        )
    lead = f"Activations differ ({friedman})"
    if not in_top or worse > 0.5:
        return Verdict(FAILS, statistic, rank, p_value, f"{lead} and {where}.")
    if as_good >= 0.5:
        return Verdict(HOLDS, statistic, rank, p_value, f"{lead} and {where}.")
    return Verdict(UNSURE, statistic, rank, p_value, f"{lead}; {where}: too few seeds to show it is as good.")


def _cd_caveat(cd: float, k: int, blocks: int, unit: str) -> str:
    """``""``, or a clause saying that the Nemenyi critical difference ``cd`` over ``blocks``
    blocks (``unit``) spans most of the range of mean ranks of ``k`` treatments (k - 1): at so
    few blocks the top group separates almost nothing, so being inside it is weak evidence
    (the CD shrinks as 1 / sqrt(blocks); with 7 activations on 3 datasets it is 5.20 of a
    possible 6)."""
    span = k - 1
    if not (math.isfinite(cd) and span > 0) or cd < span / 2:
        return ""
    return (
        f": with {blocks} {unit} the critical difference is {cd:.2f} of a possible {span} ranks, so the top group "
        "separates almost nothing and being inside it is weak evidence"
    )


def check_compression(
    runs: pd.DataFrame,
    *,
    candidate: str = "relu",
    metric: str = "test_loss",
    margin: float = 0.1,
    alpha: float = stats.ALPHA,
) -> Verdict:
    """A ReLU encoder compresses as well as the alternatives: at at least half the
    bottleneck sizes (cells) it is shown to be within ``1 + margin`` of the best,
    whichever it is (:func:`~actcmp.analysis.paired.within_margin_of_all`). Does not hold when it is
    significantly worse than the best (paired t) at more than half of them; inconclusive
    otherwise."""
    if "activation" not in runs or candidate not in set(finished_runs(runs)["activation"]):
        return no_data(f"no {candidate} runs")
    table = stats.paired_vs_best(runs, metric, alpha=alpha, margin=margin, scale=stats.scale_for(metric))
    as_good, worse, cells = _cell_shares(table, candidate)
    mine = table[table["activation"] == candidate]
    best = ", ".join(sorted({str(b) for b in mine["best"] if b is not None}))
    ratio = float(np.exp(np.mean(np.log(mine["mean"] / (mine["mean"] - mine["mean_diff"])))))
    text = (
        f"{candidate}'s error is {ratio:.2f}x the best activation's ({best}) on average; it is shown within "
        f"{margin:.0%} of it at {as_good:.0%} and significantly worse at {worse:.0%} of {cells} bottleneck sizes"
    )
    statistic = f"share of bottleneck sizes where {candidate} is as good as the best (p: its smallest Holm-adjusted p against a size's best)"
    p_values = mine["p_adjusted"].dropna()
    p_min = float(p_values.min()) if len(p_values) else math.nan
    if as_good >= 0.5:
        return Verdict(HOLDS, statistic, as_good, p_min, text + ".")
    if worse > 0.5:
        return Verdict(FAILS, statistic, as_good, p_min, text + ".")
    return Verdict(UNSURE, statistic, as_good, p_min, text + ": not decisive at this sample size.")


# -- claim 8: the activation changes how well and how quickly -----------------------------------
def check_activation_matters(runs: pd.DataFrame, *, margin: float = 0.1, alpha: float = stats.ALPHA) -> Verdict:
    """The activation changes both how well (test loss) and how quickly (epochs to reach
    the loss threshold; never reached counts as ``epochs + 1``, diverged as worst) an AE
    learns. Each part holds when the Friedman test has p < alpha; does not hold when
    p >= alpha and every activation is shown within a factor ``1 + margin`` of every other in
    every cell (:func:`negligible`: an equivalence test over the seeds, so "within noise" is a
    finding, not the absence of one; a censored speed is never shown); inconclusive otherwise. Where cells share a dataset (its depths),
    p is that of the test with datasets as blocks (``FriedmanResult.by_dataset``, a
    permutation p): cells of one dataset are not independent, and the p over cells would be
    optimistic. Kendall's W over cells is shown, not decided on: a small W was "does not
    hold" before, which a real 10% difference at 5 seeds got 29% of the time."""
    if runs.empty or "activation" not in runs:
        return no_data()
    censored = runs.assign(_censor=numeric(runs, "epochs") + 1)
    parts = []
    results = {}
    for metric, label, fill in (
        ("test_loss", "how well (test loss)", None),
        ("epochs_to_threshold", "how quickly (epochs to threshold)", "_censor"),
    ):
        result = stats.friedman(censored, metric, fill_missing=fill, alpha=alpha)
        p_value, blocks = decision_p(result)
        results[metric] = p_value
        text = (
            f"{label}: Friedman chi2 = {fmt_number(result.statistic)} over {result.n_cells} cells and {result.k} "
            f"activations ({result.p_prefix}{fmt_p(result.p_value)}, Kendall's W = "
            f"{fmt_number(result.kendall_w, 2)})"
        )
        # W stays the cells' (agreement of the order across every condition): over 2-4 datasets W
        # is large by chance alone (about 1 / datasets when nothing differs), so it cannot say
        # "within noise"; the floor keeps a test that could not reject from saying "does not hold"
        floor = result.floor  # the permutation's over cells (under 10), else 0
        if result.decisive_blocks is not None:
            floor = result.decisive_blocks.floor
            text += f"; with the {blocks} datasets as blocks, permutation {fmt_p(p_value)}"
        if result.reason:
            parts.append(Verdict(UNSURE, "Friedman p", math.nan, explanation=f"{label}: {result.reason}.", label=label))
        elif p_value < alpha:
            parts.append(Verdict(HOLDS, "Friedman p", p_value, p_value, text + ".", label=label))
        elif (shown := negligible(censored, metric, fill, margin, alpha))[0]:
            parts.append(
                Verdict(
                    FAILS,
                    "Friedman p",
                    p_value,
                    p_value,
                    text + f": in every cell every activation is shown within {margin:.0%} of every other (equivalence "
                    f"p = {fmt_number(shown[1], 2)}).",
                    label=label,
                )
            )
        elif floor >= alpha:
            parts.append(
                Verdict(
                    UNSURE,
                    "Friedman p",
                    p_value,
                    p_value,
                    text
                    + f": with {blocks} datasets the test cannot reach p < {alpha:g} (smallest p {fmt_number(floor, 2)}).",
                    label=label,
                )
            )
        else:
            parts.append(
                Verdict(
                    UNSURE, "Friedman p", p_value, p_value, text + ": not significant at this sample size.", label=label
                )
            )
    lead = results["test_loss"]
    return combine(parts, "Friedman p (test loss)", lead, lead)


def negligible(
    runs: pd.DataFrame, metric: str, fill: str | None, margin: float = 0.1, alpha: float = stats.ALPHA
) -> tuple[bool, float]:
    """``(shown, p)``: is every activation within a factor ``1 + margin`` of every other on
    ``metric``, in every cell? In each cell, for each activation, the intersection-union test
    that it is no more than ``1 + margin`` worse than any other, paired by seed
    (:func:`~actcmp.analysis.paired.within_margin_of_all`); shown when every test of every
    cell rejects, ``p`` the largest. Not averaged over cells: opposite effects in two cells
    (2x better in one, 2x worse in the other) would cancel. A diverged run, a converged run
    without a value (``fill``: censored, e.g. a threshold never reached) or a value that is
    not positive: not shown."""
    if "status" in runs and metric in runs:
        done = runs[runs["status"] == "done"]
        if bool(numeric(done, metric).isna().any()):
            return False, math.nan  # censored: a filled value is a bound, not a measurement
    data = stats.outcomes(runs, metric, fill_missing=fill)
    if data.empty or bool(data["worst"].any()) or not bool((data["value"] > 0).all()):
        return False, math.nan
    keys = [c for c in data.columns if c not in ("activation", "seed", "value", "worst")]
    largest = 0.0
    for _, cell in data.groupby(keys, sort=False, dropna=False) if keys else [((), data)]:
        for name in cell["activation"].unique():
            within, p = stats.within_margin_of_all(cell, name, "activation", margin, alpha)
            if not within:
                return False, p
            largest = max(largest, p)
    return True, largest


def decision_p(result: stats.FriedmanResult) -> tuple[float, int]:
    """The p value a claim decides on: with datasets as blocks where cells share a dataset
    (and that test ran), else over cells; and the number of datasets (0: over cells)."""
    blocks = result.decisive_blocks
    return result.decision_p, blocks.n_blocks if blocks is not None else 0


__all__ = [
    "check_activation_matters",
    "check_compression",
    "check_relu_default",
    "negligible",
]
