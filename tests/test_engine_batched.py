"""The batched engine against the plain per-run reference, on the same seeds.

float64 over several epochs to 1e-9 (what summation order leaves), float32 over the first
epoch; dead/saturated/died/revived fractions exactly. Plus the kernels and masks it uses
instead of autograd, divergence isolation, memory splitting and the sweep path.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

from actcmp.config import make_run
from actcmp.core.activations import REGISTRY, parse_activation
from actcmp.core.metrics import dead_mask, peak_derivative, saturated_mask
from actcmp.datasets import load_dataset
from actcmp.engine.batched import (
    _Act,
    estimate_group_bytes,
    max_models_for_memory,
    train_group,
)
from actcmp.engine.kernels import KERNELS
from actcmp.engine.plain import resolve, train_run

ALL_ACTIVATIONS = ["relu", "leaky_relu", "prelu", "elu", "gelu", "silu", "tanh", "sigmoid", "mish"]
EXACT = ("dead_fraction", "saturated_fraction", "died_fraction", "revived_fraction", "zero_fraction")
BASE = {"width": 12, "bottleneck": 3, "batch_size": 64, "probe_size": 48}


def group(dataset: str, variants: list[dict[str, Any]], **common: Any) -> tuple[list[dict[str, Any]], list[Any]]:
    configs, datasets = [], []
    for variant in variants:
        cfg = make_run({"dataset": dataset, **BASE, **common, **variant})
        data = load_dataset(cfg.dataset, cfg.seed, cfg.val_fraction, cfg.test_fraction)
        configs.append(resolve(cfg, data.info.output_activation, data.info.loss))
        datasets.append(data)
    return configs, datasets


def mixed(activations: list[str]) -> list[dict[str, Any]]:
    """Different seeds, learning rates, optimizers and weight decays side by side."""
    optimizers = ["adam", "adamw", "sgd"]
    return [
        {
            "activation": act,
            "seed": i % 2,
            "lr": [0.003, 0.01, 0.02][i % 3] if optimizers[i % 3] != "sgd" else 0.05,
            "optimizer": optimizers[i % 3],
            "weight_decay": 0.01 if i % 4 == 1 else 0.0,
        }
        for i, act in enumerate(activations)
    ]


def assert_same(batched: Any, plain: Any, rtol: float, atol: float, exact_fractions: bool = True) -> None:
    assert batched.env["engine"] == "batched"
    assert batched.run_id == plain.run_id and batched.config == plain.config
    assert batched.status == plain.status
    assert [(e, m) for e, m, _ in batched.epochs] == [(e, m) for e, m, _ in plain.epochs]
    assert [(e, i, m) for e, i, m, _ in batched.layers] == [(e, i, m) for e, i, m, _ in plain.layers]
    name = batched.config["activation"]
    for (epoch, metric, b), (_, _, p) in zip(batched.epochs, plain.epochs, strict=True):
        assert math.isclose(b, p, rel_tol=rtol, abs_tol=atol) or (math.isnan(b) and math.isnan(p)), (
            name, epoch, metric, b, p)  # fmt: skip
    for (epoch, layer, metric, b), (_, _, _, p) in zip(batched.layers, plain.layers, strict=True):
        if metric in EXACT and exact_fractions:
            assert b == p, (name, epoch, layer, metric, b, p)
        else:
            assert math.isclose(b, p, rel_tol=rtol, abs_tol=atol) or (math.isnan(b) and math.isnan(p)), (
                name, epoch, layer, metric, b, p)  # fmt: skip
    assert batched.final.keys() == plain.final.keys()
    for key, p in plain.final.items():
        b = batched.final[key]
        if p is None or b is None:
            assert p is None and b is None, (name, key, b, p)
        else:
            assert math.isclose(b, p, rel_tol=max(rtol, 1e-9), abs_tol=atol), (name, key, b, p)


def both(configs: list[dict[str, Any]], datasets: list[Any], dtype: torch.dtype) -> list[tuple[Any, Any]]:
    batched = train_group(configs, datasets, dtype=dtype)
    plain = [train_run(cfg, data, dtype=dtype) for cfg, data in zip(configs, datasets, strict=True)]
    return list(zip(batched, plain, strict=True))


# ----------------------------------------------------------------------------- float64: same numbers


def uniform(activations: list[str]) -> list[dict[str, Any]]:
    """One optimizer setting for all (the fused Adam path), seeds alternating."""
    return [{"activation": act, "seed": i % 2, "lr": 0.01} for i, act in enumerate(activations)]


@pytest.mark.parametrize(
    ("dataset", "depth", "epochs", "variants"),
    [
        pytest.param("digits", 1, 3, mixed, id="digits-depth1-mixed-optimizers"),
        pytest.param("manifold", 3, 3, mixed, id="manifold-depth3-mixed-optimizers"),
        pytest.param("digits", 2, 2, uniform, id="digits-depth2-fused-adam"),
        pytest.param("breast_cancer", 2, 2, mixed, id="breast-cancer-depth2-anomaly-auroc"),
    ],
)
def test_float64_equals_plain_engine(dataset: str, depth: int, epochs: int, variants: Any) -> None:
    configs, datasets = group(dataset, variants(ALL_ACTIVATIONS), depth=depth, epochs=epochs)
    for batched, plain in both(configs, datasets, torch.float64):
        assert_same(batched, plain, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    "budget",
    [1, 25 * 64 * 8, 1 << 30],  # one model per slice, 64 probe rows, float64: 512 bytes per unit
    ids=["one-layer-per-group", "groups-of-about-25-units", "all-layers-in-one-group"],
)
def test_layer_grouping_does_not_change_the_metrics(monkeypatch: pytest.MonkeyPatch, budget: int) -> None:
    """The probe counts layers in cache-sized groups (``METRIC_GROUP_BYTES``); at either
    extreme, and in between, every layer metric is still the plain engine's (depth 5: nine
    hidden layers, 12 units down to 3 and back)."""
    import actcmp.engine.measure as engine_measure

    monkeypatch.setattr(engine_measure, "METRIC_GROUP_BYTES", budget)
    variants = mixed(["relu", "prelu", "gelu", "tanh", "leaky_relu", "elu"])
    configs, datasets = group("digits", variants, depth=5, epochs=2, probe_size=64)
    for batched, plain in both(configs, datasets, torch.float64):
        assert_same(batched, plain, rtol=1e-9, atol=1e-12)


def test_float64_softmax_output_and_autograd_backed_activations() -> None:
    # distributions: softmax output, cross-entropy loss; selu/softsign train through autograd
    names = ["relu", "softsign", "selu", "hardswish", "softplus", "gelu_tanh", "celu"]
    configs, datasets = group("distributions", uniform(names), depth=2, epochs=2)
    assert configs[0]["loss"] == "ce"
    for batched, plain in both(configs, datasets, torch.float64):
        assert_same(batched, plain, rtol=1e-9, atol=1e-12)


def test_results_come_back_in_the_given_order() -> None:
    variants = [{"activation": a, "seed": s} for a, s in [("tanh", 1), ("relu", 0), ("prelu", 1), ("relu", 1)]]
    configs, datasets = group("digits", variants, depth=1, epochs=0)
    results = train_group(configs, datasets, dtype=torch.float64)
    assert [r.run_id for r in results] == [c["run_id"] for c in configs]
    assert all(r.final["epochs_run"] == 0.0 and r.status == "done" for r in results)


# ----------------------------------------------------------------------------- float32: first epoch


def test_float32_first_epoch_close_to_plain_engine() -> None:
    configs, datasets = group("digits", mixed(ALL_ACTIVATIONS), depth=2, epochs=1)
    for batched, plain in both(configs, datasets, torch.float32):
        # float32 summation order differs between batched and single matmuls
        assert_same(batched, plain, rtol=2e-4, atol=1e-6, exact_fractions=False)
        fractions = [
            (b, p) for (_, _, m, b), (_, _, _, p) in zip(batched.layers, plain.layers, strict=True) if m in EXACT
        ]
        assert sum(b != p for b, p in fractions) <= 1


# ----------------------------------------------------------------------------- end of run


def test_end_of_run_histogram_passes_and_aurocs_give_each_runs_own_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The end of a run counts all the group's pre-activation histograms in shared passes
    (``PREACT_HIST_PASS_VALUES`` values each) and ranks the group's AUROCs in one call: with
    a pass per model or one for all, every run's rows, final metrics and samples are the
    same; each AUROC is scikit-learn's float on the run's stored test errors, a diverged
    run's None."""
    from sklearn.metrics import roc_auc_score

    import actcmp.engine.batched as engine_batched
    from actcmp.engine.samples import decode

    diverging = {"activation": "identity", "optimizer": "sgd", "lr": 50.0, "momentum": 0.9}
    variants = [*uniform(["relu", "tanh", "gelu", "elu"]), diverging]
    configs, datasets = group("clusters", variants, depth=2, epochs=2)
    found = {}
    for bound in (1, 1 << 30):
        monkeypatch.setattr(engine_batched, "PREACT_HIST_PASS_VALUES", bound)
        found[bound] = train_group(configs, datasets)
    for apart, together in zip(found[1], found[1 << 30], strict=True):
        # exactly equal, a diverged run's nan included
        np.testing.assert_equal((apart.layers, apart.final), (together.layers, together.final))
        assert apart.samples == together.samples
        assert any(m == "preact_hist_00" for _, _, m, _ in together.layers)
    *done, diverged = found[1 << 30]
    assert diverged.status == "diverged" and diverged.final["anomaly_auroc"] is None
    for result in done:
        stored = decode(result.samples["errors"])
        expected = float(roc_auc_score(stored["anomaly"].astype(int), stored["errors"]))
        assert result.final["anomaly_auroc"] == expected


