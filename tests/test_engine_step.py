"""The batched training step's shortcuts decide exactly as the full computation would."""

from __future__ import annotations

import pytest
import torch

from actcmp.config import make_run
from actcmp.core.activations import parse_activation
from actcmp.datasets import load_dataset
from actcmp.engine.layout import _Run
from actcmp.engine.measure import _Stack
from actcmp.engine.plain import cast_dataset, resolve


def _stack(dataset: str = "digits", **fields: object) -> _Stack:
    runs = []
    for index, activation in enumerate(["relu", "tanh", "gelu", "prelu", "elu", "sigmoid", "silu", "softsign"]):
        cfg = make_run(
            {"dataset": dataset, "depth": 2, "width": 16, "bottleneck": 4, "activation": activation, **fields}
        )
        data = load_dataset(cfg.dataset, cfg.seed, cfg.val_fraction, cfg.test_fraction)
        resolved = resolve(cfg, data.info.output_activation, data.info.loss)
        runs.append(_Run(index, resolved, cast_dataset(data, torch.float32), parse_activation(activation)))
    return _Stack(runs, torch.device("cpu"), torch.float32)


@pytest.mark.parametrize("loss", ["mse", "bce"])
@pytest.mark.parametrize("poison", [float("nan"), float("inf"), -float("inf"), 1e30])
@pytest.mark.parametrize("rows", [64, 41])
def test_the_output_check_drops_the_models_the_loss_check_drops(poison: float, rows: int, loss: str) -> None:
    # digits: sigmoid output, MSE or BCE, data in [0, 1]: the step checks the output of the
    # batch's rows for NaN instead of computing the loss; poisoned weights must be caught
    # (or not) alike (the padding rows a short batch carries are no part of its loss)
    dropped = []
    for shortcut in (True, False):
        stack = _stack(loss=loss)
        assert stack.nan_check_only
        stack.nan_check_only = shortcut
        stack.W[0][2].fill_(poison)
        stack.W[1][5, 0].fill_(poison)
        stack.b[2][6].fill_(poison)
        with torch.no_grad():
            bad = stack.train_step(stack.x_train[stack.slot, :rows])
        dropped.append([model for model, _ in bad])
    assert dropped[0] == dropped[1]
    # an infinite weight of the sigmoid model saturates it: its output stays finite, it stays
    expected = {"nan": [2, 5, 6], "inf": [2, 6], "-inf": [2, 6], "1e+30": []}[str(poison)]
    assert dropped[0] == expected


def test_the_output_check_needs_a_bounded_output() -> None:
    assert not _stack("manifold").nan_check_only  # identity output: the loss itself is checked


@pytest.mark.parametrize("shortcut", [True, False])
def test_a_step_whose_l1_penalty_overflows_drops_the_model_as_the_plain_engine_does(shortcut: bool) -> None:
    """The plain engine tests ``loss + penalty`` for finiteness: huge finite code activations
    (2e38) behind a zero decoder leave the reconstruction finite but the penalty infinite."""
    stack = _stack(activity_l1=0.01)
    assert stack.penalty_layers
    stack.nan_check_only = shortcut
    for layer in stack.penalty_layers:
        stack.b[layer][0].fill_(2e38)  # model 0 (relu): its penalised layer's units at 2e38
        stack.W[layer + 1][0].zero_()  # and nothing of them reaches the output
    with torch.no_grad():
        bad = stack.train_step(stack.x_train[stack.slot, :64])
    assert [model for model, _ in bad] == [0]
