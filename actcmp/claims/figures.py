"""Figures of the claims report: frames in, ``matplotlib.figure.Figure`` out.

Never touches pyplot's global state. Every activation keeps its fixed colour and marker
from :mod:`actcmp.report.style`; rc settings, figure creation, legend and saving come
from :mod:`actcmp.report.plots`, as in the report. The figures that explain *why* are in
:mod:`actcmp.claims.explaining`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from actcmp.analysis import stats as stats
from actcmp.analysis.cells import activation_order
from actcmp.claims.checks import common_metric, early_loss, gradient_ratios
from actcmp.claims.checks.frames import done_runs, fmt_p, numeric, paired_runs
from actcmp.claims.checks.losses import EARLY_METRIC
from actcmp.claims.reference import attach_pca
from actcmp.moved import moved_names
from actcmp.report import plots
from actcmp.report.plots import legend, png_bytes
from actcmp.report.style import activation_style, line_kwargs

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: default range of the stored pre-activation histograms (see the engine note in the README)
DEPTH_STYLES: tuple[Any, ...] = ("-", "--", ":", "-.")


# -- helpers ----------------------------------------------------------------------------------
def new_figure(
    n_rows: int, n_cols: int, panel: tuple[float, float] = (3.0, 2.3), legend: float = 1.9, **kwargs: Any
) -> tuple[Figure, Any]:
    """:func:`actcmp.report.plots.new_figure` with the claims' panel and legend sizes."""
    return plots.new_figure(n_rows, n_cols, panel, legend, pad=0.5, **kwargs)


def no_data(fig: Figure | None = None, text: str = "no stored runs for this claim yet") -> Figure:
    return plots.no_data(fig if fig is not None else new_figure(1, 1, legend=plots.NO_LEGEND)[0], text)


def save(fig: Figure, stem: str | Path, formats: Sequence[str] = ("png", "pdf", "svg")) -> tuple[list[Path], bytes]:
    """Write ``stem.FORMAT`` per format (PNG at 150 dpi, PDF/SVG without dates); return the
    paths and the PNG bytes (for embedding; rendered once, also when no PNG file is asked)."""
    png = png_bytes(fig, plots.SAVE_DPI)
    return plots.save(fig, stem, formats, png=png), png


def _depth_axis(ax: Axes, depths: Sequence[Any]) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks([float(d) for d in depths], [str(d) for d in depths])
    ax.minorticks_off()


def _spread(ax: Axes, x: Any, values: pd.Series, name: str, **extra: Any) -> None:
    """Mean marker with a min-max bar (equal values: a mean a rounding off their value
    would give a bar of negative length, which matplotlib refuses)."""
    colour, marker = activation_style(name)
    mean = values.mean()
    ax.errorbar(
        [x],
        [mean],
        yerr=[[max(0.0, mean - values.min())], [max(0.0, values.max() - mean)]],
        color=colour,
        marker=marker,
        markersize=5,
        capsize=2,
        linewidth=1,
        **extra,
    )


def _off_the_edges(ax: Axes, value: float, share: float = 0.05) -> None:
    """Widen the y limits so that a reference line at ``value`` lies at least ``share`` of
    the range inside them, not on the frame (where a dashed line cannot be seen)."""
    low, high = ax.get_ylim()
    span = high - low
    if not (math.isfinite(value) and span > 0):
        return
    if value - low < share * span:
        low = value - share * span
    if high - value < share * span:
        high = value + share * span
    ax.set_ylim(low, high)


