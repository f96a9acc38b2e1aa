"""A new user's audit of the report: an activation that did not learn is not shown as "tied with
the best" (table and Findings), the per-layer figures' y label fits, and wide figures fit a
1300 px window in report.html. Tiny fabricated frames: no store, no training."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from actcmp.analysis.learning import learning_per_cell
from actcmp.report import depth_plots, document, findings, plots, render, tables
from actcmp.store.database import Results

SEEDS = (0, 1, 2)
#: test loss per (depth, activation) and seed; with 3 seeds sigmoid's ratio to elu at depth 8
#: is too noisy for the paired test (Holm p >= 0.05), though it did not learn and elu did
LOSSES = {
    (8, "elu"): (0.40, 0.41, 0.39),
    (8, "relu"): (0.44, 0.40, 0.42),
    (8, "sigmoid"): (0.95, 1.45, 0.65),
    (4, "elu"): (0.30, 0.31, 0.29),
    (4, "relu"): (0.32, 0.30, 0.33),
    (4, "sigmoid"): (0.55, 0.30, 0.45),
    (2, "elu"): (0.90, 0.92, 0.88),
    (2, "relu"): (0.93, 0.91, 0.95),
    (2, "sigmoid"): (1.20, 0.80, 1.00),
}
#: (depth, activation) -> seeds whose validation loss stayed at its initial value (did not learn)
STUCK = {(8, "sigmoid"): SEEDS, (4, "sigmoid"): (0,), (2, "elu"): SEEDS, (2, "relu"): SEEDS, (2, "sigmoid"): SEEDS}


def fabricated(datasets: tuple[str, ...] = ("mnist1d",)) -> Results:
    runs, epochs, layers = [], [], []
    for dataset in datasets:
        for (depth, activation), losses in LOSSES.items():
            for seed, loss in zip(SEEDS, losses, strict=True):
                run_id = f"{dataset}-{activation}-{depth}-{seed}"
                stuck = seed in STUCK.get((depth, activation), ())
                start = 1.2 * max(loss, 1.0)
                final = start if stuck else loss
                runs.append(
                    {
                        "run_id": run_id,
                        "status": "done",
                        "activation": activation,
                        "dataset": dataset,
                        "depth": depth,
                        "seed": seed,
                        "loss": "mse",
                        "init": "kaiming",
                        "test_loss": loss,
                        "final_val_loss": final,
                        "baseline_loss": 1.0,
                        "dead_fraction_init": 0.0,
                        "dead_fraction_final": 0.0,
                        "saturated_fraction_final": 0.0,
                        "epochs_to_threshold": math.nan,
                    }
                )
                epochs += [(run_id, 0, "val_loss", start), (run_id, 5, "val_loss", final)]
                for stage in (0, 5):
                    layers += [
                        (run_id, stage, layer, "grad_norm_weight", 0.1 * (layer + 1)) for layer in range(2 * depth)
                    ]
    return Results(
        runs=pd.DataFrame(runs),
        epochs=pd.DataFrame(epochs, columns=["run_id", "epoch", "metric", "value"]),
        layers=pd.DataFrame(layers, columns=["run_id", "epoch", "layer", "metric", "value"]),
        planned=pd.DataFrame(columns=["run_id", "activation"]),
        directory=Path("."),
    )


@pytest.fixture(scope="module")
def results() -> Results:
    return fabricated()


@pytest.fixture(scope="module")
def main_table(results: Results) -> tables.Table:
    return next(t for t in tables.build_tables(results) if t.name == "main")


def _row(table: tables.Table, depth: int, activation: str) -> int:
    raw = table.raw.reset_index(drop=True)
    return int(raw.index[(raw["depth"] == depth) & (raw["activation"] == activation)][0])


def _loss_column(table: tables.Table) -> str:
    return next(c for c in table.display.columns if str(c).startswith("test loss"))


# -- 1. did not learn: not "tied with the best" -------------------------------------------------
def test_the_fabricated_cell_is_the_audit_case(main_table: tables.Table) -> None:
    """The premise: the paired test cannot separate sigmoid from the best at depth 8 (and the
    report keeps that result), while sigmoid did not learn and the best did."""
    raw = main_table.raw.reset_index(drop=True)
    sigmoid = raw.loc[_row(main_table, 8, "sigmoid")]
    assert raw.loc[_row(main_table, 8, "elu"), "best"]
    assert sigmoid["tied_with_best"] is True and sigmoid["p_vs_best_holm"] >= 0.05
    assert (
        main_table.display["p vs best (Holm)"].iat[_row(main_table, 8, "sigmoid")]
        == f"{sigmoid['p_vs_best_holm']:#.3g}"
    )


def test_an_activation_that_did_not_learn_is_marked_and_not_bold_beside_a_best_that_learned(
    main_table: tables.Table,
) -> None:
    loss = _loss_column(main_table)
    row = _row(main_table, 8, "sigmoid")
    assert not main_table.bold[loss].iat[row]
    assert main_table.display[loss].iat[row].endswith("(did not learn)")
    assert main_table.bold[loss].iat[_row(main_table, 8, "relu")]  # learned, not separable: still bold
    assert main_table.bold[loss].iat[_row(main_table, 8, "elu")]
    assert tables.NOT_LEARNED_NOTE in main_table.notes
    assert "(did not learn)" in main_table.caption


def test_only_activations_none_of_whose_seeds_learned_lose_their_bold(main_table: tables.Table) -> None:
    """1 of 3 seeds stuck: marked with the count, bold as the test says; a cell where nothing
    learned keeps the test's bold (its note says the best is the least bad)."""
    loss = _loss_column(main_table)
    raw = main_table.raw.reset_index(drop=True)
    partial = _row(main_table, 4, "sigmoid")
    assert main_table.display[loss].iat[partial].endswith("(1 of 3 did not learn)")
    assert bool(main_table.bold[loss].iat[partial]) == bool(raw.loc[partial, "tied_with_best"])
    for activation in ("elu", "relu", "sigmoid"):
        row = _row(main_table, 2, activation)
        tested = bool(raw.loc[row, "best"]) or raw.loc[row, "tied_with_best"] is True
        assert bool(main_table.bold[loss].iat[row]) == tested
        assert main_table.display[loss].iat[row].endswith("(did not learn)")
    assert any(n.startswith("No converged run learned in") and "depth 2" in n for n in main_table.notes)


