"""The Tuned comparison carries the main table's statistics and marks, and its Findings claim no
more than a test shows.

A fabricated store (no training) of a sweep with ``[tune]``: relu, tanh and sigmoid on digits at
depths 1 and 2, evaluation seeds 0-2 at the common value lr=0.01, lr tuned over 0.1 and 1 on the
tuning seeds 100 and 101. relu selects 0.1, tanh and sigmoid 1 (sigmoid's lr=0.1 diverges on
every tuning seed). Every run at the common value learned and none diverged.

* ``TIED`` (the test losses at the selected values): relu is best at depth 1, tanh at depth 2,
  each within seed noise of the other (mean ranks tied at 1.50); at depth 1 sigmoid did not learn
  (final validation loss above the mean predictor's) and its noisy seeds leave the paired test
  unable to separate it from the best; at depth 2 it learned and is clearly worse.
* ``STUCK_LEADER``: sigmoid has the lowest test loss in both cells, yet learned in neither.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from actcmp.engine.plain import RunResult
from actcmp.report import findings as main_findings
from actcmp.report import tables, tune_tables
from actcmp.report import tune as tune_report
from actcmp.report.format import fmt_interval, fmt_mean_std
from actcmp.report.writers import CELL_BREAK
from actcmp.run.sweep import sweep_id
from actcmp.run.tune import evaluation_runs, plan_tune, select_from_store
from actcmp.store.database import Results, Store, load_results

COMMON = 0.01
ACTIVATIONS = ["relu", "tanh", "sigmoid"]
#: mean final validation loss of each tuning candidate (inf: diverged)
VAL = {"relu": {0.1: 0.2, 1.0: 0.5}, "tanh": {0.1: 0.5, 1.0: 0.2}, "sigmoid": {0.1: math.inf, 1.0: 0.3}}
#: test loss per seed at the common value (every run learned)
TEST_COMMON = {"relu": [0.30, 0.31, 0.29], "tanh": [0.40, 0.41, 0.39], "sigmoid": [0.50, 0.52, 0.49]}

#: (depth, activation) -> test loss per seed at the selected value
TIED = {
    (1, "relu"): [0.20, 0.21, 0.19],
    (1, "tanh"): [0.22, 0.20, 0.23],
    (1, "sigmoid"): [0.15, 0.50, 0.30],
    (2, "relu"): [0.22, 0.20, 0.23],
    (2, "tanh"): [0.20, 0.21, 0.19],
    (2, "sigmoid"): [0.90, 0.95, 0.92],
}
TIED_STUCK = {(1, "sigmoid")}
STUCK_LEADER = {
    **{(d, "relu"): [0.30, 0.31, 0.29] for d in (1, 2)},
    **{(d, "tanh"): [0.40, 0.41, 0.39] for d in (1, 2)},
    **{(d, "sigmoid"): [0.10, 0.11, 0.09] for d in (1, 2)},
}
LEADER_STUCK = {(1, "sigmoid"), (2, "sigmoid")}


def _sweep() -> Any:
    from test_tuned_report_cells import tiny_tuned_sweep

    return tiny_tuned_sweep("tuned-stats", COMMON, [0.1, 1.0], ACTIVATIONS)


def _result(cfg: dict[str, Any], test: float, *, learned: bool = True) -> RunResult:
    """A run with test loss ``test``; one that did not learn ends with a validation loss above
    the mean predictor's (1.0), one that did ends at ``test`` from 3x it at epoch 0."""
    diverged = not math.isfinite(test)
    value = 0.7 if diverged else test
    final_val = value if learned else 1.05
    epochs = [(e, "val_loss", value * (1 + 2 * math.exp(-e)) if learned else 1.05) for e in range(4)]
    epochs += [(e, "train_loss", value) for e in range(4)]
    from test_tuned_report_cells import fabricated_run

    return fabricated_run(cfg, None if diverged else final_val, None if diverged else value, epochs)


def fabricate(directory: Path, selected: dict[tuple[int, str], list[float]], stuck: set[tuple[int, str]]) -> Path:
    sweep = _sweep()
    plan = plan_tune(sweep)
    with Store(directory) as store:
        for cfg in plan.tuning:
            store.write_run(_result(cfg, VAL[cfg["activation"]][cfg["lr"]]))
        evaluation = evaluation_runs(plan, select_from_store(plan, store))
        store.save_sweep(sweep_id(sweep), sweep.name, sweep.to_dict(), [*plan.tuning, *evaluation])
        for cfg in evaluation:
            name, seed, depth = cfg["activation"], int(cfg["seed"]), int(cfg["depth"])
            if cfg["lr"] == COMMON:
                store.write_run(_result(cfg, TEST_COMMON[name][seed]))
            else:
                store.write_run(_result(cfg, selected[(depth, name)][seed], learned=(depth, name) not in stuck))
    return directory


