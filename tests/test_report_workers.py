"""The report's figures drawn in forked workers (actcmp.report.workers): the same files as
one process, task order kept, a task's error raised in the parent, no worker left behind."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from actcmp.report import make_report, workers

needs_fork = pytest.mark.skipif(
    not workers.can_fork() or workers.usable_cpus() < 2,
    reason="figures are drawn in forked workers on Linux only, and with one CPU in one process",
)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow
@needs_fork
def test_a_report_drawn_by_two_workers_is_byte_identical_to_one_drawn_alone(
    smoke_results: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    started: list[bool] = []

    def spied(tasks, jobs):
        drawing = workers.Drawing(tasks, jobs)
        started.append(drawing.parallel)
        return drawing

    monkeypatch.setattr(workers, "start", spied)
    alone = make_report(smoke_results, out=tmp_path / "one", jobs=1)
    shared = make_report(smoke_results, out=tmp_path / "two", jobs=2)
    assert started == [False, True]  # the second report was drawn by workers
    one, two = _files(tmp_path / "one"), _files(tmp_path / "two")
    assert any(name.startswith("figures/") and name.endswith(".pdf") for name in one)
    assert sorted(one) == sorted(two)
    assert [name for name in one if one[name] != two[name]] == []
    # the same paths, in the same order
    assert [p.relative_to(tmp_path / "one") for p in alone] == [p.relative_to(tmp_path / "two") for p in shared]


def _pid() -> int:
    return os.getpid()


def _fails() -> int:
    raise ValueError("figure 2 cannot be drawn")


@needs_fork
def test_tasks_run_in_other_processes_and_come_back_in_task_order():
    values = [lambda i=i: (i, os.getpid()) for i in range(6)]
    got = workers.start(values, 2).results()
    assert [i for i, _ in got] == list(range(6))
    assert {pid for _, pid in got} - {os.getpid()} and os.getpid() not in {pid for _, pid in got}
    assert multiprocessing.active_children() == []


def test_one_job_runs_the_tasks_here_when_asked_for_their_results():
    ran: list[int] = []
    drawing = workers.start([lambda: ran.append(1) or os.getpid()], 1)
    assert not drawing.parallel and ran == []
    assert drawing.results() == [os.getpid()] and ran == [1]


@needs_fork
def test_a_failing_task_raises_its_error_in_the_parent_and_leaves_no_worker():
    drawing = workers.start([_pid, _fails, _pid], 2)
    assert drawing.parallel
    with pytest.raises(ValueError, match="figure 2 cannot be drawn"):
        drawing.results()
    assert multiprocessing.active_children() == []


@needs_fork
def test_an_interrupt_in_the_parent_stops_the_workers_and_leaves_no_temporary_file(tmp_path: Path):
    import signal
    import threading
    import time

    from actcmp.atomic import write_atomic

    def slow_figure(name: str):
        return lambda: write_atomic(tmp_path / name, lambda handle: (handle.write(b"x"), time.sleep(60)))

    drawing = workers.start([slow_figure(f"figure{i}.png") for i in range(4)], 2)
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))  # Ctrl-C reaching the parent only
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            drawing.results()
    finally:
        timer.cancel()
    assert time.monotonic() - started < 6  # 1 s, then the workers' interrupt; not the 60 s a figure takes
    assert multiprocessing.active_children() == []
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no figure, no temporary file


@pytest.mark.slow
@needs_fork
def test_a_killed_worker_is_one_clear_error_and_leaves_no_temporary_file(
    smoke_results: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import signal

    from actcmp.atomic import write_atomic
    from actcmp.errors import WorkerDied
    from actcmp.report import plots

    parent = os.getpid()
    figures = tmp_path / "out" / "figures"

    def killed_while_writing(_results):
        if os.getpid() != parent:  # in a worker: die half-way through writing a file (the OOM killer)
            write_atomic(
                figures / "doomed.png", lambda handle: (handle.write(b"x"), os.kill(os.getpid(), signal.SIGKILL))
            )
        raise AssertionError("drawn in the parent: the test needs workers")

    standard = plots.standard_figures

    def with_a_doomed_figure():
        return [("doomed", "Doomed", "Killed while written.", killed_while_writing), *standard()]

    monkeypatch.setattr(plots, "standard_figures", with_a_doomed_figure)
    with pytest.raises(WorkerDied, match="a process drawing the report's figures died"):
        make_report(smoke_results, out=tmp_path / "out", jobs=2)
    assert multiprocessing.active_children() == []
    assert [p.name for p in figures.iterdir() if p.name.endswith(".tmp")] == []


@needs_fork
def test_workers_die_with_a_killed_parent(tmp_path: Path):
    """A parent killed outright (SIGKILL, the OOM killer) leaves no worker behind."""
    import signal
    import subprocess
    import sys
    import time

    script = (
        "import os, sys, time\n"
        "from actcmp.report import workers\n"
        "drawing = workers.start([lambda: time.sleep(120)] * 4, 2)\n"
        "print(' '.join(str(p.pid) for p in drawing._pool._processes.values()), flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pids = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(pids) == 2
        time.sleep(0.5)  # the workers have started their tasks
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        alive = pids
        while alive and time.monotonic() < deadline:
            alive = [pid for pid in alive if _alive(pid)]
            time.sleep(0.1)
        assert alive == []
    finally:
        parent.kill()
        parent.wait(10)
        if parent.stdout is not None:
            parent.stdout.close()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"  # a zombie is dead, waiting for init to reap it
    except FileNotFoundError:
        return False


def test_report_jobs_comes_from_the_option_or_actcmp_jobs(smoke_results: Path, monkeypatch: pytest.MonkeyPatch):
    from typer.testing import CliRunner

    import actcmp.report
    from actcmp.cli import app

    asked: list[int] = []
    monkeypatch.setattr(actcmp.report, "make_report", lambda directory, **options: asked.append(options["jobs"]) or [])
    runner = CliRunner()
    assert runner.invoke(app, ["report", str(smoke_results), "--jobs", "2"]).exit_code == 0
    assert runner.invoke(app, ["report", str(smoke_results)], env={"ACTCMP_JOBS": "3"}).exit_code == 0
    assert runner.invoke(app, ["report", str(smoke_results)], env={"ACTCMP_JOBS": None}).exit_code == 0
    assert asked == [2, 3, 1]


@pytest.mark.slow
@needs_fork
def test_a_tuned_sweeps_report_drawn_by_workers_is_byte_identical(tmp_path: Path):
    """The [tune] sensitivity figure is one of the workers' tasks: the same files, and it is there."""
    from actcmp.run.sweep import run_sweep

    sweep = tmp_path / "tuned.toml"
    sweep.write_text(
        'name = "tiny-tuned"\nepochs = 1\nwidth = 8\nbottleneck = 2\nbatch_size = 128\nprobe_size = 64\n'
        '[grid]\ndataset = ["digits"]\ndepth = [1]\nseed = [0]\nactivation = ["relu", "tanh"]\n'
        "[tune]\nlr = [0.001, 0.01]\nseeds = [100]\n",
        encoding="utf-8",
    )
    results = tmp_path / "results"
    run_sweep(sweep, results)
    make_report(results, formats=("png", "svg"), out=tmp_path / "one", jobs=1)
    make_report(results, formats=("png", "svg"), out=tmp_path / "two", jobs=2)
    one, two = _files(tmp_path / "one"), _files(tmp_path / "two")
    assert "figures/tune_sensitivity.svg" in one
    assert sorted(one) == sorted(two)
    assert [name for name in one if one[name] != two[name]] == []


