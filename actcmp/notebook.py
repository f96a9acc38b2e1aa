"""``actcmp.load_results(DIR)`` for notebooks: the stored frames, a per-cell summary and an
HTML view that Jupyter shows when the object is the last expression of a cell.

    results = actcmp.load_results("results/smoke")
    results                 # sweep name, runs by status, the per-cell table (HTML)
    results.summary()       # the per-cell table as a DataFrame
    results.runs            # the long-format frames, as before (see actcmp.store.database.Results)
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actcmp.store.database import Results, Store

if TYPE_CHECKING:
    import pandas as pd

STATUSES = ("done", "diverged", "failed", "pending")
#: columns of the HTML table (those present), after the cell keys and the activation
HTML_COLUMNS = (
    "test_loss_mean",
    "test_loss_std",
    "dead_fraction_final",
    "saturated_fraction_final",
    "epochs_to_threshold",
    "converged",
    "diverged",
    "failed",
)
MAX_HTML_ROWS = 60


@dataclass
class SweepResults(Results):
    """:class:`~actcmp.store.database.Results` plus ``sweeps`` (the sweeps recorded in the
    directory: ``sweep_id``, ``name``, ``created_at``, ``config``, ``n_runs``)."""

    sweeps: list[dict[str, Any]] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        """Names of the sweeps recorded here, oldest first (duplicates once)."""
        return list(dict.fromkeys(s["name"] for s in self.sweeps))

    def status_counts(self) -> dict[str, int]:
        """Runs by status: done / diverged / failed (stored) and pending (planned, not stored)."""
        runs = self.runs
        counts = {s: int((runs["status"] == s).sum()) if "status" in runs else 0 for s in STATUSES[:3]}
        stored = set(runs["run_id"]) if "run_id" in runs else set()
        planned = set(self.planned["run_id"]) if "run_id" in self.planned else set()
        counts["pending"] = len(planned - stored)
        return counts

    def summary(self, *, statistics: bool = False) -> pd.DataFrame:
        """One row per cell and activation: test loss mean/std/min/max over converged
        seeds, dead / saturated fractions, epochs to threshold, run counts and ``best``
        (the report's main table; ``statistics=True`` adds its confidence intervals and
        tests against the best)."""
        from actcmp.report.tables import main_table

        return main_table(self, statistics=statistics)

    def _repr_html_(self) -> str:
        counts = self.status_counts()
        title = ", ".join(self.names) or self.directory.name
        parts = [
            f"<h4>actcmp results: {html.escape(title)}</h4>",
            f"<p><code>{html.escape(str(self.directory))}</code> · "
            + " · ".join(f"{n} {s}" for s, n in counts.items())
            + "</p>",
        ]
        table = self.summary()
        if table.empty:
            parts.append("<p>no stored runs yet</p>")
            return "\n".join(parts)
        from actcmp.analysis.cells import cell_keys
        from actcmp.report.tables import complete

        keys = [k for k in (*cell_keys(complete(self).runs), "activation") if k in table.columns]
        shown = table[[*keys, *[c for c in HTML_COLUMNS if c in table.columns]]]
        more = len(shown) - MAX_HTML_ROWS
        parts.append(shown.head(MAX_HTML_ROWS).to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="-"))
        if more > 0:
            parts.append(f"<p>... and {more} more rows: <code>.summary()</code> has them all</p>")
        return "\n".join(parts)

    def __repr__(self) -> str:
        counts = ", ".join(f"{n} {s}" for s, n in self.status_counts().items())
        return f"<actcmp results {', '.join(self.names) or self.directory.name!s} at {self.directory}: {counts}>"


def load_results(directory: str | Path) -> SweepResults:
    """Read a results directory: the frames of :class:`~actcmp.store.database.Results`, the sweeps
    recorded there, ``.summary()`` and an HTML view for notebooks."""
    with Store(directory, create=False) as store:
        frames = store.frames()
        sweeps = store.sweeps()
    return SweepResults(**{f.name: getattr(frames, f.name) for f in fields(Results)}, sweeps=sweeps)
