"""The report's figures drawn in forked workers (actcmp.report.workers): the same files as
one process, task order kept, a task's error raised in the parent, no worker left behind."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from actcmp.report import make_report, workers

needs_fork = pytest.mark.skipif(not workers.can_fork(), reason="figures are drawn in forked workers on Linux only")


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow
@needs_fork
def test_a_report_drawn_by_two_workers_is_byte_identical_to_one_drawn_alone(smoke_results: Path, tmp_path: Path):
    alone = make_report(smoke_results, out=tmp_path / "one", jobs=1)
    shared = make_report(smoke_results, out=tmp_path / "two", jobs=2)
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
    assert time.monotonic() - started < 20  # not the 60 s a figure takes: the workers were interrupted
    assert multiprocessing.active_children() == []
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no figure, no temporary file
