"""actcmp: compare activation functions inside autoencoders.

Python API (imports are lazy, so ``import actcmp`` stays cheap)::

    import actcmp
    summary = actcmp.run_sweep("smoke", out="results/smoke")  # a sweep file, or a bundled sweep's name
    results = actcmp.load_results("results/smoke")   # pandas frames; .summary(); HTML in Jupyter
    actcmp.make_report("results/smoke")              # tables, figures, report.md/html
"""

from __future__ import annotations

import os
from typing import Any

__version__ = "0.1.0"

# MKL's conditional numerical reproducibility: without it, sgemm rounds differently when the
# same matrix starts at another 16-byte alignment, and where a model's weights sit in a
# batched stack depends on its neighbours. AUTO keeps MKL's fastest code path for this CPU
# and makes its results independent of alignment (read once, when MKL first runs: so set
# before torch computes anything; a value the user set is kept).
os.environ.setdefault("MKL_CBWR", "AUTO")

_LAZY = {
    "run_sweep": ("actcmp.run.sweep", "run_sweep"),
    "plan_runs": ("actcmp.run.sweep", "plan_runs"),
    "load_results": ("actcmp.notebook", "load_results"),
    "make_report": ("actcmp.report", "make_report"),
    "load_sweep": ("actcmp.config", "load_sweep"),
    "sweep_from_command_line": ("actcmp.overrides", "sweep_from_command_line"),
    "merge_results": ("actcmp.store.merge", "merge_results"),
    "compare_results": ("actcmp.analysis.compare", "compare_results"),
    "cell_status": ("actcmp.analysis.status", "cell_status"),
    "RunConfig": ("actcmp.config", "RunConfig"),
    "SweepConfig": ("actcmp.config", "SweepConfig"),
}

__all__ = ["__version__", *_LAZY]


def __dir__() -> list[str]:
    """The public API (what notebooks tab-complete), not this module's helpers (``os``, ``Any``)."""
    return sorted(__all__)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'actcmp' has no attribute {name!r}")
