"""Statistics across seeds and cells: pure functions on the long-format runs frame.

Every function takes the ``runs`` frame of :func:`actcmp.store.database.load_results` (one row per
run: ``status``, config fields, final metrics) and returns a tidy frame or a small
dataclass. Only scipy does the statistics; this module is glue.

Conventions (shared by the claims report):

* A *cell* is ``dataset``, ``depth`` and every other config field that varies
  independently of the *treatment* (the compared field: ``activation`` unless said
  otherwise, e.g. ``output_activation``); seeds are replicates (see :func:`cell_keys`).
* *Outcomes*: ``failed`` runs are dropped (a crash says nothing about the activation).
  A ``diverged`` run is the **worst** outcome of its cell: it ranks last, it never counts
  as tied with a best that did not diverge, and it is left out of means and intervals
  (which are over converged seeds, with the diverged count beside them). A converged run
  whose metric is missing (e.g. ``epochs_to_threshold`` never reached) is dropped, or
  replaced by ``fill_missing`` when the caller gives one (e.g. ``epochs + 1``).
* Paired comparisons pair runs by ``seed``: activations of a cell share the split, the
  batch order and the initial weights (DESIGN.md), so seed-to-seed noise cancels.
* With few seeds (3 is typical) every test has little power: "tied with the best" then
  means "not shown to differ", and intervals are wide. Notes say so wherever it applies.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from actcmp.analysis.cells import ALPHA, FINISHED, activation_order, cell_groups, cell_keys, config_fields, outcomes

if TYPE_CHECKING:
    import pandas as pd

CONFIDENCE = 0.95
N_RESAMPLES = 2000
RANDOM_STATE = 0
DEPTH_FACTOR = 1.5


# -- per cell: mean, std, confidence interval --------------------------------------------
#: how the tables' interval of a mean over seeds is computed (named in every footnote)
CI_METHOD = "Student t interval"
#: how the within-cell comparisons against the best are corrected for multiplicity
CORRECTION = "Holm"
#: the power at which :func:`min_detectable_effect` is stated
POWER = 0.8


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float, str]:
    """(low, high, note) of the Student t interval of the mean: mean +- t(1 - a/2, n - 1) *
    s / sqrt(n). Exact coverage for normal data at any n >= 2 (the seed counts people use,
    3-10, are where a bootstrap interval falls short: 71% nominal-95% BCa coverage at 3
    seeds); for skewed data it covers somewhat less (see tests/test_coverage.py). Fewer
    than 2 values: NaN with a note; all equal: a zero-width interval, said in the note."""
    from scipy import stats

    data = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
    n = len(data)
    if n < 2:
        return math.nan, math.nan, f"{n} seed{'s' if n != 1 else ''}: too few for an interval"
    mean = float(data.mean())
    if np.ptp(data) == 0:
        return mean, mean, "all seeds equal"
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * float(data.std(ddof=1)) / math.sqrt(n)
    note = "" if n >= 3 else "2 seeds: a very wide interval"
    return mean - half, mean + half, note


def bootstrap_ci(
    values: Sequence[float],
    confidence: float = CONFIDENCE,
    n_resamples: int = N_RESAMPLES,
    random_state: int = RANDOM_STATE,
) -> tuple[float, float, str]:
    """(low, high, note) of a bootstrap CI of the mean (``scipy.stats.bootstrap``, BCa,
    fixed seed). Not used by the tables: with 3-10 seeds it covers far less than its
    nominal level (:func:`t_interval` does not). Fewer than 3 values: NaN with a note;
    all equal: a zero-width interval; where BCa fails it falls back to the percentile
    method and says so."""
    from scipy import stats

    data = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
    if len(data) < 3:
        return math.nan, math.nan, f"{len(data)} seed{'s' if len(data) != 1 else ''}: too few for a bootstrap CI"
    if np.ptp(data) == 0:
        return float(data[0]), float(data[0]), "all seeds equal"
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # degenerate resamples: checked below instead
            result = stats.bootstrap(
                (data,),
                np.mean,
                confidence_level=confidence,
                n_resamples=n_resamples,
                method=method,
                rng=np.random.default_rng(random_state),
            )
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
        if math.isfinite(low) and math.isfinite(high):
            note = "" if len(data) >= 5 else f"{len(data)} seeds: a rough interval"
            if method != "BCa":
                note = (note + "; " if note else "") + "percentile bootstrap (BCa failed)"
            return low, high, note
    return math.nan, math.nan, "bootstrap failed"


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values (step-down Bonferroni, Holm 1979), in the input order.

    With the m finite p-values sorted ascending, p_(i) becomes
    ``max_{j <= i} min(1, (m - j + 1) p_(j))``; rejecting where the adjusted p < alpha
    controls the family-wise error rate at alpha. NaN entries (no test) stay NaN and do
    not count in m."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = len(finite)
    if m == 0:
        return out
    order = finite[np.argsort(p[finite], kind="mergesort")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def min_detectable_effect(n: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """The smallest standardised paired difference ``d_z`` (mean difference / std of the
    seed-paired differences) that a two-sided paired t-test over ``n`` seeds detects with
    probability ``power`` at level ``alpha`` (noncentral t, df = n - 1). NaN below 2 seeds.
    E.g. alpha 0.05, 80% power: d_z = 3.26 with 3 seeds, 1.68 with 5, 1.00 with 10."""
    from scipy import optimize, stats

    if n < 2:
        return math.nan
    df = n - 1
    critical = float(stats.t.ppf(1 - alpha / 2, df))

    def shortfall(d: float) -> float:
        shift = d * math.sqrt(n)
        # the far tail underflows to NaN in scipy for large shifts at df 1: it is ~0 there
        upper, lower = (
            float(np.nan_to_num(v)) for v in (stats.nct.sf(critical, df, shift), stats.nct.cdf(-critical, df, shift))
        )
        reached = upper + lower
        return reached - power

    high = 1.0
    while shortfall(high) < 0:
        high *= 2
    return float(optimize.brentq(shortfall, 0.0, high, xtol=1e-6))


def summarise(
    runs: pd.DataFrame,
    metric: str = "test_loss",
    *,
    treatment: str = "activation",
    fill_missing: float | str | None = None,
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """Per cell x treatment: ``n`` converged seeds with a value, ``n_diverged``, ``mean``,
    ``std`` (ddof 1), ``ci_low`` / ``ci_high`` (:func:`t_interval` over seeds,
    :data:`CI_METHOD`) and a ``note``."""
    import pandas as pd

    keys = cell_keys(runs, treatment)
    data = outcomes(runs, metric, treatment=treatment, keys=keys, fill_missing=fill_missing)
    rows = []
    for key, group in cell_groups(data, [*keys, treatment]):
        values = group.loc[~group["worst"], "value"].to_numpy(dtype=float)
        low, high, note = t_interval(values, confidence)
        rows.append(
            {
                **dict(zip([*keys, treatment], key, strict=True)),
                "n": len(values),
                "n_diverged": int(group["worst"].sum()),
                "mean": float(values.mean()) if len(values) else math.nan,
                "std": float(values.std(ddof=1)) if len(values) > 1 else math.nan,
                "ci_low": low,
                "ci_high": high,
                "note": note,
            }
        )
    columns = [*keys, treatment, "n", "n_diverged", "mean", "std", "ci_low", "ci_high", "note"]
    return pd.DataFrame(rows, columns=columns)


# -- per cell: paired comparison with the best --------------------------------------------
@dataclass(frozen=True)
class PairedTest:
    """A paired comparison ``a - b`` over ``n`` seeds."""

    n: int
    mean_diff: float
    d_z: float
    statistic: float
    p_value: float
    test: str
    note: str = ""


def paired_test(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, test: str = "t") -> PairedTest:
    """Paired test of ``a`` against ``b`` (same seeds, same order), two-sided.

    ``test="t"``: ``scipy.stats.ttest_rel`` (what 3 seeds allow; it assumes roughly normal
    differences, which 3 seeds cannot check). ``test="wilcoxon"``: signed-rank test, which
    needs 6 or more pairs to reach p < 0.05 at all. Effect size: Cohen's d_z = mean
    difference / std of differences. Identical differences on every seed (zero spread)
    are handled without scipy: p = 1 when they are all zero, else p = 0 (a deterministic
    difference), with a note.
    """
    from scipy import stats

    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diff = x - y
    n = len(diff)
    mean = float(diff.mean()) if n else math.nan
    if n < 2:
        return PairedTest(
            n, mean, math.nan, math.nan, math.nan, test, f"{n} paired seed{'s' if n != 1 else ''}: no test"
        )
    spread = float(diff.std(ddof=1))
    scale = max(float(np.abs(x).max()), float(np.abs(y).max()), 1e-300)
    if spread <= 1e-12 * scale:
        if abs(mean) <= 1e-12 * scale:
            return PairedTest(n, 0.0, 0.0, 0.0, 1.0, test, "identical on every seed")
        return PairedTest(
            n,
            mean,
            math.copysign(math.inf, mean),
            math.copysign(math.inf, mean),
            0.0,
            test,
            "the same difference on every seed",
        )
    d_z = mean / spread
    if test == "wilcoxon":
        result = stats.wilcoxon(x, y)
        note = "" if n >= 6 else f"{n} pairs: the signed-rank test cannot reach p < 0.05"
        return PairedTest(n, mean, d_z, float(result.statistic), float(result.pvalue), test, note)
    if test != "t":
        raise ValueError(f"unknown paired test {test!r} (use 't' or 'wilcoxon')")
    result = stats.ttest_rel(x, y)
    note = "" if n >= 5 else f"{n} seeds: low power"
    return PairedTest(n, mean, d_z, float(result.statistic), float(result.pvalue), test, note)


def equivalence_test(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, margin: float = 0.1, alpha: float = ALPHA
) -> tuple[bool, float]:
    """``(within, p)``: are paired positive ``a`` and ``b`` equal within a factor ``1 + margin``?

    Two one-sided tests (TOST) on the paired log ratios ``log(a / b)`` against the bounds
    ``+-log(1 + margin)``, each a one-sided ``scipy.stats.ttest_1samp``; ``p`` is the
    larger of the two and ``within`` is ``p < alpha``. Identical log ratios on every seed
    are decided exactly; fewer than 2 pairs or non-positive values give ``(False, nan)``.
    """
    from scipy import stats

    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(x) < 2 or (x <= 0).any() or (y <= 0).any():
        return False, math.nan
    diff, bound = np.log(x) - np.log(y), math.log1p(margin)
    if np.ptp(diff) <= 1e-12 * max(1.0, float(np.abs(diff).max())):
        inside = bool(abs(float(diff.mean())) < bound)
        return inside, 0.0 if inside else 1.0
    upper = float(stats.ttest_1samp(diff, bound, alternative="less").pvalue)
    lower = float(stats.ttest_1samp(diff, -bound, alternative="greater").pvalue)
    p_value = max(upper, lower)
    return bool(p_value < alpha), p_value


def trend_test(frame: pd.DataFrame, factor: str, value: str, blocks: Sequence[str]) -> tuple[float, float, int, str]:
    """Does ``value`` rise with the ordered levels of ``factor``, blocked by ``blocks``?

    Returns ``(p_increasing, p_decreasing, n_blocks, method)``. Three or more levels:
    Page's L test (``scipy.stats.page_trend_test``) on the blocks observed at every level
    (each direction tested on its own). Two levels: a paired t-test between them. Fewer
    than two levels or two blocks: NaN with the reason as ``method``.
    """
    from scipy import stats

    levels = sorted(frame[factor].dropna().unique())
    if len(levels) < 2:
        return math.nan, math.nan, 0, f"{factor} not varied"
    wide = frame.pivot_table(index=list(blocks), columns=factor, values=value, aggfunc="mean") if blocks else None
    if wide is None:
        return math.nan, math.nan, 0, "no blocks"
    wide = wide.dropna(axis=0, how="any")
    if len(wide) < 2:
        return math.nan, math.nan, len(wide), "fewer than 2 complete blocks"
    data = wide[levels].to_numpy(dtype=float)
    if len(levels) == 2:
        result = paired_test(data[:, 1], data[:, 0])
        if not math.isfinite(result.p_value):
            return math.nan, math.nan, len(wide), "paired t"
        half = result.p_value / 2
        rising = result.mean_diff > 0
        return (half if rising else 1 - half), (1 - half if rising else half), len(wide), "paired t"
    up = float(stats.page_trend_test(data).pvalue)
    down = float(stats.page_trend_test(data[:, ::-1]).pvalue)
    return up, down, len(wide), "Page's L"


def _best_treatment(group: pd.DataFrame, treatment: str, higher_is_better: bool) -> Any:
    """The cell's best: fewest diverged seeds first, then the best mean over converged seeds."""
    scores = []
    for name, mine in group.groupby(treatment, sort=True):
        values = mine.loc[~mine["worst"], "value"]
        if values.empty:
            continue
        mean = float(values.mean())
        scores.append((int(mine["worst"].sum()), -mean if higher_is_better else mean, str(name), name))
    return min(scores)[3] if scores else None


