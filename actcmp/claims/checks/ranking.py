"""Claims decided by how the activations rank: ReLU is a strong default (claim 2), the
activation changes how well and how quickly an AE learns (claim 8), a ReLU encoder
compresses as well as the alternatives (A2). Friedman / Nemenyi over cells, the paired
comparison with each cell's best (:mod:`actcmp.analysis.stats`) and, for claim 2, the
candidate's own comparisons with every other activation of the cell (:func:`versus_others`)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from actcmp.analysis import stats as stats
from actcmp.analysis.cells import cell_groups
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


# -- claim 2: the candidate against each other activation of its cell -----------------------------
#: the columns of :func:`versus_others` after the cell keys
VERSUS_COLUMNS = ("others", "worse", "worse_than", "p_worse", "equivalent", "p_equivalence")


def one_sided_worse_p(mine: np.ndarray, mine_worst: np.ndarray, theirs: np.ndarray, their_worst: np.ndarray) -> float:
    """The one-sided p-value that ``mine`` is worse (larger) than ``theirs``, paired by seed
    (values on the scale tested, e.g. log losses; a ``*_worst`` seed diverged, its value
    ignored): :func:`~actcmp.analysis.paired.paired_with_divergence` with one side.

    Over the seeds where both converged, the one-sided paired t-test (H1: mean difference
    > 0); identical differences on every seed have no t statistic and are decided as its
    limit (0 when they are positive, else 1). Where exactly one of the two diverged on some
    seed, also the exact one-sided signed-rank test over every seed where at least one
    converged (a diverged seed a difference larger than every finite one, towards the
    diverged side), the two combined by Bonferroni (twice the smaller p; the rank test alone
    where the t-test has fewer than 2 seeds). NaN where no test can be made (it then stays
    out of Holm's family)."""
    from scipy.special import stdtr

    x, y = np.asarray(mine, dtype=float), np.asarray(theirs, dtype=float)
    xw, yw = np.asarray(mine_worst, dtype=bool), np.asarray(their_worst, dtype=bool)
    both = ~xw & ~yw
    finite = x[both] - y[both]
    p_t = math.nan
    if len(finite) >= 2:
        spread = float(finite.std(ddof=1))
        scale = max(float(np.abs(x[both]).max()), float(np.abs(y[both]).max()), 1e-300)
        if spread <= 1e-12 * scale:
            p_t = 0.0 if float(finite.mean()) > 1e-12 * scale else 1.0
        else:
            t = float(finite.mean() / (spread / math.sqrt(len(finite))))
            p_t = float(stdtr(len(finite) - 1, -t))
    one = xw ^ yw
    if not one.any():
        return p_t
    big = 2.0 * float(np.abs(finite).max()) + 1.0 if finite.size else 1.0
    diff = np.concatenate([finite, np.where(xw, big, -big)[one]])
    if len(diff) < 2 or not np.any(diff):
        return p_t
    p_rank = stats.signed_rank_sides(diff)[1]
    return p_rank if not math.isfinite(p_t) else min(1.0, 2.0 * min(p_t, p_rank))


def versus_others(
    runs: pd.DataFrame,
    candidate: str = "relu",
    metric: str = "test_loss",
    *,
    margin: float = 0.1,
    alpha: float = stats.ALPHA,
    treatment: str = "activation",
) -> pd.DataFrame:
    """Per cell where ``candidate`` ran: is it significantly worse than another activation
    of the cell, and is it shown within ``1 + margin`` of every other?

    *Worse*: for each other activation, the one-sided paired test that ``candidate`` is worse
    (:func:`one_sided_worse_p`, on log values for a loss, :func:`~actcmp.analysis.paired.scale_for`,
    as :func:`~actcmp.analysis.paired.paired_vs_best` tests), Holm-adjusted over those
    comparisons only (``others`` of them: the pre-specified candidate against each other
    activation, no "best" chosen from the data, so the family is fixed before the data are
    seen and Holm controls the family-wise error over it); ``worse`` when the smallest
    adjusted p (``p_worse``) is below ``alpha``, ``worse_than`` the activations it is worse
    than (name and adjusted p, smallest first). *Equivalent*: the intersection-union test of
    :func:`~actcmp.analysis.paired.within_margin_of_all` (shown within the margin of every
    other activation, so of the best whichever it is; ``p_equivalence`` its largest p)."""
    import pandas as pd

    keys = stats.cell_keys(runs, treatment)
    columns = [*keys, *VERSUS_COLUMNS]
    if runs.empty or treatment not in runs:
        return pd.DataFrame(columns=columns)
    data = stats.outcomes(runs, metric, treatment=treatment, keys=keys)
    rows = []
    for key, group in cell_groups(data, keys):
        if candidate not in set(group[treatment]):
            continue
        converged = group.loc[~group["worst"], "value"].to_numpy(float)
        log = stats.scale_for(metric) == "log" and bool(len(converged)) and bool((converged > 0).all())
        values = group.pivot(index=treatment, columns="seed", values="value")
        worst = group.pivot(index=treatment, columns="seed", values="worst")
        matrix = values.to_numpy(float)
        if log:
            with np.errstate(invalid="ignore", divide="ignore"):  # diverged seeds (NaN) are not used
                matrix = np.log(matrix)
        ran, diverged = worst.notna().to_numpy(), (worst == True).to_numpy()  # noqa: E712 - NaN: no run
        me = list(values.index).index(candidate)
        others, p_values = [], []
        for j, other in enumerate(values.index):
            if j == me:
                continue
            seeds = ran[me] & ran[j]
            others.append(other)
            p_values.append(
                one_sided_worse_p(matrix[me, seeds], diverged[me, seeds], matrix[j, seeds], diverged[j, seeds])
            )
        adjusted = stats.holm(p_values) if p_values else np.array([])
        tested = [(float(a), str(o)) for a, o in zip(adjusted, others, strict=True) if math.isfinite(a)]
        smallest = min(tested)[0] if tested else math.nan
        within, p_within = stats.within_margin_of_all(group, candidate, treatment, margin, alpha)
        rows.append(
            {
                **dict(zip(keys, key, strict=True)),
                "others": len(tested),
                "worse": bool(smallest < alpha),
                "worse_than": tuple((o, a) for a, o in sorted(tested) if a < alpha),
                "p_worse": smallest,
                "equivalent": bool(within),
                "p_equivalence": p_within,
            }
        )
    return pd.DataFrame(rows, columns=columns)


def versus_others_table(
    runs: pd.DataFrame,
    candidate: str = "relu",
    metric: str = "test_loss",
    *,
    margin: float = 0.1,
    alpha: float = stats.ALPHA,
) -> pd.DataFrame:
    """:func:`versus_others` for the report: one row per cell, its columns naming the family
    each test is over (for a table beside claim 2's verdict)."""
    import pandas as pd

    table = versus_others(runs, candidate, metric, margin=margin, alpha=alpha)
    keys = [c for c in table.columns if c not in VERSUS_COLUMNS]
    rows = []
    for row in table.to_dict("records"):
        worse_than = ", ".join(f"{name} (p = {fmt_number(p, 2)})" for name, p in row["worse_than"])
        rows.append(
            {
                **{k: row[k] for k in keys},
                f"{candidate} compared with": f"{row['others']} others",
                f"significantly worse than (one-sided paired t on log {metric}, Holm over {candidate}'s "
                "comparisons in the cell)": worse_than or "–",
                "smallest Holm p": fmt_number(row["p_worse"], 2),
                f"within {margin:.0%} of every other (IUT p)": ("yes" if row["equivalent"] else "no")
                + f" ({fmt_number(row['p_equivalence'], 2)})",
            }
        )
    return pd.DataFrame(rows)


def _cell_name(row: dict[str, Any], keys: list[str]) -> str:
    """``digits at depth 4`` (the dataset, then the other keys as ``name value``)."""
    first = [str(row[k]) for k in keys if k == "dataset"]
    rest = [f"{k} {row[k]}" for k in keys if k != "dataset"]
    return " at ".join([*first, ", ".join(rest)] if first and rest else [*first, *rest]) or "the cell"


def _worse_detail(table: pd.DataFrame) -> str:
    """``"; digits at depth 4: than elu (Holm p = 0.0087); ..."``: the cells where the
    candidate is significantly worse, each with the activations it is worse than."""
    keys = [c for c in table.columns if c not in VERSUS_COLUMNS]
    parts = []
    for row in table[table["worse"]].to_dict("records"):
        than = ", ".join(f"{name} (Holm p = {fmt_number(p, 2)})" for name, p in row["worse_than"])
        parts.append(f"{_cell_name(row, keys)}: than {than}")
    return f"; {'; '.join(parts)}" if parts else ""


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
    inconclusive). Does not hold: significantly worse than another activation of the cell in
    more than half the cells (:func:`versus_others`: one-sided paired tests of ReLU against
    each other activation, Holm over those comparisons), or outside the top group (mean rank
    beyond the Nemenyi CD of the best, over the datasets where the test is, so that the CD is
    not the optimistic one over cells of shared datasets). Holds: otherwise, when in at
    least half the cells it is shown within ``1 + margin`` of every other activation, so of
    the best whichever it is (:func:`~actcmp.analysis.paired.within_margin_of_all`).
    Inconclusive otherwise: too few seeds to show it is as good.

    Being inside the top group is not a condition for "holds": with 3 datasets the CD spans
    5.2 of 6 ranks, so nearly every activation is inside it, and not being shown to rank
    worse is no evidence of being as good (it was a condition, and never the deciding one:
    outside the top group decided "does not hold" first). Outside it still decides "does not
    hold": Nemenyi's CD covers every pair, so a best picked from the data is allowed for.

    Before this change "significantly worse" was against the cell's best, Holm over all
    k (k - 1) / 2 pairs (the best being picked from the same data): a family of 21 tests
    at 7 activations, which at 5 seeds could not separate a ReLU 20% worse than one
    activation. ReLU is the pre-specified candidate, so its own k - 1 comparisons are a
    family fixed before the data, with no selection to correct for. The change was made
    after the stored runs had been seen (the texts say so).
    """
    if "activation" not in runs or candidate not in set(runs["activation"]):
        return no_data(f"no {candidate} runs")
    result = stats.friedman(runs, metric, alpha=alpha)
    rank = result.mean_ranks.get(candidate, math.nan)
    statistic = f"mean rank of {candidate} (1 = best of {result.k})"
    if result.reason:
        return Verdict(UNSURE, statistic, rank, math.nan, f"Inconclusive: {result.reason}.")
    table = versus_others(runs, candidate, metric, margin=margin, alpha=alpha)
    cells = len(table)
    n_good, n_worse = int(table["equivalent"].sum()), int(table["worse"].sum())
    as_good = n_good / cells if cells else math.nan
    worse = n_worse / cells if cells else math.nan
    sizes = sorted({int(n) for n in table["others"]})
    family = f"{sizes[0]}" if len(sizes) == 1 else f"{sizes[0]}-{sizes[-1]}" if sizes else "0"
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
        f"{'inside' if in_top else 'outside'} the top group{caveat}); it is shown within {margin:.0%} of every "
        f"other activation in {n_good} of {cells} cells and significantly worse than another activation of the "
        f"cell in {n_worse} of {cells} (one-sided paired t-tests of log {metric.replace('_', ' ')}, {candidate} "
        f"against each of the {family} others, Holm over those {family}{_worse_detail(table)})"
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
    statistic = f"share of bottleneck sizes where {candidate} is as good as the best"
    # the p that decides: the verdict needs k sizes to reject, so the k-th smallest p of that test
    needed_good, needed_worse = math.ceil(cells / 2), cells // 2 + 1
    if as_good >= 0.5:
        p = _kth_smallest(mine["p_equivalence"], needed_good)
        said = f" (p: the within-{margin:.0%} test's {_smallest(needed_good)} p of the {cells} sizes)"
        return Verdict(HOLDS, statistic + said, as_good, p, text + ".")
    if worse > 0.5:
        p = _kth_smallest(mine["p_adjusted"], needed_worse)
        said = f" (p: the {_smallest(needed_worse)} Holm-adjusted p against a size's best, of {cells})"
        return Verdict(FAILS, statistic + said, as_good, p, text + ".")
    return Verdict(UNSURE, statistic, as_good, math.nan, text + ": not decisive at this sample size.")


def _kth_smallest(values: pd.Series, k: int) -> float:
    """The ``k``-th smallest of ``values`` (NaN dropped); NaN where fewer than ``k``."""
    import pandas as pd

    finite = np.sort(pd.to_numeric(values, errors="coerce").dropna().to_numpy(float))
    return float(finite[k - 1]) if 0 < k <= len(finite) else math.nan


def _smallest(k: int) -> str:
    """ "smallest", "2nd smallest", ...: which p decides when ``k`` tests must reject."""
    if k == 1:
        return "smallest"
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix} smallest"


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
    # both parts must hold (an intersection-union rule): the p that decides is the larger one
    binding = max(results.values())
    return combine(parts, "Friedman p, the larger of the two parts' (both must hold)", binding, binding)


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
    "one_sided_worse_p",
    "versus_others",
    "versus_others_table",
]
