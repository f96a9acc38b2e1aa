"""Tests for actcmp.datasets: registry, splits, scaling, IDX reader and user files."""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from actcmp import datasets
from actcmp.datasets import (
    DATASETS,
    IDX_NAMES,
    canonical_dataset,
    dataset_info,
    list_datasets,
    load_dataset,
    read_idx,
    split_indices,
)
from actcmp.errors import DatasetError, UnknownDataset

# mnist-5k reads a 1 MB CSV (seconds): tests/test_mnist5k_anomaly.py covers it
OFFLINE = [name for name in DATASETS if name not in ("mnist", "fashion-mnist", "mnist-5k")]
DEFAULTS = {  # name -> (output activation, loss, has anomalies)
    "digits": ("sigmoid", "mse", False),
    "breast-cancer": ("identity", "mse", True),
    "mnist1d": ("identity", "mse", False),
    "manifold": ("identity", "mse", False),
    "clusters": ("identity", "mse", True),
    "distributions": ("softmax", "ce", False),
    "mnist-5k": ("sigmoid", "mse", False),
    "mnist": ("sigmoid", "mse", False),
    "fashion-mnist": ("sigmoid", "mse", False),
}


@pytest.fixture(autouse=True)
def _no_download(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACTCMP_ALLOW_DOWNLOAD", raising=False)


# ---------------------------------------------------------------------------- registry


def test_registry_declares_defaults() -> None:
    assert set(DATASETS) == set(DEFAULTS)
    assert [info.name for info in list_datasets()] == list(DATASETS)
    for name, (output, loss, anomalies) in DEFAULTS.items():
        info = DATASETS[name]
        assert (info.output_activation, info.loss, info.has_anomalies) == (output, loss, anomalies)
        assert info.n_features is not None and info.has_labels and info.description


@pytest.mark.parametrize("name", OFFLINE, ids=OFFLINE)
def test_registry_entry_loads(name: str) -> None:
    np_state = np.random.get_state()[1].copy()
    data = load_dataset(name, seed=0)
    assert np.array_equal(np.random.get_state()[1], np_state), "loading must not touch np.random"
    info = DATASETS[name]
    assert data.info == info and data.n_features == info.n_features
    splits = (data.x_train, data.x_val, data.x_test)
    for x, y in zip(splits, (data.y_train, data.y_val, data.y_test), strict=True):
        assert x.dtype == torch.float32 and x.ndim == 2 and x.shape[1] == info.n_features
        assert torch.isfinite(x).all()
        assert y is not None and y.dtype == np.int64 and y.shape == (x.shape[0],)
    assert (data.anomaly_test is not None) == info.has_anomalies
    assert len(data.fingerprint) == 16 and int(data.fingerprint, 16) >= 0
    assert isinstance(data.scaling["kind"], str)


@pytest.mark.parametrize("name", ["digits", "clusters"], ids=["plain", "stratified"])
def test_split_is_deterministic_by_seed(name: str) -> None:
    first, again, other = load_dataset(name, 3), load_dataset(name, 3), load_dataset(name, 4)
    for a, b in ((first.x_train, again.x_train), (first.x_val, again.x_val), (first.x_test, again.x_test)):
        assert torch.equal(a, b)
    assert np.array_equal(first.y_test, again.y_test)
    assert not torch.equal(first.x_train, other.x_train)
    assert first.fingerprint == other.fingerprint  # the raw data does not depend on the seed


def test_split_indices_partition_and_sizes() -> None:
    train, val, test = split_indices(101, seed=7, val_fraction=0.2, test_fraction=0.1)
    assert (len(val), len(test), len(train)) == (20, 10, 71)
    assert np.array_equal(np.sort(np.concatenate([train, val, test])), np.arange(101))
    again = split_indices(101, 7, 0.2, 0.1)
    assert all(np.array_equal(a, b) for a, b in zip((train, val, test), again, strict=True))
    strata = np.arange(100) < 20
    _, _, test = split_indices(100, seed=1, val_fraction=0.25, test_fraction=0.25, strata=strata)
    assert strata[test].sum() == 5 and (~strata[test]).sum() == 20


@pytest.mark.parametrize("fractions", [(0.6, 0.5), (-0.1, 0.2), (0.2, 1.0)], ids=["sum", "negative", "one"])
def test_bad_fractions(fractions: tuple[float, float]) -> None:
    with pytest.raises(DatasetError, match="must be in"):
        load_dataset("digits", 0, *fractions)


@pytest.mark.parametrize("name", ["breast-cancer", "manifold", "mnist1d"], ids=str)
def test_standardised_with_training_stats(name: str) -> None:
    data = load_dataset(name, seed=1)
    assert data.scaling["kind"] == "standardise" and data.scaling["n_fit"] == len(data.x_train)
    assert data.x_train.mean(0).abs().max() < 1e-4
    assert (data.x_train.std(0, correction=0) - 1).abs().max() < 1e-3
    assert data.x_val.mean(0).abs().max() > 1e-3  # val statistics were not used


def test_digits_in_unit_interval() -> None:
    data = load_dataset("digits", seed=0)
    assert data.scaling["kind"] == "divide"
    assert data.x_train.min() >= 0 and data.x_train.max() <= 1


@pytest.mark.parametrize("name,anomaly_label", [("breast-cancer", 0), ("clusters", 5)], ids=str)
def test_anomalies_only_in_test(name: str, anomaly_label: int) -> None:
    data = load_dataset(name, seed=2)
    assert not (data.y_train == anomaly_label).any() and not (data.y_val == anomaly_label).any()
    assert data.anomaly_test is not None and data.anomaly_test.dtype == bool
    assert 0 < data.anomaly_test.sum() < len(data.anomaly_test)
    assert np.array_equal(data.anomaly_test, data.y_test == anomaly_label)


def test_distribution_rows_are_distributions() -> None:
    data = load_dataset("distributions", seed=0)
    assert data.scaling["kind"] == "none"
    for x in (data.x_train, data.x_val, data.x_test):
        assert (x >= 0).all()
        assert torch.allclose(x.sum(1), torch.ones(len(x)), atol=1e-5)
    assert set(np.unique(data.y_train)) == {0, 1, 2}


# ---------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    "given,expected",
    [
        ("digits", "digits"),
        ("DIGITS", "digits"),
        (" manifold ", "manifold"),
        ("breast_cancer", "breast-cancer"),
        ("fashion_mnist", "fashion-mnist"),
        ("mnist_1d", "mnist1d"),
        ("csv:data/x.csv", "csv:data/x.csv"),
        ("CSV:Data/X.csv", "csv:Data/X.csv"),
        ("parquet:/tmp/a.parquet#label=cls", "parquet:/tmp/a.parquet#label=cls"),
        ("npy:~/a.npy", "npy:~/a.npy"),
    ],
    ids=[
        "name",
        "case",
        "spaces",
        "breast_cancer",
        "fashion_mnist",
        "mnist_1d",
        "csv",
        "csv-case",
        "parquet-label",
        "npy",
    ],
)
def test_canonical_dataset(given: str, expected: str) -> None:
    assert canonical_dataset(given) == expected


