"""Report package: tables, figures and documents from a small fabricated results store."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from actcmp.analysis import stats
from actcmp.engine.plain import RunResult
from actcmp.errors import StoreError
from actcmp.report import document, make_report, plots, render, statistics, style, tables
from actcmp.store.database import Results, Store, load_results

ACTIVATIONS = ("relu", "tanh", "sigmoid")
DATASETS = ("blobs", "digits")  # digits has labels (probe accuracy), blobs has none
DEPTHS = (1, 2)
SEEDS = (0, 1)
QUALITY = {"relu": 0.010, "tanh": 0.020, "sigmoid": 0.040}  # lower is better: relu wins every cell
INIT = {"relu": "kaiming", "tanh": "xavier", "sigmoid": "xavier"}
DIVERGED = ("tanh", "blobs", 2, 1)
FAILED = ("sigmoid", "digits", 1, 1)
EPOCHS = 4
TABLE_NAMES = ("main", "ranks", "depth_scaling", "status", "init")
FIGURE_STEMS = (
    "loss_curves",
    "dead_fraction",
    "test_loss_vs_depth",
    "heatmap_test_loss",
    "heatmap_dead_fraction",
    "grad_norm_by_layer",
    "postact_std_by_layer",
    "zero_fraction_by_layer",
    "activation_functions",
    "critical_difference",
    "depth_scaling",
)


def fabricate(
    activation: str,
    dataset: str,
    depth: int,
    seed: int,
    *,
    final_loss: float | None = None,
    diverged: bool | None = None,
) -> RunResult:
    """A deterministic fake run with every metric the engine records (``final_loss`` and
    ``diverged`` override the grid's built-in pattern)."""
    key = (activation, dataset, depth, seed)
    config = {
        "activation": activation,
        "dataset": dataset,
        "depth": depth,
        "seed": seed,
        "width": 16,
        "bottleneck": 4,
        "init": INIT.get(activation, "kaiming"),
        "lr": 0.001,
        "epochs": EPOCHS,
        "loss": "mse",
        "output_activation": "identity" if dataset == "blobs" else "sigmoid",
    }
    run_id = f"{activation}-{dataset}-{depth}-{seed}"
    if key == FAILED:
        return RunResult(run_id, config, "failed", {}, error="RuntimeError: boom")
    if final_loss is None:
        final_loss = QUALITY[activation] * (1 + 0.2 * depth) * (1 + 0.05 * seed) * (2 if dataset == "digits" else 1)
    diverged = key == DIVERGED if diverged is None else diverged
    last = 2 if diverged else EPOCHS
    epochs, layers = [], []
    for epoch in range(last + 1):
        loss = final_loss * (1 + 4 * math.exp(-epoch))
        value = math.nan if diverged and epoch == last else loss
        epochs += [(epoch, "train_loss", value * 0.9), (epoch, "val_loss", value)]
        for layer in range(2 * depth - 1):
            dead = 0.1 * epoch / EPOCHS if activation == "relu" else 0.0
            layers += [
                (epoch, layer, "dead_fraction", dead),
                (epoch, layer, "saturated_fraction", 0.05 * layer),
                (epoch, layer, "zero_fraction", dead),
                (epoch, layer, "preact_mean", 0.0),
                (epoch, layer, "preact_std", 1.0),
                (epoch, layer, "died_fraction", 0.0),
                (epoch, layer, "revived_fraction", 0.0),
            ]
        shrink = 0.3 if activation == "sigmoid" else 0.8
        for layer in range(2 * depth):
            grad = (1 + epoch) * shrink ** (2 * depth - 1 - layer)
            layers += [(epoch, layer, "grad_norm_weight", grad), (epoch, layer, "grad_norm_bias", grad / 10)]
    final = {
        "final_train_loss": None if diverged else final_loss * 0.9,
        "final_val_loss": None if diverged else final_loss,
        "test_loss": None if diverged else final_loss,
        "baseline_loss": 0.5,
        "loss_threshold": 0.25,
        "epochs_to_threshold": 1.0 + (activation != "relu"),
        "diverged": float(diverged),
        "diverged_epoch": float(last) if diverged else None,
        "epochs_run": float(last),
        "n_params": 100.0 * depth,
        "probe_accuracy": (0.8 + 0.01 * seed) if dataset == "digits" and not diverged else None,
        "anomaly_auroc": None,
        "dead_fraction_init": 0.0,
        "dead_fraction_final": 0.1 if activation == "relu" else 0.0,
        "saturated_fraction_init": 0.0,
        "saturated_fraction_final": 0.05,
    }
    return RunResult(run_id, config, "diverged" if diverged else "done", final, epochs, layers, wall_time_s=1.5)


@pytest.fixture(scope="session")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("results")
    with Store(directory) as store:
        for activation in ACTIVATIONS:
            for dataset in DATASETS:
                for depth in DEPTHS:
                    for seed in SEEDS:
                        store.write_run(fabricate(activation, dataset, depth, seed))
    return directory


@pytest.fixture(scope="session")
def report(store_dir: Path) -> tuple[Path, list[Path]]:
    return store_dir, make_report(store_dir)


@pytest.fixture(scope="session")
def results(store_dir: Path) -> Results:
    return load_results(store_dir)


def test_every_table_and_figure_is_written(report: tuple[Path, list[Path]]) -> None:
    directory, paths = report
    expected = [directory / "tables" / f"{n}.{e}" for n in TABLE_NAMES for e in ("csv", "md", "tex")]
    expected += [directory / "figures" / f"{s}.{e}" for s in FIGURE_STEMS for e in ("png", "pdf")]
    expected += [directory / "report.md", directory / "report.html", directory / "setup.json"]
    for path in expected:
        assert path.is_file() and path.stat().st_size > 0, path
    assert set(expected) == set(paths)


def test_best_activation_is_bold_in_markdown(report: tuple[Path, list[Path]]) -> None:
    directory, _ = report
    lines = (directory / "tables" / "main.md").read_text().splitlines()
    rows = [line for line in lines[2:] if line.startswith("| ")]
    assert len(rows) == len(ACTIVATIONS) * len(DATASETS) * len(DEPTHS)
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        # tanh diverged on one of the 2 seeds at blobs depth 2: a diverged seed is a rank in an
        # exact signed-rank test, which 2 seeds cannot separate (p = 0.5): not separable, bold
        untested = (cells[0], cells[1], cells[2]) == ("blobs", "2", "tanh")
        assert (cells[2] == "relu" or untested) == cells[3].startswith("**"), row
    tex = (directory / "tables" / "main.tex").read_text()
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"\textbf{" in tex


def test_main_table_counts_diverged_and_omits_missing_metrics(results: Results) -> None:
    main = tables.main_table(results)
    cell = main[(main["activation"] == "tanh") & (main["dataset"] == "blobs") & (main["depth"] == 2)].iloc[0]
    assert cell["diverged"] == 1 and cell["converged"] == 1 and math.isnan(cell["test_loss_std"])
    assert "probe_accuracy_mean" in main and "anomaly_auroc_mean" not in main
    unlabelled = replace(results, runs=results.runs.assign(probe_accuracy=math.nan))
    assert "probe_accuracy_mean" not in tables.main_table(unlabelled)
    ranks = tables.rank_table(main)
    assert ranks["activation"].tolist() == ["relu", "tanh", "sigmoid"] and ranks["mean_rank"].iloc[0] == 1.0
    status = tables.status_table(results).set_index("activation")
    assert status.loc["all", ["done", "diverged", "failed"]].tolist() == [22, 1, 1]


def test_regenerating_gives_identical_tables(report: tuple[Path, list[Path]], tmp_path: Path) -> None:
    # the table half of make_report, run again from a fresh read of the same store
    directory, _ = report
    for table in tables.build_tables(load_results(directory)):
        tables.write_table(table, tmp_path)
    before = {p.name: p.read_bytes() for p in (directory / "tables").iterdir()}
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_html_embeds_images_and_every_table(report: tuple[Path, list[Path]]) -> None:
    directory, _ = report
    page = (directory / "report.html").read_text()
    assert page.count("data:image/png;base64,") == len(FIGURE_STEMS)
    for table in tables.build_tables(load_results(directory)):
        assert tables.to_html(table.display, table.bold) in page
    markdown = (directory / "report.md").read_text()
    assert f"actcmp report {directory}" in markdown and "kaiming" in markdown


def test_style_is_deterministic_and_distinct() -> None:
    from actcmp.core.activations import REGISTRY

    hidden = [name for name, info in REGISTRY.items() if info.hidden_ok]
    styles = [style.activation_style(name) for name in hidden]
    assert len({c for c, _ in styles}) == len(hidden) and len({m for _, m in styles}) == len(hidden)
    assert style.activation_order(reversed(hidden)) == hidden
    variant = style.activation_style("leaky_relu(negative_slope=0.2)")
    assert variant == style.activation_style("leaky_relu(negative_slope=0.2)")
    assert (
        variant[1] == style.activation_style("leaky_relu")[1] and variant[0] != style.activation_style("leaky_relu")[0]
    )
    assert style.activation_linestyle("leaky_relu(negative_slope=0.2)") != "-"
    assert style.activation_style("my.module:fn") == style.activation_style("my.module:fn")


def _subset(results: Results, **where: object) -> Results:
    runs = results.runs
    for key, value in where.items():
        runs = runs[runs[key] == value]
    return replace(results, runs=runs.reset_index(drop=True))


@pytest.mark.parametrize(
    "where",
    [
        pytest.param({"activation": "relu"}, id="one-activation"),
        pytest.param({"depth": 2}, id="one-depth"),
        pytest.param({"seed": 0}, id="one-seed"),
        pytest.param({"activation": "tanh", "dataset": "digits", "depth": 1, "seed": 0}, id="one-run"),
        pytest.param({"status": "failed"}, id="only-failed"),
    ],
)
def test_plots_handle_small_grids(results: Results, where: dict[str, object]) -> None:
    subset = _subset(results, **where)
    for _, _, _, draw in plots.standard_figures():
        assert draw(subset).axes


def test_plots_handle_an_all_diverged_cell(results: Results) -> None:
    runs = results.runs.copy()
    cell = (runs["activation"] == "sigmoid") & (runs["dataset"] == "blobs") & (runs["depth"] == 1)
    runs.loc[cell, "status"] = "diverged"
    runs.loc[cell, "test_loss"] = math.nan
    lost = replace(results, runs=runs)
    main = tables.main_table(lost)
    row = main[(main["activation"] == "sigmoid") & (main["dataset"] == "blobs") & (main["depth"] == 1)].iloc[0]
    assert math.isnan(row["test_loss_mean"]) and not row["best"]
    for _, _, _, draw in plots.standard_figures():
        assert draw(lost).axes
    _, all_diverged = tables.heatmap_matrix(main, {"dataset": "blobs"}, "test_loss_mean")
    assert bool(all_diverged.loc["sigmoid", 1]) and not bool(all_diverged.loc["relu", 1])


def test_plot_activation_functions_has_two_panels() -> None:
    fig = plots.plot_activation_functions(["relu", "leaky_relu(negative_slope=0.2)", "sigmoid", "tanh"])
    assert len(fig.axes) == 2


def test_formatting() -> None:
    assert tables.fmt_mean_std(0.0123, 0.00041) == "0.0123 ± 0.0004"
    assert tables.fmt_mean_std(0.162, 0.0003) == "0.1620 ± 0.0003"
    assert tables.fmt_mean_std(0.5, math.nan) == "0.500"
    assert tables.fmt_mean_std(math.nan, math.nan) == "–"
    assert tables.latex_escape("leaky_relu ± 1") == r"leaky\_relu $\pm$ 1"
    frame = pd.DataFrame({"a": ["x|y"], "b": ["1"]})
    assert "x\\|y" in tables.to_markdown(frame, frame.map(lambda _: False))


def test_cells_include_independently_varied_fields(results: Results) -> None:
    runs = results.runs
    assert tables.cell_keys(runs) == ["dataset", "depth"]  # init follows the activation, loss the dataset
    doubled = pd.concat([runs, runs.assign(lr=0.01, run_id=runs["run_id"] + "-lr")], ignore_index=True)
    assert tables.cell_keys(doubled) == ["dataset", "depth", "lr"]
    assert tables.label(["dataset", "lr", "depth"], ("digits", 0.01, 4)) == "digits · lr=0.01 · depth 4"


def test_empty_store_writes_nothing_and_says_why(tmp_path: Path) -> None:
    Store(tmp_path).close()
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(StoreError, match=r"no finished runs to report \(0 planned, 0 failed\); run 'actcmp run"):
        make_report(tmp_path, formats=("png",))
    assert sorted(tmp_path.rglob("*")) == before  # no tables/, figures/ or report


def test_only_failed_runs_fail_the_command_in_one_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from actcmp.cli import app

    planned = [fabricate(*FAILED), fabricate("relu", *FAILED[1:])]  # one failed, one never ran
    with Store(tmp_path) as store:
        store.save_sweep("s", "fake", {"grid": {}}, [{**r.config, "run_id": r.run_id} for r in planned])
        store.write_run(planned[0])
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        f"actcmp: error: {tmp_path}: no finished runs to report (2 planned, 1 failed); "
        f"see 'actcmp status {tmp_path}' for why they failed"
    ]
    assert not (tmp_path / "report.md").exists() and not (tmp_path / "figures").exists()


