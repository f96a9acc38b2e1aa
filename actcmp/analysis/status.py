"""``actcmp status``: done / pending / diverged / failed runs per cell of a results dir.

A run is *pending* when a sweep planned it here and it is not stored (in a directory
that runs only some shards of a sweep, only those shards' runs are expected). ``failed``
runs raised an exception; ``diverged`` runs are results (NaN/inf loss), not failures.
A CI job gates on :attr:`StatusTable.complete`; :func:`format_markdown` is what goes to
``$GITHUB_STEP_SUMMARY``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actcmp.errors import StoreError
from actcmp.store.database import Store, quick_check
from actcmp.tune_spec import TUNE_KEYS

CELL_KEYS = (
    "dataset",
    "depth",
    "width",
    "bottleneck",
    "widths",
    "activity_l1",
    "input_noise",
    "lr",
    "optimizer",
    "batch_size",
    "epochs",
    "output_activation",
    "loss",
    "split_seed",
)
STATUSES = ("done", "diverged", "failed", "pending")
#: a planned run's ``role`` in a tuned sweep, as the status table names it
ROLE_NAMES = {"tune": "tuning", "eval": "evaluation"}


@dataclass
class StatusTable:
    """Counts per cell (``cell`` is a tuple of the keys in ``keys``) and in total.

    ``failures`` lists ``(run_id, description, first line of the error)`` of failed runs;
    ``writer`` is the lock record of a sweep writing there now (or None).
    """

    keys: tuple[str, ...]
    cells: dict[tuple[object, ...], dict[str, int]] = field(default_factory=dict)
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    directory: Path | None = None
    writer: dict[str, Any] | None = None
    shards: list[str] = field(default_factory=list)
    #: stored rows that cannot be read (left out of the counts), one line each
    damaged: list[str] = field(default_factory=list)
    #: the shards held of sweeps held only in part ("smoke 1/2"): "complete" is for them alone
    partial: list[str] = field(default_factory=list)

    def total(self, status: str) -> int:
        return sum(c.get(status, 0) for c in self.cells.values())

    @property
    def pending(self) -> int:
        return self.total("pending")

    @property
    def failed(self) -> int:
        return self.total("failed")

    @property
    def complete(self) -> bool:
        """Every expected run stored and none failed (what CI gates on)."""
        return bool(self.cells) and not self.pending and not self.failed

    def verdict(self) -> str:
        """One line: complete, or what is missing."""
        if not self.cells:
            return "no runs planned or stored"
        if self.complete:
            counts = f"{self.total('done')} done, {self.total('diverged')} diverged"
            if self.partial:
                return (
                    f"complete for shard {', '.join(self.partial)}: {counts} (the other shards' runs are not here: "
                    "merge the shards' directories to see the whole sweep)"
                )
            return f"complete: {counts}"
        parts = [f"{n} {s}" for s, n in (("pending", self.pending), ("failed", self.failed)) if n]
        if self.writer:  # the sweep is still running: nothing to resume yet
            return "incomplete: " + ", ".join(parts) + " (a sweep is writing here now; its runs are still coming)"
        return "incomplete: " + ", ".join(parts) + " (run the sweep again to resume; failed runs are retried)"


def cell_status(directory: str | Path) -> StatusTable:
    """Status of every expected or stored run, grouped by the cell fields that vary."""
    from actcmp.store.lock import running_writer

    with Store(directory, create=False) as store, store.snapshot():
        expected = store.expected_configs()
        stored = store.run_states()  # damaged rows left out: named by damaged_rows
        damaged = store.damaged_rows()
        sweeps = store.sweeps()
        names = {s["sweep_id"]: s["name"] for s in sweeps}
        tuned_fields = [
            [f for f in s["config"]["tune"] if f not in TUNE_KEYS] for s in sweeps if s["config"].get("tune")
        ]
        held = store.shards()
        shards = [f"{names.get(sid, sid)} {i}/{entry['n']}" for sid, entry in held.items() for i in entry["held"]]
        partial = [
            f"{names.get(sid, sid)} {i}/{entry['n']}"
            for sid, entry in held.items()
            if set(entry["held"]) != set(range(1, int(entry["n"]) + 1))
            for i in entry["held"]
        ]
        # status reads the runs table alone: a damaged page of the metrics would pass its gate
        # while report, export and compare refuse the store (one pass over the pages)
        problem = quick_check(store.conn)
        if problem:
            raise StoreError(f"{store.path}: the results database is damaged ({problem}); its runs cannot all be read")
    configs = {**expected, **{rid: cfg for rid, (_, cfg, _) in stored.items()}}
    # a tuned sweep's runs are counted by role (tuning / evaluation), not by the tuned fields'
    # values, which the tune block of `actcmp status` lists per unit
    roles = {rid: ROLE_NAMES.get(str(cfg.get("role")), "") for rid, cfg in expected.items()}
    tuned = bool(configs) and all(roles.get(rid) for rid in configs)
    hidden = {f for entry in tuned_fields for f in entry} if tuned else set()
    varied = tuple(
        k for k in CELL_KEYS if k not in hidden and len({json.dumps(c.get(k)) for c in configs.values()}) > 1
    )
    keys = ("dataset", *[k for k in varied if k != "dataset"], *(("role",) if tuned else ()))
    if _other_data(configs, keys, roles):  # a data file changed between runs: the report's cells
        keys = ("dataset", "data_fingerprint", *keys[1:])
    table = StatusTable(keys=keys, directory=Path(directory), writer=running_writer(directory), shards=shards)
    table.damaged = damaged
    table.partial = partial
    for rid, cfg in configs.items():
        status = stored[rid][0] if rid in stored else "pending"
        cell = tuple(roles[rid] if k == "role" else cfg.get(k) for k in keys)
        counts = table.cells.setdefault(cell, dict.fromkeys(STATUSES, 0))
        counts[status] = counts.get(status, 0) + 1
        if status == "failed":
            error = (stored[rid][2] or "").strip().splitlines()
            what = f"{cfg.get('activation')} · {cfg.get('dataset')} · depth {cfg.get('depth')} · seed {cfg.get('seed')}"
            table.failures.append((rid, what, error[0] if error else "(no error recorded)"))
    table.failures.sort()
    return table


def _other_data(configs: dict[str, dict[str, Any]], keys: tuple[str, ...], roles: dict[str, str]) -> bool:
    """Whether runs of one cell (the same ``keys``) were trained on different versions of their
    dataset (``data_fingerprint``: a user file edited between runs). The report keys its cells by
    the fingerprint then (:func:`actcmp.analysis.cells.cell_keys`: a field that varies within a
    dataset and that the other keys do not fix), so status counts them apart too; a missing
    fingerprint (a store from before it was recorded) is a value of its own, as there."""
    seen: dict[str, set[str]] = {}
    for rid, cfg in configs.items():
        cell = json.dumps([roles.get(rid, "") if k == "role" else cfg.get(k) for k in keys], default=str)
        seen.setdefault(cell, set()).add(json.dumps(cfg.get("data_fingerprint")))
    return any(len(values) > 1 for values in seen.values())


def _rows(table: StatusTable) -> tuple[list[str], list[list[str]], list[str]]:
    header = [*table.keys, *STATUSES]
    rows = []
    for cell in sorted(table.cells, key=lambda c: tuple(str(x) for x in c)):
        counts = table.cells[cell]
        rows.append([*("none" if v is None else str(v) for v in cell), *(str(counts.get(s, 0)) for s in STATUSES)])
    totals = ["total", *[""] * (len(table.keys) - 1), *(str(table.total(s)) for s in STATUSES)]
    return header, rows, totals


def format_status(table: StatusTable) -> str:
    """Plain-text table, one line per cell plus a total line."""
    header, body, totals = _rows(table)
    rows = [header, *body, totals]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            c.rjust(w) if i >= len(table.keys) else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in rows
    )


def format_markdown(table: StatusTable, max_failures: int = 20) -> str:
    """A Markdown summary (for ``$GITHUB_STEP_SUMMARY``): verdict, table, failed runs."""
    header, body, totals = _rows(table)
    mark = "✅" if table.complete else "❌"
    lines = [f"### {mark} actcmp status: `{table.directory}`", "", table.verdict(), ""]
    if table.shards:
        lines += [f"Shards held here: {', '.join(table.shards)}", ""]
    if table.writer:
        lines += [f"A sweep is writing here now (pid {table.writer.get('pid')} on {table.writer.get('host')}).", ""]
    if body:
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join("---" if i < len(table.keys) else "---:" for i in range(len(header))) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in body]
        lines += ["| " + " | ".join(f"**{c}**" if c else "" for c in totals) + " |", ""]
    if table.failures:
        lines += ["Failed runs:", ""]
        lines += [f"- `{rid}` {what}: {error}" for rid, what, error in table.failures[:max_failures]]
        if len(table.failures) > max_failures:
            lines.append(f"- ... and {len(table.failures) - max_failures} more")
        lines.append("")
    return "\n".join(lines)


def write_step_summary(markdown: str) -> Path | None:
    """Append ``markdown`` to the file named by ``$GITHUB_STEP_SUMMARY``, if set (an
    ``OSError`` propagates: the caller warns, the gate's verdict stands)."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(markdown.rstrip("\n") + "\n\n")
    return Path(target)
