"""The command line, through CliRunner and as a real subprocess."""

from __future__ import annotations

import re
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
    # a bracketed word of the docstring ("[tune]") survives rich's markup: it must be escaped
    info = next(c for c in app.registered_commands if (c.name or c.callback.__name__) == command)
    words = set(re.findall(r"\\?\[(\w+)\]", info.callback.__doc__ or ""))
    shown = " ".join(result.output.split())
    assert all(f"[{word}]" in shown for word in words), (words, result.output)


def heavy_modules_after(args: list[str]) -> str:
    """Invoke the CLI with ``args`` in a fresh interpreter; the heavy libraries it imported."""
    code = (
        "import sys; from actcmp.cli import app; from typer.testing import CliRunner;"
        f"r = CliRunner().invoke(app, {args!r}); assert r.exit_code == 0, r.output;"
        "print([m for m in ('torch', 'pandas', 'matplotlib', 'mlflow', 'tensorboard') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_top_level_help_is_light() -> None:
    assert heavy_modules_after(["--help"]) == "[]"


def test_export_help_and_import_actcmp_are_light() -> None:
    assert heavy_modules_after(["export", "--help"]) == "[]"
    code = "import sys, actcmp; print([m for m in ('torch', 'pandas', 'mlflow', 'tensorboard') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_activations_and_datasets_listing() -> None:
    result = runner.invoke(app, ["activations"])
    assert result.exit_code == 0
    assert "leaky_relu" in result.output and "f'(x)" in result.output and "swish = silu" in result.output
    result = runner.invoke(app, ["datasets"])
    assert result.exit_code == 0
    assert "digits" in result.output and "mnist1d" in result.output
    assert "mnist-5k: 5000 MNIST images" in result.output and "BSD-3-Clause" in result.output  # provenance
    assert "#anomaly=COLUMN" in result.output


def test_dry_run(smoke_config: Path) -> None:
    result = runner.invoke(app, ["run", str(smoke_config), "--dry-run"])
    assert result.exit_code == 0
    assert "8 runs" in result.output


def test_dry_run_says_what_the_directory_already_holds(smoke_config: Path, smoke_results: Path) -> None:
    """Into a finished sweep's directory, the plan counts what a run would skip (and --json
    carries it); where no store is, it says nothing about stored runs."""
    import json

    args = ["run", str(smoke_config), "--out", str(smoke_results), "--dry-run"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "already stored: 8 of 8 (a run skips them; 0 to train)" in result.output
    assert "--fresh trains them again" in runner.invoke(app, [*args, "--fresh"]).output
    assert json.loads(runner.invoke(app, [*args, "--json"]).output)["stored"] == 8
    shard = runner.invoke(app, [*args, "--shard", "2/2"])
    assert "already stored: 4 of 4" in shard.output, shard.output
    elsewhere = runner.invoke(app, ["run", str(smoke_config), "--out", str(smoke_results / "new"), "--dry-run"])
    assert "already stored" not in elsewhere.output


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
    from actcmp.run.sweep import plan_runs, sweep_id
    from actcmp.store.database import Store

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


# ---- review fixes: config resolution, conflicting options, early checks, messages, help


def test_bundled_name_not_shadowed_by_a_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "smoke").mkdir()
    result = runner.invoke(app, ["run", "smoke", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "sweep 'smoke': 8 runs" in result.output
    (tmp_path / "mine").write_text("name = 'mine'\nepochs = 1\n")  # an existing file, no .toml: a path
    result = runner.invoke(app, ["run", "mine", "--dry-run"])
    assert result.exit_code == 0 and "sweep 'mine': 1 run" in result.output


def test_unknown_bundled_name_lists_claim_sweeps() -> None:
    result = runner.invoke(app, ["run", "claims/nosuch"])
    assert result.exit_code == 2
    assert "default, smoke, tuned, claims/anomaly" in result.output and "claims/dying" in result.output
    assert "did you mean" not in result.output
    result = runner.invoke(app, ["run", "claims/dyin"])
    assert "did you mean 'claims/dying'?" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["--grid", "depth=1,2", "--depths", "4"],
            "--depths 4 and --grid depth=1,2 both set depth",
            id="grid-shortcut",
        ),
        pytest.param(
            ["--grid", "depth=1,2", "--set", "depth=4"],
            "--grid depth=1,2 and --set depth=4 both set depth",
            id="grid-set",
        ),
        pytest.param(
            ["--epochs", "3", "--set", "epochs=4"], "--epochs 3 and --set epochs=4 both set epochs", id="epochs-set"
        ),
        pytest.param(
            ["--grid", "seed=1", "--grid", "seed=2"], "--grid seed=1 and --grid seed=2 both set seed", id="grid-twice"
        ),
        pytest.param(
            ["--activations", "relu", "--grid", "activation=tanh"],
            "--activations relu and --grid activation=tanh both set activation",
            id="activations-grid",
        ),
    ],
)
def test_a_key_given_twice_on_the_command_line_is_refused(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["run", "smoke", *args, "--dry-run"])
    assert result.exit_code == 2
    assert result.output.strip() == f"actcmp: error: {message}: give it once"


