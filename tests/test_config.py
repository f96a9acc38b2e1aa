"""Config validation, grid expansion and run identity."""

from __future__ import annotations

from pathlib import Path

import pytest

from actcmp.config import (
    RunConfig,
    apply_overrides,
    expand_grid,
    load_sweep,
    make_run,
    run_id,
    split_list,
    sweep_from_dict,
)
from actcmp.engine.plain import resolve
from actcmp.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("fixed", "grid", "expected"),
    [
        pytest.param({}, {}, [{}], id="no-grid-one-run"),
        pytest.param({"epochs": 2}, {"depth": [1, 2]}, [{"depth": 1}, {"depth": 2}], id="one-key"),
        pytest.param(
            {},
            {"depth": [1, 2], "activation": ["relu", "tanh"]},
            [
                {"depth": 1, "activation": "relu"},
                {"depth": 1, "activation": "tanh"},
                {"depth": 2, "activation": "relu"},
                {"depth": 2, "activation": "tanh"},
            ],
            id="last-key-fastest",
        ),
        pytest.param({"depth": 3}, {"depth": [1]}, [{"depth": 1}], id="grid-wins-over-fixed"),
        pytest.param(
            {},
            {"activation": ["swish", "silu", "relu"]},
            [{"activation": "silu"}, {"activation": "relu"}],
            id="aliases-deduplicated",
        ),
        pytest.param({}, {"lr": [0.1, 0.01], "seed": [0, 1, 2]}, 6, id="count"),
    ],
)
def test_expand_grid(fixed: dict, grid: dict, expected: list[dict] | int) -> None:
    runs = expand_grid(fixed, grid)
    if isinstance(expected, int):
        assert len(runs) == expected
        return
    assert len(runs) == len(expected)
    for run, want in zip(runs, expected, strict=True):
        for key, value in want.items():
            assert getattr(run, key) == value
        for key, value in fixed.items():
            if key not in grid:
                assert getattr(run, key) == value


