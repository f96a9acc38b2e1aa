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
"""

from __future__ import annotations

import functools
import json
from dataclasses import replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from actcmp.atomic import make_dir, write_atomic, write_text
from actcmp.errors import ConfigError
from actcmp.store.database import Results, Store
from actcmp.store.export_common import refuse_other_format, run_sweeps, tune_roles

if TYPE_CHECKING:
    import pandas as pd

FORMATS = ("parquet", "csv")
#: the frames written, in this order (``environments`` when the frames have it)
FRAMES = ("runs", "epochs", "layers", "planned", "environments")
#: the columns :func:`with_sweep_columns` adds to ``runs`` and ``planned`` (after ``status``)
SWEEP_COLUMNS = ("sweeps", "role")


def export_results(directory: str | Path, fmt: str = "parquet", out: str | Path | None = None) -> list[Path]:
    """Write ``runs``, ``epochs``, ``layers``, ``planned`` and ``environments`` frames; return
    the paths. Parquet keeps a sequence value (``widths``) as a list; CSV writes it as JSON
    text, ``[16, 8]``. ``runs`` and ``planned`` carry ``sweeps`` and ``role`` (module docstring)."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: choose parquet, csv, mlflow or tensorboard")
    results = read_frames(directory)
    target = Path(out) if out is not None else Path(directory) / "export"
    refuse_other_format(target, fmt)  # an MLflow or TensorBoard export stays as it is
    make_dir(target)
    paths = []
    for name in FRAMES:
        frame = getattr(results, name)
        if frame is None:
            continue
        path = target / f"{name}.{fmt}"
        if fmt == "parquet":
            write_atomic(path, functools.partial(_parquet, frame))
        else:
            write_text(path, _json_lists(frame).to_csv(index=False))
        paths.append(path)
    return paths


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


def _parquet(frame: Any, handle: IO[bytes]) -> None:
    frame.to_parquet(handle, index=False)
