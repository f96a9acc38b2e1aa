"""Claims about hidden units that stop passing gradient: ReLU units die, Leaky ReLU and
PReLU prevent it (no dead units, and fewer units stuck than ReLU), and dying hurts (claim 3,
pooled and per condition); sigmoid and tanh saturate (the saturation part of claim 4). Dead,
saturated and stuck are defined in :mod:`actcmp.claims.definitions`."""

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
from actcmp.claims.checks.ranktests import above, below, floor_clause, method_text, signed_rank
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
    and dying hurts reconstruction. Four parts, all over converged runs:

    1. *die*: ReLU's final dead fraction reaches ``min_dead`` somewhere and rises with
       ``lr`` and with ``depth``: Page's trend test (:func:`actcmp.analysis.stats.trend_test`) over
       the ordered levels of each factor, blocked by the other cell keys and the seed,
       p < alpha; does not hold when it never reaches ``min_dead`` or significantly
       falls with a factor. Beside it, descriptively (the verdict reads the final share),
       each cell's final share against ReLU's share dead at initialisation
       (``dead_fraction_init``, :func:`init_clause`): where it fell during training, the
       units counted dead were dead from initialisation rather than died in training.
    2. *prevent*: in the cells where ReLU's units are shown to die (its seeds lie above
       ``min_dead``: the one-sided exact signed-rank test of :func:`check_dying_cell`, p <
       alpha, per cell), each fix's dead fraction lies below ``max_prevented`` in every one
       of those cells, each judged on its own seeds (one-sided signed-rank test, p < alpha);
       does not hold where a fix's lie significantly above ``min_dead`` in a cell; see
       :func:`prevent_part`.
    3. *fewer stuck*: in the same cells, each fix leaves fewer units stuck
       (:func:`stuck_fraction`) than ReLU on the same seed, cell by cell
       (:func:`fewer_stuck_part`): the test that can fail where "prevent" is near-definitional.
    4. *hurts*: within each cell (its ``keys``), ReLU's dead fraction correlates with the
       log of its test loss over ``reference``'s on the same cell and seed: the stratified
       rank correlation of :func:`stratified_spearman` (ranks centred within each cell, a
       permutation p with the loss ratios permuted within cells): rho > 0, p < alpha holds,
       rho < 0 fails. Not pooled over the cells: learning rate and depth drive both the dead
       fraction and the loss ratio, so a pooled correlation mixes cells (Simpson's paradox).
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
    parts.append(fewer_stuck_part(done, dying, keys, fixes, candidate, alpha))
    parts.append(_hurts_part(runs, keys, candidate, reference, alpha))
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
    }[verdict] + _init_summary(frame, keys)
    return Verdict(verdict, "largest mean dead fraction of ReLU", peak, lead_p, text, label="ReLU units die")


def init_and_final(relu: pd.DataFrame) -> tuple[float, float, int, int, int]:
    """ReLU's dead share at initialisation and after training, paired by run (the runs where
    both are stored): ``(mean at init, mean final, runs, runs lower after training, runs
    higher)``; NaN means and zero counts where none has both."""
    start = numeric(relu, "dead_fraction_init").to_numpy(float)
    end = numeric(relu, "dead_fraction_final").to_numpy(float)
    both = np.isfinite(start) & np.isfinite(end)
    if not both.any():
        return math.nan, math.nan, 0, 0, 0
    start, end = start[both], end[both]
    return float(start.mean()), float(end.mean()), len(start), int(np.sum(end < start)), int(np.sum(end > start))


def init_direction(start: float, end: float) -> str:
    """``fell``, ``rose`` or ``same``: the final mean dead share against the share at
    initialisation, as the texts print them (equal to 0.1%: the same)."""
    if f"{start:.1%}" == f"{end:.1%}":
        return "same"
    return "fell" if end < start else "rose"


def init_clause(relu: pd.DataFrame) -> str:
    """The sentence that puts ReLU's final dead share (what the 5% test reads) beside its
    share at initialisation, over the runs given (one condition), descriptively: the
    final share counts units dead from initialisation, which the claim's quote allows (a
    network "not properly initialized") but a reader must be able to tell from units that
    died in training. "" where ``dead_fraction_init`` is not stored. The stored shares are
    counts, not which units, so a fall means fewer dead at the end than at the start, not
    that no unit died."""
    start, end, n, lower, higher = init_and_final(relu)
    if not n:
        return ""
    seeds = plural(n, "seed")
    moved = f"{start:.1%} at initialisation, {end:.1%} after training (mean over the same {seeds}"
    direction = init_direction(start, end)
    if direction == "fell":
        return (
            f" The dead share fell during training: {moved}; lower on {lower} of {n}): fewer units were dead at the "
            "end than at initialisation, so much of the share the test reads was dead from the start (a net change: "
            "the stored shares are counts, so some units may have died in training while others revived)."
        )
    if direction == "rose":
        return (
            f" The dead share rose during training: {moved}; higher on {higher} of {n}): more units were dead at the "
            "end than at the start (a net rise)."
        )
    return (
        f" The dead share is about what it was at initialisation: {moved}; lower on {lower}, higher on {higher}): "
        "the share the test reads may be mostly units dead from the start."
    )