def paired_vs_best(
    runs: pd.DataFrame,
    metric: str = "test_loss",
    *,
    treatment: str = "activation",
    higher_is_better: bool = False,
    alpha: float = ALPHA,
    test: str = "t",
    fill_missing: float | str | None = None,
    margin: float = 0.1,
    correction: str | None = "holm",
) -> pd.DataFrame:
    """Each treatment of each cell against the cell's best, paired by seed.

    The best is the treatment with the fewest diverged seeds, then the best mean. Columns:
    cell keys, treatment, ``best`` (its name), ``is_best``, ``n_pairs`` (seeds where both
    converged), ``mean``, ``mean_diff`` (this minus best, metric units), ``d_z``,
    ``statistic``, ``p_value``, ``p_adjusted``, ``test``, ``tied`` and a ``note``.

    ``p_adjusted``: with ``correction="holm"`` (the default) the cell's p-values against
    the best (up to k - 1 of them) adjusted by :func:`holm`, so that "separable from the
    best" holds for the whole cell at family-wise level ``alpha``; with ``None``, the raw
    p-value. ``tied`` (tied with the best) is True for the best itself; False when this
    treatment diverged on a seed where the best did not; True when fewer than 2 seeds pair
    up (no test can separate them); otherwise ``p_adjusted >= alpha``.
    """
    if correction not in ("holm", None):
        raise ValueError(f"unknown correction {correction!r} (use 'holm' or None)")
    import pandas as pd

    keys = cell_keys(runs, treatment)
    data = outcomes(runs, metric, treatment=treatment, keys=keys, fill_missing=fill_missing)
    rows = []
    for key, group in cell_groups(data, keys):
        best = _best_treatment(group, treatment, higher_is_better)
        reference = group[group[treatment] == best].set_index("seed") if best is not None else None
        cell_rows: list[dict[str, Any]] = []
        for name, mine in group.groupby(treatment, sort=True):
            row: dict[str, Any] = dict(zip(keys, key, strict=True))
            converged = mine.loc[~mine["worst"], "value"]
            row.update(
                {
                    treatment: name,
                    "best": best,
                    "is_best": name == best,
                    "mean": float(converged.mean()) if len(converged) else math.nan,
                }
            )
            mine = mine.set_index("seed")
            if reference is None:
                row.update(_no_test("no converged run in the cell"))
            elif name == best:
                row.update(
                    {
                        "n_pairs": int((~mine["worst"]).sum()),
                        "mean_diff": 0.0,
                        "d_z": 0.0,
                        "statistic": math.nan,
                        "p_value": math.nan,
                        "test": test,
                        "tied": True,
                        "equivalent": True,
                        "p_equivalence": math.nan,
                        "note": "best",
                    }
                )
            else:
                row.update(_against(mine, reference, test, alpha, margin))
            cell_rows.append(row)
        _adjust(cell_rows, alpha, correction)
        rows += cell_rows
    columns = [
        *keys,
        treatment,
        "best",
        "is_best",
        "mean",
        "n_pairs",
        "mean_diff",
        "d_z",
        "statistic",
        "p_value",
        "p_adjusted",
        "test",
        "tied",
        "equivalent",
        "p_equivalence",
        "note",
    ]
    return pd.DataFrame(rows, columns=columns)