# -- claim 1: linear -----------------------------------------------------------------------------
def plot_linear(runs: pd.DataFrame, pca: pd.DataFrame, tolerance: float = 0.05) -> Figure:
    """Top: test MSE of identity networks per depth against PCA's test MSE (dashed).
    Bottom: training MSE / PCA training MSE; the band is [1, 1 + tolerance]."""
    done = done_runs(runs[runs["activation"] == "identity"]) if "activation" in runs else runs.iloc[0:0]
    if done.empty or pca.empty:
        return no_data()
    joined = attach_pca(done, pca)
    joined = joined.assign(ratio=numeric(joined, "final_train_loss") / joined["pca_train_mse"])
    panel = [k for k in ("dataset", "bottleneck") if k in joined.columns]
    panels = [tuple(p) for p in joined[panel].drop_duplicates().sort_values(panel).itertuples(index=False)]
    fig, axes = new_figure(2, len(panels), legend=1.6)
    depths = sorted(joined["depth"].unique())
    for col, key in enumerate(panels):
        mine = joined
        for name, value in zip(panel, key, strict=True):
            mine = mine[mine[name] == value]
        top, bottom = axes[0, col], axes[1, col]
        for depth in depths:
            at = mine[mine["depth"] == depth]
            _spread(top, depth, numeric(at, "test_loss"), "identity")
            _spread(bottom, depth, at["ratio"], "identity")
        reference = float(mine["pca_test_mse"].mean())
        top.axhline(reference, color="grey", linestyle="--", linewidth=1.2)
        bottom.axhspan(1.0, 1.0 + tolerance, color="grey", alpha=0.2, linewidth=0)
        bottom.axhline(1.0, color="grey", linestyle="--", linewidth=1.2)
        _off_the_edges(top, reference)
        _off_the_edges(bottom, 1.0)
        top.set_title(" · ".join(str(v) if k == "dataset" else f"{k} {v}" for k, v in zip(panel, key, strict=True)))
        top.set_ylabel("test MSE")
        bottom.set_ylabel("train MSE / PCA train MSE")
        for ax in (top, bottom):
            _depth_axis(ax, depths)
            ax.grid(alpha=0.3, linewidth=0.5)
        bottom.set_xlabel("depth (encoder layers)")
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    legend(
        fig,
        ["identity"],
        [
            (Line2D([], [], color="grey", linestyle="--"), "PCA, same bottleneck"),
            (Patch(color="grey", alpha=0.2), f"within {tolerance:.0%} of PCA"),
        ],
    )
    return fig


# -- claims 2 and 8: critical-difference diagrams ------------------------------------------------
def _over(result: stats.FriedmanResult, unit: str) -> str:
    """What a diagram's ranks are over, and its test (or why there is none): as the verdict decides."""
    import math

    if unit == "datasets":
        return f"over the {result.n_cells} datasets as blocks, permutation {fmt_p(result.p_value)}"
    test = fmt_p(result.p_value) if math.isfinite(result.p_value) else (result.reason or "not computed")
    return f"over {result.n_cells} cells, Friedman {test}"


def plot_ranking(runs: pd.DataFrame) -> Figure:
    """The critical-difference diagram the verdict reads: mean ranks and CD over the
    datasets where cells share a dataset (over cells it would be optimistic), else over cells."""
    if runs.empty:
        return no_data()
    shown, unit = stats.friedman(runs, "test_loss").as_decided()
    return plots.plot_cd_diagram(shown, title=f"Mean rank of test loss ({_over(shown, unit)})", unit=unit)


def plot_matters(runs: pd.DataFrame) -> Figure:
    """Two critical-difference diagrams: test loss, and epochs to the loss threshold (each
    over the blocks its verdict decides with, see :func:`plot_ranking`)."""
    from matplotlib.figure import Figure

    if runs.empty:
        return no_data()
    censored = runs.assign(_censor=numeric(runs, "epochs") + 1)
    results = [
        stats.friedman(censored, "test_loss").as_decided(),
        stats.friedman(censored, "epochs_to_threshold", fill_missing="_censor").as_decided(),
    ]
    height = 1.4 + 0.22 * max(r.k for r, _ in results)
    fig = Figure(figsize=(6.4, 2 * height), layout="constrained", dpi=100)
    top, bottom = fig.subplots(2, 1)
    (well, well_unit), (quick, quick_unit) = results
    plots.plot_cd_diagram(well, ax=top, title=f"How well: test loss ({_over(well, well_unit)})", unit=well_unit)
    plots.plot_cd_diagram(
        quick,
        ax=bottom,
        title=f"How quickly: epochs to threshold, never reached = epochs + 1 ({_over(quick, quick_unit)})",
        unit=quick_unit,
    )
    return fig


