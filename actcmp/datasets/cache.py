"""An on-disk cache of the registry's own datasets, as :func:`~actcmp.datasets.raw.make_raw`
returns them.

Generating mnist1d, or importing scikit-learn to read the digits, costs a worker process
seconds: more than training some of its groups. The cache keeps each bundled or generated
dataset as an uncompressed ``.npz`` (the arrays, bit for bit, and their description), keyed
by the dataset, its loader's version and the versions of the packages that produce it, so a
new scikit-learn, mnist1d or numpy, or a changed loader, makes a new entry instead of
reusing an old one.

An entry is only used when its key matches, its arrays have the expected dtypes, and a
SHA-256 digest over every array's bytes and the description equals the one stored with them;
anything else (a truncated or damaged file, another version's entry) is ignored and the
dataset is generated again. The key holds what the values depend on: the loader's source
(``builtin.py`` and ``raw.py``), the versions of the packages that compute them, numpy's
active CPU features, and for a file its SHA-256. The digest detects damage, not intent: like
an installed package, an entry written on purpose by someone who can write to the cache
folder would be believed. Entries are written to a temporary file in the same folder and
renamed, so two workers writing the same entry at once, or a kill, leave a whole file or
none. A cache that cannot be written (read-only home, full disk) is skipped.

Old entries do not pile up: an entry in use has its modification time refreshed (at most
once a day), and writing a new entry for a dataset removes that dataset's other entries
unused for :data:`UNUSED_DAYS` days (those of an older actcmp, numpy or scikit-learn).
Entries another environment sharing the cache still uses are refreshed by it, so kept.

Where: ``$ACTCMP_DATASET_CACHE`` if set (``off`` turns the cache off), else ``datasets`` in
the platform's user cache directory (``~/.cache/actcmp/datasets`` on Linux). A setting that
names a file, or a folder below a file, is a mistake in the setting, not a cache that cannot
be written: :func:`check_cache_setting` refuses it in one line before a sweep starts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from actcmp.datasets.raw import RawData, make_raw
from actcmp.errors import DatasetError

_LOG = logging.getLogger(__name__)

#: environment variable: the cache's folder, or ``off``
CACHE_ENV = "ACTCMP_DATASET_CACHE"
#: the layout of an entry; a new layout ignores the old entries
FORMAT = 1
_DTYPES = {"x": np.dtype("<f4"), "y": np.dtype("<i8"), "anomaly": np.dtype("bool")}


def cache_dir() -> Path | None:
    """The cache's folder, or None when ``$ACTCMP_DATASET_CACHE`` is ``off``."""
    configured = os.environ.get(CACHE_ENV)
    if configured is not None and configured.strip().lower() in ("off", "0", "false", "no", ""):
        return None
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("actcmp", appauthor=False)) / "datasets"


def check_cache_setting() -> None:
    """Refuse ``$ACTCMP_DATASET_CACHE`` naming a file, or a folder below one (a
    :class:`DatasetError` naming the variable: one line, exit 2): the cache would be skipped
    silently on every run. A folder that cannot be written (read-only, a full disk) is still
    skipped, as it is no mistake of the setting's."""
    configured = os.environ.get(CACHE_ENV)
    folder = cache_dir()
    if not configured or folder is None:
        return
    for place in (folder, *folder.parents):
        if place.is_dir():
            return
        if place.exists():
            what = (
                " names a file, not a folder" if place == folder else f": {place} is a file, so no folder can be made"
            )
            raise DatasetError(f"{CACHE_ENV}={configured}{what}: set it to a folder for the dataset cache, or to off")


def cached_raw(name: str, key: Callable[[], dict[str, Any]], make: Callable[[], RawData]) -> RawData:
    """``make()``, or the entry stored for ``name`` and ``key()`` (a JSON-able description of
    everything the data depends on) when one proves itself; a new result is stored."""
    folder = cache_dir()
    if folder is None:
        return make()
    ident = json.dumps({"format": FORMAT, "name": name, **key()}, sort_keys=True)
    path = folder / f"{name}-{hashlib.sha256(ident.encode()).hexdigest()[:20]}.npz"
    found = _read(path, ident)
    if found is not None:
        _mark_used(path)
        return found
    raw = make()
    _write(path, ident, raw)
    _prune(folder, name, keep=path)
    return raw


