"""A tuned sweep's report: the other tables at the common value only, the tuned comparison's
ranks, and what the Setup says was selected and run.

A fabricated store (no training) of a sweep with ``[tune]``: relu, elu, sigmoid and tanh on
digits at depths 1 and 2, evaluation seeds 0-2 at the common value lr=3, lr tuned over
0.1, 0.3, 1 and 3 on the tuning seeds 100 and 101:

* relu selects 0.3 and diverges on every seed at lr=3;
* elu selects ``ELU_PICK`` (the common value 3 itself, or 0.1);
* sigmoid selects 1; at depth 2 its evaluation runs at lr=1 are not stored (pending);
* tanh diverges on every tuning candidate (no selection) and on every seed at lr=3.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from actcmp.analysis.cells import cell_keys
from actcmp.config import sweep_from_dict
from actcmp.engine.plain import RunResult
from actcmp.report import setup as setup_report
from actcmp.report import tables, tune_tables
from actcmp.report import tune as tune_report
from actcmp.run.sweep import sweep_id
from actcmp.run.tune import evaluation_runs, plan_tune, select_from_store
from actcmp.store.database import Results, Store, load_results

COMMON = 3.0
CANDIDATES = [0.1, 0.3, 1.0, 3.0]
ACTIVATIONS = ["relu", "elu", "sigmoid", "tanh"]
#: mean final validation loss of each tuning candidate (inf: diverged)
VAL = {
    "relu": {0.1: 0.5, 0.3: 0.2, 1.0: 0.4, 3.0: math.inf},
    "sigmoid": {0.1: 0.9, 0.3: 0.8, 1.0: 0.3, 3.0: 0.5},
    "tanh": dict.fromkeys(CANDIDATES, math.inf),
}
#: test loss at the selected value (common: at lr=3; inf: every seed diverged)
TEST_SELECTED = {"relu": 0.2, "elu": 0.3, "sigmoid": 0.4}
TEST_COMMON = {"relu": math.inf, "elu": 0.6, "sigmoid": 0.5, "tanh": math.inf}


def tiny_tuned_sweep(name: str, common: float, candidates: list[float], activations: list[str]) -> Any:
    """A tuned sweep of ``activations`` on digits at depths 1 and 2, 3 evaluation seeds, lr tuned
    over ``candidates`` on seeds 100 and 101 beside the common ``common`` (fabricated stores)."""
    return sweep_from_dict(
        {
            "name": name,
            "epochs": 3,
            "width": 16,
            "bottleneck": 4,
            "batch_size": 128,
            "probe_size": 64,
            "lr": common,
            "grid": {"dataset": ["digits"], "depth": [1, 2], "seed": [0, 1, 2], "activation": activations},
            "tune": {"lr": candidates, "seeds": [100, 101]},
        }
    )


def _sweep() -> Any:
    return tiny_tuned_sweep("fabricated-tune", COMMON, CANDIDATES, ACTIVATIONS)


def fabricated_run(
    cfg: dict[str, Any], val: float | None, test: float | None, epochs: list[tuple[int, str, float]]
) -> RunResult:
    """A stored run of the plan's ``cfg`` (its plan keys dropped): final validation loss ``val``
    and test loss ``test`` (None for both: diverged), the mean predictor's loss 1.0."""
    diverged = test is None
    final = {
        "final_val_loss": val,
        "test_loss": test,
        "baseline_loss": 1.0,
        "dead_fraction_init": 0.0,
        "dead_fraction_final": 0.0,
        "saturated_fraction_final": 0.0,
    }
    config = {k: v for k, v in cfg.items() if k not in ("role", "tune_unit")}
    env = {"actcmp": "0.1.0", "torch": "2.13.0+cpu", "python": "3.11.7", "device": "cpu", "engine": "plain"}
    return RunResult(cfg["run_id"], config, "diverged" if diverged else "done", final, epochs, [], 0.1, env=env)


