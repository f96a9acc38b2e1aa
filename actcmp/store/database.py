"""The one writer (and the readers) of results: one SQLite database per results directory.

Layout of a results directory::

    DIR/actcmp.sqlite     runs, their configs, environment, final / per-epoch / per-layer
                          metrics (long format), planned runs and sweep configs
    DIR/sweep.toml.json   the last resolved sweep config (also in the database)
    DIR/tables/ DIR/figures/ DIR/report.md DIR/report.html   written by ``actcmp report``

Each finished run is committed in one transaction (WAL mode), so a crash loses at most
the runs in flight, and readers can read while a sweep writes. Writers hold
``DIR/actcmp.lock`` (see :mod:`actcmp.store.lock`); readers take no lock.

``meta`` records the schema version, the results version (``config.RESULTS_VERSION``)
and, for a directory that holds only some shards of a sweep, which ones (``shards``), so
that ``status`` expects only those runs there; ``merged_shards`` remembers the shards a
merge combined, so that merging one twice is caught.
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
from urllib.parse import quote

import actcmp
from actcmp.analysis.cells import FINISHED  # one definition (re-exported here for the SQL)
from actcmp.atomic import write_text
from actcmp.config import RESULTS_VERSION, readable_config
from actcmp.errors import ConfigError, StoreError, WriteFailed
from actcmp.shard import assign_shards

if TYPE_CHECKING:
    import pandas as pd

    from actcmp.core.result import RunResult

DB_NAME = "actcmp.sqlite"
#: the resolved sweep and its provenance beside the database (written by :meth:`Store.write_sweep_file`)
SWEEP_FILE = "sweep.json"
SCHEMA_VERSION = 1
APP_ID = 0x61637463  # "actc": marks the file as ours (PRAGMA application_id)

#: per-run sample blobs for the report's pictures (:mod:`actcmp.engine.samples`); added after
#: schema version 1 was fixed, so it is created when missing (older stores lack it)
SAMPLES_TABLE = """
CREATE TABLE IF NOT EXISTS samples (
    run_id TEXT NOT NULL, kind TEXT NOT NULL, blob BLOB NOT NULL, PRIMARY KEY (run_id, kind));
"""
_SCHEMA = (
    """
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
    + SAMPLES_TABLE
)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def db_path(directory: str | Path) -> Path:
    return Path(directory) / DB_NAME


#: what a sweep and its report write beside the database (a folder holding one of these and no
#: database is someone else's: a run there would replace them)
RESULTS_FILES = (SWEEP_FILE, "report.md", "report.html", "setup.json", "tables", "figures", "export", "ray.log")


def refuse_foreign_directory(directory: str | Path, option: str = "--out") -> None:
    """Refuse a results directory that holds files a sweep or its report would replace
    (``report.md``, ``sweep.json``, ``figures/``, ...) but no actcmp store: it is not a results
    directory (``--out .`` in a project folder), and a run would overwrite the user's own files
    without a word. A new or empty directory, or one holding other files only, is fine."""
    directory = Path(directory)
    if not directory.is_dir() or db_path(directory).exists() or db_path(directory).is_symlink():
        return
    clashes = [name for name in RESULTS_FILES if (directory / name).exists() or (directory / name).is_symlink()]
    if clashes:
        raise ConfigError(
            f"{option} {directory}: holds {', '.join(clashes)} but no results store ({DB_NAME}); actcmp would "
            "replace them: choose a new or empty directory"
        )


