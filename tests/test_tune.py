"""The [tune] protocol: validation, planning, selection from the store, resume, shards,
dry-run counts, status and the report section."""

from __future__ import annotations

import json
import math
import signal
from pathlib import Path
from typing import Any

import pytest
from frames import assert_same_results
from typer.testing import CliRunner

from actcmp.analysis.status import cell_status
from actcmp.cli import app
from actcmp.config import RunConfig, load_sweep, sweep_from_dict
from actcmp.engine.plain import RunResult
from actcmp.errors import ConfigError
from actcmp.run.sweep import plan_runs, run_sweep, sweep_id
from actcmp.run.tune import (
    edge_fields,
    evaluation_runs,
    plan_tune,
    select,
    select_from_store,
    selected_plan,
    tune_status,
)
from actcmp.shard import assign_shards
from actcmp.store.database import Store, load_results
from actcmp.tune_spec import TuneSpec

REPO = Path(__file__).resolve().parent.parent
runner = CliRunner()

#: a tiny tuned sweep: 2 activations x 1 cell, 3 lr candidates x 2 tuning seeds, 2 evaluation seeds
TINY = """
name = "tiny"
epochs = 1
width = 16
bottleneck = 4
batch_size = 128
probe_size = 64
[grid]
dataset = ["digits"]
depth = [1]
seed = [0, 1]
activation = ["relu", "tanh"]
[tune]
lr = [1e-3, 1e-2, 3e-2]
seeds = [100, 101]
"""
PLAIN = ["--engine", "plain", "--quiet"]


def write(tmp_path: Path, text: str, name: str = "sweep.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def check_one_line(output: str, exit_code: int, fragment: str) -> None:
    assert exit_code == 2, output
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("actcmp: error:")]
    assert len(errors) == 1, output
    assert fragment in errors[0], f"{fragment!r} not in {errors[0]!r}"


# ---------------------------------------------------------------------------- validation


def _tiny_with(tune: str, grid_extra: str = "") -> str:
    head, _ = TINY.split("[tune]")
    return head.replace("[grid]\n", f"[grid]\n{grid_extra}") + "[tune]\n" + tune


@pytest.mark.parametrize(
    ("text", "args", "fragment"),
    [
        pytest.param(
            _tiny_with("lr = [1e-3]\nseeds = [1, 7]\n"), [], "tune.seeds: 1 is also evaluation seed", id="overlap"
        ),
        pytest.param(_tiny_with("lr = []\nseeds = [100]\n"), [], "tune.lr: empty candidate list", id="empty-list"),
        pytest.param(
            _tiny_with("lr = [1e-3]\nseeds = [100]\n", "lr = [0.1]\n"),
            [],
            "tune.lr: lr is also a grid axis",
            id="tuned-and-grid",
        ),
        pytest.param(_tiny_with("lrr = [1e-3]\nseeds = [100]\n"), [], "did you mean 'lr'", id="unknown-key"),
        pytest.param(
            _tiny_with("lr = [1e-3]\nseeds = [100]\nselect_by = 'test_loss'\n"), [], "never used", id="test-loss"
        ),
        pytest.param(_tiny_with("seed = [5]\nseeds = [100]\n"), [], "tune.seed: cannot be tuned", id="seed-tuned"),
        # the split's validation rows come before its test rows: another val_fraction selects on test rows
        pytest.param(
            _tiny_with("val_fraction = [0.15, 0.3]\nseeds = [100]\n"),
            [],
            "tune.val_fraction: cannot be tuned: the split is shared",
            id="val-fraction-tuned",
        ),
        pytest.param(
            _tiny_with("test_fraction = [0.15, 0.3]\nseeds = [100]\n"), [], "tune.test_fraction: cannot", id="test-fr"
        ),
        pytest.param(_tiny_with("loss = ['mse', 'bce']\nseeds = [100]\n"), [], "not comparable", id="loss-tuned"),
        pytest.param(_tiny_with("lr = [1e-3]\n"), [], "tune.seeds: missing", id="no-seeds"),
        pytest.param(
            _tiny_with("lr = [1e-3]\nseeds = []\n"), [], "tune.seeds: give a non-empty list", id="empty-seeds"
        ),
        pytest.param(_tiny_with("lr = [-1.0]\nseeds = [100]\n"), [], "tune.lr", id="bad-value"),
        pytest.param(_tiny_with("seeds = [100]\n"), [], "tune: no field to tune", id="nothing-tuned"),
        pytest.param(
            _tiny_with("lr = [1e-3]\nseeds = [100]\n"), [], "tune: one candidate (lr = 0.001): nothing", id="one"
        ),
        pytest.param(TINY, ["--seeds", "99,100"], "tune.seeds: 100 is also evaluation seed", id="cli-seeds-overlap"),
        pytest.param(TINY, ["--grid", "lr=0.1,0.01"], "tune.lr: lr is also a grid axis", id="cli-grid-on-tuned"),
    ],
)
def test_bad_tune_tables_are_refused_in_one_line(tmp_path: Path, text: str, args: list[str], fragment: str) -> None:
    path = write(tmp_path, text)
    result = runner.invoke(app, ["run", str(path), "--dry-run", *args])
    check_one_line(result.output, result.exit_code, fragment)