def _result(cfg: dict[str, Any], val: float, test: float) -> RunResult:
    diverged = not math.isfinite(val) or not math.isfinite(test)
    value = 0.7 if diverged else test * (1 + 0.01 * int(cfg["seed"]))
    epochs = [(e, name, value * (1 + 2 * math.exp(-e))) for e in range(4) for name in ("train_loss", "val_loss")]
    return fabricated_run(cfg, None if diverged else val, None if diverged else value, epochs)


def fabricate(directory: Path, elu_pick: float) -> Path:
    sweep = _sweep()
    plan = plan_tune(sweep)
    val = {**VAL, "elu": {lr: 0.25 if lr == elu_pick else 0.6 for lr in CANDIDATES}}
    test_selected = {**TEST_SELECTED, "elu": TEST_COMMON["elu"] if elu_pick == COMMON else TEST_SELECTED["elu"]}
    with Store(directory) as store:
        for cfg in plan.tuning:
            store.write_run(_result(cfg, val[cfg["activation"]][cfg["lr"]], 1.0))
        selections = select_from_store(plan, store)
        evaluation = evaluation_runs(plan, selections)
        store.save_sweep(sweep_id(sweep), sweep.name, sweep.to_dict(), [*plan.tuning, *evaluation])
        for cfg in evaluation:
            name = cfg["activation"]
            if cfg["lr"] == COMMON:
                store.write_run(_result(cfg, 0.5, TEST_COMMON[name]))
            elif not (name == "sigmoid" and cfg["depth"] == 2):  # pending
                store.write_run(_result(cfg, 0.5, test_selected[name]))
    return directory


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """elu selects the common value itself: its evaluation runs there are the common runs."""
    return fabricate(tmp_path_factory.mktemp("tuned_common"), elu_pick=COMMON)


