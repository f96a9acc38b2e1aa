"""Claim 3 (dying ReLU), review 15: (a) ReLU's final dead share, what "units die" tests against
5%, counts units dead from initialisation: the dead-fraction table shows the share at
initialisation beside it, and the "units die" texts say per condition whether the final share
lies above or below it (descriptive: the verdicts are unchanged); (b) "dying hurts" is a
within-condition rank correlation with a permutation p that permutes within conditions, not a
Spearman rho pooled over conditions whose learning rate and depth drive both sides (Simpson's
paradox). Expected numbers are computed here independently (scipy, enumeration by hand)."""

from __future__ import annotations

import math
from itertools import permutations, product
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from actcmp.claims import checks
from actcmp.claims.checks import FAILS, HOLDS, UNSURE
from actcmp.claims.checks.units import HURTS_STATISTIC, stratified_spearman
from actcmp.claims.context import ClaimContext
from actcmp.claims.registry import CLAIMS
from actcmp.claims.tables import DEAD_INIT_COLUMN
from actcmp.engine.plain import RunResult
from actcmp.store.database import Store, load_results

DIE = "ReLU units die"
HURTS = "dying hurts reconstruction"
FROM_INIT = "was dead from the start"
DYING = next(c for c in CLAIMS if c.key == "dying")


def _part(verdict: checks.Verdict, label: str) -> checks.Verdict:
    return next(p for p in verdict.parts if p.label == label)


# -- (a) the share dead at initialisation beside the final one ----------------------------------------
#: per lr: ReLU's (init, final) dead share per seed; at lr 0.001 the final share (14%, every
#: seed above 5%: "units die" holds) lies below the 27% dead at initialisation
RELU_DEAD = {
    0.001: ([0.27] * 5, [0.12, 0.13, 0.14, 0.15, 0.16]),
    0.01: ([0.27] * 5, [0.38, 0.39, 0.40, 0.41, 0.42]),
}


def _store(directory: Path) -> Path:
    """A results directory written through the store (no training): one condition per lr
    (torch-default init, depth 4), ReLU, Leaky ReLU and PReLU over 5 seeds; the fixes never
    dead, ReLU's shares from :data:`RELU_DEAD`."""
    runs = []
    for lr, activation, seed in product(RELU_DEAD, ("relu", "leaky_relu", "prelu"), range(5)):
        start, end = (RELU_DEAD[lr][0][seed], RELU_DEAD[lr][1][seed]) if activation == "relu" else (0.0, 0.0)
        config = {
            "run_id": f"{activation}-{lr}-{seed}".ljust(16, "0")[:16],
            "activation": activation,
            "dataset": "manifold",
            "depth": 4,
            "seed": seed,
            "lr": lr,
            "epochs": 8,
            "init": "torch-default",
        }
        final = {
            "test_loss": 0.1 + 0.01 * seed + (0.05 if activation == "relu" else 0.0),
            "final_train_loss": 0.1,
            "dead_fraction_init": start,
            "dead_fraction_final": end,
            "saturated_fraction_final": 0.0,
        }
        runs.append(RunResult(run_id=config["run_id"], config=config, status="done", final=final, wall_time_s=1.0))
    with Store(directory) as store:
        store.save_sweep("dying1", "dying", {"grid": {}}, [r.config for r in runs])
        for run in runs:
            store.write_run(run)
    return directory


def test_dying_table_shows_relus_dead_share_at_initialisation_beside_the_final_one(tmp_path: Path) -> None:
    """ReLU's final 14% (above 5%) below its 27% at initialisation: the table shows both, and
    says which way it moved."""
    results = load_results(_store(tmp_path / "dying"))
    (title, table), *_ = DYING.tables(ClaimContext(results, Path("x.toml"), tmp_path))
    rows = table.set_index("lr")
    assert rows.loc[0.001, "relu"] == "14.0%"
    assert rows.loc[0.001, DEAD_INIT_COLUMN] == "27.0% → 14.0% (fell)"
    assert rows.loc[0.01, DEAD_INIT_COLUMN] == "27.0% → 40.0% (rose)"
    assert "at initialisation" in title and FROM_INIT in title