# ----------------------------------------------------------------------------- divergence


def test_a_diverging_model_leaves_the_others_untouched() -> None:
    variants = [
        {"activation": "identity", "optimizer": "sgd", "lr": 50.0, "momentum": 0.9},  # diverges
        {"activation": "relu", "optimizer": "sgd", "lr": 0.05, "momentum": 0.9},
        {"activation": "tanh", "optimizer": "sgd", "lr": 0.05, "momentum": 0.0},
        {"activation": "prelu", "optimizer": "sgd", "lr": 50.0, "momentum": 0.0, "seed": 1},  # diverges
    ]
    configs, datasets = group("manifold", variants, depth=2, epochs=4)
    pairs = both(configs, datasets, torch.float64)
    assert [b.status for b, _ in pairs] == ["diverged", "done", "done", "diverged"]
    for batched, plain in pairs:
        assert_same(batched, plain, rtol=1e-9, atol=1e-12)
    # and the healthy ones are what they are when trained without the diverging ones
    alone = train_group(configs[1:3], datasets[1:3], dtype=torch.float64)
    for (batched, _), solo in zip(pairs[1:3], alone, strict=True):
        assert batched.epochs == solo.epochs and batched.layers == solo.layers


# ----------------------------------------------------------------------------- probe_every


def test_probe_every_measures_the_same_epochs_as_the_plain_engine() -> None:
    # layer metrics at 0, 3, 6 and the last epoch (7), and at each diverging run's last epoch;
    # losses at every epoch; died/revived against the last measurement
    variants = [
        {"activation": "identity", "optimizer": "sgd", "lr": 50.0, "momentum": 0.9},  # diverges
        {"activation": "relu", "optimizer": "sgd", "lr": 0.05, "momentum": 0.9},
        {"activation": "tanh", "optimizer": "sgd", "lr": 0.05, "momentum": 0.0},
        {"activation": "prelu", "optimizer": "sgd", "lr": 0.5, "momentum": 0.9, "seed": 1},
        {"activation": "gelu", "optimizer": "sgd", "lr": 0.2, "momentum": 0.9, "seed": 1},
    ]
    configs, datasets = group("manifold", variants, depth=2, epochs=7, probe_every=3)
    pairs = both(configs, datasets, torch.float64)
    assert pairs[0][0].status == "diverged"
    for batched, plain in pairs:
        assert_same(batched, plain, rtol=1e-9, atol=1e-12)
        assert sorted({e for e, _, _ in batched.epochs}) == list(range(int(batched.final["epochs_run"]) + 1))
        measured = sorted({e for e, _, m, _ in batched.layers if m == "dead_fraction"})
        if batched.status == "done":
            assert measured == [0, 3, 6, 7]
        else:
            last = int(batched.final["epochs_run"])
            assert measured == [e for e in (0, 3, 6) if e < last] + [last]


