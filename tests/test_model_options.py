"""Model shapes, initialisation, the sparse and denoising variants, post-activation
statistics (issue 15): config validation, run ids, and both engines (float64 to 1e-9)."""

from __future__ import annotations

import functools
import math
from typing import Any

import pytest
import torch

from actcmp.config import ConfigError, make_run
from actcmp.core.activations import parse_activation
from actcmp.core.model import cfg_dims, init_tensors, layer_dims
from actcmp.core.variants import activity_penalty, corrupt, penalised_layers
from actcmp.datasets import load_dataset
from actcmp.engine.batched import train_group
from actcmp.engine.plain import resolve, train_run
from tests.test_engine_batched import assert_same

BASE = {"dataset": "digits", "width": 12, "bottleneck": 3, "batch_size": 64, "probe_size": 48, "epochs": 2}


def resolved(**values: Any) -> dict[str, Any]:
    base = {k: v for k, v in BASE.items() if not ("widths" in values and k == "width")}
    cfg = make_run({**base, **values})
    info = digits(0).info
    return resolve(cfg, info.output_activation, info.loss)


@functools.cache
def digits(seed: int) -> Any:
    return load_dataset("digits", seed, 0.15, 0.15)


# ----------------------------------------------------------------------------- config


def test_new_fields_at_default_keep_the_run_id() -> None:
    """A config spelling every new field at its default has the id of one without them."""
    plain = resolved()
    spelled = resolved(
        init_distribution="uniform", bias_init="auto", activity_l1=0, activity_l1_on="code",
        input_noise=0.0, input_noise_kind="gaussian",
    )  # fmt: skip
    assert plain["run_id"] == spelled["run_id"]
    assert plain["init_gain"] == pytest.approx(math.sqrt(2.0)) and plain["init_bias"] == "zeros"
    # without effect, the kind of penalty or noise is no new run
    assert resolved(activity_l1_on="hidden")["run_id"] == plain["run_id"]
    assert resolved(input_noise_kind="mask")["run_id"] == plain["run_id"]


