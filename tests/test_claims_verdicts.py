"""Claims' verdicts on edge cases of their evidence: claim 6 when its two tests disagree
(and which statistic a verdict shows, Holm over the tests of a condition), claim 4 when
some seeds' first-layer gradient underflowed to exactly 0, claim 3's "prevent" and claim
4's "saturate" as signed-rank tests (not thresholds on a mean), claim A1 below chance. Each
expected number is computed here independently (scipy directly, enumeration by hand)."""

from __future__ import annotations

import math
from itertools import product

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from actcmp.claims import checks
from actcmp.claims.checks import FAILS, HOLDS, UNSURE

# -- claim 6: generalisation ------------------------------------------------------------------------
NOTHING = [0.03, -0.04, 0.01, -0.02, 0.02]  # mean 0, paired t p = 1
MARGINAL = [-0.05, -0.02, -0.03, 0.0, -0.04]  # paired t p = 0.031: below 0.05 alone, not after Holm over 4


def _shifted(mean: float, spread: float = 0.003) -> list[float]:
    return [mean + spread * e for e in (0.5, -1.0, 0.2, 1.1, -0.8)]


def _generalisation_runs(candidates: dict[str, tuple[list[float], list[float]]]) -> pd.DataFrame:
    """One condition (mnist1d, depth 4), 5 seeds. Per candidate, per seed: (d_test, d_gap),
    its log test-loss ratio to ReLU's and the change of log(test / train) against ReLU's."""
    rng = np.random.default_rng(3)
    rows = []
    for seed in range(5):
        relu_train = 0.60 * math.exp(0.02 * rng.standard_normal())
        relu_test = relu_train * 0.99
        rows.append(_run("relu", seed, relu_train, relu_test))
        for name, (d_test, d_gap) in candidates.items():
            test = relu_test * math.exp(d_test[seed])
            rows.append(_run(name, seed, test / (0.99 * math.exp(d_gap[seed])), test))
    return pd.DataFrame(rows)


def _run(activation: str, seed: int, train: float, test: float) -> dict[str, object]:
    return {
        "run_id": f"{activation}-{seed}",
        "dataset": "mnist1d",
        "depth": 4,
        "activation": activation,
        "seed": seed,
        "status": "done",
        "final_train_loss": train,
        "test_loss": test,
    }


def _p(diffs: list[float]) -> float:
    """The paired t-test's p (5 pairs) on these differences, by scipy."""
    return float(sps.ttest_1samp(diffs, 0.0).pvalue)


def _holm(p: list[float]) -> list[float]:
    """Holm by hand: sorted ascending, p_(i) * (m - i), running maximum, capped at 1."""
    order = sorted(range(len(p)), key=lambda i: p[i])
    out, running = [0.0] * len(p), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        out[i] = running
    return out


def test_lower_test_loss_with_a_larger_gap_is_inconclusive_not_a_failure() -> None:
    """The reviewer's case: test loss x0.68 (for the claim), gap +0.03 (against): the two
    tests disagree, so neither 'holds' nor 'does not hold'."""
    evidence = (_shifted(-0.38), _shifted(0.03))
    verdict = checks.check_generalisation(_generalisation_runs({"elu": evidence, "silu": evidence}))
    assert verdict.verdict == UNSURE
    for part in verdict.parts:
        assert part.verdict == UNSURE, part.explanation
        assert "disagree" in part.explanation and "a lower test loss with a larger gap" in part.explanation
        assert part.statistic == "log test-loss ratio (mean)"


def test_the_gap_alone_decides_nothing() -> None:
    """'Generalises better' is read as a lower test loss (a better fit of unseen data): with
    the test loss not separable from ReLU's, a significantly larger gap is no 'does not hold'
    and a significantly smaller one no 'holds' (the rule before let the gap decide alone). The
    statistic shown is always the test loss's, with its Holm p."""
    for gap in (0.05, -0.06):
        evidence = (NOTHING, _shifted(gap))
        verdict = checks.check_generalisation(_generalisation_runs({"elu": evidence, "silu": evidence}))
        adjusted = _holm([_p(NOTHING), _p(evidence[1])] * 2)
        elu = verdict.parts[0]
        assert adjusted[1] < 0.05 and elu.verdict == UNSURE, elu.explanation
        assert elu.statistic == "log test-loss ratio (mean)"
        assert elu.value == pytest.approx(np.mean(NOTHING), abs=1e-9)
        assert elu.p_value == pytest.approx(adjusted[0], rel=1e-6)
        assert "which decides, is not separable" in elu.explanation
        assert ("larger" if gap > 0 else "smaller") in elu.explanation
        assert verdict.verdict == UNSURE


def test_a_lower_test_loss_holds_and_says_what_it_means() -> None:
    """The test loss decides: lower with a gap not separable from ReLU's (the reviewer's
    mnist1d depth 4 ELU: x0.60 with a slightly larger gap) holds, and the text says it is a
    lower test loss, a better fit of unseen data, with the gap reported, not required."""
    for gap in (_shifted(0.004, 0.02), _shifted(-0.05)):
        evidence = (_shifted(-0.5), gap)
        part = checks.check_generalisation(_generalisation_runs({"elu": evidence, "silu": evidence})).parts[0]
        assert part.verdict == HOLDS and part.statistic == "log test-loss ratio (mean)", part.explanation
        assert "Decided by the test loss, lower for elu (a better fit of unseen data)" in part.explanation


