"""The SQLite store: round trips, resume semantics, refusing what is not ours."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from actcmp.engine.plain import RunResult
from actcmp.errors import StoreError
from actcmp.store.database import DB_NAME, SWEEP_FILE, Store, load_results


def fake_result(rid: str = "abc123", status: str = "done", loss: float = 0.5) -> RunResult:
    cfg = {"run_id": rid, "activation": "relu", "dataset": "digits", "depth": 2, "seed": 0, "lr": 0.001}
    return RunResult(
        run_id=rid,
        config=cfg,
        status=status,
        final={"test_loss": loss, "probe_accuracy": None, "diverged": 0.0},
        epochs=[(0, "train_loss", 1.0), (0, "val_loss", 1.1), (1, "train_loss", loss), (1, "val_loss", loss + 0.1)],
        layers=[(0, 0, "dead_fraction", 0.0), (1, 0, "dead_fraction", 0.25), (1, 1, "grad_norm_weight", 1e-3)],
        wall_time_s=1.5,
        env={"torch": "x"},
    )


def test_round_trip(tmp_path: Path) -> None:
    result = fake_result()
    with Store(tmp_path / "r") as store:
        assert store.write_run(result)
        back = store.read_run(result.run_id)
    assert back is not None
    assert back["config"] == result.config
    assert back["final"] == result.final
    assert sorted(back["epochs"]) == sorted(result.epochs)
    assert sorted(back["layers"]) == sorted(result.layers)
    assert back["status"] == "done" and back["env"] == result.env and back["wall_time_s"] == 1.5


def test_frames(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.save_sweep(
            "s1",
            "t",
            {"grid": {}},
            [{"run_id": "abc123", "activation": "relu"}, {"run_id": "zzz", "activation": "tanh"}],
        )
        store.write_run(fake_result())
    results = load_results(tmp_path)
    assert list(results.runs["run_id"]) == ["abc123"]
    assert results.runs.loc[0, "test_loss"] == 0.5
    assert results.runs.loc[0, "activation"] == "relu"
    assert set(results.epochs.columns) == {"run_id", "epoch", "metric", "value"}
    assert set(results.layers.columns) == {"run_id", "epoch", "layer", "metric", "value"}
    assert set(results.planned["run_id"]) == {"abc123", "zzz"}


def test_finished_runs_are_not_overwritten_failed_are(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        assert store.write_run(fake_result(loss=0.5))
        assert not store.write_run(fake_result(loss=0.9))
        assert store.read_run("abc123")["final"]["test_loss"] == 0.5
        assert store.write_run(fake_result(loss=0.9), replace=True)
        assert store.read_run("abc123")["final"]["test_loss"] == 0.9
        assert store.write_run(fake_result("f1", status="failed"))
        assert store.finished_ids() == {"abc123"}
        assert store.write_run(fake_result("f1", status="done", loss=0.3))
        assert store.finished_ids() == {"abc123", "f1"}
        count = store.conn.execute("SELECT COUNT(*) FROM epoch_metrics WHERE run_id='f1'").fetchone()[0]
        assert count == 4


def test_the_store_writes_sweep_json(tmp_path: Path) -> None:
    planned = [{"run_id": "abc123", "activation": "relu"}]
    with Store(tmp_path) as store:
        store.write_sweep_file({"name": "t", "grid": {}}, planned, {"source": "config"})
    written = json.loads((tmp_path / SWEEP_FILE).read_text(encoding="utf-8"))
    assert written == {"sweep": {"name": "t", "grid": {}}, "runs": planned, "provenance": {"source": "config"}}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left behind


def test_run_states_name_each_readable_run(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.write_run(fake_result("ok"))
        broken = fake_result("bad", status="failed")
        broken.error = "ValueError: x"
        store.write_run(broken)
        store.conn.execute("UPDATE runs SET config_json = 'not json' WHERE run_id = 'ok'")
        states = store.run_states()
    assert list(states) == ["bad"]
    status, config, error = states["bad"]
    assert (status, config["activation"], error) == ("failed", "relu", "ValueError: x")


def test_nan_stored_as_null(tmp_path: Path) -> None:
    result = fake_result(loss=float("nan"))
    with Store(tmp_path) as store:
        store.write_run(result)
        assert store.read_run(result.run_id)["final"]["test_loss"] is None


def test_refuses_file_as_directory(tmp_path: Path) -> None:
    target = tmp_path / "afile"
    target.write_text("x")
    with pytest.raises(StoreError, match="is a file"):
        Store(target)


def test_refuses_foreign_sqlite(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.execute("CREATE TABLE other (x)")
    conn.commit()
    conn.close()
    before = (tmp_path / DB_NAME).read_bytes()
    with pytest.raises(StoreError, match="foreign"):
        Store(tmp_path)
    assert (tmp_path / DB_NAME).read_bytes() == before


def test_refuses_corrupt_file(tmp_path: Path) -> None:
    (tmp_path / DB_NAME).write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError, match="not an actcmp"):
        Store(tmp_path)


def test_read_only_open_of_missing(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no results here"):
        load_results(tmp_path)
    assert not (tmp_path / DB_NAME).exists()


def test_wal_mode(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
