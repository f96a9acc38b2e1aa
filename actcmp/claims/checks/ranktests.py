"""One-sample exact signed-rank tests against a bound, shared by the claims that compare seeds
with a threshold (claim 3's "units die" and "prevent", claim 4's "vanishes", "keeps" and
"saturate")."""

from __future__ import annotations

import math

import numpy as np

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


def signed_rank(diffs: np.ndarray, exact_up_to: int = 20) -> tuple[float, float]:
    """(p below, p above): one-sided one-sample Wilcoxon signed-rank tests of ``diffs``
    against 0 (zeros dropped, ties at mid-ranks). Only the order of the magnitudes
    matters, so ``-inf`` is simply the most negative difference. Exact (every sign
    pattern enumerated) up to ``exact_up_to`` differences, else the normal approximation
    with the tie-corrected variance."""
    from scipy import stats as sps

    d = diffs[diffs != 0]
    n = len(d)
    if n == 0:
        return 1.0, 1.0
    ranks = sps.rankdata(np.abs(d))
    w_plus = float(ranks[d > 0].sum())
    if n <= exact_up_to:
        signs = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
        null = signs @ ranks
        tol = 1e-9 * float(ranks.sum())
        return float(np.mean(null <= w_plus + tol)), float(np.mean(null >= w_plus - tol))
    mean, sd = float(ranks.sum()) / 2, math.sqrt(float((ranks**2).sum()) / 4)
    return float(sps.norm.cdf((w_plus - mean + 0.5) / sd)), float(sps.norm.sf((w_plus - mean - 0.5) / sd))


__all__ = ["above", "below", "floor_clause", "method_text", "signed_rank", "smallest_p"]
