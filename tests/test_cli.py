"""The command line, through CliRunner and as a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from actcmp.cli import app

REPO = Path(__file__).resolve().parent.parent
runner = CliRunner()
COMMANDS = ["run", "report", "status", "merge", "compare", "activations", "datasets", "export", "claims"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_example(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output


def test_top_level_help_is_light() -> None:
    code = (
        "import sys; from actcmp.cli import app; from typer.testing import CliRunner;"
        "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0;"
        "heavy = [m for m in ('torch', 'pandas', 'matplotlib') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_activations_and_datasets_listing() -> None:
    result = runner.invoke(app, ["activations"])
    assert result.exit_code == 0
    assert "leaky_relu" in result.output and "f'(x)" in result.output and "swish = silu" in result.output
    result = runner.invoke(app, ["datasets"])
    assert result.exit_code == 0
    assert "digits" in result.output and "mnist1d" in result.output


def test_dry_run(smoke_config: Path) -> None:
    result = runner.invoke(app, ["run", str(smoke_config), "--dry-run"])
    assert result.exit_code == 0
    assert "8 runs" in result.output


def test_command_line_only_sweep_dry_run() -> None:
    result = runner.invoke(
        app,
        [
            "run",
            "--activations",
            "relu,gelu",
            "--datasets",
            "digits",
            "--depths",
            "1,2,4,8",
            "--seeds",
            "3",
            "--epochs",
            "2",
            "--set",
            "lr=0.01",
            "--dry-run",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "24 runs" in result.output and "lr = 0.01" in result.output


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        pytest.param(["run", "--activations", "gelux", "--dry-run"], "did you mean 'gelu'", id="activation-typo"),
        pytest.param(["run", "--depths", "0", "--dry-run"], "depth", id="bad-depth"),
        pytest.param(["run", "--datasets", "digts", "--dry-run"], "did you mean 'digits'", id="dataset-typo"),
        pytest.param(["run", "missing.toml"], "not found", id="missing-file"),
        pytest.param(["run", "nosuchsweep"], "bundled sweeps", id="unknown-name"),
        pytest.param(["run", "--set", "lr", "--dry-run"], "KEY=VALUE", id="set-no-equals"),
        pytest.param(["run", "--seeds", "x", "--dry-run"], "--seeds", id="bad-seeds"),
        pytest.param(["run", "--engine", "turbo", "--epochs", "0"], "unknown engine", id="bad-engine"),
        pytest.param(["run", "--device", "tpu", "--epochs", "0"], "unknown device", id="bad-device"),
        pytest.param(["status", "/nonexistent/dir"], "no results here", id="status-missing"),
        pytest.param(["export", "/nonexistent/dir"], "no results here", id="export-missing"),
        pytest.param(["activations", "--plot", "relu,nope"], "unknown activation", id="plot-typo"),
    ],
)
def test_user_mistakes_one_line_exit_2(args: list[str], fragment: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert fragment in result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("actcmp: error:")]
    assert len(errors) == 1


def test_bad_toml_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[grid\nactivation = ['relu']\n")
    result = runner.invoke(app, ["run", str(bad)])
    assert result.exit_code == 2 and "invalid TOML" in result.output


def test_results_dir_is_a_file(tmp_path: Path, smoke_config: Path) -> None:
    target = tmp_path / "file"
    target.write_text("keep me")
    result = runner.invoke(app, ["run", str(smoke_config), "--out", str(target), "--epochs", "0"])
    assert result.exit_code == 2 and "is a file" in result.output
    assert target.read_text() == "keep me"


def test_run_status_export_resume(tmp_path: Path, smoke_config: Path) -> None:
    out = tmp_path / "res"
    result = runner.invoke(app, ["run", str(smoke_config), "--out", str(out), "--depths", "1", "--seeds", "1"])
    assert result.exit_code == 0, result.output
    assert "[2/2]" in result.output
    again = runner.invoke(app, ["run", str(smoke_config), "--out", str(out), "--depths", "1", "--seeds", "1"])
    assert again.exit_code == 0 and "2 already stored, 0 to run" in again.output
    status = runner.invoke(app, ["status", str(out)])
    assert status.exit_code == 0 and "total" in status.output
    # a bigger plan in the same dir: status reports pending and exits non-zero
    runner.invoke(app, ["run", str(smoke_config), "--out", str(out), "--depths", "1", "--seeds", "2", "--dry-run"])
    from actcmp.config import apply_overrides, load_sweep
    from actcmp.store import Store
    from actcmp.sweep import plan_runs, sweep_id

    bigger = apply_overrides(load_sweep(smoke_config), grid={"depth": [1, 2]})
    with Store(out) as store:
        store.save_sweep(sweep_id(bigger), bigger.name, bigger.to_dict(), plan_runs(bigger))
    status = runner.invoke(app, ["status", str(out)])
    assert status.exit_code == 1 and "pending" in status.output
    exported = runner.invoke(app, ["export", str(out), "--format", "csv"])
    assert exported.exit_code == 0
    assert (out / "export" / "runs.csv").read_text().count("\n") == 3


@pytest.mark.slow
def test_end_to_end_subprocess(tmp_path: Path) -> None:
    out = tmp_path / "smoke"
    cmd = [sys.executable, "-m", "actcmp", "run", "smoke", "--out", str(out), "--report"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO, env={**_env(), "CI": "1"})
    assert proc.returncode == 0, proc.stderr
    assert "[8/8]" in proc.stderr
    assert (out / "actcmp.sqlite").exists() and (out / "report.html").exists()
    bad = subprocess.run(
        [sys.executable, "-m", "actcmp", "run", "--activations", "reluu"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=_env(),
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
