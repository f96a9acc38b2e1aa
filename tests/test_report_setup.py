"""The report says what it is: Setup (and setup.json) and Findings first, then contents.

A tiny fabricated store (no training): relu, elu and sigmoid on one dataset, depths 1 and
2, seeds 0-2. elu is within seed noise of relu (not separable after Holm), sigmoid 3x
worse (separable); relu ends with dead units; one sigmoid run diverges, one elu run
fails, one sigmoid run never leaves its initial loss and another ends above the loss of
predicting the training mean.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from actcmp.engine.plain import RunResult
from actcmp.report import document, findings, setup, statistics, tables
from actcmp.store.database import Results, Store, load_results

SEEDS = (0, 1, 2)
DEPTHS = (1, 2)
QUALITY = {"relu": 0.010, "elu": 0.010, "sigmoid": 0.030}
ELU_NOISE = (0.03, -0.02, 0.01)
DIVERGED = ("sigmoid", 2, 2)
FAILED = ("elu", 1, 1)
STUCK = ("sigmoid", 1, 0)  # final validation loss = its value at initialisation
ABOVE_BASELINE = ("sigmoid", 2, 0)  # final validation loss above the mean-predictor loss
ENV = {"actcmp": "0.1.0", "torch": "2.13.0+cpu", "python": "3.11.7", "device": "cpu", "engine": "plain"}
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def fabricate(activation: str, depth: int, seed: int) -> RunResult:
    key = (activation, depth, seed)
    config = {
        "activation": activation,
        "dataset": "blobs",
        "depth": depth,
        "seed": seed,
        "width": 16,
        "bottleneck": 4,
        "init": "xavier" if activation == "sigmoid" else "kaiming",
        "lr": 0.003,
        "optimizer": "adam",
        "momentum": 0.9,
        "batch_size": 32,
        "epochs": 3,
        "probe_every": 2,
        "loss": "mse",
        "output_activation": "identity",
    }
    env = {**ENV, "cpu_capability": "AVX2"} if seed != 2 else dict(ENV)  # seed 2 ran before it was recorded
    run_id = f"{activation}-{depth}-{seed}"
    if key == FAILED:
        return RunResult(run_id, config, "failed", {}, error="RuntimeError: boom", env=env)
    final_loss = QUALITY[activation] * (1 + 0.2 * depth) * (1 + 0.1 * seed)
    if activation == "elu":
        final_loss *= 1 + ELU_NOISE[seed]
    diverged = key == DIVERGED
    epochs = []
    for epoch in range(4):
        value = final_loss if key == STUCK else final_loss * (1 + 4 * math.exp(-epoch))
        epochs += [(epoch, "train_loss", value), (epoch, "val_loss", math.nan if diverged and epoch == 3 else value)]
    final = {
        "final_val_loss": None if diverged else final_loss,
        "test_loss": None if diverged else final_loss,
        "baseline_loss": final_loss / 2 if key == ABOVE_BASELINE else 0.5,
        "dead_fraction_init": 0.0,
        "dead_fraction_final": 0.1 * depth if activation == "relu" else 0.0,
        "saturated_fraction_final": 0.0,
    }
    status = "diverged" if diverged else "done"
    return RunResult(run_id, config, status, final, epochs, [], wall_time_s=0.1, env=env)


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("setup")
    with Store(directory) as store:
        for activation in QUALITY:
            for depth in DEPTHS:
                for seed in SEEDS:
                    store.write_run(fabricate(activation, depth, seed))
    provenance = {"source": "exp.toml", "sweep_file": "/x/exp.toml", "git_commit": COMMIT, "git_dirty": False}
    sweep = {"name": "tiny", "description": "three activations", "fixed": {}, "grid": {}}
    (directory / "sweep.json").write_text(json.dumps({"sweep": sweep, "runs": [], "provenance": provenance}))
    return directory


@pytest.fixture(scope="module")
def results(store_dir: Path) -> Results:
    return load_results(store_dir)


@pytest.fixture(scope="module")
def context(results: Results, store_dir: Path) -> document.ReportContext:
    """The report's context without figures (fast: no matplotlib)."""
    built = {t.name: t for t in tables.build_tables(results)}
    ctx = document.ReportContext(results, store_dir, built, [])
    ctx.extra["statistics"] = statistics.analyse(results)
    ctx.extra["setup"] = setup.collect_setup(results)
    return ctx


