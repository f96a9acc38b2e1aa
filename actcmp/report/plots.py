"""Figures: each function takes the stored frames and returns a ``matplotlib.figure.Figure``.

Never touches pyplot's global state. Every activation keeps the colour, marker and line
style of :mod:`actcmp.report.style`; one shared legend sits outside the panels, in
registry order. The helpers (:data:`RC`, :func:`new_figure`, :func:`legend`,
:func:`no_data`, :func:`save`, :func:`png_bytes`) serve the claims figures too. Statistics follow :mod:`actcmp.report.tables` (converged runs only;
diverged runs are counted in panel titles and legend labels).
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from actcmp import stats
from actcmp.report import tables
from actcmp.report.style import activation_order, activation_style, line_kwargs

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from actcmp.store import Results

PANEL_W, PANEL_H, LEGEND_W = 3.1, 2.3, 2.2
#: width beside the panels of a figure without a legend (inches)
NO_LEGEND = 0.3
#: matplotlib rc settings every figure is drawn and saved with
RC: Any = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 8,
    "svg.hashsalt": "actcmp",
}


# -- helpers --------------------------------------------------------------------------
def new_figure(
    n_rows: int,
    n_cols: int,
    panel: tuple[float, float] = (PANEL_W, PANEL_H),
    legend: float = LEGEND_W,
    *,
    pad: float = 0.4,
    **subplots: Any,
) -> tuple[Figure, Any]:
    """A constrained-layout figure of ``n_rows`` x ``n_cols`` panels of ``panel`` inches,
    ``legend`` inches beside them for the legend (:data:`NO_LEGEND` without one) and
    ``pad`` inches above them; ``subplots`` go to ``Figure.subplots`` (``sharey``, ...).
    Returns the figure and a 2-d array of axes."""
    from matplotlib.figure import Figure

    width = panel[0] * n_cols + legend
    fig = Figure(figsize=(width, panel[1] * n_rows + pad), layout="constrained", dpi=100)
    axes = fig.subplots(n_rows, n_cols, squeeze=False, **subplots)
    return fig, axes


def legend(
    fig: Figure,
    names: Iterable[str],
    extra: Sequence[tuple[Any, str]] = (),
    *,
    title: str = "activation",
    diverged: dict[str, int] | None = None,
) -> None:
    """One legend outside the panels: a line per activation in ``names`` (in the given
    order; see :func:`activation_order`), labelled with its count from ``diverged`` when
    not zero, then the ``extra`` (handle, label) pairs."""
    from matplotlib.lines import Line2D

    handles: list[Any] = []
    labels: list[str] = []
    for name in names:
        handles.append(Line2D([], [], **line_kwargs(name)))  # type: ignore[arg-type]
        count = (diverged or {}).get(name, 0)
        labels.append(f"{name} ({count} diverged)" if count else name)
    for handle, label in extra:
        handles.append(handle)
        labels.append(label)
    if handles:
        fig.legend(handles, labels, loc="outside right upper", title=title, frameon=False)


def _legend(fig: Figure, names: Iterable[str], diverged: dict[str, int] | None = None) -> None:
    legend(fig, activation_order(names), diverged=diverged)


def _diverged_counts(results: Results, where: dict[str, Any] | None = None) -> dict[str, int]:
    runs = results.runs
    if runs.empty or "status" not in runs:
        return {}
    runs = runs[runs["status"] == "diverged"]
    for key, value in (where or {}).items():
        runs = runs[runs[key].astype(str) == str(value)]
    return {str(k): int(v) for k, v in runs["activation"].value_counts().items()}


def _title(keys: list[str], values: tuple[Any, ...], diverged: int = 0) -> str:
    text = tables.label(keys, values)
    return f"{text} ({diverged} diverged)" if diverged else text


def _select(frame: pd.DataFrame, keys: list[str], values: tuple[Any, ...]) -> pd.DataFrame:
    for key, value in zip(keys, values, strict=True):
        frame = frame[frame[key].astype(str) == str(value)]
    return frame


def _groups(frame: pd.DataFrame, keys: list[str]) -> list[tuple[Any, ...]]:
    """Distinct key tuples in sorted order (at least one empty tuple when no keys)."""
    if not keys:
        return [()]
    if frame.empty:
        return []
    unique = frame[keys].drop_duplicates().sort_values(keys, kind="mergesort")
    return [tuple(row) for row in unique.itertuples(index=False)]


def _compact_log_formatters(axis: Any) -> None:
    """Log-axis tick labels as plain numbers (0.03, 1e-05) instead of 3x10^-2."""
    from matplotlib.ticker import LogFormatter

    class Compact(LogFormatter):
        def _num_to_string(self, x: float, vmin: float, vmax: float) -> str:
            return f"{x:.3g}"

    axis.set_major_formatter(Compact())
    axis.set_minor_formatter(Compact(labelOnlyBase=False, minor_thresholds=(1, 0.4)))


def _log_if_positive(ax: Axes, values: Iterable[float]) -> None:
    finite = [v for v in values if v == v and math.isfinite(v)]
    if finite and min(finite) > 0:
        ax.set_yscale("log")
        _compact_log_formatters(ax.yaxis)


def _integer_x(ax: Axes) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def no_data(fig: Figure | None = None, text: str = "no converged runs to plot") -> Figure:
    """``text`` in place of a plot, on ``fig``'s first axes (a small new figure when none)."""
    if fig is None:
        fig, _ = new_figure(1, 1, legend=NO_LEGEND)
    ax = fig.axes[0] if fig.axes else fig.add_subplot()
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()
    return fig


