"""Each claim's figure drawn from its context: the plots of :mod:`actcmp.claims.figures`
given the runs (and layers, epochs or the PCA reference) they need. Matplotlib is imported
only when a figure is drawn, so importing the registry stays cheap."""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from actcmp.claims.context import ClaimContext


def _figures() -> ModuleType:
    from actcmp.claims import figures

    return figures


def draw_linear(ctx: ClaimContext) -> Figure:
    return _figures().plot_linear(ctx.runs, ctx.pca())


def draw_relu_default(ctx: ClaimContext) -> Figure:
    return _figures().plot_ranking(ctx.runs)


def draw_dying(ctx: ClaimContext) -> Figure:
    return _figures().plot_dying(ctx.runs)


def draw_vanishing(ctx: ClaimContext) -> Figure:
    return _figures().plot_vanishing(ctx.runs, ctx.layers)


def draw_tanh_sigmoid(ctx: ClaimContext) -> Figure:
    return _figures().plot_tanh_sigmoid(ctx.runs, ctx.epochs)


def draw_generalisation(ctx: ClaimContext) -> Figure:
    return _figures().plot_generalisation(ctx.runs)


def draw_softmax(ctx: ClaimContext) -> Figure:
    return _figures().plot_softmax(ctx.runs)


def draw_matters(ctx: ClaimContext) -> Figure:
    return _figures().plot_matters(ctx.runs)


def draw_anomaly(ctx: ClaimContext) -> Figure:
    return _figures().plot_anomaly(ctx.runs)


def draw_compression(ctx: ClaimContext) -> Figure:
    return _figures().plot_compression(ctx.runs, ctx.pca())


__all__ = [
    "draw_anomaly",
    "draw_compression",
    "draw_dying",
    "draw_generalisation",
    "draw_linear",
    "draw_matters",
    "draw_relu_default",
    "draw_softmax",
    "draw_tanh_sigmoid",
    "draw_vanishing",
]