def _adjust(rows: list[dict[str, Any]], alpha: float, correction: str | None) -> None:
    """Set ``p_adjusted`` on one cell's rows and decide ``tied`` for those a test decides."""
    p_values = np.array([math.nan if r["is_best"] else r["p_value"] for r in rows], dtype=float)
    adjusted = holm(p_values) if correction == "holm" else p_values
    for row, p_adjusted in zip(rows, adjusted, strict=True):
        row["p_adjusted"] = float(p_adjusted)
        if row.pop("_by_test", False):
            row["tied"] = bool(p_adjusted >= alpha)


def _no_test(note: str) -> dict[str, Any]:
    return {
        "n_pairs": 0,
        "mean_diff": math.nan,
        "d_z": math.nan,
        "statistic": math.nan,
        "p_value": math.nan,
        "test": "",
        "tied": False,
        "equivalent": False,
        "p_equivalence": math.nan,
        "note": note,
    }


def _against(mine: pd.DataFrame, reference: pd.DataFrame, test: str, alpha: float, margin: float) -> dict[str, Any]:
    seeds = mine.index.intersection(reference.index)
    lost = [s for s in seeds if mine.at[s, "worst"] and not reference.at[s, "worst"]]
    both = [s for s in seeds if not mine.at[s, "worst"] and not reference.at[s, "worst"]]
    a, b = mine.loc[both, "value"].to_numpy(float), reference.loc[both, "value"].to_numpy(float)
    result = paired_test(a, b, test)
    within, p_equivalence = equivalence_test(a, b, margin, alpha)
    out = {
        "n_pairs": result.n,
        "mean_diff": result.mean_diff,
        "d_z": result.d_z,
        "statistic": result.statistic,
        "p_value": result.p_value,
        "test": test,
        "note": result.note,
        "equivalent": within and not lost,
        "p_equivalence": p_equivalence,
    }
    if lost:
        out.update(tied=False, note=f"diverged on {len(lost)} seed(s) where the best converged")
    elif result.n < 2:
        out.update(tied=True, note=(result.note + "; " if result.note else "") + "too few seeds to separate")
    else:
        out["_by_test"] = True  # decided on the corrected p-value, once the cell is complete
    return out


