"""The activation functions themselves: f(x) and f'(x) side by side, overlapping curves dashed,
and a zoomed inset where derivatives near 0 differ by less than the eye can see."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from actcmp.report.canvas import PANEL_H, PANEL_W, legend, new_figure, rc, stagger
from actcmp.report.style import line_kwargs

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


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


#: where no spot of the f'(x) panel is free for the zoom inset, the curves keep this share
#: of the panel's height, below the inset
HEADROOM = 0.55


def _free_spot(ax: Axes, x: Any, curves: Sequence[Any], size: tuple[float, float]) -> tuple[tuple[float, float], int]:
    """The lower-left corner (axes fraction) of a ``size`` rectangle inside the panel
    that the least drawn line falls into (top-left first on a tie), leaving room for the
    inset's own tick labels, and how many of the counted line points fall into it. Lines are measured by their length on the panel, not by their
    samples: a steep stretch (SELU's f' jumping to 1.76 at 0-) has few samples but is a
    long line."""
    import numpy as np

    ax.autoscale_view()
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    step = 0.004  # axes fraction between the counted points along each line
    pieces_x, pieces_y = [], []
    for curve in curves:
        px = (np.asarray(x, dtype=float) - x0) / (x1 - x0)
        py = (np.asarray(curve, dtype=float) - y0) / (y1 - y0)
        keep = np.isfinite(py)
        px, py = px[keep], py[keep]
        if len(px) < 2:
            continue
        counts = np.maximum(1, np.ceil(np.hypot(np.diff(px), np.diff(py)) / step)).astype(int)
        t = np.concatenate([np.arange(c) / c for c in counts])
        start = np.repeat(np.arange(len(counts)), counts)
        pieces_x.append(px[start] + t * (px[start + 1] - px[start]))
        pieces_y.append(py[start] + t * (py[start + 1] - py[start]))
    fx = np.concatenate(pieces_x) if pieces_x else np.empty(0)
    fys = [np.concatenate(pieces_y)] if pieces_y else []
    lefts = np.arange(0.15, 0.97 - size[0] + 1e-9, 0.025)
    bottoms = np.arange(0.95 - size[1], 0.12 - 1e-9, -0.025)

    def crowd(left: float, bottom: float) -> int:
        across = (fx >= left - 0.12) & (fx <= left + size[0] + 0.02)  # the tick labels at its left
        return sum(int((across & (fy >= bottom - 0.1) & (fy <= bottom + size[1] + 0.06)).sum()) for fy in fys)

    spots = [(float(left), float(bottom)) for bottom in bottoms for left in lefts]
    best = min(spots, key=lambda spot: crowd(*spot))
    return best, crowd(*best)


def plot_activation_functions(
    names: Sequence[str], x_range: tuple[float, float] = (-5, 5), *, missing: Sequence[str] = ()
) -> Figure:
    """f(x) and f'(x) side by side for each activation, in its fixed colour and marker;
    ``missing``: activations of the runs that cannot be built here (a user callable whose module
    does not import), named under the panels, so that no activation leaves the figure unsaid.

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
    with rc():
        fig, axes = new_figure(1, 2, (PANEL_W + 0.5, PANEL_H + 0.7))
        f_ax, d_ax = axes[0]
        for ax, title, curves in ((f_ax, "f(x)", values), (d_ax, "f'(x)", slopes)):
            for i, (name, curve) in enumerate(zip(shown, curves, strict=True)):
                ax.plot(x, curve, markevery=stagger(i, len(shown), every), markersize=4, linewidth=1.4, **styles[name])
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
        if missing:
            fig.supxlabel(f"not drawn (cannot be imported here): {', '.join(missing)}", fontsize=7, color="#555555")
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
    corner, covered = _free_spot(ax, x, curves, size)
    if covered:  # no free spot: make one above the curves rather than hide a piece of one
        low, high = ax.get_ylim()
        ax.set_ylim(low, low + (high - low) / HEADROOM)
        corner, _ = _free_spot(ax, x, curves, size)
    inset = ax.inset_axes((*corner, *size))
    for i, (name, curve) in enumerate(zip(names, curves, strict=True)):
        inset.plot(x, curve, markevery=stagger(i, len(names), 50), markersize=3, linewidth=1.2, **styles[name])
    inset.set_xlim(*window[0])
    inset.set_ylim(*window[1])
    inset.axhline(0, color="grey", linewidth=0.5)
    inset.tick_params(labelsize=6, length=2, pad=1)
    inset.set_title("zoom: x < 0, near 0", fontsize=6, pad=2)
    inset.grid(alpha=0.3, linewidth=0.4)
    ax.indicate_inset_zoom(inset, edgecolor="grey")


__all__ = [
    "NEAR_ZERO",
    "NEAR_ZERO_SHARE",
    "OVERLAP_DASHES",
    "OVERLAP_SHARE",
    "OVERLAP_TOLERANCE",
    "overlapping",
    "plot_activation_functions",
    "zoom_window",
]
