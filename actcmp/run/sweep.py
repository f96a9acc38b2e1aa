"""Sweeps: resolve the grid, skip what is stored, schedule tasks, hand results to the store.

The parent process is the one writer: workers (see :mod:`actcmp.run.executors`) only train
and return :class:`~actcmp.engine.plain.RunResult` records.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actcmp.config import MAX_RUNS, SHAPE_KEYS, SweepConfig, config_hash, load_sweep
from actcmp.errors import ActcmpError, ConfigError, DatasetError
from actcmp.progress import NullProgress, ProgressSink
from actcmp.run.tune import PLAN_KEYS

_LOG = logging.getLogger(__name__)

ENGINES = ("auto", "plain", "batched")

#: Fields that must be equal for runs to train together as one stacked model (defined once,
#: in :mod:`actcmp.config`, with the shard cost keys).
GROUP_KEYS = SHAPE_KEYS


#: Loaded datasets kept per process (see :func:`cached_dataset`): at most this many ...
#: the backend's own output in the results directory (Ray's logger and daemon messages)
BACKEND_LOG = "ray.log"
DATA_CACHE_ENTRIES = 8
#: ... and at most this many bytes of tensors (an MNIST split is ~220 MB).
DATA_CACHE_BYTES = 512 << 20


class SweepError(ActcmpError):
    """The sweep could not go on (a worker process died); what finished is stored."""

    exit_code = 1  # a runtime failure, not a usage error


@dataclass
class Task:
    """A unit of work for an executor: runs that share a dataset (and, for the batched
    engine, tensor shapes)."""

    configs: list[dict[str, Any]]
    engine: str = "plain"
    device: str = "cpu"
    data_dir: str | None = None
    #: workers sharing this machine's memory (local backend), for the batched engine's
    #: memory budget; None: let ``train_group`` guess from the thread count
    jobs: int | None = None


@dataclass
class SweepSummary:
    """What a sweep did (returned by :func:`run_sweep`)."""

    out_dir: Path
    planned: int
    skipped: int
    ran: int = 0
    done: int = 0
    diverged: int = 0
    failed: int = 0
    wall_time_s: float = 0.0
    interrupted: bool = False
    failures: list[str] = field(default_factory=list)
    shard: str | None = None
    resumed_after_crash: bool = False
    lost_tasks: int = 0
    #: runs of lost tasks (a Ray worker or node died): not stored, pending for a rerun
    lost_runs: int = 0
    #: where the backend's own output went (Ray: ``ray.log`` in the results directory)
    backend_log: str | None = None

    @property
    def left(self) -> int:
        """Planned runs still not stored (after an interruption)."""
        return self.planned - self.skipped - self.done - self.diverged

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "out_dir": str(self.out_dir)}


def plan_runs(
    sweep: SweepConfig, data_dir: str | Path | None = None, *, max_runs: int = MAX_RUNS, build: bool = True
) -> list[dict[str, Any]]:
    """Resolved configs (with ``run_id``) of every run of the sweep, in grid order.

    Loads no data (nor torch): each dataset's shape comes from the registry or a file
    header (:func:`~actcmp.datasets.dataset_shape`; a user file is read for its content
    fingerprint), so an unknown dataset, a missing file or a bottleneck wider than the
    input still fails before any training starts. A grid of more than ``max_runs`` points
    is refused before it is expanded.
    """
    # two spellings that resolve alike (init "auto" and the rule it stands for) are one run
    unique: dict[str, dict[str, Any]] = {}
    for cfg in resolve_runs(sweep.runs(max_runs), data_dir, build=build):
        unique.setdefault(cfg["run_id"], cfg)
    return list(unique.values())


def resolve_runs(runs: list[Any], data_dir: str | Path | None = None, *, build: bool = True) -> list[dict[str, Any]]:
    """The resolved config (with ``run_id``) of each :class:`~actcmp.config.RunConfig`, in
    order, duplicates kept; no dataset is loaded (shapes from the registry or headers).
    ``build``: build and apply every activation once (needs torch; a dry run skips it, a
    real run does it before anything is stored)."""
    from actcmp.datasets import dataset_info, dataset_shape, fingerprint_of
    from actcmp.plan import resolve

    if build:
        from actcmp.core.activations import check_builds

        for name in dict.fromkeys(run.activation for run in runs):  # each built once, in grid order
            check_builds(name)

    cache: dict[tuple[str, float, float], Any] = {}
    resolved: list[dict[str, Any]] = []
    for run in runs:
        key = (run.dataset, run.val_fraction, run.test_fraction)
        if key not in cache:
            shape = dataset_shape(run.dataset, run.val_fraction, run.test_fraction, data_dir=data_dir)
            info = dataset_info(run.dataset, data_dir)
            fingerprint = fingerprint_of(run.dataset, data_dir) if info.source == "user file" else None
            cache[key] = (shape, info, fingerprint)
        shape, info, fingerprint = cache[key]
        if run.bottleneck >= shape.n_features and run.widths is None:  # explicit widths: any code width
            raise ConfigError(
                f"bottleneck {run.bottleneck} is not smaller than the {shape.n_features} input features of '{run.dataset}'"
            )
        resolved.append(resolve(run, info.output_activation, info.loss, fingerprint))
    return resolved


def sweep_id(sweep: SweepConfig) -> str:
    return config_hash(sweep.to_dict())[:12]


def group_key(cfg: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(str(cfg.get(k)) for k in GROUP_KEYS)


def choose_engine(engine: str) -> str:
    """``auto`` means batched: it reproduces the plain engine (tested) and is faster."""
    return "batched" if engine == "auto" else engine


def make_tasks(
    configs: list[dict[str, Any]],
    engine: str,
    device: str,
    data_dir: str | None,
    max_group: int = 64,
    *,
    jobs: int | None = None,
) -> list[Task]:
    """Plain engine: one task per run. Batched: one task per group of runs sharing tensor
    shapes (see ``GROUP_KEYS``), split into chunks of at most ``max_group`` models.

    With ``jobs`` (the number of workers sharing this machine), a chunk also holds no more
    models than fit each worker's memory budget (``engine_batched.max_models_for_memory``
    with ``memory_budget_bytes(device, jobs)``), so no worker receives a group that
    ``train_group`` must split anyway; the tasks then carry ``jobs`` so that the worker
    plans with the same budget. Chunks of a group are of near-equal size. Batched tasks
    come biggest first (models x depth), for balance across workers."""
    ordered = sorted(configs, key=lambda c: (c["dataset"], c["seed"]))
    if engine == "plain":
        return [Task([cfg], engine, device, data_dir, jobs) for cfg in ordered]
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for cfg in ordered:
        groups.setdefault(group_key(cfg), []).append(cfg)
    budget = _memory_budget(device, jobs) if jobs is not None else None
    tasks = []
    for members in groups.values():
        most = max_group
        if budget is not None:
            most = min(most, _models_within(members[0], data_dir, budget))
        for chunk in _chunks(members, max(1, most)):
            tasks.append(Task(chunk, engine, device, data_dir, jobs))
    # biggest groups first: better balance across workers
    tasks.sort(key=_cost, reverse=True)
    return tasks


def _cost(task: Task) -> int:
    return len(task.configs) * task.configs[0]["depth"]


def _chunks(members: list[dict[str, Any]], most: int) -> list[list[dict[str, Any]]]:
    """``members`` in consecutive chunks of at most ``most``, sizes differing by one at
    most (65 models under a cap of 64 become 33 + 32, not 64 + 1)."""
    count = -(-len(members) // most)
    size, extra = divmod(len(members), count)
    chunks, start = [], 0
    for index in range(count):
        stop = start + size + (1 if index < extra else 0)
        chunks.append(members[start:stop])
        start = stop
    return chunks


def _memory_budget(device: str, jobs: int) -> int:
    from actcmp.run.resources import memory_budget_bytes

    return memory_budget_bytes(device, jobs=max(1, jobs))


def _models_within(cfg: dict[str, Any], data_dir: str | None, budget: int) -> int:
    """How many models shaped like ``cfg`` one worker may stack within ``budget`` bytes
    (from the dataset's shape: nothing is loaded)."""
    from actcmp.datasets import dataset_shape
    from actcmp.engine.batched import max_models_for_memory

    try:
        shape = dataset_shape(cfg["dataset"], cfg["val_fraction"], cfg["test_fraction"], data_dir)
    except Exception:  # the task reports it when it runs
        return sys.maxsize
    return max_models_for_memory(cfg, shape.n_train, shape.n_features, budget, shape.n_val, shape.n_test)


_DATA_CACHE: OrderedDict[tuple[Any, ...], Any] = OrderedDict()


def _data_key(cfg: dict[str, Any], data_dir: str | None) -> tuple[Any, ...]:
    return (
        cfg["dataset"], cfg["seed"], cfg["val_fraction"], cfg["test_fraction"], data_dir,
        cfg.get("data_fingerprint"),
    )  # fmt: skip


def _data_bytes(data: Any) -> int:
    return sum(int(t.numel() * t.element_size()) for t in (data.x_train, data.x_val, data.x_test))


def cached_dataset(cfg: dict[str, Any], data_dir: str | None) -> Any:
    """``load_dataset`` for ``cfg``'s dataset, split and seed, through a small per-process
    LRU cache (``DATA_CACHE_ENTRIES`` entries, ``DATA_CACHE_BYTES`` of tensors), so the runs
    of a group, and workers reusing data across tasks, load each split once.

    The object is shared: the engines only read a Dataset (``train_run``/``train_group``
    index, ``.to()`` or ``torch.stack`` its tensors into new ones; ``cast_dataset`` copies).
    A user file's content fingerprint is part of the key, so an edited file is reloaded.
    """
    from actcmp.datasets import load_dataset

    key = _data_key(cfg, data_dir)
    if key in _DATA_CACHE:
        _DATA_CACHE.move_to_end(key)
        return _DATA_CACHE[key]
    data = load_dataset(cfg["dataset"], cfg["seed"], cfg["val_fraction"], cfg["test_fraction"], data_dir)
    if _data_bytes(data) <= DATA_CACHE_BYTES:
        _DATA_CACHE[key] = data
        while len(_DATA_CACHE) > DATA_CACHE_ENTRIES or sum(map(_data_bytes, _DATA_CACHE.values())) > DATA_CACHE_BYTES:
            _DATA_CACHE.popitem(last=False)
    return data


def clear_data_cache() -> None:
    """Forget the datasets :func:`cached_dataset` keeps."""
    _DATA_CACHE.clear()


def execute_task(task: Task) -> list[Any]:
    """Train every run of ``task`` (in a worker or in-process). Never raises for a run's
    own exception: that run comes back with ``status="failed"`` and the error."""
    from actcmp.engine.plain import environment

    loaded: dict[tuple[Any, ...], Any] = {}  # this task's splits, whatever the cache evicts

    def data_for(cfg: dict[str, Any]) -> Any:
        key = _data_key(cfg, task.data_dir)
        if key not in loaded:
            loaded[key] = cached_dataset(cfg, task.data_dir)
        return loaded[key]

    if task.engine == "batched":
        from actcmp.engine.batched import stack_refusal, train_group

        # which runs the batched engine cannot stack depends on each run's own config only,
        # so a run never changes engine because of its neighbours (or a resume)
        refusals = {c["run_id"]: stack_refusal(c) for c in task.configs}
        stacked = [c for c in task.configs if refusals[c["run_id"]] is None]
        plain = [c for c in task.configs if refusals[c["run_id"]] is not None]
        results: list[Any] = []
        if stacked:
            from actcmp.run.resources import tune_allocator

            tune_allocator()
            try:
                data = [data_for(c) for c in stacked]
                budget = _memory_budget(task.device, task.jobs) if task.jobs is not None else None
                results += train_group(stacked, data, device=task.device, memory_budget=budget)
            except Exception as exc:  # one run's failure must not take its group down
                # each run again alone in a stack of its own: the same numbers as in the group
                # (see README, same numbers everywhere), and the run that raises fails alone
                reason = f"batched group failed ({type(exc).__name__}: {exc}); each run trained alone"
                _LOG.warning("%s", reason)
                for cfg in stacked:
                    started = time.perf_counter()
                    try:
                        alone = train_group([cfg], [data_for(cfg)], device=task.device, memory_budget=None)
                    except Exception as single:  # recorded as a failed run; the sweep goes on
                        error = f"{type(single).__name__}: {single}\n{traceback.format_exc(limit=8)}"
                        results.append(_failed(cfg, error, time.perf_counter() - started, environment(task.device)))
                        continue
                    for result in alone:
                        result.env["engine_fallback"] = reason
                    results += alone
        if plain:
            _LOG.warning("plain engine for %d run(s) of a batched group: %s", len(plain), refusals[plain[0]["run_id"]])
            for result in _train_each(plain, data_for, task.device):
                result.env["engine_fallback"] = refusals[result.run_id]
                results.append(result)
        return results
    return _train_each(task.configs, data_for, task.device)


def _train_each(configs: list[dict[str, Any]], data_for: Any, device: str) -> list[Any]:
    """Each run on its own with the plain engine; a run that raises comes back failed."""
    from actcmp.engine.plain import environment, train_run

    results = []
    for cfg in configs:
        started = time.perf_counter()
        try:
            results.append(train_run(cfg, data_for(cfg), device=device))
        except Exception as exc:  # recorded as a failed run; the sweep goes on
            error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}"
            results.append(_failed(cfg, error, time.perf_counter() - started, environment(device)))
    return results


