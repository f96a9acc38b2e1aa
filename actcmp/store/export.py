"""``actcmp export``: stored results as Parquet or CSV files (one per frame).

``runs`` and ``planned`` carry two columns beside the config, as the MLflow export's tags
(:mod:`actcmp.store.export_mlflow`) and :func:`actcmp.load_results` have them:

* ``sweeps``: the names of the sweeps that planned the run, sorted, joined by ``,`` (a sweep
  name has no comma); missing for a stored run that no sweep recorded here planned;
* ``role``: its part in a ``[tune]`` sweep, as the report reads it
  (:func:`actcmp.store.export_common.tune_roles`): ``tuning``, ``evaluation (common value)``,
  ``evaluation (selected value)`` or ``evaluation (common = selected value)``; missing for a
  run of no tuned sweep. (In ``planned`` it replaces the plan's own ``tune`` / ``eval``.)

``environments`` has one row per stored run: where it was computed (``actcmp``, ``torch``,
``python``, ``platform``, ``device``, ``engine``, ``cpu_capability`` where recorded).

The files share their folder with whatever else is there (``DIR/export`` holds the MLflow and
TensorBoard exports' folders too), so an export replaces only files that an earlier actcmp
export wrote: each file it writes is recorded, with its SHA-256, in :data:`MANIFEST` beside it.
A file of one of those names that no actcmp export wrote there, or that changed since, is a
user's: the export is refused before anything is written (:func:`refuse_foreign_files`). The
results directory's own ``DIR/export`` without a record holds an export by an actcmp from before
the record (nothing else writes there): it is replaced, and recorded from then on.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actcmp.atomic import make_dir, write_bytes
from actcmp.errors import ConfigError, StoreError
from actcmp.store.database import Results, Store
from actcmp.store.export_common import FRAMES_MANIFEST, refuse_other_format, run_sweeps, tune_roles

if TYPE_CHECKING:
    import pandas as pd

FORMATS = ("parquet", "csv")
#: the frames written, in this order (``environments`` when the frames have it)
FRAMES = ("runs", "epochs", "layers", "planned", "environments")
#: the columns :func:`with_sweep_columns` adds to ``runs`` and ``planned`` (after ``status``)
SWEEP_COLUMNS = ("sweeps", "role")
#: the record of the files the Parquet and CSV exports wrote in a folder, and their SHA-256
MANIFEST = FRAMES_MANIFEST


def export_results(directory: str | Path, fmt: str = "parquet", out: str | Path | None = None) -> list[Path]:
    """Write ``runs``, ``epochs``, ``layers``, ``planned`` and ``environments`` frames; return
    the paths. Parquet keeps a sequence value (``widths``) as a list; CSV writes it as JSON
    text, ``[16, 8]``. ``runs`` and ``planned`` carry ``sweeps`` and ``role`` (module docstring)."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: choose parquet, csv, mlflow or tensorboard")
    results = read_frames(directory)
    target = Path(out) if out is not None else Path(directory) / "export"
    refuse_other_format(target, fmt)  # an MLflow or TensorBoard export stays as it is
    frames = [(f"{name}.{fmt}", frame) for name in FRAMES if (frame := getattr(results, name)) is not None]
    # the results directory's own export folder, without a record yet, holds an export by an actcmp
    # from before the record (nothing else writes there): it is replaced as before
    own = _same_path(target, Path(directory) / "export") and not (target / MANIFEST).exists()
    names = [name for name, _ in frames]
    if not own:
        refuse_foreign_files(target, names, fmt)  # before a folder is made
    make_dir(target)
    paths = []
    with _one_export_at_a_time(target):
        if not own:
            refuse_foreign_files(target, names, fmt)  # what another export wrote meanwhile
        recorded = read_manifest(target) or {}
        for name, frame in frames:
            data = _parquet(frame) if fmt == "parquet" else _json_lists(frame).to_csv(index=False).encode("utf-8")
            digest = hashlib.sha256(data).hexdigest()
            # recorded before the file is replaced: a kill in between leaves both contents known
            recorded[name] = [*recorded.get(name, []), digest]
            _write_manifest(target, recorded)
            write_bytes(target / name, data)
            recorded[name] = [digest]
            paths.append(target / name)
        _write_manifest(target, recorded)
    return paths


