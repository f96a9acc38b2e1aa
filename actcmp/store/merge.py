"""``actcmp merge OUT DIR...``: combine results directories (CI shards) into one.

Rules:

* every input must be an actcmp store of this schema and results version;
* the same shard (``--shard i/n`` of one sweep) found in two inputs is refused: two jobs
  ran the same shard, so another one is probably missing;
* a run id found in several inputs with identical results (status, final, per-epoch and
  per-layer metrics, and the stored reconstructions' arrays where both stores keep them; wall time
  and environment aside) is kept once and reported; a
  finished run wins over a failed one; different results for one run id are refused;
* results already in OUT are kept (OUT is read first, but it is not one of the report's
  sources and its runs are not counted as added); a shard OUT holds
  from an earlier merge may come again from the same directory (``merged_from`` records
  where each came from) when its runs are identical, so the same ``merge OUT s1 s2`` run
  twice is a no-op (a CI job can be retried); from another directory it is refused;
* two stores of one run whose results differ and whose environments differ (CPU kernel
  family ``cpu_capability``, torch or numpy version, engine) are refused with what differs;
  ``prefer=DIR`` (``--prefer DIR``) keeps that directory's copy of every such run (its
  copies are read first, after OUT's: the same merge with ``--prefer`` again is a no-op);
* each kept run is credited to the directory whose copy was kept (``added``, or
  ``already_in_out`` for OUT's); every other copy is a duplicate, marked ``differed``
  when its results differed and ``--prefer`` set it aside (OUT's copy then replaced);
* atomic: the merged database is built in a temporary file inside OUT and renamed over
  ``OUT/actcmp.sqlite`` only when complete, so a refused or failed merge leaves OUT as
  it was. Inputs are only read.

The merged store expects every run of every sweep it holds (no shard restriction), so
``actcmp status OUT`` fails while a shard is missing.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actcmp.atomic import write_text
from actcmp.config import RESULTS_VERSION, readable_config
from actcmp.errors import ConfigError, StoreError
from actcmp.store.database import (
    FINISHED,
    SWEEP_FILE,
    Store,
    database_uri,
    db_path,
    has_table,
    quick_check,
    refuse_foreign_directory,
    transaction,
    with_engine,
    writable,
)
from actcmp.store.lock import DirLock

#: a run's rows; ``samples`` (its reconstructions, compared as bytes) is absent from old stores
RUN_TABLES = ("runs", "run_metrics", "epoch_metrics", "layer_metrics", "samples")


def _run_tables(conn: sqlite3.Connection) -> list[str]:
    """The run tables the attached source ``src`` has."""
    return [table for table in RUN_TABLES if table != "samples" or has_table(conn, "samples", "src")]


@dataclass
class Source:
    """One input store as the merge sees it."""

    path: Path
    runs: int
    shards: set[str]
    sweep_names: dict[str, str]
    #: for a merged store: each shard it holds -> the directory it was merged from
    merged_from: dict[str, str] = field(default_factory=dict)


@dataclass
class MergeReport:
    """What a merge did (returned by :func:`merge_results`)."""

    out: Path
    #: the directories merged (the inputs, in order; never OUT)
    sources: list[Path]
    #: per source, the runs it added: the runs whose kept copy is this directory's (run ids
    #: OUT did not hold, and OUT's copies that a finished or preferred copy here replaced)
    added: list[int] = field(default_factory=list)
    #: runs OUT held before the merge whose copy is kept (0 when it held no results)
    already_in_out: int = 0
    #: whether OUT held a results store before the merge
    out_had_results: bool = False
    #: every copy of a run not kept: (run id, kept from, also in), identical copies and the
    #: differing copies ``--prefer`` set aside (those also in :attr:`differed`)
    duplicates: list[tuple[str, str, str]] = field(default_factory=list)
    #: (run id, also in) of the duplicates whose results differed from the kept copy's (another
    #: environment; ``--prefer`` chose): with also in OUT, OUT's copy was replaced
    differed: set[tuple[str, str]] = field(default_factory=set)
    replaced_failed: list[tuple[str, str, str]] = field(default_factory=list)  # run id, failed in, finished in
    #: warnings: planned runs no input holds, runs of several CPU kernel families
    missing: list[str] = field(default_factory=list)
    preferred: list[tuple[str, str, str]] = field(default_factory=list)  # run id, kept from, differing copy in
    total_runs: int = 0

    @property
    def identical(self) -> list[tuple[str, str, str]]:
        """The duplicates whose results are identical to the kept copy's."""
        return [d for d in self.duplicates if (d[0], d[2]) not in self.differed]


