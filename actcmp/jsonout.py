"""``--json`` output: one JSON document per command, built from the library's records.

Each ``*_document`` function turns what a command computed into plain JSON values (no
NaN: a missing or non-finite number is ``null``); :func:`dumps` writes it. The CLI prints
the document alone on stdout; notes and warnings go to stderr. The schemas are listed in
the README (section "Scriptable output"); every document carries ``"schema": "actcmp.<what>/1"``
so a script can check what it reads.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from actcmp.analysis.compare import Comparison, Side
    from actcmp.analysis.status import StatusTable
    from actcmp.store.merge import MergeReport

SCHEMA_VERSION = 1


def plain(value: Any) -> Any:
    """``value`` as JSON-safe Python: NaN/inf -> None, Paths -> str, tuples -> lists,
    numpy scalars -> Python scalars, mappings with stringified keys."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [plain(v) for v in items]
    if hasattr(value, "item"):  # numpy / torch scalars
        return plain(value.item())
    return str(value)


def dumps(document: Mapping[str, Any]) -> str:
    """The document as indented JSON (strict: never NaN)."""
    return json.dumps(plain(document), indent=2, allow_nan=False, ensure_ascii=False)


def _schema(what: str) -> str:
    return f"actcmp.{what}/{SCHEMA_VERSION}"


def status_document(table: StatusTable) -> dict[str, Any]:
    """``actcmp status --json``."""
    from actcmp.analysis.status import STATUSES

    cells = [
        {"cell": dict(zip(table.keys, cell, strict=True)), **{s: counts.get(s, 0) for s in STATUSES}}
        for cell, counts in sorted(table.cells.items(), key=lambda item: tuple(str(x) for x in item[0]))
    ]
    return {
        "schema": _schema("status"),
        "directory": table.directory,
        "complete": table.complete,
        "verdict": table.verdict(),
        "keys": list(table.keys),
        "totals": {s: table.total(s) for s in STATUSES},
        "cells": cells,
        "failures": [{"run_id": rid, "what": what, "error": error} for rid, what, error in table.failures],
        "shards": table.shards,
        "writer": table.writer,
    }


def _side(side: Side) -> dict[str, Any]:
    return {
        "runs": side.runs,
        "n": side.n,
        "bad": side.bad,
        "mean": side.mean if side.values else None,
        "std": side.std if side.n >= 2 else None,
    }


def compare_document(comparison: Comparison, new: str | Path, baseline: str | Path) -> dict[str, Any]:
    """``actcmp compare --json``: every cell (not only those that moved)."""
    from actcmp.analysis.compare import VERDICTS

    return {
        "schema": _schema("compare"),
        "new": new,
        "baseline": baseline,
        "metric": comparison.metric,
        "rule": {"k": comparison.k, "rtol": comparison.rtol, "atol": comparison.atol},
        "failed": comparison.failed,
        "counts": {v: comparison.count(v) for v in VERDICTS},
        "keys": list(comparison.keys),
        "left_out": {"new": comparison.left_out[0], "baseline": comparison.left_out[1]},
        "cells": [
            {
                "cell": cell.cell,
                "verdict": cell.verdict,
                "note": cell.note,
                "delta": cell.delta,
                "limit": cell.limit,
                "baseline": _side(cell.base),
                "new": _side(cell.new),
            }
            for cell in comparison.cells
        ],
    }


def merge_document(report: MergeReport) -> dict[str, Any]:
    """``actcmp merge --json``."""
    return {
        "schema": _schema("merge"),
        "out": report.out,
        "sources": [{"path": path, "added": added} for path, added in zip(report.sources, report.added, strict=True)],
        "already_in_out": report.already_in_out,
        "total_runs": report.total_runs,
        "duplicates": [
            {"run_id": r, "kept_from": a, "also_in": b, "differed": (r, b) in report.differed}
            for r, a, b in report.duplicates
        ],
        "replaced_failed": [{"run_id": r, "failed_in": a, "finished_in": b} for r, a, b in report.replaced_failed],
        "warnings": report.missing,
    }


def datasets_document() -> dict[str, Any]:
    """``actcmp datasets --json``."""
    from actcmp.datasets import list_datasets

    return {
        "schema": _schema("datasets"),
        "datasets": [
            {
                "name": info.name,
                "description": info.description,
                "features": info.n_features,
                "output_activation": info.output_activation,
                "loss": info.loss,
                "scaling": info.scaling,
                "labels": info.has_labels,
                "anomalies": info.has_anomalies,
                "source": info.source,
            }
            for info in list_datasets()
        ],
        "user_files": ["csv:PATH", "parquet:PATH", "npy:PATH"],
    }


def activations_document() -> dict[str, Any]:
    """``actcmp activations --json``."""
    from actcmp.core.activations import ALIASES, list_activations

    return {
        "schema": _schema("activations"),
        "activations": [
            {
                "name": info.name,
                "family": info.family,
                "init": info.init,
                "parameters": info.defaults,
                "formula": info.formula,
                "derivative": info.derivative_formula,
                "learnable": info.learnable,
                "output_only": info.output_only,
            }
            for info in list_activations()
        ],
        "aliases": dict(sorted(ALIASES.items())),
    }


def plan_document(
    plan: Mapping[str, Any], grid: Mapping[str, Any], defaults: Mapping[str, Any], out: Path, shard: str | None
) -> dict[str, Any]:
    """``actcmp run --dry-run --json``: the plan of :func:`actcmp.run.sweep.describe_plan`."""
    return {
        "schema": _schema("plan"),
        "name": plan["name"],
        "runs": plan["runs"],
        "total": plan["total"],
        "shard": shard,
        "varied": plan["varied"],
        "grid": grid,
        "fixed": plan["fixed"],
        "defaults": defaults,
        "per_dataset": plan["per_dataset"],
        "stored": plan.get("stored"),
        "tune": _tune_plan(plan.get("tune")),
        "out": out,
    }


def _tune_plan(counts: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A tuned sweep's counts in the plan document (None for a sweep without ``[tune]``)."""
    return None if counts is None else dict(counts)
