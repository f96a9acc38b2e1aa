"""Claims decided by the error one activation (or output layer) reaches against another
or a reference: without a nonlinearity depth adds nothing (claim 1, against PCA), tanh
converges faster than sigmoid (5), ELU and Swish generalise better (6), a softmax output
suits distributions (7), a ReLU autoencoder flags anomalies (A1). Paired tests over
(cell, seed) pairs or one-sample tests over seeds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from actcmp.analysis import stats as stats
from actcmp.claims.checks.frames import (
    done_runs,
    finished_runs,
    fmt_p,
    numeric,
    on_datasets,
    paired_runs,
)
from actcmp.claims.checks.ranktests import Sided, sided_test
from actcmp.claims.checks.verdict import FAILS, HOLDS, UNSURE, Verdict, combine, no_data
from actcmp.claims.reference import attach_pca

if TYPE_CHECKING:
    import pandas as pd


# -- claim 1: linear ------------------------------------------------------------------------
def check_linear(
    runs: pd.DataFrame, pca: pd.DataFrame, *, tolerance: float = 0.05, alpha: float = stats.ALPHA
) -> Verdict:
    """Without a nonlinearity, depth adds nothing: identity-activation AEs of every depth
    end at PCA's error at the same bottleneck.

    ``pca``: :func:`~actcmp.claims.reference.pca_reference` of the runs (keyed by dataset,
    seed, bottleneck, split seed and fractions; PCA fitted on each run's own training split). Per dataset and depth, ``ratio`` = mean over converged seeds of
    final training MSE / PCA training MSE. PCA is the best rank-k affine map on the
    training set, so no linear network can go below 1. Holds: every depth within
    ``1 + tolerance`` (shallow and deep reach the same optimum). Does not hold: some
    network goes below ``1 - tolerance`` (it represented something no linear map can).
    Otherwise inconclusive: a network is still above PCA, i.e. not converged at this
    training budget. Needs depth 1 and a deeper network.
    """
    identity = done_runs(runs[runs["activation"] == "identity"]) if "activation" in runs else runs.iloc[0:0]
    if identity.empty or pca is None or pca.empty:
        return no_data("no converged identity-activation runs (or no PCA reference)")
    joined = attach_pca(identity, pca)
    if joined.empty:
        return no_data("no PCA reference matches the runs")
    joined = joined.assign(ratio=numeric(joined, "final_train_loss") / joined["pca_train_mse"])
    parts = []
    worst = 0.0
    panel = [k for k in ("dataset", "bottleneck") if k in joined.columns]
    for key, group in joined.groupby(panel, sort=True):
        values = dict(zip(panel, key if isinstance(key, tuple) else (key,), strict=True))
        name = str(values.get("dataset", "")) + (
            f", bottleneck {values['bottleneck']}" if "bottleneck" in values else ""
        )
        by_depth = group.groupby("depth")["ratio"].mean()
        if len(by_depth) < 2 or by_depth.index.min() != 1:
            parts.append(
                Verdict(
                    UNSURE,
                    "depths",
                    float(len(by_depth)),
                    label=name,
                    explanation=f"{name}: needs depth 1 and a deeper network.",
                )
            )
            continue
        worst = max(worst, float(by_depth.max()))
        parts.append(_linear_panel(name, by_depth, _test_deep_vs_shallow(group), tolerance))
    return combine(parts, "largest train MSE / PCA train MSE", worst)


def _linear_panel(name: str, by_depth: pd.Series, deep_p: float, tolerance: float) -> Verdict:
    """One dataset (and bottleneck): each depth's mean train MSE / PCA train MSE against
    ``1 - tolerance`` (beaten: does not hold) and ``1 + tolerance`` (reached: holds)."""
    low, high = float(by_depth.min()), float(by_depth.max())
    shown = ", ".join(f"depth {d}: {r:.3f}" for d, r in by_depth.items())
    if low < 1 - tolerance:
        verdict, value = FAILS, low
        text = f"{name}: an identity network beat PCA's training error ({shown}), which no linear map can."
    elif high <= 1 + tolerance:
        verdict, value = HOLDS, high
        text = f"{name}: every depth ends within {tolerance:.0%} of PCA's training error ({shown})."
    else:
        verdict, value = UNSURE, high
        text = (
            f"{name}: not converged at this budget, some depth is still more than {tolerance:.0%} above PCA ({shown})."
        )
    # the t-test's p goes in the text, not in the verdict's p column: it does not decide
    text += f" (Deepest vs depth 1, paired t-test on test MSE: {fmt_p(deep_p)}; reported, not deciding.)"
    return Verdict(verdict, "train MSE / PCA", value, label=name, explanation=text)


def _test_deep_vs_shallow(group: pd.DataFrame) -> float:
    """Two-sided p of the paired t-test, deepest vs depth 1, on test loss (reported, not
    deciding; :func:`~actcmp.claims.checks.ranktests.sided_test`: the same difference on every
    seed gives the exact signed-rank test's floor, not 0)."""
    shallow = group[group["depth"] == group["depth"].min()].set_index("seed")["test_loss"]
    deep = group[group["depth"] == group["depth"].max()].set_index("seed")["test_loss"]
    seeds = shallow.index.intersection(deep.index)
    diffs = deep[seeds].to_numpy(float) - shallow[seeds].to_numpy(float)
    return sided_test(diffs, test="t").p_two_sided


# -- claim 5: tanh converges faster than sigmoid ---------------------------------------------
#: the curve claim 5 reads: the training objective (full-pass training loss after each epoch).
#: Not the validation loss: under [tune] the validation rows are the rows the learning rates
#: were selected on, and convergence is a property of the objective being minimised.
EARLY_METRIC = "train_loss"


def early_loss(
    runs: pd.DataFrame, epochs: pd.DataFrame, k: int | None = None, metric: str = EARLY_METRIC
) -> pd.DataFrame:
    """Per converged run: ``early`` = mean ``metric`` (the full-pass training loss) over epochs
    1..k relative to the mean-predictor ``baseline_loss`` (the area under the early learning
    curve; lower = faster; the baseline is the same for every activation of a cell and seed,
    so the ratio of two activations does not depend on it). ``k`` defaults to half the epochs
    of the shortest run."""
    import pandas as pd

    done = done_runs(runs)
    if done.empty or epochs.empty:
        return pd.DataFrame(columns=["run_id", "early", "k"])
    if k is None:
        k = max(1, int(numeric(done, "epochs").min()) // 2) if "epochs" in done else 1
    curve = epochs[(epochs["metric"] == metric) & (epochs["epoch"] >= 1) & (epochs["epoch"] <= k)]
    mean = curve.groupby("run_id")["value"].mean()
    baseline = done.set_index("run_id")["baseline_loss"].astype(float)
    early = (mean / baseline.reindex(mean.index)).dropna()
    return pd.DataFrame({"run_id": early.index, "early": early.to_numpy(), "k": k})


def check_tanh_faster(
    runs: pd.DataFrame,
    epochs: pd.DataFrame,
    *,
    fast: str = "tanh",
    slow: str = "sigmoid",
    k: int | None = None,
    alpha: float = stats.ALPHA,
) -> Verdict:
    """Tanh converges faster than sigmoid: over every (cell, seed) pair, the log ratio of
    the early training loss (:func:`early_loss`) of tanh to sigmoid lies below zero by the
    one-sided test in the claimed direction (:func:`~actcmp.claims.checks.ranktests.sided_test`:
    signed-rank with 6 or more pairs, else paired t; p < alpha). Does not hold when the
    opposite one-sided test is significant (tanh slower); inconclusive otherwise. The ratio
    shown is the test's own estimate (Hodges-Lehmann for the signed-rank test, the geometric
    mean for the t-test), so it lies on the side the test decided."""
    early = early_loss(runs, epochs, k)
    if early.empty:
        return no_data()
    merged = runs.merge(early, on="run_id")
    pairs = paired_runs(merged, fast, slow, ["early"])
    if pairs.empty:
        return no_data(f"no converged {fast} / {slow} pairs")
    log_fast, log_slow = np.log(pairs[f"early_{fast}"].to_numpy(float)), np.log(pairs[f"early_{slow}"].to_numpy(float))
    test = sided_test(log_fast - log_slow)
    ratio = math.exp(test.estimate) if math.isfinite(test.estimate) else math.nan
    median = float(np.exp(np.median(log_fast - log_slow)))
    wins = float(np.mean(log_fast < log_slow))
    k_used = int(early["k"].iloc[0])
    statistic = f"early-loss ratio {fast}/{slow} ({test.estimator})"
    if test.n < 2:
        return Verdict(UNSURE, statistic, ratio, math.nan, f"Inconclusive: {test.n} pair(s) only.")
    verdict, p = test.decide(alpha, "below")
    text = (
        f"Over {test.n} paired runs{on_datasets(pairs)}, {fast}'s training loss over the first {k_used} epochs is "
        f"{ratio:.2f}x {slow}'s ({_estimate_words(test)} of the paired ratio; median {median:.2f}; {fast} lower in "
        f"{wins:.0%} of pairs; {test.method}{_p_text(test, p)})"
    )
    ending = {HOLDS: ".", FAILS: f": {slow} is faster.", UNSURE: ": not separable at this sample size."}[verdict]
    return Verdict(verdict, statistic, ratio, p, text + ending)


def _estimate_words(test: Sided) -> str:
    """The estimate of a ratio tested on the log scale, in words."""
    return "Hodges-Lehmann estimate" if test.estimator != "mean" else "geometric mean"


# -- claim 6: ELU and Swish generalise better ---------------------------------------------------
#: the two tests of claim 6 per candidate: (statistic's name, what it compares). The first decides.
_GENERALISATION_TESTS = (
    ("log test-loss ratio", "test loss"),
    ("change of the log generalisation gap", "generalisation gap"),
)


def check_generalisation(
    runs: pd.DataFrame,
    *,
    reference: str = "relu",
    candidates: Sequence[str] = ("elu", "silu"),
    alpha: float = stats.ALPHA,
) -> Verdict:
    """ELU and Swish generalise better than ReLU, read as: a lower test loss (a better fit of
    unseen data), with the train/test gap reported beside it. Per candidate, over (cell, seed)
    pairs with ReLU: d_test = log(test loss / ReLU's) and d_gap = gap - ReLU's gap, where
    gap = log(test loss / final train loss); each tested against zero
    (:func:`~actcmp.claims.checks.ranktests.sided_test`: signed-rank with 6+ pairs, else paired
    t), two-sided as twice the smaller one-sided p with the direction of that side, the
    p-values Holm-corrected over every test of this call (2 per candidate: the tests that
    feed one condition's verdict). The test loss decides: a candidate holds when d_test is
    significantly below zero, does not hold when it is significantly above. The gap never
    decides alone (a smaller gap with the same test loss is no better fit of unseen data);
    it only stops a decision it contradicts: a gap significantly on the other side makes it
    inconclusive (a lower test loss bought with a larger gap, or the reverse). Each
    candidate's statistic is its log test-loss ratio (the test's own estimate: Hodges-Lehmann
    or mean) and its Holm-adjusted p."""
    parts: dict[str, Verdict] = {}
    tests: list[tuple[str, Sided, Sided, str]] = []
    for name in candidates:
        pairs = paired_runs(runs, name, reference, ["test_loss", "final_train_loss"])
        if len(pairs) < 2:
            parts[name] = Verdict(
                UNSURE,
                "pairs",
                float(len(pairs)),
                label=f"{name} generalises better than {reference}",
                explanation=f"{name}: fewer than 2 converged pairs with {reference}.",
            )
            continue
        test_c, test_r = (
            np.log(pairs[f"test_loss_{name}"].to_numpy(float)),
            np.log(pairs[f"test_loss_{reference}"].to_numpy(float)),
        )
        gap_c = test_c - np.log(pairs[f"final_train_loss_{name}"].to_numpy(float))
        gap_r = test_r - np.log(pairs[f"final_train_loss_{reference}"].to_numpy(float))
        tests.append((name, sided_test(test_c - test_r), sided_test(gap_c - gap_r), on_datasets(pairs)))
    # Holm over every test that feeds this verdict (2 per candidate), then each candidate's part
    adjusted = stats.holm([p for _, on_test, on_gap, _ in tests for p in (on_test.p_two_sided, on_gap.p_two_sided)])
    for i, (name, on_test, on_gap, where) in enumerate(tests):
        holm = (float(adjusted[2 * i]), float(adjusted[2 * i + 1]))
        parts[name] = _generalisation_part(name, reference, (on_test, on_gap), holm, len(adjusted), alpha, where)
    done = [parts[name] for name in candidates]
    lead = done[0] if done else None
    return combine(
        done,
        f"{lead.statistic} vs {reference} ({candidates[0]})" if lead else "log test-loss ratio",
        lead.value if lead else math.nan,
        lead.p_value if lead else math.nan,
    )


def _generalisation_part(
    name: str,
    reference: str,
    results: tuple[Sided, Sided],
    adjusted: tuple[float, float],
    family: int,
    alpha: float,
    where: str = "",
) -> Verdict:
    """One candidate of claim 6 from its two tests (d_test, d_gap) and their Holm-adjusted
    two-sided p-values (``family`` tests in all): the test loss decides, the gap only stops a
    decision it contradicts (see :func:`check_generalisation`). Each test's direction is the
    side its one-sided p-values point to (:attr:`~actcmp.claims.checks.ranktests.Sided.side`),
    never a mean beside it. ``where``: the datasets of the pairs
    (:func:`~actcmp.claims.checks.frames.on_datasets`)."""
    label = f"{name} generalises better than {reference}"
    sides = [t.side if p < alpha else 0 for t, p in zip(results, adjusted, strict=True)]
    on_test, on_gap = results
    test_side, gap_side = sides
    ratio = math.exp(on_test.estimate)
    method = "Wilcoxon signed-rank tests" if on_test.test == "signed-rank" else "paired t-tests"
    text = (
        f"{name} vs {reference} over {on_test.n} pairs{where}: test loss x{ratio:.2f} "
        f"({_estimate_words(on_test)}; {fmt_p(adjusted[0])}), generalisation gap {on_gap.estimate:+.3f} in log "
        f"units ({on_gap.estimator}; {fmt_p(adjusted[1])}), {method}, each two-sided (twice its smaller one-sided "
        f"p, read for that side's direction), p Holm-adjusted over {family} tests"
    )
    same = [what for (_, what), t in zip(_GENERALISATION_TESTS, results, strict=True) if t.all_equal]
    if same:
        text += (
            f" (the {' and the '.join(same)}: the same difference on every pair, so no t statistic; decided as the "
            "t-test's limit, its p going to 0 as the spread shrinks)"
        )
    text += ". "
    gap_words = {-1: "smaller", 1: "larger", 0: "not separable from ReLU's"}
    if test_side and gap_side == -test_side:
        verdict = UNSURE
        text += (
            f"The two disagree: the test loss favours {name if test_side < 0 else reference}, the generalisation "
            f"gap {reference if test_side < 0 else name} (a {'lower' if test_side < 0 else 'higher'} test loss with "
            f"a {gap_words[gap_side]} gap)."
        )
    elif test_side:
        verdict = HOLDS if test_side < 0 else FAILS
        text += (
            f"Decided by the test loss, {'lower' if test_side < 0 else 'higher'} for {name} "
            f"({'a better' if test_side < 0 else 'a worse'} fit of unseen data); its gap is {gap_words[gap_side]}"
            f"{'' if gap_side else ' (reported, not required)'}."
        )
    else:
        verdict = UNSURE
        text += "The test loss, which decides, is not separable from ReLU's at this sample size" + (
            f" (only the gap is: {gap_words[gap_side]}, which alone says nothing about the fit of unseen data)."
            if gap_side
            else "."
        )
    return Verdict(
        verdict,
        f"{_GENERALISATION_TESTS[0][0]} ({on_test.estimator})",
        on_test.estimate,
        adjusted[0],
        text,
        label=label,
    )


# -- claim 7: softmax output for distributions ------------------------------------------------
def common_metric(runs: pd.DataFrame) -> tuple[pd.DataFrame, str, str]:
    """(runs, metric, note): the metric every output layer can be compared on.
    ``test_mse`` when the engine recorded it for every run; otherwise ``test_loss`` of the
    runs trained with MSE (the softmax + cross-entropy arm has no comparable number)."""
    finished = finished_runs(runs)
    if "test_mse" in runs.columns and numeric(done_runs(runs), "test_mse").notna().all() and len(done_runs(runs)):
        return runs, "test_mse", "test MSE, recorded for every run whatever its training loss"
    if "loss" in runs.columns:
        kept = runs[runs["loss"] == "mse"]
        left = len(finished) - len(finished_runs(kept))
        note = "test MSE of the runs trained with MSE" + (f" ({left} runs with another loss left out)" if left else "")
        return kept, "test_loss", note
    return runs, "test_loss", "test loss"


def check_softmax(runs: pd.DataFrame, *, candidate: str = "softmax", alpha: float = stats.ALPHA) -> Verdict:
    """A softmax output suits distributions: on one metric (:func:`common_metric`), softmax
    against each other output layer over every (cell, seed) pair of ``runs``, on the log
    ratio of the errors, by the one-sided test in the claimed direction
    (:func:`~actcmp.claims.checks.ranktests.sided_test`: signed-rank with 6 or more pairs,
    else paired t). Each comparison holds when softmax is lower with p < alpha and does not
    hold when the opposite one-sided test has p < alpha (softmax higher); softmax must beat
    every alternative. The ratio shown is the test's own estimate (Hodges-Lehmann or
    geometric mean). Judged per condition (depth x hidden activation) by
    :mod:`actcmp.claims.decisions`, and once over all of them."""
    treatment = "output_activation"
    if treatment not in runs or candidate not in set(finished_runs(runs)[treatment]):
        return no_data(f"no runs with a {candidate} output")
    kept, metric, note = common_metric(runs)
    others = [o for o in sorted(set(done_runs(kept)[treatment])) if o != candidate]
    if not others:
        return no_data("no other output activation shares a comparable metric")
    parts = []
    for other in others:
        pairs = paired_runs(kept, candidate, other, [metric], treatment=treatment)
        label = f"{candidate} beats {other}"
        if len(pairs) < 2:
            parts.append(
                Verdict(
                    UNSURE,
                    "pairs",
                    float(len(pairs)),
                    label=label,
                    explanation=f"{candidate} vs {other}: fewer than 2 paired runs.",
                )
            )
            continue
        mine, theirs = np.log(numeric(pairs, f"{metric}_{candidate}")), np.log(numeric(pairs, f"{metric}_{other}"))
        diffs = (mine - theirs).to_numpy(float)
        test = sided_test(diffs)
        verdict, p = test.decide(alpha, "below")
        ratio = math.exp(test.estimate)
        wins = float(np.mean(diffs < 0))
        beside = "" if test.estimator == "mean" else f"; geometric mean x{math.exp(float(np.mean(diffs))):.2f}"
        text = (
            f"{candidate} vs {other} over {test.n} pairs: error x{ratio:.2f} ({_estimate_words(test)}{beside}; "
            f"{candidate} lower in {wins:.0%} of pairs; {test.method}{_p_text(test, p)})"
        )
        ending = {HOLDS: f": {candidate} lower.", FAILS: f": {candidate} higher.", UNSURE: ": not separable."}
        parts.append(
            Verdict(verdict, f"error ratio {candidate}/{other}", ratio, p, text + ending[verdict], label=label)
        )
    closest = max(parts, key=lambda v: v.value if math.isfinite(v.value) else -math.inf)
    return combine(parts, f"error ratio {candidate} / closest alternative ({note})", closest.value, closest.p_value)


def _p_text(test: Sided, p: float) -> str:
    """ ", p = ..." after a test's method, or nothing where the differences had no spread (decided
    as the t-test's limit: a p of 0 would read as a result the seeds cannot give)."""
    return "" if test.all_equal and test.test == "t" else f", {fmt_p(p)}"


# -- application: anomaly detection ------------------------------------------------------------
def check_anomaly(
    runs: pd.DataFrame, *, candidate: str = "relu", chance: float = 0.5, alpha: float = stats.ALPHA
) -> Verdict:
    """A ReLU autoencoder's reconstruction error flags anomalies: on every dataset with
    anomalies, ReLU's AUROC over seeds is above ``chance`` by a one-sided one-sample t-test
    (p < alpha). Does not hold when it is below ``chance`` on some dataset by the opposite
    one-sided test (p < alpha); inconclusive otherwise (a mean at or near chance that the
    seeds cannot separate from it). The same AUROC on every seed has no t statistic: it is
    decided as the t-test's limit (:func:`~actcmp.claims.checks.ranktests.sided_test`), so
    that a perfect detector on every seed is never weaker evidence than a nearly perfect one."""
    done = done_runs(runs)
    mine = done[(done["activation"] == candidate)] if "activation" in done else done.iloc[0:0]
    mine = mine.assign(_auroc=numeric(mine, "anomaly_auroc")).dropna(subset=["_auroc"])
    if mine.empty:
        return no_data(f"no converged {candidate} runs with an anomaly AUROC")
    parts = []
    for dataset, group in mine.groupby("dataset", sort=True):
        values = group["_auroc"].to_numpy(float)
        mean = float(values.mean())
        test = sided_test(values - chance, test="t")
        verdict, p = test.decide(alpha, "above")
        ending = {HOLDS: "better than chance", FAILS: "worse than chance", UNSURE: "not separable from chance"}
        if test.all_equal:
            how = (
                f"the same AUROC on every seed: no spread, so no t statistic; decided as the one-sided t-test's limit "
                f"against {chance}, its p going to 0 as the spread shrinks"
            )
        else:
            how = f"one-sided t-test against {chance}, {fmt_p(p)}"
        text = f"{dataset}: {candidate} AUROC {mean:.3f} over {len(values)} seeds ({how}): {ending[verdict]}."
        parts.append(Verdict(verdict, "mean AUROC", mean, p, text, label=str(dataset)))
    low = min(parts, key=lambda v: v.value)
    return combine(parts, f"lowest mean AUROC of {candidate}", low.value, low.p_value)


__all__ = [
    "check_anomaly",
    "check_generalisation",
    "check_linear",
    "check_softmax",
    "check_tanh_faster",
    "common_metric",
    "early_loss",
]
