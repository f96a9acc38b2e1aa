"""``--shard i/n``: split a sweep's planned runs into n disjoint, balanced shards.

The assignment is a pure function of the planned runs and ``n``: runs are ordered by
their cost group (dataset, depth, width, epochs, ... as in ``config.SHAPE_KEYS``) and then
by run id, and dealt round-robin to shards 1..n. So every run is in exactly one shard,
shard sizes differ by at most one, each shard gets the same mix of cheap and expensive
runs, and every machine computes the same split from the same sweep file.
"""

from __future__ import annotations

import re
from typing import Any

from actcmp.config import SHAPE_KEYS
from actcmp.errors import ConfigError

#: Fields whose values set a run's cost and tensor shapes: the stacking keys, defined once.
COST_KEYS = SHAPE_KEYS

_SPEC = re.compile(r"^\s*([0-9]+)\s*/\s*([0-9]+)\s*$")  # ASCII digits: a regex \d matches any script's


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` -> ``(2, 4)``; shards are numbered 1..n."""
    match = _SPEC.match(text or "")
    if not match:
        raise ConfigError(f"--shard {text!r}: expected I/N with whole numbers, e.g. --shard 1/4")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1:
        raise ConfigError(f"--shard {text!r}: the number of shards N must be at least 1")
    if not 1 <= index <= count:
        raise ConfigError(f"--shard {text!r}: shard I must be between 1 and {count} (shards are numbered from 1)")
    return index, count


def format_shard(index: int, count: int) -> str:
    return f"{index}/{count}"


def _order_key(cfg: dict[str, Any]) -> tuple[str, ...]:
    return (*(str(cfg.get(k)) for k in COST_KEYS), str(cfg["run_id"]))


def assign_shards(configs: list[dict[str, Any]], count: int) -> dict[str, int]:
    """Shard number (1..count) of every run id in ``configs``.

    Runs of a tuned sweep (planned entries with a ``tune_unit``, see :mod:`actcmp.run.tune`)
    are dealt by unit instead: all runs of one cell x activation (its tuning runs, and the
    evaluation runs planned after selection) go to one shard, so that a shard can select
    from its own store. Units are dealt round-robin in the order of their key (a hash: a
    stable order that does not change when evaluation runs join the plan)."""
    ordered = sorted({cfg["run_id"]: cfg for cfg in configs}.values(), key=_order_key)
    units = sorted({str(cfg["tune_unit"]) for cfg in ordered if cfg.get("tune_unit")})
    unit_shard = {unit: position % count + 1 for position, unit in enumerate(units)}
    plain = [cfg for cfg in ordered if not cfg.get("tune_unit")]
    shards = {cfg["run_id"]: position % count + 1 for position, cfg in enumerate(plain)}
    shards.update({cfg["run_id"]: unit_shard[str(cfg["tune_unit"])] for cfg in ordered if cfg.get("tune_unit")})
    return shards


def select_shard(configs: list[dict[str, Any]], index: int, count: int) -> list[dict[str, Any]]:
    """The runs of shard ``index`` of ``count``, in their planned order."""
    shard = assign_shards(configs, count)
    return [cfg for cfg in configs if shard[cfg["run_id"]] == index]
