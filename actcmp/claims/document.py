"""claims.md, claims.html (self-contained: figures embedded as base64 PNG) and claims.json.

A document is a list of sections; each section is a title and blocks, rendered the same
way in Markdown and HTML (page skeleton, text and lists by :mod:`actcmp.report.render`,
shared with the report). Nothing here decides anything: verdicts come from
:mod:`actcmp.claims.checks`, numbers from the stored results.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actcmp.analysis.depth import TRAINS
from actcmp.claims.checks import FAILS, HOLDS, MIXED, UNSURE, Verdict
from actcmp.claims.conditions import part_counts
from actcmp.report import render
from actcmp.report.format import fmt_duration, fmt_p, fmt_stat
from actcmp.report.render import FigureDoc, Section
from actcmp.text import plural

if TYPE_CHECKING:
    import pandas as pd

    from actcmp.claims.registry import Claim


@dataclass
class SweepDoc:
    """What the document says about one claim sweep."""

    name: str
    file: str
    results_dir: str
    fixed: dict[str, Any]
    grid: dict[str, list[Any]]
    planned: int
    counts: dict[str, int]
    trained: int = 0
    wall_time_s: float = 0.0
    stored_time_s: float = 0.0
    #: a tuned sweep's protocol in words ("" when not tuned) and its selected values per cell
    tune: str = ""
    selected: pd.DataFrame | None = None
    #: a warning about what the results directory holds besides the judged runs ("" if none)
    warning: str = ""
    #: a tuned sweep's selections at an edge of the candidates, in words ("" if none)
    edges: str = ""
    #: what its stored runs were computed with (:func:`actcmp.claims.runner.sweep_setup`; None: none stored)
    setup: dict[str, Any] | None = None


@dataclass
class ClaimDoc:
    claim: Claim
    verdict: Verdict
    sweep: SweepDoc
    figure: FigureDoc | None
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)


# A claims Section's blocks: ("text", str) | ("list", [str]) | ("quote", ([text, ...], attribution)) |
# ("table", (title, DataFrame)) | ("figure", FigureDoc) | ("verdict", Verdict) | ("summary", [ClaimDoc]);
# figure stems are relative to the document (figures/...).
#: the claims documents' title
TITLE = "Do the common claims about activation functions hold?"
#: who a claim's quotes are credited to (the claim as commonly stated, not one source)
QUOTE_ATTRIBUTION = "the claim as commonly stated in introductions to activation functions in autoencoders"
BADGE = {HOLDS: "holds", FAILS: "does not hold", UNSURE: "inconclusive", MIXED: "depends on the condition"}
COLOURS = {HOLDS: "#1b7837", FAILS: "#b2182b", UNSURE: "#b35806", MIXED: "#5e3c99"}


# -- building the sections ------------------------------------------------------------------
def summary_rows(claims: Sequence[ClaimDoc]) -> list[dict[str, str]]:
    """The claims table (also what the README shows). A claim judged condition by condition
    and made of two or more parts is decided as a whole (all parts in the same condition);
    its row also says in how many conditions each part holds
    (:func:`~actcmp.claims.conditions.part_counts`), so that "does not hold" as a whole does
    not hide a part that holds almost everywhere."""
    rows = []
    for c in claims:
        statistic = f"{c.verdict.statistic} = {fmt_stat(c.verdict.value)}"
        parts = part_counts(c.verdict)
        if parts:
            statistic += f" (as a whole); conditions where each part holds: {parts}"
        rows.append(
            {
                "#": c.claim.number,
                "claim": c.claim.title,
                "verdict": BADGE[c.verdict.verdict],
                "deciding statistic": statistic,
                "p": fmt_p(c.verdict.p_value),
                "sweep": f"experiments/claims/{c.claim.sweep}.toml",
            }
        )
    return rows


#: the name this module used for it before the report's formatter served the claims too
duration = fmt_duration


def summary_markdown(claims: Sequence[ClaimDoc]) -> str:
    rows = summary_rows(claims)
    header = ["#", "claim", "verdict", "deciding statistic", "p"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        verdict = f"**{row['verdict']}**"
        lines.append(f"| {row['#']} | {row['claim']} | {verdict} | {row['deciding statistic']} | {row['p']} |")
    return "\n".join(lines)


def conditions_table(verdict: Verdict) -> pd.DataFrame:
    """One row per condition of a claim judged condition by condition: the factor levels,
    the verdict, the deciding statistic (value, p) and why."""
    import pandas as pd

    rows = []
    for cell in verdict.conditions:
        row: dict[str, Any] = dict(cell.where)
        row["verdict"] = BADGE[cell.verdict]
        for part in cell.parts:
            if part.label:
                row[part.label] = BADGE[part.verdict]
        row["statistic"] = f"{cell.statistic} = {fmt_stat(cell.value)}"
        row["p"] = fmt_p(cell.p_value)
        row["why"] = cell.explanation
        rows.append(row)
    return pd.DataFrame(rows)


def _experiment(sweep: SweepDoc) -> list[str]:
    varied = "; ".join(f"{k}: {', '.join(str(v) for v in values)}" for k, values in sweep.grid.items())
    fixed = ", ".join(f"{k} = {v}" for k, v in sweep.fixed.items())
    counts = ", ".join(f"{n} {status}" for status, n in sweep.counts.items() if n)
    lines = [
        f"Sweep `{sweep.file}` ({sweep.planned} runs: {counts or 'none stored yet'}), results in `{sweep.results_dir}`",
        f"Varied: {varied or 'nothing'}",
        f"Fixed: {fixed or 'defaults'}" + _defaults_pointer(sweep),
    ]
    if sweep.tune:
        lines.append(f"Tuned ([tune]): {sweep.tune}")
    if sweep.edges:
        lines.append(f"**At the edge:** {sweep.edges}")
    if sweep.warning:
        lines.append(f"**Warning:** {sweep.warning}")
    return lines


def _defaults_pointer(sweep: SweepDoc) -> str:
    """What the Fixed line adds where the runs are stored: the first of the settings the sweep
    file leaves to defaults (optimizer, ...) and where the Setup lists them all ("" otherwise)."""
    defaults = (sweep.setup or {}).get("defaults") or {}
    if not defaults:
        return ""
    # momentum is read by sgd alone: named beside another optimizer it would mislead
    unused = {"momentum"} if defaults.get("optimizer", "sgd") != "sgd" else set()
    first = [name for name in SETUP_FIRST if name in defaults and name not in unused][:3] or list(defaults)[:3]
    shown = ", ".join(f"{name} = {_setup_value(defaults[name])}" for name in first)
    return f"; not written in the sweep file: {shown} and the other defaults in [Setup](#setup)"


def scope_text(doc: ClaimDoc) -> str:
    """``**Scope.** On these datasets (digits, mnist1d), at these settings (the experiment
    below): <the claim's scope>``; "" for a claim without a scope. The datasets are the
    sweep's (varied or fixed), so the line follows the sweep file."""
    if not doc.claim.scope:
        return ""
    datasets = doc.sweep.grid.get("dataset") or ([doc.sweep.fixed["dataset"]] if "dataset" in doc.sweep.fixed else [])
    on = f"On these datasets ({', '.join(str(d) for d in datasets)})" if datasets else "On these datasets"
    return f"**Scope.** {on}, at these settings (the experiment below): {doc.claim.scope}"


