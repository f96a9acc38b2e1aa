"""Figures: each function takes the stored frames and returns a ``matplotlib.figure.Figure``.

Never touches pyplot's global state. Every activation keeps the colour, marker and line
style of :mod:`actcmp.report.style`; one shared legend sits outside the panels, in
registry order. The helpers (:data:`RC`, :func:`new_figure`, :func:`legend`,
:func:`no_data`, :func:`save`, :func:`png_bytes`) serve the claims figures too. Statistics follow :mod:`actcmp.report.tables` (converged runs only;
diverged runs are counted in panel titles and legend labels).
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from actcmp.analysis import stats
from actcmp.report import tables
from actcmp.report.style import activation_order, activation_style, line_kwargs

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from actcmp.store.database import Results

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
    styles: dict[str, dict[str, Any]] | None = None,
) -> None:
    """One legend outside the panels: a line per activation in ``names`` (in the given
    order; see :func:`activation_order`), labelled with its count from ``diverged`` when
    not zero, then the ``extra`` (handle, label) pairs. ``styles``: line keywords drawn
    instead of :func:`line_kwargs` (a figure that dashes some lines)."""
    from matplotlib.lines import Line2D

    handles: list[Any] = []
    labels: list[str] = []
    for name in names:
        handles.append(Line2D([], [], **(styles or {}).get(name, line_kwargs(name))))  # type: ignore[arg-type]
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


#: mantissas of log-axis ticks, coarsest first: the first set giving enough ticks wins
_LOG_MANTISSAS = ((1.0,), (1.0, 3.0), (1.0, 2.0, 5.0), (1.0, 2.0, 3.0, 5.0), (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0))
#: the fewest labelled ticks a value axis gets (two ticks do not show a scale's direction and pace)
MIN_TICKS = 3


def log_ticks(low: float, high: float, minimum: int = MIN_TICKS, maximum: int = 8) -> list[float]:
    """Tick values for a log axis from ``low`` to ``high`` (both > 0): decades when there
    are at least ``minimum`` of them (every n-th past ``maximum``), else the coarsest
    "nice" set (1-3, 1-2-5, ...) with at least ``minimum`` values in range, else evenly
    spaced round values (ranges too narrow for any of these)."""
    from matplotlib.ticker import MaxNLocator

    low, high = min(low, high), max(low, high)
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    for mantissas in _LOG_MANTISSAS:
        ticks = [
            float(f"{m * 10.0**e:.12g}")
            for e in range(first, last + 1)
            for m in mantissas
            if low <= m * 10.0**e <= high
        ]
        if len(ticks) >= minimum:
            step = math.ceil(len(ticks) / maximum) if len(mantissas) == 1 else 1
            return ticks[::step]
    values = MaxNLocator(nbins=minimum + 1, min_n_ticks=minimum, steps=[1, 2, 2.5, 5, 10]).tick_values(low, high)
    return [float(f"{v:.12g}") for v in values if low <= v <= high]


def readable_ticks(ax: Axes) -> None:
    """At least :data:`MIN_TICKS` labelled ticks on the y axis within its current limits
    (call once the data are drawn): a log axis gets :func:`log_ticks` as plain numbers, a
    linear one a locator that never gives fewer."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullFormatter

    axis = ax.yaxis
    if axis.get_scale() == "log":
        low, high = ax.get_ylim()
        if not (low > 0 and high > 0 and math.isfinite(low) and math.isfinite(high)):
            return
        axis.set_major_locator(FixedLocator(log_ticks(low, high)))
        axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.3g}"))
        axis.set_minor_formatter(NullFormatter())
    elif axis.get_scale() == "linear":
        axis.set_major_locator(MaxNLocator(nbins="auto", min_n_ticks=MIN_TICKS, steps=[1, 2, 2.5, 5, 10]))


#: most epoch ticks on one panel's x axis
MAX_EPOCH_TICKS = 11


def epoch_ticks(epochs: Iterable[float], maximum: int = MAX_EPOCH_TICKS) -> list[int]:
    """Ticks at the epochs that were measured (layer metrics every ``probe_every``
    epochs: 0, 2, 4, ...), every n-th of them when there are more than ``maximum``; the
    last measured epoch is always a tick."""
    measured = sorted({int(e) for e in epochs if e == e})
    if len(measured) <= maximum:
        return measured
    step = math.ceil(len(measured) / maximum)
    ticks = measured[::step]
    if ticks[-1] != measured[-1]:
        ticks[-1] = measured[-1]  # replaced rather than appended: two ticks too close to read
    return ticks