def test_a_dead_writers_temporary_files_are_removed_by_the_next_report(smoke_results: Path, tmp_path: Path):
    """A report SIGKILLed with its workers (out of memory) leaves ``.NAME.PID.XXXX.tmp``
    files that its own cleanup never ran for; the next report removes those of dead
    writers and leaves a live writer's (and unreadable old-style names) alone."""
    import subprocess
    import sys

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)
    figures = tmp_path / "out" / "figures"
    figures.mkdir(parents=True)
    dead = figures / f".loss_curves.png.{dead_pid}.k2j3h4g5.tmp"
    live = figures / f".loss_curves.png.{os.getpid()}.a1b2c3d4.tmp"
    old_style = figures / ".loss_curves.png.zz9yx8w7.tmp"
    other = figures / f".notes.txt.{dead_pid}.q1w2e3r4.tmp"  # not a figure of the report
    for path in (dead, live, old_style, other):
        path.write_bytes(b"half a file")
    make_report(smoke_results, out=tmp_path / "out", jobs=1)
    assert not dead.exists()
    assert live.exists() and old_style.exists() and other.exists()
    assert (figures / "loss_curves.png").stat().st_size > 1000


def test_temporary_files_carry_the_writers_pid(tmp_path: Path):
    from actcmp.atomic import write_atomic

    seen = []
    write_atomic(tmp_path / "x.png", lambda handle: seen.extend(p.name for p in tmp_path.iterdir()))
    (name,) = seen
    assert name.startswith(f".x.png.{os.getpid()}.") and name.endswith(".tmp")


def _sends_guarded() -> bool:
    return workers._guarded_queue is not None


@needs_fork
def test_workers_guard_their_result_sends():
    """In a real pool the initializer finds the pool's result queue and wraps its put."""
    drawing = workers.start([_sends_guarded, _sends_guarded], jobs=2)
    assert drawing.parallel
    assert drawing.results() == [True, True]


def test_sigterm_while_a_result_is_sent_waits_for_the_whole_message(monkeypatch: pytest.MonkeyPatch):
    """A worker SIGTERMed half-way through sending a result left the parent's reader waiting
    for the rest forever (a report under `timeout` hung): it now dies once the message is
    whole; while not sending, at once."""
    import signal

    died: list[str] = []
    sent: list[object] = []
    monkeypatch.setattr(workers, "_die", lambda: died.append("died"))
    monkeypatch.setattr(workers, "_terminate_after_send", False)
    previous_alarm = signal.getsignal(signal.SIGALRM)

    class Queue:
        def put(self, obj: object) -> None:
            workers._terminate(signal.SIGTERM, None)  # arrives mid-send
            assert died == []
            sent.append(obj)

    queue = Queue()
    workers._finish_sends_first(queue)
    try:
        queue.put("a figure")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous_alarm)
    assert sent == ["a figure"] and died == ["died"]
    died.clear()
    monkeypatch.setattr(workers, "_terminate_after_send", False)
    workers._terminate(signal.SIGTERM, None)  # idle or drawing: at once
    assert died == ["died"]
