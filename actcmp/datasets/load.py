"""Loading a dataset by name: its raw data (cached per process) split by a run's seed
into float32 tensors, standardised with statistics of the training split only.

Sizes are known without loading (:func:`dataset_shape`): the registry's sizes, an IDX
file's header; only a user file is read, as its content is part of each run's identity.
torch is imported only when tensors are made.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from actcmp.datasets.builtin import builtin_raw
from actcmp.datasets.files import user_file_raw
from actcmp.datasets.idx import IDX_DATASETS, idx_files, idx_raw, idx_shape, resolve_data_dir
from actcmp.datasets.raw import RawData, split_indices, split_sizes
from actcmp.datasets.registry import DATASETS, DatasetInfo, canonical_dataset
from actcmp.errors import DatasetError

if TYPE_CHECKING:
    import torch


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
class DataShape:
    """Sizes of one split dataset, known without loading it (see :func:`dataset_shape`)."""

    n_train: int
    n_val: int
    n_test: int
    n_features: int


def load_dataset(
    name: str, seed: int, val_fraction: float = 0.15, test_fraction: float = 0.15, data_dir: str | Path | None = None
) -> Dataset:
    """Load ``name`` and split it by ``seed``; same seed, same tensors on any machine.

    With anomalies, the split is stratified by the anomaly flag and anomalies are then
    dropped from train and val, so the model only ever trains on normal samples.
    """
    import torch

    raw, info = load_raw(canonical_dataset(name), data_dir)
    train, val, test = split_indices(len(raw.x), seed, val_fraction, test_fraction, raw.anomaly)
    if raw.anomaly is not None:
        train, val = train[~raw.anomaly[train]], val[~raw.anomaly[val]]
    if len(train) < 2:
        raise DatasetError(f"dataset '{info.name}': only {len(train)} training rows after the split")
    x_train, x_val, x_test = raw.x[train], raw.x[val], raw.x[test]
    scaling = dict(raw.scaling)
    if raw.standardise:
        x_train, x_val, x_test = _standardise(x_train, x_val, x_test, scaling)

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


def _standardise(
    x_train: np.ndarray, x_val: np.ndarray, x_test: np.ndarray, scaling: dict[str, object]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three splits scaled by the training split's mean and std (a constant feature by
    1); what was done is recorded in ``scaling``."""
    fit = x_train.astype(np.float64)
    mean, std = fit.mean(axis=0), fit.std(axis=0)
    constant = np.ptp(fit, axis=0) == 0
    std[constant] = 1.0
    x_train, x_val, x_test = (((x - mean) / std).astype(np.float32) for x in (x_train, x_val, x_test))
    scaling.update(
        kind="standardise",
        fit_on="train",
        n_fit=len(x_train),
        constant_features=int(constant.sum()),
        mean_range=[float(mean.min()), float(mean.max())],
        std_range=[float(std.min()), float(std.max())],
    )
    return x_train, x_val, x_test


def load_raw(key: str, data_dir: str | Path | None) -> tuple[RawData, DatasetInfo]:
    """The unsplit data and metadata of a canonical dataset name (cached per process)."""
    if key in IDX_DATASETS:
        files = idx_files(key, resolve_data_dir(data_dir))
        stamps = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
        return idx_raw(key, stamps), DATASETS[key]
    if key in DATASETS:
        return builtin_raw(key), DATASETS[key]
    return user_file_raw(key)


def dataset_info(name: str, data_dir: str | Path | None = None) -> DatasetInfo:
    """Metadata for a name; file datasets are read (cached) to learn ``n_features``."""
    key = canonical_dataset(name)
    if key in DATASETS:
        return DATASETS[key]
    return load_raw(key, data_dir)[1]


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
    elif key in IDX_DATASETS:
        rows, features = idx_shape(key, idx_files(key, resolve_data_dir(data_dir)))
        anomalies = 0
    else:
        raw, _ = load_raw(key, data_dir)
        rows, anomalies, features = len(raw.x), 0 if raw.anomaly is None else int(raw.anomaly.sum()), raw.x.shape[1]
    n_train, n_val, n_test = split_sizes(rows, anomalies, val_fraction, test_fraction)
    return DataShape(n_train, n_val, n_test, int(features))


def fingerprint_of(name: str, data_dir: str | Path | None = None) -> str:
    """The content fingerprint of a dataset's raw data (a user file is read, cached)."""
    return load_raw(canonical_dataset(name), data_dir)[0].fingerprint