def _epoch_axis(ax: Axes, epochs: Sequence[float]) -> None:
    """x ticks at the measured epochs and limits to the data (a 2% margin so that end
    markers are not cut), not rounded out to the next tick."""
    ticks = epoch_ticks(epochs)
    if not ticks:
        return
    ax.set_xticks(ticks)
    low, high = min(ticks), max(ticks)
    pad = 0.02 * (high - low) if high > low else 0.5
    ax.set_xlim(low - pad, high + pad)


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

    from actcmp.atomic import make_dir, write_atomic, write_bytes

    stem = Path(stem)
    make_dir(stem.parent)
    paths = []
    if png is not None:
        fig.set_layout_engine("none")  # the layout is settled by that render; every format reuses it
    with matplotlib.rc_context(RC):
        for fmt in formats:
            path = stem.with_suffix(f".{fmt}")
            if fmt == "png" and png is not None:
                write_bytes(path, png)
            else:
                options: dict[str, Any] = {"format": fmt, "dpi": SAVE_DPI, "metadata": _METADATA.get(fmt)}
                write_atomic(path, functools.partial(fig.savefig, **options))
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
def _stagger(index: int, count: int, every: int) -> tuple[int, int]:
    """``markevery`` for the ``index``-th of ``count`` lines with a marker every ``every``
    points: each line starts at its own offset, so markers of lines lying on top of each
    other sit side by side instead of covering each other."""
    return (index * every) // max(1, count) % max(1, every), max(1, every)