def merge_results(out: str | Path, inputs: list[str | Path], prefer: str | Path | None = None) -> MergeReport:
    """Merge the stores of ``inputs`` (and any already in ``out``) into ``out``.

    ``prefer``: one of ``inputs`` (or ``out``) whose copy wins for runs stored with
    different results on different environments (kernel family, versions)."""
    out = Path(out)
    paths = [Path(p) for p in inputs]
    preferred: str | None = None
    if prefer is not None:
        matches = [p for p in [out, *paths] if p.resolve() == Path(prefer).resolve()]
        if not matches:
            raise ConfigError(f"--prefer {prefer}: not one of the merged directories (or OUT)")
        preferred = str(matches[0])
    if not paths:
        raise ConfigError("merge: give at least one results directory to merge")
    if out.exists() and not out.is_dir():
        raise StoreError(f"merge output {out} is a file, not a directory")
    seen: dict[Path, Path] = {}
    for path in paths:
        key = path.resolve()
        if key == out.resolve():
            raise ConfigError(f"merge: {path} is the output directory; results already in OUT are merged anyway")
        if key in seen:
            raise ConfigError(f"merge: {path} is given twice")
        seen[key] = path
    sources = [_inspect(path) for path in paths]
    refuse_foreign_directory(out, "merge OUT")
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create merge output {out}: {exc.strerror}") from None
    try:
        with DirLock(out, purpose="merge"):
            for leftover in out.glob(".merge-*"):  # from a merge that was killed
                shutil.rmtree(leftover, ignore_errors=True)
            report = MergeReport(out=out, sources=[s.path for s in sources])
            if db_path(out).exists():  # read first: its runs are kept, not added
                sources.insert(0, _inspect(out))
                report.out_had_results = True
            shard_sets = _check_shards(sources, out)
            _build(out, sources, shard_sets, report, preferred)
            if not report.out_had_results:
                _carry_sweep_file(out, [s.path for s in sources])
    except BaseException:
        if created:  # leave no trace of a refused merge
            with contextlib.suppress(OSError):
                out.rmdir()
        raise
    return report


