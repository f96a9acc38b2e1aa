"""`actcmp claims` after an audit: an empty --only is refused, --only keeps the other stored
claims in the documents, the claims can be listed, and the documents' texts say what the
checks do (Methods, claim 6's wording, the tests named in verdict texts)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from actcmp.claims import checks
from actcmp.claims.registry import CLAIMS
from actcmp.errors import ConfigError


def _app() -> Any:
    from actcmp.cli import app

    return app


def _errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("actcmp: error:")]


# -- 1. an empty --only -----------------------------------------------------------------------
@pytest.mark.parametrize("only", ["", ",", " , ", " "])
def test_an_empty_only_is_refused_and_trains_nothing(
    only: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--only ''` (a script's empty variable) trained every claim sweep and exited 0."""
    import actcmp.run.sweep as sweep_module

    trained: list[str] = []
    monkeypatch.setattr(sweep_module, "run_sweep", lambda sweep, out, **kw: trained.append(Path(out).name))
    result = CliRunner().invoke(_app(), ["claims", "--only", only, "--out", str(tmp_path / "c"), "-q"])
    errors = _errors(result.output)
    assert result.exit_code == 2 and len(errors) == 1, result.output
    assert "--only: name at least one claim" in errors[0] and "dying" in errors[0]
    assert trained == [] and not (tmp_path / "c").exists()


