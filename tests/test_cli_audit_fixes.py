"""Fixes from a new user's audit of the CLI: `activations --plot` refuses an empty list and
`--out` without `--plot`; Ctrl-C while `run --report` writes the report says what is stored
and how to finish it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from actcmp.cli import app

runner = CliRunner()


@pytest.mark.parametrize("plot", ["", ",,,", " ", " , "])
def test_activations_plot_refuses_an_empty_list(tmp_path: Path, plot: str) -> None:
    out = tmp_path / "a.png"
    result = runner.invoke(app, ["activations", "--plot", plot, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "name at least one activation" in result.output and not out.exists()


def test_activations_out_without_plot_is_refused() -> None:
    result = runner.invoke(app, ["activations", "--out", "x.png"])
    assert result.exit_code == 2 and "--out x.png goes with --plot" in result.output


@pytest.mark.parametrize(
    ("signal", "code", "said"), [("INT", 130, "interrupted"), ("TERM", 143, "terminated (SIGTERM)")]
)
def test_a_signal_while_run_writes_its_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signal: str, code: int, said: str
) -> None:
    import actcmp.report
    from actcmp.signals import Terminated

    out = tmp_path / "res"
    assert runner.invoke(app, ["run", "smoke", "--out", str(out), "--epochs", "0", "--quiet"]).exit_code == 0

    def interrupted(*args: object, **kwargs: object) -> None:
        raise Terminated if signal == "TERM" else KeyboardInterrupt

    monkeypatch.setattr(actcmp.report, "make_report", interrupted)
    result = runner.invoke(app, ["run", "smoke", "--out", str(out), "--epochs", "0", "--report"])
    assert result.exit_code == code, result.output
    assert f"actcmp: {said} while writing the report: the sweep's runs are stored, the report is not finished" in (
        result.output
    )


def test_a_bad_value_from_the_environment_names_the_variable() -> None:
    result = runner.invoke(app, ["run", "smoke", "--dry-run"], env={"ACTCMP_JOBS": "0"})
    assert result.exit_code == 2 and "--jobs (ACTCMP_JOBS=0) must be at least 1" in result.output
    result = runner.invoke(app, ["run", "smoke", "--dry-run"], env={"ACTCMP_DEVICE": "tpu"})
    assert result.exit_code == 2 and "--device (ACTCMP_DEVICE=tpu): unknown device" in result.output
    typed = runner.invoke(app, ["run", "smoke", "--dry-run", "--jobs", "0"], env={"ACTCMP_JOBS": None})
    assert typed.exit_code == 2 and "--jobs must be at least 1" in typed.output


def test_status_of_a_sweep_still_running_does_not_say_resume() -> None:
    from actcmp.analysis.status import StatusTable

    cells = {("digits",): {"done": 2, "pending": 3}}
    assert "run the sweep again to resume" in StatusTable(keys=("dataset",), cells=cells).verdict()
    running = StatusTable(keys=("dataset",), cells=cells, writer={"pid": 1, "host": "h"}).verdict()
    assert running == "incomplete: 3 pending (a sweep is writing here now; its runs are still coming)"


def test_report_out_replaces_a_report_of_any_actcmp_version(tmp_path: Path) -> None:
    """A report written before setup.json existed (or without it) is actcmp's: replaced."""
    res, out = tmp_path / "res", tmp_path / "rep"
    assert runner.invoke(app, ["run", "smoke", "--out", str(res), "--epochs", "0", "--quiet"]).exit_code == 0
    assert runner.invoke(app, ["report", str(res), "--out", str(out)]).exit_code == 0
    (out / "setup.json").unlink()
    again = runner.invoke(app, ["report", str(res), "--out", str(out)])
    assert again.exit_code == 0, again.output
    (out / "report.html").write_text("<html><title>my page</title></html>")
    refused = runner.invoke(app, ["report", str(res), "--out", str(out)])
    assert refused.exit_code == 2 and "holds report.html that no actcmp report wrote" in refused.output


TUNED = """name = "tph"
epochs = 1
[grid]
dataset = ["digits"]
depth = [1]
activation = ["relu", "tanh"]
seed = [0, 1]
[tune]
lr = [1e-3, 1e-2]
seeds = [100, 101]
"""


def test_a_tuned_sweep_labels_its_two_phases(tmp_path: Path) -> None:
    path = tmp_path / "tph.toml"
    path.write_text(TUNED)
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    tuning = lines.index("tuning phase ([tune]): each candidate on the tuning seeds, selected by validation loss")
    evaluation = lines.index("evaluation phase ([tune]): the common and the selected values on the evaluation seeds")
    assert lines[tuning + 1].startswith("sweep: 8 runs planned") and lines[evaluation + 1].startswith("sweep: 8 runs")
