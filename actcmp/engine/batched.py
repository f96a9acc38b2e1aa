"""The batched engine: every run of a group trained at once as stacked models.

A group (see ``config.SHAPE_KEYS``) shares tensor shapes, so its ``M`` models are stacked:
each layer's weights are one ``[M, in, out]`` tensor (a view of one flat parameter buffer,
see :class:`_Layout`) and a training step is a handful of batched matmuls (``baddbmm`` /
``bmm``) whatever ``M`` is. Forward and backward are written out by hand, with no autograd
graph in the hot loop: each activation's backward is the very ATen kernel that autograd
calls for its ``nn`` module (``gelu_backward``, ``tanh_backward``, ...); an activation
without one (softsign, SELU, a user's callable) runs through autograd on its slice.

What may differ per model: activation (models are sorted by activation and each activation
runs on its contiguous slice; PReLU's slope is a per-model, per-layer parameter), seed (its
own split, init and batch order, gathered by index), init, lr, momentum, weight decay and
the saturation parameters. Runs with different optimizers train as separate stacks. The
update runs over the whole flat buffer with torch.optim's own formulas: SGD and, with
per-model hyper-parameters, Adam/AdamW as the single-tensor path (what the plain engine
runs on CPU) with per-element columns; with shared ones, Adam/AdamW through torch's fused
kernel (``FUSED_ADAM``; an ulp from the single-tensor path). Nothing couples two models.

Divergence: each step checks the per-model losses (one sync); a model with a non-finite
minibatch loss leaves the stack with its parameters from before that step, is measured at
the end of that epoch by the plain engine's own code, as the plain loop does, and never
touches the others. A model whose end-of-epoch measurement is not finite leaves the same way.

Measurements are the plain engine's (``engine.train_run``; tested in float64 to 1e-9, the
unit fractions exactly): full-pass train/val losses in eval mode, per-layer metrics on the
probe set (the first ``probe_size`` training rows) with analytic derivative masks, and
per-layer gradient norms of the probe loss. They run one activation slice at a time (no
concatenation of large activations), the probe forward doubling as the first rows of the
train-loss pass. Final metrics come from ``engine.finish`` on a plain
:class:`~actcmp.core.model.Autoencoder` rebuilt from each model's parameters, with each
model's linear probe fitted by :func:`actcmp.core.probe.probe_accuracies` (one model per call).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from actcmp.config import SHAPE_KEYS
from actcmp.core.activations import ActivationSpec, derivative_of_output, parse_activation
from actcmp.core.metrics import peak_derivative
from actcmp.core.model import Autoencoder, init_tensors, layer_dims
from actcmp.core.probe import probe_accuracies
from actcmp.engine.plain import (
    Probe,
    RunResult,
    _evaluate,
    batch_order,
    cast_dataset,
    environment,
    finish,
    layers_due,
    preact_histogram_rows,
)
from actcmp.engine.samples import collect_samples

ENGINE = "batched"
#: torch.optim.Adam / AdamW defaults, which ``engine.make_optimizer`` keeps.
BETA1, BETA2, EPS = 0.9, 0.999, 1e-8
#: A matmul whose output has fewer columns than this (and fewer than the other way round)
#: is computed transposed: MKL is several times slower on very narrow outputs.
NARROW = 32
#: Rows per chunk of the full-pass evaluation are chosen to keep each model's activations
#: under this (per model, so that the chunks, and with them the numbers, do not depend on
#: how many models share the stack).
EVAL_CHUNK_BYTES = 2 << 20
#: Activation-shaped buffers hold a multiple of this many elements per model (rows are
#: padded): two AVX-512 vectors of float32, so that no element falls into the scalar tail
#: loop of an elementwise kernel, whatever the model's place in the stack.
SLOT = 64
#: See :meth:`_Layout.ranges`: a multiple of the widest SIMD vector of float32 (AVX-512)
#: and of the fused optimizer's task unit (a 64-byte cache line).
OPT_ALIGN = 16
#: Layers are measured together in groups of at most this many bytes of pre-activations
#: per model: small enough to stay in cache, big enough to amortise calls. Per model, so
#: that the grouping (and the float sums in it) does not depend on the other models.
METRIC_GROUP_BYTES = 128 << 10
#: Largest input for which ATen's PReLU backward kernel is faster than a per-model loop.
PRELU_KERNEL_MAX = 16384

_aten = torch.ops.aten


def _nothing(_: Any) -> None:
    """Drop an ``out=`` kernel's return value (the buffer it wrote)."""
    return None


Row = tuple[int, int, str, float]


# ----------------------------------------------------------------------------- activations


