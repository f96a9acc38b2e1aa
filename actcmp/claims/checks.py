"""One verdict function per claim: stored frames in, a :class:`Verdict` out.

Every function is pure (frames and numbers in, a dataclass out) and is tested on
fabricated result sets where its claim is true, false and (where that makes sense)
undecidable. The rule each applies is spelled out in its docstring and, for the report,
in :mod:`actcmp.claims.registry`.

Verdicts: ``holds``, ``does not hold`` or ``inconclusive`` (at this sample size, or with
this training budget: the explanation says which). A claim made of several parts holds
when every part holds and does not hold when any part does not (:func:`combine`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from actcmp.analysis import stats as stats

if TYPE_CHECKING:
    import pandas as pd

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
    text = " ".join(p.explanation for p in deciding)
    if verdict != HOLDS:  # report the number that decided against (or could not decide)
        lead = deciding[0]
        statistic = f"{lead.label}: {lead.statistic}" if lead.label else lead.statistic
        value, p_value = lead.value, lead.p_value
    return Verdict(verdict, statistic, value, p_value, text, list(parts))


def _fmt(value: float, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "n/a" if value is None or math.isnan(value) else ("inf" if value > 0 else "-inf")
    return f"{value:.{digits}g}"


def _p(p_value: float) -> str:
    return "p n/a" if not math.isfinite(p_value) else ("p < 0.001" if p_value < 0.001 else f"p = {p_value:.3f}")


def _done(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == "done"] if "status" in runs.columns else runs


def _finished(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"].isin(stats.FINISHED)] if "status" in runs.columns else runs


def _numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    import pandas as pd

    if column not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    return pd.to_numeric(frame[column], errors="coerce").astype(float)


def spearman(x: Sequence[float], y: Sequence[float]) -> tuple[float, float, int]:
    """(rho, p, n) of ``scipy.stats.spearmanr`` over finite pairs; NaN when fewer than 3
    pairs or either side is constant (where scipy would only warn)."""
    from scipy import stats as sps

    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan, math.nan, len(a)
    result = sps.spearmanr(a, b)
    return float(result.statistic), float(result.pvalue), len(a)


def _pairs(runs: pd.DataFrame, a: str, b: str, columns: Sequence[str], treatment: str = "activation") -> pd.DataFrame:
    """Converged runs of treatments ``a`` and ``b`` joined on cell keys and seed:
    ``COLUMN_a`` / ``COLUMN_b`` for each requested column."""
    keys = [*stats.cell_keys(runs, treatment), "seed"]
    done = _done(runs)
    left = done[done[treatment] == a][[*keys, *columns]]
    right = done[done[treatment] == b][[*keys, *columns]]
    return left.merge(right, on=keys, suffixes=(f"_{a}", f"_{b}"))


def _paired_sign(a: np.ndarray, b: np.ndarray) -> stats.PairedTest:
    """Paired test of ``a`` vs ``b``: signed-rank when 6 or more pairs, else paired t."""
    return stats.paired_test(a, b, test="wilcoxon" if len(a) >= 6 else "t")


# -- claim 1: linear ------------------------------------------------------------------------
def check_linear(
    runs: pd.DataFrame, pca: pd.DataFrame, *, tolerance: float = 0.05, alpha: float = stats.ALPHA
) -> Verdict:
    """Without a nonlinearity, depth adds nothing: identity-activation AEs of every depth
    end at PCA's error at the same bottleneck.

    ``pca``: ``dataset, seed, bottleneck, pca_train_mse, pca_test_mse`` (PCA fitted on the
    same training split). Per dataset and depth, ``ratio`` = mean over converged seeds of
    final training MSE / PCA training MSE. PCA is the best rank-k affine map on the
    training set, so no linear network can go below 1. Holds: every depth within
    ``1 + tolerance`` (shallow and deep reach the same optimum). Does not hold: some
    network goes below ``1 - tolerance`` (it represented something no linear map can).
    Otherwise inconclusive: a network is still above PCA, i.e. not converged at this
    training budget. Needs depth 1 and a deeper network.
    """
    identity = _done(runs[runs["activation"] == "identity"]) if "activation" in runs else runs.iloc[0:0]
    if identity.empty or pca is None or pca.empty:
        return no_data("no converged identity-activation runs (or no PCA reference)")
    keys = [k for k in ("dataset", "seed", "bottleneck") if k in identity.columns and k in pca.columns]
    joined = identity.merge(pca, on=keys, how="inner")
    if joined.empty:
        return no_data("no PCA reference matches the runs")
    joined = joined.assign(ratio=_numeric(joined, "final_train_loss") / joined["pca_train_mse"])
    parts = []
    worst = 0.0
    panel = [k for k in ("dataset", "bottleneck") if k in joined.columns]
    for key, group in joined.groupby(panel, sort=True):
        values = dict(zip(panel, key if isinstance(key, tuple) else (key,), strict=True))
        name = str(values.get("dataset", "")) + (
            f", bottleneck {values['bottleneck']}" if "bottleneck" in values else ""
        )
        by_depth = group.groupby("depth")["ratio"].mean()
        if len(by_depth) < 2 or by_depth.index.min() != 1:
            parts.append(
                Verdict(
                    UNSURE,
                    "depths",
                    float(len(by_depth)),
                    label=name,
                    explanation=f"{name}: needs depth 1 and a deeper network.",
                )
            )
            continue
        low, high = float(by_depth.min()), float(by_depth.max())
        worst = max(worst, high)
        shown = ", ".join(f"depth {d}: {r:.3f}" for d, r in by_depth.items())
        deep = _test_deep_vs_shallow(group)
        if low < 1 - tolerance:
            parts.append(
                Verdict(
                    FAILS,
                    "train MSE / PCA",
                    low,
                    deep,
                    label=name,
                    explanation=(
                        f"{name}: an identity network beat PCA's training error ({shown}), which no linear map can."
                    ),
                )
            )
        elif high <= 1 + tolerance:
            parts.append(
                Verdict(
                    HOLDS,
                    "train MSE / PCA",
                    high,
                    deep,
                    label=name,
                    explanation=(f"{name}: every depth ends within {tolerance:.0%} of PCA's training error ({shown})."),
                )
            )
        else:
            parts.append(
                Verdict(
                    UNSURE,
                    "train MSE / PCA",
                    high,
                    deep,
                    label=name,
                    explanation=(
                        f"{name}: not converged at this budget, some depth is still more than {tolerance:.0%} above "
                        f"PCA ({shown})."
                    ),
                )
            )
    return combine(parts, "largest train MSE / PCA train MSE", worst)


def _test_deep_vs_shallow(group: pd.DataFrame) -> float:
    """p of the paired t-test, deepest vs depth 1, on test loss (reported, not deciding)."""
    shallow = group[group["depth"] == group["depth"].min()].set_index("seed")["test_loss"]
    deep = group[group["depth"] == group["depth"].max()].set_index("seed")["test_loss"]
    seeds = shallow.index.intersection(deep.index)
    return stats.paired_test(deep[seeds].to_numpy(float), shallow[seeds].to_numpy(float)).p_value


# -- claims 2 and A2: a default that is tied with the best ------------------------------------
def _tied_share(table: pd.DataFrame, candidate: str, treatment: str = "activation") -> tuple[float, int]:
    mine = table[table[treatment] == candidate]
    return (float(mine["tied"].mean()) if len(mine) else math.nan), len(mine)


def _cell_shares(table: pd.DataFrame, candidate: str, treatment: str = "activation") -> tuple[float, float, int]:
    """(share of cells where ``candidate`` is shown within the margin of the best or is
    the best, share where it is significantly worse than the best, number of cells)."""
    mine = table[table[treatment] == candidate]
    if mine.empty:
        return math.nan, math.nan, 0
    return float(mine["equivalent"].mean()), float((~mine["tied"]).mean()), len(mine)


def check_relu_default(
    runs: pd.DataFrame,
    *,
    candidate: str = "relu",
    metric: str = "test_loss",
    margin: float = 0.1,
    alpha: float = stats.ALPHA,
) -> Verdict:
    """ReLU is a strong default. Needs activations to differ at all (Friedman p < alpha
    over cells; else inconclusive). Holds: ReLU is in the top group (mean rank within the
    Nemenyi CD of the best) and, in at least half the cells, is the best or shown to be
    within ``1 + margin`` of the best (paired TOST over seeds). Does not hold: outside
    the top group, or significantly worse than the best (paired t) in more than half the
    cells. Inconclusive otherwise: too few seeds to show it is as good.
    """
    if "activation" not in runs or candidate not in set(runs["activation"]):
        return no_data(f"no {candidate} runs")
    result = stats.friedman(runs, metric, alpha=alpha)
    rank = result.mean_ranks.get(candidate, math.nan)
    statistic = f"mean rank of {candidate} (1 = best of {result.k})"
    if result.reason:
        return Verdict(UNSURE, statistic, rank, math.nan, f"Inconclusive: {result.reason}.")
    table = stats.paired_vs_best(runs, metric, alpha=alpha, margin=margin)
    as_good, worse, cells = _cell_shares(table, candidate)
    in_top = candidate in result.top_group()
    where = (
        f"{candidate} has mean rank {rank:.2f} (best {result.best}: {min(result.mean_ranks.values()):.2f}, "
        f"CD {result.cd:.2f}, {'inside' if in_top else 'outside'} the top group); it is the best or within "
        f"{margin:.0%} of it in {as_good:.0%} and significantly worse in {worse:.0%} of {cells} cells"
    )
    if not result.significant:
        return Verdict(
            UNSURE,
            statistic,
            rank,
            result.p_value,
            f"Inconclusive: no activation separates from the others (Friedman {_p(result.p_value)}); {where}.",
        )
    lead = f"Activations differ (Friedman {_p(result.p_value)})"
    if not in_top or worse > 0.5:
        return Verdict(FAILS, statistic, rank, result.p_value, f"{lead} and {where}.")
    if as_good >= 0.5:
        return Verdict(HOLDS, statistic, rank, result.p_value, f"{lead} and {where}.")
    return Verdict(UNSURE, statistic, rank, result.p_value, f"{lead}; {where}: too few seeds to show it is as good.")


def check_compression(
    runs: pd.DataFrame,
    *,
    candidate: str = "relu",
    metric: str = "test_loss",
    margin: float = 0.1,
    alpha: float = stats.ALPHA,
) -> Verdict:
    """A ReLU encoder compresses as well as the alternatives: at at least half the
    bottleneck sizes (cells) it is the best activation or shown to be within
    ``1 + margin`` of the best (paired TOST over seeds). Does not hold when it is
    significantly worse than the best (paired t) at more than half of them; inconclusive
    otherwise."""
    if "activation" not in runs or candidate not in set(_finished(runs)["activation"]):
        return no_data(f"no {candidate} runs")
    table = stats.paired_vs_best(runs, metric, alpha=alpha, margin=margin)
    as_good, worse, cells = _cell_shares(table, candidate)
    mine = table[table["activation"] == candidate]
    best = ", ".join(sorted({str(b) for b in mine["best"] if b is not None}))
    ratio = float(np.exp(np.mean(np.log(mine["mean"] / (mine["mean"] - mine["mean_diff"])))))
    text = (
        f"{candidate}'s error is {ratio:.2f}x the best activation's ({best}) on average; it is the best or within "
        f"{margin:.0%} of it at {as_good:.0%} and significantly worse at {worse:.0%} of {cells} bottleneck sizes"
    )
    statistic = f"share of bottleneck sizes where {candidate} is as good as the best"
    p_values = mine["p_value"].dropna()
    p_min = float(p_values.min()) if len(p_values) else math.nan
    if as_good >= 0.5:
        return Verdict(HOLDS, statistic, as_good, p_min, text + ".")
    if worse > 0.5:
        return Verdict(FAILS, statistic, as_good, p_min, text + ".")
    return Verdict(UNSURE, statistic, as_good, p_min, text + ": not decisive at this sample size.")


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
    2. *prevent*: in every cell where ReLU's mean dead fraction is at least ``min_dead``,
       each fix stays at or under ``max_prevented``; does not hold if one exceeds ``min_dead``.
    3. *hurts*: across ReLU runs, the dead fraction correlates (Spearman) with the log of
       ReLU's test loss over ``reference``'s on the same cell and seed (same data, init
       and batches, so cell difficulty cancels): rho > 0, p < alpha holds, rho < 0 fails.
    """
    done = _done(runs)
    relu = done[done["activation"] == candidate] if "activation" in done else done.iloc[0:0]
    if relu.empty:
        return no_data(f"no converged {candidate} runs")
    dead = _numeric(relu, "dead_fraction_final")
    keys = stats.cell_keys(runs)
    cell_dead = relu.assign(_dead=dead).groupby(keys)["_dead"].mean()
    parts = [_dying_part(relu, dead, cell_dead, min_dead, alpha)]
    parts.append(_prevent_part(done, cell_dead, keys, fixes, min_dead, max_prevented))
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
        found.append(f"rising with {factor}: {method} {_p(up)} over {n_blocks} blocks")
        trends.append(HOLDS if up < alpha else FAILS if down < alpha else UNSURE)
    verdict = FAILS if FAILS in trends else HOLDS if all(t == HOLDS for t in trends) else UNSURE
    detail = "; ".join(found)
    text = {
        HOLDS: f"ReLU units die (up to {peak:.0%} dead in a cell), more with higher learning rate and depth: {detail}.",
        FAILS: f"ReLU units die (up to {peak:.0%} dead in a cell), but not more with learning rate or depth: {detail}.",
        UNSURE: f"ReLU units die (up to {peak:.0%} dead in a cell), but the trend is not clear: {detail}.",
    }[verdict]
    return Verdict(verdict, "largest mean dead fraction of ReLU", peak, lead_p, text, label="ReLU units die")


