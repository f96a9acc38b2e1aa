"""Claims about hidden units that stop passing gradient: ReLU units die, Leaky ReLU and
PReLU prevent it, and dying hurts (claim 3, pooled and per condition); sigmoid and tanh
saturate (the saturation part of claim 4). Dead and saturated are defined in
:mod:`actcmp.claims.definitions`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from actcmp.analysis import stats as stats
from actcmp.claims.checks.frames import (
    done_runs,
    family_of,
    fmt_number,
    fmt_p,
    numeric,
    paired_runs,
    spearman,
)
from actcmp.claims.checks.ranktests import above, floor_clause, method_text, signed_rank
from actcmp.claims.checks.verdict import FAILS, HOLDS, UNSURE, Verdict, combine, no_data
from actcmp.text import plural

if TYPE_CHECKING:
    import pandas as pd


# -- claim 3: dying ReLU --------------------------------------------------------------------
def check_dying(
    runs: pd.DataFrame,
    *,
    candidate: str = "relu",
    fixes: Sequence[str] = ("leaky_relu", "prelu"),
    reference: str = "leaky_relu",
    min_dead: float = 0.05,
    max_prevented: float = 0.01,
    alpha: float = stats.ALPHA,
) -> Verdict:
    """ReLU units die (more with learning rate and depth), Leaky ReLU / PReLU prevent it,
    and dying hurts reconstruction. Three parts, all over converged runs:

    1. *die*: ReLU's final dead fraction reaches ``min_dead`` somewhere and rises with
       ``lr`` and with ``depth``: Page's trend test (:func:`actcmp.analysis.stats.trend_test`) over
       the ordered levels of each factor, blocked by the other cell keys and the seed,
       p < alpha; does not hold when it never reaches ``min_dead`` or significantly
       falls with a factor.
    2. *prevent*: in the cells where ReLU's units are shown to die (its seeds lie above
       ``min_dead``: the one-sided exact signed-rank test of :func:`check_dying_cell`, p <
       alpha, per cell), each fix's dead fraction over those cells' (cell, seed) runs,
       pooled, lies below ``max_prevented`` (one-sided signed-rank test, p < alpha); does
       not hold where a fix's lie significantly above ``min_dead``; see :func:`prevent_part`.
    3. *hurts*: across ReLU runs, the dead fraction correlates (Spearman) with the log of
       ReLU's test loss over ``reference``'s on the same cell and seed (same data, init
       and batches, so cell difficulty cancels): rho > 0, p < alpha holds, rho < 0 fails.
    """
    done = done_runs(runs)
    relu = done[done["activation"] == candidate] if "activation" in done else done.iloc[0:0]
    if relu.empty:
        return no_data(f"no converged {candidate} runs")
    dead = numeric(relu, "dead_fraction_final")
    keys = stats.cell_keys(runs)
    cell_dead = relu.assign(_dead=dead).groupby(keys)["_dead"].mean()
    parts = [_dying_part(relu, dead, cell_dead, min_dead, alpha)]
    dying = _cells_where_units_die(relu.assign(_dead=dead), keys, min_dead, alpha)
    parts.append(prevent_part(done, dying, keys, fixes, min_dead, max_prevented, alpha))
    parts.append(_hurts_part(runs, candidate, reference, alpha))
    main = parts[0]
    return combine(parts, main.statistic, main.value, main.p_value)


def _dying_part(relu: pd.DataFrame, dead: pd.Series, cell_dead: pd.Series, min_dead: float, alpha: float) -> Verdict:
    peak = float(cell_dead.max())
    if not peak >= min_dead:
        return Verdict(
            FAILS,
            "largest mean dead fraction",
            peak,
            label="ReLU units die",
            explanation=(
                f"ReLU units barely die here: at most {peak:.1%} dead in any cell (threshold {min_dead:.0%})."
            ),
        )
    found, trends = [], []
    frame = relu.assign(_dead=dead)
    keys = [str(k) for k in cell_dead.index.names]
    lead_p = math.nan
    for factor in ("lr", "depth"):
        if factor not in frame or frame[factor].nunique() < 2:
            trends.append(UNSURE)
            found.append(f"{factor} not varied")
            continue
        blocks = [k for k in keys if k != factor] + ["seed"]
        up, down, n_blocks, method = stats.trend_test(frame, factor, "_dead", blocks)
        if factor == "lr":
            lead_p = up
        found.append(f"rising with {factor}: {method} {fmt_p(up)} over {n_blocks} blocks")
        trends.append(HOLDS if up < alpha else FAILS if down < alpha else UNSURE)
    verdict = FAILS if FAILS in trends else HOLDS if all(t == HOLDS for t in trends) else UNSURE
    detail = "; ".join(found)
    text = {
        HOLDS: f"ReLU units die (up to {peak:.0%} dead in a cell), more with higher learning rate and depth: {detail}.",
        FAILS: f"ReLU units die (up to {peak:.0%} dead in a cell), but not more with learning rate or depth: {detail}.",
        UNSURE: f"ReLU units die (up to {peak:.0%} dead in a cell), but the trend is not clear: {detail}.",
    }[verdict]
    return Verdict(verdict, "largest mean dead fraction of ReLU", peak, lead_p, text, label="ReLU units die")


def _cells_where_units_die(relu: pd.DataFrame, keys: list[str], min_dead: float, alpha: float) -> pd.DataFrame:
    """The cells (their ``keys``) where ReLU's dead fractions (``_dead``) are shown to lie
    above ``min_dead``: the one-sided exact signed-rank test over the cell's seeds, p <
    alpha (with 5 seeds, every seed above; fewer than 5 seeds never show it)."""
    import pandas as pd

    if not keys:
        shown = above(relu["_dead"].to_numpy(float), min_dead, alpha)[0] == HOLDS
        return pd.DataFrame(index=[0] if shown else [])
    rows = [
        key
        for key, cell in relu.groupby(keys, sort=True)
        if above(cell["_dead"].to_numpy(float), min_dead, alpha)[0] == HOLDS
    ]
    return pd.DataFrame(rows, columns=keys)


def prevent_part(
    done: pd.DataFrame,
    dying: pd.DataFrame,
    keys: list[str],
    fixes: Sequence[str],
    min_dead: float,
    max_prevented: float,
    alpha: float = stats.ALPHA,
) -> Verdict:
    """Leaky ReLU / PReLU prevent dying, judged in the cells ``dying`` (one row of ``keys``
    values per cell where ReLU's units are shown to die), each cell on its own (several cells:
    :func:`across_cells`, every one must show it): each fix's final dead fractions over the
    cell's converged seeds lie below ``max_prevented`` by the one-sided signed-rank test
    (:func:`~actcmp.claims.checks.ranktests.signed_rank`, exact up to 20 values, p < alpha):
    holds when every fix's do (p the largest of theirs: an intersection-union test); does
    not hold when a fix's lie significantly above ``min_dead`` (dying not prevented);
    inconclusive otherwise, in particular between the two thresholds, and always with 3 or 4
    values (the exact test's smallest p is 1/8 or 1/16: the explanation says so). A run at
    exactly ``max_prevented`` is a zero difference and drops out.

    No paired test against ReLU on the same seed: "ReLU above ``min_dead``" (where ``dying``
    comes from) and "the fix below ``max_prevented``" together already put the fix under
    ReLU by more than the gap between the thresholds, which a paired "fix < ReLU" would only
    weaken to "lower". All-zero dead fractions are fine: each is ``max_prevented`` below the
    bound, so 5 zeros give p = 1/32. By the definition of a dead unit (f' = 0 on every probe
    input) Leaky ReLU's units cannot die at all (its slope is 0.01 where ReLU's is 0) and
    PReLU's only if its learned slope reaches exactly 0, so this part mostly confirms the
    measurement: a Leaky ReLU unit stuck on its shallow side counts as saturated, not dead."""
    label = "Leaky ReLU and PReLU prevent it"
    statistic = "largest mean dead fraction of a fix"
    present = [f for f in fixes if f in set(done["activation"])]
    if not present or not len(dying):  # (no keys: one row, no columns)
        why = "no Leaky ReLU / PReLU runs" if not present else "ReLU's units are not shown to die in any cell"
        return Verdict(
            UNSURE,
            statistic,
            math.nan,
            label=label,
            explanation=f"Whether Leaky ReLU / PReLU prevent dying cannot be judged: {why}.",
        )
    if keys and len(dying) > 1:  # "wherever units die": each cell on its own, every one must show it
        cells = [
            (_cell_name(keys, row), prevent_part(done, dying.iloc[[i]], keys, fixes, min_dead, max_prevented, alpha))
            for i, row in enumerate(dying.itertuples(index=False))
        ]
        fix_runs = done[done["activation"].isin(present)].merge(dying, on=keys, how="inner")
        leaky = fix_runs[fix_runs["activation"] == "leaky_relu"]
        extra = f" Over those cells' runs: at most {float(numeric(fix_runs, 'dead_fraction_final').max()):.1%} dead"
        shallow = _shallow_side(leaky)
        extra += (f"; Leaky ReLU's units {shallow}" if shallow else "") + "."
        return across_cells(
            cells,
            label,
            f"where ReLU's units are shown to die (above {min_dead:.0%}), {' and '.join(present)} stay under "
            f"{max_prevented:.0%} dead",
            extra,
        )
    judged = []  # (fix, verdict, p, mean, text)
    for fix in present:
        mine = done[done["activation"] == fix]
        mine = mine.assign(_dead=numeric(mine, "dead_fraction_final"))
        if keys:
            mine = mine.merge(dying, on=keys, how="inner")
        values = mine["_dead"].dropna().to_numpy(dtype=float)
        if not len(values):
            judged.append((fix, UNSURE, math.nan, math.nan, f"{fix}: no dead fraction measured in those cells"))
            continue
        mean = float(values.mean())
        # the test against max_prevented both ways (below() keeps only the smaller p)
        p_under, p_over = signed_rank(values - max_prevented)
        dies, p_dies = above(values, min_dead, alpha)
        unit = "seeds" if len(dying) == 1 else "runs"
        seen = f"{fix}: {mean:.1%} dead on average over {len(values)} {unit} (at most {float(values.max()):.1%})"
        test = method_text(values, max_prevented)
        if p_under < alpha:
            verdict, p = HOLDS, p_under
            said = f"under {max_prevented:.0%} ({test}, {fmt_p(p)})"
        elif dies == HOLDS:
            verdict, p = FAILS, p_dies
            said = f"above {min_dead:.0%} ({method_text(values, min_dead)}, {fmt_p(p)}): not prevented"
        elif p_over < alpha:  # between the thresholds: more than "prevented", not shown to be dying
            verdict, p = UNSURE, p_over
            said = (
                f"above {max_prevented:.0%} ({test}, {fmt_p(p)}) but not shown above {min_dead:.0%} "
                f"({method_text(values, min_dead)}, {fmt_p(p_dies)})"
            )
        else:
            verdict, p = UNSURE, p_under
            said = (
                f"not shown under {max_prevented:.0%} ({test}, {fmt_p(p)}{floor_clause(values, max_prevented, alpha)})"
            )
        shallow = _shallow_side(mine) if fix == "leaky_relu" else ""
        judged.append((fix, verdict, p, mean, f"{seen}, {said}" + (f" (its units {shallow})" if shallow else "")))
    where = "the cell" if len(dying) == 1 else f"the {plural(len(dying), 'cell')}"
    text = (
        f"In {where} where ReLU's units are shown to die (above {min_dead:.0%}), "
        + "; ".join(t for *_, t in judged)
        + "."
    )
    verdicts = [v for _, v, *_ in judged]
    if FAILS in verdicts or UNSURE in verdicts:
        fix, verdict, p, mean, _ = next(j for j in judged if j[1] == (FAILS if FAILS in verdicts else UNSURE))
        return Verdict(verdict, f"mean dead fraction of {fix}", mean, p, text, label=label)
    worst = max(mean for *_, mean, _ in judged)
    return Verdict(HOLDS, statistic, worst, max(p for _, _, p, *_ in judged), text, label=label)


def _cell_name(keys: Sequence[str], row: Any) -> str:
    """``init auto · depth 4 · lr 0.01``: a cell by its keys' values."""
    return " · ".join(f"{key} {value}" for key, value in zip(keys, row, strict=True))