# -- across cells: ranks, Friedman, Nemenyi --------------------------------------------------
def cell_scores(
    runs: pd.DataFrame,
    metric: str = "test_loss",
    *,
    treatment: str = "activation",
    higher_is_better: bool = False,
    fill_missing: float | str | None = None,
) -> pd.DataFrame:
    """Per cell x treatment: ``score`` (mean over seeds, oriented so that lower is better;
    +inf when any seed diverged) and ``rank`` within the cell (1 = best, ties averaged)."""
    import pandas as pd
    from scipy import stats

    keys = cell_keys(runs, treatment)
    data = outcomes(runs, metric, treatment=treatment, keys=keys, fill_missing=fill_missing)
    rows = []
    for key, group in cell_groups(data, keys):
        names, scores = [], []
        for name, mine in group.groupby(treatment, sort=True):
            mean = float(mine["value"].mean())
            names.append(name)
            scores.append(math.inf if mine["worst"].any() else (-mean if higher_is_better else mean))
        ranks = stats.rankdata(scores, method="average")
        for name, score, rank in zip(names, scores, ranks, strict=True):
            rows.append({**dict(zip(keys, key, strict=True)), treatment: name, "score": score, "rank": float(rank)})
    return pd.DataFrame(rows, columns=[*keys, treatment, "score", "rank"])


