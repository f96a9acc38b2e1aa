"""The verdict of a claim: the words it may take, the :class:`Verdict` record and how
the verdicts of a claim's parts combine into one (:func:`combine`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

HOLDS = "holds"
FAILS = "does not hold"
UNSURE = "inconclusive"
#: a claim judged condition by condition that holds in some conditions and not in others
MIXED = "depends on the condition"
VERDICTS = (HOLDS, FAILS, UNSURE, MIXED)


@dataclass
class Verdict:
    """A decision with the number that made it.

    ``statistic`` names the deciding quantity, ``value`` is it, ``p_value`` is the test's
    p-value where a test decides (else NaN), ``explanation`` is one sentence, ``parts``
    the sub-verdicts of a claim made of several statements (each with a ``label``).
    """

    verdict: str
    statistic: str
    value: float
    p_value: float = math.nan
    explanation: str = ""
    parts: list[Verdict] = field(default_factory=list)
    label: str = ""
    #: the condition this verdict is about (e.g. ``{"init": "auto", "depth": 16}``); empty for a whole claim
    where: dict[str, Any] = field(default_factory=dict)
    #: per-condition verdicts of a claim judged condition by condition (:mod:`actcmp.claims.conditions`)
    conditions: list[Verdict] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "statistic": self.statistic,
            "value": _json_number(self.value),
            "p_value": _json_number(self.p_value),
            "explanation": self.explanation,
            "label": self.label,
            "parts": [p.as_dict() for p in self.parts],
            **({"where": {k: _json_value(v) for k, v in self.where.items()}} if self.where else {}),
            **({"conditions": [c.as_dict() for c in self.conditions]} if self.conditions else {}),
        }


def _json_value(value: Any) -> Any:
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return _json_number(float(value))
    return str(value)


def _json_number(value: float) -> float | str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return float(value)


def no_data(what: str = "no finished runs stored for this claim yet") -> Verdict:
    return Verdict(UNSURE, "runs", 0.0, explanation=f"Inconclusive: {what}.")


def combine(parts: Sequence[Verdict], statistic: str, value: float, p_value: float = math.nan) -> Verdict:
    """All parts hold -> holds; any part does not hold -> does not hold; else inconclusive.
    The explanation lists the parts that decided; unless the claim holds, the statistic,
    value and p-value are those of the first deciding part (``statistic`` etc. are the
    claim's headline numbers when every part holds)."""
    if not parts:
        return no_data()
    verdicts = [p.verdict for p in parts]
    if FAILS in verdicts:
        verdict, deciding = FAILS, [p for p in parts if p.verdict == FAILS]
    elif all(v == HOLDS for v in verdicts):
        verdict, deciding = HOLDS, list(parts)
    else:
        verdict, deciding = UNSURE, [p for p in parts if p.verdict == UNSURE]
    text = " ".join(p.explanation for p in deciding if p.explanation)  # a part another one speaks for: none
    if verdict != HOLDS:  # report the number that decided against (or could not decide)
        lead = deciding[0]
        statistic = f"{lead.label}: {lead.statistic}" if lead.label else lead.statistic
        value, p_value = lead.value, lead.p_value
    return Verdict(verdict, statistic, value, p_value, text, list(parts))


__all__ = ["FAILS", "HOLDS", "MIXED", "UNSURE", "VERDICTS", "Verdict", "combine", "no_data"]