def test_units_die_says_where_the_units_were_dead_from_initialisation(tmp_path: Path) -> None:
    """The verdict is unchanged (every seed above 5%: "units die" holds in both conditions),
    but the text says at lr 0.001 that the share fell from initialisation (the units were dead
    from it), at lr 0.01 that it rose (units died in training); the pooled part counts both."""
    results = load_results(_store(tmp_path / "dying"))
    verdict = DYING.decide(ClaimContext(results, Path("x.toml"), tmp_path))
    cells = {c.where["lr"]: _part(c, DIE) for c in verdict.conditions}
    assert {lr: c.verdict for lr, c in cells.items()} == {0.001: HOLDS, 0.01: HOLDS}
    fell, rose = cells[0.001].explanation, cells[0.01].explanation
    assert "14.0% of its units dead after training" in fell
    assert "fell during training: 27.0% at initialisation, 14.0% after training" in fell and FROM_INIT in fell
    assert "lower on 5 of 5" in fell
    assert "rose during training: 27.0% at initialisation, 40.0% after training" in rose
    assert "more units were dead at the end than at the start (a net rise)" in rose and FROM_INIT not in rose
    pooled = _part(verdict, DIE).explanation
    assert "above it in 1 of 2 cells" in pooled and "below it in 1" in pooled and "27.0% → 14.0%" in pooled


def test_units_die_texts_without_a_stored_init_share_are_as_before() -> None:
    """No ``dead_fraction_init`` (older stores, hand-made frames): no sentence about it, and
    the table has no init column."""
    frame = pd.DataFrame(
        [
            {"run_id": f"{a}-{s}", "activation": a, "seed": s, "status": "done", "depth": 4, "lr": 0.01}
            | {"dead_fraction_final": 0.3 if a == "relu" else 0.0, "test_loss": 0.1}
            for a in ("relu", "leaky_relu")
            for s in range(5)
        ]
    )
    text = _part(checks.check_dying_cell(frame), DIE).explanation
    assert "initialisation" not in text and "30.0% of its units dead after training" in text


def test_a_final_share_equal_to_the_init_share_is_called_the_same() -> None:
    frame = pd.DataFrame(
        [
            {"run_id": f"relu-{s}", "activation": "relu", "seed": s, "status": "done", "depth": 4, "lr": 0.01}
            | {"dead_fraction_init": init, "dead_fraction_final": final}
            for s, (init, final) in enumerate([(0.1, 0.2), (0.2, 0.1), (0.15, 0.15), (0.1, 0.1), (0.2, 0.2)])
        ]
    )
    text = _part(checks.check_dying_cell(frame), DIE).explanation
    assert "about what it was at initialisation: 15.0% at initialisation, 15.0% after training" in text
    assert "may be mostly units dead from the start" in text


# -- (b) dying hurts: within conditions -----------------------------------------------------------
def _simpson(within: float) -> pd.DataFrame:
    """Six conditions (lr x depth), five seeds each: across conditions both ReLU's dead
    fraction and its loss over Leaky ReLU's rise together; within each, the loss ratio moves
    with the dead fraction as ``within`` says (-1: more dead units, a *better* loss)."""
    rows = []
    for c, (lr, depth) in enumerate(product((0.001, 0.01, 0.03), (2, 4))):
        for seed in range(5):
            dead = 0.1 + 0.1 * c + 0.01 * seed
            ratio = math.exp(0.3 * c + within * 0.02 * seed)
            for activation, loss, d in (("relu", 0.1 * ratio, dead), ("leaky_relu", 0.1, 0.0)):
                rows.append(
                    {
                        "run_id": f"{activation}-{lr}-{depth}-{seed}",
                        "status": "done",
                        "activation": activation,
                        "dataset": "manifold",
                        "lr": lr,
                        "depth": depth,
                        "seed": seed,
                        "test_loss": loss,
                        "dead_fraction_final": d,
                        "saturated_fraction_final": 0.0,
                    }
                )
    return pd.DataFrame(rows)