@dataclass
class FriedmanResult:
    """Friedman test over cells (blocks) and the Nemenyi critical difference (Demsar 2006).

    ``mean_ranks``: treatment -> mean rank over complete cells (1 = best), sorted best
    first. ``reason`` says why the statistic is NaN, when it is.
    """

    metric: str
    treatment: str
    mean_ranks: dict[str, float]
    n_cells: int
    n_dropped: int
    statistic: float
    p_value: float
    kendall_w: float
    cd: float
    alpha: float = ALPHA
    reason: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def k(self) -> int:
        return len(self.mean_ranks)

    @property
    def best(self) -> str | None:
        return next(iter(self.mean_ranks), None)

    @property
    def significant(self) -> bool:
        return bool(self.p_value < self.alpha) if math.isfinite(self.p_value) else False

    def top_group(self) -> list[str]:
        """Treatments whose mean rank is within the critical difference of the best."""
        if not self.mean_ranks or not math.isfinite(self.cd):
            return list(self.mean_ranks)
        first = min(self.mean_ranks.values())
        return [name for name, rank in self.mean_ranks.items() if rank - first <= self.cd]

    def groups(self) -> list[list[str]]:
        """Maximal runs of treatments (in rank order) whose ranks differ by at most CD:
        the bars of the critical-difference diagram. Single treatments are left out."""
        names = list(self.mean_ranks)
        ranks = [self.mean_ranks[n] for n in names]
        if not math.isfinite(self.cd):
            return [names] if len(names) > 1 else []
        out: list[list[str]] = []
        last_end = -1
        for i in range(len(names)):
            j = i
            while j + 1 < len(names) and ranks[j + 1] - ranks[i] <= self.cd:
                j += 1
            if j > i and j > last_end:
                out.append(names[i : j + 1])
                last_end = j
        return out


