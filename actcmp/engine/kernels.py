"""The batched engine's kernels: each activation on a slice of stacked models, and the losses.

:class:`_Act` runs one activation's forward and backward on a slice ``[m, n, units]`` of
stacked models, writing into a slice of one preallocated buffer (``out=``), with the very
ATen kernels autograd runs for the activation's ``nn`` module; it also counts the probe's
dead and saturated units from f'. :func:`per_sample_losses` and :func:`loss_grad` are the
plain engine's losses and their gradient for stacked outputs ``[M, n, d]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from actcmp.core.activations import ActivationSpec, derivative_of_output
from actcmp.core.metrics import peak_derivative

#: Largest input for which ATen's PReLU backward kernel is faster than a per-model loop.
PRELU_KERNEL_MAX = 16384

_aten = torch.ops.aten
_nn: Any = torch._C._nn  # its stubs lack the out= arguments the kernels take


def _raw(overload: Any) -> Any:
    """The C++ callable behind an ATen overload: the same kernel without the Python layer of
    ``OpOverload.__call__`` (0.7-1.8 us a call, on a hundred calls a step)."""
    return getattr(overload, "_op", overload)


def _nothing(_: Any) -> None:
    """Drop an ``out=`` kernel's return value (the buffer it wrote)."""
    return None


# ----------------------------------------------------------------------------- activation kernels
# ``fwd(z, slope, need_grad, out) -> saved`` writes f(z) into ``out``; ``bwd(dh, z, h, saved,
# slope, out) -> slope gradient or None`` writes dL/dz into ``out``. ``out`` has z's shape and
# layout (a slice of one buffer for every model). Each backward is the ATen kernel autograd
# runs for the activation's ``nn`` module: the one ``ActivationSpec.derivative`` applies to
# a gradient of ones (core.activations), here applied to dh.

Forward = Callable[[Tensor, Any, bool, Tensor], Any]
Backward = Callable[[Tensor, Tensor, Tensor, Any, Any, Tensor], Any]
Kernels = tuple[Forward, Backward]


def _identity_kernels(p: dict[str, Any]) -> Kernels:
    def identity_fwd(z: Tensor, a: Any, g: bool, out: Tensor) -> None:
        out.copy_(z)

    def identity_bwd(dh: Tensor, z: Tensor, h: Tensor, s: Any, a: Any, out: Tensor) -> None:
        out.copy_(dh)

    return identity_fwd, identity_bwd


def _relu_kernels(p: dict[str, Any]) -> Kernels:
    # ATen's relu is clamp_min(z, 0); its relu.out computes that into a new tensor and
    # copies it: the same kernel straight into the buffer (4.2 against 6.8 us on [3, 64, 64])
    threshold = _raw(_aten.threshold_backward.grad_input)
    return (
        lambda z, a, g, out: _nothing(torch.clamp_min(z, 0, out=out)),
        lambda dh, z, h, s, a, out: _nothing(threshold(dh, h, 0, grad_input=out)),
    )


def _mish_kernels(p: dict[str, Any]) -> Kernels:
    mish_backward = _raw(_aten.mish_backward.default)  # no out= variant
    return (
        lambda z, a, g, out: _nothing(_nn.mish(z, out=out)),
        lambda dh, z, h, s, a, out: _nothing(out.copy_(mish_backward(dh, z))),
    )


def _hardswish_kernels(p: dict[str, Any]) -> Kernels:
    hardswish_backward = _raw(_aten.hardswish_backward.out)
    return (
        lambda z, a, g, out: _nothing(_nn.hardswish(z, out=out)),
        lambda dh, z, h, s, a, out: _nothing(hardswish_backward(dh, z, out=out)),
    )


def _silu_kernels(p: dict[str, Any]) -> Kernels:
    forward, backward = _nn.silu, _raw(_aten.silu_backward.grad_input)
    return (
        lambda z, a, g, out: _nothing(forward(z, out=out)),
        lambda dh, z, h, s, a, out: _nothing(backward(dh, z, grad_input=out)),
    )


def _of_output_kernels(forward: Any, backward: Any) -> Kernels:
    """An activation whose backward takes its output h (tanh, sigmoid)."""
    return (
        lambda z, a, g, out: _nothing(forward(z, out=out)),
        lambda dh, z, h, s, a, out: _nothing(backward(dh, h, grad_input=out)),
    )


def _tanh_kernels(p: dict[str, Any]) -> Kernels:
    return _of_output_kernels(torch.tanh, _raw(_aten.tanh_backward.grad_input))


def _sigmoid_kernels(p: dict[str, Any]) -> Kernels:
    return _of_output_kernels(torch.sigmoid, _raw(_aten.sigmoid_backward.grad_input))


def _leaky_relu_kernels(p: dict[str, Any]) -> Kernels:
    slope = float(p["negative_slope"])
    leaky = _raw(_aten.leaky_relu_backward.grad_input)
    return (
        lambda z, a, g, out: _nothing(_nn.leaky_relu(z, slope, out=out)),
        lambda dh, z, h, s, a, out: _nothing(leaky(dh, z, slope, False, grad_input=out)),
    )


def _elu_kernels(p: dict[str, Any]) -> Kernels:
    alpha = float(p["alpha"])
    elu = _raw(_aten.elu_backward.grad_input)
    return (
        lambda z, a, g, out: _nothing(_nn.elu(z, alpha, 1, 1, out=out)),
        lambda dh, z, h, s, a, out: _nothing(elu(dh, alpha, 1, 1, False, z, grad_input=out)),
    )


