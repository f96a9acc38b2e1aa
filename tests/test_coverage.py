"""Do the report's intervals keep their promise at the seed counts people use?

A simulation (numpy and scipy only, about a second): many samples of n = 3, 5, 10 seeds
from a known distribution, the interval of :func:`actcmp.analysis.stats.t_interval` on each, and
the share that covers the true mean.

What it shows (4000 draws each, seed 0):

* normal data: the Student t interval covers 94.7-95.3% (nominal 95%), asserted within
  1.5 points (about 4 binomial standard errors);
* skewed data covers less, and more seeds do not fix it quickly: exponential 87.5-90.6%,
  lognormal (sigma 1, skewness 6.2) 83.1-84.6% at n = 3, 5, 10. Asserted: at least 86% and 79%
  respectively, so a change that makes it worse fails. Per-seed losses are usually far less
  skewed than a lognormal with sigma 1, but the report's footnote says "assumes roughly
  normal seed-to-seed variation" for this reason;
* the percentile bootstrap the report used before covers about 75% at 3 seeds on normal
  data (BCa, what it really used, measured 71%): the reason it was replaced.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from actcmp.analysis import stats

DRAWS = 4000
NOMINAL = 0.95

DISTRIBUTIONS = {
    # name: (sampler(rng, shape), true mean, lowest coverage asserted at n = 3, 5, 10)
    "normal": (lambda rng, shape: rng.normal(0.0, 1.0, shape), 0.0, NOMINAL - 0.015),
    "exponential": (lambda rng, shape: rng.exponential(1.0, shape), 1.0, 0.86),
    "lognormal": (lambda rng, shape: rng.lognormal(0.0, 1.0, shape), math.exp(0.5), 0.79),
}


def t_intervals(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`actcmp.analysis.stats.t_interval` of every row, vectorised (checked against it below)."""
    n = samples.shape[1]
    mean, sd = samples.mean(axis=1), samples.std(axis=1, ddof=1)
    half = scipy_stats.t.ppf(0.5 + NOMINAL / 2, n - 1) * sd / math.sqrt(n)
    return mean - half, mean + half


@pytest.mark.parametrize("n", [3, 5, 10])
@pytest.mark.parametrize("name", list(DISTRIBUTIONS))
def test_t_interval_coverage(name: str, n: int) -> None:
    sample, true_mean, lowest = DISTRIBUTIONS[name]
    rng = np.random.default_rng(0)
    samples = sample(rng, (DRAWS, n))
    low, high = t_intervals(samples)
    for row, lo, hi in zip(samples[:50], low[:50], high[:50], strict=True):  # the vectorised copy is the real one
        assert stats.t_interval(row)[:2] == pytest.approx((lo, hi), rel=1e-12, abs=1e-12)
    coverage = float(np.mean((low <= true_mean) & (true_mean <= high)))
    assert coverage >= lowest, f"{name}, n={n}: coverage {coverage:.3f}"
    if name == "normal":
        assert abs(coverage - NOMINAL) <= 0.015, f"n={n}: coverage {coverage:.3f}"
    else:
        assert coverage < NOMINAL - 0.02, "skewed data were expected to undercover (documented above)"


def test_percentile_bootstrap_undercovers_at_three_seeds() -> None:
    """Why the bootstrap interval was replaced: at 3 seeds it covers about 3 times in 4."""
    rng = np.random.default_rng(0)
    draws, resamples, n = 2000, 400, 3
    samples = rng.normal(0.0, 1.0, (draws, n))
    picks = rng.integers(0, n, (draws, resamples, n))
    means = np.take_along_axis(np.broadcast_to(samples[:, None, :], picks.shape), picks, axis=2).mean(axis=2)
    low, high = np.quantile(means, [0.025, 0.975], axis=1)
    coverage = float(np.mean((low <= 0.0) & (high >= 0.0)))
    assert 0.65 < coverage < 0.82


@pytest.mark.parametrize(
    ("n", "alpha", "expected"),
    [
        pytest.param(3, 0.05, 3.26, id="n3"),
        pytest.param(5, 0.05, 1.68, id="n5"),
        pytest.param(10, 0.05, 1.00, id="n10"),
        pytest.param(5, 0.05 / 7, 2.87, id="n5-holm-first-step"),
    ],
)
def test_min_detectable_effect(n: int, alpha: float, expected: float) -> None:
    assert stats.min_detectable_effect(n, alpha) == pytest.approx(expected, abs=0.01)


def test_min_detectable_effect_has_the_stated_power() -> None:
    """Simulated paired t-tests at the returned effect reject about 80% of the time."""
    n = 5
    effect = stats.min_detectable_effect(n)
    rng = np.random.default_rng(1)
    differences = rng.normal(effect, 1.0, (4000, n))
    p_values = scipy_stats.ttest_1samp(differences, 0.0, axis=1).pvalue
    assert float(np.mean(p_values < 0.05)) == pytest.approx(0.8, abs=0.02)
    assert math.isnan(stats.min_detectable_effect(1))
