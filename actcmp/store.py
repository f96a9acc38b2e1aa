"""The one writer (and the readers) of results: one SQLite database per results directory.

Layout of a results directory::

    DIR/actcmp.sqlite     runs, their configs, environment, final / per-epoch / per-layer
                          metrics (long format), planned runs and sweep configs
    DIR/sweep.toml.json   the last resolved sweep config (also in the database)
    DIR/tables/ DIR/figures/ DIR/report.md DIR/report.html   written by ``actcmp report``

Each finished run is committed in one transaction (WAL mode), so a crash loses at most
the runs in flight, and readers can read while a sweep writes.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actcmp.errors import StoreError

if TYPE_CHECKING:
    import pandas as pd

    from actcmp.engine import RunResult

DB_NAME = "actcmp.sqlite"
SCHEMA_VERSION = 1
APP_ID = 0x61637463  # "actc": marks the file as ours (PRAGMA application_id)
FINISHED = ("done", "diverged")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sweeps (
    sweep_id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at TEXT NOT NULL,
    config_json TEXT NOT NULL, n_runs INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS planned (
    run_id TEXT NOT NULL, sweep_id TEXT NOT NULL, config_json TEXT NOT NULL,
    PRIMARY KEY (run_id, sweep_id));
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, status TEXT NOT NULL, config_json TEXT NOT NULL,
    wall_time_s REAL, error TEXT, env_json TEXT NOT NULL, finished_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS run_metrics (
    run_id TEXT NOT NULL, name TEXT NOT NULL, value REAL, PRIMARY KEY (run_id, name));
CREATE TABLE IF NOT EXISTS epoch_metrics (
    run_id TEXT NOT NULL, epoch INTEGER NOT NULL, name TEXT NOT NULL, value REAL,
    PRIMARY KEY (run_id, epoch, name));
CREATE TABLE IF NOT EXISTS layer_metrics (
    run_id TEXT NOT NULL, epoch INTEGER NOT NULL, layer INTEGER NOT NULL, name TEXT NOT NULL,
    value REAL, PRIMARY KEY (run_id, epoch, layer, name));
"""


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def db_path(directory: str | Path) -> Path:
    return Path(directory) / DB_NAME