def headings(markdown: str, level: str = "## ") -> list[str]:
    return [line.removeprefix(level) for line in markdown.splitlines() if line.startswith(level)]


def test_report_opens_with_setup_findings_and_contents(context: document.ReportContext) -> None:
    markdown = document.render_markdown(context)
    assert headings(markdown)[:4] == ["Setup", "Findings", "Contents", "Summary"]
    contents = markdown.split("## Contents", 1)[1].split("\n## ", 1)[0]
    for title in headings(markdown)[3:]:  # every detail section is in the contents
        assert f"[{title}](#" in contents, title
    assert "[Results per cell](#table-main)" in contents
    # every link in the page lands on an anchor of the page
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', markdown))
    links = set(re.findall(r"\]\(#([^)]+)\)", markdown))
    assert {"setup", "findings", "table-main", "table-status", "table-ranks"} <= anchors
    assert links - anchors <= {f"figure-{stem}" for stem in ("dead_fraction", "heatmap_dead_fraction", "loss_curves")}


def test_setup_states_fields_axes_versions_and_origin(context: document.ReportContext) -> None:
    found = context.extra["setup"]
    assert found["fixed"]["epochs"] == 3 and found["fixed"]["lr"] == 0.003 and found["fixed"]["optimizer"] == "adam"
    assert found["fixed"]["batch_size"] == 32 and found["fixed"]["probe_every"] == 2
    assert found["fixed"]["width"] == 16 and found["fixed"]["bottleneck"] == 4
    assert found["grid"] == {"activation": ["relu", "elu", "sigmoid"], "depth": [1, 2]}
    assert found["per_activation"] == {"init": {"relu": "kaiming", "elu": "kaiming", "sigmoid": "xavier"}}
    assert found["seeds"] == [0, 1, 2]
    assert found["init"]["relu"]["gain"] == pytest.approx(math.sqrt(2))
    assert found["init"]["sigmoid"] == {"rule": "xavier", "gain": 1.0, "std": "gain * sqrt(2 / (fan_in + fan_out))"}
    env = found["environment"]
    assert env["torch"] == "2.13.0+cpu" and env["numpy"] == setup.NOT_RECORDED
    assert env["cpu_capability"] == ["AVX2", setup.NOT_RECORDED]  # some runs predate it
    assert found["provenance"]["git_commit"] == COMMIT and found["provenance"]["when"] == "run time"
    assert found["runs"] == {"stored": 18, "done": 16, "diverged": 1, "failed": 1}
    assert found["dates"]["first"] <= found["dates"]["last"]
    section = "\n".join(document.render_markdown(context).split("## Setup", 1)[1].split("## Findings")[0].splitlines())
    for text in (
        "git commit `0123456789ab` (read at run time)",
        "Seeds: 0, 1, 2 (3 per cell)",
        "sigmoid xavier gain 1.000",
        "| epochs | 3 |",
        "| momentum | 0.9 (not used by adam) |",
        "CPU kernel family (ATen CPU capability) AVX2, not recorded (the runs differ)",
        "numpy not recorded (report made with numpy",
    ):
        assert text in section, text


