"""Domain errors raised by the library.

The CLI turns every :class:`ActcmpError` into one line on stderr and exit code 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ActcmpError(Exception):
    """Base class for every mistake a user can make (bad config, missing data, ...)."""


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


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest matches, or ``""``."""
    matches = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.6)
    if not matches:
        return ""
    quoted = ", ".join(f"'{m}'" for m in matches)
    return f" (did you mean {quoted}?)"
