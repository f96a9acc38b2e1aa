"""actcmp.overrides: the CLI's override rules, shared with the Python API."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import actcmp
from actcmp.cli import app
from actcmp.errors import ConfigError
from actcmp.overrides import parse_assignments, resolve_config_path, seed_list, sweep_from_command_line


def test_the_python_api_plans_what_the_command_line_plans() -> None:
    words = ["run", "smoke", "--depths", "4", "--seeds", "3", "--set", "epochs=1", "--grid", "lr=0.1,0.01"]
    result = CliRunner().invoke(app, [*words, "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    sweep = actcmp.sweep_from_command_line("smoke", depths="4", seeds="3", fixed=["epochs=1"], grid=["lr=0.1,0.01"])
    assert sweep.grid == plan["grid"] and sweep.grid["depth"] == [4] and sweep.grid["seed"] == [0, 1, 2]
    assert sweep.fixed["epochs"] == plan["fixed"]["epochs"] == 1 and sweep.name == plan["name"] == "smoke"


def test_a_fixed_field_that_replaces_a_grid_axis_is_noted() -> None:
    notes: list[str] = []
    sweep = sweep_from_command_line("smoke", fixed=["depth=3"], note=notes.append)
    assert "depth" not in sweep.grid and sweep.fixed["depth"] == 3
    assert notes == ["note: --set depth=3 replaces the grid axis depth = [1, 2]"]


def test_a_sweep_of_options_only_is_named_from_what_it_varies() -> None:
    sweep = sweep_from_command_line(activations="relu,gelu", datasets="digits", depths="1,2")
    assert sweep.name == "relu-gelu_digits_d1-2" and sweep.source == "command line"
    assert sweep_from_command_line(activations="relu", name="mine").name == "mine"


@pytest.mark.parametrize(
    "kwargs,message",
    [
        pytest.param(
            {"depths": "4", "grid": ["depth=1,2"]}, "--depths 4 and --grid depth=1,2 both set depth", id="twice"
        ),
        pytest.param({"seeds": "x"}, "give a count (3) or a list of seeds", id="seeds"),
        pytest.param({"fixed": ["epochs"]}, "--set 'epochs': expected KEY=VALUE", id="no-equals"),
        pytest.param({"activations": ""}, "--activations: empty list", id="empty"),
        pytest.param({"name": "a/b"}, "--name", id="bad-name"),
    ],
)
def test_mistakes_are_refused_where_they_were_written(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        sweep_from_command_line(None, datasets="digits", **kwargs)  # type: ignore[arg-type]


def test_bundled_names_and_close_matches() -> None:
    assert resolve_config_path("smoke").name == "smoke.toml"
    assert resolve_config_path("claims/dying").as_posix().endswith("claims/dying.toml")
    with pytest.raises(ConfigError, match="did you mean 'smoke'"):
        resolve_config_path("smok")


def test_assignments_and_seed_counts() -> None:
    assert parse_assignments(["a=1", " b = x=y ", "a=2"], "--set") == {"a": "2", "b": "x=y"}
    assert seed_list("3") == [0, 1, 2] and seed_list("0,5,7") == [0, 5, 7]
    with pytest.raises(ConfigError, match="more seeds than the limit of 10 runs"):
        seed_list("11", max_runs=10)
