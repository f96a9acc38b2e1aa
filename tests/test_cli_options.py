"""Option values that are really options, and `claims` taking the settings `run` takes
(its help, ACTCMP_JOBS, ACTCMP_DEVICE and ACTCMP_OUT)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from actcmp.cli import app

runner = CliRunner()


def one_error_line(result: Any, fragment: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("actcmp: error:")]
    assert len(errors) == 1 and fragment in errors[0], result.output


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["run", "smoke", "--out", "--dry-run"], "--out '--dry-run': looks like an option, not a value"),
        (["run", "smoke", "--out=--dry-run"], "--out '--dry-run': looks like an option"),
        (["run", "smoke", "--name", "--dry-run"], "--name '--dry-run': looks like an option"),
        (["run", "smoke", "--data-dir", "--dry-run"], "--data-dir '--dry-run': looks like an option"),
        (["run", "smoke", "--out", "-q"], "--out '-q': looks like an option"),
        (["report", "{results}", "--out", "--quiet-typo"], "--out '--quiet-typo': looks like an option"),
        (["export", "{results}", "--out", "--format"], "--out '--format': looks like an option"),
        (["claims", "--out", "--report-only"], "--out '--report-only': looks like an option"),
    ],
)
def test_an_option_taken_as_a_value_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], fragment: str
) -> None:
    """`--out --dry-run` used to train the whole sweep into a folder named `--dry-run`."""
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, [a.format(results=tmp_path / "nothing") for a in args])
    one_error_line(result, fragment)
    assert list(tmp_path.iterdir()) == []  # nothing trained, nothing written


def test_a_directory_that_starts_with_a_dash_is_written_with_dot_slash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["run", "smoke", "--out", "--odd"])
    one_error_line(result, "a directory of that name is written ./--odd")
    result = runner.invoke(app, ["run", "smoke", "--out", "./--odd", "--dry-run"])
    assert result.exit_code == 0, result.output


def test_claims_help_lists_what_it_accepts() -> None:
    result = runner.invoke(app, ["claims", "--help"], env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})
    assert result.exit_code == 0
    assert "auto | plain | batched" in result.output
    assert "cpu | cuda | cuda:N | auto" in result.output
    for name in ("ACTCMP_JOBS", "ACTCMP_DEVICE", "ACTCMP_OUT"):
        assert name in result.output, name


@pytest.fixture
def claims_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Path, dict[str, Any]]]:
    """`claims` with run_claims replaced by a recorder (nothing trained, nothing written)."""
    import actcmp.claims.runner
    from actcmp.claims.runner import ClaimsRun

    calls: list[tuple[Path, dict[str, Any]]] = []

    def record(out: Path, **kwargs: Any) -> ClaimsRun:
        calls.append((Path(out), kwargs))
        return ClaimsRun(out_dir=Path(out), claims=[], sweeps=[])

    monkeypatch.setattr(actcmp.claims.runner, "run_claims", record)
    for name in ("ACTCMP_JOBS", "ACTCMP_DEVICE", "ACTCMP_OUT"):
        monkeypatch.delenv(name, raising=False)
    return calls


def test_claims_reads_the_per_machine_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, claims_calls: list[tuple[Path, dict[str, Any]]]
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["claims", "-q"])
    assert result.exit_code == 0, result.output
    env = {"ACTCMP_JOBS": "2", "ACTCMP_DEVICE": "auto", "ACTCMP_OUT": str(tmp_path / "elsewhere")}
    result = runner.invoke(app, ["claims", "-q"], env=env)
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["claims", "-q", "--jobs", "3", "--device", "cpu", "--out", "mine"], env=env)
    assert result.exit_code == 0, result.output  # the command line wins
    (out0, kw0), (out1, kw1), (out2, kw2) = claims_calls
    assert out0 == Path("results/claims") and (kw0["jobs"], kw0["device"]) == (1, "cpu")
    assert out1 == tmp_path / "elsewhere" / "claims" and (kw1["jobs"], kw1["device"]) == (2, "auto")
    assert out2 == Path("mine") and (kw2["jobs"], kw2["device"]) == (3, "cpu")


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"ACTCMP_JOBS": "abc"}, "ACTCMP_JOBS"),
        ({"ACTCMP_JOBS": "0"}, "--jobs (ACTCMP_JOBS=0) must be at least 1"),
        ({"ACTCMP_DEVICE": "foo"}, "--device (ACTCMP_DEVICE=foo): unknown device 'foo'"),
    ],
)
@pytest.mark.parametrize("report_only", [False, True])
def test_claims_refuses_bad_settings_as_run_does(
    claims_calls: list[tuple[Path, dict[str, Any]]], env: dict[str, str], fragment: str, report_only: bool
) -> None:
    args = ["claims", "-q", *(["--report-only"] if report_only else [])]
    one_error_line(runner.invoke(app, args, env=env), fragment)
    one_error_line(runner.invoke(app, ["run", "smoke", "--dry-run"], env=env), fragment)
    assert claims_calls == []


def test_claims_refuses_an_unknown_engine_with_report_only(claims_calls: list[tuple[Path, dict[str, Any]]]) -> None:
    one_error_line(runner.invoke(app, ["claims", "--report-only", "--engine", "foo"]), "unknown engine 'foo'")
    assert claims_calls == []


def test_claims_says_when_its_verdicts_judge_runs_that_are_not_stored(tmp_path: Path) -> None:
    """`claims --report-only` on a store holding none of the planned runs gave verdicts and exit 0
    with no word that nothing was stored (only claims.md said it). (A directory without any claim
    sweep's store is refused: test_claims.)"""
    from actcmp.store.database import Store

    with Store(tmp_path / "c" / "linear"):  # the claim sweep's store, no run in it yet
        pass
    result = runner.invoke(app, ["claims", "--report-only", "--only", "1", "--out", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    notes = [line for line in result.output.splitlines() if line.startswith("note:")]
    assert len(notes) == 1, result.output
    import re

    found = re.fullmatch(
        r"note: (\d+) of (\d+) planned runs are not stored; the verdicts judge what is stored "
        r"\(run without --report-only to train them\)",
        notes[0],
    )
    assert found and found.group(1) == found.group(2) and int(found.group(1)) > 0, notes


def test_a_second_sweep_into_a_directory_says_what_else_it_holds(tmp_path: Path) -> None:
    """Two unrelated sweeps in one directory share its status and report: the second run says so."""
    out = str(tmp_path / "r")
    first = runner.invoke(app, ["run", "--activations", "relu", "--datasets", "digits", "--epochs", "0", "--out", out])
    assert first.exit_code == 0, first.output
    assert "also holds" not in first.output
    second = runner.invoke(app, ["run", "--activations", "tanh", "--datasets", "digits", "--epochs", "0", "--out", out])
    assert second.exit_code == 0, second.output
    assert "also holds sweep(s) 'relu_digits_e0'" in second.output, second.output
    again = runner.invoke(app, ["run", "--activations", "tanh", "--datasets", "digits", "--epochs", "0", "--out", out])
    assert "'tanh_digits_e0'" not in again.output  # a sweep is not "another" sweep to itself
