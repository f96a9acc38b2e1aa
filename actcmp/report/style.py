"""One fixed look per activation, shared by every figure.

Each registry activation has its own colour and marker (markers differ too, so lines stay
apart in greyscale and for colour-blind readers). Colours come from the Okabe-Ito and
Paul Tol palettes first, for the activations most often compared.

Parameterised variants such as ``leaky_relu(negative_slope=0.2)`` keep the base name's
marker and a colour of the same hue, shifted lighter or darker by a hash of the full name,
and get a non-solid line style (also hash-picked), so a variant sits next to its base
in a legend yet stays distinguishable from it. Names outside the registry (user callables
``pkg.mod:fn``) get a colour, marker and line style picked by a hash of the name.

All hashes are SHA-256 (never Python's salted ``hash``), so styles are identical across
processes and machines. Nothing here imports matplotlib.
"""

from __future__ import annotations

import colorsys
import hashlib
from typing import Any

from actcmp.analysis.cells import activation_order, base_name

#: Each activation's colour and marker, in the legend order (:data:`actcmp.analysis.cells.LEGEND_ORDER`,
#: the registry's; a test checks that they agree).
ACTIVATION_STYLES: dict[str, tuple[str, str]] = {
    "identity": ("#000000", "x"),
    "relu": ("#0072B2", "o"),
    "leaky_relu": ("#56B4E9", "s"),
    "prelu": ("#009E73", "D"),
    "elu": ("#E69F00", "^"),
    "selu": ("#CC79A7", "v"),
    "celu": ("#8C564B", "<"),
    "gelu": ("#D55E00", "P"),
    "silu": ("#882255", "X"),
    "mish": ("#117733", "*"),
    "softplus": ("#999933", "h"),
    "sigmoid": ("#CC6677", "d"),
    "tanh": ("#332288", ">"),
    "hardtanh": ("#44AA99", "8"),
    "relu6": ("#7F7F7F", "p"),
    "hardswish": ("#B8860B", "H"),
    "softsign": ("#AA4499", "+"),
}

_VARIANT_LINESTYLES: tuple[str | tuple[int, tuple[int, ...]], ...] = ("--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)))
_VARIANT_SHIFTS = (-0.35, -0.2, 0.2, 0.35)
_FALLBACK_MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*", "h", "d")


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def _shift(colour: str, amount: float) -> str:
    """Mix ``colour`` towards white (amount > 0) or black (amount < 0)."""
    rgb = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    target = 1.0 if amount > 0 else 0.0
    mixed = [c + (target - c) * abs(amount) for c in rgb]
    return "#" + "".join(f"{round(c * 255):02X}" for c in mixed)


def _hash_colour(name: str) -> str:
    hue = (_digest(name) % 360) / 360
    r, g, b = colorsys.hsv_to_rgb(hue, 0.65, 0.75)
    return "#" + "".join(f"{round(c * 255):02X}" for c in (r, g, b))


def activation_style(name: str) -> tuple[str, str]:
    """``(colour, marker)`` for an activation name, the same in every figure and process."""
    base = base_name(name)
    if base in ACTIVATION_STYLES:
        colour, marker = ACTIVATION_STYLES[base]
        if "(" in name:
            colour = _shift(colour, _VARIANT_SHIFTS[_digest(name) % len(_VARIANT_SHIFTS)])
        return colour, marker
    return _hash_colour(name), _FALLBACK_MARKERS[_digest(name) % len(_FALLBACK_MARKERS)]


def activation_linestyle(name: str) -> str | tuple[int, tuple[int, ...]]:
    """Solid for registry names, a hash-picked dashed style for parameterised variants."""
    if "(" in name and base_name(name) in ACTIVATION_STYLES:
        return _VARIANT_LINESTYLES[_digest(name) % len(_VARIANT_LINESTYLES)]
    return "-"


def line_kwargs(name: str) -> dict[str, Any]:
    """Keyword arguments for ``Axes.plot`` drawing one activation."""
    colour, marker = activation_style(name)
    return {"color": colour, "marker": marker, "linestyle": activation_linestyle(name)}


__all__ = [
    "ACTIVATION_STYLES",
    "activation_linestyle",
    "activation_order",
    "activation_style",
    "base_name",
    "line_kwargs",
]