def test_simpsons_paradox_does_not_hold_where_every_condition_says_the_opposite() -> None:
    """Pooled over the six conditions the Spearman rho is strongly positive (the old rule:
    "holds"); within every condition more dead units go with a better loss: the part must not
    hold (here: does not hold, rho = -1 within), and the pooled rho is only a note."""
    runs = _simpson(within=-1.0)
    relu = runs[runs.activation == "relu"].reset_index(drop=True)
    pooled = sps.spearmanr(relu["dead_fraction_final"], np.log(relu["test_loss"] / 0.1))
    assert pooled.statistic > 0.9 and pooled.pvalue < 0.001  # the old pooled test would say "holds"
    part = _part(checks.check_dying(runs), HURTS)
    assert part.verdict == FAILS and part.verdict != HOLDS
    assert part.statistic == HURTS_STATISTIC and part.value == pytest.approx(-1.0)
    assert part.p_value == pytest.approx(1 / 10_001)  # no within-condition draw reaches |rho| = 1 here
    assert "within-condition Spearman rho = -1.0" in part.explanation
    assert "permuted within each condition, 10,000 seeded draws" in part.explanation
    assert "more dead units go with a better loss" in part.explanation
    assert f"Pooled over the conditions, Spearman rho = {pooled.statistic:.2f}" in part.explanation
    assert "a note only" in part.explanation


def test_no_link_within_conditions_is_inconclusive_however_strong_the_pooled_one() -> None:
    """Within each condition the loss ratio does not follow the dead fraction (a pattern that
    cancels: ranks 2 5 3 1 4 against 1 2 3 4 5, rho 0); pooled the link is as strong as above."""
    runs = _simpson(within=0.0)
    order = {0: 1, 1: 4, 2: 2, 3: 0, 4: 3}
    relu = runs.activation == "relu"
    runs.loc[relu, "test_loss"] = runs.loc[relu, "test_loss"] * np.exp(0.001 * runs.loc[relu, "seed"].map(order))
    part = _part(checks.check_dying(runs), HURTS)
    assert part.verdict == UNSURE and "no clear link within a condition" in part.explanation
    assert part.value == pytest.approx(0.0, abs=1e-12) and part.p_value == 1.0


def test_more_dead_units_and_a_worse_loss_within_conditions_holds() -> None:
    part = _part(checks.check_dying(_simpson(within=1.0)), HURTS)
    assert part.verdict == HOLDS and part.value == pytest.approx(1.0)
    assert "more dead units go with a worse loss" in part.explanation


def test_stratified_spearman_is_spearman_within_one_stratum_and_ignores_the_strata_levels() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=12), rng.normal(size=12)
    rho, _p, n, used = stratified_spearman(x, y, ["a"] * 12)
    assert rho == pytest.approx(sps.spearmanr(x, y).statistic) and n == 12 and used == 1
    # two strata: adding a constant per stratum changes nothing (only the order within each counts)
    strata = ["a"] * 6 + ["b"] * 6
    shifted = y + np.where(np.array(strata) == "b", 100.0, 0.0)
    assert stratified_spearman(x, y, strata) == stratified_spearman(x, shifted, strata)
    # seeded: the same p every time
    assert stratified_spearman(x, y, strata)[1] == stratified_spearman(x, y, strata)[1]


def test_stratified_permutation_p_matches_the_exact_enumeration_within_strata() -> None:
    """Two strata of 4 (24 x 24 within-stratum orderings, enumerated here): the seeded Monte
    Carlo p is within its sampling error of the exact two-sided p."""
    x = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    y = np.array([1.0, 3.0, 2.0, 4.0, 2.0, 1.0, 4.0, 3.0])
    strata = ["a"] * 4 + ["b"] * 4
    rho, p, *_ = stratified_spearman(x, y, strata)
    ra = [sps.rankdata(x[:4]) - 2.5, sps.rankdata(x[4:]) - 2.5]
    rb = [sps.rankdata(y[:4]) - 2.5, sps.rankdata(y[4:]) - 2.5]
    observed = float(ra[0] @ rb[0] + ra[1] @ rb[1])
    sums = [
        float(ra[0] @ rb[0][list(i)] + ra[1] @ rb[1][list(j)])
        for i in permutations(range(4))
        for j in permutations(range(4))
    ]
    exact = float(np.mean([abs(s) >= abs(observed) - 1e-9 for s in sums]))
    assert rho == pytest.approx(observed / 10.0)  # each stratum's centred ranks: sum of squares 5
    assert p == pytest.approx(exact, abs=0.015)


def test_the_rule_and_statistic_name_the_within_condition_test() -> None:
    assert "within-condition" in DYING.statistic and "permutation p within conditions" in DYING.statistic
    assert "(4) Within conditions" in DYING.rule and "permuting the loss ratios within each condition" in DYING.rule
    assert "share at initialisation" in DYING.rule