def _curve_grid(
    results: Results,
    curves: pd.DataFrame,
    ylabel: str | Callable[[dict[str, Any]], str],
    log: bool,
    ylim: tuple[float, float] | None,
    extra: Sequence[tuple[Any, str]] = (),
) -> Figure:
    """One panel per panel-key row x depth; ``ylabel`` may depend on the row's keys;
    ``extra`` (handle, label) pairs end the legend."""
    results = tables.complete(results)
    keys = tables.cell_keys(results.runs)
    rows = _groups(curves, tables.panel_keys(keys)) if not curves.empty else []
    depths = sorted(curves["depth"].unique()) if not curves.empty else []
    with _rc():
        if not rows or not depths:
            return no_data()
        fig, axes = new_figure(len(rows), len(depths), sharey="row")
        panels = tables.panel_keys(keys)
        names = activation_order(curves["activation"])
        for r, row in enumerate(rows):
            for c, depth in enumerate(depths):
                ax = axes[r, c]
                where = {**dict(zip(panels, row, strict=True)), "depth": depth}
                cell = _select(curves, list(where), tuple(where.values()))
                for name in activation_order(cell["activation"]):
                    line = cell[cell["activation"] == name].sort_values("epoch")
                    style = line_kwargs(name)
                    every = _stagger(names.index(name), len(names), max(1, len(line) // 6))
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
                _epoch_axis(ax, cell["epoch"])
                if r == len(rows) - 1:
                    ax.set_xlabel("epoch")
                if c == 0:
                    ax.set_ylabel(ylabel(dict(zip(panels, row, strict=True))) if callable(ylabel) else ylabel)
            readable_ticks(axes[r, 0])  # the row shares its y axis: once its limits are final
        diverged = _diverged_counts(results)
        legend(fig, names, extra, diverged={n: diverged[n] for n in names if n in diverged})
    return fig


#: how each stored loss name reads on an axis
LOSS_NAMES = {"mse": "MSE", "bce": "BCE", "ce": "cross-entropy"}


def loss_name(runs: pd.DataFrame, where: dict[str, Any] | None = None) -> str:
    """The reconstruction loss of the runs matching ``where`` as it reads on an axis
    ("MSE", "BCE", "MSE / BCE" when they differ; "loss" when not stored)."""
    if "loss" not in runs:
        return "loss"
    for key, value in (where or {}).items():
        if key in runs:
            runs = runs[runs[key].astype(str) == str(value)]
    losses = sorted({str(v) for v in runs["loss"].dropna()} - {"auto"})
    return " / ".join(LOSS_NAMES.get(v, v) for v in losses) or "loss"


def plot_loss_curves(results: Results, metric: str = "val_loss") -> Figure:
    """Validation loss vs epoch: mean over converged seeds, min-max band, log y; the y
    label names the loss of each row ("validation MSE")."""
    stage = {"val_loss": "validation", "train_loss": "training"}.get(metric)
    runs = tables.complete(results).runs

    def ylabel(where: dict[str, Any]) -> str:
        return f"{stage} {loss_name(runs, where)}" if stage else metric.replace("_", " ")

    return _curve_grid(results, tables.epoch_curves(results, metric), ylabel, True, None)


def _blank_handle() -> Any:
    from matplotlib.lines import Line2D

    return Line2D([], [], linestyle="none")


def wrap(text: str, width: int = 24) -> str:
    """``text`` broken into lines of at most ``width`` characters (legend entries)."""
    import textwrap

    return "\n".join(textwrap.wrap(text, width, break_on_hyphens=False)) or text


def plot_dead_fraction(results: Results, metric: str = "dead_fraction") -> Figure:
    """Dead (or another layer metric's) fraction over epochs, mean over hidden layers, at
    the measured epochs. Activations at exactly 0 in every panel and epoch are not drawn
    (their lines would all lie on the x axis, hiding each other): the legend names them."""
    label = metric.replace("_", " ") + " (mean over layers)"
    curves = tables.layer_curves(results, metric)
    peak = curves.groupby("activation")["max"].max() if len(curves) else None
    zero = [n for n in activation_order(curves["activation"]) if peak is not None and not peak[n] > 0]
    if zero and len(zero) == len(peak):  # type: ignore[arg-type]
        with _rc():
            return no_data(text=f"{label.split(' (')[0]}: 0 for every activation at every measured epoch")
    drawn = curves[~curves["activation"].isin(zero)]
    # one scale for every panel, from 0 to just above the largest value (fractions: at most 1)
    top = float(drawn["max"].max()) if len(drawn) and drawn["max"].notna().any() else 1.0
    top = min(1.0, max(0.05, top * 1.1))
    extra = [(_blank_handle(), wrap("0 for all others: " + ", ".join(zero)))] if zero else []
    return _curve_grid(results, drawn, label, False, (-0.02 * top, top * 1.02), extra)


# -- 3: test loss vs depth --------------------------------------------------------------
def _panel_grid(n_panels: int, panel: tuple[float, float], legend: bool = True) -> tuple[Figure, list[Axes]]:
    n_cols = min(3, max(1, n_panels))
    n_rows = max(1, math.ceil(n_panels / n_cols))
    fig, axes = new_figure(n_rows, n_cols, panel, LEGEND_W if legend else NO_LEGEND)
    flat = list(axes.ravel())
    for ax in flat[n_panels:]:
        ax.set_axis_off()
    return fig, flat[:n_panels]


#: what the bars of the test-loss-vs-depth figure span: said in the figure and its caption
LOSS_BARS = "min–max over converged seeds"


def bars_label() -> str:
    """The legend entry that says what the markers and bars of :func:`plot_loss_vs_depth` are."""
    return f"marker: mean; bar: {LOSS_BARS}"


def plot_loss_vs_depth(results: Results) -> Figure:
    """Final test loss against depth per activation; marker = mean, bar = min-max over
    converged seeds (:data:`LOSS_BARS`, said in the legend); one panel per dataset (and
    extra cell field values)."""
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
            readable_ticks(ax)
            n_div = int(rows["diverged"].sum())
            ax.set_title(_title(panels, group, n_div))
            ax.set_xlabel("depth (encoder layers)")
            ax.set_ylabel(f"test {loss_name(results.runs, dict(zip(panels, group, strict=True)))}")
            ax.grid(alpha=0.3, linewidth=0.5)
        bars = ax.errorbar([], [], yerr=[], color="grey", marker="o", markersize=4, capsize=2, linestyle="none")
        legend(
            fig,
            activation_order(main["activation"]),
            [(bars, wrap(bars_label()))],
            diverged=_diverged_counts(results),
        )
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
        if fraction:
            # one colour scale for every panel, from 0 to the largest value (not to 1: a
            # largest value of 0.27 would leave every other cell the colour of 0)
            top, label = fraction_scale(main[value], label)
        for ax, group in zip(axes, groups, strict=True):
            matrix, lost = tables.heatmap_matrix(main, dict(zip(panels, group, strict=True)), value)
            data = matrix.to_numpy(dtype=float)
            finite = data[~(data != data)]
            if fraction:
                norm: Normalize = Normalize(0, top)
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
                        text = ("0" if v == 0 else tables.fmt_number(v, 2)) if fraction else tables.fmt_number(v, 2)
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
                readable_ticks(bar.ax)
    return fig


def fraction_scale(values: pd.Series, label: str) -> tuple[float, str]:
    """The top of a fraction's colour scale (the largest value; 1 when all are 0 or
    missing) and ``label`` saying where the scale ends."""
    import pandas as pd

    finite = pd.to_numeric(values, errors="coerce").dropna()
    top = float(finite.max()) if len(finite) else 0.0
    if not top > 0:
        return 1.0, f"{label} (all 0)"
    return min(top, 1.0), f"{label}\n(colour scale 0 to {tables.fmt_number(top, 2)}, the largest)"


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
            readable_ticks(axes[r, 0])  # shared by the row: once both panels are drawn
        _legend(fig, profile["activation"], _diverged_counts(results))
    return fig


# -- 6: the activation functions themselves --------------------------------------------
#: dash patterns of a curve lying on top of one drawn before it (in turn), so both show
OVERLAP_DASHES: tuple[tuple[int, tuple[float, ...]], ...] = (
    (0, (5.0, 2.0)),
    (0, (2.0, 1.5)),
    (0, (6.0, 1.5, 1.5, 1.5)),
    (0, (1.0, 1.0)),
)
#: curves closer than this share of the panel's y range are drawn on top of each other
OVERLAP_TOLERANCE = 0.005
#: ... and overlap when they do so on at least this share of the x range (not just in the tails)
OVERLAP_SHARE = 0.3


def overlapping(
    curves: Sequence[Any], tolerance: float = OVERLAP_TOLERANCE, share: float = OVERLAP_SHARE
) -> list[bool]:
    """For each curve (equal-length arrays, in drawing order): does it lie within
    ``tolerance`` x the y range of a curve drawn before it on at least ``share`` of the
    points? Those are drawn dashed (:data:`OVERLAP_DASHES`) so that the earlier one shows."""
    import numpy as np

    if not curves:
        return []
    stacked = np.vstack([np.asarray(c, dtype=float) for c in curves])
    span = float(np.nanmax(stacked) - np.nanmin(stacked)) or 1.0
    out = []
    for i in range(len(stacked)):
        close = [np.mean(np.abs(stacked[i] - stacked[j]) <= tolerance * span) >= share for j in range(i)]
        out.append(any(close))
    return out


#: a curve is "near zero" on the negative side when it stays within this share of the y range of 0 ...
NEAR_ZERO = 0.02
#: ... on at least this share of the negative x values
NEAR_ZERO_SHARE = 0.8


def zoom_window(x: Any, curves: Sequence[Any]) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """``((x0, x1), (y0, y1))`` of an inset showing the negative side close to 0, when two
    or more curves run there so close to 0 that the panel cannot tell them apart (ReLU's
    f'(x) = 0 and Leaky ReLU's 0.01) but are not the same; None when no inset is needed."""
    import numpy as np

    x = np.asarray(x, dtype=float)
    stacked = np.vstack([np.asarray(c, dtype=float) for c in curves]) if len(curves) else np.empty((0, len(x)))
    negative = x < 0
    if len(stacked) < 2 or not negative.any():
        return None
    span = float(np.nanmax(stacked) - np.nanmin(stacked)) or 1.0
    left = stacked[:, negative]
    near = np.mean(np.abs(left) <= NEAR_ZERO * span, axis=1) >= NEAR_ZERO_SHARE
    if near.sum() < 2:
        return None
    values = left[near]
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    if high - low <= 1e-9 * span:  # the same curve twice: dashes show that already
        return None
    pad = 0.6 * (high - low)
    return (float(x[negative].min()), 0.0), (low - pad, high + pad)


def _free_spot(ax: Axes, x: Any, curves: Sequence[Any], size: tuple[float, float]) -> tuple[float, float]:
    """The lower-left corner (axes fraction) of a ``size`` rectangle inside the panel
    that the fewest curve points fall into (top-left first on a tie), leaving room for
    the inset's own tick labels."""
    import numpy as np

    ax.autoscale_view()
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    fx = (np.asarray(x, dtype=float) - x0) / (x1 - x0)
    fys = [(np.asarray(curve, dtype=float) - y0) / (y1 - y0) for curve in curves]
    lefts = np.arange(0.15, 0.97 - size[0] + 1e-9, 0.025)
    bottoms = np.arange(0.95 - size[1], 0.12 - 1e-9, -0.025)

    def crowd(left: float, bottom: float) -> int:
        across = (fx >= left - 0.12) & (fx <= left + size[0] + 0.02)  # the tick labels at its left
        return sum(int((across & (fy >= bottom - 0.1) & (fy <= bottom + size[1] + 0.06)).sum()) for fy in fys)

    spots = [(float(left), float(bottom)) for bottom in bottoms for left in lefts]
    return min(spots, key=lambda spot: crowd(*spot))


def plot_activation_functions(names: Sequence[str], x_range: tuple[float, float] = (-5, 5)) -> Figure:
    """f(x) and f'(x) side by side for each activation, in its fixed colour and marker.

    Curves that lie on top of one drawn before it (ReLU, Leaky ReLU, PReLU and ELU for
    x > 0) are dashed, and each curve's markers sit at its own x positions, so every
    curve shows; when derivatives near 0 on the negative side differ by less than the eye
    can see (f'(x) = 0 vs 0.01), the f'(x) panel gets a zoomed inset of that region."""
    import torch

    from actcmp.core.activations import parse_activation

    z = torch.linspace(float(x_range[0]), float(x_range[1]), 801)
    x = z.numpy()
    shown, values, slopes = [], [], []
    for name in names:
        spec = parse_activation(name)
        module = spec.build()
        with torch.no_grad():
            values.append(module(z).detach().numpy())
        slopes.append(spec.derivative(z, module).detach().numpy())
        shown.append(name)
    # one line style per activation for both panels (and the legend)
    dashed = [a or b for a, b in zip(overlapping(values), overlapping(slopes), strict=True)]
    styles: dict[str, dict[str, Any]] = {}
    n_dashed = 0
    for name, overlaps in zip(shown, dashed, strict=True):
        style = line_kwargs(name)
        if overlaps:
            style["linestyle"] = OVERLAP_DASHES[n_dashed % len(OVERLAP_DASHES)]
            n_dashed += 1
        styles[name] = style
    every = 100
    with _rc():
        fig, axes = new_figure(1, 2, (PANEL_W + 0.5, PANEL_H + 0.7))
        f_ax, d_ax = axes[0]
        for ax, title, curves in ((f_ax, "f(x)", values), (d_ax, "f'(x)", slopes)):
            for i, (name, curve) in enumerate(zip(shown, curves, strict=True)):
                ax.plot(x, curve, markevery=_stagger(i, len(shown), every), markersize=4, linewidth=1.4, **styles[name])
            ax.set_title(title)
            ax.set_xlabel("x")
            ax.axhline(0, color="grey", linewidth=0.6)
            ax.axvline(0, color="grey", linewidth=0.6)
            ax.grid(alpha=0.3, linewidth=0.5)
            # the derivative panel only: there 0 vs 0.01 (dead vs leaky) is the point to see
            window = zoom_window(x, curves) if curves is slopes else None
            if window is not None:
                _zoom_inset(ax, x, shown, curves, styles, window)
        legend(fig, shown, styles=styles)
    return fig


def _zoom_inset(
    ax: Axes,
    x: Any,
    names: Sequence[str],
    curves: Sequence[Any],
    styles: dict[str, dict[str, Any]],
    window: tuple[tuple[float, float], tuple[float, float]],
) -> None:
    size = (0.36, 0.3)
    corner = _free_spot(ax, x, curves, size)
    inset = ax.inset_axes((*corner, *size))
    for i, (name, curve) in enumerate(zip(names, curves, strict=True)):
        inset.plot(x, curve, markevery=_stagger(i, len(names), 50), markersize=3, linewidth=1.2, **styles[name])
    inset.set_xlim(*window[0])
    inset.set_ylim(*window[1])
    inset.axhline(0, color="grey", linewidth=0.5)
    inset.tick_params(labelsize=6, length=2, pad=1)
    inset.set_title("zoom: x < 0, near 0", fontsize=6, pad=2)
    inset.grid(alpha=0.3, linewidth=0.4)
    ax.indicate_inset_zoom(inset, edgecolor="grey")


# -- statistics figures (computed by actcmp.analysis.stats) ------------------------------------------
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
    labels = [*names, f"factor {factor:g}"]
    if not profile.empty and (profile["n_diverged"] > 0).any():  # the crosses' entry only when some are drawn
        handles.append(Line2D([], [], color="black", marker="x", linestyle="none"))
        labels.append("a seed diverged")
    if names:
        fig.legend(
            handles,
            labels,
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
            f"Final test loss per depth (marker = mean, bar = {LOSS_BARS}, log scale): a line that "
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
