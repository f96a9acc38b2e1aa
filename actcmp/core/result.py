"""What a run produced, as plain records: the engines make it, the store writes it.

Torch-free: results cross from worker processes (or Ray tasks) to the sweep's main
process, which unpickles them without importing torch; :mod:`actcmp.engine.plain`
re-exports the class.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class RunResult:
    """Everything one run produced, as plain records (what the store writes)."""

    run_id: str
    config: dict[str, Any]
    status: str
    final: dict[str, float | None]
    epochs: list[tuple[int, str, float]] = field(default_factory=list)
    layers: list[tuple[int, int, str, float]] = field(default_factory=list)
    wall_time_s: float = 0.0
    error: str | None = None
    env: dict[str, Any] = field(default_factory=dict)
    #: ``{kind: blob}`` for the report's pictures (see :mod:`actcmp.engine.samples`)
    samples: dict[str, bytes] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
