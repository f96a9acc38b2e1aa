"""How numbers and p-values are written, once for every table, sentence and caption.

* :data:`MISSING` (``–``) stands for a value that does not exist or was not computed;
* :func:`fmt_number`: 3 significant digits, scientific below 1e-4 or from 1e5;
* :func:`fmt_mean_std` and :func:`fmt_interval`: ``0.0123 ± 0.0004``, ``0.0101 – 0.0112``;
* :func:`fmt_p`: a p-value in a table cell, ``< 0.001`` or 3 significant digits (so that
  0.0497 never reads as 0.050 next to a 0.05 threshold); :func:`p_clause` the same in a
  sentence: ``p < 0.001`` / ``p = 0.0497``.
"""

from __future__ import annotations

import math

MISSING = "–"
#: below this a p-value is written as a bound
P_FLOOR = 0.001


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def fmt_number(value: float | None, sig: int = 3) -> str:
    """``0.0123``, ``12.3``, ``1.23e-05``; :data:`MISSING` for None, NaN or inf."""
    if value is None or not math.isfinite(value):
        return MISSING
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-4:
        return f"{value:.{sig - 1}e}"
    decimals = max(0, sig - 1 - math.floor(math.log10(abs(value))))
    return f"{value:.{decimals}f}"


def fmt_mean_std(mean: float | None, std: float | None, sig: int = 3) -> str:
    """``0.0123 ± 0.0004``: the mean to ``sig`` significant digits, more (up to two) when the
    std needs them to show one significant digit; just the mean for one seed."""
    if mean is None or not math.isfinite(mean):
        return MISSING
    text = fmt_number(mean, sig)
    if std is None or not math.isfinite(std):
        return text
    if "e" in text:
        return f"{text} ± {std:.1e}"
    decimals = len(text.split(".")[1]) if "." in text else 0
    if 0 < std < 10.0**-decimals / 2:
        decimals = min(decimals + 2, -math.floor(math.log10(std)))
        text = f"{mean:.{decimals}f}"
    return f"{text} ± {std:.{decimals}f}"


def fmt_interval(low: float | None, high: float | None, sig: int = 3) -> str:
    """``0.0101 – 0.0112``; :data:`MISSING` when either end is missing."""
    if not (_finite(low) and _finite(high)):
        return MISSING
    return f"{fmt_number(low, sig)} – {fmt_number(high, sig)}"


def fmt_p(p_value: float | None) -> str:
    """A p-value in a table: ``< 0.001``, else three significant digits (``0.0497``,
    ``0.500``, ``1.00``); :data:`MISSING` when not computed."""
    if p_value is None or not math.isfinite(p_value):
        return MISSING
    return f"< {P_FLOOR:g}" if p_value < P_FLOOR else f"{p_value:#.3g}"


def p_clause(p_value: float | None) -> str:
    """A p-value in a sentence: ``p < 0.001``, ``p = 0.0497``, ``p not computed``."""
    if not _finite(p_value):
        return "p not computed"
    text = fmt_p(p_value)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def fmt_fraction(value: float | None) -> str:
    """A share in [0, 1] with two decimals (``0.25``); :data:`MISSING` when absent."""
    return f"{value:.2f}" if _finite(value) else MISSING


__all__ = ["MISSING", "fmt_fraction", "fmt_interval", "fmt_mean_std", "fmt_number", "fmt_p", "p_clause"]
