"""Each claim's verdict from its context: the claim's check (:mod:`actcmp.claims.checks`)
applied to its sweep's stored runs, condition by condition for the claims listed in
:data:`CONDITIONS` (:mod:`actcmp.claims.conditions`), with the pooled verdict beside the map."""

from __future__ import annotations

from typing import TYPE_CHECKING

from actcmp.claims import checks
from actcmp.claims.conditions import by_condition, configured_init

if TYPE_CHECKING:
    from actcmp.claims.context import ClaimContext

#: the factors each claim's verdict map spans (those its sweep varies; the others are pooled)
CONDITIONS: dict[str, tuple[str, ...]] = {
    "relu_default": ("depth",),
    "dying": ("init", "depth", "lr"),
    "vanishing": ("init", "depth"),
    "tanh_sigmoid": ("depth",),
    "generalisation": ("dataset", "depth"),
    # the hidden activation (the treatment is the output layer)
    "softmax": ("depth", "activation"),
}


def with_pooled(mapped: checks.Verdict, pooled: checks.Verdict) -> checks.Verdict:
    """The verdict map, with the claim judged once over all conditions as its parts (shown
    beside the map: e.g. the trend of dead units over learning rate and depth)."""
    if mapped.conditions:
        mapped.parts = list(pooled.parts) or [pooled]
    return mapped


def decide_linear(ctx: ClaimContext) -> checks.Verdict:
    return checks.check_linear(ctx.runs, ctx.pca(), alpha=ctx.alpha)


def decide_relu_default(ctx: ClaimContext) -> checks.Verdict:
    mapped = by_condition(
        ctx.runs, CONDITIONS["relu_default"], lambda runs: checks.check_relu_default(runs, alpha=ctx.alpha)
    )
    return with_pooled(mapped, checks.check_relu_default(ctx.runs, alpha=ctx.alpha))


def decide_dying(ctx: ClaimContext) -> checks.Verdict:
    mapped = by_condition(ctx.runs, CONDITIONS["dying"], lambda runs: checks.check_dying_cell(runs, alpha=ctx.alpha))
    runs = ctx.runs
    if "init" in runs.columns and "activation" in runs.columns and not runs.empty:
        runs = runs.assign(init=configured_init(runs))  # the pooled parts name their cells as the map does
    return with_pooled(mapped, checks.check_dying(runs, alpha=ctx.alpha))


def decide_vanishing(ctx: ClaimContext) -> checks.Verdict:
    layers = ctx.layers
    return by_condition(
        ctx.runs, CONDITIONS["vanishing"], lambda runs: checks.check_vanishing_cell(runs, layers, alpha=ctx.alpha)
    )


def decide_tanh_sigmoid(ctx: ClaimContext) -> checks.Verdict:
    epochs = ctx.epochs
    mapped = by_condition(
        ctx.runs, CONDITIONS["tanh_sigmoid"], lambda runs: checks.check_tanh_faster(runs, epochs, alpha=ctx.alpha)
    )
    return with_pooled(mapped, checks.check_tanh_faster(ctx.runs, epochs, alpha=ctx.alpha))


def decide_generalisation(ctx: ClaimContext) -> checks.Verdict:
    mapped = by_condition(
        ctx.runs, CONDITIONS["generalisation"], lambda runs: checks.check_generalisation(runs, alpha=ctx.alpha)
    )
    return with_pooled(mapped, checks.check_generalisation(ctx.runs, alpha=ctx.alpha))


def decide_softmax(ctx: ClaimContext) -> checks.Verdict:
    mapped = by_condition(ctx.runs, CONDITIONS["softmax"], lambda runs: checks.check_softmax(runs, alpha=ctx.alpha))
    return with_pooled(mapped, checks.check_softmax(ctx.runs, alpha=ctx.alpha))


def decide_matters(ctx: ClaimContext) -> checks.Verdict:
    return checks.check_activation_matters(ctx.runs, alpha=ctx.alpha)


def decide_anomaly(ctx: ClaimContext) -> checks.Verdict:
    return checks.check_anomaly(ctx.runs, alpha=ctx.alpha)


def decide_compression(ctx: ClaimContext) -> checks.Verdict:
    return checks.check_compression(ctx.runs, alpha=ctx.alpha)


__all__ = [
    "CONDITIONS",
    "decide_anomaly",
    "decide_compression",
    "decide_dying",
    "decide_generalisation",
    "decide_linear",
    "decide_matters",
    "decide_relu_default",
    "decide_softmax",
    "decide_tanh_sigmoid",
    "decide_vanishing",
    "with_pooled",
]