@pytest.mark.parametrize(
    "given,message",
    [
        ("digts", "unknown dataset 'digts' (did you mean 'digits'?)"),
        ("fashon-mnist", "did you mean 'fashion-mnist'"),
        ("zzz", "unknown dataset 'zzz'"),
        ("tsv:x.tsv", "csv:PATH, parquet:PATH or npy:PATH"),
        ("csv:", "names no file"),
        ("csv:x.csv#label=", "empty label column"),
        ("npy:x.npy#label=y", "npy files take no label column"),
    ],
    ids=["typo", "typo-dash", "unknown", "prefix", "no-path", "empty-label", "npy-label"],
)
def test_canonical_dataset_rejects(given: str, message: str) -> None:
    with pytest.raises(UnknownDataset) as info:
        canonical_dataset(given)
    assert message in str(info.value)


# ---------------------------------------------------------------------------- IDX


def write_idx(path: Path, array: np.ndarray, type_code: int = 0x08) -> Path:
    big_endian = array.astype(array.dtype.newbyteorder(">"))
    payload = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload += big_endian.tobytes()
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)
    return path


@pytest.mark.parametrize("suffix", ["", ".gz"], ids=["plain", "gz"])
@pytest.mark.parametrize(
    "array,code",
    [
        (np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4), 0x08),
        (np.array([3, 1, 4, 1, 5], dtype=np.uint8), 0x08),
        (np.array([[-70000, 2], [3, 70000]], dtype=np.int32), 0x0C),
        (np.array([1.5, -2.25], dtype=np.float32), 0x0D),
    ],
    ids=["images-3d", "labels-1d", "int32", "float32"],
)
def test_read_idx_roundtrip(tmp_path: Path, suffix: str, array: np.ndarray, code: int) -> None:
    result = read_idx(write_idx(tmp_path / f"data-idx{suffix}", array, code))
    assert result.shape == array.shape and result.dtype == array.dtype
    assert np.array_equal(result, array)