def test_set_on_a_grid_axis_of_the_file_notes_it() -> None:
    result = runner.invoke(app, ["run", "smoke", "--set", "activation=relu", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == 'note: --set activation=relu replaces the grid axis activation = ["relu", "tanh"]'
    assert "4 runs" in result.stdout and "activation = relu" in result.stdout
    result = runner.invoke(app, ["run", "smoke", "--epochs", "1", "--depths", "4", "--dry-run"])
    assert result.exit_code == 0 and result.stderr == ""  # a shortcut replacing an axis, a fixed field: no note


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        pytest.param(
            ["--backend", "slurm"], "--backend: unknown backend 'slurm' (available: local, ray)", id="backend"
        ),
        pytest.param(["--engine", "fast"], "--engine: unknown engine 'fast'", id="engine"),
        pytest.param(["--device", "tpu"], "--device: unknown device 'tpu'", id="device"),
        pytest.param(["--device", "cudax"], "--device: unknown device 'cudax'", id="device-cuda-typo"),
        pytest.param(["--jobs", "0"], "--jobs must be at least 1, got 0", id="jobs"),
        pytest.param(["--address", "10.0.0.1:6379"], "--address is for --backend ray", id="address-local"),
        pytest.param(["--threads", "0"], "--threads must be at least 1, got 0", id="threads"),
        pytest.param(["--threads", "2", "--backend", "ray"], "--threads is for --backend local", id="threads-ray"),
    ],
)
@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "run"])
def test_bad_options_refused_before_anything_is_written(
    tmp_path: Path, args: list[str], fragment: str, dry_run: bool
) -> None:
    out = tmp_path / "DIR"
    result = runner.invoke(app, ["run", "smoke", "--out", str(out), *args, *(["--dry-run"] if dry_run else [])])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"actcmp: error: {fragment}")
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()


def test_dry_run_needs_no_cuda(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "smoke", "--device", "cuda:1", "--dry-run"])
    assert result.exit_code == 0, result.output


def test_missing_cuda_refused_before_anything_is_written(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    out = tmp_path / "DIR"
    result = runner.invoke(app, ["run", "smoke", "--out", str(out), "--device", "cuda"])
    assert result.exit_code == 2 and "no CUDA device is available" in result.output
    assert not out.exists()


@pytest.mark.parametrize("quiet", [False, True], ids=["progress", "quiet"])
def test_interrupt_says_so_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, quiet: bool) -> None:
    import actcmp.run.sweep

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(actcmp.run.sweep, "_drain", interrupted)
    out = tmp_path / "res"
    result = runner.invoke(app, ["run", "smoke", "--out", str(out), *(["--quiet"] if quiet else [])])
    assert result.exit_code == 130
    assert result.output.count("interrupted") == 1, result.output
    assert result.output.count("run the same command again to resume") == 1
    assert f"interrupted: 0 runs stored now, 8 left in {out}; run the same command again" in result.output


def test_messages_are_not_doubled_or_misleading(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "--set", "name=x", "--dry-run"])
    assert result.exit_code == 2
    assert "did you mean 'name'" not in result.output and "use --name" in result.output
    result = runner.invoke(app, ["run", "--set", "output_activation=relu", "--dry-run"])
    assert result.exit_code == 2 and result.output.count("got 'relu'") == 1
    bad = tmp_path / "x.toml"
    bad.write_text('epochs = "three"\n[grid]\nactivation = ["relu", "tanh"]\n')
    result = runner.invoke(app, ["run", str(bad), "--dry-run"])
    assert result.exit_code == 2
    line = result.output.strip()
    assert line.startswith(f"actcmp: error: {bad}: epochs: Input should be a valid integer")
    assert line.endswith("got 'three'") and "grid point" not in line


def test_run_help_shows_brackets_and_no_bool_metavar() -> None:
    result = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})
    assert result.exit_code == 0
    text = result.output
    assert "pip install 'actcmp[ray]'" in text
    assert "[default: $ACTCMP_OUT/<sweep name>/, ACTCMP_OUT defaulting to results]" in text
    assert "[env RAY_ADDRESS; none: a local Ray instance]" in text
    assert "<bool>" not in text
    assert "is an error" in text and "says so on stderr" in text  # the override rules are documented


def test_version_is_fast() -> None:
    from actcmp import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output == f"actcmp {__version__}\n"
    assert heavy_modules_after(["--version"]) == "[]"


def test_dry_run_shows_single_valued_axes_and_defaults() -> None:
    result = runner.invoke(app, ["run", "smoke", "--dry-run"])
    assert result.exit_code == 0
    assert "  dataset: digits\n" in result.output and "  depth (2): 1, 2\n" in result.output
    result = runner.invoke(app, ["run", "--activations", "relu,tanh", "--dry-run"])
    assert result.exit_code == 0
    for line in ("  dataset: digits (default)", "  depth: 2 (default)", "  epochs: 20 (default)"):
        assert line in result.output
    result = runner.invoke(app, ["run", "--depths", "4", "--dry-run"])
    assert "  depth: 4\n" in result.output