def nemenyi_cd(k: int, n_cells: int, alpha: float = ALPHA) -> float:
    """Critical difference of mean ranks (Demsar 2006): q_alpha * sqrt(k(k+1) / (6N)),
    q_alpha = studentized range quantile(1 - alpha, k, inf) / sqrt(2)."""
    from scipy import stats

    if k < 2 or n_cells < 1:
        return math.nan
    q_alpha = float(stats.studentized_range.ppf(1 - alpha, k, np.inf)) / math.sqrt(2)
    return q_alpha * math.sqrt(k * (k + 1) / (6.0 * n_cells))


def friedman(
    runs: pd.DataFrame,
    metric: str = "test_loss",
    *,
    treatment: str = "activation",
    higher_is_better: bool = False,
    fill_missing: float | str | None = None,
    alpha: float = ALPHA,
) -> FriedmanResult:
    """Friedman test (``scipy.stats.friedmanchisquare``) over cells, with mean ranks,
    Kendall's W and the Nemenyi CD. Cells missing a treatment (failed or not run) are
    dropped (counted in ``n_dropped``). Needs 3 or more treatments and 2 or more cells."""
    scores = cell_scores(
        runs, metric, treatment=treatment, higher_is_better=higher_is_better, fill_missing=fill_missing
    )
    return friedman_from_scores(scores, metric, treatment=treatment, alpha=alpha)


def friedman_from_scores(
    scores: pd.DataFrame, metric: str, *, treatment: str = "activation", alpha: float = ALPHA
) -> FriedmanResult:
    """:func:`friedman` on a :func:`cell_scores` frame."""
    from scipy import stats

    nan = math.nan
    if scores.empty:
        return FriedmanResult(metric, treatment, {}, 0, 0, nan, nan, nan, nan, alpha, "no finished runs")
    keys = [c for c in scores.columns if c not in (treatment, "score", "rank")]
    wide = (
        scores.pivot_table(index=keys or None, columns=treatment, values="score", aggfunc="first")
        if keys
        else (scores.set_index(treatment)[["score"]].T)
    )
    complete = wide.dropna(axis=0, how="any")
    dropped = len(wide) - len(complete)
    names = list(complete.columns)
    n_cells, k = len(complete), len(names)
    notes = [f"{dropped} cell(s) without every {treatment} left out"] if dropped else []
    if n_cells == 0:
        return FriedmanResult(metric, treatment, {}, 0, dropped, nan, nan, nan, nan, alpha, "no complete cell", notes)
    block_ranks = stats.rankdata(complete.to_numpy(dtype=float), axis=1, method="average")
    mean = block_ranks.mean(axis=0)
    legend = {name: i for i, name in enumerate(activation_order(str(n) for n in names))}
    order = sorted(range(k), key=lambda i: (round(float(mean[i]), 12), legend[str(names[i])]))
    mean_ranks = {str(names[i]): float(mean[i]) for i in order}
    cd = nemenyi_cd(k, n_cells, alpha)
    if k < 3:
        reason = f"Friedman needs at least 3 {treatment}s (got {k})"
    elif n_cells < 2:
        reason = f"Friedman needs at least 2 complete cells (got {n_cells})"
    elif all(np.ptp(row) == 0 for row in block_ranks):
        reason = f"every {treatment} tied in every cell"
    else:
        reason = ""
    if reason:
        return FriedmanResult(metric, treatment, mean_ranks, n_cells, dropped, nan, nan, nan, cd, alpha, reason, notes)
    # infinite scores (a diverged seed) only need to rank last: a finite stand-in suffices
    columns = [np.where(np.isinf(c), np.finfo(float).max, c) for c in (complete[n].to_numpy(float) for n in names)]
    result = stats.friedmanchisquare(*columns)
    statistic = float(result.statistic)
    w = statistic / (n_cells * (k - 1))
    if n_cells < 10:
        notes.append(f"{n_cells} cells: the chi-square approximation of the Friedman test is rough")
    return FriedmanResult(
        metric, treatment, mean_ranks, n_cells, dropped, statistic, float(result.pvalue), w, cd, alpha, "", notes
    )


