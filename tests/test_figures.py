"""Figures and documents read at a glance: what each figure draws, its ticks and labels, and
the HTML and LaTeX around the tables, on tiny synthetic frames (no store, no training)."""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from actcmp.report import depth_plots, document, plots, render, statistics, tables
from actcmp.store.database import Results

NAMES = ("relu", "leaky_relu", "tanh")


def synthetic(
    *,
    epochs: int = 6,
    probe_every: int = 2,
    dead: dict[str, float] | None = None,
    depths: tuple[int, ...] = (1, 2),
    losses: dict[str, float] | None = None,
    diverged: tuple[str, int, int] | None = None,
) -> Results:
    """Runs of ``NAMES`` x ``depths`` x 2 seeds on one dataset; layer metrics at epochs
    0, ``probe_every``, ... and the last; ``dead``: each activation's dead fraction (0
    when not given), growing over epochs; ``losses``: each activation's test loss."""
    dead = dead or {}
    losses = losses or {"relu": 0.05, "leaky_relu": 0.06, "tanh": 0.1}
    runs, epoch_rows, layer_rows = [], [], []
    for name in NAMES:
        for depth in depths:
            for seed in (0, 1):
                run_id = f"{name}-{depth}-{seed}"
                status = "diverged" if diverged == (name, depth, seed) else "done"
                loss = losses[name] * (1 + 0.1 * seed) if status == "done" else math.nan
                runs.append(
                    {
                        "run_id": run_id,
                        "status": status,
                        "activation": name,
                        "dataset": "digits",
                        "depth": depth,
                        "seed": seed,
                        "loss": "mse",
                        "init": "kaiming",
                        "test_loss": loss,
                        "dead_fraction_init": 0.0,
                        "dead_fraction_final": dead.get(name, 0.0),
                        "saturated_fraction_final": 0.0,
                        "epochs_to_threshold": math.nan,
                    }
                )
                for epoch in range(epochs + 1):
                    value = loss * (1 + 3 * math.exp(-epoch))
                    epoch_rows += [(run_id, epoch, "val_loss", value), (run_id, epoch, "train_loss", value)]
                for epoch in sorted({*range(0, epochs + 1, probe_every), epochs}):
                    for layer in range(2 * depth - 1):
                        fraction = dead.get(name, 0.0) * epoch / epochs
                        layer_rows.append((run_id, epoch, layer, "dead_fraction", fraction))
                    for layer in range(2 * depth):
                        layer_rows.append((run_id, epoch, layer, "grad_norm_weight", 0.1 * (layer + 1)))
    return Results(
        runs=pd.DataFrame(runs),
        epochs=pd.DataFrame(epoch_rows, columns=["run_id", "epoch", "metric", "value"]),
        layers=pd.DataFrame(layer_rows, columns=["run_id", "epoch", "layer", "metric", "value"]),
        planned=pd.DataFrame(columns=["run_id", "activation"]),
        directory=Path("."),
    )


def legend_texts(fig: Figure) -> list[str]:
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


def drawn_labels(fig: Figure) -> set[str]:
    """Colours of the data lines drawn in the panels, as activation names."""
    from actcmp.report.style import activation_style

    by_colour = {activation_style(n)[0].lower(): n for n in NAMES}
    colours = {str(line.get_color()).lower() for ax in fig.axes for line in ax.get_lines()}
    return {by_colour[c] for c in colours if c in by_colour}


def visible_ticks(ax: object, axis: str = "y") -> list[float]:
    low, high = getattr(ax, f"get_{axis}lim")()
    ticks = getattr(ax, f"get_{axis}ticks")()
    return [t for t in ticks if min(low, high) <= t <= max(low, high)]


# -- dead fraction ---------------------------------------------------------------------------
def test_dead_fraction_draws_only_activations_with_dead_units() -> None:
    fig = plots.plot_dead_fraction(synthetic(dead={"relu": 0.3}))
    assert drawn_labels(fig) == {"relu"}
    texts = legend_texts(fig)
    assert texts[0] == "relu"
    assert any(t.replace("\n", " ") == "0 for all others: leaky_relu, tanh" for t in texts)


def test_dead_fraction_with_no_dead_units_says_so() -> None:
    fig = plots.plot_dead_fraction(synthetic())
    words = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("0 for every activation" in w for w in words)
    assert drawn_labels(fig) == set()