def claim_section(doc: ClaimDoc) -> Section:
    claim, verdict = doc.claim, doc.verdict
    blocks: list[tuple[str, Any]] = [("verdict", verdict)]
    scope = scope_text(doc)
    if scope:
        blocks.append(("text", scope))
    blocks.append(("text", f"**Claim.** {claim.sentence}"))
    if claim.quotes:
        blocks.append(("quote", ([quote for _, quote in claim.quotes], QUOTE_ATTRIBUTION)))
    blocks.append(
        ("list", [f"**Experiment.** {line}" if i == 0 else line for i, line in enumerate(_experiment(doc.sweep))])
    )
    blocks.append(("text", f"**Statistic.** {claim.statistic}."))
    blocks.append(("text", f"**Decision rule.** {claim.rule}"))
    if verdict.conditions:
        blocks.append(("table", ("Verdict per condition", conditions_table(verdict))))
    if doc.sweep.selected is not None and not doc.sweep.selected.empty:
        blocks.append(("table", ("Selected values per cell (on the tuning seeds)", doc.sweep.selected)))
    others = [p for p in verdict.parts if p.explanation not in verdict.explanation]
    if others:
        blocks.append(("text", "**Pooled over all conditions.**" if verdict.conditions else "**Other parts.**"))
        blocks.append(("list", [f"{BADGE[p.verdict]}: {p.explanation}" for p in others]))
    if doc.figure is not None:
        blocks.append(("figure", doc.figure))
    for title, table in doc.tables:
        if table is not None and not table.empty:
            blocks.append(("table", (title, table)))
    return Section(f"{claim.number}. {claim.title}", blocks, anchor=f"claim-{claim.key}")


INTRO = (
    "Each claim below is commonly made about activation functions in autoencoders: quoted as it is usually "
    "stated, then made precise (**Claim.**). A small sweep tests it, a statistic computed "
    "from the stored runs decides it, and the verdict is one of **holds**, **does not hold** or **inconclusive** "
    "(at this sample size or training budget). A claim that depends on conditions (init rule, depth, learning "
    "rate, dataset) is judged in each condition of its sweep on its own and gets a small map instead of one word: "
    "**depends on the condition**, holds where ..., does not hold where ..., inconclusive where ..., with a "
    "table of the verdict per condition. Verdicts are computed by tested functions "
    "(`actcmp.claims.checks`), never written by hand: they change when the stored results change."
)

