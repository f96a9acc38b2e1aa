"""Figures of the claims report: frames in, ``matplotlib.figure.Figure`` out.

Never touches pyplot's global state. Every activation keeps its fixed colour and marker
from :mod:`actcmp.report.style`; rc settings, figure creation, legend and saving come
from :mod:`actcmp.report.plots`, as in the report. Two figures explain *why* (per-layer
pre-activation histograms beside f and f', and died / revived units over training); they
read the layer metrics ``preact_hist_NN`` when the engine records them and otherwise fall
back to a normal curve from the stored ``preact_mean`` / ``preact_std``, saying so on the
figure.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from actcmp.analysis import stats as stats
from actcmp.analysis.cells import activation_order
from actcmp.report import plots
from actcmp.report.plots import legend, png_bytes
from actcmp.report.style import activation_style, line_kwargs

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: default range of the stored pre-activation histograms (see the engine note in the README)
HIST_RANGE = (-6.0, 6.0)
HIST_METRIC = re.compile(r"^preact_hist_(\d+)$")
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


def _done(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == "done"] if "status" in runs.columns else runs


def _num(frame: pd.DataFrame, column: str) -> pd.Series:
    import pandas as pd

    return (
        pd.to_numeric(frame[column], errors="coerce").astype(float)
        if column in frame
        else pd.Series(np.nan, index=frame.index)
    )


def _depth_axis(ax: Axes, depths: Sequence[Any]) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks([float(d) for d in depths], [str(d) for d in depths])
    ax.minorticks_off()


def _spread(ax: Axes, x: Any, values: pd.Series, name: str, **extra: Any) -> None:
    """Mean marker with a min-max bar."""
    colour, marker = activation_style(name)
    ax.errorbar(
        [x],
        [values.mean()],
        yerr=[[values.mean() - values.min()], [values.max() - values.mean()]],
        color=colour,
        marker=marker,
        markersize=5,
        capsize=2,
        linewidth=1,
        **extra,
    )


# -- claim 1: linear -----------------------------------------------------------------------------
def plot_linear(runs: pd.DataFrame, pca: pd.DataFrame, tolerance: float = 0.05) -> Figure:
    """Top: test MSE of identity networks per depth against PCA's test MSE (dashed).
    Bottom: training MSE / PCA training MSE; the band is [1, 1 + tolerance]."""
    done = _done(runs[runs["activation"] == "identity"]) if "activation" in runs else runs.iloc[0:0]
    if done.empty or pca.empty:
        return no_data()
    joined = done.merge(pca, on=[k for k in ("dataset", "seed", "bottleneck") if k in done and k in pca])
    joined = joined.assign(ratio=_num(joined, "final_train_loss") / joined["pca_train_mse"])
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
            _spread(top, depth, _num(at, "test_loss"), "identity")
            _spread(bottom, depth, at["ratio"], "identity")
        top.axhline(float(mine["pca_test_mse"].mean()), color="grey", linestyle="--", linewidth=1.2)
        bottom.axhspan(1.0, 1.0 + tolerance, color="grey", alpha=0.2, linewidth=0)
        bottom.axhline(1.0, color="grey", linestyle="--", linewidth=1.2)
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
def plot_ranking(runs: pd.DataFrame) -> Figure:
    if runs.empty:
        return no_data()
    return plots.plot_cd_diagram(stats.friedman(runs, "test_loss"), title=None)


def plot_matters(runs: pd.DataFrame) -> Figure:
    """Two critical-difference diagrams: test loss, and epochs to the loss threshold."""
    from matplotlib.figure import Figure

    if runs.empty:
        return no_data()
    censored = runs.assign(_censor=_num(runs, "epochs") + 1)
    results = [
        stats.friedman(censored, "test_loss"),
        stats.friedman(censored, "epochs_to_threshold", fill_missing="_censor"),
    ]
    height = 1.4 + 0.22 * max(r.k for r in results)
    fig = Figure(figsize=(6.4, 2 * height), layout="constrained", dpi=100)
    top, bottom = fig.subplots(2, 1)
    plots.plot_cd_diagram(results[0], ax=top, title=f"How well: test loss (Friedman {_p(results[0].p_value)})")
    plots.plot_cd_diagram(
        results[1],
        ax=bottom,
        title=(f"How quickly: epochs to threshold, never reached = epochs + 1 (Friedman {_p(results[1].p_value)})"),
    )
    return fig


def _p(p_value: float) -> str:
    return "p n/a" if not math.isfinite(p_value) else ("p < 0.001" if p_value < 0.001 else f"p = {p_value:.3f}")


# -- claim 3: dying ReLU -------------------------------------------------------------------------
def plot_dying(runs: pd.DataFrame, reference: str = "leaky_relu") -> Figure:
    """Final dead fraction against learning rate, one panel per depth; last panel: each
    ReLU run's dead fraction against its test loss relative to ``reference`` (same seed)."""
    from actcmp.claims.checks import _pairs

    done = _done(runs)
    if done.empty or "lr" not in done or "depth" not in done:
        return no_data()
    depths = sorted(done["depth"].unique())
    fig, axes = new_figure(1, len(depths) + 1)
    names = activation_order(done["activation"])
    for ax, depth in zip(axes[0], depths, strict=False):
        at = done[done["depth"] == depth]
        for name in names:
            mine = at[at["activation"] == name].assign(_dead=lambda f: _num(f, "dead_fraction_final"))
            per_lr = mine.groupby("lr")["_dead"].agg(["mean", "min", "max"])
            style = line_kwargs(name)
            ax.plot(per_lr.index, per_lr["mean"], markersize=4, linewidth=1.2, **style)  # type: ignore[arg-type]
            ax.fill_between(per_lr.index, per_lr["min"], per_lr["max"], color=style["color"], alpha=0.15, linewidth=0)
        ax.set_xscale("log")
        ax.set_title(f"depth {depth}")
        ax.set_xlabel("learning rate")
        ax.set_ylim(-0.02, 1.0)
        ax.grid(alpha=0.3, linewidth=0.5)
    axes[0, 0].set_ylabel("dead fraction after training")
    ax = axes[0, -1]
    if "relu" in set(done["activation"]) and reference in set(done["activation"]):
        pairs = _pairs(runs, "relu", reference, ["dead_fraction_final", "test_loss"])
        colour, marker = activation_style("relu")
        ax.scatter(
            _num(pairs, "dead_fraction_final_relu"),
            _num(pairs, "test_loss_relu") / _num(pairs, f"test_loss_{reference}"),
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
    else:
        ax.set_axis_off()
    legend(fig, names)
    return fig


def plot_died_revived(runs: pd.DataFrame, layers: pd.DataFrame) -> Figure:
    """Share of hidden units that died (solid) or came back (dashed) since the previous
    measurement, per epoch, mean over layers and seeds: one panel per learning rate
    (deepest network), one line per activation."""
    from matplotlib.lines import Line2D

    done = _done(runs)
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


# -- claim 4: vanishing gradients ----------------------------------------------------------------
def plot_vanishing(runs: pd.DataFrame, layers: pd.DataFrame, max_orders: float = 1.0) -> Figure:
    """Left: log10(first / last layer weight-gradient norm) at initialisation against
    depth (band: within ``max_orders``). Right: each linear layer's gradient norm at
    initialisation in the deepest network (mean over seeds, log scale)."""
    from actcmp.claims.checks import gradient_ratios

    ratios = gradient_ratios(runs, layers)
    if ratios.empty:
        return no_data()
    fig, axes = new_figure(1, 2, panel=(3.4, 2.6))
    left, right = axes[0]
    names = activation_order(ratios["activation"])
    depths = sorted(ratios["depth"].unique())
    for name in names:
        mine = ratios[ratios["activation"] == name].groupby("depth")["log10_ratio"].agg(["mean", "min", "max"])
        style = line_kwargs(name)
        left.plot(mine.index, mine["mean"], markersize=4, linewidth=1.2, **style)  # type: ignore[arg-type]
        left.fill_between(mine.index, mine["min"], mine["max"], color=style["color"], alpha=0.15, linewidth=0)
    left.axhspan(-max_orders, max_orders, color="grey", alpha=0.15, linewidth=0)
    left.axhline(0, color="grey", linewidth=0.8)
    _depth_axis(left, depths)
    left.set_xlabel("depth (encoder layers)")
    left.set_ylabel("log10 |grad W first| / |grad W last|")
    left.set_title("at initialisation")
    left.grid(alpha=0.3, linewidth=0.5)
    deepest = max(depths)
    ids = runs[(runs["depth"] == deepest) & runs["status"].isin(stats.FINISHED)][["run_id", "activation"]]
    grads = layers[(layers["metric"] == "grad_norm_weight") & (layers["epoch"] == 0)].merge(ids, on="run_id")
    for name in names:
        curve = grads[grads["activation"] == name].groupby("layer")["value"].mean()
        right.plot(curve.index, curve.to_numpy(), markersize=4, linewidth=1.2, **line_kwargs(name))  # type: ignore[arg-type]
    right.set_yscale("log")
    right.axvline(deepest - 0.5, color="grey", linestyle=":", linewidth=1)
    right.set_xlabel("linear layer (encoder | decoder)")
    right.set_ylabel("weight-gradient norm")
    right.set_title(f"depth {deepest}, per layer, at initialisation")
    right.grid(alpha=0.3, linewidth=0.5)
    legend(fig, names)
    return fig


# -- claim 5: tanh vs sigmoid ------------------------------------------------------------------
def plot_tanh_sigmoid(runs: pd.DataFrame, epochs: pd.DataFrame, k: int | None = None) -> Figure:
    """Validation loss / mean-predictor loss over epochs, mean over seeds; one panel per
    dataset, line style per depth; the shaded span is the window the verdict averages."""
    from matplotlib.lines import Line2D

    from actcmp.claims.checks import early_loss

    done = _done(runs)
    if done.empty or epochs.empty:
        return no_data()
    window = early_loss(runs, epochs, k)
    k_used = int(window["k"].iloc[0]) if len(window) else 1
    val = epochs[epochs["metric"] == "val_loss"].merge(
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
        ax.set_title(str(dataset))
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3, linewidth=0.5)
    axes[0, 0].set_ylabel("val loss / mean-predictor loss")
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
    from actcmp.claims.checks import _pairs

    fig, axes = new_figure(1, 2, panel=(2.8, 2.6))
    left, right = axes[0]
    shown = []
    rng = np.random.default_rng(0)
    for i, name in enumerate(candidates):
        pairs = _pairs(runs, name, reference, ["test_loss", "final_train_loss"])
        if pairs.empty:
            continue
        shown.append(name)
        ratio = _num(pairs, f"test_loss_{name}") / _num(pairs, f"test_loss_{reference}")
        gap = np.log(_num(pairs, f"test_loss_{name}") / _num(pairs, f"final_train_loss_{name}")) - np.log(
            _num(pairs, f"test_loss_{reference}") / _num(pairs, f"final_train_loss_{reference}")
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
    right.set_ylabel("log(test/train) - ReLU's")
    legend(fig, shown)
    return fig


# -- claim 7: softmax output -----------------------------------------------------------------------
def plot_softmax(runs: pd.DataFrame) -> Figure:
    """Mean test MSE (Student t 95% CI) of each output activation per cell (depth and
    hidden activation), on the common metric of :func:`actcmp.claims.checks.common_metric`."""
    from actcmp.claims.checks import common_metric

    if runs.empty or "output_activation" not in runs:
        return no_data()
    kept, metric, _ = common_metric(runs)
    table = stats.summarise(kept, metric, treatment="output_activation")
    if table.empty:
        return no_data()
    keys = [
        c
        for c in table.columns
        if c not in ("output_activation", "n", "n_diverged", "mean", "std", "ci_low", "ci_high", "note", "dataset")
    ]
    cells = table[keys].drop_duplicates().sort_values(keys).itertuples(index=False) if keys else [()]
    cells = [tuple(c) for c in cells]
    outputs = activation_order(table["output_activation"])
    fig, axes = new_figure(1, 1, panel=(max(3.0, 1.1 * len(cells)), 2.6))
    ax = axes[0, 0]
    width = 0.8 / max(len(outputs), 1)
    hatches = ("", "//", "..", "xx", "\\\\")
    for j, name in enumerate(outputs):
        colour, _ = activation_style(name)
        for i, cell in enumerate(cells):
            row = table[(table["output_activation"] == name)]
            for key, value in zip(keys, cell, strict=True):
                row = row[row[key] == value]
            if row.empty:
                continue
            mean, low, high = (float(row[c].iloc[0]) for c in ("mean", "ci_low", "ci_high"))
            x = i + (j - (len(outputs) - 1) / 2) * width
            ax.bar(
                x,
                mean,
                width=width * 0.9,
                color=colour,
                alpha=0.85,
                hatch=hatches[j % len(hatches)],
                edgecolor="white",
                label=name if i == 0 else None,
            )
            if math.isfinite(low) and math.isfinite(high):
                ax.errorbar([x], [mean], yerr=[[mean - low], [high - mean]], color="black", capsize=2, linewidth=0.8)
    ax.set_xticks(
        range(len(cells)),
        ["\n".join(str(v) if k == "activation" else f"{k} {v}" for k, v in zip(keys, c, strict=True)) for c in cells],
    )
    ax.set_yscale("log")
    ax.set_ylabel("test MSE" if metric in ("test_mse", "test_loss") else metric.replace("_", " "))
    ax.set_title(" · ".join(sorted({str(d) for d in kept["dataset"]})) if "dataset" in kept else "")
    ax.grid(alpha=0.3, linewidth=0.5, axis="y")
    fig.legend(loc="outside right upper", title="output activation", frameon=False)
    return fig


# -- applications ------------------------------------------------------------------------------------
def plot_anomaly(runs: pd.DataFrame) -> Figure:
    """AUROC of the per-sample reconstruction error, per activation (dots = seeds, bar =
    mean), one panel per dataset; 0.5 is chance."""
    done = _done(runs)
    done = done.assign(_auroc=_num(done, "anomaly_auroc")).dropna(subset=["_auroc"])
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

    done = _done(runs)
    if done.empty or "bottleneck" not in done:
        return no_data()
    fig, axes = new_figure(1, 1, panel=(3.8, 2.8))
    ax = axes[0, 0]
    names = activation_order(done["activation"])
    for name in names:
        mine = done[done["activation"] == name].assign(_loss=lambda f: _num(f, "test_loss"))
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
    done = _done(runs)
    keys = stats.cell_keys(runs)
    pool = done[(done["activation"] == prefer) & (done["depth"] <= max_depth)]
    if pool.empty:
        return done.iloc[0:0]
    best = pool.assign(_m=_num(pool, metric)).groupby(keys)["_m"].mean().idxmax()
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


# -- depth scaling ------------------------------------------------------------------------------------
def plot_depth(runs: pd.DataFrame, factor: float = stats.DEPTH_FACTOR) -> Figure:
    if runs.empty:
        return no_data()
    return plots.plot_depth_scaling(stats.depth_profile(runs, factor=factor), factor=factor)
