"""MNIST and Fashion-MNIST from IDX files in the data directory (``--data-dir``,
``ACTCMP_DATA_DIR``, else the user cache directory); fetched from a mirror only when
``ACTCMP_ALLOW_DOWNLOAD=1``, and then checked against the standard files' SHA-256.

Planning reads the four headers (:func:`idx_shape`), never the images.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.client
import os
import struct
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from actcmp.datasets.raw import RawData, make_raw
from actcmp.errors import ActcmpError, DatasetError

#: the registry entries read from IDX files
IDX_DATASETS = ("mnist", "fashion-mnist")
IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
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

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def default_data_dir() -> Path:
    """``ACTCMP_DATA_DIR``, else ``data`` in the platform's user cache directory
    (``$XDG_CACHE_HOME/actcmp/data``, by default ``~/.cache/actcmp/data`` on Linux)."""
    configured = os.environ.get("ACTCMP_DATA_DIR")
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("actcmp", appauthor=False)) / "data"


def resolve_data_dir(data_dir: str | Path | None) -> Path:
    """``data_dir`` as given (``~`` expanded), else :func:`default_data_dir`."""
    return Path(data_dir).expanduser() if data_dir is not None else default_data_dir()


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


def idx_shape(name: str, files: list[Path]) -> tuple[int, int]:
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


def idx_files(name: str, data_dir: Path) -> list[Path]:
    """The four IDX files of ``name`` in ``data_dir/name`` (plain or ``.gz``), in
    :data:`IDX_NAMES` order; downloaded first when allowed, else a missing one is an error."""
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
def idx_raw(name: str, stamps: tuple[tuple[str, int, int], ...]) -> RawData:
    """Images and labels of the four files (``stamps``: path, mtime, size; the last two only
    key the cache) as one dataset, train then t10k rows, pixels / 255."""
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
    return make_raw(
        x,
        np.concatenate([train_y, test_y]).astype(np.int64),
        standardise=False,
        kind="divide",
        divisor=255.0,
        range=[0.0, 1.0],
    )