def _failed(cfg: dict[str, Any], error: str, seconds: float, env: dict[str, Any]) -> Any:
    from actcmp.engine.plain import RunResult

    return RunResult(
        run_id=cfg["run_id"], config=cfg, status="failed", final={}, wall_time_s=seconds, error=error, env=env
    )


def run_sweep(
    config: SweepConfig | str | Path,
    out: str | Path | None = None,
    *,
    fresh: bool = False,
    jobs: int = 1,
    engine: str = "auto",
    device: str = "cpu",
    data_dir: str | Path | None = None,
    backend: str = "local",
    address: str | None = None,
    progress: ProgressSink | None = None,
    shard: str | tuple[int, int] | None = None,
    threads: int | None = None,
    max_runs: int = MAX_RUNS,
    executor_options: dict[str, Any] | None = None,
) -> SweepSummary:
    """Run a sweep into a results directory (default ``results/<name>/``, or
    ``$ACTCMP_OUT/<name>/``), resuming.

    Runs already stored (done or diverged) are skipped unless ``fresh``; failed runs are
    tried again. ``shard="i/n"`` runs only shard i of n (see :mod:`actcmp.shard`).
    ``threads``: torch threads per worker (local backend; default: 1 in-process unless
    ``OMP_NUM_THREADS`` is set, cores / jobs in worker processes; see :mod:`actcmp.run.executors`).
    ``executor_options``: passed to the executor (``--backend ray``: ``max_retries``, ...).
    The executor (a Ray cluster's connection) is made before the results directory.
    Ctrl-C (or SIGTERM) stops after storing the runs that finished; ``summary.interrupted``
    is then True. A second sweep into the same directory is refused while one runs
    (see :mod:`actcmp.store.lock`).
    """
    from actcmp.run.device import resolve_device
    from actcmp.run.executors import make_executor
    from actcmp.shard import format_shard, parse_shard, select_shard
    from actcmp.store.database import Store
    from actcmp.store.lock import DirLock
    from actcmp.sweep_name import default_results_dir

    sweep = load_sweep(config) if isinstance(config, str | Path) else config
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine '{engine}' (available: {', '.join(ENGINES)})")
    if jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {jobs}")
    shard_spec = parse_shard(shard) if isinstance(shard, str) else shard
    if shard_spec is not None:
        parse_shard(format_shard(*shard_spec))  # validates a tuple given through the API
    progress = progress or NullProgress()
    out_dir = Path(out) if out is not None else default_results_dir(sweep.name)
    data_dir_text = str(data_dir) if data_dir is not None else None
    clear_data_cache()  # a data file may have changed since an earlier sweep in this process
    planned = plan_runs(sweep, data_dir, max_runs=max_runs)
    tune_plan = None
    if sweep.tune is not None:  # [tune]: tuning runs, selection from the store, evaluation runs (actcmp.run.tune)
        from actcmp.run.tune import plan_tune

        tune_plan = plan_tune(sweep, data_dir)
        planned = tune_plan.static
    mine = select_shard(planned, *shard_spec) if shard_spec else planned
    target_device = resolve_device(device)
    started = time.perf_counter()
    # connect first: a cluster that cannot be reached leaves no results directory behind
    executor = make_executor(backend, jobs, address=address, threads=threads, **(executor_options or {}))
    with _stopped_on_error(executor), Store(out_dir) as store, DirLock(out_dir) as lock:
        sid = sweep_id(sweep)
        # the whole plan is recorded even for a shard, so that a merge of all shards knows
        # every run it should hold; ``mark_shard`` says which of them this directory runs
        store.save_sweep(sid, sweep.name, sweep.to_dict(), planned)
        store.mark_shard(sid, shard_spec)
        _write_sweep_file(out_dir, sweep, planned)
        summary = SweepSummary(
            out_dir=out_dir,
            planned=0,
            skipped=0,
            shard=format_shard(*shard_spec) if shard_spec else None,
            resumed_after_crash=lock.stale is not None,
        )
        # local workers share this machine's memory; a Ray task's node is not known here
        local_jobs = jobs if backend == "local" else None
        log_to = getattr(executor, "log_to", None)
        if log_to is not None:  # Ray's own output, kept out of actcmp's
            log_to(out_dir / BACKEND_LOG)
            summary.backend_log = str(out_dir / BACKEND_LOG)

        def train(configs: list[dict[str, Any]]) -> None:
            finished = set() if fresh else store.finished_ids()
            # a plan's bookkeeping ([tune]'s role, unit) is not part of a run's stored config
            todo = [
                {k: v for k, v in cfg.items() if k not in PLAN_KEYS} for cfg in configs if cfg["run_id"] not in finished
            ]
            summary.planned += len(configs)
            summary.skipped += len(configs) - len(todo)
            progress.start(len(configs), len(todo), len(configs) - len(todo), str(out_dir))
            tasks = make_tasks(todo, choose_engine(engine), target_device, data_dir_text, jobs=local_jobs)
            _announce_plan(progress, tasks, jobs, data_dir_text)
            _drain(executor, tasks, store, summary, progress, replace=fresh, guard=guard)

        def plan_evaluation() -> list[dict[str, Any]]:
            """Select from the stored tuning runs; record and return this shard's evaluation runs."""
            from actcmp.run.tune import ROLE_EVAL, evaluation_runs, select_from_store

            assert tune_plan is not None
            everything = [*tune_plan.tuning, *evaluation_runs(tune_plan, select_from_store(tune_plan, store))]
            store.save_sweep(sid, sweep.name, sweep.to_dict(), everything)
            _write_sweep_file(out_dir, sweep, everything)
            shard_runs = select_shard(everything, *shard_spec) if shard_spec else everything
            return [cfg for cfg in shard_runs if cfg["role"] == ROLE_EVAL]

        with _interrupts() as guard:
            completed = selected = False
            try:
                if tune_plan is None:
                    train(mine)
                else:  # tuning phase, selection (from the store), evaluation phase
                    train([cfg for cfg in mine if cfg["role"] == "tune"])
                    with guard.shield():
                        evaluation, selected = plan_evaluation(), True
                    train(evaluation)
                completed = True
            except KeyboardInterrupt:
                summary.interrupted = True
                if tune_plan is not None and not selected:  # status then expects what is selected so far
                    with guard.shield():
                        plan_evaluation()
            finally:
                _stop(executor, graceful=completed)
        summary.wall_time_s = time.perf_counter() - started
        progress.finish(summary.as_dict())
    return summary


