"""Scriptable CLI: --json documents, run with nothing to run, names of command-line sweeps,
environment variables, shell completion."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fake_results import EPOCHS, config, loss_of, make_results
from typer.testing import CliRunner

from actcmp.cli import app
from actcmp.sweep_name import name_from_overrides

runner = CliRunner()


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_results(tmp_path_factory.mktemp("fake") / "results", figures=False)


def invoke_json(args: list[str], code: int = 0, **kwargs: Any) -> dict[str, Any]:
    """Run the CLI; stdout must be exactly one JSON document."""
    result = runner.invoke(app, args, **kwargs)
    assert result.exit_code == code, result.output
    document = json.loads(result.stdout)
    assert isinstance(document, dict)
    return document


# ---------------------------------------------------------------------------- --json


def test_status_json(results_dir: Path) -> None:
    doc = invoke_json(["status", str(results_dir), "--json"], code=1)  # a pending and a failed run
    assert doc["schema"] == "actcmp.status/1" and doc["complete"] is False
    assert doc["totals"] == {"done": 7, "diverged": 1, "failed": 1, "pending": 1}
    assert doc["keys"] == ["dataset", "depth"]
    assert doc["cells"][0] == {
        "cell": {"dataset": "digits", "depth": 1},
        "done": 4,
        "diverged": 0,
        "failed": 1,
        "pending": 0,
    }
    assert [f["run_id"] for f in doc["failures"]] == [config("gelu", 1, 0)["run_id"]]
    assert doc["failures"][0]["error"] == "RuntimeError: boom"
    assert doc["verdict"].startswith("incomplete: 1 pending, 1 failed")


def test_compare_json_against_itself(results_dir: Path) -> None:
    doc = invoke_json(["compare", str(results_dir), str(results_dir), "--json"])
    assert doc["schema"] == "actcmp.compare/1" and doc["failed"] is False and doc["metric"] == "test_loss"
    assert doc["counts"] == {"regressed": 0, "missing": 0, "incomplete": 0, "improved": 0, "new": 0, "same": 5}
    relu = next(c for c in doc["cells"] if c["cell"]["activation"] == "relu" and c["cell"]["depth"] == 2)
    expected = (loss_of("relu", 2, 0, EPOCHS) + loss_of("relu", 2, 1, EPOCHS)) / 2
    assert relu["new"]["mean"] == relu["baseline"]["mean"] == expected and relu["delta"] == 0.0
    gelu = next(c for c in doc["cells"] if c["cell"]["activation"] == "gelu")
    assert gelu["new"] == {"runs": 1, "n": 0, "bad": 1, "mean": None, "std": None}  # NaN is null
    assert gelu["delta"] is None


def test_compare_json_exit_code_on_regression(results_dir: Path, tmp_path: Path) -> None:
    worse = tmp_path / "worse"
    from fake_results import result

    from actcmp.store.database import Store

    with Store(worse) as store:
        for seed in (0, 1):
            run = result("relu", 2, seed)
            run.final["test_loss"] = 9.0
            store.write_run(run)
    doc = invoke_json(["compare", str(worse), str(results_dir), "--json"], code=1)
    assert doc["failed"] is True and doc["counts"]["regressed"] == 1 and doc["counts"]["missing"] == 4


def test_datasets_and_activations_json() -> None:
    doc = invoke_json(["datasets", "--json"])
    digits = next(d for d in doc["datasets"] if d["name"] == "digits")
    assert digits["features"] == 64 and digits["output_activation"] == "sigmoid" and digits["labels"] is True
    doc = invoke_json(["activations", "--json"])
    names = [a["name"] for a in doc["activations"]]
    assert "relu" in names and doc["aliases"]["swish"] == "silu"
    leaky = next(a for a in doc["activations"] if a["name"] == "leaky_relu")
    assert leaky["parameters"] == {"negative_slope": 0.01} and leaky["family"] == "relu"
    result = runner.invoke(app, ["activations", "--json", "--plot", "relu"])
    assert result.exit_code == 2 and "--json" in result.output


def test_dry_run_json_names_a_command_line_sweep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACTCMP_OUT", raising=False)
    args = ["run", "--activations", "relu,gelu", "--datasets", "digits", "--depths", "1,2", "--dry-run", "--json"]
    doc = invoke_json(args)
    assert doc["schema"] == "actcmp.plan/1" and doc["name"] == "relu-gelu_digits_d1-2" and doc["runs"] == 4
    assert doc["out"] == str(Path("results") / "relu-gelu_digits_d1-2")
    assert doc["varied"] == {"activation": ["relu", "gelu"], "depth": [1, 2]}
    assert doc["grid"]["dataset"] == ["digits"] and doc["defaults"] == {"seed": 0, "epochs": 20}
    doc = invoke_json([*args, "--name", "mine", "--shard", "1/2"], env={"ACTCMP_OUT": str(tmp_path)})
    assert doc["name"] == "mine" and doc["out"] == str(tmp_path / "mine") and doc["runs"] == 2 and doc["total"] == 4
    result = runner.invoke(app, [*args[:-2], "--json"])
    assert result.exit_code == 2 and "--json goes with --dry-run" in result.output


def test_merge_json(results_dir: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(results_dir, copy)
    doc = invoke_json(["merge", str(tmp_path / "merged"), str(results_dir), str(copy), "--json"])
    assert doc["schema"] == "actcmp.merge/1" and doc["total_runs"] == 9
    assert [s["added"] for s in doc["sources"]] == [9, 0]
    assert len(doc["duplicates"]) == 9 and doc["replaced_failed"] == []


# ---------------------------------------------------------------------------- run without a sweep


def test_run_with_nothing_to_run_prints_usage_and_trains_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ACTCMP_OUT", raising=False)
    for args in (["run"], ["run", "--jobs", "2"], ["run", "--out", "here"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert "Usage:" in result.output and "actcmp: error: give a sweep file" in result.output
        assert "nothing was trained" in result.output
    assert list(tmp_path.iterdir()) == []  # no results directory, no database


@pytest.mark.parametrize(
    ("grid", "fixed", "name"),
    [
        pytest.param({"activation": ["relu", "gelu"], "dataset": ["digits"], "depth": [1, 2]}, {}, "relu-gelu_digits_d1-2", id="basic"),
        pytest.param({"activation": ["relu"], "seed": [0, 1, 2]}, {}, "relu_s3", id="seed-count"),
        pytest.param({"activation": ["relu"], "seed": [0, 5]}, {}, "relu_s0-5", id="seed-list"),
        pytest.param({"activation": ["relu"]}, {"epochs": 0, "lr": 0.01}, "relu_lr0.01_e0", id="fixed-readable"),
        pytest.param({"activation": ["relu"]}, {"init": "xavier"}, "relu_", id="fixed-hashed"),
        pytest.param({"activation": ["leaky_relu(negative_slope=0.2)"]}, {}, "leaky_relunegative_slope0.2", id="params"),
        pytest.param({"optimizer": ["adam", "sgd"]}, {}, "optimizeradam-sgd", id="other-axis"),
    ],
)  # fmt: skip
def test_command_line_sweep_names(grid: dict[str, list[Any]], fixed: dict[str, Any], name: str) -> None:
    got = name_from_overrides(grid, fixed)
    assert got.startswith(name) and len(got) <= 60
    assert got == name_from_overrides(dict(grid), dict(fixed))  # stable
    if fixed.get("init"):
        assert len(got) == len(name) + 6 and got != name_from_overrides(grid, {"init": "lecun"})


def test_long_names_are_cut_with_a_hash() -> None:
    acts = ["relu", "leaky_relu", "prelu", "elu", "gelu", "silu", "tanh", "sigmoid"]
    a = name_from_overrides({"activation": acts, "dataset": ["digits", "mnist1d", "manifold"]}, {})
    b = name_from_overrides({"activation": acts, "dataset": ["digits", "mnist1d", "clusters"]}, {})
    assert len(a) <= 60 and len(b) <= 60 and a != b and a[:40] == b[:40]


def test_epochs_zero_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    result = runner.invoke(app, ["run", "--activations", "relu", "--epochs", "0", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "note: --epochs 0 trains nothing: each run measures the initial weights only" in result.output


# ---------------------------------------------------------------------------- environment, completion


def test_environment_variables_are_read_and_shown_in_help() -> None:
    result = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})
    for name in ("ACTCMP_JOBS", "ACTCMP_DEVICE", "ACTCMP_DATA_DIR", "ACTCMP_OUT"):
        assert name in result.output, name
    result = runner.invoke(app, ["run", "smoke", "--dry-run"], env={"ACTCMP_JOBS": "0"})
    assert result.exit_code == 2 and "--jobs (ACTCMP_JOBS=0) must be at least 1, got 0" in result.output
    result = runner.invoke(app, ["run", "smoke", "--dry-run"], env={"ACTCMP_DEVICE": "tpu"})
    assert result.exit_code == 2 and "--device (ACTCMP_DEVICE=tpu): unknown device 'tpu'" in result.output
    result = runner.invoke(app, ["run", "smoke", "--dry-run", "--device", "cpu"], env={"ACTCMP_DEVICE": "tpu"})
    assert result.exit_code == 0  # the option wins over the environment


def test_shell_completion_is_offered(monkeypatch: pytest.MonkeyPatch) -> None:
    import typer.completion

    result = runner.invoke(app, ["--help"], env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})
    assert "--install-completion" in result.output and "--show-completion" in result.output
    # the shell is detected from the parent process (under a test runner it may be sh, which
    # Typer has no script for): the test names it
    monkeypatch.setattr(typer.completion, "_get_shell_name", lambda: "bash")
    result = runner.invoke(app, ["--show-completion", "bash"])
    assert result.exit_code == 0 and "_ACTCMP_COMPLETE" in result.output.upper()
