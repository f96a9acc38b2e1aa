"""Autoencoder shapes and initialisation rules."""

from __future__ import annotations

import math

import pytest
import torch

from actcmp.core.activations import parse_activation
from actcmp.core.model import Autoencoder, hidden_sizes, init_tensors, layer_dims, weight_std


@pytest.mark.parametrize(
    ("depth", "width", "bottleneck", "sizes"),
    [
        pytest.param(1, 64, 8, [8], id="depth1"),
        pytest.param(2, 64, 8, [64, 8], id="depth2"),
        pytest.param(4, 64, 8, [64, 32, 16, 8], id="depth4"),
        pytest.param(3, 16, 16, [16, 16, 16], id="no-narrowing"),
    ],
)
def test_hidden_sizes(depth: int, width: int, bottleneck: int, sizes: list[int]) -> None:
    assert hidden_sizes(depth, width, bottleneck) == sizes


def test_layer_dims_mirror() -> None:
    dims = layer_dims(40, 3, 32, 4)
    assert len(dims) == 6
    assert dims[:3] == [(40, 32), (32, 11), (11, 4)]
    assert dims[3:] == [(4, 11), (11, 32), (32, 40)]


def test_forward_shapes_and_recording() -> None:
    model = Autoencoder(20, 3, 16, 4, parse_activation("relu"), parse_activation("sigmoid", hidden=False))
    x = torch.rand(7, 20)
    out, pre, post = model.forward_recording(x)
    assert out.shape == (7, 20) and len(pre) == len(post) == 5
    assert model.encode(x).shape == (7, 4)
    assert torch.allclose(out, model(x))
    assert ((out > 0) & (out < 1)).all()


def test_softmax_output_rows_sum_to_one() -> None:
    model = Autoencoder(10, 1, 8, 3, parse_activation("tanh"), parse_activation("softmax", hidden=False))
    assert torch.allclose(model(torch.rand(4, 10)).sum(1), torch.ones(4))


@pytest.mark.parametrize(
    ("rule", "activation", "expected"),
    [
        ("kaiming", "relu", math.sqrt(2 / 400)),
        ("kaiming", "leaky_relu(negative_slope=0.2)", math.sqrt(2 / (1 + 0.04)) / math.sqrt(400)),
        ("xavier", "tanh", 5 / 3 * math.sqrt(2 / (400 + 300))),
        ("xavier", "sigmoid", math.sqrt(2 / (400 + 300))),
        ("lecun", "selu", 1 / math.sqrt(400)),
        ("torch-default", "relu", 1 / math.sqrt(3 * 400)),
    ],
)
def test_init_std_matches_rule(rule: str, activation: str, expected: float) -> None:
    spec = parse_activation(activation)
    assert math.isclose(weight_std(rule, spec, 400, 300), expected, rel_tol=1e-12)
    (weight, bias), _ = init_tensors([(400, 300), (300, 400)], rule, spec, seed=0)
    assert math.isclose(float(weight.std()), expected, rel_tol=0.02)
    if rule == "torch-default":
        assert float(bias.abs().max()) <= 1 / math.sqrt(400) + 1e-7 and float(bias.abs().max()) > 0
    else:
        assert float(bias.abs().max()) == 0.0


def test_same_seed_same_weights_across_activations() -> None:
    dims = layer_dims(64, 2, 32, 8)
    a = init_tensors(dims, "kaiming", parse_activation("relu"), seed=3)
    b = init_tensors(dims, "kaiming", parse_activation("elu"), seed=3)
    c = init_tensors(dims, "xavier", parse_activation("tanh"), seed=3)
    for (wa, _), (wb, _), (wc, _) in zip(a, b, c, strict=True):
        assert torch.equal(wa, wb)
        # different rule: same draw up to the rule's scale
        ratio = wc / wa
        assert torch.allclose(ratio, ratio.flatten()[0].expand_as(ratio), rtol=1e-5)
    d = init_tensors(dims, "kaiming", parse_activation("relu"), seed=4)
    assert not torch.equal(a[0][0], d[0][0])
