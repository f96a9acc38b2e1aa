"""Sweep tasks: memory-aware chunking, the dataset cache and the in-process thread policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import actcmp.datasets
import actcmp.engine.batched
import actcmp.engine.plain
import actcmp.run.sweep as sweep_module
import actcmp.run.tasks as tasks_module
from actcmp.config import sweep_from_dict
from actcmp.run.executors import SerialExecutor, make_executor, serial_threads, thread_limit
from actcmp.run.sweep import Task, cached_dataset, clear_data_cache, execute_task, make_tasks, plan_runs

ACTIVATIONS = ["relu", "tanh", "gelu", "prelu", "sigmoid", "elu", "silu", "leaky_relu"]


def configs(
    activations: list[str], seeds: list[int], epochs: int = 1, depth: int | list[int] = 1
) -> list[dict[str, Any]]:
    sweep = sweep_from_dict(
        {"name": "tasks", "epochs": epochs, "width": 16, "bottleneck": 4, "batch_size": 256, "probe_size": 64,
         "dataset": "digits",
         "grid": {"activation": activations, "seed": seeds, "depth": depth if isinstance(depth, list) else [depth]}}
    )  # fmt: skip
    return plan_runs(sweep)


@pytest.fixture(autouse=True)
def _empty_cache() -> Any:
    clear_data_cache()
    yield
    clear_data_cache()


def cap_budget(monkeypatch: pytest.MonkeyPatch, cfg: dict[str, Any], models: int) -> None:
    """Make each of ``jobs`` workers' budget fit ``models`` // jobs models shaped like ``cfg``."""
    data = cached_dataset(cfg, None)
    shape = (data.x_train.shape[0], data.x_train.shape[1], data.x_val.shape[0], data.x_test.shape[0])
    one = actcmp.engine.batched.estimate_group_bytes(cfg, 1, *shape)
    per_model = actcmp.engine.batched.estimate_group_bytes(cfg, 2, *shape) - one
    fixed = one - per_model

    def budget(device: str = "cpu", jobs: int = 1, share: float = 0.5) -> int:
        return fixed + per_model * (models // jobs)

    monkeypatch.setattr(tasks_module, "memory_budget_bytes", budget)  # where make_tasks reads it


# ----------------------------------------------------------------------------- chunking


def test_without_jobs_groups_are_chunked_as_before() -> None:
    runs = configs(ACTIVATIONS, [0, 1, 2], epochs=0, depth=[1, 2])
    tasks = make_tasks(runs, "batched", "cpu", None)
    assert [len(t.configs) for t in tasks] == [24, 24]
    assert [t.configs[0]["depth"] for t in tasks] == [2, 1]  # biggest (models x depth) first
    assert all(t.jobs is None for t in tasks)
    assert [len(t.configs) for t in make_tasks(runs, "batched", "cpu", None, 10)] == [8, 8, 8, 8, 8, 8]
    assert [len(t.configs) for t in make_tasks(runs, "plain", "cpu", None)] == [1] * 48


def test_chunks_respect_the_memory_cap_of_each_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    runs = configs(ACTIVATIONS, [0, 1], epochs=0)
    cap_budget(monkeypatch, runs[0], models=6)
    one_job = make_tasks(runs, "batched", "cpu", None, jobs=1)
    assert sorted(len(t.configs) for t in one_job) == [5, 5, 6]  # 16 models, at most 6 a chunk
    two_jobs = make_tasks(runs, "batched", "cpu", None, jobs=2)
    assert sorted(len(t.configs) for t in two_jobs) == [2, 2, 3, 3, 3, 3]  # half the memory each
    assert all(t.jobs == 2 for t in two_jobs)
    assert sorted(c["run_id"] for t in two_jobs for c in t.configs) == sorted(c["run_id"] for c in runs)
    assert [len(t.configs) for t in make_tasks(runs, "batched", "cpu", None, 4, jobs=1)] == [4] * 4  # max_group too
    # the worker plans with the same budget: nothing is split again
    results = execute_task(two_jobs[0])
    assert [r.env["group_size"] for r in results] == [len(two_jobs[0].configs)] * len(results)


def test_a_chunked_group_gives_the_numbers_of_the_whole_group(monkeypatch: pytest.MonkeyPatch) -> None:
    runs = configs(["relu", "tanh", "prelu", "gelu"], [0, 1], epochs=2)
    whole = {r.run_id: r for r in execute_task(Task(runs, "batched"))}
    cap_budget(monkeypatch, runs[0], models=3)
    tasks = make_tasks(runs, "batched", "cpu", None, jobs=1)
    assert sorted(len(t.configs) for t in tasks) == [2, 3, 3]
    chunked = {r.run_id: r for t in tasks for r in execute_task(t)}
    assert chunked.keys() == whole.keys()
    for run_id, a in whole.items():
        b = chunked[run_id]
        assert a.env["group_size"] == 8 and b.env["group_size"] in (2, 3)
        assert (a.status, a.epochs, a.layers, a.final) == (b.status, b.epochs, b.layers, b.final)


# ----------------------------------------------------------------------------- dataset cache


def spy_loads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    real = actcmp.datasets.load_dataset
    calls: list[tuple[Any, ...]] = []

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(tasks_module, "load_dataset", counting)  # where the cache reads it
    return calls


@pytest.mark.parametrize("engine", ["batched", "plain"])
def test_a_group_loads_each_split_once(monkeypatch: pytest.MonkeyPatch, engine: str) -> None:
    runs = configs(ACTIVATIONS, [0, 1, 2], epochs=0)
    calls = spy_loads(monkeypatch)
    results = execute_task(Task(runs, engine))
    assert len(results) == 24 and all(r.status == "done" for r in results)
    assert sorted(args[1] for args in calls) == [0, 1, 2]
    execute_task(Task(runs[:4], engine))  # a later task on the same data: from the cache
    assert len(calls) == 3


def test_shared_datasets_are_not_changed_by_training(monkeypatch: pytest.MonkeyPatch) -> None:
    runs = configs(["relu", "prelu", "tanh"], [0], epochs=2)
    shared = cached_dataset(runs[0], None)
    seen: list[Any] = []
    group, run = actcmp.engine.batched.train_group, actcmp.engine.plain.train_run

    def spy_group(configs: Any, datasets: Any, **kwargs: Any) -> Any:
        seen.extend(datasets)
        return group(configs, datasets, **kwargs)

    def spy_run(cfg: Any, data: Any, **kwargs: Any) -> Any:
        seen.append(data)
        return run(cfg, data, **kwargs)

    monkeypatch.setattr(actcmp.engine.batched, "train_group", spy_group)
    monkeypatch.setattr(actcmp.engine.plain, "train_run", spy_run)
    execute_task(Task(runs, "batched"))
    execute_task(Task(runs, "plain"))
    assert len(seen) == 6 and all(d is shared for d in seen)
    fresh = actcmp.datasets.load_dataset("digits", 0, runs[0]["val_fraction"], runs[0]["test_fraction"])
    for name in ("x_train", "x_val", "x_test"):
        assert torch.equal(getattr(shared, name), getattr(fresh, name))
    for name in ("y_train", "y_val", "y_test"):
        assert (getattr(shared, name) == getattr(fresh, name)).all()


def test_the_cache_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    runs = configs(["relu"], [0, 1, 2, 3], epochs=0)
    calls = spy_loads(monkeypatch)
    monkeypatch.setattr(tasks_module, "DATA_CACHE_ENTRIES", 2)
    for cfg in runs:
        cached_dataset(cfg, None)
    assert len(tasks_module._DATA_CACHE) == 2 and len(calls) == 4
    cached_dataset(runs[3], None)  # most recent: kept
    cached_dataset(runs[0], None)  # evicted: loaded again
    assert len(calls) == 5
    clear_data_cache()
    monkeypatch.setattr(tasks_module, "DATA_CACHE_BYTES", 1000)  # one split is larger: nothing kept
    assert cached_dataset(runs[0], None).x_train.shape[1] == 64
    assert len(tasks_module._DATA_CACHE) == 0


def test_a_user_files_content_is_part_of_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    path = tmp_path / "data.npy"
    np.save(path, np.random.default_rng(0).normal(size=(60, 6)).astype("float32"))
    sweep = sweep_from_dict({"name": "f", "epochs": 0, "width": 8, "bottleneck": 2, "dataset": f"npy:{path}"})
    first = cached_dataset(plan_runs(sweep)[0], None)
    np.save(path, np.random.default_rng(1).normal(size=(60, 6)).astype("float32"))
    second = cached_dataset(plan_runs(sweep)[0], None)
    assert not torch.equal(first.x_train, second.x_train)


# ----------------------------------------------------------------------------- thread policy


def threads_inside(executor: Any) -> tuple[int, int]:
    def probe() -> tuple[int, int]:
        from threadpoolctl import threadpool_info

        blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
        return torch.get_num_threads(), max(blas, default=1)

    result: tuple[int, int] = executor.submit(probe).result()
    return result


def test_in_process_runs_on_one_thread_and_restores_the_callers(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    torch.set_num_threads(2)
    assert serial_threads() == 1
    assert threads_inside(SerialExecutor()) == (1, 1)
    assert torch.get_num_threads() == 2  # the caller's setting is back
    assert threads_inside(make_executor("local", 1, threads=2))[0] == 2
    with thread_limit(None):
        assert torch.get_num_threads() == 2


def test_a_thread_count_chosen_by_the_user_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    torch.set_num_threads(2)
    assert serial_threads() is None
    assert threads_inside(SerialExecutor())[0] == 2


def test_a_jobs_1_sweep_trains_on_one_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    torch.set_num_threads(2)
    seen: list[tuple[int, int | None]] = []
    real = tasks_module.execute_task

    def spy(task: Task) -> Any:
        seen.append((torch.get_num_threads(), task.jobs))
        return real(task)

    monkeypatch.setattr(tasks_module, "execute_task", spy)  # what the worker calls
    sweep = sweep_from_dict(
        {"name": "t", "epochs": 1, "width": 8, "bottleneck": 2, "batch_size": 256, "probe_size": 32,
         "dataset": "digits", "grid": {"activation": ["relu", "tanh"], "depth": [1, 2]}}
    )  # fmt: skip
    summary = sweep_module.run_sweep(sweep, tmp_path / "r", jobs=1)
    assert summary.done == 4
    assert seen == [(1, 1), (1, 1)]
    assert torch.get_num_threads() == 2