def test_markdown_html_and_latex_carry_the_mark(main_table: tables.Table, tmp_path: Path) -> None:
    paths = {p.suffix: p for p in tables.write_table(main_table, tmp_path)}
    line = next(line for line in paths[".md"].read_text().splitlines() if line.startswith("| mnist1d | 8 | sigmoid "))
    assert "(did not learn)" in line and "**" not in line
    html = tables.to_html(main_table.display, main_table.bold)
    assert "(did not learn)</td>" in html
    assert "(did not learn)" in paths[".tex"].read_text()


def test_findings_name_it_apart_from_the_activations_not_separable_from_the_best(
    results: Results, main_table: tables.Table
) -> None:
    blocks = findings.findings_blocks(results, main_table.raw, None)
    items = next(content for kind, content in blocks if kind == "list")
    depth8 = next(item for item in items if "depth 8" in item)
    rest = depth8.partition("not separable from it after Holm: ")[2]
    assert rest.split(";")[0] == "relu", depth8
    p = main_table.raw.reset_index(drop=True).loc[_row(main_table, 8, "sigmoid"), "p_vs_best_holm"]
    assert (
        f"sigmoid (1.02) did not learn here; with 3 seeds the paired test cannot separate it from the best "
        f"(p = {p:#.3g} after Holm)" in depth8
    ), depth8
    depth4 = next(item for item in items if "depth 4" in item)
    assert "did not learn here" not in depth4  # a seed learned: the test's verdict stands alone
    depth2 = next(item for item in items if "depth 2" in item)
    assert "no converged run learned" in depth2


def test_findings_say_so_when_the_only_inseparable_activation_did_not_learn() -> None:
    main = pd.DataFrame(
        {
            "dataset": ["d"] * 3,
            "depth": [8] * 3,
            "activation": ["elu", "relu", "sigmoid"],
            "test_loss_mean": [0.4, 0.9, 1.0],
            "runs": [3] * 3,
            "converged": [3] * 3,
            "best": [True, False, False],
            "tied_with_best": [True, False, True],
            "p_vs_best_holm": [1.0, 0.01, 0.08],
        }
    )
    learning = {("d", "8", "elu"): (0, 3), ("d", "8", "relu"): (0, 3), ("d", "8", "sigmoid"): (3, 3)}
    (item,) = findings.best_per_cell(main, {("d", "8"): (3, 9)}, learning)
    assert "every other tested activation that learned is separably worse after Holm" in item, item
    assert "sigmoid (1.00) did not learn here" in item and "p = 0.0800 after Holm" in item, item
    assert tables.demoted_rows(main, learning).tolist() == [False, False, True]


def test_the_rule_reads_the_same_counts_as_the_outcomes_paragraph(results: Results) -> None:
    """The mark follows :func:`actcmp.analysis.learning.learning_per_cell` per activation."""
    main = tables.main_table(results)
    learning = learning_per_cell(results, ["dataset", "depth", "activation"])
    counts = tables.learning_of_rows(main, learning)
    assert counts["done"].eq(3).all()
    stuck = {(int(d), a): int(s) for d, a, s in zip(main["depth"], main["activation"], counts["stuck"], strict=True)}
    assert stuck == {(d, a): len(STUCK.get((d, a), ())) for d, a in LOSSES}