def test_setup_without_records_says_so(results: Results, tmp_path: Path) -> None:
    bare = Results(results.runs, results.epochs, results.layers, results.planned, tmp_path)  # no env, no sweep.json
    from actcmp.provenance import git_commit

    found = setup.collect_setup(bare)
    assert found["environment"]["torch"] == setup.NOT_RECORDED == found["environment"]["cpu_capability"]
    assert found["sweep"] == {"name": None, "description": None, "all": []}
    items = setup.setup_items(found, "x")
    if git_commit(tmp_path)[0] is None:  # the usual case: a temporary folder outside any repository
        assert found["provenance"]["git_commit"] is None
        assert "Sweep file and git commit: not recorded." in items
    else:  # the commit of the results folder's repository, said to be read now
        assert found["provenance"]["when"] == "report time"
        assert any("(read at report time)" in item for item in items)
    assert any("torch not recorded" in item for item in items)


def test_findings_sentences(context: document.ReportContext) -> None:
    markdown = document.render_markdown(context)
    text = markdown.split("## Findings", 1)[1].split("## Contents")[0]
    # sigmoid's ratio to relu is the same on every seed: no t statistic, so no test shown (it read
    # p = 0, "separable"); at depth 2 it diverged on a seed, and the pair is tested by ranks with it
    assert (
        "[blobs · depth 1](#table-main): best **relu** (0.0132); not separable from it after Holm: elu; "
        "no test (the same ratio to the best on every seed): sigmoid." in text
    )
    depth_2 = next(line for line in text.splitlines() if line.startswith("- [blobs · depth 2](#table-main)"))
    assert depth_2.startswith("- [blobs · depth 2](#table-main): best **relu** (0.0154)"), depth_2
    assert "no test" not in depth_2, depth_2
    assert "[Mean ranks](#table-ranks) of test loss over 2 cells (1 = best): relu 1.00, elu 2.00, sigmoid 3.00." in text
    assert (
        # 2 cells: a permutation p (exactly 1/6 for two cells in the same order of 3; the chi-square said 0.135),
        # which cannot reach 0.05 at all: no verdict either way, never "no significant difference"
        "Friedman test: χ² = 4.00, permutation p = 0.170, optimistic: the cells are all of one dataset, so no test over "
        "datasets is possible (no verdict either way: with 2 cells and 3 activations this test cannot reach p &lt; 0.05, "
        "its smallest p being 0.17)" in text
    )
    assert (
        "relu in 2 of 2 cells (most at blobs · depth 2: 0.20 of hidden units). No dead units at the end: elu, sigmoid."
        in text
    )
    assert "1 run diverged" in text and "sigmoid at blobs · depth 2 (seed 2)" in text
    assert "1 run failed" in text and "elu at blobs · depth 1 (seed 1)" in text
    assert (
        "not below its value at initialisation ([validation loss over training](#figure-loss_curves)): sigmoid at blobs · depth 1 (seed 0)"
        in text
    )
    assert (
        "not below the loss of predicting the training mean" in text and "sigmoid at blobs · depth 2 (seed 0)" in text
    )
    assert "With 3 seeds a paired t-test detects" in text and "3.26 standard deviations" in text
    assert "at Holm's strictest step (α/3) 5.67" in text  # every pair of the cell's 3 activations


def test_findings_when_nothing_went_wrong(results: Results) -> None:
    clean = results.runs[(results.runs["status"] == "done") & (results.runs["activation"] != "sigmoid")]
    subset = Results(clean, results.epochs, results.layers, results.planned, results.directory)
    texts = findings.outcomes_text(subset)
    assert texts[0].startswith("No run diverged or failed")
    assert texts[1].startswith("Every converged run ended with a validation loss below its initial value")


def test_extra_sections_and_findings_hooks(context: document.ReportContext) -> None:
    from actcmp.report.render import Section

    def tuned(_ctx: document.ReportContext) -> Section:
        return Section("Selected hyper-parameters", [("text", "lr 0.003 for every activation")])

    context.extra["extra_findings"] = [lambda _ctx: ["The selected lr lies at the edge of its candidates."]]
    try:
        markdown = document.render_markdown(context, document.report_sections([tuned]))
    finally:
        context.extra["extra_findings"] = []
    assert headings(markdown)[:5] == ["Setup", "Findings", "Contents", "Selected hyper-parameters", "Summary"]
    assert "[Selected hyper-parameters](#selected-hyper-parameters)" in markdown
    assert "edge of its candidates" in markdown.split("## Contents")[0]