def across_cells(cells: list[tuple[str, Verdict]], label: str, claim: str, extra: str = "") -> Verdict:
    """A pooled part decided cell by cell (an intersection-union test over the cells): holds
    when every cell's test holds (p the largest of theirs), does not hold when one cell's does
    not, inconclusive otherwise. Pooling the cells' runs into one test would let most cells
    hide one where the claim fails (a test of the typical run, not of "every cell")."""
    verdicts = [v.verdict for _, v in cells]
    n = len(cells)
    p_values = [v.p_value for _, v in cells if v.p_value is not None and math.isfinite(v.p_value)]
    largest = max(p_values) if p_values else math.nan
    if all(v == HOLDS for v in verdicts):
        worst = max((v.value for _, v in cells if math.isfinite(v.value)), default=math.nan)
        text = (
            f"In each of the {n} cells {claim}: shown in every one (one-sided exact signed-rank test per cell, "
            f"the largest p = {largest:.3g}).{extra}"
        )
        return Verdict(HOLDS, cells[0][1].statistic, worst, largest, text, label=label)
    kind = FAILS if FAILS in verdicts else UNSURE
    off = [(name, v) for name, v in cells if v.verdict == kind]
    shown = sum(v == HOLDS for v in verdicts)
    listed = "; ".join(f"{name}: {v.explanation.rstrip('.')}" for name, v in off[:3]) + (
        "; ..." if len(off) > 3 else ""
    )
    said = "does not hold" if kind == FAILS else "is not shown"
    text = f"Of the {n} cells {claim}: shown in {shown}; it {said} in {len(off)} ({listed}){extra}"
    first = off[0][1]
    return Verdict(kind, first.statistic, first.value, first.p_value, text, label=label)


