"""Datasets: a registry of small bundled or generated sets, IDX files, and user files.

Every dataset becomes float32 tensors ``[n, d]`` split into train/val/test by one seeded
permutation. The raw data is fixed (generators use their own fixed seeds); only the split
varies with the run seed. Raw loading is cached per process, so sweeping seeds re-reads
nothing. Standardisation uses statistics of the training split only.

Names: registry names (``digits``, ``breast-cancer``, ...) or ``csv:PATH``,
``parquet:PATH``, ``npy:PATH``; csv/parquet take an optional ``#label=COLUMN``.
torch, pandas and scikit-learn are imported lazily so that listing the registry is cheap.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.client
import os
import random
import struct
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from actcmp.errors import DatasetError, UnknownDataset, did_you_mean

if TYPE_CHECKING:
    import pandas as pd
    import torch

FILE_PREFIXES = ("csv", "parquet", "npy")
MIN_ROWS = 10
IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_STANDARDISED = "standardised with training mean/std"
_Fail = Callable[[str], DatasetError]
_MIRRORS = {
    "mnist": ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
}


@dataclass(frozen=True)
class DatasetInfo:
    """Metadata of one dataset, cheap to get (no data loaded for registry entries)."""

    name: str
    description: str
    n_features: int | None
    output_activation: str
    loss: str
    scaling: str
    has_labels: bool
    has_anomalies: bool
    source: str
    #: rows of the raw data and how many of them are anomalies (registry entries whose
    #: size is fixed; None: learnt from the files, see :func:`dataset_shape`)
    n_rows: int | None = None
    n_anomalies: int = 0


def _entry(
    name: str,
    description: str,
    n_features: int | None,
    scaling: str = _STANDARDISED,
    *,
    output: str = "identity",
    loss: str = "mse",
    anomalies: bool = False,
    source: str = "generated",
    rows: int | None = None,
    anomaly_rows: int = 0,
) -> DatasetInfo:
    return DatasetInfo(
        name, description, n_features, output, loss, scaling, True, anomalies or anomaly_rows > 0, source, rows,
        anomaly_rows,
    )  # fmt: skip


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        _entry(
            "digits",
            "8x8 handwritten digits, 1797 images, 10 classes",
            64,
            "pixels / 16 -> [0, 1]",
            output="sigmoid",
            source="bundled (scikit-learn)",
            rows=1797,
        ),
        _entry(
            "breast-cancer",
            "Wisconsin breast cancer, 569 tumours x 30 measurements; malignant = anomaly",
            30,
            source="bundled (scikit-learn)",
            rows=569,
            anomaly_rows=212,
        ),
        _entry(
            "mnist1d",
            "MNIST-1D (mnist1d package, fixed seed 42): 4000 1-D digit signals, 40 points, 10 classes",
            40,
            source="generated",
            rows=4000,
        ),
        _entry("manifold", "3000 points on a 2-D manifold smoothly embedded in 64-D, noise 0.05", 64, rows=3000),
        _entry(
            "clusters",
            "5 Gaussian clusters in 32-D, 2500 points + 5% scattered anomalies",
            32,
            rows=2625,
            anomaly_rows=125,
        ),
        _entry(
            "distributions",
            "3000 rows that are distributions over 32 bins (1-3 bumps)",
            32,
            "none (rows stay probability distributions)",
            output="softmax",
            loss="ce",
            rows=3000,
        ),
        _entry(
            "mnist",
            "MNIST handwritten digits, 70000 images 28x28, 10 classes",
            784,
            "pixels / 255 -> [0, 1]",
            output="sigmoid",
            source="IDX files in data dir",
        ),
        _entry(
            "fashion-mnist",
            "Fashion-MNIST clothing images, 70000 images 28x28, 10 classes",
            784,
            "pixels / 255 -> [0, 1]",
            output="sigmoid",
            source="IDX files in data dir",
        ),
    )
}
_ALIASES = {
    "breast": "breast-cancer",
    "cancer": "breast-cancer",
    "mnist-1d": "mnist1d",
    "fmnist": "fashion-mnist",
    "fashionmnist": "fashion-mnist",
}


@dataclass
class Dataset:
    """One split dataset: ``x_*`` float32 ``[n_split, d]``; ``y_*`` int64 ``[n_split]`` or None;
    ``anomaly_test`` bool ``[n_test]`` (True = anomaly) or None."""

    info: DatasetInfo
    x_train: torch.Tensor
    x_val: torch.Tensor
    x_test: torch.Tensor
    y_train: np.ndarray | None
    y_val: np.ndarray | None
    y_test: np.ndarray | None
    anomaly_test: np.ndarray | None
    scaling: dict[str, object]
    fingerprint: str

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])


@dataclass(frozen=True)
class _Raw:
    """Unsplit data, shared by the cache: x float32 [n, d], y int64 [n], anomaly bool [n]."""

    x: np.ndarray
    y: np.ndarray | None
    anomaly: np.ndarray | None
    standardise: bool
    scaling: dict[str, object]
    fingerprint: str


def _raw(
    x: np.ndarray, y: np.ndarray | None, anomaly: np.ndarray | None = None, standardise: bool = True, **scaling: object
) -> _Raw:
    x = np.ascontiguousarray(x, dtype="<f4")
    arrays = [x] + [a for a in (y, anomaly) if a is not None]
    for array in arrays:
        array.flags.writeable = False  # cached and shared between calls
    fingerprint = hashlib.sha256(x.tobytes()).hexdigest()[:16]
    return _Raw(x, y, anomaly, standardise, scaling or {"kind": "standardise"}, fingerprint)


# ---------------------------------------------------------------------------- names


def canonical_dataset(name: str) -> str:
    """Validate a dataset name without loading data; return its canonical spelling."""
    text = name.strip()
    prefix, sep, rest = text.partition(":")
    if sep:
        kind = prefix.lower()
        if kind not in FILE_PREFIXES:
            raise UnknownDataset(
                f"unknown dataset prefix '{prefix}:' in '{name}': use csv:PATH, "
                f"parquet:PATH or npy:PATH, or one of {', '.join(DATASETS)}"
            )
        path, label = _split_label(rest)
        if not path:
            raise UnknownDataset(f"dataset '{name}' names no file: write {kind}:PATH")
        if label == "":
            raise UnknownDataset(f"dataset '{name}': empty label column after '#label='")
        if label is not None and kind == "npy":
            raise UnknownDataset(f"dataset '{name}': npy files take no label column (use csv or parquet)")
        return f"{kind}:{rest}"
    key = text.lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key in DATASETS:
        return key
    raise UnknownDataset(f"unknown dataset '{name}'{did_you_mean(key, DATASETS)}")


def _split_label(rest: str) -> tuple[str, str | None]:
    if "#label=" not in rest:
        return rest, None
    path, _, label = rest.rpartition("#label=")
    return path, label


def list_datasets() -> list[DatasetInfo]:
    """The registry entries in display order (file datasets are not listed)."""
    return list(DATASETS.values())


def dataset_info(name: str, data_dir: str | Path | None = None) -> DatasetInfo:
    """Metadata for a name; file datasets are read (cached) to learn ``n_features``."""
    key = canonical_dataset(name)
    if key in DATASETS:
        return DATASETS[key]
    return _load_raw(key, data_dir)[1]


@dataclass(frozen=True)
class DataShape:
    """Sizes of one split dataset, known without loading it (see :func:`dataset_shape`)."""

    n_train: int
    n_val: int
    n_test: int
    n_features: int


def dataset_shape(
    name: str, val_fraction: float = 0.15, test_fraction: float = 0.15, data_dir: str | Path | None = None
) -> DataShape:
    """The split sizes :func:`load_dataset` gives for ``name`` (the same for every seed),
    without loading data: registry sizes, the headers of IDX files; a user file is read
    (cached), as its content fingerprint is part of each run's identity anyway.

    Raises what loading would for a name that does not exist or a missing IDX file."""
    key = canonical_dataset(name)
    info = DATASETS.get(key)
    if info is not None and info.n_rows is not None and info.n_features is not None:
        rows, anomalies, features = info.n_rows, info.n_anomalies, info.n_features
    elif key in ("mnist", "fashion-mnist"):
        rows, features = _idx_shape(key, _idx_files(key, _resolve_data_dir(data_dir)))
        anomalies = 0
    else:
        raw, _ = _load_raw(key, data_dir)
        rows, anomalies, features = len(raw.x), 0 if raw.anomaly is None else int(raw.anomaly.sum()), raw.x.shape[1]
    n_train, n_val, n_test = split_sizes(rows, anomalies, val_fraction, test_fraction)
    return DataShape(n_train, n_val, n_test, int(features))


def split_sizes(rows: int, anomalies: int, val_fraction: float, test_fraction: float) -> tuple[int, int, int]:
    """(train, val, test) rows of :func:`split_indices` + :func:`load_dataset` for ``rows``
    rows of which ``anomalies`` are anomalies (stratified, then dropped from train and val)."""
    sizes = [0, 0, 0]
    for stratum, count in ((False, rows - anomalies), (True, anomalies)):
        if count == 0:
            continue
        n_val, n_test = round(count * val_fraction), round(count * test_fraction)
        if not stratum:  # anomalies stay in the test split only
            sizes[0] += count - n_val - n_test
            sizes[1] += n_val
        sizes[2] += n_test
    return sizes[0], sizes[1], sizes[2]


def fingerprint_of(name: str, data_dir: str | Path | None = None) -> str:
    """The content fingerprint of a dataset's raw data (a user file is read, cached)."""
    return _load_raw(canonical_dataset(name), data_dir)[0].fingerprint