def _announce_plan(progress: ProgressSink, tasks: list[Task], workers: int, data_dir: str | None) -> None:
    """Give a progress sink that takes one (``plan``) each task's runs and work units
    (:mod:`actcmp.cost`), for an ETA from the start. Shapes come from the registry."""
    plan = getattr(progress, "plan", None)
    if plan is None or not tasks:
        return
    from actcmp.cost import PRIOR_SECONDS_PER_UNIT, task_units
    from actcmp.datasets import dataset_shape

    shapes: dict[tuple[Any, ...], Any] = {}
    entries = []
    for task in tasks:
        cfg = task.configs[0]
        key = (cfg["dataset"], cfg["val_fraction"], cfg["test_fraction"])
        try:
            if key not in shapes:
                shapes[key] = dataset_shape(*key, data_dir=data_dir)
            units = task_units(task.configs, shapes[key], task.engine)
        except Exception:  # the task reports it when it runs; it costs nothing here
            units = 0.0
        entries.append(([c["run_id"] for c in task.configs], units))
    plan(entries, workers, PRIOR_SECONDS_PER_UNIT)


@contextlib.contextmanager
def _stopped_on_error(executor: Any) -> Iterator[None]:
    """Stop ``executor`` (made before the results directory) when the sweep fails
    before or around its own graceful stop, e.g. on a directory another sweep holds."""
    try:
        yield
    except BaseException:
        _stop(executor, graceful=False)
        raise