METHODS = [
    "Runs are grouped into cells (dataset, depth and every other varied setting); seeds are replicates. Every "
    "activation of a cell sees the same seeds, data split, batch order and initial weights, so comparisons are "
    "paired by seed.",
    "Splits: without [tune] each seed draws its own train/validation/test rows; a sweep with [tune] uses one split "
    "for all its runs (split_seed 0, shown among its fixed fields), so the evaluation seeds test on the same rows "
    "and no tuning run validates on them (intervals over seeds then leave out the variation between splits). "
    "Claim 8's speed part reads validation curves (epochs to the loss threshold): those are the rows the learning "
    "rates were selected on (by the tuning runs' final validation loss), a selection bias that every activation "
    "shares; its test-loss part is free of it, and claim 5 reads the training loss.",
    "Failed runs are left out. Where activations are ranked or compared with a cell's best (claims 2, 8 and A2, "
    "and the rank and comparison tables), a diverged run (non-finite loss) is the worst outcome of its cell: it "
    "ranks last, in a paired comparison a seed where only one of the two diverged counts as a difference worse "
    "than any finite one, in an exact signed-rank test combined with the t-test of the seeds where both converged "
    "(Bonferroni; with 3 seeds and no pair to t-test, the rank test's floor is p = 0.25); it is never '≈ best', "
    "and it is left out of means and intervals (counted beside them). In a tuned sweep, an activation whose every "
    "learning-rate candidate diverged in tuning has no selected value and no evaluation run: its evaluation seeds "
    "enter these claims as diverged runs (the worst outcome, ranked last, as the report's tuned rank table ranks "
    "it), so the worst outcome counts against the activation instead of removing the cell from the test. The "
    "other claims test converged runs only "
    "(claim 4's gradient ratios at initialisation read diverged runs too): a diverged run, and in a paired test "
    "its pair, is left out of their tests; each claim's experiment line counts them.",
    "Per cell: mean ± std over seeds and the Student t 95% interval of the mean (none with fewer than 2 seeds).",
    "Against the best of a cell: a paired t-test over seeds (scipy `ttest_rel`'s formula) of the log loss (the paired "
    "log ratio to the best, as the equivalence test; the raw metric where a value is not positive or higher is "
    "better) with Cohen's d_z, Holm-corrected "
    "over every pair of the cell's activations (the best is picked from the same data, so Holm over the comparisons with it alone would not hold its level); 'tied' means Holm-adjusted p >= 0.05 (not separable), '≈ best' means shown within 10% of the best, whichever it "
    "is: one-sided paired t-tests that the log ratio to every other activation is below log 1.1, all rejecting at 0.05 "
    "(an intersection-union test, which needs no correction; the sample's best must pass it too, as being best in the "
    "sample says nothing about a margin). With 3 seeds a signed-rank test cannot reach p < 0.05 at all, and the t-test has little "
    "power: 'tied' is weak evidence, '≈ best' is the stronger statement.",
    "Across cells: mean ranks, the Friedman test (scipy; under 10 cells its p is a permutation p within the "
    "cells, 20,000 seeded draws, as the chi-square is conservative there) and the Nemenyi critical difference "
    "CD = q_alpha sqrt(k(k+1)/(6N)) with q_alpha from the studentized range (Demsar 2006). Cells that share a "
    "dataset (its depths) are not independent blocks, so where they do the claims decide on the Friedman test "
    "with each dataset as one block (an activation's mean rank over the dataset's cells, ranked again), its p "
    "from 20,000 seeded within-dataset permutations (the chi-square approximation does not hold for 2-3 "
    "blocks); the rank tables' top group and the critical-difference diagrams of claims 2 and 8 use the mean "
    "ranks and CD over the datasets too, so that they agree with the verdicts (over cells they would be optimistic). "
    "The CD shrinks only as 1 / sqrt(blocks): with 7 activations on 3 datasets it is 5.20 ranks of a possible 6, "
    "so at so few blocks a top group separates almost nothing and 'inside the top group' is weak evidence (claim "
    "2's texts say so wherever the CD exceeds half the possible range).",
    "Verdict maps (claims 2-7) judge each condition on its own, each part as its rule states, at alpha = 0.05. "
    "Holm within a condition only where the rule says so: claim 2's comparisons within a cell (ReLU against each "
    "other activation of the cell, one-sided, Holm over those comparisons: the pre-specified candidate's own "
    "family; the tables' 'vs best of cell' column keeps Holm over every pair) and claim 6's four tests of a "
    "condition (two per candidate). Elsewhere each part of a "
    "condition is tested unadjusted and every part must hold (an intersection-union test, which needs no "
    "correction): claim 3 tests 'units die' by a one-sided exact signed-rank test of ReLU's seeds against 5% "
    "dead and, where they are shown to die, 'Leaky ReLU and PReLU prevent it' by the same test of each fix's seeds "
    "against 1% (both fixes must show it; significantly above 5% does not hold; near-definitional, as Leaky "
    "ReLU's derivative is never 0) and 'Leaky ReLU and PReLU leave fewer units stuck' by a paired one-sided exact "
    "signed-rank test of each fix's stuck share (dead or saturated, see Definitions) minus ReLU's on the same "
    "seed against 0 (both fixes must show it; significantly above 0 does not hold; judged on the seeds that "
    "showed ReLU's units die, so near the 5% bound it holds by chance more often than its level, a selection "
    "the rule states); claim 4 tests 'vanishes' for "
    "sigmoid and for tanh (one-sided exact signed-rank test of log10 r against -1), 'keeps norms' for each "
    "ReLU-family activation by two one-sided signed-rank tests (an equivalence test) and 'saturate' for sigmoid "
    "and for tanh (one-sided exact signed-rank test of the seeds against 5% saturated units); a condition of "
    "claim 5 is one paired test; a condition of claim 7 (depth x hidden activation) one paired test of softmax "
    "against each other output layer, all of which must hold. A claim made of parts is decided as a whole (every "
    "part in the same condition); its verdict line and summary row also say in how many conditions each part "
    "holds, so that a whole that holds nowhere does not hide a part that holds almost everywhere (claim 4: "
    "'sigmoid gradients vanish' beside 'sigmoid and tanh saturate'). An exact signed-rank test of n seeds cannot "
    "go below p = 2^-n, so with fewer "
    "than 5 seeds those parts are inconclusive (the texts say so). There is no correction across the "
    "conditions of a map, so with many conditions some may differ by chance: read a map as a pattern (where the "
    "claim holds and where not), not as many independent findings.",
    "Beside its map, each of claims 2, 3, 5, 6 and 7 is also judged once over all its conditions (the list 'Pooled "
    "over all conditions'; claim 4 has none: its verdict is its map). Claim 2: Friedman over the datasets as "
    "blocks and the comparisons with each cell's best over every cell. Claim 3: 'units die' by Page's trend test "
    "of ReLU's dead fraction over learning rate and over depth (blocked by the other factors and the seed); "
    "'prevent' cell by cell, not as one test over the pooled runs (which would let the other cells hide one "
    "where a fix dies): in every cell where ReLU's units are shown to die, each fix's seeds must be shown under "
    "1% by the per-condition test (the largest p reported), and one cell where a fix lies significantly above "
    "5% makes it not hold; 'fewer units stuck' the same way, cell by cell with the per-condition paired test; "
    "'dying hurts' by a within-condition rank correlation over ReLU runs (ranks centred within each condition; "
    "a two-sided permutation p, the loss ratios permuted within conditions, 10,000 seeded draws; the pooled "
    "Spearman rho is only a note, since learning rate and depth drive both sides). The texts give ReLU's dead "
    "share at initialisation beside the final one (descriptive). Claims 5, 6 and 7: one paired test "
    "(claim 6: two per candidate, Holm over the four; claim 7: one per alternative output layer) over every "
    "(cell, seed) pair of the sweep.",
    "Claims 5, 6 and 7 test pairs of runs (the same cell and seed: the same data, split, initial weights and "
    "batch order) by the Wilcoxon signed-rank test with 6 or more pairs, else the paired t-test, one-sided both "
    "ways: a claim holds when the test in its direction is significant and does not hold when the opposite one "
    "is, so the direction a verdict names is always the test's own, and the ratio it shows is the test's own "
    "estimate (Hodges-Lehmann for the signed-rank test, the geometric mean for the t-test), never a mean or "
    "median taken beside a rank test (a few large gains and many small losses can give a mean below 1 while the "
    "rank test says worse). Claim 6's tests, Holm-corrected, are two-sided (twice the smaller one-sided p) and "
    "read for the direction of that side. Where every pair differs by the same amount there is no t statistic: "
    "it is decided as the t-test's limit (its p goes to 0 as the spread shrinks), and the text says so rather "
    "than give a p; an exact test would make equal seeds weaker evidence than nearly equal ones. Claim 6 reads 'generalises better' as a lower test loss (a better fit of unseen data): the test loss "
    "decides; the train/test gap is tested and reported beside it, decides nothing alone, and only makes a "
    "decided test loss inconclusive when it lies significantly on the other side (a lower test loss bought with "
    "a larger gap). What they pool "
    "differs: claim 5 judges each depth over the pairs of all its datasets and seeds, and pools every dataset "
    "and depth beside the map; claim 6 judges each dataset and depth on its own, one dataset per condition, over "
    "its seeds alone (as many pairs as seeds: the paired t-test under 6 seeds), and pools every dataset and depth "
    "beside the map; claim 7 judges each depth and hidden activation of its one dataset on its own (its seeds "
    "alone: the paired t-test), and pools them all beside the map. Where pairs of several "
    "datasets are pooled (claim 5's conditions, the pooled verdicts of claims 5 and 6), the seeds are the "
    "replicates and the datasets fixed, so the inference is about these datasets (the mean effect over them), "
    "not about datasets in general; an effect that differs between datasets can make the pooled test reject "
    "although its mean over other datasets would be 0.",
    "The claims without a map: claim 1 compares each depth's mean training MSE with PCA's by thresholds "
    "(within 5%, or more than 5% below), no test (its paired t-test of deepest against depth 1 is reported, "
    "not deciding); "
    "claim 8's two parts (Friedman over the datasets as blocks, on test loss and on epochs to the threshold) must "
    "both hold; A1 tests ReLU's AUROC on each dataset by one-sided one-sample t-tests of the seeds against 0.5 "
    "(the same AUROC on every seed: no spread, decided as the t-test's limit) and must hold on every "
    "dataset; A2 reads the comparisons with each bottleneck size's best (Holm within a "
    "size). Where every part must hold, the unadjusted tests keep the level of 'holds' (an intersection-union "
    "test); 'does not hold' from any one part has more chances to fire by chance.",
    "Tuned sweeps: a selection at the smallest or largest candidate may not be the optimum. Each tuned claim's "
    "experiment says how many selections lie at an edge and where; the selected-values table marks them (edge).",
]