def test_an_empty_item_in_only_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(_app(), ["claims", "--only", "linear,,dying", "--report-only", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "empty item" in result.output


def test_select_refuses_an_empty_list_it_no_longer_means_every_claim() -> None:
    from actcmp.claims.runner import select

    assert len(select(None)) == len(CLAIMS)
    for empty in ([], [""], [" ", ""]):
        with pytest.raises(ConfigError, match="name at least one claim"):
            select(empty)


# -- 5. listing the claims --------------------------------------------------------------------
def test_claims_list_names_every_claim_and_its_sweep() -> None:
    result = CliRunner().invoke(_app(), ["claims", "--list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for claim in CLAIMS:
        line = next(line for line in lines if line.split()[:2] == [claim.number, claim.key])
        assert claim.sweep in line.split() and claim.title in line


def test_claims_list_json_and_only() -> None:
    result = CliRunner().invoke(_app(), ["claims", "--list", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["schema"] == "actcmp.claims-list/1"
    assert [c["key"] for c in document["claims"]] == [c.key for c in CLAIMS]
    first = document["claims"][0]
    assert set(first) == {"number", "key", "title", "claim", "sweep", "file"}
    assert first["file"] == f"experiments/claims/{CLAIMS[0].sweep}.toml"
    subset = CliRunner().invoke(_app(), ["claims", "--list", "--json", "--only", "3,A1"])
    assert [c["key"] for c in json.loads(subset.output)["claims"]] == ["dying", "anomaly"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        pytest.param(["--json"], "--json goes with --list", id="json-alone"),
        pytest.param(["--list", "--report-only"], "does not go with", id="list-report-only"),
        pytest.param(["--list", "--only", ""], "name at least one claim", id="list-empty-only"),
    ],
)
def test_claims_list_mistakes_exit_2(args: list[str], fragment: str) -> None:
    result = CliRunner().invoke(_app(), ["claims", *args])
    assert result.exit_code == 2 and fragment in result.output, result.output


def test_claims_help_names_every_claim() -> None:
    result = CliRunner().invoke(_app(), ["claims", "--help"], terminal_width=200)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for claim in CLAIMS:
        assert f"{claim.number} {claim.key}" in text, claim.key
    assert "--list" in text


# -- 3. --only keeps the other stored claims ----------------------------------------------------
_LINEAR = (
    'name = "tiny-linear"\ndataset = "breast-cancer"\nactivation = "identity"\noutput_activation = "identity"\n'
    'loss = "mse"\nepochs = 1\nwidth = 8\nbatch_size = 256\nlr = 0.01\nprobe_size = 16\nbottleneck = 2\n'
    "[grid]\ndepth = [1, 2]\nseed = [0, 1]\n"
)
_SOFTMAX = (
    'name = "tiny-softmax"\ndataset = "distributions"\nloss = "mse"\nepochs = 1\nwidth = 8\nbottleneck = 2\n'
    'batch_size = 256\nlr = 0.003\nprobe_size = 16\ndepth = 1\nactivation = "relu"\n'
    '[grid]\nseed = [0, 1]\noutput_activation = ["softmax", "identity"]\n'
)


@pytest.mark.slow
def test_only_keeps_the_other_stored_claims_in_the_documents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`claims --only linear --report-only` rewrote claims.md/html/json with claim 1 alone:
    the other stored claims vanished without a word. They are re-decided from their stored
    runs now, and the claims with nothing stored are named as left out."""
    from actcmp.claims import runner

    sweeps = tmp_path / "sweeps"
    sweeps.mkdir()
    (sweeps / "linear.toml").write_text(_LINEAR)
    (sweeps / "softmax.toml").write_text(_SOFTMAX)
    monkeypatch.setattr(runner, "claims_dir", lambda: sweeps)
    out = tmp_path / "out"
    first = runner.run_claims(out, only=["linear", "softmax"], formats=("png",))
    assert [d.claim.key for d in first.claims] == ["linear", "softmax"] and not first.failed_runs
    assert len(first.left_out) == len(CLAIMS) - 2

    result = CliRunner().invoke(_app(), ["claims", "--only", "linear", "--report-only", "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    md = (out / "claims.md").read_text()
    softmax = next(c for c in CLAIMS if c.key == "softmax")
    assert f"## {softmax.number}. {softmax.title}" in md  # kept, re-decided from its stored runs
    assert "**Left out:** 8 of 10 claims" in md and "3 dying (sweep dying)" in md
    assert f"{softmax.title}</a>" in (out / "claims.html").read_text()
    payload = json.loads((out / "claims.json").read_text())
    assert [c["key"] for c in payload["claims"]] == ["linear", "softmax"]
    assert payload["only"] == ["linear"] and len(payload["left_out"]) == 8
    assert {"key": "dying", "number": "3", "title": CLAIMS[2].title, "sweep": "dying"} in payload["left_out"]
    notes = [line for line in result.output.splitlines() if "written by actcmp claims --only linear:" in line]
    assert len(notes) == 1, result.output
    assert "1 other claim kept (7 softmax), re-decided" in notes[0] and "Left out: 8 of 10 claims" in notes[0]
    # one wording for the same fact: the printed line is the Summary's note without its markup
    assert notes[0].replace(str(out), "OUT") in md.replace("`", "").replace("**", "").replace(str(out), "OUT")

    # with a --set the other claims were not trained with, they match no stored run: left out and
    # named, not shown "re-decided" on nothing (every one of them read "inconclusive", "N runs: N pending")
    other = CliRunner().invoke(
        _app(), ["claims", "--only", "linear", "--set", "epochs=2", "--report-only", "--out", str(out), "-q"]
    )
    assert other.exit_code == 0, other.output
    md = (out / "claims.md").read_text()
    assert f"## {softmax.number}. {softmax.title}" not in md and "softmax (sweep softmax)" in md
    assert "no run of whose sweeps with these settings is stored" in md
    assert [c["key"] for c in json.loads((out / "claims.json").read_text())["left_out"]].count("softmax") == 1

    # the library call without --only's keys in the documents: no note, no left_out
    from actcmp.claims import document

    assert "only" not in json.loads(document.claims_json(first.claims, first.sweeps))


def test_only_note_has_one_wording_in_the_documents_and_on_stdout() -> None:
    """`claims --only` said the same fact twice in two wordings: "also 1 other claim (softmax),
    re-decided from stored runs" on stdout and "the 1 other claims shown (7) are re-decided from
    the runs stored for them" in claims.md. One function words both now; the printed line is the
    document's sentence without its Markdown."""
    from actcmp.claims import document
    from actcmp.claims.runner import ClaimsRun

    by_key = {c.key: c for c in CLAIMS}
    shown, left_out = [by_key["linear"], by_key["softmax"]], [by_key["dying"]]
    markdown = document.only_note(shown, ["linear"], left_out, "res/claims")
    plain = document.only_note(shown, ["linear"], left_out, "res/claims", markdown=False)
    assert plain == markdown.replace("`", "").replace("**", "")
    assert "1 other claim kept (7 softmax), re-decided from the runs stored for it" in plain
    assert "**Left out:** 1 of 3 claims" in markdown and "3 dying (sweep dying)" in plain
    assert "`actcmp claims --only linear`" in markdown
    docs = [document.ClaimDoc(c, checks.no_data(), None, None) for c in shown]  # type: ignore[arg-type]
    run = ClaimsRun(Path("res/claims"), docs, [], chosen=["linear"], left_out=left_out)
    assert run.only_note() == plain


# -- 2. the Methods say what the checks do ----------------------------------------------------------
def _methods() -> str:
    from actcmp.claims.document import METHODS

    return " ".join(METHODS)


def test_methods_say_claim_3_and_4_test_their_thresholds() -> None:
    """The Methods said claim 3 'compares the fixes with thresholds, no test': 'prevent' is a
    one-sided exact signed-rank test against 1%, pooled cell by cell; claim 4's saturation too."""
    methods = _methods()
    assert "compares the fixes with thresholds, no test" not in methods
    assert "'Leaky ReLU and PReLU prevent it' by the same test of each fix's seeds against 1%" in methods
    assert "'prevent' cell by cell" in methods and "in every cell where ReLU's units are shown to die" in methods
    assert "'saturate' for sigmoid and for tanh (one-sided exact signed-rank test" in methods
    # the part that can fail where "prevent" holds by definition (Leaky ReLU's slope is never 0)
    assert "'Leaky ReLU and PReLU leave fewer units stuck' by a paired one-sided exact signed-rank test" in methods
    assert "'fewer units stuck' the same way, cell by cell" in methods
    assert "claim 4 has none" in methods  # no pooled verdict: decide_vanishing is the map alone


def test_methods_say_what_claims_5_6_and_7_pool() -> None:
    """'Claims 5 and 6 test pairs ... pooled over the datasets of a condition': claim 6's
    conditions hold one dataset each (dataset x depth)."""
    from actcmp.claims.decisions import CONDITIONS

    methods = _methods()
    assert "pooled over the datasets of a condition" not in methods
    assert CONDITIONS["generalisation"] == ("dataset", "depth") and CONDITIONS["tanh_sigmoid"] == ("depth",)
    assert "claim 6 judges each dataset and depth on its own, one dataset per condition" in methods
    assert "claim 5 judges each depth over the pairs of all its datasets and seeds" in methods
    assert CONDITIONS["softmax"] == ("depth", "activation")
    assert "claim 7 judges each depth and hidden activation of its one dataset on its own" in methods


def test_methods_do_not_say_a_diverged_run_is_ranked_in_claims_that_drop_it() -> None:
    methods = _methods()
    assert "The other claims test converged runs only" in methods


def test_claim_4s_rule_claims_no_pooled_verdict_it_does_not_compute() -> None:
    from actcmp.claims.context import ClaimContext

    vanishing = next(c for c in CLAIMS if c.key == "vanishing")
    assert "pooled, every cell" not in vanishing.rule and "no pooled verdict" in vanishing.rule
    assert vanishing.decide(ClaimContext(None, Path("x.toml"), Path("x"))).parts == []


# -- 6. claim 6's sentence states its rule ---------------------------------------------------------
def test_claim_6_sentence_states_the_disagreement_rule() -> None:
    claim = next(c for c in CLAIMS if c.key == "generalisation")
    assert "a lower test loss than ReLU" in claim.sentence and "a better fit of unseen data" in claim.sentence
    assert "a lower test loss bought with a larger gap is inconclusive" in claim.sentence


# -- 4. verdict texts name their tests (the lines live in checks/, owned elsewhere) ---------------
def _runs(losses: dict[str, float], *, datasets: tuple[str, ...], seeds: int, gap: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    rows = []
    for dataset in datasets:
        for seed in range(seeds):
            for activation, loss in losses.items():
                test = loss * float(np.exp(rng.normal(0, 0.02)))
                rows.append(
                    {
                        "run_id": f"{dataset}-{seed}-{activation}",
                        "status": "done",
                        "dataset": dataset,
                        "depth": 2,
                        "seed": seed,
                        "activation": activation,
                        "test_loss": test,
                        "final_train_loss": test * (1 - gap),
                        "epochs": 6,
                    }
                )
    return pd.DataFrame(rows)


def test_claim_6s_condition_text_names_its_paired_test() -> None:
    from actcmp.claims.checks import check_generalisation

    five = check_generalisation(_runs({"relu": 1.0, "elu": 0.8, "silu": 0.8}, datasets=("a",), seeds=5))
    assert all("paired t-tests" in part.explanation for part in five.parts)
    six = check_generalisation(_runs({"relu": 1.0, "elu": 0.8, "silu": 0.8}, datasets=("a",), seeds=6))
    assert all("Wilcoxon signed-rank tests" in part.explanation for part in six.parts)


def test_claim_2s_friedman_p_over_few_cells_is_labelled_a_permutation_p() -> None:
    from actcmp.claims.checks import check_relu_default

    losses = {"relu": 1.0, "elu": 0.7, "tanh": 1.5, "sigmoid": 2.0}
    verdict = check_relu_default(_runs(losses, datasets=("a", "b", "c"), seeds=5))
    assert "Friedman permutation p" in verdict.explanation, verdict.explanation


def test_a2s_p_beside_a_share_says_what_it_is() -> None:
    from actcmp.claims.checks import check_compression

    runs = _runs({"relu": 2.0, "elu": 1.0, "identity": 1.0}, datasets=("digits",), seeds=5)
    runs = pd.concat([runs.assign(bottleneck=b, run_id=runs["run_id"] + f"-{b}") for b in (2, 4)])
    verdict = check_compression(runs)
    assert "Holm-adjusted p" in verdict.statistic, verdict.statistic
