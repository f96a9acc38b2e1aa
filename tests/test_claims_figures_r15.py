"""Review round 15 of the claims figures:

1. claim 4's figure keeps the init rules apart, as its verdict map does (the runs pooled over
   both rules drew a median of two populations, e.g. -4.7 for ReLU at depth 16 where the He
   seeds lie near 0 and the torch-default ones below -9); a seed whose first-layer gradient
   underflowed to exactly 0 is still drawn (a triangle on the floor, counted k/n);
2. claim 7's figure draws points (the mean over seeds with its Student t 95% interval, and
   every seed) on its log axis, not bars whose length a log axis makes meaningless.

Every expected number is computed here from the fabricated values, not by the code under test."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from fake_results import gradient_cell
from matplotlib.collections import PathCollection
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from actcmp.analysis import stats
from actcmp.claims import figures
from actcmp.report.style import activation_style

# log10 r per seed: He ("auto") keeps the ratio near 0, torch-default loses 9 to 12 orders
AUTO = {4: [0.3, 0.5, 0.8, 1.2, 1.6], 8: [0.2, 0.4, 0.4, 0.6, 0.9]}
TORCH = {4: [-3.0, -3.5, -4.0, -4.2, -5.0], 8: [-9.8, -10.5, -11.0, -12.0, -12.4]}


def _two_inits(torch_sigmoid_zero: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """ReLU and sigmoid at depths 4 and 8 under init auto and torch-default; under torch-default
    at depth 8 the first ``torch_sigmoid_zero`` sigmoid seeds underflowed (first-layer norm 0)."""
    runs, layers = [], []
    for depth in (4, 8):
        for init, logs in (("auto", AUTO), ("torch-default", TORCH)):
            sigmoid = [10.0 ** (v - 2.0) for v in logs[depth]]
            if init == "torch-default" and depth == 8:
                sigmoid[:torch_sigmoid_zero] = [0.0] * torch_sigmoid_zero
            cell_runs, cell_layers = gradient_cell(
                {"relu": [10.0**v for v in logs[depth]], "sigmoid": sigmoid}, depth=depth, init=init
            )
            runs.append(cell_runs)
            layers.append(cell_layers)
    return pd.concat(runs, ignore_index=True), pd.concat(layers, ignore_index=True)


def _left_panels(fig) -> dict[str, object]:
    """The ratio-by-depth panels, by the init rule their title names."""
    panels = {}
    for ax in fig.axes:
        title = ax.get_title()
        if "ratio by depth" in title:
            rule = title.split(":")[0].removeprefix("init ").strip()
            panels[rule] = ax
    return panels


def _median_line(ax, name: str) -> Line2D:
    colour, marker = activation_style(name)
    lines = [
        line
        for line in ax.get_lines()
        if line.get_marker() == marker and line.get_color() == colour and line.get_linestyle() == "-"
    ]
    assert len(lines) == 1, [line.get_label() for line in ax.get_lines()]
    return lines[0]


# -- 1. claim 4 --------------------------------------------------------------------------------------
def test_vanishing_figure_draws_each_init_rule_in_its_own_panel_with_its_own_median() -> None:
    runs, layers = _two_inits()
    fig = figures.plot_vanishing(runs, layers)
    panels = _left_panels(fig)
    assert set(panels) == {"auto", "torch-default"}
    for rule, logs in (("auto", AUTO), ("torch-default", TORCH)):
        line = _median_line(panels[rule], "relu")
        drawn = dict(zip(line.get_xdata(), line.get_ydata(), strict=True))
        for depth, values in logs.items():
            assert drawn[depth] == pytest.approx(float(np.median(values)))
    # the pooled median (what the figure drew before) is in neither panel
    pooled = float(np.median(AUTO[8] + TORCH[8]))
    for ax in panels.values():
        assert all(abs(y - pooled) > 0.5 for y in _median_line(ax, "relu").get_ydata())
    # both rows on one y scale, so that the rules can be compared by eye
    assert panels["auto"].get_ylim() == panels["torch-default"].get_ylim()


def test_vanishing_figure_band_is_each_rules_own_min_max() -> None:
    runs, layers = _two_inits()
    fig = figures.plot_vanishing(runs, layers)
    for rule, logs in (("auto", AUTO), ("torch-default", TORCH)):
        ax = _left_panels(fig)[rule]
        colour = activation_style("relu")[0]
        bands = [c for c in ax.collections if np.allclose(c.get_facecolor()[0][:3], _rgb(colour))]
        assert len(bands) == 1
        ys = np.concatenate([p.vertices[:, 1] for p in bands[0].get_paths()])
        assert ys.min() == pytest.approx(min(logs[4] + logs[8]))
        assert ys.max() == pytest.approx(max(logs[4] + logs[8]))


def _rgb(colour: str) -> tuple[float, float, float]:
    from matplotlib.colors import to_rgb

    return to_rgb(colour)


def test_vanishing_figure_shows_underflowed_seeds_in_their_rules_panel_only() -> None:
    """Three of five torch-default sigmoid seeds at depth 8 underflowed: three triangles and
    "3/5" on that panel's floor, the median (-inf) drawn at the floor, and none on the auto panel."""
    runs, layers = _two_inits(torch_sigmoid_zero=3)
    fig = figures.plot_vanishing(runs, layers)
    panels = _left_panels(fig)
    torch_ax, auto_ax = panels["torch-default"], panels["auto"]
    triangles = [line for line in torch_ax.get_lines() if line.get_marker() == "v"]
    assert len(triangles) == 1 and len(triangles[0].get_xdata()) == 3
    floor = float(triangles[0].get_ydata()[0])
    finite = [v - 2.0 for logs in (AUTO, TORCH) for values in logs.values() for v in values]
    assert floor < min(finite) and torch_ax.get_ylim()[0] < floor
    assert any(t.get_text() == "3/5" for t in torch_ax.texts)
    assert any("underflow" in t.get_text() for t in torch_ax.texts)
    sigmoid = dict(zip(*_median_line(torch_ax, "sigmoid").get_data(), strict=True))
    assert sigmoid[8] == pytest.approx(floor)  # the median of 3 zeros in 5 is -inf: on the floor
    assert not [line for line in auto_ax.get_lines() if line.get_marker() == "v"]
    assert not any("underflow" in t.get_text() for t in auto_ax.texts)