@pytest.fixture(scope="module")
def store_dir_no_common(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """No unit selects the common value."""
    return fabricate(tmp_path_factory.mktemp("tuned_other"), elu_pick=0.1)


def _built(directory: Path, out: Path) -> tuple[tune_report.TunedReport, Results]:
    results = tables.complete(load_results(directory))
    built = tune_report.build(directory, out, results, ("png",), [], later=True)
    return built, tune_report.evaluation_only(results, built.left_out_ids)


# ------------------------------------------------------------------------- B1: cells


def test_the_other_tables_hold_the_common_value_only(store_dir: Path, tmp_path: Path) -> None:
    built, results = _built(store_dir, tmp_path)
    [tune] = built.tunes
    runs = results.runs
    assert set(runs["lr"]) == {COMMON}
    # every activation in every cell, on the evaluation seeds: 4 x 2 depths x 3 seeds
    assert len(runs) == 24 and set(runs["run_id"]) == tune.common_ids
    assert set(runs["seed"]) == {0, 1, 2}
    # elu selected the common value: those evaluation runs are the common runs (same ids), kept
    elu = {rid for rid, c in tune.planned.items() if c["activation"] == "elu" and c.get("role") == "eval"}
    assert elu <= tune.common_ids and not elu & tune.selected_ids
    # the selected lr never defines a cell
    assert cell_keys(runs) == ["dataset", "depth"]
    main = next(t for t in tables.build_tables(results) if t.name == "main").raw
    assert "lr" not in main.columns
    assert main.groupby(["dataset", "depth"])["activation"].nunique().eq(4).all()
    assert set(results.planned["run_id"]) <= tune.common_ids


def test_a_run_another_untuned_sweep_planned_stays(store_dir: Path) -> None:
    built = tune_report.build(store_dir, store_dir.parent / "unused", load_results(store_dir), ("png",), [], later=True)
    [tune] = built.tunes
    some = next(iter(tune.selected_ids))
    assert some in built.left_out_ids
    assert some not in tune_report.left_out_ids(built.tunes, {some})
    assert tune.tuning_ids <= tune_report.left_out_ids(built.tunes)


@pytest.mark.slow
def test_report_text_says_the_scope_and_varies_no_tuned_field(store_dir: Path, tmp_path: Path) -> None:
    import json
    import shutil

    from actcmp.report import make_report

    directory = tmp_path / "copy"
    shutil.copytree(store_dir, directory)
    make_report(directory, formats=("png",))
    text = (directory / "report.md").read_text(encoding="utf-8")
    summary = text.split("## Summary", 1)[1].split("\n## ", 1)[0]
    assert "Also varied" not in summary
    section = text.split("## Tuned comparison", 1)[1].split("\n## ", 1)[0]
    assert "hold the runs at the common value lr=3 only" in section
    assert "· lr=" not in text.split("## Findings", 1)[1].split("\n## ", 1)[0]
    setup = json.loads((directory / "setup.json").read_text(encoding="utf-8"))
    assert setup["runs"]["stored"] == 24 and "lr" not in setup["grid"]


# ------------------------------------------------------------------------- B2: ranks


def _table(built: tune_report.TunedReport, name: str) -> Any:
    return next(t for t in built.tables if t.name == name).raw


def test_no_selection_and_every_seed_diverged_rank_last_with_average_ties(store_dir: Path, tmp_path: Path) -> None:
    built, _ = _built(store_dir, tmp_path)
    raw = _table(built, "tune_comparison")
    depth1 = raw[raw["depth"] == 1].set_index("activation")
    # tuned: relu 0.2, sigmoid 0.4, elu 0.6 (at lr=3, its selection), tanh no selection -> last
    assert depth1["tuned_rank"].to_dict() == {"relu": 1.0, "sigmoid": 2.0, "elu": 3.0, "tanh": 4.0}
    # common: sigmoid 0.5, elu 0.6; relu and tanh diverged on every seed: tied last, average rank
    assert depth1["common_rank"].to_dict() == {"relu": 3.5, "elu": 2.0, "sigmoid": 1.0, "tanh": 3.5}
    depth2 = raw[raw["depth"] == 2].set_index("activation")
    assert math.isnan(depth2.loc["sigmoid", "tuned_rank"])  # its runs at the selected value are pending
    assert depth2.loc["tanh", "tuned_rank"] == 3.0  # last of the three ranked


def test_mean_ranks_use_the_same_cells_for_every_activation(store_dir: Path, tmp_path: Path) -> None:
    built, _ = _built(store_dir, tmp_path)
    ranks = _table(built, "tune_ranks").set_index("activation")
    assert ranks["cells"].eq(1).all()  # depth 2 left out for everyone: sigmoid has no tuned rank there
    assert ranks["mean_rank_tuned"].to_dict() == {"relu": 1.0, "elu": 3.0, "sigmoid": 2.0, "tanh": 4.0}
    assert ranks["mean_rank_at_lr=3"].to_dict() == {"relu": 3.5, "elu": 2.0, "sigmoid": 1.0, "tanh": 3.5}
    caption = next(t for t in built.tables if t.name == "tune_ranks").caption
    assert "the 1 of 2 cells where every activation has both ranks" in caption


def test_ties_share_the_average_rank() -> None:
    rows = [
        {"dataset": "d", "activation": a, "x_mean": m, "x_diverged": d}
        for a, m, d in [("a", 0.5, 0), ("b", 0.5, 0), ("c", 0.7, 1), ("d", 0.1, 2), ("e", math.nan, 3)]
    ]
    tune_tables._ranks(rows, ["dataset"], "x")
    # converged seeds first (a and b tied), then a unit with a diverged seed, then none converged
    assert [r["x_rank"] for r in rows] == [1.5, 1.5, 4.0, 3.0, 5.0]


# ------------------------------------------------------------------------- B3 and J5: Setup


def test_setup_lists_the_values_actually_selected(store_dir_no_common: Path, tmp_path: Path) -> None:
    built, results = _built(store_dir_no_common, tmp_path)
    setup = setup_report.collect_setup(results, built.tunes)
    [row] = [r for r in setup_report.setup_rows(setup) if r[0] == "lr"]
    # never 3, the common value nobody selected
    assert "selected: 0.1, 0.3, 1;" in row[1] and "no selection in 2" in row[1] and "3 (the common value)" in row[1]
    assert setup["tuned"]["lr"]["selected"] == [0.1, 0.3, 1.0]
    assert setup["tuned"]["lr"]["common"] == COMMON
    assert setup["tuned"]["lr"]["no_selection"] == 2  # tanh at depth 1 and 2


def test_setup_counts_the_tuning_runs_and_the_runs_at_selected_values(store_dir: Path, tmp_path: Path) -> None:
    built, results = _built(store_dir, tmp_path)
    setup = setup_report.collect_setup(results, built.tunes)
    runs = setup["runs"]
    # tuning: 4 activations x 2 depths x 4 candidates x 2 seeds; relu's lr=3 and all of tanh's diverged
    assert runs["tuning"] == {"stored": 64, "done": 44, "diverged": 20, "failed": 0}
    # relu (0.3) at both depths and sigmoid (1) at depth 1: elu's selection is the common value
    assert runs["at_selected"] == {"stored": 9, "done": 9, "diverged": 0, "failed": 0}
    assert runs["stored"] == 24 and runs["diverged"] == 12
    [line] = [i for i in setup_report.setup_items(setup, "x") if i.startswith("Runs")]
    assert "Runs in the tables: 24, at the common value" in line and "64 tuning runs" in line
    assert "(44 done, 20 diverged, 0 failed)" in line


# ------------------------------------------------------------------------- common values as runs hold them


def test_common_values_are_compared_as_run_configs_hold_them() -> None:
    """A fixed value written as an alias, in another case or as an int for a float is stored
    validated: the common value must be too, or no run matched it and the tables lost every
    run. (A number written as text, "0.01", is refused when the sweep is read, and by RunConfig.)"""
    from actcmp.config import sweep_from_dict
    from actcmp.errors import ConfigError
    from actcmp.tune_spec import common_values

    spec = _sweep().tune
    assert common_values(spec, {"lr": 3}) == {"lr": 3.0}
    with pytest.raises(ConfigError, match=r"lr: must be a number, got the string '0\.01'"):
        sweep_from_dict({"name": "t", "lr": "0.01", "tune": {"batch_size": [32, 64], "seeds": [100]}})


@pytest.mark.slow
@pytest.mark.parametrize("fixed", [{"output_activation": "linear"}, {"output_activation": "Sigmoid"}, {}])
def test_a_tuned_output_activation_keeps_its_common_runs_in_the_tables(fixed: dict[str, Any], tmp_path: Path) -> None:
    """Trained for real (1 epoch): the common value as written ("linear", "Sigmoid") or the
    default "auto", which each run resolves per dataset (digits: sigmoid)."""
    import actcmp

    sweep = sweep_from_dict(
        {"name": "t", "epochs": 1, "width": 16, "bottleneck": 4, **fixed,
         "grid": {"dataset": ["digits"], "depth": [1], "seed": [0, 1], "activation": ["relu", "tanh"]},
         "tune": {"output_activation": ["identity", "sigmoid"], "seeds": [100]}}
    )  # fmt: skip
    actcmp.run_sweep(sweep, out=tmp_path / "r", jobs=1)
    _, results = _built(tmp_path / "r", tmp_path / "report")
    runs = results.runs
    assert len(runs) == 4 and set(runs["seed"]) == {0, 1}
    expected = {"linear": "identity", "Sigmoid": "sigmoid"}.get(fixed.get("output_activation", ""), "sigmoid")
    assert set(runs["output_activation"]) == {expected}
