"""Names and default results directories of sweeps given only on the command line.

``actcmp run --activations relu,gelu --datasets digits --depths 1,2`` has no sweep file to
name it. Its name is built from what it varies, so that unrelated command-line sweeps get
their own results directories (and reports) while repeating a command resumes into the
same one::

    relu-gelu_digits_d1-2              grid axes in a fixed order, values joined by "-"
    relu-gelu_digits_d1-2_s3           --seeds 3 (seeds 0..2); a seed list: s0-5-7
    relu-gelu_digits_seed3             one seed (--set seed=3, --grid seed=3): "seed", never "s"
    relu-gelu_digits_e5_lr0.01         fixed epochs, lr, width, depth read as they are
    relu_digits_e5_1a2b3c              other fixed fields (--set init=xavier) add a short hash

The hash is of the sorted JSON of those fixed fields, so the same command line always gives
the same name; names longer than :data:`MAX_LENGTH` are cut and end in a hash of the whole
grid. ``--name`` overrides all of this.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

#: the environment variable that moves every default results directory (``results/``)
OUT_ENV = "ACTCMP_OUT"
MAX_LENGTH = 60
#: axes shown first, with a short prefix for numbers (activation and dataset read as they are)
_PREFIX = {"activation": "", "dataset": "", "depth": "d", "seed": "s", "width": "w", "lr": "lr", "epochs": "e"}
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


def results_root() -> Path:
    """Where results directories go by default: ``$ACTCMP_OUT`` or ``results``."""
    return Path(os.environ.get(OUT_ENV) or "results").expanduser()


def default_results_dir(name: str) -> Path:
    """``<results root>/<sweep name>``."""
    return results_root() / name


def _short_hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:6]


def _slug(text: str) -> str:
    return _UNSAFE.sub("", text.replace("=", "").replace(",", "-").replace(" ", ""))


def _values_part(key: str, values: list[Any]) -> str:
    """One name part. The three seed forms never read alike: ``s3`` is a count (seeds 0..2),
    ``s0-5-7`` a list (always with a "-"), ``seed3`` the one seed 3 (fixed, or a one-value
    axis): ``--seeds 3`` and ``--set seed=3`` are different sweeps and get different names."""
    if key == "seed" and len(values) == 1:
        return f"seed{_slug(str(values[0]))}"  # --set seed=3, --grid seed=3, --seeds 1 (seed 0)
    if key == "seed" and values == list(range(len(values))):
        return f"s{len(values)}"  # --seeds 3
    prefix = _PREFIX.get(key, f"{key}")
    return prefix + "-".join(_slug(str(v)) for v in values)


def name_from_overrides(grid: dict[str, list[Any]], fixed: dict[str, Any]) -> str:
    """A stable, readable sweep name for a sweep given on the command line (see module doc)."""
    order = [k for k in _PREFIX if k in grid] + sorted(k for k in grid if k not in _PREFIX)
    parts = [_values_part(key, list(grid[key])) for key in order]
    shown = {k: v for k, v in fixed.items() if _PREFIX.get(k) and isinstance(v, int | float | str)}
    parts += [_values_part(key, [shown[key]]) for key in _PREFIX if key in shown]
    parts = [p for p in parts if p] or ["cli"]
    hidden = {k: v for k, v in fixed.items() if k not in shown}
    if hidden:
        parts.append(_short_hash(hidden))
    name = "_".join(parts)
    if len(name) > MAX_LENGTH:
        name = name[: MAX_LENGTH - 7].rstrip("_-.") + "_" + _short_hash({"grid": grid, "fixed": fixed})
    return name
