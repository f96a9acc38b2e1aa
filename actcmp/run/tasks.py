"""A sweep's units of work: tasks of runs, the per-process dataset cache, and the worker.

:func:`make_tasks` groups resolved runs into :class:`Task` records (one run each for the
plain engine; runs sharing tensor shapes, ``GROUP_KEYS``, for the batched engine);
:func:`worker_task` trains one in a worker process (or in this one) and returns the
:class:`~actcmp.core.result.RunResult` records: workers only compute, the parent stores.

The engines import torch, so they are imported where a task is sized by memory or
trained, never at import: planning and ``--dry-run``
import this module without torch. Everything a process pool or Ray pickles (``Task``,
``worker_task``) is module-level.
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from actcmp.config import SHAPE_KEYS, split_seed_of
from actcmp.datasets import dataset_shape, load_dataset
from actcmp.run.resources import memory_budget_bytes, tune_allocator
from actcmp.signals import die_with_parent

if TYPE_CHECKING:
    from actcmp.core.result import RunResult

_LOG = logging.getLogger(__name__)

ENGINES = ("auto", "plain", "batched")

#: Fields that must be equal for runs to train together as one stacked model (defined once,
#: in :mod:`actcmp.config`, with the shard cost keys).
GROUP_KEYS = SHAPE_KEYS

#: Loaded datasets kept per process (see :func:`cached_dataset`): at most this many ...
DATA_CACHE_ENTRIES = 8
#: ... and at most this many bytes of tensors (an MNIST split is ~220 MB).
DATA_CACHE_BYTES = 512 << 20

#: A run's config -> its dataset split (what a task's runs read their data through).
DataFor = Callable[[dict[str, Any]], Any]


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


def choose_engine(engine: str) -> str:
    """``auto`` means batched: it reproduces the plain engine (tested) and is faster."""
    return "batched" if engine == "auto" else engine


def group_key(cfg: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(str(cfg.get(k)) for k in GROUP_KEYS)


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
    return memory_budget_bytes(device, jobs=max(1, jobs))


def _models_within(cfg: dict[str, Any], data_dir: str | None, budget: int) -> int:
    """How many models shaped like ``cfg`` one worker may stack within ``budget`` bytes
    (from the dataset's shape: nothing is loaded)."""
    from actcmp.engine.memory import max_models_for_memory  # no torch: the main process plans

    try:
        shape = dataset_shape(cfg["dataset"], cfg["val_fraction"], cfg["test_fraction"], data_dir)
    except Exception:  # the task reports it when it runs
        return sys.maxsize
    return max_models_for_memory(cfg, shape.n_train, shape.n_features, budget, shape.n_val, shape.n_test)


# -- the per-process dataset cache ---------------------------------------------------------

_DATA_CACHE: OrderedDict[tuple[Any, ...], Any] = OrderedDict()


def _data_key(cfg: dict[str, Any], data_dir: str | None) -> tuple[Any, ...]:
    return (
        cfg["dataset"], split_seed_of(cfg), cfg["val_fraction"], cfg["test_fraction"], data_dir,
        cfg.get("data_fingerprint"),
    )  # fmt: skip


def _data_bytes(data: Any) -> int:
    return sum(int(t.numel() * t.element_size()) for t in (data.x_train, data.x_val, data.x_test))


def cached_dataset(cfg: dict[str, Any], data_dir: str | None) -> Any:
    """``load_dataset`` for ``cfg``'s dataset, fractions and split seed (``split_seed_of``), through a small per-process
    LRU cache (``DATA_CACHE_ENTRIES`` entries, ``DATA_CACHE_BYTES`` of tensors), so the runs
    of a group, and workers reusing data across tasks, load each split once.

    The object is shared: the engines only read a Dataset (``train_run``/``train_group``
    index, ``.to()`` or ``torch.stack`` its tensors into new ones; ``cast_dataset`` copies).
    A user file's content fingerprint is part of the key, so an edited file is reloaded.
    """
    key = _data_key(cfg, data_dir)
    if key in _DATA_CACHE:
        _DATA_CACHE.move_to_end(key)
        return _DATA_CACHE[key]
    data = load_dataset(cfg["dataset"], split_seed_of(cfg), cfg["val_fraction"], cfg["test_fraction"], data_dir)
    if _data_bytes(data) <= DATA_CACHE_BYTES:
        _DATA_CACHE[key] = data
        while len(_DATA_CACHE) > DATA_CACHE_ENTRIES or sum(map(_data_bytes, _DATA_CACHE.values())) > DATA_CACHE_BYTES:
            _DATA_CACHE.popitem(last=False)
    return data


def clear_data_cache() -> None:
    """Forget the datasets :func:`cached_dataset` keeps."""
    _DATA_CACHE.clear()


# -- the worker ----------------------------------------------------------------------------


def worker_task(task: Task) -> list[RunResult]:
    """:func:`execute_task`, in a worker process that dies with the sweep (what executors run)."""
    die_with_parent()
    return execute_task(task)


def execute_task(task: Task) -> list[RunResult]:
    """Train every run of ``task`` (in a worker or in-process). Never raises for a run's
    own exception: that run comes back with ``status="failed"`` and the error."""
    loaded: dict[tuple[Any, ...], Any] = {}  # this task's splits, whatever the cache evicts

    def data_for(cfg: dict[str, Any]) -> Any:
        key = _data_key(cfg, task.data_dir)
        if key not in loaded:
            loaded[key] = cached_dataset(cfg, task.data_dir)
        return loaded[key]

    if task.engine == "batched":
        return _train_batched(task, data_for)
    return _train_each(task.configs, data_for, task.device)


def _train_batched(task: Task, data_for: DataFor) -> list[RunResult]:
    """The runs the batched engine can stack, as one group; the others with the plain
    engine, each result saying why in ``env["engine_fallback"]``."""
    from actcmp.engine.batched import stack_refusal  # torch

    # which runs the batched engine cannot stack depends on each run's own config only,
    # so a run never changes engine because of its neighbours (or a resume)
    refusals = {c["run_id"]: stack_refusal(c) for c in task.configs}
    stacked = [c for c in task.configs if refusals[c["run_id"]] is None]
    plain = [c for c in task.configs if refusals[c["run_id"]] is not None]
    results: list[RunResult] = []
    if stacked:
        results += _train_stacked(stacked, data_for, task)
    if plain:
        _LOG.warning("plain engine for %d run(s) of a batched group: %s", len(plain), refusals[plain[0]["run_id"]])
        for result in _train_each(plain, data_for, task.device):
            result.env["engine_fallback"] = refusals[result.run_id]
            results.append(result)
    return results


def _train_stacked(stacked: list[dict[str, Any]], data_for: DataFor, task: Task) -> list[RunResult]:
    """``stacked`` as one group; if the group raises, each run again alone."""
    from actcmp.engine.batched import train_group  # torch

    tune_allocator()
    try:
        data = [data_for(c) for c in stacked]
        budget = _memory_budget(task.device, task.jobs) if task.jobs is not None else None
        return train_group(stacked, data, device=task.device, memory_budget=budget)
    except Exception as exc:  # one run's failure must not take its group down
        reason = f"batched group failed ({type(exc).__name__}: {exc}); each run trained alone"
        _LOG.warning("%s", reason)
        return _train_alone(stacked, data_for, task.device, reason)


def _train_alone(configs: list[dict[str, Any]], data_for: DataFor, device: str, reason: str) -> list[RunResult]:
    """Each run in a stack of its own: the same numbers as in the group (see README, same
    numbers everywhere), and the run that raises fails alone."""
    from actcmp.engine.batched import train_group  # torch

    results: list[RunResult] = []
    for cfg in configs:
        started = time.perf_counter()
        try:
            alone = train_group([cfg], [data_for(cfg)], device=device, memory_budget=None)
        except Exception as exc:  # recorded as a failed run; the sweep goes on
            results.append(_failed(cfg, _error_text(exc), time.perf_counter() - started, device, "batched"))
            continue
        for result in alone:
            result.env["engine_fallback"] = reason
        results += alone
    return results


def _train_each(configs: list[dict[str, Any]], data_for: DataFor, device: str) -> list[RunResult]:
    """Each run on its own with the plain engine; a run that raises comes back failed."""
    from actcmp.engine.plain import train_run  # torch

    results = []
    for cfg in configs:
        started = time.perf_counter()
        try:
            results.append(train_run(cfg, data_for(cfg), device=device))
        except Exception as exc:  # recorded as a failed run; the sweep goes on
            results.append(_failed(cfg, _error_text(exc), time.perf_counter() - started, device, "plain"))
    return results


def _error_text(exc: Exception) -> str:
    """What a failed run stores: the exception and (called while handling it) its traceback."""
    return f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}"


def _failed(cfg: dict[str, Any], error: str, seconds: float, device: str, engine: str) -> RunResult:
    """A run that raised, with the environment and the ``engine`` it failed in."""
    from actcmp.engine.plain import RunResult, environment  # torch

    return RunResult(
        run_id=cfg["run_id"],
        config=cfg,
        status="failed",
        final={},
        wall_time_s=seconds,
        error=error,
        env={**environment(device), "engine": engine},
    )


__all__ = [
    "DATA_CACHE_BYTES",
    "DATA_CACHE_ENTRIES",
    "ENGINES",
    "GROUP_KEYS",
    "Task",
    "cached_dataset",
    "choose_engine",
    "clear_data_cache",
    "execute_task",
    "group_key",
    "make_tasks",
    "worker_task",
]