def test_overlap_with_the_default_seed_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"tune\.seeds: 0 is also evaluation seed"):
        sweep_from_dict({"grid": {"activation": ["relu"]}, "tune": {"lr": [1e-3], "seeds": [0, 1]}})


def test_several_tuned_fields_are_their_cartesian_product() -> None:
    spec = TuneSpec.model_validate({"lr": [1e-3, 1e-2], "weight_decay": [0.0, 1e-4, 1e-3], "seeds": [9]})
    combos = spec.combos()
    assert len(combos) == 6
    assert combos[0] == {"lr": 1e-3, "weight_decay": 0.0} and combos[1] == {"lr": 1e-3, "weight_decay": 1e-4}
    assert spec.to_dict() == {
        "lr": [1e-3, 1e-2],
        "weight_decay": [0.0, 1e-4, 1e-3],
        "seeds": [9],
        "select_by": "val_loss",
        "record": "val_loss",  # the tuning runs' record (stored: absent means "full")
    }


def test_a_sweep_without_tune_keeps_its_id_and_plan() -> None:
    sweep = load_sweep(REPO / "experiments" / "smoke.toml")
    assert "tune" not in sweep.to_dict()
    # the id every stored smoke sweep was saved under before [tune] existed
    assert sweep_id(sweep) == _old_sweep_id(sweep)


def _old_sweep_id(sweep: Any) -> str:
    from actcmp.config import config_hash

    return config_hash(
        {"name": sweep.name, "description": sweep.description, "fixed": sweep.fixed, "grid": sweep.grid}
    )[:12]


# ---------------------------------------------------------------------------- planning


def test_the_bundled_tuned_sweep() -> None:
    sweep = load_sweep(REPO / "experiments" / "tuned.toml")
    assert sweep.tune is not None and sweep.tune.fields == ("lr",)
    grid = sweep.grid
    units = len(grid["dataset"]) * len(grid["depth"]) * len(grid["activation"])
    assert units * len(sweep.tune.combos()) * len(sweep.tune.seeds) == 224
    assert not set(sweep.tune.seeds) & set(grid["seed"])
    assert sweep.fixed["lr"] in sweep.tune.candidates["lr"]  # the common value is a candidate too


def test_plan_counts_units_candidates_and_seeds(tmp_path: Path) -> None:
    sweep = load_sweep(write(tmp_path, TINY))
    plan = plan_tune(sweep)
    assert len(plan.tuning) == 2 * 3 * 2  # activations x candidates x tuning seeds
    assert {c["seed"] for c in plan.tuning} == {100, 101}
    assert {c["role"] for c in plan.tuning} == {"tune"}
    assert len(plan.common) == 2 * 2 and {c["lr"] for c in plan.common} == {1e-3}
    assert len({c["tune_unit"] for c in plan.static}) == 2
    # the common runs are the sweep's grid runs, all on the tuned sweep's one split
    assert {c["split_seed"] for c in plan.static} == {0}
    assert [c["run_id"] for c in plan.common] == [c["run_id"] for c in plan_runs(sweep)]