def test_generalisation_p_values_are_holm_adjusted_over_the_conditions_tests() -> None:
    """4 tests (2 per candidate) feed the condition's verdict: each part's p is its test's
    Holm-adjusted p, so a raw p of 0.031 no longer decides."""
    elu, silu = (_shifted(-0.3), NOTHING), (MARGINAL, NOTHING)
    verdict = checks.check_generalisation(_generalisation_runs({"elu": elu, "silu": silu}))
    raw = [_p(elu[0]), _p(elu[1]), _p(silu[0]), _p(silu[1])]
    adjusted = _holm(raw)
    assert raw[2] < 0.05 <= adjusted[2], raw
    first, second = verdict.parts
    assert first.verdict == HOLDS and first.p_value == pytest.approx(adjusted[0], rel=1e-6)
    assert second.verdict == UNSURE and second.p_value == pytest.approx(adjusted[2], rel=1e-6)
    assert "Holm-adjusted over 4 tests" in second.explanation


# -- claim 4: gradients that underflow to exactly 0 ------------------------------------------------
def _gradient_cell(first: dict[str, list[float]], depth: int = 8) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One condition: per activation, the first-layer gradient norm of each seed (the last
    layer's is 1, so log10 r = log10(first)); sigmoid and tanh 20% saturated."""
    from fake_results import gradient_cell

    return gradient_cell(first, depth, bounded_saturated=0.2)


def _part(verdict: checks.Verdict, label: str) -> checks.Verdict:
    return next(p for p in verdict.parts if p.label == label)


def test_underflowed_seeds_stay_in_the_ratios_as_minus_infinity() -> None:
    runs, layers = _gradient_cell({"sigmoid": [0.0, 0.0, 0.0, 10**-0.5, 10**-0.5]})
    ratios = checks.gradient_ratios(runs, layers)
    assert len(ratios) == 5 and int(np.isneginf(ratios.log10_ratio).sum()) == 3


def test_some_underflowed_seeds_are_not_no_vanishing() -> None:
    """The reviewer's case: 3 of 5 seeds' first-layer gradient is exactly 0, 2 lose half an
    order. Not 'no vanishing here' over the 2 finite seeds: the 3 count as vanished."""
    runs, layers = _gradient_cell({"sigmoid": [0.0, 0.0, 0.0, 10**-0.5, 10**-0.5]})
    part = _part(checks.check_vanishing_cell(runs, layers), "sigmoid gradients vanish")
    assert part.verdict == UNSURE, part.explanation
    assert "exactly 0 in 3 of 5 seeds" in part.explanation and "signed-rank" in part.explanation
    assert part.statistic == "median log10 r" and part.value == -math.inf
    # the exact one-sided signed-rank p by hand: diffs +0.5, +0.5 (mid-rank 1.5 each), three
    # -inf (mid-rank 4 each); W+ = 3; of the 32 sign patterns, {}, {1.5}, {1.5}, {1.5, 1.5} reach <= 3
    assert part.p_value == pytest.approx(4 / 32)


def test_a_minority_of_finite_seeds_cannot_say_no_vanishing() -> None:
    """2 of 5 underflowed, 3 lose half an order: the old rule read only the 3 (constant,
    above -1: 'does not hold'); with the 2 below any bound it is inconclusive."""
    runs, layers = _gradient_cell({"sigmoid": [0.0, 0.0, 10**-0.5, 10**-0.5, 10**-0.5]})
    part = _part(checks.check_vanishing_cell(runs, layers), "sigmoid gradients vanish")
    assert part.verdict == UNSURE, part.explanation


def test_every_seed_below_the_bound_with_some_underflowed_vanishes() -> None:
    runs, layers = _gradient_cell({"sigmoid": [0.0, 0.0, 1e-3, 1e-4, 1e-5]})
    part = _part(checks.check_vanishing_cell(runs, layers), "sigmoid gradients vanish")
    assert part.verdict == HOLDS and part.p_value == pytest.approx(1 / 32), part.explanation


def test_every_seed_underflowed_vanishes_and_finite_seeds_take_the_signed_rank_test() -> None:
    runs, layers = _gradient_cell({"sigmoid": [0.0] * 5, "tanh": [1e-3, 2e-3, 1e-3, 3e-3, 1e-3]})
    verdict = checks.check_vanishing_cell(runs, layers)
    gone, tanh = _part(verdict, "sigmoid gradients vanish"), _part(verdict, "tanh gradients vanish")
    assert gone.verdict == HOLDS and gone.value == -math.inf and "every seed" in gone.explanation
    logs = np.log10([1e-3, 2e-3, 1e-3, 3e-3, 1e-3])
    assert tanh.statistic == "median log10 r" and tanh.value == pytest.approx(np.median(logs))
    assert tanh.p_value == pytest.approx(sps.wilcoxon(logs + 1.0, alternative="less", method="exact").pvalue)
    assert tanh.verdict == HOLDS and tanh.p_value == pytest.approx(1 / 32)


@pytest.mark.parametrize(
    ("weaker", "stronger"),
    [
        ([1e-10, 1e-10, 1e-10, 1e-10, 1e-10], [0.0, 1e-10, 1e-10, 1e-10, 1e-10]),
        ([1e-5, 1e-5, 1e-5, 1.1e-5, 10**-0.5], [0.0, 1e-5, 1e-5, 1.1e-5, 10**-0.5]),
        ([1e-5, 1e-5, 1e-5, 1e-5, 10**-0.5], [1e-5, 1e-5, 1e-5, 1e-5, 1e-9]),
    ],
)
def test_a_seed_vanishing_more_never_weakens_vanishes(weaker: list[float], stronger: list[float]) -> None:
    """Reviewer's case: [0, 1e-10, 1e-10] was inconclusive while [1e-10] x 3 held (the test
    switched from t to signed-rank when a seed underflowed). One rank test for every case."""
    order = {HOLDS: 2, UNSURE: 1, FAILS: 0}
    found = []
    for firsts in (weaker, stronger):
        runs, layers = _gradient_cell({"sigmoid": firsts})
        part = _part(checks.check_vanishing_cell(runs, layers), "sigmoid gradients vanish")
        found.append((order[part.verdict], part.p_value))
    assert found[1][0] >= found[0][0]
    assert not found[1][1] > found[0][1]  # NaN (every seed underflowed) counts as decided


def test_a_relu_seed_whose_gradient_underflowed_makes_keeping_norms_not_shown() -> None:
    """One seed of five underflowed (-inf), four keep their norm exactly: not shown to keep
    (the seeds are not all within the bounds), not shown to lose (four are within):
    inconclusive. The plain mean of the old rule made it "does not hold" (-inf)."""
    runs, layers = _gradient_cell({"relu": [0.0, 1.0, 1.0, 1.0, 1.0], "sigmoid": [1e-5] * 5})
    part = _part(checks.check_vanishing_cell(runs, layers), "relu keeps gradient norms")
    assert part.verdict == UNSURE and "exactly 0 in 1 of 5 seeds" in part.explanation
    assert part.statistic == "median log10 r" and part.value == 0.0


@pytest.mark.parametrize(
    ("firsts", "expected"),
    [
        pytest.param([1.0, 2.0, 0.5, 3.0, 0.8], HOLDS, id="every-seed-within"),
        pytest.param([1e-3, 1e-4, 1e-3, 1e-2 * 0.5, 1e-5], FAILS, id="every-seed-below"),
        pytest.param([100.0, 300.0, 50.0, 1000.0, 20.0], FAILS, id="every-seed-above"),
        pytest.param([1.0, 2.0, 0.5, 3.0, 1e-3], UNSURE, id="one-seed-below"),
        pytest.param([1.0, 2.0, 0.5, 3.0], UNSURE, id="four-seeds-cannot-show-it"),
    ],
)
def test_relu_keeps_norms_by_two_one_sided_signed_rank_tests(firsts: list[float], expected: str) -> None:
    runs, layers = _gradient_cell({"relu": firsts, "sigmoid": [1e-5] * len(firsts)})
    part = _part(checks.check_vanishing_cell(runs, layers), "relu keeps gradient norms")
    assert part.verdict == expected, part.explanation
    logs = np.log10(firsts)
    if expected == HOLDS:  # the larger of the two one-sided exact p values: 1/32 with every seed within
        upper = sps.wilcoxon(logs - 1.0, alternative="less", method="exact").pvalue
        lower = sps.wilcoxon(logs + 1.0, alternative="greater", method="exact").pvalue
        assert part.p_value == pytest.approx(max(upper, lower)) == pytest.approx(1 / 32)


def test_a_bounded_activation_without_gradient_norms_is_not_called_vanished() -> None:
    runs, layers = _gradient_cell({"relu": [1.0] * 3, "sigmoid": [1e-5] * 3})
    layers = layers[~layers.run_id.str.startswith("sigmoid")]
    part = _part(checks.check_vanishing_cell(runs, layers), "sigmoid gradients vanish")
    assert part.verdict == UNSURE, part.explanation


@pytest.mark.parametrize("seed", range(5))
def test_signed_rank_matches_scipy_exact(seed: int) -> None:
    from actcmp.claims.checks.ranktests import signed_rank as _signed_rank

    rng = np.random.default_rng(seed)
    d = rng.normal(-0.4, 1.0, size=9)
    below, above = _signed_rank(d)
    assert below == pytest.approx(sps.wilcoxon(d, alternative="less", method="exact").pvalue)
    assert above == pytest.approx(sps.wilcoxon(d, alternative="greater", method="exact").pvalue)


def test_signed_rank_minus_infinity_is_the_most_negative_difference() -> None:
    from actcmp.claims.checks.ranktests import signed_rank as _signed_rank

    d = np.array([-np.inf, -2.0, 0.5, -1.0, 3.0])
    finite = np.array([-100.0, -2.0, 0.5, -1.0, 3.0])  # same order of magnitudes, same signs
    assert _signed_rank(d) == pytest.approx(_signed_rank(finite))


# -- claim 3's "prevent" and claim 4's "saturate": signed-rank tests, not thresholds on a mean ----------
def _exact_p(values: list[float], bound: float, side: str) -> float:
    """The one-sided exact signed-rank p of ``values`` against ``bound``, every sign
    pattern of the mid-ranks enumerated here (zeros dropped)."""
    d = np.array(values, dtype=float) - bound
    d = d[d != 0]
    ranks = sps.rankdata(np.abs(d))
    w_plus = float(ranks[d > 0].sum())
    null = [sum(r for r, s in zip(ranks, signs, strict=True) if s) for signs in product((0, 1), repeat=len(d))]
    return float(np.mean([n <= w_plus + 1e-9 for n in null] if side == "below" else [n >= w_plus - 1e-9 for n in null]))


def _dying_cell(
    relu: list[float], fixes: dict[str, list[float]], saturated: dict[str, list[float]] | None = None
) -> pd.DataFrame:
    """One condition of the dying sweep: per seed, ReLU's and each fix's final dead fraction,
    and (``saturated``, per activation; 0 where not given) its final saturated fraction."""
    rows = [
        {"run_id": f"relu-{s}", "activation": "relu", "seed": s, "dead_fraction_final": v} for s, v in enumerate(relu)
    ]
    for name, values in fixes.items():
        rows += [{"run_id": f"{name}-{s}", "activation": name, "seed": s, "dead_fraction_final": v}
                 for s, v in enumerate(values)]  # fmt: skip
    frame = pd.DataFrame(rows).assign(status="done", dataset="digits", depth=4, lr=0.01, test_loss=0.1)
    frame["saturated_fraction_final"] = 0.0
    for name, values in (saturated or {}).items():
        frame.loc[frame.activation == name, "saturated_fraction_final"] = values
    return frame


PREVENT = "Leaky ReLU and PReLU prevent it"
DIES = [0.3, 0.32, 0.35, 0.4, 0.45]  # ReLU's seeds, all above 5%: units die (p = 1/32)


def test_a_fix_mean_under_one_percent_is_not_prevention_without_the_test() -> None:
    """A fix's seeds of 0.2%, 0.4%, 3%, 0.2%, 0.4% (mean 0.84%): the threshold on the mean
    said "prevent"; one seed of five above 1% leaves the signed-rank test at p = 11/32."""
    fix = [0.002, 0.004, 0.03, 0.002, 0.004]
    part = _part(checks.check_dying_cell(_dying_cell(DIES, {"leaky_relu": fix, "prelu": [0.0] * 5})), PREVENT)
    assert part.verdict == UNSURE, part.explanation
    assert part.p_value == pytest.approx(_exact_p(fix, 0.01, "below")) == pytest.approx(11 / 32)
    assert part.value == pytest.approx(np.mean(fix)) and part.statistic == "mean dead fraction of leaky_relu"
    assert "not shown under 1%" in part.explanation and "exact signed-rank test, p = 0.344" in part.explanation


def test_one_fix_seed_far_above_five_percent_does_not_fail_prevention() -> None:
    """Seeds 0, 0, 0, 0, 30% (mean 6%): the threshold on the mean said "does not hold"; one
    seed is not a shift of the seeds above 5%, nor are they shown under 1%."""
    fix = [0.0, 0.0, 0.0, 0.0, 0.3]
    part = _part(checks.check_dying_cell(_dying_cell(DIES, {"leaky_relu": fix, "prelu": [0.0] * 5})), PREVENT)
    assert part.verdict == UNSURE, part.explanation
    assert part.p_value == pytest.approx(_exact_p(fix, 0.01, "below"))


@pytest.mark.parametrize(
    ("fix", "expected", "said"),
    [([0.0] * 5, HOLDS, "under 1%"), ([0.2, 0.25, 0.3, 0.3, 0.4], FAILS, "above 5%")],
    ids=["all-zero", "fix-dies"],
)
def test_prevent_decides_by_the_signed_rank_test_with_its_p(fix: list[float], expected: str, said: str) -> None:
    """All-zero dead fractions (Leaky ReLU cannot have a dead unit: its slope is never 0)
    are each 1% below the bound: p = 1/32 with 5 seeds, shown in the verdict (was NaN)."""
    verdict = checks.check_dying_cell(_dying_cell(DIES, {"leaky_relu": fix, "prelu": [0.0] * 5}))
    part = _part(verdict, PREVENT)
    assert part.verdict == expected and verdict.verdict == expected, part.explanation
    assert part.p_value == pytest.approx(1 / 32) and said in part.explanation


FEWER = "Leaky ReLU and PReLU leave fewer units stuck"


def test_prevent_no_longer_carries_the_shallow_side_phrase() -> None:
    """The Leaky ReLU shallow-side share was a sentence "for the reader" in "prevent"; it is
    tested now, in its own part (:data:`FEWER`), and said once, there."""
    frame = _dying_cell(DIES, {"leaky_relu": [0.0] * 5, "prelu": [0.0] * 5}, {"leaky_relu": [0.2] * 5})
    verdict = checks.check_dying_cell(frame)
    assert "slope-0.01" not in _part(verdict, PREVENT).explanation
    assert "leaky_relu: 20.0% of its units stuck" in _part(verdict, FEWER).explanation


def test_fewer_stuck_can_fail_where_prevent_holds_by_definition() -> None:
    """Leaky ReLU with no dead unit (as always: its slope is never 0) but more units on its
    shallow side than ReLU has dead, seed by seed: "prevent" holds, "fewer stuck" does not hold,
    and so the condition does not hold (it held on "prevent" alone)."""
    shallow = [0.5, 0.6, 0.55, 0.7, 0.65]  # above ReLU's 30-45% on every seed
    frame = _dying_cell(DIES, {"leaky_relu": [0.0] * 5, "prelu": [0.0] * 5}, {"leaky_relu": shallow})
    verdict = checks.check_dying_cell(frame)
    assert _part(verdict, PREVENT).verdict == HOLDS
    part = _part(verdict, FEWER)
    assert part.verdict == FAILS and verdict.verdict == FAILS, part.explanation
    diffs = [a - b for a, b in zip(shallow, DIES, strict=True)]
    assert part.p_value == pytest.approx(_exact_p(diffs, 0.0, "above")) == pytest.approx(1 / 32)
    assert part.statistic == "mean paired difference of the stuck share, leaky_relu - relu"
    assert part.value == pytest.approx(np.mean(diffs))
    assert "the fix lower on 0 of 5" in part.explanation and "more stuck than ReLU" in part.explanation


def test_fewer_stuck_is_paired_by_seed() -> None:
    """ReLU's dead share spreads over 10-60% across seeds; Leaky ReLU's stuck share is ReLU's
    minus 1 point on the same seed: paired, every difference is below 0 (p = 1/32, holds);
    unpaired, the two samples overlap almost entirely. The paired differences are what is tested."""
    relu = [0.1, 0.6, 0.25, 0.45, 0.35]
    leaky = [v - 0.01 for v in relu]
    frame = _dying_cell(relu, {"leaky_relu": [0.0] * 5, "prelu": [0.0] * 5}, {"leaky_relu": leaky})
    verdict = checks.check_dying_cell(frame)
    part = _part(verdict, FEWER)
    assert part.verdict == HOLDS and verdict.verdict == HOLDS, part.explanation
    assert part.p_value == pytest.approx(1 / 32) and part.value == pytest.approx(-0.01)  # the fix closest to ReLU
    assert "leaky_relu: 34.0% of its units stuck on average over 5 seeds, ReLU 35.0% on the same seeds" in (
        part.explanation
    )
    assert sps.mannwhitneyu(leaky, relu, alternative="less").pvalue > 0.3  # unpaired: nothing to see


@pytest.mark.parametrize(
    ("leaky", "expected"),
    [
        ([0.35, 0.37, 0.40, 0.45, 0.50], HOLDS),  # each under ReLU's stuck (dead + 10 points saturated)
        ([0.0, 0.0, 0.0, 0.0, 0.6], UNSURE),  # one seed above ReLU's (55%): p = 2/32
    ],
    ids=["under-relu-stuck", "one-seed-above"],
)
def test_fewer_stuck_compares_like_with_like(leaky: list[float], expected: str) -> None:
    """ReLU's stuck share is its dead share plus its saturated one (units on the flat side for
    at least 95% of the inputs, not all): the rule the fix's share is measured by. Against
    ReLU's dead share alone, the first case's fix would be above on 4 of 5 seeds."""
    relu_saturated = [0.1] * 5
    frame = _dying_cell(
        DIES, {"leaky_relu": [0.0] * 5, "prelu": [0.0] * 5}, {"leaky_relu": leaky, "relu": relu_saturated}
    )
    part = _part(checks.check_dying_cell(frame), FEWER)
    diffs = [a - (d + s) for a, d, s in zip(leaky, DIES, relu_saturated, strict=True)]
    assert part.verdict == expected, part.explanation
    if expected == UNSURE:
        assert part.p_value == pytest.approx(_exact_p(diffs, 0.0, "below"))
        assert "not shown fewer than ReLU's" in part.explanation
    assert "ReLU 46.4% on the same seeds (36.4% dead)" in part.explanation


def test_fewer_stuck_without_a_saturated_fraction_is_inconclusive() -> None:
    """A store without the saturated fraction cannot say how many units are stuck: the part is
    inconclusive and says why (treating the missing share as 0 would make it hold by definition)."""
    frame = _dying_cell(DIES, {"leaky_relu": [0.0] * 5}).drop(columns="saturated_fraction_final")
    verdict = checks.check_dying_cell(frame)
    part = _part(verdict, FEWER)
    assert part.verdict == UNSURE and verdict.verdict == UNSURE
    assert "a saturated fraction is not stored" in part.explanation


def test_pooled_fewer_stuck_is_decided_cell_by_cell() -> None:
    """Pooled, "fewer stuck" asks each cell where ReLU's units are shown to die on its own (an
    intersection-union test, as "prevent"): one cell of four where Leaky ReLU's shallow side
    holds more units than ReLU's dead on every seed makes the part not hold; the cells where
    ReLU's units are not shown to die are not asked; four cells under ReLU hold, p = 1/32."""
    straddle = [0.031, 0.031, 0.052, 0.083, 0.167]

    def runs_with(third: list[float]) -> pd.DataFrame:
        fixes = {"leaky_relu": [0.0] * 5, "prelu": [0.0] * 5}
        cells = [
            _dying_cell(DIES, fixes, {"leaky_relu": [0.1] * 5}).assign(lr=0.001),
            _dying_cell(DIES, fixes, {"leaky_relu": [0.1] * 5}).assign(lr=0.003),
            _dying_cell(DIES, fixes, {"leaky_relu": third}).assign(lr=0.01),
            _dying_cell(DIES, fixes, {"leaky_relu": [0.1] * 5}).assign(lr=0.03),
            _dying_cell(straddle, fixes, {"leaky_relu": [0.9] * 5}).assign(lr=0.1),  # not asked
        ]
        return pd.concat(cells, ignore_index=True).assign(run_id=lambda f: f.run_id + "-" + f.lr.astype(str))

    pooled = checks.check_dying(runs_with([0.6] * 5))
    assert [p.label for p in pooled.parts][:3] == ["ReLU units die", PREVENT, FEWER]
    part = _part(pooled, FEWER)
    assert part.verdict == FAILS and part.p_value == pytest.approx(1 / 32), part.explanation
    assert "Of the 4 cells where ReLU's units are shown to die" in part.explanation
    assert "it does not hold in 1 (" in part.explanation and "lr 0.01" in part.explanation
    assert _part(pooled, PREVENT).verdict == HOLDS  # no fix has a dead unit anywhere
    clean = _part(checks.check_dying(runs_with([0.1] * 5)), FEWER)
    assert clean.verdict == HOLDS and clean.p_value == pytest.approx(1 / 32), clean.explanation
    assert "In each of the 4 cells" in clean.explanation and "lr 0.1" not in clean.explanation


def test_a_fix_between_the_thresholds_is_inconclusive_and_says_so() -> None:
    """Every seed at 2-4%: significantly above 1% (not prevention), not shown above 5%."""
    fix = [0.02, 0.025, 0.03, 0.035, 0.04]
    part = _part(checks.check_dying_cell(_dying_cell(DIES, {"leaky_relu": fix, "prelu": [0.0] * 5})), PREVENT)
    assert part.verdict == UNSURE and part.p_value == pytest.approx(1 / 32), part.explanation
    assert "above 1% (one-sided exact signed-rank test, p = 0.0312) but not shown above 5%" in part.explanation


def test_three_seeds_cannot_show_prevention() -> None:
    """With 3 seeds the exact test's smallest p is 1/8: every seed at 0% is "inconclusive",
    and says why (the threshold on the mean said "holds")."""
    from actcmp.claims.checks.units import prevent_part

    cell = _dying_cell([0.3] * 3, {"leaky_relu": [0.0] * 3, "prelu": [0.0] * 3})
    keys = ["dataset", "depth", "lr"]
    part = prevent_part(cell, cell[keys].drop_duplicates(), keys, ("leaky_relu", "prelu"), 0.05, 0.01, 0.05)
    assert part.verdict == UNSURE and part.p_value == pytest.approx(1 / 8), part.explanation
    assert "smallest p is 1/8 = 0.125" in part.explanation
    # and the pooled check never judges "prevent" with 3 seeds a cell: no cell is shown to die
    from actcmp.claims.conditions import by_condition

    cells = [_dying_cell([0.3] * 3, {"leaky_relu": [0.0] * 3, "prelu": [0.0] * 3}).assign(lr=lr) for lr in (0.01, 0.1)]
    runs = pd.concat(cells, ignore_index=True).assign(run_id=lambda f: f.run_id + "-" + f.lr.astype(str))
    pooled = _part(checks.check_dying(runs), PREVENT)
    assert pooled.verdict == UNSURE and "not shown to die in any cell" in pooled.explanation
    assert {c.verdict for c in by_condition(runs, ("lr",), checks.check_dying_cell).conditions} == {UNSURE}


def test_pooled_prevent_is_decided_cell_by_cell_where_units_are_shown_to_die() -> None:
    """Pooled over conditions, "prevent" asks every cell where ReLU's units are shown to die
    (an intersection-union test over the cells): a cell whose ReLU seeds straddle 5% (mean
    7.3%, not shown) is left out, even where a fix loses 30% there (the mean rule failed it);
    one cell where a fix is not shown under 1% makes the whole part inconclusive (pooled
    into one test of 20 runs it would have held, p = 2e-4, hiding that cell), and every
    cell showing it holds with the largest p of theirs."""
    straddle = [0.031, 0.031, 0.052, 0.083, 0.167]

    def runs_with(second: list[float]) -> pd.DataFrame:
        cells = [
            _dying_cell(DIES, {"leaky_relu": [0.0] * 5, "prelu": [0.0] * 5}).assign(lr=0.001),
            _dying_cell(DIES, {"leaky_relu": second, "prelu": [0.0] * 5}).assign(lr=0.003),
            _dying_cell(DIES, {"leaky_relu": [0.0] * 5, "prelu": [0.0] * 5}).assign(lr=0.01),
            _dying_cell(DIES, {"leaky_relu": [0.0] * 5, "prelu": [0.0] * 5}).assign(lr=0.03),
            _dying_cell(straddle, {"leaky_relu": [0.3] * 5, "prelu": [0.0] * 5}).assign(lr=0.1),
        ]
        return pd.concat(cells, ignore_index=True).assign(run_id=lambda f: f.run_id + "-" + f.lr.astype(str))

    masked = _part(checks.check_dying(runs_with([0.0, 0.0, 0.0, 0.0, 0.3])), PREVENT)
    assert masked.verdict == UNSURE, masked.explanation
    assert masked.p_value == pytest.approx(_exact_p([0.0, 0.0, 0.0, 0.0, 0.3], 0.01, "below"))
    assert "Of the 4 cells where ReLU's units are shown to die" in masked.explanation
    assert "shown in 3; it is not shown in 1 (" in masked.explanation and "lr 0.003" in masked.explanation
    clean = _part(checks.check_dying(runs_with([0.0] * 5)), PREVENT)
    assert clean.verdict == HOLDS and clean.p_value == pytest.approx(1 / 32), clean.explanation
    assert "In each of the 4 cells" in clean.explanation and "lr 0.1" not in clean.explanation


def test_one_cell_where_a_fix_dies_fails_the_pooled_prevent() -> None:
    """A fix dying in one of 12 cells (40% in every seed) is "does not hold" pooled, as in that
    cell's own map entry; one test over the 60 runs said "holds" (mean 3.3%, p = 1.7e-7)."""
    cells = [
        _dying_cell(DIES, {"leaky_relu": [0.4] * 5 if i == 5 else [0.0] * 5, "prelu": [0.0] * 5}).assign(lr=i)
        for i in range(12)
    ]
    runs = pd.concat(cells, ignore_index=True).assign(run_id=lambda f: f.run_id + "-" + f.lr.astype(str))
    part = _part(checks.check_dying(runs), PREVENT)
    assert part.verdict == FAILS and part.p_value == pytest.approx(1 / 32), part.explanation
    assert "it does not hold in 1 (" in part.explanation and "lr 5" in part.explanation


def _saturation_cell(saturated: dict[str, list[float]], depth: int = 8) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One condition of the gradient sweep; per bounded activation, each seed's final
    saturated fraction (the gradients vanish: 10^-3 of the last layer's in every seed)."""
    runs, layers = _gradient_cell({name: [1e-3] * len(values) for name, values in saturated.items()}, depth)
    for name, values in saturated.items():
        runs.loc[runs.activation == name, "saturated_fraction_final"] = values
    return runs, layers


SATURATE = "sigmoid and tanh saturate"


@pytest.mark.parametrize(
    ("sigmoid", "tanh", "expected", "p"),
    [
        ([0.2] * 5, [0.1, 0.2, 0.3, 0.15, 0.25], HOLDS, 1 / 32),  # every seed above 5% (p was NaN)
        ([0.2] * 5, [0.0, 0.0, 0.0, 0.0, 0.3], UNSURE, 12 / 32),  # tanh's mean 6%: the mean rule said "holds"
        ([0.01, 0.02, 0.10, 0.03, 0.035], [0.2] * 5, UNSURE, 10 / 32),  # sigmoid's 3.9%: it said "does not hold"
        ([0.0] * 5, [0.2] * 5, FAILS, 1 / 32),  # every seed under 5%
    ],
    ids=["each-above", "one-seed-carries-the-mean", "mean-under-one-seed-above", "sigmoid-below"],
)
def test_saturation_is_a_signed_rank_test_per_bounded_activation(
    sigmoid: list[float], tanh: list[float], expected: str, p: float
) -> None:
    """Inconclusive shows the smaller of the two one-sided p's (as "units die" does)."""
    runs, layers = _saturation_cell({"sigmoid": sigmoid, "tanh": tanh})
    part = _part(checks.check_vanishing_cell(runs, layers), SATURATE)
    assert part.verdict == expected, part.explanation
    assert part.p_value == pytest.approx(p)
    if expected == UNSURE:
        deciding = tanh if tanh[0] == 0.0 else sigmoid
        assert p == pytest.approx(min(_exact_p(deciding, 0.05, "below"), _exact_p(deciding, 0.05, "above")))
    assert "exact signed-rank test" in part.explanation


def test_three_seeds_cannot_show_saturation() -> None:
    runs, layers = _saturation_cell({"sigmoid": [0.3] * 3, "tanh": [0.3] * 3})
    part = _part(checks.check_vanishing_cell(runs, layers), SATURATE)
    assert part.verdict == UNSURE and part.p_value == pytest.approx(1 / 8), part.explanation
    assert "smallest p is 1/8 = 0.125" in part.explanation


@pytest.mark.parametrize(("seeds", "tanh_auto", "expected"), [(5, 0.3, HOLDS), (3, 0.3, UNSURE), (5, 0.01, FAILS)])
def test_saturation_over_several_cells_is_decided_cell_by_cell(seeds: int, tanh_auto: float, expected: str) -> None:
    """Given the runs of several cells at one depth (here: two inits), "saturate" asks each on
    its own seeds: 5 seeds above 5% in both cells hold with p = 1/32; 3 seeds cannot show it in
    either cell (pooled into one test of 6 runs it "held" at p = 1/64); tanh under 5% in one
    cell fails the whole part, whatever the other cell shows."""
    from actcmp.claims.checks.units import saturation_part

    frames = []
    for init in ("auto", "torch-default"):
        for depth in (2, 8):
            tanh = tanh_auto if init == "auto" else 0.3
            runs, layers = _saturation_cell({"sigmoid": [0.2] * seeds, "tanh": [tanh] * seeds}, depth)
            tag = f"-{init}-{depth}"
            frames.append((runs.assign(init=init, run_id=runs.run_id + tag), layers.assign(run_id=layers.run_id + tag)))
    runs = pd.concat([f[0] for f in frames], ignore_index=True)
    part = saturation_part(runs, 8, 0.05)
    assert part.label == SATURATE and part.verdict == expected, part.explanation
    assert "cells at depth 8" in part.explanation
    if expected == HOLDS:
        assert part.p_value == pytest.approx(1 / 32) and "In each of the 2 cells" in part.explanation
    if expected == FAILS:
        assert "it does not hold in 1 (init auto:" in part.explanation


# -- claim A1: anomaly detection -----------------------------------------------------------------------
def _anomaly_runs(aurocs: list[float]) -> pd.DataFrame:
    rows = [
        {"run_id": f"{a}-{s}", "activation": a, "dataset": "breast-cancer", "seed": s, "status": "done"}
        | {"anomaly_auroc": aurocs[s] if a == "relu" else 0.6}
        for a, s in product(("relu", "tanh"), range(len(aurocs)))
    ]
    return pd.DataFrame(rows)


def test_anomaly_mean_at_or_below_chance_needs_a_test_to_fail() -> None:
    noisy = [0.35, 0.62, 0.41, 0.55, 0.44]  # mean 0.474: below chance, not separable from it
    verdict = checks.check_anomaly(_anomaly_runs(noisy))
    assert verdict.verdict == UNSURE, verdict.explanation
    assert verdict.p_value == pytest.approx(sps.ttest_1samp(noisy, 0.5, alternative="less").pvalue)
    assert checks.check_anomaly(_anomaly_runs([0.5] * 5)).verdict == UNSURE


def test_anomaly_significantly_below_chance_does_not_hold() -> None:
    low = [0.30, 0.34, 0.31, 0.29, 0.33]
    verdict = checks.check_anomaly(_anomaly_runs(low))
    assert verdict.verdict == FAILS and "worse than chance" in verdict.explanation
    assert verdict.p_value == pytest.approx(sps.ttest_1samp(low, 0.5, alternative="less").pvalue)
    assert checks.check_anomaly(_anomaly_runs([0.4] * 5)).verdict == FAILS  # the same AUROC on every seed


def test_vanishing_figure_draws_underflowed_seeds_on_a_floor() -> None:
    """A depth where some seeds' first-layer gradient is exactly 0 still gets a point (the
    median) and a marker on the floor line; the mean of -inf drew none."""
    import math

    import pandas as pd

    from actcmp.claims.figures import plot_vanishing

    runs, layers = [], []
    for depth in (2, 8):
        for seed in range(5):
            run_id = f"sigmoid{depth}{seed}"
            first = 0.0 if depth == 8 and seed < 2 else 10.0 ** (-0.3 * depth)
            runs.append({"run_id": run_id, "activation": "sigmoid", "depth": depth, "seed": seed, "status": "done",
                         "init": "auto", "saturated_fraction_final": 0.0})  # fmt: skip
            for layer in range(2 * depth):
                layers.append({"run_id": run_id, "epoch": 0, "layer": layer, "metric": "grad_norm_weight",
                               "value": first if layer == 0 else 1.0})  # fmt: skip
    fig = plot_vanishing(pd.DataFrame(runs), pd.DataFrame(layers))
    left = fig.axes[0]
    median_line = left.lines[0]
    ys = dict(zip(median_line.get_xdata(), median_line.get_ydata(), strict=True))
    assert math.isfinite(ys[8]) and ys[8] == pytest.approx(-2.4)  # 3 of 5 seeds at 10^-2.4
    markers = [line for line in left.lines if line.get_marker() == "v"]
    assert len(markers) == 1 and list(markers[0].get_xdata()) == [8, 8]
    assert all(y < -2.4 for y in markers[0].get_ydata())
    assert any("underflow" in text.get_text() for text in left.texts)