@pytest.mark.parametrize(
    ("epochs", "probe_every", "expected"),
    [
        pytest.param(6, 2, [0, 2, 4, 6], id="every-2nd"),
        pytest.param(7, 3, [0, 3, 6, 7], id="last-not-a-multiple"),
        pytest.param(20, 2, list(range(0, 21, 2)), id="eleven-points"),
    ],
)
def test_dead_fraction_ticks_at_the_measured_epochs(epochs: int, probe_every: int, expected: list[int]) -> None:
    fig = plots.plot_dead_fraction(synthetic(epochs=epochs, probe_every=probe_every, dead={"relu": 0.2}))
    for ax in fig.axes:
        assert list(ax.get_xticks()) == expected
        low, high = ax.get_xlim()
        assert expected[0] - 1 < low < expected[0] and expected[-1] < high < expected[-1] + 1


def test_epoch_ticks_thin_long_runs_and_keep_the_last() -> None:
    assert plots.epoch_ticks(range(0, 41, 2)) == [0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40]
    assert plots.epoch_ticks(range(0, 31)) == [0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30]
    assert plots.epoch_ticks(range(0, 26))[-1] == 25 and len(plots.epoch_ticks(range(0, 26))) <= 11
    assert plots.epoch_ticks([]) == []


# -- loss curves ---------------------------------------------------------------------------
def test_loss_curves_end_at_the_last_epoch_and_name_the_loss() -> None:
    fig = plots.plot_loss_curves(synthetic(epochs=20))
    first = fig.axes[0]
    assert first.get_ylabel() == "validation MSE"
    low, high = first.get_xlim()
    assert -1 < low < 0 and 20 < high < 20.5
    assert max(visible_ticks(first, "x")) == 20


def test_loss_curves_draw_the_mean_predictor_loss() -> None:
    """The grey dotted line of predicting the training mean (``baseline_loss``), mean over
    the panel's runs, in every panel and the legend: a curve that ends on or above it did
    not learn; without the column, no line."""
    results = synthetic(epochs=6)
    runs = results.runs.assign(baseline_loss=[0.2 if d == 1 else 0.4 for d in results.runs["depth"]])
    fig = plots.plot_loss_curves(dataclasses.replace(results, runs=runs))
    for ax, level in zip(fig.axes[:2], (0.2, 0.4), strict=True):
        dotted = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
        assert len(dotted) == 1 and list(dotted[0].get_ydata()) == pytest.approx([level, level])
        assert ax.get_ylim()[0] < level < ax.get_ylim()[1]
    assert any("training mean" in text.replace("\n", " ") for text in legend_texts(fig))
    plain = plots.plot_loss_curves(synthetic(epochs=6))
    assert not [line for ax in plain.axes for line in ax.get_lines() if line.get_linestyle() == ":"]
    assert not any("training mean" in text for text in legend_texts(plain))


def test_loss_name_per_row_and_mixed() -> None:
    runs = pd.DataFrame({"dataset": ["a", "a", "b"], "loss": ["mse", "mse", "bce"]})
    assert plots.loss_name(runs, {"dataset": "a"}) == "MSE"
    assert plots.loss_name(runs) == "BCE / MSE"
    assert plots.loss_name(runs.drop(columns="loss")) == "loss"


# -- test loss vs depth ----------------------------------------------------------------------
def test_loss_vs_depth_says_what_the_bars_are() -> None:
    fig = plots.plot_loss_vs_depth(synthetic())
    texts = [t.replace("\n", " ") for t in legend_texts(fig)]
    assert plots.bars_label() in texts
    assert "min–max" in plots.bars_label()
    caption = next(c for stem, _, c, _ in plots.standard_figures() if stem == "test_loss_vs_depth")
    assert plots.LOSS_BARS in caption
    assert fig.axes[0].get_ylabel() == "test MSE"


def test_loss_vs_depth_has_three_ticks_on_a_narrow_log_range() -> None:
    # 0.045-0.062: inside one decade with no decade tick; the old axis showed a single label
    fig = plots.plot_loss_vs_depth(synthetic(losses={"relu": 0.045, "leaky_relu": 0.05, "tanh": 0.056}))
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    fig.canvas.draw()
    labelled = [t for t in ax.get_yticklabels() if t.get_text()]
    low, high = ax.get_ylim()
    assert len([t for t in labelled if low <= t.get_position()[1] <= high]) >= plots.MIN_TICKS


@pytest.mark.parametrize(
    ("low", "high"),
    [(0.04, 0.14), (0.045, 0.062), (0.3, 4.0), (1e-5, 10.0), (0.0991, 0.1003), (2.0, 2.5)],
)
def test_log_ticks_give_at_least_three_in_range(low: float, high: float) -> None:
    ticks = plots.log_ticks(low, high)
    assert len(ticks) >= plots.MIN_TICKS
    assert all(low <= t <= high for t in ticks)
    assert len(ticks) <= 9 and ticks == sorted(set(ticks))


