"""Figures: each function takes the stored frames and returns a ``matplotlib.figure.Figure``.

Never touches pyplot's global state. Every activation keeps the colour, marker and line
style of :mod:`actcmp.report.style`; one shared legend sits outside the panels, in
registry order. Statistics follow :mod:`actcmp.report.tables` (converged runs only;
diverged runs are counted in panel titles and legend labels).

The figures live in sibling modules by job, all re-exported here:
:mod:`~actcmp.report.canvas` (the helpers every figure uses, the claims figures too: :data:`RC`,
:func:`new_figure`, :func:`legend`, :func:`no_data`, :func:`save`, :func:`png_bytes`, ticks),
:mod:`~actcmp.report.curves` (curves over epochs), :mod:`~actcmp.report.depth_plots` (test loss
against depth, heatmaps, gradient norms by layer), :mod:`~actcmp.report.activation_plot` (f and
f') and :mod:`~actcmp.report.stat_plots` (critical-difference diagram, depth scaling).
"""

from __future__ import annotations

from typing import Any

from actcmp.report.activation_plot import (
    NEAR_ZERO,
    NEAR_ZERO_SHARE,
    OVERLAP_DASHES,
    OVERLAP_SHARE,
    OVERLAP_TOLERANCE,
    overlapping,
    plot_activation_functions,
    zoom_window,
)
from actcmp.report.canvas import (
    LEGEND_W,
    LOSS_NAMES,
    MAX_EPOCH_TICKS,
    MIN_TICKS,
    NO_LEGEND,
    PANEL_H,
    PANEL_W,
    RC,
    SAVE_DPI,
    epoch_ticks,
    legend,
    log_ticks,
    loss_name,
    new_figure,
    no_data,
    png_bytes,
    readable_ticks,
    save,
    wrap,
)
from actcmp.report.curves import plot_dead_fraction, plot_loss_curves
from actcmp.report.depth_plots import (
    LOSS_BARS,
    bars_label,
    fraction_scale,
    plot_grad_norms,
    plot_heatmap,
    plot_layer_metric,
    plot_loss_vs_depth,
)
from actcmp.report.stat_plots import plot_cd_diagram, plot_depth_scaling


def standard_figures() -> list[tuple[str, str, str, Any]]:
    """(file stem, title, caption saying what to look for, function of Results), in report order."""
    return [
        (
            "loss_curves",
            "Validation loss over training",
            "Validation loss per epoch, mean over converged seeds with the min-max band (log scale): look for the "
            "activation that falls fastest and lowest. The grey dotted line is the loss of predicting the training "
            "mean: a curve that ends at or above it did not learn, however steeply it fell.",
            plot_loss_curves,
        ),
        (
            "dead_fraction",
            "Dead units over training",
            "Dead fraction: share of hidden units whose derivative is zero on every probe input, mean over hidden "
            "layers, then over converged seeds with the min-max band. Rising ReLU-family lines are dying units; Leaky ReLU and PReLU should stay near zero.",
            plot_dead_fraction,
        ),
        (
            "test_loss_vs_depth",
            "Test loss against depth",
            f"Final test loss per depth (marker = mean, bar = {LOSS_BARS}, log scale): a line that "
            "climbs with depth marks an activation that trains worse as the network deepens.",
            plot_loss_vs_depth,
        ),
        (
            "heatmap_test_loss",
            "Mean test loss: activation x depth",
            "Mean test loss of every activation and depth (yellow = high loss, 'div' = every seed diverged): "
            "read across a row to see how an activation copes with depth. Each dataset has its own log colour "
            "scale spanning at least a factor of 2, so that near-equal losses get near-equal colours; read the "
            "numbers, not the colours, across datasets.",
            lambda results: plot_heatmap(results, "test_loss_mean"),
        ),
        (
            "heatmap_dead_fraction",
            "Dead fraction at the end: activation x depth",
            "Share of dead hidden units after training (mean over layers and seeds): high values show where units "
            "died; bounded activations such as sigmoid and tanh saturate instead, which this does not count.",
            lambda results: plot_heatmap(results, "dead_fraction_final"),
        ),
        (
            "grad_norm_by_layer",
            "Gradient norm by layer (deepest network)",
            "Weight-gradient norm of each linear layer at initialisation and after training (log scale; the dotted "
            "line splits encoder and decoder): norms that shrink by orders of magnitude towards layer 0 are "
            "vanishing gradients.",
            plot_grad_norms,
        ),
        (
            "postact_std_by_layer",
            "Spread of each hidden layer's output (deepest network)",
            "Standard deviation of each hidden layer's output over the probe inputs and units, at initialisation "
            "and after training (mean over seeds; the dotted line marks the code layer): a spread that shrinks "
            "or grows layer after layer shows signals fading or exploding with depth; a self-normalising "
            "activation (SELU with LeCun-normal weights and standardised inputs) keeps it near 1.",
            lambda results: plot_layer_metric(results, "postact_std", hidden=True),
        ),
        (
            "zero_fraction_by_layer",
            "Exact zeros in each hidden layer's output (deepest network)",
            "Share of exactly zero outputs of each hidden layer over the probe inputs and units (mean over seeds; "
            "the dotted line marks the code layer): the sparsity of rectifiers (ReLU gives exact zeros, smooth "
            "activations almost never do); units zero on every input are the dead units of the figure above.",
            lambda results: plot_layer_metric(results, "zero_fraction", hidden=True),
        ),
    ]


__all__ = [
    "LEGEND_W",
    "LOSS_BARS",
    "LOSS_NAMES",
    "MAX_EPOCH_TICKS",
    "MIN_TICKS",
    "NEAR_ZERO",
    "NEAR_ZERO_SHARE",
    "NO_LEGEND",
    "OVERLAP_DASHES",
    "OVERLAP_SHARE",
    "OVERLAP_TOLERANCE",
    "PANEL_H",
    "PANEL_W",
    "RC",
    "SAVE_DPI",
    "bars_label",
    "epoch_ticks",
    "fraction_scale",
    "legend",
    "log_ticks",
    "loss_name",
    "new_figure",
    "no_data",
    "overlapping",
    "plot_activation_functions",
    "plot_cd_diagram",
    "plot_dead_fraction",
    "plot_depth_scaling",
    "plot_grad_norms",
    "plot_heatmap",
    "plot_layer_metric",
    "plot_loss_curves",
    "plot_loss_vs_depth",
    "png_bytes",
    "readable_ticks",
    "save",
    "standard_figures",
    "wrap",
    "zoom_window",
]