#: dpi of the saved files
SAVE_DPI = 150
_METADATA: dict[str, Any] = {
    "png": {"Software": None},
    "pdf": {"CreationDate": None, "ModDate": None},
    "svg": {"Date": None},
}


def save(
    fig: Figure, stem: str | Path, formats: Sequence[str] = ("png", "pdf"), *, png: bytes | None = None
) -> list[Path]:
    """Write ``stem.FORMAT`` for each format (png at 150 dpi; pdf/svg without dates) and
    release the figure. ``png``: this figure already rendered by ``png_bytes(fig,
    SAVE_DPI)``, written as it is (and its layout kept) instead of drawing again.
    Returns the written paths."""
    import matplotlib

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    if png is not None:
        fig.set_layout_engine("none")  # the layout is settled by that render; every format reuses it
    with matplotlib.rc_context(RC):
        for fmt in formats:
            path = stem.with_suffix(f".{fmt}")
            if fmt == "png" and png is not None:
                path.write_bytes(png)
            else:
                fig.savefig(path, format=fmt, dpi=SAVE_DPI, metadata=_METADATA.get(fmt))
            paths.append(path)
            # the layout is settled by the first save; later formats reuse it (about 40% faster)
            fig.set_layout_engine("none")
    fig.clear()
    return paths


def png_bytes(fig: Figure, dpi: int = 110) -> bytes:
    """The figure as PNG bytes (for embedding), by default at screen resolution."""
    import matplotlib

    buffer = io.BytesIO()
    with matplotlib.rc_context(RC):
        fig.savefig(buffer, format="png", dpi=dpi, metadata=_METADATA["png"])
    return buffer.getvalue()


def _rc() -> Any:
    import matplotlib

    return matplotlib.rc_context(RC)