# ---------------------------------------------------------------------------- split and load


def split_indices(
    n: int, seed: int, val_fraction: float = 0.15, test_fraction: float = 0.15, strata: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train, val, test row indices (int64) from one PCG64(seed) permutation of ``range(n)``.

    Each split takes ``round(n * fraction)`` rows (val first, then test, rest train); with
    ``strata`` (bool or int ``[n]``) this is done per stratum, in permutation order.
    """
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise DatasetError(
            f"val_fraction {val_fraction} and test_fraction {test_fraction} must be in [0, 1) and sum to less than 1"
        )
    order = np.random.Generator(np.random.PCG64(seed)).permutation(n)
    groups = [order] if strata is None else [order[strata[order] == s] for s in np.unique(strata)]
    parts: list[list[np.ndarray]] = [[], [], []]
    for group in groups:
        n_val, n_test = round(len(group) * val_fraction), round(len(group) * test_fraction)
        parts[0].append(group[n_val + n_test :])
        parts[1].append(group[:n_val])
        parts[2].append(group[n_val : n_val + n_test])
    train, val, test = (np.concatenate(p).astype(np.int64) for p in parts)
    return train, val, test


def load_dataset(
    name: str, seed: int, val_fraction: float = 0.15, test_fraction: float = 0.15, data_dir: str | Path | None = None
) -> Dataset:
    """Load ``name`` and split it by ``seed``; same seed, same tensors on any machine.

    With anomalies, the split is stratified by the anomaly flag and anomalies are then
    dropped from train and val, so the model only ever trains on normal samples.
    """
    import torch

    raw, info = _load_raw(canonical_dataset(name), data_dir)
    train, val, test = split_indices(len(raw.x), seed, val_fraction, test_fraction, raw.anomaly)
    if raw.anomaly is not None:
        train, val = train[~raw.anomaly[train]], val[~raw.anomaly[val]]
    if len(train) < 2:
        raise DatasetError(f"dataset '{info.name}': only {len(train)} training rows after the split")
    x_train, x_val, x_test = raw.x[train], raw.x[val], raw.x[test]
    scaling = dict(raw.scaling)
    if raw.standardise:
        fit = x_train.astype(np.float64)
        mean, std = fit.mean(axis=0), fit.std(axis=0)
        constant = np.ptp(fit, axis=0) == 0
        std[constant] = 1.0
        x_train, x_val, x_test = (((x - mean) / std).astype(np.float32) for x in (x_train, x_val, x_test))
        scaling.update(
            kind="standardise",
            fit_on="train",
            n_fit=len(train),
            constant_features=int(constant.sum()),
            mean_range=[float(mean.min()), float(mean.max())],
            std_range=[float(std.min()), float(std.max())],
        )

    def labels(idx: np.ndarray) -> np.ndarray | None:
        return None if raw.y is None else raw.y[idx].copy()

    return Dataset(
        info=info,
        x_train=torch.from_numpy(np.ascontiguousarray(x_train)),
        x_val=torch.from_numpy(np.ascontiguousarray(x_val)),
        x_test=torch.from_numpy(np.ascontiguousarray(x_test)),
        y_train=labels(train),
        y_val=labels(val),
        y_test=labels(test),
        anomaly_test=None if raw.anomaly is None else raw.anomaly[test].copy(),
        scaling=scaling,
        fingerprint=raw.fingerprint,
    )


def _load_raw(key: str, data_dir: str | Path | None) -> tuple[_Raw, DatasetInfo]:
    if key in ("mnist", "fashion-mnist"):
        files = _idx_files(key, _resolve_data_dir(data_dir))
        stamps = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
        return _idx_dataset(key, stamps), DATASETS[key]
    if key in DATASETS:
        return _generated(key), DATASETS[key]
    kind, _, rest = key.partition(":")
    path_text, label = _split_label(rest)
    path = Path(path_text).expanduser()
    if not path.is_file():
        problem = "is not a file" if path.exists() else "not found"
        raise DatasetError(f"dataset file '{path_text}' {problem}")
    stat = path.stat()
    raw = _user_file(kind, str(path.resolve()), label, stat.st_mtime_ns, stat.st_size, path_text)
    info = DatasetInfo(
        key,
        f"user {kind} file {path_text}",
        raw.x.shape[1],
        "identity",
        "mse",
        _STANDARDISED,
        raw.y is not None,
        False,
        "user file",
    )
    return raw, info


def _resolve_data_dir(data_dir: str | Path | None) -> Path:
    if data_dir is None:
        data_dir = os.environ.get("ACTCMP_DATA_DIR") or Path.home() / ".cache" / "actcmp" / "data"
    return Path(data_dir).expanduser()


# ---------------------------------------------------------------------------- bundled and generated


@functools.cache
def _generated(name: str) -> _Raw:
    return _GENERATORS[name]()


def _digits() -> _Raw:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return _raw(
        bunch.data / 16.0,
        bunch.target.astype(np.int64),
        standardise=False,
        kind="divide",
        divisor=16.0,
        range=[0.0, 1.0],
    )


def _breast_cancer() -> _Raw:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    target = bunch.target.astype(np.int64)
    return _raw(bunch.data, target, anomaly=target == 0)


def _mnist1d() -> _Raw:
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.seed = 4000, 42
    np_state, py_state = np.random.get_state(), random.getstate()  # it reseeds the global generators
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    x = np.concatenate([data["x"], data["x_test"]])
    return _raw(x, np.concatenate([data["y"], data["y_test"]]).astype(np.int64))


def _manifold() -> _Raw:
    rng = np.random.Generator(np.random.PCG64(1001))
    latent = rng.uniform(-1.0, 1.0, size=(3000, 2))
    w1, b1 = rng.normal(0.0, 1.5, size=(2, 32)), rng.uniform(-1.0, 1.0, size=32)
    w2 = rng.normal(0.0, 1.0, size=(32, 64))
    clean = np.tanh(latent @ w1 + b1) @ w2
    clean = (clean - clean.mean(axis=0)) / clean.std(axis=0)  # unit scale, so noise 0.05 means 5%
    x = clean + rng.normal(0.0, 0.05, size=clean.shape)
    bins = np.digitize(latent[:, 0], np.quantile(latent[:, 0], [0.25, 0.5, 0.75]))
    return _raw(x, bins.astype(np.int64))


def _clusters() -> _Raw:
    rng = np.random.Generator(np.random.PCG64(1002))
    n_clusters, dim, per_cluster = 5, 32, 500
    centres = rng.normal(0.0, 3.0, size=(n_clusters, dim))
    normal = np.concatenate([c + rng.normal(0.0, 1.0, size=(per_cluster, dim)) for c in centres])
    # A wide box: an anomaly is ~40 units from every centre, clusters have radius ~sqrt(32)
    outliers = rng.uniform(-15.0, 15.0, size=(n_clusters * per_cluster // 20, dim))
    y = np.concatenate([np.repeat(np.arange(n_clusters), per_cluster), np.full(len(outliers), n_clusters)])
    return _raw(np.concatenate([normal, outliers]), y.astype(np.int64), anomaly=y == n_clusters)


def _distributions() -> _Raw:
    rng = np.random.Generator(np.random.PCG64(1003))
    n_rows, n_bins = 3000, 32
    bins = np.arange(n_bins, dtype=np.float64)
    n_bumps = rng.integers(1, 4, size=n_rows)
    rows = np.zeros((n_rows, n_bins))
    for i, k in enumerate(n_bumps):
        centres, widths = rng.uniform(0, n_bins - 1, size=k), rng.uniform(1.0, 4.0, size=k)
        weights = rng.uniform(0.5, 1.5, size=k)
        bumps = np.exp(-0.5 * ((bins - centres[:, None]) / widths[:, None]) ** 2)
        rows[i] = (weights[:, None] * bumps).sum(axis=0)
    rows /= rows.sum(axis=1, keepdims=True)
    return _raw(
        rows,
        (n_bumps - 1).astype(np.int64),
        standardise=False,
        kind="none",
        reason="rows are probability distributions over 32 bins",
    )


_GENERATORS = {
    "digits": _digits,
    "breast-cancer": _breast_cancer,
    "mnist1d": _mnist1d,
    "manifold": _manifold,
    "clusters": _clusters,
    "distributions": _distributions,
}


# ---------------------------------------------------------------------------- IDX (MNIST)

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (``.gz`` allowed) into an array of the shape in its header."""
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                data = handle.read()
        else:
            data = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"IDX file {path} not found") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"IDX file {path} cannot be read: {exc}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DatasetError(
            f"IDX file {path} has a bad magic number {data[:4].hex(' ') or '(empty)'}: expected 00 00 <type> <ndim>"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"IDX file {path} is truncated: header needs {header} bytes, file has {len(data)}")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    count = int(np.prod(dims, dtype=np.int64))
    expected, found = count * dtype.itemsize, len(data) - header
    if found != expected:
        what = "is truncated" if found < expected else "has the wrong size"
        raise DatasetError(f"IDX file {path} {what}: shape {dims} needs {expected} data bytes, found {found}")
    array = np.frombuffer(data, dtype, count=count, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="))  # native byte order, writable copy


def idx_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and element type in an IDX file's header (``.gz`` allowed), checked against
    the file's size without reading its data (a gzip file's size from its trailer), with
    :func:`read_idx`'s messages."""
    path = Path(path)
    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as handle:
            head = handle.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_DTYPES:
                raise DatasetError(
                    f"IDX file {path} has a bad magic number {head.hex(' ') or '(empty)'}: expected 00 00 <type> <ndim>"
                )
            header = 4 + 4 * head[3]
            raw_dims = handle.read(4 * head[3])
        if path.suffix == ".gz":
            with open(path, "rb") as handle:
                handle.seek(-4, os.SEEK_END)
                size = struct.unpack("<I", handle.read(4))[0]  # uncompressed size mod 2^32
        else:
            size = path.stat().st_size
    except FileNotFoundError:
        raise DatasetError(f"IDX file {path} not found") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"IDX file {path} cannot be read: {exc}") from None
    if len(raw_dims) < 4 * head[3]:
        raise DatasetError(f"IDX file {path} is truncated: header needs {header} bytes")
    dims = struct.unpack(f">{head[3]}I", raw_dims)
    dtype = np.dtype(_IDX_DTYPES[head[2]])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    found = size - header
    if path.suffix == ".gz":
        found, expected = found % (1 << 32), expected % (1 << 32)
    if found != expected:
        what = "is truncated" if found < expected else "has the wrong size"
        raise DatasetError(f"IDX file {path} {what}: shape {dims} needs {expected} data bytes, found {found}")
    return dims, dtype