def test_the_tables_and_the_findings_read_one_count_of_who_learned(
    results: Results, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The did-not-learn counts are taken once (:func:`tables.count_learning`, ``make_report``) and
    handed to the main table and to the Findings, which count nothing again: a count saying that
    nothing learned at depth 4 shows in both (each used to count on its own)."""
    learning = tables.count_learning(results)
    assert learning.keys == ("dataset", "depth")
    assert learning.per_cell == learning_per_cell(results, ["dataset", "depth"])
    assert learning.per_activation == learning_per_cell(results, ["dataset", "depth", "activation"])
    assert learning.cells_without_learning() == [("mnist1d", "2")]
    doctored = dataclasses.replace(learning, per_cell={**learning.per_cell, ("mnist1d", "4"): (9, 9)})

    def counted_again(*args: object) -> None:
        raise AssertionError("counted again")

    monkeypatch.setattr(tables, "learning_per_cell", counted_again)
    main = next(t for t in tables.build_tables(results, learning=doctored) if t.name == "main")
    [note] = [n for n in main.notes if n.startswith("No converged run learned in")]
    assert "depth 2" in note and "depth 4" in note
    ctx = document.ReportContext(results, Path("."), {"main": main}, [], {"learning": doctored})
    items = next(content for kind, content in document.findings_section(ctx).blocks if kind == "list")
    depth4 = next(item for item in items if "depth 4" in item)
    assert "no converged run learned" in depth4, depth4


# -- 2. the per-layer figures' y label ------------------------------------------------------------
def _label_boxes(fig: object) -> list[tuple[str, object]]:
    canvas = FigureCanvasAgg(fig)  # type: ignore[arg-type]
    canvas.draw()
    renderer = canvas.get_renderer()
    texts = [ax.yaxis.label for ax in fig.axes if ax.yaxis.label.get_text()]  # type: ignore[attr-defined]
    shared = getattr(fig, "_supylabel", None)
    if shared is not None and shared.get_text():
        texts.append(shared)
    return [(t.get_text(), t.get_window_extent(renderer)) for t in texts]


@pytest.mark.parametrize("datasets", [("digits", "manifold", "mnist1d"), ("digits",)])
@pytest.mark.parametrize("metric", ["grad_norm_weight", "postact_std", "zero_fraction"])
def test_layer_figures_have_one_y_label_inside_the_figure(datasets: tuple[str, ...], metric: str) -> None:
    results = fabricated(datasets)
    if metric != "grad_norm_weight":  # the hidden layers' statistics, on 2·depth - 1 layers
        layers = results.layers[results.layers["layer"] < results.layers["layer"].max()]
        results = Results(
            runs=results.runs,
            epochs=results.epochs,
            layers=layers.assign(metric=metric, value=0.5),
            planned=results.planned,
            directory=results.directory,
        )
    fig = depth_plots.plot_layer_metric(results, metric, hidden=metric != "grad_norm_weight")
    boxes = _label_boxes(fig)
    assert len(boxes) == 1, [text for text, _ in boxes]  # one label for every row, not one per row
    text, box = boxes[0]
    assert text.replace("\n", " ") == depth_plots.AXIS_LABELS[metric]
    width, height = fig.bbox.width, fig.bbox.height
    assert box.x0 >= 0 and box.x1 <= width and box.y0 >= 0 and box.y1 <= height, (box, width, height)  # type: ignore[attr-defined]
    # no panel's tick labels under it
    for ax in fig.axes:
        for tick in ax.get_yticklabels():
            if tick.get_text() and tick.get_visible():
                assert not box.overlaps(tick.get_window_extent()), (text, tick.get_text())  # type: ignore[attr-defined]


def test_a_long_label_is_wrapped_before_its_parenthesis_only_when_it_would_not_fit() -> None:
    label = depth_plots.AXIS_LABELS["grad_norm_weight"]
    assert depth_plots.wrap_label(label, 100) == label
    assert depth_plots.wrap_label(label, 20) == "‖∂L/∂W‖\n(weight-gradient norm, probe-set loss)"
    assert depth_plots.wrap_label("share of exact zeros", 10) == "share of\nexact zeros"


# -- 3. wide figures in report.html -----------------------------------------------------------------
#: the page's width for its content in a 1300 px window (body padding 1 rem a side, a scroll bar)
PAGE_AT_1300 = 1300 - 2 * 16 - 20


def test_the_widest_report_figure_fits_a_1300_px_window() -> None:
    """The latent-space figure of 8 activations is 18.6 in wide (1860 px intended): its
    smallest width must fit the page, so that no column hides behind a sideways scroll."""
    fig = plots.new_figure(4, 8, panel=(2.2, 2.1), legend=1.0)[0]
    png = plots.png_bytes(fig, plots.SAVE_DPI)
    markup = render.figure_html(png, "latent", "caption", href="figures/latent.png")
    width = int(markup.split('width="')[1].split('"')[0])
    assert width == round(fig.get_figwidth() * 100) == 1860
    minimum = int(markup.split("min-width: ")[1].split("px")[0])
    assert minimum <= PAGE_AT_1300, minimum
    assert render.MIN_SCALE >= 0.6  # and not shrunk below legibility (8 pt text about 7 px high)