def _shallow_side(runs: pd.DataFrame) -> str:
    """For the reader, not the verdict: how many of Leaky ReLU's units sit on its slope-0.01
    side for nearly every probe input (counted as saturated: 0.01 is under the saturation
    threshold of its peak derivative), the state that would be death under ReLU, where they
    still pass a small gradient. Only for the default Leaky ReLU: PReLU's learned slope
    (0.25 at the start) and a steeper Leaky ReLU are not under that threshold, so their
    saturated fraction does not count such units. The phrase after "its units" (callers
    say whose); empty where nothing was measured."""
    if runs.empty or "saturated_fraction_final" not in runs:
        return ""
    values = numeric(runs, "saturated_fraction_final").dropna()
    if values.empty:
        return ""
    return (
        "on the slope-0.01 side for nearly every input, dead under ReLU but still passing a small gradient: "
        f"{float(values.mean()):.1%} on average, at most {float(values.max()):.1%}"
    )


def _hurts_part(runs: pd.DataFrame, candidate: str, reference: str, alpha: float) -> Verdict:
    label = "dying hurts reconstruction"
    if reference not in set(runs["activation"]):
        return Verdict(
            UNSURE,
            "Spearman rho(dead, loss ratio)",
            math.nan,
            label=label,
            explanation=f"Whether dying hurts cannot be judged without {reference} runs to pair with.",
        )
    pairs = paired_runs(runs, candidate, reference, ["dead_fraction_final", "test_loss"])
    ratio = np.log(numeric(pairs, f"test_loss_{candidate}") / numeric(pairs, f"test_loss_{reference}"))
    rho, p, n = spearman(numeric(pairs, f"dead_fraction_final_{candidate}"), ratio)
    text = (
        f"Across {n} ReLU runs, the dead fraction and ReLU's test loss relative to {reference} on the same "
        f"seed have Spearman rho = {fmt_number(rho, 2)} ({fmt_p(p)})"
    )
    if rho > 0 and p < alpha:
        return Verdict(
            HOLDS, "Spearman rho(dead, loss ratio)", rho, p, text + ": more dead units, worse loss.", label=label
        )
    if rho < 0 and p < alpha:
        return Verdict(
            FAILS, "Spearman rho(dead, loss ratio)", rho, p, text + ": more dead units, better loss.", label=label
        )
    return Verdict(UNSURE, "Spearman rho(dead, loss ratio)", rho, p, text + ": no clear link.", label=label)