def _init_summary(frame: pd.DataFrame, keys: list[str]) -> str:
    """For the pooled "units die" part: in how many cells ReLU's final mean dead share lies
    above / below its share at initialisation, naming the cells where it fell (there the
    units were dead from initialisation); "" where ``dead_fraction_init`` is not stored."""
    groups = list(frame.groupby(keys, sort=True)) if keys else [((), frame)]
    rose: list[str] = []
    fell: list[str] = []
    same: list[str] = []
    for key, cell in groups:
        start, end, n, _, _ = init_and_final(cell)
        if not n:
            continue
        name = _cell_name(keys, key if isinstance(key, tuple) else (key,))
        shown = f"{name}: {start:.1%} → {end:.1%}"
        {"fell": fell, "rose": rose, "same": same}[init_direction(start, end)].append(shown)
    judged = len(rose) + len(fell) + len(same)
    if not judged:
        return ""
    text = (
        f" Against ReLU's share dead at initialisation (descriptive; the tests read the final share): the final "
        f"mean dead share is above it in {len(rose)} of {plural(judged, 'cell')} (a net rise during training)"
    )
    if fell:
        text += (
            f"; below it in {len(fell)}, where fewer units were dead at the end than at initialisation (a net fall: "
            f"much of the share the test reads was dead from the start; {'; '.join(fell)})"
        )
    if same:
        text += f"; about the same in {len(same)} ({'; '.join(same)})"
    return text + "."


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


def _fixes_unjudged(
    done: pd.DataFrame, dying: pd.DataFrame, fixes: Sequence[str], statistic: str, label: str, what: str
) -> Verdict | None:
    """The inconclusive verdict of a part about the fixes where it cannot be judged: no Leaky
    ReLU / PReLU runs, or no cell where ReLU's units are shown to die; None where it can."""
    present = [f for f in fixes if f in set(done["activation"])]
    if present and len(dying):  # (no keys: one row, no columns)
        return None
    why = "no Leaky ReLU / PReLU runs" if not present else "ReLU's units are not shown to die in any cell"
    return Verdict(
        UNSURE,
        statistic,
        math.nan,
        label=label,
        explanation=f"Whether Leaky ReLU / PReLU {what} cannot be judged: {why}.",
    )


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
    measurement: a Leaky ReLU unit stuck on its shallow side counts as saturated, not dead.
    :func:`fewer_stuck_part` is the part that can fail: it compares the units stuck (dead or
    saturated) under each fix with ReLU's on the same seeds."""
    label = "Leaky ReLU and PReLU prevent it"
    statistic = "largest mean dead fraction of a fix"
    unjudged = _fixes_unjudged(done, dying, fixes, statistic, label, "prevent dying")
    if unjudged is not None:
        return unjudged
    present = [f for f in fixes if f in set(done["activation"])]
    if keys and len(dying) > 1:  # "wherever units die": each cell on its own, every one must show it
        cells = [
            (_cell_name(keys, row), prevent_part(done, dying.iloc[[i]], keys, fixes, min_dead, max_prevented, alpha))
            for i, row in enumerate(dying.itertuples(index=False))
        ]
        fix_runs = done[done["activation"].isin(present)].merge(dying, on=keys, how="inner")
        extra = f" Over those cells' runs: at most {float(numeric(fix_runs, 'dead_fraction_final').max()):.1%} dead."
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
        judged.append((fix, verdict, p, mean, f"{seen}, {said}"))
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


#: the label of claim 3's part that compares the units stuck under each fix with ReLU's
FEWER_STUCK = "Leaky ReLU and PReLU leave fewer units stuck"


