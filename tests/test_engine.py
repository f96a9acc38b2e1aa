"""The plain per-run trainer: what it records, determinism, fairness, divergence."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from actcmp.config import make_run
from actcmp.datasets import load_dataset
from actcmp.engine.plain import batch_order, resolve, train_run


def run(**overrides: object):
    values = {
        "dataset": "digits",
        "depth": 2,
        "width": 16,
        "bottleneck": 4,
        "epochs": 3,
        "batch_size": 128,
        "probe_size": 64,
        **overrides,
    }
    cfg = make_run(values)
    data = load_dataset(cfg.dataset, cfg.seed, cfg.val_fraction, cfg.test_fraction)
    resolved = resolve(cfg, data.info.output_activation, data.info.loss)
    return train_run(resolved, data), resolved


def test_records_every_epoch_and_layer() -> None:
    result, cfg = run(activation="relu")
    assert result.status == "done"
    epochs = {e for e, _, _ in result.epochs}
    assert epochs == {0, 1, 2, 3}
    hidden = 2 * cfg["depth"] - 1
    for metric in (
        "dead_fraction",
        "saturated_fraction",
        "zero_fraction",
        "preact_mean",
        "preact_std",
        "died_fraction",
        "revived_fraction",
    ):
        layers = {layer for e, layer, m, _ in result.layers if m == metric and e == 3}
        assert layers == set(range(hidden)), metric
    grad_layers = {layer for e, layer, m, _ in result.layers if m == "grad_norm_weight" and e == 0}
    assert grad_layers == set(range(2 * cfg["depth"]))
    train = [v for _, m, v in result.epochs if m == "train_loss"]
    assert train[-1] < train[0]
    for key in (
        "test_loss",
        "final_val_loss",
        "epochs_to_threshold",
        "probe_accuracy",
        "dead_fraction_init",
        "dead_fraction_final",
        "saturated_fraction_final",
        "n_params",
        "baseline_loss",
    ):
        assert key in result.final
    assert 0.0 < result.final["probe_accuracy"] <= 1.0
    assert result.final["test_loss"] < next(v for _, m, v in result.epochs if m == "val_loss")


def test_deterministic() -> None:
    a, _ = run(activation="gelu", seed=1)
    b, _ = run(activation="gelu", seed=1)
    assert a.epochs == b.epochs and a.layers == b.layers
    assert a.final == b.final


def test_batch_order_shared_and_seeded() -> None:
    first = batch_order(100, 32, seed=0, epoch=1)
    assert [len(b) for b in first] == [32, 32, 32, 4]
    assert torch.equal(torch.cat(first).sort().values, torch.arange(100))
    assert all(torch.equal(x, y) for x, y in zip(first, batch_order(100, 32, 0, 1), strict=True))
    assert not torch.equal(first[0], batch_order(100, 32, 0, 2)[0])
    assert not torch.equal(first[0], batch_order(100, 32, 1, 1)[0])


def test_identity_activation_with_same_init_differs_from_relu_only_by_activation() -> None:
    a, _ = run(activation="identity", init="lecun", epochs=0)
    b, _ = run(activation="relu", init="lecun", epochs=0)
    grads_a = [v for e, layer, m, v in a.layers if m == "grad_norm_weight" and layer == 0]
    grads_b = [v for e, layer, m, v in b.layers if m == "grad_norm_weight" and layer == 0]
    assert grads_a != grads_b  # same start, different function
    assert a.final["n_params"] == b.final["n_params"]


def test_divergence_is_recorded_not_raised() -> None:
    result, _ = run(activation="identity", optimizer="sgd", lr=50.0, momentum=0.9, epochs=4, dataset="manifold")
    assert result.status == "diverged"
    assert result.final["diverged"] == 1.0
    assert result.final["diverged_epoch"] is not None and result.final["diverged_epoch"] >= 1
    assert result.final["probe_accuracy"] is None


def test_leaky_never_dead_relu_can_die() -> None:
    # a large learning rate kills ReLU units; Leaky ReLU's derivative is never exactly zero
    relu, _ = run(activation="relu", lr=0.05, epochs=5, seed=0, dataset="manifold", width=32, bottleneck=8)
    leaky, _ = run(activation="leaky_relu", lr=0.05, epochs=5, seed=0, dataset="manifold", width=32, bottleneck=8)
    assert max(v for _, _, m, v in leaky.layers if m == "dead_fraction") == 0.0
    assert max(v for _, _, m, v in relu.layers if m == "dead_fraction") > 0.0


def test_a_run_does_not_depend_on_the_thread_count() -> None:
    """ATen splits a reduction (a layer's mean over a wide probe batch) over its threads: with 2
    threads the layer means' last bits differed from one thread's (81 of 4,716 values in a
    width-256 sweep). The plain engine runs on one thread, whatever the caller set."""
    before = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            results.append(run(activation="relu", dataset="mnist1d", width=256, bottleneck=1, probe_size=256)[0])
            assert torch.get_num_threads() == threads  # restored after the run
    finally:
        torch.set_num_threads(before)
    one, two = results
    assert one.layers == two.layers and one.epochs == two.epochs and one.final == two.final
    assert one.env["threads"] == two.env["threads"] == 1


def test_epoch_zero_only() -> None:
    result, _ = run(activation="tanh", epochs=0)
    assert result.status == "done"
    assert {e for e, _, _ in result.epochs} == {0}
    assert result.final["epochs_run"] == 0.0


def test_float64_reference_mode() -> None:
    cfg = make_run({"dataset": "digits", "depth": 1, "width": 8, "bottleneck": 4, "epochs": 1, "probe_size": 32})
    data = load_dataset("digits", 0)
    resolved = resolve(cfg, "sigmoid", "mse")
    r64 = train_run(resolved, data, dtype=torch.float64)
    r32 = train_run(resolved, data)
    l64 = [v for _, m, v in r64.epochs if m == "val_loss"]
    l32 = [v for _, m, v in r32.epochs if m == "val_loss"]
    assert all(math.isclose(a, b, rel_tol=1e-4) for a, b in zip(l64, l32, strict=True))


@pytest.mark.parametrize("dataset", ["breast-cancer", "clusters"])
def test_anomaly_auroc_recorded(dataset: str) -> None:
    result, _ = run(activation="relu", dataset=dataset, epochs=3, width=16, bottleneck=4)
    auroc = result.final["anomaly_auroc"]
    assert auroc is not None and 0.5 < auroc <= 1.0


def test_softmax_distributions_dataset() -> None:
    result, cfg = run(activation="elu", dataset="distributions", epochs=2)
    assert cfg["output_activation"] == "softmax" and cfg["loss"] == "ce"
    assert result.status == "done"


def hists(result: object) -> dict[tuple[int, int], list[float]]:
    out: dict[tuple[int, int], list[float]] = {}
    for epoch, layer, metric, value in sorted(result.layers):  # type: ignore[attr-defined]
        if metric.startswith("preact_hist_"):
            out.setdefault((epoch, layer), []).append(value)
    return out


def test_preact_histograms_at_init_and_end_match_the_probe_statistics() -> None:
    from actcmp.core.metrics import PREACT_HIST_BINS, PREACT_HIST_RANGE

    result, cfg = run(activation="tanh", epochs=3)
    found = hists(result)
    hidden = 2 * cfg["depth"] - 1
    assert set(found) == {(e, layer) for e in (0, 3) for layer in range(hidden)}
    low, high = PREACT_HIST_RANGE
    centres = np.linspace(low, high, PREACT_HIST_BINS + 1)[:-1] + (high - low) / PREACT_HIST_BINS / 2
    stats = {(e, layer, m): v for e, layer, m, v in result.layers if m in ("preact_mean", "preact_std")}
    for (epoch, layer), shares in found.items():
        assert len(shares) == PREACT_HIST_BINS and sum(shares) == pytest.approx(1.0)
        # the histogram is of the same pre-activations the probe summarised (within a bin)
        mean = float(np.dot(shares, centres))
        assert abs(mean - stats[(epoch, layer, "preact_mean")]) < (high - low) / PREACT_HIST_BINS, (epoch, layer)
    assert found[(0, 0)] != found[(3, 0)]  # training moved them


def test_preact_histograms_show_dead_relu_units_left_of_zero() -> None:
    relu, _ = run(activation="relu", lr=0.05, epochs=5, seed=0, dataset="manifold", width=32, bottleneck=8)
    last = max(e for e, _, _ in relu.epochs)
    dead = {layer: v for e, layer, m, v in relu.layers if m == "dead_fraction" and e == last}
    found = hists(relu)
    layer = max(dead, key=dead.get)
    assert dead[layer] > 0
    half = len(found[(last, layer)]) // 2
    # a dead unit's pre-activations are all negative: at least its share of mass sits below 0
    assert sum(found[(last, layer)][:half]) >= dead[layer] - 1e-9


def test_preact_histograms_of_a_diverged_run_hold_no_nan() -> None:
    result, _ = run(activation="identity", optimizer="sgd", lr=50.0, momentum=0.9, epochs=4, dataset="manifold")
    assert result.status == "diverged"
    values = [v for _, _, m, v in result.layers if m.startswith("preact_hist_")]
    assert values and all(math.isfinite(v) for v in values)
    assert {e for e, _ in hists(result)} >= {0}


@pytest.mark.parametrize("activation", ["relu", "prelu", "tanh"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_initial_preactivations_are_the_initial_models(activation: str, dtype: torch.dtype) -> None:
    from actcmp.core.activations import parse_activation
    from actcmp.core.model import Autoencoder, init_tensors
    from actcmp.engine.plain import initial_preactivations

    cfg = {"activation": activation, "depth": 3, "width": 16, "bottleneck": 4, "init": "kaiming", "seed": 5}
    spec = parse_activation(activation)
    model = Autoencoder(12, 3, 16, 4, spec, parse_activation("identity", hidden=False)).to(dtype)
    model.load_init(init_tensors(model.dims, "kaiming", spec, 5, dtype=dtype))
    x = torch.randn(40, 12, dtype=dtype)
    with torch.no_grad():
        expected = model.forward_recording(x)[1]
        got = initial_preactivations(cfg, x)
    assert len(got) == len(expected) == 5
    for a, b in zip(got, expected, strict=True):
        assert torch.equal(a, b)
