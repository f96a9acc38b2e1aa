"""One writer per results directory: ``DIR/actcmp.lock``.

A sweep (or a merge) holds an exclusive ``flock`` on the lock file for as long as it
writes, and records its PID, host and command in it so that a refused second sweep can
say who is writing. The kernel drops the lock when the holder dies, even by SIGKILL, so
a lock file left behind by a killed sweep is stale by construction and the next sweep
simply takes it over. Where ``flock`` is not available (Windows, some network file
systems) a lock whose recorded PID is dead on this host counts as stale.

Readers (``status``, ``report``, ``export``) never take the lock: SQLite's WAL mode lets
them read while the one writer commits.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from actcmp.errors import StoreError

try:  # pragma: no cover - platform dependent
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = "actcmp.lock"


def lock_path(directory: str | Path) -> Path:
    return Path(directory) / LOCK_NAME


def read_holder(directory: str | Path, name: str = LOCK_NAME) -> dict[str, Any] | None:
    """What the lock file ``name`` says about its (last) holder, or None."""
    try:
        text = (Path(directory) / name).read_text(encoding="utf-8")
        holder = json.loads(text) if text.strip() else None
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    except OSError:
        return False
    return True


def holder_alive(holder: dict[str, Any] | None) -> bool:
    """Whether the recorded holder still runs (unknowable for another host: assume yes)."""
    if not holder or not isinstance(holder.get("pid"), int):
        return False
    if holder.get("host") != socket.gethostname():
        return True
    return pid_alive(holder["pid"])


def describe_holder(holder: dict[str, Any] | None) -> str:
    if not holder:
        return "another process"
    what = holder.get("purpose", "sweep")
    return f"another {what} (pid {holder.get('pid')} on {holder.get('host')}, since {holder.get('started')})"


class DirLock:
    """Exclusive writer lock on a results directory (a context manager).

    Raises :class:`StoreError` naming the holder when another live process holds it.
    ``stale`` is the previous holder's record when this lock took over a lock file that a
    dead process left behind (a killed sweep), else None.
    """

    def __init__(self, directory: str | Path, purpose: str = "sweep", name: str = LOCK_NAME, what: str = "") -> None:
        """``name``: the lock file in ``directory`` (``actcmp.lock``: the results directory's
        writer); ``what``: what is locked, for the refusal (default: the results directory)."""
        self.directory = Path(directory)
        self.name = name
        self.path = self.directory / name
        self.purpose = purpose
        self.what = what or f"results directory {self.directory}"
        self.fd: int | None = None
        self.stale: dict[str, Any] | None = None

    def acquire(self) -> DirLock:
        while self.fd is None:
            try:  # never through a symlink: its target would be truncated and overwritten
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
            except OSError as exc:
                if self.path.is_symlink():
                    raise StoreError(
                        f"lock file {self.path} is a symbolic link: refusing to write through it (delete it)"
                    ) from None
                raise StoreError(f"cannot create lock file {self.path}: {exc.strerror}") from None
            if not self._lock(fd):
                holder = read_holder(self.directory, self.name)
                os.close(fd)
                raise StoreError(
                    f"{self.what} is in use by {describe_holder(holder)}: wait for it to "
                    f"finish or use another --out (if nothing is running there, delete {self.path})"
                )
            if not self._same_file(fd):  # unlinked by a releasing holder after we opened it: retry
                os.close(fd)
                continue
            self.fd = fd
        self.stale = read_holder(self.directory, self.name)
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "purpose": self.purpose,
            "command": " ".join(sys.argv[:1] + sys.argv[1:])[:500],
        }
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, json.dumps(record).encode("utf-8"), 0)
        return self

    def _lock(self, fd: int) -> bool:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                return False
            except OSError as exc:  # no flock on this file system: fall back to the PID record
                if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                    raise
        holder = read_holder(self.directory, self.name)
        return not (holder_alive(holder) and holder.get("pid") != os.getpid())  # type: ignore[union-attr]

    def _same_file(self, fd: int) -> bool:
        try:
            on_disk = os.stat(self.path)
        except FileNotFoundError:
            return False
        mine = os.fstat(fd)
        return (on_disk.st_dev, on_disk.st_ino) == (mine.st_dev, mine.st_ino)

    def release(self) -> None:
        if self.fd is None:
            return
        # unlink while still holding the lock: a waiter that opened the old file re-checks
        # the inode (see _same_file) and retries on the new one
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self.fd)
        self.fd = None

    def __enter__(self) -> DirLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def running_writer(directory: str | Path) -> dict[str, Any] | None:
    """The holder of ``DIR``'s lock if it looks alive (for ``status``), else None."""
    holder = read_holder(directory)
    return holder if holder_alive(holder) else None