def _carry_sweep_file(out: Path, paths: list[Path]) -> None:
    """Give ``out`` the sweep file (``sweep.json``: the resolved sweep, its plan and where it
    came from, which the report's Setup states) its sources agree on: shards of one sweep
    each hold the same one. Kept as it is when ``out`` has one (the caller skips a merge into
    a directory that held results); none when the sources hold different sweeps, or one sweep
    from different commits (the report then says it was not recorded), or none."""
    if (out / SWEEP_FILE).exists():
        return
    found = {}
    for path in paths:
        try:
            data = json.loads((path / SWEEP_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and "sweep" in data:
            provenance = data.get("provenance")
            origin: dict[str, Any] = provenance if isinstance(provenance, dict) else {}
            same = (data.get("sweep"), origin.get("git_commit"), origin.get("git_dirty"))
            found[json.dumps(same, sort_keys=True, default=str)] = data
    if len(found) == 1:
        write_text(out / SWEEP_FILE, json.dumps(next(iter(found.values())), indent=1, sort_keys=True))


def _inspect(path: Path) -> Source:
    """Open ``path`` read-only and check it can be merged (ours, our versions, intact)."""
    with Store(path, create=False) as store:
        if store.results_version != RESULTS_VERSION:
            raise StoreError(
                f"{path}: holds results version {store.results_version}, this actcmp merges version "
                f"{RESULTS_VERSION}: results of different versions cannot be combined"
            )
        problem = quick_check(store.conn)
        if problem:
            raise StoreError(f"{store.path}: the results database is damaged ({problem})")
        names = {s["sweep_id"]: s["name"] for s in store.sweeps()}
        shards = {f"{sid} {i}/{entry['n']}" for sid, entry in store.shards().items() for i in entry["held"]}
        merged = store.get_meta("merged_shards", [])
        shards |= set(merged if isinstance(merged, list) else [])
        runs = store.conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        merged_from = store.get_meta("merged_from", {})
    merged_from = merged_from if isinstance(merged_from, dict) else {}
    return Source(path=path, runs=runs, shards=shards, sweep_names=names, merged_from=merged_from)


def _where(source: Source) -> str:
    return str(source.path.resolve())


def _check_shards(sources: list[Source], out: Path) -> set[str]:
    """Refuse a shard held by two inputs; return every shard the merge holds. A shard that
    OUT already holds may come again (a merge retried): its runs must then be identical,
    which :func:`_reconcile` checks run by run."""
    owner: dict[str, Source] = {}
    for source in sources:
        for shard in sorted(source.shards):
            if shard in owner and owner[shard].path == out and owner[shard].merged_from.get(shard) == _where(source):
                continue  # the same merge again
            if shard in owner:
                sid, spec = shard.split(" ", 1)
                name = source.sweep_names.get(sid) or owner[shard].sweep_names.get(sid) or sid
                raise StoreError(
                    f"shard {spec} of sweep '{name}' is in both {owner[shard].path} and {source.path}: the same "
                    "shard merged twice (was another shard meant?)"
                )
            owner[shard] = source
    return set(owner)


def _build(
    out: Path, sources: list[Source], shard_sets: set[str], report: MergeReport, preferred: str | None = None
) -> None:
    tmpdir = Path(tempfile.mkdtemp(prefix=".merge-", dir=out))
    # OUT's runs first, then the preferred directory's: a later copy that differs is set aside
    # against a kept copy that is (or equals) the preferred one
    first = 1 if report.out_had_results else 0
    ranked = sorted(enumerate(sources), key=lambda item: (item[0] >= first, str(item[1].path) != preferred, item[0]))
    order = [source for _, source in ranked]
    try:
        with Store(tmpdir) as target:
            origin: dict[str, str] = {}  # run id -> the directory whose copy is kept
            backed: set[str] = set()  # run ids whose kept copy equals the preferred directory's
            for source in order:
                _absorb(target.conn, source, origin, report, out, preferred, backed)
            # each run is credited to the directory whose copy was kept
            kept = Counter(origin.values())
            for index, source in enumerate(sources):
                count = kept[str(source.path)]
                if report.out_had_results and index == 0:
                    report.already_in_out = count
                else:
                    report.added.append(count)
            # a merged store expects whole sweeps: a missing shard then shows as pending
            target.set_meta("shards", {})
            target.set_meta("merged_shards", sorted(shard_sets))
            merged_from: dict[str, str] = {}
            for source in sources:
                merged_from.update(source.merged_from)
                merged_from.update(dict.fromkeys(sorted(source.shards - set(source.merged_from)), _where(source)))
            target.set_meta("merged_from", merged_from)
            # each shard stored its own plan's size (a tuned sweep's shards plan different
            # evaluation runs): the merged sweep counts the union of the plans, as one go does
            with transaction(target.conn):
                target.conn.execute(
                    "UPDATE sweeps SET n_runs = (SELECT COUNT(*) FROM planned WHERE planned.sweep_id = sweeps.sweep_id) "
                    "WHERE EXISTS (SELECT 1 FROM planned WHERE planned.sweep_id = sweeps.sweep_id)"
                )
            report.total_runs = target.conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
            report.missing = _missing_runs(target, sources) + _mixed_families(target)
        conn = sqlite3.connect(db_path(tmpdir))
        conn.execute("PRAGMA journal_mode = DELETE")  # fold the WAL in: one self-contained file
        conn.close()
        final = db_path(out)
        for suffix in ("-wal", "-shm"):  # left by the old store (closed, checkpointed above)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{final}{suffix}")
        os.replace(db_path(tmpdir), final)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _absorb(
    conn: sqlite3.Connection,
    source: Source,
    origin: dict[str, str],
    report: MergeReport,
    out: Path,
    preferred: str | None = None,
    backed: set[str] | None = None,
) -> int:
    """Copy ``source``'s runs into the target; returns how many were new."""
    label = str(source.path)
    conn.execute("ATTACH DATABASE ? AS src", (_source_uri(source.path),))
    try:
        with transaction(conn):
            overlap = [
                r[0]
                for r in conn.execute(
                    "SELECT run_id FROM src.runs WHERE run_id IN (SELECT run_id FROM main.runs) ORDER BY run_id"
                )
            ]
            for rid in overlap:
                _reconcile(conn, rid, origin[rid], label, origin, report, out, preferred, backed)
            conn.execute("DROP TABLE IF EXISTS temp.new_ids")
            conn.execute(
                "CREATE TEMP TABLE new_ids AS SELECT run_id FROM src.runs "
                "WHERE run_id NOT IN (SELECT run_id FROM main.runs)"
            )
            added = [r[0] for r in conn.execute("SELECT run_id FROM temp.new_ids")]
            for table in _run_tables(conn):
                conn.execute(
                    f"INSERT INTO main.{table} SELECT * FROM src.{table} WHERE run_id IN (SELECT run_id FROM temp.new_ids)"
                )
            conn.execute("INSERT OR IGNORE INTO main.planned SELECT * FROM src.planned")
            conn.execute("INSERT OR IGNORE INTO main.sweeps SELECT * FROM src.sweeps")
            conn.execute("DROP TABLE temp.new_ids")
        origin.update(dict.fromkeys(added, label))
        return len(added)
    finally:
        conn.execute("DETACH DATABASE src")


def _source_uri(path: Path) -> str:
    """An input store attached read-only (immutable where its directory is read-only)."""
    return database_uri(db_path(path), read_only=True, immutable=not writable(path))


def _reconcile(
    conn: sqlite3.Connection,
    rid: str,
    kept: str,
    label: str,
    origin: dict[str, str],
    report: MergeReport,
    out: Path,
    preferred: str | None = None,
    backed: set[str] | None = None,
) -> None:
    """Two copies of run ``rid``: the kept one (from ``kept``) and ``label``'s. ``backed``:
    the run ids whose kept copy is identical to the preferred directory's."""
    backed = set() if backed is None else backed
    mine, theirs = _content(conn, "main", rid), _content(conn, "src", rid)
    # a copy without reconstructions (a store from before samples were kept, or a run stored
    # there and resumed into by a newer actcmp: the table, but no rows) has nothing to compare
    only_theirs = not mine[4] and bool(theirs[4])
    if not mine[4] or not theirs[4]:
        mine, theirs = mine[:4], theirs[:4]
    if mine == theirs:
        if only_theirs:  # the same result: keep the reconstructions the other copy has
            conn.execute("INSERT INTO main.samples SELECT * FROM src.samples WHERE run_id = ?", (rid,))
        report.duplicates.append((rid, kept, label))
        if label == preferred:
            backed.add(rid)
        return
    if mine[0] == "failed" and theirs[0] in FINISHED:
        conn.execute("DELETE FROM main.samples WHERE run_id = ?", (rid,))
        for table in _run_tables(conn):
            conn.execute(f"DELETE FROM main.{table} WHERE run_id = ?", (rid,))
            conn.execute(f"INSERT INTO main.{table} SELECT * FROM src.{table} WHERE run_id = ?", (rid,))
        report.replaced_failed.append((rid, kept, label))
        origin[rid] = label
        return
    if theirs[0] == "failed":  # keep ours: finished beats failed; of two failures, the first
        if mine[0] in FINISHED:
            report.replaced_failed.append((rid, label, kept))
        else:
            report.duplicates.append((rid, kept, label))
        return
    environments = _environment_difference(_env(conn, "main", rid), _env(conn, "src", rid), kept, label)
    if environments and (preferred in (kept, label) or rid in backed):
        if preferred == label:  # the kept copy (OUT's, read first) gives way
            conn.execute("DELETE FROM main.samples WHERE run_id = ?", (rid,))
            for table in _run_tables(conn):
                conn.execute(f"DELETE FROM main.{table} WHERE run_id = ?", (rid,))
                conn.execute(f"INSERT INTO main.{table} SELECT * FROM src.{table} WHERE run_id = ?", (rid,))
            origin[rid] = label
            backed.add(rid)
            kept, label = label, kept
        report.duplicates.append((rid, kept, label))
        report.differed.add((rid, label))
        if kept == preferred:  # not OUT's copy equal to it (the same merge again: nothing new)
            report.preferred.append((rid, kept, label))
        return
    if environments:
        raise StoreError(
            f"run {rid}: {environments}, and its results differ ({_difference(mine, theirs)}): use --prefer "
            f"{kept} or --prefer {label} to keep one; {out} is unchanged"
        )
    raise StoreError(
        f"run {rid} has different results in {kept} and {label} ({_difference(mine, theirs)}): refusing to "
        f"merge, {out} is unchanged"
    )


#: environment fields that change a run's numbers (see DESIGN.md "Reproducibility rules"); the
#: engine is the user's choice (``--engine``): the plain and batched engines agree to float
#: tolerance, not bit for bit
NUMERIC_ENV = ("cpu_capability", "torch", "numpy", "device", "engine")


def _env(conn: sqlite3.Connection, schema: str, rid: str) -> dict[str, Any]:
    row = conn.execute(f"SELECT env_json FROM {schema}.runs WHERE run_id = ?", (rid,)).fetchone()
    env = readable_config(row[0]) if row else None
    return env or {}


def _environment_difference(mine: dict[str, Any], theirs: dict[str, Any], kept: str, label: str) -> str:
    """``"trained with avx512 kernels in A and avx2 in B"`` (or the versions that differ);
    ``""`` when the two environments agree on everything that changes numbers."""
    capability_a, capability_b = mine.get("cpu_capability"), theirs.get("cpu_capability")
    known = capability_a not in (None, "", "unknown") and capability_b not in (None, "", "unknown")
    if known and str(capability_a).lower() != str(capability_b).lower():
        return f"trained with {str(capability_a).lower()} kernels in {kept} and {str(capability_b).lower()} in {label}"
    mine, theirs = with_engine(mine), with_engine(theirs)  # a run stored without an engine: plain
    for key in NUMERIC_ENV[1:]:
        a, b = mine.get(key), theirs.get(key)
        if a and b and a != b:
            return f"trained with {key} {a} in {kept} and {key} {b} in {label}"
    return ""


def _content(conn: sqlite3.Connection, schema: str, rid: str) -> tuple[Any, ...]:
    """What must agree for two copies of a run to be the same result."""
    status = conn.execute(f"SELECT status FROM {schema}.runs WHERE run_id = ?", (rid,)).fetchone()[0]
    final = conn.execute(f"SELECT name, value FROM {schema}.run_metrics WHERE run_id = ? ORDER BY name", (rid,))
    epochs = conn.execute(
        f"SELECT epoch, name, value FROM {schema}.epoch_metrics WHERE run_id = ? ORDER BY epoch, name", (rid,)
    )
    layers = conn.execute(
        f"SELECT epoch, layer, name, value FROM {schema}.layer_metrics WHERE run_id = ? ORDER BY epoch, layer, name",
        (rid,),
    )
    # the reconstructions are a function of the run too; compared as arrays, not as their
    # compressed bytes (another zlib may compress the same arrays otherwise); a store from
    # before the table holds none to compare
    samples: tuple[Any, ...] | None = None
    if has_table(conn, "samples", schema):
        rows = conn.execute(f"SELECT kind, blob FROM {schema}.samples WHERE run_id = ? ORDER BY kind", (rid,))
        samples = tuple((kind, _arrays(blob)) for kind, blob in rows.fetchall())
    return status, tuple(final.fetchall()), tuple(epochs.fetchall()), tuple(layers.fetchall()), samples


def _arrays(blob: bytes) -> tuple[Any, ...]:
    """A samples blob as comparable values: each array's name, dtype, shape and bytes."""
    from actcmp.engine.samples import decode

    try:
        arrays = decode(blob)
    except Exception:  # unreadable: compare what is stored
        return (blob,)
    return tuple((name, str(a.dtype), a.shape, a.tobytes()) for name, a in sorted(arrays.items()))


def _difference(mine: tuple[Any, ...], theirs: tuple[Any, ...]) -> str:
    if mine[0] != theirs[0]:
        return f"status {mine[0]} vs {theirs[0]}"
    a, b = dict(mine[1]), dict(theirs[1])
    for name in sorted(set(a) | set(b)):
        if a.get(name) != b.get(name):
            return f"{name} {a.get(name)!r} vs {b.get(name)!r}"
    if mine[2] != theirs[2]:
        return "per-epoch metrics differ"
    return "per-layer metrics differ" if mine[3] != theirs[3] else "the stored reconstructions (samples) differ"


def _mixed_families(target: Store) -> list[str]:
    """A warning when the merged runs ran on more than one CPU kernel family: each run is
    stored whole, but runs of two families are comparable over seeds, not bit for bit."""
    rows = target.conn.execute(
        "SELECT json_extract(env_json, '$.cpu_capability') AS family, COUNT(*) FROM runs "
        "WHERE json_valid(env_json) AND family IS NOT NULL GROUP BY family ORDER BY family"
    ).fetchall()
    if len(rows) < 2:
        return []
    counts = ", ".join(f"{family}: {count}" for family, count in rows)
    return [
        f"the merged runs ran on {len(rows)} CPU kernel families ({counts}): compare their cells over seeds; "
        "a run's numbers repeat bit for bit only on its own family"
    ]


def _missing_runs(target: Store, sources: list[Source]) -> list[str]:
    """One warning per sweep whose planned runs are not all in the merge."""
    names: dict[str, str] = {}
    for source in sources:
        names.update(source.sweep_names)
    rows = target.conn.execute(
        "SELECT sweep_id, COUNT(*) FROM planned WHERE run_id NOT IN (SELECT run_id FROM runs) GROUP BY sweep_id"
    ).fetchall()
    return [
        f"sweep '{names.get(sid, sid)}': {count} planned runs are in none of the merged directories "
        "(a shard missing or unfinished?)"
        for sid, count in sorted(rows)
    ]


__all__ = ["MergeReport", "merge_results"]
