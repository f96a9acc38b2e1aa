"""What the MLflow and TensorBoard exports share: reading runs, naming them, writing a
target directory atomically, and importing an optional extra with a one-line hint.

An export is regenerable from the results directory, so a second export to the same
place replaces the first whole: it is written into a temporary sibling directory and
swapped in at the end, or (MLflow's) written in place with the old one moved aside and put
back on an error, Ctrl-C or SIGTERM; what a killed export (SIGKILL, out of memory) left is
put back by the next export (:func:`recover_killed`). A target directory that holds
something other than an actcmp export is refused, never replaced.
"""

from __future__ import annotations

import importlib
import json
import math
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from actcmp.config import stored_config
from actcmp.errors import ConfigError, StoreError
from actcmp.store.database import Store

MARKER = "actcmp-export.json"
#: in a folder of Parquet or CSV files: the files actcmp exports wrote there and their SHA-256
#: (:mod:`actcmp.store.export`); those files share the folder with others, so it is no MARKER
FRAMES_MANIFEST = "actcmp-frames.json"
#: in an in-place export (MLflow's) while it is written: the marker replaces it at the end
PARTIAL = ".actcmp-export-partial"
#: layer metrics left out of the exports: histogram bins (one scalar per bin would bury the rest)
SKIPPED_LAYER_PREFIXES = ("preact_hist_",)
_SLUG = re.compile(r"[^A-Za-z0-9_.\-]+")