def check_dying_cell(
    runs: pd.DataFrame,
    *,
    candidate: str = "relu",
    fixes: Sequence[str] = ("leaky_relu", "prelu"),
    min_dead: float = 0.05,
    max_prevented: float = 0.01,
    alpha: float = stats.ALPHA,
) -> Verdict:
    """The dying-ReLU claim in one condition (one lr, init and depth: the runs given):
    ReLU's final dead fraction over converged seeds lies above ``min_dead`` (units die: the
    exact one-sided signed-rank test of the seeds against ``min_dead``, p < alpha; does not
    hold where they lie significantly below; inconclusive otherwise: with 5 seeds every
    seed must lie on one side, p = 1/32), and, where they are shown to die, Leaky ReLU's and
    PReLU's seeds lie below ``max_prevented`` (they prevent it: the same one-sided exact
    test against ``max_prevented``; does not hold where they lie significantly above
    ``min_dead``; :func:`prevent_part`). A mean of 7.3% over seeds of 3.1-16.7% was "holds"
    before, with a one-sided t-test's p of 0.21; a fix's seeds of 0.2%, 0.2%, 0.4%, 0.4% and
    3% (mean 0.84%) were "prevent" under the threshold on the mean, and are inconclusive now
    (p = 11/32)."""
    done = done_runs(runs)
    relu = done[done["activation"] == candidate] if "activation" in done else done.iloc[0:0]
    if relu.empty:
        return no_data(f"no converged {candidate} runs")
    dead = numeric(relu, "dead_fraction_final").dropna()
    if dead.empty:
        return no_data(f"no dead fraction measured for {candidate}")
    mean = float(dead.mean())
    label = "ReLU units die"
    # a seed at exactly min_dead is a zero difference and drops out (Wilcoxon's rule)
    verdict, p = above(dead.to_numpy(dtype=float), min_dead, alpha)
    seeds = ", ".join(f"{v:.1%}" for v in sorted(dead))
    said = {
        HOLDS: f"above {min_dead:.0%}",
        FAILS: f"under {min_dead:.0%}",
        UNSURE: f"not separable from {min_dead:.0%}",
    }[verdict]
    die = Verdict(
        verdict,
        "mean dead fraction of ReLU",
        mean,
        p,
        f"ReLU loses {mean:.1%} of its units (mean over {len(dead)} seeds: {seeds}), {said} "
        f"(one-sided exact signed-rank test, {fmt_p(p)}).",
        label=label,
    )
    keys = stats.cell_keys(runs)
    if verdict == HOLDS:  # the cell itself (its keys' values: one row where the keys are fixed)
        dying = relu[keys].drop_duplicates() if keys else relu.iloc[:1, :0]
        prevent = prevent_part(done, dying, keys, fixes, min_dead, max_prevented, alpha)
    else:  # "prevent" is judged where units are shown to die
        prevent = Verdict(
            UNSURE,
            "largest mean dead fraction of a fix",
            math.nan,
            label="Leaky ReLU and PReLU prevent it",
            explanation="Whether Leaky ReLU / PReLU prevent dying is not judged here: ReLU's units are not shown "
            "to die.",
        )
    return combine([die, prevent], "mean dead fraction of ReLU", mean, p)