def test_html_has_the_same_order_and_working_links(context: document.ReportContext) -> None:
    page = document.render_html(context)
    assert re.findall(r"<h2[^>]*>([^<]+)</h2>", page)[:3] == ["Setup", "Findings", "Contents"]
    ids = set(re.findall(r'id="([^"]+)"', page))
    hrefs = set(re.findall(r'href="#([^"]+)"', page))
    assert '<a href="#table-main">blobs · depth 1</a>' in page
    assert hrefs - ids <= {f"figure-{stem}" for stem in ("dead_fraction", "heatmap_dead_fraction", "loss_curves")}


@pytest.mark.slow
def test_make_report_writes_setup_json_and_links_resolve(store_dir: Path, tmp_path: Path) -> None:
    from actcmp.report import make_report

    directory = tmp_path / "copy"
    shutil.copytree(store_dir, directory)
    paths = make_report(directory, formats=("png",))
    assert directory / "setup.json" in paths
    written = json.loads((directory / "setup.json").read_text())
    assert written["fixed"]["epochs"] == 3 and written["provenance"]["git_commit"] == COMMIT
    page = (directory / "report.html").read_text()
    assert set(re.findall(r'href="#([^"]+)"', page)) <= set(re.findall(r'id="([^"]+)"', page))


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_sweep_provenance_records_the_git_commit(tmp_path: Path) -> None:
    from actcmp.config import apply_overrides, load_sweep
    from actcmp.provenance import sweep_provenance

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-c", "user.email=t@example.org", "-c", "user.name=t", "-C", str(tmp_path), *args],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    git("init", "-q")
    path = tmp_path / "exp.toml"
    path.write_text('name = "exp"\nepochs = 1\n[grid]\nseed = [0, 1]\n')
    git("add", "exp.toml")
    git("commit", "-qm", "sweep")
    sweep = apply_overrides(load_sweep(path), fixed={"lr": 0.01})  # the path survives overrides
    assert sweep.path == path
    recorded = sweep_provenance(sweep.path, sweep.source)
    assert recorded["git_commit"] == git("rev-parse", "HEAD") and recorded["git_dirty"] is False
    assert recorded["sweep_file"] == str(path.resolve())
    path.write_text(path.read_text() + "# edited\n")
    assert sweep_provenance(path, "x")["git_dirty"] is True
    outside = sweep_provenance(None, "command line")
    assert outside["git_commit"] is None and outside["sweep_file"] is None


def test_per_activation_and_per_dataset_fields_follow_the_reports_order() -> None:
    """Not the order the runs were stored in: activations in legend order, datasets sorted."""
    import pandas as pd

    from actcmp.report.setup import run_fields

    rows = [
        {"activation": a, "dataset": d, "seed": 0, "init": "xavier" if a in ("tanh", "sigmoid") else "kaiming",
         "output_activation": "sigmoid" if d == "digits" else "identity"}
        for d in ("mnist1d", "digits", "manifold") for a in ("tanh", "gelu", "relu", "sigmoid")
    ]  # fmt: skip
    fields = run_fields(pd.DataFrame(rows))
    assert list(fields["per_activation"]["init"]) == ["relu", "gelu", "sigmoid", "tanh"]
    assert list(fields["per_dataset"]["output_activation"]) == ["digits", "manifold", "mnist1d"]


def test_seeds_per_cell_are_counted_per_cell_not_over_the_directory() -> None:
    """A shard, an interrupted sweep or several sweeps in one directory leave cells with fewer
    seeds than the directory holds: the Setup says how many each cell has (a review found
    "Seeds: 0, 1 (2 per cell)" for a shard whose cells held one run each)."""
    import pandas as pd

    from actcmp.report.setup import run_fields

    full = [{"activation": a, "depth": d, "seed": s} for a in ("relu", "tanh") for d in (1, 2) for s in (0, 1, 2)]
    assert run_fields(pd.DataFrame(full))["seeds_per_cell"] == [3, 3]
    shard = [r for r in full if r["depth"] == 2 or r["seed"] == 0]  # depth 1: one seed a cell
    fields = run_fields(pd.DataFrame(shard))
    assert fields["seeds"] == [0, 1, 2] and fields["seeds_per_cell"] == [1, 3]
    only_seeds = run_fields(pd.DataFrame([{"activation": "relu", "seed": s} for s in (4, 5)]))
    assert only_seeds["seeds_per_cell"] == [2, 2]


