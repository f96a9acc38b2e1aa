"""The report's figures drawn in worker processes (``actcmp report --jobs N``).

Drawing and saving the figures is most of a report's time (the default sweep's report: about
19 of 34 CPU-seconds in matplotlib's PNG and PDF writers, one figure after another). With
``jobs > 1`` each figure is drawn and saved by one of at most ``jobs`` forked processes (no more
than the CPUs this process may use, nor than the figures) while the parent builds the tables and
the statistics; the parent then collects what each figure's task returned, in task order.

A task is a function without arguments; the workers are forked after the tasks exist, so they
reach them by index, with the results already in memory (nothing is pickled on the way in; a
task's return value is pickled on the way back). A forked worker runs the same code on the same
data as the parent would, so the files are byte-identical to a serial report
(``tests/test_report_workers.py``). Each worker holds a copy-on-write view of the parent's
memory plus its own figures: the default sweep's report peaked at ~550 MB (PSS) with one process
and ~830 MB with two. Where ``fork`` is not the platform's way (anything but Linux), ``jobs`` is
1, or the pool cannot be made (no ``/dev/shm``, ...), the tasks run in the parent when their
results are asked for.

Stopping:

* Ctrl-C or SIGTERM reaching the parent (which runs this inside :func:`actcmp.signals.interrupts`),
  or any error there: the parent cancels the tasks not started and passes an interrupt on to the
  workers; a worker stops the figure it is drawing (``write_atomic`` removes its temporary file)
  and skips any task still queued, so the command ends within about a second, as a serial report
  does. A worker started with SIGINT ignored (a background job of a shell) keeps ignoring it.
* The parent killed (SIGKILL, the OOM killer): each worker asked Linux to kill it with its
  parent (:func:`actcmp.signals.die_with_parent`), so none is left behind.
* A worker killed: :class:`~actcmp.errors.WorkerDied`, one line (exit 1); the report's caller
  removes the temporary files the dead workers left (:func:`remove_temporaries`).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Generic, TypeVar

from actcmp.errors import WorkerDied

T = TypeVar("T")

#: the tasks of the pool being started: read by the forked workers (set before they fork)
_TASKS: Sequence[Callable[[], Any]] = ()


def can_fork() -> bool:
    """Whether figures can be drawn in forked workers here (Linux only: macOS's frameworks
    are not fork-safe and Windows has no fork)."""
    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


def usable_cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class Drawing(Generic[T]):
    """Tasks started by :func:`start`; :meth:`results` waits for them, in task order."""

    def __init__(self, tasks: Sequence[Callable[[], T]], jobs: int) -> None:
        self._tasks = list(tasks)
        self._pool: ProcessPoolExecutor | None = None
        self._futures: list[Future[T]] = []
        workers = min(jobs, len(self._tasks), usable_cpus())
        if workers > 1 and can_fork():
            global _TASKS
            _TASKS = self._tasks
            try:
                self._pool = ProcessPoolExecutor(
                    workers, mp_context=multiprocessing.get_context("fork"), initializer=_worker_start
                )
            except (OSError, ImportError, NotImplementedError):  # no semaphores here: draw in this process
                _TASKS = ()
                return
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
        """Each task's return value, in task order (an exception a task raised is raised here;
        a worker that died is :class:`~actcmp.errors.WorkerDied`)."""
        if self._pool is None:
            return [task() for task in self._tasks]
        try:
            values = [future.result() for future in self._futures]
        except BrokenProcessPool:
            self.close()
            raise WorkerDied(
                "a process drawing the report's figures died (killed, or out of memory?); "
                "the tables were written; run the report again, with --jobs 1 to use less memory"
            ) from None
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
                for process in list((getattr(pool, "_processes", None) or {}).values()):  # the pool's
                    with contextlib.suppress(OSError):
                        os.kill(process.pid, signal.SIGINT)
            pool.shutdown(wait=True, cancel_futures=True)
        _TASKS = ()


def start(tasks: Sequence[Callable[[], T]], jobs: int) -> Drawing[T]:
    """Start ``tasks`` on up to ``jobs`` forked workers (or, with one job or no fork, keep
    them for the parent to run when :meth:`Drawing.results` is called)."""
    return Drawing(tasks, jobs)


def remove_temporaries(directory: Path, names: Iterable[str], *, only_of_dead_writers: bool = False) -> None:
    """Remove the temporary files :func:`~actcmp.atomic.write_atomic` makes for ``names``
    (``.NAME.PID.XXXXXXXX.tmp``) in ``directory``: what a worker killed while writing leaves.

    ``only_of_dead_writers``: only those whose writing process is gone (a report killed
    with its workers, e.g. out of memory, before this one); a live writer's are left to it."""
    for name in names:
        for stale in directory.glob(f".{name}.*.tmp"):
            if only_of_dead_writers and _writer_alive(stale.name[: -len(".tmp")].rsplit(".", 2)[1]):
                continue
            with contextlib.suppress(OSError):
                stale.unlink()


