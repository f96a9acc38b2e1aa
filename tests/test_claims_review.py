"""The statistician's review of the claims, one test (or a few) per finding:

1. a verdict's direction is its test's (one-sided tests; the Hodges-Lehmann estimate), never a
   mean or median taken beside a rank test (claims 5, 6, 7);
2. a tuned unit whose every candidate diverged ranks last instead of vanishing;
3. claim 4's text prints the median it decides on (and the range over seeds), not a mean;
4. claim 4's summary says in how many conditions each part holds;
5. claim 7 is judged per condition (depth x hidden activation);
6. claim 6 reads "generalises better" as a lower test loss, the gap reported beside it;
7. seeds that are all equal: decided as the t-test's limit and said so, never weaker than nearly equal ones;
8. claim 2 says that at 3 datasets the Nemenyi top group separates almost nothing.

Each expected number is computed here independently (by hand or with scipy directly)."""

from __future__ import annotations

import math
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from actcmp.claims import checks
from actcmp.claims.checks import FAILS, HOLDS, MIXED, UNSURE
from actcmp.claims.checks.ranktests import hodges_lehmann, sided_test, signed_rank
from actcmp.claims.context import ClaimContext
from actcmp.claims.registry import CLAIMS
from actcmp.store.database import Results


def _results(runs: pd.DataFrame, epochs: pd.DataFrame | None = None, layers: pd.DataFrame | None = None) -> Results:
    return Results(
        runs=runs,
        epochs=epochs if epochs is not None else pd.DataFrame(columns=["run_id", "epoch", "metric", "value"]),
        layers=layers if layers is not None else pd.DataFrame(columns=["run_id", "epoch", "layer", "metric", "value"]),
        planned=runs[["run_id"]],
        directory=Path("."),
    )


def _claim(key: str) -> Any:
    return next(c for c in CLAIMS if c.key == key)


# -- 1. the direction is the test's ---------------------------------------------------------------------
#: the reviewer's counter-example: 5% worse in 18 of 20 pairs, 7x better in 2 (log ratios)
WORSE_MOSTLY = [math.log(1.05)] * 18 + [math.log(1 / 7)] * 2


def _softmax_runs(log_ratios: list[float]) -> pd.DataFrame:
    """One cell (distributions, depth 1, relu hidden), one seed per log ratio softmax / identity."""
    rows = []
    for seed, log_ratio in enumerate(log_ratios):
        base = 1e-3 * (1 + 0.01 * seed)
        for output, value in (("identity", base), ("softmax", base * math.exp(log_ratio))):
            rows.append(
                {
                    "run_id": f"{output}-{seed}",
                    "status": "done",
                    "dataset": "distributions",
                    "depth": 1,
                    "activation": "relu",
                    "output_activation": output,
                    "loss": "mse",
                    "seed": seed,
                    "test_mse": value,
                    "test_loss": value,
                }
            )
    return pd.DataFrame(rows)


def test_claim_7_takes_its_direction_from_the_test_not_the_geometric_mean() -> None:
    """Geometric mean x0.86 (softmax 'lower'), but the signed-rank test says higher: 18 of 20
    pairs are worse. It said 'holds' (ratio < 1 and a two-sided p < 0.05 that came from
    softmax being worse); now the one-sided test in the claimed direction cannot reject and the
    opposite one does: 'does not hold', shown with the Hodges-Lehmann estimate x1.05."""
    diffs = np.array(WORSE_MOSTLY)
    assert math.exp(diffs.mean()) == pytest.approx(0.86, abs=0.005)
    assert float(sps.wilcoxon(diffs).pvalue) < 0.05  # the two-sided test the old rule read
    verdict = checks.check_softmax(_softmax_runs(WORSE_MOSTLY))
    (part,) = verdict.parts
    assert part.verdict == FAILS and verdict.verdict == FAILS, part.explanation
    assert part.value == pytest.approx(1.05, rel=1e-9)  # exp(Hodges-Lehmann): the median Walsh average
    assert "Hodges-Lehmann estimate" in part.explanation and "geometric mean x0.86" in part.explanation
    # one-sided 'softmax higher' by exact enumeration over the log ratios as stored (float rounding
    # breaks the ties of the 18 equal ratios); the two negative pairs hold the top ranks 19, 20
    runs = _softmax_runs(WORSE_MOSTLY)
    by = runs.pivot(index="seed", columns="output_activation", values="test_mse")
    diffs = (np.log(by["softmax"]) - np.log(by["identity"])).to_numpy()
    ranks = sps.rankdata(np.abs(diffs))
    w_plus = ranks[diffs > 0].sum()
    signs = (np.arange(2**20)[:, None] >> np.arange(20)) & 1
    assert part.p_value == pytest.approx(np.mean(signs @ ranks >= w_plus - 1e-9))