class _Interrupts:
    """Ctrl-C and SIGTERM become KeyboardInterrupt, except inside :meth:`shield`, where
    they wait until the block is over: a run being committed is committed whole."""

    def __init__(self) -> None:
        self.shielded = False
        self.pending = False

    def handler(self, signum: int, frame: Any) -> None:
        if self.shielded:
            self.pending = True
            return
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def shield(self) -> Iterator[None]:
        self.shielded = True
        try:
            yield
        finally:
            self.shielded = False
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt


@contextlib.contextmanager
def _interrupts() -> Iterator[_Interrupts]:
    guard = _Interrupts()
    if threading.current_thread() is not threading.main_thread():  # signals only reach the main thread
        yield guard
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, guard.handler)
    try:
        yield guard
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _drain(
    executor: Any,
    tasks: Iterable[Task],
    store: Any,
    summary: SweepSummary,
    progress: ProgressSink,
    replace: bool,
    guard: _Interrupts | None = None,
) -> None:
    """Submit tasks with a bounded number in flight; store each result as it arrives.

    A future leaves ``submitted`` in the same shielded step that commits its runs, so on
    Ctrl-C the results that already came back are committed exactly once, then it stops.
    """
    from concurrent.futures import BrokenExecutor

    guard = guard or _Interrupts()
    submitted: list[Future[Any]] = []  # submitted and not yet stored, in submission order
    queue = list(tasks)
    limit = max(2, 2 * getattr(executor, "_max_workers", 1))
    try:
        while queue or submitted:
            while queue and len(submitted) < limit:
                submitted.append(executor.submit(_worker_task, queue.pop(0)))
            wait(submitted, return_when=FIRST_COMPLETED)
            for future in [f for f in submitted if f.done()]:
                with guard.shield():
                    _store_future(future, store, summary, progress, replace)
                    submitted.remove(future)
    except KeyboardInterrupt:
        with guard.shield():
            for future in [f for f in submitted if f.done() and not f.cancelled() and f.exception() is None]:
                _store_future(future, store, summary, progress, replace)
                submitted.remove(future)
        raise
    except BrokenExecutor as exc:
        raise SweepError(
            f"a worker process died ({exc}); the {summary.ran} runs that finished are stored: "
            "run the same command again to resume"
        ) from None


