"""Where a sweep came from: its file and the git commit of that file's repository.

Recorded at run time in ``DIR/sweep.json`` (``"provenance"``) so that a report can say
which version of the sweep produced the results; never part of a run's identity. Git is
asked locally (``git -C DIR rev-parse HEAD``, ``git status --porcelain``); without git,
outside a repository, or when git takes too long, the commit is ``None``.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

#: seconds git may take before the commit is recorded as unknown
GIT_TIMEOUT_S = 5.0


def _git(directory: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(directory), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_commit(directory: str | Path) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the git repository holding ``directory``; (None, None) when
    there is none. ``dirty``: the work tree has uncommitted changes."""
    directory = Path(directory)
    if not directory.is_dir():
        return None, None
    commit = _git(directory, "rev-parse", "HEAD")
    if not commit:
        return None, None
    status = _git(directory, "status", "--porcelain", "--untracked-files=no")
    return commit, (bool(status) if status is not None else None)


def sweep_provenance(path: str | Path | None, source: str) -> dict[str, Any]:
    """What ``sweep.json`` records about the sweep's origin: ``source`` (as the sweep
    names it), ``sweep_file`` (absolute, or None), ``git_commit`` / ``git_dirty`` of the
    file's repository and ``recorded_at`` (local time, ISO 8601)."""
    file = Path(path).resolve() if path is not None else None
    commit, dirty = git_commit(file.parent) if file is not None else (None, None)
    return {
        "source": source,
        "sweep_file": str(file) if file is not None else None,
        "git_commit": commit,
        "git_dirty": dirty,
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


__all__ = ["git_commit", "sweep_provenance"]