# -- heatmap -------------------------------------------------------------------------------
def test_fraction_heatmap_scales_colour_to_the_data() -> None:
    fig = plots.plot_heatmap(synthetic(dead={"relu": 0.27}), "dead_fraction_final")
    image = fig.axes[0].images[0]
    assert image.norm.vmin == 0 and image.norm.vmax == pytest.approx(0.27)
    bar_labels = [ax.get_ylabel().replace("\n", " ") for ax in fig.axes[1:]]  # broken to fit a short panel
    assert any("0 to 0.27" in label for label in bar_labels)
    cells = [t.get_text() for t in fig.axes[0].texts]
    assert "0.27" in cells and "0" in cells and "0.00" not in cells


def test_loss_heatmap_does_not_stretch_near_equal_losses_over_the_colour_map() -> None:
    # 0.120 and 0.124 (and 0.126): a scale over the panel's own range drew them at opposite
    # ends; the log scale spans at least MIN_SPAN, so they stay within a few percent of it
    fig = plots.plot_heatmap(synthetic(losses={"relu": 0.120, "leaky_relu": 0.124, "tanh": 0.1205}), "test_loss_mean")
    norm = fig.axes[0].images[0].norm
    assert norm.vmin == pytest.approx(0.120 * 1.05)  # the mean over seeds 0 and 1 (x1, x1.1)
    assert norm.vmax / norm.vmin == pytest.approx(depth_plots.MIN_SPAN)
    assert norm(0.124 * 1.05) - norm(0.120 * 1.05) < 0.06
    assert any("at least 2x wide" in ax.get_ylabel() for ax in fig.axes[1:])
    # a panel whose losses span more than MIN_SPAN keeps its own range
    wide = plots.plot_heatmap(synthetic(losses={"relu": 0.01, "leaky_relu": 0.05, "tanh": 0.1}), "test_loss_mean")
    assert wide.axes[0].images[0].norm.vmax == pytest.approx(0.1 * 1.05)


def test_fraction_scale_when_nothing_is_dead() -> None:
    top, label = plots.fraction_scale(pd.Series([0.0, 0.0, math.nan]), "dead fraction")
    assert top == 1.0 and "all 0" in label


# -- activation functions --------------------------------------------------------------------
def test_overlapping_curves_are_dashed_and_zoomed() -> None:
    fig = plots.plot_activation_functions(["relu", "leaky_relu", "tanh"])
    f_ax, d_ax = fig.axes[:2]
    lines = [line for line in f_ax.get_lines() if len(line.get_xdata()) > 2]
    relu, leaky, tanh = lines[:3]
    assert relu.get_linestyle() == "-" and tanh.get_linestyle() == "-"
    assert leaky.get_linestyle() != "-"  # it lies on relu for x > 0
    # markers of relu and leaky_relu sit at different x (not on top of each other)
    assert relu.get_markevery() != leaky.get_markevery()
    # the derivative panel gets a zoom that separates 0 from 0.01
    insets = [child for child in d_ax.child_axes]
    assert len(insets) == 1
    low, high = insets[0].get_ylim()
    assert low < 0 < 0.01 < high < 0.05
    assert not f_ax.child_axes
    # the legend shows the same dashes as the panels
    legend_lines = fig.legends[0].get_lines()
    assert [line.get_linestyle() for line in legend_lines][:2] == [relu.get_linestyle(), leaky.get_linestyle()]


@pytest.mark.parametrize(
    "names",
    [
        ["relu", "leaky_relu", "sigmoid", "tanh", "selu"],
        ["relu", "leaky_relu", "prelu", "elu", "gelu", "silu", "tanh", "sigmoid"],
    ],
    ids=["selu-peak", "default-set"],
)
def test_the_zoom_inset_hides_no_curve(names: list[str]) -> None:
    """No stretch of any f'(x) curve under the inset (SELU's jump to 1.76 at 0- was hidden):
    every curve, densified along its length, stays outside the inset's box."""
    fig = plots.plot_activation_functions(names)
    d_ax = fig.axes[1]
    (inset,) = d_ax.child_axes
    fig.canvas.draw()
    box = inset.get_position().transformed(fig.transFigure).transformed(d_ax.transAxes.inverted())
    for line in d_ax.get_lines():
        xs, ys = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
        if len(xs) < 3:
            continue
        points = d_ax.transAxes.inverted().transform(d_ax.transData.transform(np.column_stack([xs, ys])))
        dense = np.concatenate([np.linspace(a, b, 20) for a, b in itertools.pairwise(points)])
        inside = (dense[:, 0] > box.x0) & (dense[:, 0] < box.x1) & (dense[:, 1] > box.y0) & (dense[:, 1] < box.y1)
        assert not inside.any(), line.get_label()