def _clean(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if value == value and value not in (float("inf"), float("-inf")) else None


def database_uri(path: str | Path, *, read_only: bool = False, immutable: bool = False, create: bool = True) -> str:
    """A SQLite URI for ``path`` (``mode=ro`` to read only; ``immutable=1`` for a store on
    a read-only file system, where SQLite cannot create the ``-shm`` file WAL readers use;
    ``create=False``: ``mode=rw``, never creating the file)."""
    query = "mode=ro" if read_only else ("mode=rwc" if create else "mode=rw")
    if immutable:
        query += "&immutable=1"
    return f"file:{quote(str(Path(path).absolute()))}?{query}"


def connect(path: str | Path, *, read_only: bool = False) -> sqlite3.Connection:
    """Open a results database; ``read_only`` opens it read-only (never creating a file).

    Where the directory and file can be written, a reader opens them as any SQLite client
    does with ``PRAGMA query_only`` (so that, as the last connection, it folds the WAL in
    and removes ``-wal``/``-shm`` as before). Elsewhere it opens ``mode=ro``; a store in a
    directory nobody may write to (a read-only mount, a ``chmod a-w`` copy) is opened
    ``immutable``: SQLite then needs no ``-shm`` file, and as nobody can write there,
    nothing changes under the reader.
    """
    if read_only and writable(Path(path).parent) and os.access(path, os.W_OK):
        conn = sqlite3.connect(database_uri(path, create=False), uri=True, timeout=60, isolation_level=None)
        conn.execute("PRAGMA query_only = 1")
        return conn
    conn = sqlite3.connect(database_uri(path, read_only=read_only), uri=True, timeout=60, isolation_level=None)
    if not read_only:
        return conn
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.DatabaseError as exc:
        # a damaged or foreign file is for the caller's checks to name; only a WAL store
        # whose -shm cannot be created in a read-only directory is opened another way
        if "unable to open" not in str(exc) or writable(Path(path).parent):
            return conn
    conn.close()
    return sqlite3.connect(database_uri(path, read_only=True, immutable=True), uri=True, isolation_level=None)


def other_version_error(directory: Path, results_version: int) -> StoreError:
    """What a run into a store of another results version is told (readers accept it)."""
    return StoreError(
        f"{directory}: holds results version {results_version}, this actcmp writes version "
        f"{RESULTS_VERSION} (numbers would not be comparable): use another --out"
    )


def writable(directory: Path) -> bool:
    """Whether files can be created in ``directory`` (``os.access`` knows read-only mounts)."""
    return os.access(directory, os.W_OK)


class Store:
    """A results directory's database. Use as a context manager; ``create=False`` reads only."""

    def __init__(self, directory: str | Path, *, create: bool = True) -> None:
        self.directory = Path(directory)
        self.path = db_path(self.directory)
        if self.directory.exists() and not self.directory.is_dir():
            raise StoreError(f"results directory {self.directory} is a file, not a directory")
        if not create and not self.path.exists():
            raise StoreError(f"{self.directory}: no results here (expected {DB_NAME}; run 'actcmp run' first)")
        if self.path.is_dir():
            raise StoreError(f"{self.path}: is a directory, expected the results database file")
        if create:
            for name in (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", f"{DB_NAME}-journal"):
                if (self.directory / name).is_symlink():  # SQLite would write through it
                    raise StoreError(
                        f"{self.directory / name} is a symbolic link: refusing to write through it "
                        "(copy the results directory instead of linking its files)"
                    )
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create results directory {self.directory}: {exc.strerror}") from None
            if not os.access(self.directory, os.W_OK):
                raise StoreError(f"results directory {self.directory} is not writable")
        self.conn = self._connect(create)

    def _connect(self, create: bool) -> sqlite3.Connection:
        existed = self.path.exists() and self.path.stat().st_size > 0
        if not create and not existed:
            raise StoreError(f"{self.path}: empty file, not an actcmp results database")
        try:
            conn = connect(self.path, read_only=not create)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open the results database ({exc})") from None
        try:
            if existed:
                self.results_version = self._check_existing(conn, create)
            else:
                self.results_version = RESULTS_VERSION
            if create:
                self._prepare_for_writing(conn, existed)
        except BaseException:
            conn.close()
            raise
        return conn

    def _check_existing(self, conn: sqlite3.Connection, create: bool) -> int:
        """Refuse what is not ours or not of our versions; return the results version."""
        try:
            conn.execute("PRAGMA busy_timeout = 60000")
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if app_id != APP_ID or not {"runs", "meta"} <= tables:
                raise StoreError(f"{self.path}: not an actcmp results database (foreign SQLite file)")
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:
            what = "damaged" if "malformed" in str(exc) else "not an actcmp database"  # or not SQLite at all
            raise StoreError(f"{self.path}: {what} ({exc})") from None
        try:
            version = int(meta.get("schema_version", -1))
            results_version = int(meta.get("results_version", 1))  # stores from before the key existed hold v1
        except ValueError:
            raise StoreError(f"{self.path}: damaged meta table (versions are not numbers)") from None
        if version != SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: results schema version {version}, this actcmp reads version {SCHEMA_VERSION}"
            )
        if create and results_version != RESULTS_VERSION:
            raise other_version_error(self.directory, results_version)
        if create:  # never add to a damaged file (cheap next to a sweep: one pass over the pages)
            try:
                problem = quick_check(conn)
            except sqlite3.DatabaseError as exc:
                problem = str(exc)
            if problem:
                raise StoreError(f"{self.path}: the results database is damaged ({problem}); use another --out")
        return results_version

    def _prepare_for_writing(self, conn: sqlite3.Connection, existed: bool) -> None:
        try:
            conn.execute("PRAGMA busy_timeout = 60000")
            # WAL: readers never block the writer; NORMAL sync: a commit survives a killed
            # process (only a power cut can lose the last commits, never half of one)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            if existed:
                if not has_table(conn, "samples"):  # a store from before the samples table
                    conn.execute(SAMPLES_TABLE)
                return
            with transaction(conn):
                conn.execute(f"PRAGMA application_id = {APP_ID}")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.executemany(
                    "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                    [
                        ("schema_version", str(SCHEMA_VERSION)),
                        ("results_version", str(RESULTS_VERSION)),
                        ("created_by", actcmp.__version__),
                    ],
                )
        except sqlite3.DatabaseError as exc:
            if _disk_full(exc):
                raise WriteFailed(f"disk full: cannot write {self.path} ({exc})") from None
            raise StoreError(f"{self.path}: cannot write the results database ({exc})") from None

    # -- context management -------------------------------------------------------------
    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.close()
        cause = _database_error(exc)
        if cause is not None and _disk_full(cause):
            raise WriteFailed(f"disk full: cannot write {self.path} ({cause}); the runs committed before are kept")
        if cause is not None:
            # a damaged file shows up on the first read of a bad page, not at open
            raise StoreError(f"{self.path}: cannot read the results database ({cause}); is the file damaged?") from None

    # -- meta ----------------------------------------------------------------------------
    def get_meta(self, key: str, default: Any = None) -> Any:
        """A JSON value stored under ``key`` in ``meta`` (plain strings come back as is)."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is None:
            return default
        try:
            return json.loads(row[0])
        except ValueError:
            return row[0]

    def set_meta(self, key: str, value: Any) -> None:
        with transaction(self.conn):
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value, sort_keys=True)))

    def shards(self) -> dict[str, dict[str, Any]]:
        """``{sweep_id: {"n": n, "held": [i, ...]}}`` for sweeps of which this store holds
        only some shards (absent: the whole sweep is expected here)."""
        value = self.get_meta("shards", {})
        return value if isinstance(value, dict) else {}

    def mark_shard(self, sweep_id: str, shard: tuple[int, int] | None) -> None:
        """Record that this store runs shard ``i/n`` of ``sweep_id`` (None: the whole sweep)."""
        shards = self.shards()
        if shard is None:
            shards.pop(sweep_id, None)
        else:
            index, count = shard
            entry = shards.get(sweep_id)
            held = set(entry["held"]) if entry and entry.get("n") == count else set()
            shards[sweep_id] = {"n": count, "held": sorted(held | {index})}
        self.set_meta("shards", shards)

    # -- writing -------------------------------------------------------------------------
    def save_sweep(self, sweep_id: str, name: str, config: dict[str, Any], planned: list[dict[str, Any]]) -> None:
        """Record the resolved sweep config and its planned runs, before training starts.
        ``created_at`` is when the sweep was first stored here: a resume keeps it (the
        versions of a tuned sweep are numbered in that order)."""
        with transaction(self.conn):
            self.conn.execute(
                "INSERT INTO sweeps VALUES (?, ?, ?, ?, ?) ON CONFLICT(sweep_id) DO UPDATE SET "
                "name = excluded.name, config_json = excluded.config_json, n_runs = excluded.n_runs",
                (sweep_id, name, _now(), json.dumps(config, sort_keys=True), len(planned)),
            )
            self.conn.executemany(
                "INSERT OR IGNORE INTO planned VALUES (?, ?, ?)",
                [(cfg["run_id"], sweep_id, json.dumps(cfg, sort_keys=True)) for cfg in planned],
            )

    def write_sweep_file(
        self, config: dict[str, Any], planned: list[dict[str, Any]], provenance: dict[str, Any]
    ) -> None:
        """``DIR/sweep.json``: the resolved sweep beside the database (atomic rename), with
        where it came from (:func:`actcmp.provenance.sweep_provenance`: file, git commit)."""
        payload = {"sweep": config, "runs": planned, "provenance": provenance}
        write_text(self.directory / SWEEP_FILE, json.dumps(payload, indent=1, sort_keys=True))

    def finished_ids(self) -> set[str]:
        """Run ids stored as done or diverged (what a resumed sweep skips)."""
        rows = self.conn.execute(f"SELECT run_id FROM runs WHERE status IN {FINISHED}")
        return {r[0] for r in rows}

    def write_run(self, result: RunResult, *, replace: bool = False) -> bool:
        """Commit one run whole. Returns False (writes nothing) if it is already finished
        in the store, unless ``replace``; a stored *failed* run is always replaced."""
        conn = self.conn
        rid = result.run_id
        with transaction(conn):
            row = conn.execute("SELECT status FROM runs WHERE run_id = ?", (rid,)).fetchone()
            if row is not None and row[0] in FINISHED and not replace:
                return False
            if row is not None:
                for table in ("runs", "run_metrics", "epoch_metrics", "layer_metrics", "samples"):
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
            conn.executemany(
                "INSERT INTO samples VALUES (?, ?, ?)", [(rid, kind, blob) for kind, blob in result.samples.items()]
            )
        return True

    # -- reading -------------------------------------------------------------------------
    def planned_configs(self) -> dict[str, dict[str, Any]]:
        """Every run any sweep planned here (all shards of a sharded sweep)."""
        rows = self.conn.execute("SELECT run_id, config_json FROM planned")
        return {r[0]: cfg for r in rows if (cfg := readable_config(r[1])) is not None}

    def expected_configs(self) -> dict[str, dict[str, Any]]:
        """Planned runs that this store is meant to hold: all of them, except for a sweep
        of which it runs only some shards (``--shard``): then only those shards' runs."""
        by_sweep: dict[str, dict[str, dict[str, Any]]] = {}
        for rid, sid, text in self.conn.execute("SELECT run_id, sweep_id, config_json FROM planned"):
            cfg = readable_config(text)
            if cfg is not None:  # a damaged row is left out (see damaged_rows)
                by_sweep.setdefault(sid, {})[rid] = cfg
        shards = self.shards()
        expected: dict[str, dict[str, Any]] = {}
        for sid, configs in by_sweep.items():
            entry = shards.get(sid)
            if entry is None:
                expected.update(configs)
                continue
            shard_of = assign_shards(list(configs.values()), int(entry["n"]))
            held = set(entry["held"])
            expected.update({rid: cfg for rid, cfg in configs.items() if shard_of[rid] in held})
        return expected

    def planned_for(self, sweep_id: str) -> dict[str, dict[str, Any]]:
        """The runs sweep ``sweep_id`` planned here (all shards), with the plan's bookkeeping
        keys (e.g. a tuned sweep's ``role`` and ``tune_unit``, see :mod:`actcmp.run.tune`)."""
        rows = self.conn.execute("SELECT run_id, config_json FROM planned WHERE sweep_id = ?", (sweep_id,))
        return {r[0]: cfg for r in rows if (cfg := readable_config(r[1])) is not None}

    def final_metric(self, run_ids: list[str], name: str) -> dict[str, tuple[str, float | None]]:
        """``{run_id: (status, value of final metric name or None)}`` for the stored runs among
        ``run_ids`` (absent ones are left out)."""
        found: dict[str, tuple[str, float | None]] = {}
        wanted = list(dict.fromkeys(run_ids))
        for start in range(0, len(wanted), 500):  # SQLite's limit on bound parameters
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"SELECT r.run_id, r.status, m.value FROM runs r LEFT JOIN run_metrics m "
                f"ON m.run_id = r.run_id AND m.name = ? WHERE r.run_id IN ({marks})",
                (name, *chunk),
            )
            found.update({r[0]: (r[1], r[2]) for r in rows})
        return found

    def sweeps(self) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT sweep_id, name, created_at, config_json, n_runs FROM sweeps ORDER BY created_at, rowid"
        )
        return [
            {"sweep_id": r[0], "name": r[1], "created_at": r[2], "config": readable_config(r[3]) or {}, "n_runs": r[4]}
            for r in rows
        ]

    def sweep_runs(self) -> dict[str, list[str]]:
        """``{sweep_id: [run_id, ...]}``: the runs each sweep planned here (all shards)."""
        out: dict[str, list[str]] = {}
        for sid, rid in self.conn.execute("SELECT sweep_id, run_id FROM planned ORDER BY sweep_id, run_id"):
            out.setdefault(sid, []).append(rid)
        return out

    def run_states(self) -> dict[str, tuple[str, dict[str, Any], str | None]]:
        """``{run_id: (status, config, error)}`` of every stored run whose config is readable
        (a damaged row is left out: :meth:`damaged_rows` names it), for ``actcmp status``."""
        rows = self.conn.execute("SELECT run_id, status, config_json, error FROM runs")
        return {r[0]: (r[1], cfg, r[3]) for r in rows if (cfg := readable_config(r[2])) is not None}

    def stored_ids(self) -> list[str]:
        """Every stored run id (done, diverged or failed), sorted."""
        return [r[0] for r in self.conn.execute("SELECT run_id FROM runs ORDER BY run_id")]

    def environment_values(self, key: str) -> set[str]:
        """The distinct values of ``key`` in the stored runs' environments (missing: none)."""
        rows = self.conn.execute(
            "SELECT DISTINCT json_extract(env_json, ?) FROM runs WHERE json_valid(env_json)", (f"$.{key}",)
        )
        return {str(r[0]) for r in rows if r[0] is not None}

    def damaged_rows(self) -> list[str]:
        """One line per stored row whose JSON cannot be read (readers leave those out)."""
        problems = []
        for rid, config, env in self.conn.execute("SELECT run_id, config_json, env_json FROM runs ORDER BY run_id"):
            for what, text in (("config", config), ("environment", env)):
                if readable_config(text) is None:
                    problems.append(f"run {rid}: its stored {what} is not readable JSON: left out")
        for rid, sid in self.conn.execute(
            "SELECT run_id, sweep_id FROM planned WHERE json_valid(config_json) = 0 ORDER BY run_id"
        ):
            problems.append(f"planned run {rid} of sweep {sid}: its stored config is not readable JSON: left out")
        return problems

    def read_run(self, rid: str, *, samples: bool = True) -> dict[str, Any] | None:
        """One run as plain records (the inverse of :meth:`write_run`); None when no run
        ``rid`` is stored or its stored config is not a readable JSON object (a damaged
        row: readers leave that run out, :meth:`damaged_rows` names it). An unreadable
        stored environment reads as ``{}`` (not recorded), as in :meth:`frames`.
        ``samples=False`` leaves the sample blobs out (``"samples"`` is then ``{}``)."""
        row = self.conn.execute(
            "SELECT status, config_json, wall_time_s, error, env_json FROM runs WHERE run_id = ?", (rid,)
        ).fetchone()
        if row is None:
            return None
        config = _json_object(row[1])
        if config is None:
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
        blobs: dict[str, bytes] = {}
        if samples and has_table(self.conn, "samples"):
            rows = self.conn.execute("SELECT kind, blob FROM samples WHERE run_id = ?", (rid,))
            blobs = {kind: bytes(blob) for kind, blob in rows}
        return {
            "run_id": rid,
            "status": row[0],
            "config": config,
            "wall_time_s": row[2],
            "error": row[3],
            "env": _json_object(row[4]) or {},
            "final": final,
            "epochs": epochs,
            "layers": layers,
            "samples": blobs,
        }

    def samples(self, kind: str, run_ids: list[str] | None = None) -> dict[str, bytes]:
        """``{run_id: blob}`` of the stored samples of ``kind`` (all runs, or ``run_ids``);
        empty for a store from before the samples table."""
        if not has_table(self.conn, "samples"):
            return {}
        rows = self.conn.execute("SELECT run_id, blob FROM samples WHERE kind = ? ORDER BY run_id", (kind,))
        wanted = None if run_ids is None else set(run_ids)
        return {rid: bytes(blob) for rid, blob in rows if wanted is None or rid in wanted}

    def samples_bytes(self) -> int:
        """Total size of the stored sample blobs (0 without the table)."""
        if not has_table(self.conn, "samples"):
            return 0
        return int(self.conn.execute("SELECT COALESCE(SUM(LENGTH(blob)), 0) FROM samples").fetchone()[0])

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """One read transaction: every query inside sees the same committed state, even
        while a sweep commits runs (WAL)."""
        if self.conn.in_transaction:
            yield
            return
        self.conn.execute("BEGIN")
        try:
            yield
        finally:
            if self.conn.in_transaction:  # SQLite ends it itself on some errors (a damaged page)
                self.conn.execute("COMMIT")

    def frames(self) -> Results:
        """All stored results as long-format pandas frames (one consistent snapshot)."""
        with self.snapshot():
            return self._frames()

    def _frames(self) -> Results:
        import pandas as pd

        runs = pd.read_sql_query(
            "SELECT run_id, status, config_json, wall_time_s, error, finished_at FROM runs ORDER BY run_id", self.conn
        )
        parsed = [readable_config(c) for c in runs.pop("config_json")]
        readable = [cfg is not None for cfg in parsed]
        if not all(readable):  # damaged rows are left out (see damaged_rows)
            runs = runs[readable].reset_index(drop=True)
            parsed = [cfg for cfg in parsed if cfg is not None]
        configs = pd.DataFrame(parsed, index=runs.index)
        if "run_id" in configs:
            configs = configs.drop(columns=["run_id"])
        if "split_seed" in configs:  # whole numbers and None (unset), not floats with NaN
            configs["split_seed"] = pd.Series(
                [None if pd.isna(v) else int(v) for v in configs["split_seed"]], index=configs.index, dtype=object
            )
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
        if not all(readable):
            kept = set(runs["run_id"])
            epochs = epochs[epochs["run_id"].isin(kept)].reset_index(drop=True)
            layers = layers[layers["run_id"].isin(kept)].reset_index(drop=True)
        planned = pd.DataFrame(
            [
                {"run_id": rid, **{k: v for k, v in cfg.items() if k != "run_id"}}
                for rid, cfg in self.expected_configs().items()
            ]
        )
        return Results(
            runs=runs,
            epochs=epochs,
            layers=layers,
            planned=planned,
            directory=self.directory,
            environments=self._environments(),
        )

    def _environments(self) -> pd.DataFrame:
        """``run_id`` and the scalar entries of each run's stored environment (versions,
        platform, device, engine, ``cpu_capability`` where recorded), one row per run."""
        import pandas as pd

        rows = []
        for rid, text in self.conn.execute("SELECT run_id, env_json FROM runs ORDER BY run_id"):
            try:
                env = json.loads(text) if text else {}
            except ValueError:  # a damaged row: named by the readers' check, read as not recorded
                env = {}
            if not isinstance(env, dict):
                env = {}
            env = with_engine(env)
            rows.append({"run_id": rid, **{k: v for k, v in env.items() if not isinstance(v, dict | list)}})
        return pd.DataFrame(rows) if rows else pd.DataFrame(columns=["run_id"])