def _worker_task(task: Task) -> list[Any]:
    """:func:`execute_task`, in a worker process that dies with the sweep."""
    _die_with_parent()
    return execute_task(task)


_DEATH_SIGNAL_SET = False


def _die_with_parent() -> None:
    """In a pool worker on Linux, ask the kernel to kill this process when the sweep
    process dies: a SIGKILLed sweep must not leave idle workers behind (they hold each
    other's queue ends open, so they never see the parent go)."""
    global _DEATH_SIGNAL_SET
    import multiprocessing

    parent = multiprocessing.parent_process()
    if _DEATH_SIGNAL_SET or parent is None or not sys.platform.startswith("linux"):
        return
    _DEATH_SIGNAL_SET = True
    with contextlib.suppress(Exception):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent.pid:  # the sweep died before the request took effect
            os._exit(1)


def _store_future(
    future: Future[Any], store: Any, summary: SweepSummary, progress: ProgressSink, replace: bool
) -> None:
    from actcmp.run.executors import TaskLost

    try:
        results = future.result()
    except TaskLost as exc:  # a worker or node died: its runs stay pending, the sweep goes on
        summary.lost_tasks += 1
        summary.lost_runs += int(getattr(exc, "runs", 0))
        summary.failures.append(f"task lost (runs left pending, run again to redo them): {exc}")
        return
    for result in results:
        _store_result(store, result, summary, progress, replace)


