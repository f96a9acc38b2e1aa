"""Sweeps that survive: SIGKILL / Ctrl-C and resume, determinism, one writer, failures.

The fault-injection tests run real ``actcmp run`` subprocesses, kill them at several
points (polling the database read-only, as ``status`` would, while they write), resume,
and check after every fault that each stored run is whole and identical to the same run
of an uninterrupted sweep, and at the end that the stored frames and report tables are
identical to it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from frames import assert_same_results
from typer.testing import CliRunner

from actcmp.cli import app
from actcmp.config import SweepConfig
from actcmp.store.database import DB_NAME, Store, load_results

REPO = Path(__file__).resolve().parent.parent
runner = CliRunner()
SMOKE = str(REPO / "experiments" / "smoke.toml")
FAULTS = {"injected": 0, "survived": 0}


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    return {**env, "CI": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def sweep_cmd(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "actcmp", "run", SMOKE, "--epochs", "2", "--out", str(out), *extra]


def start(out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        sweep_cmd(out, *extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=_env(),
        start_new_session=True,
    )


def stored_count(out: Path) -> int:
    """Runs stored so far, read the way a reader would while the sweep writes."""
    db = out / DB_NAME
    if not db.exists():
        return -1
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:  # schema not created yet
        return -1


def wait_for(proc: subprocess.Popen[str], out: Path, runs: int, timeout: float = 240) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        count = stored_count(out)
        if count >= runs:
            return count
        time.sleep(0.05)
    return stored_count(out)


def run_content(db: Path) -> dict[str, tuple[Any, ...]]:
    """Per run: status and every stored number (what must be whole and identical)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ids = [r[0] for r in conn.execute("SELECT run_id FROM runs ORDER BY run_id")]
        for table in ("run_metrics", "epoch_metrics", "layer_metrics"):  # nothing without its run row
            orphans = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE run_id NOT IN (SELECT run_id FROM runs)")
            assert orphans.fetchone()[0] == 0, table
        content = {}
        for rid in ids:
            content[rid] = (
                conn.execute("SELECT status FROM runs WHERE run_id=?", (rid,)).fetchone()[0],
                conn.execute("SELECT name, value FROM run_metrics WHERE run_id=? ORDER BY name", (rid,)).fetchall(),
                conn.execute(
                    "SELECT epoch, name, value FROM epoch_metrics WHERE run_id=? ORDER BY epoch, name", (rid,)
                ).fetchall(),
                conn.execute(
                    "SELECT epoch, layer, name, value FROM layer_metrics WHERE run_id=? ORDER BY epoch, layer, name",
                    (rid,),
                ).fetchall(),
            )
        return content
    finally:
        conn.close()