def _json_object(text: Any) -> dict[str, Any] | None:
    """A stored JSON object as it was written (unlike :func:`~actcmp.config.readable_config`,
    no fields filled in), or None when the text is not one (a damaged row)."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def with_engine(env: dict[str, Any]) -> dict[str, Any]:
    """A run's stored environment with its engine named: a run stored without ``engine`` was
    trained by the plain engine (the batched engine has always recorded itself; the plain one
    does since 2026-12-07). An empty environment (a damaged row) stays empty: not recorded."""
    if env and not env.get("engine"):
        return {**env, "engine": "plain"}
    return env


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
    * ``planned``: every run any sweep planned here, with its resolved config (in a
      directory that holds only some shards of a sweep, only those shards' runs).
    * ``environments``: ``run_id`` and where each run was computed (``actcmp``, ``torch``,
      ``python``, ``platform``, ``device``, ``engine``, ``cpu_capability`` when recorded);
      None when the frames were built without it.
    """

    runs: pd.DataFrame
    epochs: pd.DataFrame
    layers: pd.DataFrame
    planned: pd.DataFrame
    directory: Path
    environments: pd.DataFrame | None = None


def load_results(directory: str | Path) -> Results:
    """Read a results directory into pandas frames (see :class:`Results`)."""
    with Store(directory, create=False) as store:
        return store.frames()


def _database_error(exc: object) -> sqlite3.DatabaseError | None:
    """The SQLite error behind ``exc`` (pandas wraps it in its own DatabaseError), if any."""
    seen = 0
    while isinstance(exc, BaseException) and seen < 5:
        if isinstance(exc, sqlite3.DatabaseError):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def has_table(conn: sqlite3.Connection, name: str, schema: str = "main") -> bool:
    """Whether ``schema`` (main, or an attached database) has table ``name``."""
    query = f"SELECT 1 FROM {schema}.sqlite_master WHERE type = 'table' AND name = ?"
    return conn.execute(query, (name,)).fetchone() is not None


def _disk_full(exc: BaseException) -> bool:
    """Whether a SQLite error means the disk (or a quota) is full, not a damaged file."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code == getattr(sqlite3, "SQLITE_FULL", 13) or "disk is full" in str(exc)


def quick_check(conn: sqlite3.Connection, schema: str = "main") -> str | None:
    """None if SQLite's quick check passes, else its first complaint (one line)."""
    rows = [r[0] for r in conn.execute(f"PRAGMA {schema}.quick_check(3)")]
    if rows == ["ok"]:
        return None
    return " ".join(" ".join(rows).split())[:200]


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
