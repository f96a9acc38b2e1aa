"""Unsplit data as loaded (shared by the loaders' caches) and the one split rule.

The raw data of a dataset is fixed; only its split varies with the run seed:
:func:`split_indices` takes rows from one seeded permutation, and :func:`split_sizes`
gives the sizes of that split without the data (planning uses it).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from actcmp.errors import DatasetError


@dataclass(frozen=True)
class RawData:
    """Unsplit data, shared by the cache: x float32 [n, d], y int64 [n], anomaly bool [n]."""

    x: np.ndarray
    y: np.ndarray | None
    anomaly: np.ndarray | None
    standardise: bool
    scaling: dict[str, object]
    fingerprint: str


def make_raw(
    x: np.ndarray, y: np.ndarray | None, anomaly: np.ndarray | None = None, standardise: bool = True, **scaling: object
) -> RawData:
    """``x`` as float32, read-only like ``y`` and ``anomaly`` (the caches share them);
    ``scaling`` describes what was done to ``x`` (default: standardised at load)."""
    x = np.ascontiguousarray(x, dtype="<f4")
    arrays = [x] + [a for a in (y, anomaly) if a is not None]
    for array in arrays:
        array.flags.writeable = False  # cached and shared between calls
    fingerprint = hashlib.sha256(x.tobytes()).hexdigest()[:16]
    return RawData(x, y, anomaly, standardise, scaling or {"kind": "standardise"}, fingerprint)


def split_sizes(rows: int, anomalies: int, val_fraction: float, test_fraction: float) -> tuple[int, int, int]:
    """(train, val, test) rows of :func:`split_indices` +
    :func:`~actcmp.datasets.load.load_dataset` for ``rows`` rows of which ``anomalies`` are anomalies (stratified, then dropped from train and val)."""
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