def test_vanishing_figure_per_layer_panels_are_each_rules_median() -> None:
    runs, layers = _two_inits()
    fig = figures.plot_vanishing(runs, layers)
    right = {ax.get_title().split(":")[0].removeprefix("init "): ax for ax in fig.axes if "per layer" in ax.get_title()}
    assert set(right) == {"auto", "torch-default"}
    for rule, logs in (("auto", AUTO), ("torch-default", TORCH)):
        line = _median_line(right[rule], "relu")
        drawn = dict(zip(line.get_xdata(), line.get_ydata(), strict=True))
        assert drawn[0] == pytest.approx(float(np.median([10.0**v for v in logs[8]])))  # deepest network
        assert drawn[15] == pytest.approx(1.0)


def test_vanishing_figure_with_one_rule_has_one_row() -> None:
    runs, layers = gradient_cell({"relu": [1.0, 2.0, 3.0], "tanh": [0.1, 0.2, 0.3]}, depth=4, init="torch-default")
    fig = figures.plot_vanishing(runs, layers)
    assert list(_left_panels(fig)) == ["torch-default"]
    assert len(fig.axes) == 2


# -- 2. claim 7 --------------------------------------------------------------------------------------
MSE = {"softmax": 3e-4, "sigmoid": 2e-3, "identity": 8e-4}


