"""The MLflow and TensorBoard exports on a damaged store, under SIGTERM and after a SIGKILL;
the MLflow export's summary run on a report older than its store, its run count and the
experiments it holds (no empty "Default")."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fake_results import config, make_results
from typer.testing import CliRunner

from actcmp.cli import app
from actcmp.errors import StoreError
from actcmp.store.database import Store
from actcmp.store.export_common import MARKER, PARTIAL, read_runs, recover_killed, replacing, report_coverage

runner = CliRunner()
STORED = 9  # make_results: 8 relu/tanh runs + 1 failed gelu run
HERE = Path(__file__).parent
ROOT = HERE.parent


@contextmanager
def mlflow_client(uri: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """MLflow's own client on an exported file store (it warns on import under newer SQLAlchemy)."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mlflow
        from mlflow.tracking import MlflowClient

        mlflow.set_tracking_uri(uri)
        yield MlflowClient(tracking_uri=uri)


def exported_ids(client: Any) -> list[str]:
    """``actcmp.run_id`` of every MLflow run (summary runs left out), one per MLflow run."""
    ids = []
    for experiment in client.search_experiments():
        for run in client.search_runs([experiment.experiment_id], max_results=1000):
            if run.data.tags.get("actcmp.summary") != "true":
                ids.append(run.data.tags["actcmp.run_id"])
    return sorted(ids)


def damage(directory: Path, column: str, rid: str) -> None:
    conn = sqlite3.connect(directory / "actcmp.sqlite")
    with conn:
        conn.execute(f"UPDATE runs SET {column} = '[not json' WHERE run_id = ?", (rid,))
    conn.close()


# ------------------------------------------------------------------ damaged rows (defect 1)

DAMAGED = config("relu", 1, 0)["run_id"]


def test_read_run_leaves_out_a_damaged_config_and_reads_a_damaged_environment_as_none(tmp_path: Path) -> None:
    out = make_results(tmp_path / "r", figures=False)
    damage(out, "env_json", DAMAGED)
    other = config("relu", 2, 0)["run_id"]
    damage(out, "config_json", other)
    with Store(out, create=False) as store:
        assert store.read_run(other) is None
        run = store.read_run(DAMAGED)
    assert run is not None and run["env"] == {} and run["config"]["activation"] == "relu"
    runs, _ = read_runs(out)
    assert len(runs) == STORED - 1 and other not in {r.run_id for r in runs}


