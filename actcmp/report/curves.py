"""Curves over epochs, one panel per cell row x depth: the validation loss and the dead
fraction (mean over converged seeds with the min-max band)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from actcmp.analysis.cells import activation_order, cell_keys
from actcmp.report.canvas import (
    blank_handle,
    diverged_counts,
    epoch_axis,
    key_tuples,
    legend,
    log_if_positive,
    loss_name,
    new_figure,
    no_data,
    panel_title,
    rc,
    readable_ticks,
    select_rows,
    stagger,
    wrap,
)
from actcmp.report.frames import complete, epoch_curves, layer_curves, panel_keys
from actcmp.report.style import line_kwargs

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from actcmp.store.database import Results


#: the loss curves' reference line: the validation loss of predicting the training mean
REFERENCE_STYLE: dict[str, Any] = {"color": "grey", "linestyle": ":", "linewidth": 1.2}
BASELINE_LABEL = "predicting the training mean"


def _curve_grid(
    results: Results,
    curves: pd.DataFrame,
    ylabel: str | Callable[[dict[str, Any]], str],
    log: bool,
    ylim: tuple[float, float] | None,
    extra: Sequence[tuple[Any, str]] = (),
    reference: Callable[[dict[str, Any]], float | None] | None = None,
) -> Figure:
    """One panel per panel-key row x depth; ``ylabel`` may depend on the row's keys;
    ``extra`` (handle, label) pairs end the legend; ``reference``: a panel's (keys and
    depth) level drawn as a grey dotted line, or None."""
    results = complete(results)
    keys = cell_keys(results.runs)
    rows = key_tuples(curves, panel_keys(keys)) if not curves.empty else []
    depths = sorted(curves["depth"].unique()) if not curves.empty else []
    with rc():
        if not rows or not depths:
            return no_data()
        fig, axes = new_figure(len(rows), len(depths), sharey="row")
        panels = panel_keys(keys)
        names = activation_order(curves["activation"])
        for r, row in enumerate(rows):
            for c, depth in enumerate(depths):
                ax = axes[r, c]
                where = {**dict(zip(panels, row, strict=True)), "depth": depth}
                cell = select_rows(curves, list(where), tuple(where.values()))
                for name in activation_order(cell["activation"]):
                    line = cell[cell["activation"] == name].sort_values("epoch")
                    style = line_kwargs(name)
                    every = stagger(names.index(name), len(names), max(1, len(line) // 6))
                    ax.plot(line["epoch"], line["mean"], markersize=4, markevery=every, linewidth=1.3, **style)
                    if line["count"].max() > 1:
                        ax.fill_between(
                            line["epoch"], line["min"], line["max"], color=style["color"], alpha=0.12, linewidth=0
                        )
                level = reference(where) if reference is not None else None
                if level is not None:
                    ax.axhline(level, **REFERENCE_STYLE)
                if log:
                    log_if_positive(ax, list(cell["min"]) + list(cell["mean"]) + ([level] if level is not None else []))
                if ylim:
                    ax.set_ylim(*ylim)
                n_div = sum(diverged_counts(results, where).values())
                ax.set_title(panel_title([*panels, "depth"], (*row, depth), n_div))
                ax.grid(alpha=0.3, linewidth=0.5)
                epoch_axis(ax, cell["epoch"])
                if r == len(rows) - 1:
                    ax.set_xlabel("epoch")
                if c == 0:
                    ax.set_ylabel(ylabel(dict(zip(panels, row, strict=True))) if callable(ylabel) else ylabel)
            readable_ticks(axes[r, 0])  # the row shares its y axis: once its limits are final
        diverged = diverged_counts(results)
        legend(fig, names, extra, diverged={n: diverged[n] for n in names if n in diverged})
    return fig


def plot_loss_curves(results: Results, metric: str = "val_loss") -> Figure:
    """Validation loss vs epoch: mean over converged seeds, min-max band, log y; the y
    label names the loss of each row ("validation MSE")."""
    stage = {"val_loss": "validation", "train_loss": "training"}.get(metric)
    runs = complete(results).runs

    def ylabel(where: dict[str, Any]) -> str:
        return f"{stage} {loss_name(runs, where)}" if stage else metric.replace("_", " ")

    def baseline(where: dict[str, Any]) -> float | None:
        """The loss of predicting the training mean, on the validation split (``baseline_loss``;
        the same for every activation of a cell): mean over the panel's runs."""
        if metric != "val_loss" or "baseline_loss" not in runs:
            return None
        import pandas as pd

        values = pd.to_numeric(select_rows(runs, list(where), tuple(where.values()))["baseline_loss"], errors="coerce")
        values = values[values > 0]
        return float(values.mean()) if len(values) else None

    extra: list[tuple[Any, str]] = []
    if metric == "val_loss" and "baseline_loss" in runs:
        from matplotlib.lines import Line2D

        extra.append((Line2D([], [], **REFERENCE_STYLE), wrap(BASELINE_LABEL)))
    return _curve_grid(results, epoch_curves(results, metric), ylabel, True, None, extra, baseline)


def plot_dead_fraction(results: Results, metric: str = "dead_fraction") -> Figure:
    """Dead (or another layer metric's) fraction over epochs, mean over hidden layers, at
    the measured epochs. Activations at exactly 0 in every panel and epoch are not drawn
    (their lines would all lie on the x axis, hiding each other): the legend names them."""
    label = metric.replace("_", " ") + " (mean over layers)"
    curves = layer_curves(results, metric)
    peak = curves.groupby("activation")["max"].max() if len(curves) else None
    zero = [n for n in activation_order(curves["activation"]) if peak is not None and not peak[n] > 0]
    if zero and len(zero) == len(peak):  # type: ignore[arg-type]
        with rc():
            return no_data(text=f"{label.split(' (')[0]}: 0 for every activation at every measured epoch")
    drawn = curves[~curves["activation"].isin(zero)]
    # one scale for every panel, from 0 to just above the largest value (fractions: at most 1)
    top = float(drawn["max"].max()) if len(drawn) and drawn["max"].notna().any() else 1.0
    top = min(1.0, max(0.05, top * 1.1))
    extra = [(blank_handle(), wrap("0 for all others: " + ", ".join(zero)))] if zero else []
    return _curve_grid(results, drawn, label, False, (-0.02 * top, top * 1.02), extra)


__all__ = [
    "plot_dead_fraction",
    "plot_loss_curves",
]