def _clean(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if value == value and value not in (float("inf"), float("-inf")) else None


class Store:
    """A results directory's database. Use as a context manager; ``create=False`` reads only."""

    def __init__(self, directory: str | Path, *, create: bool = True) -> None:
        self.directory = Path(directory)
        self.path = db_path(self.directory)
        if self.directory.exists() and not self.directory.is_dir():
            raise StoreError(f"results directory {self.directory} is a file, not a directory")
        if not create and not self.path.exists():
            raise StoreError(f"{self.directory}: no results here (expected {DB_NAME}; run 'actcmp run' first)")
        if create:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create results directory {self.directory}: {exc.strerror}") from None
            if not os.access(self.directory, os.W_OK):
                raise StoreError(f"results directory {self.directory} is not writable")
        self.conn = self._connect(create)

    def _connect(self, create: bool) -> sqlite3.Connection:
        existed = self.path.exists() and self.path.stat().st_size > 0
        try:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            conn.execute("PRAGMA busy_timeout = 60000")
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not an actcmp database ({exc})") from None
        if existed and (app_id != APP_ID or "runs" not in tables):
            conn.close()
            raise StoreError(f"{self.path}: not an actcmp results database (foreign SQLite file)")
        if existed:
            row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = int(row[0]) if row else -1
            if version != SCHEMA_VERSION:
                conn.close()
                raise StoreError(
                    f"{self.path}: results schema version {version}, this actcmp reads version {SCHEMA_VERSION}"
                )
        if create:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                if not existed:
                    with _transaction(conn):
                        conn.execute(f"PRAGMA application_id = {APP_ID}")
                        for statement in _SCHEMA.split(";"):
                            if statement.strip():
                                conn.execute(statement)
                        conn.execute(
                            "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                        )
                        import actcmp

                        conn.execute("INSERT OR REPLACE INTO meta VALUES ('created_by', ?)", (actcmp.__version__,))
            except sqlite3.OperationalError as exc:
                conn.close()
                raise StoreError(f"{self.path}: cannot write the results database ({exc})") from None
        return conn

    # -- context management -------------------------------------------------------------
    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -------------------------------------------------------------------------
    def save_sweep(self, sweep_id: str, name: str, config: dict[str, Any], planned: list[dict[str, Any]]) -> None:
        """Record the resolved sweep config and its planned runs, before training starts."""
        with _transaction(self.conn):
            self.conn.execute(
                "INSERT OR REPLACE INTO sweeps VALUES (?, ?, ?, ?, ?)",
                (sweep_id, name, _now(), json.dumps(config, sort_keys=True), len(planned)),
            )
            self.conn.executemany(
                "INSERT OR IGNORE INTO planned VALUES (?, ?, ?)",
                [(cfg["run_id"], sweep_id, json.dumps(cfg, sort_keys=True)) for cfg in planned],
            )

    def finished_ids(self) -> set[str]:
        """Run ids stored as done or diverged (what a resumed sweep skips)."""
        rows = self.conn.execute(f"SELECT run_id FROM runs WHERE status IN {FINISHED}")
        return {r[0] for r in rows}

    def write_run(self, result: RunResult, *, replace: bool = False) -> bool:
        """Commit one run whole. Returns False (writes nothing) if it is already finished
        in the store, unless ``replace``; a stored *failed* run is always replaced."""
        conn = self.conn
        rid = result.run_id
        with _transaction(conn):
            row = conn.execute("SELECT status FROM runs WHERE run_id = ?", (rid,)).fetchone()
            if row is not None and row[0] in FINISHED and not replace:
                return False
            if row is not None:
                for table in ("runs", "run_metrics", "epoch_metrics", "layer_metrics"):
                    conn.execute(f"DELETE FROM {table} WHERE run_id = ?", (rid,))
            conn.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    rid,
                    result.status,
                    json.dumps(result.config, sort_keys=True),
                    result.wall_time_s,
                    result.error,
                    json.dumps(result.env, sort_keys=True),
                    _now(),
                ),
            )
            conn.executemany(
                "INSERT INTO run_metrics VALUES (?, ?, ?)",
                [(rid, name, _clean(value)) for name, value in result.final.items()],
            )
            conn.executemany(
                "INSERT INTO epoch_metrics VALUES (?, ?, ?, ?)",
                [(rid, epoch, name, _clean(value)) for epoch, name, value in result.epochs],
            )
            conn.executemany(
                "INSERT INTO layer_metrics VALUES (?, ?, ?, ?, ?)",
                [(rid, epoch, layer, name, _clean(value)) for epoch, layer, name, value in result.layers],
            )
        return True

    # -- reading -------------------------------------------------------------------------
    def planned_configs(self) -> dict[str, dict[str, Any]]:
        return {r[0]: json.loads(r[1]) for r in self.conn.execute("SELECT run_id, config_json FROM planned")}

    def sweeps(self) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT sweep_id, name, created_at, config_json, n_runs FROM sweeps ORDER BY created_at")
        return [
            {"sweep_id": r[0], "name": r[1], "created_at": r[2], "config": json.loads(r[3]), "n_runs": r[4]}
            for r in rows
        ]

    def read_run(self, rid: str) -> dict[str, Any] | None:
        """One run as plain records (the inverse of :meth:`write_run`)."""
        row = self.conn.execute(
            "SELECT status, config_json, wall_time_s, error, env_json FROM runs WHERE run_id = ?", (rid,)
        ).fetchone()
        if row is None:
            return None
        final = dict(self.conn.execute("SELECT name, value FROM run_metrics WHERE run_id = ?", (rid,)).fetchall())
        epochs = [
            tuple(r)
            for r in self.conn.execute(
                "SELECT epoch, name, value FROM epoch_metrics WHERE run_id = ? ORDER BY epoch, name", (rid,)
            )
        ]
        layers = [
            tuple(r)
            for r in self.conn.execute(
                "SELECT epoch, layer, name, value FROM layer_metrics WHERE run_id = ? ORDER BY epoch, layer, name",
                (rid,),
            )
        ]
        return {
            "run_id": rid,
            "status": row[0],
            "config": json.loads(row[1]),
            "wall_time_s": row[2],
            "error": row[3],
            "env": json.loads(row[4]),
            "final": final,
            "epochs": epochs,
            "layers": layers,
        }

    def frames(self) -> Results:
        """All stored results as long-format pandas frames."""
        import pandas as pd

        runs = pd.read_sql_query(
            "SELECT run_id, status, config_json, wall_time_s, error, finished_at FROM runs ORDER BY run_id", self.conn
        )
        configs = pd.DataFrame([json.loads(c) for c in runs.pop("config_json")], index=runs.index)
        if "run_id" in configs:
            configs = configs.drop(columns=["run_id"])
        metrics = pd.read_sql_query("SELECT run_id, name, value FROM run_metrics", self.conn)
        wide = metrics.pivot(index="run_id", columns="name", values="value") if len(metrics) else pd.DataFrame()
        wide.columns.name = None
        runs = pd.concat([runs[["run_id", "status"]], configs, runs.drop(columns=["run_id", "status"])], axis=1)
        runs = runs.merge(wide, left_on="run_id", right_index=True, how="left")
        epochs = pd.read_sql_query(
            "SELECT run_id, epoch, name AS metric, value FROM epoch_metrics ORDER BY run_id, epoch", self.conn
        )
        layers = pd.read_sql_query(
            "SELECT run_id, epoch, layer, name AS metric, value FROM layer_metrics ORDER BY run_id, epoch, layer",
            self.conn,
        )
        planned = pd.DataFrame(
            [{"run_id": rid, **{k: v for k, v in cfg.items() if k != "run_id"}} for rid, cfg in self.planned_configs().items()]
        )
        return Results(runs=runs, epochs=epochs, layers=layers, planned=planned, directory=self.directory)


@dataclass
class Results:
    """Stored results as long-format frames.

    * ``runs``: one row per stored run: ``run_id``, ``status`` (done/diverged/failed), every
      resolved config field, ``wall_time_s``, ``error``, ``finished_at`` and the final
      metrics (``test_loss``, ``final_val_loss``, ``epochs_to_threshold``, ``probe_accuracy``,
      ``anomaly_auroc``, ``dead_fraction_init`` / ``_final``, ...).
    * ``epochs``: ``run_id, epoch, metric, value`` (``train_loss``, ``val_loss``).
    * ``layers``: ``run_id, epoch, layer, metric, value``; hidden layers carry the activation
      metrics, every linear layer (``2*depth``) its gradient norms.
    * ``planned``: every run any sweep planned here, with its resolved config.
    """

    runs: pd.DataFrame
    epochs: pd.DataFrame
    layers: pd.DataFrame
    planned: pd.DataFrame
    directory: Path


def load_results(directory: str | Path) -> Results:
    """Read a results directory into pandas frames (see :class:`Results`)."""
    with Store(directory, create=False) as store:
        return store.frames()


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")