@pytest.mark.parametrize(
    "values",
    [
        {"widths": [12, 6]},
        {"init_distribution": "normal"},
        {"init_distribution": "truncated_normal"},
        {"bias_init": "zeros"},
        {"bias_init": 0.1},
        {"activity_l1": 1e-3},
        {"input_noise": 0.1},
    ],
)
def test_new_fields_set_change_the_run_id(values: dict[str, Any]) -> None:
    assert resolved(**values)["run_id"] != resolved()["run_id"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"init_distribution": "normall"}, "did you mean 'normal'"),
        ({"bias_init": "zero"}, "did you mean 'zeros'"),
        ({"activity_l1_on": "hiden"}, "did you mean 'hidden'"),
        ({"input_noise_kind": "gausian"}, "did you mean 'gaussian'"),
        ({"widths": []}, "at least one"),
        ({"widths": [12, 0]}, "whole numbers"),
        ({"widths": [12, 6], "depth": 2}, "gives depth 3"),
        ({"widths": [12, 6], "width": 64}, "gives width 12"),
        ({"input_noise": 1.0, "input_noise_kind": "mask"}, "below 1"),
        ({"activity_l1": -1}, "greater than or equal"),
    ],
)
def test_bad_values_are_one_line_errors(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        make_run(values)
    assert "\n" not in str(info.value)


def test_widths_set_depth_and_width() -> None:
    cfg = resolved(widths=[1000, 500, 250], bottleneck=30)
    assert (cfg["depth"], cfg["width"], cfg["widths"]) == (4, 1000, [1000, 500, 250])
    assert [o for _, o in cfg_dims(cfg, 784)] == [1000, 500, 250, 30, 250, 500, 1000, 784]
    assert resolved(widths="12-6")["widths"] == [12, 6]  # the --set spelling
    # constant width, the code layer as wide as the hidden ones (and the input) when asked
    wide = resolved(widths=[64, 64, 64, 64], bottleneck=64)
    assert [o for _, o in cfg_dims(wide, 64)] == [64] * 9 + [64] and wide["depth"] == 5
    assert layer_dims(64, 3, 64, 64) == [(64, 64)] * 6  # the shorthand: width == bottleneck


def test_cli_refuses_unknown_value(tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from actcmp.cli import app

    result = CliRunner().invoke(app, ["run", "--set", "init_distribution=gaussian", "--dry-run"])
    assert result.exit_code == 2, result.output
    assert "init_distribution" in result.output and "Traceback" not in result.output


# ----------------------------------------------------------------------------- init


def test_init_distributions_have_the_rules_std() -> None:
    spec = parse_activation("relu")
    dims = [(400, 300), (300, 400)]
    for distribution in ("uniform", "normal", "truncated_normal"):
        weight = init_tensors(dims, "kaiming", spec, 0, torch.float64, distribution=distribution)[0][0]
        assert float(weight.std()) == pytest.approx(math.sqrt(2 / 400), rel=0.02), distribution
    normal = init_tensors(dims, "lecun", spec, 0, torch.float64, distribution="normal")[0][0]
    truncated = init_tensors(dims, "lecun", spec, 0, torch.float64, distribution="truncated_normal")[0][0]
    uniform = init_tensors(dims, "lecun", spec, 0, torch.float64)[0][0]
    std = 1 / math.sqrt(400)
    assert float(normal.abs().max()) > 3 * std  # unbounded
    assert float(truncated.abs().max()) <= 2 * std / 0.8796256610342398 + 1e-12
    assert float(uniform.abs().max()) <= math.sqrt(3) * std + 1e-12
    # uniform is today's draw: the default keeps every stored number
    assert torch.equal(uniform, init_tensors(dims, "lecun", spec, 0, torch.float64, distribution="uniform")[0][0])


def test_bias_init() -> None:
    spec = parse_activation("tanh")
    dims = [(10, 5), (5, 10)]
    zeros = init_tensors(dims, "xavier", spec, 0, bias="auto")
    torch_default = init_tensors(dims, "xavier", spec, 0, bias="torch-default")
    constant = init_tensors(dims, "xavier", spec, 0, bias=0.25)
    assert all(float(b.abs().max()) == 0 for _, b in zeros)
    assert all(0 < float(b.abs().max()) <= 1 / math.sqrt(10) for _, b in torch_default[:1])
    assert all(bool((b == 0.25).all()) for _, b in constant)
    assert all(torch.equal(w1, w2) for (w1, _), (w2, _) in zip(zeros, constant, strict=True))  # weights unchanged


# ----------------------------------------------------------------------------- variants


def test_activity_penalty_is_mean_over_batch_of_sum_over_units() -> None:
    post = [torch.tensor([[1.0, -2.0], [3.0, 0.0]]), torch.tensor([[0.5], [-0.5]]), torch.tensor([[1.0, 1.0]] * 2)]
    cfg = {"depth": 2, "activity_l1": 0.1, "activity_l1_on": "code"}
    assert penalised_layers(cfg) == [1]
    assert float(activity_penalty(post, cfg)) == pytest.approx(0.1 * 0.5)  # type: ignore[arg-type]
    cfg["activity_l1_on"] = "hidden"
    assert float(activity_penalty(post, cfg)) == pytest.approx(0.1 * (3.0 + 0.5 + 2.0))  # type: ignore[arg-type]
    assert activity_penalty(post, {"depth": 2, "activity_l1": 0.0}) is None


def test_corruption_is_deterministic_per_seed_and_epoch() -> None:
    x = torch.rand(50, 8, dtype=torch.float64)
    gauss = {"input_noise": 0.1, "input_noise_kind": "gaussian"}
    a, b = corrupt(x, gauss, 0, 1), corrupt(x, gauss, 0, 1)
    assert (
        torch.equal(a, b)
        and not torch.equal(a, corrupt(x, gauss, 0, 2))
        and not torch.equal(a, corrupt(x, gauss, 1, 1))
    )
    assert float((a - x).std()) == pytest.approx(0.1, rel=0.15)
    masked = corrupt(x, {"input_noise": 0.3, "input_noise_kind": "mask"}, 0, 1)
    kept = masked == x
    assert bool(((masked == 0) | kept).all()) and 0.15 < float((~kept).double().mean()) < 0.45
    assert corrupt(x, {}, 0, 1) is x


@pytest.mark.slow
def test_variants_change_training_but_not_what_is_measured() -> None:
    """Penalty and noise change the trained weights; at epoch 0 (before any step) every
    number is the unpenalised run's: the recorded losses are reconstruction losses."""
    data = digits(0)
    base = train_run(resolved(epochs=1), data, dtype=torch.float64)
    for values in ({"activity_l1": 0.01}, {"input_noise": 0.2}, {"input_noise": 0.2, "input_noise_kind": "mask"}):
        other = train_run(resolved(epochs=1, **values), data, dtype=torch.float64)
        assert other.epochs[:2] == base.epochs[:2], values
        assert other.epochs[-1][2] != base.epochs[-1][2], values


def test_sparse_penalty_makes_codes_sparser() -> None:
    data = digits(0)
    common = {"activation": "relu", "epochs": 4, "lr": 0.01}
    loose = train_run(resolved(**common), data)
    sparse = train_run(resolved(**common, activity_l1=0.05), data)

    def code_zero(run: Any) -> float:
        return next(v for e, i, m, v in run.layers if e == 4 and i == 1 and m == "zero_fraction")

    assert code_zero(sparse) > code_zero(loose)


def test_postact_statistics_in_plain_engine() -> None:
    run = train_run(resolved(activation="relu", epochs=0), digits(0))
    names = [m for e, i, m, _ in run.layers if e == 0 and i == 0]
    assert names.index("postact_mean") == names.index("preact_std") + 1
    stats = {m: v for e, i, m, v in run.layers if e == 0 and i == 0}
    assert stats["postact_mean"] >= 0 and stats["postact_std"] > 0  # relu outputs


# ----------------------------------------------------------------------------- both engines


@pytest.mark.slow
@pytest.mark.parametrize(
    "common",
    [
        pytest.param({"widths": [16, 9, 5]}, id="widths"),
        pytest.param({"width": 8, "bottleneck": 8, "depth": 3}, id="constant-width"),
        pytest.param({"init_distribution": "normal", "bias_init": 0.05}, id="normal-init-constant-bias"),
        pytest.param({"init_distribution": "truncated_normal", "bias_init": "torch-default"}, id="truncated"),
        pytest.param({"activity_l1": 0.01}, id="l1-code"),
        pytest.param({"activity_l1": 0.003, "activity_l1_on": "hidden"}, id="l1-hidden"),
        pytest.param({"input_noise": 0.3}, id="gaussian-noise"),
        pytest.param({"input_noise": 0.25, "input_noise_kind": "mask", "activity_l1": 0.001}, id="mask-and-l1"),
    ],
)
def test_float64_batched_equals_plain(common: dict[str, Any]) -> None:
    variants = [
        {"activation": "relu", "seed": 0},
        {"activation": "tanh", "seed": 1},
        {"activation": "elu", "seed": 0, "lr": 0.02},
        {"activation": "selu", "seed": 1},
    ]
    configs, datasets = [], []
    for variant in variants:
        cfg = resolved(**{"lr": 0.01, **common, **variant})
        configs.append(cfg)
        datasets.append(digits(cfg["seed"]))
    batched = train_group(configs, datasets, dtype=torch.float64)
    for cfg, data, b in zip(configs, datasets, batched, strict=True):
        assert_same(b, train_run(cfg, data, dtype=torch.float64), rtol=1e-9, atol=1e-12)
    assert any(m == "postact_std" for _, _, m, _ in batched[0].layers)


# ----------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_mnist_5k_with_widths_runs_and_reports_a_reconstruction_grid(tmp_path: Any) -> None:
    """The issue's acceptance: ``actcmp run`` with ``dataset = "mnist-5k"`` and ``widths``,
    then ``actcmp report``, which draws the reconstruction grid."""
    from typer.testing import CliRunner

    from actcmp.cli import app
    from actcmp.store.database import load_results

    sweep = tmp_path / "mnist.toml"
    sweep.write_text(
        'name = "mnist-widths"\ndataset = "mnist-5k"\nwidths = [64, 32]\nepochs = 1\nprobe_size = 64\n'
        '[grid]\nactivation = ["relu", "tanh"]\n',
        encoding="utf-8",
    )
    out = tmp_path / "res"
    runner = CliRunner()
    result = runner.invoke(app, ["run", str(sweep), "--out", str(out)])
    assert result.exit_code == 0, result.output
    runs = load_results(out).runs
    assert set(runs["status"]) == {"done"} and set(runs["depth"]) == {3} and set(runs["widths"]) == {(64, 32)}
    result = runner.invoke(app, ["report", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "figures" / "reconstructions_mnist-5k.png").stat().st_size > 1000


def test_widths_on_the_command_line(tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from actcmp.cli import app

    sweep = tmp_path / "s.toml"
    sweep.write_text('dataset = "digits"\nbottleneck = 4\n[grid]\nactivation = ["relu"]\n', encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(app, ["run", str(sweep), "--grid", "widths=16-8,12", "--dry-run", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "2 runs" in result.output, result.output
    # a sweep that sets depth cannot take widths of another depth: said in one line
    result = runner.invoke(app, ["run", "smoke", "--set", "widths=16-8", "--dry-run", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "widths [16, 8] gives depth 3, not 1" in result.output, result.output