# -- depth scaling --------------------------------------------------------------------------
def depth_profile(
    runs: pd.DataFrame, metric: str = "test_loss", *, treatment: str = "activation", factor: float = DEPTH_FACTOR
) -> pd.DataFrame:
    """Per panel (cell keys but depth) x treatment x depth: ``mean`` over converged seeds,
    ``n``, ``n_diverged``, ``ratio`` to the treatment's best depth and ``trains`` (no seed
    diverged and ``ratio <= factor``). The best depth is the lowest mean among depths
    where no seed diverged."""
    import pandas as pd

    keys = cell_keys(runs, treatment)
    panel = [k for k in keys if k != "depth"]
    columns = [*panel, treatment, "depth", "n", "n_diverged", "mean", "ratio", "trains"]
    if "depth" not in keys:
        return pd.DataFrame(columns=columns)
    data = outcomes(runs, metric, treatment=treatment, keys=keys)
    rows = []
    for key, group in cell_groups(data, [*panel, treatment]):
        per_depth = []
        for depth, mine in group.groupby("depth", sort=True):
            values = mine.loc[~mine["worst"], "value"]
            per_depth.append(
                (depth, len(values), int(mine["worst"].sum()), float(values.mean()) if len(values) else math.nan)
            )
        clean = [m for _, n, d, m in per_depth if d == 0 and n > 0]
        best = min(clean) if clean else math.nan
        for depth, n, diverged, mean in per_depth:
            ratio = mean / best if best and math.isfinite(best) and best > 0 else math.nan
            rows.append(
                {
                    **dict(zip([*panel, treatment], key, strict=True)),
                    "depth": depth,
                    "n": n,
                    "n_diverged": diverged,
                    "mean": mean,
                    "ratio": ratio,
                    "trains": bool(diverged == 0 and n > 0 and ratio <= factor),
                }
            )
    return pd.DataFrame(rows, columns=columns)


def depth_scaling(
    runs: pd.DataFrame, metric: str = "test_loss", *, treatment: str = "activation", factor: float = DEPTH_FACTOR
) -> pd.DataFrame:
    """Per panel x treatment: the deepest depth that still trains (no seed diverged and
    mean ``metric`` within ``factor`` x that of the treatment's best depth), with
    ``best_depth``, ``depths`` tried and the ``factor`` used. NaN when no depth trains."""
    import pandas as pd

    profile = depth_profile(runs, metric, treatment=treatment, factor=factor)
    panel = [c for c in profile.columns if c not in (treatment, "depth", "n", "n_diverged", "mean", "ratio", "trains")]
    columns = [*panel, treatment, "depths", "best_depth", "best_mean", "deepest_trained", "factor"]
    rows = []
    for key, group in cell_groups(profile, [*panel, treatment]):
        ok = group[group["trains"]]
        best = group[group["ratio"] == 1.0]
        rows.append(
            {
                **dict(zip([*panel, treatment], key, strict=True)),
                "depths": ",".join(str(d) for d in group["depth"]),
                "best_depth": best["depth"].iloc[0] if len(best) else math.nan,
                "best_mean": float(best["mean"].iloc[0]) if len(best) else math.nan,
                "deepest_trained": ok["depth"].max() if len(ok) else math.nan,
                "factor": factor,
            }
        )
    return pd.DataFrame(rows, columns=columns)


__all__ = [
    "ALPHA",
    "CI_METHOD",
    "CORRECTION",
    "DEPTH_FACTOR",
    "FINISHED",
    "POWER",
    "FriedmanResult",
    "PairedTest",
    "bootstrap_ci",
    "cell_keys",
    "cell_scores",
    "config_fields",
    "depth_profile",
    "depth_scaling",
    "equivalence_test",
    "friedman",
    "friedman_from_scores",
    "holm",
    "min_detectable_effect",
    "nemenyi_cd",
    "outcomes",
    "paired_test",
    "paired_vs_best",
    "summarise",
    "t_interval",
    "trend_test",
]