def test_no_zoom_when_curves_are_far_apart_or_identical() -> None:
    x = np.linspace(-5, 5, 101)
    assert plots.zoom_window(x, [np.zeros_like(x), np.ones_like(x)]) is None
    assert plots.zoom_window(x, [np.zeros_like(x), np.zeros_like(x)]) is None
    window = plots.zoom_window(x, [np.zeros_like(x), np.where(x < 0, 0.01, 1.0)])
    assert window is not None and window[0] == (-5.0, 0.0)
    assert plots.overlapping([x, x + 1e-4, -x]) == [False, True, False]


# -- depth scaling ---------------------------------------------------------------------------
@pytest.mark.parametrize("diverged", [None, ("tanh", 2, 1)], ids=["none-diverged", "one-diverged"])
def test_depth_scaling_legend_mentions_divergence_only_when_it_happened(
    diverged: tuple[str, int, int] | None,
) -> None:
    results = synthetic(diverged=diverged)
    found = statistics.analyse(results)
    fig = statistics.plot_depth(results, found)
    assert ("a seed diverged" in legend_texts(fig)) == (diverged is not None)
    caption = next(c for stem, _, c, _ in statistics.figure_specs(results, found) if stem == "depth_scaling")
    assert ("crosses" in caption) == (diverged is not None)


# -- LaTeX -----------------------------------------------------------------------------------
def _table(rows: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = pd.DataFrame(
        {
            "activation": ["relu", "leaky_relu"] * (rows // 2),
            "p vs best": ["best", "<0.001"] * (rows // 2),
            "test loss": ["0.1 ± 0.01", "0.2 ± 0.02"] * (rows // 2),
        }
    )
    return frame, frame.map(lambda _: False)


def _text_mode(latex: str) -> str:
    """``latex`` without math ($...$), comments and commands' names."""
    no_comments = "\n".join(line for line in latex.splitlines() if not line.startswith("%"))
    return re.sub(r"\$[^$]*\$", "", no_comments)


def test_latex_table_is_a_captioned_float_without_raw_specials() -> None:
    frame, bold = _table(4)
    latex = tables.to_latex(frame, bold, caption="Results: p < 0.05 & 100% of seeds", label="main", notes=["p ≥ 0.05"])
    assert latex.count(r"\begin{table}") == 1 and latex.count(r"\end{table}") == 1
    assert r"\caption{Results: p \textless{} 0.05 \& 100\% of seeds}" in latex
    assert r"\label{tab:main}" in latex
    assert r"\textless{}0.001" in latex
    text = _text_mode(latex)
    assert "<" not in text and ">" not in text and "≥" not in text and "±" not in text
    assert r"\toprule" in latex and r"\bottomrule" in latex


def test_long_latex_table_breaks_across_pages() -> None:
    frame, bold = _table(2 * tables.LATEX_LONG)
    latex = tables.to_latex(frame, bold, caption="Long", label="main")
    assert r"\begin{longtable}" in latex and r"\endhead" in latex and r"\begin{table}" not in latex
    assert r"\caption{Long}\label{tab:main} \\" in latex


def test_written_tex_of_every_table_has_a_caption(tmp_path: Path) -> None:
    results = synthetic(dead={"relu": 0.1})
    for table in tables.build_tables(results):
        (path,) = [p for p in tables.write_table(table, tmp_path) if p.suffix == ".tex"]
        latex = path.read_text()
        assert r"\caption{" in latex and f"\\label{{tab:{table.name}}}" in latex
        assert "<" not in _text_mode(latex)


# -- HTML ------------------------------------------------------------------------------------
def test_html_figure_is_not_shrunk_below_legibility_and_links_the_file() -> None:
    fig = plots.new_figure(1, 4)[0]
    png = plots.png_bytes(fig, plots.SAVE_DPI)
    assert render.png_dpi(png) == pytest.approx(plots.SAVE_DPI, abs=0.1)
    markup = render.figure_html(png, "wide", "caption", href="figures/wide.png")
    width = int(re.search(r'width="(\d+)"', markup).group(1))  # type: ignore[union-attr]
    assert width == round(fig.get_figwidth() * 100)
    minimum = int(re.search(r"min-width: (\d+)px", markup).group(1))  # type: ignore[union-attr]
    assert minimum == round(width * render.MIN_SCALE)
    assert '<a href="figures/wide.png"' in markup and 'class="frame"' in markup


def test_html_tables_fit_or_scroll_with_their_first_column() -> None:
    assert "position: sticky" in document.CSS and "div.wide { overflow: auto" in document.CSS
    assert re.search(r"body \{[^}]*max-width: 96rem", document.CSS)
