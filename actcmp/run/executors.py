"""Where tasks run, behind the ``concurrent.futures.Executor`` interface.

* ``SerialExecutor``: in this process, one task at a time (``--jobs 1``), on
  ``SERIAL_THREADS`` threads for the duration of each task;
* ``process_executor``: worker processes (``--jobs N``), each with its own torch thread
  count so that N processes x T threads fit the cores;
* ``RayExecutor`` (:mod:`actcmp.run.ray_executor`, ``--backend ray``): Ray tasks on a cluster
  or a local Ray instance; Ray is imported only when that backend is asked for.

Workers only compute; results come back to the parent, which is the one writer.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any

from actcmp.errors import ConfigError
from actcmp.errors import TaskLost as TaskLost  # what a task's Future may carry (Ray: a lost worker)
from actcmp.run.ray_executor import RayExecutor
from actcmp.run.resources import cpu_count
from actcmp.signals import die_with_parent

BACKENDS = ("local", "ray")


#: Threads of every pool (torch's OpenMP, numpy/scipy's BLAS) while ``--jobs 1`` trains.
#: One, as each worker of ``--jobs 2`` gets on 2 cores: with two, the OpenMP threads of
#: torch busy-wait against BLAS's and anything else on the machine (measured on a 2-core
#: VM, 96-run digits sweep: 79-117 s with torch's default 2 threads, 10-14 s with 1).
SERIAL_THREADS = 1

#: Environment variables by which a user chooses the thread count; the in-process
#: executor then leaves torch as it is.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def serial_threads() -> int | None:
    """Threads for in-process training: ``SERIAL_THREADS``, or None (leave torch alone)
    when the user chose a count through ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS``."""
    if any(os.environ.get(name, "").strip() for name in THREAD_VARIABLES):
        return None
    return SERIAL_THREADS


@contextlib.contextmanager
def thread_limit(threads: int | None) -> Iterator[None]:
    """Run the block with torch and the loaded BLAS/OpenMP pools on ``threads`` threads,
    restoring torch's setting afterwards (a library caller keeps its own). None: no change."""
    if threads is None:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - comes with scikit-learn
        limits: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    else:
        limits = threadpool_limits(limits=threads)
    torch.set_num_threads(threads)
    try:
        with limits:
            yield
    finally:
        torch.set_num_threads(previous)


class SerialExecutor(Executor):
    """Runs each task at submit time in the calling process; returns a finished Future.

    Each task runs under :func:`thread_limit` with ``threads`` (default
    :func:`serial_threads`: one, unless the user chose through ``OMP_NUM_THREADS``).
    Exceptions are stored in the Future like a real executor would; KeyboardInterrupt
    propagates so Ctrl-C stops the sweep at once.
    """

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads if threads is not None else serial_threads()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            with thread_limit(self.threads):
                result = fn(*args, **kwargs)
        except Exception as exc:  # the caller inspects the future
            future.set_exception(exc)
        else:
            future.set_result(result)
        return future


def threads_per_worker(jobs: int) -> int:
    """Torch threads for each of ``jobs`` workers so that they share the cores."""
    return max(1, cpu_count() // max(1, jobs))


def _init_worker(threads: int) -> None:
    # First, before the seconds of importing torch: a worker that had not yet run a task
    # when the sweep was SIGKILLed never asked to die with it, and waited on the task queue
    # forever (it held the pipes, so the killed sweep's caller waited too).
    die_with_parent()
    # The parent handles Ctrl-C (it commits what finished and stops the pool); workers
    # must not die with a traceback of their own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)


def process_executor(jobs: int, threads: int | None = None) -> ProcessPoolExecutor:
    """A pool of ``jobs`` spawned worker processes (spawn: safe with torch's threads),
    each on ``threads`` threads (default :func:`threads_per_worker`)."""
    return ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(threads or threads_per_worker(jobs),),
    )


def make_executor(
    backend: str, jobs: int, address: str | None = None, threads: int | None = None, **options: Any
) -> Executor:
    """The executor for ``backend``.

    ``local``: in this process (``jobs`` 1) or ``jobs`` worker processes; ``threads``
    overrides the thread count of either (see :class:`SerialExecutor`, :func:`process_executor`).
    ``ray``: Ray tasks on the cluster at ``address`` (or ``RAY_ADDRESS``); without one,
    a local Ray instance with ``jobs`` CPUs (all cores when ``jobs`` is 1), stopped at
    shutdown. ``options`` go to :class:`~actcmp.run.ray_executor.RayExecutor`
    (``num_cpus``, ``num_gpus``, ``max_retries``, ``runtime_env``, ``temp_dir``).
    """
    if backend == "ray":
        return RayExecutor(address, local_cpus=jobs if jobs > 1 else None, **options)
    if backend != "local":
        raise ConfigError(f"unknown backend '{backend}' (available: {', '.join(BACKENDS)})")
    if address is not None:
        raise ConfigError("--address is for --backend ray (the local backend runs on this machine)")
    if jobs <= 1:
        return SerialExecutor(threads)
    return process_executor(jobs, threads)


def stop_executor(executor: Any, graceful: bool) -> None:
    """Shut the executor down; after Ctrl-C or an error, terminate its worker processes
    (they ignore SIGINT, see ``_init_worker``) instead of waiting for them."""
    if graceful:
        executor.shutdown(wait=True)
        return
    processes = list((getattr(executor, "_processes", None) or {}).values())  # gone after shutdown()
    executor.shutdown(wait=False, cancel_futures=True)
    # a worker the pool was still starting is not in _processes yet: take every child
    processes = list({id(p): p for p in [*processes, *multiprocessing.active_children()]}.values())
    for process in processes:
        with contextlib.suppress(Exception):
            process.terminate()
    for process in processes:
        with contextlib.suppress(Exception):
            process.join(timeout=5)
            if process.is_alive():  # busy or half-started under load: no more waiting
                process.kill()
                process.join(timeout=5)


@contextlib.contextmanager
def stopped_on_error(executor: Any) -> Iterator[None]:
    """Stop ``executor`` (made before the results directory) when the sweep fails
    before or around its own graceful stop, e.g. on a directory another sweep holds."""
    try:
        yield
    except BaseException:
        stop_executor(executor, graceful=False)
        raise