def _gelu_kernels(p: dict[str, Any]) -> Kernels:
    approximate = str(p.get("approximate", "none"))
    gelu = _raw(_aten.gelu_backward.grad_input)
    return (
        lambda z, a, g, out: _nothing(_nn.gelu(z, approximate=approximate, out=out)),
        lambda dh, z, h, s, a, out: _nothing(gelu(dh, z, approximate=approximate, grad_input=out)),
    )


def _softplus_kernels(p: dict[str, Any]) -> Kernels:
    beta, limit = float(p["beta"]), float(p["threshold"])
    softplus = _raw(_aten.softplus_backward.grad_input)
    return (
        lambda z, a, g, out: _nothing(_nn.softplus(z, beta, limit, out=out)),
        lambda dh, z, h, s, a, out: _nothing(softplus(dh, z, beta, limit, grad_input=out)),
    )


def _clamp_kernels(low: float, high: float) -> Kernels:
    """hardtanh between ``low`` and ``high`` (relu6: 0 and 6)."""
    hardtanh = _raw(_aten.hardtanh_backward.grad_input)
    return (
        lambda z, a, g, out: _nothing(_nn.hardtanh(z, low, high, out=out)),
        lambda dh, z, h, s, a, out: _nothing(hardtanh(dh, z, low, high, grad_input=out)),
    )


def _hardtanh_kernels(p: dict[str, Any]) -> Kernels:
    return _clamp_kernels(float(p["min_val"]), float(p["max_val"]))


def _relu6_kernels(p: dict[str, Any]) -> Kernels:
    return _clamp_kernels(0.0, 6.0)


def _softmax_kernels(p: dict[str, Any]) -> Kernels:
    return (
        lambda z, a, g, out: _nothing(_aten._softmax.out(z, -1, False, out=out)),
        lambda dh, z, h, s, a, out: _nothing(_aten._softmax_backward_data.out(dh, h, -1, h.dtype, grad_input=out)),
    )


def _prelu_kernels(p: dict[str, Any]) -> Kernels:
    prelu = torch._prelu_kernel  # slope a: [m, 1, 1]

    def prelu_fwd(z: Tensor, a: Any, g: bool, out: Tensor) -> None:
        out.copy_(prelu(z, a))

    def prelu_bwd(dh: Tensor, z: Tensor, h: Tensor, s: Any, a: Any, out: Tensor) -> Tensor:
        grad_input, grad_slope = _prelu_backward(dh, z, h, s, a)
        out.copy_(grad_input)
        return grad_slope

    return prelu_fwd, prelu_bwd


def _autograd_kernels(module: torch.nn.Module) -> Kernels:
    """Any other activation (softsign, SELU, a user's callable): autograd on its slice."""

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


#: Kernels by registry name (:data:`actcmp.core.activations.REGISTRY`), from the
#: activation's parameters; an activation not here (or a user's callable) runs through
#: autograd (:func:`_autograd_kernels`).
KERNELS: dict[str, Callable[[dict[str, Any]], Kernels]] = {
    "identity": _identity_kernels,
    "relu": _relu_kernels,
    "leaky_relu": _leaky_relu_kernels,
    "prelu": _prelu_kernels,
    "elu": _elu_kernels,
    "gelu": _gelu_kernels,
    "silu": _silu_kernels,
    "mish": _mish_kernels,
    "tanh": _tanh_kernels,
    "sigmoid": _sigmoid_kernels,
    "softplus": _softplus_kernels,
    "hardtanh": _hardtanh_kernels,
    "relu6": _relu6_kernels,
    "hardswish": _hardswish_kernels,
    "softmax": _softmax_kernels,
}


# ----------------------------------------------------------------------------- one activation


class _Act:
    """One activation on a slice of stacked models: forward, backward, derivative masks.

    ``fwd(z, slope, need_grad)`` returns ``(h, saved)``; ``bwd(dh, z, h, saved, slope)``
    returns ``(dz, slope_grad or None)``. The backward kernels are the ones autograd uses
    for the same ``nn`` module, so a batched step computes what ``loss.backward()``
    computes in the plain engine (tested bit for bit per activation).
    """

    #: activations with kernels of their own (:data:`KERNELS`); any other is "generic"
    FAST = tuple(KERNELS)
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
        self.fwd, self.bwd = KERNELS[self.kind](self.p) if self.kind in KERNELS else _autograd_kernels(self.module)

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


_PRELU_BACKWARD = _raw(_aten._prelu_kernel_backward.default)


def _prelu_backward(
    dh: torch.Tensor, z: torch.Tensor, h: torch.Tensor, saved: Any, slope: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """PReLU's input gradient and its slope gradient per element (``[m, n, units]``: sum
    over the last two dims per model), as autograd computes them. ``slope [m, 1, 1]``."""
    if z.numel() <= PRELU_KERNEL_MAX:
        return _PRELU_BACKWARD(dh, z, slope)  # type: ignore[no-any-return]
    return _prelu_input_grad(dh, z, slope), dh * z.clamp(max=0)


def _prelu_input_grad(dh: torch.Tensor, z: torch.Tensor, slope: torch.Tensor) -> torch.Tensor:
    """PReLU's input gradient alone (the probe needs no slope gradient). The broadcast
    kernel turns slow on large inputs; per model, leaky_relu_backward computes what it
    computes for the input (x > 0 ? g : w*g)."""
    if z.numel() <= PRELU_KERNEL_MAX:
        return _PRELU_BACKWARD(dh, z, slope)[0]  # type: ignore[no-any-return]
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