@pytest.mark.parametrize(
    ("fixed", "grid", "fragment"),
    [
        pytest.param({"lrr": 0.1}, {}, "unknown key 'lrr' (did you mean 'lr'?)", id="unknown-fixed"),
        pytest.param({}, {"activations": ["relu"]}, "did you mean 'activation'", id="unknown-grid"),
        pytest.param({}, {"depth": []}, "empty list", id="empty-grid"),
        pytest.param({}, {"depth": 3}, "must be a list", id="grid-not-list"),
        pytest.param({"depth": 0}, {}, "depth", id="zero-depth"),
        pytest.param({"width": -1}, {}, "width", id="negative-width"),
        pytest.param({"lr": 0}, {}, "lr", id="zero-lr"),
        pytest.param({"lr": "fast"}, {}, "lr", id="lr-not-number"),
        pytest.param({"bottleneck": 128, "width": 64}, {}, "wider than width", id="bottleneck-wide"),
        pytest.param({"optimizer": "rmsprop"}, {}, "optimizer", id="bad-optimizer"),
        pytest.param({"init": "orthogonal"}, {}, "init", id="bad-init"),
        pytest.param(
            {"loss": "bce", "output_activation": "identity"}, {}, "needs outputs in (0, 1)", id="bce-identity"
        ),
        pytest.param(
            {"loss": "ce", "output_activation": "sigmoid"}, {}, "needs output_activation softmax", id="ce-sigmoid"
        ),
        pytest.param({"output_activation": "relu"}, {}, "output activation must be one of", id="bad-output"),
        pytest.param({}, {"activation": ["relu", "gelux"]}, "activation=gelux", id="names-grid-point"),
        pytest.param({}, {"dataset": ["digts"]}, "did you mean 'digits'", id="bad-dataset"),
    ],
)
def test_bad_configs(fixed: dict, grid: dict, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        expand_grid(fixed, grid)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_load_sweep_files(tmp_path: Path) -> None:
    for name in ("default", "smoke"):
        sweep = load_sweep(REPO / "experiments" / f"{name}.toml")
        assert sweep.name == name
        assert sweep.runs()
    default = load_sweep(REPO / "experiments" / "default.toml")
    assert len(default.runs()) == 8 * 3 * 4 * 3


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param("name = 'x'\n[grid\n", "invalid TOML", id="syntax"),
        pytest.param("epochz = 3\n", "unknown key 'epochz' (did you mean 'epochs'?)", id="unknown-top"),
        pytest.param("grid = 3\n", "'grid' must be a table", id="grid-scalar"),
        pytest.param("name = 'has space'\n", "name", id="bad-name"),
        pytest.param("[grid]\ndepth = []\n", "empty list", id="empty-list"),
        pytest.param("[grid]\ndepht = [1]\n", "did you mean 'depth'", id="grid-typo"),
    ],
)
def test_bad_sweep_files(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_sweep(path).runs()
    assert fragment in str(info.value)


def test_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_sweep(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="is a directory"):
        load_sweep(tmp_path)


def test_overrides() -> None:
    sweep = sweep_from_dict({"epochs": 5, "grid": {"depth": [1, 2], "activation": ["relu"]}})
    new = apply_overrides(sweep, grid={"activation": ["tanh", "elu"]}, fixed={"depth": 3, "lr": 0.01})
    runs = new.runs()
    assert {r.activation for r in runs} == {"tanh", "elu"}
    assert {r.depth for r in runs} == {3}
    assert all(r.lr == 0.01 and r.epochs == 5 for r in runs)
    with pytest.raises(ConfigError, match="did you mean 'lr'"):
        apply_overrides(sweep, fixed={"lrr": 1})


def test_run_id_stable_and_sensitive() -> None:
    a = resolve(make_run({"activation": "relu", "depth": 2}), "sigmoid", "mse")
    b = resolve(make_run({"depth": 2, "activation": "ReLU"}), "sigmoid", "mse")
    c = resolve(make_run({"activation": "relu", "depth": 3}), "sigmoid", "mse")
    assert a["run_id"] == b["run_id"] != c["run_id"]
    assert len(a["run_id"]) == 16 and a["run_id"] == run_id({k: v for k, v in a.items() if k != "run_id"})
    # pinned: a change to the hashing or the resolved fields must be deliberate (bump RESULTS_VERSION)
    assert a["run_id"] == "91720de62d6d060c"
    # auto fields are resolved, so auto and its explicit value share an id
    explicit = resolve(
        make_run({"activation": "relu", "depth": 2, "init": "kaiming", "loss": "mse", "output_activation": "sigmoid"}),
        "sigmoid",
        "mse",
    )
    assert explicit["run_id"] == a["run_id"]
    assert a["init"] == "kaiming"
    assert resolve(make_run({"activation": "tanh"}), "sigmoid", "mse")["init"] == "xavier"
    assert resolve(make_run({"activation": "selu"}), "sigmoid", "mse")["init"] == "lecun"


def test_a_field_added_later_keeps_stored_ids_at_its_old_meaning() -> None:
    # probe_every came after RESULTS_VERSION 1: at 1 (what every older run did) it is left
    # out of the id, so stored runs keep theirs; any other value is a different run
    a = resolve(make_run({"activation": "relu", "depth": 2}), "sigmoid", "mse")
    assert a["probe_every"] == 1 and a["run_id"] == "91720de62d6d060c"
    old = {k: v for k, v in a.items() if k not in ("run_id", "probe_every")}
    assert run_id(old) == a["run_id"]
    every2 = resolve(make_run({"activation": "relu", "depth": 2, "probe_every": 2}), "sigmoid", "mse")
    assert every2["run_id"] != a["run_id"]
    with pytest.raises(ConfigError, match="probe_every"):
        make_run({"probe_every": 0})


def test_split_list() -> None:
    assert split_list("relu, leaky_relu(negative_slope=0.2,),gelu") == [
        "relu",
        "leaky_relu(negative_slope=0.2,)",
        "gelu",
    ]
    assert split_list("a,b(x=1,y=2)") == ["a", "b(x=1,y=2)"]
    assert split_list("") == []


def test_runconfig_is_frozen_and_forbids_extra() -> None:
    run = RunConfig()
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen error type
        run.depth = 3  # type: ignore[misc]
    with pytest.raises(ConfigError):
        make_run({"nonsense": 1})


@pytest.mark.parametrize(
    ("key", "value", "where", "message"),
    [
        pytest.param(
            "epochs",
            "three",
            "experiments/x.toml",
            "experiments/x.toml: epochs: Input should be a valid integer, unable to parse string as an integer, "
            "got 'three'",
            id="file-type",
        ),
        pytest.param(
            "output_activation",
            "relu",
            "--set",
            "--set: output_activation: output activation must be one of auto, identity, sigmoid, tanh, softmax; "
            "got 'relu'",
            id="own-validator-not-doubled",
        ),
        pytest.param(
            "name",
            "x",
            "--set",
            "--set: 'name' belongs to the sweep, not to a run: use --name, or name = ... at the top of the sweep TOML",
            id="sweep-key",
        ),
        pytest.param("activation", "reluu", "--set", "--set: unknown activation 'reluu'", id="activation"),
    ],
)
def test_check_field_messages(key: str, value: object, where: str, message: str) -> None:
    from actcmp.config import check_field

    with pytest.raises(ConfigError) as info:
        check_field(key, value, where)
    assert str(info.value).startswith(message)
    assert "did you mean 'name'" not in str(info.value)


def test_check_field_leaves_rules_between_fields_to_the_run() -> None:
    from actcmp.config import check_field

    check_field("bottleneck", 100, "x")  # wider than the default width: fine on its own


def test_bad_values_in_a_file_are_reported_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text('epochs = "three"\n[grid]\nactivation = ["relu", "tanh"]\n')
    with pytest.raises(ConfigError) as info:
        load_sweep(path)
    assert str(info.value).startswith(f"{path}: epochs: Input should be a valid integer")
    assert "grid point" not in str(info.value)
    path.write_text("[grid]\nlr = [0.1, -1]\n")
    with pytest.raises(ConfigError, match=r"x\.toml: grid\.lr: Input should be greater than 0, got -1"):
        load_sweep(path)
    path.write_text("width = 4\nbottleneck = 8\n")  # a rule between fields: found when runs are made
    with pytest.raises(ConfigError, match=r"x\.toml: bottleneck \(8\) is wider than width \(4\)"):
        load_sweep(path).runs()


def test_unknown_key_never_suggests_itself() -> None:
    for key in ("name", "description", "grid"):
        with pytest.raises(ConfigError) as info:
            apply_overrides(sweep_from_dict({}), fixed={key: "x"})
        assert f"did you mean '{key}'" not in str(info.value)
        assert "belongs to the sweep" in str(info.value)