#: a dataset's entries unused for this long are removed when it gets a new one
UNUSED_DAYS = 30
_DAY = 86400.0


def _mark_used(path: Path) -> None:
    """Refresh an entry's modification time when it is a day old or more (what
    :func:`_prune` reads; access times are not kept on most mounts)."""
    try:
        if time.time() - path.stat().st_mtime >= _DAY:
            os.utime(path)
    except OSError:  # a read-only cache: it is not pruned by us either
        pass


def _prune(folder: Path, name: str, keep: Path) -> None:
    """Remove ``name``'s entries other than ``keep`` unused for :data:`UNUSED_DAYS` days."""
    pattern = re.compile(rf"{re.escape(name)}-[0-9a-f]{{20}}\.npz")
    limit = time.time() - UNUSED_DAYS * _DAY
    try:
        entries = [p for p in folder.iterdir() if pattern.fullmatch(p.name) and p != keep]
    except OSError:
        return
    for entry in entries:
        try:
            if entry.stat().st_mtime < limit:
                entry.unlink()
        except OSError:
            pass


def _digest(arrays: dict[str, np.ndarray], description: str) -> str:
    digest = hashlib.sha256(description.encode())
    for field in ("x", "y", "anomaly"):
        if field in arrays:
            array = arrays[field]
            digest.update(f"{field}{array.dtype.str}{array.shape}".encode())
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _description(ident: str, raw: RawData) -> str:
    return json.dumps(
        {"ident": ident, "standardise": raw.standardise, "scaling": raw.scaling, "fingerprint": raw.fingerprint},
        sort_keys=True,
    )


def _read(path: Path, ident: str) -> RawData | None:
    try:
        with open(path, "rb") as stream, np.load(stream, allow_pickle=False) as entry:
            arrays = {field: entry[field] for field in _DTYPES if field in entry.files}
            description = str(entry["description"])
            digest = str(entry["digest"])
    except FileNotFoundError:
        return None
    except Exception as exc:  # a truncated, foreign or unreadable entry: generate again
        _LOG.debug("dataset cache: ignoring %s: %s", path, exc)
        return None
    try:
        meta = json.loads(description)
        ok = (
            meta["ident"] == ident
            and "x" in arrays
            and all(array.dtype == _DTYPES[field] for field, array in arrays.items())
            and _digest(arrays, description) == digest
        )
        if not ok:
            _LOG.debug("dataset cache: %s does not match, generating again", path)
            return None
        raw = make_raw(
            arrays["x"], arrays.get("y"), arrays.get("anomaly"), bool(meta["standardise"]), **meta["scaling"]
        )
    except Exception as exc:
        _LOG.debug("dataset cache: ignoring %s: %s", path, exc)
        return None
    if raw.fingerprint != meta["fingerprint"]:  # cannot happen with a matching digest; kept as a guard
        return None
    return raw


#: a temporary file older than this was left by a killed writer: removed by the next write
STALE_SECONDS = 3600


def _write(path: Path, ident: str, raw: RawData) -> None:
    arrays: dict[str, Any] = {"x": raw.x}
    if raw.y is not None:
        arrays["y"] = raw.y
    if raw.anomaly is not None:
        arrays["anomaly"] = raw.anomaly
    temporary: str | None = None
    try:
        description = _description(ident, raw)
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(path.parent)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(handle, "wb") as stream:
            fields: dict[str, Any] = {
                "description": np.array(description),
                "digest": np.array(_digest(arrays, description)),
                **arrays,
            }
            np.savez(stream, **fields)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o644 & ~umask)  # mkstemp makes 0600: readable as a plain file would be
        os.replace(temporary, path)
        temporary = None
    except Exception as exc:  # an unwritable cache costs time, never a run
        _LOG.debug("dataset cache: cannot write %s: %s", path, exc)
    finally:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)


def _remove_stale(folder: Path) -> None:
    """Remove the temporary files of writers killed more than :data:`STALE_SECONDS` ago."""
    now = time.time()
    for leftover in folder.glob(".*.tmp"):
        try:
            if now - leftover.stat().st_mtime > STALE_SECONDS:
                leftover.unlink()
        except OSError:
            pass
