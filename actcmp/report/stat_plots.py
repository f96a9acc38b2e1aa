"""Figures of the statistics computed by :mod:`actcmp.analysis.stats`: the critical-difference
diagram of the Friedman/Nemenyi ranks and the depth-scaling profile."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from actcmp.analysis.cells import activation_order, cell_groups
from actcmp.analysis.depth import PROFILE_VALUES
from actcmp.analysis.stats import DEPTH_FACTOR, FriedmanResult
from actcmp.report.format import fmt_tick
from actcmp.report.style import activation_style, line_kwargs

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def plot_cd_diagram(
    result: FriedmanResult, ax: Axes | None = None, title: str | None = None, unit: str = "cells"
) -> Figure:
    """Critical-difference diagram: a horizontal rank axis (1 = best, left), each
    treatment at its mean rank with its label, thick bars joining treatments whose mean
    ranks differ by less than the Nemenyi CD, and the CD itself as a scale bar. ``unit``:
    what the ranks are over (``cells``, or ``datasets`` for :meth:`FriedmanResult.as_decided`)."""
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
    p_text = f"p = {fmt_tick(result.p_value)}" if math.isfinite(result.p_value) else result.reason
    ax.set_title(title or f"Mean rank of {result.metric} over {result.n_cells} {unit} (Friedman {p_text})", fontsize=9)
    return fig  # type: ignore[return-value]


#: sideways offset between neighbouring treatments in the depth-scaling figure, in doublings
#: of depth (8 treatments span 0.2 of a doubling: visibly apart, clearly at their depth)
DODGE = 0.03


def plot_depth_scaling(profile: pd.DataFrame, *, treatment: str = "activation", factor: float = DEPTH_FACTOR) -> Figure:
    """Loss relative to each activation's best depth, against depth (log2 axes), one
    panel per dataset (and other panel keys); the dashed line is ``factor``, crosses mark
    depths where a seed diverged. The deepest point at or under the line still trains."""
    from matplotlib.figure import Figure

    panel = [c for c in profile.columns if c != treatment and c not in PROFILE_VALUES]
    panels = cell_groups(profile, panel) if not profile.empty else []
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
        _depth_panel(ax, group, names, treatment, factor)
        ax.set_title(" · ".join(str(v) for v in key) or "all")
    for row in grid:
        row[0].set_ylabel("loss / loss at best depth")
    if not panels:
        axes[0].text(0.5, 0.5, "no depth grid", ha="center", va="center", transform=axes[0].transAxes)
        axes[0].set_axis_off()
    if names:
        _depth_legend(
            fig,
            names,
            factor,
            not profile.empty and bool((profile["n_diverged"] > 0).any()),
            not profile.empty and not bool(profile["learned"].astype(bool).all()),
        )
    return fig


def _depth_panel(ax: Axes, group: pd.DataFrame, names: list[str], treatment: str, factor: float) -> None:
    """One panel of :func:`plot_depth_scaling`: a line per treatment over the depths where no
    seed diverged, a cross (above the ``factor`` line) where one did."""
    from matplotlib.ticker import FuncFormatter

    for index, name in enumerate(names):
        mine = group[group[treatment] == name].sort_values("depth")
        if mine.empty:
            continue
        style = line_kwargs(name)
        # every line passes through 1 at its best depth: each treatment's points sit a little
        # to the side (a fixed fraction of a doubling) so that their markers do not hide one another
        dodge = 2.0 ** (DODGE * (index - (len(names) - 1) / 2))
        ok = mine[mine["n_diverged"] == 0]
        ax.plot(ok["depth"] * dodge, ok["ratio"], markersize=4, linewidth=1.2, **style)  # type: ignore[arg-type]
        stuck = ok[~ok["learned"].astype(bool)]
        if len(stuck):  # the median seed did not learn: flat across depths says nothing about training
            ax.plot(
                stuck["depth"] * dodge,
                stuck["ratio"],
                linestyle="none",
                marker="o",
                markerfacecolor="white",
                markeredgecolor=style["color"],
                markersize=7,
            )
        bad = mine[mine["n_diverged"] > 0]
        if len(bad):
            ax.plot(
                bad["depth"] * dodge,
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
    ax.grid(alpha=0.3, linewidth=0.5)


def _depth_legend(fig: Figure, names: list[str], factor: float, crosses: bool, hollow: bool = False) -> None:
    """The treatments, the ``factor`` line and, when some are drawn, what a cross and a
    hollow circle mean."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], **line_kwargs(n)) for n in names]  # type: ignore[arg-type]
    handles.append(Line2D([], [], color="grey", linestyle="--"))
    labels = [*names, f"factor {factor:g}"]
    if crosses:
        handles.append(Line2D([], [], color="black", marker="x", linestyle="none"))
        labels.append("a seed diverged")
    if hollow:
        handles.append(Line2D([], [], color="black", marker="o", markerfacecolor="white", linestyle="none"))
        labels.append("did not learn (median seed)")
    fig.legend(handles, labels, loc="outside right upper", frameon=False, fontsize=8)


__all__ = [
    "plot_cd_diagram",
    "plot_depth_scaling",
]
