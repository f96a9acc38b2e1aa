"""Per cell: each treatment against the cell's best, paired by seed (:func:`paired_vs_best`),
Holm's correction, equivalence and trend tests, and the power of a paired test over few
seeds. Pure functions on the runs frame; see :mod:`actcmp.analysis.stats` for the conventions."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from actcmp.analysis.cells import ALPHA, cell_groups, cell_keys, outcomes

if TYPE_CHECKING:
    import pandas as pd

#: how the within-cell comparisons against the best are corrected for multiplicity
CORRECTION = "Holm"
#: the power at which :func:`min_detectable_effect` is stated
POWER = 0.8


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values (step-down Bonferroni, Holm 1979), in the input order.

    With the m finite p-values sorted ascending, p_(i) becomes
    ``max_{j <= i} min(1, (m - j + 1) p_(j))``; rejecting where the adjusted p < alpha
    controls the family-wise error rate at alpha. NaN entries (no test) stay NaN and do
    not count in m."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = len(finite)
    if m == 0:
        return out
    order = finite[np.argsort(p[finite], kind="mergesort")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def min_detectable_effect(n: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """The smallest standardised paired difference ``d_z`` (mean difference / std of the
    seed-paired differences) that a two-sided paired t-test over ``n`` seeds detects with
    probability ``power`` at level ``alpha`` (noncentral t, df = n - 1). NaN below 2 seeds.
    E.g. alpha 0.05, 80% power: d_z = 3.26 with 3 seeds, 1.68 with 5, 1.00 with 10."""
    from scipy import optimize, stats

    if n < 2:
        return math.nan
    df = n - 1
    critical = float(stats.t.ppf(1 - alpha / 2, df))

    def shortfall(d: float) -> float:
        shift = d * math.sqrt(n)
        # the far tail underflows to NaN in scipy for large shifts at df 1: it is ~0 there
        upper, lower = (
            float(np.nan_to_num(v)) for v in (stats.nct.sf(critical, df, shift), stats.nct.cdf(-critical, df, shift))
        )
        reached = upper + lower
        return reached - power

    high = 1.0
    while shortfall(high) < 0:
        high *= 2
    return float(optimize.brentq(shortfall, 0.0, high, xtol=1e-6))


#: the note of a paired test whose differences were the same on every seed (no t-test: no spread)
NO_SPREAD = (
    "the same difference on every seed: no spread, so no t statistic; decided as the t-test's limit (its p goes to 0 "
    "as the spread shrinks)"
)


@dataclass(frozen=True)
class PairedTest:
    """A paired comparison ``a - b`` over ``n`` seeds."""

    n: int
    mean_diff: float
    d_z: float
    statistic: float
    p_value: float
    test: str
    note: str = ""


def paired_test(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, test: str = "t") -> PairedTest:
    """Paired test of ``a`` against ``b`` (same seeds, same order), two-sided.

    ``test="t"``: the paired t-test, ``scipy.stats.ttest_rel``'s statistic and p-value
    (computed directly, :func:`_t_statistic`; what 3 seeds allow; it assumes roughly normal
    differences, which 3 seeds cannot check). ``test="wilcoxon"``: signed-rank test, which
    needs 6 or more pairs to reach p < 0.05 at all. Effect size: Cohen's d_z = mean
    difference / std of differences. Identical differences on every seed (zero spread)
    have no t statistic (0/0): p = 1 when they are all zero; else the t-test's limit, p = 0
    (as the spread of nearly equal differences shrinks, their t-test's p goes to 0: deciding
    them otherwise would make equal seeds weaker evidence than nearly equal ones), ``d_z``
    ±inf and a note saying so (:data:`NO_SPREAD`), which the report shows as untested rather
    than as a p of 0.
    """
    from scipy import stats

    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diff = x - y
    n = len(diff)
    mean = float(diff.mean()) if n else math.nan
    if n < 2:
        return PairedTest(
            n, mean, math.nan, math.nan, math.nan, test, f"{n} paired seed{'s' if n != 1 else ''}: no test"
        )
    spread = float(diff.std(ddof=1))
    scale = max(float(np.abs(x).max()), float(np.abs(y).max()), 1e-300)
    if spread <= 1e-12 * scale:
        if abs(mean) <= 1e-12 * scale:
            return PairedTest(n, 0.0, 0.0, 0.0, 1.0, test, "identical on every seed")
        inf = math.copysign(math.inf, mean)  # the t-test's limit: equal seeds are no weaker than nearly equal ones
        return PairedTest(n, mean, inf, inf, 0.0, test, NO_SPREAD)
    d_z = mean / spread
    if test == "wilcoxon":
        result = stats.wilcoxon(x, y)
        note = "" if n >= 6 else f"{n} pairs: the signed-rank test cannot reach p < 0.05"
        return PairedTest(n, mean, d_z, float(result.statistic), float(result.pvalue), test, note)
    if test != "t":
        raise ValueError(f"unknown paired test {test!r} (use 't' or 'wilcoxon')")
    statistic = _t_statistic(diff, 0.0)
    note = "" if n >= 5 else f"{n} seeds: low power"
    return PairedTest(n, mean, d_z, statistic, _t_tail(n, -abs(statistic)) * 2, test, note)


def paired_with_divergence(
    a: np.ndarray,
    a_worst: np.ndarray,
    b: np.ndarray,
    b_worst: np.ndarray,
    test: str = "t",
    *,
    higher_is_better: bool = False,
) -> PairedTest:
    """Paired test of ``a`` against ``b`` over seeds where a run may have diverged
    (``a_worst``/``b_worst``; its value is ignored): two-sided, divergence the worst outcome.

    Where no seed has exactly one of the two diverged, :func:`paired_test` (``test``) over the
    seeds where both converged. Otherwise also the exact signed-rank test
    (:func:`signed_rank_exact`) over every seed where at least one converged: a seed where
    only one diverged is a difference larger than every finite one, towards the diverged side
    (worse); a seed where both diverged is a tie and drops out. The two are combined by
    Bonferroni (twice the smaller p), so a divergence on the worse side never turns a clear
    difference on the converged seeds into a tie; where the paired test has too few seeds, the
    rank test alone (with 3 seeds its floor is 0.25, with 6 seeds all worse gives 0.031).
    ``n`` counts the seeds tested; ``mean_diff`` and ``d_z`` are over both-converged seeds."""

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    a_worst, b_worst = np.asarray(a_worst, dtype=bool), np.asarray(b_worst, dtype=bool)
    both = ~a_worst & ~b_worst
    plain = paired_test(a[both], b[both], test)
    one = a_worst ^ b_worst
    if not one.any():
        return plain
    finite = a[both] - b[both]
    big = 2.0 * float(np.abs(finite).max()) + 1.0 if finite.size else 1.0
    worse = 1.0 if not higher_is_better else -1.0  # the sign of "a is worse than b"
    diff = np.where(a_worst, worse * big, -worse * big)[one]
    diff = np.concatenate([finite, diff])
    n = len(diff)
    note = f"diverged on {int(a_worst[one].sum())} vs {int(b_worst[one].sum())} seed(s)"
    if plain.note == NO_SPREAD:  # said, so that a reader of the note knows the t-test part had no spread
        note = f"{note}; where both converged, {NO_SPREAD}"
    if n < 2 or not np.any(diff):
        return PairedTest(n, plain.mean_diff, plain.d_z, math.nan, math.nan, "signed-rank", note + "; no test")
    statistic, p_rank = signed_rank_exact(diff)
    if not math.isfinite(plain.p_value):
        return PairedTest(n, plain.mean_diff, plain.d_z, statistic, p_rank, "signed-rank", note + ": divergence worst")
    # the t-test of the both-converged seeds and the rank test with the divergences, Bonferroni:
    # a divergence on the worse side must never turn a clear difference into a tie (the rank test
    # alone cannot reach 0.05 at 5 seeds)
    p_value = min(1.0, 2.0 * min(plain.p_value, p_rank))
    return PairedTest(
        n, plain.mean_diff, plain.d_z, statistic, p_value, "t + signed-rank", note + ": both tests, Bonferroni"
    )


def signed_rank_sides(diffs: np.ndarray, exact_up_to: int = 20) -> tuple[float, float]:
    """``(p below, p above)``: one-sided one-sample Wilcoxon signed-rank tests of ``diffs``
    against 0 (zeros dropped, ties at mid-ranks). Only the order of the magnitudes
    matters, so ``-inf`` is simply the most negative difference. Exact (the null
    distribution of the positive rank sum over every sign pattern, counted by
    :func:`_rank_sum_counts`) up to ``exact_up_to`` differences, else the normal
    approximation with the tie-corrected variance. Every difference on one side: the exact
    p on that side is 2^-n, never 0. The one signed-rank test of the package: the claims'
    tests against a bound (``claims.checks.ranktests.signed_rank``) and :func:`signed_rank_exact`
    (two-sided) use it."""
    from scipy import stats as sps

    diffs = np.asarray(diffs, dtype=float)
    d = diffs[diffs != 0]
    n = len(d)
    if n == 0:
        return 1.0, 1.0
    ranks = sps.rankdata(np.abs(d))
    if n <= exact_up_to:
        doubled = np.rint(2 * ranks).astype(int)  # mid-ranks are halves: twice them are whole
        counts = _rank_sum_counts(doubled)
        observed = int(doubled[d > 0].sum())
        total = counts.sum()
        return float(counts[: observed + 1].sum() / total), float(counts[observed:].sum() / total)
    w_plus = float(ranks[d > 0].sum())
    mean, sd = float(ranks.sum()) / 2, math.sqrt(float((ranks**2).sum()) / 4)
    return float(sps.norm.cdf((w_plus - mean + 0.5) / sd)), float(sps.norm.sf((w_plus - mean - 0.5) / sd))


def _rank_sum_counts(ranks: np.ndarray) -> np.ndarray:
    """``counts[s]``: how many of the 2^n sign patterns give the (whole) ``ranks`` of the
    positive differences the sum ``s`` (the exact null distribution of the signed-rank
    statistic, ties included; the same as enumerating every pattern, without 2^n rows)."""
    counts = np.zeros(int(ranks.sum()) + 1)
    counts[0] = 1.0
    for rank in ranks:
        shifted = np.zeros_like(counts)
        shifted[rank:] = counts[: len(counts) - rank]
        counts = counts + shifted
    return counts


def signed_rank_exact(diff: np.ndarray) -> tuple[float, float]:
    """``(W+, p)``: Wilcoxon's signed-rank test of ``diff`` against 0, two-sided (twice the
    smaller one-sided p of :func:`signed_rank_sides`, capped at 1: the null distribution is
    symmetric); zeros dropped (Wilcoxon's rule), ties given average ranks, p exact up to 20
    non-zero differences (scipy's exact method ignores ties), beyond that the normal
    approximation with the tie-corrected variance and a continuity correction."""
    from scipy import stats

    d = np.asarray(diff, dtype=float)
    d = d[d != 0]
    if len(d) == 0:
        return math.nan, math.nan
    observed = float(stats.rankdata(np.abs(d))[d > 0].sum())
    below, above = signed_rank_sides(d)
    return observed, min(1.0, 2.0 * min(below, above))


def _t_statistic(values: np.ndarray, mu: float) -> float:
    """The one-sample t statistic of ``values`` against ``mu``: ``scipy.stats.ttest_1samp``'s
    (and, on paired differences, ``ttest_rel``'s) formula, without their argument handling
    (about 1 ms a call; the report tests every pair of every cell). With :func:`_t_tail`,
    their p-values within 3e-15 relative (``tests/test_stats.py``)."""
    return float((values.mean() - mu) / (values.std(ddof=1) / math.sqrt(len(values))))


def _t_tail(n: int, statistic: float) -> float:
    """``P(T <= statistic)`` for Student's t with ``n - 1`` degrees of freedom."""
    from scipy.special import stdtr

    return float(stdtr(n - 1, statistic))


def equivalence_test(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, margin: float = 0.1, alpha: float = ALPHA
) -> tuple[bool, float]:
    """``(within, p)``: are paired positive ``a`` and ``b`` equal within a factor ``1 + margin``?

    Two one-sided tests (TOST) on the paired log ratios ``log(a / b)`` against the bounds
    ``+-log(1 + margin)``, each a one-sided ``scipy.stats.ttest_1samp`` (its formula,
    :func:`_t_statistic`); ``p`` is the
    larger of the two and ``within`` is ``p < alpha``. Identical log ratios on every seed
    have no t statistic (zero spread): they are decided as the t-tests' limit, p 0 inside the
    bounds and 1 outside (:func:`_no_spread_p`); fewer than 2 pairs or non-positive values
    give ``(False, nan)``.
    """

    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(x) < 2 or (x <= 0).any() or (y <= 0).any():
        return False, math.nan
    diff, bound = np.log(x) - np.log(y), math.log1p(margin)
    if np.ptp(diff) <= 1e-12 * max(1.0, float(np.abs(diff).max())):
        p_value = _no_spread_p(abs(float(diff.mean())) < bound)
        return bool(p_value < alpha), p_value
    n = len(diff)
    upper = _t_tail(n, _t_statistic(diff, bound))  # H1: mean < bound
    lower = _t_tail(n, -_t_statistic(diff, -bound))  # H1: mean > -bound
    p_value = max(upper, lower)
    return bool(p_value < alpha), p_value


def _no_spread_p(inside: bool) -> float:
    """The one-sided p of ``n`` paired log ratios that are all the same, against a bound: no t
    statistic exists (zero spread); the t-test's limit as the spread shrinks, 0 on their side
    and 1 on the other, so that equal seeds never count as weaker evidence than nearly equal
    ones (a review: an exact floor of 1/2^n here made 3 equal seeds "not shown" where 3 nearly
    equal ones were shown at p = 1e-10)."""
    return 0.0 if inside else 1.0


def within_margin_of_all(
    group: pd.DataFrame,
    name: Any,
    treatment: str,
    margin: float = 0.1,
    alpha: float = ALPHA,
    *,
    higher_is_better: bool = False,
) -> tuple[bool, float]:
    """``(within, p)``: is ``name`` shown to be no more than a factor ``1 + margin`` worse than
    every other treatment of the cell ``group`` (an :func:`~actcmp.analysis.cells.outcomes`
    frame of positive values), and so within ``1 + margin`` of the best, whichever it is?

    An intersection-union test (Berger 1982): for each other treatment, the one-sided paired
    t-test over the seeds where both converged that the mean log ratio (this over the other,
    the other over this when ``higher_is_better``) is below ``log(1 + margin)``; ``within``
    when every one rejects at ``alpha``, with ``p`` the largest of their p-values (no
    multiplicity correction is needed: all must reject). Being the best of the sample is no
    evidence of being within the margin of the best: at a true ratio of exactly ``1 +
    margin`` the sample best's "within" would hold by selection alone (22% of cells at 3
    seeds and a 0.2 spread of log ratios), this test's at most ``alpha``. Log ratios with no
    spread have no t statistic: decided as the t-test's limit, p 0 below the bound, 1 above
    (:func:`_no_spread_p`), as :func:`equivalence_test` does.

    Not within (``p`` NaN) when ``name`` diverged on a seed where the other converged, or
    fewer than 2 seeds pair up with a treatment that converged somewhere; a treatment that
    diverged on every seed is no threat (its outcome is the worst)."""
    values = group.pivot(index=treatment, columns="seed", values="value")
    worst = group.pivot(index=treatment, columns="seed", values="worst")
    if name not in values.index:
        return False, math.nan
    bound = math.log1p(margin)
    mine, mine_worst = values.loc[name].to_numpy(float), (worst.loc[name] == True).to_numpy()  # noqa: E712
    ran = worst.loc[name].notna().to_numpy()
    largest, tested = 0.0, False
    for other in values.index:
        if other == name:
            continue
        theirs = values.loc[other].to_numpy(float)
        their_worst = (worst.loc[other] == True).to_numpy()  # noqa: E712 - True, not missing
        seeds = ran & worst.loc[other].notna().to_numpy()
        if not seeds.any():
            return False, math.nan  # no seed in common: nothing shown
        if not (seeds & ~their_worst).any():
            tested = True
            continue  # diverged wherever both ran: no threat (its outcome is the worst)
        if (seeds & mine_worst & ~their_worst).any():
            return False, math.nan
        both = seeds & ~mine_worst & ~their_worst
        x, y = mine[both], theirs[both]
        if len(x) < 2 or (x <= 0).any() or (y <= 0).any():
            return False, math.nan
        ratio = np.log(y) - np.log(x) if higher_is_better else np.log(x) - np.log(y)
        if np.ptp(ratio) <= 1e-12 * max(1.0, float(np.abs(ratio).max())):
            p = _no_spread_p(float(ratio.mean()) < bound)
        else:
            p = _t_tail(len(ratio), _t_statistic(ratio, bound))
        largest = max(largest, p)
        tested = True
    if not tested:
        return False, math.nan  # no comparison could be made
    return bool(largest < alpha), largest


def trend_test(frame: pd.DataFrame, factor: str, value: str, blocks: Sequence[str]) -> tuple[float, float, int, str]:
    """Does ``value`` rise with the ordered levels of ``factor``, blocked by ``blocks``?

    Returns ``(p_increasing, p_decreasing, n_blocks, method)``. Three or more levels:
    Page's L test (``scipy.stats.page_trend_test``) on the blocks observed at every level
    (each direction tested on its own). Two levels: a paired t-test between them. Fewer
    than two levels or two blocks: NaN with the reason as ``method``.
    """
    from scipy import stats

    levels = sorted(frame[factor].dropna().unique())
    if len(levels) < 2:
        return math.nan, math.nan, 0, f"{factor} not varied"
    wide = frame.pivot_table(index=list(blocks), columns=factor, values=value, aggfunc="mean") if blocks else None
    if wide is None:
        return math.nan, math.nan, 0, "no blocks"
    wide = wide.dropna(axis=0, how="any")
    if len(wide) < 2:
        return math.nan, math.nan, len(wide), "fewer than 2 complete blocks"
    data = wide[levels].to_numpy(dtype=float)
    if len(levels) == 2:
        result = paired_test(data[:, 1], data[:, 0])
        if not math.isfinite(result.p_value):
            return math.nan, math.nan, len(wide), "paired t"
        half = result.p_value / 2
        rising = result.mean_diff > 0
        return (half if rising else 1 - half), (1 - half if rising else half), len(wide), "paired t"
    up = float(stats.page_trend_test(data).pvalue)
    down = float(stats.page_trend_test(data[:, ::-1]).pvalue)
    return up, down, len(wide), "Page's L"


def _best_treatment(group: pd.DataFrame, treatment: str, higher_is_better: bool) -> Any:
    """The cell's best: fewest diverged seeds first, then the best mean over converged seeds."""
    scores = []
    for name, mine in group.groupby(treatment, sort=True):
        values = mine.loc[~mine["worst"], "value"]
        if values.empty:
            continue
        mean = float(values.mean())
        scores.append((int(mine["worst"].sum()), -mean if higher_is_better else mean, str(name), name))
    return min(scores)[3] if scores else None


def paired_vs_best(
    runs: pd.DataFrame,
    metric: str = "test_loss",
    *,
    treatment: str = "activation",
    higher_is_better: bool = False,
    alpha: float = ALPHA,
    test: str = "t",
    fill_missing: float | str | None = None,
    margin: float = 0.1,
    correction: str | None = "holm",
    scale: str = "raw",
    equivalence: bool = True,
) -> pd.DataFrame:
    """Each treatment of each cell against the cell's best, paired by seed.

    ``scale``: the tests compare the metric itself (``"raw"``, the default) or its log
    (``"log"``: the paired log ratio, as the equivalence test does), chosen by the caller
    for the metric (:func:`scale_for`: log for losses), never from the data. Losses across
    activations span orders of magnitude and their seed spread grows with their size, so on
    the raw scale one noisy bad activation's spread hides a 60-fold gap from 3 seeds; a ratio
    is what "worse than the best" means for a loss. A cell with a value that is not positive
    cannot be compared on the log scale: it is tested raw (``test`` says which).
    ``mean_diff`` stays in metric units; ``d_z``, ``statistic`` and the p-values are of the
    scale tested (``test`` says ``t (log)`` for the log scale).

    The best is the treatment with the fewest diverged seeds, then the best mean. Columns:
    cell keys, treatment, ``best`` (its name), ``is_best``, ``n_pairs`` (the seeds tested:
    where both converged, and where only one of the two diverged), ``mean``, ``mean_diff``
    (this minus best, metric units, over both-converged seeds), ``d_z``, ``statistic``,
    ``p_value``, ``p_adjusted``, ``test``, ``tied`` and a ``note``.

    A seed where one of a pair diverged is the worst outcome for that one: the pair is then
    tested by the exact signed-rank test, that seed a difference larger than every finite
    one, combined by Bonferroni with the paired test of the both-converged seeds
    (:func:`paired_with_divergence`), and enters Holm's family like any other pair. It was
    "separably worse" without a test, so that with a 10% chance of divergence per run nearly
    every null cell had a false "separably worse" (0.90 at 3 seeds; now 0.01).

    ``p_adjusted``: with ``correction="holm"`` (the default) the p-value against the best
    adjusted by :func:`holm` over **every pair** of the cell's treatments (up to
    k (k - 1) / 2 paired tests), so that "separable from the best" holds for the whole cell
    at family-wise level ``alpha``. Holm over the k - 1 comparisons with the best alone does
    not: the best is chosen from the same data, which biases each difference against it (at
    7-8 treatments and 3-5 seeds, 8.5-10% of null cells had a false "separably worse",
    ``tests/test_stats.py``); the pairs' family holds whichever pair the data picks. With
    ``None``, the raw p-value. ``tied`` (tied with the best) is True for the best itself;
    True when fewer than 2 seeds are tested (no test can separate them); otherwise
    ``p_adjusted >= alpha``. ``equivalent`` and ``p_equivalence``: shown to be within a
    factor ``1 + margin`` of the best, whichever it is (:func:`within_margin_of_all`; the
    sample best too must show it). ``equivalence=False`` skips that test (both columns NA):
    a caller that reads only the difference tests (the report's tables) saves most of the time.
    """
    if correction not in ("holm", None):
        raise ValueError(f"unknown correction {correction!r} (use 'holm' or None)")
    import pandas as pd

    if scale not in ("log", "raw"):
        raise ValueError(f"unknown scale {scale!r} (use 'log' or 'raw')")
    keys = cell_keys(runs, treatment)
    data = outcomes(runs, metric, treatment=treatment, keys=keys, fill_missing=fill_missing)
    rows = []
    for key, group in cell_groups(data, keys):
        log = _log_scale(group, scale)
        best = _best_treatment(group, treatment, higher_is_better)
        reference = group[group[treatment] == best].set_index("seed") if best is not None else None
        cell_rows = []
        for name, mine in group.groupby(treatment, sort=True):
            converged = mine.loc[~mine["worst"], "value"]
            row: dict[str, Any] = {
                **dict(zip(keys, key, strict=True)),
                treatment: name,
                "best": best,
                "is_best": name == best,
                "mean": float(converged.mean()) if len(converged) else math.nan,
            }
            mine = mine.set_index("seed")
            if reference is None:
                row.update(_no_test("no converged run in the cell"))
            elif name == best:
                row.update(_best_row(mine, _test_name(test, log)))
            else:
                row.update(_against(mine, reference, test, log, higher_is_better))
            cell_rows.append(row)
        if reference is not None and equivalence:
            for row in cell_rows:
                row["equivalent"], row["p_equivalence"] = within_margin_of_all(
                    group, row[treatment], treatment, margin, alpha, higher_is_better=higher_is_better
                )
        family = (
            _pair_p_values(group, treatment, test, log, higher_is_better)
            if correction == "holm" and best is not None
            else {}
        )
        _adjust(cell_rows, treatment, best, family, alpha, correction)
        rows += cell_rows
    return pd.DataFrame(rows, columns=[*keys, treatment, *PAIRED_COLUMNS])


#: the columns of :func:`paired_vs_best` after the cell keys and the treatment
PAIRED_COLUMNS = (
    "best",
    "is_best",
    "mean",
    "n_pairs",
    "mean_diff",
    "d_z",
    "statistic",
    "p_value",
    "p_adjusted",
    "test",
    "tied",
    "equivalent",
    "p_equivalence",
    "note",
)


def scale_for(metric: str) -> str:
    """The scale :func:`paired_vs_best` tests ``metric`` on: ``"log"`` for a loss (a name
    ending in ``loss`` or ``mse``: positive, compared as ratios), else ``"raw"`` (accuracies,
    AUROC, epochs, a gap that is already a log ratio)."""
    return "log" if metric.endswith(("loss", "mse")) else "raw"


def _log_scale(group: pd.DataFrame, scale: str) -> bool:
    """Whether a cell's tests compare log values: the log scale was asked for and every
    converged value of the cell is positive (see :func:`paired_vs_best`'s ``scale``)."""
    values = group.loc[~group["worst"], "value"].to_numpy(float)
    return scale == "log" and bool(len(values)) and bool((values > 0).all())


def _test_name(test: str, log: bool) -> str:
    return f"{test} (log)" if log else test


def _best_row(mine: pd.DataFrame, test: str) -> dict[str, Any]:
    return {
        "n_pairs": int((~mine["worst"]).sum()),
        "mean_diff": 0.0,
        "d_z": 0.0,
        "statistic": math.nan,
        "p_value": math.nan,
        "test": test,
        "tied": True,
        "note": "best",
    }


def _pair_p_values(
    group: pd.DataFrame, treatment: str, test: str, log: bool = False, higher_is_better: bool = False
) -> dict[frozenset[Any], float]:
    """The p-value of the paired test of every pair of the cell's treatments
    (:func:`paired_with_divergence` over the seeds both ran; NaN where no test: not in
    Holm's family), on log values with ``log``."""
    values = group.pivot(index=treatment, columns="seed", values="value")
    worst = group.pivot(index=treatment, columns="seed", values="worst")
    ran = worst.notna().to_numpy()
    diverged = (worst == True).to_numpy()  # noqa: E712 - True, not missing (NaN: no run)
    matrix = values.to_numpy(float)
    if log:
        with np.errstate(invalid="ignore", divide="ignore"):  # diverged seeds (NaN) are not usable
            matrix = np.log(matrix)
    names = list(values.index)
    out: dict[frozenset[Any], float] = {}
    for i, first in enumerate(names):
        for j in range(i + 1, len(names)):
            seeds = ran[i] & ran[j]
            out[frozenset((first, names[j]))] = paired_with_divergence(
                matrix[i, seeds],
                diverged[i, seeds],
                matrix[j, seeds],
                diverged[j, seeds],
                test,
                higher_is_better=higher_is_better,
            ).p_value
    return out


def _adjust(
    rows: list[dict[str, Any]],
    treatment: str,
    best: Any,
    family: dict[frozenset[Any], float],
    alpha: float,
    correction: str | None,
) -> None:
    """Set ``p_adjusted`` on one cell's rows and decide ``tied`` for those a test decides:
    Holm over ``family`` (every pair's p-value) with ``correction="holm"``, else raw."""
    if correction == "holm":
        pairs = list(family)
        adjusted = dict(zip(pairs, holm([family[pair] for pair in pairs]), strict=True))
        values = [math.nan if r["is_best"] else adjusted.get(frozenset((r[treatment], best)), math.nan) for r in rows]
    else:
        values = [math.nan if r["is_best"] else r["p_value"] for r in rows]
    for row, p_adjusted in zip(rows, values, strict=True):
        row["p_adjusted"] = float(p_adjusted)
        if row.pop("_by_test", False):
            row["tied"] = bool(p_adjusted >= alpha)


def _no_test(note: str) -> dict[str, Any]:
    return {
        "n_pairs": 0,
        "mean_diff": math.nan,
        "d_z": math.nan,
        "statistic": math.nan,
        "p_value": math.nan,
        "test": "",
        "tied": False,
        "equivalent": False,
        "p_equivalence": math.nan,
        "note": note,
    }


def _against(
    mine: pd.DataFrame, reference: pd.DataFrame, test: str, log: bool = False, higher_is_better: bool = False
) -> dict[str, Any]:
    seeds = mine.index.intersection(reference.index)
    lost = [s for s in seeds if mine.at[s, "worst"] and not reference.at[s, "worst"]]
    both = [s for s in seeds if not mine.at[s, "worst"] and not reference.at[s, "worst"]]
    a, b = mine.loc[both, "value"].to_numpy(float), reference.loc[both, "value"].to_numpy(float)
    mine_worst, reference_worst = mine.loc[seeds, "worst"].to_numpy(bool), reference.loc[seeds, "worst"].to_numpy(bool)
    x, y = mine.loc[seeds, "value"].to_numpy(float), reference.loc[seeds, "value"].to_numpy(float)
    if log:
        with np.errstate(invalid="ignore", divide="ignore"):  # diverged seeds (NaN) are not used
            x, y = np.log(x), np.log(y)
    result = paired_with_divergence(x, mine_worst, y, reference_worst, test, higher_is_better=higher_is_better)
    out = {
        "n_pairs": result.n,
        "mean_diff": float(np.mean(a - b)) if len(a) else math.nan,  # metric units, whatever the scale
        "d_z": result.d_z,
        "statistic": result.statistic,
        "p_value": result.p_value,
        "test": result.test if "signed-rank" in result.test else _test_name(test, log),
        "note": result.note,
    }
    note = result.note
    if lost:
        # a diverged seed is the worst outcome, a rank in the exact test (not a verdict)
        note = out["note"] = f"diverged on {len(lost)} seed(s) where the best converged; {result.note}"
    if result.n < 2 or not math.isfinite(result.p_value):
        out.update(tied=True, note=(note + "; " if note else "") + "too few seeds to separate")
    else:
        out["_by_test"] = True  # decided on the corrected p-value, once the cell is complete
    return out


__all__ = [
    "CORRECTION",
    "NO_SPREAD",
    "PAIRED_COLUMNS",
    "POWER",
    "PairedTest",
    "equivalence_test",
    "holm",
    "min_detectable_effect",
    "paired_test",
    "paired_vs_best",
    "paired_with_divergence",
    "scale_for",
    "signed_rank_exact",
    "signed_rank_sides",
    "trend_test",
    "within_margin_of_all",
]