def _idx_shape(name: str, files: list[Path]) -> tuple[int, int]:
    """(rows, features) of an IDX dataset from its four headers, checked as loading checks."""
    (train_x, train_xt), (train_y, _), (test_x, test_xt), (test_y, _) = (idx_header(p) for p in files)
    for images, kind, labels, split in ((train_x, train_xt, train_y, "train"), (test_x, test_xt, test_y, "t10k")):
        if len(images) != 3 or kind != np.uint8 or len(labels) != 1 or images[0] != labels[0]:
            raise DatasetError(
                f"dataset '{name}': {split} files hold images {images} {kind} "
                f"and labels {labels}; expected uint8 [n, rows, cols] and [n]"
            )
    if train_x[1:] != test_x[1:]:
        raise DatasetError(f"dataset '{name}': train images are {train_x[1:]}, t10k {test_x[1:]}")
    return train_x[0] + test_x[0], train_x[1] * train_x[2]


def _idx_files(name: str, data_dir: Path) -> list[Path]:
    folder = data_dir / name

    def find() -> dict[str, Path | None]:
        return {
            base: next((p for p in (folder / base, folder / f"{base}.gz") if p.is_file()), None) for base in IDX_NAMES
        }

    found, note = find(), ""
    if None in found.values() and os.environ.get("ACTCMP_ALLOW_DOWNLOAD") == "1":
        note = _download(name, folder, [base for base, p in found.items() if p is None])
        found = find()
    elif None in found.values():
        note = ", or set ACTCMP_ALLOW_DOWNLOAD=1 to let actcmp fetch them"
    missing = [f"{base}(.gz)" for base, p in found.items() if p is None]
    if missing:
        raise DatasetError(
            f"dataset '{name}': missing IDX files in {folder}{os.sep}: {', '.join(missing)} — "
            f"download them there (or set ACTCMP_DATA_DIR / --data-dir){note}"
        )
    return [p for p in found.values() if p is not None]


