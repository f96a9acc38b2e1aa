"""Activation registry: name -> factory, with formulas, derivatives and init rules.

Names may carry parameters, ``leaky_relu(negative_slope=0.2)``; they are stored in a
canonical form (defaults dropped, keys sorted) so that equal activations hash equally.
A user's own activation is given as ``package.module:callable``; the module is looked
up on ``sys.path`` and, after it, in the current directory (so ``mypkg.acts:f`` works with
``./mypkg`` and no ``PYTHONPATH``). Worker processes resolve the same name again, with
the same rule, in their own current directory (the sweep's, for local workers).

This module imports torch lazily inside functions that need it, so that listing the
registry (``actcmp activations``) stays cheap.
"""

from __future__ import annotations

import ast
import importlib
import math
import os
import re
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from actcmp.errors import ActcmpError, UnknownActivation, did_you_mean

if TYPE_CHECKING:
    import torch
    from torch import nn

ParamValue = float | str | bool
# f'(z) by the backward kernel autograd uses; returning None (e.g. for a parameter value it does not cover) falls back to autograd
Derivative = Callable[["torch.Tensor", dict[str, Any]], "torch.Tensor | None"]


@dataclass(frozen=True)
class ActivationInfo:
    """One registry entry.

    ``family`` groups activations for init and reporting: ``relu`` (piecewise linear with
    a kink at 0), ``smooth`` (smooth ReLU-likes), ``bounded`` (sigmoid/tanh style,
    saturating), ``linear`` and ``selu``. ``init`` is the rule that ``init="auto"`` picks.
    ``derivative`` is f'(z) by the ATen backward kernel that autograd runs for the module
    (the same values, kinks included); when ``None`` autograd itself is used.
    """

    name: str
    torch_name: str
    formula: str
    derivative_formula: str
    family: str
    init: str
    defaults: dict[str, ParamValue] = field(default_factory=dict)
    derivative: Derivative | None = None
    learnable: bool = False
    output_only: bool = False
    hidden_ok: bool = True


# Every derivative the probes use comes from the backward kernel that autograd runs for
# the activation's ``nn`` module, applied to a gradient of ones (multiplying by 1 is
# exact): so "f'(z) == 0", the dead test, is exactly "no gradient passes in training",
# also at the kinks (0, +-3, 6, the hardtanh limits), in one pass instead of five to ten
# (measured 1.6-4.8x faster than a closed form). Activations without a dedicated kernel
# (softsign, PReLU, user callables) take autograd itself (``derivative=None``).
# ``tests/test_activations.py`` checks each against autograd on a grid with the kinks.


