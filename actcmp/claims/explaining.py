"""Figures that explain *why*: per-layer pre-activation histograms beside f and f'
(:func:`plot_layer_histograms`, for the run :func:`choose_runs` picks), and died / revived
units over training (:func:`plot_died_revived`). They read the layer metrics
``preact_hist_NN`` when the engine records them and otherwise fall back to a normal curve
from the stored ``preact_mean`` / ``preact_std``, saying so on the figure."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from actcmp.analysis import stats as stats
from actcmp.analysis.cells import activation_order
from actcmp.claims.checks.frames import done_runs, numeric
from actcmp.claims.figures import new_figure, no_data
from actcmp.report.plots import legend
from actcmp.report.style import activation_style

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

#: default range of the stored pre-activation histograms (see the engine note in the README)
HIST_RANGE = (-6.0, 6.0)
HIST_METRIC = re.compile(r"^preact_hist_(\d+)$")


def plot_died_revived(runs: pd.DataFrame, layers: pd.DataFrame) -> Figure:
    """Share of hidden units that died (solid) or came back (dashed) since the previous
    measurement, per epoch, mean over layers and seeds: one panel per learning rate
    (deepest network), one line per activation."""
    from matplotlib.lines import Line2D

    done = done_runs(runs)
    wanted = layers[layers["metric"].isin(["died_fraction", "revived_fraction"])] if not layers.empty else layers
    if done.empty or wanted.empty:
        return no_data()
    depth = done["depth"].max()
    chosen = done[done["depth"] == depth]
    split = "lr" if "lr" in chosen and chosen["lr"].nunique() > 1 else None
    panels = sorted(chosen[split].unique()) if split else [None]
    per_run = (
        wanted[wanted["run_id"].isin(chosen["run_id"])]
        .groupby(["run_id", "epoch", "metric"])["value"]
        .mean()
        .reset_index()
        .merge(chosen[["run_id", "activation", *([split] if split else [])]], on="run_id")
    )
    per_run = per_run[per_run["epoch"] > 0]
    fig, axes = new_figure(1, len(panels), sharey=True)
    names = activation_order(per_run["activation"])
    for ax, value in zip(axes[0], panels, strict=False):
        at = per_run if split is None else per_run[per_run[split] == value]
        for name in names:
            mine = at[at["activation"] == name]
            colour, marker = activation_style(name)
            for metric, style in (("died_fraction", "-"), ("revived_fraction", "--")):
                curve = mine[mine["metric"] == metric].groupby("epoch")["value"].mean()
                ax.plot(
                    curve.index,
                    curve.to_numpy(),
                    color=colour,
                    marker=marker,
                    markersize=3,
                    linestyle=style,
                    linewidth=1.1,
                )
        ax.set_title(f"depth {depth}" + (f" · lr {value:g}" if split else ""))
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3, linewidth=0.5)
    axes[0, 0].set_ylabel("share of units since the last measurement")
    legend(
        fig,
        names,
        [
            (Line2D([], [], color="black", linestyle="-"), "died"),
            (Line2D([], [], color="black", linestyle="--"), "came back"),
        ],
    )
    return fig


# -- figures that explain: pre-activation histograms beside f and f' -------------------------------
def preact_histograms(layers: pd.DataFrame, run_id: str) -> dict[tuple[int, int], np.ndarray]:
    """``{(epoch, layer): shares [bins]}`` from the ``preact_hist_NN`` layer metrics of a
    run (empty when the engine did not record them)."""
    mine = layers[(layers["run_id"] == run_id)]
    matched = mine["metric"].str.extract(HIST_METRIC, expand=False)
    mine = mine.assign(_bin=matched).dropna(subset=["_bin"])
    out: dict[tuple[int, int], np.ndarray] = {}
    for (epoch, layer), group in mine.groupby(["epoch", "layer"]):
        ordered = group.assign(_bin=group["_bin"].astype(int)).sort_values("_bin")
        out[(int(epoch), int(layer))] = ordered["value"].to_numpy(dtype=float)
    return out


def _hist_range() -> tuple[float, float]:
    from actcmp.core import metrics as metrics

    value = getattr(metrics, "PREACT_HIST_RANGE", HIST_RANGE)
    return float(value[0]), float(value[1])


def choose_runs(
    runs: pd.DataFrame,
    activations: Sequence[str],
    *,
    prefer: str = "relu",
    metric: str = "dead_fraction_final",
    max_depth: int = 4,
) -> pd.DataFrame:
    """One converged run (lowest seed) per activation from the cell where ``prefer`` has
    the highest mean ``metric`` among depths up to ``max_depth``: the cell that shows the
    effect most. Empty when there is no such cell."""
    done = done_runs(runs)
    keys = stats.cell_keys(runs)
    pool = done[(done["activation"] == prefer) & (done["depth"] <= max_depth)]
    if pool.empty:
        return done.iloc[0:0]
    best = pool.assign(_m=numeric(pool, metric)).groupby(keys)["_m"].mean().idxmax()
    best = best if isinstance(best, tuple) else (best,)
    cell = done
    for key, value in zip(keys, best, strict=True):
        cell = cell[cell[key] == value]
    cell = cell[cell["activation"].isin(activations)].sort_values("seed")
    return cell.groupby("activation", sort=False).head(1)


def plot_layer_histograms(chosen: pd.DataFrame, layers: pd.DataFrame) -> Figure:
    """Per hidden layer (rows) and activation (columns): the histogram of pre-activations
    on the probe set at initialisation (grey outline) and after training (filled), with
    f(x) (solid) and f'(x) (dashed) on a second axis. Falls back to normal curves from
    the stored per-layer mean and std when histograms were not recorded."""
    import torch

    from actcmp.core.activations import parse_activation

    if chosen.empty or layers.empty:
        return no_data()
    names = activation_order(chosen["activation"])
    depth = int(chosen["depth"].max())
    n_layers = 2 * depth - 1
    fig, axes = new_figure(n_layers, len(names), panel=(2.6, 1.35), legend=1.9, sharex=True)
    low, high = _hist_range()
    z = torch.linspace(low, high, 241)
    approximated = False
    for col, name in enumerate(names):
        run = chosen[chosen["activation"] == name].iloc[0]
        rid = str(run["run_id"])
        mine = layers[layers["run_id"] == rid]
        last = int(mine["epoch"].max()) if len(mine) else 0
        hists = preact_histograms(layers, rid)
        spec = parse_activation(name)
        module = spec.build()
        with torch.no_grad():
            f = module(z).numpy()
        d = spec.derivative(z, module).detach().numpy()
        colour, _ = activation_style(name)
        for layer in range(n_layers):
            ax = axes[layer, col]
            peak = 0.0
            shapes = []
            for epoch, kind in ((0, "init"), (last, "end")):
                if (epoch, layer) in hists:
                    shares = hists[(epoch, layer)]
                    shapes.append((kind, np.linspace(low, high, len(shares) + 1), shares, True))
                    peak = max(peak, float(shares.max()))
                    continue
                approximated = True
                stat = mine[(mine["epoch"] == epoch) & (mine["layer"] == layer)].set_index("metric")["value"]
                mean, std = float(stat.get("preact_mean", np.nan)), float(stat.get("preact_std", np.nan))
                if math.isfinite(mean) and math.isfinite(std) and std > 0:
                    xs = np.linspace(low, high, 241)
                    density = np.exp(-0.5 * ((xs - mean) / std) ** 2)
                    shapes.append((kind, xs, density, False))
                    peak = max(peak, float(density.max()))
            # shapes are scaled to a peak of 1.6 so that f and f' share the panel's axis
            scale = 1.6 / peak if peak > 0 else 1.0
            for kind, xs, values, is_hist in shapes:
                if is_hist and kind == "init":
                    ax.stairs(values * scale, xs, color="grey", linewidth=1.0)
                elif is_hist:
                    ax.stairs(values * scale, xs, color=colour, alpha=0.45, fill=True)
                elif kind == "init":
                    ax.plot(xs, values * scale, color="grey", linewidth=1.0)
                else:
                    ax.fill_between(xs, values * scale, color=colour, alpha=0.45, linewidth=0)
            ax.plot(z.numpy(), f, color="black", linewidth=0.9)
            ax.plot(z.numpy(), d, color="black", linewidth=0.9, linestyle="--")
            ax.set_ylim(-1.2, 2.0)
            ax.set_xlim(low, high)
            ax.axhline(0, color="grey", linewidth=0.5)
            ax.tick_params(labelsize=6)
            dead = mine[(mine["epoch"] == last) & (mine["layer"] == layer) & (mine["metric"] == "dead_fraction")]
            dead_text = f", {float(dead['value'].iloc[0]):.0%} dead" if len(dead) else ""
            ax.set_title(f"{name} · layer {layer}{dead_text}", fontsize=7)
        axes[-1, col].set_xlabel("pre-activation z")
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    where = ", ".join(f"{k} {chosen[k].iloc[0]}" for k in ("dataset", "depth", "lr") if k in chosen)
    if approximated:
        note = " (normal curves from stored mean/std: histograms not recorded)"
    else:
        note = f"; the end bins hold every |z| > {high:g}; shapes scaled to a common height per panel"
    fig.suptitle(f"{where}, seed {chosen['seed'].iloc[0]}{note}", fontsize=8)
    fig.legend(
        [
            Patch(facecolor="none", edgecolor="grey"),
            Patch(color="grey", alpha=0.45),
            Line2D([], [], color="black"),
            Line2D([], [], color="black", linestyle="--"),
        ],
        ["z at init", "z after training", "f(z)", "f'(z)"],
        loc="outside right upper",
        frameon=False,
    )
    return fig


__all__ = [
    "HIST_METRIC",
    "HIST_RANGE",
    "choose_runs",
    "plot_died_revived",
    "plot_layer_histograms",
    "preact_histograms",
]