def _early_runs(log_ratios: list[float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """tanh and sigmoid on one cell per pair (k = 1 epoch): the early loss of tanh over
    sigmoid's is exp(log ratio)."""
    runs, epochs = [], []
    for i, log_ratio in enumerate(log_ratios):
        sigmoid = 0.5 * (1 + 0.01 * i)
        for name, early in (("sigmoid", sigmoid), ("tanh", sigmoid * math.exp(log_ratio))):
            run_id = f"{name}-{i}"
            runs.append(
                {
                    "run_id": run_id,
                    "status": "done",
                    "dataset": "digits",
                    "depth": 1 + i // 5,
                    "seed": i % 5,
                    "activation": name,
                    "epochs": 2,
                    "baseline_loss": 1.0,
                }
            )
            epochs.append({"run_id": run_id, "epoch": 1, "metric": "train_loss", "value": early})
    return pd.DataFrame(runs), pd.DataFrame(epochs)


def test_claim_5_takes_its_direction_from_the_test_not_the_median() -> None:
    """35 pairs where tanh is 1% slower, 25 where it is e times faster: the median ratio is
    1.01 (the old text said 'sigmoid is faster', a two-sided p < 0.05 beside it), but the
    signed-rank test, whose statistic the 25 large ranks dominate, says tanh is faster."""
    log_ratios = [0.01] * 35 + [-1.0] * 25
    assert math.exp(np.median(log_ratios)) > 1
    assert float(sps.wilcoxon(log_ratios).pvalue) < 0.05
    runs, epochs = _early_runs(log_ratios)
    verdict = checks.check_tanh_faster(runs, epochs)
    assert verdict.verdict == HOLDS, verdict.explanation
    early = epochs.set_index("run_id")["value"]
    pairs = range(len(log_ratios))  # the log ratios as the check computes them (float ties and all)
    stored = np.log([early[f"tanh-{i}"] for i in pairs]) - np.log([early[f"sigmoid-{i}"] for i in pairs])
    assert verdict.value == pytest.approx(math.exp(hodges_lehmann(stored)))
    assert verdict.value < 1 and "Hodges-Lehmann" in verdict.statistic
    # 60 pairs: the normal approximation with the tie-corrected variance, by hand
    ranks = sps.rankdata(np.abs(stored))
    w_plus = ranks[stored > 0].sum()
    z = (w_plus - ranks.sum() / 2 + 0.5) / math.sqrt((ranks**2).sum() / 4)
    assert verdict.p_value == pytest.approx(sps.norm.cdf(z))


def _generalisation_runs(d_test: list[float]) -> pd.DataFrame:
    """One cell, one seed per d_test (log test-loss ratio to ReLU's), the same gap as ReLU's
    (up to a tiny jitter)."""
    rows = []
    for seed, d in enumerate(d_test):
        relu = 0.5 * (1 + 0.01 * seed)
        gap = 0.05 + 1e-4 * math.sin(seed)
        for name, test in (("relu", relu), ("elu", relu * math.exp(d)), ("silu", relu * math.exp(d))):
            rows.append(
                {
                    "run_id": f"{name}-{seed}",
                    "status": "done",
                    "dataset": "mnist1d",
                    "depth": 4,
                    "seed": seed,
                    "activation": name,
                    "test_loss": test,
                    "final_train_loss": test / math.exp(gap if name == "relu" else gap + 1e-4 * math.cos(seed)),
                }
            )
    return pd.DataFrame(rows)


def test_claim_6_takes_its_direction_from_the_test_not_the_mean() -> None:
    """The counter-example over 22 pairs (worse by 5% in 20, 7x better in 2): mean log
    test-loss ratio -0.13 ('lower'), the signed-rank test significant after Holm over 4 because
    the candidates are worse in 20 of 22 pairs. It said 'holds'; now 'does not hold'."""
    d_test = [math.log(1.05)] * 20 + [math.log(1 / 7)] * 2
    assert np.mean(d_test) < 0 and 4 * float(sps.wilcoxon(d_test).pvalue) < 0.05
    verdict = checks.check_generalisation(_generalisation_runs(d_test))
    for part in verdict.parts:
        assert part.verdict == FAILS, part.explanation
        assert part.value == pytest.approx(math.log(1.05)), part.explanation  # Hodges-Lehmann, log units
        assert "higher for" in part.explanation
    assert verdict.verdict == FAILS


def test_sided_test_direction_agrees_with_its_estimate() -> None:
    """The Hodges-Lehmann estimate lies on the side the signed-rank test points to (it is
    the median of the Walsh averages, which the statistic counts)."""
    rng = np.random.default_rng(5)
    for _ in range(200):
        diffs = rng.standard_t(2, size=int(rng.integers(6, 25))) + rng.normal(0, 0.5)
        test = sided_test(diffs)
        assert test.test == "signed-rank"
        if test.side:
            assert np.sign(test.estimate) in (test.side, 0), (diffs, test)


def test_exact_signed_rank_by_counting_equals_enumeration() -> None:
    """The rank sums counted (ties at mid-ranks) give the p of enumerating every sign pattern."""
    rng = np.random.default_rng(11)
    for _ in range(200):
        diffs = np.round(rng.normal(size=int(rng.integers(1, 12))), 1)
        d = diffs[diffs != 0]
        if not len(d):
            continue
        ranks = sps.rankdata(np.abs(d))
        signs = (np.arange(2 ** len(d))[:, None] >> np.arange(len(d))) & 1
        null, w = signs @ ranks, ranks[d > 0].sum()
        expected = (np.mean(null <= w + 1e-9), np.mean(null >= w - 1e-9))
        assert signed_rank(diffs) == pytest.approx(expected)


# -- 2. a unit whose every candidate diverged ranks last ----------------------------------------------------
RANKING_TOML = (
    'name = "tiny-ranking"\nepochs = 3\nwidth = 16\nbottleneck = 4\nbatch_size = 128\nprobe_size = 64\nlr = 0.1\n'
    "[grid]\ndataset = ['digits']\ndepth = [1, 2]\nseed = [0, 1, 2]\nactivation = ['relu', 'tanh', 'sigmoid']\n"
    "[tune]\nlr = [0.1, 1.0]\nseeds = [100]\n"
)
#: test loss at the selected value; sigmoid diverges on every tuning candidate (no selection)
TEST_LOSS = {"relu": 0.2, "tanh": 0.3}


def _fabricated_ranking(sweeps: Path, out: Path) -> None:
    """A stored tuned ranking sweep (no training): every sigmoid tuning run diverged."""
    from actcmp.config import load_sweep
    from actcmp.engine.plain import RunResult
    from actcmp.run.sweep import sweep_id
    from actcmp.run.tune import evaluation_runs, plan_tune, select_from_store
    from actcmp.store.database import Store

    sweeps.mkdir()
    (sweeps / "ranking.toml").write_text(RANKING_TOML)
    sweep = load_sweep(sweeps / "ranking.toml")
    plan = plan_tune(sweep)

    def stored(cfg: dict[str, Any], val: float | None, test: float | None) -> RunResult:
        final = {"final_val_loss": val, "test_loss": test, "baseline_loss": 1.0, "epochs_to_threshold": 2.0}
        config = {k: v for k, v in cfg.items() if k not in ("role", "tune_unit")}
        status = "diverged" if test is None else "done"
        return RunResult(cfg["run_id"], config, status, final, [], [], 0.1, env={"engine": "plain"})

    directory = out / "ranking"
    with Store(directory) as store:
        for cfg in plan.tuning:
            diverged = cfg["activation"] == "sigmoid"
            store.write_run(stored(cfg, None if diverged else 0.5 - 0.1 * cfg["lr"], None if diverged else 0.5))
        selections = select_from_store(plan, store)
        evaluation = evaluation_runs(plan, selections)
        store.save_sweep(sweep_id(sweep), sweep.name, sweep.to_dict(), [*plan.tuning, *evaluation])
        for cfg in evaluation:
            if cfg["lr"] == 1.0:  # the selected value of relu and tanh
                test = TEST_LOSS[cfg["activation"]] * (1 + 0.01 * cfg["seed"] + 0.001 * cfg["depth"])
                store.write_run(stored(cfg, 0.4, test))


def test_a_unit_whose_every_candidate_diverged_ranks_last(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sigmoid diverges on every tuning candidate: it has no evaluation run. It vanished from
    the verdicts (the Friedman test ranked relu against tanh alone, 'best of 2', and the rank
    table had no row for it); now its evaluation seeds enter as diverged runs and it ranks
    last ('best of 3', mean rank 3), and the sweep's line says so. The counts stay those of
    what is stored."""
    from actcmp.claims import runner

    sweeps, out = tmp_path / "sweeps", tmp_path / "out"
    _fabricated_ranking(sweeps, out)
    monkeypatch.setattr(runner, "claims_dir", lambda: sweeps)
    run = runner.run_claims(out, only=["relu_default"], train=False, formats=("png",))
    doc = next(d for d in run.claims if d.claim.key == "relu_default")
    pooled = doc.verdict.parts[0]
    assert "best of 3" in pooled.statistic, pooled.statistic
    assert "sigmoid on digits at depth 1" in doc.sweep.tune and "enter the verdicts as diverged" in doc.sweep.tune
    assert doc.sweep.counts["done"] == 12 and doc.sweep.counts["diverged"] == 0 and doc.sweep.planned == 12
    title, table = next((t, frame) for t, frame in doc.tables if t.startswith("Mean rank"))
    ranks = dict(zip(table["activation"], table["mean rank over cells"].astype(float), strict=True))
    assert ranks == {"relu": 1.0, "tanh": 2.0, "sigmoid": 3.0}, title
    matters = next(d for d in run.claims if d.claim.key == "matters")  # the same sweep: sigmoid is there too
    assert "and 3 activations" in matters.verdict.explanation, matters.verdict.explanation


# -- 3. claim 4 prints the median ---------------------------------------------------------------------------
def _gradient_cell(logs: dict[str, list[float]], depth: int = 4, init: str = "torch-default") -> tuple[Any, Any]:
    """One condition: per activation, each seed's log10 r (the last layer's gradient 1)."""
    from fake_results import gradient_cell

    return gradient_cell({name: [10.0**v for v in values] for name, values in logs.items()}, depth, init)


def test_claim_4_prints_the_median_it_decides_on_and_the_range() -> None:
    """The reviewer's leaky_relu (torch-default, depth 4): median log10 r -0.989 (inside one
    order), mean -1.244. The text printed 10^-1.2 (the mean) beside a statistic that is the
    median; now 10^-0.99 with the range over the seeds."""
    logs = [-0.2, -0.5, -0.989, -1.5, -3.031]
    assert np.mean(logs) == pytest.approx(-1.244)
    runs, layers = _gradient_cell({"leaky_relu": logs, "sigmoid": [-3.0] * 5})
    verdict = checks.check_vanishing_cell(runs, layers)
    part = next(p for p in verdict.parts if p.label == "leaky_relu keeps gradient norms")
    assert part.value == pytest.approx(-0.989)
    assert "10^-0.99 of the last's (median over 5 seeds; from 10^-3.03 to 10^-0.20)" in part.explanation
    assert "10^-1.2" not in part.explanation


# -- 4. claim 4's summary shows its parts ------------------------------------------------------------------
def test_claim_4s_summary_says_where_each_part_holds() -> None:
    """Sigmoid's gradients vanish in both conditions, nothing saturates: 'does not hold' as a
    whole, and the verdict line and the summary row say that 'sigmoid gradients vanish' holds
    in 2 of 2 conditions while 'saturate' holds in none (the decision rule is unchanged)."""
    from actcmp.claims.conditions import by_condition
    from actcmp.claims.document import ClaimDoc, SweepDoc, summary_rows

    frames = [_gradient_cell({"sigmoid": [-3.0, -3.2, -2.9, -3.1, -3.3], "relu": [0.1] * 5}, depth=d) for d in (4, 8)]
    runs = pd.concat([f[0] for f in frames], ignore_index=True)
    layers = pd.concat([f[1] for f in frames], ignore_index=True)
    verdict = by_condition(runs, ("init", "depth"), lambda r: checks.check_vanishing_cell(r, layers))
    assert verdict.verdict == FAILS
    assert verdict.explanation.startswith("As a whole: does not hold anywhere tested")
    assert "sigmoid gradients vanish: holds everywhere tested" in verdict.explanation
    assert "sigmoid and tanh saturate: does not hold anywhere tested" in verdict.explanation
    sweep = SweepDoc("gradients", "x.toml", "x", {}, {}, 20, {"done": 20})
    (row,) = summary_rows([ClaimDoc(_claim("vanishing"), verdict, sweep, None)])
    assert row["verdict"] == "does not hold"
    assert "(as a whole); conditions where each part holds:" in row["deciding statistic"]
    assert "sigmoid gradients vanish 2/2" in row["deciding statistic"]
    assert "sigmoid and tanh saturate 0/2" in row["deciding statistic"]


# -- 5. claim 7 per condition ------------------------------------------------------------------------------
def test_claim_7_is_judged_per_depth_and_hidden_activation() -> None:
    """Softmax clearly better than identity under relu hidden layers, not under tanh ones (as
    the stored runs at depth 1): a map by depth and hidden activation ('depends on the
    condition'), the pooled verdict beside it."""
    rng = np.random.default_rng(2)
    rows = []
    for depth, hidden, seed in product((1, 2), ("relu", "tanh"), range(5)):
        ratio = 0.5 if hidden == "relu" else 1.0
        for output, factor in (("identity", 1.0), ("sigmoid", 3.0), ("softmax", ratio)):
            value = 1e-3 * factor * math.exp(0.05 * rng.standard_normal())
            rows.append(
                {
                    "run_id": f"{depth}-{hidden}-{seed}-{output}",
                    "status": "done",
                    "dataset": "distributions",
                    "depth": depth,
                    "activation": hidden,
                    "output_activation": output,
                    "loss": "mse",
                    "seed": seed,
                    "test_mse": value,
                    "test_loss": value,
                }
            )
    verdict = _claim("softmax").decide(ClaimContext(_results(pd.DataFrame(rows)), Path("x.toml"), Path("x")))
    assert verdict.verdict == MIXED, verdict.explanation
    where = {(c.where["depth"], c.where["activation"]): c.verdict for c in verdict.conditions}
    assert where[(1, "relu")] == where[(2, "relu")] == HOLDS
    assert where[(1, "tanh")] == where[(2, "tanh")] == UNSURE
    assert "hidden activation" in verdict.explanation
    assert [p.label for p in verdict.parts] == ["softmax beats identity", "softmax beats sigmoid"]  # pooled


# -- 6. claim 6's word --------------------------------------------------------------------------------------
def test_claim_6s_reading_of_generalises_better_is_in_the_methods_and_rule() -> None:
    from actcmp.claims.document import METHODS

    methods = " ".join(METHODS)
    assert "Claim 6 reads 'generalises better' as a lower test loss (a better fit of unseen data)" in methods
    rule = _claim("generalisation").rule
    assert "the test loss decides" in rule and "The gap is reported beside it and decides nothing alone" in rule


# -- 7. seeds that are all equal: no t statistic, decided as the t-test's limit, and said so -----------------
def test_the_same_auroc_on_every_seed_is_never_weaker_than_nearly_the_same() -> None:
    """AUROC 1.000 on every seed (claim A1 on clusters): no t statistic. It read 'one-sided
    p < 0.001' (p = 0, unsaid); then the exact floor (1/8 with 3 seeds: inconclusive) while
    [0.999, 1, 1] held at p = 2e-7 (a review). Now the t-test's limit decides, the text says so
    and prints no p, and equal seeds are never weaker evidence than nearly equal ones."""
    rows = [
        {"run_id": f"r{s}", "status": "done", "dataset": "clusters", "activation": "relu", "seed": s} for s in range(5)
    ]
    runs = pd.DataFrame(rows).assign(anomaly_auroc=1.0)
    for n in (3, 5):
        equal = checks.check_anomaly(runs[runs["seed"] < n])
        nearly = checks.check_anomaly(runs[runs["seed"] < n].assign(anomaly_auroc=[0.999] + [1.0] * (n - 1)))
        assert equal.verdict == nearly.verdict == HOLDS, (equal.explanation, nearly.explanation)
        assert equal.p_value <= nearly.p_value
        assert "no spread" in equal.explanation and "t-test's limit" in equal.explanation
        assert "p < 0.001" not in equal.explanation


def test_the_same_paired_difference_on_every_seed_is_said_and_decided_as_the_limit() -> None:
    """Softmax exactly half identity's error on each seed: paired differences without spread
    (the t-test path, under 6 pairs). With 5 or more pairs the signed-rank test is exact anyway."""
    for n in (3, 5):
        verdict = checks.check_softmax(_softmax_runs([math.log(0.5)] * n))
        (part,) = verdict.parts
        assert part.verdict == HOLDS, part.explanation
        assert "no spread" in part.explanation and "p < 0.001" not in part.explanation
        nearly = checks.check_softmax(_softmax_runs([math.log(0.5) + 1e-6 * i for i in range(n)]))
        assert nearly.verdict == HOLDS and part.p_value <= nearly.parts[0].p_value


def test_sided_tests_never_decide_equal_seeds_more_weakly_than_nearly_equal_ones() -> None:
    """The review's examples, for the helper every direction-deciding claim uses."""
    from actcmp.claims.checks.ranktests import sided_test

    for values in ([0.5, 0.5, 0.5], [0.5] * 5, [-0.2] * 4):
        equal = sided_test(np.array(values))
        jitter = np.array(values) + 1e-9 * np.arange(len(values))
        nearly = sided_test(jitter - jitter.mean() + np.mean(values))
        side = "above" if np.mean(values) > 0 else "below"
        assert equal.decide(0.05, side)[0] == HOLDS
        assert equal.decide(0.05, side)[1] <= nearly.decide(0.05, side)[1]


def test_claim_1s_reported_p_with_equal_seeds_is_the_t_tests_limit() -> None:
    from actcmp.claims.checks.losses import _test_deep_vs_shallow

    group = pd.DataFrame({"depth": [1] * 5 + [4] * 5, "seed": list(range(5)) * 2, "test_loss": [1.0] * 5 + [1.5] * 5})
    nearly = group.assign(test_loss=group["test_loss"] + 1e-9 * group["seed"] * (group["depth"] == 4))
    assert _test_deep_vs_shallow(group) <= _test_deep_vs_shallow(nearly) < 1e-6


# -- 8. claim 2's top group at 3 datasets ------------------------------------------------------------------
def test_claim_2_says_the_top_group_at_three_datasets_is_weak_evidence() -> None:
    """7 activations on 3 datasets: the Nemenyi CD is 5.20 of a possible 6 ranks; the text
    says that being inside the top group is weak evidence."""
    losses = {"relu": 1.2, "leaky_relu": 1.1, "elu": 0.8, "silu": 0.9, "gelu": 1.0, "tanh": 1.5, "sigmoid": 3.0}
    rng = np.random.default_rng(4)
    rows = [
        {
            "run_id": f"{d}-{a}-{s}",
            "status": "done",
            "dataset": d,
            "depth": 1,
            "activation": a,
            "seed": s,
            "test_loss": loss * math.exp(0.02 * rng.standard_normal()),
        }
        for d, (a, loss), s in product(("a", "b", "c"), losses.items(), range(5))
    ]
    verdict = checks.check_relu_default(pd.DataFrame(rows))
    assert "CD 5.20" in verdict.explanation, verdict.explanation
    assert "the critical difference is 5.20 of a possible 6 ranks" in verdict.explanation
    assert "being inside it is weak evidence" in verdict.explanation


def test_claim_3s_rule_states_that_fewer_stuck_is_judged_on_selected_seeds() -> None:
    """A review's simulation: judged only where ReLU's own seeds died (and stuck includes dead),
    'fewer stuck' holds by chance in up to 11% of borderline null cells; the rule says so."""
    rule = _claim("dying").rule
    assert "judged only where (a) held on the same seeds" in rule and "more often than 5%" in rule