# -- claim 3: dying ReLU -------------------------------------------------------------------------
def plot_dying(runs: pd.DataFrame, reference: str = "leaky_relu") -> Figure:
    """Final dead fraction against learning rate, one panel per depth; last panel: each
    ReLU run's dead fraction against its test loss relative to ``reference`` (same seed)."""

    done = done_runs(runs)
    if done.empty or "lr" not in done or "depth" not in done:
        return no_data()
    depths = sorted(done["depth"].unique())
    fig, axes = new_figure(1, len(depths) + 1)
    names = activation_order(done["activation"])
    dead = done.assign(_dead=numeric(done, "dead_fraction_final"))
    means = dead.groupby(["activation", "depth", "lr"])["_dead"].mean()
    # a line on top of one drawn before it in every panel (Leaky ReLU and PReLU both at 0) is dashed
    grid = means.index.droplevel("activation").unique()
    curves = [means.xs(name, level="activation").reindex(grid).to_numpy(dtype=float) for name in names]
    styles = {name: line_kwargs(name) for name in names}
    dashed = [name for name, overlaps in zip(names, plots.overlapping(curves), strict=True) if overlaps]
    for i, name in enumerate(dashed):
        styles[name]["linestyle"] = plots.OVERLAP_DASHES[i % len(plots.OVERLAP_DASHES)]
    for ax, depth in zip(axes[0], depths, strict=False):
        at = dead[dead["depth"] == depth]
        for name in names:
            per_lr = at[at["activation"] == name].groupby("lr")["_dead"].agg(["mean", "min", "max"])
            style = styles[name]
            ax.plot(per_lr.index, per_lr["mean"], markersize=4, linewidth=1.2, **style)  # type: ignore[arg-type]
            ax.fill_between(per_lr.index, per_lr["min"], per_lr["max"], color=style["color"], alpha=0.15, linewidth=0)
        ax.axhline(0.05, color="grey", linestyle=":", linewidth=1)  # the "units die" threshold
        ax.set_xscale("log")
        ax.set_title(f"depth {depth}")
        ax.set_xlabel("learning rate")
        ax.set_ylim(-0.02, 1.0)
        ax.grid(alpha=0.3, linewidth=0.5)
    axes[0, 0].set_ylabel("dead fraction after training")
    ax = axes[0, -1]
    if "relu" in set(done["activation"]) and reference in set(done["activation"]):
        pairs = paired_runs(runs, "relu", reference, ["dead_fraction_final", "test_loss"])
        colour, marker = activation_style("relu")
        ax.scatter(
            numeric(pairs, "dead_fraction_final_relu"),
            numeric(pairs, "test_loss_relu") / numeric(pairs, f"test_loss_{reference}"),
            color=colour,
            marker=marker,
            s=14,
        )
        ax.set_yscale("log")
        ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
        ax.set_xlabel("ReLU dead fraction after training")
        ax.set_ylabel(f"ReLU test loss / {reference}'s")
        ax.set_title("does dying hurt?")
        ax.grid(alpha=0.3, linewidth=0.5)
        plots.readable_ticks(ax)  # 0.3, 1, 3 rather than 3x10^-1
    else:
        ax.set_axis_off()
    legend(fig, names, styles=styles)
    return fig


# -- claim 4: vanishing gradients ----------------------------------------------------------------
#: the words beside ``init auto`` (the rule ``auto`` resolves to per family)
AUTO_INIT = "He for the ReLU family, Xavier for tanh/sigmoid"


def _init_rules(runs: pd.DataFrame) -> pd.Series | None:
    """Each run's init rule as the verdict map names it (``auto``, not He or Xavier:
    :func:`~actcmp.claims.conditions.configured_init`), indexed by ``run_id``; ``None``
    when the runs record no init rule."""
    from actcmp.claims.conditions import configured_init

    if "init" not in runs.columns or "activation" not in runs.columns or not runs["init"].notna().any():
        return None
    return configured_init(runs).set_axis(runs["run_id"].to_numpy())


def _rule_order(rules: Sequence[Any]) -> list[Any]:
    """``auto`` first, then the other rules sorted (as text)."""
    return sorted(set(rules), key=lambda r: (r != "auto", str(r)))