def saturation_part(runs: pd.DataFrame, deepest: Any, min_saturated: float, alpha: float = stats.ALPHA) -> Verdict:
    """Sigmoid and tanh saturate: each bounded activation's final saturated fractions over
    its converged seeds at depth ``deepest`` (several cells there: each on its own,
    :func:`across_cells`) lie above ``min_saturated`` by the one-sided
    signed-rank test (:func:`~actcmp.claims.checks.ranktests.above`, exact up to 20 values,
    p < alpha). Holds when each does (p the largest of theirs: an intersection-union test);
    does not hold when one's lie significantly below ``min_saturated``; inconclusive
    otherwise (and always with 3 or 4 seeds: the exact test's smallest p is 1/8 or 1/16,
    which the explanation says). A run at exactly ``min_saturated`` drops out of the test."""
    done = done_runs(runs)
    bounded = done[done["activation"].map(family_of) == "bounded"]
    bounded = bounded[bounded["depth"] == deepest]
    label = "sigmoid and tanh saturate"
    if bounded.empty:
        return Verdict(
            UNSURE,
            "smallest mean saturated fraction",
            math.nan,
            label=label,
            explanation="Saturation cannot be judged: no converged sigmoid/tanh runs at the deepest depth.",
        )
    keys = [k for k in stats.cell_keys(done) if k != "depth" and k in bounded]
    groups = list(bounded.groupby(keys, sort=True)) if keys else []
    if len(groups) > 1:  # each cell at that depth on its own, every one must show it
        cells = [
            (
                _cell_name(keys, key if isinstance(key, tuple) else (key,)),
                saturation_part(cell, deepest, min_saturated, alpha),
            )
            for key, cell in groups
        ]
        return across_cells(cells, label, f"at depth {deepest}, sigmoid and tanh saturate (above {min_saturated:.0%})")
    bounded = bounded.assign(_sat=numeric(bounded, "saturated_fraction_final"))
    judged = []  # (name, verdict, p, mean, text)
    for name, mine in bounded.groupby("activation", sort=True):
        values = mine["_sat"].dropna().to_numpy(dtype=float)
        if not len(values):
            judged.append((str(name), UNSURE, math.nan, math.nan, f"{name}: no saturated fraction measured"))
            continue
        verdict, p = above(values, min_saturated, alpha)
        unit = "seeds" if "seed" in mine and mine["seed"].is_unique else "runs"
        low, high = float(values.min()), float(values.max())
        spread = f"{low:.1%}-{high:.1%}" if low != high else f"every one {low:.1%}" if len(values) > 1 else f"{low:.1%}"
        said = {
            HOLDS: f"above {min_saturated:.0%}",
            FAILS: f"under {min_saturated:.0%}",
            UNSURE: f"not separable from {min_saturated:.0%}",
        }[verdict]
        floor = floor_clause(values, min_saturated, alpha) if verdict == UNSURE else ""
        judged.append(
            (
                str(name),
                verdict,
                p,
                float(values.mean()),
                f"{name} {float(values.mean()):.1%} on average over {len(values)} {unit} ({spread}), {said} "
                f"({method_text(values, min_saturated)}, {fmt_p(p)}{floor})",
            )
        )
    verdicts = [v for _, v, *_ in judged]
    text = f"After training, the share of saturated units at depth {deepest}: " + "; ".join(t for *_, t in judged)
    if FAILS in verdicts:
        name, verdict, p, mean, _ = next(j for j in judged if j[1] == FAILS)
        failing = [j[0] for j in judged if j[1] == FAILS]
        ending = f": {' and '.join(failing)} {'barely saturates' if len(failing) == 1 else 'barely saturate'} here."
        return Verdict(FAILS, f"mean saturated fraction of {name}", mean, p, text + ending, label=label)
    if UNSURE in verdicts:
        name, verdict, p, mean, _ = next(j for j in judged if j[1] == UNSURE)
        return Verdict(UNSURE, f"mean saturated fraction of {name}", mean, p, text + ".", label=label)
    low = min(mean for *_, mean, _ in judged)
    return Verdict(
        HOLDS, "smallest mean saturated fraction", low, max(p for _, _, p, *_ in judged), text + ".", label=label
    )


__all__ = [
    "check_dying",
    "check_dying_cell",
    "prevent_part",
    "saturation_part",
]
