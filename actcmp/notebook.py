"""``actcmp.load_results(DIR)`` for notebooks: the stored frames, a per-cell summary and an
HTML view that Jupyter shows when the object is the last expression of a cell.

    results = actcmp.load_results("results/smoke")
    results                 # sweep name, runs by status, the per-cell table (HTML)
    results.summary()       # the per-cell table as a DataFrame: the report's main table
    results.runs            # the long-format frames of every stored run (see actcmp.store.database.Results),
                            # with ``sweeps`` and ``role`` (actcmp.store.export)
    results.evaluation_only()  # the frames the report's tables read ([tune]: the common value only)

For a sweep with ``[tune]`` the report's tables (all but the Tuned comparison) read only the
runs at the common value of every tuned field (:func:`actcmp.report.tune.evaluation_only`):
``summary()`` and the HTML view do the same, so that they are the report's main table. The
frames (``runs``, ``epochs``, ...) keep every stored run, tuning runs included; their
``role`` column says which is which, and ``summary(all_runs=True)`` tabulates them all.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from actcmp.store.database import Results, Store
from actcmp.store.export import with_sweep_columns

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
    directory: ``sweep_id``, ``name``, ``created_at``, ``config``, ``n_runs``) and
    ``left_out_ids`` (the runs the report's tables leave out: the ``[tune]`` sweeps' tuning runs
    and evaluation runs at a selected value, :func:`actcmp.analysis.tune.left_out_ids`; empty
    without ``[tune]``). ``runs`` and ``planned`` carry ``sweeps`` and ``role``, as the Parquet
    export (:func:`actcmp.store.export.with_sweep_columns`)."""

    sweeps: list[dict[str, Any]] = field(default_factory=list)
    left_out_ids: frozenset[str] = frozenset()

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

    def evaluation_only(self) -> SweepResults:
        """The frames the report's tables and figures read (all but the Tuned comparison): for
        a ``[tune]`` sweep, without its tuning runs and its evaluation runs at a selected value
        (the runs of :attr:`left_out_ids`), so every activation is at the common value; the
        frames as they are without ``[tune]``. The report's own filter:
        :func:`actcmp.report.tune.evaluation_only`."""
        from actcmp.report.tables import complete
        from actcmp.report.tune import evaluation_only

        # dataclasses.replace keeps the class: a SweepResults, with sweeps and left_out_ids
        return cast("SweepResults", evaluation_only(complete(self), self.left_out_ids))

    def summary(self, *, statistics: bool = False, all_runs: bool = False) -> pd.DataFrame:
        """One row per cell and activation: test loss mean/std/min/max over converged
        seeds, dead / saturated fractions, epochs to threshold, run counts and ``best``: the
        report's main table (``tables/main.csv``), of the runs it reads
        (:meth:`evaluation_only`); ``statistics=True`` adds its confidence intervals and tests
        against the best, as main.csv has them, with ``not_learned`` (converged seeds that did not
        learn) and ``bold``, what the report shows bold (``tied_with_best`` is the test's outcome;
        ``bold`` leaves out an activation that did not learn beside a best that did, or that
        diverged on every seed: :func:`actcmp.report.tables.shown_bold`). ``all_runs=True``
        tabulates every stored run instead: a ``[tune]`` sweep's tuning runs (no test loss:
        ``record = "val_loss"``) and its runs at the selected values then make cells of their own
        (keyed by ``lr``, ``record``, ...)."""
        from actcmp.report.tables import main_table

        return main_table(self if all_runs else self.evaluation_only(), statistics=statistics)

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
        left_out = len(self.left_out_ids & set(self.runs.get("run_id", ())))
        if left_out:
            parts.append(
                f"<p>as the report's tables: the runs at the common value of the [tune] field(s); {left_out} runs "
                "left out, the tuning runs and the runs at the selected values (the report's Tuned comparison "
                "reads those; <code>.summary(all_runs=True)</code> tabulates every run)</p>"
            )
        if table.empty:
            parts.append(
                "<p>no stored runs yet</p>" if not left_out else "<p>no stored run at the common value yet</p>"
            )
            return "\n".join(parts)
        from actcmp.report.frames import cell_columns

        keys = [*cell_columns(table), "activation"] if "activation" in table else []
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
    """Read a results directory: the frames of :class:`~actcmp.store.database.Results` (with
    ``sweeps`` and ``role`` in ``runs`` and ``planned``), the sweeps recorded there, the runs the
    report's tables leave out, ``.summary()`` (the report's main table) and an HTML view for
    notebooks; all from one snapshot of the store."""
    from actcmp.analysis.tune import report_left_out

    with Store(directory, create=False) as store, store.snapshot():  # frames and ids of one state
        frames = with_sweep_columns(store.frames(), store)
        sweeps = store.sweeps()
        left_out = frozenset(report_left_out(store))  # as the report's tables and compare
    return SweepResults(
        **{f.name: getattr(frames, f.name) for f in fields(Results)}, sweeps=sweeps, left_out_ids=left_out
    )
