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
            "a sweep's runs record everything",
            id="tuned-sweep-evaluation-runs",
        ),
        pytest.param(
            TUNED.split("[tune]")[0].replace("epochs = 2\n", 'epochs = 2\nrecord = "val_loss"\n'),
            "a sweep's runs record everything",
            id="plain-sweep",
        ),
        pytest.param(TUNED.split("[tune]")[0], "a sweep's runs record everything", id="set-on-the-command-line"),
    ],
)
def test_bad_record_values_are_refused_in_one_line(tmp_path: Path, text: str, fragment: str) -> None:
    """A sweep's own runs record everything (the report, compare and claims read their train
    and test metrics): only [tune] gives its tuning runs record = "val_loss"."""
    extra = ["--set", "record=val_loss"] if "record" not in text else []
    result = runner.invoke(app, ["run", str(_file(tmp_path, text)), "--dry-run", *extra])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("actcmp: error:")]
    assert len(errors) == 1 and fragment in errors[0], result.output


def test_the_dry_run_says_what_tuning_runs_record(tmp_path: Path) -> None:
    """--dry-run (text and JSON) states the tuning runs' record, by [tune] record."""
    import json

    for text, record, words in (
        (TUNED, "val_loss", "recording the validation loss alone (record = 'val_loss')"),
        (TUNED.replace("[tune]\n", '[tune]\nrecord = "full"\n'), "full", "recording everything (record = 'full')"),
    ):
        path = _file(tmp_path, text)
        result = runner.invoke(app, ["run", str(path), "--dry-run", "--out", str(tmp_path / "none")])
        assert result.exit_code == 0 and words in result.output, result.output
        result = runner.invoke(app, ["run", str(path), "--dry-run", "--json", "--out", str(tmp_path / "none")])
        assert result.exit_code == 0, result.output
        tune = json.loads(result.stdout)["tune"]
        assert tune["record"] == record and tune["tuning"] == 4 and tune["combinations"] == 2
    plain = runner.invoke(app, ["run", str(_file(tmp_path, TUNED.split("[tune]")[0])), "--dry-run", "--json"])
    assert plain.exit_code == 0 and json.loads(plain.stdout)["tune"] is None, plain.output


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


#: OLD_TINY's units as the actcmp before ``record`` (a9f6082~1) keyed them
OLD_UNITS = {"relu": "8739930e61c3", "tanh": "8d416cc26e10"}


def _as_written_before_record(out: Path) -> None:
    """Make a store of OLD_TINY written by this actcmp with [tune] record = "full" into what
    the actcmp before the field wrote: no ``record`` in any stored or planned run config, and
    each planned run's ``tune_unit`` that version's key (``OLD_UNITS``)."""
    import json
    import sqlite3

    con = sqlite3.connect(out / "actcmp.sqlite")
    with con:
        for table in ("runs", "planned"):
            for rid, text in con.execute(f"SELECT run_id, config_json FROM {table}").fetchall():
                cfg = json.loads(text)
                assert cfg.pop("record") == "full"
                if "tune_unit" in cfg:
                    cfg["tune_unit"] = OLD_UNITS[cfg["activation"]]
                con.execute(
                    f"UPDATE {table} SET config_json = ? WHERE run_id = ?", (json.dumps(cfg, sort_keys=True), rid)
                )
    con.close()


def _unit_of(out: Path) -> dict[str, str]:
    with Store(out, create=False) as store:
        return {
            rid: cfg["tune_unit"]
            for sweep in store.sweeps()
            for rid, cfg in store.planned_for(sweep["sweep_id"]).items()
        }


def test_unit_keys_are_those_stored_before_record() -> None:
    """A unit's key (stored as ``tune_unit``; ``--shard`` deals units by it) is what the
    actcmp before ``record`` computed: literal values from that version for a tiny sweep."""
    import tomllib

    from actcmp.run.tune import unit_key

    sweep = sweep_from_dict(tomllib.loads(OLD_TINY))
    assert sweep.tune is not None
    assert sorted({unit_key(run, sweep.tune.fields) for run in sweep.runs()}) == ["8739930e61c3", "8d416cc26e10"]


#: test_tune.TINY, whose unit keys the actcmp before ``record`` (a9f6082~1) gave as above
OLD_TINY = """
name = "tiny"
epochs = 1
width = 16
bottleneck = 4
batch_size = 128
probe_size = 64
[grid]
dataset = ["digits"]
depth = [1]
seed = [0, 1]
activation = ["relu", "tanh"]
[tune]
lr = [1e-3, 1e-2, 3e-2]
seeds = [100, 101]
"""


class _Sink:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def start(self, *args: Any) -> None: ...
    def run_done(self, record: dict[str, Any]) -> None: ...
    def finish(self, summary: dict[str, Any]) -> None: ...
    def message(self, given: list[str]) -> None:
        self.lines += given


