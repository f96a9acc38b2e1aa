"""MLflow and TensorBoard exports, read back with each tool's own reader; the notebook view."""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fake_results import ACTIVATIONS, DEPTHS, EPOCHS, SEEDS, config, loss_of, make_results
from typer.testing import CliRunner

from actcmp.cli import app

runner = CliRunner()
STORED = 9  # 8 relu/tanh runs + 1 failed gelu run


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_results(tmp_path_factory.mktemp("fake") / "results")


# ---------------------------------------------------------------------------- MLflow


@contextmanager
def mlflow_reader(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """MLflow's own client on the exported file store (it warns on import under newer SQLAlchemy)."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mlflow

        yield mlflow


@pytest.fixture(scope="module")
def mlflow_export(results_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    pytest.importorskip("mlflow")
    from actcmp.store.export_mlflow import export_mlflow

    return export_mlflow(results_dir, tmp_path_factory.mktemp("mlflow") / "store")


@pytest.mark.slow  # importing MLflow takes seconds
def test_mlflow_runs_read_back_with_params_tags_and_status(mlflow_export: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert mlflow_export.experiments == {"fake": STORED} and mlflow_export.summary_runs == 1
    with mlflow_reader(monkeypatch) as mlflow:
        mlflow.set_tracking_uri(mlflow_export.uri)
        frame = mlflow.search_runs(experiment_names=["fake"])
    runs = frame[frame["tags.actcmp.summary"].isna()]
    assert len(runs) == STORED and len(frame) == STORED + 1
    by_id = runs.set_index("tags.actcmp.run_id")
    relu = config("relu", 2, 1)
    row = by_id.loc[relu["run_id"]]
    assert row["params.activation"] == "relu" and row["params.depth"] == "2" and row["params.lr"] == "0.001"
    assert row["tags.actcmp.status"] == "done" and row["status"] == "FINISHED"
    assert row["tags.actcmp.sweeps"] == "fake" and row["tags.actcmp.env.torch"] == "2.13.0+cpu"
    assert row["tags.actcmp.env.group_timings_s"] == '{"train": 0.5}'
    assert row["metrics.test_loss"] == loss_of("relu", 2, 1, EPOCHS)
    assert row["metrics.wall_time_s"] == 1.5
    failed = by_id.loc[config("gelu", 1, 0)["run_id"]]
    assert failed["status"] == "FAILED" and failed["tags.actcmp.error"].startswith("RuntimeError: boom")
    diverged = by_id.loc[config("tanh", 2, 1)["run_id"]]
    assert (
        diverged["tags.actcmp.status"] == "diverged" and diverged["metrics.test_loss"] != diverged["metrics.test_loss"]
    )
    assert not [c for c in frame.columns if "preact_hist" in c]  # histogram bins left out


@pytest.mark.slow  # importing MLflow takes seconds
def test_mlflow_metric_histories_are_per_epoch(mlflow_export: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with mlflow_reader(monkeypatch) as mlflow:
        client = mlflow.tracking.MlflowClient(tracking_uri=mlflow_export.uri)
        experiment = client.get_experiment_by_name("fake")
        rid = config("tanh", 2, 0)["run_id"]
        (run,) = client.search_runs([experiment.experiment_id], filter_string=f"tags.`actcmp.run_id` = '{rid}'")
        history = client.get_metric_history(run.info.run_id, "val_loss")
        layer = client.get_metric_history(run.info.run_id, "layer1/dead_fraction")
    assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == [
        (epoch, loss_of("tanh", 2, 0, epoch) + 0.5) for epoch in range(EPOCHS)
    ]
    assert sorted((m.step, m.value) for m in layer) == [(0, 0.25), (EPOCHS - 1, 0.25 + 0.5 * (EPOCHS - 1) / EPOCHS)]


@pytest.mark.slow  # importing MLflow takes seconds
def test_mlflow_summary_run_carries_the_report(mlflow_export: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with mlflow_reader(monkeypatch) as mlflow:
        client = mlflow.tracking.MlflowClient(tracking_uri=mlflow_export.uri)
        experiment = client.get_experiment_by_name("fake")
        (summary,) = client.search_runs([experiment.experiment_id], filter_string="tags.`actcmp.summary` = 'true'")
        top = {f.path for f in client.list_artifacts(summary.info.run_id)}
        figures = {f.path for f in client.list_artifacts(summary.info.run_id, "figures")}
    assert top == {"figures", "report.html"} and figures == {"figures/loss_curves.png"}


@pytest.mark.slow  # importing MLflow takes seconds
def test_mlflow_export_again_replaces_and_foreign_dir_refused(
    results_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("mlflow")
    out = tmp_path / "store"
    for _ in range(2):
        result = runner.invoke(app, ["export", str(results_dir), "--format", "mlflow", "--out", str(out)])
        assert result.exit_code == 0, result.output
    assert "MLFLOW_ALLOW_FILE_STORE=true mlflow ui" in result.output
    with mlflow_reader(monkeypatch) as mlflow:
        mlflow.set_tracking_uri(out.resolve().as_uri())
        assert len(mlflow.search_runs(experiment_names=["fake"])) == STORED + 1  # not twice
    assert not list(tmp_path.glob(".store.*"))  # no temporary or old copies left
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me\n")
    result = runner.invoke(app, ["export", str(results_dir), "--format", "mlflow", "--out", str(foreign)])
    assert result.exit_code == 2 and "holds other files" in result.output
    assert (foreign / "notes.txt").read_text() == "keep me\n"


@pytest.mark.parametrize("fmt", ["mlflow", "tensorboard"])
def test_missing_extra_is_one_line_with_the_install_command(
    fmt: str, results_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, fmt, None)  # import fails as if not installed
    result = runner.invoke(app, ["export", str(results_dir), "--format", fmt, "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert result.output.strip() == f"actcmp: error: --format {fmt} needs the {fmt} extra: pip install 'actcmp[{fmt}]'"
    assert not (tmp_path / "x").exists()


# ---------------------------------------------------------------------------- TensorBoard


@pytest.fixture(scope="module")
def tb_export(results_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    pytest.importorskip("tensorboard")
    from actcmp.store.export_tensorboard import export_tensorboard

    return export_tensorboard(results_dir, tmp_path_factory.mktemp("tb") / "logs")


def accumulator(path: Path) -> Any:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(path), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    return events


def run_dir(export: Any, activation: str, depth: int, seed: int) -> Path:
    rid = config(activation, depth, seed)["run_id"]
    (match,) = [p for p in export.path.iterdir() if p.is_dir() and p.name.endswith(rid[:8])]
    return match


def test_tensorboard_scalars_per_run(tb_export: Any) -> None:
    assert len([p for p in tb_export.path.iterdir() if p.is_dir()]) == STORED
    for activation in ACTIVATIONS:
        for depth in DEPTHS:
            for seed in SEEDS:
                events = accumulator(run_dir(tb_export, activation, depth, seed))
                val = [(e.step, e.value) for e in events.Scalars("loss/val_loss")]
                assert val == [(epoch, loss_of(activation, depth, seed, epoch) + 0.5) for epoch in range(EPOCHS)]
                tags = events.Tags()["scalars"]
                assert f"layer{depth - 1}/dead_fraction" in tags and not [t for t in tags if "preact_hist" in t]
    done = accumulator(run_dir(tb_export, "relu", 1, 0))
    assert [(e.step, e.value) for e in done.Scalars("final/test_loss")] == [(EPOCHS - 1, loss_of("relu", 1, 0, EPOCHS))]
    diverged = accumulator(run_dir(tb_export, "tanh", 2, 1))  # its NULLs as NaN, as the store and Parquet have them
    ((step, value),) = [(e.step, e.value) for e in diverged.Scalars("final/test_loss")]
    assert step == EPOCHS - 1 and math.isnan(value)


def test_tensorboard_and_mlflow_keep_a_diverged_runs_nan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run whose loss turned NaN at epoch 1 has val_loss [1.44, NULL] in the store: both
    exports show step 1 as NaN (they used to stop at step 0) and final test_loss as NaN."""
    from actcmp.engine.plain import RunResult
    from actcmp.store.database import Store

    pytest.importorskip("tensorboard")
    pytest.importorskip("mlflow")
    cfg = {**config("relu", 1, 0), "run_id": "diverged0"}
    epochs = [(0, "val_loss", 1.44), (1, "val_loss", math.nan), (0, "train_loss", 1.5), (1, "train_loss", math.inf)]
    with Store(tmp_path / "r") as store:
        store.save_sweep("div", "div", {"grid": {}}, [cfg])
        store.write_run(
            RunResult(
                run_id="diverged0", config=cfg, status="diverged", final={"test_loss": math.nan, "epochs_run": 1.0},
                epochs=epochs, layers=[(0, 1, "dead_fraction", 0.0), (1, 1, "dead_fraction", math.nan)],
            )
        )  # fmt: skip
    from actcmp.store.export_tensorboard import export_tensorboard

    logs = export_tensorboard(tmp_path / "r", tmp_path / "tb")
    (folder,) = [p for p in logs.path.iterdir() if p.is_dir()]
    events = accumulator(folder)
    for tag in ("loss/val_loss", "loss/train_loss", "layer1/dead_fraction", "final/test_loss"):
        values = [(e.step, e.value) for e in events.Scalars(tag)]
        assert [s for s, _ in values] == ([1] if tag.startswith("final") else [0, 1]), tag
        assert math.isnan(values[-1][1]), tag
    assert [e.value for e in events.Scalars("final/epochs_run")] == [1.0]
    from actcmp.store.export_mlflow import export_mlflow

    written = export_mlflow(tmp_path / "r", tmp_path / "ml")
    with mlflow_reader(monkeypatch) as mlflow:
        client = mlflow.tracking.MlflowClient(tracking_uri=written.uri)
        (run,) = client.search_runs([client.get_experiment_by_name("div").experiment_id])
        history = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, "val_loss"))
        final = client.get_run(run.info.run_id).data.metrics
    assert history[0] == (0, 1.44) and history[1][0] == 1 and math.isnan(history[1][1])
    assert math.isnan(final["test_loss"]) and final["epochs_run"] == 1.0