def test_a_model_failing_at_an_epoch_without_layer_metrics_is_measured_as_it_leaves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import actcmp.engine.batched as engine_batched

    variants = [{"activation": a, "seed": 0, "lr": 0.01} for a in ["relu", "tanh", "gelu"]]
    configs, datasets = group("digits", variants, depth=3, epochs=5, probe_every=2)
    clean = train_group(configs, datasets, dtype=torch.float64)
    # the same training measured at every epoch: what the relu run's layers are at epoch 3,
    # died/revived against epoch 2 included (some of its units die or come back there)
    every, _ = group("digits", variants, depth=3, epochs=5, probe_every=1)
    reference = train_group(every, datasets, dtype=torch.float64)[0]
    at3 = {(i, m): v for e, i, m, v in reference.layers if e == 3}
    assert at3[(0, "died_fraction")] + at3[(0, "revived_fraction")] + at3[(1, "died_fraction")] > 0
    original = engine_batched._Stack.losses
    calls = []

    def failing(self: Any) -> list[tuple[float, float]]:
        values = original(self)
        calls.append(len(values))
        if len(calls) == 2:  # epoch 3: the relu model's validation loss "diverges"
            model = [run.spec.canonical for run in self.runs].index("relu")
            values[model] = (values[model][0], float("nan"))
        return values

    monkeypatch.setattr(engine_batched._Stack, "losses", failing)
    results = train_group(configs, datasets, dtype=torch.float64)
    failed = results[0]
    assert failed.status == "diverged" and failed.final["diverged_epoch"] == 3
    assert sorted({e for e, _, m, _ in failed.layers if m == "dead_fraction"}) == [0, 2, 3]
    twin = clean[0]
    rows = {(e, i, m): v for e, i, m, v in failed.layers if e <= 2 and not m.startswith("preact_hist")}
    assert rows == {(e, i, m): v for e, i, m, v in twin.layers if e <= 2 and not m.startswith("preact_hist")}
    # measured by the plain probe as it left, against the stack's epoch-2 masks
    got = {(i, m): v for e, i, m, v in failed.layers if e == 3 and not m.startswith("preact_hist")}
    assert got.keys() == {k for k in at3 if not k[1].startswith("preact_hist")}
    for key, value in got.items():
        if key[1] in EXACT:
            assert value == at3[key], key
        else:
            assert math.isclose(value, at3[key], rel_tol=1e-9, abs_tol=1e-12), key
    for other in results[1:]:  # the others go on as before (a smaller stack: summation order only)
        assert_same(other, next(r for r in clean if r.run_id == other.run_id), rtol=1e-12, atol=1e-14)


