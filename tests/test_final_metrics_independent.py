"""The end-of-run metrics against independent computations on the trained models.

``tests/test_engine_batched.py`` checks that the batched engine gives the plain engine's
numbers; both call the same end-of-run code (``engine.plain.finish``, ``score_test_split``,
the probe, the AUROC), so a mistake there would pass it. Here each final metric of a
batched run is recomputed from the trained weights by code that shares nothing with the
engine: a numpy forward pass in float64, the losses written out, scikit-learn's
``roc_auc_score`` and ``LogisticRegression`` (the probe's stated definition), ReLU's dead
fraction from the probe inputs, and the stored curves read back. The dead and saturated
summaries of the other activations are checked against the stored layer rows only (the
engines' own per-layer code; ``tests/test_engine_batched.py`` and ``tests/test_metrics.py``
test that).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import actcmp.engine.batched as batched
from actcmp.config import make_run
from actcmp.datasets import load_dataset
from actcmp.engine.plain import resolve

HIDDEN = {
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0.0))),
}
OUTPUT = {"identity": lambda z: z, "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z))}


def _train(dataset: str) -> list[tuple[Any, dict[str, Any], Any]]:
    """A small batched group on ``dataset``; per run: (result, cfg, numpy weights per layer)."""
    configs, datasets = [], []
    for activation in HIDDEN:
        for seed in (0, 1):
            cfg = make_run(
                {"dataset": dataset, "activation": activation, "seed": seed, "depth": 2, "width": 16,
                 "bottleneck": 4, "epochs": 3, "probe_size": 64, "lr": 0.003}
            )  # fmt: skip
            data = load_dataset(cfg.dataset, cfg.seed, cfg.val_fraction, cfg.test_fraction)
            configs.append(resolve(cfg, data.info.output_activation, data.info.loss))
            datasets.append(data)
    weights: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    finish = batched.finish

    def keep_weights(model: Any, data: Any, cfg: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        weights[cfg["run_id"]] = [
            (lin.weight.detach().double().numpy().copy(), lin.bias.detach().double().numpy().copy())
            for lin in model.linears
        ]
        return finish(model, data, cfg, *args, **kwargs)

    mp = pytest.MonkeyPatch()
    mp.setattr(batched, "finish", keep_weights)
    try:
        results = batched.train_group(configs, datasets)
    finally:
        mp.undo()
    return [(r, cfg, data, weights[r.run_id]) for r, cfg, data in zip(results, configs, datasets, strict=True)]


def _forward(
    x: np.ndarray, layers: list[tuple[np.ndarray, np.ndarray]], cfg: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """Reconstruction and codes (the encoder's last hidden layer), in float64."""
    hidden, out = HIDDEN[cfg["activation"]], OUTPUT[cfg["output_activation"]]
    h, codes = x, x
    for index, (w, b) in enumerate(layers):
        z = h @ w.T + b
        if index == len(layers) - 1:
            return out(z), codes
        h = hidden(z)
        if index == cfg["depth"] - 1:
            codes = h
    raise AssertionError("unreachable")


def _mse(out: np.ndarray, x: np.ndarray) -> np.ndarray:
    return ((out - x) ** 2).mean(axis=1)


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["digits", "clusters"])
def test_final_metrics_match_independent_computations(dataset: str) -> None:
    torch.set_num_threads(1)
    runs = _train(dataset)
    for result, cfg, data, layers in runs:
        assert cfg["loss"] == "mse", "this test writes out the MSE only"
        final, name = result.final, (cfg["activation"], cfg["seed"])
        x_train, x_val, x_test = (np.asarray(t, dtype=np.float64) for t in (data.x_train, data.x_val, data.x_test))
        out_test, _ = _forward(x_test, layers, cfg)
        errors = _mse(out_test, x_test)
        # float32 training weights evaluated in float64: agreement to float32 rounding
        assert final["test_loss"] == pytest.approx(errors.mean(), rel=2e-5), name
        assert final["test_mse"] == pytest.approx(((out_test - x_test) ** 2).mean(), rel=2e-5), name
        baseline = _mse(np.broadcast_to(x_train.mean(axis=0), x_val.shape), x_val).mean()
        assert final["baseline_loss"] == pytest.approx(baseline, rel=1e-5), name
        assert final["loss_threshold"] == pytest.approx(cfg["threshold_fraction"] * baseline, rel=1e-5), name

        val = {epoch: v for epoch, metric, v in result.epochs if metric == "val_loss"}
        train = {epoch: v for epoch, metric, v in result.epochs if metric == "train_loss"}
        assert sorted(val) == list(range(cfg["epochs"] + 1)) == sorted(train), name
        out_val, _ = _forward(x_val, layers, cfg)
        assert val[cfg["epochs"]] == pytest.approx(_mse(out_val, x_val).mean(), rel=2e-5), name
        out_train, codes_train = _forward(x_train, layers, cfg)
        assert train[cfg["epochs"]] == pytest.approx(_mse(out_train, x_train).mean(), rel=2e-5), name
        assert final["final_val_loss"] == val[cfg["epochs"]] and final["final_train_loss"] == train[cfg["epochs"]]
        assert final["best_val_loss"] == min(val.values()), name
        first = next((e for e in sorted(val) if val[e] <= final["loss_threshold"]), None)
        assert final["epochs_to_threshold"] == (None if first is None else float(first)), name
        assert final["epochs_run"] == cfg["epochs"] and final["diverged"] == 0.0, name
        assert final["n_params"] == sum(w.size + b.size for w, b in layers), name

        if cfg["activation"] == "relu":  # dead: f'(z) = 0 (z <= 0) on every probe input, recomputed
            h, dead = x_train[: cfg["probe_size"]], []
            for w, b in layers[:-1]:
                z = h @ w.T + b
                dead.append(float((z <= 0).all(axis=0).mean()))
                h = np.maximum(z, 0.0)
            assert final["dead_fraction_final"] == pytest.approx(sum(dead) / len(dead), abs=1e-12), name
        for metric in ("dead_fraction", "saturated_fraction"):
            for label, epoch in (("init", 0), ("final", cfg["epochs"])):
                rows = [v for e, _, m, v in result.layers if e == epoch and m == metric]
                assert len(rows) == len(layers) - 1, (name, metric)
                assert final[f"{metric}_{label}"] == pytest.approx(sum(rows) / len(rows), abs=1e-15), name

        # the probe's stated definition: scikit-learn's StandardScaler + LogisticRegression(C=1)
        # on the codes, solved to its optimum; predictions on the test codes
        _, codes_test = _forward(x_test, layers, cfg)
        probe = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=10_000, tol=1e-10))
        probe.fit(codes_train, np.asarray(data.y_train))
        expected = probe.score(codes_test, np.asarray(data.y_test))
        # float32 codes against float64 ones may flip a prediction that sits on a boundary
        assert abs(final["probe_accuracy"] - expected) <= 1.5 / len(x_test), (name, final["probe_accuracy"], expected)

        if data.anomaly_test is None:
            assert final["anomaly_auroc"] is None, name
        else:
            flags = np.asarray(data.anomaly_test, dtype=int)
            assert 0 < flags.sum() < len(flags)
            # ranks of float32 errors against float64 ones: equal up to near-ties
            assert final["anomaly_auroc"] == pytest.approx(roc_auc_score(flags, errors), abs=2e-3), name
            assert not math.isnan(final["anomaly_auroc"])