@pytest.fixture(scope="module")
def tied_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fabricate(tmp_path_factory.mktemp("tied"), TIED, TIED_STUCK)


@pytest.fixture(scope="module")
def leader_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fabricate(tmp_path_factory.mktemp("leader"), STUCK_LEADER, LEADER_STUCK)


def _built(directory: Path) -> tuple[tune_report.TunedReport, Results]:
    results = tables.complete(load_results(directory))
    return tune_report.build(directory, directory / "report", results, ("png",), [], later=True), results


def _table(built: tune_report.TunedReport, name: str) -> tables.Table:
    return next(t for t in built.tables if t.name == name)


#: the test loss's column of each side: its interval and marks in the same cell
TUNED_LOSS = "test loss, tuned* [95% CI (t)]"
COMMON_LOSS = f"test loss at lr={COMMON:g}* [95% CI (t)]"


def _row(table: tables.Table, depth: int, activation: str) -> int:
    raw = table.raw
    return int(raw.index[(raw["depth"] == depth) & (raw["activation"] == activation)][0])


# ------------------------------------------------------------------------- defect 1: the statistics


def test_each_side_has_the_main_tables_interval_and_holm_test(tied_dir: Path) -> None:
    """Each side of each cell is what the main table computes for those runs (one function, not a
    second implementation): the t interval, the paired test against the cell's best, Holm."""
    built, results = _built(tied_dir)
    [tune] = built.tunes
    comparison = _table(built, "tune_comparison")
    raw = comparison.raw
    for depth in (1, 2):
        selected = {
            rid
            for rid, cfg in tune.planned.items()
            if cfg.get("role") == "eval" and cfg["depth"] == depth and cfg["lr"] != COMMON
        }
        runs = results.runs[results.runs["run_id"].isin(selected)]
        main = tables.main_table(Results(runs, results.epochs, results.layers, results.planned, results.directory))
        for _, expected in main.iterrows():
            row = raw.loc[_row(comparison, depth, expected["activation"])]
            for column in ("ci_low", "ci_high", "p_vs_best_holm", "mean", "std"):
                source = column if column.startswith("p_") else f"test_loss_{column}"
                assert row[f"tuned_{column}"] == pytest.approx(expected[source], nan_ok=True)
            assert row["tuned_best"] == expected["best"]
    for column in (TUNED_LOSS, "p vs best (Holm), tuned", COMMON_LOSS, "p vs best (Holm) at lr=0.01"):
        assert column in comparison.display.columns
    relu = _row(comparison, 1, "relu")
    assert comparison.display.at[relu, "p vs best (Holm), tuned"] == "best"
    assert " – " in comparison.display.at[relu, TUNED_LOSS].split(CELL_BREAK)[1]


def test_bold_means_not_separable_from_the_best_as_in_the_main_table(tied_dir: Path) -> None:
    built, _ = _built(tied_dir)
    comparison = _table(built, "tune_comparison")
    loss = TUNED_LOSS
    tanh = _row(comparison, 1, "tanh")  # rank 2, within seed noise of relu: not separable, bold
    assert comparison.raw.at[tanh, "tuned_rank"] == 2.0 and comparison.raw.at[tanh, "tuned_tied_with_best"]
    assert comparison.bold.at[tanh, loss]
    sigmoid = _row(comparison, 2, "sigmoid")  # learned, separably worse: not bold
    tied = comparison.raw.at[sigmoid, "tuned_tied_with_best"]
    assert tied is not None and not tied and not comparison.bold.at[sigmoid, loss]
    # the main table's caption wording and notes, Holm's family the cell of one side (3 activations)
    assert "not separable from it after Holm's correction (*)" in comparison.caption
    assert "1 = best, bold" not in comparison.caption
    notes = " ".join(comparison.notes)
    assert tables.TIED_NOTE in notes and "(α/3)" in notes and "(α/15)" not in notes


