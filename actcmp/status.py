"""``actcmp status``: done / pending / diverged / failed runs per cell of a results dir."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from actcmp.store import Store

CELL_KEYS = ("dataset", "depth", "width", "bottleneck", "lr", "optimizer", "batch_size", "epochs", "output_activation", "loss")


@dataclass
class StatusTable:
    """Counts per cell (``cell`` is a tuple of the keys in ``keys``) and in total."""

    keys: tuple[str, ...]
    cells: dict[tuple[object, ...], dict[str, int]] = field(default_factory=dict)

    def total(self, status: str) -> int:
        return sum(c.get(status, 0) for c in self.cells.values())

    @property
    def pending(self) -> int:
        return self.total("pending")

    @property
    def failed(self) -> int:
        return self.total("failed")


def cell_status(directory: str | Path) -> StatusTable:
    """Status of every planned or stored run, grouped by the cell fields that vary."""
    with Store(directory, create=False) as store:
        planned = store.planned_configs()
        stored = {
            r[0]: (r[1], json.loads(r[2]))
            for r in store.conn.execute("SELECT run_id, status, config_json FROM runs")
        }
    configs = {**planned, **{rid: cfg for rid, (_, cfg) in stored.items()}}
    varied = tuple(k for k in CELL_KEYS if len({json.dumps(c.get(k)) for c in configs.values()}) > 1)
    keys = ("dataset", *[k for k in varied if k != "dataset"])
    table = StatusTable(keys=keys)
    for rid, cfg in configs.items():
        status = stored[rid][0] if rid in stored else "pending"
        cell = tuple(cfg.get(k) for k in keys)
        counts = table.cells.setdefault(cell, {"done": 0, "diverged": 0, "failed": 0, "pending": 0})
        counts[status] = counts.get(status, 0) + 1
    return table


def format_status(table: StatusTable) -> str:
    """Plain-text table, one line per cell plus a total line."""
    header = [*table.keys, "done", "diverged", "failed", "pending"]
    rows = [header]
    for cell in sorted(table.cells, key=lambda c: tuple(str(x) for x in c)):
        counts = table.cells[cell]
        rows.append([*(str(v) for v in cell), *(str(counts[s]) for s in ("done", "diverged", "failed", "pending"))])
    totals = [str(table.total(s)) for s in ("done", "diverged", "failed", "pending")]
    rows.append(["total", *[""] * (len(table.keys) - 1), *totals])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join("  ".join(c.rjust(w) if i >= len(table.keys) else c.ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip() for r in rows)
