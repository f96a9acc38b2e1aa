"""Claims judged condition by condition: a small map of verdicts, not one word.

A claim such as "sigmoid gradients vanish with depth" holds under some conditions (deep
networks, one init rule) and not under others. :func:`by_condition` splits a claim
sweep's runs by the factors the claim depends on (``init``, ``depth``, ``lr``, ...),
judges every condition (cell) on its own runs with the claim's check, and summarises:
"Holds where ...; does not hold where ...; inconclusive where ...". The per-condition
verdicts travel in :attr:`Verdict.conditions` (each with its :attr:`Verdict.where`), so
the documents can show them as a table and claims.json keeps them.

Nothing here plots or prints; the checks themselves live in :mod:`actcmp.claims.checks`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from actcmp.claims.checks import FAILS, HOLDS, MIXED, UNSURE, Verdict, no_data

if TYPE_CHECKING:
    import pandas as pd

#: how a factor's level is named in a sentence
_NAMES = {
    "depth": "depth",
    "lr": "lr",
    "init": "init",
    "dataset": "on",
    "width": "width",
    "bottleneck": "bottleneck",
    # claim 7 varies the hidden activation beside its output layers (the treatment)
    "activation": "hidden activation",
}


def level(factor: str, value: Any) -> str:
    """``depth 4``, ``lr 0.01``, ``init auto``, ``on digits``."""
    if isinstance(value, float):
        value = f"{value:g}"
    return f"{_NAMES.get(factor, factor)} {value}"


def _levels(values: Sequence[Any]) -> str:
    return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)


def describe(wheres: Sequence[dict[str, Any]], all_levels: dict[str, list[Any]]) -> str:
    """The conditions ``wheres`` in few words: grouped by every factor but the last, the
    last factor's levels listed (or "every <factor>" when all of them are there), e.g.
    ``init auto at depth 8, 16; init torch-default at every depth``."""
    if not wheres:
        return ""
    factors = list(wheres[0])
    if len(factors) == 1:
        (factor,) = factors
        values = [w[factor] for w in wheres]
        if len(values) == len(all_levels[factor]) and len(values) > 1:
            return f"every {_NAMES.get(factor, factor)}"
        return f"{_NAMES.get(factor, factor)} {_levels(values)}"
    if len(factors) > 2:  # a first-factor level that covers every combination of the others
        rest = factors[1:]
        full = math.prod(len(all_levels[f]) for f in rest)
        firsts = list(dict.fromkeys(w[factors[0]] for w in wheres))
        pieces = []
        for value in firsts:
            subs = [w for w in wheres if w[factors[0]] == value]
            if len(subs) == full:
                every = " and ".join(_NAMES.get(f, f) for f in rest)
                pieces.append(f"{level(factors[0], value)} (every {every})")
            else:
                pieces.append(_grouped(subs, factors, all_levels))
        return "; ".join(pieces)
    return _grouped(wheres, factors, all_levels)


def _grouped(wheres: Sequence[dict[str, Any]], factors: list[str], all_levels: dict[str, list[Any]]) -> str:
    """Grouped by every factor but the last, the last factor's levels listed."""
    *outer, last = factors
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for where in wheres:
        groups.setdefault(tuple(where[f] for f in outer), []).append(where[last])
    pieces = []
    for prefix, values in groups.items():
        head = ", ".join(level(f, v) for f, v in zip(outer, prefix, strict=True))
        if len(values) == len(all_levels[last]) and len(values) > 1:
            pieces.append(f"{head} (every {_NAMES.get(last, last)})")
        else:
            pieces.append(f"{head} at {_NAMES.get(last, last)} {_levels(values)}")
    return "; ".join(pieces)


def part_maps(cells: Sequence[Verdict]) -> list[tuple[str, list[tuple[dict[str, Any], str]]]]:
    """Per part label of the conditions' parts (in order of first appearance): the (where,
    verdict) of every condition that judged that part. A claim made of parts ("sigmoid
    gradients vanish", "sigmoid and tanh saturate", ...) holds in a condition only where all
    of them hold, so its map alone can hide a part that holds almost everywhere."""
    labels = list(dict.fromkeys(p.label for c in cells for p in c.parts if p.label))
    return [(label, [(c.where, p.verdict) for c in cells for p in c.parts if p.label == label]) for label in labels]


def part_counts(verdict: Verdict) -> str:
    """``""``, or for a claim judged condition by condition that is made of two or more parts,
    in how many conditions each part holds: ``sigmoid gradients vanish 8/10, ..., sigmoid and
    tanh saturate 0/10`` (the summary row shows it beside the verdict as a whole)."""
    maps = part_maps(verdict.conditions)
    if len(maps) < 2:
        return ""
    return ", ".join(f"{label} {sum(v == HOLDS for _, v in marks)}/{len(marks)}" for label, marks in maps)