def stuck_fraction(runs: pd.DataFrame) -> pd.Series:
    """Per run: the share of hidden units *stuck* after training, dead or saturated (the
    stored ``dead_fraction_final`` + ``saturated_fraction_final``, disjoint masks:
    :func:`actcmp.core.metrics.saturated_mask` leaves dead units out): |f'(z)| under
    ``saturation_threshold`` (5%) of the activation's peak derivative on at least
    ``saturation_share`` (95%) of the probe inputs, 0 on every one for a dead unit. One rule
    for every activation: a ReLU unit on its flat side, a Leaky ReLU unit on its slope-0.01
    side, a PReLU unit on its negative side while its learned slope is under 5% (a steeper
    slope is no shallow side), each for nearly every input. NaN where either is not stored
    (:data:`actcmp.claims.definitions.STUCK` says it for the reader)."""
    return numeric(runs, "dead_fraction_final") + numeric(runs, "saturated_fraction_final")


def fewer_stuck_part(
    done: pd.DataFrame,
    dying: pd.DataFrame,
    keys: list[str],
    fixes: Sequence[str],
    candidate: str = "relu",
    alpha: float = stats.ALPHA,
) -> Verdict:
    """Leaky ReLU / PReLU leave fewer units stuck than ReLU, judged where :func:`prevent_part`
    is (the cells ``dying``, one row of ``keys`` values per cell where ReLU's units are shown
    to die; several cells: each on its own, :func:`across_cells`, every one must show it).
    In a cell, per fix: the paired differences, fix's :func:`stuck_fraction` minus
    ``candidate``'s on the same seed (the same data, split, initial weights and batch order;
    converged runs, a seed where either diverged drops out), tested against 0 by the
    one-sided exact signed-rank test (:func:`~actcmp.claims.checks.ranktests.below`): holds
    when they lie significantly below 0 (p < alpha: with 5 seeds, the fix below ReLU on
    every seed), does not hold when significantly above (the fix leaves more units stuck);
    inconclusive otherwise (a seed with equal shares drops out; with 4 or fewer seeds always,
    which the explanation says). Every fix must hold (p the largest of theirs).

    Why this part: "prevent" (dead under 1%) holds by definition for Leaky ReLU, whose
    derivative is never 0. What a reader wants to know is whether its units stay out of the
    state that is death under ReLU. The same rule for both sides (stuck: dead or saturated,
    < 5% of the peak derivative on >= 95% of the probe inputs) keeps the comparison like for
    like; against ReLU's dead share alone (every input) the fix's 95% rule would count
    units ReLU's does not."""
    statistic = f"largest mean paired difference of the stuck share, fix - {candidate}"
    unjudged = _fixes_unjudged(done, dying, fixes, statistic, FEWER_STUCK, "leave fewer units stuck than ReLU")
    if unjudged is not None:
        return unjudged
    present = [f for f in fixes if f in set(done["activation"])]
    if keys and len(dying) > 1:  # each cell on its own, every one must show it
        cells = [
            (_cell_name(keys, row), fewer_stuck_part(done, dying.iloc[[i]], keys, fixes, candidate, alpha))
            for i, row in enumerate(dying.itertuples(index=False))
        ]
        return across_cells(
            cells,
            FEWER_STUCK,
            f"where ReLU's units are shown to die, {' and '.join(present)} leave fewer units stuck (dead or saturated) "
            "than ReLU on the same seed",
        )
    cell = done.merge(dying, on=keys, how="inner") if keys else done
    cell = cell.assign(_stuck=stuck_fraction(cell), _dead=numeric(cell, "dead_fraction_final"))
    judged = []  # (fix, verdict, p, mean difference, text)
    for fix in present:
        pairs = paired_runs(cell, fix, candidate, ["_stuck", "_dead"])
        mine, theirs = numeric(pairs, f"_stuck_{fix}"), numeric(pairs, f"_stuck_{candidate}")
        usable = (mine.notna() & theirs.notna()).to_numpy()
        if not usable.any():
            judged.append(
                (
                    fix,
                    UNSURE,
                    math.nan,
                    math.nan,
                    f"{fix}: no stuck share measured (a saturated fraction is not stored)",
                )
            )
            continue
        diffs = (mine - theirs).to_numpy(float)[usable]
        verdict, p = below(diffs, 0.0, alpha)
        n, lower = len(diffs), int(np.sum(diffs < 0))
        relu_dead = float(numeric(pairs, f"_dead_{candidate}").to_numpy(float)[usable].mean())
        said = {
            HOLDS: "fewer stuck than ReLU",
            FAILS: "more stuck than ReLU: it keeps more units in the state that is death under ReLU",
            UNSURE: "not shown fewer than ReLU's",
        }[verdict]
        floor = floor_clause(diffs, 0.0, alpha) if verdict == UNSURE else ""
        text = (
            f"{fix}: {float(mine.to_numpy(float)[usable].mean()):.1%} of its units stuck on average over {plural(n, 'seed')}, "
            f"ReLU {float(theirs.to_numpy(float)[usable].mean()):.1%} on the same seeds ({relu_dead:.1%} dead), "
            f"the fix lower on {lower} of {n} ({method_text(diffs, 0.0)} of the paired differences, {fmt_p(p)}"
            f"{floor}): {said}"
        )
        judged.append((fix, verdict, p, float(diffs.mean()), text))
    text = "Units stuck (dead or saturated; see Definitions) against ReLU's on the same seed: " + "; ".join(
        t for *_, t in judged
    )
    text += "."
    verdicts = [v for _, v, *_ in judged]
    if FAILS in verdicts or UNSURE in verdicts:
        fix, verdict, p, diff, _ = next(j for j in judged if j[1] == (FAILS if FAILS in verdicts else UNSURE))
        return Verdict(
            verdict, f"mean paired difference of the stuck share, {fix} - {candidate}", diff, p, text, label=FEWER_STUCK
        )
    worst = max(diff for *_, diff, _ in judged)
    return Verdict(HOLDS, statistic, worst, max(p for _, _, p, *_ in judged), text, label=FEWER_STUCK)