def explain_section(figures: Sequence[FigureDoc]) -> Section | None:
    if not figures:
        return None
    return Section("Figures that explain", [("figure", f) for f in figures], anchor="explain")


def depth_section(figure: FigureDoc | None, table: pd.DataFrame | None, factor: float) -> Section | None:
    if figure is None and (table is None or table.empty):
        return None
    blocks: list[tuple[str, Any]] = [
        (
            "text",
            (
                f"From the ranking sweep: for each activation and dataset, the deepest network that still trains, meaning "
                f"{TRAINS.format(factor=factor)}."
            ),
        )
    ]
    if figure is not None:
        blocks.append(("figure", figure))
    if table is not None and not table.empty:
        blocks.append(("table", ("Deepest depth that still trains", table)))
    return Section("Depth scaling", blocks, anchor="depth")


#: the Setup's order of the run fields the sweep files leave to their defaults (the others follow)
SETUP_FIRST = ("optimizer", "lr", "momentum", "weight_decay", "batch_size", "epochs", "init", "loss")


def _setup_value(value: Any) -> str:
    """A setting as the report's Setup writes it (:func:`actcmp.report.setup._value`), a list item by item."""
    from actcmp.report.setup import _value

    if isinstance(value, list):
        return "[" + ", ".join(_setup_value(v) for v in value) + "]"
    return _value(value)


def _env_text(setup: dict[str, Any], key: str) -> str:
    """One environment entry of a sweep: its value, or every value with its runs where the
    runs differ (a mixed store)."""
    value = setup["environment"].get(key)
    if not isinstance(value, list):
        return str(value)
    counts = setup.get("environment_counts", {}).get(key, {})
    return "**" + ", ".join(f"{v} ({plural(counts[v], 'run')})" if v in counts else v for v in value) + "**"


def _commit_text(setup: dict[str, Any]) -> str:
    origin = setup["provenance"]
    commit = origin.get("git_commit")
    if not commit:
        return "not recorded" if origin.get("when") != "run time" else "none (not in a git repository)"
    dirty = " **(uncommitted changes)**" if origin.get("git_dirty") else ""
    unknown = " (clean or not: not recorded)" if origin.get("git_dirty") is None else ""
    later = " (read at report time)" if origin.get("when") == "report time" else ""
    return f"`{commit[:12]}`{dirty}{unknown}{later}"