def read_manifest(target: Path) -> dict[str, list[str]] | None:
    """The files an actcmp Parquet or CSV export wrote in ``target`` -> the SHA-256 digests
    their content may have (two while an export replaces it, one after); None without a
    readable :data:`MANIFEST` that actcmp wrote."""
    try:
        info = json.loads((target / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    files = info.get("files") if isinstance(info, dict) and info.get("written_by") == "actcmp" else None
    if not isinstance(files, dict):
        return None
    return {
        str(name): [str(d) for d in digests]
        for name, digests in files.items()
        if isinstance(digests, list) and all(isinstance(d, str) for d in digests)
    }


def refuse_foreign_files(target: Path, names: list[str], fmt: str) -> None:
    """Refuse (one line, exit 2, nothing written) when a file the export would replace in
    ``target`` is not one that an actcmp export wrote there as it is now: not recorded in
    :data:`MANIFEST` (a user's file of that name; or an export by an actcmp that recorded
    nothing), or changed since (its SHA-256 is none recorded). A :data:`MANIFEST` that an
    actcmp export did not write is refused too. A directory in a file's way is left to the
    writer, which names it."""
    manifest = target / MANIFEST
    recorded = read_manifest(target)
    if manifest.is_symlink() or (manifest.exists() and recorded is None):
        raise StoreError(
            f"export target {target} holds an {MANIFEST} that no actcmp export wrote: choose another --out for "
            f"the {fmt} export"
        )
    recorded = recorded or {}
    foreign, changed = [], []
    for name in names:
        path = target / name
        if path.is_symlink() or (path.exists() and not path.is_dir() and name not in recorded):
            foreign.append(name)
        elif path.is_file() and _sha256(path) not in recorded[name]:
            changed.append(name)
    if not foreign and not changed:
        return
    parts = []
    if foreign:
        parts.append(f"{', '.join(foreign)}, which no actcmp export wrote there")
    if changed:
        parts.append(f"{', '.join(changed)}, changed since actcmp exported {'it' if len(changed) == 1 else 'them'}")
    files = foreign + changed
    them = "it" if len(files) == 1 else "them"
    raise StoreError(
        f"export target {target} holds {'; and '.join(parts)}: the {fmt} export would replace {them}; move "
        f"{them} away or choose another --out (an export recorded in {MANIFEST} is replaced; files an actcmp "
        "from before that record exported outside DIR/export must be moved away once)"
    )


def _same_path(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from None
    return digest.hexdigest()


def _write_manifest(target: Path, files: dict[str, list[str]]) -> None:
    info = {"written_by": "actcmp", "files": dict(sorted(files.items()))}
    write_bytes(target / MANIFEST, (json.dumps(info, indent=2) + "\n").encode("utf-8"))


@contextmanager
def _one_export_at_a_time(target: Path) -> Iterator[None]:
    """The lock the MLflow and TensorBoard exports take (``.NAME.lock`` beside the target):
    two Parquet or CSV exports into one folder would each record only their own files."""
    from actcmp.store.lock import DirLock

    with DirLock(target.parent, purpose="export", name=f".{target.name}.lock", what=f"export target {target}"):
        yield


def read_frames(directory: str | Path) -> Results:
    """The stored frames (:meth:`Store.frames`) with ``sweeps`` and ``role`` in ``runs`` and
    ``planned`` (:func:`with_sweep_columns`), read in one snapshot."""
    with Store(directory, create=False) as store, store.snapshot():
        return with_sweep_columns(store.frames(), store)


def with_sweep_columns(results: Results, store: Store) -> Results:
    """``results`` with ``sweeps`` and ``role`` after ``run_id`` / ``status`` in ``runs`` and
    ``planned``, the values of the MLflow export's tags ``actcmp.sweeps`` and ``actcmp.role``
    (None where the tag is empty or absent: no sweep, no ``[tune]``). Read ``store`` inside the
    snapshot that gave ``results``."""
    sweeps = {rid: ",".join(found) for rid, found in run_sweeps(store).items()}
    roles = tune_roles(store)
    return replace(
        results,
        runs=_with_columns(results.runs, sweeps, roles),
        planned=_with_columns(results.planned, sweeps, roles),
    )


def _with_columns(frame: pd.DataFrame, sweeps: dict[str, str], roles: dict[str, str]) -> pd.DataFrame:
    import pandas as pd

    ids = frame["run_id"] if "run_id" in frame else pd.Series([], dtype=object)
    frame = frame.drop(columns=[c for c in SWEEP_COLUMNS if c in frame.columns])  # planned: the plan's tune / eval
    at = 1 + ("status" in frame.columns)  # after run_id (and status)
    for offset, (name, values) in enumerate((("sweeps", sweeps), ("role", roles))):
        column = [values.get(rid) or None for rid in ids]
        frame.insert(min(at + offset, len(frame.columns)), name, pd.Series(column, index=frame.index, dtype=object))
    return frame


def _json_lists(frame: Any) -> Any:
    """``frame`` with its sequence values (``widths``) as JSON text, ``[16, 8]``: how the MLflow
    and TensorBoard exports write them, and what a CSV reader can parse (not Python's tuple repr)."""
    columns = {}
    for name in frame.columns:
        if frame[name].dtype == object and frame[name].map(lambda v: isinstance(v, tuple | list)).any():
            columns[name] = frame[name].map(lambda v: json.dumps(list(v)) if isinstance(v, tuple | list) else v)
    return frame.assign(**columns) if columns else frame


def _parquet(frame: Any) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()