def _ones_backward(kernel: str, z: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    import torch

    return getattr(torch.ops.aten, kernel).default(torch.ones_like(z), *args, **kwargs)  # type: ignore[no-any-return]


def _d_relu(z: torch.Tensor, p: dict[str, Any]) -> torch.Tensor:
    import torch

    # ReLU's backward masks by its output: threshold_backward(grad, relu(z), 0)
    return _ones_backward("threshold_backward", z, torch.relu(z), 0)


def _d_leaky(z: torch.Tensor, p: dict[str, Any]) -> torch.Tensor:
    return _ones_backward("leaky_relu_backward", z, z, float(p["negative_slope"]), False)


def _d_elu(z: torch.Tensor, p: dict[str, Any]) -> torch.Tensor:
    return _ones_backward("elu_backward", z, float(p["alpha"]), 1, 1, False, z)


# ATen's selu is elu(z, alpha, scale) with these constants (its SELU_ALPHA / SELU_SCALE)
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _d_selu(z: torch.Tensor, p: dict[str, Any]) -> torch.Tensor:
    return _ones_backward("elu_backward", z, _SELU_ALPHA, _SELU_SCALE, 1, False, z)


def _d_celu(z: torch.Tensor, p: dict[str, Any]) -> torch.Tensor:
    # ATen's celu is elu(z, alpha, 1, input_scale=1/alpha); its autograd formula takes
    # 1.0 / alpha.toFloat(), alpha rounded to float32 first (derivatives.yaml)
    alpha = float(p["alpha"])
    alpha32 = struct.unpack("f", struct.pack("f", alpha))[0]
    return _ones_backward("elu_backward", z, alpha, 1, 1.0 / alpha32, False, z)


def _d_gelu(z: torch.Tensor, p: dict[str, Any]) -> torch.Tensor:
    # Phi(x) + x * phi(x) (or the tanh approximation's derivative)
    return _ones_backward("gelu_backward", z, z, approximate=str(p.get("approximate", "none")))


def _d_silu(z: torch.Tensor, p: dict[str, Any]) -> torch.Tensor:
    # s * (1 + x * (1 - s)), s = sigmoid(x)
    return _ones_backward("silu_backward", z, z)


def _d_mish(z: torch.Tensor, p: dict[str, Any]) -> torch.Tensor:
    return _ones_backward("mish_backward", z, z)


def _d_softplus(z: torch.Tensor, p: dict[str, Any]) -> torch.Tensor:
    return _ones_backward("softplus_backward", z, z, float(p["beta"]), float(p["threshold"]))


def _d_sigmoid(z: torch.Tensor, p: dict[str, Any]) -> torch.Tensor:
    import torch

    return derivative_of_output("sigmoid", torch.sigmoid(z))


def _d_tanh(z: torch.Tensor, p: dict[str, Any]) -> torch.Tensor:
    import torch

    return derivative_of_output("tanh", torch.tanh(z))


def derivative_of_output(name: str, h: torch.Tensor) -> torch.Tensor:
    """f'(z) of ``tanh`` or ``sigmoid`` from the output ``h = f(z)``, by the kernel their
    backward uses (``tanh_backward`` / ``sigmoid_backward``): the values of
    ``ActivationSpec.derivative`` without recomputing f."""
    kernel = {"tanh": "tanh_backward", "sigmoid": "sigmoid_backward"}[name]
    return _ones_backward(kernel, h, h)


def _d_hardtanh(z: torch.Tensor, p: dict[str, Any]) -> torch.Tensor:
    return _ones_backward("hardtanh_backward", z, z, float(p["min_val"]), float(p["max_val"]))


def _d_relu6(z: torch.Tensor, p: dict[str, Any]) -> torch.Tensor:
    return _ones_backward("hardtanh_backward", z, z, 0.0, 6.0)


def _d_hardswish(z: torch.Tensor, p: dict[str, Any]) -> torch.Tensor:
    return _ones_backward("hardswish_backward", z, z)


def _d_identity(z: torch.Tensor, p: dict[str, Any]) -> torch.Tensor:
    import torch

    return torch.ones_like(z)


_ENTRIES = [
    ActivationInfo("identity", "Identity", "f(x) = x", "f'(x) = 1", "linear", "lecun", derivative=_d_identity),
    ActivationInfo(
        "relu", "ReLU", "f(x) = max(0, x)", "f'(x) = 1 if x > 0 else 0", "relu", "kaiming", derivative=_d_relu
    ),
    ActivationInfo(
        "leaky_relu",
        "LeakyReLU",
        "f(x) = x if x > 0 else a*x",
        "f'(x) = 1 if x > 0 else a",
        "relu",
        "kaiming",
        {"negative_slope": 0.01},
        derivative=_d_leaky,
    ),
    ActivationInfo(
        "prelu",
        "PReLU",
        "f(x) = x if x > 0 else a*x, a learned (init 0.25)",
        "f'(x) = 1 if x > 0 else a",
        "relu",
        "kaiming",
        {"init": 0.25},
        learnable=True,
    ),
    ActivationInfo(
        "elu",
        "ELU",
        "f(x) = x if x > 0 else a*(exp(x) - 1)",
        "f'(x) = 1 if x > 0 else a*exp(x)",
        "smooth",
        "kaiming",
        {"alpha": 1.0},
        derivative=_d_elu,
    ),
    ActivationInfo(
        "selu",
        "SELU",
        "f(x) = s*(x if x > 0 else a*(exp(x) - 1))",
        "f'(x) = s if x > 0 else s*a*exp(x)",
        "selu",
        "lecun",
        derivative=_d_selu,
    ),
    ActivationInfo(
        "celu",
        "CELU",
        "f(x) = max(0, x) + min(0, a*(exp(x/a) - 1))",
        "f'(x) = 1 if x > 0 else exp(x/a)",
        "smooth",
        "kaiming",
        {"alpha": 1.0},
        derivative=_d_celu,
    ),
    ActivationInfo(
        "gelu",
        "GELU",
        "f(x) = x*Phi(x)  (approximate=tanh: tanh form)",
        "f'(x) = Phi(x) + x*phi(x)",
        "smooth",
        "kaiming",
        {"approximate": "none"},
        derivative=_d_gelu,
    ),
    ActivationInfo(
        "silu",
        "SiLU",
        "f(x) = x*sigmoid(x)  (swish)",
        "f'(x) = s(x)*(1 + x*(1 - s(x)))",
        "smooth",
        "kaiming",
        derivative=_d_silu,
    ),
    ActivationInfo(
        "mish",
        "Mish",
        "f(x) = x*tanh(softplus(x))",
        "f'(x) = tanh(sp(x)) + x*sigmoid(x)*(1 - tanh(sp(x))^2)",
        "smooth",
        "kaiming",
        derivative=_d_mish,
    ),
    ActivationInfo(
        "softplus",
        "Softplus",
        "f(x) = log(1 + exp(b*x))/b",
        "f'(x) = sigmoid(b*x)",
        "smooth",
        "kaiming",
        {"beta": 1.0, "threshold": 20.0},
        derivative=_d_softplus,
    ),
    ActivationInfo(
        "sigmoid",
        "Sigmoid",
        "f(x) = 1/(1 + exp(-x))",
        "f'(x) = f(x)*(1 - f(x))",
        "bounded",
        "xavier",
        derivative=_d_sigmoid,
    ),
    ActivationInfo("tanh", "Tanh", "f(x) = tanh(x)", "f'(x) = 1 - tanh(x)^2", "bounded", "xavier", derivative=_d_tanh),
    ActivationInfo(
        "hardtanh",
        "Hardtanh",
        "f(x) = clip(x, min_val, max_val)",
        "f'(x) = 1 if min_val < x < max_val else 0",
        "bounded",
        "xavier",
        {"min_val": -1.0, "max_val": 1.0},
        derivative=_d_hardtanh,
    ),
    ActivationInfo(
        "relu6",
        "ReLU6",
        "f(x) = min(max(0, x), 6)",
        "f'(x) = 1 if 0 < x < 6 else 0",
        "relu",
        "kaiming",
        derivative=_d_relu6,
    ),
    ActivationInfo(
        "hardswish",
        "Hardswish",
        "f(x) = x*relu6(x + 3)/6",
        "f'(x) = 0 if x <= -3, 1 if x >= 3, else (2x + 3)/6",
        "smooth",
        "kaiming",
        derivative=_d_hardswish,
    ),
    ActivationInfo(
        "softsign",
        "Softsign",
        "f(x) = x/(1 + |x|)",
        "f'(x) = 1/(1 + |x|)^2",
        "bounded",
        "xavier",
    ),
    ActivationInfo(
        "softmax",
        "Softmax",
        "f(x)_i = exp(x_i)/sum_j exp(x_j)",
        "df_i/dx_j = f_i*(delta_ij - f_j)",
        "bounded",
        "xavier",
        output_only=True,
        hidden_ok=False,
    ),
]

REGISTRY: dict[str, ActivationInfo] = {e.name: e for e in _ENTRIES}
ALIASES: dict[str, str] = {
    "swish": "silu",
    "linear": "identity",
    "none": "identity",
    "lrelu": "leaky_relu",
    "leakyrelu": "leaky_relu",
    "logistic": "sigmoid",
    "gelu_tanh": "gelu(approximate=tanh)",
}
OUTPUT_ACTIVATIONS = ("identity", "sigmoid", "tanh", "softmax")

_NAME_RE = re.compile(r"^\s*([A-Za-z_][\w]*)\s*(?:\((.*)\))?\s*$", re.S)


@dataclass(frozen=True)
class ActivationSpec:
    """A resolved activation: registry entry (or user callable) plus its parameters."""

    name: str
    params: tuple[tuple[str, ParamValue], ...] = ()
    callable_path: str | None = None

    @property
    def info(self) -> ActivationInfo:
        if self.callable_path is not None:
            return ActivationInfo(self.callable_path, "", "user callable", "autograd", "custom", "lecun")
        return REGISTRY[self.name]

    @property
    def param_dict(self) -> dict[str, ParamValue]:
        merged: dict[str, ParamValue] = dict(self.info.defaults)
        merged.update(dict(self.params))
        return merged

    @property
    def canonical(self) -> str:
        if self.callable_path is not None:
            return self.callable_path
        if not self.params:
            return self.name
        inner = ",".join(f"{k}={_fmt(v)}" for k, v in self.params)
        return f"{self.name}({inner})"

    def build(self) -> nn.Module:
        """Return a fresh ``nn.Module`` applying this activation elementwise."""
        return _build(self)

    def derivative(self, z: torch.Tensor, module: nn.Module | None = None) -> torch.Tensor:
        """f'(z) elementwise: the module's ATen backward kernel on a gradient of ones where
        there is one, else autograd through ``module``; equal to autograd's values."""
        fn = self.info.derivative
        if fn is not None:
            out = fn(z, self.param_dict)
            if out is not None:
                return out
        return autograd_derivative(module if module is not None else self.build(), z)


def _fmt(value: ParamValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(float(value)).rstrip("0").rstrip(".") if "e" not in repr(value) else repr(value)
    return str(value)


def autograd_derivative(module: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """Elementwise derivative of an elementwise ``module`` at ``z`` (same shape as z)."""
    import torch

    with torch.enable_grad():
        zz = z.detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(module(zz).sum(), zz)
    return grad.detach()


def _parse_value(raw: str, where: str) -> ParamValue:
    text = raw.strip()
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text.strip("'\"")
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        return float(value)
    raise UnknownActivation(f"activation '{where}': parameter value {raw!r} is not a number")


def parse_activation(text: str, *, hidden: bool = True) -> ActivationSpec:
    """Parse ``name`` / ``name(k=v, ...)`` / ``module:callable`` into a spec.

    Raises :class:`UnknownActivation` with close matches for unknown names or parameters.
    """
    if not isinstance(text, str) or not text.strip():
        raise UnknownActivation("activation name is empty")
    raw = text.strip()
    if ":" in raw and "(" not in raw.split(":")[0]:
        _load_callable(raw)  # fail early with a clear message
        return ActivationSpec(name=raw, callable_path=raw)
    match = _NAME_RE.match(raw)
    if not match:
        raise UnknownActivation(f"activation '{raw}' is not of the form name or name(key=value)")
    name, arg_text = match.group(1).lower(), match.group(2)
    if name in ALIASES:
        alias_spec = parse_activation(ALIASES[name], hidden=hidden)
        name = alias_spec.name
        params = dict(alias_spec.params)
    else:
        params = {}
    if name not in REGISTRY:
        known = list(REGISTRY) + list(ALIASES)
        raise UnknownActivation(f"unknown activation '{name}'{did_you_mean(name, known)}")
    info = REGISTRY[name]
    if hidden and not info.hidden_ok:
        raise UnknownActivation(f"activation '{name}' is only allowed as an output activation, not on hidden layers")
    given: set[str] = set()
    if arg_text and arg_text.strip():
        for part in arg_text.split(","):
            if "=" not in part:
                raise UnknownActivation(f"activation '{raw}': parameter {part.strip()!r} must be key=value")
            key, val = (s.strip() for s in part.split("=", 1))
            if key not in info.defaults:
                allowed = ", ".join(info.defaults) or "none"
                raise UnknownActivation(
                    f"activation '{name}' has no parameter '{key}'"
                    f"{did_you_mean(key, info.defaults)} (parameters: {allowed})"
                )
            if key in given:
                raise UnknownActivation(f"activation '{raw}': parameter '{key}' is given twice")
            given.add(key)
            params[key] = _coerce(info, key, _parse_value(val, raw), val)
    _check_ranges(name, {**info.defaults, **params}, raw)
    # canonical: drop defaults, sort keys
    kept = tuple(sorted((k, v) for k, v in params.items() if info.defaults.get(k) != v))
    return ActivationSpec(name=name, params=kept)


def _coerce(info: ActivationInfo, key: str, value: ParamValue, raw: str | None = None) -> ParamValue:
    default = info.defaults[key]
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, float):
            raise UnknownActivation(f"activation '{info.name}': {key} must be a number, got {value!r}")
        if not math.isfinite(value):
            shown = raw.strip() if raw is not None else repr(value)
            raise UnknownActivation(f"activation '{info.name}': {key} must be a finite number, got {shown}")
        return float(value)
    if key == "approximate" and value not in ("none", "tanh"):
        raise UnknownActivation(f"activation 'gelu': approximate must be 'none' or 'tanh', got {value!r}")
    return value


def _check_ranges(name: str, params: dict[str, ParamValue], raw: str) -> None:
    """Parameter values that would build a module that cannot train (or not build at all)."""
    problem = ""
    if name == "softplus" and float(params["beta"]) <= 0:
        problem = f"beta must be greater than 0, got {_fmt(params['beta'])}"
    elif name == "softplus" and float(params["threshold"]) <= 0:
        problem = f"threshold must be greater than 0, got {_fmt(params['threshold'])}"
    elif name == "hardtanh" and float(params["min_val"]) >= float(params["max_val"]):
        problem = f"min_val ({_fmt(params['min_val'])}) must be less than max_val ({_fmt(params['max_val'])})"
    elif name == "celu" and float(params["alpha"]) == 0:
        problem = "alpha must not be 0 (CELU divides by it)"
    if problem:
        raise UnknownActivation(f"activation '{raw}': {problem}")


def canonical_name(text: str, *, hidden: bool = True) -> str:
    """The stored form of an activation name (see module docstring)."""
    return parse_activation(text, hidden=hidden).canonical


def _cwd_importable() -> None:
    """Append the current directory to ``sys.path`` unless it is on it already (``""``
    and ``"."`` count). Appended, not prepended: an installed package or the standard
    library is not shadowed by a file of the same name that happens to lie here."""
    cwd = os.getcwd()
    for entry in sys.path:
        try:
            if os.path.realpath(entry or ".") == os.path.realpath(cwd):
                return
        except (OSError, ValueError):  # pragma: no cover - odd sys.path entries
            continue
    sys.path.append(cwd)
    importlib.invalidate_caches()


def _load_callable(path: str) -> Any:
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise UnknownActivation(f"activation '{path}' must look like package.module:callable")
    _cwd_importable()
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise UnknownActivation(f"activation '{path}': cannot import module '{module_name}' ({exc})") from None
    except (SystemExit, KeyboardInterrupt) as exc:  # the user's module ended the program: its error, not ours
        raise UnknownActivation(
            f"activation '{path}': importing module '{module_name}' {_exit_text(exc)} (fix that module)"
        ) from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UnknownActivation(f"activation '{path}': module '{module_name}' has no attribute '{attr}'")
        obj = getattr(obj, part)
    if not callable(obj):
        raise UnknownActivation(f"activation '{path}' is not callable")
    return obj


def _exit_text(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r})"
    return "raised KeyboardInterrupt"


def check_builds(text: str) -> None:
    """Build ``text``'s module once and apply it to a small tensor, so that an activation
    that cannot be built (a class needing constructor arguments) or applied fails at plan
    time with one line, not as failed runs.

    A registry entry named without parameters is not built here: it builds by construction
    (``tests/test_activations.py`` builds and applies every one), and building it would
    import torch into the sweep's main process, a second or two before any worker starts."""
    spec = parse_activation(text)
    if spec.callable_path is None and not spec.params:
        return
    apply_once(text, spec)


def apply_once(text: str, spec: ActivationSpec) -> None:
    """:func:`check_builds`' test: build ``spec``, apply it to ``[2, 4]`` values in [-3, 3]."""
    import torch

    z = torch.linspace(-3.0, 3.0, 8).reshape(2, 4)
    try:
        out = spec.build()(z)
    except ActcmpError:
        raise
    except Exception as exc:
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise UnknownActivation(
            f"activation '{text}': cannot be built and applied ({type(exc).__name__}: {reason})"
        ) from None
    except (SystemExit, KeyboardInterrupt) as exc:
        raise UnknownActivation(f"activation '{text}': building or applying it {_exit_text(exc)}") from None
    if not isinstance(out, torch.Tensor) or out.shape != z.shape:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise UnknownActivation(
            f"activation '{text}': must map a tensor to one of the same shape (elementwise); [2, 4] gave {got}"
        )


def _build(spec: ActivationSpec) -> nn.Module:
    from torch import nn

    if spec.callable_path is not None:
        obj = _load_callable(spec.callable_path)
        if isinstance(obj, type) and issubclass(obj, nn.Module):
            return obj()
        return _Lambda(obj)
    p = spec.param_dict
    name = spec.name
    if name == "identity":
        return nn.Identity()
    if name == "leaky_relu":
        return nn.LeakyReLU(negative_slope=float(p["negative_slope"]))
    if name == "prelu":
        return nn.PReLU(num_parameters=1, init=float(p["init"]))
    if name in ("elu", "celu"):
        return getattr(nn, REGISTRY[name].torch_name)(alpha=float(p["alpha"]))
    if name == "gelu":
        return nn.GELU(approximate=str(p["approximate"]))
    if name == "softplus":
        return nn.Softplus(beta=float(p["beta"]), threshold=float(p["threshold"]))
    if name == "hardtanh":
        return nn.Hardtanh(min_val=float(p["min_val"]), max_val=float(p["max_val"]))
    if name == "softmax":
        return nn.Softmax(dim=-1)
    return getattr(nn, REGISTRY[name].torch_name)()


def _Lambda(fn: Callable[..., Any]) -> nn.Module:
    from torch import nn

    class Lambda(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fn = fn

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fn(x)  # type: ignore[no-any-return]

    return Lambda()


def kaiming_gain(spec: ActivationSpec) -> float:
    """He gain for the ReLU family (with negative slope), 1-ish for smooth ReLU-likes."""
    p = spec.param_dict
    if spec.name in ("leaky_relu", "prelu"):
        slope = float(p.get("negative_slope", p.get("init", 0.0)))
        return math.sqrt(2.0 / (1.0 + slope * slope))
    return math.sqrt(2.0)


def xavier_gain(spec: ActivationSpec) -> float:
    """torch.nn.init.calculate_gain for the bounded family (tanh: 5/3, sigmoid: 1)."""
    if spec.name == "tanh":
        return 5.0 / 3.0
    return 1.0


def list_activations() -> list[ActivationInfo]:
    """All registry entries, hidden-layer ones first."""
    return sorted(REGISTRY.values(), key=lambda e: (e.output_only, e.name))