#: within-condition permutations drawn for :func:`stratified_spearman` (seeded: the report's
#: numbers depend on the stored runs only); at p = 0.05 the Monte Carlo standard error is 0.002
PERMUTATIONS = 10_000
PERMUTATION_SEED = 0

#: the statistic of claim 3's "dying hurts" part
HURTS_STATISTIC = "within-condition Spearman rho(dead, loss ratio)"


def stratified_spearman(
    x: Sequence[float],
    y: Sequence[float],
    strata: Sequence[Any],
    permutations: int = PERMUTATIONS,
    seed: int = PERMUTATION_SEED,
) -> tuple[float, float, int, int]:
    """``(rho, p, n, strata used)``: the rank correlation of ``x`` and ``y`` within strata.
    Each stratum's finite pairs are ranked within it (``scipy.stats.rankdata``, mid-ranks for
    ties) and centred on its mean rank; rho is the correlation of the centred ranks over all
    strata (sum of products over the square root of the two sums of squares), so no stratum's
    level enters, only the order within it. p: two-sided, by permutation of ``y``'s ranks
    within each stratum (``permutations`` seeded draws; the denominator does not change under
    such a permutation, so the sum of products is compared), p = (1 + draws at least as extreme)
    / (1 + draws). A stratum with one pair, or constant on either side, adds nothing. NaN rho
    and p where no stratum varies on both sides (or fewer than 3 pairs)."""
    from scipy import stats as sps

    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    labels = np.asarray([str(s) for s in strata], dtype=object)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b, labels = a[keep], b[keep], labels[keep]
    centred = []  # (x ranks, y ranks) per stratum, centred
    for label in sorted(set(labels.tolist())):
        mine = labels == label
        if mine.sum() < 2:
            continue
        ra, rb = sps.rankdata(a[mine]), sps.rankdata(b[mine])
        centred.append((ra - ra.mean(), rb - rb.mean()))
    sxx = sum(float(np.sum(ra**2)) for ra, _ in centred)
    syy = sum(float(np.sum(rb**2)) for _, rb in centred)
    n = int(keep.sum())
    used = sum(1 for ra, rb in centred if np.any(ra) and np.any(rb))
    if n < 3 or sxx == 0 or syy == 0:
        return math.nan, math.nan, n, used
    observed = sum(float(ra @ rb) for ra, rb in centred)
    rng = np.random.default_rng(seed)
    drawn = np.zeros(permutations)
    for ra, rb in centred:
        shuffled = rng.permuted(np.broadcast_to(rb, (permutations, len(rb))), axis=1)
        drawn += shuffled @ ra
    extreme = int(np.sum(np.abs(drawn) >= abs(observed) * (1 - 1e-12) - 1e-12))
    return observed / math.sqrt(sxx * syy), (1 + extreme) / (1 + permutations), n, used