def import_extra(module: str, extra: str) -> ModuleType:
    """``module``, or a one-line :class:`ConfigError` naming the install command."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"--format {extra} needs the {extra} extra: pip install 'actcmp[{extra}]'") from None


@dataclass
class StoredRun:
    """One stored run as the exports see it (see :meth:`actcmp.store.database.Store.read_run`)."""

    run_id: str
    status: str
    config: dict[str, Any]
    env: dict[str, Any]
    wall_time_s: float | None
    error: str | None
    finished_at: str
    final: dict[str, float | None]
    epochs: list[tuple[int, str, float | None]]
    layers: list[tuple[int, int, str, float | None]]
    sweeps: list[str] = field(default_factory=list)  # names of the sweeps that planned it
    #: its part in a [tune] sweep (:func:`tune_roles`): "tuning", "evaluation (common value)",
    #: "evaluation (selected value)" or "evaluation (common = selected value)"; "" outside [tune]
    role: str = ""

    @property
    def label(self) -> str:
        """``relu_digits_d2_s0_3220fba2``: readable and unique (the id's first 8 characters)."""
        cfg = self.config
        parts = [
            slug(str(cfg.get("activation"))),
            slug(str(cfg.get("dataset"))),
            f"d{cfg.get('depth')}",
            f"s{cfg.get('seed')}",
            self.run_id[:8],
        ]
        return "_".join(parts)

    @property
    def last_epoch(self) -> int:
        return max((e for e, _, _ in self.epochs), default=0)

    def finished_ms(self) -> int:
        """When the run was stored, in ms since the epoch (now if unreadable)."""
        try:
            return int(datetime.strptime(self.finished_at, "%Y-%m-%dT%H:%M:%S%z").timestamp() * 1000)
        except (TypeError, ValueError):
            return int(time.time() * 1000)

    def final_scalars(self) -> list[tuple[str, float]]:
        """The final metrics as MLflow and TensorBoard get them, sorted by name. A run that
        converged has a NULL only where a metric does not apply to it (no anomaly set,
        ``diverged_epoch``, a loss threshold never reached): left out, so that converged runs
        do not carry NaN metrics; any other run's NULL (a diverged run's non-finite loss, or a
        metric it could not reach) is written as NaN (:func:`as_float`)."""
        converged = self.status == "done"
        return [
            (name, as_float(value)) for name, value in sorted(self.final.items()) if value is not None or not converged
        ]

    def layer_scalars(self) -> Iterator[tuple[int, str, float]]:
        """``(epoch, "layer{L}/{metric}", value)`` for every stored layer metric (histograms
        left out); a stored NULL as NaN (:func:`as_float`)."""
        for epoch, layer, name, value in self.layers:
            if name.startswith(SKIPPED_LAYER_PREFIXES):
                continue
            yield epoch, f"layer{layer}/{name}", as_float(value)


def as_float(value: float | None) -> float:
    """A stored value as the exports write it: the store keeps a NaN or infinite value (a
    diverged run's loss) as NULL, read back as ``None``; written as NaN, as the Parquet and
    CSV exports and :func:`~actcmp.store.database.load_results` show it (MLflow and
    TensorBoard both store and read NaN)."""
    return math.nan if value is None else float(value)


def slug(text: str) -> str:
    return _SLUG.sub("-", text).strip("-") or "x"


def read_runs(directory: str | Path) -> tuple[list[StoredRun], list[dict[str, Any]]]:
    """Every stored run (sorted by id) and the sweeps recorded in ``directory``. A run whose
    stored config is not readable JSON is left out, one whose environment is not is read
    with none (as the Parquet export does; ``Store.damaged_rows`` names both)."""
    with Store(directory, create=False) as store, store.snapshot():
        sweeps = store.sweeps()
        planned_in = run_sweeps(store)
        finished = dict(store.conn.execute("SELECT run_id, finished_at FROM runs").fetchall())
        roles = tune_roles(store)
        runs = []
        for rid in store.stored_ids():
            # the sample blobs (the report's pictures) are not exported; a run whose stored
            # config is damaged reads as None and is left out (the CLI names it: damaged_rows)
            record = store.read_run(rid, samples=False)
            if record is None:
                continue
            runs.append(
                StoredRun(
                    run_id=rid,
                    status=record["status"],
                    config=stored_config(json.dumps(record["config"])),
                    env=record["env"],
                    wall_time_s=record["wall_time_s"],
                    error=record["error"],
                    finished_at=finished.get(rid, ""),
                    final=record["final"],
                    epochs=record["epochs"],
                    layers=record["layers"],
                    sweeps=planned_in.get(rid, []),
                    role=roles.get(rid, ""),
                )
            )
    return runs, sweeps


#: the file of a report that records what it covered (:func:`actcmp.report.setup.collect_setup`)
SETUP_FILE = "setup.json"


def report_coverage(directory: Path, runs: list[StoredRun]) -> tuple[str, str | None]:
    """Whether the report in ``directory`` covers ``runs`` (the stored runs, as
    :func:`read_runs` gave them), judged by what its ``setup.json`` records: the runs it read
    by status (those of a ``[tune]`` sweep's tuning and selected values included) and, without
    ``[tune]``, its newest run's time. ``("current", None)``, or ``"stale"`` or ``"unknown"``
    (no readable ``setup.json``) with one line saying why."""
    from actcmp.text import plural

    path = directory / SETUP_FILE
    try:
        setup = json.loads(path.read_text(encoding="utf-8"))
        counted = setup["runs"]
        statuses = ("done", "diverged", "failed")
        parts = [counted, *(counted.get(k) or {} for k in ("tuning", "at_selected"))]
        seen = {key: sum(int(part.get(key, 0)) for part in parts) for key in ("stored", *statuses)}
    except FileNotFoundError:
        return (
            "unknown",
            f"the report in {directory} has no {SETUP_FILE} (an older actcmp wrote it): it may not cover the store",
        )
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return "unknown", f"{path} is not readable: cannot tell whether the report in {directory} covers the store"
    now = {"stored": len(runs), **{key: sum(run.status == key for run in runs) for key in statuses}}
    if seen != now:

        def counts(c: dict[str, int]) -> str:
            return f"{plural(c['stored'], 'run')} ({', '.join(f'{c[k]} {k}' for k in statuses)})"

        return "stale", (
            f"the report in {directory} is older than its store: it covers {counts(seen)}, the store holds "
            f"{counts(now)} (actcmp report {directory} brings it up to date)"
        )
    if "tuning" in counted:  # the report's dates are those of the runs at the common value only
        return "current", None
    last = _stamp((setup.get("dates") or {}).get("last"))
    newest = max((stamp for run in runs if (stamp := _stamp(run.finished_at)) is not None), default=None)
    if newest is not None and (last is None or newest > last):
        return "stale", (
            f"the report in {directory} is older than its store: a run finished at {newest.isoformat()}, after the "
            f"report's newest (actcmp report {directory} brings it up to date)"
        )
    return "current", None


def _stamp(text: Any) -> datetime | None:
    """A stored ``finished_at`` (``%Y-%m-%dT%H:%M:%S%z``) as a time, None if unreadable."""
    try:
        return datetime.strptime(str(text), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None


def run_sweeps(store: Store) -> dict[str, list[str]]:
    """Run id -> names of the sweeps that planned it (every shard), sorted: the MLflow
    export's ``actcmp.sweeps`` and the Parquet/CSV ``sweeps`` column."""
    names = {s["sweep_id"]: s["name"] for s in store.sweeps()}
    planned_in: dict[str, set[str]] = {}
    for sid, rids in store.sweep_runs().items():
        for rid in rids:
            planned_in.setdefault(rid, set()).add(names.get(sid, sid))
    return {rid: sorted(found) for rid, found in planned_in.items()}


def tune_roles(store: Store) -> dict[str, str]:
    """Each run's part in the [tune] sweeps of ``store``, as the report reads them
    (:func:`actcmp.analysis.tune.stored_tunes`): "tuning" (a tuning seed at a candidate),
    "evaluation (common value)", "evaluation (selected value)" (what the Tuned comparison
    reads) or "evaluation (common = selected value)"; runs of no tuned sweep are left out."""
    from actcmp.analysis.tune import matches_values, stored_tunes

    roles: dict[str, str] = {}
    for tune in stored_tunes(store, store.expected_configs()):  # the plan the report reads
        for rid in tune.tuning_ids:
            roles[rid] = "tuning"
        # a unit that selected the common value evaluates it once: that run is both
        chosen = {s.unit: s.chosen for s in tune.selections if s.chosen is not None}
        for rid in tune.common_ids | tune.selected_ids:
            if roles.get(rid) == "tuning":
                continue
            cfg = tune.planned.get(rid, {})
            picked = chosen.get(str(cfg.get("tune_unit")))
            both = rid in tune.common_ids and picked is not None and matches_values(cfg, picked)
            at = "common = selected value" if both else ("common value" if rid in tune.common_ids else "selected value")
            roles[rid] = f"evaluation ({at})"
    return roles


def flat_env(env: dict[str, Any]) -> dict[str, str]:
    """The stored environment as ``env.<key>`` strings (nested values as JSON)."""
    return {
        f"env.{key}": value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        for key, value in sorted(env.items())
    }


def stored_format(out: Path) -> str | None:
    """The format of the actcmp export in ``out`` (its marker's ``format``), or None."""
    try:
        info = json.loads((out / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return str(info.get("format")) if isinstance(info, dict) and info.get("format") else None


def refuse_other_format(out: Path, fmt: str) -> None:
    """An export of another format in ``out`` is never replaced by (or mixed with) this one,
    and no export goes inside another (replacing that one would delete it)."""
    other = stored_format(out)
    if other is not None and other != fmt:
        raise StoreError(
            f"export target {out} holds an actcmp {other} export: choose another --out for the {fmt} export "
            "(by default Parquet and CSV go to DIR/export, MLflow and TensorBoard to DIR/export/mlflow and "
            "DIR/export/tensorboard)"
        )
    for parent in out.absolute().parents:
        outer = stored_format(parent)
        if outer is not None:
            raise StoreError(
                f"export target {out} is inside the actcmp {outer} export {parent}, which a later {outer} "
                "export would replace whole: choose another --out"
            )


def _check_target(out: Path, fmt: str) -> None:
    if out.exists() and not out.is_dir():
        raise StoreError(f"export target {out} is a file, not a directory")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        old = out.with_name(f".{out.name}.old")
        kept = f" (an earlier actcmp export is kept beside it as {old.name})" if stored_format(old) else ""
        frames = " (Parquet or CSV files of actcmp's among them)" if (out / FRAMES_MANIFEST).is_file() else ""
        raise StoreError(
            f"export target {out} holds other files (not an actcmp export){frames}{kept}: choose another --out"
        )
    refuse_other_format(out, fmt)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create {out.parent}: {exc.strerror}") from None


def _mlflow_shaped(out: Path) -> bool:
    """Whether ``out`` looks like a store MLflow's file store wrote (experiment folders named
    by number, each with its ``meta.yaml``; ``.trash`` and ``models``), and nothing else: what
    an in-place MLflow export killed by an actcmp that wrote no :data:`PARTIAL` file left."""
    try:
        children = list(out.iterdir())
    except OSError:
        return False
    experiments = [c for c in children if c.is_dir() and c.name.isdigit()]
    others = [c for c in children if c not in experiments and c.name not in (".trash", "models")]
    return bool(experiments) and not others and any((c / "meta.yaml").is_file() for c in experiments)


def recover_killed(out: Path, fmt: str | None = None) -> str | None:
    """Put back what an export killed half-way (SIGKILL, out of memory, a power cut) left at
    ``out``; return what was done, in one line, or None when there was nothing to do.

    An in-place export (:func:`replacing`) moves the old export aside to ``.OUT.old`` and
    writes the new one at ``out`` under a :data:`PARTIAL` file, which the marker replaces at
    the end. ``out`` without the marker is the leftover of a killed export when it holds
    :data:`PARTIAL`; or, beside a ``.OUT.old`` export of format ``fmt``, when it is empty
    (killed before the :data:`PARTIAL` file) or, for MLflow, holds nothing but what MLflow's
    file store writes (an actcmp that wrote no :data:`PARTIAL` file). It is removed and the
    old export, if any, put back; so is a missing ``out`` beside such a ``.OUT.old`` (killed
    between the two renames). Anything else, a user's folder above all, is left alone (and
    refused by :func:`replacing`). Called under :func:`replacing`'s lock, so no export running
    now is taken for a killed one."""
    old = out.with_name(f".{out.name}.old")
    old_export = old.is_dir() and stored_format(old) is not None
    if out.is_dir() and not (out / MARKER).is_file():
        same_format = old_export and fmt is not None and stored_format(old) == fmt
        empty = not any(out.iterdir())
        killed_mlflow = same_format and fmt == "mlflow" and _mlflow_shaped(out)
        if not ((out / PARTIAL).is_file() or killed_mlflow or (same_format and empty)):
            return None
        _remove_partial(out)
        what = f"export target {out} was left half-written by an export that was killed: removed it"
    elif not out.exists() and not out.is_symlink() and old_export:
        what = f"export target {out} was moved aside by an export that was killed"
    else:
        return None
    if old_export:
        old.replace(out)
        what += f", put back the earlier export from {old.name}"
    return what


def _remove_partial(out: Path) -> None:
    """Remove a partial in-place export, its :data:`PARTIAL` file last: killed half-way
    through, what is left is still known for a partial export."""
    if not out.is_dir():
        return
    for child in out.iterdir():
        if child.name == PARTIAL:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
    (out / PARTIAL).unlink(missing_ok=True)
    shutil.rmtree(out, ignore_errors=True)


@contextmanager
def replacing(
    out: Path, info: dict[str, Any], *, in_place: bool = False, notes: list[str] | None = None
) -> Iterator[Path]:
    """Yield the directory to write an export into; on success it replaces ``out`` whole.

    Normally that is a temporary sibling, renamed to ``out`` at the end. ``in_place``
    (for writers that store absolute paths, like MLflow's artifact locations): the old
    export is moved aside, the new one written at ``out`` (created here, empty but for a
    :data:`PARTIAL` file), and on an error the partial one is removed and the old one put
    back. Ctrl-C and SIGTERM (:func:`actcmp.signals.interrupts`) are errors here, raised
    once a rename under way is done, so the old export is back when they end the command;
    what a killed export left is put back by the next one (:func:`recover_killed`; the line
    saying so is appended to ``notes``).
    """
    from actcmp.store.lock import DirLock

    # one export at a time into ``out``: another one's partial export, temporary folder or
    # moved-aside old export is not a killed export's leftover while it runs
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create {out.parent}: {exc.strerror}") from None
    lock = DirLock(out.parent, purpose="export", name=f".{out.name}.lock", what=f"export target {out}")
    with lock:
        yield from _replacing(out, info, in_place=in_place, notes=notes)


def _replacing(out: Path, info: dict[str, Any], *, in_place: bool, notes: list[str] | None) -> Iterator[Path]:
    """:func:`replacing` under its lock."""
    from actcmp.signals import interrupts

    recovered = recover_killed(out, str(info.get("format")))
    if recovered is not None and notes is not None:
        notes.append(recovered)
    _check_target(out, str(info.get("format")))
    old = out.with_name(f".{out.name}.old")
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(tmp, ignore_errors=True)
    marker = json.dumps({"written_by": "actcmp", **info}, indent=2, sort_keys=True, default=str) + "\n"
    with interrupts() as guard:
        if in_place:
            with guard.shield():
                if out.exists():
                    out.replace(old)
                out.mkdir()
                (out / PARTIAL).write_text(marker)
            try:
                yield out
                guard.check()  # an interrupt a library caught (a __del__'s) is not a finished export
                with guard.shield():
                    (out / MARKER).write_text(marker)
                    (out / PARTIAL).unlink(missing_ok=True)
            except BaseException:
                with guard.shield():
                    _remove_partial(out)
                    if old.exists():
                        old.replace(out)
                raise
        else:
            tmp.mkdir()
            try:
                yield tmp
                guard.check()
                (tmp / MARKER).write_text(marker)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            with guard.shield():
                if out.exists():
                    out.replace(old)
                tmp.replace(out)
    shutil.rmtree(old, ignore_errors=True)
