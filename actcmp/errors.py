"""Domain errors raised by the library.

The CLI turns every :class:`ActcmpError` into one line on stderr and its ``exit_code``
(2: a usage or input error; 1: a runtime failure such as a full disk); anything else is
a bug and keeps its traceback. Exit codes: 0 success, 1 runtime failure or failed gate,
2 usage or input error, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ActcmpError(Exception):
    """Base class for every mistake a user can make (bad config, missing data, ...)."""

    #: the CLI's exit code for this error (2: usage or input error)
    exit_code = 2


class ConfigError(ActcmpError):
    """A sweep or run configuration is invalid."""


class UnknownActivation(ConfigError):
    """An activation name is not in the registry and is not a ``module:callable``."""


class UnknownDataset(ConfigError):
    """A dataset name is not in the registry."""


class DatasetError(ActcmpError):
    """A dataset could not be loaded (missing file, malformed content, ...)."""


class StoreError(ActcmpError):
    """A results directory or its database cannot be used."""


class OutputError(ActcmpError):
    """A file or directory cannot be written where the user asked (a directory in the way
    of a file, a file in the way of a directory, no permission, a read-only mount)."""


class WriteFailed(ActcmpError):
    """Writing failed for a reason outside the user's command (disk full, I/O error)."""

    exit_code = 1


class WorkerDied(ActcmpError):
    """A worker process died (killed, out of memory) before its task returned: a runtime
    failure, not a usage error."""

    exit_code = 1


class TaskLost(ActcmpError):
    """A task's worker or node died (or its result could not come back) before it
    returned; none of its runs were stored, so they stay pending for the next ``run``."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest matches, or ``""``."""
    matches = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.6)
    if not matches:
        return ""
    quoted = ", ".join(f"'{m}'" for m in matches)
    return f" (did you mean {quoted}?)"