def setup_table(sweeps: Sequence[SweepDoc]) -> pd.DataFrame:
    """One row per claim sweep: runs read, versions, device, engine, CPU kernels, git commit
    (flagged where the tree had uncommitted changes) and the first and last run's date."""
    import pandas as pd

    rows = []
    for s in sweeps:
        setup = s.setup
        if setup is None:
            rows.append({"sweep": f"`{s.name}`", "runs": "none stored"})
            continue
        runs = str(setup["runs"]) + (f" ({setup['tuning_runs']} tuning)" if setup.get("tuning_runs") else "")
        dates = setup["dates"]
        rows.append(
            {
                "sweep": f"`{s.name}`",
                "runs": runs,
                **{
                    label: _env_text(setup, key)
                    for key, label in (
                        ("actcmp", "actcmp"),
                        ("torch", "torch"),
                        ("python", "python"),
                        ("numpy", "numpy"),
                        ("device", "device"),
                        ("engine", "engine"),
                        ("cpu_capability", "CPU capability"),
                    )
                },
                "git commit": _commit_text(setup),
                # ISO 8601 as stored, the T a space so that a narrow column breaks between date and time
                "first finished": str(dates.get("first") or "not recorded").replace("T", " ", 1),
                "last finished": str(dates.get("last") or "not recorded").replace("T", " ", 1),
            }
        )
    return pd.DataFrame(rows).fillna("")


