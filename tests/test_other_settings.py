"""A sweep run again under its name with other settings says so (its cells stand apart in the
status and the report); the same sweep extended (more seeds, activations) says nothing."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from actcmp.cli import app
from actcmp.run.sweep import other_settings

runner = CliRunner()

SMOKE = {"fixed": {"epochs": 3, "width": 32}, "grid": {"dataset": ["digits"], "seed": [0, 1]}}


def test_a_changed_setting_is_named_with_both_values() -> None:
    mine = {"fixed": {"epochs": 1, "width": 32}, "grid": {"dataset": ["digits"], "seed": [0, 1]}}
    assert other_settings(mine, [SMOKE]) == ["epochs 3 stored, 1 now"]


def test_an_extension_of_the_same_axes_is_the_same_sweep() -> None:
    mine = {"fixed": {"epochs": 3, "width": 32}, "grid": {"dataset": ["digits", "mnist1d"], "seed": [0, 1, 2]}}
    assert other_settings(mine, [SMOKE]) == []


def test_a_default_written_out_is_no_difference() -> None:
    mine = {"fixed": {"epochs": 3, "width": 32, "lr": 0.001}, "grid": SMOKE["grid"]}  # 0.001: RunConfig's default
    assert other_settings(mine, [SMOKE]) == []


def test_an_axis_only_one_version_varies_is_named_with_its_values() -> None:
    mine = {"fixed": {"epochs": 3, "width": 32}, "grid": {**SMOKE["grid"], "lr": [0.01, 0.1]}}
    assert other_settings(mine, [SMOKE]) == ["lr 0.001 stored, 0.01/0.1 now"]  # 0.001: RunConfig's default
    assert other_settings(SMOKE, [mine]) == ["lr 0.01/0.1 stored, 0.001 now"]


def test_an_axis_fixed_at_one_of_its_values_is_the_same_sweep_narrowed() -> None:
    mine = {"fixed": {"epochs": 3, "width": 32, "seed": 1}, "grid": {"dataset": ["digits"]}}  # --set seed=1
    assert other_settings(mine, [SMOKE]) == []
    assert other_settings(SMOKE, [mine]) == []


def test_run_and_dry_run_say_it(tmp_path: Path) -> None:
    out = str(tmp_path / "res")
    assert runner.invoke(app, ["run", "smoke", "--out", out, "--epochs", "0", "--quiet"]).exit_code == 0
    extended = runner.invoke(app, ["run", "smoke", "--out", out, "--epochs", "0", "--seeds", "3", "--dry-run"])
    assert extended.exit_code == 0 and "other settings" not in extended.output
    for extra in (["--dry-run"], []):
        result = runner.invoke(app, ["run", "smoke", "--out", out, "--set", "width=16", "--epochs", "0", *extra])
        assert result.exit_code == 0, result.output
        assert "also holds sweep 'smoke' with other settings (width 32 stored, 16 now)" in result.output
