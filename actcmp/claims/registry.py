"""The claims: what each says, where it comes from, the sweep that tests it, the rule
that decides it, and the functions that compute its verdict, figure and tables.

Each quote shows the claim as it is commonly stated, verbatim from one of the texts it
was collected from (introductions to activation functions in autoencoders; a test checks
the quotes when those texts are checked out beside the repository). The documents credit
the quotes to the claim as commonly stated, not to a file. Each claim names a sweep file in ``experiments/claims/``; claims 2 and 8 share
the ranking sweep (and the depth-scaling table comes from it too).

The claim records only: what each computes is in :mod:`actcmp.claims.decisions` (the
verdict, from :mod:`actcmp.claims.checks`), :mod:`actcmp.claims.drawings` (the figure) and
:mod:`actcmp.claims.tables`; :mod:`actcmp.claims.context` is what they read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from actcmp.claims.context import ClaimContext, Tables, figure_or_empty, needs_runs, tables_or_empty
from actcmp.claims.decisions import (
    decide_anomaly,
    decide_compression,
    decide_dying,
    decide_generalisation,
    decide_linear,
    decide_matters,
    decide_relu_default,
    decide_softmax,
    decide_tanh_sigmoid,
    decide_vanishing,
)
from actcmp.claims.drawings import (
    draw_anomaly,
    draw_compression,
    draw_dying,
    draw_generalisation,
    draw_linear,
    draw_matters,
    draw_relu_default,
    draw_softmax,
    draw_tanh_sigmoid,
    draw_vanishing,
)
from actcmp.claims.tables import (
    anomaly_tables,
    compression_tables,
    dying_tables,
    generalisation_tables,
    linear_tables,
    matters_tables,
    relu_default_tables,
    softmax_tables,
    tanh_sigmoid_tables,
    vanishing_tables,
)
from actcmp.moved import moved_names

#: how "within 10% of the best" is decided (analysis.paired.within_margin_of_all)
IUT = (
    "shown within 10% of every other activation (one-sided paired t-tests of the log ratio, all rejecting: an "
    "intersection-union test; being the sample's best is not enough)"
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from actcmp.claims.checks import Verdict


@dataclass(frozen=True)
class Claim:
    """One claim. ``decide``, ``figure`` and ``tables`` take a :class:`ClaimContext`."""

    key: str
    number: str
    title: str
    sentence: str
    quotes: tuple[tuple[str, str], ...]
    sweep: str
    statistic: str
    rule: str
    caption: str
    decide: Callable[[ClaimContext], Verdict]
    figure: Callable[[ClaimContext], Figure]
    tables: Callable[[ClaimContext], Tables] = lambda ctx: []
    #: what the verdicts infer about and what not, said under the verdict after "On these datasets
    #: (...), at these settings" (the sweep's datasets); "" for no such line
    scope: str = ""


SOURCE_000 = "000_73d09b3364cfd917.txt"
SOURCE_001 = "001_9237c7aeebea9cfc.txt"
SOURCE_002 = "002_465dc26c1f615c6a.txt"
SOURCE_003 = "003_280bf8b9f266617c.txt"


CLAIMS: tuple[Claim, ...] = (
    Claim(
        key="linear",
        number="1",
        title="Without a nonlinearity, depth adds nothing",
        sentence=(
            "A deep autoencoder with the identity activation does no better than a depth-1 linear one, and "
            "both approach PCA's reconstruction error at the same bottleneck."
        ),
        quotes=(
            (
                SOURCE_000,
                "Without these functions, no matter how many layers we stack, our network would only be "
                "able to learn simple, linear relationships.",
            ),
        ),
        sweep="linear",
        statistic="train MSE / PCA train MSE per depth (PCA from scikit-learn on the same training split)",
        rule=(
            "PCA is the best rank-k affine map on the training set, so no linear network can go below it. Holds "
            "when every depth ends within 5% of PCA's training MSE; does not hold when any identity network goes "
            "more than 5% below it; inconclusive when some depth is still more than 5% above (not converged at "
            "this budget). The deep-vs-depth-1 paired t-test on test MSE is reported, not deciding."
        ),
        caption=(
            "Top: test MSE of identity-activation networks per depth (marker = mean, bar = min-max over seeds) "
            "with PCA's test MSE at the same bottleneck (dashed). Bottom: training MSE over PCA's: every depth "
            "lands in the grey band when depth adds nothing."
        ),
        decide=needs_runs(decide_linear),
        figure=figure_or_empty(draw_linear),
        tables=tables_or_empty(linear_tables),
    ),
    Claim(
        key="relu_default",
        number="2",
        title="ReLU is a strong default for encoders",
        sentence="ReLU is as good as the best activation in most settings, so it is a safe default.",
        quotes=(
            (
                SOURCE_001,
                "ReLU is simple, computationally efficient, and often outperforms other functions in "
                "autoencoder architectures.",
            ),
            (SOURCE_003, "It's a reliable default activation function for many deep learning tasks."),
        ),
        sweep="ranking",
        statistic=(
            "ReLU's mean rank of test loss over cells (over the datasets as blocks where cells share a dataset), "
            "Friedman test, Nemenyi critical difference; per cell, ReLU's one-sided paired tests against each other "
            "activation (Holm over those) and the within-10% test"
        ),
        rule=(
            "Needs activations to differ at all (Friedman p < 0.05 over dataset x depth cells, with the datasets "
            "as blocks where cells share a dataset, as pooled over depths: a permutation p; else inconclusive). "
            "Does not hold when, in more than half the cells, ReLU is significantly worse than another activation "
            "of the cell (one-sided paired t-tests of log test loss, ReLU against each of the other 6 activations, "
            "Holm over those 6 comparisons: ReLU is named before the data are seen, so its own comparisons are a "
            "fixed family and no best picked from the data has to be corrected for; a seed where only one of a "
            "pair diverged enters as in the report's paired tests), or when ReLU is outside the top group (mean "
            "rank beyond the Nemenyi CD of the best; the CD covers every pair). Otherwise holds when, in at least "
            f"half the cells, ReLU is {IUT}; being inside the top group is not required (nearly every activation "
            "is inside it at 3 datasets, see below, and not being shown to rank worse is no evidence of being as "
            "good). Diverged runs rank last; so does an activation whose every tuning candidate "
            "diverged (no selected value: its evaluation seeds count as diverged, not left out). Each activation "
            "trains at its own learning rate (tuned "
            "per dataset and depth on separate seeds by validation loss, [tune]); judged at each depth on its own "
            "(over the datasets), and pooled. The critical difference shrinks only as 1 / sqrt(blocks): with 7 "
            "activations on 3 datasets it is 5.20 of a possible 6 ranks, so the top group separates almost nothing "
            "and 'inside the top group' is weak evidence (the texts say so where the CD exceeds half the range); "
            "the within-10% part is the one that can show ReLU as good. The family of 'significantly worse' was "
            "changed after the stored runs had been seen: it was two-sided tests against the cell's best, Holm over "
            "all 21 pairs of the 7 activations (the best being picked from the same data), a family that at 5 seeds "
            "rarely separates anything; it was changed because ReLU's own comparisons are the family the claim "
            "pre-specifies, not for the verdict it gives. The rank table's 'worse in' column still counts the "
            "comparison with the cell's best, Holm over all pairs, not this family."
        ),
        caption=(
            "Critical-difference diagram of test loss, as the verdict reads it: activations at their mean rank "
            "(1 = best) over the datasets, each dataset one block (its depths' cells share its data, so ranks "
            "and CD over cells would be optimistic; over cells where every cell has its own dataset); a bar "
            "joins activations whose mean ranks differ by less than the Nemenyi CD (not significantly different)."
        ),
        decide=needs_runs(decide_relu_default),
        figure=figure_or_empty(draw_relu_default),
        tables=tables_or_empty(relu_default_tables),
    ),
    Claim(
        key="dying",
        number="3",
        title="ReLU units die; Leaky ReLU and PReLU prevent it; dying hurts",
        sentence=(
            "ReLU units die (more with a higher learning rate and a deeper network), Leaky ReLU and PReLU "
            "prevent it (no dead units, and fewer units stuck on their shallow side than ReLU has on its flat "
            "side), and dead units hurt reconstruction."
        ),
        quotes=(
            (
                SOURCE_002,
                'In some cases, ReLU neurons can become "stuck" and never output a positive value. This '
                "can happen if the learning rate is too high or if the network is not properly "
                "initialized.",
            ),
            (
                SOURCE_000,
                'variations like "Leaky ReLU" or "Parametric ReLU (PReLU)" were developed to address '
                'the "dying ReLU" problem',
            ),
        ),
        sweep="dying",
        statistic="ReLU's dead fraction and each fix's against thresholds; each fix's stuck share minus ReLU's, "
        "paired by seed; Page's trend test of ReLU's dead fraction over learning rate and over depth; within-condition "
        "Spearman rho of dead fraction vs ReLU/Leaky-ReLU test-loss ratio (ranks centred within each condition, "
        "permutation p within conditions)",
        rule=(
            "Judged in each condition (init rule x depth x learning rate) on its own, three parts, all of which must "
            "hold. (a) ReLU units die: ReLU's final dead fraction lies above 5% (a one-sided exact signed-rank test "
            "of the seeds against 5%, p < 0.05, so with 5 seeds every seed above it; does not hold where every seed "
            "lies below, inconclusive otherwise; a seed at exactly 5% drops out of the test). The final share counts "
            "units dead from initialisation (the quote names a network 'not properly initialized' as a cause): the "
            "texts and the dead-fraction table give ReLU's share at initialisation beside it and say where it fell "
            "during training (fewer dead at the end than at the start: a net change of counts) or rose; descriptive, the "
            "test reads the final share. Where units are shown "
            "to die: (b) Leaky ReLU and PReLU prevent it: each one's seeds lie below 1% dead (the same one-sided "
            "exact signed-rank test against 1%, p < 0.05: with 5 seeds every seed under 1%; does not hold where they "
            "lie significantly above 5%, inconclusive otherwise, including between 1% and 5%). By the definition of "
            "a dead unit, Leaky ReLU's units cannot die (its slope is 0.01, never 0) and PReLU's only if its learned "
            "slope reaches exactly 0, so (b) mostly confirms the measurement; (c) is the part that can fail. (c) "
            "Leaky ReLU and PReLU leave fewer units stuck: a unit is stuck when it is dead or saturated, |f'| under "
            "5% of its peak on at least 95% of the probe inputs (see Definitions: ReLU's flat side, Leaky ReLU's "
            "slope-0.01 side, PReLU's negative side while its learned slope is under 5%); per fix, the differences "
            "of its stuck share minus ReLU's on the same seed (the same data, split, initial weights and batch "
            "order) lie below 0 by a one-sided exact signed-rank test, p < 0.05 (with 5 seeds, the fix below ReLU on "
            "every seed; a seed with equal shares drops out); does not hold where they lie significantly above 0 "
            "(the fix leaves more units stuck than ReLU), inconclusive otherwise. The same rule on both sides keeps "
            "(c) like for like: against ReLU's dead share (every input) the fix's 95% rule would count units "
            "ReLU's does not. (c) is judged only where (a) held on the same seeds, and stuck includes dead: a cell "
            "chosen because ReLU's seeds died is one where ReLU's stuck shares are high by selection, so near the "
            "5% bound (c) can hold by chance more often than 5% (simulated: up to 11% of such cells where the fix "
            "and ReLU do not differ, against 3% unselected). Both fixes must show (b) and (c). An exact signed-rank test needs 5 seeds to reach "
            "p < 0.05 (3 seeds: smallest p 1/8), so with fewer it is inconclusive and says so. Pooled over all "
            "conditions, four parts are reported beside the map: (1) ReLU's final dead fraction reaches 5% in some "
            "cell and rises with learning rate and with depth (Page's L test over the ordered levels, blocked by "
            "the other factor and the seed, p < 0.05). (2) and (3): (b) and (c) in every cell where ReLU's units "
            "are shown to die, each cell by its own per-condition test: holds when every cell shows it (the "
            "largest p is reported), does not hold when one cell's does not hold, inconclusive otherwise (the "
            "cells are not pooled into one test, which would let the other cells hide one where a fix fails). "
            "(4) Within conditions, ReLU's dead fraction correlates positively with its test loss relative to Leaky "
            "ReLU on the same seed (same data, init and batches): both ranked within each condition and centred on "
            "its mean rank, the correlation of the centred ranks over all conditions, its two-sided p by permuting "
            "the loss ratios within each condition (10,000 seeded draws), p < 0.05 (significantly negative does "
            "not hold); not pooled over conditions, where learning rate and depth drive both."
        ),
        caption=(
            "Left panels: dead fraction after training against learning rate (band = min-max over seeds, both "
            "init rules together; the verdict map judges them apart), one panel per depth; the dotted line is "
            "the 5% the seeds are tested against. Right: each ReLU run's dead fraction against its test loss relative to Leaky "
            "ReLU on the same seed, all conditions together (part (4) ranks within each condition); above the dashed "
            "line ReLU is worse."
        ),
        decide=needs_runs(decide_dying),
        figure=figure_or_empty(draw_dying),
        tables=tables_or_empty(dying_tables),
    ),
    Claim(
        key="vanishing",
        number="4",
        title="Sigmoid and tanh saturate and their gradients vanish with depth",
        sentence=(
            "Sigmoid and tanh saturate and their gradients vanish as networks get deeper, while the ReLU "
            "family keeps gradient norms across layers."
        ),
        quotes=(
            (
                SOURCE_003,
                "the gradients of the sigmoid, shown in orange, are very small for large and small values "
                "of x. This phenomenon is called saturation.",
            ),
            (
                SOURCE_003,
                "its gradients do not approach zero for large values of x, which helps overcome the "
                "vanishing gradients problem.",
            ),
        ),
        sweep="gradients",
        statistic="median log10(first / last layer weight-gradient norm at init) per init rule and depth; saturated fraction",
        rule=(
            "Judged in each condition (init rule x depth) on its own. From r = |grad W_first| / |grad W_last| at "
            "initialisation: each bounded activation (sigmoid, tanh) vanishes when its seeds' log10 r are "
            "below -1 (more than one order of magnitude lost; exact one-sided signed-rank test of log10 r + 1, "
            "p < 0.05, the median shown: with 5 seeds, every seed below -1), and does not when they are "
            "significantly above -1. A seed whose first-layer gradient underflowed to exactly 0 counts as "
            "vanished (log10 r = -inf, ranked lowest; every seed: it vanishes). A rank test, so making one seed "
            "vanish more never weakens the verdict. Each ReLU-family activation (ReLU, Leaky ReLU) keeps norms when "
            "its seeds' log10 r lie within -1 and 1, shown by two one-sided signed-rank tests (p < 0.05 each: with "
            "5 seeds, every seed within), does not when they are significantly beyond either bound, and is "
            "inconclusive otherwise (e.g. one seed of five underflowed). Sigmoid and tanh saturate when each one's "
            "seeds lie above 5% saturated units after training (one-sided exact signed-rank test against 5%, "
            "p < 0.05: with 5 seeds every seed above; does not hold where one's lie significantly below 5%; "
            "inconclusive otherwise, and always with 3 seeds; saturation as defined under Definitions; judged for "
            "the bounded family only). All parts must hold in a condition for the claim to hold there, so the verdict "
            "is the claim as a whole; the verdict line and the summary also say in how many conditions each part "
            "holds (a part can hold almost everywhere under a whole that holds nowhere). The claim has "
            "no pooled verdict: its verdict is the map of its conditions."
        ),
        caption=(
            "One row per init rule (auto: He for the ReLU family, Xavier for tanh/sigmoid; torch-default), as the "
            "verdict map judges them. Left: log10 of the first layer's weight-gradient norm over the last layer's "
            "at initialisation against depth, the median over seeds with the min-max band over seeds (grey band: "
            "within one order of magnitude); a seed whose first-layer gradient underflowed to exactly 0 is a "
            "triangle on the dotted floor, with the count k/n. Right: the median over seeds of every linear "
            "layer's gradient norm in the deepest network at initialisation (a median of exactly 0 is a triangle "
            "on the floor)."
        ),
        decide=needs_runs(decide_vanishing),
        figure=figure_or_empty(draw_vanishing),
        tables=tables_or_empty(vanishing_tables),
    ),
    Claim(
        key="tanh_sigmoid",
        number="5",
        title="Tanh converges faster than sigmoid",
        sentence=(
            "Tanh converges faster than sigmoid: its training loss early in training is lower than sigmoid's on the "
            "same cell and seed (the quote credits tanh's zero-centred output; the cause is not tested, only the speed)."
        ),
        quotes=(
            (
                SOURCE_001,
                "It's often preferred over sigmoid for its centered output, potentially leading to faster "
                "convergence during training.",
            ),
        ),
        sweep="tanh_sigmoid",
        statistic=(
            "ratio tanh/sigmoid of the early training loss, paired by cell and seed: the Hodges-Lehmann estimate "
            "(signed-rank test) or the geometric mean (t-test), the estimate of the test that decides"
        ),
        rule=(
            "Early loss = mean training loss (full pass after each epoch) over the first half of the epochs, "
            "divided by the mean-predictor "
            "loss. Over all (cell, seed) pairs the log ratio tanh/sigmoid is tested against zero by one-sided tests "
            "(Wilcoxon signed-rank with 6 or more pairs, else paired t). Holds when the test that it lies below zero "
            "has p < 0.05, does not hold when the opposite one-sided test has p < 0.05, inconclusive otherwise: the "
            "direction is the test's, and the ratio shown is its own estimate (Hodges-Lehmann for the signed-rank "
            "test, the geometric mean for the t-test), never a median or mean taken beside it. Each activation "
            "trains at its own "
            "learning rate, selected per dataset and depth on separate tuning seeds by validation loss ([tune]). "
            "Judged at each depth on its own (pairs over datasets and seeds), and pooled over all depths."
        ),
        caption=(
            "Training loss over the mean-predictor loss per epoch (mean over seeds, log scale), one panel per "
            "dataset, line style per depth; the grey span is the early window the verdict averages."
        ),
        decide=needs_runs(decide_tanh_sigmoid),
        figure=figure_or_empty(draw_tanh_sigmoid),
        tables=tables_or_empty(tanh_sigmoid_tables),
        scope=(
            "the seeds are the replicates and the datasets fixed, so each depth's verdict, and the pooled one, is "
            "about the mean effect over these datasets' pairs. Neither says that tanh converges faster than sigmoid "
            "on other datasets or at other widths, budgets or learning-rate candidates, nor why."
        ),
    ),
    Claim(
        key="generalisation",
        number="6",
        title="ELU and Swish generalise better",
        sentence=(
            "ELU and Swish (SiLU) generalise better than ReLU, read as: each reaches a lower test loss than ReLU "
            "on the same cell and seed (a better fit of unseen data), without a significantly larger train/test "
            "gap; the gap is reported beside it (a smaller gap alone does not count, and a lower test loss "
            "bought with a larger gap is inconclusive)."
        ),
        quotes=(
            (
                SOURCE_001,
                "ELU (Exponential Linear Unit): Offers smoother transitions than ReLU, potentially "
                "leading to better generalization.",
            ),
            (
                SOURCE_001,
                "Swish: A self-gated activation function that dynamically adjusts its output based on the "
                "input, demonstrating promising results in various tasks.",
            ),
        ),
        sweep="generalisation",
        statistic="log test-loss ratio against ReLU (deciding) and gap change (beside it), paired by cell and seed",
        rule=(
            "For ELU and for SiLU against ReLU on the same cell and seed: d_test = log(test loss ratio) and d_gap "
            "= change of log(test / train loss), each tested against zero (Wilcoxon signed-rank with 6+ pairs, "
            "else paired t; two-sided as twice the smaller one-sided p, its direction that side's), p "
            "Holm-adjusted over the 4 tests of a condition (2 per candidate), p < 0.05. 'Generalises better' is "
            "read as a lower test loss (a better fit of unseen data), so the test loss decides: a candidate holds "
            "when d_test is significantly below zero, does not hold when it is significantly above zero, and is "
            "inconclusive when it is neither. The gap is reported beside it and decides nothing alone (a smaller "
            "gap at the same test loss is no better fit of unseen data); a gap significantly on the other side "
            "of a decided test loss (a lower test loss with a larger gap, or the reverse) makes it inconclusive. "
            "The statistic shown is the log test-loss ratio, the test's own estimate (Hodges-Lehmann or mean). "
            "Both candidates must hold. Each "
            "activation trains at its own learning rate (tuned on separate seeds by validation loss, [tune]); "
            "judged per dataset and depth on its own (one pair per seed: the paired t-test under 6 seeds), and "
            "pooled over every dataset and depth."
        ),
        caption=(
            "Each dot is one (cell, seed) pair. Left: test loss relative to ReLU's (below 1 = better). Right: "
            "change of the generalisation gap log(test/train) against ReLU's (below 0 = smaller gap); bars are "
            "medians."
        ),
        decide=needs_runs(decide_generalisation),
        figure=figure_or_empty(draw_generalisation),
        tables=tables_or_empty(generalisation_tables),
        scope=(
            "each condition is one dataset at one depth, its seeds the replicates, and the pooled verdict is about "
            "the mean effect over these datasets' pairs. Neither says that ELU or SiLU generalise better than ReLU "
            "on other datasets or at other widths, budgets or learning-rate candidates."
        ),
    ),
    Claim(
        key="softmax",
        number="7",
        title="A softmax output layer suits data that are distributions",
        sentence=(
            "On data whose rows are probability distributions, a softmax output layer reconstructs better "
            "than sigmoid or identity outputs."
        ),
        quotes=(
            (
                SOURCE_001,
                "In autoencoders, softmax is typically used in the output layer to reconstruct the input "
                "data as probabilities.",
            ),
        ),
        sweep="softmax",
        statistic=(
            "test-MSE ratio of softmax to each other output layer, paired by cell and seed (the test's own "
            "estimate: Hodges-Lehmann or geometric mean)"
        ),
        rule=(
            "Every output layer is trained and compared by MSE on the distributions dataset (so the loss is the "
            "same for all; the engine records no loss-independent metric for cross-entropy runs yet), each at its "
            "own learning rate, selected per depth, hidden activation and output layer on tuning seeds by "
            "validation loss ([tune]). Judged in "
            "each condition (depth x hidden activation) on its own, over its seeds, and pooled over every (cell, "
            "seed) pair beside the map: the log ratio of softmax's test MSE to each other output layer's is tested "
            "against zero by one-sided tests (Wilcoxon signed-rank with 6 or more pairs, else paired t). Holds when "
            "the test that softmax is lower has p < 0.05 against every alternative; does not hold when the opposite "
            "one-sided test has p < 0.05 against some alternative; inconclusive otherwise. The direction is the "
            "test's, and the ratio shown is its own estimate (Hodges-Lehmann for the signed-rank test, the "
            "geometric mean for the t-test)."
        ),
        caption=(
            "Test MSE (log scale) per output activation and cell (depth, hidden activation): the mean over seeds "
            "with its Student t 95% interval, and each seed as a dot; an interval reaching 0 is cut at the panel's "
            "bottom (triangle)."
        ),
        decide=needs_runs(decide_softmax),
        figure=figure_or_empty(draw_softmax),
        tables=tables_or_empty(softmax_tables),
    ),
    Claim(
        key="matters",
        number="8",
        title="The activation changes how well and how quickly an AE learns",
        sentence=(
            "The choice of activation changes both the final reconstruction error and the speed of learning "
            "by more than seed-to-seed noise."
        ),
        quotes=(
            (
                SOURCE_000,
                "The choice of activation function can influence how well and how quickly your autoencoder "
                "learns to compress data.",
            ),
        ),
        sweep="ranking",
        statistic="Friedman test over dataset x depth cells on test loss and on epochs to threshold; Kendall's W",
        rule=(
            "Cell scores are means over seeds (a diverged seed makes the score worst; epochs to threshold never "
            "reached counts as epochs + 1). Each part holds when the Friedman test has p < 0.05; does not hold "
            "when p >= 0.05 and in every cell every activation is shown within 10% of every other (one-sided "
            "paired t-tests of the log ratio against each other activation, all rejecting: an equivalence test; a "
            "threshold never reached is censored and never shown); inconclusive otherwise (Kendall's W is shown, "
            "not decided on). "
            "The depths of one dataset share its data, so they are not independent blocks: p is that of the test "
            "with each dataset as one block (mean rank over its depths, ranked again; a permutation p), and the "
            "p over cells (chi-square; a permutation p under 10 cells) is shown beside it; where the equivalence "
            "is not shown, a test that cannot reach p < 0.05 with so few datasets gives no verdict. Both parts "
            "must hold."
        ),
        caption=(
            "Critical-difference diagrams (Demsar 2006) of test loss (top) and epochs to the loss threshold "
            "(bottom): mean rank over the datasets as blocks where cells share a dataset (as the verdict's p), "
            "else over cells; bars join activations not significantly different (Nemenyi)."
        ),
        decide=needs_runs(decide_matters),
        figure=figure_or_empty(draw_matters),
        tables=tables_or_empty(matters_tables),
    ),
    Claim(
        key="anomaly",
        number="A1",
        title="Anomaly detection: a ReLU autoencoder flags anomalies",
        sentence=(
            "An autoencoder with ReLU activations, trained on normal samples only, flags anomalies by their "
            "reconstruction error better than chance."
        ),
        quotes=(
            (
                SOURCE_001,
                'Autoencoders trained with ReLU activations can learn the "normal" patterns of financial '
                "behavior from a vast dataset of historical transactions.",
            ),
        ),
        sweep="anomaly",
        statistic=(
            "ReLU's mean AUROC of per-sample reconstruction error; one-sided one-sample t-test against 0.5 (the "
            "exact signed-rank test where every seed has the same AUROC)"
        ),
        rule=(
            "On each dataset with labelled anomalies (breast-cancer: malignant; clusters: scattered points), "
            "holds when ReLU's mean AUROC over seeds is above 0.5 with p < 0.05 (one-sided t-test); does not hold "
            "when it is below 0.5 with p < 0.05 (the other one-sided t-test) on some dataset; inconclusive "
            "otherwise. Where every seed has the same AUROC (e.g. 1.000 on all of them) there is no t statistic: "
            "it is decided as the t-test's limit (its p goes to 0 as the spread shrinks, so a perfect detector on "
            "every seed is never weaker evidence than a nearly perfect one), and the text says so rather than "
            "give a p. The table compares every activation "
            "with the best (higher AUROC is better)."
        ),
        caption=(
            "AUROC of the per-sample reconstruction error on the test split (dots = seeds, bars = means); the "
            "dashed line is chance."
        ),
        decide=needs_runs(decide_anomaly),
        figure=figure_or_empty(draw_anomaly),
        tables=tables_or_empty(anomaly_tables),
    ),
    Claim(
        key="compression",
        number="A2",
        title="Image compression: a ReLU encoder compresses digits well",
        sentence=("A ReLU encoder compresses images as well as the alternatives, at every code size."),
        quotes=(
            (
                SOURCE_001,
                "An autoencoder, equipped with a robust encoder built around ReLU activation functions, "
                "can learn compressed representations of these images while preserving essential "
                "details.",
            ),
        ),
        sweep="compression",
        statistic="share of bottleneck sizes where ReLU is shown within 10% of the best (intersection-union test)",
        rule=(
            "Digits, depth 2, identity output and MSE (comparable with PCA, drawn as the linear reference). Holds "
            f"when, at at least half the bottleneck sizes, ReLU is {IUT}; does not hold when it is significantly worse than the best (paired t) "
            "at more than half; inconclusive otherwise."
        ),
        caption=(
            "Test MSE against bottleneck size per activation (line = mean, band = min-max over seeds) and "
            "PCA's test MSE at the same size (black dashed)."
        ),
        decide=needs_runs(decide_compression),
        figure=figure_or_empty(draw_compression),
        tables=tables_or_empty(compression_tables),
    ),
)


@dataclass(frozen=True)
class Untested:
    """A sentence of the source texts that no claim here decides, and why."""

    source: str
    quote: str
    why: str


#: what the source texts say that these claims leave undecided (the documents list it, so that a
#: reader does not take silence for support)
UNTESTED: tuple[Untested, ...] = (
    Untested(
        SOURCE_001,
        "ReLU is simple, computationally efficient, and often outperforms other functions",
        "'computationally efficient' is not judged: a run's wall time mixes the activation's cost with the "
        "rest of the network, the batch stack and the machine; claim 2 judges only 'outperforms'.",
    ),
    Untested(
        SOURCE_002,
        "Not zero-centered: The outputs of the ReLU function are not zero-centered, which can make it difficult "
        "to train some types of neural networks.",
        "no claim isolates zero-centring: claim 5 shows tanh converging faster than sigmoid, and its scope says "
        "it does not say why.",
    ),
    Untested(
        SOURCE_000,
        "Activation functions introduce non-linearity, allowing the encoder to learn much more complex patterns "
        "and representations from the input data.",
        "claim 1 checks only the linear half (depth adds nothing without a nonlinearity); that a nonlinear "
        "encoder learns more is not decided (in claim A2 the identity network is among the best on digits at "
        "these sizes and budgets).",
    ),
    Untested(
        SOURCE_001,
        "The choice often depends on the specific task, data characteristics, and network architecture.",
        "shown descriptively by the verdict maps over datasets and depths (claims 2, 3, 5, 6, 7) and by claim "
        "8; no test of an activation x condition interaction is run.",
    ),
    Untested(
        SOURCE_003,
        "The softmax function, which also produces bounded outputs between 0 and 1, suffers from saturation in "
        "a similar way.",
        "softmax is an output layer here (a hidden softmax is refused), so its saturation in hidden layers "
        "cannot be measured; claim 7 judges it as an output layer.",
    ),
    Untested(
        SOURCE_002,
        "Biological plausibility: ReLU has some similarities to the way biological neurons function",
        "not an empirical statement about autoencoders.",
    ),
    Untested(
        SOURCE_001,
        "Autoencoders equipped with Leaky ReLU activations can learn intricate boundaries between tissues or organs.",
        "the application examples (speech recognition, medical image segmentation) need data and tasks the "
        "bundled datasets do not have; claims A1 and A2 stand in for the anomaly and compression examples.",
    ),
)


def claim_keys() -> list[str]:
    return [c.key for c in CLAIMS]


def sweeps_of(claims: tuple[Claim, ...] | list[Claim]) -> list[str]:
    """The distinct sweep names of ``claims``, in order."""
    return list(dict.fromkeys(c.sweep for c in claims))


# names this module held before the restructuring, now defined elsewhere: still importable
# from here (see actcmp.moved)
__getattr__ = moved_names(
    __name__,
    {
        "CONDITIONS": "actcmp.claims.decisions",
        "comparison_table": "actcmp.claims.tables",
        "rank_table": "actcmp.claims.tables",
        "fmt": "actcmp.claims.tables",
    },
)


__all__ = ["CLAIMS", "UNTESTED", "Claim", "Untested", "claim_keys", "sweeps_of"]
