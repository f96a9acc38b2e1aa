"""Moved to :mod:`actcmp.signals` (the report's figure workers use it too, and the report does
not import :mod:`actcmp.run`); importable from here as before."""

from __future__ import annotations

from actcmp.signals import Interrupts, die_with_parent, interrupts

__all__ = ["Interrupts", "die_with_parent", "interrupts"]
