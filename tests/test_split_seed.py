"""``split_seed``: the seed of a run's train/validation/test split, apart from the run's seed;
a sweep with ``[tune]`` holds one split for every run, so selection never sees test rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from actcmp.analysis.cells import cell_keys
from actcmp.analysis.tune import stored_tunes
from actcmp.claims.reference import attach_pca, pca_reference
from actcmp.cli import app
from actcmp.config import RunConfig, config_hash, load_sweep, make_run, run_id, split_seed_of
from actcmp.datasets import canonical_dataset, load_dataset
from actcmp.datasets.load import load_raw
from actcmp.datasets.raw import split_indices
from actcmp.errors import ConfigError
from actcmp.plan import resolve_runs
from actcmp.report.canvas import diverged_counts, loss_name
from actcmp.report.frames import key_value_text, matching
from actcmp.report.setup import run_fields, setup_items, tune_protocol
from actcmp.run.plan import plan_runs, sweep_id
from actcmp.run.tasks import cached_dataset, clear_data_cache
from actcmp.run.tune import plan_tune
from actcmp.store.database import Store

runner = CliRunner()

TUNED = """
name = "tuned-split"
epochs = 1
width = 16
bottleneck = 4
[grid]
dataset = ["digits"]
depth = [1]
seed = [0, 1, 2]
activation = ["relu", "tanh"]
[tune]
lr = [1e-3, 1e-2]
seeds = [100, 101]
"""


def _rows(cfg: dict[str, object], part: int) -> set[int]:
    """Row indices of the dataset in the train (0), validation (1) or test (2) split of ``cfg``."""
    raw, _ = load_raw(canonical_dataset(str(cfg["dataset"])), None)
    parts = split_indices(
        len(raw.x), split_seed_of(cfg), float(cfg["val_fraction"]), float(cfg["test_fraction"]), raw.anomaly
    )
    return set(parts[part].tolist())


def test_unset_split_seed_keeps_every_stored_run_id() -> None:
    # the field is new: unset, a run's id is what it was before the field existed
    cfg = resolve_runs([RunConfig(seed=3)], build=False)[0]
    assert cfg["split_seed"] is None and split_seed_of(cfg) == 3
    without = {k: v for k, v in cfg.items() if k not in ("split_seed", "run_id")}
    assert run_id(without) == cfg["run_id"]
    # set, it is part of the id, even when it equals the seed (a different statement)
    assert resolve_runs([RunConfig(seed=3, split_seed=3)], build=False)[0]["run_id"] != cfg["run_id"]


def test_split_seed_draws_the_split_and_seed_the_rest() -> None:
    clear_data_cache()
    cfg = resolve_runs([RunConfig(seed=0, split_seed=5)], build=False)[0]
    data = cached_dataset(cfg, None)
    by_seed = load_dataset("digits", 5)
    assert torch.equal(data.x_test, by_seed.x_test) and torch.equal(data.x_val, by_seed.x_val)
    own = load_dataset("digits", 0)
    assert not torch.equal(data.x_test, own.x_test)
    # the cache tells splits apart by split seed, not by run seed
    other = resolve_runs([RunConfig(seed=0)], build=False)[0]
    assert torch.equal(cached_dataset(other, None).x_test, own.x_test)


@pytest.mark.parametrize("value", [-1, True, 1.5, "a"])
def test_bad_split_seed_is_refused(value: object) -> None:
    with pytest.raises(ConfigError, match="split_seed"):
        make_run({"split_seed": value})


def test_tuned_sweep_validates_on_no_test_row(tmp_path: Path) -> None:
    path = tmp_path / "sweep.toml"
    path.write_text(TUNED, encoding="utf-8")
    plan = plan_tune(load_sweep(path))
    assert {c["split_seed"] for c in plan.static} == {0}
    tested = set().union(*(_rows(c, 2) for c in plan.common))
    seen = set().union(*(_rows(c, 0) | _rows(c, 1) for c in plan.tuning))
    assert tested and seen and not tested & seen
    # what the split used to be (each seed its own): tuning seeds' validation rows are test rows
    per_seed = [{**c, "split_seed": None} for c in plan.static]
    tested = set().union(*(_rows(c, 2) for c in per_seed if c["seed"] < 100))
    validated = set().union(*(_rows(c, 1) for c in per_seed if c["seed"] >= 100))
    assert tested & validated


def test_tuned_sweep_keeps_a_split_seed_it_sets(tmp_path: Path) -> None:
    path = tmp_path / "sweep.toml"
    path.write_text(TUNED.replace("width = 16", "width = 16\nsplit_seed = 7"), encoding="utf-8")
    assert {c["split_seed"] for c in plan_tune(load_sweep(path)).static} == {7}
    path.write_text(TUNED.replace("depth = [1]", "depth = [1]\nsplit_seed = [3, 4]"), encoding="utf-8")
    plan = plan_tune(load_sweep(path))
    assert {c["split_seed"] for c in plan.static} == {3, 4}
    # a cell's tuning and evaluation runs share its split
    units = {c["tune_unit"]: c["split_seed"] for c in plan.common}
    assert all(units[c["tune_unit"]] == c["split_seed"] for c in plan.tuning)


def test_split_seed_cannot_be_tuned(tmp_path: Path) -> None:
    path = tmp_path / "sweep.toml"
    path.write_text(TUNED.replace("seeds = [100, 101]", "seeds = [100, 101]\nsplit_seed = [0, 1]"), encoding="utf-8")
    result = runner.invoke(app, ["run", str(path), "--dry-run"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "tune.split_seed: cannot be tuned" in result.output


def test_plain_sweep_splits_by_seed_and_dry_run_shows_the_tuned_split(tmp_path: Path) -> None:
    path = tmp_path / "sweep.toml"
    path.write_text(TUNED, encoding="utf-8")
    result = runner.invoke(app, ["run", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "split_seed = 0" in result.output
    plain = tmp_path / "plain.toml"
    plain.write_text(TUNED.split("[tune]")[0], encoding="utf-8")
    assert {r.split_seed for r in load_sweep(plain).runs()} == {None}


def test_pca_reference_uses_the_runs_split() -> None:
    runs = pd.DataFrame({"dataset": ["digits"] * 2, "seed": [1, 2], "bottleneck": [4, 4], "split_seed": [5, np.nan]})
    pca = pca_reference(runs).set_index("seed")
    again = pca_reference(pd.DataFrame({"dataset": ["digits"] * 2, "seed": [5, 2], "bottleneck": [4, 4]}))
    again = again.set_index("seed")
    assert pca.at[1, "pca_test_mse"] == again.at[5, "pca_test_mse"]
    assert pca.at[2, "pca_test_mse"] == again.at[2, "pca_test_mse"]


def _setup(fixed: dict[str, object], grid: dict[str, list[int]]) -> dict[str, object]:
    """The least :func:`collect_setup` output that :func:`setup_items` reads."""
    return {
        "sweep": {"name": "s"},
        "provenance": {},
        "dates": {},
        "runs": {"stored": 1, "done": 1, "diverged": 0, "failed": 0},
        "grid": grid,
        "fixed": fixed,
        "seeds": [0],
        "init": {},
        "environment": {k: ["x"] for k in ("actcmp", "torch", "python", "numpy", "device", "cpu_capability",
                                            "engine", "platform")},
        "report_software": {"numpy": "x", "scipy": "x"},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("fixed", "grid", "expected"),
    [
        ({"split_seed": None, "test_fraction": 0.15}, {}, "each seed draws its own"),
        ({"split_seed": 0, "val_fraction": 0.15}, {}, "one for every run (split_seed 0)"),
        ({}, {"split_seed": [1, 2]}, "one per value of the grid axis split_seed"),
    ],
)
def test_setup_states_the_split(fixed: dict[str, object], grid: dict[str, list[int]], expected: str) -> None:
    setup = _setup(fixed, grid)
    items = [i for i in setup_items(setup, "d") if i.startswith("Split")]
    assert len(items) == 1 and expected in items[0], items


def test_pca_reference_keeps_one_seeds_splits_apart() -> None:
    runs = pd.DataFrame(
        {"run_id": ["a", "b"], "dataset": ["digits"] * 2, "seed": [0, 0], "bottleneck": [4, 4], "split_seed": [3, 4]}
    )
    pca = pca_reference(runs)
    assert len(pca) == 2
    joined = attach_pca(runs, pca).set_index("run_id")
    alone = {s: pca_reference(pd.DataFrame({"dataset": ["digits"], "seed": [s], "bottleneck": [4]})) for s in (3, 4)}
    assert joined.at["a", "pca_test_mse"] == alone[3]["pca_test_mse"].iloc[0]
    assert joined.at["b", "pca_test_mse"] == alone[4]["pca_test_mse"].iloc[0]
    assert joined.at["a", "pca_test_mse"] != joined.at["b", "pca_test_mse"]


def test_pca_reference_keeps_the_fractions_apart() -> None:
    """Runs that differ only in their validation fraction test on different rows: each gets
    the PCA reference of its own split (the reference was keyed by the split seed alone)."""
    from actcmp.claims.reference import pca_mse
    from actcmp.datasets import load_dataset

    runs = pd.DataFrame(
        {
            "run_id": ["a", "b"],
            "dataset": ["digits"] * 2,
            "seed": [0, 0],
            "bottleneck": [4, 4],
            "split_seed": [0, 0],
            "val_fraction": [0.15, 0.3],
            "test_fraction": [0.15, 0.15],
        }
    )
    pca = pca_reference(runs)
    assert len(pca) == 2
    joined = attach_pca(runs, pca).set_index("run_id")
    assert list(joined.columns) == [*runs.columns.drop("run_id"), "pca_train_mse", "pca_test_mse"]
    for name, val in (("a", 0.15), ("b", 0.3)):
        data = load_dataset("digits", 0, val, 0.15)
        x_train, x_test = (d.numpy().astype(np.float64) for d in (data.x_train, data.x_test))
        assert joined.at[name, "pca_train_mse"] == pca_mse(x_train, x_train, 4)
        assert joined.at[name, "pca_test_mse"] == pca_mse(x_train, x_test, 4)
    assert joined.at["a", "pca_train_mse"] != joined.at["b", "pca_train_mse"]


def test_unset_and_set_split_seed_are_different_cells() -> None:
    runs = pd.DataFrame(
        {
            "activation": ["relu", "tanh"] * 2,
            "dataset": ["digits"] * 4,
            "depth": [1] * 4,
            "seed": [0] * 4,
            "split_seed": [None, None, 0, 0],
        }
    )
    assert "split_seed" in cell_keys(runs)


def test_explicit_none_under_tune_still_gets_one_split(tmp_path: Path) -> None:
    path = tmp_path / "sweep.toml"
    path.write_text(TUNED, encoding="utf-8")
    sweep = load_sweep(path)
    loose = sweep.model_copy(update={"fixed": {**sweep.fixed, "split_seed": None}})
    assert {r.split_seed for r in loose.runs()} == {0}
    # the split is part of a tuned sweep's id: one stored before split_seed keeps its own
    assert sweep.to_dict()["fixed"]["split_seed"] == 0
    assert sweep_id(sweep) != config_hash({**sweep.to_dict(), "fixed": dict(sweep.fixed)})[:12]


def test_a_split_seed_axis_holding_none_is_refused_under_tune(tmp_path: Path) -> None:
    """None on a split_seed axis means each seed's own split, which would leak under [tune];
    only the Python API can say it (TOML has no null, the command line parses integers)."""
    path = tmp_path / "sweep.toml"
    path.write_text(TUNED, encoding="utf-8")
    sweep = load_sweep(path)
    leaky = sweep.model_copy(update={"grid": {**sweep.grid, "split_seed": [None, 1]}})
    with pytest.raises(ConfigError, match=r"grid\.split_seed: None .* cannot be used with \[tune\]"):
        leaky.runs()
    with pytest.raises(ConfigError, match="split_seed"):
        plan_tune(leaky)
    scalar = sweep.model_copy(update={"grid": {**sweep.grid, "split_seed": None}})
    with pytest.raises(ConfigError, match=r"split_seed: must be a list"):
        scalar.runs()
    fine = sweep.model_copy(update={"grid": {**sweep.grid, "split_seed": [0, 1]}})
    assert {r.split_seed for r in fine.runs()} == {0, 1}
    untuned = leaky.model_copy(update={"tune": None})
    assert {r.split_seed for r in untuned.runs()} == {None, 1}


def _legacy_tuned_directory(tmp_path: Path) -> tuple[Path, Path]:
    """A results directory holding a tuned sweep as an actcmp before split_seed stored it."""
    path = tmp_path / "sweep.toml"
    path.write_text(TUNED, encoding="utf-8")
    sweep = load_sweep(path)
    old = {**sweep.to_dict(), "fixed": dict(sweep.fixed)}  # no split_seed: each seed its own split
    planned = [{**c, "split_seed": None} for c in plan_tune(sweep).static]
    out = tmp_path / "old"
    with Store(out) as store:
        store.save_sweep(config_hash(old)[:12], sweep.name, old, planned)
    return path, out


def test_a_tuned_sweep_is_refused_beside_one_that_split_per_seed(tmp_path: Path) -> None:
    path, out = _legacy_tuned_directory(tmp_path)
    before = (out / "actcmp.sqlite").read_bytes()
    result = runner.invoke(app, ["run", str(path), "--out", str(out), "--quiet"])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("actcmp: error:")]
    assert len(errors) == 1 and "stored by an older actcmp" in errors[0] and "--out" in errors[0]
    assert (out / "actcmp.sqlite").read_bytes() == before
    dry = runner.invoke(app, ["run", str(path), "--out", str(out), "--dry-run"])
    assert dry.exit_code == 2 and "stored by an older actcmp" in dry.output, dry.output
    # a sweep without [tune] may still go there
    plain = tmp_path / "plain.toml"
    plain.write_text(TUNED.split("[tune]")[0].replace("seed = [0, 1, 2]", "seed = [0]"), encoding="utf-8")
    result = runner.invoke(app, ["run", str(plain), "--out", str(out), "--quiet", "--dry-run"])
    assert result.exit_code == 0, result.output


def test_setup_warns_of_a_tuned_sweep_that_split_per_seed(tmp_path: Path) -> None:
    _, out = _legacy_tuned_directory(tmp_path)
    with Store(out, create=False) as store:
        tunes = stored_tunes(store)
    assert [t.per_seed_split for t in tunes] == [True]
    protocol = tune_protocol(tunes)
    assert protocol[0]["per_seed_split"] is True
    setup = _setup({"split_seed": None}, {})
    setup["tune"] = protocol
    warning = [i for i in setup_items(setup, "d") if i.startswith("**Warning:**")]
    assert len(warning) == 1 and "selection saw test data" in warning[0]
    # a tuned sweep of this version: no warning
    path = tmp_path / "sweep.toml"
    fresh = tmp_path / "fresh"
    with Store(fresh) as store:
        sweep = load_sweep(path)
        store.save_sweep(sweep_id(sweep), sweep.name, sweep.to_dict(), plan_tune(sweep).static)
        assert [t.per_seed_split for t in stored_tunes(store)] == [False]


@pytest.mark.slow
def test_tuned_sweep_with_a_split_axis_tells_its_cells_apart(tmp_path: Path) -> None:
    path = tmp_path / "sweep.toml"
    path.write_text(
        TUNED.replace("depth = [1]", "depth = [1]\nsplit_seed = [3, 4]").replace("seed = [0, 1, 2]", "seed = [0]"),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(path), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    status = runner.invoke(app, ["status", str(out)])
    selected = [line for line in status.output.splitlines() if "selected" in line]
    assert len(selected) == 4 and len(set(selected)) == 4, status.output
    assert all("split_seed" in line for line in selected), status.output


def test_claims_report_only_counts_a_tuned_sweeps_pending_runs(tmp_path: Path) -> None:
    # a tuned claim sweep with nothing of its plan stored (e.g. runs of an older split): every
    # judged run is pending, out of as many planned ("N of 0 planned" before)
    with Store(tmp_path / "tanh_sigmoid"):
        pass
    result = runner.invoke(app, ["claims", "--only", "5", "--report-only", "--out", str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    note = [line for line in result.output.splitlines() if line.startswith("note:")]
    assert len(note) == 1 and "120 of 120 planned runs are not stored" in note[0], result.output


def test_claims_report_only_counts_the_pending_runs_of_units_not_selected_yet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With one unit selected and the others not, the claim still plans one evaluation run per
    grid point: the unselected units' runs are pending (before, only the selected unit's runs
    were counted as planned)."""
    import json

    from actcmp.claims.runner import load_claim_sweep

    plan = plan_tune(load_claim_sweep("tanh_sigmoid")[1])
    first = plan.tuning[0]["tune_unit"]
    finished = {c["run_id"]: ("done", 1.0 + i) for i, c in enumerate(plan.tuning) if c["tune_unit"] == first}
    monkeypatch.setattr(Store, "final_metric", lambda self, run_ids, name: finished)
    with Store(tmp_path / "tanh_sigmoid"):
        pass
    result = runner.invoke(app, ["claims", "--only", "5", "--report-only", "--out", str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    (sweep,) = json.loads((tmp_path / "claims.json").read_text(encoding="utf-8"))["sweeps"]
    assert sweep["planned"] == len(plan.common) == 120
    assert sweep["counts"]["pending"] == 120
    assert "pending" in json.dumps(sweep["selected"]) and len(sweep["selected"]) > 1
    # a unit whose every candidate diverged gets no evaluation run at a selected value: none pending
    diverged = {rid: ("diverged", None) for rid in finished}
    monkeypatch.setattr(Store, "final_metric", lambda self, run_ids, name: diverged)
    result = runner.invoke(app, ["claims", "--only", "5", "--report-only", "--out", str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    (sweep,) = json.loads((tmp_path / "claims.json").read_text(encoding="utf-8"))["sweeps"]
    assert sweep["planned"] == 120 - len(plan.members[first]) == sweep["counts"]["pending"]
    assert "all diverged" in json.dumps(sweep["selected"])


def test_claims_warn_of_a_tuned_claim_sweep_stored_with_per_seed_splits(tmp_path: Path) -> None:
    """``claims --report-only`` on a directory an older actcmp filled: the claim judges none of
    those runs (their ids differ), and claims.md says why instead of only "pending"."""
    import json

    from actcmp.claims.runner import load_claim_sweep

    _, sweep = load_claim_sweep("tanh_sigmoid")
    old = {**sweep.to_dict(), "fixed": dict(sweep.fixed)}
    planned = [{**c, "split_seed": None} for c in plan_tune(sweep).static]
    with Store(tmp_path / "tanh_sigmoid") as store:
        store.save_sweep(config_hash(old)[:12], sweep.name, old, planned)
    result = runner.invoke(app, ["claims", "--only", "5", "--report-only", "--out", str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    (entry,) = json.loads((tmp_path / "claims.json").read_text(encoding="utf-8"))["sweeps"]
    assert "stored by an older actcmp" in entry["warning"] and "--out" in entry["warning"]
    text = (tmp_path / "claims.md").read_text(encoding="utf-8")
    assert text.count("**Warning:** `tanh_sigmoid` also holds the tuned sweep") == 1
    warned = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warned) == 1 and "new directory with --out" in warned[0], result.output
    # a directory this version filled has no such warning
    fresh = tmp_path / "fresh"
    with Store(fresh / "tanh_sigmoid") as store:
        store.save_sweep(sweep_id(sweep), sweep.name, sweep.to_dict(), plan_tune(sweep).static)
    result = runner.invoke(app, ["claims", "--only", "5", "--report-only", "--out", str(fresh), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "warning" not in json.loads((fresh / "claims.json").read_text(encoding="utf-8"))["sweeps"][0]
    assert "**Warning:**" not in (fresh / "claims.md").read_text(encoding="utf-8")


def test_a_tuned_sweep_whose_planned_runs_share_a_split_is_not_taken_for_per_seed(tmp_path: Path) -> None:
    # a record whose fields lack split_seed but whose planned runs all have one (as the first
    # version of this change stored them) is not a per-seed sweep: no refusal, no warning
    path = tmp_path / "sweep.toml"
    path.write_text(TUNED, encoding="utf-8")
    sweep = load_sweep(path)
    record = {**sweep.to_dict(), "fixed": dict(sweep.fixed)}
    out = tmp_path / "out"
    with Store(out) as store:
        store.save_sweep(config_hash(record)[:12], sweep.name, record, plan_tune(sweep).static)
        assert [t.per_seed_split for t in stored_tunes(store)] == [False]
    result = runner.invoke(app, ["run", str(path), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output


def test_cell_values_match_across_none_and_float_columns() -> None:
    column = pd.Series([0.0, np.nan, 3.0])
    assert matching(column, 0).tolist() == [True, False, False]
    assert matching(column, None).tolist() == [False, True, False]
    assert matching(pd.Series([0, None, 3], dtype=object), 3.0).tolist() == [False, False, True]
    assert matching(pd.Series([(16,), None], dtype=object), (16,)).tolist() == [True, False]
    runs = pd.DataFrame(
        {"activation": ["relu"] * 2, "status": ["diverged"] * 2, "loss": ["mse", "bce"], "split_seed": [0, None]}
    )
    results = type("R", (), {"runs": runs})()
    assert diverged_counts(results, {"split_seed": 0.0}) == {"relu": 1}
    assert diverged_counts(results, {"split_seed": float("nan")}) == {"relu": 1}
    assert loss_name(runs, {"split_seed": 0.0}) == "MSE"


def test_setup_and_tables_show_an_unset_value_as_none() -> None:
    # widths set for one dataset only follows the dataset; split_seed unset and set in one cell is an axis
    runs = pd.DataFrame(
        {
            "activation": ["relu", "tanh"] * 4,
            "dataset": ["digits"] * 4 + ["csv:x.csv"] * 4,
            "widths": [(16,)] * 4 + [None] * 4,
            "split_seed": [0, 0, None, None] * 2,
            "seed": [0] * 8,
        }
    )
    fields = run_fields(runs)
    assert fields["per_dataset"]["widths"] == {"digits": (16,), "csv:x.csv": None}
    assert fields["grid"]["split_seed"] == [None, 0]
    assert [key_value_text("split_seed", v) for v in (0.0, float("nan"), None, 3)] == ["0", "none", "none", "3"]


def test_claims_refuse_a_per_seed_tuned_sweep_before_training_anything(tmp_path: Path) -> None:
    from actcmp.claims.runner import load_claim_sweep

    _, sweep = load_claim_sweep("tanh_sigmoid")
    old = {**sweep.to_dict(), "fixed": dict(sweep.fixed)}
    with Store(tmp_path / "tanh_sigmoid") as store:
        store.save_sweep(config_hash(old)[:12], sweep.name, old, [{**c, "split_seed": None} for c in plan_runs(sweep)])
    result = runner.invoke(app, ["claims", "--only", "1,5", "--out", str(tmp_path), "--quiet"])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert "stored by an older actcmp" in result.output
    assert not (tmp_path / "linear").exists()  # claim 1's sweep was not trained first