def test_setup_line_says_when_cells_hold_different_seed_counts(context: document.ReportContext) -> None:
    from actcmp.report.setup import setup_items

    def seeds_line(per_cell: list[int]) -> str:
        items = setup_items({**context.extra["setup"], "seeds_per_cell": per_cell}, "d")
        return next(item for item in items if item.startswith("Seeds:"))

    assert context.extra["setup"]["seeds_per_cell"] == [3, 3]  # the fixture: 3 seeds in every cell
    assert seeds_line([3, 3]).endswith("(3 per cell).")
    assert seeds_line([1, 2]).endswith("(1 to 2 per cell: cells differ).")


def test_setup_names_every_sweep_a_directory_holds(context: document.ReportContext) -> None:
    """Runs of several sweeps in one directory (the run notes it): the Setup names them all,
    not only the last one whose sweep.json it reads (a review found one name for three)."""
    from actcmp.report.setup import setup_items

    setup = context.extra["setup"]
    assert setup["sweep"]["all"] == []  # the fixture's store records no sweep: its sweep.json names it
    assert setup_items(setup, "d")[0].startswith("Sweep: `tiny` (three activations)")
    several = {**setup, "sweep": {**setup["sweep"], "name": "b", "all": ["a", "b", "c"]}}
    line = setup_items(several, "d")[0]
    assert line.startswith("Sweeps: `a`, `b`, `c` (this directory holds 3") and "last run into it, `b`" in line
    unreadable = {**setup, "sweep": {"name": None, "description": None, "all": ["a"]}}  # a damaged sweep.json
    assert setup_items(unreadable, "d")[0].startswith("Sweep: `a`")
    unreadable = {**setup, "sweep": {"name": None, "description": None, "all": ["a", "b"]}}
    line = setup_items(unreadable, "d")[0]
    assert line.startswith("Sweeps: `a`, `b`") and "sweep.json could not be read" in line and "last run" not in line


