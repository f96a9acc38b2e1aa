"""The report's figures drawn in worker processes (``actcmp report --jobs N``).

Drawing and saving the figures is most of a report's time (the default sweep's report: about
19 of 34 CPU-seconds in matplotlib's PNG and PDF writers, one figure after another). With
``jobs > 1`` each figure is drawn and saved by one of ``jobs`` forked processes while the
parent builds the tables and the statistics; the parent then collects what each figure's
task returned, in the order of the tasks.

A task is a function without arguments; the workers are forked after the tasks exist, so
they reach them by index, with the results already in memory (nothing is pickled on the way
in; a task's return value is pickled on the way back). A forked worker runs the same code on
the same data as the parent would, so the files are byte-identical to a serial report
(``tests/test_report_workers.py``). Where ``fork`` is not the platform's way (anything but
Linux), or ``jobs`` is 1, the tasks run in the parent when their results are asked for.

On Ctrl-C (or any error in the parent while the workers draw) the parent cancels the tasks
not started and passes the interrupt on to the workers: a worker stops the figure it is
drawing (``write_atomic`` removes its temporary file) and skips any task still queued, so the
command ends within a second, as a serial report does.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Generic, TypeVar

T = TypeVar("T")

#: the tasks of the pool being started: read by the forked workers (set before they fork)
_TASKS: Sequence[Callable[[], Any]] = ()


def can_fork() -> bool:
    """Whether figures can be drawn in forked workers here (Linux only: macOS's frameworks
    are not fork-safe and Windows has no fork)."""
    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


class Drawing(Generic[T]):
    """Tasks started by :func:`start`; :meth:`results` waits for them, in task order."""

    def __init__(self, tasks: Sequence[Callable[[], T]], jobs: int) -> None:
        self._tasks = list(tasks)
        self._pool: ProcessPoolExecutor | None = None
        self._futures: list[Future[T]] = []
        if jobs > 1 and len(self._tasks) > 1 and can_fork():
            global _TASKS
            _TASKS = self._tasks
            context = multiprocessing.get_context("fork")
            workers = min(jobs, len(self._tasks))
            self._pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_quiet_worker)
            try:  # ProcessPoolExecutor forks all its workers at the first submit
                with warnings.catch_warnings():
                    # Python >= 3.12 warns on fork() in a process with threads. Here they are BLAS's
                    # idle pool (OpenBLAS re-creates it in a child) and none of this module's: the
                    # workers draw with matplotlib and numpy and start no thread
                    warnings.filterwarnings("ignore", "This process .* use of fork", DeprecationWarning)
                    self._futures = [self._pool.submit(_run, index) for index in range(len(self._tasks))]
            except BaseException:
                self.close()
                raise

    @property
    def parallel(self) -> bool:
        return self._pool is not None

    def results(self) -> list[T]:
        """Each task's return value, in task order (an exception a task raised is raised here)."""
        if self._pool is None:
            return [task() for task in self._tasks]
        try:
            values = [future.result() for future in self._futures]
        except BaseException:
            self.close()
            raise
        self.close()
        return values

    def close(self) -> None:
        """Stop the workers. Before every task has finished (an error or an interrupt in the
        parent, or a task's error), the tasks not started are cancelled and the running ones
        interrupted."""
        global _TASKS
        pool, self._pool = self._pool, None
        if pool is not None:
            if not all(future.done() for future in self._futures):
                for future in self._futures:
                    future.cancel()
                for process in list(getattr(pool, "_processes", {}).values()):  # the pool's own workers
                    with contextlib.suppress(OSError):
                        os.kill(process.pid, signal.SIGINT)
            pool.shutdown(wait=True, cancel_futures=True)
        _TASKS = ()


def start(tasks: Sequence[Callable[[], T]], jobs: int) -> Drawing[T]:
    """Start ``tasks`` on ``jobs`` forked workers (or, with one job or no fork, keep them
    for the parent to run when :meth:`Drawing.results` is called)."""
    return Drawing(tasks, jobs)


#: in a worker: whether an interrupt came, and whether a task is running
_interrupted = False
_running = False


def _quiet_worker() -> None:
    """A worker's start: an interrupt stops the running task (only: a worker waiting for
    work must not die of it, with a traceback) and every task after it."""
    signal.signal(signal.SIGINT, _interrupt)


def _interrupt(signum: int, frame: Any) -> None:
    global _interrupted
    _interrupted = True
    if _running:
        raise KeyboardInterrupt


def _run(index: int) -> Any:
    global _running
    if _interrupted:
        raise KeyboardInterrupt
    _running = True
    try:
        return _TASKS[index]()
    finally:
        _running = False
