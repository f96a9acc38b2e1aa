"""The claims: what each says, where it comes from, the sweep that tests it, the rule
that decides it, and the functions that compute its verdict, figure and tables.

Each quote shows the claim as it is commonly stated, verbatim from one of the texts it
was collected from (introductions to activation functions in autoencoders; a test checks
the quotes when those texts are checked out beside the repository). The documents credit
the quotes to the claim as commonly stated, not to a file. Each claim names a sweep file in ``experiments/claims/``; claims 2 and 8 share
the ranking sweep (and the depth-scaling table comes from it too).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actcmp.analysis import stats as stats
from actcmp.claims import checks

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from actcmp.store.database import Results


@dataclass
class ClaimContext:
    """What a claim's functions read: the stored results of its sweep (only the runs that
    sweep plans), the sweep file and results directory, and lazily computed references."""

    results: Results | None
    sweep_file: Path
    results_dir: Path
    alpha: float = stats.ALPHA
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def runs(self) -> pd.DataFrame:
        import pandas as pd

        return self.results.runs if self.results is not None else pd.DataFrame(columns=["run_id", "status"])

    @property
    def has_runs(self) -> bool:
        return self.results is not None and not self.results.runs.empty

    def pca(self) -> pd.DataFrame:
        """PCA train/test MSE on every (dataset, seed, bottleneck) split of the runs."""
        if "pca" not in self.cache:
            from actcmp.claims.reference import pca_reference

            self.cache["pca"] = pca_reference(self.runs)
        return self.cache["pca"]


Tables = list[tuple[str, "pd.DataFrame"]]


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
    decide: Callable[[ClaimContext], checks.Verdict]
    figure: Callable[[ClaimContext], Figure]
    tables: Callable[[ClaimContext], Tables] = lambda ctx: []


SOURCE_000 = "000_73d09b3364cfd917.txt"
SOURCE_001 = "001_9237c7aeebea9cfc.txt"
SOURCE_002 = "002_465dc26c1f615c6a.txt"
SOURCE_003 = "003_280bf8b9f266617c.txt"


# -- tables -------------------------------------------------------------------------------------
def fmt(value: Any, sig: int = 3) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return "–"
    if math.isinf(number):
        return "∞" if number > 0 else "-∞"
    if number != 0 and (abs(number) >= 1e4 or abs(number) < 1e-3):
        return f"{number:.{sig - 1}e}"
    return f"{number:.{sig}g}"


def comparison_table(
    runs: pd.DataFrame,
    metric: str,
    *,
    treatment: str = "activation",
    higher_is_better: bool = False,
    alpha: float = stats.ALPHA,
) -> pd.DataFrame:
    """Per cell x treatment: mean ± std over converged seeds, Student t 95% CI, and the
    comparison with the cell's best: ``best``, ``≈ best`` (within 10%, TOST), ``tied``
    (not separable, paired t, Holm-corrected within the cell) or ``worse``, with the
    p-value (Holm-adjusted for tied / worse)."""
    import pandas as pd

    summary = stats.summarise(runs, metric, treatment=treatment)
    if summary.empty:
        return pd.DataFrame()
    paired = stats.paired_vs_best(runs, metric, treatment=treatment, higher_is_better=higher_is_better, alpha=alpha)
    keys = [
        c
        for c in summary.columns
        if c not in (treatment, "n", "n_diverged", "mean", "std", "ci_low", "ci_high", "note")
    ]
    merged = summary.merge(
        paired[[*keys, treatment, "is_best", "tied", "equivalent", "p_value", "p_adjusted"]],
        on=[*keys, treatment],
        how="left",
    )
    rows = []
    for row in merged.itertuples(index=False):
        record = row._asdict()
        if record.get("is_best") is True:
            versus = "**best**"
        elif record.get("equivalent") is True:
            versus = f"≈ best (p = {fmt(record['p_value'], 2)})"
        elif record.get("tied") is True:
            versus = f"tied (Holm p = {fmt(record['p_adjusted'], 2)})"
        elif record.get("tied") is False:
            versus = f"worse (Holm p = {fmt(record['p_adjusted'], 2)})"
        else:
            versus = "–"
        out = {k: record[k] for k in keys}
        out[treatment] = record[treatment]
        out["seeds"] = f"{record['n']}" + (f" (+{record['n_diverged']} div.)" if record["n_diverged"] else "")
        out[f"{metric} mean ± std"] = f"{fmt(record['mean'])} ± {fmt(record['std'], 2)}"
        out["95% CI"] = f"[{fmt(record['ci_low'])}, {fmt(record['ci_high'])}]"
        out["vs best of cell"] = versus
        rows.append(out)
    return pd.DataFrame(rows)


def rank_table(
    runs: pd.DataFrame, metric: str = "test_loss", fill_missing: Any = None, alpha: float = stats.ALPHA
) -> pd.DataFrame:
    """Mean rank per activation over cells, with the Nemenyi top group and per-cell counts."""
    import pandas as pd

    result = stats.friedman(runs, metric, fill_missing=fill_missing, alpha=alpha)
    top = set(result.top_group())
    paired = stats.paired_vs_best(runs, metric, alpha=alpha, fill_missing=fill_missing)
    rows = []
    for name, rank in result.mean_ranks.items():
        mine = paired[paired["activation"] == name]
        rows.append(
            {
                "activation": name,
                "mean rank": fmt(rank),
                "top group": "yes" if name in top else "",
                "best in": int(mine["is_best"].sum()),
                "≈ best in": int((mine["equivalent"] & ~mine["is_best"]).sum()),
                "worse in": int((~mine["tied"]).sum()),
                "cells": len(mine),
            }
        )
    return pd.DataFrame(rows)


# -- adapters: context -> verdict / figure / tables -----------------------------------------------------
def _needs_runs(decide: Callable[[ClaimContext], checks.Verdict]) -> Callable[[ClaimContext], checks.Verdict]:
    def wrapped(ctx: ClaimContext) -> checks.Verdict:
        return decide(ctx) if ctx.has_runs else checks.no_data()

    return wrapped


def _figure_or_empty(draw: Callable[[ClaimContext], Figure]) -> Callable[[ClaimContext], Figure]:
    def wrapped(ctx: ClaimContext) -> Figure:
        from actcmp.claims import figures

        return draw(ctx) if ctx.has_runs else figures.no_data()

    return wrapped


def _tables_or_empty(build: Callable[[ClaimContext], Tables]) -> Callable[[ClaimContext], Tables]:
    def wrapped(ctx: ClaimContext) -> Tables:
        return build(ctx) if ctx.has_runs else []

    return wrapped


def _linear_table(ctx: ClaimContext) -> Tables:
    import pandas as pd

    runs = ctx.runs[ctx.runs["status"] == "done"]
    joined = runs.merge(ctx.pca(), on=["dataset", "seed", "bottleneck"])
    rows = []
    for (dataset, bottleneck, depth), group in joined.groupby(["dataset", "bottleneck", "depth"]):
        ratio = pd.to_numeric(group["final_train_loss"]) / group["pca_train_mse"]
        rows.append(
            {
                "dataset": dataset,
                "bottleneck": bottleneck,
                "depth": depth,
                "seeds": len(group),
                "train MSE / PCA": f"{fmt(ratio.mean(), 4)} ± {fmt(ratio.std(ddof=1), 2)}",
                "test MSE": fmt(pd.to_numeric(group["test_loss"]).mean()),
                "PCA test MSE": fmt(group["pca_test_mse"].mean()),
            }
        )
    return [("Identity networks against PCA (mean ± std over seeds)", pd.DataFrame(rows))]


def _dying_table(ctx: ClaimContext) -> Tables:
    runs = ctx.runs[ctx.runs["status"] == "done"]
    table = runs.pivot_table(
        index=["depth", "lr"], columns="activation", values="dead_fraction_final", aggfunc="mean"
    ).reset_index()
    table.columns.name = None
    for column in table.columns[2:]:
        table[column] = table[column].map(lambda v: f"{v:.1%}" if v == v else "–")
    return [("Mean dead fraction after training (converged seeds)", table)]


def _vanishing_table(ctx: ClaimContext) -> Tables:
    assert ctx.results is not None
    ratios = checks.gradient_ratios(ctx.runs, ctx.results.layers)
    table = ratios.pivot_table(index="depth", columns="activation", values="log10_ratio", aggfunc="mean")
    table = table.map(lambda v: fmt(v, 2)).reset_index()
    table.columns.name = None
    return [("Mean log10(first / last layer gradient norm) at initialisation", table)]


def _tanh_table(ctx: ClaimContext) -> Tables:
    assert ctx.results is not None
    early = checks.early_loss(ctx.runs, ctx.results.epochs)
    runs = ctx.runs.merge(early[["run_id", "early"]], on="run_id", how="left")
    k = int(early["k"].iloc[0]) if len(early) else 0
    return [
        (
            f"Validation loss over epochs 1..{k} / mean-predictor loss (lower = faster)",
            comparison_table(runs, "early", alpha=ctx.alpha),
        )
    ]


def _generalisation_tables(ctx: ClaimContext) -> Tables:
    import numpy as np
    import pandas as pd

    runs = ctx.runs.assign(
        gap=np.log(pd.to_numeric(ctx.runs["test_loss"]) / pd.to_numeric(ctx.runs["final_train_loss"]))
    )
    return [
        ("Test loss", comparison_table(runs, "test_loss", alpha=ctx.alpha)),
        ("Generalisation gap log(test / train loss)", comparison_table(runs, "gap", alpha=ctx.alpha)),
    ]


def _softmax_tables(ctx: ClaimContext) -> Tables:
    kept, metric, note = checks.common_metric(ctx.runs)
    return [
        (
            f"Output activations on {note}",
            comparison_table(kept, metric, treatment="output_activation", alpha=ctx.alpha),
        )
    ]


def _matters_tables(ctx: ClaimContext) -> Tables:
    import pandas as pd

    censored = ctx.runs.assign(_censor=pd.to_numeric(ctx.runs["epochs"]) + 1)
    return [
        ("How well: mean rank of test loss", rank_table(censored, "test_loss", alpha=ctx.alpha)),
        (
            "How quickly: mean rank of epochs to threshold (never reached = epochs + 1)",
            rank_table(censored, "epochs_to_threshold", fill_missing="_censor", alpha=ctx.alpha),
        ),
    ]


def _pca(ctx: ClaimContext) -> pd.DataFrame:
    return ctx.pca()


def _decide_linear(ctx: ClaimContext) -> checks.Verdict:
    return checks.check_linear(ctx.runs, _pca(ctx), alpha=ctx.alpha)


def _layers(ctx: ClaimContext) -> pd.DataFrame:
    assert ctx.results is not None
    return ctx.results.layers


def _epochs(ctx: ClaimContext) -> pd.DataFrame:
    assert ctx.results is not None
    return ctx.results.epochs


# -- claims judged condition by condition (actcmp.claims.conditions) -----------------------------
#: the factors each claim's verdict map spans (those its sweep varies; the others are pooled)
CONDITIONS: dict[str, tuple[str, ...]] = {
    "relu_default": ("depth",),
    "dying": ("init", "depth", "lr"),
    "vanishing": ("init", "depth"),
    "tanh_sigmoid": ("depth",),
    "generalisation": ("dataset", "depth"),
}


def _with_pooled(mapped: checks.Verdict, pooled: checks.Verdict) -> checks.Verdict:
    """The verdict map, with the claim judged once over all conditions as its parts (shown
    beside the map: e.g. the trend of dead units over learning rate and depth)."""
    if mapped.conditions:
        mapped.parts = list(pooled.parts) or [pooled]
    return mapped


def _decide_relu_default(ctx: ClaimContext) -> checks.Verdict:
    from actcmp.claims.conditions import by_condition

    mapped = by_condition(
        ctx.runs, CONDITIONS["relu_default"], lambda runs: checks.check_relu_default(runs, alpha=ctx.alpha)
    )
    return _with_pooled(mapped, checks.check_relu_default(ctx.runs, alpha=ctx.alpha))


def _decide_dying(ctx: ClaimContext) -> checks.Verdict:
    from actcmp.claims.conditions import by_condition

    mapped = by_condition(ctx.runs, CONDITIONS["dying"], lambda runs: checks.check_dying_cell(runs, alpha=ctx.alpha))
    return _with_pooled(mapped, checks.check_dying(ctx.runs, alpha=ctx.alpha))


def _decide_vanishing(ctx: ClaimContext) -> checks.Verdict:
    from actcmp.claims.conditions import by_condition

    layers = _layers(ctx)
    return by_condition(
        ctx.runs, CONDITIONS["vanishing"], lambda runs: checks.check_vanishing_cell(runs, layers, alpha=ctx.alpha)
    )


def _decide_tanh(ctx: ClaimContext) -> checks.Verdict:
    from actcmp.claims.conditions import by_condition

    epochs = _epochs(ctx)
    mapped = by_condition(
        ctx.runs, CONDITIONS["tanh_sigmoid"], lambda runs: checks.check_tanh_faster(runs, epochs, alpha=ctx.alpha)
    )
    return _with_pooled(mapped, checks.check_tanh_faster(ctx.runs, epochs, alpha=ctx.alpha))


def _decide_generalisation(ctx: ClaimContext) -> checks.Verdict:
    from actcmp.claims.conditions import by_condition

    mapped = by_condition(
        ctx.runs, CONDITIONS["generalisation"], lambda runs: checks.check_generalisation(runs, alpha=ctx.alpha)
    )
    return _with_pooled(mapped, checks.check_generalisation(ctx.runs, alpha=ctx.alpha))


def _figures() -> Any:
    from actcmp.claims import figures

    return figures


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
        decide=_needs_runs(_decide_linear),
        figure=_figure_or_empty(lambda ctx: _figures().plot_linear(ctx.runs, _pca(ctx))),
        tables=_tables_or_empty(_linear_table),
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
        statistic="ReLU's mean rank of test loss over cells, Friedman test, Nemenyi critical difference",
        rule=(
            "Needs activations to differ at all (Friedman p < 0.05 over dataset x depth cells; else inconclusive). "
            "Holds when ReLU is in the top group (mean rank within the Nemenyi CD of the best) and, in at least "
            "half the cells, is the best or shown within 10% of the best (paired TOST over seeds). Does not hold "
            "when ReLU is outside the top group or significantly worse than the cell's best (paired t) in more "
            "than half the cells. Diverged runs rank last. Each activation trains at its own learning rate (tuned "
            "per dataset and depth on separate seeds by validation loss, [tune]); judged at each depth on its own "
            "(over the datasets), and pooled."
        ),
        caption=(
            "Critical-difference diagram of test loss: activations at their mean rank over cells (1 = best); "
            "a bar joins activations whose mean ranks differ by less than the Nemenyi CD (not significantly "
            "different)."
        ),
        decide=_needs_runs(_decide_relu_default),
        figure=_figure_or_empty(lambda ctx: _figures().plot_ranking(ctx.runs)),
        tables=_tables_or_empty(
            lambda ctx: [("Mean rank of test loss over cells", rank_table(ctx.runs, alpha=ctx.alpha))]
        ),
    ),
    Claim(
        key="dying",
        number="3",
        title="ReLU units die; Leaky ReLU and PReLU prevent it; dying hurts",
        sentence=(
            "ReLU units die (more with a higher learning rate and a deeper network), Leaky ReLU and PReLU "
            "prevent it, and dead units hurt reconstruction."
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
        statistic="Page's trend test of ReLU's dead fraction over learning rate and over depth; Spearman rho of "
        "dead fraction vs ReLU/Leaky-ReLU test-loss ratio",
        rule=(
            "Judged in each condition (init rule x depth x learning rate) on its own: ReLU's mean final dead "
            "fraction over seeds is at least 5% (units die) and, there, Leaky ReLU and PReLU keep at most 1% dead "
            "(does not hold above 5%). Pooled over all conditions, three parts are reported beside the map: "
            "(1) ReLU's final dead fraction reaches 5% in some cell and rises with "
            "learning rate and with depth (Page's L test over the ordered levels, blocked by the other factor and "
            "the seed, p < 0.05). (2) Wherever ReLU loses at least 5% of its units, Leaky ReLU and PReLU keep at "
            "most 1% dead. (3) Across ReLU runs, the dead fraction correlates positively (Spearman, p < 0.05) "
            "with ReLU's test loss relative to Leaky ReLU on the same seed (same data, init and batches)."
        ),
        caption=(
            "Left panels: dead fraction after training against learning rate (band = min-max over seeds), one "
            "panel per depth. Right: each ReLU run's dead fraction against its test loss relative to Leaky "
            "ReLU on the same seed; above the dashed line ReLU is worse."
        ),
        decide=_needs_runs(_decide_dying),
        figure=_figure_or_empty(lambda ctx: _figures().plot_dying(ctx.runs)),
        tables=_tables_or_empty(_dying_table),
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
        statistic="mean log10(first / last layer weight-gradient norm at init) per init rule and depth; saturated fraction",
        rule=(
            "Judged in each condition (init rule x depth) on its own. From r = |grad W_first| / |grad W_last| at "
            "initialisation: each bounded activation (sigmoid, tanh) vanishes when its mean log10 r over seeds is "
            "below -1 (more than one order of magnitude lost; one-sided one-sample t-test, p < 0.05), and does not "
            "when it is significantly above -1. Each ReLU-family activation (ReLU, Leaky ReLU) keeps norms when "
            "|mean log10 r| <= 1. Saturation holds when sigmoid and tanh each have at least 5% saturated units "
            "after training (saturation as defined under Definitions; judged for the bounded family only). All "
            "parts must hold in a condition for the claim to hold there."
        ),
        caption=(
            "Left: log10 of the first layer's weight-gradient norm over the last layer's at initialisation, "
            "against depth (grey band: within one order of magnitude). Right: gradient norm of every linear "
            "layer of the deepest network at initialisation."
        ),
        decide=_needs_runs(_decide_vanishing),
        figure=_figure_or_empty(lambda ctx: _figures().plot_vanishing(ctx.runs, _layers(ctx))),
        tables=_tables_or_empty(_vanishing_table),
    ),
    Claim(
        key="tanh_sigmoid",
        number="5",
        title="Tanh converges faster than sigmoid",
        sentence="Tanh, being zero-centred, converges faster than sigmoid.",
        quotes=(
            (
                SOURCE_001,
                "It's often preferred over sigmoid for its centered output, potentially leading to faster "
                "convergence during training.",
            ),
        ),
        sweep="tanh_sigmoid",
        statistic="median ratio tanh/sigmoid of the early validation loss, paired by cell and seed",
        rule=(
            "Early loss = mean validation loss over the first half of the epochs, divided by the mean-predictor "
            "loss. Over all (cell, seed) pairs the log ratio tanh/sigmoid is tested against zero (Wilcoxon "
            "signed-rank with 6 or more pairs, else paired t). Holds when it is below zero with p < 0.05, does "
            "not hold when it is above zero with p < 0.05, inconclusive otherwise. Each activation trains at its own "
            "learning rate, selected per dataset and depth on separate tuning seeds by validation loss ([tune]). "
            "Judged at each depth on its own (pairs over datasets and seeds), and pooled over all depths."
        ),
        caption=(
            "Validation loss over the mean-predictor loss per epoch (mean over seeds, log scale), one panel per "
            "dataset, line style per depth; the grey span is the early window the verdict averages."
        ),
        decide=_needs_runs(_decide_tanh),
        figure=_figure_or_empty(lambda ctx: _figures().plot_tanh_sigmoid(ctx.runs, _epochs(ctx))),
        tables=_tables_or_empty(_tanh_table),
    ),
    Claim(
        key="generalisation",
        number="6",
        title="ELU and Swish generalise better",
        sentence="ELU and Swish (SiLU) generalise better than ReLU: lower test loss or a smaller train/test gap.",
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
        statistic="log test-loss ratio and gap change against ReLU, paired by cell and seed",
        rule=(
            "For ELU and for SiLU against ReLU on the same cell and seed: d_test = log(test loss ratio) and d_gap "
            "= change of log(test / train loss). A candidate holds when d_test or d_gap is significantly below "
            "zero and neither is significantly above (Wilcoxon signed-rank with 6+ pairs, else paired t, p < "
            "0.05); it does not hold when either is significantly above zero. Both candidates must hold. Each "
            "activation trains at its own learning rate (tuned on separate seeds by validation loss, [tune]); "
            "judged per dataset and depth on its own, and pooled."
        ),
        caption=(
            "Each dot is one (cell, seed) pair. Left: test loss relative to ReLU's (below 1 = better). Right: "
            "change of the generalisation gap log(test/train) against ReLU's (below 0 = smaller gap); bars are "
            "medians."
        ),
        decide=_needs_runs(_decide_generalisation),
        figure=_figure_or_empty(lambda ctx: _figures().plot_generalisation(ctx.runs)),
        tables=_tables_or_empty(_generalisation_tables),
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
        statistic="test-MSE ratio of softmax to each other output layer, paired by cell and seed",
        rule=(
            "Every output layer is trained and compared by MSE on the distributions dataset (so only the output "
            "layer differs; the engine records no loss-independent metric for cross-entropy runs yet). Over every "
            "(cell, seed) pair (cell = depth x hidden activation), the log ratio of softmax's test MSE to each "
            "other output layer's is tested against zero (Wilcoxon signed-rank with 6 or more pairs, else paired "
            "t). Holds when softmax is lower than every alternative with p < 0.05; does not hold when it is higher "
            "than some alternative with p < 0.05; inconclusive otherwise."
        ),
        caption=(
            "Mean test MSE (log scale) with Student t 95% intervals over seeds, per output activation and cell "
            "(depth, hidden activation)."
        ),
        decide=_needs_runs(lambda ctx: checks.check_softmax(ctx.runs, alpha=ctx.alpha)),
        figure=_figure_or_empty(lambda ctx: _figures().plot_softmax(ctx.runs)),
        tables=_tables_or_empty(_softmax_tables),
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
            "when p >= 0.05 and Kendall's W < 0.1 (activations agree to within noise); inconclusive otherwise. "
            "Both parts must hold."
        ),
        caption=(
            "Critical-difference diagrams (Demsar 2006) of test loss (top) and epochs to the loss threshold "
            "(bottom): mean rank over cells, bars join activations not significantly different (Nemenyi)."
        ),
        decide=_needs_runs(lambda ctx: checks.check_activation_matters(ctx.runs, alpha=ctx.alpha)),
        figure=_figure_or_empty(lambda ctx: _figures().plot_matters(ctx.runs)),
        tables=_tables_or_empty(_matters_tables),
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
        statistic="ReLU's mean AUROC of per-sample reconstruction error; one-sided one-sample t-test against 0.5",
        rule=(
            "On each dataset with labelled anomalies (breast-cancer: malignant; clusters: scattered points), "
            "holds when ReLU's mean AUROC over seeds is above 0.5 with p < 0.05 (one-sided t-test); does not hold "
            "when it is at or below 0.5 on some dataset. The table compares every activation with the best "
            "(higher AUROC is better)."
        ),
        caption=(
            "AUROC of the per-sample reconstruction error on the test split (dots = seeds, bars = means); the "
            "dashed line is chance."
        ),
        decide=_needs_runs(lambda ctx: checks.check_anomaly(ctx.runs, alpha=ctx.alpha)),
        figure=_figure_or_empty(lambda ctx: _figures().plot_anomaly(ctx.runs)),
        tables=_tables_or_empty(
            lambda ctx: [
                (
                    "Anomaly AUROC per activation",
                    comparison_table(ctx.runs, "anomaly_auroc", higher_is_better=True, alpha=ctx.alpha),
                )
            ]
        ),
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
        statistic="share of bottleneck sizes where ReLU is the best or within 10% of the best (paired TOST)",
        rule=(
            "Digits, depth 2, identity output and MSE (comparable with PCA, drawn as the linear reference). Holds "
            "when, at at least half the bottleneck sizes, ReLU is the best activation or shown within 10% of the "
            "best (paired TOST over seeds); does not hold when it is significantly worse than the best (paired t) "
            "at more than half; inconclusive otherwise."
        ),
        caption=(
            "Test MSE against bottleneck size per activation (line = mean, band = min-max over seeds) and "
            "PCA's test MSE at the same size (black dashed)."
        ),
        decide=_needs_runs(lambda ctx: checks.check_compression(ctx.runs, alpha=ctx.alpha)),
        figure=_figure_or_empty(lambda ctx: _figures().plot_compression(ctx.runs, _pca(ctx))),
        tables=_tables_or_empty(
            lambda ctx: [("Test MSE per bottleneck size", comparison_table(ctx.runs, "test_loss", alpha=ctx.alpha))]
        ),
    ),
)


def claim_keys() -> list[str]:
    return [c.key for c in CLAIMS]


def sweeps_of(claims: tuple[Claim, ...] | list[Claim]) -> list[str]:
    """The distinct sweep names of ``claims``, in order."""
    return list(dict.fromkeys(c.sweep for c in claims))
