"""Pictures of what the autoencoders do, from the samples each run stored (:mod:`actcmp.engine.samples`).

Per dataset, for up to :data:`MAX_CELLS` cells (dataset x depth x whatever else varies) and
in each cell the lowest seed that stored samples (the same test rows for every activation):

* ``reconstructions_<dataset>`` (image datasets): the original test images in the first
  row, then one row per activation with its reconstructions;
* ``latent_<dataset>``: the codes of the stored test rows in 2-D (the code itself for a
  bottleneck of 2, else its first two principal components, PCA by scikit-learn), coloured
  by label where the dataset has labels; one panel per activation, one row per cell;
* ``roc_<dataset>`` (anomaly datasets): ROC curves of the per-row reconstruction error,
  one line per activation with its AUROC (scikit-learn) in the legend, one panel per cell.

:func:`figure_specs` returns ``(stem, title, caption, draw)`` like
:func:`actcmp.report.plots.standard_figures`; stores from before the samples table, or runs
without samples, give no pictures. Reads only.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from actcmp.analysis.cells import FINISHED, activation_order, cell_keys
from actcmp.report import tables
from actcmp.report.style import activation_style, line_kwargs

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from actcmp.store.database import Results

#: most cells drawn per dataset (the rest are named in the caption)
MAX_CELLS = 4
#: images per row of a reconstruction grid
GRID_IMAGES = 16

Spec = tuple[str, str, str, Callable[["Results"], "Figure"]]


@dataclass
class Cell:
    """One cell's runs at one seed: activation -> run id (None: no samples, e.g. diverged)."""

    keys: list[str]
    values: tuple[Any, ...]
    seed: Any
    runs: dict[str, str | None]
    status: dict[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return f"{tables.label(self.keys, self.values)} · seed {self.seed}"


@dataclass
class DatasetPictures:
    """What the store holds for one dataset: its cells and the decoded samples by run id."""

    dataset: str
    cells: list[Cell]
    omitted: int
    samples: dict[str, dict[str, dict[str, np.ndarray]]]  # kind -> run id -> arrays


def slug(name: str) -> str:
    """A file-name-safe stem part for a dataset name (user file paths get a short hash)."""
    text = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()[:40] or "data"
    if re.fullmatch(r"[a-z0-9-]+", name):
        return text
    return f"{text}-{hashlib.sha256(name.encode()).hexdigest()[:6]}"


def figure_specs(results: Results) -> list[Spec]:
    """The picture figures that apply to ``results`` (none without stored samples)."""
    specs: list[Spec] = []
    for found in collect(results):
        name, stem = found.dataset, slug(found.dataset)
        more = f" {found.omitted} more cells are not drawn." if found.omitted else ""
        if found.samples["reconstruction"] and _image_shape(found) is not None:
            specs.append(
                (
                    f"reconstructions_{stem}",
                    f"Reconstructions: {name}",
                    "Test images (first row) and each activation's reconstruction of them, one block per cell, "
                    "the same rows and seed for every activation; an empty row is a run without samples "
                    f"(diverged).{more}",
                    _drawer(plot_reconstructions, found),
                )
            )
        if found.samples["codes"]:
            specs.append(
                (
                    f"latent_{stem}",
                    f"Latent space: {name}",
                    "Codes (bottleneck activations) of the first test rows: the code itself when the bottleneck "
                    "is 2, else its first two principal components (PCA per panel); colour = class label where "
                    f"the dataset has labels, black crosses = anomalies.{more}",
                    _drawer(plot_latent, found),
                )
            )
        if found.samples["errors"]:
            specs.append(
                (
                    f"roc_{stem}",
                    f"Anomaly detection: {name}",
                    "ROC curves of the per-row reconstruction error on the test split (the model trained on normal "
                    f"rows only), one line per activation with its AUROC in the legend.{more}",
                    _drawer(plot_roc, found),
                )
            )
    return specs


def _drawer(plot: Callable[[DatasetPictures], Figure], found: DatasetPictures) -> Callable[[Results], Figure]:
    def draw(_results: Results) -> Figure:
        return plot(found)

    return draw


def collect(results: Results) -> list[DatasetPictures]:
    """Per dataset, the cells to draw and their decoded samples (empty without samples)."""
    from actcmp.engine.samples import KINDS, decode
    from actcmp.store.database import Store

    runs = results.runs
    if runs.empty or not {"dataset", "activation", "seed", "run_id"} <= set(runs.columns):
        return []
    with Store(results.directory, create=False) as store:
        blobs = {kind: store.samples(kind) for kind in KINDS}
    if not any(blobs.values()):
        return []
    runs = runs[runs["status"].isin(FINISHED)]
    keys = cell_keys(runs)
    found = []
    for dataset in sorted(runs["dataset"].astype(str).unique()):
        mine = runs[runs["dataset"].astype(str) == dataset]
        cells = _cells(mine, keys, set(blobs["reconstruction"]))
        if not cells:
            continue
        wanted = {rid for cell in cells[:MAX_CELLS] for rid in cell.runs.values() if rid is not None}
        samples = {kind: {rid: decode(blobs[kind][rid]) for rid in wanted if rid in blobs[kind]} for kind in KINDS}
        found.append(DatasetPictures(dataset, cells[:MAX_CELLS], max(0, len(cells) - MAX_CELLS), samples))
    return found


def _cells(runs: pd.DataFrame, keys: list[str], with_samples: set[str]) -> list[Cell]:
    cells = []
    unique = runs[keys].drop_duplicates().sort_values(keys, kind="mergesort")
    for values in unique.itertuples(index=False):
        values = tuple(values)
        mine = runs
        for key, value in zip(keys, values, strict=True):
            mine = mine[tables.matching(mine[key], value)]
        sampled = mine[mine["run_id"].isin(with_samples)]
        if sampled.empty:
            continue
        seed = sorted(sampled["seed"].unique())[0]
        at_seed = mine[mine["seed"] == seed]
        order = activation_order(at_seed["activation"])
        runs_by_act: dict[str, str | None] = {}
        status: dict[str, str] = {}
        for activation in order:
            row = at_seed[at_seed["activation"] == activation].iloc[0]
            rid = str(row["run_id"])
            runs_by_act[activation] = rid if rid in with_samples else None
            status[activation] = str(row["status"])
        cells.append(Cell(keys, values, seed, runs_by_act, status))
    return cells


def _image_shape(found: DatasetPictures) -> tuple[int, int] | None:
    for arrays in found.samples["reconstruction"].values():
        shape = arrays["image_shape"]
        if shape.size == 2:
            return int(shape[0]), int(shape[1])
    return None


def _row_label(cell: Cell, activation: str) -> str:
    if cell.runs[activation] is None:
        return f"{activation} ({cell.status.get(activation, 'no samples')})"
    return activation


# -- reconstruction grids ------------------------------------------------------------------
def plot_reconstructions(found: DatasetPictures) -> Figure:
    """One block per cell: originals, then a row of reconstructions per activation."""
    from matplotlib.figure import Figure

    shape = _image_shape(found)
    assert shape is not None
    rows, cols = shape
    blocks = []
    for cell in found.cells:
        sampled = [found.samples["reconstruction"][r] for r in cell.runs.values() if r is not None]
        original = sampled[0]["original"].astype(np.float32)[:GRID_IMAGES]
        lines = [original] + [
            found.samples["reconstruction"][rid]["reconstruction"].astype(np.float32)[:GRID_IMAGES]
            if rid is not None
            else np.full_like(original, np.nan)
            for rid in cell.runs.values()
        ]
        blocks.append((cell, lines))
    n_images = max(len(lines[0]) for _, lines in blocks)
    gap = 2  # pixels between images
    width_px = n_images * (cols + gap)
    fig_width = min(10.0, max(5.0, 0.45 * n_images)) + 1.6
    heights = [len(lines) * (rows + gap) for _, lines in blocks]
    fig = Figure(
        figsize=(fig_width, sum(h / width_px * (fig_width - 1.6) for h in heights) + 0.45 * len(blocks)),
        layout="constrained",
        dpi=100,
    )
    fig.get_layout_engine().set(w_pad=0.12)  # type: ignore[union-attr,call-arg]  # room for long row labels
    axes = fig.subplots(len(blocks), 1, squeeze=False, height_ratios=heights)[:, 0]
    for ax, (cell, lines) in zip(axes, blocks, strict=True):
        mosaic = np.full((len(lines) * (rows + gap) - gap, n_images * (cols + gap) - gap), np.nan)
        for r, line in enumerate(lines):
            for c, image in enumerate(line):
                top, left = r * (rows + gap), c * (cols + gap)
                mosaic[top : top + rows, left : left + cols] = image.reshape(rows, cols)
        ax.imshow(np.clip(mosaic, 0.0, 1.0), cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest")
        # square pixels shrink the box the layout gave the axes: keep it at the right edge, so that the
        # room made for the row labels stays on their side (centred, they touched the figure's edge)
        ax.set_anchor("E")
        labels = ["original", *(_row_label(cell, a) for a in cell.runs)]
        ax.set_yticks([r * (rows + gap) + rows / 2 - 0.5 for r in range(len(lines))], labels)
        for tick, activation in zip(ax.get_yticklabels()[1:], cell.runs, strict=True):
            tick.set_color(activation_style(activation)[0])
        ax.set_xticks([])
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_title(cell.title, loc="left")
    return fig


# -- latent space --------------------------------------------------------------------------
def two_d(codes: np.ndarray) -> tuple[np.ndarray, tuple[str, str]]:
    """``[m, 2]`` view of ``codes [m, b]`` and axis labels: the code for b <= 2 (b = 1 drawn
    against zeros), else PCA."""
    codes = codes.astype(np.float64)
    if codes.shape[1] == 1:
        return np.column_stack([codes[:, 0], np.zeros(len(codes))]), ("code", "")
    if codes.shape[1] == 2:
        return codes, ("code 1", "code 2")
    from sklearn.decomposition import PCA

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # constant codes (all units dead): zero variance explained
        view = PCA(n_components=2, svd_solver="full").fit_transform(codes)
    return view, ("PC 1", "PC 2")


def plot_latent(found: DatasetPictures) -> Figure:
    """Rows: cells; columns: activations; each panel the 2-D view of one run's codes."""
    from actcmp.report.plots import new_figure

    activations = activation_order({a for cell in found.cells for a in cell.runs})
    fig, axes = new_figure(len(found.cells), len(activations), panel=(2.2, 2.1), legend=1.0)
    labelled = False
    for row, cell in enumerate(found.cells):
        for col, activation in enumerate(activations):
            ax = axes[row, col]
            rid = cell.runs.get(activation)
            ax.set_title(activation if row == 0 else "", color=activation_style(activation)[0])
            if col == 0:
                ax.set_ylabel(_latent_row_label(found, cell), fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
            arrays = found.samples["codes"].get(rid) if rid is not None else None
            if arrays is None or not np.isfinite(arrays["codes"]).all():
                text = cell.status.get(activation, "not run") if arrays is None else "non-finite codes"
                ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=7)
                continue
            view, _ = two_d(arrays["codes"])
            labels = arrays.get("labels")
            if labels is not None:
                colour = np.asarray(labels) % 10
                ax.scatter(view[:, 0], view[:, 1], c=colour, cmap="tab10", vmin=0, vmax=9, s=4, linewidths=0)
                labelled = True
            else:  # no labels (a CSV without a label column): one colour, no colour map
                ax.scatter(view[:, 0], view[:, 1], color="#777777", s=4, linewidths=0)
            anomaly = arrays.get("anomaly")
            if anomaly is not None and anomaly.any():
                ax.scatter(view[anomaly, 0], view[anomaly, 1], marker="x", c="black", s=10, linewidths=0.6)
    if labelled:
        _label_legend(fig, found)
    return fig


#: characters per line of a latent row's label (rotated beside a panel about 2 inches tall, 8 pt)
LABEL_WIDTH = 26


def _latent_row_label(found: DatasetPictures, cell: Cell) -> str:
    """The rotated label of a latent row, in lines that fit beside the panel: the cell's keys
    (a long one, such as a file path or a data fingerprint, shortened in the middle) and its seed,
    then the view (``code 1 vs code 2``)."""
    parts = [part for part in tables.label(cell.keys, cell.values).split(" · ") if part]
    lines: list[str] = []
    for part in [*(_shortened(p) for p in parts), f"seed {cell.seed}"]:
        if lines and len(lines[-1]) + 3 + len(part) <= LABEL_WIDTH:
            lines[-1] += f" · {part}"
        else:
            lines.append(part)
    return "\n".join([*lines, _view_name(found, cell)])


def _shortened(text: str, width: int = LABEL_WIDTH) -> str:
    """``text``, or where longer than ``width`` its start and end around an ellipsis."""
    if len(text) <= width:
        return text
    key, equals, value = text.partition("=")
    if equals and len(key) < width - 8:  # data_fingerprint=3f2a…c91e: the key whole, the value shortened
        return f"{key}={_shortened(value, width - len(key) - 1)}"
    head = (width - 1) // 2
    return f"{text[:head]}…{text[len(text) - (width - 1 - head) :]}"


def _view_name(found: DatasetPictures, cell: Cell) -> str:
    widths = {found.samples["codes"][r]["codes"].shape[1] for r in cell.runs.values() if r in found.samples["codes"]}
    width = widths.pop() if len(widths) == 1 else 0
    return {1: "code (1-D)", 2: "code 1 vs code 2"}.get(width, "PC 1 vs PC 2 of the code")


def _label_legend(fig: Figure, found: DatasetPictures) -> None:
    from matplotlib import colormaps
    from matplotlib.lines import Line2D

    values = sorted({int(v) for arrays in found.samples["codes"].values() for v in arrays.get("labels", [])})
    cmap = colormaps["tab10"]
    handles: list[Any] = [
        Line2D([], [], marker="o", linestyle="", color=cmap((v % 10) / 9), markersize=4) for v in values[:10]
    ]
    names = [str(v) for v in values[:10]]
    if any(arrays.get("anomaly", np.zeros(0, bool)).any() for arrays in found.samples["codes"].values()):
        handles.append(Line2D([], [], marker="x", linestyle="", color="black", markersize=4))
        names.append("anomaly")
    fig.legend(handles, names, loc="outside right upper", title="label", frameon=False)


# -- ROC -----------------------------------------------------------------------------------
def plot_roc(found: DatasetPictures) -> Figure:
    """One panel per cell, one ROC curve per activation (AUROC in its legend)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    from actcmp.report.plots import new_figure

    fig, axes = new_figure(1, len(found.cells), panel=(3.2, 3.0), legend=0.3)
    for ax, cell in zip(axes[0], found.cells, strict=True):
        ax.plot([0, 1], [0, 1], color="#BBBBBB", linewidth=0.8, linestyle="--")
        for activation, rid in cell.runs.items():
            arrays = found.samples["errors"].get(rid) if rid is not None else None
            if arrays is None:
                ax.plot(
                    [], [], **line_kwargs(activation), label=f"{activation} ({cell.status.get(activation, 'none')})"
                )
                continue
            errors, flags = arrays["errors"].astype(np.float64), arrays["anomaly"].astype(bool)
            keep = np.isfinite(errors)
            if flags[keep].all() or not flags[keep].any():
                continue
            fpr, tpr, _ = roc_curve(flags[keep], errors[keep])
            auroc = roc_auc_score(flags[keep], errors[keep])
            style = line_kwargs(activation)
            ax.plot(
                fpr, tpr, **style, markevery=max(1, len(fpr) // 6), markersize=3, linewidth=1.2,
                label=f"{activation} (AUROC {auroc:.3f})",
            )  # fmt: skip
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.set_title(cell.title)
        ax.legend(loc="lower right", fontsize=6, frameon=False)
    return fig


__all__ = ["MAX_CELLS", "collect", "figure_specs", "plot_latent", "plot_reconstructions", "plot_roc", "two_d"]
