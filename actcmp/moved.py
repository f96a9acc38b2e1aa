"""Names a module offered before the restructuring and now defined elsewhere: the module keeps
them importable through a module ``__getattr__`` (PEP 562) that imports their new home only
when one is asked for, so that neither an import cycle nor an import cost comes with them."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def moved_names(module: str, moved: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``module`` that finds each name of ``moved`` (name -> the
    module that defines it now) there; any other name is an AttributeError, as usual."""

    def __getattr__(name: str) -> Any:
        if name in moved:
            return getattr(importlib.import_module(moved[name]), name)
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__
