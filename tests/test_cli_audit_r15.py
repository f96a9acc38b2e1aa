"""New-user audit, round 15: a loss the user names is never replaced by mse (a loss the
run's output does not fit is refused, exit 2, before anything trains); the real run's first
line under --fresh counts the stored runs it trains again; the Makefile's report step reads
where `actcmp run` wrote ($ACTCMP_OUT/default)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cli_checks import one_error
from typer.testing import CliRunner

import actcmp
from actcmp.cli import app
from actcmp.config import SweepConfig
from actcmp.errors import ConfigError
from actcmp.progress import PlainProgress
from actcmp.run.plan import plan_runs

REPO = Path(__file__).resolve().parent.parent
runner = CliRunner()
TINY = ["--epochs", "1", "--set", "width=8", "--set", "bottleneck=2", "--set", "probe_size=32"]


def _run(*args: str) -> object:
    return runner.invoke(app, ["run", "--activations", "relu", *args])


# --- 1. an explicit loss is kept or refused, never silently replaced -----------------------


@pytest.mark.parametrize("dry", [True, False], ids=["dry-run", "run"])
def test_bce_under_an_identity_output_is_refused_before_anything_trains(tmp_path: Path, dry: bool) -> None:
    out = tmp_path / "bce"
    args = ["--datasets", "mnist1d", "--set", "loss=bce", *TINY, "--out", str(out)]
    line = one_error(_run(*args, *(["--dry-run"] if dry else [])), 2, "loss 'bce' needs output_activation sigmoid")
    assert "mnist1d" in line and "identity" in line and "output_activation=sigmoid" in line
    assert not (out / "actcmp.sqlite").exists()


def test_ce_under_a_sigmoid_output_is_refused() -> None:
    line = one_error(_run("--datasets", "digits", "--set", "loss=ce", "--dry-run"), 2, "loss 'ce' needs")
    assert "softmax" in line and "digits" in line and "sigmoid" in line


def test_a_grid_point_with_an_unfitting_loss_refuses_the_sweep_naming_it() -> None:
    result = _run("--datasets", "mnist1d", "--grid", "loss=mse,bce", "--dry-run")
    line = one_error(result, 2, "dataset=mnist1d, loss=bce")
    assert "same run as another" not in result.output and "needs output_activation" in line
    # two datasets, one fits: the sweep is refused for the one that does not
    line = one_error(_run("--datasets", "digits,mnist1d", "--set", "loss=bce", "--dry-run"), 2, "mnist1d")
    assert "dataset=digits" not in line


def test_the_python_api_refuses_an_unfitting_loss(tmp_path: Path) -> None:
    sweep = SweepConfig(
        name="bce", fixed={"dataset": "mnist1d", "loss": "bce", "epochs": 1}, grid={"activation": ["relu"]}
    )
    with pytest.raises(ConfigError, match="loss 'bce' needs output_activation sigmoid or softmax"):
        plan_runs(sweep, build=False)
    with pytest.raises(ConfigError, match="loss 'bce'"):
        actcmp.run_sweep(sweep, tmp_path / "out")
    assert not (tmp_path / "out" / "actcmp.sqlite").exists()


def test_fitting_losses_are_kept_and_the_default_loss_still_falls_back() -> None:
    from actcmp.plan import loss_fits

    def planned(**fixed: object) -> dict:
        sweep = SweepConfig(name="t", fixed={"epochs": 1, **fixed}, grid={"activation": ["relu"]})
        (cfg,) = plan_runs(sweep, build=False)
        return cfg

    assert planned(dataset="mnist1d", loss="bce", output_activation="sigmoid")["loss"] == "bce"
    assert planned(dataset="distributions", loss="bce")["loss"] == "bce"  # softmax output: fits
    assert planned(dataset="digits", loss="bce")["loss"] == "bce"
    # loss auto (the dataset's default, ce) under a sigmoid output: falls back to mse, as before
    assert planned(dataset="distributions", output_activation="sigmoid")["loss"] == "mse"
    assert planned(dataset="distributions")["loss"] == "ce"
    assert loss_fits("mse", "identity") and loss_fits("bce", "softmax") and not loss_fits("ce", "sigmoid")


def test_a_run_stores_the_loss_it_names(tmp_path: Path) -> None:
    out = tmp_path / "bce"
    args = ["--datasets", "digits", "--set", "loss=bce", *TINY, "--out", str(out), "--quiet"]
    assert _run(*args).exit_code == 0
    assert set(actcmp.load_results(out).runs["loss"]) == {"bce"}


# --- 2. --fresh: the real run's line counts the stored runs it trains again ----------------


def test_start_line_under_fresh_counts_what_is_stored() -> None:
    from actcmp.progress import start_line

    assert start_line(72, 72, 0, "d", stored_again=72) == (
        "sweep: 72 runs planned, 72 already stored (--fresh: trained again), 72 to run -> d"
    )
    assert start_line(72, 0, 72, "d") == "sweep: 72 runs planned, 72 already stored, 0 to run -> d"
    lines: list[str] = []
    PlainProgress(write=lines.append).start(3, 3, 0, "d", stored_again=2)
    assert lines == ["sweep: 3 runs planned, 2 already stored (--fresh: trained again), 3 to run -> d"]


def test_fresh_run_says_how_many_are_stored(tmp_path: Path) -> None:
    out = tmp_path / "fresh"
    args = ["--datasets", "breast-cancer", "--depths", "1,2", *TINY, "--out", str(out), "--jobs", "1"]
    first = _run(*args)
    assert first.exit_code == 0, first.output
    again = _run(*args)
    assert "2 runs planned, 2 already stored, 0 to run" in again.output, again.output
    fresh = _run(*args, "--fresh")
    assert fresh.exit_code == 0, fresh.output
    assert "2 runs planned, 2 already stored (--fresh: trained again), 2 to run" in fresh.output, fresh.output


# --- 3. the Makefile's report step reads $ACTCMP_OUT/default ----------------------------


@pytest.mark.skipif(shutil.which("make") is None or shutil.which("sh") is None, reason="needs make and sh")
@pytest.mark.parametrize("target", ["sweep", "report"])
@pytest.mark.parametrize(
    ("env", "expected"), [({"ACTCMP_OUT": "/tmp/x y"}, "/tmp/x y/default"), ({}, "results/default")]
)
def test_make_reports_where_the_sweep_wrote(target: str, env: dict[str, str], expected: str) -> None:
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    printed = subprocess.run(
        ["make", "-n", "--no-print-directory", target], cwd=REPO, env={**base, **env}, capture_output=True, text=True
    )
    assert printed.returncode == 0, printed.stderr
    lines = [line for line in printed.stdout.splitlines() if "-m actcmp report" in line]
    assert lines, printed.stdout
    for line in lines:
        arg = line.split("-m actcmp report ", 1)[1].rsplit(" --jobs", 1)[0]
        shown = subprocess.run(
            ["sh", "-c", f"printf '%s' {arg}"], env={**base, **env}, capture_output=True, text=True, check=True
        )
        assert shown.stdout == expected
    assert "results/default" not in (REPO / "Makefile").read_text().replace("${ACTCMP_OUT:-results}/default", "")