@pytest.mark.slow
def test_single_seed_cells_from_a_real_sweep(tmp_path: Path) -> None:
    """A one-seed sweep (every shard of a sharded sweep looks like this) reports cleanly."""
    from actcmp.config import apply_overrides, load_sweep
    from actcmp.run.sweep import run_sweep

    repo = Path(__file__).resolve().parent.parent
    sweep = apply_overrides(load_sweep(repo / "experiments" / "smoke.toml"), grid={"seed": [0], "depth": [1]})
    run_sweep(sweep, tmp_path / "one")
    stale = [
        tmp_path / "one" / "figures" / name
        for name in ("critical_difference.png", "depth_scaling.svg", "test_loss_vs_depth.png")
    ]
    for path in stale:  # left by an earlier report of a bigger grid
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"old")
    paths = make_report(tmp_path / "one", formats=("png",))
    assert (tmp_path / "one" / "tables" / "main.md") in paths
    assert "probe acc." in (tmp_path / "one" / "tables" / "main.md").read_text()
    # 2 activations, 1 cell, 1 depth, 1 seed: sentences in place of tests and figures
    markdown = (tmp_path / "one" / "report.md").read_text()
    for text in ("No Friedman test", "No depth scaling", "One seed per cell"):
        assert text in markdown, text
    # no figure where the text says none applies, and no stale one from an earlier report
    for stem in statistics.FIGURE_STEMS:
        assert f"{stem}." not in markdown and not list((tmp_path / "one" / "figures").glob(f"{stem}.*")), stem
    assert not any(p.parent.name == "figures" and p.stem in statistics.FIGURE_STEMS for p in paths)
    assert not list((tmp_path / "one" / "figures").glob("test_loss_vs_depth.*"))  # one depth: no line to draw
    # the standard figures less the three that do not apply (one depth), plus the digits pictures from
    # the runs' stored samples (reconstruction grid and latent space; digits has no anomalies, so no ROC)
    html = (tmp_path / "one" / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(FIGURE_STEMS) - 3 + 2
    assert "Reconstructions: digits" in html and "Latent space: digits" in html


# -- statistics: ties with the best, Friedman / CD, depth scaling -----------------------
TIE_SEEDS = (0, 1, 2)
ELU_NOISE = (0.03, -0.02, 0.01)  # elu: within seed noise of relu (tied)
SIGMOID_SHIFT = (0.50, 0.49, 0.51)  # sigmoid: 50% worse on every seed (significantly worse)
ELU_DIVERGES = ("blobs", 2, 2)  # ... except where one elu seed diverges: never tied


@pytest.fixture(scope="module")
def tie_results(tmp_path_factory: pytest.TempPathFactory) -> Results:
    directory = tmp_path_factory.mktemp("ties")
    with Store(directory) as store:
        for depth in DEPTHS:
            for seed in TIE_SEEDS:
                relu = 0.01 * (1 + 0.2 * depth) * (1 + 0.1 * seed)
                losses = {
                    "relu": relu,
                    "elu": relu * (1 + ELU_NOISE[seed]),
                    "sigmoid": relu * (1 + SIGMOID_SHIFT[seed]),
                }
                for activation, loss in losses.items():
                    lost = ("blobs", depth, seed) == ELU_DIVERGES and activation == "elu"
                    store.write_run(fabricate(activation, "blobs", depth, seed, final_loss=loss, diverged=lost))
    return load_results(directory)


def test_activations_tied_with_the_best_are_bold(tie_results: Results, tmp_path: Path) -> None:
    main = tables.main_table(tie_results).set_index(["depth", "activation"])
    assert main.loc[(1, "relu"), "best"] and main.loc[(1, "relu"), "tied_with_best"] is True
    assert main.loc[(1, "elu"), "tied_with_best"] is True and main.loc[(1, "elu"), "p_vs_best"] >= 0.05
    assert main.loc[(1, "sigmoid"), "tied_with_best"] is False and main.loc[(1, "sigmoid"), "p_vs_best"] < 0.05
    assert main.loc[(1, "sigmoid"), "effect_size_dz"] > 1
    # a diverged seed where relu converged, 2 seeds left: a rank in an exact signed-rank test,
    # which 3 seeds cannot separate (floor p = 0.25): not separable, not a verdict of "worse"
    assert main.loc[(2, "elu"), "tied_with_best"] is True and main.loc[(2, "elu"), "p_vs_best"] >= 0.25
    # Holm over every pair of the cell's three activations (three paired t-tests), not over the
    # two comparisons with the best alone: the best is picked from the same data
    from scipy.stats import ttest_rel

    runs = tie_results.runs[tie_results.runs["depth"] == 1].sort_values("seed")
    loss = {name: runs.loc[runs["activation"] == name, "test_loss"].to_numpy() for name in ("relu", "elu", "sigmoid")}
    p_elu, p_sigmoid = main.loc[(1, "elu"), "p_vs_best"], main.loc[(1, "sigmoid"), "p_vs_best"]
    loss = {name: np.log(values) for name, values in loss.items()}  # positive losses: paired log ratios
    assert p_elu == pytest.approx(ttest_rel(loss["elu"], loss["relu"]).pvalue)
    assert p_sigmoid == pytest.approx(ttest_rel(loss["sigmoid"], loss["relu"]).pvalue)
    family = {"elu": p_elu, "sigmoid": p_sigmoid, "elu-sigmoid": ttest_rel(loss["elu"], loss["sigmoid"]).pvalue}
    adjusted = dict(zip(family, stats.holm(list(family.values())), strict=True))
    assert main.loc[(1, "sigmoid"), "p_vs_best_holm"] == pytest.approx(adjusted["sigmoid"])
    assert main.loc[(1, "elu"), "p_vs_best_holm"] == pytest.approx(adjusted["elu"])
    assert main.loc[(1, "sigmoid"), "p_vs_best_holm"] == pytest.approx(3 * p_sigmoid)  # the smallest of three
    # Student t interval: mean +- t(0.975, n-1) s / sqrt(n), also with 2 seeds (elu at depth 2)
    assert (main["test_loss_ci_low"] < main["test_loss_mean"]).all()
    assert (main["test_loss_mean"] < main["test_loss_ci_high"]).all()
    row = main.loc[(2, "elu")]
    half = 12.706204736 * row["test_loss_std"] / math.sqrt(2)
    assert row["test_loss_ci_high"] == pytest.approx(row["test_loss_mean"] + half, rel=1e-8)

    table = next(t for t in tables.build_tables(tie_results) if t.name == "main")
    bold = dict(zip(table.display["activation"] + "@" + table.display["depth"], table.bold["test loss*"], strict=True))
    assert bold == {
        "relu@1": True,
        "elu@1": True,
        "sigmoid@1": False,
        "relu@2": True,
        "elu@2": True,
        "sigmoid@2": False,
    }
    shown = table.display.set_index(["depth", "activation"])["p vs best (Holm)"]
    assert shown[("1", "relu")] == "best" and shown[("2", "elu")] == "1.00"  # its diverged seed ranked worst
    assert "–" not in table.display["95% CI (t)"][table.display["activation"] == "relu"].tolist()
    assert any("not separable from the best after Holm" in n for n in table.notes)
    assert any("Student t interval" in n for n in table.notes)
    assert any("With 3 seeds a paired t-test detects" in n and "3.26" in n and "α/3" in n for n in table.notes)

    tables.write_table(table, tmp_path)
    header = (tmp_path / "main.csv").read_text().splitlines()[0].split(",")
    for column in tables.STAT_COLUMNS:
        assert column in header
    markdown = (tmp_path / "main.md").read_text()
    assert "test loss\\*" in markdown and "\\* bold = the best, or not separable from the best after Holm" in markdown


def test_report_has_friedman_cd_and_depth_scaling(report: tuple[Path, list[Path]]) -> None:
    directory, _ = report
    markdown = (directory / "report.md").read_text()
    section = markdown.split("## Statistics across cells", 1)[1].split("\n## ", 1)[0]
    for text in ("Friedman test over 4 cells and 3 activations", "χ² =", "Kendall's W =", "critical difference"):
        assert text in section, text
    assert "figures/critical_difference.png" in section and "figures/depth_scaling.png" in section
    # the 4 cells share 2 datasets: the text and the diagram's caption say the CD over cells is
    # optimistic, and the test over 2 datasets of 3 activations cannot reject (its floor is said)
    assert "The 4 cells share 2 datasets, so they are not independent blocks" in section
    assert "this test cannot reach p &lt; 0.05" in section and "no verdict either way" in section
    # the diagram draws the test over the 2 datasets (the one that decides); the one over cells is a remark
    assert "mean rank of test loss over the 2 datasets as blocks" in section
    assert "Over the 4 cells as blocks (optimistic: cells of one dataset share its data" in section
    assert "### Mean rank per activation" in section and "### Depth scaling" in section
    depth = pd.read_csv(directory / "tables" / "depth_scaling.csv").set_index(["dataset", "activation"])
    assert (depth["factor"] == 1.5).all() and depth.loc[("blobs", "relu"), "deepest_trained"] == 2
    assert depth.loc[("blobs", "tanh"), "deepest_trained"] == 1  # a seed diverged at depth 2
    assert "1.5×" in (directory / "report.html").read_text()
    # the rank table uses the Friedman test's ranks: a diverged seed ranks last in its cell
    ranks = pd.read_csv(directory / "tables" / "ranks.csv").set_index("activation")["mean_rank"]
    assert ranks.to_dict() == {"relu": 1.0, "tanh": 2.25, "sigmoid": 2.75}
    assert statistics.analyse(load_results(directory)).friedman.mean_ranks == pytest.approx(ranks.to_dict())


def _where(results: Results, **where: object) -> Results:
    runs = results.runs
    for key, value in where.items():
        runs = runs[runs[key].isin(value if isinstance(value, tuple) else (value,))]
    return replace(results, runs=runs.reset_index(drop=True))


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        pytest.param({"activation": ("relu", "tanh")}, "at least 3 activations (got 2)", id="two-activations"),
        pytest.param({"dataset": "blobs", "depth": 1}, "at least 2 complete cells (got 1)", id="one-cell"),
        pytest.param({"depth": 2}, "No depth scaling", id="one-depth"),
        pytest.param({"seed": 0}, "Friedman test over 4 cells", id="one-seed"),
        pytest.param({"activation": "relu"}, "No Friedman test", id="one-activation"),
        pytest.param({"status": "failed"}, "No Friedman test", id="only-failed"),
    ],
)
def test_statistics_section_handles_small_grids(results: Results, where: dict[str, object], expected: str) -> None:
    subset = _where(results, **where)
    built = tables.build_tables(subset)
    found = statistics.analyse(subset)
    for _, _, _, draw in statistics.figure_specs(subset, found):
        assert draw(subset).axes
    context = document.ReportContext(subset, Path("out"), {t.name: t for t in built}, [], {"statistics": found})
    assert expected in document.render_markdown(context) and '<h2 id="setup">Setup</h2>' in document.render_html(
        context
    )
    if where == {"seed": 0}:
        main = next(t for t in built if t.name == "main")
        assert (main.bold["test loss*"] == main.raw["best"]).all()  # one seed: only the best is bold
        assert any("One seed per cell" in n for n in main.notes)


