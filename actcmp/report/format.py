"""How numbers and p-values are written, once for every table, sentence and caption.

* :data:`MISSING` (``–``) stands for a value that does not exist or was not computed;
* :func:`fmt_number`: 3 significant digits, scientific below 1e-4 or from 1e5;
* :func:`fmt_stat`: the same, ``∞`` for an infinite ratio and text passed through (the
  claims' sentences and tables);
* :func:`fmt_mean_std` and :func:`fmt_interval`: ``0.0123 ± 0.0004``, ``0.0101 – 0.0112``;
* :func:`fmt_p`: a p-value in a table cell, ``< 0.001`` or 3 significant digits (so that
  0.0497 never reads as 0.050 next to a 0.05 threshold); :func:`p_clause` the same in a
  sentence: ``p < 0.001`` / ``p = 0.0497``; :func:`fmt_vs_best` the main table's
  "p vs best" cell;
* :func:`fmt_fraction` (``0.25``, ``< 0.01`` for a share that is not 0),
  :func:`fmt_reached` (``4.5 (3/3)``), :func:`fmt_duration` (``12.3 s``, ``4m 05s``),
  :func:`fmt_value` (a config value) and :func:`fmt_tick` (an axis tick or a figure's
  number, ``0.03``).
"""

from __future__ import annotations

import math
from typing import Any

from actcmp.analysis.cells import ALPHA

MISSING = "–"
#: below this a p-value is written as a bound
P_FLOOR = 0.001


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def is_missing(value: Any) -> bool:
    """None, NaN or pandas' NA (a table cell with no value)."""
    import pandas as pd

    return value is None or bool(pd.isna(value))


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


def fmt_stat(value: Any, sig: int = 3) -> str:
    """A statistic in a sentence or a claims table: :func:`fmt_number`, with ``∞`` / ``-∞``
    for an infinite value (a ratio over zero) and text left as it is."""
    if isinstance(value, str):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return MISSING if value is None else str(value)
    if math.isinf(number):
        return "∞" if number > 0 else "-∞"
    return fmt_number(number, sig)


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


#: the "p vs best" cell where every seed gave the same ratio to the best (no t-test: no spread)
NO_SPREAD_TEXT = "no test (all seeds equal)"


def fmt_vs_best(best: bool, tied: Any, p_value: float, alpha: float = ALPHA, *, no_spread: bool = False) -> str:
    """The "p vs best" cell (``p_value`` Holm-adjusted in the main table): ``best``, the
    p-value (a diverged seed is a rank in its test), ``diverged`` (no test: no converged run
    in the cell), :data:`NO_SPREAD_TEXT` (``no_spread``: untested, every seed gave the same ratio
    to the best, so the t-test is undefined; never p = 0) or :data:`MISSING` (too few seeds to test)."""
    if best:
        return "best"
    if is_missing(tied):
        return NO_SPREAD_TEXT if no_spread else MISSING
    if not math.isfinite(p_value) or (not tied and p_value >= alpha):
        return "diverged"
    return fmt_p(p_value)


def fmt_fraction(value: float | None) -> str:
    """A share in [0, 1] with two decimals (``0.25``); :data:`MISSING` when absent. A share that
    is not 0 but rounds to ``0.00`` is ``< 0.01`` (and one below 1 that rounds to ``1.00`` is
    ``> 0.99``), so that a cell never reads 0 where a sentence counts it as some (0.0035 of
    units dead)."""
    if not _finite(value):
        return MISSING
    assert value is not None
    if 0 < value < 0.005:
        return "< 0.01"
    if 0.995 <= value < 1:
        return "> 0.99"
    return f"{value:.2f}"


def fmt_reached(epochs: float, reached: int, converged: int) -> str:
    """Mean epochs to a threshold with how many runs reached it: ``4.5 (3/3)``."""
    return f"{epochs:.1f} ({reached}/{converged})" if math.isfinite(epochs) else f"{MISSING} ({reached}/{converged})"


def fmt_duration(seconds: float) -> str:
    """``12.3 s`` under two minutes, else ``4m 05s`` / ``1h 02m 03s``; ``unknown`` for NaN."""
    if seconds != seconds:
        return "unknown"
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def fmt_value(value: Any) -> str:
    """A config value: numbers as ``%g`` (``0.001``, ``64``), other values as text,
    :data:`MISSING` for None or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return f"{value:g}" if isinstance(value, int | float) and not isinstance(value, bool) else str(value)


def fmt_tick(value: float, sig: int = 3) -> str:
    """A number on a figure (axis ticks, a statistic in a title): the shortest form with
    ``sig`` significant digits, ``0.03``, ``1e-05``, ``0.5``."""
    return f"{value:.{sig}g}"


__all__ = [
    "MISSING",
    "NO_SPREAD_TEXT",
    "fmt_duration",
    "fmt_fraction",
    "fmt_interval",
    "fmt_mean_std",
    "fmt_number",
    "fmt_p",
    "fmt_reached",
    "fmt_stat",
    "fmt_tick",
    "fmt_value",
    "fmt_vs_best",
    "is_missing",
    "p_clause",
]