def test_the_plain_engine_measures_layers_where_an_unmeasured_epoch_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    import actcmp.engine.plain as engine

    configs, datasets = group("digits", [{"activation": "relu", "lr": 0.01}], depth=2, epochs=5, probe_every=2)
    original = engine._evaluate
    calls = []

    def failing(model: Any, x: torch.Tensor, kind: str) -> float:
        calls.append(1)
        value = original(model, x, kind)
        return float("nan") if len(calls) == 8 else value  # epoch 3's validation loss

    monkeypatch.setattr(engine, "_evaluate", failing)
    result = train_run(configs[0], datasets[0], dtype=torch.float64)
    assert result.status == "diverged" and result.final["diverged_epoch"] == 3
    assert sorted({e for e, _, m, _ in result.layers if m == "dead_fraction"}) == [0, 2, 3]


# ----------------------------------------------------------------------------- building blocks


KERNEL_CASES = ["identity", "relu", "leaky_relu(negative_slope=0.2)", "prelu", "elu(alpha=0.5)", "gelu", "gelu_tanh",
                "silu", "mish", "tanh", "sigmoid", "softplus", "hardtanh", "relu6", "hardswish", "selu", "softsign",
                "celu"]  # fmt: skip


@pytest.mark.parametrize("name", KERNEL_CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_activation_kernels_are_what_autograd_computes(name: str, dtype: torch.dtype) -> None:
    check_kernels(name, dtype, (3, 40, 24))


def test_the_kernel_table_is_keyed_by_registry_names_and_checks_every_hidden_activation() -> None:
    # the engine's kernels are looked up by registry name: a key that is not one would never
    # be used, and a registry activation missing from KERNEL_CASES would go unchecked
    assert set(KERNELS) <= set(REGISTRY)
    assert set(_Act.FAST) == set(KERNELS)
    checked = {parse_activation(name).name for name in KERNEL_CASES}
    assert checked == {name for name, info in REGISTRY.items() if info.hidden_ok}


@pytest.mark.parametrize("shape", [(3, 40, 24), (3, 80, 256)], ids=["kernel", "per-model"])
def test_prelu_backward_both_ways(shape: tuple[int, int, int]) -> None:
    check_kernels("prelu", torch.float32, shape)


def check_kernels(name: str, dtype: torch.dtype, shape: tuple[int, int, int]) -> None:
    spec = parse_activation(name)
    act = _Act(spec, dtype, torch.device("cpu"))
    z = torch.randn(*shape, generator=torch.Generator().manual_seed(0), dtype=dtype) * 3
    z[0, 0, :4] = torch.tensor([0.0, -0.0, 20.0, -20.0], dtype=dtype)
    dh = torch.randn_like(z)
    slope = torch.tensor([0.25, -0.1, 0.6], dtype=dtype) if act.kind == "prelu" else None
    with torch.no_grad():
        slope3 = None if slope is None else slope.view(-1, 1, 1)
        h, saved = act.forward(z, slope3, need_grad=True)
        dz, dslope = act.backward(dh, z, h, saved, slope3)
        if dslope is not None:
            dslope = dslope.sum(dim=(1, 2))
    for m in range(3):
        module = spec.build().to(dtype)
        if slope is not None:
            module.weight.data.fill_(float(slope[m]))
        zz = z[m].clone().requires_grad_(True)
        out = module(zz)
        out.backward(dh[m])
        assert torch.equal(h[m], out.detach()), name
        assert torch.equal(dz[m], zz.grad), name
        if slope is not None:
            assert dslope is not None
            torch.testing.assert_close(dslope[m], module.weight.grad[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "prelu", "identity", "elu", "gelu", "tanh", "sigmoid", "mish"])
def test_masks_are_metrics_on_the_analytic_derivative(name: str) -> None:
    spec = parse_activation(name)
    act = _Act(spec, torch.float32, torch.device("cpu"))
    z = torch.randn(3, 64, 10, generator=torch.Generator().manual_seed(1)) * 6
    z[0, :, 0] = -1.0  # a dead ReLU unit
    z[1, :, 1] = 30.0  # a saturated sigmoid/tanh unit
    slope = torch.tensor([0.25, 0.0, 0.01]) if name == "prelu" else None
    limits = torch.tensor([0.05, 0.2, 0.5], dtype=torch.float64) * peak_derivative(spec.canonical)
    shares = torch.tensor([0.95, 0.5, 0.8], dtype=torch.float64)
    dead, sat = act.masks(z, None if slope is None else slope[:, None].expand(3, 10), limits, shares)
    for m in range(3):
        module = spec.build()
        if slope is not None:
            module.weight.data.fill_(float(slope[m]))
        deriv = spec.derivative(z[m], module)
        assert torch.equal(dead[m], dead_mask(deriv))
        assert torch.equal(sat[m], saturated_mask(deriv, peak_derivative(spec.canonical), [0.05, 0.2, 0.5][m],
                                                   [0.95, 0.5, 0.8][m]))  # fmt: skip


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_counts_from_the_forward_output_equal_counts_from_z(name: str, dtype: torch.dtype) -> None:
    # tanh / sigmoid take f' from h = f(z) in the probe; the counts must be those of
    # spec.derivative(z), also where f' rounds to 0 (saturated) or z is exactly 0
    spec = parse_activation(name)
    act = _Act(spec, dtype, torch.device("cpu"))
    z = torch.randn(3, 256, 12, generator=torch.Generator().manual_seed(2), dtype=dtype) * 8
    z[0, :, 0] = 60.0  # f' == 0 on every input: dead
    z[1, :, 1] = -8.0
    z[2, :128, 2] = 0.0
    z[2, 128:, 3] = -60.0
    h, _ = act.forward(z, None, need_grad=False)
    limits = torch.tensor([0.05, 0.2, 0.5], dtype=torch.float64) * peak_derivative(spec.canonical)
    plain = act.counts(z, None, limits)
    from_h = act.counts(z, None, limits, deriv=act.derivative(z, h))
    assert plain[0][0, 0] == 256 and plain[0][2, 2] < 256  # the saturated unit is exercised
    for a, b in zip(plain, from_h, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    "names",
    [ALL_ACTIVATIONS, ["hardtanh", "relu6", "hardswish", "softplus", "selu", "softsign", "gelu_tanh", "celu"]],
    ids=["default-set", "others-and-autograd"],
)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_probe_gradient_norms_are_autograds(dtype: torch.dtype, names: list[str]) -> None:
    # the probe multiplies dh by the f'(z) it computed for the masks instead of running each
    # activation's backward kernel, and PReLU's input gradient skips the slope gradient:
    # the norms must still be autograd's on the plain model, layer by layer (depth 4 has
    # transposed and plain layouts; 450 x 40 inputs take PReLU's per-model path)
    from actcmp.engine.batched import _plain_model, _Run, _Stack, cast_dataset, per_sample_losses
    from actcmp.engine.plain import batch_loss

    variants = [{"activation": a, "seed": i % 2, "lr": 0.01} for i, a in enumerate(names)]
    configs, datasets = group("digits", variants, depth=4, epochs=1, width=40, bottleneck=6)
    runs = [
        _Run(i, c, cast_dataset(d, dtype), parse_activation(c["activation"]))
        for i, (c, d) in enumerate(zip(configs, datasets, strict=True))
    ]
    stack = _Stack(sorted(runs, key=lambda r: (r.spec.canonical, r.position)), torch.device("cpu"), dtype)
    for start in range(0, 256, 64):  # off the initial weights; PReLU slopes move
        stack.train_step(stack.x_train[stack.slot, start : start + 64])
    shared = 0
    for part, (s, e, act) in enumerate(stack.slices):
        x = stack.x_train[stack.slot[s:e], :450]
        out, record = stack.forward(x, save=True, need_grad=True, part=part)
        derivs = [act.derivative(r[1], r[2]) for r in record[:-1]]
        shared += sum(d is not None for d in derivs)
        norms = stack._grad_norms(record, out, x, per_sample_losses(out, x, stack.kind), part, derivs)
        for model in range(s, e):
            run = stack.runs[model]
            run.params = stack.row(model)
            plain = _plain_model(run, stack.layout, torch.device("cpu"), dtype)
            batch_loss(plain(x[model - s]), x[model - s], run.cfg["loss"]).backward()
            expected = [torch.linalg.vector_norm(layer.weight.grad) for layer in plain.linears]
            expected += [torch.linalg.vector_norm(layer.bias.grad) for layer in plain.linears]
            tol = 1e-10 if dtype == torch.float64 else 1e-4
            got = norms[model - s]
            torch.testing.assert_close(
                got, torch.stack(expected).to(got.dtype), rtol=tol, atol=0, msg=act.spec.canonical
            )
    assert shared > 0


def test_group_is_split_to_fit_memory() -> None:
    variants = [{"activation": a, "seed": i % 2} for i, a in enumerate(["relu", "tanh", "gelu", "prelu", "sigmoid"])]
    configs, datasets = group("digits", variants, depth=1, epochs=2)
    whole = train_group(configs, datasets, dtype=torch.float64)
    one = estimate_group_bytes(configs[0], 1, 1257, 64)
    assert estimate_group_bytes(configs[0], 10, 1257, 64) > one
    budget = estimate_group_bytes(configs[0], 2, 1257, 64, element_bytes=8)
    assert max_models_for_memory(configs[0], 1257, 64, budget, element_bytes=8) == 2
    split = train_group(configs, datasets, dtype=torch.float64, memory_budget=budget)
    assert [r.env["group_size"] for r in whole] == [5] * 5
    assert [r.env["group_size"] for r in split] == [2, 2, 2, 2, 1]
    for a, b in zip(whole, split, strict=True):
        assert a.run_id == b.run_id and a.status == b.status
        assert_same(a, b, rtol=1e-12, atol=1e-14)
    from actcmp.run.resources import memory_budget_bytes

    assert memory_budget_bytes() > 0


def test_configs_of_different_groups_are_refused() -> None:
    configs, datasets = group("digits", [{"activation": "relu"}, {"activation": "tanh", "depth": 2}], depth=1)
    with pytest.raises(ValueError, match="depth"):
        train_group(configs, datasets)


# ----------------------------------------------------------------------------- through the sweep


def test_sweep_stores_the_same_numbers_with_either_engine(tmp_path: Any) -> None:
    import actcmp
    from actcmp.config import sweep_from_dict
    from actcmp.store.database import Store

    sweep = sweep_from_dict(
        {"name": "engines", "epochs": 1, "width": 16, "bottleneck": 4, "batch_size": 128, "probe_size": 64,
         "grid": {"dataset": ["digits"], "depth": [1, 2], "activation": ["relu", "prelu", "tanh"], "seed": [0, 1]}}
    )  # fmt: skip
    runs = {}
    for engine in ("batched", "plain"):
        summary = actcmp.run_sweep(sweep, tmp_path / engine, engine=engine)
        assert summary.done == 12 and summary.failed == 0
        runs[engine] = actcmp.load_results(tmp_path / engine)
    for engine in ("batched", "plain"):  # each run says which engine trained it (their last bits differ)
        with Store(tmp_path / engine, create=False) as store:
            engines = {store.read_run(rid)["env"].get("engine") for rid in runs[engine].runs.run_id}
        assert engines == {engine}
    for frame, keys in (("epochs", ["run_id", "epoch", "metric"]), ("layers", ["run_id", "epoch", "layer", "metric"])):
        a = getattr(runs["batched"], frame).sort_values(keys).reset_index(drop=True)
        b = getattr(runs["plain"], frame).sort_values(keys).reset_index(drop=True)
        assert a[keys].equals(b[keys])
        torch.testing.assert_close(torch.tensor(a.value.values), torch.tensor(b.value.values), rtol=2e-4, atol=1e-5)
    a = runs["batched"].runs.set_index("run_id").sort_index()
    b = runs["plain"].runs.set_index("run_id").sort_index()
    for column in ("final_val_loss", "test_loss", "dead_fraction_final", "epochs_to_threshold"):
        torch.testing.assert_close(
            torch.tensor(a[column].values), torch.tensor(b[column].values), rtol=2e-4, atol=1e-5, equal_nan=True
        )