def _store_result(store: Any, result: Any, summary: SweepSummary, progress: ProgressSink, replace: bool) -> None:
    store.write_run(result, replace=replace)
    summary.ran += 1
    setattr(summary, result.status, getattr(summary, result.status) + 1)
    if result.status == "failed":
        summary.failures.append(f"{result.run_id}: {(result.error or '').splitlines()[0]}")
    cfg = result.config
    progress.run_done(
        {
            "run_id": result.run_id,
            "status": result.status,
            "activation": cfg["activation"],
            "dataset": cfg["dataset"],
            "depth": cfg["depth"],
            "seed": cfg["seed"],
            "test_loss": result.final.get("test_loss"),
            "wall_time_s": result.wall_time_s,
        }
    )


def _stop(executor: Any, graceful: bool) -> None:
    """Shut the executor down; after Ctrl-C or an error, terminate its worker processes
    (they ignore SIGINT, see ``executors._init_worker``) instead of waiting for them."""
    if graceful:
        executor.shutdown(wait=True)
        return
    import multiprocessing

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


def _write_sweep_file(out_dir: Path, sweep: SweepConfig, planned: list[dict[str, Any]]) -> None:
    """``DIR/sweep.json``: the resolved sweep beside the database (atomic rename), with
    where it came from (:func:`actcmp.provenance.sweep_provenance`: file, git commit)."""
    from actcmp.atomic import write_text
    from actcmp.provenance import sweep_provenance

    payload = {"sweep": sweep.to_dict(), "runs": planned, "provenance": sweep_provenance(sweep.path, sweep.source)}
    write_text(out_dir / "sweep.json", json.dumps(payload, indent=1, sort_keys=True))