class _Act:
    """One activation on a slice of stacked models: forward, backward, derivative masks.

    ``fwd(z, slope, need_grad)`` returns ``(h, saved)``; ``bwd(dh, z, h, saved, slope)``
    returns ``(dz, slope_grad or None)``. The backward kernels are the ones autograd uses
    for the same ``nn`` module, so a batched step computes what ``loss.backward()``
    computes in the plain engine (tested bit for bit per activation).
    """

    FAST = (
        "identity",
        "relu",
        "leaky_relu",
        "prelu",
        "elu",
        "gelu",
        "silu",
        "mish",
        "tanh",
        "sigmoid",
        "softplus",
        "hardtanh",
        "relu6",
        "hardswish",
        "softmax",
    )
    #: derivative takes two values, (z > 0, z <= 0): masks need only the sign of z
    TWO_VALUED = ("identity", "relu", "leaky_relu", "prelu")
    #: f' >= 0 everywhere: the saturation test needs no abs
    NONNEGATIVE = ("tanh", "sigmoid")

    def __init__(self, spec: ActivationSpec, dtype: torch.dtype, dev: torch.device, hidden: bool = True) -> None:
        self.spec = spec
        self.kind = spec.name if spec.callable_path is None and spec.name in self.FAST else "generic"
        self.p = spec.param_dict if spec.callable_path is None else {}
        self.module = spec.build().to(device=dev, dtype=dtype)
        if self.kind != "prelu" and any(True for _ in self.module.parameters()):
            raise NotImplementedError(f"activation {spec.canonical} has parameters: use the plain engine")
        self.peak = peak_derivative(spec.canonical) if hidden else 1.0
        self.fwd, self.bwd = self._kernels()

    def _kernels(self) -> tuple[Any, Any]:
        """``fwd(z, slope, need_grad, out) -> saved`` writes f(z) into ``out``;
        ``bwd(dh, z, h, saved, slope, out) -> slope gradient or None`` writes dL/dz into
        ``out``. ``out`` has z's shape and layout (a slice of one buffer for every model)."""
        k, p = self.kind, self.p
        simple: dict[str, tuple[Any, Any, bool]] = {
            # forward .out, backward .grad_input / .out, backward takes the output (else the input)
            "relu": (_aten.relu.out, None, True),
            "silu": (_aten.silu.out, _aten.silu_backward.grad_input, False),
            "mish": (_aten.mish.out, None, False),
            "tanh": (_aten.tanh.out, _aten.tanh_backward.grad_input, True),
            "sigmoid": (_aten.sigmoid.out, _aten.sigmoid_backward.grad_input, True),
            "hardswish": (_aten.hardswish.out, _aten.hardswish_backward.out, False),
        }
        if k == "identity":

            def identity_fwd(z: Tensor, a: Any, g: bool, out: Tensor) -> None:
                out.copy_(z)

            def identity_bwd(dh: Tensor, z: Tensor, h: Tensor, s: Any, a: Any, out: Tensor) -> None:
                out.copy_(dh)

            return identity_fwd, identity_bwd
        if k == "relu":
            threshold = _aten.threshold_backward.grad_input
            return (
                lambda z, a, g, out: _nothing(_aten.relu.out(z, out=out)),
                lambda dh, z, h, s, a, out: _nothing(threshold(dh, h, 0, grad_input=out)),
            )
        if k == "mish":
            mish_backward = _aten.mish_backward.default
            return (
                lambda z, a, g, out: _nothing(_aten.mish.out(z, out=out)),
                lambda dh, z, h, s, a, out: _nothing(out.copy_(mish_backward(dh, z))),
            )
        if k == "hardswish":
            return (
                lambda z, a, g, out: _nothing(_aten.hardswish.out(z, out=out)),
                lambda dh, z, h, s, a, out: _nothing(_aten.hardswish_backward.out(dh, z, out=out)),
            )
        if k in simple:
            forward, backward, of_output = simple[k]
            if of_output:
                return (
                    lambda z, a, g, out: _nothing(forward(z, out=out)),
                    lambda dh, z, h, s, a, out: _nothing(backward(dh, h, grad_input=out)),
                )
            return (
                lambda z, a, g, out: _nothing(forward(z, out=out)),
                lambda dh, z, h, s, a, out: _nothing(backward(dh, z, grad_input=out)),
            )
        if k == "leaky_relu":
            slope = float(p["negative_slope"])
            leaky = _aten.leaky_relu_backward.grad_input
            return (
                lambda z, a, g, out: _nothing(_aten.leaky_relu.out(z, slope, out=out)),
                lambda dh, z, h, s, a, out: _nothing(leaky(dh, z, slope, False, grad_input=out)),
            )
        if k == "elu":
            alpha = float(p["alpha"])
            elu = _aten.elu_backward.grad_input
            return (
                lambda z, a, g, out: _nothing(_aten.elu.out(z, alpha, 1, 1, out=out)),
                lambda dh, z, h, s, a, out: _nothing(elu(dh, alpha, 1, 1, False, z, grad_input=out)),
            )
        if k == "gelu":
            approximate = str(p.get("approximate", "none"))
            gelu = _aten.gelu_backward.grad_input
            return (
                lambda z, a, g, out: _nothing(_aten.gelu.out(z, approximate=approximate, out=out)),
                lambda dh, z, h, s, a, out: _nothing(gelu(dh, z, approximate=approximate, grad_input=out)),
            )
        if k == "softplus":
            beta, limit = float(p["beta"]), float(p["threshold"])
            softplus = _aten.softplus_backward.grad_input
            return (
                lambda z, a, g, out: _nothing(_aten.softplus.out(z, beta, limit, out=out)),
                lambda dh, z, h, s, a, out: _nothing(softplus(dh, z, beta, limit, grad_input=out)),
            )
        if k in ("hardtanh", "relu6"):
            low, high = (float(p["min_val"]), float(p["max_val"])) if k == "hardtanh" else (0.0, 6.0)
            hardtanh = _aten.hardtanh_backward.grad_input
            return (
                lambda z, a, g, out: _nothing(_aten.hardtanh.out(z, low, high, out=out)),
                lambda dh, z, h, s, a, out: _nothing(hardtanh(dh, z, low, high, grad_input=out)),
            )
        if k == "softmax":
            return (
                lambda z, a, g, out: _nothing(_aten._softmax.out(z, -1, False, out=out)),
                lambda dh, z, h, s, a, out: _nothing(
                    _aten._softmax_backward_data.out(dh, h, -1, h.dtype, grad_input=out)
                ),
            )
        if k == "prelu":
            prelu = _aten._prelu_kernel.default  # slope a: [m, 1, 1]

            def prelu_fwd(z: Tensor, a: Any, g: bool, out: Tensor) -> None:
                out.copy_(prelu(z, a))

            def prelu_bwd(dh: Tensor, z: Tensor, h: Tensor, s: Any, a: Any, out: Tensor) -> Tensor:
                grad_input, grad_slope = _prelu_backward(dh, z, h, s, a)
                out.copy_(grad_input)
                return grad_slope

            return prelu_fwd, prelu_bwd
        module = self.module

        def generic_fwd(z: Tensor, a: Any, need_grad: bool, out: Tensor) -> Any:
            if not need_grad:
                out.copy_(module(z))
                return None
            with torch.enable_grad():
                zz = z.detach().requires_grad_(True)
                hh = module(zz)
            out.copy_(hh.detach())
            return (zz, hh)

        def generic_bwd(dh: Tensor, z: Tensor, h: Tensor, saved: Any, a: Any, out: Tensor) -> None:
            zz, hh = saved
            (dz,) = torch.autograd.grad(hh, zz, dh)
            out.copy_(dz)

        return generic_fwd, generic_bwd

    # for tests and readability: fwd / bwd into new tensors
    def forward(self, z: torch.Tensor, slope: torch.Tensor | None, need_grad: bool) -> tuple[torch.Tensor, Any]:
        h = torch.empty_like(z)
        return h, self.fwd(z, slope, need_grad, h)

    def backward(
        self, dh: torch.Tensor, z: torch.Tensor, h: torch.Tensor, saved: Any, slope: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        dz = torch.empty_like(z)
        return dz, self.bwd(dh, z, h, saved, slope, dz)

    # probe masks -------------------------------------------------------------------------
    def counts(
        self,
        z: torch.Tensor,
        slope: torch.Tensor | None,
        limit: torch.Tensor,
        scratch: torch.Tensor | None = None,
        deriv: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per unit, float64 ``[m, units]``: how many of the ``n`` inputs of pre-activations
        ``z [m, n, units]`` have f'(z) == 0, and how many have |f'(z)| < limit.

        Same derivative as :func:`metrics.dead_mask` / :func:`metrics.saturated_mask` on
        ``spec.derivative``: for two-valued derivatives from the sign of ``z`` alone (equal
        counts, a fraction of the work), else from the analytic derivative (autograd where
        there is none). ``slope [m, units]``: PReLU's slope of each unit's layer; ``limit
        [m]``: threshold * peak. Counts are sums of 0/1 floats (exact; comparisons into a
        float ``scratch`` are much faster than into bool tensors). ``deriv``: f'(z) from
        :meth:`derivative`, where the caller has it already.
        """
        n = z.shape[1]
        buf = torch.empty_like(z) if scratch is None else scratch
        if self.kind in self.TWO_VALUED:
            npos = torch.gt(z, 0, out=buf).sum(dim=1).to(torch.float64)  # [m, units]
            return self.two_valued_counts(npos, n, slope, limit, z.dtype)
        lim = limit.to(z.dtype).view(-1, 1, 1)
        if deriv is None:
            deriv = self.spec.derivative(z, self.module)
        zero = torch.eq(deriv, 0, out=buf).sum(dim=1).to(torch.float64)
        magnitude = deriv if self.kind in self.NONNEGATIVE else deriv.abs()
        small = torch.lt(magnitude, lim, out=buf).sum(dim=1).to(torch.float64)
        return zero, small

    def derivative(self, z: torch.Tensor, h: torch.Tensor) -> torch.Tensor | None:
        """f'(z) for the probe (``h = f(z)``), in z's layout; None for two-valued derivatives
        (their counts need only the sign of z, their backward kernels are cheap).

        The same values as ``spec.derivative`` (what :func:`metrics.dead_mask` uses): tanh and
        sigmoid take it from ``h`` by the backward kernel training uses
        (:func:`~actcmp.core.activations.derivative_of_output`, one source for f').
        The probe's backward multiplies by it instead of running the backward kernel again.
        """
        if self.kind in self.TWO_VALUED:
            return None
        if self.kind in ("tanh", "sigmoid"):
            return derivative_of_output(self.kind, h)
        return self.spec.derivative(z, self.module)  # type: ignore[no-any-return]

    def masks(
        self,
        z: torch.Tensor,
        slope: torch.Tensor | None,
        limit: torch.Tensor,
        share: torch.Tensor,
        scratch: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Dead and saturated masks ``[m, units]`` of ``z [m, n, units]`` (see :meth:`counts`;
        ``share [m]``)."""
        zero, small = self.counts(z, slope, limit, scratch)
        return masks_of_counts(zero, small, z.shape[1], share)

    def two_valued_counts(
        self, npos: torch.Tensor, n: int, slope: torch.Tensor | None, limit: torch.Tensor, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`counts` of a two-valued derivative from ``npos [m, units]`` float64, how many
        of the ``n`` inputs have z > 0 (f' compared in ``dtype``, the pre-activations')."""
        pos_value, neg_value = self._two_values(npos.shape[0], dtype, npos.device, slope)  # [m, 1] or [m, units]
        nneg = n - npos
        lim = limit.to(dtype)[:, None]
        zero = npos * (pos_value == 0) + nneg * (neg_value == 0)
        small = npos * (pos_value.abs() < lim) + nneg * (neg_value.abs() < lim)
        return zero, small

    def _two_values(
        self, m: int, dtype: torch.dtype, dev: torch.device, slope: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """f'(z) for z > 0 and for z <= 0 (``[m, 1]``, or ``[m, units]`` for PReLU), in ``dtype``."""
        one = torch.ones(m, 1, dtype=dtype, device=dev)
        if self.kind == "identity":
            return one, one
        if self.kind == "relu":
            return one, torch.zeros_like(one)
        if self.kind == "leaky_relu":
            return one, torch.full_like(one, float(self.p["negative_slope"]))
        assert slope is not None
        return one, slope.to(dtype)


def _prelu_backward(
    dh: torch.Tensor, z: torch.Tensor, h: torch.Tensor, saved: Any, slope: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """PReLU's input gradient and its slope gradient per element (``[m, n, units]``: sum
    over the last two dims per model), as autograd computes them. ``slope [m, 1, 1]``."""
    if z.numel() <= PRELU_KERNEL_MAX:
        return _aten._prelu_kernel_backward.default(dh, z, slope)  # type: ignore[no-any-return]
    return _prelu_input_grad(dh, z, slope), dh * z.clamp(max=0)


def _prelu_input_grad(dh: torch.Tensor, z: torch.Tensor, slope: torch.Tensor) -> torch.Tensor:
    """PReLU's input gradient alone (the probe needs no slope gradient). The broadcast
    kernel turns slow on large inputs; per model, leaky_relu_backward computes what it
    computes for the input (x > 0 ? g : w*g)."""
    if z.numel() <= PRELU_KERNEL_MAX:
        return _aten._prelu_kernel_backward.default(dh, z, slope)[0]  # type: ignore[no-any-return]
    values = slope.reshape(-1).tolist()
    return torch.stack([_aten.leaky_relu_backward.default(dh[i], z[i], values[i], False) for i in range(len(values))])


def masks_of_counts(
    zero: torch.Tensor, small: torch.Tensor, n: int, share: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Dead (f' == 0 on all ``n`` inputs) and saturated (|f'| small on at least ``share``
    of them, and not dead) masks from :meth:`_Act.counts`; ``share [m]`` float64."""
    dead = zero == n
    # count / n: exactly the float64 mean that metrics.saturated_mask takes (on CPU)
    return dead, (small / n >= share[:, None]) & ~dead


# ----------------------------------------------------------------------------- losses


def per_sample_losses(out: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """``engine.per_sample_loss`` for stacked ``out, target [M, n, d]``: ``[M, n]``."""
    if kind == "mse":
        return ((out - target) ** 2).mean(dim=-1)
    if kind == "bce":
        p = out.clamp(1e-7, 1 - 1e-7)
        return -(target * torch.log(p) + (1 - target) * torch.log1p(-p)).mean(dim=-1)
    if kind == "ce":
        return -(target * torch.log(out.clamp_min(1e-12))).sum(dim=-1)
    raise ValueError(f"unknown loss {kind!r}")


def loss_grad(out: torch.Tensor, target: torch.Tensor, kind: str, rows: int | None = None) -> torch.Tensor:
    """d(mean over the batch of each model's per-sample loss) / d out, ``[M, n, d]``; with
    ``rows``, the batch is the first ``rows`` rows (the rest: padding, gradient 0).

    Written in the order autograd evaluates ``batch_loss`` backwards, so float32 results
    stay within an ulp of the plain engine's.
    """
    grad = _loss_grad(out, target, kind, out.shape[1] if rows is None else rows)
    if rows is not None and rows < out.shape[1]:
        grad[:, rows:] = 0
    return grad


def _loss_grad(out: torch.Tensor, target: torch.Tensor, kind: str, n: int) -> torch.Tensor:
    d = out.shape[2]
    scale = torch.ones((), dtype=out.dtype, device=out.device) / n  # the batch mean
    if kind == "mse":
        return (2 * (out - target)) * (scale / d)
    if kind == "bce":
        g = -(scale / d)
        p = out.clamp(1e-7, 1 - 1e-7)
        dp = (g * target) / p - (g * (1 - target)) / (1 + (-p))
        return dp * ((out >= 1e-7) & (out <= 1 - 1e-7))
    if kind == "ce":
        return ((-scale) * target) / out.clamp_min(1e-12) * (out >= 1e-12)
    raise ValueError(f"unknown loss {kind!r}")


# ----------------------------------------------------------------------------- bookkeeping


@dataclass
class _Run:
    """One model of the group: what it has recorded, and its parameters once it left."""

    position: int
    cfg: dict[str, Any]
    data: Any
    spec: ActivationSpec
    epochs: list[tuple[int, str, float]] = field(default_factory=list)
    layers: list[Row] = field(default_factory=list)
    diverged_epoch: int | None = None
    last_epoch: int = 0
    params: torch.Tensor | None = None  # flat row [P], set when it leaves the stack
    previous: list[torch.Tensor] | None = None  # dead masks per hidden layer, set on leaving


class _Layout:
    """Where each model's parameters live in the flat ``[M * P]`` buffers.

    Layer-major: for each linear layer, the weights of all models ``[M, in, out]`` then
    their biases ``[M, out]``; then the PReLU slopes ``[M, hidden]`` when any model has
    them. Every view used by a matmul is contiguous (so one batched matmul kernel serves
    every model count), and the models ``start:stop`` of every block are one contiguous
    range (:meth:`ranges`, what the optimizer updates). A model's *row* (what leaves the
    stack) is its own parameters in the same order: ``[P]``.
    """

    def __init__(self, dims: list[tuple[int, int]], with_slopes: bool) -> None:
        self.dims = dims
        self.hidden = len(dims) - 1
        self.with_slopes = with_slopes
        self.sizes = [k for i, o in dims for k in (i * o, o)] + ([self.hidden] if with_slopes else [])
        self.size = sum(self.sizes)

    def views(self, flat: torch.Tensor, m: int) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor | None]:
        """Weights ``[m, in, out]``, biases ``[m, out]`` and slopes ``[m, hidden]`` of ``flat``."""
        weights, biases = [], []
        off = 0
        for fan_in, fan_out in self.dims:
            weights.append(flat[off : off + m * fan_in * fan_out].view(m, fan_in, fan_out))
            off += m * fan_in * fan_out
            biases.append(flat[off : off + m * fan_out].view(m, fan_out))
            off += m * fan_out
        slopes = flat[off : off + self.hidden * m].view(m, self.hidden) if self.with_slopes else None
        return weights, biases, slopes

    def segments(self, flat: torch.Tensor, m: int) -> list[torch.Tensor]:
        """``[m, k]`` views of every parameter block."""
        weights, biases, slopes = self.views(flat, m)
        out = [t for w, b in zip(weights, biases, strict=True) for t in (w.reshape(m, -1), b)]
        return out + ([slopes] if slopes is not None else [])

    def ranges(self, flat: torch.Tensor, m: int, start: int, stop: int) -> list[torch.Tensor]:
        """The parameters of models ``start:stop`` as the tensors one optimizer call takes.

        A block whose per-model size is a multiple of ``OPT_ALIGN`` is one contiguous range
        (every model's elements then meet the same SIMD lanes and no tail loop, as when the
        model is alone); any other block is one tensor per model, each then processed
        exactly as the model's own block would be if it were alone in the stack (an
        optimizer kernel's vector body and scalar tail round differently)."""
        out: list[torch.Tensor] = []
        for seg in self.segments(flat, m):
            if seg.shape[1] % OPT_ALIGN == 0:
                out.append(seg[start:stop].reshape(-1))
            else:
                out.extend(seg[model] for model in range(start, stop))
        return out

    def take(self, flat: torch.Tensor, m: int, index: torch.Tensor) -> torch.Tensor:
        """A new flat buffer holding only models ``index``."""
        return torch.cat([seg[index].reshape(-1) for seg in self.segments(flat, m)])

    def row(self, flat: torch.Tensor, m: int, model: int) -> torch.Tensor:
        """Model ``model``'s parameters as one ``[P]`` row (a copy)."""
        return torch.cat([seg[model] for seg in self.segments(flat, m)])

    def fill(self, flat: torch.Tensor, m: int, model: int, row: torch.Tensor) -> None:
        for seg, part in zip(self.segments(flat, m), row.split(self.sizes), strict=True):
            seg[model] = part


@dataclass
class _LayerPlan:
    """One linear layer (and the activation after it) for a set of stacked models.

    ``narrow_out``: the output has few columns, so ``z`` and ``dW`` are computed
    transposed, and the gradient of its input is computed in the layout of the ``z`` it
    came from (the layer below's ``narrow_out``: elementwise kernels over mixed layouts
    are several times slower). ``acts``: per activation slice, its models ``start:stop``
    (relative to the plan's), forward, backward, PReLU slope view and slope-gradient view
    (None where none).
    """

    W: torch.Tensor  # [m, in, out]
    Wt: torch.Tensor  # [m, out, in] (a view)
    b_row: torch.Tensor  # [m, 1, out]
    b_col: torch.Tensor  # [m, out, 1]
    gW: torch.Tensor | None
    gb: torch.Tensor | None
    narrow_out: bool
    acts: list[tuple[int, int, _Act, torch.Tensor | None, torch.Tensor | None]]


def _runs_of(keys: list[Any]) -> list[tuple[int, int, Any]]:
    """Maximal runs of equal consecutive keys: ``(start, stop, key)``."""
    out: list[tuple[int, int, Any]] = []
    start = 0
    for i in range(1, len(keys) + 1):
        if i == len(keys) or keys[i] != keys[start]:
            out.append((start, i, keys[start]))
            start = i
    return out


# ----------------------------------------------------------------------------- the stack


class _Stack:
    """The models still training, stacked (all with the same optimizer)."""

    def __init__(self, runs: list[_Run], dev: torch.device, dtype: torch.dtype) -> None:
        cfg0 = runs[0].cfg
        self.runs = runs
        self.dev, self.dtype = dev, dtype
        self.kind = cfg0["loss"]
        self.optimizer = cfg0["optimizer"]
        if any(r.cfg["optimizer"] != self.optimizer for r in runs):
            raise ValueError("one optimizer per stack")
        self.n_features = runs[0].data.x_train.shape[1]
        self.dims = layer_dims(self.n_features, cfg0["depth"], cfg0["width"], cfg0["bottleneck"])
        self.acts: dict[str, _Act] = {}
        for run in runs:
            if run.spec.canonical not in self.acts:
                self.acts[run.spec.canonical] = _Act(run.spec, dtype, dev)
        self.layout = _Layout(self.dims, any(self.acts[r.spec.canonical].kind == "prelu" for r in runs))
        self.out_act = _Act(parse_activation(cfg0["output_activation"], hidden=False), dtype, dev, hidden=False)
        self._stack_data()
        #: rows are padded to a multiple of this, so that every activation-shaped buffer
        #: holds a multiple of SLOT elements per model (see :meth:`pad`)
        widths = [self.n_features] + [fan_out for _, fan_out in self.dims]
        self.row_step = max(SLOT // math.gcd(SLOT, w) for w in widths)
        widest = max(max(i, o) for i, o in self.dims)
        self.eval_rows = self.padded_rows(max(1, EVAL_CHUNK_BYTES // (3 * widest * torch.finfo(dtype).bits // 8)))
        m, size = len(runs), self.layout.size
        self.flat = torch.zeros(m * size, dtype=dtype, device=dev)
        for model, run in enumerate(runs):
            self.layout.fill(self.flat, m, model, self._initial_row(run))
        self.grad = torch.zeros_like(self.flat)
        self.state_a = torch.zeros_like(self.flat)  # exp_avg, or the momentum buffer
        self.state_b = torch.zeros_like(self.flat)  # exp_avg_sq
        self.scratch = torch.empty_like(self.flat)
        self.steps = 0
        self.step_count = torch.zeros((), dtype=torch.float32, device=dev)  # the fused optimizer's
        #: dead masks of the last measurement, ``[M, units of all hidden layers]``
        self.previous: torch.Tensor | None = None
        units = [fan_out for _, fan_out in self.dims[:-1]]
        self.units_per_layer = torch.tensor(units, dtype=torch.float64, device=dev)
        self.unit_layer = torch.repeat_interleave(torch.arange(len(units), device=dev), torch.tensor(units, device=dev))
        #: seconds spent: full-pass losses (the probe forward included), probe extras
        #: (gradient norms, layer metrics); train_group adds training and finishing
        self.timings = {"losses": 0.0, "probe": 0.0}
        self._refresh()
        # bounded outputs and finite data: the minibatch loss is finite exactly when the
        # output has no NaN, which is cheaper to check than the loss itself
        self.nan_check_only = self.kind in ("bce", "ce") and bool(torch.isfinite(self.x_train).all())

    # setup -----------------------------------------------------------------------------------
    def _stack_data(self) -> None:
        """Unique splits ``[S, n, d]`` (runs sharing a seed share one) and each run's slot."""
        slots: list[tuple[int, Any]] = []
        index: list[int] = []
        for run in self.runs:
            data = run.data
            for slot, (seed, other) in enumerate(slots):
                if (
                    seed == run.cfg["seed"]
                    and other.x_train.shape == data.x_train.shape
                    and (
                        other is data
                        or (torch.equal(other.x_train, data.x_train) and torch.equal(other.x_val, data.x_val))
                    )
                ):
                    index.append(slot)
                    break
            else:
                index.append(len(slots))
                slots.append((run.cfg["seed"], data))
        shapes = {(tuple(d.x_train.shape), tuple(d.x_val.shape)) for _, d in slots}
        if len(shapes) != 1:
            raise ValueError(f"runs of one group must have equal split sizes, got {sorted(shapes)}")
        self.slot_seeds = [seed for seed, _ in slots]
        self.x_train = torch.stack([d.x_train for _, d in slots]).to(self.dev)
        self.x_val = torch.stack([d.x_val for _, d in slots]).to(self.dev)
        self.slot = torch.tensor(index, dtype=torch.long, device=self.dev)

    def _initial_row(self, run: _Run) -> torch.Tensor:
        parts: list[torch.Tensor] = []
        for weight, bias in init_tensors(self.dims, run.cfg["init"], run.spec, run.cfg["seed"], dtype=self.dtype):
            parts += [weight.t().reshape(-1), bias]
        if self.layout.with_slopes:
            slopes = torch.zeros(self.layout.hidden, dtype=self.dtype)
            act = self.acts[run.spec.canonical]
            if act.kind == "prelu":
                # nn.PReLU keeps its init in float32 before the plain engine casts the model
                slope = act.module.weight
                assert isinstance(slope, torch.Tensor)
                slopes.fill_(float(slope.detach().reshape(-1)[0]))
            parts.append(slopes)
        return torch.cat(parts).to(self.dev)

    def _refresh(self) -> None:
        """Views, activation slices, layer plans and per-model settings for the current models."""
        m, dev = self.size, self.dev
        self.W, self.b, self.slopes = self.layout.views(self.flat, m)
        self.gW, self.gb, self.gslopes = self.layout.views(self.grad, m)
        self.slices = [(s, e, self.acts[key]) for s, e, key in _runs_of([r.spec.canonical for r in self.runs])]
        self.plans = self._plans(0, m, self.slices, self.gW, self.gb)
        self._part_plans: dict[int, list[_LayerPlan]] = {}
        limits = [r.cfg["saturation_threshold"] * self.acts[r.spec.canonical].peak for r in self.runs]
        self.limit = torch.tensor(limits, dtype=torch.float64, device=dev)
        #: per slice, its limit in the pre-activations' dtype (what _Act.counts compares
        #: with): a Python number where its models agree, else ``[m, 1, 1]``
        self.slice_limits: list[float | torch.Tensor] = []
        for s, e, _ in self.slices:
            own = torch.tensor(limits[s:e], dtype=self.dtype)
            self.slice_limits.append(float(own[0]) if len(set(limits[s:e])) == 1 else own.to(dev).view(-1, 1, 1))
        self.share = torch.tensor([r.cfg["saturation_share"] for r in self.runs], dtype=torch.float64, device=dev)
        #: runs of models with the same update settings: ``(start, stop, lr, weight decay,
        #: momentum)``; each is updated by one call with its own scalar settings, so a model's
        #: update never depends on which other settings share its stack
        self.update_groups = [(s, e, *key) for s, e, key in _runs_of([_update_key(r.cfg) for r in self.runs])]
        #: per update group, the tensors of the parameters, gradients and both states
        self.update_tensors = [
            [self.layout.ranges(buf, m, s, e) for buf in (self.flat, self.grad, self.state_a, self.state_b)]
            for s, e, *_ in self.update_groups
        ]

    def _plans(
        self,
        start: int,
        stop: int,
        slices: list[tuple[int, int, _Act]],
        grad_w: list[torch.Tensor] | None,
        grad_b: list[torch.Tensor] | None,
    ) -> list[_LayerPlan]:
        """Layer plans for models ``start:stop`` (``slices`` in stack coordinates)."""
        plans = []
        for layer, (fan_in, fan_out) in enumerate(self.dims):
            weight, bias = self.W[layer][start:stop], self.b[layer][start:stop]
            acts = []
            if layer < self.layout.hidden:
                for s, e, act in slices:
                    slope = grad_slope = None
                    if act.kind == "prelu" and self.slopes is not None and self.gslopes is not None:
                        slope = self.slopes[s:e, layer].view(-1, 1, 1)
                        grad_slope = self.gslopes[s:e, layer]
                    acts.append((s - start, e - start, act, slope, grad_slope))
            plans.append(
                _LayerPlan(
                    W=weight,
                    Wt=weight.transpose(1, 2),
                    b_row=bias.unsqueeze(1),
                    b_col=bias.unsqueeze(2),
                    gW=None if grad_w is None else grad_w[layer][start:stop],
                    gb=None if grad_b is None else grad_b[layer][start:stop],
                    narrow_out=fan_out < NARROW and fan_out < fan_in,
                    acts=acts,
                )
            )
        return plans

    def part_plans(self, part: int) -> list[_LayerPlan]:
        """Layer plans for activation slice ``part`` alone (no gradient buffers)."""
        if part not in self._part_plans:
            s, e, act = self.slices[part]
            self._part_plans[part] = self._plans(s, e, [(s, e, act)], None, None)
        return self._part_plans[part]

    def keep(self, rows: list[int]) -> None:
        """Drop every model not in ``rows`` (ascending) from the stack."""
        m = self.size
        index = torch.tensor(rows, dtype=torch.long, device=self.dev)
        self.flat, self.grad = self.layout.take(self.flat, m, index), self.layout.take(self.grad, m, index)
        self.state_a, self.state_b = self.layout.take(self.state_a, m, index), self.layout.take(self.state_b, m, index)
        self.scratch = torch.empty_like(self.flat)
        self.slot = self.slot[index]
        if self.previous is not None:
            self.previous = self.previous[index]
        self.runs = [self.runs[i] for i in rows]
        self._refresh()

    @property
    def size(self) -> int:
        return len(self.runs)

    def row(self, model: int) -> torch.Tensor:
        return self.layout.row(self.flat, self.size, model)

    def row_masks(self, model: int) -> list[torch.Tensor] | None:
        """A model's dead masks per hidden layer, as ``engine.Probe`` keeps them."""
        if self.previous is None:
            return None
        return list(self.previous[model].split([fan_out for _, fan_out in self.dims[:-1]]))

    # forward / backward ------------------------------------------------------------------------
    # Every model at once (``part`` None), or one activation slice alone (``part``; the
    # measurements use this). Each activation writes its slice of one output buffer in the
    # layout of z. Inputs come with their rows padded (:meth:`pad`), so that every
    # activation-shaped buffer holds a multiple of ``SLOT`` elements per model: an
    # elementwise kernel then runs every element through its vectorised path, whatever the
    # other models and the slice boundaries are (a slice boundary inside a SIMD vector
    # would send some elements through the scalar tail loop, which rounds differently).
    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """``x [m, n, d]`` with zero rows appended up to :meth:`padded_rows`."""
        n = x.shape[1]
        rows = self.padded_rows(n)
        if rows == n:
            return x.contiguous()
        out = x.new_zeros(x.shape[0], rows, x.shape[2])
        out[:, :n] = x
        return out

    def padded_rows(self, n: int) -> int:
        return -(-n // self.row_step) * self.row_step

    def forward(
        self, x: torch.Tensor, save: bool, need_grad: bool = False, part: int | None = None
    ) -> tuple[torch.Tensor, list[Any]]:
        """Reconstruction ``[m, n, d]``; with ``save``, per layer ``(input, z, h, saved)``:
        what backward and the measurements need (``saved``: per activation slice)."""
        plans = self.plans if part is None else self.part_plans(part)
        last = len(plans) - 1
        record: list[Any] = []
        h = x
        for layer, plan in enumerate(plans):
            if plan.narrow_out:  # few output columns: compute z^T = W^T h^T
                z = torch.baddbmm(plan.b_col, plan.Wt, h.transpose(1, 2)).transpose(1, 2)
            else:
                z = torch.baddbmm(plan.b_row, h, plan.W)
            h_new = torch.empty_like(z)  # z's layout
            if layer == last:
                keep = self.out_act.fwd(z, None, need_grad, h_new)
                if save:
                    record.append((h, z, h_new, [keep]))
                return h_new, record
            kept = [act.fwd(z[s:e], slope, need_grad, h_new[s:e]) for s, e, act, slope, _ in plan.acts]
            if save:
                record.append((h, z, h_new, kept))
            h = h_new
        raise AssertionError("unreachable")

    def backward(
        self,
        record: list[Any],
        dout: torch.Tensor,
        part: int | None = None,
        grads: tuple[list[torch.Tensor], list[torch.Tensor]] | None = None,
        derivs: list[torch.Tensor | None] | None = None,
    ) -> None:
        """Gradients of the summed per-model losses: into the training buffers (weights,
        biases, PReLU slopes) or, given ``grads``, into those weight and bias tensors.

        ``derivs`` (one activation slice, ``grads`` given): f'(z) of each hidden layer, or
        None; where given, dz = dh * f'(z) replaces the activation's backward kernel (the
        probe has f' already; the kernels compute dh times the same f')."""
        plans = self.plans if part is None else self.part_plans(part)
        assert derivs is None or (part is not None and grads is not None)
        last = len(plans) - 1
        _, z_out, out, kept_out = record[last]
        dz = torch.empty_like(z_out)
        self.out_act.bwd(dout, z_out, out, kept_out[0], None, dz)
        for layer in range(last, -1, -1):
            plan = plans[layer]
            h_in = record[layer][0]
            grad_w = plan.gW if grads is None else grads[0][layer]
            grad_b = plan.gb if grads is None else grads[1][layer]
            assert grad_w is not None and grad_b is not None
            if plan.narrow_out:
                grad_w.copy_(torch.bmm(dz.transpose(1, 2), h_in).transpose(1, 2))
            else:
                torch.bmm(h_in.transpose(1, 2), dz, out=grad_w)
            torch.sum(dz, dim=1, out=grad_b)
            if layer == 0:
                return
            if plans[layer - 1].narrow_out:  # dh in the layout of z (and h, f') below
                dh = torch.bmm(plan.W, dz.transpose(1, 2)).transpose(1, 2)
            else:
                dh = torch.bmm(dz, plan.Wt)
            _, z_below, h_below, kept = record[layer - 1]
            given = None if derivs is None else derivs[layer - 1]
            if given is not None:
                dz = torch.mul(dh, given)
                continue
            dz = torch.empty_like(z_below)
            for (s, e, act, slope, grad_slope), keep in zip(plans[layer - 1].acts, kept, strict=True):
                if grads is not None and act.kind == "prelu" and slope is not None:  # no slope gradient wanted
                    dz[s:e] = _prelu_input_grad(dh[s:e], z_below[s:e], slope)
                    continue
                dslope = act.bwd(dh[s:e], z_below[s:e], h_below[s:e], keep, slope, dz[s:e])
                if dslope is not None and grad_slope is not None and grads is None:
                    torch.sum(dslope, dim=(1, 2), out=grad_slope)

    # training ---------------------------------------------------------------------------------------
    def train_step(self, x: torch.Tensor) -> list[tuple[int, torch.Tensor]]:
        """One minibatch ``x [M, B, d]`` (each model's own rows) for every model.

        Returns ``(model, its parameters before this step)`` for each model whose loss was
        not finite; the caller drops them (their update here is garbage, and only theirs).
        """
        rows = x.shape[1]
        x = self.pad(x)
        out, record = self.forward(x, save=True, need_grad=True)
        if self.nan_check_only:
            check = out.sum(dim=(1, 2))
        else:
            check = per_sample_losses(out, x, self.kind)[:, :rows].mean(dim=1)
        bad: list[tuple[int, torch.Tensor]] = []
        if not math.isfinite(float(check.sum())):
            for model in torch.nonzero(~torch.isfinite(check)).flatten().tolist():
                bad.append((model, self.row(model)))
        self.backward(record, loss_grad(out, x, self.kind, rows))
        self.steps += 1
        self._update()
        return bad

    def _update(self) -> None:
        """torch.optim's update, one call per run of models with equal settings, over the
        contiguous parameter ranges of those models: Adam/AdamW through torch's fused
        kernel (what ``torch.optim.Adam(fused=True)`` runs; an ulp from the single-tensor
        path the plain engine runs), SGD through the single-tensor formulas."""
        if self.optimizer in ("adam", "adamw"):
            self.step_count += 1  # what torch.optim does before its fused kernel
            fused = torch._fused_adamw_ if self.optimizer == "adamw" else torch._fused_adam_
        elif self.optimizer != "sgd":
            raise ValueError(f"unknown optimizer {self.optimizer!r}")
        for (_, _, lr, decay, momentum), tensors in zip(self.update_groups, self.update_tensors, strict=True):
            params, grads, state_a, state_b = tensors
            if self.optimizer != "sgd":
                fused(
                    params, grads, state_a, state_b, [], [self.step_count] * len(params),
                    lr=lr, beta1=BETA1, beta2=BETA2, weight_decay=decay, eps=EPS, amsgrad=False, maximize=False,
                )  # fmt: skip
                continue
            if decay:
                grads = [g.add(p, alpha=decay) for g, p in zip(grads, params, strict=True)]
            if momentum:
                for buf, g in zip(state_a, grads, strict=True):
                    if self.steps == 1:
                        buf.copy_(g)
                    else:
                        buf.mul_(momentum).add_(g)
                grads = state_a
            for param, g in zip(params, grads, strict=True):
                param.add_(g, alpha=-lr)

    # measurement -------------------------------------------------------------------------------------
    def measure(self, epoch: int, probe_size: int) -> list[tuple[float, float, list[Row]]]:
        """What ``engine.train_run``'s ``record`` gives, for every model: ``(train_loss,
        val_loss, layer rows)``. One activation slice at a time (no concatenation of big
        activations); the probe forward doubles as the first rows of the train loss."""
        n = self.x_train.shape[1]
        p = min(probe_size, n)
        train_parts, val_parts, grad_parts, count_parts = [], [], [], []
        clock = time.perf_counter
        for part, (s, e, _) in enumerate(self.slices):
            started = clock()
            slot = self.slot[s:e]
            x_probe = self.pad(self.x_train[slot, :p])
            out, record = self.forward(x_probe, save=True, need_grad=True, part=part)
            probe_losses = per_sample_losses(out, x_probe, self.kind)[:, :p]
            rest = self._losses(self.x_train, slot, p, part)
            train_parts.append(torch.cat([probe_losses, rest], dim=1).mean(dim=1))
            val_parts.append(self._losses(self.x_val, slot, 0, part).mean(dim=1))
            probing = clock()
            zs, hs = [r[1] for r in record[:-1]], [r[2] for r in record[:-1]]
            act = self.slices[part][2]
            derivs = [act.derivative(z, h) for z, h in zip(zs, hs, strict=True)]
            grad_parts.append(self._grad_norms(record, out, x_probe, probe_losses, part, derivs, p))
            count_parts.append(self._unit_counts(zs, hs, part, derivs, p))
            self.timings["losses"] += probing - started
            self.timings["probe"] += clock() - probing
        probing = clock()
        table, self.previous = self._layer_table(torch.cat(count_parts), p)
        layers = table.tolist()
        self.timings["probe"] += clock() - probing
        units = [fan_out for _, fan_out in self.dims[:-1]]
        return _rows(
            epoch,
            torch.cat(train_parts).tolist(),
            torch.cat(val_parts).tolist(),
            torch.cat(grad_parts).tolist(),
            layers,
            units,
        )

    def losses(self) -> list[tuple[float, float]]:
        """``(train_loss, val_loss)`` of every model, at an epoch without layer metrics."""
        started = time.perf_counter()
        train_parts, val_parts = [], []
        for part, (s, e, _) in enumerate(self.slices):
            slot = self.slot[s:e]
            train_parts.append(self._losses(self.x_train, slot, 0, part).mean(dim=1))
            val_parts.append(self._losses(self.x_val, slot, 0, part).mean(dim=1))
        self.timings["losses"] += time.perf_counter() - started
        return list(zip(torch.cat(train_parts).tolist(), torch.cat(val_parts).tolist(), strict=True))

    def _grad_norms(
        self,
        record: list[Any],
        out: torch.Tensor,
        x_probe: torch.Tensor,
        probe_losses: torch.Tensor,
        part: int,
        derivs: list[torch.Tensor | None] | None = None,
        rows: int | None = None,
    ) -> torch.Tensor:
        """``[m, 2 * layers]`` float64: norms of each layer's weight then bias gradient of
        the probe loss; 0 where that loss is not finite (the plain engine then skips
        backward). ``derivs``: f'(z) per hidden layer, as :meth:`backward` takes them;
        ``rows``: the probe rows of the padded ``x_probe`` (default: all)."""
        m = out.shape[0]
        grad_w = [torch.empty(m, i, o, dtype=self.dtype, device=self.dev) for i, o in self.dims]
        grad_b = [torch.empty(m, o, dtype=self.dtype, device=self.dev) for _, o in self.dims]
        self.backward(record, loss_grad(out, x_probe, self.kind, rows), part, (grad_w, grad_b), derivs)
        norms = [torch.linalg.vector_norm(g, dim=(1, 2)) for g in grad_w]
        norms += [torch.linalg.vector_norm(g, dim=1) for g in grad_b]
        finite = torch.isfinite(probe_losses.mean(dim=1))
        return torch.where(finite[:, None], torch.stack(norms, dim=1), 0.0).to(torch.float64)

    def _losses(self, x: torch.Tensor, slot: torch.Tensor, start: int, part: int) -> torch.Tensor:
        """Per-sample losses ``[m, n - start]`` of rows ``start:`` of the splits ``x[slot]``,
        in chunks of ``eval_rows`` rows (a number that depends on the model's shape only)."""
        m, n = slot.shape[0], x.shape[1]
        parts = []
        for s in range(start, n, self.eval_rows):
            rows = x[slot, s : min(n, s + self.eval_rows)]
            count = rows.shape[1]
            padded = self.pad(rows)
            out, _ = self.forward(padded, save=False, part=part)
            parts.append(per_sample_losses(out, padded, self.kind)[:, :count])
        if not parts:
            return torch.zeros(m, 0, dtype=self.dtype, device=self.dev)
        return torch.cat(parts, dim=1)

    def _unit_counts(
        self,
        zs: list[torch.Tensor],
        hs: list[torch.Tensor],
        part: int,
        derivs: list[torch.Tensor | None],
        rows: int | None = None,
    ) -> torch.Tensor:
        """``[m, units, 5]`` float64 for slice ``part``, every hidden unit side by side: probe
        inputs where f'(z) == 0, where |f'(z)| is below the saturation limit, where h == 0;
        the sum of z; the sum of squares of z minus its layer's mean (two-pass variance).

        Only the passes over the probe activations run per slice, on data that is still in
        cache (:meth:`_group_counts`); everything per unit or per layer is done once for all
        models by :meth:`_layer_table`. Consecutive layers are counted together, side by side
        along the unit axis, in groups of at most ``METRIC_GROUP_BYTES`` (one big
        concatenation of a deep stack's layers was several times slower per element).
        ``derivs``: f'(z) per layer from :meth:`_Act.derivative` (None: two-valued);
        ``rows``: the probe rows of the (padded) activations, default all.
        """
        s, e, act = self.slices[part]
        n = zs[0].shape[1] if rows is None else rows
        budget = max(1, METRIC_GROUP_BYTES // (zs[0].shape[1] * zs[0].element_size()))
        groups = []
        first, width = 0, 0
        for layer, z in enumerate(zs):
            width += z.shape[2]
            if layer == len(zs) - 1 or width + zs[layer + 1].shape[2] > budget:
                groups.append(self._group_counts(zs, hs, derivs, part, first, layer + 1, n))
                first, width = layer + 1, 0
        raw = torch.cat(groups, dim=2)  # [k + 2, m, units]
        if act.kind in act.TWO_VALUED:
            npos, h_zero, z_sum, squares = raw.unbind(0)
            slope = None
            if self.slopes is not None and act.kind == "prelu":
                slope = self.slopes[s:e].index_select(1, self.unit_layer)  # [m, units]
            zero, small = act.two_valued_counts(npos, n, slope, self.limit[s:e], zs[0].dtype)
        else:
            zero, small, h_zero, z_sum, squares = raw.unbind(0)
        return torch.stack([zero, small, h_zero, z_sum, squares], dim=2)

    def _group_counts(
        self,
        zs: list[torch.Tensor],
        hs: list[torch.Tensor],
        derivs: list[torch.Tensor | None],
        part: int,
        first: int,
        stop: int,
        rows: int,
    ) -> torch.Tensor:
        """The per-unit sums over the first ``rows`` inputs of hidden layers ``first:stop``,
        ``[k + 2, m, units]`` float64:
        the inputs with z > 0 (two-valued f'; k = 2) or with f' == 0 and with |f'| below the
        limit (k = 3); with h == 0; the sum of z; the centred sum of squares. The 0/1
        indicators go side by side into one buffer and are summed by one reduction (exact:
        float sums of at most ``n`` ones)."""
        act = self.slices[part][2]
        z = zs[first] if stop - first == 1 else torch.cat(zs[first:stop], dim=2)  # [m, n, units]
        h = hs[first] if stop - first == 1 else torch.cat(hs[first:stop], dim=2)
        m, padded, units = z.shape
        n = rows
        two_valued = act.kind in act.TWO_VALUED
        k = 2 if two_valued else 3
        # the buffer in z's layout: elementwise ops over mixed layouts are many times slower
        if z.is_contiguous():
            flags = torch.empty(k, m, padded, units, dtype=z.dtype, device=z.device)
        else:
            flags = torch.empty(k, m, units, padded, dtype=z.dtype, device=z.device).transpose(2, 3)
        if two_valued:
            torch.gt(z, 0, out=flags[0])
        else:
            given = derivs[first:stop]
            deriv = given[0] if stop - first == 1 else torch.cat(given, dim=2)  # type: ignore[arg-type]
            assert deriv is not None
            torch.eq(deriv, 0, out=flags[0])
            magnitude = deriv if act.kind in act.NONNEGATIVE else torch.abs(deriv, out=flags[1])
            torch.lt(magnitude, self.slice_limits[part], out=flags[1])
        torch.eq(h, 0, out=flags[k - 1])
        counts = flags[:, :, :n].sum(dim=2).to(torch.float64)  # [k, m, units]
        z_sum = z[:, :n].sum(dim=1).to(torch.float64)
        u0 = sum(t.shape[2] for t in zs[:first])
        unit_layer = self.unit_layer[u0 : u0 + units] - first
        # per-layer sums in unit order (index_add_ adds one unit after the other: no
        # matmul whose blocking could depend on the number of models)
        layer_sums = torch.zeros(m, stop - first, dtype=torch.float64, device=z.device).index_add_(1, unit_layer, z_sum)
        mean = layer_sums / (n * self.units_per_layer[first:stop])  # [m, layers]
        centred = torch.sub(z, mean.to(z.dtype).index_select(1, unit_layer)[:, None, :], out=flags[0])
        squares = centred.mul_(centred)[:, :n].sum(dim=1).to(torch.float64)
        return torch.cat([counts, z_sum[None], squares[None]])

    def _layer_table(self, counts: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """From :meth:`_unit_counts` of every model ``[M, units, 5]`` over ``n`` probe
        inputs: ``[M, hidden, 7]`` float64 (dead, saturated, zero share, pre-activation mean
        and std, died, revived; counts for the unit metrics) and the new dead masks ``[M,
        units]``. Per-layer figures are sums over each layer's units (exact: counts, or
        float64 sums)."""
        zero, small, h_zero, z_sum, squares = counts.unbind(2)
        dead, sat = masks_of_counts(zero, small, n, self.share)
        columns = [dead.to(torch.float64), sat.to(torch.float64), h_zero, z_sum, squares]
        if self.previous is not None:
            columns += [(dead & ~self.previous).to(torch.float64), (self.previous & ~dead).to(torch.float64)]
        stacked = torch.stack(columns, dim=1)  # [M, columns, units]
        sums = stacked.new_zeros(*stacked.shape[:2], len(self.dims) - 1).index_add_(2, self.unit_layer, stacked)
        count = n * self.units_per_layer  # [layers]
        dead_count, sat_count = sums[:, 0], sums[:, 1]
        zero_share, mean = sums[:, 2] / count, sums[:, 3] / count
        std = torch.where(count > 1, (sums[:, 4] / (count - 1).clamp_min(1)).sqrt(), 0.0)
        if self.previous is None:
            died = revived = torch.zeros_like(mean)
        else:
            died, revived = sums[:, 5], sums[:, 6]
        return torch.stack([dead_count, sat_count, zero_share, mean, std, died, revived], dim=2), dead


@contextmanager
def _one_thread() -> Iterator[None]:
    """Train a stack on one intra-op thread. With more, a stack of one model is computed
    differently from a stack of several: a reduction to one value per model (a loss, a
    gradient norm) is split across threads only when it is the stack's only value, and
    the BLAS splits one matrix's sums across threads but not a batch of matrices. On one
    thread a model's numbers depend neither on the thread count nor on its neighbours;
    parallelism comes from ``--jobs`` (one stack per worker)."""
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _update_key(cfg: dict[str, Any]) -> tuple[float, float, float]:
    """The update settings a model shares with the others of its optimizer call."""
    return (float(cfg["lr"]), float(cfg["weight_decay"]), float(cfg["momentum"]))


def _rows(
    epoch: int,
    train: list[float],
    val: list[float],
    grads: list[list[float]],
    layers: list[list[list[float]]],
    units: list[int],
) -> list[tuple[float, float, list[Row]]]:
    """Per model: ``(train_loss, val_loss, layer rows in the plain engine's order)``."""
    n_linear = len(units) + 1
    out = []
    for m, (train_loss, val_loss) in enumerate(zip(train, val, strict=True)):
        rows: list[Row] = []
        g = grads[m]
        for index in range(n_linear):
            rows.append((epoch, index, "grad_norm_weight", g[index]))
            rows.append((epoch, index, "grad_norm_bias", g[n_linear + index]))
        for index, (dead, sat, zero, mean, std, died, revived) in enumerate(layers[m]):
            u = units[index]
            rows += [
                (epoch, index, "dead_fraction", int(dead) / u),
                (epoch, index, "saturated_fraction", int(sat) / u),
                (epoch, index, "zero_fraction", zero),
                (epoch, index, "preact_mean", mean),
                (epoch, index, "preact_std", std),
                (epoch, index, "died_fraction", int(died) / u),
                (epoch, index, "revived_fraction", int(revived) / u),
            ]
        out.append((train_loss, val_loss, rows))
    return out


# ----------------------------------------------------------------------------- plain side


def _plain_model(run: _Run, layout: _Layout, dev: torch.device, dtype: torch.dtype) -> Autoencoder:
    """The plain :class:`Autoencoder` holding a run's parameters (its row)."""
    cfg = run.cfg
    out_spec = parse_activation(cfg["output_activation"], hidden=False)
    model = Autoencoder(run.data.x_train.shape[1], cfg["depth"], cfg["width"], cfg["bottleneck"], run.spec, out_spec)
    model.to(device=dev, dtype=dtype)
    assert run.params is not None
    parts = run.params.to(dev).split(layout.sizes)
    with torch.no_grad():
        for index, (fan_in, fan_out) in enumerate(layout.dims):
            linear = model.linears[index]
            assert isinstance(linear, torch.nn.Linear)
            linear.weight.copy_(parts[2 * index].view(fan_in, fan_out).t())
            linear.bias.copy_(parts[2 * index + 1])
        if layout.with_slopes:
            slopes = parts[-1]
            for index, act in enumerate(model.acts):
                if isinstance(act, torch.nn.PReLU):
                    act.weight.fill_(float(slopes[index]))
    model.eval()
    return model


def _measure_plain(run: _Run, model: Autoencoder, epoch: int, dev: torch.device) -> None:
    """``engine.train_run``'s ``record`` for one model that left the stack mid-epoch."""
    kind = run.cfg["loss"]
    x_train, x_val = run.data.x_train.to(dev), run.data.x_val.to(dev)
    train_loss, val_loss = _evaluate(model, x_train, kind), _evaluate(model, x_val, kind)
    run.epochs += [(epoch, "train_loss", train_loss), (epoch, "val_loss", val_loss)]
    _probe_plain(run, model, x_train, epoch)


def _probe_plain(run: _Run, model: Autoencoder, x_train: torch.Tensor, epoch: int) -> None:
    """The plain engine's layer metrics of one model, against its last measured masks."""
    probe = Probe(run.cfg, run.spec)
    probe.previous = run.previous
    with torch.enable_grad():
        run.layers.extend(probe.measure(model, x_train[: run.cfg["probe_size"]], epoch))
    run.previous = probe.previous


# ----------------------------------------------------------------------------- memory


def _counts(cfg: dict[str, Any], n_features: int) -> tuple[int, int]:
    dims = layer_dims(n_features, cfg["depth"], cfg["width"], cfg["bottleneck"])
    params = sum(i * o + o for i, o in dims) + len(dims) - 1
    units = sum(o for _, o in dims)
    return params, units


def estimate_group_bytes(
    cfg: dict[str, Any],
    n_models: int,
    n_train: int,
    n_features: int,
    n_val: int | None = None,
    n_test: int | None = None,
    element_bytes: int = 4,
) -> int:
    """Peak memory (bytes) of :func:`train_group` on ``n_models`` runs shaped like ``cfg``.

    Per model: parameters, gradients, two optimizer states and the update's temporaries
    (7 buffers of the parameter count); what a minibatch step keeps for backward (``z``,
    ``h`` and their gradients: 4 per unit and sample, plus the batch); the same for the
    probe set during measurement; its stacked split (worst case: every model its own seed);
    and the caller's float32 ``Dataset`` of that run. Plus one evaluation chunk and a
    fixed allowance for the interpreter and libraries.
    """
    n_val = n_val if n_val is not None else max(1, n_train // 4)
    n_test = n_test if n_test is not None else n_val
    params, units = _counts(cfg, n_features)
    probe = min(cfg["probe_size"], n_train)
    per_model = element_bytes * (
        7 * params
        + 4 * cfg["batch_size"] * (units + n_features)
        + 5 * probe * (units + n_features)
        + (n_train + n_val) * n_features
    )
    per_model += 4 * (n_train + n_val + n_test) * n_features
    return int(n_models * (per_model + EVAL_CHUNK_BYTES) + (256 << 20))


def max_models_for_memory(
    cfg: dict[str, Any],
    n_train: int,
    n_features: int,
    budget_bytes: int,
    n_val: int | None = None,
    n_test: int | None = None,
    element_bytes: int = 4,
) -> int:
    """The most models of this shape that one group may stack within ``budget_bytes`` (>= 1)."""
    one = estimate_group_bytes(cfg, 1, n_train, n_features, n_val, n_test, element_bytes)
    two = estimate_group_bytes(cfg, 2, n_train, n_features, n_val, n_test, element_bytes)
    per_model, fixed = two - one, 2 * one - two
    return max(1, int((budget_bytes - fixed) // max(1, per_model)))


# ----------------------------------------------------------------------------- entry point


def train_group(
    configs: list[dict[str, Any]],
    datasets: list[Any],
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    memory_budget: int | None = None,
) -> list[RunResult]:
    """Train resolved ``configs`` (one group: equal ``config.SHAPE_KEYS``) on their
    ``datasets`` (one :class:`~actcmp.datasets.Dataset` per config, split by its seed) as
    stacked models. Returns one :class:`RunResult` per config, in the given order, with the
    numbers ``engine.train_run`` gives for it (``env["engine"] == "batched"``).

    Runs with different optimizers train as separate stacks, one after the other. A group
    larger than ``memory_budget`` bytes (default: no limit; a sweep passes each worker's
    share, see :mod:`actcmp.run.resources`) is split. Raises,
    so that the caller can fall back to the plain engine, on what it cannot stack: unequal
    shapes, an activation with parameters of its own other than PReLU's slope.
    """
    if len(configs) != len(datasets):
        raise ValueError("one dataset per config")
    if not configs:
        return []
    _check_group(configs)
    data0 = datasets[0]
    budget = memory_budget if memory_budget is not None else sys.maxsize
    most = max_models_for_memory(
        configs[0], data0.x_train.shape[0], data0.x_train.shape[1], budget,
        data0.x_val.shape[0], data0.x_test.shape[0], torch.finfo(dtype).bits // 8,
    )  # fmt: skip
    by_optimizer: dict[str, list[int]] = {}
    for index, cfg in enumerate(configs):
        by_optimizer.setdefault(cfg["optimizer"], []).append(index)
    results: list[RunResult | None] = [None] * len(configs)
    dev = torch.device(device)
    for members in by_optimizer.values():
        for start in range(0, len(members), most):
            chunk = members[start : start + most]
            with torch.no_grad(), _one_thread():
                trained = _train([configs[i] for i in chunk], [datasets[i] for i in chunk], dev, dtype)
            for index, result in zip(chunk, trained, strict=True):
                results[index] = result
    return [r for r in results if r is not None]


def stack_refusal(cfg: dict[str, Any]) -> str | None:
    """Why this run cannot train in a stack (then the plain engine trains it), or None.

    A function of the run's own config: an activation (hidden or output) with parameters
    of its own other than PReLU's slope, which the stack cannot hold per model."""
    for name, hidden in ((cfg["activation"], True), (cfg["output_activation"], False)):
        spec = parse_activation(name, hidden=hidden)
        if spec.canonical == "prelu" and hidden and spec.callable_path is None:
            continue
        if any(True for _ in spec.build().parameters()):
            return f"activation {spec.canonical} has parameters of its own"
    return None


def _check_group(configs: list[dict[str, Any]]) -> None:
    first = {k: configs[0].get(k) for k in SHAPE_KEYS}
    for cfg in configs[1:]:
        for key, value in first.items():
            if cfg.get(key) != value:
                raise ValueError(f"configs of one group differ in {key!r}: {value!r} vs {cfg.get(key)!r}")


def _train(
    configs: list[dict[str, Any]], datasets: list[Any], dev: torch.device, dtype: torch.dtype
) -> list[RunResult]:
    """One stack: records every epoch like ``engine.train_run``, then ``engine.finish``."""
    started = time.perf_counter()
    runs = [
        _Run(i, cfg, cast_dataset(data, dtype), parse_activation(cfg["activation"]))
        for i, (cfg, data) in enumerate(zip(configs, datasets, strict=True))
    ]
    # models with equal update settings, then equal activations, side by side: one optimizer
    # call per setting, one kernel call per activation slice
    stack = _Stack(sorted(runs, key=lambda r: (_update_key(r.cfg), r.spec.canonical, r.position)), dev, dtype)
    layout = stack.layout
    cfg0 = configs[0]
    n_train, batch_size = stack.x_train.shape[1], cfg0["batch_size"]

    def leave(models: list[int], epoch: int, params: dict[int, torch.Tensor]) -> list[_Run]:
        gone = []
        for model in models:
            run = stack.runs[model]
            run.diverged_epoch = epoch
            run.last_epoch = epoch
            run.params = params[model] if model in params else stack.row(model)
            run.previous = stack.row_masks(model)
            gone.append(run)
        stack.keep([i for i in range(stack.size) if i not in set(models)])
        return gone

    def record(epoch: int) -> None:
        due = layers_due(epoch, cfg0)
        if due:
            measured = stack.measure(epoch, cfg0["probe_size"])
        else:  # losses only; a model that fails here gets its layers measured as it leaves
            measured = [(train_loss, val_loss, []) for train_loss, val_loss in stack.losses()]
        failed = []
        for model, (run, (train_loss, val_loss, rows)) in enumerate(zip(stack.runs, measured, strict=True)):
            run.epochs += [(epoch, "train_loss", train_loss), (epoch, "val_loss", val_loss)]
            run.layers.extend(rows)
            run.last_epoch = epoch
            if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
                failed.append(model)
        if failed:
            for run in leave(failed, epoch, {}):
                if not due:
                    _probe_plain(run, _plain_model(run, layout, dev, dtype), run.data.x_train.to(dev), epoch)

    record(0)
    for epoch in range(1, cfg0["epochs"] + 1):
        if stack.size == 0:
            break
        stepping = time.perf_counter()
        orders = [torch.cat(batch_order(n_train, batch_size, seed, epoch)) for seed in stack.slot_seeds]
        slot_order = torch.stack(orders).to(dev)
        slots = torch.arange(len(orders), device=dev).view(-1, 1)
        shuffled = stack.x_train[slots, slot_order]  # each split in this epoch's batch order
        left: list[_Run] = []  # diverged during this epoch: measured at its end, as plain does
        for start in range(0, n_train, batch_size):
            bad = stack.train_step(shuffled[:, start : start + batch_size].index_select(0, stack.slot))
            if bad:
                left += leave([model for model, _ in bad], epoch, dict(bad))
                if stack.size == 0:
                    break
        stack.timings["train"] = stack.timings.get("train", 0.0) + time.perf_counter() - stepping
        if stack.size:
            record(epoch)
        for run in left:
            _measure_plain(run, _plain_model(run, layout, dev, dtype), epoch, dev)

    for row, run in enumerate(stack.runs):
        run.params = stack.row(row)
    share = (time.perf_counter() - started) / len(runs)
    finishing = time.perf_counter()
    # no scikit-learn fit here any more: no BLAS threads to hold back (metrics.one_blas_thread)
    models = [_plain_model(run, layout, dev, dtype) for run in runs]
    for run, model in zip(runs, models, strict=True):
        run.layers.extend(preact_histogram_rows(model, run.data, run.cfg, run.last_epoch, dev))
    # each model's linear probe on its own: a batched fit can round differently with the batch
    # size, and a run's numbers must not depend on its neighbours (README: same numbers)
    given: list[dict[str, float | None]] = [{} for _ in runs]
    for index, (run, model) in enumerate(zip(runs, models, strict=True)):
        if run.diverged_epoch is None:
            given[index]["probe_accuracy"] = probe_accuracies([model], [run.data])[0]
    finals = [
        finish(model, run.data, run.cfg, run.epochs, run.layers, run.last_epoch, run.diverged_epoch, dev, extra)
        for run, model, extra in zip(runs, models, given, strict=True)
    ]
    samples = [
        collect_samples(model, run.data, run.cfg, run.diverged_epoch, dev)  # pictures (issue 15)
        for run, model in zip(runs, models, strict=True)
    ]
    spent = [(time.perf_counter() - finishing) / len(runs)] * len(runs)  # shared alike
    timings = {key: round(value, 4) for key, value in {**stack.timings, "finish": sum(spent)}.items()}
    env = {**environment(str(dev)), "engine": ENGINE, "group_size": len(runs), "group_timings_s": timings}
    return [
        RunResult(
            run_id=run.cfg["run_id"],
            config=run.cfg,
            status="diverged" if run.diverged_epoch is not None else "done",
            final=final,
            epochs=run.epochs,
            layers=run.layers,
            wall_time_s=share + seconds,
            env=dict(env),
            samples=blobs,
        )
        for run, final, seconds, blobs in zip(runs, finals, spent, samples, strict=True)
    ]


__all__ = [
    "ENGINE",
    "estimate_group_bytes",
    "max_models_for_memory",
    "train_group",
]