@pytest.mark.parametrize("jobs", [1, 2])
def test_threads_option_reaches_the_executor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: int) -> None:
    import actcmp.run.executors as executors

    chosen: list[tuple[int, int | None]] = []
    real = executors.make_executor

    def spy(backend: str, jobs: int, address: str | None = None, threads: int | None = None, **options: object):
        chosen.append((jobs, threads))
        return real(backend, 1, address, threads, **options)  # train in-process: the test needs no pool

    monkeypatch.setattr(executors, "make_executor", spy)
    args = ["run", "smoke", "--set", "activation=relu", "--seeds", "1", "--epochs", "1", "--quiet"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "r"), "--jobs", str(jobs), "--threads", "2"])
    assert result.exit_code == 0, result.output
    assert chosen == [(jobs, 2)]


@pytest.mark.parametrize(("stop", "code"), [("int", 130), ("term", 143)])
def test_run_and_claims_tell_sigterm_from_ctrl_c(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop: str, code: int
) -> None:
    """An interrupted sweep exits 130 after Ctrl-C and 143 after SIGTERM, in `run` and in
    `claims` (which runs its claims' sweeps the same way)."""
    import actcmp.run.sweep
    from actcmp.signals import Terminated

    def stopped(*args: object, **kwargs: object) -> None:
        raise Terminated if stop == "term" else KeyboardInterrupt

    monkeypatch.setattr(actcmp.run.sweep, "_drain", stopped)
    result = runner.invoke(app, ["run", "smoke", "--out", str(tmp_path / "res"), "--quiet"])
    assert result.exit_code == code, result.output
    result = runner.invoke(app, ["claims", "--only", "linear", "--out", str(tmp_path / "claims"), "--quiet"])
    assert result.exit_code == code, result.output


def test_dry_run_says_when_grid_points_name_the_same_run() -> None:
    """`relu,ReLU` is one activation: the plan lists both as given, counts the runs once and
    says so, rather than showing two values and half the runs without a word."""
    result = runner.invoke(app, ["run", "smoke", "--activations", "relu,ReLU", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "sweep 'smoke': 4 runs" in result.output
    assert "note: 4 of the grid's 8 points name the same run as another" in result.output
    plain = runner.invoke(app, ["run", "smoke", "--dry-run"])
    assert plain.exit_code == 0 and "note:" not in plain.output


@pytest.mark.parametrize("args", [["status"], ["--help"]], ids=["status", "help"])
def test_a_closed_stdout_pipe_is_a_quiet_exit_1(smoke_results: Path, args: list[str]) -> None:
    """``actcmp status DIR | head -1``: the reader leaves, the write fails with EPIPE. No
    traceback and no "cannot use a file" line: click's own quiet exit 1 (it was a one-line
    error naming no file)."""
    command = [sys.executable, "-m", "actcmp", *args, *([str(smoke_results)] if args == ["status"] else [])]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # before the command writes anything
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=120) == 1
    assert err == "", err


def test_a_broken_pipe_that_is_not_stdout_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """Only stdout's reader leaving is the quiet exit: a pipe to a worker that breaks is an
    error like any OSError (one line naming it), not a silent exit 1."""
    import typer

    from actcmp.cli.base import guarded, stdout_reader_gone

    def lost_worker() -> None:
        raise BrokenPipeError(32, "Broken pipe")

    assert not stdout_reader_gone()  # pytest's captured stdout: no pipe to a reader that left
    with pytest.raises(typer.Exit) as stop:
        guarded(lost_worker)()
    assert stop.value.exit_code != 0
    err = capsys.readouterr().err
    assert err.startswith("actcmp: error: ") and "Broken pipe" in err and len(err.splitlines()) == 1


def test_dry_run_states_the_depth_that_explicit_widths_set() -> None:
    """widths = [1000, 500, 250] trains depth 4: the plan said "depth: 2 (default)"."""
    import json

    path = str(REPO / "experiments" / "literature" / "deep_mnist_autoencoder.toml")
    result = runner.invoke(app, ["run", path, "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "depth: 4 (set by widths: len + 1)" in result.output and "depth: 2 (default)" not in result.output
    document = json.loads(runner.invoke(app, ["run", path, "--dry-run", "--json"]).output)
    assert "depth" not in document["defaults"] and document["fixed"]["widths"] == [1000, 500, 250]


def test_every_literature_setup_names_its_reference_and_deviations() -> None:
    from actcmp.config import load_sweep

    files = sorted((REPO / "experiments" / "literature").glob("*.toml"))
    assert len(files) >= 3
    for path in files:
        sweep = load_sweep(path)
        assert sweep.reference and len(sweep.deviations) >= 3, path.name
        assert runner.invoke(app, ["run", str(path), "--dry-run"]).exit_code == 0, path.name