def describe_plan(
    sweep: SweepConfig,
    data_dir: str | Path | None = None,
    shard: str | tuple[int, int] | None = None,
    *,
    max_runs: int = MAX_RUNS,
) -> dict[str, Any]:
    """What ``--dry-run`` prints: grid size, varied fields, runs per dataset (of the shard)."""
    from actcmp.shard import parse_shard, select_shard

    if shard is None and sweep.tune is None and sweep.size() > PLAN_IN_FULL:
        return _describe_by_axes(sweep, data_dir, max_runs)
    planned = plan_runs(sweep, data_dir, max_runs=max_runs, build=False)
    tune_plan = None
    if sweep.tune is not None:  # tuning + common runs now; evaluation runs once selected
        from actcmp.run.tune import plan_tune

        tune_plan = plan_tune(sweep, data_dir)
        planned = tune_plan.static
    total = len(planned)
    if shard is not None:
        planned = select_shard(planned, *(parse_shard(shard) if isinstance(shard, str) else shard))
    varied = {k: v for k, v in sweep.grid.items() if len(v) > 1}
    per_dataset: dict[str, int] = {}
    for cfg in planned:
        per_dataset[cfg["dataset"]] = per_dataset.get(cfg["dataset"], 0) + 1
    # fmt: off
    return {
        "name": sweep.name, "runs": len(planned), "total": total, "varied": varied, "fixed": sweep.fixed,
        "per_dataset": per_dataset,
        **({"tune": _tune_counts(tune_plan, planned)} if tune_plan is not None else {}),
    }
    # fmt: on


