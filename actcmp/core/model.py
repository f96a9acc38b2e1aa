"""The MLP autoencoder and its initialisation rules (pure torch, no I/O).

Shape. ``depth`` is the number of encoder layers, the code layer included; each is followed
by the hidden activation. The decoder mirrors the encoder back to the input size, with the
hidden activation on every layer but the last, which gets the output activation. So there
are ``2*depth`` linear layers and ``2*depth - 1`` hidden (activated) layers. The encoder's
widths are either the shorthand ``width``/``depth`` (geometric from ``width`` down to
``bottleneck``; ``width == bottleneck`` gives a constant-width stack) or explicit
``widths`` (the hidden widths outermost first, then ``bottleneck``: ``widths = [1000, 500,
250]``, ``bottleneck = 30`` on MNIST is 784-1000-500-250-30-250-500-1000-784, depth 4).

Initial weights: a rule (:func:`weight_std`) sets each layer's standard deviation and a
distribution (``uniform``, ``normal``, ``truncated_normal``) its shape; biases are zero,
torch's own uniform, or a constant (:func:`init_tensors`).
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import torch
from torch import nn

from actcmp.config import BIAS_INITS  # noqa: F401  (the rules this module applies)
from actcmp.core.activations import ActivationSpec, kaiming_gain, xavier_gain
from actcmp.core.shapes import cfg_dims, encoder_sizes, hidden_sizes, layer_dims  # noqa: F401  (torch-free, re-exported)
from actcmp.plan import init_gain, resolve_bias, resolve_init  # noqa: F401  (planning needs them without torch)

INIT_RULES = ("kaiming", "xavier", "lecun", "torch-default")
INIT_DISTRIBUTIONS = ("uniform", "normal", "truncated_normal")
#: ``bias_init`` names (a number is also accepted: every bias starts at that constant)
#: a standard normal truncated to [-2, 2] has this standard deviation; truncated draws are
#: divided by it, so every distribution has unit variance before the rule's scale
TRUNCATED_STD = 0.8796256610342398


def derive_seed(seed: int, tag: str) -> int:
    """An independent 63-bit seed for one purpose (split, batches, init) of a run seed."""
    digest = hashlib.sha256(f"{seed}:{tag}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


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


def _unit_draw(shape: tuple[int, ...], distribution: str, gen: torch.Generator) -> torch.Tensor:
    """A float64 draw of unit variance and mean 0 in ``distribution``."""
    if distribution == "uniform":
        return (torch.rand(*shape, generator=gen, dtype=torch.float64) * 2 - 1) * math.sqrt(3.0)
    if distribution == "normal":
        return torch.randn(*shape, generator=gen, dtype=torch.float64)
    if distribution == "truncated_normal":
        # inverse CDF of a uniform draw restricted to [Phi(-2), Phi(2)]: no rejection loop
        low = 0.5 * math.erfc(2.0 / math.sqrt(2.0))
        u = low + torch.rand(*shape, generator=gen, dtype=torch.float64) * (1 - 2 * low)
        return torch.erfinv(2 * u - 1) * math.sqrt(2.0) / TRUNCATED_STD
    raise ValueError(f"unknown init distribution {distribution!r}")


def init_tensors(
    dims: list[tuple[int, int]],
    rule: str,
    activation: ActivationSpec,
    seed: int,
    dtype: torch.dtype = torch.float32,
    distribution: str = "uniform",
    bias: str | float = "auto",
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(weight [out, in], bias [out]) per layer.

    All rules scale one shared unit-variance draw of ``distribution`` (truncated normal:
    cut at two standard deviations, then rescaled to unit variance), so every activation
    of a grid cell starts from the same weights up to the rule's scale: with a common rule
    they are identical. ``bias`` (:func:`resolve_bias`): ``zeros``, ``torch-default``
    (torch's own uniform, +-1/sqrt(fan_in)) or a constant; ``auto`` is zeros except under
    the ``torch-default`` rule. The generator's sequence per layer (weights, then a bias
    draw) is the same whatever ``bias`` is.
    """
    gen = torch.Generator().manual_seed(derive_seed(seed, "init"))
    out: list[tuple[torch.Tensor, torch.Tensor]] = []
    last = len(dims) - 1
    bias_rule = resolve_bias(bias, rule)
    for index, (fan_in, fan_out) in enumerate(dims):
        base_w = _unit_draw((fan_out, fan_in), distribution, gen)
        base_b = torch.rand(fan_out, generator=gen, dtype=torch.float64) * 2 - 1
        std = weight_std(rule, None if index == last else activation, fan_in, fan_out)
        weight = (base_w * std).to(dtype)
        if bias_rule == "torch-default":
            b = (base_b / math.sqrt(fan_in)).to(dtype)
        elif bias_rule == "zeros":
            b = torch.zeros(fan_out, dtype=dtype)
        else:
            b = torch.full((fan_out,), float(bias_rule), dtype=dtype)
        out.append((weight, b))
    return out


def cfg_init_tensors(
    cfg: dict[str, Any], dims: list[tuple[int, int]], activation: ActivationSpec, dtype: torch.dtype
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """:func:`init_tensors` of a resolved run config."""
    return init_tensors(
        dims,
        cfg["init"],
        activation,
        cfg["seed"],
        dtype=dtype,
        distribution=cfg.get("init_distribution", "uniform"),
        bias=cfg.get("bias_init", "auto"),
    )


def cfg_model(cfg: dict[str, Any], n_features: int, activation: ActivationSpec, output: ActivationSpec) -> Autoencoder:
    """The (uninitialised) :class:`Autoencoder` of a resolved run config."""
    return Autoencoder(n_features, cfg["depth"], cfg["width"], cfg["bottleneck"], activation, output, cfg.get("widths"))


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
        widths: list[int] | None = None,
    ) -> None:
        super().__init__()
        self.depth = len(widths) + 1 if widths else depth
        self.dims = layer_dims(n_features, depth, width, bottleneck, widths)
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
