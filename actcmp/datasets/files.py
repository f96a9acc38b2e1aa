"""The user's own data files: ``csv:PATH``, ``parquet:PATH`` (optionally ``#label=COLUMN``)
and ``npy:PATH``; ``#anomaly=COLUMN`` (a column number for npy; non-zero = anomaly) gives
the file the split rule of the built-in anomaly sets.

A file is read once per process while its modification time and size stay the same;
its content fingerprint is part of each run's identity. pandas is imported only to read
csv/parquet files.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from actcmp.datasets.raw import RawData, make_raw
from actcmp.datasets.registry import STANDARDISED, DatasetInfo, column_index, split_options
from actcmp.errors import DatasetError

if TYPE_CHECKING:
    import pandas as pd

#: the fewest rows a user file may have
MIN_ROWS = 10
_Fail = Callable[[str], DatasetError]


def user_file_raw(key: str) -> tuple[RawData, DatasetInfo]:
    """The raw data and metadata of a file dataset (``key``: its canonical name)."""
    kind, _, rest = key.partition(":")
    path_text, options = split_options(rest)
    path = Path(path_text).expanduser()
    if not path.is_file():
        problem = "is not a file" if path.exists() else "not found"
        raise DatasetError(f"dataset file '{path_text}' {problem}")
    stat = path.stat()
    label, anomaly = options.get("label"), options.get("anomaly")
    raw = _read_user_file(kind, str(path.resolve()), label, stat.st_mtime_ns, stat.st_size, path_text, anomaly)
    info = DatasetInfo(
        key,
        f"user {kind} file {path_text}",
        raw.x.shape[1],
        "identity",
        "mse",
        STANDARDISED,
        raw.y is not None,
        raw.anomaly is not None,
        "user file",
    )
    return raw, info


@functools.cache
def _read_user_file(
    kind: str, path: str, label: str | None, mtime_ns: int, size: int, shown: str, anomaly: str | None = None
) -> RawData:
    """Read a csv/parquet/npy file; ``mtime_ns`` and ``size`` are only cache keys. The
    ``label`` and ``anomaly`` columns are taken out of the features."""

    def fail(message: str) -> DatasetError:
        return DatasetError(f"dataset file '{shown}' {message}")

    if kind == "npy":
        x, columns, flags = _read_npy(path, anomaly, fail)
        y = None
    else:
        x, columns, y, flags = _read_table(kind, path, label, anomaly, fail)
    _check_features(x, columns, flags, fail)
    return make_raw(x, y, anomaly=flags)


def _read_npy(path: str, anomaly: str | None, fail: _Fail) -> tuple[np.ndarray, list[str], np.ndarray | None]:
    """A 2-D numeric .npy file -> (features float64, column names, anomaly flags or None)."""
    with open(path, "rb") as handle:
        magic = handle.read(6)
    if magic != b"\x93NUMPY":
        raise fail(f"is not a .npy file (starts with {magic!r}, expected b'\\x93NUMPY')")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise fail(f"cannot be read as .npy: {exc}") from None
    if array.ndim != 2:
        raise fail(f"holds a {array.ndim}-D array of shape {array.shape}; need 2-D [rows, features]")
    if array.dtype.kind not in "biuf":
        raise fail(f"has dtype {array.dtype}, not numeric")
    x = array.astype(np.float64)
    columns = [f"column {i}" for i in range(array.shape[1])]
    flags = None
    if anomaly is not None:
        index = column_index(anomaly)
        if index is None or not -x.shape[1] <= index < x.shape[1]:
            raise fail(f"has no anomaly column {anomaly} (it has {x.shape[1]} columns, numbered from 0)")
        index %= x.shape[1]
        flags = _anomaly_flags(x[:, index], f"anomaly column {index}", fail)
        x = np.delete(x, index, axis=1)
        del columns[index]
    return x, columns, flags


def _read_table(
    kind: str, path: str, label: str | None, anomaly: str | None, fail: _Fail
) -> tuple[np.ndarray, list[str], np.ndarray | None, np.ndarray | None]:
    """A csv/parquet file -> (features float64, column names, label codes, anomaly flags)."""
    frame = _read_frame(kind, path, fail)
    for option, column in (("label", label), ("anomaly", anomaly)):
        if column is not None and column not in frame.columns:
            raise fail(f"has no {option} column '{column}' (columns: {', '.join(map(str, frame.columns))})")
    y = flags = None
    if label is not None:
        y = _label_codes(frame[label], label, fail)
    if anomaly is not None:
        values = _numeric_matrix(frame[[anomaly]], [f"anomaly column '{anomaly}'"], fail)[:, 0]
        flags = _anomaly_flags(values, f"anomaly column '{anomaly}'", fail)
    frame = frame.drop(columns=[c for c in dict.fromkeys((label, anomaly)) if c is not None])
    if len(frame) and not len(frame.columns):
        raise fail("has no feature columns")
    columns = [f"column '{c}'" for c in frame.columns]
    return _numeric_matrix(frame, columns, fail), columns, y, flags


def _check_features(x: np.ndarray, columns: list[str], flags: np.ndarray | None, fail: _Fail) -> None:
    """Refuse too few rows, no features, non-finite values, an anomaly column that flags
    all rows or none, and values that float32 cannot hold."""
    if len(x) == 0:
        raise fail("has no rows")
    if len(x) < MIN_ROWS:
        raise fail(f"has only {len(x)} rows; need at least {MIN_ROWS}")
    if not x.shape[1]:
        raise fail("has no feature columns")
    bad = (~np.isfinite(x)).sum(axis=0)
    if bad.any():
        listed = [f"{columns[i]} ({bad[i]} row{'s' if bad[i] > 1 else ''})" for i in np.flatnonzero(bad)[:3]]
        raise fail(f"has NaN or inf values in {', '.join(listed)}")
    if flags is not None and (flags.all() or not flags.any()):
        what = "every row is" if flags.all() else "no row is"
        raise fail(f"has an anomaly column in which {what} an anomaly (non-zero = anomaly)")
    huge = (np.abs(x) > np.finfo(np.float32).max).sum(axis=0)  # would become inf as float32
    if huge.any():
        first = int(np.flatnonzero(huge)[0])
        example = x[np.flatnonzero(np.abs(x[:, first]) > np.finfo(np.float32).max)[0], first]
        raise fail(
            f"has values too large for float32 in {columns[first]} (e.g. {example:g}; the largest is "
            f"{float(np.finfo(np.float32).max):.3g}): rescale the data"
        )


def _anomaly_flags(values: np.ndarray, shown: str, fail: _Fail) -> np.ndarray:
    """Anomaly column -> bool [n] (non-zero = anomaly); missing values are refused."""
    missing = ~np.isfinite(values)
    if missing.any():
        raise fail(f"has {int(missing.sum())} missing or non-finite values in {shown}")
    flags: np.ndarray = values != 0
    return flags


def _read_frame(kind: str, path: str, fail: _Fail) -> pd.DataFrame:
    import pandas as pd

    try:
        return pd.read_csv(path) if kind == "csv" else pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise fail("is empty") from None
    except (ValueError, OSError, ImportError) as exc:  # parser, arrow and decoding errors
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise fail(f"cannot be read as {kind}: {reason}") from None


def _numeric_matrix(frame: pd.DataFrame, columns: list[str], fail: _Fail) -> np.ndarray:
    """Frame -> float64 [rows, columns], naming the first non-numeric column and value."""
    import pandas as pd

    for column, shown in zip(frame.columns, columns, strict=True):
        series = frame[column]
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            continue
        coerced = pd.to_numeric(series, errors="coerce")
        offending = np.flatnonzero((coerced.isna() & series.notna()).to_numpy())
        if len(offending):
            row = int(offending[0])
            raise fail(f"has a non-numeric {shown} (row {row + 1}: {series.iloc[row]!r})")
        frame = frame.copy()
        frame[column] = coerced
    matrix: np.ndarray = frame.to_numpy(dtype=np.float64, na_value=np.nan)
    return matrix


def _label_codes(series: pd.Series, column: str, fail: _Fail) -> np.ndarray:
    """Labels -> int64 codes 0..K-1 in sorted order of the distinct values."""
    import pandas as pd

    if series.isna().any():
        raise fail(f"has {int(series.isna().sum())} missing values in label column '{column}'")
    values = series.to_numpy()
    if pd.api.types.is_float_dtype(series) and not np.all(np.mod(values, 1) == 0):
        example = values[np.mod(values, 1) != 0][0]
        raise fail(f"has non-integer values in label column '{column}' (e.g. {example})")
    if not pd.api.types.is_numeric_dtype(series):
        values = series.astype(str).to_numpy()
    return np.unique(values, return_inverse=True)[1].astype(np.int64)
