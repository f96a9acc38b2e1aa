"""The disk cache of the registry's own datasets (actcmp/datasets/cache.py): an entry gives
the generated arrays bit for bit, and an entry that does not prove itself is never used."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from actcmp.datasets import builtin, cache
from actcmp.datasets.raw import RawData


@pytest.fixture
def counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """The cache in tmp_path, every loader call counted, no per-process copy."""
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path))
    calls: dict[str, int] = {}
    loaders = dict(builtin._LOADERS)

    def counting(name: str):  # type: ignore[no-untyped-def]
        def load() -> RawData:
            calls[name] = calls.get(name, 0) + 1
            return loaders[name]()

        return load

    for name in loaders:
        monkeypatch.setitem(builtin._LOADERS, name, counting(name))
    builtin.builtin_raw.cache_clear()
    yield calls
    builtin.builtin_raw.cache_clear()


def same(a: RawData, b: RawData) -> None:
    assert a.x.tobytes() == b.x.tobytes() and a.x.dtype == b.x.dtype and a.x.shape == b.x.shape
    for left, right in ((a.y, b.y), (a.anomaly, b.anomaly)):
        assert (left is None) == (right is None)
        if left is not None and right is not None:
            assert left.dtype == right.dtype and left.tobytes() == right.tobytes()
    assert (a.standardise, a.scaling, a.fingerprint) == (b.standardise, b.scaling, b.fingerprint)
    assert not b.x.flags.writeable


@pytest.mark.parametrize("name", ["digits", "manifold", "clusters", "distributions"])
def test_an_entry_gives_the_generated_data_bit_for_bit(name: str, counted: dict[str, int], tmp_path: Path) -> None:
    made = builtin.builtin_raw(name)
    assert counted[name] == 1 and len(list(tmp_path.glob(f"{name}-*.npz"))) == 1
    builtin.builtin_raw.cache_clear()
    again = builtin.builtin_raw(name)
    assert counted[name] == 1  # read, not generated
    same(made, again)


def test_a_damaged_or_foreign_entry_is_generated_again(counted: dict[str, int], tmp_path: Path) -> None:
    made = builtin.builtin_raw("manifold")
    (entry,) = tmp_path.glob("manifold-*.npz")
    original = entry.read_bytes()
    for damage in (original[: len(original) // 2], original[:-200] + bytes(200), b"not a zip file"):
        entry.write_bytes(damage)
        builtin.builtin_raw.cache_clear()
        same(made, builtin.builtin_raw("manifold"))
    assert counted["manifold"] == 4
    # an entry whose arrays were edited consistently but whose digest was not
    with np.load(entry) as stored:
        fields = {k: stored[k] for k in stored.files}
    fields["x"] = fields["x"].copy()
    fields["x"][0, 0] += 1
    np.savez(entry, **fields)
    builtin.builtin_raw.cache_clear()
    same(made, builtin.builtin_raw("manifold"))
    assert counted["manifold"] == 5


def test_another_loader_or_package_version_is_another_entry(
    counted: dict[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    builtin.builtin_raw("clusters")
    key = builtin.cache_key("clusters")
    assert key["packages"] == {"numpy": np.__version__} and key["source"] == builtin._loader_source()
    assert builtin.cache_key("mnist1d")["packages"].keys() == {"numpy", "scipy", "mnist1d"}  # type: ignore[attr-defined]
    for change in ({"source": "another loader"}, {"packages": {"numpy": "0.0"}}, {"cpu": ["another"]}):
        monkeypatch.setattr(builtin, "cache_key", lambda name, change=change: {**key, **change})
        builtin.builtin_raw.cache_clear()
        builtin.builtin_raw("clusters")
    assert counted["clusters"] == 4 and len(list(tmp_path.glob("clusters-*.npz"))) == 4


def test_off_and_unwritable(counted: dict[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.CACHE_ENV, "off")
    assert cache.cache_dir() is None
    builtin.builtin_raw("distributions")
    assert not list(tmp_path.iterdir())
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(cache.CACHE_ENV, str(blocker / "cache"))  # a folder under a file: cannot be made
    builtin.builtin_raw.cache_clear()
    data = builtin.builtin_raw("distributions")
    assert data.x.shape[0] == 3000 and counted["distributions"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["a-file"]  # no temporary file left behind


def test_entries_are_readable_and_stale_temporaries_go(counted: dict[str, int], tmp_path: Path) -> None:
    import os
    import time

    old, fresh = tmp_path / ".manifold-x.1.tmp", tmp_path / ".manifold-x.2.tmp"
    for leftover in (old, fresh):
        leftover.write_bytes(b"half")
    past = time.time() - 2 * cache.STALE_SECONDS
    os.utime(old, (past, past))
    builtin.builtin_raw("manifold")
    (entry,) = tmp_path.glob("manifold-*.npz")
    assert entry.stat().st_mode & 0o444 == 0o444 & ~_umask()
    assert not old.exists() and fresh.exists()  # a writer still at work keeps its file


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_entries_unused_for_a_month_go_when_a_new_one_is_written(counted: dict[str, int], tmp_path: Path) -> None:
    """An old environment's entry (another numpy, an older loader) unused for UNUSED_DAYS
    goes when the dataset gets a new entry; one used recently stays (another environment
    sharing the cache refreshes it), and so do other datasets' entries."""
    import os
    import time

    day = 86400.0
    stale = tmp_path / f"clusters-{'a' * 20}.npz"
    recent = tmp_path / f"clusters-{'b' * 20}.npz"
    other = tmp_path / f"clusters-extra-{'c' * 20}.npz"  # another dataset's name, same prefix
    for path in (stale, recent, other):
        path.write_bytes(b"an entry")
    month_ago = time.time() - (cache.UNUSED_DAYS + 1) * day
    for path in (stale, other):
        os.utime(path, (month_ago, month_ago))
    week_ago = time.time() - 7 * day
    os.utime(recent, (week_ago, week_ago))
    builtin.builtin_raw("clusters")
    assert not stale.exists()
    assert recent.exists() and other.exists()
    (entry,) = [p for p in tmp_path.glob("clusters-*.npz") if p not in (recent, other)]
    # reading an entry a day old or more refreshes it: it counts as used
    two_days_ago = time.time() - 2 * day
    os.utime(entry, (two_days_ago, two_days_ago))
    builtin.builtin_raw.cache_clear()
    builtin.builtin_raw("clusters")
    assert counted["clusters"] == 1  # read from the cache
    assert time.time() - entry.stat().st_mtime < 60