def _outputs() -> pd.DataFrame:
    rng = np.random.default_rng(15)
    rows = []
    for depth in (1, 2):
        for hidden in ("relu", "tanh"):
            for output, level in MSE.items():
                for seed in range(5):
                    rows.append(
                        {
                            "run_id": f"{depth}-{hidden}-{output}-{seed}",
                            "status": "done",
                            "dataset": "distributions",
                            "loss": "mse",
                            "epochs": 10,
                            "depth": depth,
                            "activation": hidden,
                            "output_activation": output,
                            "seed": seed,
                            "test_loss": level * depth * math.exp(0.3 * rng.standard_normal()),
                            "test_mse": level * depth * math.exp(0.3 * rng.standard_normal()),
                        }
                    )
    return pd.DataFrame(rows)


def test_softmax_figure_has_no_bars_on_its_log_axis() -> None:
    fig = figures.plot_softmax(_outputs())
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert not [p for p in ax.patches if isinstance(p, Rectangle)]
    assert not ax.containers  # ax.bar's BarContainer


def test_softmax_figure_points_are_the_tables_means_intervals_and_seeds() -> None:
    runs = _outputs()
    fig = figures.plot_softmax(runs)
    ax = fig.axes[0]
    for output in MSE:
        colour, marker = activation_style(output)
        means = sorted(
            float(line.get_ydata()[0])
            for line in ax.get_lines()
            if line.get_marker() == marker and line.get_color() == colour and len(line.get_xdata()) == 1
        )
        # the statistic of the claim's table: the mean over seeds of test MSE, per condition
        expected = sorted(
            float(np.mean(group["test_mse"]))
            for _, group in runs[runs["output_activation"] == output].groupby(["depth", "activation"])
        )
        assert means == pytest.approx(expected)
        # the interval: from the t interval's lower to its upper end
        intervals = sorted(
            tuple(line.get_ydata())
            for line in ax.get_lines()
            if line.get_color() == colour and len(line.get_xdata()) == 2 and line.get_xdata()[0] == line.get_xdata()[1]
        )
        wanted = []
        for _, group in runs[runs["output_activation"] == output].groupby(["depth", "activation"]):
            values = group["test_mse"].to_numpy(float)
            half = stats_t(len(values)) * values.std(ddof=1) / math.sqrt(len(values))
            wanted.append((values.mean() - half, values.mean() + half))
        assert [pytest.approx(w) for w in sorted(wanted)] == intervals
        # every seed drawn
        dots = [
            y
            for c in ax.collections
            if isinstance(c, PathCollection) and np.allclose(c.get_facecolor()[0][:3], _rgb(colour))
            for y in c.get_offsets()[:, 1]
        ]
        assert sorted(dots) == pytest.approx(sorted(runs.loc[runs["output_activation"] == output, "test_mse"]))


def stats_t(n: int) -> float:
    from scipy import stats as sps

    return float(sps.t.ppf(0.975, n - 1))


def test_softmax_figure_cuts_an_interval_that_reaches_zero_and_says_so() -> None:
    runs = _outputs()
    noisy = (runs["output_activation"] == "identity") & (runs["depth"] == 1) & (runs["activation"] == "relu")
    runs.loc[noisy, "test_mse"] = [1e-5, 1e-5, 1e-5, 1e-5, 5e-2]  # mean - t * se < 0
    summary = stats.summarise(runs, "test_mse", treatment="output_activation")
    assert summary["ci_low"].min() <= 0
    fig = figures.plot_softmax(runs)
    ax = fig.axes[0]
    low = ax.get_ylim()[0]
    assert low > 0
    drawn = [line for line in ax.get_lines() if line.get_transform() == ax.transData]  # not the cell separators
    assert all(y >= low for line in drawn for y in line.get_ydata())
    assert any(line.get_marker() == "v" for line in ax.get_lines())
    assert any("reaches 0" in t.get_text() for t in fig.legends[0].get_texts())