def _tune_counts(tune_plan: Any, planned: list[dict[str, Any]]) -> dict[str, Any]:
    """Tuning and evaluation runs of a tuned sweep's plan (of the shard in ``planned``)."""
    from actcmp.run.tune import ROLE_TUNE, describe_candidates

    tuning = [c for c in planned if c["role"] == ROLE_TUNE]
    common = [c for c in planned if c["role"] != ROLE_TUNE]
    # fmt: off
    return {
        "tuning": len(tuning), "evaluation_common": len(common), "evaluation_selected_at_most": len(common),
        "units": len({c["tune_unit"] for c in planned}), "candidates": describe_candidates(tune_plan.spec),
        "combinations": len(tune_plan.spec.combos()), "seeds": list(tune_plan.spec.seeds),
        "common_values": tune_plan.common_values,
    }
    # fmt: on


#: a dry run plans a grid of up to this many points in full; a bigger one by its axes
PLAN_IN_FULL = 2000
#: grid axes whose values interact (rules between fields, dataset defaults, spellings that
#: resolve alike): a dry run plans their product in full; other axes only multiply counts
INTERACTING = (
    "activation", "dataset", "init", "loss", "output_activation", "width", "bottleneck", "val_fraction",
    "test_fraction", "widths", "activity_l1", "activity_l1_on", "input_noise", "input_noise_kind",
)  # fmt: skip


def _describe_by_axes(sweep: SweepConfig, data_dir: str | Path | None, max_runs: int) -> dict[str, Any]:
    """:func:`describe_plan` of a big grid without expanding it: the interacting axes are
    planned (validated, resolved, de-duplicated) in full, each other axis is counted by its
    distinct values. The counts equal those of a full plan; 10^5 points take milliseconds."""
    from actcmp.config import check_size

    check_size(sweep.grid, max_runs, sweep.source)
    reduced: dict[str, list[Any]] = {}
    factor = 1
    for key, values in sweep.grid.items():
        # depth meets explicit widths in a rule (widths set depth)
        if key in INTERACTING or (key == "depth" and ("widths" in sweep.grid or "widths" in sweep.fixed)):
            reduced[key] = values
            continue
        distinct = list(dict.fromkeys(values))  # numbers: 1 and 1.0 are one value, as stored
        reduced[key] = distinct[:1]
        factor *= len(distinct)
    small = SweepConfig(name=sweep.name, description=sweep.description, fixed=sweep.fixed, grid=reduced)
    planned = plan_runs(small.with_source(sweep.source), data_dir, max_runs=max_runs)
    per_dataset: dict[str, int] = {}
    for cfg in planned:
        per_dataset[cfg["dataset"]] = per_dataset.get(cfg["dataset"], 0) + factor
    runs = len(planned) * factor
    varied = {k: v for k, v in sweep.grid.items() if len(v) > 1}
    # fmt: off
    return {
        "name": sweep.name, "runs": runs, "total": runs, "varied": varied, "fixed": sweep.fixed,
        "per_dataset": per_dataset,
    }
    # fmt: on


__all__ = ["DatasetError", "SweepError", "SweepSummary", "describe_plan", "plan_runs", "run_sweep"]
