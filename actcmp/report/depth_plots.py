"""Figures across depth: test loss against depth, activation x depth heatmaps, and gradient
norms by layer in each panel's deepest network."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from actcmp.analysis.cells import activation_order, cell_keys
from actcmp.report.canvas import (
    PANEL_H,
    PANEL_W,
    diverged_counts,
    key_tuples,
    legend,
    log_if_positive,
    loss_name,
    new_figure,
    no_data,
    panel_grid,
    panel_title,
    rc,
    readable_ticks,
    select_rows,
    wrap,
)
from actcmp.report.format import fmt_number
from actcmp.report.frames import complete, heatmap_matrix, layer_profile, panel_keys
from actcmp.report.style import line_kwargs
from actcmp.report.tables import main_table

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from actcmp.store.database import Results


#: the least ratio of top to bottom of a loss heatmap's log colour scale
MIN_SPAN = 2.0

#: what the bars of the test-loss-vs-depth figure span: said in the figure and its caption
LOSS_BARS = "min–max over converged seeds"


#: y-axis labels of the per-layer metrics (otherwise the metric's name)
AXIS_LABELS = {
    "grad_norm_weight": "‖∂L/∂W‖ (weight-gradient norm, probe-set loss)",
    "grad_norm_bias": "‖∂L/∂b‖ (bias-gradient norm, probe-set loss)",
    "postact_std": "std of the layer's output",
    "zero_fraction": "share of exact zeros in the output",
}


def bars_label() -> str:
    """The legend entry that says what the markers and bars of :func:`plot_loss_vs_depth` are."""
    return f"marker: mean; bar: {LOSS_BARS}"


def plot_loss_vs_depth(results: Results) -> Figure:
    """Final test loss against depth per activation; marker = mean, bar = min-max over
    converged seeds (:data:`LOSS_BARS`, said in the legend); one panel per dataset (and
    extra cell field values)."""
    results = complete(results)
    main = main_table(results, statistics=False)
    keys = [k for k in cell_keys(results.runs) if k in main.columns]
    panels = panel_keys(keys)
    groups = key_tuples(main, panels) if "depth" in main and main["test_loss_mean"].notna().any() else []
    with rc():
        if not groups:
            return no_data()
        fig, axes = panel_grid(len(groups), (PANEL_W + 0.4, PANEL_H + 0.4))
        for ax, group in zip(axes, groups, strict=True):
            rows = select_rows(main, panels, group)
            depths = sorted(rows["depth"].unique())
            names = activation_order(rows["activation"])
            # side-by-side offsets within a depth keep error bars apart
            width = min(0.5, 0.07 * (len(names) - 1)) / max(1, len(names) - 1)
            for i, name in enumerate(names):
                mine = rows[(rows["activation"] == name) & rows["test_loss_mean"].notna()].sort_values("depth")
                if mine.empty:
                    continue
                x = [depths.index(d) + (i - (len(names) - 1) / 2) * width for d in mine["depth"]]
                mean = mine["test_loss_mean"].to_numpy()
                err = [mean - mine["test_loss_min"].to_numpy(), mine["test_loss_max"].to_numpy() - mean]
                ax.errorbar(
                    x, mean, yerr=err, capsize=2, markersize=4, linewidth=1.2, elinewidth=0.8, **line_kwargs(name)
                )
            ax.set_xticks(range(len(depths)), [str(d) for d in depths])
            log_if_positive(ax, rows["test_loss_min"])
            readable_ticks(ax)
            n_div = int(rows["diverged"].sum())
            ax.set_title(panel_title(panels, group, n_div))
            ax.set_xlabel("depth (encoder layers)")
            ax.set_ylabel(f"test {loss_name(results.runs, dict(zip(panels, group, strict=True)))}")
            ax.grid(alpha=0.3, linewidth=0.5)
        bars = ax.errorbar([], [], yerr=[], color="grey", marker="o", markersize=4, capsize=2, linestyle="none")
        legend(
            fig,
            activation_order(main["activation"]),
            [(bars, wrap(bars_label()))],
            diverged=diverged_counts(results),
        )
    return fig


def plot_heatmap(results: Results, value: str = "test_loss_mean") -> Figure:
    """Activation x depth heatmap of ``value`` (a main-table column: ``test_loss_mean`` or
    ``dead_fraction_final``), one panel per dataset; cells annotated, 'div' = all diverged."""
    results = complete(results)
    from matplotlib.colors import LogNorm, Normalize

    main = main_table(results, statistics=False)
    keys = [k for k in cell_keys(results.runs) if k in main.columns]
    panels = panel_keys(keys)
    groups = key_tuples(main, panels) if "depth" in main and value in main else []
    n_act = len(activation_order(main["activation"])) if "activation" in main else 0
    n_depth = main["depth"].nunique() if "depth" in main else 0
    with rc():
        if not groups:
            return no_data()
        fraction = "fraction" in value
        label = {"test_loss_mean": "mean test loss", "dead_fraction_final": "dead fraction at end"}.get(
            value, value.replace("_", " ")
        )
        if fraction:
            # one colour scale for every panel, from 0 to the largest value (not to 1: a
            # largest value of 0.27 would leave every other cell the colour of 0)
            top, label = fraction_scale(main[value], label)
        else:
            # each panel its own log scale (datasets' losses differ in scale), spanning at
            # least a factor MIN_SPAN: stretched over a panel's own range, losses of 0.120 and
            # 0.124 were drawn at opposite ends of the colour map
            label = f"{label}\n(log colour scale, at least {MIN_SPAN:g}x wide)"
        # a panel of few activations is shorter than its colour bar's label: the label is broken
        # onto more lines, and the panel made taller where that is not enough (it was cut off)
        label, height = fit_bar_label(label, 0.9 + 0.3 * n_act)
        fig, axes = panel_grid(len(groups), (1.9 + 0.75 * n_depth, height), legend=False)
        for ax, group in zip(axes, groups, strict=True):
            matrix, lost = heatmap_matrix(main, dict(zip(panels, group, strict=True)), value)
            data = matrix.to_numpy(dtype=float)
            finite = data[~(data != data)]
            if fraction:
                norm: Normalize = Normalize(0, top)
            elif finite.size and finite.min() > 0:
                norm = LogNorm(finite.min(), max(finite.max(), finite.min() * MIN_SPAN))
            else:
                norm = Normalize(*(finite.min(), finite.max()) if finite.size else (0, 1))
            cmap = "magma_r" if fraction else "viridis"
            image = ax.imshow(data, aspect="auto", cmap=cmap, norm=norm, interpolation="nearest")
            ax.set_facecolor("#DDDDDD")
            for i in range(data.shape[0]):
                for j in range(data.shape[1]):
                    v = data[i, j]
                    if v == v:
                        r, g, b, _ = image.cmap(image.norm(v))
                        colour = "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"
                        text = ("0" if v == 0 else fmt_number(v, 2)) if fraction else fmt_number(v, 2)
                        ax.text(j, i, text, ha="center", va="center", fontsize=7, color=colour)
                    elif bool(lost.iat[i, j]):
                        ax.text(j, i, "div", ha="center", va="center", fontsize=7, color="black")
            ax.set_xticks(range(len(matrix.columns)), [str(d) for d in matrix.columns])
            ax.set_yticks(range(len(matrix.index)), list(matrix.index))
            for tick in ax.get_yticklabels():
                tick.set_color(line_kwargs(tick.get_text())["color"])  # type: ignore[arg-type]
            ax.set_xlabel("depth")
            ax.set_title(panel_title(panels, group))
            bar = fig.colorbar(image, ax=ax, label=label, shrink=0.9)
            if isinstance(norm, LogNorm):
                readable_ticks(bar.ax)
    return fig


#: inches of a heatmap panel's height that are not its axes (title, depth ticks and label)
HEATMAP_FRAME_H = 0.65
#: a colour bar's label is broken into lines of about this many characters where it is too long
BAR_LINE = 20


def fit_bar_label(label: str, height: float) -> tuple[str, float]:
    """``(label, height)``: a colour bar's ``label`` as it fits beside a heatmap panel of ``height``
    inches (its axes: the height less :data:`HEATMAP_FRAME_H`), its lines measured at the axis
    label's font size: as it is where it fits; else each line longer than :data:`BAR_LINE`
    characters broken at the space nearest its middle, and the panel raised where even that
    does not fit (the label was cut off at the figure's edge)."""
    import matplotlib
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    font = FontProperties(size=matplotlib.rcParams["axes.labelsize"])
    measure = TextToPath()

    def longest(text: str) -> float:
        return max(measure.get_text_width_height_descent(line, font, ismath=False)[0] for line in text.split("\n"))

    room = height - HEATMAP_FRAME_H
    if longest(label) / 72 <= room:
        return label, height
    broken = "\n".join(_halve(line) if len(line) > BAR_LINE else line for line in label.split("\n"))
    need = longest(broken) / 72 + 0.1
    return broken, max(height, need + HEATMAP_FRAME_H)


def _halve(line: str) -> str:
    """``line`` on two lines, broken at the space nearest its middle (as it is without a space)."""
    spaces = [i for i, ch in enumerate(line) if ch == " "]
    if not spaces:
        return line
    at = min(spaces, key=lambda i: abs(i - len(line) / 2))
    return f"{line[:at]}\n{line[at + 1 :]}"


def fraction_scale(values: pd.Series, label: str) -> tuple[float, str]:
    """The top of a fraction's colour scale (the largest value; 1 when all are 0 or
    missing) and ``label`` saying where the scale ends."""
    import pandas as pd

    finite = pd.to_numeric(values, errors="coerce").dropna()
    top = float(finite.max()) if len(finite) else 0.0
    if not top > 0:
        return 1.0, f"{label} (all 0)"
    return min(top, 1.0), f"{label}\n(colour scale 0 to {fmt_number(top, 2)}, the largest)"


def plot_grad_norms(results: Results, metric: str = "grad_norm_weight") -> Figure:
    """Gradient norm per linear layer at init and at the end, for the deepest depth of
    each dataset: a fall towards layer 0 shows vanishing gradients."""
    return plot_layer_metric(results, metric)


def plot_layer_metric(results: Results, metric: str = "grad_norm_weight", *, hidden: bool = False) -> Figure:
    """``metric`` per layer at init and at the end, for the deepest depth of each dataset
    (mean over seeds). Linear layers (``hidden`` False: gradient norms, log scale, a dotted
    line between encoder and decoder) or hidden layers (``hidden``: the activations' own
    statistics such as ``postact_std`` or ``zero_fraction``, linear scale, the dotted line
    at the code layer)."""
    results = complete(results)
    profile = layer_profile(results, metric)
    keys = [k for k in cell_keys(results.runs) if k in profile.columns]
    panels = panel_keys(keys)
    groups = key_tuples(profile, panels) if not profile.empty else []
    with rc():
        if not groups:
            return no_data()
        fig, axes = new_figure(len(groups), 2, (PANEL_W + 0.5, PANEL_H + 0.2), sharey="row")
        for r, group in enumerate(groups):
            rows = select_rows(profile, panels, group)
            depth = int(rows["depth"].max())
            for c, (stage, when) in enumerate((("init", "at init (epoch 0)"), ("end", "after training"))):
                ax = axes[r, c]
                staged = rows[rows["stage"] == stage]
                for name in activation_order(staged["activation"]):
                    line = staged[staged["activation"] == name].sort_values("layer")
                    shown = line["mean"] if hidden else line["mean"].where(line["mean"] > 0)
                    ax.plot(line["layer"], shown, markersize=4, linewidth=1.2, **line_kwargs(name))
                if hidden:
                    ax.axvline(depth - 1, color="grey", linestyle=":", linewidth=0.8)
                    ax.set_xticks(range(2 * depth - 1))
                    ax.set_xlabel("hidden layer (dotted: the code layer)")
                else:
                    log_if_positive(ax, staged["mean"].where(staged["mean"] > 0).dropna())
                    ax.axvline(depth - 0.5, color="grey", linestyle=":", linewidth=0.8)
                    ax.set_xticks(range(2 * depth))
                    ax.set_xlabel("linear layer (encoder | decoder)")
                ax.set_title(f"{panel_title([*panels, 'depth'], (*group, depth))} · {when}")
                ax.grid(alpha=0.3, linewidth=0.5)
            if hidden:  # shares and spreads: from 0 on a linear scale, to the row's largest value
                finite = rows["mean"][rows["mean"].notna() & (rows["mean"] != float("inf"))]
                top = float(finite.max()) if len(finite) else 1.0
                axes[r, 0].set_ylim(0, top * 1.05 if top > 0 else 1.0)
            else:
                readable_ticks(axes[r, 0])  # shared by the row: once both panels are drawn
        # one label for every row (the same metric): on each row's first panel the long ones were
        # taller than the row, ran into each other and the top one was cut off
        shared_ylabel(fig, AXIS_LABELS.get(metric, metric.replace("_", " ")))
        _legend(fig, profile["activation"], diverged_counts(results))
    return fig


#: a character's advance as a share of the font size (a generous mean over the labels'
#: letters): how long a label runs, without drawing it
_ADVANCE = 0.6


def shared_ylabel(fig: Figure, text: str, fontsize: float | None = None) -> None:
    """``text`` as the figure's one y label (``fig.supylabel``), at the size of an axis label;
    broken onto two lines before its parenthesis (or at the space nearest its middle) when one
    line would run longer than 85% of the figure's height."""
    import matplotlib
    from matplotlib.font_manager import FontProperties

    size = fontsize or FontProperties(size=matplotlib.rcParams["axes.labelsize"]).get_size_in_points()
    fig.supylabel(wrap_label(text, 0.85 * fig.get_figheight() * 72 / (_ADVANCE * size)), fontsize=size)


def wrap_label(text: str, most: float) -> str:
    """``text`` on one line when it has at most ``most`` characters, else on two: before its
    first `` (`` when there is one, else at the space nearest its middle."""
    if len(text) <= most or " " not in text:
        return text
    at = text.find(" (")
    if at < 0:
        spaces = [i for i, ch in enumerate(text) if ch == " "]
        at = min(spaces, key=lambda i: abs(i - len(text) / 2))
    return f"{text[:at]}\n{text[at + 1 :]}"


def _legend(fig: Figure, names: Iterable[str], diverged: dict[str, int] | None = None) -> None:
    legend(fig, activation_order(names), diverged=diverged)


__all__ = [
    "HEATMAP_FRAME_H",
    "LOSS_BARS",
    "bars_label",
    "fit_bar_label",
    "fraction_scale",
    "plot_grad_norms",
    "plot_heatmap",
    "plot_layer_metric",
    "plot_loss_vs_depth",
    "shared_ylabel",
    "wrap_label",
]