def summarise(cells: Sequence[Verdict], factors: Sequence[str], subject: str = "") -> Verdict:
    """One verdict over per-condition verdicts: the common verdict when every condition
    agrees, else :data:`MIXED`; the explanation says where it holds, where it does not
    and where it is inconclusive. The value is the share of conditions where it holds.
    A claim made of two or more parts is said to be judged "as a whole", and each part's
    own map follows with the number of conditions where it holds (the decision rule is the
    same: all parts must hold in a condition)."""
    if not cells:
        return no_data()
    all_levels: dict[str, list[Any]] = {f: [] for f in factors}
    for cell in cells:
        for f in factors:
            if cell.where[f] not in all_levels[f]:
                all_levels[f].append(cell.where[f])
    verdicts = [c.verdict for c in cells]
    kinds = set(verdicts)
    verdict = verdicts[0] if len(kinds) == 1 else MIXED
    maps = part_maps(cells)
    whole = len(maps) > 1
    text = _where_sentence([(c.where, c.verdict) for c in cells], all_levels)
    if subject:
        text = f"{subject}{' as a whole' if whole else ''}: {text}"
    elif whole:
        text = f"As a whole: {text}"
    else:
        text = text[0].upper() + text[1:]
    holding = sum(v == HOLDS for v in verdicts)
    counts = f" ({holding} of {len(cells)} conditions hold"
    fails = verdicts.count(FAILS)
    counts += f", {fails} {'does' if fails == 1 else 'do'} not" if FAILS in kinds else ""
    counts += f", {verdicts.count(UNSURE)} inconclusive" if UNSURE in kinds else ""
    by_part = ""
    if whole:
        pieces = []
        for label, marks in maps:
            held = sum(v == HOLDS for _, v in marks)
            sentence = _where_sentence(marks, all_levels)
            if len({v for _, v in marks}) > 1:
                sentence = f"holds in {held} of {len(marks)} conditions ({sentence})"
            pieces.append(f"{label}: {sentence}")
        by_part = " By part: " + ". ".join(pieces) + "."
    return Verdict(
        verdict,
        "share of conditions where it holds",
        holding / len(cells),
        math.nan,
        text + counts + ")." + by_part,
        conditions=list(cells),
    )


def _where_sentence(marks: Sequence[tuple[dict[str, Any], str]], all_levels: dict[str, list[Any]]) -> str:
    """ "holds where ...; does not hold where ...; inconclusive where ..." ("holds everywhere
    tested" when one verdict covers every condition)."""
    if len({v for _, v in marks}) == 1:
        return {
            HOLDS: "holds everywhere tested",
            FAILS: "does not hold anywhere tested",
            UNSURE: "inconclusive everywhere tested",
        }.get(marks[0][1], marks[0][1])
    sentences = []
    for kind, word in ((HOLDS, "holds"), (FAILS, "does not hold"), (UNSURE, "inconclusive")):
        wheres = [w for w, v in marks if v == kind]
        if wheres:
            sentences.append(f"{word} where {describe(wheres, all_levels)}")
    return "; ".join(sentences)


def by_condition(
    runs: pd.DataFrame,
    factors: Sequence[str],
    judge: Callable[[pd.DataFrame], Verdict],
    *,
    subject: str = "",
) -> Verdict:
    """Judge ``runs`` separately under every combination of ``factors`` (those present
    in the runs; all runs of a sweep, whatever their status: ``judge`` picks what it
    uses) and summarise (:func:`summarise`). With none of the factors present, the
    claim is judged once on all runs."""
    present = [f for f in factors if f in runs.columns and runs[f].notna().any()]
    if not present or runs.empty:
        return judge(runs)
    if "init" in present and "activation" in runs.columns:
        runs = runs.assign(init=configured_init(runs))
    cells = []
    for values, group in runs.groupby(present, sort=True):
        key = values if isinstance(values, tuple) else (values,)
        cell = judge(group.reset_index(drop=True))
        cell.where = {f: _plain(v) for f, v in zip(present, key, strict=True)}
        cells.append(cell)
    return summarise(cells, present, subject)


def configured_init(runs: pd.DataFrame) -> pd.Series:
    """The init rule as a sweep states it: stored runs hold the resolved rule (``auto`` is
    He for the ReLU family, Xavier for sigmoid/tanh, ...), so a condition "init auto" would
    otherwise split by activation family. A run whose rule is the one ``auto`` picks for
    its activation is labelled ``auto``; any other rule (``torch-default``) keeps its name."""
    from actcmp.core.activations import parse_activation

    auto: dict[str, str] = {}

    def label(activation: Any, rule: Any) -> Any:
        name = str(activation)
        if name not in auto:
            try:
                auto[name] = parse_activation(name).info.init
            except Exception:  # a user callable or unknown name: keep the stored rule
                auto[name] = ""
        return "auto" if rule == auto[name] else rule

    return runs.apply(lambda row: label(row["activation"], row["init"]), axis=1)


def _plain(value: Any) -> Any:
    """numpy scalars as Python numbers (for the sentence and claims.json)."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value


__all__ = ["by_condition", "configured_init", "describe", "level", "part_counts", "part_maps", "summarise"]