@pytest.mark.slow  # imports MLflow and TensorBoard
@pytest.mark.parametrize("fmt", ["mlflow", "tensorboard"])
@pytest.mark.parametrize("column", ["config_json", "env_json"])
def test_a_damaged_row_is_named_and_the_rest_exported(
    fmt: str, column: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the Parquet export: a run whose config cannot be read is left out, one whose
    environment cannot be read is exported without it; each named in one warning."""
    pytest.importorskip(fmt)
    out = make_results(tmp_path / "r", figures=False)
    damage(out, column, DAMAGED)
    target = tmp_path / "x"
    result = runner.invoke(app, ["export", str(out), "--format", fmt, "--out", str(target)])
    assert result.exit_code == 0, result.output
    what = "config" if column == "config_json" else "environment"
    assert f"actcmp: warning: {out}: run {DAMAGED}: its stored {what} is not readable JSON: left out" in result.output
    assert "Traceback" not in result.output and "JSONDecodeError" not in result.output
    expected = STORED - 1 if column == "config_json" else STORED
    if fmt == "tensorboard":
        assert len([p for p in target.iterdir() if p.is_dir()]) == expected
        assert any(p.name.endswith(DAMAGED[:8]) for p in target.iterdir()) == (column == "env_json")
        return
    with mlflow_client(target.resolve().as_uri(), monkeypatch) as client:
        ids = exported_ids(client)
        experiments = [e.experiment_id for e in client.search_experiments()]
        damaged = client.search_runs(experiments, f"tags.`actcmp.run_id` = '{DAMAGED}'")
    if column == "env_json":
        (run,) = damaged
        assert not [tag for tag in run.data.tags if tag.startswith("actcmp.env.")]
    assert len(ids) == expected and (DAMAGED in ids) == (column == "env_json")


# ------------------------------------------------------- SIGTERM and SIGKILL (defect 2)

#: an export that sends itself ``SIG`` as it writes its third run (the CLI in a fresh process)
DYING = """
import os, signal, sys
sys.path.insert(0, {here!r})
import actcmp.store.export_{fmt} as module
original = module.{writer}
calls = []
def dying(*args, **kwargs):
    calls.append(1)
    if len(calls) == 3:
        os.kill(os.getpid(), signal.{sig})
    return original(*args, **kwargs)
module.{writer} = dying
from actcmp.cli.base import main
sys.argv = ["actcmp", "export", {directory!r}, "--format", "{fmt}", "--out", {target!r}]
main()
"""
WRITERS = {"mlflow": "_log_run", "tensorboard": "_write"}


def export_dying(fmt: str, directory: Path, target: Path, sig: str) -> subprocess.CompletedProcess[str]:
    code = DYING.format(
        here=str(HERE), fmt=fmt, writer=WRITERS[fmt], sig=sig, directory=str(directory), target=str(target)
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env)


def listing(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.mark.slow  # imports MLflow / TensorBoard in a subprocess
@pytest.mark.parametrize("fmt", ["mlflow", "tensorboard"])
def test_sigterm_during_an_export_puts_the_earlier_one_back(fmt: str, tmp_path: Path) -> None:
    pytest.importorskip(fmt)
    out = make_results(tmp_path / "r", figures=False)
    target = tmp_path / "x"
    first = runner.invoke(app, ["export", str(out), "--format", fmt, "--out", str(target)])
    assert first.exit_code == 0, first.output
    before = listing(target)
    done = export_dying(fmt, out, target, "SIGTERM")
    assert done.returncode == 143, done.stderr
    assert done.stderr.strip() == "actcmp: terminated (SIGTERM)"
    assert listing(target) == before  # the earlier export, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r", "x"]  # no .x.old, no .x.tmp
    again = runner.invoke(app, ["export", str(out), "--format", fmt, "--out", str(target)])
    assert again.exit_code == 0 and "warning" not in again.output, again.output


@pytest.mark.slow  # imports MLflow in a subprocess
def test_sigterm_before_an_export_writes_is_exit_143_in_one_line(tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    out = make_results(tmp_path / "r", figures=False)
    code = DYING.format(
        here=str(HERE), fmt="mlflow", writer="read_runs", sig="SIGTERM", directory=str(out), target=str(tmp_path / "x")
    ).replace("len(calls) == 3", "len(calls) == 1")
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    assert done.returncode == 143 and done.stderr.strip() == "actcmp: terminated (SIGTERM)", done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


@pytest.mark.slow  # imports MLflow in a subprocess
@pytest.mark.parametrize("earlier", [True, False], ids=["replacing-an-export", "first-export"])
def test_the_export_after_a_sigkilled_one_puts_it_right(
    earlier: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL (or running out of memory) cannot be caught: the MLflow export, written in
    place, leaves a partial store (and the earlier export moved aside); the next export puts
    that right and says so, rather than refusing the partial store as foreign files."""
    pytest.importorskip("mlflow")
    out = make_results(tmp_path / "r", figures=False)
    target = tmp_path / "x"
    if earlier:
        first = runner.invoke(app, ["export", str(out), "--format", "mlflow", "--out", str(target)])
        assert first.exit_code == 0, first.output
    killed = export_dying("mlflow", out, target, "SIGKILL")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (target / MARKER).exists() and (tmp_path / ".x.old").is_dir() == earlier
    result = runner.invoke(app, ["export", str(out), "--format", "mlflow", "--out", str(target)])
    assert result.exit_code == 0, result.output
    assert (
        f"actcmp: warning: export target {target} was left half-written by an export that was killed" in result.output
    )
    assert ("put back the earlier export from .x.old" in result.output) == earlier
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r", "x"]
    with mlflow_client(target.resolve().as_uri(), monkeypatch) as client:
        assert len(exported_ids(client)) == STORED


def _fake_export(path: Path, fmt: str = "mlflow") -> None:
    path.mkdir()
    (path / MARKER).write_text(json.dumps({"written_by": "actcmp", "format": fmt}))
    (path / "data").write_text("old export\n")


@pytest.mark.parametrize(
    "state",
    [
        "partial+old",
        "partial-without-file+old",
        "partial-first-export",
        "moved-aside",
        "foreign",
        "foreign+old-dir",
        "foreign+old-export",
        "empty+old",
    ],
)
def test_recover_killed(state: str, tmp_path: Path) -> None:
    """What a killed in-place export can leave, put back; anything else left alone.
    ``partial-without-file+old``: what an actcmp without the PARTIAL file left."""
    out, old = tmp_path / "mlflow", tmp_path / ".mlflow.old"
    if state.endswith("+old") or state in ("moved-aside", "foreign+old-export"):
        _fake_export(old)
    if state.startswith("partial"):
        out.mkdir()
        (out / "123").mkdir()
        (out / "123" / "meta.yaml").write_text("half\n")
        if state != "partial-without-file+old":
            (out / PARTIAL).write_text("{}")
    if state == "empty+old":  # killed between making the target and writing its PARTIAL file
        out.mkdir()
    if state.startswith("foreign"):
        out.mkdir()
        (out / "notes.txt").write_text("keep me\n")
        if state == "foreign+old-dir":
            old.mkdir()  # not an actcmp export: nothing says what "mlflow" is
    said = recover_killed(out, "mlflow")
    if state == "foreign+old-export":  # a user's folder beside an earlier export: never removed
        assert said is None and (out / "notes.txt").read_text() == "keep me\n"
        assert recover_killed(out, "tensorboard") is None and (out / "notes.txt").is_file()
        refused = replacing(out, {"format": "mlflow"}, in_place=True)
        with pytest.raises(StoreError, match=r"kept beside it as \.mlflow\.old"), refused:
            pass
        assert (out / "notes.txt").is_file() and (old / "data").is_file()
        return
    if state.startswith("foreign"):
        assert said is None and (out / "notes.txt").read_text() == "keep me\n"
        with pytest.raises(StoreError, match="holds other files"), replacing(out, {"format": "mlflow"}, in_place=True):
            pass
        assert (out / "notes.txt").read_text() == "keep me\n"
        return
    assert said is not None and str(out) in said
    assert not old.exists()
    if state == "partial-first-export":
        assert not out.exists() and "put back" not in said
    else:
        assert (out / "data").read_text() == "old export\n" and "put back the earlier export" in said


def test_replacing_puts_the_old_export_back_on_sigterm(tmp_path: Path) -> None:
    """Called as a library (no CLI): SIGTERM while an in-place export is written is an error
    there (:class:`~actcmp.signals.Terminated`, the old export back), not the process's end."""
    out = tmp_path / "mlflow"
    _fake_export(out)
    code = textwrap.dedent(
        """
        import os, signal, sys
        from pathlib import Path
        from actcmp.signals import Terminated
        from actcmp.store.export_common import replacing
        try:
            with replacing(Path(sys.argv[1]), {"format": "mlflow"}, in_place=True) as root:
                root.mkdir(exist_ok=True)
                (root / "new").write_text("partial")
                os.kill(os.getpid(), signal.SIGTERM)
        except Terminated:
            print("terminated")
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, env=env)
    assert done.returncode == 0 and done.stdout == "terminated\n", done.stderr
    assert (out / "data").read_text() == "old export\n" and not (out / "new").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlflow"]


# ------------------------------------------------- the summary run's report (defect 3)


def write_setup(directory: Path, stored: int, done: int, diverged: int, failed: int, last: str) -> None:
    runs = {"stored": stored, "done": done, "diverged": diverged, "failed": failed}
    (directory / "setup.json").write_text(json.dumps({"runs": runs, "dates": {"first": last, "last": last}}))


def test_report_coverage(tmp_path: Path) -> None:
    out = make_results(tmp_path / "r")
    runs, _ = read_runs(out)
    newest = max(run.finished_at for run in runs)
    state, why = report_coverage(out, runs)
    assert state == "unknown" and why is not None and "no setup.json" in why
    write_setup(out, STORED, 7, 1, 1, newest)
    assert report_coverage(out, runs) == ("current", None)
    write_setup(out, STORED - 2, 5, 1, 1, newest)
    state, why = report_coverage(out, runs)
    assert state == "stale" and why is not None
    assert (
        "it covers 7 runs (5 done, 1 diverged, 1 failed), the store holds 9 runs (7 done, 1 diverged, 1 failed)" in why
    )
    write_setup(out, STORED, 7, 1, 1, "2020-01-01T00:00:00+0000")  # as many runs, one redone since
    state, why = report_coverage(out, runs)
    assert state == "stale" and why is not None and "after the report's newest" in why
    (out / "setup.json").write_text("{")
    assert report_coverage(out, runs)[0] == "unknown"


@pytest.mark.slow  # imports MLflow
def test_a_report_older_than_the_store_is_said_to_be(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("mlflow")
    out = make_results(tmp_path / "r")
    runs, _ = read_runs(out)
    newest = max(run.finished_at for run in runs)
    for stored, stale in ((STORED, "false"), (STORED - 2, "true")):
        write_setup(out, stored, stored - 2, 1, 1, newest)
        target = tmp_path / f"x{stored}"
        result = runner.invoke(app, ["export", str(out), "--format", "mlflow", "--out", str(target)])
        assert result.exit_code == 0, result.output
        assert ("is older than its store" in result.output) == (stale == "true"), result.output
        with mlflow_client(target.resolve().as_uri(), monkeypatch) as client:
            (experiment,) = client.search_experiments()
            (summary,) = client.search_runs([experiment.experiment_id], "tags.`actcmp.summary` = 'true'")
        assert summary.data.tags["actcmp.report_stale"] == stale
        assert ("actcmp.report_note" in summary.data.tags) == (stale == "true")


# ---------------------------------------- runs in two experiments; no "Default" (defects 4, 5)


@pytest.mark.slow  # imports MLflow
def test_a_run_of_two_sweeps_is_in_both_experiments_and_counted_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("mlflow")
    out = make_results(tmp_path / "r", figures=False)
    shared = config("relu", 1, 0)
    with Store(out) as store:
        store.save_sweep("sweep2", "other", {"grid": {}}, [shared])
    target = tmp_path / "x"
    result = runner.invoke(app, ["export", str(out), "--format", "mlflow", "--out", str(target)])
    assert result.exit_code == 0, result.output
    assert (
        f"wrote {STORED} actcmp runs as {STORED + 1} MLflow runs in 2 experiment(s) "
        "(1 run planned by sweeps of different names, in each of their experiments)"
    ) in result.output
    with mlflow_client(target.resolve().as_uri(), monkeypatch) as client:
        ids = exported_ids(client)
    assert len(ids) == STORED + 1 and ids.count(shared["run_id"]) == 2


@pytest.mark.slow  # imports MLflow
def test_the_mlflow_store_holds_only_the_sweeps_experiments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No empty experiment 0 ("Default"), and MLflow's readers do not miss it (nor add it)."""
    pytest.importorskip("mlflow")
    out = make_results(tmp_path / "r", figures=False)
    target = tmp_path / "x"
    for _ in range(2):  # a first export and one that replaces it
        result = runner.invoke(app, ["export", str(out), "--format", "mlflow", "--out", str(target)])
        assert result.exit_code == 0, result.output
    with mlflow_client(target.resolve().as_uri(), monkeypatch) as client:
        import mlflow

        assert [e.name for e in client.search_experiments()] == ["fake"]
        assert [e.name for e in mlflow.search_experiments()] == ["fake"]
        assert client.get_experiment_by_name("Default") is None
        assert len(mlflow.search_runs(experiment_names=["fake"])) == STORED
        assert len(mlflow.search_runs(search_all_experiments=True)) == STORED
    assert not (target / "0").exists()
    assert sorted(p.name for p in target.iterdir() if not p.name.isdigit()) == [".trash", MARKER]


# ------------------------------------------------------------------ sample blobs (small)


def test_the_exports_read_no_sample_blobs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = make_results(tmp_path / "r", figures=False)
    rid = config("relu", 1, 0)["run_id"]
    with Store(out) as store:
        store.conn.execute("INSERT INTO samples (run_id, kind, blob) VALUES (?, 'codes', ?)", (rid, b"x" * 100))
        assert store.read_run(rid)["samples"] == {"codes": b"x" * 100}  # type: ignore[index]
        assert store.read_run(rid, samples=False)["samples"] == {}  # type: ignore[index]
    queries: list[str] = []
    original = sqlite3.connect

    def tracing(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = original(*args, **kwargs)
        conn.set_trace_callback(queries.append)
        return conn

    monkeypatch.setattr(sqlite3, "connect", tracing)
    runs, _ = read_runs(out)
    assert len(runs) == STORED and queries
    assert not [q for q in queries if "FROM samples" in q and "blob" in q]


def test_a_second_export_into_the_same_target_waits_its_turn(tmp_path: Path) -> None:
    """While an export writes (its PARTIAL file in place), a second one into the same target is
    refused in one line; it used to take the first one's partial store for a killed export's,
    delete it, and then the first one's clean-up deleted the second's: nothing was left."""
    out = tmp_path / "mlflow"
    with replacing(out, {"format": "mlflow"}, in_place=True) as root:
        assert (root / PARTIAL).is_file()
        second = replacing(out, {"format": "mlflow"}, in_place=True)
        with pytest.raises(StoreError, match=f"export target {out} is in use by another export"), second:
            pass
        assert (root / PARTIAL).is_file()  # the first export's partial store is untouched
        (root / "0").mkdir()
    assert (out / MARKER).is_file() and (out / "0").is_dir()
    assert not (tmp_path / ".mlflow.lock").exists()  # released and removed