def test_the_comparison_fits_a_window_and_keeps_every_number(tied_dir: Path, tmp_path: Path) -> None:
    """12 columns (a separate interval column on each side) made the table 1394 px wide in the
    1238 px a 1300 px window leaves it, its last columns scrolled out of view: each side's
    interval and marks now share its test loss's cell, each on a line of its own in HTML
    (a space in Markdown and LaTeX), and no number is lost."""
    built, _ = _built(tied_dir)
    comparison = _table(built, "tune_comparison")
    display, raw = comparison.display, comparison.raw
    side_columns = {"tuned": (TUNED_LOSS, ", tuned"), "common": (COMMON_LOSS, " at lr=0.01")}
    assert list(display.columns) == [
        "dataset", "depth", "activation", "selected",
        *[column for loss, tail in side_columns.values() for column in (loss, f"p vs best (Holm){tail}", f"rank{tail}")],
    ]  # fmt: skip
    for row in display.index:
        for prefix, (loss, _) in side_columns.items():
            marks = ["(did not learn)"] if raw.at[row, f"{prefix}_learned_none"] else []
            expected = [
                fmt_mean_std(raw.at[row, f"{prefix}_mean"], raw.at[row, f"{prefix}_std"]),
                f"[{fmt_interval(raw.at[row, f'{prefix}_ci_low'], raw.at[row, f'{prefix}_ci_high'])}]",
                *marks,
            ]
            assert display.at[row, loss].split(CELL_BREAK) == expected, (row, prefix)
    # the widest line of a cell: the mark, no longer the mean with its mark (38 characters)
    assert (
        max(len(line) for column, _ in side_columns.values() for c in display[column] for line in c.split("\n")) <= 22
    )
    sigmoid = _row(comparison, 1, "sigmoid")
    html = tables.to_html(display, comparison.bold)
    cell = display.at[sigmoid, TUNED_LOSS].split(CELL_BREAK)
    assert f'<td class="num">{cell[0]}<br>{cell[1]}<br>(did not learn)</td>' in html
    paths = {p.suffix: p for p in tables.write_table(comparison, tmp_path)}
    markdown = paths[".md"].read_text(encoding="utf-8")
    assert sum(line.startswith("| ") for line in markdown.splitlines()) == 2 + len(display)  # a row per line
    assert f"| {cell[0]} \\[{cell[1][1:-1]}\\] (did not learn) |" in markdown
    assert f"{cell[0]} [{cell[1][1:-1]}] (did not learn)".replace("±", "$\\pm$").replace("–", "--") in paths[
        ".tex"
    ].read_text(encoding="utf-8")


def test_a_cell_without_an_interval_or_with_a_diverged_seed() -> None:
    """Under 2 converged seeds the main table has no interval: none in brackets; each mark on a line."""
    assert tune_tables.loss_cell("0.5", "–", ["", ""]) == "0.5"
    assert tune_tables.loss_cell("0.5", "–", ["(2 diverged)", ""]) == f"0.5{CELL_BREAK}(2 diverged)"
    both = tune_tables.loss_cell("0.5 ± 0.1", "0.3 – 0.7", ["(1 diverged)", "(did not learn)"])
    assert both.split(CELL_BREAK) == ["0.5 ± 0.1", "[0.3 – 0.7]", "(1 diverged)", "(did not learn)"]
    # numbers, right-aligned: a cell's first line decides (every seed diverged: no number, the mark below)
    every_diverged = tune_tables.loss_cell("–", "–", ["(3 diverged)", ""])
    frame = pd.DataFrame({"loss": [every_diverged, both]})
    assert tables.to_markdown(frame, frame.map(lambda _: False)).splitlines()[1] == "| ---: |"


# ------------------------------------------------------------------------- defect 2: did not learn, ties


def test_an_activation_that_did_not_learn_is_marked_and_not_bold_beside_a_best_that_learned(tied_dir: Path) -> None:
    built, _ = _built(tied_dir)
    comparison = _table(built, "tune_comparison")
    sigmoid = _row(comparison, 1, "sigmoid")
    raw = comparison.raw.loc[sigmoid]
    # the paired test cannot separate it from the best (3 noisy seeds) ...
    assert raw["tuned_tied_with_best"] and raw["tuned_p_vs_best_holm"] >= 0.05 and raw["tuned_learned_none"]
    # ... yet it did not learn where relu, the best, did: marked, not bold
    assert comparison.display.at[sigmoid, TUNED_LOSS].endswith("(did not learn)")
    assert not comparison.bold.at[sigmoid, TUNED_LOSS]
    assert tables.NOT_LEARNED_NOTE in comparison.notes
    ranks = _table(built, "tune_ranks").raw.set_index("activation")
    assert ranks.loc["sigmoid", "did_not_learn_tuned"] == 1 and ranks.loc["relu", "did_not_learn_tuned"] == 0