def _download(name: str, folder: Path, bases: list[str]) -> str:
    """Fetch each missing file from the first mirror that answers; a note on failure, "" on success."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f" (download failed: {exc})"
    for base in bases:
        error = ""
        for mirror in _MIRRORS[name]:
            url, partial = f"{mirror}{base}.gz", folder / f"{base}.gz.part"
            try:
                with urllib.request.urlopen(url, timeout=20) as response:
                    partial.write_bytes(response.read())
                os.replace(partial, folder / f"{base}.gz")
                error = ""
                break
            except (OSError, ValueError, http.client.HTTPException) as exc:
                partial.unlink(missing_ok=True)
                error = f"{url}: {exc}"
        if error:  # the network is probably unreachable: do not wait once per file
            return f" (download failed: {error})"
    return ""


@functools.cache
def _idx_dataset(name: str, stamps: tuple[tuple[str, int, int], ...]) -> _Raw:
    train_x, train_y, test_x, test_y = (read_idx(Path(path)) for path, _, _ in stamps)
    for images, labels, split in ((train_x, train_y, "train"), (test_x, test_y, "t10k")):
        if images.ndim != 3 or images.dtype != np.uint8 or labels.ndim != 1 or len(images) != len(labels):
            raise DatasetError(
                f"dataset '{name}': {split} files hold images {images.shape} {images.dtype} "
                f"and labels {labels.shape}; expected uint8 [n, rows, cols] and [n]"
            )
    if train_x.shape[1:] != test_x.shape[1:]:
        raise DatasetError(f"dataset '{name}': train images are {train_x.shape[1:]}, t10k {test_x.shape[1:]}")
    images = np.concatenate([train_x, test_x])
    x = images.reshape(len(images), -1).astype(np.float32) / np.float32(255.0)
    return _raw(
        x,
        np.concatenate([train_y, test_y]).astype(np.int64),
        standardise=False,
        kind="divide",
        divisor=255.0,
        range=[0.0, 1.0],
    )


# ---------------------------------------------------------------------------- user files


@functools.cache
def _user_file(kind: str, path: str, label: str | None, mtime_ns: int, size: int, shown: str) -> _Raw:
    """Read a csv/parquet/npy file; ``mtime_ns`` and ``size`` are only cache keys."""

    def fail(message: str) -> DatasetError:
        return DatasetError(f"dataset file '{shown}' {message}")

    y = None
    if kind == "npy":
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
        columns = [f"column {i}" for i in range(array.shape[1])]
        x = array.astype(np.float64)
    else:
        frame = _read_frame(kind, path, fail)
        if label is not None:
            if label not in frame.columns:
                raise fail(f"has no label column '{label}' (columns: {', '.join(map(str, frame.columns))})")
            y = _label_codes(frame[label], label, fail)
            frame = frame.drop(columns=[label])
        if len(frame) and not len(frame.columns):
            raise fail("has no feature columns")
        columns = [f"column '{c}'" for c in frame.columns]
        x = _numeric_matrix(frame, columns, fail)
    if len(x) == 0:
        raise fail("has no rows")
    if len(x) < MIN_ROWS:
        raise fail(f"has only {len(x)} rows; need at least {MIN_ROWS}")
    bad = (~np.isfinite(x)).sum(axis=0)
    if bad.any():
        listed = [f"{columns[i]} ({bad[i]} row{'s' if bad[i] > 1 else ''})" for i in np.flatnonzero(bad)[:3]]
        raise fail(f"has NaN or inf values in {', '.join(listed)}")
    return _raw(x, y)


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
