"""actcmp: compare activation functions inside autoencoders.

Python API (imports are lazy, so ``import actcmp`` stays cheap)::

    import actcmp
    summary = actcmp.run_sweep("experiments/smoke.toml", out="results/smoke")
    results = actcmp.load_results("results/smoke")   # pandas frames; .summary(); HTML in Jupyter
    actcmp.make_report("results/smoke")              # tables, figures, report.md/html
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "run_sweep": ("actcmp.sweep", "run_sweep"),
    "plan_runs": ("actcmp.sweep", "plan_runs"),
    "load_results": ("actcmp.notebook", "load_results"),
    "make_report": ("actcmp.report", "make_report"),
    "load_sweep": ("actcmp.config", "load_sweep"),
    "merge_results": ("actcmp.merge", "merge_results"),
    "compare_results": ("actcmp.compare", "compare_results"),
    "cell_status": ("actcmp.status", "cell_status"),
    "RunConfig": ("actcmp.config", "RunConfig"),
    "SweepConfig": ("actcmp.config", "SweepConfig"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'actcmp' has no attribute {name!r}")