def _underflow_counts(
    ax: Axes, xs: Sequence[float], floor: float, counts: Sequence[str], colour: str, level: int
) -> None:
    """``k/n`` above each floor triangle, stacked by ``level`` so that neighbours' counts
    never overlap."""
    for x, text in zip(xs, counts, strict=True):
        ax.annotate(text, (x, floor), xytext=(0, 5 + 8 * level), textcoords="offset points", ha="center",
                    va="bottom", fontsize="x-small", color=colour)  # fmt: skip


def plot_vanishing(runs: pd.DataFrame, layers: pd.DataFrame, max_orders: float = 1.0) -> Figure:
    """One row of panels per init rule (the conditions the verdict map judges apart; the
    runs pooled over rules would mix two populations). Left: log10(first / last layer
    weight-gradient norm) at initialisation against depth, the median over seeds (what the
    verdict's signed-rank tests read) with the min-max band over seeds (grey band: within
    ``max_orders``); a seed whose first-layer gradient underflowed to exactly 0 (log10 =
    -inf) is drawn on a dotted floor line below every finite value, a triangle with the
    count of such seeds ("k/n"), and enters the median and band at that floor. Right: each
    linear layer's weight-gradient norm at initialisation in the deepest network, the
    median over seeds (log scale; a median of exactly 0 is a triangle on the floor)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    ratios = gradient_ratios(runs, layers)
    if ratios.empty:
        return no_data()
    rules = _init_rules(runs)
    ratios = ratios.assign(init=ratios["run_id"].map(rules).fillna("") if rules is not None else "")
    inits = _rule_order(ratios["init"])
    names = activation_order(ratios["activation"])
    depths = sorted(ratios["depth"].unique())
    deepest = max(depths)
    fig, axes = new_figure(len(inits), 2, panel=(3.4, 2.6), legend=2.3, sharex="col", sharey="col")
    values = ratios["log10_ratio"].astype(float)
    underflow = values == -np.inf
    finite = values[np.isfinite(values)]
    floor = math.floor(min(float(finite.min()) if len(finite) else 0.0, -max_orders)) - 1.0
    shown = ratios.assign(log10_ratio=values.where(~underflow, floor), _gone=underflow)
    # the right panels: each layer's median over the deepest network's seeds, per init rule
    ids = runs[(runs["depth"] == deepest) & runs["status"].isin(stats.FINISHED)][["run_id", "activation"]]
    grads = layers[(layers["metric"] == "grad_norm_weight") & (layers["epoch"] == 0)].merge(ids, on="run_id")
    grads = grads.assign(init=grads["run_id"].map(rules).fillna("") if rules is not None else "")
    medians = grads.groupby(["init", "activation", "layer"])["value"].median()
    positive = medians[medians > 0]
    norm_floor = 10.0 ** (math.floor(math.log10(float(positive.min()))) - 1) if len(positive) else 1e-30
    any_gone = False
    for row, rule in enumerate(inits):
        left, right = axes[row]
        label = f"init {rule}" if rule != "" else "init not recorded"
        mine = shown[shown["init"] == rule]
        # the triangles of the activations with underflowed seeds side by side (log2 x axis)
        sunk = [n for n in names if mine.loc[mine["activation"] == n, "_gone"].any()]
        offsets = {n: 2 ** ((i - (len(sunk) - 1) / 2) * 0.3) for i, n in enumerate(sunk)}
        for name in names:
            at = mine[mine["activation"] == name]
            if at.empty:
                continue
            curve = at.groupby("depth")["log10_ratio"].agg(["median", "min", "max"])
            style = line_kwargs(name)
            left.plot(curve.index, curve["median"], markersize=4, linewidth=1.2, label=f"{label}: {name}", **style)  # type: ignore[arg-type]
            left.fill_between(curve.index, curve["min"], curve["max"], color=style["color"], alpha=0.15, linewidth=0)
            gone = at[at["_gone"]]
            if len(gone):
                any_gone = True
                xs = gone["depth"].astype(float) * offsets[name]
                left.plot(xs, [floor] * len(gone), "v", color=style["color"], markersize=6, linestyle="none")
                per_depth = at.groupby("depth")["_gone"].agg(["sum", "size"])
                per_depth = per_depth[per_depth["sum"] > 0]
                _underflow_counts(left, [float(d) * offsets[name] for d in per_depth.index], floor,
                                  [f"{k}/{n}" for k, n in zip(per_depth["sum"], per_depth["size"], strict=True)],
                                  style["color"], sunk.index(name))  # fmt: skip
        if mine["_gone"].any():
            left.axhline(floor, color="grey", linestyle=":", linewidth=0.8)
            left.annotate("exactly 0 (underflow)", (0.02, floor), xycoords=("axes fraction", "data"),
                          va="bottom", fontsize="x-small", color="grey")  # fmt: skip
        left.axhspan(-max_orders, max_orders, color="grey", alpha=0.15, linewidth=0)
        left.axhline(0, color="grey", linewidth=0.8)
        left.set_ylabel("log10 |grad W first| / |grad W last|\n(median over seeds)")
        left.set_title(f"{label}: ratio by depth")
        left.grid(alpha=0.3, linewidth=0.5)
        zeros = False
        for name in names:
            key = (rule, name)
            if key not in medians.index.droplevel("layer"):
                continue
            curve = medians.loc[key]
            style = line_kwargs(name)
            right.plot(curve.index, curve.where(curve > 0).to_numpy(), markersize=4, linewidth=1.2,
                       label=f"{label}: {name}", **style)  # type: ignore[arg-type]  # fmt: skip
            zero = curve[curve == 0]
            if len(zero):
                any_gone = zeros = True
                right.plot(zero.index, [norm_floor] * len(zero), "v", color=style["color"], markersize=6,
                           linestyle="none")  # fmt: skip
        if zeros:
            right.axhline(norm_floor, color="grey", linestyle=":", linewidth=0.8)
        right.set_yscale("log")
        right.axvline(deepest - 0.5, color="grey", linestyle=":", linewidth=1)
        right.set_ylabel("weight-gradient norm\n(median over seeds)")
        right.set_title(f"{label}: per layer, depth {deepest}")
        right.grid(alpha=0.3, linewidth=0.5)
    for left in axes[:, 0]:
        _depth_axis(left, depths)
        left.set_ylim(floor - 0.06 * (max_orders + 1 - floor), None)
    for right in axes[:, 1]:
        plots.readable_ticks(right)
    axes[-1, 0].set_xlabel("depth (encoder layers)")
    axes[-1, 1].set_xlabel("linear layer (encoder | decoder)")
    extra: list[tuple[Any, str]] = [(Patch(color="grey", alpha=0.3, linewidth=0), "min-max over seeds")]
    if any_gone:
        extra.append(
            (
                Line2D([], [], color="grey", marker="v", linestyle=":"),
                "exactly 0 (underflow), on\nthe floor (left: k of n seeds)",
            )
        )
    if "auto" in inits:
        extra.append((Line2D([], [], linestyle="none"), "auto: " + AUTO_INIT.replace(", ", ",\n")))
    legend(fig, names, extra)
    return fig


# -- claim 5: tanh vs sigmoid ------------------------------------------------------------------
def plot_tanh_sigmoid(runs: pd.DataFrame, epochs: pd.DataFrame, k: int | None = None) -> Figure:
    """Validation loss / mean-predictor loss over epochs, mean over seeds; one panel per
    dataset, line style per depth; the shaded span is the window the verdict averages."""
    from matplotlib.lines import Line2D

    done = done_runs(runs)
    if done.empty or epochs.empty:
        return no_data()
    window = early_loss(runs, epochs, k)
    k_used = int(window["k"].iloc[0]) if len(window) else 1
    val = epochs[epochs["metric"] == EARLY_METRIC].merge(
        done[["run_id", "activation", "dataset", "depth", "baseline_loss"]], on="run_id"
    )
    val = val.assign(rel=val["value"] / val["baseline_loss"].astype(float))
    datasets = sorted(val["dataset"].unique())
    depths = sorted(val["depth"].unique())
    fig, axes = new_figure(1, len(datasets))
    names = activation_order(val["activation"])
    for ax, dataset in zip(axes[0], datasets, strict=False):
        at = val[val["dataset"] == dataset]
        for name in names:
            colour, marker = activation_style(name)
            for i, depth in enumerate(depths):
                curve = at[(at["activation"] == name) & (at["depth"] == depth)].groupby("epoch")["rel"].mean()
                ax.plot(
                    curve.index,
                    curve.to_numpy(),
                    color=colour,
                    marker=marker,
                    markersize=3,
                    linestyle=DEPTH_STYLES[i % len(DEPTH_STYLES)],
                    linewidth=1.1,
                )
        ax.axvspan(0.5, k_used + 0.5, color="grey", alpha=0.12, linewidth=0)
        ax.set_yscale("log")
        plots.readable_ticks(ax)
        ax.set_title(str(dataset))
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3, linewidth=0.5)
    axes[0, 0].set_ylabel("training loss / mean-predictor loss")
    extra = [
        (Line2D([], [], color="black", linestyle=DEPTH_STYLES[i % len(DEPTH_STYLES)]), f"depth {d}")
        for i, d in enumerate(depths)
    ]
    legend(fig, names, extra)
    return fig


# -- claim 6: generalisation ----------------------------------------------------------------------
def plot_generalisation(
    runs: pd.DataFrame, reference: str = "relu", candidates: Sequence[str] = ("elu", "silu")
) -> Figure:
    """Per (cell, seed) pair with ``reference``: left, test-loss ratio; right, change of
    the generalisation gap log(test / train). Below the line = better than ReLU."""

    fig, axes = new_figure(1, 2, panel=(2.8, 2.6))
    left, right = axes[0]
    shown = []
    rng = np.random.default_rng(0)
    for i, name in enumerate(candidates):
        pairs = paired_runs(runs, name, reference, ["test_loss", "final_train_loss"])
        if pairs.empty:
            continue
        shown.append(name)
        ratio = numeric(pairs, f"test_loss_{name}") / numeric(pairs, f"test_loss_{reference}")
        gap = np.log(numeric(pairs, f"test_loss_{name}") / numeric(pairs, f"final_train_loss_{name}")) - np.log(
            numeric(pairs, f"test_loss_{reference}") / numeric(pairs, f"final_train_loss_{reference}")
        )
        colour, marker = activation_style(name)
        jitter = i + rng.uniform(-0.12, 0.12, len(pairs))
        left.scatter(jitter, ratio, color=colour, marker=marker, s=14)
        right.scatter(jitter, gap, color=colour, marker=marker, s=14)
        for ax, values in ((left, ratio), (right, gap)):
            ax.plot([i - 0.25, i + 0.25], [float(np.median(values))] * 2, color=colour, linewidth=2)
    if not shown:
        return no_data(fig)
    for ax, title, line in ((left, f"test loss / {reference}'s", 1.0), (right, f"gap change vs {reference}", 0.0)):
        ax.axhline(line, color="grey", linestyle="--", linewidth=1)
        ax.set_xticks(range(len(candidates)), list(candidates))
        ax.set_title(title)
        ax.grid(alpha=0.3, linewidth=0.5, axis="y")
    left.set_yscale("log")
    plots.readable_ticks(left)
    right.set_ylabel("log(test/train) - ReLU's")
    legend(fig, shown)
    return fig


# -- claim 7: softmax output -----------------------------------------------------------------------
def plot_softmax(runs: pd.DataFrame) -> Figure:
    """Test MSE per output activation and cell (depth and hidden activation), on the
    common metric of :func:`actcmp.claims.checks.common_metric`, on a log axis: each seed
    a small dot, the mean over seeds a marker with its Student t 95% interval (as the
    claim's table: :func:`actcmp.analysis.stats.summarise`). Points, not bars: a bar on a
    log axis starts at an arbitrary bottom, so its length means nothing. An interval whose
    lower end is not positive (no place on a log axis) is drawn to the panel's bottom and
    ends in a triangle."""
    from matplotlib.lines import Line2D

    from actcmp.analysis.cells import outcomes

    if runs.empty or "output_activation" not in runs:
        return no_data()
    treatment = "output_activation"
    kept, metric, _ = common_metric(runs)
    table = stats.summarise(kept, metric, treatment=treatment)
    if table.empty:
        return no_data()
    keys = [
        c
        for c in table.columns
        if c not in (treatment, "n", "n_diverged", "mean", "std", "ci_low", "ci_high", "note", "dataset")
    ]
    seeds = outcomes(kept, metric, treatment=treatment)  # the seeds summarise reads (cell_keys)
    seeds = seeds[~seeds["worst"].astype(bool)]
    cells = (
        [tuple(c) for c in table[keys].drop_duplicates().sort_values(keys).itertuples(index=False)] if keys else [()]
    )
    outputs = activation_order(table[treatment])
    fig, axes = new_figure(1, 1, panel=(max(3.2, 1.3 * len(cells)), 2.8))
    ax = axes[0, 0]
    step = 0.8 / max(len(outputs), 1)
    rng = np.random.default_rng(0)
    positive = [float(v) for v in (*table["mean"], *seeds["value"]) if v > 0 and math.isfinite(v)]
    positive += [float(v) for v in table["ci_low"] if v > 0 and math.isfinite(v)]
    bottom = min(positive) / 1.5 if positive else 1e-6
    clipped = False
    for j, name in enumerate(outputs):
        colour, marker = activation_style(name)
        for i, cell in enumerate(cells):
            row, mine = table[table[treatment] == name], seeds[seeds[treatment] == name]
            for key, value in zip(keys, cell, strict=True):
                row, mine = row[row[key] == value], mine[mine[key] == value]
            if row.empty:
                continue
            x = i + (j - (len(outputs) - 1) / 2) * step
            values = mine["value"].astype(float)
            # the seeds just left of the mean and its interval, which stand at x
            ax.scatter(x - 0.3 * step + rng.uniform(-0.1, 0.1, len(values)) * step, values, s=9, color=colour,
                       alpha=0.5, linewidths=0, zorder=2)  # fmt: skip
            mean, low, high = (float(row[c].iloc[0]) for c in ("mean", "ci_low", "ci_high"))
            if math.isfinite(low) and math.isfinite(high):
                shown_low = low if low > 0 else bottom
                clipped |= low <= 0
                ax.plot([x, x], [shown_low, high], color=colour, linewidth=1.2, zorder=3)
                ax.plot([x - 0.16 * step, x + 0.16 * step], [high, high], color=colour, linewidth=1, zorder=3)
                if low > 0:
                    ax.plot([x - 0.16 * step, x + 0.16 * step], [low, low], color=colour, linewidth=1, zorder=3)
                else:
                    ax.plot([x], [bottom], marker="v", color=colour, markersize=5, zorder=3)
            ax.plot([x], [mean], marker=marker, color=colour, markersize=6, markeredgewidth=1.5, linestyle="none",
                    zorder=4)  # fmt: skip
    for i in range(1, len(cells)):
        ax.axvline(i - 0.5, color="grey", linewidth=0.5, alpha=0.5)
    ax.set_xticks(
        range(len(cells)),
        [
            "\n".join(f"hidden {v}" if k == "activation" else f"{k} {v}" for k, v in zip(keys, c, strict=True))
            for c in cells
        ],
    )
    ax.set_xlim(-0.5, len(cells) - 0.5)
    ax.set_yscale("log")
    if clipped:
        ax.set_ylim(bottom=bottom / 1.3)  # the triangles inside the frame
    plots.readable_ticks(ax)
    what = "test MSE" if metric in ("test_mse", "test_loss") else metric.replace("_", " ")
    ax.set_ylabel(f"{what} (log scale)")
    datasets = " · ".join(sorted({str(d) for d in kept["dataset"]})) if "dataset" in kept else ""
    ax.set_title(f"{datasets}: mean over seeds, 95% t interval; dots: seeds" if datasets else
                 "mean over seeds, 95% t interval; dots: seeds")  # fmt: skip
    ax.grid(alpha=0.3, linewidth=0.5, axis="y")
    extra: list[tuple[Any, str]] = [
        (Line2D([], [], color="grey", marker="o", markersize=6, linestyle="none"), "mean over seeds (marker)"),
        (Line2D([], [], color="grey", linewidth=1.2), "Student t 95% interval"),
        (Line2D([], [], color="grey", marker="o", markersize=3, alpha=0.5, linestyle="none"), "one seed (dot, left)"),
    ]
    if clipped:
        extra.append((Line2D([], [], color="grey", marker="v", linestyle="none"), "interval reaches 0 (cut)"))
    legend(fig, outputs, extra, title="output activation")
    return fig


# -- applications ------------------------------------------------------------------------------------
def plot_anomaly(runs: pd.DataFrame) -> Figure:
    """AUROC of the per-sample reconstruction error, per activation (dots = seeds, bar =
    mean), one panel per dataset; 0.5 is chance."""
    done = done_runs(runs)
    done = done.assign(_auroc=numeric(done, "anomaly_auroc")).dropna(subset=["_auroc"])
    if done.empty:
        return no_data()
    datasets = sorted(done["dataset"].unique())
    names = activation_order(done["activation"])
    fig, axes = new_figure(1, len(datasets), panel=(3.2, 2.4), sharey=True)
    for ax, dataset in zip(axes[0], datasets, strict=False):
        at = done[done["dataset"] == dataset]
        for i, name in enumerate(names):
            values = at.loc[at["activation"] == name, "_auroc"]
            colour, marker = activation_style(name)
            ax.scatter(np.full(len(values), i), values, color=colour, marker=marker, s=14)
            if len(values):
                ax.plot([i - 0.3, i + 0.3], [values.mean()] * 2, color=colour, linewidth=2)
        ax.axhline(0.5, color="grey", linestyle="--", linewidth=1)
        ax.set_xticks(range(len(names)), names, rotation=35)
        ax.set_title(str(dataset))
        ax.set_ylim(0.4, 1.02)
        ax.grid(alpha=0.3, linewidth=0.5, axis="y")
    axes[0, 0].set_ylabel("AUROC (reconstruction error)")
    legend(fig, names)
    return fig


def plot_compression(runs: pd.DataFrame, pca: pd.DataFrame) -> Figure:
    """Test MSE against bottleneck size per activation (mean, min-max band) with PCA's
    test MSE at the same bottleneck (black dashed): the linear reference."""
    from matplotlib.lines import Line2D

    done = done_runs(runs)
    if done.empty or "bottleneck" not in done:
        return no_data()
    fig, axes = new_figure(1, 1, panel=(3.8, 2.8))
    ax = axes[0, 0]
    names = activation_order(done["activation"])
    for name in names:
        mine = done[done["activation"] == name].assign(_loss=lambda f: numeric(f, "test_loss"))
        curve = mine.groupby("bottleneck")["_loss"].agg(["mean", "min", "max"])
        style = line_kwargs(name)
        ax.plot(curve.index, curve["mean"], markersize=4, linewidth=1.2, **style)  # type: ignore[arg-type]
        ax.fill_between(curve.index, curve["min"], curve["max"], color=style["color"], alpha=0.15, linewidth=0)
    extra = []
    if not pca.empty:
        line = pca.groupby("bottleneck")["pca_test_mse"].mean()
        ax.plot(line.index, line.to_numpy(), color="black", linestyle="--", linewidth=1.4)
        extra.append((Line2D([], [], color="black", linestyle="--"), "PCA"))
    bottlenecks = sorted(done["bottleneck"].unique())
    _depth_axis(ax, bottlenecks)
    ax.set_yscale("log")
    ax.set_xlabel("bottleneck (code units)")
    ax.set_ylabel("test MSE")
    ax.set_title(f"{', '.join(sorted(done['dataset'].unique()))}: error vs code size")
    ax.grid(alpha=0.3, linewidth=0.5)
    legend(fig, names, extra)
    return fig


# -- depth scaling ------------------------------------------------------------------------------------
def plot_depth(runs: pd.DataFrame, factor: float = stats.DEPTH_FACTOR) -> Figure:
    if runs.empty:
        return no_data()
    return plots.plot_depth_scaling(stats.depth_profile(runs, factor=factor), factor=factor)


# names this module held before the restructuring, now defined elsewhere: still importable
# from here (see actcmp.moved)
__getattr__ = moved_names(
    __name__,
    {
        "choose_runs": "actcmp.claims.explaining",
        "plot_layer_histograms": "actcmp.claims.explaining",
        "plot_died_revived": "actcmp.claims.explaining",
        "preact_histograms": "actcmp.claims.explaining",
        "HIST_METRIC": "actcmp.claims.explaining",
        "HIST_RANGE": "actcmp.claims.explaining",
    },
)