@pytest.mark.parametrize(
    "content,message",
    [
        (b"\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02", "is truncated"),
        (b"\x00\x00\x08\x03\x00\x00", "is truncated"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x02\x01\x02\x03", "wrong size"),
        (b"\x89PNG\r\n\x1a\n", "bad magic"),
        (b"", "bad magic"),
    ],
    ids=["truncated-data", "truncated-header", "too-long", "bad-magic", "empty"],
)
def test_read_idx_errors_name_the_file(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "broken-idx1-ubyte"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_corrupt_gzip(tmp_path: Path) -> None:
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x03abc")[:-6])
    with pytest.raises(DatasetError, match="cannot be read") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def write_mnist(folder: Path, n_train: int = 20, n_test: int = 10) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n, gz in (("train", n_train, ".gz"), ("t10k", n_test, "")):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte{gz}", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8))


@pytest.mark.parametrize("name,folder", [("mnist", "mnist"), ("fashion_mnist", "fashion-mnist")], ids=str)
def test_mnist_from_data_dir(tmp_path: Path, name: str, folder: str) -> None:
    write_mnist(tmp_path / folder)
    data = load_dataset(name, seed=0, val_fraction=0.2, test_fraction=0.2, data_dir=tmp_path)
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (18, 6, 6)
    assert data.n_features == 784 and data.x_train.dtype == torch.float32
    assert data.x_train.min() >= 0 and data.x_train.max() <= 1 and data.x_train.max() > 0.9
    assert data.y_train is not None and set(np.unique(data.y_train)) <= set(range(10))


def test_mnist_uses_env_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_mnist(tmp_path / "mnist", n_train=12, n_test=8)
    monkeypatch.setenv("ACTCMP_DATA_DIR", str(tmp_path))
    assert len(load_dataset("mnist", seed=0).x_train) == 14


def test_mnist_missing_files_listed(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as info:
        load_dataset("mnist", seed=0, data_dir=tmp_path)
    message = str(info.value)
    assert str(tmp_path / "mnist") in message and "--data-dir" in message
    assert all(f"{base}(.gz)" in message for base in IDX_NAMES)


def test_mnist_partly_missing_lists_only_missing(tmp_path: Path) -> None:
    write_mnist(tmp_path / "mnist")
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte\(\.gz\)") as info:
        load_dataset("mnist", seed=0, data_dir=tmp_path)
    assert "train-images" not in str(info.value)


class FakeResponse:
    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def __enter__(self) -> FakeResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def read(self) -> bytes:
        return self.payload


def test_mnist_download_when_allowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "mirror"
    write_mnist(source, n_train=14, n_test=6)
    for plain in source.glob("*ubyte"):
        plain.with_name(plain.name + ".gz").write_bytes(gzip.compress(plain.read_bytes()))
    urls: list[str] = []

    def fake_urlopen(url: str, timeout: float) -> FakeResponse:
        urls.append(url)
        return FakeResponse((source / url.rsplit("/", 1)[1]).read_bytes())

    monkeypatch.setenv("ACTCMP_ALLOW_DOWNLOAD", "1")
    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    monkeypatch.setitem(datasets.IDX_SHA256, "mnist", sums_of(source))
    data = load_dataset("mnist", seed=0, data_dir=tmp_path / "data")
    assert len(data.x_train) + len(data.x_val) + len(data.x_test) == 20
    assert len(urls) == 4 and sorted(p.name for p in (tmp_path / "data" / "mnist").iterdir()) == sorted(
        f"{base}.gz" for base in IDX_NAMES
    )


def sums_of(folder: Path) -> dict[str, str]:
    """The SHA-256 table entry for the .gz files in ``folder`` (what a test's mirror serves)."""
    return {base: hashlib.sha256((folder / f"{base}.gz").read_bytes()).hexdigest() for base in IDX_NAMES}


def test_download_checked_against_sha256(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "mirror"
    write_mnist(source, n_train=14, n_test=6)
    for plain in source.glob("*ubyte"):
        plain.with_name(plain.name + ".gz").write_bytes(gzip.compress(plain.read_bytes()))
    sums = sums_of(source)
    sums["t10k-labels-idx1-ubyte"] = "0" * 64  # the mirror serves a file that is not the standard one
    monkeypatch.setenv("ACTCMP_ALLOW_DOWNLOAD", "1")
    monkeypatch.setattr(
        urllib.request,
        "urlopen",
        lambda url, timeout: FakeResponse((source / url.rsplit("/", 1)[1]).read_bytes()),
    )
    monkeypatch.setitem(datasets.IDX_SHA256, "mnist", sums)
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte\.gz: SHA-256 [0-9a-f]{12}\.\.\. does not match"):
        load_dataset("mnist", seed=0, data_dir=tmp_path / "data")
    kept = sorted(p.name for p in (tmp_path / "data" / "mnist").iterdir())
    assert "t10k-labels-idx1-ubyte.gz" not in kept and not [k for k in kept if k.endswith(".part")]
    assert "train-images-idx3-ubyte.gz" in kept  # files that matched are kept


def test_known_sums_cover_every_downloadable_file() -> None:
    assert set(datasets.IDX_SHA256) == set(datasets.idx._MIRRORS)
    for table in datasets.IDX_SHA256.values():
        assert set(table) == set(IDX_NAMES)
        assert all(len(s) == 64 and int(s, 16) >= 0 for s in table.values())


def test_default_data_dir_is_the_user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import platformdirs

    monkeypatch.delenv("ACTCMP_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    expected = Path(platformdirs.user_cache_dir("actcmp", appauthor=False)) / "data"
    assert datasets.default_data_dir() == expected
    if sys.platform.startswith("linux"):
        assert expected == tmp_path / "xdg" / "actcmp" / "data"
    monkeypatch.setenv("ACTCMP_DATA_DIR", str(tmp_path / "mine"))
    assert datasets.default_data_dir() == tmp_path / "mine"


def test_mnist_download_failure_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(url: str, timeout: float) -> FakeResponse:
        raise OSError("network unreachable")

    monkeypatch.setenv("ACTCMP_ALLOW_DOWNLOAD", "1")
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DatasetError, match=r"download failed: .*network unreachable"):
        load_dataset("fashion-mnist", seed=0, data_dir=tmp_path)
    assert not list((tmp_path / "fashion-mnist").iterdir())  # no partial files left behind


def test_mnist_label_count_mismatch(tmp_path: Path) -> None:
    write_mnist(tmp_path / "mnist")
    write_idx(tmp_path / "mnist" / "t10k-labels-idx1-ubyte", np.zeros(3, dtype=np.uint8))
    with pytest.raises(DatasetError, match="t10k files hold"):
        load_dataset("mnist", seed=0, data_dir=tmp_path)


# ---------------------------------------------------------------------------- user files


def table(n: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    return pd.DataFrame(
        {
            "a": rng.normal(3.0, 2.0, n),
            "b": rng.integers(0, 9, n),
            "const": np.full(n, 7.0),
            "cls": np.where(np.arange(n) % 3 == 0, "cat", "dog"),
        }
    )


@pytest.mark.parametrize("kind", ["csv", "parquet"], ids=str)
def test_table_file_with_label(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"data.{kind}"
    frame = table()
    frame.to_csv(path, index=False) if kind == "csv" else frame.to_parquet(path)
    name = f"{kind}:{path}#label=cls"
    info = dataset_info(name)
    assert (info.n_features, info.has_labels, info.source, info.loss) == (3, True, "user file", "mse")
    data = load_dataset(name, seed=0)
    assert data.n_features == 3 and len(data.x_train) + len(data.x_val) + len(data.x_test) == 30
    assert torch.isfinite(data.x_train).all() and data.x_train[:, 2].abs().max() == 0  # constant column kept
    assert data.scaling["constant_features"] == 1
    labels = np.concatenate([data.y_train, data.y_val, data.y_test])
    assert sorted(np.bincount(labels)) == [10, 20]


def test_npy_file(tmp_path: Path) -> None:
    path = tmp_path / "x.npy"
    np.save(path, np.random.default_rng(1).normal(size=(40, 6)).astype(np.float32))
    data = load_dataset(f"npy:{path}", seed=0)
    assert data.n_features == 6 and data.y_train is None and data.info.has_labels is False


def test_user_file_cache_sees_changes(tmp_path: Path) -> None:
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((12, 2)))
    before = load_dataset(f"npy:{path}", seed=0).fingerprint
    np.save(path, np.ones((12, 3)))
    os.utime(path, ns=(1, 1))
    after = load_dataset(f"npy:{path}", seed=0)
    assert after.fingerprint != before and after.n_features == 3


def write_csv(text: str):
    return lambda path: path.write_text(text)


ROWS = "".join(f"{i},{i * 2}\n" for i in range(12))
MALFORMED = [  # id, file name, writer, name suffix, words the message must contain
    ("missing", "none.csv", None, "", ["not found"]),
    ("empty", "e.csv", write_csv(""), "", ["is empty"]),
    ("header-only", "h.csv", write_csv("a,b\n"), "", ["has no rows"]),
    (
        "non-numeric",
        "s.csv",
        write_csv("a,b\n" + ROWS + "1,oops\n"),
        "",
        ["non-numeric column 'b'", "'oops'", "row 13"],
    ),
    ("nan", "n.csv", write_csv("a,b\n" + ROWS + "1,\n2,\n"), "", ["column 'b' (2 rows)", "NaN or inf"]),
    ("inf", "i.csv", write_csv("a,b\n" + ROWS + "inf,1\n"), "", ["column 'a' (1 row)"]),
    ("few-rows", "f.csv", write_csv("a,b\n1,2\n3,4\n"), "", ["only 2 rows", "at least 10"]),
    ("no-label", "l.csv", write_csv("a,b\n" + ROWS), "#label=cls", ["no label column 'cls'", "a, b"]),
    ("label-only", "o.csv", write_csv("cls\n" + "1\n" * 12), "#label=cls", ["no feature columns"]),
    (
        "label-nan",
        "m.csv",
        write_csv("a,cls\n" + ROWS + "3,\n"),
        "#label=cls",
        ["1 missing values in label column 'cls'"],
    ),
    ("label-float", "g.csv", write_csv("a,cls\n" + ROWS + "3,0.5\n"), "#label=cls", ["non-integer"]),
    ("csv-binary", "c.csv", lambda p: p.write_bytes(b"\xff\xfe\x00\x81\x9f" * 20), "", ["cannot be read as csv"]),
    ("parquet-corrupt", "c.parquet", write_csv("not parquet at all"), "", ["cannot be read as parquet"]),
    (
        "parquet-text",
        "t.parquet",
        lambda p: pd.DataFrame({"a": range(12), "w": ["x"] * 12}).to_parquet(p),
        "",
        ["column 'w'", "'x'"],
    ),
    ("npy-1d", "v.npy", lambda p: np.save(p, np.zeros(12)), "", ["1-D", "need 2-D"]),
    ("npy-strings", "u.npy", lambda p: np.save(p, np.full((12, 2), "a")), "", ["not numeric"]),
    (
        "npy-nan",
        "q.npy",
        lambda p: np.save(p, np.where(np.eye(12, 3) > 0, np.nan, 1.0)),
        "",
        ["column 0 (1 row)", "column 1 (1 row)"],
    ),
    ("npy-garbage", "r.npy", write_csv("garbage"), "", ["is not a .npy file"]),
    (
        "npy-truncated",
        "k.npy",
        lambda p: p.write_bytes(np.lib.format.MAGIC_PREFIX + b"\x01\x00v"),
        "",
        ["cannot be read as .npy"],
    ),
]


@pytest.mark.parametrize(
    "file_name,writer,suffix,words", [case[1:] for case in MALFORMED], ids=[case[0] for case in MALFORMED]
)
def test_malformed_user_files(tmp_path: Path, file_name: str, writer, suffix: str, words: list[str]) -> None:
    path = tmp_path / file_name
    if writer is not None:
        writer(path)
    with pytest.raises(DatasetError) as info:
        load_dataset(f"{path.suffix[1:]}:{path}{suffix}", seed=0)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    for word in words:
        assert word in message


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="is not a file"):
        load_dataset(f"csv:{tmp_path}", seed=0)


def test_dataset_info_registry_needs_no_data(tmp_path: Path) -> None:
    assert dataset_info("mnist", data_dir=tmp_path) is DATASETS["mnist"]  # no files, still fine
    assert datasets.FILE_PREFIXES == ("csv", "parquet", "npy")


def test_mnist_missing_says_how_to_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACTCMP_ALLOW_DOWNLOAD", raising=False)
    with pytest.raises(DatasetError, match="set ACTCMP_ALLOW_DOWNLOAD=1 to let actcmp fetch them"):
        load_dataset("mnist", seed=0, data_dir=tmp_path)
