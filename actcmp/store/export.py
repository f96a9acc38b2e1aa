"""``actcmp export``: stored results as Parquet or CSV files (one per frame)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import IO, Any

from actcmp.atomic import make_dir, write_atomic, write_text
from actcmp.errors import ConfigError
from actcmp.store.database import load_results
from actcmp.store.export_common import refuse_other_format

FORMATS = ("parquet", "csv")


def export_results(directory: str | Path, fmt: str = "parquet", out: str | Path | None = None) -> list[Path]:
    """Write ``runs``, ``epochs``, ``layers`` and ``planned`` frames; return the paths. Parquet
    keeps a sequence value (``widths``) as a list; CSV writes it as JSON text, ``[16, 8]``."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: choose parquet, csv, mlflow or tensorboard")
    results = load_results(directory)
    target = Path(out) if out is not None else Path(directory) / "export"
    refuse_other_format(target, fmt)  # an MLflow or TensorBoard export stays as it is
    make_dir(target)
    paths = []
    for name in ("runs", "epochs", "layers", "planned"):
        frame = getattr(results, name)
        path = target / f"{name}.{fmt}"
        if fmt == "parquet":
            write_atomic(path, functools.partial(_parquet, frame))
        else:
            write_text(path, _json_lists(frame).to_csv(index=False))
        paths.append(path)
    return paths


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
