"""``record = "val_loss"``: a run that records its validation loss alone (what a ``[tune]``
tuning run needs), in both engines, in a tuned sweep, and in a store of a tuned sweep made
before the field existed."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from actcmp.cli import app
from actcmp.config import make_run, run_id, sweep_from_dict
from actcmp.cost import run_units
from actcmp.datasets import load_dataset
from actcmp.engine.batched import train_group
from actcmp.engine.plain import resolve, train_run
from actcmp.errors import ConfigError
from actcmp.run.sweep import run_sweep, sweep_id
from actcmp.run.tune import plan_tune, select_from_store
from actcmp.store.database import Store

runner = CliRunner()

#: the final metrics a val_loss run records (finish's that follow from the validation curve)
VAL_LOSS_FINAL = {
    "final_val_loss", "best_val_loss", "baseline_loss", "loss_threshold", "epochs_to_threshold", "diverged",
    "diverged_epoch", "epochs_run", "n_params",
}  # fmt: skip
BASE = {"dataset": "manifold", "width": 12, "bottleneck": 3, "batch_size": 64, "probe_size": 48, "depth": 2}
#: a stable diverger beside ordinary runs
DIVERGING = {"activation": "identity", "optimizer": "sgd", "lr": 50.0, "momentum": 0.9}


def configs(variants: list[dict[str, Any]], **common: Any) -> tuple[list[dict[str, Any]], list[Any]]:
    out, datasets = [], []
    for variant in variants:
        cfg = make_run({**BASE, **common, **variant})
        data = load_dataset(cfg.dataset, cfg.seed, cfg.val_fraction, cfg.test_fraction)
        out.append(resolve(cfg, data.info.output_activation, data.info.loss))
        datasets.append(data)
    return out, datasets


VARIANTS = [
    {"activation": "relu", "seed": 0, "lr": 0.01},
    {"activation": "prelu", "seed": 1, "lr": 0.003},
    {"activation": "gelu", "seed": 0, "lr": 0.01},
    {"activation": "tanh", "seed": 1, "lr": 0.02},
    DIVERGING,
]


def test_full_is_the_old_meaning_and_keeps_every_id() -> None:
    full = resolve(make_run({**BASE, "record": "full"}), "sigmoid", "mse")
    default = resolve(make_run(BASE), "sigmoid", "mse")
    lean = resolve(make_run({**BASE, "record": "val_loss"}), "sigmoid", "mse")
    assert run_id(full) == run_id(default) != run_id(lean)


def test_a_val_loss_run_records_its_validation_curve_alone_in_both_engines() -> None:
    cfgs, datasets = configs(VARIANTS, epochs=3, record="val_loss")
    batched = train_group(cfgs, datasets, dtype=torch.float64)
    plain = [train_run(c, d, dtype=torch.float64) for c, d in zip(cfgs, datasets, strict=True)]
    assert [r.status for r in plain] == ["done"] * 4 + ["diverged"]
    for b, p in zip(batched, plain, strict=True):
        assert b.status == p.status and b.layers == p.layers == [] and b.samples == p.samples == {}
        assert {m for _, m, _ in p.epochs} == {"val_loss"}
        assert [(e, m) for e, m, _ in b.epochs] == [(e, m) for e, m, _ in p.epochs]
        for (_, _, bv), (_, _, pv) in zip(b.epochs, p.epochs, strict=True):
            assert math.isclose(bv, pv, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(bv) and math.isnan(pv))
        assert set(b.final) == set(p.final) == VAL_LOSS_FINAL
        for key, value in p.final.items():
            other = b.final[key]
            assert (value is None and other is None) or math.isclose(other, value, rel_tol=1e-9), key  # type: ignore[arg-type]


@pytest.mark.parametrize("engine", ["plain", "batched"])
def test_a_val_loss_run_records_what_the_full_run_records_of_it(engine: str) -> None:
    """Measuring less changes nothing measured: the same run with record = "full" has the
    same validation curve and the same values of every final metric both record, bit for bit
    (float32, the engine's own numbers)."""
    lean_cfgs, lean_data = configs(VARIANTS, epochs=2, record="val_loss")
    full_cfgs, full_data = configs(VARIANTS, epochs=2)
    if engine == "plain":
        lean = [train_run(c, d) for c, d in zip(lean_cfgs, lean_data, strict=True)]
        full = [train_run(c, d) for c, d in zip(full_cfgs, full_data, strict=True)]
    else:
        lean, full = train_group(lean_cfgs, lean_data), train_group(full_cfgs, full_data)
    for small, big in zip(lean, full, strict=True):
        assert small.status == big.status
        curve = [(e, v) for e, m, v in big.epochs if m == "val_loss"]
        assert [(e, v) for e, _, v in small.epochs] == curve or all(
            a[0] == b[0] and (a[1] == b[1] or (math.isnan(a[1]) and math.isnan(b[1])))
            for a, b in zip(small.epochs, [(e, "val_loss", v) for e, v in curve], strict=True)
        )
        assert {k: small.final[k] for k in VAL_LOSS_FINAL} == {k: big.final[k] for k in VAL_LOSS_FINAL}
        assert "test_loss" in big.final and "test_loss" not in small.final


def test_a_val_loss_run_costs_less_in_the_cost_model() -> None:
    # the default sweep's shape: mnist1d, depth 4, width 64, 20 epochs, layer metrics every 2
    cfg = resolve(make_run({"dataset": "mnist1d", "depth": 4, "epochs": 20, "probe_every": 2}), "identity", "mse")
    shape = (2800, 600, 600, 40)
    assert run_units({**cfg, "record": "val_loss"}, *shape) < 0.75 * run_units(cfg, *shape)


# ---------------------------------------------------------------------------- sweep files

TUNED = """
name = "lean"
epochs = 2
width = 16
bottleneck = 4
batch_size = 128
probe_size = 64
[grid]
dataset = ["digits"]
depth = [1]
seed = [0]
activation = ["relu", "tanh"]
[tune]
lr = [1e-3, 3e-2]
seeds = [100]
"""


def _file(tmp_path: Path, text: str, name: str = "sweep.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param('name = "x"\nrecord = "nothing"\n', "record", id="unknown-value"),
        pytest.param(TUNED.replace("[tune]\n", '[tune]\nrecord = "some"\n'), "tune.record", id="unknown-in-tune"),
        pytest.param(
            TUNED.replace("epochs = 2\n", 'epochs = 2\nrecord = "val_loss"\n'),
            "evaluation runs without their test metrics",
            id="evaluation-runs-lean",
        ),
    ],
)
def test_bad_record_values_are_refused_in_one_line(tmp_path: Path, text: str, fragment: str) -> None:
    result = runner.invoke(app, ["run", str(_file(tmp_path, text)), "--dry-run"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("actcmp: error:")]
    assert len(errors) == 1 and fragment in errors[0], result.output


def _stored(out: Path) -> dict[str, dict[str, Any]]:
    with Store(out, create=False) as store:
        return {rid: store.read_run(rid) for rid in store.finished_ids()}


@pytest.mark.slow
def test_tuning_runs_record_the_validation_loss_and_select_as_full_ones_do(tmp_path: Path) -> None:
    lean = sweep_from_dict(__import__("tomllib").loads(TUNED))
    full = sweep_from_dict(__import__("tomllib").loads(TUNED.replace("[tune]\n", '[tune]\nrecord = "full"\n')))
    assert lean.tune is not None and lean.tune.record == "val_loss" and "record" in lean.to_dict()["tune"]
    assert full.tune is not None and "record" not in full.to_dict()["tune"]  # as stored before the key
    results = {}
    for name, sweep in (("lean", lean), ("full", full)):
        out = tmp_path / name
        run_sweep(sweep, out, jobs=1)
        plan = plan_tune(sweep)
        with Store(out, create=False) as store:
            selections = select_from_store(plan, store)
        results[name] = (plan, selections, _stored(out))
    lean_plan, lean_selected, lean_runs = results["lean"]
    _, full_selected, full_runs = results["full"]
    # the same choices from the same scores, bit for bit
    assert [(s.unit, s.chosen, s.scores) for s in lean_selected] == [
        (s.unit, s.chosen, s.scores) for s in full_selected
    ]
    for cfg in lean_plan.tuning:
        run = lean_runs[cfg["run_id"]]
        assert run["config"]["record"] == "val_loss"
        assert set(run["final"]) == VAL_LOSS_FINAL and not run["layers"]
    # evaluation runs are the same runs (same ids) whatever the tuning runs record
    lean_eval = {rid for rid, run in lean_runs.items() if run["config"]["seed"] == 0}
    full_eval = {rid for rid, run in full_runs.items() if run["config"]["seed"] == 0}
    assert lean_eval == full_eval and all("test_loss" in lean_runs[rid]["final"] for rid in lean_eval)
    # the report of a lean tuned sweep draws its tune section
    report = runner.invoke(app, ["report", str(tmp_path / "lean")])
    assert report.exit_code == 0, report.output
    assert (tmp_path / "lean" / "figures" / "tune_sensitivity.png").is_file()
    # and its Setup says what the tuning runs recorded
    setup = __import__("json").loads((tmp_path / "lean" / "setup.json").read_text())
    assert [t["tuning_record"] for t in setup["tune"]] == ["val_loss"]
    assert "The tuning runs record the validation loss alone" in (tmp_path / "lean" / "report.md").read_text()


@pytest.mark.slow
def test_a_tuned_sweep_stored_before_record_resumes_as_stored(tmp_path: Path) -> None:
    """A directory holding a tuned sweep whose tuning runs record everything (stored before
    [tune] record existed: its table has no record) resumes it as it was: its tuning runs
    count, nothing is trained again, and its sweep id is kept; record = "val_loss" written
    in the file against it is refused in one line."""
    import tomllib

    old = sweep_from_dict(tomllib.loads(TUNED.replace("[tune]\n", '[tune]\nrecord = "full"\n')))
    out = tmp_path / "lean"
    first = run_sweep(old, out, jobs=1)
    assert first.planned > 0
    lines: list[list[str]] = []

    class Sink:
        def start(self, *args: Any) -> None: ...
        def run_done(self, record: dict[str, Any]) -> None: ...
        def finish(self, summary: dict[str, Any]) -> None: ...
        def message(self, given: list[str]) -> None:
            lines.append(given)

    path = _file(tmp_path, TUNED)  # no record: the default, val_loss
    again = run_sweep(path, out, jobs=1, progress=Sink())
    assert again.planned == again.skipped == first.planned  # nothing trained again
    assert any("as stored" in line for given in lines for line in given)
    with Store(out, create=False) as store:
        assert [entry["sweep_id"] for entry in store.sweeps()] == [sweep_id(old)]
    explicit = _file(tmp_path, TUNED.replace("[tune]\n", '[tune]\nrecord = "val_loss"\n'), "explicit.toml")
    with pytest.raises(ConfigError, match="stored with tuning runs that record everything"):
        run_sweep(explicit, out, jobs=1)
    # a new directory records the validation loss alone
    fresh = run_sweep(path, tmp_path / "new", jobs=1)
    assert fresh.planned == first.planned and fresh.skipped == 0
    tuning = [run for run in _stored(tmp_path / "new").values() if run["config"]["seed"] == 100]
    assert tuning and all(run["config"]["record"] == "val_loss" for run in tuning)


@pytest.mark.slow
def test_a_plain_sweep_of_val_loss_runs_reports(tmp_path: Path) -> None:
    """A sweep whose every run records its validation loss alone (record at the top, no
    [tune]) stores, and its report is written: what is not measured is missing, not an error."""
    text = TUNED.split("[tune]")[0].replace("epochs = 2\n", 'epochs = 2\nrecord = "val_loss"\n')
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(_file(tmp_path, text)), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    report = runner.invoke(app, ["report", str(out)])
    assert report.exit_code == 0, report.output
    assert (out / "report.md").is_file()
