"""One-sided tests both ways, shared by every claim that decides a direction: one-sample exact
signed-rank tests against a bound for the claims that compare seeds with a threshold (claim 3's
"units die" and "prevent", claim 4's "vanishes", "keeps" and "saturate"), and :func:`sided_test`
for the claims that compare paired runs or seeds with 0 or chance (claims 1, 5, 6, 7, A1): the
direction a verdict names is always the side of the test that decided it, never a mean or a
median taken beside it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from actcmp.analysis.paired import signed_rank_sides as signed_rank
from actcmp.claims.checks.verdict import FAILS, HOLDS, UNSURE


def below(values: np.ndarray, bound: float, alpha: float) -> tuple[str, float]:
    """Are ``values`` below ``bound``? The exact one-sample signed-rank test of
    ``values - bound`` both ways (:func:`signed_rank`): (HOLDS, p) when significantly
    below, (FAILS, p) when significantly above, else (UNSURE, the smaller p). A rank test,
    so a seed whose gradient underflowed to 0 (``-inf``: below any bound) is simply the
    lowest value, and the verdict is monotone: lowering one seed's value never weakens
    "below" (a t-test is not: a more extreme seed widens its spread, and swapping tests
    when a seed underflows made the verdict jump). With n seeds the smallest p is 2^-n:
    5 seeds all below the bound give p = 1/32; 4 or fewer seeds cannot reach p < 0.05.
    Every value ``-inf``: HOLDS (vanished completely; no test needed)."""
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return UNSURE, math.nan
    if np.isneginf(values).all():
        return HOLDS, math.nan
    p_below, p_above = signed_rank(values - bound)
    if p_below < alpha:
        return HOLDS, p_below
    if p_above < alpha:
        return FAILS, p_above
    return UNSURE, min(p_below, p_above)


def above(values: np.ndarray, bound: float, alpha: float) -> tuple[str, float]:
    """Are ``values`` above ``bound``? :func:`below` of the negated values: (HOLDS, p) when
    significantly above, (FAILS, p) when significantly below, else (UNSURE, the smaller p).
    A value exactly at ``bound`` is a zero difference and drops out (Wilcoxon's rule)."""
    return below(-np.asarray(values, dtype=float), -bound, alpha)


def smallest_p(values: np.ndarray, bound: float, exact_up_to: int = 20) -> float:
    """The smallest one-sided p :func:`signed_rank` can give for ``values`` against
    ``bound``: 2^-n over the n values that differ from it (every difference on one side; 1
    when none does), 0 beyond ``exact_up_to`` (the normal approximation: no floor that binds).
    3 seeds: 1/8, 4: 1/16, 5: 1/32, the first under 0.05."""
    n = _differing(values, bound)
    return 0.0 if n > exact_up_to else 2.0**-n


def floor_clause(values: np.ndarray, bound: float, alpha: float) -> str:
    """``""``, or a clause (starting "; ") saying that the exact test cannot reach ``alpha``
    with these values whatever they are (:func:`smallest_p` >= alpha), so that an
    "inconclusive" says why."""
    floor = smallest_p(values, bound)
    if floor < alpha:
        return ""
    n = _differing(values, bound)
    if n == 0:
        return "; every value equals the bound, so the test cannot decide"
    return (
        f"; with {n} {'value' if n == 1 else 'values'} the exact test's smallest p is 1/{2**n} = {floor:.3g}: "
        f"it cannot reach p < {alpha:g} whatever they are"
    )


def method_text(values: np.ndarray, bound: float, exact_up_to: int = 20) -> str:
    """How a verdict's sentence names the test :func:`below` / :func:`above` ran on
    ``values``: exact up to ``exact_up_to`` differing values, else the normal approximation."""
    if _differing(values, bound) > exact_up_to:
        return "one-sided signed-rank test, normal approximation"
    return "one-sided exact signed-rank test"


def _differing(values: np.ndarray, bound: float) -> int:
    """How many of ``values`` enter the test: not NaN, not equal to ``bound``."""
    values = np.asarray(values, dtype=float)
    return int(np.sum(~np.isnan(values) & (values != bound)))


def hodges_lehmann(diffs: np.ndarray) -> float:
    """The Hodges-Lehmann estimate of the centre of ``diffs``: the median of the Walsh
    averages (d_i + d_j) / 2, i <= j. The signed-rank statistic counts the positive Walsh
    averages, so this estimate lies on the side the signed-rank test points to (NaN for no
    differences)."""
    d = np.asarray(diffs, dtype=float)
    if len(d) == 0:
        return math.nan
    i, j = np.triu_indices(len(d))
    with np.errstate(invalid="ignore"):  # -inf + inf: a NaN average, left out
        walsh = (d[i] + d[j]) / 2
    walsh = walsh[~np.isnan(walsh)]
    return float(np.median(walsh)) if len(walsh) else math.nan


#: the fewest pairs (or seeds) :func:`sided_test` tests by ranks ("auto"): under it, the t-test
RANK_FROM = 6
#: how a sentence names the t-test of differences that are all the same (no spread)
NO_SPREAD_TEXT = (
    "every difference the same: no spread, so no t statistic; decided as the one-sided t-test's limit (its p goes "
    "to 0 as the spread shrinks)"
)


@dataclass(frozen=True)
class Sided:
    """Differences (paired, or values minus a bound) tested against 0 both ways, one-sided:
    what :func:`sided_test` returns. The direction a verdict names comes from the test:
    :meth:`decide` reads ``p_below`` and ``p_above``, and ``estimate`` is the test's own
    estimate of the centre (Hodges-Lehmann for the signed-rank test, the mean for the
    t-test), so that it lies on the side the test points to."""

    n: int
    p_below: float
    p_above: float
    estimate: float
    #: "signed-rank" or "t"
    test: str
    #: the signed-rank p is exact (enumerated), not the normal approximation
    exact: bool = True
    #: every difference is the same: no t-test possible (zero spread), the exact signed-rank
    #: test instead, whose p cannot go below 2^-n (one-sided)
    all_equal: bool = False

    @property
    def p_two_sided(self) -> float:
        """Twice the smaller one-sided p (capped at 1): the two-sided p of the same test, its
        direction :attr:`side` (a two-sided test read for its direction)."""
        return min(1.0, 2.0 * min(self.p_below, self.p_above))

    @property
    def side(self) -> int:
        """-1 when the test points below 0 (``p_below`` the smaller), +1 above, 0 neither."""
        if not (math.isfinite(self.p_below) and math.isfinite(self.p_above)) or self.p_below == self.p_above:
            return 0
        return -1 if self.p_below < self.p_above else 1

    def decide(self, alpha: float, claimed: str = "below") -> tuple[str, float]:
        """(HOLDS, p) when the one-sided test in the ``claimed`` direction ("below" or
        "above" 0) is significant, (FAILS, p) when the opposite one is, else (UNSURE, the
        smaller p; NaN without a test)."""
        p_for, p_against = (self.p_below, self.p_above) if claimed == "below" else (self.p_above, self.p_below)
        if p_for < alpha:
            return HOLDS, p_for
        if p_against < alpha:
            return FAILS, p_against
        return UNSURE, min(p_for, p_against) if math.isfinite(p_for) and math.isfinite(p_against) else math.nan

    @property
    def estimator(self) -> str:
        """How :attr:`estimate` is named in a sentence."""
        return "Hodges-Lehmann estimate" if self.test == "signed-rank" else "mean"

    @property
    def method(self) -> str:
        """How a verdict's sentence names the one-sided test."""
        if self.all_equal and self.estimate == 0:
            return "every difference 0: no test"
        if self.all_equal and self.test == "t":
            return NO_SPREAD_TEXT
        if self.test == "t":
            return "one-sided paired t-test"
        return "one-sided exact signed-rank test" if self.exact else "one-sided signed-rank test, normal approximation"


def sided_test(diffs: np.ndarray, test: str = "auto", exact_up_to: int = 20) -> Sided:
    """``diffs`` (NaN dropped) against 0, one-sided both ways. ``test="auto"``: the signed-rank
    test (:func:`signed_rank`; estimate :func:`hodges_lehmann`) with :data:`RANK_FROM` or more
    differences, else the t-test (``scipy.stats.ttest_1samp``; estimate the mean); ``"t"`` or
    ``"signed-rank"`` to choose. Every difference the same (zero spread): for the t-test no
    statistic exists, and it is decided as its limit (p 0 on their side, 1 on the other: as
    the spread of nearly equal differences shrinks their p goes to 0, and equal seeds must
    not count as weaker evidence than nearly equal ones; :data:`NO_SPREAD_TEXT` says so);
    the signed-rank test is exact either way (2^-n on their side). Fewer than 2 differences
    for the t-test: no test (NaN)."""
    from scipy import stats as sps

    d = np.asarray(diffs, dtype=float)
    d = d[~np.isnan(d)]
    n = len(d)
    if test == "auto":
        test = "signed-rank" if n >= RANK_FROM else "t"
    if test not in ("t", "signed-rank"):
        raise ValueError(f"unknown test {test!r} (use 'auto', 't' or 'signed-rank')")
    finite = d[np.isfinite(d)]
    scale = max(float(np.abs(finite).max()), 1e-300) if len(finite) else 1.0
    equal = n >= 1 and len(finite) == n and float(np.ptp(d)) <= 1e-12 * scale
    if test == "t" and equal and n >= 2:  # the t-test's limit (see above)
        centre = float(d.mean())
        return Sided(n, 0.0 if centre < 0 else 1.0, 0.0 if centre > 0 else 1.0, centre, "t", all_equal=True)
    if test == "t" and not equal:
        if n < 2:
            return Sided(n, math.nan, math.nan, float(d.mean()) if n else math.nan, "t")
        below_p = float(sps.ttest_1samp(d, 0.0, alternative="less").pvalue)
        above_p = float(sps.ttest_1samp(d, 0.0, alternative="greater").pvalue)
        return Sided(n, below_p, above_p, float(d.mean()), "t")
    p_below, p_above = signed_rank(d, exact_up_to)
    exact = int(np.sum(d != 0)) <= exact_up_to
    estimate = hodges_lehmann(d) if test == "signed-rank" else float(d.mean())
    return Sided(n, p_below, p_above, estimate, "signed-rank" if not equal else test, exact, all_equal=equal)


__all__ = [
    "NO_SPREAD_TEXT",
    "RANK_FROM",
    "Sided",
    "above",
    "below",
    "floor_clause",
    "hodges_lehmann",
    "method_text",
    "sided_test",
    "signed_rank",
    "smallest_p",
]