def test_findings_name_the_activations_that_share_the_best_mean_rank(tied_dir: Path) -> None:
    built, _ = _built(tied_dir)
    ranks = _table(built, "tune_ranks").raw.set_index("activation")
    assert ranks.loc["relu", "mean_rank_tuned"] == ranks.loc["tanh", "mean_rank_tuned"] == 1.5
    first = tune_report.findings(built)[0]
    assert first.startswith("Each activation at its own tuned value, relu and tanh share the best mean rank (1.50);")
    assert "relu has the best mean rank" not in first


def test_findings_say_when_the_best_mean_rank_did_not_learn(leader_dir: Path) -> None:
    built, _ = _built(leader_dir)
    first = tune_report.findings(built)[0]
    assert "sigmoid has the best mean rank (1.00, though it did not learn in 2 of its 2 cells)" in first
    comparison = _table(built, "tune_comparison")
    sigmoid = _row(comparison, 1, "sigmoid")
    assert comparison.display.at[sigmoid, TUNED_LOSS].endswith("(did not learn)")
    assert "No converged run at the selected values learned" not in " ".join(comparison.notes)  # relu, tanh did


# ------------------------------------------------------------------------- defect 1: no conclusion without a test


def test_rank_differences_are_not_stated_as_conclusions(tied_dir: Path) -> None:
    built, _ = _built(tied_dir)
    caption = _table(built, "tune_ranks").caption
    assert "would not hold" not in caption and "not a test" in caption and "p vs best (Holm)" in caption
    sentences = tune_report.findings(built)
    tested = next(s for s in sentences if s.startswith("These mean ranks"))
    assert "(2 cells, 3 evaluation seeds)" in tested and "not a test" in tested
    # bold (the best or not separable) in every cell for relu and tanh at their tuned values
    assert "tuned: relu 2 of 2, sigmoid 0 of 2 (did not learn in 1), tanh 2 of 2;" in tested


# ------------------------------------------------------------------------- defect 3: runs left out


def test_findings_do_not_say_no_run_diverged_when_tuning_runs_did(tied_dir: Path) -> None:
    built, results = _built(tied_dir)
    shown = tune_report.evaluation_only(results, built.left_out_ids)
    assert (shown.runs["status"] == "done").all()  # the tables' runs: none diverged
    [first, *_] = main_findings.outcomes_text(shown)
    assert first.startswith("No run at the common value diverged or failed")
    left_out = next(s for s in tune_report.findings(built) if s.startswith("Runs only the Tuned comparison holds"))
    # sigmoid's lr=0.1 at 2 depths x 2 tuning seeds
    assert "24 tuning runs, 4 diverged, 0 failed" in left_out
    assert "18 runs at a selected value, none diverged or failed" in left_out  # 3 activations x 2 depths x 3 seeds


def test_an_untuned_store_still_says_no_run_diverged(tied_dir: Path) -> None:
    results = tables.complete(load_results(tied_dir))
    done = results.runs[results.runs["status"] == "done"]
    untuned = Results(done, results.epochs, results.layers, pd.DataFrame({"run_id": done["run_id"]}), results.directory)
    assert main_findings.outcomes_text(untuned)[0].startswith("No run diverged or failed")


def test_cells_the_main_table_would_group_otherwise_are_computed_each_on_its_own(tied_dir: Path) -> None:
    """Should one main table over a side not hold the tuned sweep's cells one to one, each cell is
    computed on its own (never two cells in one Holm family, nor one cell split)."""
    built, results = _built(tied_dir)
    [tune] = built.tunes
    common = {rid: cfg for rid, cfg in tune.planned.items() if rid in tune.common_ids and cfg["depth"] == 1}
    cells = {
        "a": {rid for rid, cfg in common.items() if cfg["activation"] != "sigmoid"},
        "b": {rid for rid, cfg in common.items() if cfg["activation"] == "sigmoid"},
    }
    sides = tune_tables._sides(results, cells, ("lr",))
    assert sorted(sides["a"].main.index) == ["relu", "tanh"] and list(sides["b"].main.index) == ["sigmoid"]
    assert bool(sides["b"].main.loc["sigmoid", "best"])  # alone in its cell