@pytest.mark.slow
def test_a_tuned_sweep_stored_before_record_resumes_as_stored(tmp_path: Path) -> None:
    """A directory holding a tuned sweep stored before [tune] record existed (tuning runs
    record everything; no record in its stored configs) resumes it as it was, when the file
    does not say record: its tuning runs count, nothing is trained again, the sweep id and
    the units are kept, and evaluation runs planned after an interruption join their units.
    record written against it is refused in one line, and so is the other direction."""
    import sqlite3
    import tomllib

    old = sweep_from_dict(tomllib.loads(OLD_TINY.replace("[tune]\n", '[tune]\nrecord = "full"\n')))
    out = tmp_path / "lean"
    first = run_sweep(old, out, jobs=1)
    _as_written_before_record(out)
    units = _unit_of(out)
    # interrupted after the tuning phase: its evaluation runs at the selected values not yet planned
    selected = [rid for rid, run in _stored(out).items() if run["config"]["seed"] < 100 and run["config"]["lr"] != 1e-3]
    assert selected
    con = sqlite3.connect(out / "actcmp.sqlite")
    with con:
        for table in ("runs", "run_metrics", "epoch_metrics", "layer_metrics", "samples", "planned"):
            con.executemany(f"DELETE FROM {table} WHERE run_id = ?", [(rid,) for rid in selected])
    con.close()

    import shutil

    shutil.copytree(out, tmp_path / "edited")
    path = _file(tmp_path, OLD_TINY)  # no record: the default, val_loss
    # what claims --report-only reads (run.tune.selected_plan): the stored tuning runs
    from actcmp.config import load_sweep
    from actcmp.run.tune import selected_plan

    plan, selections, _ = selected_plan(load_sweep(path), out)
    assert {cfg["run_id"] for cfg in plan.tuning} <= set(_stored(out)) and all(s.chosen for s in selections)
    # --dry-run says what the run will do with this directory: resume its tuning runs as stored
    dry = runner.invoke(app, ["run", str(path), "--dry-run", "--out", str(out)])
    assert dry.exit_code == 0, dry.output
    assert "as stored" in dry.output and "recording everything (record = 'full')" in dry.output
    dry = runner.invoke(app, ["run", str(path), "--dry-run", "--json", "--out", str(out)])
    assert dry.exit_code == 0, dry.output
    assert __import__("json").loads(dry.stdout)["tune"]["record"] == "full"
    sink = _Sink()
    again = run_sweep(path, out, jobs=1, progress=sink)
    assert again.planned == first.planned and again.skipped == first.planned - len(selected)
    assert any("as stored" in line for line in sink.lines)
    with Store(out, create=False) as store:
        assert [entry["sweep_id"] for entry in store.sweeps()] == [sweep_id(old)]
    resumed = _unit_of(out)
    assert {rid: resumed[rid] for rid in units} == units and set(resumed.values()) == set(units.values())
    # the report's tuned comparison finds the evaluation runs at the selected values
    from actcmp.analysis.tune import stored_tunes

    with Store(out, create=False) as store:
        (tune,) = stored_tunes(store)
        assert set(selected) <= tune.selected_ids and tune.spec.record == "full"

    # the stored runs decide, not the sweep's id: an edited description changes the id
    edited = _file(tmp_path, OLD_TINY.replace('name = "tiny"', 'name = "tiny"\ndescription = "edited"'), "ed.toml")
    again = run_sweep(edited, tmp_path / "edited", jobs=1, progress=_Sink())
    assert again.planned == first.planned and again.skipped == first.planned - len(selected)
    assert not any(run["config"].get("record") == "val_loss" for run in _stored(tmp_path / "edited").values())

    explicit = _file(tmp_path, OLD_TINY.replace("[tune]\n", '[tune]\nrecord = "val_loss"\n'), "explicit.toml")
    with pytest.raises(ConfigError, match="stored with \\[tune\\] record = 'full'"):
        run_sweep(explicit, out, jobs=1)
    dry = runner.invoke(app, ["run", str(explicit), "--dry-run", "--out", str(out)])  # refused as the run is
    errors = [line for line in dry.output.splitlines() if line.startswith("actcmp: error:")]
    assert dry.exit_code == 2 and len(errors) == 1 and "record = 'full'" in errors[0], dry.output
    # a new directory records the validation loss alone; record = "full" is refused there
    fresh = run_sweep(path, tmp_path / "new", jobs=1)
    assert fresh.planned == first.planned and fresh.skipped == 0
    tuning = [run for run in _stored(tmp_path / "new").values() if run["config"]["seed"] >= 100]
    assert tuning and all(run["config"]["record"] == "val_loss" for run in tuning)
    with pytest.raises(ConfigError, match="stored with \\[tune\\] record = 'val_loss'"):
        run_sweep(old, tmp_path / "new", jobs=1)


@pytest.mark.slow
def test_a_shard_stored_before_record_keeps_its_units(tmp_path: Path) -> None:
    """``--shard`` deals units in the order of their keys: a shard stored before ``record``
    resumed by this actcmp plans the same units and trains nothing of the other shard's."""
    import tomllib

    old = sweep_from_dict(tomllib.loads(OLD_TINY.replace("[tune]\n", '[tune]\nrecord = "full"\n')))
    for shard in ("1/2", "2/2"):
        out = tmp_path / shard.replace("/", "-of-")
        first = run_sweep(old, out, jobs=1, shard=shard)
        _as_written_before_record(out)
        before = _stored(out)
        # the old version dealt its units in the order of its keys: relu's first
        assert {run["config"]["activation"] for run in before.values()} == {"relu" if shard == "1/2" else "tanh"}
        again = run_sweep(_file(tmp_path, OLD_TINY), out, jobs=1, shard=shard)
        assert again.planned == first.planned and again.skipped == first.planned
        assert set(_stored(out)) == set(before)


def test_claims_refuse_a_lean_record_in_one_line(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["claims", "--only", "linear", "--set", "record=val_loss", "--report-only", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "a sweep's runs record everything" in result.output