def _prevent_part(
    done: pd.DataFrame,
    cell_dead: pd.Series,
    keys: list[str],
    fixes: Sequence[str],
    min_dead: float,
    max_prevented: float,
) -> Verdict:
    dying_cells = cell_dead[cell_dead >= min_dead]
    present = [f for f in fixes if f in set(done["activation"])]
    if not present or dying_cells.empty:
        why = "no Leaky ReLU / PReLU runs" if not present else "ReLU never loses enough units to compare"
        return Verdict(
            UNSURE,
            "largest dead fraction of a fix",
            math.nan,
            label="Leaky ReLU and PReLU prevent it",
            explanation=f"Whether Leaky ReLU / PReLU prevent dying cannot be judged: {why}.",
        )
    worst, where = 0.0, ""
    for fix in present:
        mine = done[done["activation"] == fix].assign(
            _dead=_numeric(done[done["activation"] == fix], "dead_fraction_final")
        )
        per_cell = mine.groupby(keys)["_dead"].mean().reindex(dying_cells.index)
        value = float(per_cell.max()) if per_cell.notna().any() else math.nan
        if math.isfinite(value) and value >= worst:
            worst, where = value, fix
    text = (
        f"In the {len(dying_cells)} cells where ReLU loses at least {min_dead:.0%} of its units, "
        f"{' and '.join(present)} keep at most {worst:.1%} dead" + (f" ({where})" if where and len(present) > 1 else "")
    )
    if worst <= max_prevented:
        return Verdict(
            HOLDS,
            "largest dead fraction of a fix",
            worst,
            label="Leaky ReLU and PReLU prevent it",
            explanation=text + ".",
        )
    verdict = FAILS if worst > min_dead else UNSURE
    return Verdict(
        verdict,
        "largest dead fraction of a fix",
        worst,
        label="Leaky ReLU and PReLU prevent it",
        explanation=text + ", which is not prevention.",
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
    pairs = _pairs(runs, candidate, reference, ["dead_fraction_final", "test_loss"])
    ratio = np.log(_numeric(pairs, f"test_loss_{candidate}") / _numeric(pairs, f"test_loss_{reference}"))
    rho, p, n = spearman(_numeric(pairs, f"dead_fraction_final_{candidate}"), ratio)
    text = (
        f"Across {n} ReLU runs, the dead fraction and ReLU's test loss relative to {reference} on the same "
        f"seed have Spearman rho = {_fmt(rho, 2)} ({_p(p)})"
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


# -- claim 4: saturation and vanishing gradients ------------------------------------------------
def gradient_ratios(
    runs: pd.DataFrame, layers: pd.DataFrame, epoch: int = 0, metric: str = "grad_norm_weight"
) -> pd.DataFrame:
    """Per finished run: ``log10_ratio`` = log10(first linear layer's / last linear
    layer's ``metric``) at ``epoch`` (0 = initialisation), with activation and depth.
    Negative: the gradient shrinks on its way back to the input."""
    import pandas as pd

    finished = _finished(runs)
    columns = ["run_id", "activation", "depth", "seed", "log10_ratio"]
    if finished.empty or layers.empty:
        return pd.DataFrame(columns=columns)
    grads = layers[(layers["metric"] == metric) & (layers["epoch"] == epoch)]
    grads = grads[grads["run_id"].isin(finished["run_id"])]
    first = grads.loc[grads.groupby("run_id")["layer"].idxmin()].set_index("run_id")["value"]
    last = grads.loc[grads.groupby("run_id")["layer"].idxmax()].set_index("run_id")["value"]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.log10(first.astype(float) / last.reindex(first.index).astype(float))
    frame = finished.set_index("run_id").loc[ratio.index, ["activation", "depth", "seed"]].assign(log10_ratio=ratio)
    frame = frame[np.isfinite(frame["log10_ratio"])]
    return frame.reset_index()[columns]


def _family(name: str) -> str:
    from actcmp.core.activations import REGISTRY

    info = REGISTRY.get(str(name).split("(", 1)[0])
    return info.family if info is not None else "custom"


def check_vanishing(
    runs: pd.DataFrame,
    layers: pd.DataFrame,
    *,
    max_orders: float = 1.0,
    min_saturated: float = 0.05,
    alpha: float = stats.ALPHA,
) -> Verdict:
    """Sigmoid and tanh saturate and their gradients vanish with depth; the ReLU family
    keeps gradient norms across layers. Parts, from the gradient-norm ratio
    r = |grad W_first| / |grad W_last| at initialisation (:func:`gradient_ratios`):

    * each bounded activation (registry family ``bounded``): *vanishes* when log10 r
      falls with depth (linear regression slope < 0, p < alpha) and the deepest network
      loses more than ``max_orders`` orders of magnitude; does not hold when the deepest
      loses at most that; else inconclusive;
    * each ReLU-family activation: *keeps* when |mean log10 r| <= ``max_orders`` at the
      deepest depth, else does not hold;
    * *saturate*: bounded activations' mean final saturated fraction at the deepest depth
      is at least ``min_saturated``; does not hold below it.
    """
    from scipy import stats as sps

    ratios = gradient_ratios(runs, layers)
    if ratios.empty or ratios["depth"].nunique() < 2:
        return no_data("needs gradient norms of runs at two or more depths")
    deepest = ratios["depth"].max()
    parts = []
    lead_slope, lead_p = math.nan, math.nan
    for name in sorted(set(ratios["activation"])):
        mine = ratios[ratios["activation"] == name]
        at_deepest = float(mine.loc[mine["depth"] == deepest, "log10_ratio"].mean())
        family = _family(name)
        if family == "bounded":
            fit = (
                sps.linregress(mine["depth"].astype(float), mine["log10_ratio"])
                if mine["depth"].nunique() > 1
                else None
            )
            slope, p = (float(fit.slope), float(fit.pvalue)) if fit is not None else (math.nan, math.nan)
            if not math.isfinite(lead_slope) or name == "sigmoid":
                lead_slope, lead_p = slope, p
            text = (
                f"{name}: log10 r changes by {_fmt(slope, 2)} per layer of depth ({_p(p)}); at depth {deepest} "
                f"the first layer's gradient is 10^{at_deepest:.1f} of the last's"
            )
            if slope < 0 and p < alpha and at_deepest < -max_orders:
                parts.append(
                    Verdict(
                        HOLDS,
                        "slope of log10 r per layer",
                        slope,
                        p,
                        text + ": it vanishes.",
                        label=f"{name} gradients vanish",
                    )
                )
            elif at_deepest >= -max_orders:
                parts.append(
                    Verdict(
                        FAILS,
                        "slope of log10 r per layer",
                        slope,
                        p,
                        text + ": no vanishing at this depth.",
                        label=f"{name} gradients vanish",
                    )
                )
            else:
                parts.append(
                    Verdict(
                        UNSURE, "slope of log10 r per layer", slope, p, text + ".", label=f"{name} gradients vanish"
                    )
                )
        elif family == "relu":
            keeps = abs(at_deepest) <= max_orders
            parts.append(
                Verdict(
                    HOLDS if keeps else FAILS,
                    "mean log10 r at the deepest depth",
                    at_deepest,
                    explanation=(
                        f"{name}: at depth {deepest} the first layer's gradient is "
                        f"10^{at_deepest:.1f} of the last's ({'within' if keeps else 'beyond'} "
                        f"{max_orders:g} order of magnitude)."
                    ),
                    label=f"{name} keeps gradient norms",
                )
            )
    parts.append(_saturation_part(runs, deepest, min_saturated))
    return combine(parts, "slope of log10(first/last gradient norm) per layer, sigmoid", lead_slope, lead_p)


def _saturation_part(runs: pd.DataFrame, deepest: Any, min_saturated: float) -> Verdict:
    done = _done(runs)
    bounded = done[done["activation"].map(_family) == "bounded"]
    bounded = bounded[bounded["depth"] == deepest]
    label = "sigmoid and tanh saturate"
    if bounded.empty:
        return Verdict(
            UNSURE,
            "saturated fraction",
            math.nan,
            label=label,
            explanation="Saturation cannot be judged: no converged sigmoid/tanh runs at the deepest depth.",
        )
    per = bounded.assign(_sat=_numeric(bounded, "saturated_fraction_final")).groupby("activation")["_sat"].mean()
    shown = ", ".join(f"{name} {value:.1%}" for name, value in per.items())
    low = float(per.min())
    text = f"After training, the mean share of saturated units at depth {deepest} is {shown}"
    if low >= min_saturated:
        return Verdict(HOLDS, "smallest mean saturated fraction", low, label=label, explanation=text + ".")
    return Verdict(
        FAILS,
        "smallest mean saturated fraction",
        low,
        label=label,
        explanation=text + f" (under {min_saturated:.0%}: they barely saturate here).",
    )


def _below(values: np.ndarray, bound: float, alpha: float) -> tuple[str, float]:
    """Is the mean of ``values`` below ``bound``? One-sided one-sample t-tests both ways:
    (HOLDS, p) when significantly below, (FAILS, p) when significantly above, else
    (UNSURE, p of the side the mean is on). Constant values decide by their mean."""
    from scipy import stats as sps

    values = values[np.isfinite(values)]
    if len(values) == 0:
        return UNSURE, math.nan
    mean = float(values.mean())
    if len(values) < 2 or np.ptp(values) == 0:
        return (HOLDS if mean < bound else FAILS if mean > bound else UNSURE), math.nan
    below = float(sps.ttest_1samp(values, bound, alternative="less").pvalue)
    above = float(sps.ttest_1samp(values, bound, alternative="greater").pvalue)
    if below < alpha:
        return HOLDS, below
    if above < alpha:
        return FAILS, above
    return UNSURE, below if mean < bound else above


def check_vanishing_cell(
    runs: pd.DataFrame,
    layers: pd.DataFrame,
    *,
    max_orders: float = 1.0,
    min_saturated: float = 0.05,
    alpha: float = stats.ALPHA,
) -> Verdict:
    """The vanishing-gradient claim in one condition (one init rule and depth: the runs
    given), from r = |grad W_first| / |grad W_last| at initialisation:

    * each bounded activation's gradient *vanishes*: mean log10 r over seeds is below
      ``-max_orders`` (one-sided one-sample t-test, p < alpha); does not hold when it is
      significantly above; else inconclusive;
    * each ReLU-family activation *keeps* it: |mean log10 r| <= ``max_orders``;
    * bounded activations *saturate* after training: mean saturated fraction at least
      ``min_saturated`` (saturation as defined in :mod:`actcmp.core.metrics`: f' under 5% of
      its peak; only bounded activations are judged, see the claim's definitions).
    """
    ratios = gradient_ratios(runs, layers)
    if ratios.empty:
        return no_data("no gradient norms stored for these runs")
    depth = ratios["depth"].max()
    parts = []
    lead_value, lead_p = math.nan, math.nan
    for name in sorted(set(ratios["activation"])):
        values = ratios.loc[ratios["activation"] == name, "log10_ratio"].to_numpy(float)
        mean = float(np.mean(values))
        family = _family(name)
        if family == "bounded":
            verdict, p = _below(values, -max_orders, alpha)
            if not math.isfinite(lead_value) or name == "sigmoid":
                lead_value, lead_p = mean, p
            parts.append(
                Verdict(
                    verdict,
                    "mean log10 r",
                    mean,
                    p,
                    f"{name}: the first layer's gradient is 10^{mean:.1f} of the last's over {len(values)} seeds "
                    f"({_p(p)} against 10^-{max_orders:g})"
                    + {HOLDS: ": it vanishes.", FAILS: ": no vanishing here.", UNSURE: "."}[verdict],
                    label=f"{name} gradients vanish",
                )
            )
        elif family == "relu":
            keeps = abs(mean) <= max_orders
            parts.append(
                Verdict(
                    HOLDS if keeps else FAILS,
                    "mean log10 r",
                    mean,
                    explanation=f"{name}: the first layer's gradient is 10^{mean:.1f} of the last's "
                    f"({'within' if keeps else 'beyond'} {max_orders:g} order of magnitude).",
                    label=f"{name} keeps gradient norms",
                )
            )
    # a bounded activation with runs but no finite ratio: its first-layer gradient underflowed
    # to exactly 0 (float32) in every seed, i.e. it vanished completely
    finished = _finished(runs)
    for name in sorted(set(finished["activation"]) - set(ratios["activation"])):
        if _family(name) == "bounded":
            parts.append(
                Verdict(
                    HOLDS,
                    "mean log10 r",
                    -math.inf,
                    explanation=f"{name}: the first layer's gradient is exactly 0 in every seed (below float32's "
                    "range): it vanishes completely.",
                    label=f"{name} gradients vanish",
                )
            )
    parts.append(_saturation_part(runs, depth, min_saturated))
    return combine(parts, "mean log10(first/last gradient norm), sigmoid", lead_value, lead_p)


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
    ReLU's mean final dead fraction over converged seeds is at least ``min_dead`` (units
    die), and Leaky ReLU / PReLU keep theirs at or under ``max_prevented`` (they prevent
    it; does not hold above ``min_dead``). Does not hold where ReLU loses fewer than
    ``min_dead`` of its units."""
    done = _done(runs)
    relu = done[done["activation"] == candidate] if "activation" in done else done.iloc[0:0]
    if relu.empty:
        return no_data(f"no converged {candidate} runs")
    dead = _numeric(relu, "dead_fraction_final")
    mean = float(dead.mean())
    label = "ReLU units die"
    if not mean >= min_dead:
        die = Verdict(
            FAILS,
            "mean dead fraction of ReLU",
            mean,
            label=label,
            explanation=f"ReLU loses {mean:.1%} of its units over {len(relu)} seeds (under {min_dead:.0%}).",
        )
    else:
        die = Verdict(
            HOLDS,
            "mean dead fraction of ReLU",
            mean,
            label=label,
            explanation=f"ReLU loses {mean:.1%} of its units over {len(relu)} seeds.",
        )
    keys = stats.cell_keys(runs)
    cell_dead = relu.assign(_dead=dead).groupby(keys)["_dead"].mean()
    parts = [die, _prevent_part(done, cell_dead, keys, fixes, min_dead, max_prevented)]
    return combine(parts, "mean dead fraction of ReLU", mean)


# -- claim 5: tanh converges faster than sigmoid ---------------------------------------------
def early_loss(runs: pd.DataFrame, epochs: pd.DataFrame, k: int | None = None) -> pd.DataFrame:
    """Per converged run: ``early`` = mean validation loss over epochs 1..k relative to the
    mean-predictor ``baseline_loss`` (the area under the early learning curve; lower =
    faster). ``k`` defaults to half the epochs of the shortest run."""
    import pandas as pd

    done = _done(runs)
    if done.empty or epochs.empty:
        return pd.DataFrame(columns=["run_id", "early", "k"])
    if k is None:
        k = max(1, int(_numeric(done, "epochs").min()) // 2) if "epochs" in done else 1
    val = epochs[(epochs["metric"] == "val_loss") & (epochs["epoch"] >= 1) & (epochs["epoch"] <= k)]
    mean = val.groupby("run_id")["value"].mean()
    baseline = done.set_index("run_id")["baseline_loss"].astype(float)
    early = (mean / baseline.reindex(mean.index)).dropna()
    return pd.DataFrame({"run_id": early.index, "early": early.to_numpy(), "k": k})


def check_tanh_faster(
    runs: pd.DataFrame,
    epochs: pd.DataFrame,
    *,
    fast: str = "tanh",
    slow: str = "sigmoid",
    k: int | None = None,
    alpha: float = stats.ALPHA,
) -> Verdict:
    """Tanh converges faster than sigmoid: over every (cell, seed) pair, the log ratio of
    the early validation loss (:func:`early_loss`) of tanh to sigmoid is below zero
    (Wilcoxon signed-rank with 6 or more pairs, else paired t; p < alpha). Does not hold
    when it is significantly above zero; inconclusive otherwise."""
    early = early_loss(runs, epochs, k)
    if early.empty:
        return no_data()
    merged = runs.merge(early, on="run_id")
    pairs = _pairs(merged, fast, slow, ["early"])
    if pairs.empty:
        return no_data(f"no converged {fast} / {slow} pairs")
    log_fast, log_slow = np.log(pairs[f"early_{fast}"].to_numpy(float)), np.log(pairs[f"early_{slow}"].to_numpy(float))
    test = _paired_sign(log_fast, log_slow)
    ratio = float(np.exp(np.median(log_fast - log_slow)))
    wins = float(np.mean(log_fast < log_slow))
    k_used = int(early["k"].iloc[0])
    text = (
        f"Over {test.n} paired runs, {fast}'s validation loss over the first {k_used} epochs is {ratio:.2f}x "
        f"{slow}'s (median; {fast} lower in {wins:.0%} of pairs; {test.test} {_p(test.p_value)})"
    )
    statistic = f"median early-loss ratio {fast}/{slow}"
    if test.n < 2:
        return Verdict(UNSURE, statistic, ratio, test.p_value, f"Inconclusive: {test.n} pair(s) only.")
    if ratio < 1 and test.p_value < alpha:
        return Verdict(HOLDS, statistic, ratio, test.p_value, text + ".")
    if ratio > 1 and test.p_value < alpha:
        return Verdict(FAILS, statistic, ratio, test.p_value, text + f": {slow} is faster.")
    return Verdict(UNSURE, statistic, ratio, test.p_value, text + ": not separable at this sample size.")


# -- claim 6: ELU and Swish generalise better ---------------------------------------------------
def check_generalisation(
    runs: pd.DataFrame,
    *,
    reference: str = "relu",
    candidates: Sequence[str] = ("elu", "silu"),
    alpha: float = stats.ALPHA,
) -> Verdict:
    """ELU and Swish generalise better than ReLU. Per candidate, over (cell, seed) pairs
    with ReLU: d_test = log(test loss / ReLU's) and d_gap = gap - ReLU's gap, where
    gap = log(test loss / final train loss). A candidate holds when d_test or d_gap is
    significantly below zero (signed-rank with 6+ pairs, else paired t) and neither is
    significantly above; does not hold when either is significantly above zero;
    inconclusive otherwise."""
    parts = []
    for name in candidates:
        pairs = _pairs(runs, name, reference, ["test_loss", "final_train_loss"])
        label = f"{name} generalises better than {reference}"
        if len(pairs) < 2:
            parts.append(
                Verdict(
                    UNSURE,
                    "pairs",
                    float(len(pairs)),
                    label=label,
                    explanation=f"{name}: fewer than 2 converged pairs with {reference}.",
                )
            )
            continue
        test_c, test_r = (
            np.log(pairs[f"test_loss_{name}"].to_numpy(float)),
            np.log(pairs[f"test_loss_{reference}"].to_numpy(float)),
        )
        gap_c = test_c - np.log(pairs[f"final_train_loss_{name}"].to_numpy(float))
        gap_r = test_r - np.log(pairs[f"final_train_loss_{reference}"].to_numpy(float))
        on_test, on_gap = _paired_sign(test_c, test_r), _paired_sign(gap_c, gap_r)
        better = [(t.mean_diff < 0 and t.p_value < alpha) for t in (on_test, on_gap)]
        worse = [(t.mean_diff > 0 and t.p_value < alpha) for t in (on_test, on_gap)]
        text = (
            f"{name} vs {reference} over {on_test.n} pairs: test loss x{math.exp(on_test.mean_diff):.2f} "
            f"({_p(on_test.p_value)}), generalisation gap {on_gap.mean_diff:+.3f} in log units "
            f"({_p(on_gap.p_value)})"
        )
        verdict = FAILS if any(worse) else HOLDS if any(better) else UNSURE
        parts.append(
            Verdict(verdict, "mean log test-loss ratio", on_test.mean_diff, on_test.p_value, text + ".", label=label)
        )
    lead = parts[0] if parts else None
    return combine(
        parts,
        f"mean log test-loss ratio vs {reference} ({candidates[0]})",
        lead.value if lead else math.nan,
        lead.p_value if lead else math.nan,
    )


# -- claim 7: softmax output for distributions ------------------------------------------------
def common_metric(runs: pd.DataFrame) -> tuple[pd.DataFrame, str, str]:
    """(runs, metric, note): the metric every output layer can be compared on.
    ``test_mse`` when the engine recorded it for every run; otherwise ``test_loss`` of the
    runs trained with MSE (the softmax + cross-entropy arm has no comparable number)."""
    finished = _finished(runs)
    if "test_mse" in runs.columns and _numeric(_done(runs), "test_mse").notna().all() and len(_done(runs)):
        return runs, "test_mse", "test MSE, recorded for every run whatever its training loss"
    if "loss" in runs.columns:
        kept = runs[runs["loss"] == "mse"]
        left = len(finished) - len(_finished(kept))
        note = "test MSE of the runs trained with MSE" + (f" ({left} runs with another loss left out)" if left else "")
        return kept, "test_loss", note
    return runs, "test_loss", "test loss"


def check_softmax(runs: pd.DataFrame, *, candidate: str = "softmax", alpha: float = stats.ALPHA) -> Verdict:
    """A softmax output suits distributions: on one metric (:func:`common_metric`), softmax
    against each other output layer over every (cell, seed) pair (cell = dataset, depth,
    hidden activation), on the log ratio of the errors (Wilcoxon signed-rank with 6 or
    more pairs, else paired t). Each comparison holds when softmax is lower with
    p < alpha and does not hold when it is higher with p < alpha; softmax must beat
    every alternative."""
    treatment = "output_activation"
    if treatment not in runs or candidate not in set(_finished(runs)[treatment]):
        return no_data(f"no runs with a {candidate} output")
    kept, metric, note = common_metric(runs)
    others = [o for o in sorted(set(_done(kept)[treatment])) if o != candidate]
    if not others:
        return no_data("no other output activation shares a comparable metric")
    parts = []
    for other in others:
        pairs = _pairs(kept, candidate, other, [metric], treatment=treatment)
        label = f"{candidate} beats {other}"
        if len(pairs) < 2:
            parts.append(
                Verdict(
                    UNSURE,
                    "pairs",
                    float(len(pairs)),
                    label=label,
                    explanation=f"{candidate} vs {other}: fewer than 2 paired runs.",
                )
            )
            continue
        mine, theirs = np.log(_numeric(pairs, f"{metric}_{candidate}")), np.log(_numeric(pairs, f"{metric}_{other}"))
        test = _paired_sign(mine.to_numpy(float), theirs.to_numpy(float))
        ratio = math.exp(test.mean_diff)
        wins = float(np.mean(mine < theirs))
        text = (
            f"{candidate} vs {other} over {test.n} pairs: error x{ratio:.2f} (geometric mean; {candidate} lower in "
            f"{wins:.0%} of pairs; {test.test} {_p(test.p_value)})"
        )
        verdict = (
            HOLDS if ratio < 1 and test.p_value < alpha else FAILS if ratio > 1 and test.p_value < alpha else UNSURE
        )
        parts.append(Verdict(verdict, f"error ratio {candidate}/{other}", ratio, test.p_value, text + ".", label=label))
    closest = max(parts, key=lambda v: v.value if math.isfinite(v.value) else -math.inf)
    return combine(parts, f"error ratio {candidate} / closest alternative ({note})", closest.value, closest.p_value)


# -- claim 8: the activation changes how well and how quickly -----------------------------------
def check_activation_matters(runs: pd.DataFrame, *, negligible_w: float = 0.1, alpha: float = stats.ALPHA) -> Verdict:
    """The activation changes both how well (test loss) and how quickly (epochs to reach
    the loss threshold; never reached counts as ``epochs + 1``, diverged as worst) an AE
    learns. Each part holds when the Friedman test over cells has p < alpha; does not
    hold when p >= alpha and Kendall's W < ``negligible_w`` (activations agree to within
    noise); inconclusive otherwise."""
    if runs.empty or "activation" not in runs:
        return no_data()
    censored = runs.assign(_censor=_numeric(runs, "epochs") + 1)
    parts = []
    results = {}
    for metric, label, fill in (
        ("test_loss", "how well (test loss)", None),
        ("epochs_to_threshold", "how quickly (epochs to threshold)", "_censor"),
    ):
        result = stats.friedman(censored, metric, fill_missing=fill, alpha=alpha)
        results[metric] = result
        text = (
            f"{label}: Friedman chi2 = {_fmt(result.statistic)} over {result.n_cells} cells and {result.k} "
            f"activations ({_p(result.p_value)}, Kendall's W = {_fmt(result.kendall_w, 2)})"
        )
        if result.reason:
            parts.append(Verdict(UNSURE, "Friedman p", math.nan, explanation=f"{label}: {result.reason}.", label=label))
        elif result.significant:
            parts.append(Verdict(HOLDS, "Friedman p", result.p_value, result.p_value, text + ".", label=label))
        elif result.kendall_w < negligible_w:
            parts.append(
                Verdict(
                    FAILS,
                    "Friedman p",
                    result.p_value,
                    result.p_value,
                    text + ": differences are within seed noise.",
                    label=label,
                )
            )
        else:
            parts.append(
                Verdict(
                    UNSURE,
                    "Friedman p",
                    result.p_value,
                    result.p_value,
                    text + ": not significant at this sample size.",
                    label=label,
                )
            )
    lead = results["test_loss"]
    return combine(parts, "Friedman p (test loss)", lead.p_value, lead.p_value)


# -- application: anomaly detection ------------------------------------------------------------
def check_anomaly(
    runs: pd.DataFrame, *, candidate: str = "relu", chance: float = 0.5, alpha: float = stats.ALPHA
) -> Verdict:
    """A ReLU autoencoder's reconstruction error flags anomalies: on every dataset with
    anomalies, ReLU's mean AUROC is above ``chance`` with a one-sided one-sample t-test
    over seeds (p < alpha). Does not hold when the mean AUROC is at or below chance on
    some dataset; inconclusive otherwise."""
    from scipy import stats as sps

    done = _done(runs)
    mine = done[(done["activation"] == candidate)] if "activation" in done else done.iloc[0:0]
    mine = mine.assign(_auroc=_numeric(mine, "anomaly_auroc")).dropna(subset=["_auroc"])
    if mine.empty:
        return no_data(f"no converged {candidate} runs with an anomaly AUROC")
    parts = []
    for dataset, group in mine.groupby("dataset", sort=True):
        values = group["_auroc"].to_numpy(float)
        mean = float(values.mean())
        if len(values) < 2:
            p = math.nan
        elif np.ptp(values) == 0:
            p = 0.0 if mean > chance else 1.0
        else:
            p = float(sps.ttest_1samp(values, chance, alternative="greater").pvalue)
        text = f"{dataset}: {candidate} AUROC {mean:.3f} over {len(values)} seeds ({_p(p)} against {chance})"
        verdict = FAILS if mean <= chance else HOLDS if p < alpha else UNSURE
        parts.append(Verdict(verdict, "mean AUROC", mean, p, text + ".", label=str(dataset)))
    low = min(parts, key=lambda v: v.value)
    return combine(parts, f"lowest mean AUROC of {candidate}", low.value, low.p_value)


__all__ = [
    "FAILS",
    "HOLDS",
    "MIXED",
    "UNSURE",
    "VERDICTS",
    "Verdict",
    "check_activation_matters",
    "check_anomaly",
    "check_compression",
    "check_dying",
    "check_dying_cell",
    "check_generalisation",
    "check_linear",
    "check_relu_default",
    "check_softmax",
    "check_tanh_faster",
    "check_vanishing",
    "check_vanishing_cell",
    "combine",
    "common_metric",
    "early_loss",
    "gradient_ratios",
    "no_data",
    "spearman",
]
