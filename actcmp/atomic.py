"""Every file a command writes goes through here: a temp file beside the target, renamed.

A reader (or a kill, or a full disk) never sees half a file: the old file stays until
the new one is complete. Temp files are created with ``O_EXCL | O_NOFOLLOW`` (``mkstemp``)
under a random name, so a symlink planted in a results directory is never followed, and
``os.replace`` swaps a symlink at the target itself, never the file it points to.

Every ``OSError`` becomes one line naming the path: :class:`~actcmp.errors.OutputError`
(exit 2) when the user's target cannot be written (a directory where a file should go, no
permission, a read-only mount), :class:`~actcmp.errors.WriteFailed` (exit 1) for a full
disk or an I/O error.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from actcmp.errors import ActcmpError, OutputError, WriteFailed

#: errors that mean "the user's target cannot be written": exit 2, not a runtime failure
USAGE_ERRNOS = frozenset(
    {
        errno.EACCES,
        errno.EPERM,
        errno.EROFS,
        errno.EISDIR,
        errno.ENOTDIR,
        errno.EEXIST,
        errno.ENAMETOOLONG,
        errno.ELOOP,
        errno.ENOENT,
    }
)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_error(path: str | Path, exc: OSError, doing: str = "cannot write") -> ActcmpError:
    """One-line domain error for an ``OSError`` on ``path``."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return WriteFailed(f"disk full: {doing} {path} ({exc.strerror})")
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno == errno.EISDIR:
        reason = "is a directory"
    if exc.errno in USAGE_ERRNOS:
        return OutputError(f"{doing} {path}: {reason}")
    return WriteFailed(f"{doing} {path}: {reason}")


def make_dir(path: str | Path) -> Path:
    """``mkdir -p`` with one-line errors (a file in the way is a usage error)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"cannot create directory {path}: a file of that name is in the way")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"cannot create directory {path}: a file of that name is in the way") from None
    except OSError as exc:
        raise file_error(path, exc, "cannot create directory") from None
    return path


def write_atomic(path: str | Path, write: Callable[[IO[bytes]], object], *, mode: int = 0o666) -> Path:
    """Write ``path`` through ``write(handle)`` into a temp file in the same directory
    (``.NAME.PID.XXXXXXXX.tmp``: the writer's PID tells a later run whether a leftover is
    a dead writer's), then rename it over ``path``. The parent directory must exist (see
    :func:`make_dir`)."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"cannot write {path}: is a directory")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise file_error(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.chmod(tmp, mode & ~_umask())  # mkstemp makes 0600; results are shared like any file
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise file_error(path, exc) from None
        raise
    return path


def write_bytes(path: str | Path, data: bytes) -> Path:
    """:func:`write_atomic` of ``data``."""
    return write_atomic(path, lambda handle: handle.write(data))


def write_text(path: str | Path, text: str) -> Path:
    """:func:`write_atomic` of ``text`` as UTF-8, newlines as given."""
    return write_bytes(path, text.encode("utf-8"))


__all__ = ["file_error", "make_dir", "write_atomic", "write_bytes", "write_text"]