def table_files(directory: Path, into: Path) -> dict[str, bytes]:
    """The report's tables (CSV, Markdown, LaTeX) regenerated from the stored results."""
    from actcmp.report.tables import build_tables, write_table

    paths = []
    for table in build_tables(load_results(directory)):
        paths += write_table(table, into)
    return {p.name: p.read_bytes() for p in paths}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Uninterrupted sweeps, one per engine, as subprocesses like the faulted ones."""
    base = tmp_path_factory.mktemp("reference")
    dirs = {}
    for engine in ("plain", "auto"):
        out = base / engine
        proc = subprocess.run(
            sweep_cmd(out, "--engine", engine, "--quiet"),
            capture_output=True,
            text=True,
            cwd=REPO,
            env=_env(),
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        dirs[engine] = out
    return dirs


def _fault_points(out: Path, engine: str, points: list[tuple[int, float, str]], expected: dict[str, Any]) -> None:
    """Kill a sweep at each (stored runs, extra delay, jobs) point, check, resume."""
    seen: dict[str, Any] = {}
    for runs, delay, jobs in points:
        proc = start(out, "--engine", engine, "--jobs", jobs, "--quiet")
        wait_for(proc, out, runs)
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            FAULTS["injected"] += 1
        proc.communicate(timeout=60)  # returns once workers are gone too (they hold the pipes)
        if stored_count(out) < 0:  # killed before the store's schema existed (the file may): nothing to lose
            FAULTS["survived"] += 1
            continue
        now = run_content(out / DB_NAME)
        assert set(seen) <= set(now), "a stored run was lost"
        for rid, content in now.items():
            assert content == expected[rid], f"run {rid} is not whole or not identical to the reference"
        seen = now
        FAULTS["survived"] += 1
    final = subprocess.run(
        sweep_cmd(out, "--engine", engine), capture_output=True, text=True, cwd=REPO, env=_env(), timeout=300
    )
    assert final.returncode == 0, final.stderr
    assert f"{len(seen)} already stored" in final.stderr
    assert run_content(out / DB_NAME) == expected


@pytest.mark.slow
def test_sigkill_at_several_points_then_resume(reference: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "faulted"
    expected = run_content(reference["plain"] / DB_NAME)
    points = [
        (-1, 1.0, "1"),  # while starting up (no store yet, or just created)
        (0, 0.0, "1"),  # as soon as the schema exists
        (1, 0.0, "1"),  # right after the first commit
        (3, 0.25, "1"),  # in the middle of a run
        (5, 0.0, "2"),  # a process pool: the workers must die with the sweep
    ]
    _fault_points(out, "plain", points, expected)
    assert (out / "actcmp.lock").exists() is False
    assert_same_results(out, reference["plain"])
    assert table_files(out, tmp_path / "t1") == table_files(reference["plain"], tmp_path / "t2")
    print(f"\nfaults injected so far: {FAULTS['injected']}, survived: {FAULTS['survived']}")


@pytest.mark.slow
def test_sigkill_with_the_default_engine(reference: dict[str, Path], tmp_path: Path) -> None:
    """The batched engine trains groups of runs at once; a resume regroups what is left."""
    out = tmp_path / "faulted"
    expected = run_content(reference["auto"] / DB_NAME)
    _fault_points(out, "auto", [(0, 0.5, "1"), (1, 0.0, "1")], expected)
    assert_same_results(out, reference["auto"])


@pytest.mark.slow
def test_sigkill_ten_times_at_random_points_of_a_batched_two_worker_sweep(
    reference: dict[str, Path], tmp_path: Path
) -> None:
    """Issue 12: kill -9 a batched ``--jobs 2`` sweep at ten random points, resuming each
    time: every stored number equals the uninterrupted sweep's, though the resumed groups
    are smaller and differently composed than the original ones."""
    import random

    rng = random.Random(12)
    out = tmp_path / "faulted"
    expected = run_content(reference["auto"] / DB_NAME)
    total = len(expected)
    points = [(rng.randrange(-1, total - 1), rng.uniform(0.0, 0.6), "2") for _ in range(10)]
    before = FAULTS["injected"]
    _fault_points(out, "batched", sorted(points), expected)
    assert FAULTS["injected"] - before >= 5, "most kills must land while the sweep runs"
    assert_same_results(out, reference["auto"])


def _group_alive(pgid: int) -> list[int]:
    alive = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                alive.append(int(entry.name))
    return alive


@pytest.mark.slow
@pytest.mark.parametrize(
    ("jobs", "how"),
    [
        pytest.param("1", "ctrl-c", id="ctrl-c"),
        pytest.param("2", "ctrl-c", id="ctrl-c-process-pool"),
        pytest.param("2", "sigterm", id="sigterm-process-pool"),  # what a CI cancel sends
    ],
)
def test_ctrl_c_stores_what_finished_and_says_how_to_resume(
    reference: dict[str, Path], tmp_path: Path, jobs: str, how: str
) -> None:
    out = tmp_path / "interrupted"
    expected = run_content(reference["plain"] / DB_NAME)
    proc = start(out, "--engine", "plain", "--jobs", jobs)
    before = wait_for(proc, out, 2)
    # readers work while the sweep writes
    status = runner.invoke(app, ["status", str(out)])
    assert status.exit_code in (0, 1) and "actcmp: error" not in status.output, status.output
    assert len(load_results(out).runs) >= before
    if how == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C goes to the whole process group
    else:
        os.kill(proc.pid, signal.SIGTERM)  # the sweep process only: it must stop its workers itself
    FAULTS["injected"] += 1
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == (130 if how == "ctrl-c" else 143), stderr  # SIGTERM: 128 + 15
    assert "run the same command again to resume" in stderr and "Traceback" not in stderr
    # multiprocessing's resource tracker leaves only when it sees the sweep gone; give the
    # group a few seconds under load, but nothing may linger
    deadline = time.monotonic() + 15
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _group_alive(proc.pid), "worker processes outlived the sweep"
    stored = run_content(out / DB_NAME)
    assert len(stored) >= before and all(stored[rid] == expected[rid] for rid in stored)
    assert not (out / "actcmp.lock").exists()
    resumed = subprocess.run(
        sweep_cmd(out, "--engine", "plain"), capture_output=True, text=True, cwd=REPO, env=_env(), timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(stored)} already stored" in resumed.stderr
    assert run_content(out / DB_NAME) == expected
    FAULTS["survived"] += 1
    print(f"\nfaults injected so far: {FAULTS['injected']}, survived: {FAULTS['survived']}")


# ---------------------------------------------------------------------------- in-process, fast


def tiny_sweep(**fixed: Any) -> SweepConfig:
    values = {
        "epochs": 1,
        "width": 16,
        "bottleneck": 4,
        "batch_size": 256,
        "probe_size": 64,
        "dataset": "clusters",
        **fixed,
    }
    return SweepConfig(name="tiny", fixed=values, grid={"activation": ["relu", "tanh"], "seed": [0, 1]})


def test_same_config_and_seeds_give_the_same_stored_numbers(tmp_path: Path) -> None:
    from actcmp.run.sweep import run_sweep

    for name in ("a", "b"):
        run_sweep(tiny_sweep(), tmp_path / name, engine="plain")
    assert_same_results(tmp_path / "a", tmp_path / "b")
    assert run_content(tmp_path / "a" / DB_NAME) == run_content(tmp_path / "b" / DB_NAME)


def test_spellings_that_resolve_alike_are_one_run() -> None:
    from actcmp.run.sweep import plan_runs

    sweep = SweepConfig(name="x", fixed={"activation": "relu", "epochs": 0}, grid={"init": ["auto", "kaiming"]})
    assert len(sweep.runs()) == 2 and len(plan_runs(sweep)) == 1


TINY_TOML = (
    'name = "tiny"\nepochs = 1\nwidth = 16\nbottleneck = 4\nbatch_size = 256\nprobe_size = 64\n'
    'dataset = "clusters"\n[grid]\nactivation = ["relu", "tanh"]\nseed = [0, 1]\n'
)


@pytest.mark.parametrize("when", ["after-the-last-store", "while-the-workers-stop"])
def test_ctrl_c_after_the_last_run_is_stored_ends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    """A Ctrl-C that comes once every run is stored finds a complete sweep: exit 0, said so,
    the report (which the user stopped) not written; earlier it said "interrupted" (130)."""
    import actcmp.run.sweep as sweep_module

    if when == "after-the-last-store":
        real_drain = sweep_module._drain

        def drain_then_ctrl_c(*args: Any, **kwargs: Any) -> Any:
            real_drain(*args, **kwargs)
            os.kill(os.getpid(), signal.SIGINT)  # the guard's handler raises it here

        monkeypatch.setattr(sweep_module, "_drain", drain_then_ctrl_c)
    else:
        real_stop = sweep_module.stop_executor

        def stop_then_ctrl_c(*args: Any, **kwargs: Any) -> Any:
            real_stop(*args, **kwargs)
            os.kill(os.getpid(), signal.SIGINT)

        monkeypatch.setattr(sweep_module, "stop_executor", stop_then_ctrl_c)
    sweep_file = tmp_path / "tiny.toml"
    sweep_file.write_text(TINY_TOML)
    out = tmp_path / "r"
    result = runner.invoke(app, ["run", str(sweep_file), "--out", str(out), "--engine", "plain"])
    assert result.exit_code == 0, result.output
    assert "note: Ctrl-C came after the last run was stored: the sweep is complete" in result.output
    assert "interrupted" not in result.output
    with Store(out, create=False) as store:
        assert len(store.finished_ids()) == 4
    # with --report, the report it was asked for is not written: stopped (130), said so
    reported = runner.invoke(
        app, ["run", str(sweep_file), "--out", str(tmp_path / "r2"), "--engine", "plain", "--report"]
    )
    assert reported.exit_code == 130, reported.output
    assert "the sweep is complete, the report was not written (actcmp report" in reported.output
    assert not (tmp_path / "r2" / "report.html").exists()


def test_ctrl_c_after_the_last_store_with_a_lost_task_is_an_interruption(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task lost (a Ray worker died) leaves its runs to do: a Ctrl-C after the others were
    stored is an interruption, not a complete sweep."""
    import actcmp.run.sweep as sweep_module
    from actcmp.errors import TaskLost

    real_task, real_stop = sweep_module.worker_task, sweep_module.stop_executor
    calls = {"n": 0}

    def lose_the_first(task: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            lost = TaskLost("1 run lost on the Ray cluster: WorkerCrashedError")
            lost.runs = 1  # type: ignore[attr-defined]
            raise lost
        return real_task(task)

    def stop_then_ctrl_c(*args: Any, **kwargs: Any) -> Any:
        real_stop(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(sweep_module, "worker_task", lose_the_first)
    monkeypatch.setattr(sweep_module, "stop_executor", stop_then_ctrl_c)
    sweep_file = tmp_path / "tiny.toml"
    sweep_file.write_text(TINY_TOML)
    result = runner.invoke(app, ["run", str(sweep_file), "--out", str(tmp_path / "r"), "--engine", "plain", "--quiet"])
    assert result.exit_code == 130, result.output
    assert "complete" not in result.output and "interrupted" in result.output


def test_ctrl_c_between_the_tuning_and_evaluation_phases_is_an_interruption(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every tuning run stored, no evaluation run planned yet: not complete (130)."""
    import actcmp.run.sweep as sweep_module

    real_drain = sweep_module._drain
    calls = {"n": 0}

    def drain_then_ctrl_c(*args: Any, **kwargs: Any) -> Any:
        real_drain(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 1:  # the tuning phase
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(sweep_module, "_drain", drain_then_ctrl_c)
    sweep_file = tmp_path / "tuned.toml"
    sweep_file.write_text(
        TINY_TOML.replace("seed = [0, 1]\n", "seed = [0]\n") + "[tune]\nlr = [1e-3, 1e-2]\nseeds = [5]\n"
    )
    result = runner.invoke(app, ["run", str(sweep_file), "--out", str(tmp_path / "t"), "--engine", "plain", "--quiet"])
    assert result.exit_code == 130, result.output
    assert "interrupted" in result.output and "complete" not in result.output


def test_ctrl_c_in_process_commits_finished_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import actcmp.run.tasks as tasks_module

    real = tasks_module.execute_task
    calls = {"n": 0}

    def interrupt_third(task: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(task)

    monkeypatch.setattr(tasks_module, "execute_task", interrupt_third)  # what the worker calls
    out = tmp_path / "r"
    sweep_file = tmp_path / "tiny.toml"
    sweep_file.write_text(
        'name = "tiny"\nepochs = 1\nwidth = 16\nbottleneck = 4\nbatch_size = 256\nprobe_size = 64\n'
        'dataset = "clusters"\n[grid]\nactivation = ["relu", "tanh"]\nseed = [0, 1]\n'
    )
    result = runner.invoke(app, ["run", str(sweep_file), "--out", str(out), "--engine", "plain", "--quiet"])
    assert result.exit_code == 130
    assert "2 runs stored now, 2 left" in result.output and "run the same command again to resume" in result.output
    with Store(out, create=False) as store:
        assert len(store.finished_ids()) == 2
    monkeypatch.setattr(tasks_module, "execute_task", real)
    again = runner.invoke(app, ["run", str(sweep_file), "--out", str(out), "--engine", "plain"])
    assert again.exit_code == 0 and "2 already stored, 2 to run" in again.output


def test_interrupt_during_a_commit_waits_for_it() -> None:
    from actcmp.run.signals import Interrupts

    guard = Interrupts()
    committed = []
    with pytest.raises(KeyboardInterrupt), guard.shield():
        guard.handler(signal.SIGINT, None)  # Ctrl-C arrives mid-commit: deferred
        committed.append("run")
    assert committed == ["run"]
    with pytest.raises(KeyboardInterrupt):
        guard.handler(signal.SIGINT, None)  # outside a commit: at once


def test_an_interrupt_lost_in_a_finaliser_is_raised_when_the_block_ends() -> None:
    """A KeyboardInterrupt raised while Python runs a ``__del__`` or a weakref callback is
    printed and dropped; the guard remembers the signal and raises it again at the end of
    the block (a report went on to finish and exit 0 after a Ctrl-C)."""
    from actcmp.signals import interrupts

    done = []
    with pytest.raises(KeyboardInterrupt), interrupts() as guard:
        with contextlib.suppress(KeyboardInterrupt):  # what "Exception ignored in: <function ...>" does
            guard.handler(signal.SIGINT, None)
        done.append("the rest of the block")
    assert done == ["the rest of the block"]
    with interrupts() as guard:  # caught and dealt with: not raised again
        try:
            guard.handler(signal.SIGINT, None)
        except KeyboardInterrupt:
            guard.handled()


def test_sigterm_is_told_apart_and_an_ignored_sigint_stays_ignored() -> None:
    from actcmp.signals import Terminated, interrupts

    with pytest.raises(Terminated), interrupts() as guard:
        guard.handler(signal.SIGTERM, None)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a shell's background job
    try:
        with interrupts():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_sigterm_handler_is_installed_and_restored() -> None:
    from actcmp.run.signals import interrupts

    before = signal.getsignal(signal.SIGTERM)
    with interrupts() as guard:
        assert signal.getsignal(signal.SIGTERM) == guard.handler
    assert signal.getsignal(signal.SIGTERM) == before


# ---------------------------------------------------------------------------- one writer, many readers


def test_second_sweep_is_refused_while_one_writes(tmp_path: Path) -> None:
    from actcmp.run.sweep import run_sweep
    from actcmp.store.lock import DirLock

    out = tmp_path / "r"
    run_sweep(tiny_sweep(epochs=0), out, engine="plain")
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    with DirLock(out):
        result = runner.invoke(app, ["run", "--datasets", "clusters", "--epochs", "0", "--out", str(out)])
        assert result.exit_code == 2
        line = [x for x in result.output.splitlines() if x.startswith("actcmp: error:")]
        assert len(line) == 1 and "in use by another sweep" in line[0] and f"pid {os.getpid()}" in line[0]
        assert socket.gethostname() in line[0]
        # readers work meanwhile
        assert runner.invoke(app, ["status", str(out)]).exit_code == 0
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert after == before
    assert not (out / "actcmp.lock").exists()


def test_stale_lock_of_a_dead_sweep_is_taken_over(tmp_path: Path) -> None:
    import json

    from actcmp.run.sweep import run_sweep

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "r"
    out.mkdir()
    (out / "actcmp.lock").write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "started": "x"}))
    summary = run_sweep(tiny_sweep(epochs=0), out, engine="plain")
    assert summary.done == 4 and summary.resumed_after_crash
    assert not (out / "actcmp.lock").exists()


def test_readers_see_committed_runs_while_a_commit_is_open(tmp_path: Path) -> None:
    from actcmp.analysis.status import cell_status
    from actcmp.engine.plain import RunResult

    def fake_result(rid: str) -> RunResult:
        cfg = {"run_id": rid, "activation": "relu", "dataset": "digits", "depth": 2, "seed": 0}
        return RunResult(run_id=rid, config=cfg, status="done", final={"test_loss": 0.5})

    out = tmp_path / "r"
    with Store(out) as store:
        store.save_sweep("s", "t", {"grid": {}}, [fake_result("a").config, fake_result("b").config])
        store.write_run(fake_result("a"))
        store.conn.execute("BEGIN IMMEDIATE")  # a writer in the middle of committing run b
        store.conn.execute("INSERT INTO runs VALUES ('b', 'done', '{}', 0, NULL, '{}', 'now')")
        table = cell_status(out)
        assert table.total("done") == 1 and table.pending == 1
        assert list(load_results(out).runs["run_id"]) == ["a"]
        store.conn.execute("ROLLBACK")


# ---------------------------------------------------------------------------- failures


def test_a_run_that_raises_is_recorded_and_the_sweep_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = tmp_path / "flaky_act.py"
    module.write_text(
        "import torch\n\n"
        "class Boom(torch.nn.Module):\n"
        "    def forward(self, x):\n"
        "        if x.requires_grad:  # in training only: the plan-time check applies it to a plain tensor\n"
        "            raise RuntimeError('boom inside forward')\n"
        "        return x\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "r"
    args = [
        "run",
        "--activations",
        "relu,flaky_act:Boom",
        "--datasets",
        "clusters",
        "--epochs",
        "1",
        "--set",
        "width=16",
        "--set",
        "bottleneck=4",
        "--seeds",
        "2",
        "--out",
        str(out),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "4 runs in" in result.output and "2 done" in result.output and "2 failed" in result.output
    failed = [line for line in result.output.splitlines() if line.startswith("failed: ")]
    assert len(failed) == 2 and all("RuntimeError: boom inside forward" in line for line in failed)
    runs = load_results(out).runs.set_index("activation")
    assert set(runs.loc["flaky_act:Boom", "status"]) == {"failed"}
    assert all("boom inside forward" in e and "Traceback" in e for e in runs.loc["flaky_act:Boom", "error"])
    status = runner.invoke(app, ["status", str(out)])
    assert status.exit_code == 1 and "2 failed" in status.output and "boom inside forward" in status.output
    again = runner.invoke(app, args)  # failed runs are retried, finished ones are not
    assert again.exit_code == 1 and "2 already stored, 2 to run" in again.output


def _workers_of(pgid: int) -> list[int]:
    """The spawned pool workers in the process group ``pgid`` (not its resource tracker)."""
    found = []
    for pid in _group_alive(pgid):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in command:
            found.append(pid)
    return found


#: a process that makes the sweeps' worker pool, gives it two tasks that are not actcmp's own
#: (so that no task asks to die with the parent) and waits to be killed
POOL_SCRIPT = """
import sys, time
from actcmp.run.executors import process_executor
if __name__ == "__main__":
    pool = process_executor(2, threads=1)
    pool.submit(time.sleep, 120)
    pool.submit(time.sleep, 0)
    time.sleep(120)
"""


@pytest.mark.slow
def test_pool_workers_die_with_a_killed_sweep_before_any_task_of_theirs(tmp_path: Path) -> None:
    """A pool worker asked to die with the sweep only when it ran an actcmp task: one that had
    not (still starting, or idle because the other worker took the tasks) waited on the task
    queue, whose write end it holds itself, for good after a SIGKILL of the sweep, holding the
    caller's pipes (a resilience test timed out on communicate() that way, under load). The
    pool's initializer now asks as each worker starts."""
    script = tmp_path / "pool.py"
    script.write_text(POOL_SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        env=_env(), start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while len(_workers_of(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(_workers_of(proc.pid)) == 2, "the pool's workers did not start"
        time.sleep(5)  # past their start (importing torch): one sleeps in its task, one waits for another
    finally:
        os.kill(proc.pid, signal.SIGKILL)
    try:
        deadline = time.monotonic() + 15
        while _workers_of(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _workers_of(proc.pid), "a worker outlived the killed sweep"
    finally:
        for pid in _group_alive(proc.pid):  # leave nothing behind if it fails
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        proc.communicate(timeout=30)
