"""Shards, merge, status as a CI gate, compare: split a sweep, put it back together."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from frames import assert_same_results as assert_same_stored
from typer.testing import CliRunner

from actcmp.cli import app
from actcmp.engine.plain import RunResult
from actcmp.errors import ConfigError
from actcmp.shard import assign_shards, parse_shard, select_shard
from actcmp.store.database import DB_NAME, Store, load_results

REPO = Path(__file__).resolve().parent.parent
runner = CliRunner()
SMOKE = str(REPO / "experiments" / "smoke.toml")
FAST = ["--engine", "plain", "--epochs", "1", "--depths", "1", "--quiet"]


# ---------------------------------------------------------------------------- shard spec and assignment


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("1/4", (1, 4), id="first"),
        pytest.param("4/4", (4, 4), id="last"),
        pytest.param(" 2 / 3 ", (2, 3), id="spaces"),
        pytest.param("1/1", (1, 1), id="single"),
    ],
)
def test_parse_shard(text: str, expected: tuple[int, int]) -> None:
    assert parse_shard(text) == expected


@pytest.mark.parametrize(
    "text", ["0/4", "5/4", "1/0", "a/b", "1-4", "2", "", "-1/4", "1/4/2", "1.5/4", "\u0661/\u0662"]
)
def test_parse_shard_refuses(text: str) -> None:
    with pytest.raises(ConfigError, match="--shard"):
        parse_shard(text)


def _configs(n: int) -> list[dict]:
    return [
        {"run_id": f"{i * 7919 % 65536:016x}", "dataset": ["digits", "manifold"][i % 2], "depth": [1, 2, 4][i % 3]}
        for i in range(n)
    ]


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7, 50])
def test_every_run_in_exactly_one_balanced_shard(count: int) -> None:
    configs = _configs(36)
    shards = [select_shard(configs, i, count) for i in range(1, count + 1)]
    ids = [cfg["run_id"] for shard in shards for cfg in shard]
    assert sorted(ids) == sorted(cfg["run_id"] for cfg in configs)  # all, none twice
    sizes = [len(s) for s in shards]
    assert max(sizes) - min(sizes) <= 1
    for shard in shards:  # each shard keeps the planned order
        positions = [configs.index(cfg) for cfg in shard]
        assert positions == sorted(positions)


def test_shards_balance_the_cost_groups() -> None:
    configs = _configs(36)  # 6 groups of 6 runs
    for index in (1, 2, 3):
        mine = select_shard(configs, index, 3)
        per_group = pd.Series([(c["dataset"], c["depth"]) for c in mine]).value_counts()
        assert set(per_group) == {2}


def test_assignment_is_a_pure_function_of_the_plan() -> None:
    configs = _configs(20)
    first = assign_shards(configs, 4)
    assert assign_shards(list(reversed(configs)), 4) == first
    assert assign_shards([dict(c) for c in configs], 4) == first


# ---------------------------------------------------------------------------- real sharded sweeps


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The smoke sweep (1 epoch, depth 1: 4 runs, plain engine) as shards 1/2 and 2/2, and whole."""
    base = tmp_path_factory.mktemp("shards")
    dirs = {"s1": base / "s1", "s2": base / "s2", "full": base / "full"}
    for name, extra in (("s1", ["--shard", "1/2"]), ("s2", ["--shard", "2/2"]), ("full", [])):
        result = runner.invoke(app, ["run", SMOKE, "--out", str(dirs[name]), *FAST, *extra])
        assert result.exit_code == 0, result.output
    return dirs


def snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    """Bytes and mtime of every file under ``directory`` (SQLite's -wal/-shm aside)."""
    if not directory.exists():
        return {}
    return {
        str(p.relative_to(directory)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(directory.rglob("*"))
        if p.is_file() and not p.name.endswith(("-wal", "-shm"))
    }


def assert_same_results(a: Path, b: Path) -> None:
    assert_same_stored(a, b, planned=True)


def test_shard_directory_expects_only_its_runs(sweeps: dict[str, Path]) -> None:
    status = runner.invoke(app, ["status", str(sweeps["s1"])])
    assert status.exit_code == 0, status.output  # a shard's own CI gate passes when its runs are stored
    assert "complete for shard smoke 1/2: 2 done" in status.output and "merge the shards' directories" in status.output
    assert len(load_results(sweeps["s1"]).planned) == 2
    with Store(sweeps["s1"], create=False) as store:
        assert len(store.planned_configs()) == 4  # the whole plan is kept for the merge


def test_dry_run_shows_the_shard() -> None:
    result = runner.invoke(app, ["run", SMOKE, "--shard", "2/3", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "3 runs (shard 2/3 of 8 runs)" in result.output


def test_merge_of_all_shards_equals_the_whole_sweep(sweeps: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "merged"
    result = runner.invoke(app, ["merge", str(out), str(sweeps["s1"]), str(sweeps["s2"])])
    assert result.exit_code == 0, result.output
    assert "4 runs (2 + 2), 0 duplicates" in result.output
    assert_same_results(out, sweeps["full"])
    status = runner.invoke(app, ["status", str(out)])
    assert status.exit_code == 0 and "complete: 4 done" in status.output
    assert not list(out.glob(".merge-*")) and not (out / "actcmp.lock").exists()
    # the shards' sweep file (the sweep, its plan, where it came from) comes along: the merged
    # report's Setup names the sweep file as the whole sweep's does
    merged, whole = (json.loads((d / "sweep.json").read_text()) for d in (out, sweeps["full"]))
    assert merged["sweep"] == whole["sweep"] and merged["provenance"]["source"] == whole["provenance"]["source"]


def _as_if_on_default_kernels(source: Path, copy: Path) -> Path:
    """A copy of ``source`` whose runs say they ran on ATen's ``default`` kernels."""
    shutil.copytree(source, copy)
    conn = sqlite3.connect(copy / DB_NAME)
    with conn:
        conn.execute("UPDATE runs SET env_json = json_set(env_json, '$.cpu_capability', 'default')")
    conn.close()
    return copy


def test_merging_runs_of_two_kernel_families_warns(sweeps: dict[str, Path], tmp_path: Path) -> None:
    """Each run is whole, but runs of two CPU kernel families compare over seeds, not bit for
    bit (a depth-8 run differed by 21% between AVX2 and default): the merge says so."""
    other = _as_if_on_default_kernels(sweeps["s2"], tmp_path / "s2-default")
    result = runner.invoke(app, ["merge", str(tmp_path / "m"), str(sweeps["s1"]), str(other)])
    assert result.exit_code == 0, result.output
    with Store(sweeps["s1"], create=False) as store:
        family = next(iter(store.environment_values("cpu_capability")))
    listed = ", ".join(f"{name}: 2" for name in sorted([family, "default"]))
    assert f"ran on 2 CPU kernel families ({listed})" in result.output
    same = runner.invoke(app, ["merge", str(tmp_path / "m2"), str(sweeps["s1"]), str(sweeps["s2"])])
    assert "kernel families" not in same.output


def test_a_sweep_into_a_directory_of_another_kernel_family_warns(sweeps: dict[str, Path], tmp_path: Path) -> None:
    directory = _as_if_on_default_kernels(sweeps["s1"], tmp_path / "resumed")
    result = runner.invoke(app, ["run", SMOKE, "--out", str(directory), *FAST])  # shard 2's runs added
    assert result.exit_code == 0, result.output
    assert "holds runs of 2 CPU kernel families" in result.output
    plain = runner.invoke(app, ["run", SMOKE, "--out", str(tmp_path / "one"), *FAST, "--shard", "1/2"])
    assert "kernel families" not in plain.output


def test_a_shard_run_into_the_whole_sweep_leaves_it_whole(sweeps: dict[str, Path], tmp_path: Path) -> None:
    directory = tmp_path / "whole"
    shutil.copytree(sweeps["full"], directory)
    again = runner.invoke(app, ["run", SMOKE, "--out", str(directory), *FAST, "--shard", "1/2"])
    assert again.exit_code == 0, again.output
    status = runner.invoke(app, ["status", str(directory)])
    assert status.exit_code == 0 and "complete: 4 done" in status.output and "shard" not in status.output
    merged = runner.invoke(app, ["merge", str(tmp_path / "m"), str(directory), str(sweeps["s1"])])
    assert merged.exit_code == 0, merged.output  # was refused: "the same shard merged twice"


def test_compare_says_when_the_two_sides_are_of_different_results_versions(
    sweeps: dict[str, Path], tmp_path: Path
) -> None:
    from actcmp.config import RESULTS_VERSION

    other = tmp_path / "other-version"
    shutil.copytree(sweeps["full"], other)
    conn = sqlite3.connect(other / DB_NAME)
    with conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'results_version'", (str(RESULTS_VERSION + 1),))
    conn.close()
    result = runner.invoke(app, ["compare", str(other), str(sweeps["full"])])
    assert result.exit_code == 0, result.output
    assert f"NEW holds results version {RESULTS_VERSION + 1}, BASELINE {RESULTS_VERSION}" in result.output
    same = runner.invoke(app, ["compare", str(sweeps["full"]), str(sweeps["full"])])
    assert "results version" not in same.output


def test_merge_with_a_shard_missing_fails_the_status_gate(sweeps: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "merged"
    result = runner.invoke(app, ["merge", str(out), str(sweeps["s1"])])
    assert result.exit_code == 0
    assert "2 planned runs are in none of the merged directories" in result.output
    status = runner.invoke(app, ["status", str(out)])
    assert status.exit_code == 1 and "incomplete: 2 pending" in status.output
    # the missing shard arrives later: merged into the existing OUT
    again = runner.invoke(app, ["merge", str(out), str(sweeps["s2"])])
    assert again.exit_code == 0, again.output
    assert "nothing new" not in again.output
    assert runner.invoke(app, ["status", str(out)]).exit_code == 0
    assert_same_results(out, sweeps["full"])
    # the same merge once more: a no-op, said as such
    once_more = runner.invoke(app, ["merge", str(out), str(sweeps["s2"])])
    assert once_more.exit_code == 0, once_more.output
    assert "nothing new: " in once_more.output and "already holds every run of the 1 input" in once_more.output
    assert "duplicates" not in once_more.output
    assert_same_results(out, sweeps["full"])


def test_merge_into_an_existing_out_reports_only_the_inputs(sweeps: dict[str, Path], tmp_path: Path) -> None:
    """OUT's own runs are kept, not added: `sources` lists the directories named on the
    command line and what each added; `already_in_out` counts what OUT held before."""
    import json

    out = tmp_path / "merged"
    assert runner.invoke(app, ["merge", str(out), str(sweeps["s1"])]).exit_code == 0
    text = runner.invoke(app, ["merge", str(out), str(sweeps["s2"])])
    assert text.exit_code == 0, text.output
    assert f"merged 1 results directory into {out}: 4 runs (2 already in {out} + 2), 0 duplicates" in text.output
    fresh = tmp_path / "fresh"
    assert runner.invoke(app, ["merge", str(fresh), str(sweeps["s1"])]).exit_code == 0
    doc = json.loads(runner.invoke(app, ["merge", str(fresh), str(sweeps["s2"]), "--json"]).stdout)
    assert doc["sources"] == [{"path": str(sweeps["s2"]), "added": 2}]
    assert doc["already_in_out"] == 2 and doc["total_runs"] == 4
    again = json.loads(runner.invoke(app, ["merge", str(fresh), str(sweeps["s2"]), "--json"]).stdout)
    assert again["sources"] == [{"path": str(sweeps["s2"]), "added": 0}]
    assert again["already_in_out"] == 4 and again["total_runs"] == 4
    first = json.loads(runner.invoke(app, ["merge", str(tmp_path / "new"), str(sweeps["s1"]), "--json"]).stdout)
    assert first["sources"] == [{"path": str(sweeps["s1"]), "added": 2}] and first["already_in_out"] == 0


def test_duplicates_are_kept_once_and_reported(sweeps: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "merged"
    result = runner.invoke(app, ["merge", str(out), str(sweeps["full"]), str(sweeps["s1"]), str(sweeps["s2"])])
    assert result.exit_code == 0, result.output
    assert "4 duplicates" in result.output and "kept once" in result.output
    assert_same_results(out, sweeps["full"])


@pytest.mark.parametrize("incremental", [False, True], ids=["one-call", "into-existing-out"])
def test_same_shard_twice_is_refused(sweeps: dict[str, Path], tmp_path: Path, incremental: bool) -> None:
    copy = tmp_path / "s1-again"
    shutil.copytree(sweeps["s1"], copy)
    out = tmp_path / "merged"
    if incremental:
        assert runner.invoke(app, ["merge", str(out), str(sweeps["s1"])]).exit_code == 0
    before = snapshot(out)
    args = ["merge", str(out), str(copy)] if incremental else ["merge", str(out), str(sweeps["s1"]), str(copy)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "shard 1/2 of sweep 'smoke'" in result.output and "merged twice" in result.output
    assert snapshot(out) == before


def _tamper(directory: Path, factor: float = 1.5) -> str:
    conn = sqlite3.connect(directory / DB_NAME)
    rid = conn.execute("SELECT run_id FROM run_metrics WHERE name='test_loss' ORDER BY run_id").fetchone()[0]
    conn.execute("UPDATE run_metrics SET value = value * ? WHERE run_id = ? AND name='test_loss'", (factor, rid))
    conn.commit()
    conn.close()
    return rid


def test_conflicting_results_are_refused_and_out_is_untouched(sweeps: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "merged"
    assert runner.invoke(app, ["merge", str(out), str(sweeps["s2"])]).exit_code == 0
    other = tmp_path / "other"
    shutil.copytree(sweeps["full"], other)
    rid = _tamper(other)
    before = snapshot(out)
    result = runner.invoke(app, ["merge", str(out), str(sweeps["s1"]), str(other)])
    assert result.exit_code == 2
    assert rid in result.output and "different results" in result.output and str(other) in result.output
    assert snapshot(out) == before
    fresh = tmp_path / "never-created"
    assert runner.invoke(app, ["merge", str(fresh), str(sweeps["full"]), str(other)]).exit_code == 2
    assert not fresh.exists()


def test_a_copy_without_reconstructions_is_the_same_result_and_they_are_kept(
    sweeps: dict[str, Path], tmp_path: Path
) -> None:
    """A run stored by an actcmp from before samples, in a store a newer one resumed into (the
    table, no rows), is the same result as a copy with reconstructions (a review found it
    refused as "the stored reconstructions (samples) differ"); the merge keeps them."""
    bare = tmp_path / "bare"
    shutil.copytree(sweeps["full"], bare)
    conn = sqlite3.connect(bare / DB_NAME)
    conn.execute("DELETE FROM samples")
    conn.commit()
    conn.close()

    def samples(directory: Path) -> list[tuple[str, str, bytes]]:
        with sqlite3.connect(directory / DB_NAME) as c:
            return sorted(c.execute("SELECT run_id, kind, blob FROM samples").fetchall())

    assert samples(sweeps["full"])  # the fixture's runs keep reconstructions
    for order in ((bare, sweeps["full"]), (sweeps["full"], bare)):
        out = tmp_path / f"out-{order[0].name}"
        result = runner.invoke(app, ["merge", str(out), *map(str, order)])
        assert result.exit_code == 0, result.output
        assert samples(out) == samples(sweeps["full"])


def test_copies_whose_reconstructions_differ_are_refused(sweeps: dict[str, Path], tmp_path: Path) -> None:
    """Two copies of a run with the same metrics but other stored reconstructions are
    different results (the merge compared metrics only, and kept whichever came first)."""
    from actcmp.engine.samples import decode, encode

    other = tmp_path / "other"
    shutil.copytree(sweeps["full"], other)
    conn = sqlite3.connect(other / DB_NAME)
    rid, kind, blob = conn.execute("SELECT run_id, kind, blob FROM samples ORDER BY run_id, kind").fetchone()
    arrays = decode(blob)
    name = sorted(arrays)[-1]
    arrays[name] = arrays[name] + 1
    conn.execute("UPDATE samples SET blob = ? WHERE run_id = ? AND kind = ?", (encode(arrays), rid, kind))
    conn.commit()
    conn.close()
    # an untouched copy is the same result: its blobs are byte-identical (no dates in the archive)
    same = tmp_path / "same"
    assert runner.invoke(app, ["merge", str(same), str(sweeps["full"]), str(sweeps["s1"])]).exit_code == 0
    out = tmp_path / "merged"
    result = runner.invoke(app, ["merge", str(out), str(sweeps["full"]), str(other)])
    assert result.exit_code == 2, result.output
    assert rid in result.output and "reconstructions (samples) differ" in result.output
    assert not out.exists()


def test_incompatible_versions_are_refused(sweeps: dict[str, Path], tmp_path: Path) -> None:
    for key, value, fragment in (
        ("schema_version", "99", "schema version 99"),
        ("results_version", "0", "results version 0"),
    ):
        old = tmp_path / key
        shutil.copytree(sweeps["s2"], old)
        conn = sqlite3.connect(old / DB_NAME)
        conn.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))
        conn.commit()
        conn.close()
        result = runner.invoke(app, ["merge", str(tmp_path / "m"), str(sweeps["s1"]), str(old)])
        assert result.exit_code == 2 and fragment in result.output, result.output
        assert not (tmp_path / "m").exists()


def fake(rid: str, activation: str, seed: int, loss: float | None, status: str = "done", depth: int = 1) -> RunResult:
    cfg = {"run_id": rid, "activation": activation, "dataset": "digits", "depth": depth, "seed": seed, "lr": 0.001}
    return RunResult(
        run_id=rid,
        config=cfg,
        status=status,
        final={"test_loss": loss},
        epochs=[(0, "val_loss", 1.0)],
        layers=[],
        wall_time_s=float(seed),
        env={},
        error="RuntimeError: boom" if status == "failed" else None,
    )


def write_store(directory: Path, results: list[RunResult]) -> Path:
    with Store(directory) as store:
        store.save_sweep("s", "fake", {"grid": {}}, [r.config for r in results])
        for result in results:
            store.write_run(result)
    return directory


def test_finished_run_wins_over_failed(tmp_path: Path) -> None:
    a = write_store(tmp_path / "a", [fake("r1", "relu", 0, None, status="failed"), fake("r2", "relu", 1, 0.5)])
    b = write_store(tmp_path / "b", [fake("r1", "relu", 0, 0.4)])
    result = runner.invoke(app, ["merge", str(tmp_path / "m"), str(a), str(b)])
    assert result.exit_code == 0, result.output
    assert "run r1: failed in" in result.output and "kept the finished one" in result.output
    runs = load_results(tmp_path / "m").runs.set_index("run_id")
    assert runs.loc["r1", "status"] == "done" and runs.loc["r1", "test_loss"] == 0.4


def test_merge_refuses_bad_inputs(sweeps: dict[str, Path], tmp_path: Path) -> None:
    cases = [
        (["merge", str(tmp_path / "m"), str(sweeps["s1"]), str(sweeps["s1"])], "given twice"),
        (["merge", str(tmp_path / "m"), str(tmp_path / "nothing")], "no results here"),
        (["merge", str(sweeps["s1"]), str(sweeps["s1"])], "is the output directory"),
    ]
    (tmp_path / "afile").write_text("x")
    cases.append((["merge", str(tmp_path / "afile"), str(sweeps["s1"])], "is a file"))
    for args, fragment in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and fragment in result.output, (args, result.output)
    assert not (tmp_path / "m").exists()


# ---------------------------------------------------------------------------- status as a CI gate


def test_status_gates_on_failed_runs_and_writes_the_step_summary(tmp_path: Path, monkeypatch) -> None:
    directory = write_store(tmp_path / "r", [fake("r1", "relu", 0, 0.5), fake("r2", "tanh", 0, None, "failed")])
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = runner.invoke(app, ["status", str(directory)])
    assert result.exit_code == 1
    assert "failed: r2 tanh" in result.output and "RuntimeError: boom" in result.output
    text = summary.read_text()
    assert text.startswith("earlier step\n")  # appended, never overwritten
    assert "actcmp status" in text and "| dataset |" in text and "`r2`" in text and "incomplete: 1 failed" in text


def test_status_of_a_complete_sweep_passes(sweeps: dict[str, Path], tmp_path: Path, monkeypatch) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = runner.invoke(app, ["status", str(sweeps["full"])])
    assert result.exit_code == 0 and "complete: 4 done" in result.output
    assert "✅" in summary.read_text()


# ---------------------------------------------------------------------------- compare


def _cell(activation: str, losses: list[float | None], prefix: str, depth: int = 1) -> list[RunResult]:
    return [
        fake(
            f"{prefix}{activation}{depth}{seed}", activation, seed, loss, "diverged" if loss is None else "done", depth
        )
        for seed, loss in enumerate(losses)
    ]


def test_compare_flags_cells_beyond_their_seed_spread(tmp_path: Path, monkeypatch) -> None:
    base = write_store(
        tmp_path / "base",
        [
            *_cell("relu", [1.0, 1.1, 0.9], "b"),  # std 0.1: limit 0.3
            *_cell("tanh", [2.0, 2.1, 1.9], "b"),
            *_cell("gelu", [1.0, 1.0, 1.0], "b"),  # no spread: the 1% floor applies
            *_cell("silu", [1.0, 1.0, 1.0], "b"),
            *_cell("elu", [1.0, 1.0, 1.0], "b"),
            *_cell("selu", [1.0, 1.0, 1.0], "b", depth=2),
        ],
    )
    new = write_store(
        tmp_path / "new",
        [
            *_cell("relu", [1.2, 1.3, 1.1], "n"),  # +0.2 < 0.3: same
            *_cell("tanh", [2.5, 2.6, 2.4], "n"),  # +0.5 > 0.3: regressed
            *_cell("gelu", [0.9, 0.9, 0.9], "n"),  # -0.1 beyond the floor: improved
            *_cell("silu", [1.005, 1.005, 1.005], "n"),  # within 1%: same
            *_cell("elu", [1.0, None, 1.0], "n"),  # one diverged now: regressed
            *_cell("mish", [1.0], "n"),  # only in NEW: new; selu depth 2 missing
        ],
    )
    from actcmp.analysis.compare import compare_results

    comparison = compare_results(new, base)
    verdicts = {c.cell["activation"]: c.verdict for c in comparison.cells}
    assert verdicts == {
        "relu": "same",
        "tanh": "regressed",
        "gelu": "improved",
        "silu": "same",
        "elu": "regressed",
        "mish": "new",
        "selu": "missing",
    }
    assert comparison.failed
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    result = runner.invoke(app, ["compare", str(new), str(base)])
    assert result.exit_code == 1
    assert "regressed" in result.output and "relu" not in result.output  # unchanged cells are not listed
    assert "2 regressed, 1 missing, 1 improved, 1 new, 2 same" in result.output
    assert "❌" in (tmp_path / "summary.md").read_text()
    everything = runner.invoke(app, ["compare", str(new), str(base), "--all", "--k", "1"])
    assert "relu" in everything.output
    ok = runner.invoke(app, ["compare", str(base), str(base)])
    assert ok.exit_code == 0 and "0 regressed" in ok.output


def test_compare_fails_a_cell_that_new_holds_fewer_runs_of(tmp_path: Path) -> None:
    """Seeds missing from NEW (an interrupted sweep, one shard) make the cell incomplete: the
    gate fails (exit 1) unless it regressed anyway, which it then says beside the count."""
    base = write_store(
        tmp_path / "base",
        [*_cell("relu", [1.0, 1.1, 0.9], "b"), *_cell("tanh", [2.0, 2.1, 1.9], "b"), *_cell("elu", [1.0, 1.0], "b")],
    )
    new = write_store(
        tmp_path / "new",
        [*_cell("relu", [1.0], "n"), *_cell("tanh", [3.0], "n"), *_cell("elu", [1.0, 1.0, 1.0], "n")],
    )
    from actcmp.analysis.compare import compare_results

    comparison = compare_results(new, base)
    found = {c.cell["activation"]: (c.verdict, c.note) for c in comparison.cells}
    assert found["relu"] == ("incomplete", "NEW holds 1 of BASELINE's 3 runs")
    assert found["tanh"][0] == "regressed" and found["tanh"][1].startswith("NEW holds 1 of BASELINE's 3 runs")
    assert found["elu"] == ("same", "")  # more runs in NEW than in the baseline: nothing missing
    assert comparison.failed
    result = runner.invoke(app, ["compare", str(new), str(base)])
    assert result.exit_code == 1 and "1 regressed, 1 incomplete" in result.output, result.output


def test_compare_real_sweeps(sweeps: dict[str, Path]) -> None:
    result = runner.invoke(app, ["compare", str(sweeps["full"]), str(sweeps["full"]), "--metric", "final_val_loss"])
    assert result.exit_code == 0, result.output
    assert "2 cells compared on final_val_loss: 0 regressed, 2 same" in result.output


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        pytest.param(["--metric", "nope"], "not a stored metric", id="unknown-metric"),
        pytest.param(["--k", "-1"], "--k -1.0: must be", id="negative-k"),
        pytest.param(["--rtol", "nan"], "--rtol nan", id="nan-rtol"),
    ],
)
def test_compare_bad_options(sweeps: dict[str, Path], extra: list[str], fragment: str) -> None:
    result = runner.invoke(app, ["compare", str(sweeps["full"]), str(sweeps["s1"]), *extra])
    assert result.exit_code == 2 and fragment in result.output, result.output


def test_compare_without_common_cells(tmp_path: Path, sweeps: dict[str, Path]) -> None:
    other = write_store(tmp_path / "other", _cell("relu", [1.0], "x", depth=7))
    result = runner.invoke(app, ["compare", str(other), str(sweeps["full"])])
    assert result.exit_code == 2 and "no cell in common" in result.output
    # it names what keeps them apart: here the depth, which no cell of the two shares
    assert "they differ in depth: 7 against " in result.output, result.output


def test_compare_names_the_split_that_keeps_tuned_results_apart() -> None:
    from actcmp.analysis.compare import _kept_apart

    cell = {"dataset": "digits", "depth": 1, "activation": "relu", "lr": 0.001}
    new = {"a": {**cell, "split_seed": 0}}
    old = {"b": {**cell, "split_seed": None}}
    why = _kept_apart(new, old)
    assert why.startswith("they differ in split_seed: 0 against none") and "own split" in why
    # two plain sweeps of different split seeds: named, without the hint about older tuned sweeps
    plain = _kept_apart({"a": {**cell, "split_seed": 0}}, {"b": {**cell, "split_seed": 7}})
    assert plain == "they differ in split_seed: 0 against 7"
    many = {"c": {**cell, "depth": 2, "lr": 0.1, "split_seed": 5, "activation": "tanh"}}
    assert why != _kept_apart(many, old) and "; 1 more" in _kept_apart(many, old)
    # no single field keeps these apart (each value of each field is on both sides)
    apart = _kept_apart({"d": {**cell, "lr": 0.1}}, {"e": cell, "f": {**cell, "lr": 0.1, "depth": 2}})
    assert apart == "results of different sweeps?"


# ---------------------------------------------------------------------------- the CI workflow


def test_sweep_workflow_runs_shards_merges_gates_and_reports() -> None:
    import re

    yaml = pytest.importorskip("yaml", reason="PyYAML (dev extra) reads the workflow")
    workflows = REPO / ".github" / "workflows"
    text = (workflows / "sweep.yml").read_text()
    assert "\t" not in text
    flow = yaml.safe_load(text)
    triggers = flow[True]  # YAML 1.1 reads the key `on` as True
    assert "schedule" in triggers and "workflow_dispatch" in triggers
    shard, merge = flow["jobs"]["shard"], flow["jobs"]["merge"]
    assert shard["strategy"]["matrix"]["shard"] == [1, 2, 3, 4]
    # the shard count is written once: the jobs read it from the matrix
    assert shard["env"]["SHARDS"] == "${{ strategy.job-total }}" and "SHARDS" not in flow.get("env", {})
    runs = " ".join(step.get("run", "") for step in shard["steps"])
    assert '--shard "$SHARD/$SHARDS" --out "shard-$SHARD"' in runs
    assert "${{" not in runs  # expressions reach the shell through env, quoted
    assert merge["needs"] == "shard" and merge["if"] == "${{ !cancelled() }}"
    merge_runs = " ".join(step.get("run", "") for step in merge["steps"])
    for command in (
        "actcmp merge results/sweep shards/shard-*",
        "actcmp status results/sweep",
        "actcmp report results/sweep",
        "actcmp compare results/sweep baseline",
    ):
        assert command in merge_runs, command
    assert any(step.get("with", {}).get("pattern") == "shard-*" for step in merge["steps"])
    # sweep jobs install without the dev extras, through the cached setup
    setup = REPO / ".github" / "actions" / "setup" / "action.yml"
    assert all(step.get("uses") == "./.github/actions/setup" and "with" not in step
               for step in shard["steps"] + merge["steps"] if "setup" in step.get("uses", ""))  # fmt: skip
    setup_text = setup.read_text()
    assert "make install" in setup_text and "download.pytorch.org/whl/cpu" in setup_text
    assert "hashFiles('pyproject.toml')" in setup_text and "print-torch-spec" in setup_text
    # every action pinned by a full commit SHA
    for path in [*workflows.glob("*.yml"), setup]:
        for ref in re.findall(r"uses:\s*(\S+)", path.read_text()):
            if not ref.startswith("./"):
                assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), (path.name, ref)
    test_flow = yaml.safe_load((workflows / "test.yml").read_text())
    assert {"push", "pull_request"} <= set(test_flow[True])
    test_runs = " ".join(step.get("run", "") for step in test_flow["jobs"]["test"]["steps"])
    assert "make test" in test_runs and "make lint" in test_runs


def test_results_from_before_a_later_field_compare_and_tabulate_with_new_ones(tmp_path: Path) -> None:
    # runs stored by a version without probe_every have the same ids as new runs at
    # probe_every = 1; read back, both carry it, so cells match across and within directories
    from actcmp.analysis.compare import compare_results
    from actcmp.analysis.stats import cell_keys

    old = [fake(f"r{s}", "relu", s, 1.0) for s in range(3)]
    new = [fake(f"r{s}", "relu", s, 1.0) for s in range(3)]
    for result in new:
        result.config["probe_every"] = 1
    base, current = write_store(tmp_path / "old", old), write_store(tmp_path / "new", new)
    comparison = compare_results(current, base)
    assert [c.verdict for c in comparison.cells] == ["same"]
    extra = fake("r9", "relu", 9, 1.0)
    extra.config["probe_every"] = 1
    mixed = write_store(tmp_path / "mixed", [*old, extra])
    runs = load_results(mixed).runs
    assert runs["probe_every"].tolist() == [1, 1, 1, 1]
    assert "probe_every" not in cell_keys(runs)
    with Store(mixed, create=False) as store:
        assert {cfg["probe_every"] for cfg in store.expected_configs().values()} == {1}