def _hparams(path: Path) -> Any:
    from tensorboard.plugins.hparams import plugin_data_pb2

    content = accumulator(path).PluginTagToContent("hparams")
    assert len(content) == 1
    return plugin_data_pb2.HParamsPluginData.FromString(next(iter(content.values())))


def test_tensorboard_hparams_experiment_and_sessions(tb_export: Any) -> None:
    experiment = _hparams(tb_export.path).experiment
    names = [h.name for h in experiment.hparam_infos]
    assert names == ["activation", "dataset", "depth", "seed", "init", "status"]  # init varies, lr does not
    assert [m.name.tag for m in experiment.metric_infos] == ["final/test_loss", "final/dead_fraction_final"]
    activation = experiment.hparam_infos[0]
    assert sorted(v.string_value for v in activation.domain_discrete.values) == ["gelu", "relu", "tanh"]
    session = _hparams(run_dir(tb_export, "tanh", 2, 1)).session_start_info
    assert session.hparams["activation"].string_value == "tanh"
    assert session.hparams["depth"].number_value == 2 and session.hparams["status"].string_value == "diverged"
    assert session.group_name == config("tanh", 2, 1)["run_id"]


def test_tensorboard_cli_and_replace(results_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    out = tmp_path / "tb"
    for _ in range(2):
        result = runner.invoke(app, ["export", str(results_dir), "--format", "tensorboard", "--out", str(out)])
        assert result.exit_code == 0, result.output
    assert f"tensorboard --logdir {out}" in result.output
    assert len([p for p in out.iterdir() if p.is_dir()]) == STORED
    assert len(list(out.glob("events.out.tfevents.*"))) == 1


def test_an_export_of_another_format_is_neither_replaced_nor_mixed(results_dir: Path, tmp_path: Path) -> None:
    """A TensorBoard export in a folder is not replaced by an MLflow export there (each
    replaces only its own format), nor filled with Parquet or CSV files."""
    pytest.importorskip("tensorboard")
    out = tmp_path / "tb"
    result = runner.invoke(app, ["export", str(results_dir), "--format", "tensorboard", "--out", str(out)])
    assert result.exit_code == 0, result.output
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    for fmt in ("mlflow", "parquet", "csv"):
        result = runner.invoke(app, ["export", str(results_dir), "--format", fmt, "--out", str(out)])
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        assert f"holds an actcmp tensorboard export: choose another --out for the {fmt} export" in result.output
        assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    # nor inside it: a later TensorBoard export would replace the folder whole
    inner = out / "sub"
    for fmt in ("parquet", "mlflow"):
        result = runner.invoke(app, ["export", str(results_dir), "--format", fmt, "--out", str(inner)])
        assert result.exit_code == 2 and "is inside the actcmp tensorboard export" in result.output, result.output
    assert not inner.exists()
    # a Parquet export beside a CSV one in the default folder is fine (one file per frame and format)
    for fmt in ("parquet", "csv"):
        assert runner.invoke(app, ["export", str(results_dir), "--format", fmt]).exit_code == 0
    assert {p.suffix for p in (results_dir / "export").glob("runs.*")} >= {".parquet", ".csv"}


def test_widths_are_json_lists_in_csv_as_in_mlflow_and_tensorboard(tmp_path: Path) -> None:
    """A sequence field reads the same in every export: a list in Parquet, the JSON text
    ``[16, 8]`` in CSV (it was Python's tuple repr, ``(16, 8)``), MLflow and TensorBoard."""
    import json

    import pandas as pd

    sweep = tmp_path / "w.toml"
    sweep.write_text(
        'name = "w"\nepochs = 1\nbottleneck = 4\nwidths = [16, 8]\n'
        '[grid]\ndataset = ["digits"]\nseed = [0]\nactivation = ["relu", "tanh"]\n',
        encoding="utf-8",
    )
    out = tmp_path / "out"
    assert runner.invoke(app, ["run", str(sweep), "--out", str(out), "--quiet"]).exit_code == 0
    for fmt in ("csv", "parquet"):
        assert runner.invoke(app, ["export", str(out), "--format", fmt]).exit_code == 0
    for name in ("runs", "planned"):
        text = pd.read_csv(out / "export" / f"{name}.csv")["widths"]
        lists = pd.read_parquet(out / "export" / f"{name}.parquet")["widths"]
        assert text.tolist() == ["[16, 8]"] * 2
        assert [json.loads(t) for t in text] == [list(v) for v in lists] == [[16, 8]] * 2
    from actcmp.store.export_mlflow import _param_value

    assert _param_value((16, 8)) == _param_value([16, 8]) == "[16, 8]"


# ---------------------------------------------------------------------------- notebooks


def test_load_results_summary_and_html(results_dir: Path) -> None:
    import actcmp

    results = actcmp.load_results(results_dir)
    assert len(results.runs) == STORED and set(results.epochs["metric"]) == {"train_loss", "val_loss"}
    assert results.status_counts() == {"done": 7, "diverged": 1, "failed": 1, "pending": 1}
    summary = results.summary()
    assert list(summary[["depth", "activation"]].itertuples(index=False, name=None)) == [
        (1, "relu"),
        (1, "gelu"),
        (1, "tanh"),
        (2, "relu"),
        (2, "tanh"),
    ]  # fmt: skip (activations in the legend order)
    relu = summary[(summary["depth"] == 1) & (summary["activation"] == "relu")].iloc[0]
    assert relu["test_loss_mean"] == (loss_of("relu", 1, 0, EPOCHS) + loss_of("relu", 1, 1, EPOCHS)) / 2
    page = results._repr_html_()
    assert "<h4>actcmp results: fake</h4>" in page
    assert "7 done · 1 diverged · 1 failed · 1 pending" in page
    assert page.count("<tr") == 1 + len(summary) and "test_loss_mean" in page
    assert "fake" in repr(results) and "7 done" in repr(results)


def test_a_converged_runs_metrics_that_do_not_apply_are_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A converged run's NULL final metric does not apply to it (no anomaly set, never
    diverged): MLflow and TensorBoard leave it out instead of showing NaN (a diverged run's
    NULLs stay NaN: the test above)."""
    from actcmp.engine.plain import RunResult
    from actcmp.store.database import Store

    pytest.importorskip("tensorboard")
    pytest.importorskip("mlflow")
    cfg = {**config("relu", 1, 0), "run_id": "done0"}
    final = {"test_loss": 0.25, "anomaly_auroc": None, "diverged_epoch": None, "epochs_run": 1.0}
    with Store(tmp_path / "r") as store:
        store.save_sweep("ok", "ok", {"grid": {}}, [cfg])
        store.write_run(
            RunResult(run_id="done0", config=cfg, status="done", final=final,
                      epochs=[(0, "val_loss", 1.0), (1, "val_loss", 0.5)], layers=[])
        )  # fmt: skip
    from actcmp.store.export_tensorboard import export_tensorboard

    logs = export_tensorboard(tmp_path / "r", tmp_path / "tb")
    (folder,) = [p for p in logs.path.iterdir() if p.is_dir()]
    tags = accumulator(folder).Tags()["scalars"]
    assert "final/test_loss" in tags and "final/anomaly_auroc" not in tags and "final/diverged_epoch" not in tags
    from actcmp.store.export_mlflow import export_mlflow

    written = export_mlflow(tmp_path / "r", tmp_path / "ml")
    with mlflow_reader(monkeypatch) as mlflow:
        client = mlflow.tracking.MlflowClient(tracking_uri=written.uri)
        (run,) = client.search_runs([client.get_experiment_by_name("ok").experiment_id])
        metrics = client.get_run(run.info.run_id).data.metrics
    assert metrics["test_loss"] == 0.25 and "anomaly_auroc" not in metrics and "diverged_epoch" not in metrics


@pytest.mark.slow  # trains a tiny tuned sweep and imports MLflow
def test_exports_of_a_tuned_sweep_say_which_runs_tune_and_which_value_was_selected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLflow tags and TensorBoard hparams carry each run's part in the [tune] protocol, as
    the report reads it: tuning runs, evaluation runs at the common and the selected value."""
    pytest.importorskip("tensorboard")
    pytest.importorskip("mlflow")
    from test_tune import TINY

    from actcmp.config import load_sweep
    from actcmp.run.sweep import run_sweep
    from actcmp.store.database import Store
    from actcmp.store.export_common import tune_roles
    from actcmp.store.export_mlflow import export_mlflow
    from actcmp.store.export_tensorboard import export_tensorboard

    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    out = tmp_path / "tuned"
    run_sweep(load_sweep(path), out, engine="plain")
    with Store(out, create=False) as store:
        roles = tune_roles(store)
        stored = set(store.stored_ids())
    assert set(roles) == stored
    counts = {role: list(roles.values()).count(role) for role in set(roles.values())}
    assert counts["tuning"] == 12  # 2 activations x 3 candidates x 2 tuning seeds
    evaluation = sum(n for role, n in counts.items() if role.startswith("evaluation"))
    assert evaluation == len(stored) - 12 and evaluation >= 4
    assert set(counts) <= {
        "tuning",
        "evaluation (common value)",
        "evaluation (selected value)",
        "evaluation (common = selected value)",
    }
    tb = export_tensorboard(out, tmp_path / "tb")
    assert "role" in tb.hparams
    sessions = {
        _hparams(p).session_start_info.group_name: _hparams(p).session_start_info.hparams["role"].string_value
        for p in tb.path.iterdir()
        if p.is_dir()
    }
    assert sessions == roles
    exported = export_mlflow(out, tmp_path / "mlflow")
    with mlflow_reader(monkeypatch) as mlflow:
        mlflow.set_tracking_uri(exported.uri)
        frame = mlflow.search_runs(search_all_experiments=True)
    runs = frame[frame["tags.actcmp.summary"].isna()] if "tags.actcmp.summary" in frame else frame
    assert dict(zip(runs["tags.actcmp.run_id"], runs["tags.actcmp.role"], strict=True)) == roles