def test_the_sweeps_of_a_store_are_read_first_stored_first(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        for sid, name in (("s1", "a"), ("s2", "b"), ("s3", "a")):  # "a" again: a grid extension
            store.save_sweep(sid, name, {"grid": {}}, [])
    assert setup.sweep_names(Results(*(pd.DataFrame(),) * 4, directory=tmp_path)) == ["a", "b"]
    assert setup.sweep_names(Results(*(pd.DataFrame(),) * 4, directory=tmp_path / "none")) == []


def test_runs_stored_before_the_plain_engine_recorded_itself_read_as_plain(tmp_path: Path) -> None:
    """The Setup reads a run without ``engine`` as merge does: plain (the batched engine
    has always recorded itself); a row whose environment cannot be read stays not recorded."""
    old = {k: v for k, v in ENV.items() if k != "engine"}
    with Store(tmp_path) as store:
        for seed in SEEDS:
            store.write_run(dataclasses.replace(fabricate("relu", 1, seed), env=dict(old)))
        store.write_run(dataclasses.replace(fabricate("elu", 1, 0), env={**old, "engine": "batched"}))
    assert setup.environment(load_results(tmp_path))["engine"] == ["batched", "plain"]
    with Store(tmp_path) as store:
        store.conn.execute("UPDATE runs SET env_json = '{not json' WHERE run_id = 'relu-1-0'")
        store.conn.commit()
    assert setup.environment(load_results(tmp_path))["engine"] == ["batched", "plain", setup.NOT_RECORDED]


@pytest.mark.parametrize(
    ("text", "said"),
    [(None, None), ('{"sweep": {}}', None), ("{not json", "is not readable JSON"), ("[1, 2]", "is not a sweep file")],
)
def test_a_sweep_file_that_cannot_be_read_is_named(tmp_path: Path, text: str | None, said: str | None) -> None:
    if text is not None:
        (tmp_path / "sweep.json").write_text(text)
    problem = setup.sweep_file_problem(tmp_path)
    assert (problem is None) if said is None else (said in str(problem) and "sweep.json" in str(problem))


def test_report_warns_when_its_sweep_file_is_damaged(tmp_path: Path) -> None:
    from fake_results import make_results
    from typer.testing import CliRunner

    from actcmp.cli import app

    directory = make_results(tmp_path / "r", figures=False)
    (directory / "sweep.json").write_text('{"sweep": {"name": "fa')  # cut off mid-write by another tool
    result = CliRunner().invoke(app, ["report", str(directory), "--formats", "png", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "actcmp: warning:" in result.output and "sweep.json: is not readable JSON" in result.output
    assert "Sweep file and git commit: not recorded" in (tmp_path / "out" / "report.md").read_text()


def test_findings_name_no_best_where_no_run_of_the_cell_learned(tmp_path: Path) -> None:
    """A cell whose converged runs all ended at their initial loss gets no "best" activation
    (the Findings also list those runs as not learning); the other cell keeps its best."""
    with Store(tmp_path) as store:
        for activation in ("relu", "elu"):
            for depth in DEPTHS:
                for seed in SEEDS:
                    run = fabricate(activation, depth, seed)
                    if depth == 1 and run.status == "done":  # flat curves: final validation loss = initial
                        flat = run.final["final_val_loss"]
                        epochs = [(e, m, flat) for e, m, _ in run.epochs]
                        run = dataclasses.replace(run, epochs=epochs, final={**run.final, "baseline_loss": 0.5})
                    store.write_run(run)
    results = load_results(tmp_path)
    context = document.ReportContext(results, tmp_path, {t.name: t for t in tables.build_tables(results)}, [])
    context.extra["statistics"] = statistics.analyse(results)
    context.extra["setup"] = setup.collect_setup(results)
    markdown = document.render_markdown(context)
    findings_text = markdown.split("## Findings", 1)[1].split("\n## ", 1)[0]
    depth1 = [line for line in findings_text.splitlines() if "depth 1" in line and line.startswith("- ")]
    depth2 = [line for line in findings_text.splitlines() if "depth 2" in line and line.startswith("- ")]
    assert depth1 and all("no converged run learned" in line and "best" in line for line in depth1[:1]), depth1
    assert "**" not in depth1[0]  # no activation in bold as the best
    assert depth2 and "best **" in depth2[0], depth2
    # the results table, which still bolds that cell's least bad run, says so in a note
    main = next(t for t in tables.build_tables(results) if t.name == "main")
    notes = [n for n in main.notes if n.startswith("No converged run learned in")]
    assert len(notes) == 1 and "depth 1" in notes[0] and "depth 2" not in notes[0], main.notes


def test_ranks_sentence_adds_the_top_group_over_datasets_where_cells_share_them() -> None:
    """Cells of 3 datasets x 3 depths: the Findings give the (optimistic) top group over cells
    and the one within the CD over the datasets as blocks, which the claims decide with."""
    from fake_results import three_dataset_runs

    from actcmp.analysis import stats
    from actcmp.report.statistics import Statistics

    rows = three_dataset_runs()
    result = stats.friedman(pd.DataFrame(rows), "test_loss")
    over = result.decisive_blocks
    assert over is not None
    text = findings.ranks_text(Statistics(result, n_depths=3, factor=2.0))
    assert text is not None
    assert f"over the 3 datasets as blocks (the test that is not optimistic) the CD is {over.cd:.2f} ranks" in text
    assert f"within it of the best ({next(iter(over.mean_ranks))})" in text
    assert f"within the CD of the best ({result.best})" in text  # the one over cells stays, said optimistic


def test_a_literature_setup_states_its_reference_and_deviations(tmp_path: Path) -> None:
    """``reference`` and ``deviations`` at the top of a sweep file reach sweep.json and the
    report's Setup, and change no id (they describe the runs, not what they compute)."""
    from actcmp.config import load_sweep, sweep_from_dict
    from actcmp.errors import ConfigError
    from actcmp.run.plan import sweep_id
    from actcmp.run.sweep import run_sweep

    base = 'name = "lit"\ndataset = "clusters"\nepochs = 0\nwidth = 8\nbottleneck = 2\n[grid]\nactivation = ["relu"]\n'
    cited = (
        'reference = "A. Author, Some Paper, 2011."\ndeviations = ["data: clusters, not MNIST;", "no pretraining"]\n'
        + base
    )
    (tmp_path / "plain.toml").write_text(base)
    (tmp_path / "cited.toml").write_text(cited)
    plain, sweep = load_sweep(tmp_path / "plain.toml"), load_sweep(tmp_path / "cited.toml")
    assert sweep_id(plain) == sweep_id(sweep) and sweep.to_dict() == plain.to_dict()
    assert sweep.literature() == {"reference": "A. Author, Some Paper, 2011.", "deviations": sweep.deviations}
    # through the command line too (the CLI's sweep is the file's with its options applied)
    from actcmp.overrides import sweep_from_command_line

    assert sweep_from_command_line(str(tmp_path / "cited.toml")).literature() == sweep.literature()
    edited = sweep_from_command_line(str(tmp_path / "cited.toml"), epochs=1).literature()
    assert edited["reference"] == sweep.reference and edited["deviations"][-1] == "command line: epochs=1"
    for bad, said in (({"reference": 3}, "reference: give"), ({"deviations": [1]}, "deviations: give a list")):
        with pytest.raises(ConfigError, match=said):
            sweep_from_dict({**bad, "activation": "relu"}, where="x.toml")
    out = tmp_path / "out"
    run_sweep(sweep, out, engine="plain")
    recorded = json.loads((out / "sweep.json").read_text())["provenance"]
    assert recorded["reference"] == "A. Author, Some Paper, 2011." and len(recorded["deviations"]) == 2
    found = setup.collect_setup(load_results(out))
    items = setup.setup_items(found, str(out))
    assert "Reproduces: A. Author, Some Paper, 2011." in items
    assert "Differs from it: data: clusters, not MNIST; no pretraining." in items


def test_a_field_without_effect_where_its_controller_is_zero_is_not_an_axis() -> None:
    """Runs without a penalty store activity_l1_on at its default (code), whatever the file
    said: a sweep of activity_l1 = [0, 0.01] with activity_l1_on = "hidden" has one setting
    where it applies, not an axis "code, hidden" (a review found the sparse setup's report
    inventing one)."""
    base = {"activation": "relu", "dataset": "x", "depth": 2, "seed": 0, "input_noise": 0.0}
    rows = [
        {**base, "run_id": "a", "activity_l1": 0.0, "activity_l1_on": "code", "input_noise_kind": "gaussian"},
        {**base, "run_id": "b", "activity_l1": 0.01, "activity_l1_on": "hidden", "input_noise_kind": "gaussian"},
        {**base, "run_id": "c", "activity_l1": 0.001, "activity_l1_on": "hidden", "input_noise_kind": "gaussian"},
    ]
    found = setup.run_fields(pd.DataFrame(rows))
    assert found["grid"] == {"activity_l1": [0.0, 0.001, 0.01]}
    assert found["fixed"]["activity_l1_on"] == "hidden"
    rows[2]["activity_l1_on"] = "code"  # where it applies, it varies: an axis
    assert "activity_l1_on" in setup.run_fields(pd.DataFrame(rows))["grid"]


def _store_tuned_version(directory: Path, candidates: list[float], source: str, description: str | None = None) -> None:
    """One version of the tiny tuned sweep ``tiny`` stored in ``directory`` as ``actcmp run``
    stores it before training (no run trained): its sweep and plan in the store, and sweep.json
    (the last run's sweep file and git commit)."""
    from test_tuned_report_cells import tiny_tuned_sweep

    from actcmp.run.sweep import sweep_id
    from actcmp.run.tune import plan_tune

    sweep = tiny_tuned_sweep("tiny", 3.0, candidates, ["relu", "tanh"])
    if description is not None:
        sweep.description = description
    plan = plan_tune(sweep)
    provenance = {"source": source, "sweep_file": f"/x/{source}", "git_commit": COMMIT, "git_dirty": False}
    with Store(directory) as store:
        store.save_sweep(sweep_id(sweep), sweep.name, sweep.to_dict(), plan.static)
        store.write_sweep_file(sweep.to_dict(), plan.static, provenance)


def _versions_setup(directory: Path) -> tuple[dict[str, object], list[str]]:
    from actcmp.report import tune as tune_report

    found = setup.collect_setup(load_results(directory), tune_report.load_tunes(directory))
    return found, setup.setup_items(found, str(directory))


def test_setup_says_how_many_versions_of_a_tuned_sweep_and_which_the_sweep_file_is(tmp_path: Path) -> None:
    """A tuned sweep run again into its directory with other candidates is a second version of it
    (the tuned comparison shows each apart), but sweep.json holds the sweep file and git commit of
    the last run only: the Setup named that file alone, as if it were the whole directory's. It now
    says how many versions the store records and which one the sweep file is, and that the store
    records no sweep file of the others."""
    directory = tmp_path / "tiny"
    _store_tuned_version(directory, [0.1, 0.3], "tiny.toml")
    found, items = _versions_setup(directory)
    assert "versions" not in found["sweep"]  # one version: the Setup (and setup.json) as before
    assert not any(item.startswith("Versions of a tuned sweep") for item in items)

    _store_tuned_version(directory, [0.1, 0.3, 1.0], "wider.toml")
    found, items = _versions_setup(directory)
    assert found["sweep"]["versions"] == {"tiny": 2} and found["sweep"]["sweep_file_version"] == 2
    assert items[0] == f"Sweep: `tiny`; results in `{directory}`."
    assert items[1] == (
        "Versions of a tuned sweep (one name run again with other candidates, grid or settings): 2 of `tiny`, each "
        "tuned, selected and compared on its own in the [tuned comparison](#tuned-comparison). The store records "
        "each version's settings, not its sweep file or git commit; the sweep file below, from sweep.json (the last "
        "run into the directory), is that of version 2 of 2 of `tiny`."
    )
    assert items[2].startswith("Sweep file: `/x/wider.toml`; git commit `0123456789ab`")

    # the first version run again (a resume): its sweep file is the last, and the numbering stays
    _store_tuned_version(directory, [0.1, 0.3], "tiny.toml")
    found, items = _versions_setup(directory)
    assert found["sweep"]["versions"] == {"tiny": 2} and found["sweep"]["sweep_file_version"] == 1
    assert items[1].endswith("is that of version 1 of 2 of `tiny`.") and items[2].startswith(
        "Sweep file: `/x/tiny.toml`"
    )
    # a new description alone plans the same runs: the same version (1), no third one
    _store_tuned_version(directory, [0.1, 0.3], "described.toml", description="again")
    found, items = _versions_setup(directory)
    assert found["sweep"]["versions"] == {"tiny": 2} and found["sweep"]["sweep_file_version"] == 1
    # a damaged sweep.json: the count still comes from the store, the file is not known
    (directory / "sweep.json").write_text("{", encoding="utf-8")
    found, items = _versions_setup(directory)
    assert found["sweep"]["versions"] == {"tiny": 2} and found["sweep"]["sweep_file_version"] is None
    assert items[1].endswith("is that of not known: sweep.json could not be read.")
