"""What every figure shares: sizes and rc settings, a figure of panels, the one legend outside
the panels, ticks a reader can read, "no data" panels, and saving (PNG, PDF, SVG without dates).

Never touches pyplot's global state. The report's figures, the tuning figure and the claims
figures all draw with these.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actcmp.atomic import make_dir, write_atomic, write_bytes
from actcmp.report import frames
from actcmp.report.format import fmt_tick
from actcmp.report.style import line_kwargs

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
    # TrueType (Type 42) fonts in PDF and PostScript: publishers' checks (IEEE PDF eXpress, ACM)
    # refuse matplotlib's default Type 3 fonts
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
}


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


def diverged_counts(results: Results, where: dict[str, Any] | None = None) -> dict[str, int]:
    runs = results.runs
    if runs.empty or "status" not in runs:
        return {}
    runs = runs[runs["status"] == "diverged"]
    for key, value in (where or {}).items():
        runs = runs[frames.matching(runs[key], value)]
    return {str(k): int(v) for k, v in runs["activation"].value_counts().items()}


def panel_title(keys: list[str], values: tuple[Any, ...], diverged: int = 0) -> str:
    text = frames.label(keys, values)
    return f"{text} ({diverged} diverged)" if diverged else text


def select_rows(frame: pd.DataFrame, keys: list[str], values: tuple[Any, ...]) -> pd.DataFrame:
    for key, value in zip(keys, values, strict=True):
        frame = frame[frames.matching(frame[key], value)]
    return frame


def key_tuples(frame: pd.DataFrame, keys: list[str]) -> list[tuple[Any, ...]]:
    """Distinct key tuples in sorted order (at least one empty tuple when no keys)."""
    if not keys:
        return [()]
    if frame.empty:
        return []
    unique = frame[keys].drop_duplicates().sort_values(keys, kind="mergesort")
    return [tuple(row) for row in unique.itertuples(index=False)]


def compact_log_formatters(axis: Any) -> None:
    """Log-axis tick labels as plain numbers (0.03, 1e-05) instead of 3x10^-2."""
    from matplotlib.ticker import LogFormatter

    class Compact(LogFormatter):
        def _num_to_string(self, x: float, vmin: float, vmax: float) -> str:
            return fmt_tick(x)

    axis.set_major_formatter(Compact())
    axis.set_minor_formatter(Compact(labelOnlyBase=False, minor_thresholds=(1, 0.4)))


def log_if_positive(ax: Axes, values: Iterable[float]) -> None:
    finite = [v for v in values if v == v and math.isfinite(v)]
    if finite and min(finite) > 0:
        ax.set_yscale("log")
        compact_log_formatters(ax.yaxis)


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
        axis.set_major_formatter(FuncFormatter(lambda value, _: fmt_tick(value)))
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


def epoch_axis(ax: Axes, epochs: Sequence[float]) -> None:
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


def rc() -> Any:
    import matplotlib

    return matplotlib.rc_context(RC)


def stagger(index: int, count: int, every: int) -> tuple[int, int]:
    """``markevery`` for the ``index``-th of ``count`` lines with a marker every ``every``
    points: each line starts at its own offset, so markers of lines lying on top of each
    other sit side by side instead of covering each other."""
    return (index * every) // max(1, count) % max(1, every), max(1, every)


def blank_handle() -> Any:
    from matplotlib.lines import Line2D

    return Line2D([], [], linestyle="none")


def wrap(text: str, width: int = 24) -> str:
    """``text`` broken into lines of at most ``width`` characters (legend entries)."""
    import textwrap

    return "\n".join(textwrap.wrap(text, width, break_on_hyphens=False)) or text


def panel_grid(n_panels: int, panel: tuple[float, float], legend: bool = True) -> tuple[Figure, list[Axes]]:
    n_cols = min(3, max(1, n_panels))
    n_rows = max(1, math.ceil(n_panels / n_cols))
    fig, axes = new_figure(n_rows, n_cols, panel, LEGEND_W if legend else NO_LEGEND)
    flat = list(axes.ravel())
    for ax in flat[n_panels:]:
        ax.set_axis_off()
    return fig, flat[:n_panels]


#: how each stored loss name reads on an axis
LOSS_NAMES = {"mse": "MSE", "bce": "BCE", "ce": "cross-entropy"}


def loss_name(runs: pd.DataFrame, where: dict[str, Any] | None = None) -> str:
    """The reconstruction loss of the runs matching ``where`` as it reads on an axis
    ("MSE", "BCE", "MSE / BCE" when they differ; "loss" when not stored)."""
    if "loss" not in runs:
        return "loss"
    for key, value in (where or {}).items():
        if key in runs:
            runs = runs[frames.matching(runs[key], value)]
    losses = sorted({str(v) for v in runs["loss"].dropna()} - {"auto"})
    return " / ".join(LOSS_NAMES.get(v, v) for v in losses) or "loss"


__all__ = [
    "LEGEND_W",
    "LOSS_NAMES",
    "MAX_EPOCH_TICKS",
    "MIN_TICKS",
    "NO_LEGEND",
    "PANEL_H",
    "PANEL_W",
    "RC",
    "SAVE_DPI",
    "blank_handle",
    "compact_log_formatters",
    "diverged_counts",
    "epoch_axis",
    "epoch_ticks",
    "key_tuples",
    "legend",
    "log_if_positive",
    "log_ticks",
    "loss_name",
    "new_figure",
    "no_data",
    "panel_grid",
    "panel_title",
    "png_bytes",
    "rc",
    "readable_ticks",
    "save",
    "select_rows",
    "stagger",
    "wrap",
]