# -- 1 and 2: curves over epochs faceted dataset x depth -------------------------------
def _curve_grid(
    results: Results, curves: pd.DataFrame, ylabel: str, log: bool, ylim: tuple[float, float] | None
) -> Figure:
    results = tables.complete(results)
    keys = tables.cell_keys(results.runs)
    rows = _groups(curves, tables.panel_keys(keys)) if not curves.empty else []
    depths = sorted(curves["depth"].unique()) if not curves.empty else []
    with _rc():
        if not rows or not depths:
            return no_data()
        fig, axes = new_figure(len(rows), len(depths), sharey="row")
        panels = tables.panel_keys(keys)
        for r, row in enumerate(rows):
            for c, depth in enumerate(depths):
                ax = axes[r, c]
                where = {**dict(zip(panels, row, strict=True)), "depth": depth}
                cell = _select(curves, list(where), tuple(where.values()))
                for name in activation_order(cell["activation"]):
                    line = cell[cell["activation"] == name].sort_values("epoch")
                    style = line_kwargs(name)
                    every = max(1, len(line) // 6)
                    ax.plot(line["epoch"], line["mean"], markersize=4, markevery=every, linewidth=1.3, **style)
                    if line["count"].max() > 1:
                        ax.fill_between(
                            line["epoch"], line["min"], line["max"], color=style["color"], alpha=0.12, linewidth=0
                        )
                if log:
                    _log_if_positive(ax, list(cell["min"]) + list(cell["mean"]))
                if ylim:
                    ax.set_ylim(*ylim)
                n_div = sum(_diverged_counts(results, where).values())
                ax.set_title(_title([*panels, "depth"], (*row, depth), n_div))
                ax.grid(alpha=0.3, linewidth=0.5)
                _integer_x(ax)
                if r == len(rows) - 1:
                    ax.set_xlabel("epoch")
                if c == 0:
                    ax.set_ylabel(ylabel)
        _legend(fig, curves["activation"], _diverged_counts(results))
    return fig


def plot_loss_curves(results: Results, metric: str = "val_loss") -> Figure:
    """Validation loss vs epoch: mean over converged seeds, min-max band, log y."""
    return _curve_grid(results, tables.epoch_curves(results, metric), metric.replace("_", " "), True, None)


def plot_dead_fraction(results: Results, metric: str = "dead_fraction") -> Figure:
    """Dead (or another layer metric's) fraction over epochs, mean over hidden layers."""
    label = metric.replace("_", " ") + " (mean over layers)"
    curves = tables.layer_curves(results, metric)
    # one scale for every panel, from 0 to just above the largest value (fractions: at most 1)
    top = float(curves["max"].max()) if len(curves) and curves["max"].notna().any() else 1.0
    top = min(1.0, max(0.05, top * 1.1))
    return _curve_grid(results, curves, label, False, (-0.02 * top, top * 1.02))


# -- 3: test loss vs depth --------------------------------------------------------------
def _panel_grid(n_panels: int, panel: tuple[float, float], legend: bool = True) -> tuple[Figure, list[Axes]]:
    n_cols = min(3, max(1, n_panels))
    n_rows = max(1, math.ceil(n_panels / n_cols))
    fig, axes = new_figure(n_rows, n_cols, panel, LEGEND_W if legend else NO_LEGEND)
    flat = list(axes.ravel())
    for ax in flat[n_panels:]:
        ax.set_axis_off()
    return fig, flat[:n_panels]


def plot_loss_vs_depth(results: Results) -> Figure:
    """Final test loss against depth per activation; marker = mean, bar = min-max over
    converged seeds; one panel per dataset (and extra cell field values)."""
    results = tables.complete(results)
    main = tables.main_table(results, statistics=False)
    keys = [k for k in tables.cell_keys(results.runs) if k in main.columns]
    panels = tables.panel_keys(keys)
    groups = _groups(main, panels) if "depth" in main and main["test_loss_mean"].notna().any() else []
    with _rc():
        if not groups:
            return no_data()
        fig, axes = _panel_grid(len(groups), (PANEL_W + 0.4, PANEL_H + 0.4))
        for ax, group in zip(axes, groups, strict=True):
            rows = _select(main, panels, group)
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
            _log_if_positive(ax, rows["test_loss_min"])
            n_div = int(rows["diverged"].sum())
            ax.set_title(_title(panels, group, n_div))
            ax.set_xlabel("depth (encoder layers)")
            ax.set_ylabel("test loss")
            ax.grid(alpha=0.3, linewidth=0.5)
        _legend(fig, main["activation"], _diverged_counts(results))
    return fig


# -- 4: heatmaps ------------------------------------------------------------------------
def plot_heatmap(results: Results, value: str = "test_loss_mean") -> Figure:
    """Activation x depth heatmap of ``value`` (a main-table column: ``test_loss_mean`` or
    ``dead_fraction_final``), one panel per dataset; cells annotated, 'div' = all diverged."""
    results = tables.complete(results)
    from matplotlib.colors import LogNorm, Normalize

    main = tables.main_table(results, statistics=False)
    keys = [k for k in tables.cell_keys(results.runs) if k in main.columns]
    panels = tables.panel_keys(keys)
    groups = _groups(main, panels) if "depth" in main and value in main else []
    n_act = len(activation_order(main["activation"])) if "activation" in main else 0
    n_depth = main["depth"].nunique() if "depth" in main else 0
    with _rc():
        if not groups:
            return no_data()
        panel = (1.9 + 0.75 * n_depth, 0.9 + 0.3 * n_act)
        fig, axes = _panel_grid(len(groups), panel, legend=False)
        fraction = "fraction" in value
        label = {"test_loss_mean": "mean test loss", "dead_fraction_final": "dead fraction at end"}.get(
            value, value.replace("_", " ")
        )
        for ax, group in zip(axes, groups, strict=True):
            matrix, lost = tables.heatmap_matrix(main, dict(zip(panels, group, strict=True)), value)
            data = matrix.to_numpy(dtype=float)
            finite = data[~(data != data)]
            if fraction:
                norm: Normalize = Normalize(0, 1)
            elif finite.size and finite.min() > 0 and finite.max() > finite.min():
                norm = LogNorm(finite.min(), finite.max())
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
                        text = f"{v:.2f}" if fraction else tables.fmt_number(v, 2)
                        ax.text(j, i, text, ha="center", va="center", fontsize=7, color=colour)
                    elif bool(lost.iat[i, j]):
                        ax.text(j, i, "div", ha="center", va="center", fontsize=7, color="black")
            ax.set_xticks(range(len(matrix.columns)), [str(d) for d in matrix.columns])
            ax.set_yticks(range(len(matrix.index)), list(matrix.index))
            for tick in ax.get_yticklabels():
                tick.set_color(line_kwargs(tick.get_text())["color"])  # type: ignore[arg-type]
            ax.set_xlabel("depth")
            ax.set_title(_title(panels, group))
            bar = fig.colorbar(image, ax=ax, label=label, shrink=0.9)
            if isinstance(norm, LogNorm):
                _compact_log_formatters(bar.ax.yaxis)
    return fig


# -- 5: gradient norm by layer -----------------------------------------------------------
def plot_grad_norms(results: Results, metric: str = "grad_norm_weight") -> Figure:
    """Gradient norm per linear layer at init and at the end, for the deepest depth of
    each dataset: a fall towards layer 0 shows vanishing gradients."""
    results = tables.complete(results)
    profile = tables.layer_profile(results, metric)
    keys = [k for k in tables.cell_keys(results.runs) if k in profile.columns]
    panels = tables.panel_keys(keys)
    groups = _groups(profile, panels) if not profile.empty else []
    with _rc():
        if not groups:
            return no_data()
        fig, axes = new_figure(len(groups), 2, (PANEL_W + 0.5, PANEL_H + 0.2), sharey="row")
        for r, group in enumerate(groups):
            rows = _select(profile, panels, group)
            depth = int(rows["depth"].max())
            for c, (stage, when) in enumerate((("init", "at init (epoch 0)"), ("end", "after training"))):
                ax = axes[r, c]
                staged = rows[rows["stage"] == stage]
                for name in activation_order(staged["activation"]):
                    line = staged[staged["activation"] == name].sort_values("layer")
                    positive = line["mean"].where(line["mean"] > 0)
                    ax.plot(line["layer"], positive, markersize=4, linewidth=1.2, **line_kwargs(name))
                _log_if_positive(ax, staged["mean"].where(staged["mean"] > 0).dropna())
                ax.axvline(depth - 0.5, color="grey", linestyle=":", linewidth=0.8)
                ax.set_xticks(range(2 * depth))
                ax.set_title(f"{_title([*panels, 'depth'], (*group, depth))} · {when}")
                ax.set_xlabel("linear layer (encoder | decoder)")
                if c == 0:
                    ax.set_ylabel(metric.replace("_", " "))
                ax.grid(alpha=0.3, linewidth=0.5)
        _legend(fig, profile["activation"], _diverged_counts(results))
    return fig


# -- 6: the activation functions themselves --------------------------------------------
def plot_activation_functions(names: Sequence[str], x_range: tuple[float, float] = (-5, 5)) -> Figure:
    """f(x) and f'(x) side by side for each activation, in its fixed style."""
    import torch

    from actcmp.activations import parse_activation

    z = torch.linspace(float(x_range[0]), float(x_range[1]), 801)
    with _rc():
        fig, axes = new_figure(1, 2, (PANEL_W + 0.5, PANEL_H + 0.7))
        f_ax, d_ax = axes[0]
        shown = []
        for name in names:
            spec = parse_activation(name)
            module = spec.build()
            with torch.no_grad():
                y = module(z)
            dy = spec.derivative(z, module)
            style = line_kwargs(name)
            for ax, values in ((f_ax, y), (d_ax, dy)):
                ax.plot(z.numpy(), values.detach().numpy(), markevery=100, markersize=4, linewidth=1.4, **style)
            shown.append(name)
        for ax, title in ((f_ax, "f(x)"), (d_ax, "f'(x)")):
            ax.set_title(title)
            ax.set_xlabel("x")
            ax.axhline(0, color="grey", linewidth=0.6)
            ax.axvline(0, color="grey", linewidth=0.6)
            ax.grid(alpha=0.3, linewidth=0.5)
        legend(fig, shown)
    return fig


# -- statistics figures (computed by actcmp.stats) ------------------------------------------
def _keyed_groups(frame: pd.DataFrame, keys: list[str]) -> list[tuple[tuple[Any, ...], pd.DataFrame]]:
    """(key tuple, rows) per group of ``keys``, sorted; one group ``()`` without keys."""
    if not keys:
        return [((), frame)]
    return [((k,) if not isinstance(k, tuple) else k, g) for k, g in frame.groupby(keys, sort=True, dropna=False)]


def plot_cd_diagram(result: stats.FriedmanResult, ax: Axes | None = None, title: str | None = None) -> Figure:
    """Critical-difference diagram: a horizontal rank axis (1 = best, left), each
    treatment at its mean rank with its label, thick bars joining treatments whose mean
    ranks differ by less than the Nemenyi CD, and the CD itself as a scale bar."""
    from matplotlib.figure import Figure

    names = list(result.mean_ranks)
    k = max(len(names), 2)
    if ax is None:
        fig = Figure(figsize=(6.4, 1.4 + 0.22 * len(names)), layout="constrained", dpi=100)
        ax = fig.add_subplot()
    fig = ax.get_figure()  # type: ignore[assignment]
    room = 0.45 * k  # label space on each side, in rank units
    ax.set_xlim(1 - room, k + room)
    half = math.ceil(len(names) / 2)
    n_side = max(half, len(names) - half, 1)
    ax.set_ylim(-(n_side + 1.2), 1.6)
    ax.plot([1, k], [0, 0], color="black", linewidth=1)
    for r in range(1, k + 1):
        ax.plot([r, r], [0, 0.15], color="black", linewidth=1)
        ax.text(r, 0.3, str(r), ha="center", va="bottom", fontsize=8)
    if math.isfinite(result.cd):
        ax.plot([1, 1 + result.cd], [1.15, 1.15], color="black", linewidth=1.5)
        ax.text(1 + result.cd / 2, 1.25, f"CD = {result.cd:.2f}", ha="center", va="bottom", fontsize=8)
    for i, name in enumerate(names):
        rank = result.mean_ranks[name]
        colour, marker = activation_style(name)
        left = i < half
        level = -(i + 1) if left else -(len(names) - i)
        end = 1 - 0.25 * room if left else k + 0.25 * room
        ax.plot([rank, rank, end], [0, level, level], color=colour, linewidth=1.2)
        ax.plot([rank], [0], marker=marker, color=colour, markersize=6)
        ax.text(
            end + (-0.05 if left else 0.05),
            level,
            f"{name} ({rank:.2f})",
            ha="right" if left else "left",
            va="center",
            fontsize=8,
            color=colour,
        )
    for j, group in enumerate(result.groups()):
        low, high = result.mean_ranks[group[0]], result.mean_ranks[group[-1]]
        y = -0.3 - 0.25 * j
        ax.plot([low - 0.04, high + 0.04], [y, y], color="black", linewidth=3, solid_capstyle="round")
    ax.set_axis_off()
    p_text = f"p = {result.p_value:.3g}" if math.isfinite(result.p_value) else result.reason
    ax.set_title(title or f"Mean rank of {result.metric} over {result.n_cells} cells (Friedman {p_text})", fontsize=9)
    return fig  # type: ignore[return-value]


def plot_depth_scaling(
    profile: pd.DataFrame, *, treatment: str = "activation", factor: float = stats.DEPTH_FACTOR
) -> Figure:
    """Loss relative to each activation's best depth, against depth (log2 axes), one
    panel per dataset (and other panel keys); the dashed line is ``factor``, crosses mark
    depths where a seed diverged. The deepest point at or under the line still trains."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    panel = [c for c in profile.columns if c not in (treatment, "depth", "n", "n_diverged", "mean", "ratio", "trains")]
    panels = _keyed_groups(profile, panel) if not profile.empty else []
    n = max(len(panels), 1)
    n_cols = min(3, n)  # wrap: a single row of many panels shrinks to illegible on a page
    n_rows = math.ceil(n / n_cols)
    fig = Figure(figsize=(3.0 * n_cols + 1.8, 2.6 * n_rows + 0.3), layout="constrained", dpi=100)
    grid = fig.subplots(n_rows, n_cols, squeeze=False)
    axes = list(grid.ravel())
    for spare in axes[n:]:
        spare.set_axis_off()
    names = activation_order(profile[treatment]) if not profile.empty else []
    for ax, (key, group) in zip(axes, panels, strict=False):
        for name in names:
            mine = group[group[treatment] == name].sort_values("depth")
            if mine.empty:
                continue
            style = line_kwargs(name)
            ok = mine[mine["n_diverged"] == 0]
            ax.plot(ok["depth"], ok["ratio"], markersize=4, linewidth=1.2, **style)  # type: ignore[arg-type]
            bad = mine[mine["n_diverged"] > 0]
            if len(bad):
                ax.plot(
                    bad["depth"],
                    np.full(len(bad), factor * 1.6),
                    linestyle="none",
                    marker="x",
                    color=style["color"],
                    markersize=6,
                )
        ax.axhline(factor, color="grey", linestyle="--", linewidth=1)
        depths = sorted(group["depth"].unique())
        ax.set_xscale("log", base=2)
        ax.set_xticks([float(d) for d in depths], [str(d) for d in depths])
        ax.set_yscale("log")
        top = float(np.nanmax(group["ratio"].to_numpy(dtype=float))) if group["ratio"].notna().any() else factor
        ticks = [v for v in (1, 1.2, 1.5, 2, 3, 5, 10, 20, 50, 100) if v <= max(top, factor) * 1.05]
        ax.set_yticks(ticks)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.minorticks_off()
        ax.set_xlabel("depth (encoder layers)")
        ax.set_title(" · ".join(str(v) for v in key) or "all")
        ax.grid(alpha=0.3, linewidth=0.5)
    for row in grid:
        row[0].set_ylabel("loss / loss at best depth")
    if not panels:
        axes[0].text(0.5, 0.5, "no depth grid", ha="center", va="center", transform=axes[0].transAxes)
        axes[0].set_axis_off()
    handles = [Line2D([], [], **line_kwargs(n)) for n in names]  # type: ignore[arg-type]
    handles.append(Line2D([], [], color="grey", linestyle="--"))
    handles.append(Line2D([], [], color="black", marker="x", linestyle="none"))
    if names:
        fig.legend(
            handles,
            [*names, f"factor {factor:g}", "a seed diverged"],
            loc="outside right upper",
            frameon=False,
            fontsize=8,
        )
    return fig


def standard_figures() -> list[tuple[str, str, str, Any]]:
    """(file stem, title, caption saying what to look for, function of Results), in report order."""
    return [
        (
            "loss_curves",
            "Validation loss over training",
            "Validation loss per epoch, mean over converged seeds with the min-max band (log scale): look for the "
            "activation that falls fastest and lowest; a flat curve near the top means the network did not learn.",
            plot_loss_curves,
        ),
        (
            "dead_fraction",
            "Dead units over training",
            "Dead fraction: share of hidden units whose derivative is zero on every probe input, mean over hidden "
            "layers. Rising ReLU-family lines are dying units; Leaky ReLU and PReLU should stay near zero.",
            plot_dead_fraction,
        ),
        (
            "test_loss_vs_depth",
            "Test loss against depth",
            "Final test loss per depth (marker = mean over converged seeds, bar = min-max, log scale): a line that "
            "climbs with depth marks an activation that trains worse as the network deepens.",
            plot_loss_vs_depth,
        ),
        (
            "heatmap_test_loss",
            "Mean test loss: activation x depth",
            "Mean test loss of every activation and depth (log colour scale, yellow = high loss, "
            "'div' = every seed diverged): read across a row to see how an activation copes with depth.",
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
    ]
