"""What an incomplete sweep's report says it lacks: the planned runs not stored yet (an
interrupted sweep's, a [tune] sweep's evaluation runs waiting for their tuning runs), the runs
the Setup describes (stored and planned: the plan's axes, not those of the part stored), the
planned axis values no stored run has yet, and the words for them (the Setup's first item;
the Findings' first line is :func:`actcmp.report.findings.incomplete_text`).

Every function reads :attr:`actcmp.store.database.Results.planned` (every planned run's
resolved config) beside the stored runs; for a complete sweep (or a directory with no plan, as
one made by ``merge``) nothing is pending and the Setup and Findings read as before.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from actcmp.report.setup import _is_missing, _names, _plain, _sorted_values

if TYPE_CHECKING:
    import pandas as pd

    from actcmp.store.database import Results


def pending_runs(results: Results) -> pd.DataFrame:
    """The planned runs not stored (yet): an interrupted sweep's, or a [tune] sweep's
    evaluation runs still waiting for their tuning runs; none where every planned run is
    stored (or nothing was planned: a merged directory)."""
    planned, runs = results.planned, results.runs
    if "run_id" not in planned or planned.empty:
        return planned.iloc[0:0]
    stored = set(runs["run_id"]) if "run_id" in runs else set()
    return planned[~planned["run_id"].isin(stored)]


def described_runs(results: Results) -> pd.DataFrame:
    """The runs the Setup describes: the stored runs and, where some planned runs are not
    stored yet, those too (their resolved configs, :attr:`Results.planned`), so that the axes
    and fields are the sweep's, not those of the part stored. The stored runs alone (the same
    frame) where nothing is pending."""
    import pandas as pd

    from actcmp.analysis.cells import config_fields

    runs, pending = results.runs, pending_runs(results)
    if pending.empty:
        return runs
    fields = list(dict.fromkeys([*config_fields(runs), *config_fields(pending), "seed"]))
    stored = runs.reindex(columns=["run_id", *fields])
    waiting = pending.reindex(columns=["run_id", *fields])
    for field in fields:  # a field the plan did not record (an older store): the stored runs' one value
        if field not in pending and field in runs and runs[field].nunique(dropna=False) == 1:
            waiting[field] = [runs[field].iloc[0]] * len(waiting)
    if runs.empty:
        return waiting.reset_index(drop=True)
    return pd.concat([stored, waiting], ignore_index=True)


def not_stored_values(results: Results, axes: Sequence[str]) -> dict[str, list[Any]]:
    """Per axis of ``axes`` (and ``seed``): the values some planned run takes that no stored
    run does yet, in the report's order; only the axes with such values."""
    from actcmp.analysis.cells import activation_order

    pending, runs = pending_runs(results), results.runs
    out: dict[str, list[Any]] = {}
    for axis in dict.fromkeys([*axes, "seed"]):
        if axis not in pending:
            continue
        have = {_key(v) for v in runs[axis] if not _is_missing(v)} if axis in runs else set()
        values = [v for v in _sorted_values(pending[axis]) if _key(v) not in have]
        if values:
            out[axis] = activation_order(values) if axis == "activation" else values
    return out


def _key(value: Any) -> str:
    return json.dumps(_plain(value), sort_keys=True)


def plan_counts(results: Results) -> dict[str, int]:
    """``planned``: the runs planned or stored (a stored run no sweep here planned counts too);
    ``pending``: the planned runs not stored yet."""
    planned = set(results.planned["run_id"]) if "run_id" in results.planned else set()
    stored = set(results.runs["run_id"]) if "run_id" in results.runs else set()
    return {"planned": len(planned | stored), "pending": len(planned - stored)}


def not_stored_text(not_stored: dict[str, list[Any]]) -> str:
    """``depth 1; dataset mnist1d``: the planned axis values no stored run has yet."""
    return "; ".join(f"{axis} {_names(values)}" for axis, values in not_stored.items())


def incomplete_item(setup: dict[str, Any]) -> str | None:
    """Where planned runs are not stored yet: how many of the planned runs are, which axis
    values have no stored run, and that the Setup describes the plan while the tables,
    statistics and figures cover the stored runs only. None for a complete sweep, and where no
    run is stored (the Setup then says that no run of the tables is stored yet)."""
    runs = setup["runs"]
    pending = int(runs.get("pending") or 0)
    if not pending or not runs.get("stored"):
        return None
    what = "evaluation runs at the common value" if "tuning" in runs else "runs"
    missing = not_stored_text(setup.get("not_stored") or {})
    missing = f"; no run stored yet for {missing}" if missing else ""
    return (
        f"**Incomplete sweep:** {runs['stored']} of {runs['planned']} planned {what} stored ({pending} not yet"
        f"{missing}). The grid axes and run fields below are the sweep's plan; the tables, statistics, figures "
        "and Findings cover the stored runs only ([run status](#table-status))."
    )


__all__ = ["described_runs", "incomplete_item", "not_stored_text", "not_stored_values", "pending_runs", "plan_counts"]
