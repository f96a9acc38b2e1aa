"""The MLP autoencoder and its initialisation rules (pure torch, no I/O).

Encoder: ``depth`` linear layers narrowing geometrically from ``width`` to ``bottleneck``,
each followed by the hidden activation (the code layer included). Decoder: the mirror
image back to the input size, the hidden activation on every layer but the last, which
gets the output activation. So there are ``2*depth`` linear layers and ``2*depth - 1``
hidden (activated) layers.
"""

from __future__ import annotations

import hashlib
import itertools
import math

import torch
from torch import nn

from actcmp.core.activations import ActivationSpec, kaiming_gain, xavier_gain
from actcmp.plan import resolve_init  # noqa: F401  (defined with the rest of planning; imported from here too)

INIT_RULES = ("kaiming", "xavier", "lecun", "torch-default")


def derive_seed(seed: int, tag: str) -> int:
    """An independent 63-bit seed for one purpose (split, batches, init) of a run seed."""
    digest = hashlib.sha256(f"{seed}:{tag}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def hidden_sizes(depth: int, width: int, bottleneck: int) -> list[int]:
    """Encoder layer widths: geometric from ``width`` to ``bottleneck`` over ``depth`` layers.

    >>> hidden_sizes(1, 64, 8), hidden_sizes(4, 64, 8)
    ([8], [64, 32, 16, 8])
    """
    if depth == 1:
        return [bottleneck]
    ratio = bottleneck / width
    return [max(bottleneck, round(width * ratio ** (i / (depth - 1)))) for i in range(depth)]


def layer_dims(n_features: int, depth: int, width: int, bottleneck: int) -> list[tuple[int, int]]:
    """(in, out) of every linear layer, encoder then decoder: ``2*depth`` pairs."""
    sizes = [n_features, *hidden_sizes(depth, width, bottleneck)]
    enc = list(itertools.pairwise(sizes))
    dec = [(o, i) for i, o in reversed(enc)]
    return enc + dec


def weight_std(rule: str, activation: ActivationSpec | None, fan_in: int, fan_out: int) -> float:
    """Standard deviation of a layer's weights under ``rule``.

    ``activation`` is the one that follows the layer (``None`` for the output layer, which
    is initialised with gain 1).
    """
    if rule == "kaiming":
        gain = kaiming_gain(activation) if activation is not None else 1.0
        return gain / math.sqrt(fan_in)
    if rule == "xavier":
        gain = xavier_gain(activation) if activation is not None else 1.0
        return gain * math.sqrt(2.0 / (fan_in + fan_out))
    if rule == "lecun":
        return 1.0 / math.sqrt(fan_in)
    if rule == "torch-default":
        return 1.0 / math.sqrt(3.0 * fan_in)
    raise ValueError(f"unknown init rule {rule!r}")


def init_tensors(
    dims: list[tuple[int, int]], rule: str, activation: ActivationSpec, seed: int, dtype: torch.dtype = torch.float32
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(weight [out, in], bias [out]) per layer.

    All rules scale one shared unit-variance uniform draw, so every activation of a grid
    cell starts from the same weights up to the rule's scale: with a common rule they are
    identical. Biases are zero, except under ``torch-default`` (torch's own uniform).
    """
    gen = torch.Generator().manual_seed(derive_seed(seed, "init"))
    out: list[tuple[torch.Tensor, torch.Tensor]] = []
    last = len(dims) - 1
    for index, (fan_in, fan_out) in enumerate(dims):
        base_w = (torch.rand(fan_out, fan_in, generator=gen, dtype=torch.float64) * 2 - 1) * math.sqrt(3.0)
        base_b = torch.rand(fan_out, generator=gen, dtype=torch.float64) * 2 - 1
        std = weight_std(rule, None if index == last else activation, fan_in, fan_out)
        weight = (base_w * std).to(dtype)
        bias = (base_b / math.sqrt(fan_in)).to(dtype) if rule == "torch-default" else torch.zeros(fan_out, dtype=dtype)
        out.append((weight, bias))
    return out


class Autoencoder(nn.Module):
    """MLP autoencoder; ``forward`` returns the reconstruction.

    Shapes: input and output ``[batch, n_features]``; :meth:`encode` gives
    ``[batch, bottleneck]``.
    """

    def __init__(
        self,
        n_features: int,
        depth: int,
        width: int,
        bottleneck: int,
        activation: ActivationSpec,
        output_activation: ActivationSpec,
    ) -> None:
        super().__init__()
        self.depth = depth
        self.dims = layer_dims(n_features, depth, width, bottleneck)
        self.linears = nn.ModuleList(nn.Linear(i, o) for i, o in self.dims)
        self.acts = nn.ModuleList(activation.build() for _ in range(len(self.dims) - 1))
        self.out_act = output_activation.build()

    def load_init(self, tensors: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        with torch.no_grad():
            for layer, (weight, bias) in zip(self.linears, tensors, strict=True):
                assert isinstance(layer, nn.Linear)  # ModuleList yields nn.Module; narrow for weight/bias
                layer.weight.copy_(weight)
                layer.bias.copy_(bias)

    def forward_recording(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """Reconstruction plus the pre-activations ``z`` and outputs ``f(z)`` of every
        hidden layer (lists of ``2*depth - 1`` tensors ``[batch, units]``)."""
        pre: list[torch.Tensor] = []
        post: list[torch.Tensor] = []
        h = x
        for index, layer in enumerate(self.linears):
            z = layer(h)
            if index < len(self.acts):
                h = self.acts[index](z)
                pre.append(z)
                post.append(h)
            else:
                h = self.out_act(z)
        return h, pre, post

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for index, layer in enumerate(self.linears):
            h = layer(h)
            h = self.acts[index](h) if index < len(self.acts) else self.out_act(h)
        return h

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for index in range(self.depth):
            h = self.acts[index](self.linears[index](h))
        return h