def shared_defaults(sweeps: Sequence[SweepDoc]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(the run fields no claim sweep file writes that take one value in every sweep's runs,
    ``{field: value}``; the others the files leave to defaults, ``{field: {sweep: value}}``, a
    sweep that writes the field or varies it left out). From the stored runs' resolved configs
    (:func:`actcmp.claims.runner.sweep_setup`'s ``defaults``), never from constants."""
    stored = {s.name: s.setup["defaults"] for s in sweeps if s.setup is not None and s.setup["runs"]}
    names: list[str] = []
    for defaults in stored.values():
        names += [n for n in defaults if n not in names]
    names = [n for n in SETUP_FIRST if n in names] + [n for n in names if n not in SETUP_FIRST]
    shared: dict[str, Any] = {}
    differing: dict[str, dict[str, Any]] = {}
    for name in names:
        values = {sweep: defaults[name] for sweep, defaults in stored.items() if name in defaults}
        texts = {json.dumps(v, sort_keys=True) for v in values.values()}
        if len(values) == len(stored) and len(texts) == 1:
            shared[name] = next(iter(values.values()))
        else:
            differing[name] = values
    return shared, differing


def _varied_fields(sweeps: Sequence[SweepDoc], name: str) -> set[str]:
    """The fields sweep ``name`` does not write that vary between its runs."""
    setup = next((s.setup for s in sweeps if s.name == name), None) or {}
    return {field for fields in setup.get("defaults_varied", {}).values() for field in fields}


def _defaults_table(sweeps: Sequence[SweepDoc]) -> pd.DataFrame:
    """The run fields the sweep files leave to defaults: one value, or the value of each sweep."""
    import pandas as pd

    from actcmp.report.setup import setup_rows

    shared, differing = shared_defaults(sweeps)
    stored = [s.name for s in sweeps if s.setup is not None and s.setup["runs"]]
    rows = []
    for name, value, meaning in setup_rows({"fixed": shared, "per_dataset": {}, "per_activation": {}}):
        rows.append({"setting": f"`{name}`", "value": value, "meaning": meaning})
    for name, values in differing.items():
        groups: dict[str, list[str]] = {}
        for sweep, value in values.items():
            groups.setdefault(_setup_value(value), []).append(sweep)
        text = "; ".join(f"{value} ({', '.join(names)})" for value, names in groups.items())
        varies = [n for n in stored if n not in values and name in _varied_fields(sweeps, n)]
        written = [n for n in stored if n not in values and n not in varies]
        if varies:
            text += f"; varies within: {', '.join(varies)} (below)"
        if written:
            text += f"; written in the sweep file: {', '.join(written)}"
        meaning = setup_rows({"fixed": {name: None}, "per_dataset": {}, "per_activation": {}})[0][2]
        rows.append({"setting": f"`{name}`", "value": text, "meaning": meaning})
    return pd.DataFrame(rows, columns=["setting", "value", "meaning"])


def uncommitted(sweeps: Sequence[SweepDoc]) -> list[str]:
    """The sweeps whose sweep.json records a git tree with uncommitted changes at run time."""
    return [s.name for s in sweeps if s.setup is not None and s.setup["provenance"].get("git_dirty")]


def uncommitted_note(sweeps: Sequence[SweepDoc]) -> str:
    """The Summary's warning that sweeps were run from a tree with uncommitted changes ("" if none)."""
    dirty = uncommitted(sweeps)
    if not dirty:
        return ""
    known = [s for s in sweeps if s.setup is not None]
    return (
        f"**Uncommitted changes:** {len(dirty)} of {len(known)} claim sweeps ({', '.join(f'`{n}`' for n in dirty)}) "
        "were run from a git work tree with uncommitted changes: the code that produced them is no commit, so "
        "checking out the recorded commit need not reproduce them (see [Setup](#setup))."
    )


def _mixed_note(sweeps: Sequence[SweepDoc]) -> str:
    """Where runs of one sweep were computed with different versions, devices or engines ("" if none)."""
    mixed = []
    for s in sweeps:
        if s.setup is None:
            continue
        keys = [k for k, v in s.setup["environment"].items() if isinstance(v, list)]
        if keys:
            mixed.append(f"`{s.name}` ({', '.join(keys)})")
    if not mixed:
        return ""
    return (
        f"**Mixed runs:** the runs of {', '.join(mixed)} were not all computed with the same software or hardware: "
        "their cells list every value with its number of runs (a store resumed or extended by another version)."
    )


def setup_section(sweeps: Sequence[SweepDoc]) -> Section | None:
    """What the claim sweeps' runs were computed with and from which commit, read from the
    stores (each run's environment and resolved config) and each sweep.json (git commit at
    run time); None when no sweep has runs stored."""
    from actcmp.report.setup import report_software

    if all(s.setup is None for s in sweeps):
        return None
    blocks: list[tuple[str, Any]] = [
        (
            "text",
            "What each claim sweep's runs were computed with, as they recorded it: versions, device, engine and ATen "
            "CPU capability (the CPU kernel family) from each run's stored environment; the git commit from the "
            "results directory's sweep.json, recorded by the last run into it (the store records no commit per run). "
            "The runs are those the claims read (a tuned sweep's tuning runs included).",
        )
    ]
    note = uncommitted_note(sweeps)
    if note:
        blocks.append(("text", note.replace(" (see [Setup](#setup))", "")))
    mixed = _mixed_note(sweeps)
    if mixed:
        blocks.append(("text", mixed))
    blocks.append(("table", ("Software, hardware and origin per sweep", setup_table(sweeps))))
    platforms: dict[str, list[str]] = {}
    for s in sweeps:
        if s.setup is not None:
            value = s.setup["environment"].get("platform")
            for v in value if isinstance(value, list) else [value]:
                platforms.setdefault(str(v), []).append(s.name)
    known = [s for s in sweeps if s.setup is not None]
    if len(platforms) == 1:
        blocks.append(("text", f"Platform (every sweep): {next(iter(platforms))}."))
    else:
        blocks.append(("text", "Platform: " + "; ".join(f"{p} ({', '.join(n)})" for p, n in platforms.items()) + "."))
    defaults = _defaults_table(known)
    if not defaults.empty:
        blocks.append(
            (
                "text",
                "Settings the sweep files do not write (so not in each claim's Fixed list), as the stored runs "
                "resolved them: one value where every sweep's runs share it, else each sweep's.",
            )
        )
        blocks.append(("table", ("Defaults the claim sweeps ran with", defaults)))
    varied = []
    for s in known:
        groups = (s.setup or {}).get("defaults_varied") or {}
        parts = [
            f"{field} "
            + (
                ", ".join(_setup_value(v) for v in values)
                if group == "varied"
                else f"{group.replace('_', ' ')}: " + ", ".join(f"{k} {_setup_value(v)}" for k, v in values.items())
            )
            for group, fields in groups.items()
            for field, values in fields.items()
        ]
        if parts:
            varied.append(f"`{s.name}`: " + "; ".join(parts))
    if varied:
        blocks.append(("text", "Settings the sweep files do not write that differ between a sweep's runs:"))
        blocks.append(("list", varied))
    software = report_software()
    blocks.append(
        (
            "text",
            f"These documents were made with actcmp {software['actcmp']} (numpy {software['numpy']}, "
            f"scipy {software['scipy']}, pandas {software['pandas']}).",
        )
    )
    return Section("Setup", blocks, anchor="setup")


def runtime_section(sweeps: Sequence[SweepDoc], command: str) -> Section:
    items = [
        f"`{s.file}`: {s.planned} runs, {s.trained} trained this time in {fmt_duration(s.wall_time_s)}; "
        f"training time of the stored runs (sum over runs) {fmt_duration(s.stored_time_s)}"
        for s in sweeps
    ]
    total = sum(s.wall_time_s for s in sweeps)
    return Section(
        "Run time and how to regenerate",
        [
            ("list", items),
            (
                "text",
                f"Training time this call: {fmt_duration(total)}. `{command}` resumes: stored runs are reused; "
                "`--report-only` rebuilds this document from stored results without training.",
            ),
        ],
        anchor="regenerate",
    )


#: the run fields that define "saturated" (and so claim 3's "stuck" and claim 4's saturation)
SATURATION_FIELDS = ("saturation_threshold", "saturation_share")


def saturation_settings(sweeps: Sequence[SweepDoc]) -> dict[str, list[float]]:
    """Per field of :data:`SATURATION_FIELDS`: the values the judged sweeps' runs use (a
    ``--set`` or a sweep file may change them; the grid may vary them), sorted; the run
    config's default where neither names the field."""
    from actcmp.run_config import RunConfig

    used: dict[str, list[float]] = {}
    for name in SATURATION_FIELDS:
        default = RunConfig.model_fields[name].default
        values: set[float] = set()
        for sweep in sweeps:
            if name in sweep.grid:
                values.update(float(v) for v in sweep.grid[name])
            else:
                values.add(float(sweep.fixed.get(name, default)))
        used[name] = sorted(values or {default})
    return used


def saturation_note(sweeps: Sequence[SweepDoc]) -> str:
    """A line for the Definitions where the judged runs do not use the default saturation
    settings (0.05 and 0.95, which the definitions' and rules' texts spell as 5% and 95%);
    "" where they do."""
    from actcmp.run_config import RunConfig

    used = saturation_settings(sweeps)
    defaults = {name: RunConfig.model_fields[name].default for name in SATURATION_FIELDS}
    if all(values == [defaults[name]] for name, values in used.items()):
        return ""
    said = ", ".join(f"`{name}` = {' and '.join(f'{v:g}' for v in values)}" for name, values in used.items())
    return (
        f"**Not the defaults.** These documents' runs use {said}, not the defaults "
        f"{defaults['saturation_threshold']:g} and {defaults['saturation_share']:g}: wherever a definition or a "
        "rule here says 5% of the peak derivative or 95% of the probe inputs, read these values instead."
    )


UNTESTED_INTRO = (
    "What the claims above leave undecided, from the same introductions to activation functions: silence here "
    "is no support."
)


def untested_section() -> Section:
    """The statements of the source texts that no claim decides, each with why
    (:data:`actcmp.claims.registry.UNTESTED`)."""
    from actcmp.claims.registry import UNTESTED

    blocks: list[tuple[str, Any]] = [("text", UNTESTED_INTRO)]
    for item in UNTESTED:
        blocks.append(("quote", ([item.quote], QUOTE_ATTRIBUTION)))
        blocks.append(("text", f"**Not decided:** {item.why}"))
    return Section("Left untested", blocks, anchor="untested")


def definitions_section(sweeps: Sequence[SweepDoc] = ()) -> Section:
    """What "dead", "saturated", "stuck" and the init rules mean here, with each activation's
    gain; a note where the judged ``sweeps`` do not use the default saturation settings."""
    from actcmp.claims import definitions

    note = saturation_note(sweeps)
    return Section(
        "Definitions",
        [
            ("text", definitions.DEAD),
            ("text", definitions.SATURATION),
            *([("text", note)] if note else []),
            ("text", definitions.STUCK),
            ("text", definitions.INIT),
            ("table", ("Init gain per activation (hidden layer, fan_in = fan_out)", definitions.init_table())),
        ],
        anchor="definitions",
    )


def only_note(
    shown: Sequence[Claim],
    chosen: Sequence[str],
    left_out: Sequence[Claim],
    out: Path | str,
    *,
    markdown: bool = True,
) -> str:
    """What ``actcmp claims --only`` wrote, in one sentence for both places that say it: the
    Summary of the documents (``markdown``) and the line the command prints (plain). ``shown``:
    the claims in the documents; ``chosen``: the keys ``--only`` named; ``left_out``: the claims
    left out because no run of theirs with these settings is stored under ``out``."""

    def code(text: str) -> str:
        return f"`{text}`" if markdown else text

    def bold(text: str) -> str:
        return f"**{text}**" if markdown else text

    named = set(chosen)
    others = [c for c in shown if c.key not in named]
    total = len(shown) + len(left_out)
    sweeps = "its sweep" if len(named) == 1 else "their sweeps"
    text = (
        f"claims.md, claims.html and claims.json written by {code('actcmp claims --only ' + ','.join(chosen))}: "
        f"{len(named)} of {total} claims named, {sweeps} trained unless {code('--report-only')} was given"
    )
    if others:
        listed = ", ".join(f"{c.number} {c.key}" for c in others)
        text += (
            f"; {plural(len(others), 'other claim')} kept ({listed}), re-decided from the runs stored for "
            f"{'it' if len(others) == 1 else 'them'}, not trained by this call"
        )
    if left_out:
        listed = ", ".join(f"{c.number} {c.key} (sweep {c.sweep})" for c in left_out)
        text += (
            f". {bold('Left out:')} {len(left_out)} of {total} claims, no run of whose sweeps with these settings "
            f"is stored under {code(str(out))} (not trained there, or trained with another {code('--set')}): {listed}"
        )
    return text + "."


def build_sections(
    claims: Sequence[ClaimDoc],
    explain: Sequence[FigureDoc],
    depth: Section | None,
    sweeps: Sequence[SweepDoc],
    command: str,
    *,
    note: str = "",
) -> list[Section]:
    """The documents' sections; ``note``: a line under the introduction (what ``--only`` left out)."""
    intro: list[tuple[str, Any]] = [("text", INTRO)] + ([("text", note)] if note else [])
    dirty = uncommitted_note(sweeps)
    if dirty:  # prominent: a reader must know the code is no commit before reading any verdict
        intro.append(("text", dirty))
    sections = [Section("Summary", [*intro, ("summary", list(claims))], anchor="summary")]
    sections += [claim_section(c) for c in claims]
    extra = explain_section(explain)
    if extra is not None:
        sections.append(extra)
    if depth is not None:
        sections.append(depth)
    sections.append(untested_section())
    sections.append(definitions_section(sweeps))
    sections.append(Section("Methods", [("list", METHODS)], anchor="methods"))
    setup = setup_section(sweeps)
    if setup is not None:
        sections.append(setup)
    sections.append(runtime_section(sweeps, command))
    return sections


# -- markdown -----------------------------------------------------------------------------------
def _md_table(frame: pd.DataFrame) -> str:
    columns = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines)


def _markdown_block(kind: str, content: Any) -> list[str]:
    if kind == "quote":
        texts, attribution = content
        return [line for text in texts for line in (f"> {text}", ">")] + [f"> — {attribution}", ""]
    if kind == "verdict":
        return [f"**Verdict: {BADGE[content.verdict]}.** {content.explanation}", ""]
    if kind == "summary":
        return [summary_markdown(content), ""]
    if kind == "table":
        name, frame = content
        return [f"**{name}**", "", _md_table(frame), ""]
    if kind == "figure":
        image, links = render.markdown_figure(content.stem, content.title, content.formats)
        caption = f"*{content.caption}* ({links})" if links else f"*{content.caption}*"
        return [image, "", caption, ""]
    return []


def render_markdown(sections: Sequence[Section], title: str) -> str:
    return render.markdown_page(title, sections, _markdown_block)


# -- html ---------------------------------------------------------------------------------------
CSS = render.CSS + (
    "body { max-width: 74rem; line-height: 1.45; }\n"
    "th, td { vertical-align: top; }\n"
    "figure { margin: 0.5rem 0 1.5rem; }\n"
    "blockquote { margin: 0.5rem 0; padding: 0.3rem 1rem; border-left: 4px solid #ccc; color: #444; background: #fafafa; }\n"
    "blockquote p { margin: 0.2rem 0; }\n"
    "blockquote footer { font-size: 0.8rem; color: #777; }\n"
    "td { white-space: normal; } td.p, .badge { white-space: nowrap; }\n"
    ".badge { display: inline-block; padding: 0.1rem 0.55rem; border-radius: 0.8rem; color: white; font-weight: 600; "
    "font-size: 0.85rem; }\n"
    ".verdict { font-size: 1.05rem; margin: 0.4rem 0 0.8rem; }\n"
    "h2 { border-top: 1px solid #ddd; padding-top: 1rem; margin-top: 2rem; }\n"
)


def _badge(verdict: str) -> str:
    return f'<span class="badge" style="background:{COLOURS[verdict]}">{html.escape(BADGE[verdict])}</span>'


def _html_table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{render.inline(v)}</td>" for v in row) + "</tr>" for row in frame.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html_summary(claims: Sequence[ClaimDoc]) -> str:
    rows = []
    for doc, row in zip(claims, summary_rows(claims), strict=True):
        rows.append(
            f'<tr><td>{row["#"]}</td><td><a href="#claim-{doc.claim.key}">{html.escape(row["claim"])}</a>'
            f"</td><td>{_badge(doc.verdict.verdict)}</td><td>{html.escape(row['deciding statistic'])}</td>"
            f'<td class="p">{row["p"]}</td></tr>'
        )
    head = "".join(f"<th>{h}</th>" for h in ("#", "claim", "verdict", "deciding statistic", "p"))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _html_block(kind: str, content: Any) -> list[str]:
    if kind == "quote":
        texts, attribution = content
        paragraphs = "".join(f"<p>{html.escape(text)}</p>" for text in texts)
        return [f"<blockquote>{paragraphs}<footer>— {html.escape(attribution)}</footer></blockquote>"]
    if kind == "verdict":
        return [f'<p class="verdict">{_badge(content.verdict)} {render.inline(content.explanation)}</p>']
    if kind == "summary":
        return [_html_summary(content)]
    if kind == "table":
        name, frame = content
        return [f"<h4>{html.escape(name)}</h4>", _html_table(frame)]
    if kind == "figure":
        links = ", ".join(f'<a href="{content.stem}.{fmt}">{fmt}</a>' for fmt in content.formats)
        caption = f"{render.inline(content.caption)} ({links})"
        return [render.figure_html(content.png, content.title, caption, dpi=150)]
    return []


def render_html(sections: Sequence[Section], title: str) -> str:
    return render.html_page(title, sections, _html_block, CSS)


def _definitions_json(sweeps: Sequence[SweepDoc] = ()) -> dict[str, Any]:
    from actcmp.claims import definitions

    table = definitions.init_table()
    return {
        "saturated": "|f'(z)| < saturation_threshold x peak f' on at least saturation_share of the probe inputs "
        "(defaults 0.05, 0.95); judged in the claims only for the bounded family",
        "saturation_used": saturation_settings(sweeps),
        "dead": "f'(z) == 0 on every probe input",
        "init_gain": {
            row["activation"]: {
                "rule": row['rule (init = "auto")'],
                "gain": float(row["gain used"]),
                "gain_keeping_second_moment": float(row["gain keeping E[f(z)^2]"]),
                "literature": row["literature"],
            }
            for row in table.to_dict("records")
        },
        "torch_default_gain": 1 / math.sqrt(3),
    }


def _setup_json(sweeps: Sequence[SweepDoc]) -> dict[str, Any]:
    """claims.json's ``setup``: the defaults every sweep shares and those that differ (each sweep's
    own setup is under ``sweeps[].setup``), the sweeps run with uncommitted changes, and what
    made the documents."""
    from actcmp.report.setup import report_software

    shared, differing = shared_defaults(sweeps)
    return {
        "defaults_shared": shared,
        "defaults_per_sweep": differing,
        "uncommitted_changes": uncommitted(sweeps),
        "report_software": report_software(),
    }


def claims_json(
    claims: Sequence[ClaimDoc],
    sweeps: Sequence[SweepDoc],
    *,
    only: Sequence[str] | None = None,
    left_out: Sequence[Claim] = (),
) -> str:
    """claims.json; with ``only`` (the keys ``--only`` named) also ``only`` and ``left_out``
    (the claims not in the documents: ``key``, ``number``, ``title``, ``sweep``)."""
    from actcmp.claims.registry import UNTESTED

    extra: dict[str, Any] = {}
    if only is not None:
        extra = {
            "only": list(only),
            "left_out": [{"key": c.key, "number": c.number, "title": c.title, "sweep": c.sweep} for c in left_out],
        }
    payload = {
        "claims": [
            {
                "key": c.claim.key,
                "number": c.claim.number,
                "title": c.claim.title,
                "sweep": c.claim.sweep,
                **c.verdict.as_dict(),
            }
            for c in claims
        ],
        "sweeps": [
            {
                "name": s.name,
                "file": s.file,
                "planned": s.planned,
                "counts": s.counts,
                "trained": s.trained,
                "wall_time_s": round(s.wall_time_s, 2),
                "stored_time_s": round(s.stored_time_s, 2),
                **({"tune": s.tune} if s.tune else {}),
                **({"warning": s.warning} if s.warning else {}),
                **({"setup": s.setup} if s.setup is not None else {}),
                **(
                    {"selected": s.selected.to_dict("records")}
                    if s.selected is not None and not s.selected.empty
                    else {}
                ),
            }
            for s in sweeps
        ],
        "definitions": _definitions_json(sweeps),
        "untested": [{"quote": item.quote, "why": item.why} for item in UNTESTED],
        "setup": _setup_json(sweeps),
        **extra,
    }
    return json.dumps(payload, indent=1, ensure_ascii=False) + "\n"


def write_documents(
    out: Path,
    sections: Sequence[Section],
    claims: Sequence[ClaimDoc],
    sweeps: Sequence[SweepDoc],
    title: str = TITLE,
    *,
    only: Sequence[str] | None = None,
    left_out: Sequence[Claim] = (),
) -> list[Path]:
    """Write claims.md, claims.html and claims.json under ``out``; return their paths."""
    from actcmp.atomic import make_dir, write_text

    make_dir(out)
    paths = [out / "claims.md", out / "claims.html", out / "claims.json"]
    write_text(paths[0], render_markdown(sections, title))
    write_text(paths[1], render_html(sections, title))
    write_text(paths[2], claims_json(claims, sweeps, only=only, left_out=left_out))
    return paths
