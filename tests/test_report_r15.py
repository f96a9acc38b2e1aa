"""The fifteenth session's report fixes, on fabricated frames (no training):

* without [tune], the Findings say the activations were compared at the learning rate(s) the
  sweep gave them all, not each at its own best (a tuned sweep's Findings do not).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from test_report_audit_r2 import DIVERGED, _results

from actcmp.report import findings, tables


def _texts(results: object) -> list[str]:
    main = tables.build_tables(results)  # type: ignore[arg-type]
    raw = next(t for t in main if t.name == "main").raw
    return [c for k, c in findings.findings_blocks(results, raw, None) if k == "text"]  # type: ignore[arg-type]


def test_findings_say_every_activation_shared_one_learning_rate() -> None:
    shared = _texts(_results(DIVERGED, lr=0.001))
    line = next(t for t in shared if "learning rate" in t)
    assert line.startswith("Every activation ran at the same learning rate (0.001), not at its own best")
    assert "`[tune]`" in line


def test_findings_name_a_learning_rate_grid_as_given_to_every_activation() -> None:
    results = _results(DIVERGED, lr=0.001)
    runs = results.runs.copy()
    runs.loc[runs["depth"] == 4, "lr"] = 0.01
    results.runs = runs
    line = next(t for t in _texts(results) if "learning rate" in t)
    assert line.startswith("The learning rates 0.001, 0.01 were given to every activation alike")


@pytest.mark.parametrize("lr", [None, math.nan])
def test_no_learning_rate_line_without_a_stored_learning_rate(lr: float | None) -> None:
    results = _results(DIVERGED) if lr is None else _results(DIVERGED, lr=lr)
    assert findings.learning_rate_text(results) is None


def test_a_tuned_sweep_has_no_shared_learning_rate_line(tmp_path: Path) -> None:
    """A [tune] store (evaluation runs at the common lr and at each selected one): its
    Tuned comparison says how the values were chosen, so no shared-lr line."""
    from test_tuned_comparison_stats import TIED, fabricate

    from actcmp.report import tune as tune_report
    from actcmp.store.database import load_results

    directory = fabricate(tmp_path / "tuned", TIED, set())
    results = tables.complete(load_results(directory))
    built = tune_report.build(directory, directory / "report", results, ("png",), [], later=True)
    evaluation = tune_report.evaluation_only(results, built.left_out_ids)
    assert evaluation.runs["lr"].nunique() == 1  # one shared value: an untuned sweep would get the line
    assert findings.learning_rate_text(evaluation) is None
