"""Two audits of the report, each case reproduced on tiny fabricated frames or stores (no training):

1. an activation that diverged on every seed is not bold (table, Tuned comparison) and is named
   apart in the Findings;
2. ``main.csv`` / ``summary(statistics=True)`` carry the display's bold (``bold``) and the
   did-not-learn counts (``not_learned``), ``tied_with_best`` staying the test's outcome;
3. a heatmap of few activations keeps its colour bar's label inside the figure;
4. a custom activation that cannot be imported where the report is made is named, not dropped;
5. the critical-difference diagram draws the test that decides (datasets as blocks);
6. no p = 0 where every seed gave the same difference (no t-test: the exact floor);
7. intervals on one split (``[tune]``) are said to be conditional on it and on the selection;
8. tiny shares read ``< 0.01``, a tuned report's Setup says which runs its fields describe, and
   "How to regenerate" gives the command that trains the sweep.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from actcmp.analysis import stats
from actcmp.report import depth_plots, document, findings, tables
from actcmp.report import statistics as report_statistics
from actcmp.report.format import fmt_fraction, fmt_vs_best
from actcmp.store.database import Results, load_results

SEEDS = (0, 1, 2)


def _results(losses: dict[tuple[int, str], tuple[float, ...]], **extra: object) -> Results:
    """Runs of one dataset: test loss per (depth, activation) and seed, NaN = diverged; every
    converged run learned (its validation loss fell from 2.0 to the test loss)."""
    runs, epochs = [], []
    for (depth, activation), values in losses.items():
        for seed, loss in zip(SEEDS, values, strict=True):
            run_id = f"{activation}-{depth}-{seed}"
            diverged = not math.isfinite(loss)
            runs.append(
                {
                    "run_id": run_id,
                    "status": "diverged" if diverged else "done",
                    "activation": activation,
                    "dataset": "d",
                    "depth": depth,
                    "seed": seed,
                    "loss": "mse",
                    "init": "kaiming",
                    "test_loss": math.nan if diverged else loss,
                    "final_val_loss": math.nan if diverged else loss,
                    "baseline_loss": 1.0,
                    "dead_fraction_init": 0.0,
                    "dead_fraction_final": 0.0 if diverged else 0.0035,
                    "saturated_fraction_final": 0.0,
                    "epochs_to_threshold": math.nan,
                    **extra,
                }
            )
            epochs += [(run_id, 0, "val_loss", 2.0), (run_id, 5, "val_loss", 2.0 if diverged else loss)]
    return Results(
        runs=pd.DataFrame(runs),
        epochs=pd.DataFrame(epochs, columns=["run_id", "epoch", "metric", "value"]),
        layers=pd.DataFrame(columns=["run_id", "epoch", "layer", "metric", "value"]),
        planned=pd.DataFrame(columns=["run_id", "activation"]),
        directory=Path("."),
    )


NAN = math.nan
#: depth 2: elu diverged on every seed (the rank test's floor with 3 seeds is 0.25: "not separable")
DIVERGED = {
    (2, "tanh"): (0.020, 0.021, 0.019),
    (2, "relu"): (0.90, 0.95, 0.99),
    (2, "elu"): (NAN, NAN, NAN),
    (4, "tanh"): (0.030, 0.031, 0.029),
    (4, "relu"): (0.031, 0.030, 0.032),
    (4, "elu"): (0.033, 0.029, 0.031),
}


def _row(frame: pd.DataFrame, depth: int, activation: str) -> int:
    frame = frame.reset_index(drop=True)
    return int(frame.index[(frame["depth"] == depth) & (frame["activation"] == activation)][0])


def _loss_column(table: tables.Table) -> str:
    return next(c for c in table.display.columns if str(c).startswith("test loss"))


@pytest.fixture(scope="module")
def diverged() -> Results:
    return _results(DIVERGED)


@pytest.fixture(scope="module")
def diverged_main(diverged: Results) -> tables.Table:
    return next(t for t in tables.build_tables(diverged) if t.name == "main")


# -- 1. diverged on every seed: not bold ------------------------------------------------------------
def test_an_activation_that_diverged_on_every_seed_is_not_bold(diverged_main: tables.Table) -> None:
    raw = diverged_main.raw.reset_index(drop=True)
    elu = _row(raw, 2, "elu")
    # the test cannot separate it (its p is the test's, unchanged) ...
    assert raw.loc[elu, "tied_with_best"] is True and raw.loc[elu, "p_vs_best_holm"] >= 0.25
    # ... but every seed diverged: marked, not bold, and a note says why
    assert tables.all_diverged_rows(raw).tolist() == [i == elu for i in range(len(raw))]
    loss = _loss_column(diverged_main)
    assert not diverged_main.bold[loss].iat[elu]
    assert diverged_main.display[loss].iat[elu] == f"– ({tables.ALL_DIVERGED})"
    assert tables.ALL_DIVERGED_NOTE in diverged_main.notes
    assert diverged_main.bold[loss].iat[_row(raw, 2, "tanh")]  # the best stays bold
    assert diverged_main.bold[loss].iat[_row(raw, 4, "elu")]  # converged and not separable: bold


def test_the_findings_name_it_apart_from_the_activations_not_separable_from_the_best(
    diverged: Results, diverged_main: tables.Table
) -> None:
    items = next(c for k, c in findings.findings_blocks(diverged, diverged_main.raw, None) if k == "list")
    depth2 = next(item for item in items if "depth 2" in item)
    assert "not separable from it after Holm: elu" not in depth2, depth2
    assert "elu diverged on every seed" in depth2 and "p = 0.500 after Holm" in depth2, depth2
    assert "every other tested activation that converged is separably worse after Holm" in depth2, depth2
    ranks = next(t for t in tables.build_tables(diverged) if t.name == "ranks").raw.set_index("activation")
    assert ranks.loc["elu", "all_diverged"] == 1  # the same definition


def test_a_side_of_the_tuned_comparison_where_every_seed_diverged_is_not_bold(tmp_path: Path) -> None:
    from test_tuned_comparison_stats import TIED, TUNED_LOSS, _built, _table, fabricate

    selected = {**TIED, (2, "sigmoid"): [math.inf] * 3}
    built, _ = _built(fabricate(tmp_path / "tuned", selected, set()))
    comparison = _table(built, "tune_comparison")
    row = _row(comparison.raw, 2, "sigmoid")
    raw = comparison.raw.reset_index(drop=True).loc[row]
    assert raw["tuned_diverged"] == 3 and raw["tuned_seeds"] == 0 and raw["tuned_tied_with_best"]
    assert not raw["tuned_bold"] and not comparison.bold[TUNED_LOSS].iat[row]
    assert "(3 diverged)" in comparison.display[TUNED_LOSS].iat[row]
    assert tables.ALL_DIVERGED_NOTE in comparison.notes


# -- 2. main.csv carries the display's bold -----------------------------------------------------------
def test_the_main_frame_carries_the_displayed_bold_and_the_did_not_learn_counts(tmp_path: Path) -> None:
    from test_report_audit_fixes import fabricated

    results = fabricated()
    main = next(t for t in tables.build_tables(results) if t.name == "main")
    raw = main.raw.reset_index(drop=True)
    loss = _loss_column(main)
    assert raw["bold"].tolist() == main.bold[loss].tolist()
    sigmoid = _row(raw, 8, "sigmoid")  # not separable by the test, did not learn where the best did
    assert raw.loc[sigmoid, "tied_with_best"] is True and not raw.loc[sigmoid, "bold"]
    assert raw.loc[sigmoid, "not_learned"] == raw.loc[sigmoid, "converged"] == 3
    assert raw.loc[_row(raw, 4, "sigmoid"), "not_learned"] == 1
    # the notebook's summary(statistics=True) is this frame: main_table on its own gives the same columns
    alone = tables.main_table(results)
    assert (
        alone["bold"].tolist() == raw["bold"].tolist() and alone["not_learned"].tolist() == raw["not_learned"].tolist()
    )
    tables.write_table(main, tmp_path)
    header = (tmp_path / "main.csv").read_text().splitlines()[0].split(",")
    assert header[-2:] == ["not_learned", "bold"]


# -- 3. the heatmap's colour bar label fits -----------------------------------------------------------
@pytest.mark.parametrize("value", ["test_loss_mean", "dead_fraction_final"])
def test_a_heatmap_of_few_activations_keeps_its_colour_bar_label_inside(value: str) -> None:
    two = _results({key: losses for key, losses in DIVERGED.items() if key[1] != "elu"})  # as the smoke sweep
    fig = depth_plots.plot_heatmap(two, value)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    inside = fig.bbox
    labels = [ax.yaxis.label for ax in fig.axes if ax.yaxis.label.get_text()]
    bar_labels = [label for label in labels if "colour scale" in label.get_text()]
    assert bar_labels
    for label in bar_labels:
        box = label.get_window_extent(renderer)
        assert box.y0 >= inside.y0 - 1 and box.y1 <= inside.y1 + 1, (label.get_text(), box, inside)


def test_a_label_that_fits_is_left_alone() -> None:
    label = "mean test loss\n(log colour scale, at least 2x wide)"
    assert depth_plots.fit_bar_label(label, 3.3) == (label, 3.3)  # the default sweep's 8 activations
    broken, height = depth_plots.fit_bar_label(label, 1.5)
    assert broken.count("\n") == 2 and height > 1.5


# -- 4. an activation that cannot be imported here ------------------------------------------------------
def test_an_activation_that_cannot_be_imported_is_named_in_the_figure_and_its_caption(diverged: Results) -> None:
    from actcmp import report

    runs = diverged.runs.copy()
    runs.loc[runs["activation"] == "elu", "activation"] = "no_such_module_r2:sq"
    custom = Results(runs, diverged.epochs, diverged.layers, diverged.planned, diverged.directory)
    missing = report._unimportable(custom)
    assert missing == ["no_such_module_r2:sq"]
    caption = report.activations_caption(missing)
    assert caption.startswith(report.ACTIVATIONS_CAPTION) and "Not drawn: `no_such_module_r2:sq`" in caption
    fig = report._activation_figure(custom, unimportable=tuple(missing))
    assert fig is not None
    assert "no_such_module_r2:sq" in fig.get_supxlabel()
    # not told beforehand (a forked worker that was not handed the list): the same figure
    alone = report._activation_figure(custom)
    assert alone is not None and "no_such_module_r2:sq" in alone.get_supxlabel()
    assert report.activations_caption([]) == report.ACTIVATIONS_CAPTION


# -- 5. the CD diagram draws the test that decides ----------------------------------------------------------
def _three_datasets() -> pd.DataFrame:
    from fake_results import three_dataset_runs

    return pd.DataFrame(three_dataset_runs())


def test_the_cd_diagram_draws_the_decided_test_and_calls_the_one_over_cells_optimistic() -> None:
    result = stats.friedman(_three_datasets(), "test_loss")
    over = result.decisive_blocks
    assert over is not None and over.cd != result.cd
    found = report_statistics.Statistics(result, n_depths=3, factor=2.0)
    fig = report_statistics.plot_critical_difference(found)
    texts = {t.get_text() for ax in fig.axes for t in ax.texts}
    assert f"CD = {over.cd:.2f}" in texts and f"CD = {result.cd:.2f}" not in texts
    assert {f"{name} ({rank:.2f})" for name, rank in over.mean_ranks.items()} <= texts
    title = fig.axes[0].get_title()
    assert "3 datasets as blocks" in title and "permutation" in title, title
    caption = report_statistics.cd_caption(result)
    assert "3 datasets as blocks" in caption and f"CD = {result.cd:.2f}" in caption and "optimistic" in caption
    text = findings.ranks_text(found)
    assert text is not None and "over the cells (optimistic)" in text


# -- 6. no p = 0 without a test ---------------------------------------------------------------------------
def test_the_same_difference_on_every_seed_is_said_and_no_weaker_than_nearly_the_same() -> None:
    from actcmp.analysis.paired import NO_SPREAD

    shifted = stats.paired_test([2.0, 3.0, 4.0], [1.0, 2.0, 3.0])
    assert shifted.d_z == math.inf and "no t statistic" in shifted.note and "limit" in shifted.note
    nearly = stats.paired_test([2.0, 3.0 + 1e-9, 4.0 - 1e-9], [1.0, 2.0, 3.0])
    assert shifted.p_value <= nearly.p_value < 1e-6  # the t-test's limit (an exact floor, 0.25, was weaker)
    # with a diverged seed beside the equal ones the note says so, and the pair is tested by ranks
    mixed = stats.paired_with_divergence(
        np.log([2.0, 4.0, 1.0]), np.array([False, False, True]), np.log([1.0, 2.0, 1.0]), np.array([False] * 3)
    )
    assert "no t statistic" in mixed.note and mixed.note != NO_SPREAD


def test_the_table_says_no_test_where_every_seed_gave_the_same_ratio() -> None:
    same_ratio = {(1, "relu"): (0.10, 0.20, 0.30), (1, "elu"): (0.15, 0.30, 0.45), (1, "tanh"): (0.2, 0.3, 0.5)}
    results = _results(same_ratio)
    main = next(t for t in tables.build_tables(results) if t.name == "main")
    raw = main.raw.reset_index(drop=True)
    elu = _row(raw, 1, "elu")
    # no t statistic: shown untested, never bold; main.csv keeps the t-test's limit, 0
    assert raw.loc[elu, "tied_with_best"] is None and not raw.loc[elu, "bold"]
    assert raw.loc[elu, "p_vs_best"] == 0.0
    assert main.display["p vs best (Holm)"].iat[elu] == "no test (all seeds equal)"
    assert any("there is no t statistic" in note for note in main.notes)
    assert not any("fewer than 2 seeds pair up" in note for note in main.notes)
    tanh = _row(raw, 1, "tanh")  # ratios that vary: the t-test's p
    assert main.display["p vs best (Holm)"].iat[tanh] not in ("no test (all seeds equal)", "–")
    items = next(c for k, c in findings.findings_blocks(results, main.raw, None) if k == "list")
    assert "no test (the same ratio to the best on every seed): elu" in items[0], items
    assert fmt_vs_best(False, True, 0.25) == "0.250" and fmt_vs_best(False, None, 0.25) == "–"


# -- 7. one split: the intervals are conditional --------------------------------------------------------------
def test_intervals_on_one_split_are_said_to_be_conditional() -> None:
    one_split = _results(DIVERGED, split_seed=0)
    main = next(t for t in tables.build_tables(one_split) if t.name == "main")
    assert any(n.startswith("Every seed of a cell tests on the same rows (split_seed = 0)") for n in main.notes)
    assert not any(
        "split_seed" in n for n in next(t for t in tables.build_tables(_results(DIVERGED)) if t.name == "main").notes
    )
    assert tables.split_note(one_split.runs.assign(split_seed=None)) is None


def test_the_tuned_comparison_says_its_intervals_treat_the_selection_as_fixed(tmp_path: Path) -> None:
    from test_tuned_comparison_stats import TIED, TIED_STUCK, _built, _table, fabricate

    built, _ = _built(fabricate(tmp_path / "tuned", TIED, TIED_STUCK))
    notes = _table(built, "tune_comparison").notes
    [note] = [n for n in notes if "split_seed" in n]
    assert "conditional on this one split" in note and "treat each selected value as fixed" in note


# -- 8. nitpicks ---------------------------------------------------------------------------------------------
def test_a_tiny_share_is_not_written_as_zero(diverged_main: tables.Table) -> None:
    assert fmt_fraction(0.0035) == "< 0.01" and fmt_fraction(0.998) == "> 0.99"
    assert fmt_fraction(0.0) == "0.00" and fmt_fraction(1.0) == "1.00" and fmt_fraction(0.27) == "0.27"
    raw = diverged_main.raw.reset_index(drop=True)
    assert diverged_main.display["dead end"].iat[_row(raw, 2, "tanh")] == "< 0.01"


def test_a_tuned_setup_says_which_runs_its_fields_describe() -> None:
    plain = {"fixed": {"record": "full"}}
    assert document.fields_lead(plain).startswith("Run fields with one value in every run")
    tuned = {"fixed": {"record": "full"}, "tuned": {"lr": {}}, "tune": [{"tuning_record": "val_loss"}]}
    lead = document.fields_lead(tuned)
    assert "every evaluation run at the common value" in lead and "`lr`" in lead and "val_loss" in lead, lead


def test_how_to_regenerate_gives_the_command_that_trains_the_sweep() -> None:
    origin = {"source": "experiments/default.toml", "sweep_file": "/x/default.toml", "git_commit": "a" * 40}
    text = document.train_command(origin, "results/d")
    assert text is not None and "`actcmp run /x/default.toml --out results/d`" in text and "aaaaaaaaaaaa" in text
    options = {**origin, "source": "/x/default.toml with the command-line options"}
    assert "with the command-line options it was run with" in str(document.train_command(options, "r"))
    line = {"source": "command line", "sweep_file": None}
    assert "sweep.json" in str(document.train_command(line, "r"))
    assert document.train_command({"source": "not recorded", "sweep_file": None}, "r") is None


def test_the_report_of_a_stored_sweep_gives_both_commands(tmp_path: Path) -> None:
    from test_tuned_comparison_stats import TIED, TIED_STUCK, fabricate

    directory = fabricate(tmp_path / "tuned", TIED, TIED_STUCK)
    results = tables.complete(load_results(directory))
    ctx = document.ReportContext(results, directory, {}, [])
    ctx.extra["setup"] = {"provenance": {"source": "t.toml", "sweep_file": "/s/t.toml", "git_commit": None}}
    texts = [c for k, c in document.regenerate_section(ctx).blocks if k == "text"]
    assert texts[0].startswith(f"`actcmp report {directory}`") and texts[1].startswith("`actcmp run /s/t.toml")


def test_the_depth_table_says_its_cut_is_a_rule_not_a_test() -> None:
    """A reviewer's point: 'deepest that trains' cuts 3-seed means at 1.5x the best depth's with no
    uncertainty (relu on digits at depth 8: 0.0410 against a cut of 0.0396); the caption says so."""
    from actcmp.report.display import depth_caption

    caption = depth_caption(1.5)
    assert "within 1.5× the loss" in caption and "a rule on the seeds' means, not a test" in caption