def _writer_alive(pid_text: str) -> bool:
    """Whether the process that named a temporary file may still write it (an unreadable
    name, from before names carried the PID: assume so)."""
    if not pid_text.isdigit():
        return True
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


#: in a worker: whether an interrupt came, and whether a task is running
_interrupted = False
_running = False
#: in a worker: whether a result is being sent, and whether SIGTERM waits for the send to end
_sending = False
_terminate_after_send = False
#: seconds a SIGTERM waits for a result being sent (a reader that is gone never takes it)
SEND_GRACE_S = 2
#: in a worker: the pool's result queue, once its sends are guarded
_guarded_queue: Any = None


def _worker_start() -> None:
    """A worker's start: die with the parent; an interrupt stops the running task (only: a
    worker waiting for work must not die of it, with a traceback) and every task after it,
    unless SIGINT was ignored when the parent started (a shell's background job)."""
    from actcmp.signals import die_with_parent

    die_with_parent()
    # SIGTERM kills a worker (the pool's own way to stop a broken pool), not the parent's
    # handler inherited through fork: that one raises, and a worker raising while it sends a
    # result tries to send the error, blocking again. But not half-way through sending a
    # result: the parent's reader would wait for the rest of the message forever (a SIGTERM
    # to the whole process group, e.g. `timeout`, hung a report that way)
    global _guarded_queue
    queue = _result_queue_of(sys._getframe(1))
    if queue is not None:
        _finish_sends_first(queue)
        _guarded_queue = queue
        signal.signal(signal.SIGTERM, _terminate)
    else:  # another Python's pool: no way to tell a send apart
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, _interrupt)


def _result_queue_of(frame: Any) -> Any:
    """The result queue of ``concurrent.futures.process._process_worker`` (which calls the
    initializer), or None."""
    if frame is None or frame.f_code.co_name != "_process_worker":
        return None
    queue = frame.f_locals.get("result_queue")
    return queue if callable(getattr(queue, "put", None)) else None


def _finish_sends_first(queue: Any) -> None:
    """Mark the worker as sending while ``queue.put`` runs; a SIGTERM that came meanwhile
    kills it once the message is whole."""
    send = queue.put

    def put(obj: Any) -> None:
        global _sending
        _sending = True
        try:
            send(obj)
        finally:
            _sending = False
            if _terminate_after_send:
                _die()

    queue.put = put


def _terminate(signum: int, frame: Any) -> None:
    """SIGTERM in a worker: die now, or, while a result is being sent, once it is sent (at
    most :data:`SEND_GRACE_S` later: a reader that is gone never takes the rest)."""
    global _terminate_after_send
    if not _sending:
        _die()
        return
    _terminate_after_send = True
    signal.signal(signal.SIGALRM, lambda *_: _die())
    signal.alarm(SEND_GRACE_S)


def _die() -> None:
    """End this worker as SIGTERM's default action does."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
    os._exit(128 + int(signal.SIGTERM))  # pragma: no cover - not reached: the signal ends the process


def _interrupt(signum: int, frame: Any) -> None:
    global _interrupted
    _interrupted = True
    if _running:
        raise KeyboardInterrupt


def _run(index: int) -> Any:
    global _running
    _running = True  # before the check: an interrupt between the two stops this task
    try:
        if _interrupted:
            raise KeyboardInterrupt
        value = _TASKS[index]()
        if _interrupted:  # raised in a __del__ or a weakref callback, printed and lost there
            raise KeyboardInterrupt
        return value
    finally:
        _running = False