def _hurts_part(runs: pd.DataFrame, keys: list[str], candidate: str, reference: str, alpha: float) -> Verdict:
    """Dying hurts: within each cell (``keys``; with none, all runs one cell), ReLU's dead
    fraction against the log of its test loss over ``reference``'s on the same cell and seed,
    by :func:`stratified_spearman`. The correlation pooled over cells is only a note: the
    learning rate and depth drive both the dead fraction and the loss ratio, so a pooled
    rank correlation (and its p, which would treat those runs as one sample) can show a link
    that no cell has, or the opposite of theirs."""
    label = "dying hurts reconstruction"
    if reference not in set(runs["activation"]):
        return Verdict(
            UNSURE,
            HURTS_STATISTIC,
            math.nan,
            label=label,
            explanation=f"Whether dying hurts cannot be judged without {reference} runs to pair with.",
        )
    pairs = paired_runs(runs, candidate, reference, ["dead_fraction_final", "test_loss"])
    dead = numeric(pairs, f"dead_fraction_final_{candidate}")
    ratio = np.log(numeric(pairs, f"test_loss_{candidate}") / numeric(pairs, f"test_loss_{reference}"))
    keys = [k for k in keys if k in pairs.columns]
    strata = [tuple(row) for row in pairs[keys].itertuples(index=False)] if keys else [()] * len(pairs)
    rho, p, n, used = stratified_spearman(dead, ratio, strata)
    pooled, pooled_p, _ = spearman(dead, ratio)
    cells = len(set(strata))
    within = f"conditions ({', '.join(keys)})" if keys else "conditions"
    text = (
        f"Within each of the {cells} {within}, ReLU's dead fraction against its test loss relative to {reference} on "
        f"the same seed, both ranked within the condition and centred on its mean rank: over {n} ReLU runs "
        f"({used} {'condition varies' if used == 1 else 'conditions vary'} on both sides), the within-condition "
        f"Spearman rho = {fmt_number(rho, 2)} (two-sided permutation test, the loss ratios permuted within each "
        f"condition, {PERMUTATIONS:,} seeded draws, {fmt_p(p)})"
    )
    note = (
        f" Pooled over the conditions, Spearman rho = {fmt_number(pooled, 2)} ({fmt_p(pooled_p)}), a note only: "
        "learning rate and depth drive both the dead fraction and the loss ratio, so the pooled runs are not one sample."
        if math.isfinite(pooled)
        else ""
    )
    if rho > 0 and p < alpha:
        ending = ": within a condition, more dead units go with a worse loss."
        return Verdict(HOLDS, HURTS_STATISTIC, rho, p, text + ending + note, label=label)
    if rho < 0 and p < alpha:
        ending = ": within a condition, more dead units go with a better loss."
        return Verdict(FAILS, HURTS_STATISTIC, rho, p, text + ending + note, label=label)
    return Verdict(UNSURE, HURTS_STATISTIC, rho, p, text + ": no clear link within a condition." + note, label=label)


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
    ``min_dead``; :func:`prevent_part`) and each leaves fewer units stuck than ReLU on the
    same seed (a paired one-sided exact signed-rank test; :func:`fewer_stuck_part`). Every
    part must hold. A mean of 7.3% over seeds of 3.1-16.7% was "holds"
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
        f"ReLU has {mean:.1%} of its units dead after training (mean over {len(dead)} seeds: {seeds}), {said} "
        f"(one-sided exact signed-rank test, {fmt_p(p)}).{init_clause(relu)}",
        label=label,
    )
    keys = stats.cell_keys(runs)
    if verdict == HOLDS:  # the cell itself (its keys' values: one row where the keys are fixed)
        dying = relu[keys].drop_duplicates() if keys else relu.iloc[:1, :0]
        prevent = prevent_part(done, dying, keys, fixes, min_dead, max_prevented, alpha)
        fewer = fewer_stuck_part(done, dying, keys, fixes, candidate, alpha)
    else:  # "prevent" and "fewer stuck" are judged where units are shown to die (one sentence says so)
        prevent = Verdict(
            UNSURE,
            "largest mean dead fraction of a fix",
            math.nan,
            label="Leaky ReLU and PReLU prevent it",
            explanation="Whether Leaky ReLU / PReLU prevent dying (or leave fewer units stuck) is not judged here: "
            "ReLU's units are not shown to die.",
        )
        fewer = Verdict(UNSURE, "mean paired difference of the stuck share", math.nan, label=FEWER_STUCK)
    return combine([die, prevent, fewer], "mean dead fraction of ReLU", mean, p)


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
    "FEWER_STUCK",
    "HURTS_STATISTIC",
    "PERMUTATIONS",
    "check_dying",
    "check_dying_cell",
    "fewer_stuck_part",
    "init_and_final",
    "init_clause",
    "init_direction",
    "prevent_part",
    "saturation_part",
    "stratified_spearman",
    "stuck_fraction",
]
