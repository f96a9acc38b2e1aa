"""Report package: tables, figures and documents from a small fabricated results store."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from actcmp.engine import RunResult
from actcmp.report import make_report, plots, style, tables
from actcmp.store import Results, Store, load_results

ACTIVATIONS = ("relu", "tanh", "sigmoid")
DATASETS = ("blobs", "digits")  # digits has labels (probe accuracy), blobs has none
DEPTHS = (1, 2)
SEEDS = (0, 1)
QUALITY = {"relu": 0.010, "tanh": 0.020, "sigmoid": 0.040}  # lower is better: relu wins every cell
INIT = {"relu": "kaiming", "tanh": "xavier", "sigmoid": "xavier"}
DIVERGED = ("tanh", "blobs", 2, 1)
FAILED = ("sigmoid", "digits", 1, 1)
EPOCHS = 4
TABLE_NAMES = ("main", "ranks", "status", "init")
FIGURE_STEMS = (
    "loss_curves",
    "dead_fraction",
    "test_loss_vs_depth",
    "heatmap_test_loss",
    "heatmap_dead_fraction",
    "grad_norm_by_layer",
    "activation_functions",
)


def fabricate(activation: str, dataset: str, depth: int, seed: int) -> RunResult:
    """A deterministic fake run with every metric the engine records."""
    key = (activation, dataset, depth, seed)
    config = {
        "activation": activation,
        "dataset": dataset,
        "depth": depth,
        "seed": seed,
        "width": 16,
        "bottleneck": 4,
        "init": INIT[activation],
        "lr": 0.001,
        "epochs": EPOCHS,
        "loss": "mse",
        "output_activation": "identity" if dataset == "blobs" else "sigmoid",
    }
    run_id = f"{activation}-{dataset}-{depth}-{seed}"
    if key == FAILED:
        return RunResult(run_id, config, "failed", {}, error="RuntimeError: boom")
    final_loss = QUALITY[activation] * (1 + 0.2 * depth) * (1 + 0.05 * seed) * (2 if dataset == "digits" else 1)
    diverged = key == DIVERGED
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
    expected += [directory / "report.md", directory / "report.html"]
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
        assert (cells[2] == "relu") == cells[3].startswith("**"), row
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
    from actcmp.activations import REGISTRY

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
    assert tables.extra_fields(runs) == []  # init follows the activation, loss the dataset: not cell keys
    doubled = pd.concat([runs, runs.assign(lr=0.01, run_id=runs["run_id"] + "-lr")], ignore_index=True)
    assert tables.cell_keys(doubled) == ["dataset", "depth", "lr"]
    assert tables.label(["dataset", "lr", "depth"], ("digits", 0.01, 4)) == "digits · lr=0.01 · depth 4"


def test_empty_store_still_reports(tmp_path: Path) -> None:
    Store(tmp_path).close()
    paths = make_report(tmp_path, formats=("png",))
    assert (tmp_path / "report.html").is_file() and all(p.stat().st_size > 0 for p in paths)


def test_single_seed_cells_from_a_real_sweep(tmp_path: Path) -> None:
    """A one-seed sweep (every shard of a sharded sweep looks like this) reports cleanly."""
    from actcmp.config import apply_overrides, load_sweep
    from actcmp.sweep import run_sweep

    repo = Path(__file__).resolve().parent.parent
    sweep = apply_overrides(load_sweep(repo / "experiments" / "smoke.toml"), grid={"seed": [0], "depth": [1]})
    run_sweep(sweep, tmp_path / "one")
    paths = make_report(tmp_path / "one", formats=("png",))
    assert (tmp_path / "one" / "tables" / "main.md") in paths
    assert "probe acc." in (tmp_path / "one" / "tables" / "main.md").read_text()
