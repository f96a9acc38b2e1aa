"""Names of command-line sweeps: unrelated sweeps never share a name (and a directory)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from actcmp.cli import app
from actcmp.sweep_name import name_from_overrides

runner = CliRunner()


def planned_out(args: list[str]) -> str:
    result = runner.invoke(app, ["run", "--activations", "relu", "--datasets", "digits", *args, "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)["out"])


def test_seed_count_and_one_seed_get_different_directories(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACTCMP_OUT", raising=False)
    count = planned_out(["--seeds", "3"])  # seeds 0, 1, 2
    fixed = planned_out(["--set", "seed=3"])  # seed 3 only
    axis = planned_out(["--grid", "seed=3"])  # seed 3 only, as a one-value axis
    listed = planned_out(["--seeds", "0,1,2"])  # the same runs as --seeds 3
    assert count == str(Path("results") / "relu_digits_s3")
    assert fixed == axis == str(Path("results") / "relu_digits_seed3")
    assert listed == count


SEED_FORMS = [
    [0],
    [1],
    [2],
    [3],
    [0, 1],
    [0, 1, 2],
    [1, 2],
    [2, 3],
    [0, 2],
    [0, 5, 7],
    [12],
    [1, 2, 3],
    [10, 11],
]


def test_every_seed_form_names_its_own_set_of_seeds() -> None:
    """Two seed axes get the same name exactly when they hold the same seeds; a fixed seed
    reads as a one-value axis of that seed (the same runs)."""
    names: dict[str, frozenset[int]] = {}
    for seeds in SEED_FORMS:
        for name in (
            name_from_overrides({"activation": ["relu"], "seed": seeds}, {}),
            *([name_from_overrides({"activation": ["relu"]}, {"seed": seeds[0]})] if len(seeds) == 1 else []),
        ):
            assert names.setdefault(name, frozenset(seeds)) == frozenset(seeds), (name, seeds)
    assert len(names) == len(SEED_FORMS)


def test_seed_forms_read_as_documented() -> None:
    grid = {"activation": ["relu"]}
    assert name_from_overrides({**grid, "seed": [0, 1, 2]}, {}) == "relu_s3"
    assert name_from_overrides({**grid, "seed": [0, 5, 7]}, {}) == "relu_s0-5-7"
    assert name_from_overrides(grid, {"seed": 3}) == "relu_seed3"
    assert name_from_overrides({**grid, "seed": [3]}, {}) == "relu_seed3"
    assert name_from_overrides({**grid, "seed": [0]}, {}) == "relu_seed0"  # --seeds 1: seed 0 alone