def test_dry_run_counts_tuning_and_evaluation_runs(tmp_path: Path) -> None:
    path = write(tmp_path, TINY)
    result = runner.invoke(app, ["run", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "sweep 'tiny': 16 runs + up to 4 once selected" in result.output
    assert "tuning runs: 12 (2 cell-activation pairs x 3 candidates x 2 tuning seeds)" in result.output
    assert "evaluation runs: 4 at the common value lr=0.001 + up to 4 at the selected values" in result.output
    shard = runner.invoke(app, ["run", str(path), "--dry-run", "--shard", "1/2"])
    assert "tuning runs: 6 (1 cell-activation pairs" in shard.output, shard.output


def test_dry_run_of_a_tuned_sweep_counts_its_stored_runs(tmp_path: Path) -> None:
    path = write(tmp_path, TINY)
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(path), "--out", str(out), "--dry-run"])
    assert "already stored" not in result.output  # no store yet
    run_sweep(load_sweep(path), out, engine="plain", shard=(1, 2))  # half the tuning units
    result = runner.invoke(app, ["run", str(path), "--out", str(out), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "already stored: 6 of 12 tuning runs, 2 of 4 evaluation runs at the common value" in result.output
    assert (
        json.loads(runner.invoke(app, ["run", str(path), "--out", str(out), "--dry-run", "--json"]).output)["tune"][
            "tuning_stored"
        ]
        == 6
    )


def test_tuned_runs_count_against_max_runs_before_anything_is_expanded(tmp_path: Path) -> None:
    """--max-runs bounds every run a tuned sweep may plan (tuning runs: grid points without
    the seed axis x candidate combinations x tuning seeds; evaluation: up to twice the grid),
    counted from lengths: 10^6 candidate combinations are refused at once, not expanded."""
    import time

    path = write(tmp_path, TINY)  # 12 tuning + 4 common + up to 4 selected
    check_one_line(*_invoked(["run", str(path), "--dry-run", "--max-runs", "19"]), "up to 20 runs")
    assert runner.invoke(app, ["run", str(path), "--dry-run", "--max-runs", "20"]).exit_code == 0
    values = ", ".join(f"{1e-4 * (i + 1):.6g}" for i in range(100))
    huge = write(
        tmp_path,
        _tiny_with(f"lr = [{values}]\nmomentum = [{values}]\nweight_decay = [{values}]\nseeds = [100]\n"),
        "huge.toml",
    )
    started = time.process_time()
    for args in (["--dry-run"], ["--out", str(tmp_path / "out")]):
        check_one_line(*_invoked(["run", str(huge), *args]), "1,000,000 candidate combinations")
    with pytest.raises(ConfigError, match="more than the limit of 100,000"):
        run_sweep(load_sweep(huge), tmp_path / "api")
    assert time.process_time() - started < 20
    assert not (tmp_path / "out").exists() and not (tmp_path / "api").exists()


def _invoked(args: list[str]) -> tuple[str, int]:
    result = runner.invoke(app, args)
    return result.output, result.exit_code


def test_shards_deal_whole_units_and_keep_them_when_evaluation_runs_join() -> None:
    configs = [{"run_id": f"{u}{i}", "tune_unit": f"u{u}", "dataset": "digits"} for u in range(5) for i in range(4)]
    first = assign_shards(configs, 2)
    for unit in range(5):
        assert len({first[f"{unit}{i}"] for i in range(4)}) == 1
    later = assign_shards([*configs, {"run_id": "3x", "tune_unit": "u3", "dataset": "digits"}], 2)
    assert later["3x"] == first["30"]
    assert {k: v for k, v in later.items() if k != "3x"} == first


# ---------------------------------------------------------------------------- selection


def test_edges_are_the_ends_of_numeric_candidate_lists() -> None:
    spec = TuneSpec.model_validate({"lr": [1e-2, 1e-3, 1e-1], "optimizer": ["adam", "sgd"], "seeds": [5]})
    assert edge_fields({"lr": 1e-1, "optimizer": "adam"}, spec) == ("lr",)
    assert edge_fields({"lr": 1e-3, "optimizer": "sgd"}, spec) == ("lr",)
    assert edge_fields({"lr": 1e-2, "optimizer": "sgd"}, spec) == ()


def _fake_result(cfg: dict[str, Any], val: float | None, test: float, status: str = "done") -> RunResult:
    return RunResult(
        run_id=cfg["run_id"],
        config={k: v for k, v in cfg.items() if k not in ("role", "tune_unit")},
        status=status,
        final={"final_val_loss": val, "test_loss": test},
        epochs=[(0, "val_loss", 1.0)],
    )


def test_selection_reads_only_tuning_seeds_and_validation_loss(tmp_path: Path) -> None:
    """Validation loss on the tuning seeds picks lr 1e-2; test loss would pick 1e-3, and
    evaluation-seed runs (stored at every lr) would pick 3e-2: neither is read."""
    sweep = load_sweep(write(tmp_path, TINY))
    plan = plan_tune(sweep)
    val = {1e-3: 0.5, 1e-2: 0.2, 3e-2: 0.3}
    test = {1e-3: 0.1, 1e-2: 0.9, 3e-2: 0.9}
    with Store(tmp_path / "store") as store:
        for cfg in plan.tuning:
            store.write_run(_fake_result(cfg, val[cfg["lr"]], test[cfg["lr"]]))
        # evaluation seeds at every candidate, with a validation loss that favours 3e-2
        from actcmp.config import make_run
        from actcmp.run.sweep import resolve_runs

        others = resolve_runs([make_run({**r.model_dump(), "lr": lr}) for r in sweep.runs() for lr in val])
        for cfg in others:
            store.write_run(_fake_result(cfg, 0.01 if cfg["lr"] == 3e-2 else 1.0, 0.0))
        selections = select_from_store(plan, store)
    assert [s.chosen for s in selections] == [{"lr": 1e-2}, {"lr": 1e-2}]
    assert all(s.complete and not s.edges for s in selections)


def test_a_diverged_tuning_seed_rules_a_candidate_out_and_pending_runs_hold_selection() -> None:
    spec = TuneSpec.model_validate({"lr": [1e-3, 1e-2], "seeds": [7, 8]})
    tuning = [
        {"run_id": f"{lr}-{seed}", "tune_unit": "u", "lr": lr, "seed": seed, "activation": "relu"}
        for lr in (1e-3, 1e-2)
        for seed in (7, 8)
    ]
    finals = {"0.001-7": ("done", 0.5), "0.001-8": ("done", 0.5), "0.01-7": ("done", 0.1), "0.01-8": ("diverged", None)}
    [selection] = select(tuning, finals, spec)
    assert selection.chosen == {"lr": 1e-3} and selection.scores[1][1] == math.inf
    assert selection.edges == ("lr",)
    [pending] = select(tuning, {k: v for k, v in finals.items() if k != "0.001-8"}, spec)
    assert not pending.complete and pending.chosen is None
    everything_diverged = dict.fromkeys(finals, ("diverged", None))
    [none] = select(tuning, everything_diverged, spec)
    assert none.all_diverged and none.chosen is None


# ---------------------------------------------------------------------------- real sweeps


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny tuned sweep, trained once (plain engine): (sweep file, results dir)."""
    base = tmp_path_factory.mktemp("tuned")
    path = write(base, TINY)
    out = base / "results"
    result = runner.invoke(app, ["run", str(path), "--out", str(out), *PLAIN])
    assert result.exit_code == 0, result.output
    return path, out


@pytest.mark.slow
def test_evaluation_runs_are_ordinary_stored_runs(tuned: tuple[Path, Path]) -> None:
    path, out = tuned
    sweep = load_sweep(path)
    plan = plan_tune(sweep)
    with Store(out, create=False) as store:
        selections = select_from_store(plan, store)
        stored = {r: store.read_run(r) for r in store.finished_ids()}
    assert all(s.chosen is not None for s in selections)
    evaluation = evaluation_runs(plan, selections)
    assert selected_plan(sweep, out)[2] == evaluation
    for selection in selections:
        # the same run as a plain grid sweep at the selected lr and the tuned sweep's one split
        # (split_seed 0): same id, stored, no role in it
        fixed = {**sweep.fixed, "lr": selection.chosen["lr"], "split_seed": 0}
        plain = sweep.model_copy(update={"tune": None, "fixed": fixed})
        ids = {c["run_id"] for c in plan_runs(plain) if c["activation"] == selection.activation}
        assert ids <= {c["run_id"] for c in evaluation}
        for rid in ids:
            assert rid in stored and "role" not in stored[rid]["config"] and "tune_unit" not in stored[rid]["config"]
    assert len(stored) == len({c["run_id"] for c in [*plan.tuning, *evaluation]})
    status = runner.invoke(app, ["status", str(out)])
    assert status.exit_code == 0, status.output
    assert "tuning runs: 12/12 finished; evaluation runs:" in status.output
    assert status.output.count("selected lr=") == 2
    # the table counts by role, not by the tuned lr (which the tune block lists per unit)
    table = cell_status(out)
    assert table.keys[-1] == "role" and "lr" not in table.keys
    assert {cell[-1] for cell in table.cells} == {"tuning", "evaluation"}
    by_role = {cell[-1]: counts["done"] + counts["diverged"] for cell, counts in table.cells.items()}
    assert by_role == {"tuning": len(plan.tuning), "evaluation": len(evaluation)}


class _StopAfter:
    """A progress sink that sends the sweep a Ctrl-C (SIGINT) after ``n`` stored runs."""

    def __init__(self, n: int) -> None:
        self.n = n

    def start(self, total: int, to_run: int, skipped: int, out_dir: str) -> None:
        pass

    def run_done(self, record: dict[str, Any]) -> None:
        self.n -= 1
        if self.n == 0:
            signal.raise_signal(signal.SIGINT)

    def finish(self, summary: dict[str, Any]) -> None:
        pass


@pytest.mark.slow
def test_resume_mid_tuning_gives_the_same_selections_and_runs(tuned: tuple[Path, Path], tmp_path: Path) -> None:
    path, reference = tuned
    out = tmp_path / "resumed"
    first = run_sweep(path, out, engine="plain", progress=_StopAfter(5))
    # what came back before the interrupt is stored too (the serial executor runs ahead by a task or two)
    assert first.interrupted and 5 <= first.ran < 12
    assert first.stopped_tuning and first.left == 12 - first.ran  # the tuning runs; the evaluation runs follow
    lines = tune_status(out)
    assert any(f"tuning runs: {first.ran}/12 finished" in line for line in lines), lines
    assert any("selection pending" in line for line in lines), lines
    second = run_sweep(path, out, engine="plain")
    assert not second.interrupted and second.skipped == first.ran
    assert tune_status(out) == tune_status(reference)
    assert_same_results(out, reference, planned=True)


@pytest.mark.slow
def test_shards_select_on_their_own_and_merge_to_the_whole(tuned: tuple[Path, Path], tmp_path: Path) -> None:
    path, reference = tuned
    dirs = [tmp_path / "s1", tmp_path / "s2"]
    for index, directory in enumerate(dirs, start=1):
        result = runner.invoke(app, ["run", str(path), "--out", str(directory), "--shard", f"{index}/2", *PLAIN])
        assert result.exit_code == 0, result.output
        status = runner.invoke(app, ["status", str(directory)])
        assert status.exit_code == 0, status.output  # a shard's units are complete in its own store
    merged = tmp_path / "merged"
    assert runner.invoke(app, ["merge", str(merged), *map(str, dirs)]).exit_code == 0
    assert_same_results(merged, reference, planned=True)
    # the sweep's size as one go stored it (each shard stored its own plan's size)
    sizes = []
    for directory in (merged, reference):
        with Store(directory, create=False) as store:
            sizes.append(sorted(store.conn.execute("SELECT name, n_runs FROM sweeps").fetchall()))
    assert sizes[0] == sizes[1]


@pytest.mark.slow
def test_report_has_the_tune_section_and_the_sensitivity_figure(tuned: tuple[Path, Path], tmp_path: Path) -> None:
    import shutil

    from actcmp.report import make_report

    _, reference = tuned
    out = tmp_path / "copy"
    shutil.copytree(reference, out)
    make_report(out, formats=("png",))
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "## Tuned comparison" in text
    assert "test loss at lr=0.001" in text and "test loss, tuned" in text  # never one without the other
    assert (out / "figures" / "tune_sensitivity.png").stat().st_size > 1000
    for name in ("tune_selection", "tune_comparison", "tune_ranks"):
        assert (out / "tables" / f"{name}.csv").exists()
    # the other tables hold the runs at the common value only (2 activations x 2 seeds at lr=0.001):
    # neither the tuning runs nor those at the selected lr, which would make lr a cell key
    import pandas as pd

    main = pd.read_csv(out / "tables" / "main.csv")
    assert len(load_results(out).runs) == 20 and int(main["runs"].sum()) == 4 and "lr" not in main
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Sensitivity to lr" in html
    # one epoch: every activation wants the largest lr, an edge choice, said in the section
    # and in the sentences offered to the Findings
    assert "lr=0.03 is at the edge of the candidates; the optimum may lie outside" in text
    from actcmp.report import tune as tune_report

    built = tune_report.build(out, out, load_results(out), ("png",), [])
    sentences = tune_report.findings(built)
    assert sentences[0].startswith("Each activation at its own tuned value")
    assert sum(s.startswith("Edge choice:") for s in sentences) == 2
    # ... and the report's Setup and Findings (first sections) state the protocol and those sentences
    findings = text.split("## Findings", 1)[1].split("\n## ", 1)[0]
    assert (
        "Edge choices (2), where the optimum may lie outside the candidates ([tuned comparison](#tuned-comparison))"
        in findings
    )
    assert findings.count("is at the edge of the candidates") == 2
    setup = text.split("## Setup", 1)[1].split("\n## ", 1)[0]
    assert "Tuned per cell and activation" in setup and "| lr | tuned per cell and activation" in setup
    import json

    recorded = json.loads((out / "setup.json").read_text(encoding="utf-8"))
    assert "lr" in recorded["tuned"] and "lr" not in recorded["grid"] and recorded["tune"][0]["candidates"]["lr"]


def test_sensitivity_figure_uses_log_lr_and_the_activation_styles(tmp_path: Path) -> None:
    from actcmp.report.style import activation_style
    from actcmp.report.tune import plot_sensitivity
    from actcmp.run.tune import StoredTune

    spec = TuneSpec.model_validate({"lr": [1e-3, 1e-2, 1e-1], "seeds": [7]})
    tuning = [
        {"run_id": f"{a}{lr}", "tune_unit": a, "lr": lr, "seed": 7, "activation": a, "dataset": "digits", "depth": 2}
        for a in ("relu", "tanh")
        for lr in (1e-3, 1e-2, 1e-1)
    ]
    finals = {c["run_id"]: ("done", {1e-3: 0.3, 1e-2: 0.1, 1e-1: 0.2}[c["lr"]]) for c in tuning}
    tune = StoredTune(
        "id", "t", spec, {}, {"seed": [0]}, {c["run_id"]: c for c in tuning}, select(tuning, finals, spec)
    )
    fig = plot_sensitivity(tune)
    [ax] = [a for a in fig.axes if a.get_visible() and a.lines]
    assert ax.get_xscale() == "log"
    colours = {line.get_color() for line in ax.lines}
    assert {activation_style("relu")[0], activation_style("tanh")[0]} <= colours
    assert RunConfig().lr == 1e-3  # the common value the report compares against by default
    dashed = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert [list(line.get_xdata()) for line in dashed] == [[1e-3, 1e-3]]  # the common value, marked


def test_status_of_an_empty_store_has_no_role_key(tmp_path: Path) -> None:
    with Store(tmp_path / "empty"):
        pass
    assert cell_status(tmp_path / "empty").keys == ("dataset",)


@pytest.mark.slow
def test_an_edited_tuned_sweep_in_the_same_directory_is_told_apart_and_counted_once(tmp_path: Path) -> None:
    """The edge warning's natural answer, one more candidate run into the same directory: the
    run says the directory holds another version; the report titles each version's tables
    and counts a run the two versions share once (a review found "56 tuning runs" for 32
    stored, and two sections both headed by the sweep's name)."""
    import json

    from actcmp.analysis.tune import stored_tunes
    from actcmp.report import make_report

    out = tmp_path / "out"
    first = write(tmp_path, TINY)
    wider = write(tmp_path, TINY.replace("lr = [1e-3, 1e-2, 3e-2]", "lr = [1e-3, 1e-2, 3e-2, 1e-1]"), "wider.toml")
    assert run_sweep(first, out, engine="plain").other_tuned_versions == 0
    result = runner.invoke(app, ["run", str(wider), "--out", str(out), *PLAIN[:2]])
    assert result.exit_code == 0, result.output
    assert "also holds 1 other version(s) of this tuned sweep" in result.output
    with Store(out, create=False) as store:
        tunes = stored_tunes(store)
        roles = [cfg.get("role") for cfg in store.planned_configs().values()]
        statuses = dict(store.conn.execute("SELECT run_id, status FROM runs").fetchall())
    assert [t.title for t in tunes] == ["tiny, version 1 of 2", "tiny, version 2 of 2"]
    make_report(out)
    setup = json.loads((out / "setup.json").read_text(encoding="utf-8"))
    stored_tuning = sum(1 for rid, cfg in store_planned(out).items() if cfg.get("role") == "tune" and rid in statuses)
    assert roles.count("tune") == stored_tuning == 2 * 4 * 2  # units x the wider candidates x tuning seeds
    assert setup["runs"]["tuning"]["stored"] == stored_tuning
    common = setup["runs"]["stored"]
    assert common + setup["runs"]["tuning"]["stored"] + setup["runs"]["at_selected"]["stored"] == len(statuses)
    assert [t["sweep"] for t in setup["tune"]] == ["tiny, version 1 of 2", "tiny, version 2 of 2"]
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "In sweep `tiny, version 2 of 2`, each activation at its own tuned value" in markdown
    assert (
        "### Selected values (tiny, version 1 of 2)" in markdown
        and "### Selected values (tiny, version 2 of 2)" in markdown
    )
    # the same sweep again (a resume) is no other version
    assert run_sweep(wider, out, engine="plain").other_tuned_versions == 1  # the first file's version remains
    # resuming the first version keeps the numbering: versions go by when each was first stored
    run_sweep(first, out, engine="plain")
    with Store(out, create=False) as store:
        assert [(t.title, len(t.spec.candidates["lr"])) for t in stored_tunes(store)] == [
            ("tiny, version 1 of 2", 3),
            ("tiny, version 2 of 2", 4),
        ]
    # a new description alone plans the same runs: no other version (a review found one)
    described = write(tmp_path, TINY.replace('name = "tiny"', 'name = "tiny"\ndescription = "again"'), "d.toml")
    assert run_sweep(described, out, engine="plain").other_tuned_versions == 1  # the wider one only
    with Store(out, create=False) as store:
        assert [(t.title, len(t.spec.candidates["lr"])) for t in stored_tunes(store)] == [
            ("tiny, version 1 of 2", 3),
            ("tiny, version 2 of 2", 4),
        ]


def store_planned(out: Path) -> dict[str, dict[str, Any]]:
    with Store(out, create=False) as store:
        return store.planned_configs()


@pytest.mark.slow
def test_the_report_of_a_tuned_sweep_interrupted_while_tuning_states_nothing_false(tmp_path: Path) -> None:
    """No evaluation run stored yet (interrupted in the tuning phase): the Setup says the axes,
    seeds and split come once such runs are stored (a review found "each seed draws its own
    train/validation/test rows", false under [tune]), the Findings say nothing was stored
    rather than "every converged run ended below its initial loss", and the Summary says its
    count is of the tables' runs."""
    import json
    import sqlite3

    from actcmp.report import make_report

    out = tmp_path / "out"
    run_sweep(write(tmp_path, TINY), out, engine="plain")
    con = sqlite3.connect(out / "actcmp.sqlite")
    with con:
        evaluation = [
            rid
            for rid, text in con.execute("SELECT run_id, config_json FROM planned")
            if json.loads(text)["role"] == "eval"
        ]
        for table in ("runs", "run_metrics", "epoch_metrics", "layer_metrics", "samples"):
            con.executemany(f"DELETE FROM {table} WHERE run_id = ?", [(rid,) for rid in evaluation])
    con.close()
    make_report(out)
    markdown = (out / "report.md").read_text(encoding="utf-8")
    setup = markdown.split("## Setup", 1)[1].split("## Findings", 1)[0]
    findings = markdown.split("## Findings", 1)[1].split("## Contents", 1)[0]
    assert "No run of the tables is stored yet" in setup and "12 tuning runs" in setup
    assert (
        "each seed draws its own" not in setup and "Grid axes" not in setup and "Run fields with one value" not in setup
    )
    assert "No run is stored in the tables yet" in findings and "Every converged run" not in findings
    assert "Runs in the tables (at the common value" in markdown