@pytest.mark.parametrize(
    ("formats", "image", "links"),
    [
        pytest.param(("png", "pdf"), "![T](figures/x.png)", "[pdf](figures/x.pdf)", id="png-pdf"),
        pytest.param(("svg",), "![T](figures/x.svg)", "", id="svg"),
        pytest.param(
            ("pdf", "svg", "png"), "![T](figures/x.svg)", "[pdf](figures/x.pdf), [png](figures/x.png)", id="svg-first"
        ),
        pytest.param(("pdf",), "", "[pdf](figures/x.pdf)", id="pdf-only"),
    ],
)
def test_markdown_inlines_the_first_viewable_format(formats: tuple[str, ...], image: str, links: str) -> None:
    assert render.markdown_figure("figures/x", "T", formats) == (image, links)


@pytest.mark.slow
def test_svg_only_report_shows_its_figures_inline(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        for activation in ACTIVATIONS:
            for depth in DEPTHS:
                for seed in SEEDS:
                    store.write_run(fabricate(activation, "blobs", depth, seed))
    paths = make_report(tmp_path, formats=("svg",))
    markdown = (tmp_path / "report.md").read_text()
    images = [line for line in markdown.splitlines() if line.startswith("![")]
    assert len(images) == len(FIGURE_STEMS) and all(line.endswith(".svg)") for line in images)
    assert "[svg]" not in markdown and ".png" not in markdown
    for line in images:
        assert tmp_path / line.split("](", 1)[1].rstrip(")") in paths
    assert (tmp_path / "report.html").read_text().count("data:image/png;base64,") == len(FIGURE_STEMS)


def test_pdf_figures_embed_truetype_fonts_not_type3(tmp_path: Path) -> None:
    """Publishers' PDF checks (IEEE PDF eXpress, ACM) refuse Type 3 fonts, matplotlib's default."""
    from actcmp.report.canvas import new_figure, save

    fig, axes = new_figure(1, 1)
    axes[0][0].plot([1, 2, 3], [3, 1, 2], label="relu")
    axes[0][0].set_xlabel("epoch")
    axes[0][0].set_title("Test loss · digits")
    (path,) = save(fig, tmp_path / "x", ("pdf",))
    data = path.read_bytes()
    assert b"/FontFile2" in data and b"/Type3" not in data


def test_hidden_layer_figures_plot_every_hidden_layer_from_zero(results: Results) -> None:
    """The zero-fraction figure: one point per hidden layer (2 x depth - 1) of the deepest
    network, at init and after training, on a linear axis from 0; gradient norms stay per
    linear layer (2 x depth) on a log axis."""
    from actcmp.report.depth_plots import plot_layer_metric

    fig = plot_layer_metric(results, "zero_fraction", hidden=True)
    panels = [ax for ax in fig.axes if ax.lines]
    assert panels and all(ax.get_yscale() == "linear" and ax.get_ylim()[0] == 0 for ax in panels)
    deepest = int(results.runs["depth"].max())

    def longest(figure: Any) -> int:  # the data lines (the dotted marker line has 2 points)
        return max(len(line.get_xdata()) for ax in figure.axes for line in ax.get_lines())

    assert longest(fig) == 2 * deepest - 1
    grads = plot_layer_metric(results, "grad_norm_weight")
    assert longest(grads) == 2 * deepest
    assert any(ax.get_yscale() == "log" for ax in grads.axes if ax.lines)


@pytest.mark.slow  # a whole report (figures)
def test_a_single_depth_report_draws_no_loss_against_depth(tmp_path: Path) -> None:
    """With one depth the figure would be one x value with activations offset beside it."""
    with Store(tmp_path) as store:
        for activation in ("relu", "tanh"):
            for seed in (0, 1):
                store.write_run(fabricate(activation, "blobs", 2, seed, diverged=False))
    make_report(tmp_path, formats=("png",))
    figures = {p.stem for p in (tmp_path / "figures").glob("*.png")}
    assert "loss_curves" in figures and "heatmap_test_loss" in figures
    assert "test_loss_vs_depth" not in figures
    assert "test_loss_vs_depth" not in (tmp_path / "report.md").read_text()
