"""`compare` on a sweep with [tune]: the runs the report leaves out (tuning runs, runs at a
selected value) are left out of the gate too."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from actcmp.cli import app
from actcmp.store.database import DB_NAME, load_results

runner = CliRunner()

TUNED = """
name = "t"
epochs = 1
lr = 0.001
[grid]
dataset = ["digits"]
seed = [0, 1]
activation = ["relu", "tanh"]
[tune]
lr = [1e-3, 1e-1]
seeds = [100]
"""


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 activations, 2 candidates, 1 tuning seed, 2 evaluation seeds (4 tuning runs)."""
    base = tmp_path_factory.mktemp("tuned")
    (base / "t.toml").write_text(TUNED)
    result = runner.invoke(app, ["run", str(base / "t.toml"), "--out", str(base / "base"), "--engine", "plain", "-q"])
    assert result.exit_code == 0, result.output
    return base / "base"


def worsen(directory: Path, run_ids: list[str], factor: float = 100.0) -> None:
    conn = sqlite3.connect(directory / DB_NAME)
    conn.executemany(
        "UPDATE run_metrics SET value = value * ? WHERE name = 'test_loss' AND run_id = ?",
        [(factor, rid) for rid in run_ids],
    )
    conn.commit()
    conn.close()


def test_a_worse_tuning_run_does_not_fail_the_gate(tuned: Path, tmp_path: Path) -> None:
    runs = load_results(tuned).runs
    tuning = runs[runs["seed"] == 100]
    assert len(tuning) == 4
    new = tmp_path / "new"
    shutil.copytree(tuned, new)
    worsen(new, list(tuning["run_id"]))
    result = runner.invoke(app, ["compare", str(new), str(tuned), "--all"])
    assert result.exit_code == 0, result.output
    assert "2 cells compared on test_loss: 0 regressed, 2 same" in result.output
    assert "[tune]: left out " in result.output
    doc = json.loads(runner.invoke(app, ["compare", str(new), str(tuned), "--json"]).stdout)
    assert [c["cell"]["lr"] for c in doc["cells"]] == [0.001, 0.001]  # the common value only
    assert doc["left_out"]["new"] == doc["left_out"]["baseline"] >= 4
    # an evaluation run at the common value still counts
    common = runs[(runs["seed"] < 100) & (runs["lr"] == 0.001) & (runs["activation"] == "relu")]
    assert len(common) == 2
    worsen(new, list(common["run_id"]))
    result = runner.invoke(app, ["compare", str(new), str(tuned)])
    assert result.exit_code == 1, result.output
    assert "1 regressed" in result.output


def test_compare_leaves_out_what_the_report_leaves_out(tuned: Path, tmp_path: Path) -> None:
    from actcmp.analysis.compare import left_out_runs
    from actcmp.report.tune import build, evaluation_only

    results = load_results(tuned)
    report = build(tuned, tmp_path, results, ("png",), [], later=True)
    kept = set(evaluation_only(results, report.left_out_ids).runs["run_id"])
    left = left_out_runs(tuned)
    assert left and kept == set(results.runs["run_id"]) - left


def test_compare_help_says_so() -> None:
    result = runner.invoke(app, ["compare", "--help"], env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})
    assert "tuning runs" in result.output
