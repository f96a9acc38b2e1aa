"""One-sample exact signed-rank tests against a bound, shared by the claims that compare seeds
with a threshold (claim 3's "units die", claim 4's "vanishes" and "keeps")."""

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


__all__ = ["below", "signed_rank"]
