"""Same numbers everywhere (issue 12 A): a run's stored numbers are a function of its
resolved configuration and of the CPU kernel family, never of the other runs that share
its batched stack, their order, the chunking, the thread count or a resume.

The compositions run in subprocesses, once under this machine's own kernels and once
under each lower ATen kernel family (``ATEN_CPU_CAPABILITY``), so that a green run here
means the invariant holds on every x86 kernel family torch dispatches to.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from actcmp.config import sweep_from_dict
from actcmp.run.sweep import run_sweep

HERE = Path(__file__).resolve().parent
FAMILIES = ["native", "avx2", "default"]


def run_worker(family: str, threads: int = 1) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "ATEN_CPU_CAPABILITY"}
    if family != "native":
        env["ATEN_CPU_CAPABILITY"] = family
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parent), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    done = subprocess.run(
        [sys.executable, str(HERE / "invariance_worker.py"), str(threads)],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def assert_every_composition_agrees(report: dict[str, Any]) -> None:
    _agree(report, report["digests"], 5)
    _agree(report, report["variant_digests"], 1)  # widths, init, L1 penalty, input noise
    _agree(report, report["odd_digests"], 1)  # bottleneck 3, width 7: odd per-model blocks
    _agree(report, report["record_digests"], 1)  # record = "val_loss" (tuning runs)
    # a val_loss run's curve is the full run's, bit for bit, for every activation
    curves = report["val_curves"]
    assert len(curves["val_loss"]) == 16 and curves["val_loss"] == curves["full"]


def _agree(report: dict[str, Any], digests: dict[str, dict[str, str]], targets: int) -> None:
    reference = digests["alone"]
    assert len(reference) == targets
    for composition, found in digests.items():
        for run_id, digest in found.items():
            if run_id in reference:
                assert digest == reference[run_id], (
                    f"{report['capability']}, {report['threads']} thread(s): run {run_id} differs "
                    f"in '{composition}' from the run trained alone"
                )
    # every target appears in every composition
    for composition, found in digests.items():
        assert set(reference) <= set(found), composition


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_a_runs_numbers_do_not_depend_on_its_neighbours(family: str) -> None:
    report = run_worker(family)
    if family != "native":
        # ATen never goes above what the CPU has: the family asked for, or lower
        assert report["capability"].lower() in (family, "default"), report["capability"]
    assert_every_composition_agrees(report)


@pytest.mark.slow
def test_two_threads_give_the_numbers_of_one() -> None:
    one, two = run_worker("native", 1), run_worker("native", 2)
    assert_every_composition_agrees(two)
    assert one["digests"]["alone"] == two["digests"]["alone"]


def test_the_worker_can_tell_runs_apart() -> None:
    # the digests are not trivially equal: two different runs give two different digests
    sys.path.insert(0, str(HERE))
    try:
        import invariance_worker as worker
    finally:
        sys.path.remove(str(HERE))
    a, b = worker.configs(["elu"], [0]), worker.configs(["elu"], [1])
    assert worker.train(a) != worker.train(b)
    one = worker.train(a)
    assert list(one.values()) != list(worker.train(worker.configs(["elu"], [0], lr=0.003)).values())


def test_the_environment_names_the_kernel_family() -> None:
    from actcmp.engine.plain import environment

    env = environment()
    assert env["cpu_capability"] == str(torch.backends.cpu.get_cpu_capability()).lower()
    assert env["torch"] == torch.__version__ and "numpy" in env


def test_fused_adam_is_position_independent() -> None:
    # the stack updates runs of models through one fused call over their ranges: a model's
    # update must not depend on where its parameters sit in the buffer (SIMD body vs tail)
    gen = torch.Generator().manual_seed(0)
    n = 777
    start = [torch.randn(n, generator=gen) for _ in range(2)]
    avg_sq = torch.rand(n, generator=gen) * 1e-6

    def updated(offset: int, total: int) -> torch.Tensor:
        bufs = [torch.zeros(total) for _ in range(4)]
        for buf, value in zip(bufs, [start[0], start[1] * 1e-3, start[1] * 1e-4, avg_sq], strict=True):
            buf[offset : offset + n] = value
        step = torch.tensor(3.0)
        for _ in range(3):
            torch._fused_adam_(
                [bufs[0]], [bufs[1]], [bufs[2]], [bufs[3]], [], [step], lr=1e-3, beta1=0.9, beta2=0.999,
                weight_decay=0.0, eps=1e-8, amsgrad=False, maximize=False,
            )  # fmt: skip
        return bufs[0][offset : offset + n].clone()

    reference = updated(0, n)
    for offset in range(0, 40, 3):
        for extra in (0, 5, 64):
            assert torch.equal(updated(offset, offset + n + extra), reference), (offset, extra)


def sweep_config(activations: list[str]) -> Any:
    return sweep_from_dict(
        {"name": "resume", "epochs": 2, "width": 16, "bottleneck": 4, "batch_size": 128, "probe_size": 64,
         "dataset": "digits", "grid": {"activation": activations, "seed": [0, 1], "depth": [1, 2]}}
    )  # fmt: skip


@pytest.mark.slow
def test_a_resumed_or_extended_sweep_stores_the_numbers_of_an_uninterrupted_one(tmp_path: Path) -> None:
    from frames import assert_same_results

    activations = ["relu", "elu", "gelu", "tanh"]
    run_sweep(sweep_config(activations), tmp_path / "whole", engine="batched")
    # a partial commit: half of each group stored, then the sweep resumed
    partial = tmp_path / "partial"
    run_sweep(sweep_config(activations[:2]), partial, engine="batched")
    run_sweep(sweep_config(activations), partial, engine="batched")
    # a grid extended by one more activation afterwards
    extended = tmp_path / "extended"
    run_sweep(sweep_config(activations[1:]), extended, engine="batched")
    run_sweep(sweep_config(activations), extended, engine="batched")
    for other in (partial, extended):
        assert_same_results(tmp_path / "whole", other)


def test_a_lone_run_and_an_unstackable_neighbour_keep_the_batched_numbers(tmp_path: Path, monkeypatch: Any) -> None:
    """A task of one run (a resume's leftover, a shard's share) is trained by the batched
    engine like a group's run, and a neighbour the stack cannot hold (an activation with
    parameters of its own) trains alone with the plain engine without moving the others."""
    from actcmp.run.sweep import Task, cached_dataset, execute_task

    (tmp_path / "learned_act.py").write_text(
        "import torch\n"
        "class Scaled(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.scale = torch.nn.Parameter(torch.ones(()))\n"
        "    def forward(self, x):\n"
        "        return torch.tanh(x) * self.scale\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.path.insert(0, str(HERE))
    try:
        import invariance_worker as worker
    finally:
        sys.path.remove(str(HERE))
    group = worker.configs(["elu", "tanh"], [0])
    odd = worker.configs(["learned_act:Scaled"], [0])
    target = group[0]
    for cfg in [*group, *odd]:
        cached_dataset(cfg, None)
    alone = {r.run_id: worker.digest(r) for r in execute_task(Task([target], "batched"))}
    together = {r.run_id: worker.digest(r) for r in execute_task(Task(group, "batched"))}
    beside = execute_task(Task([target, *odd], "batched"))
    assert alone[target["run_id"]] == together[target["run_id"]]
    assert {r.run_id: worker.digest(r) for r in beside}[target["run_id"]] == alone[target["run_id"]]
    fallback = next(r for r in beside if r.run_id == odd[0]["run_id"])
    assert fallback.status == "done" and "parameters" in fallback.env["engine_fallback"]


def test_a_one_unit_layer_trains_with_the_plain_engine_whatever_its_neighbours() -> None:
    """MKL multiplies one model's matrix with a single column by another kernel than a batch
    of them: runs with a one-unit layer are never stacked, so they keep one set of numbers."""
    from actcmp.run.sweep import Task, execute_task

    sys.path.insert(0, str(HERE))
    try:
        import invariance_worker as worker
    finally:
        sys.path.remove(str(HERE))
    narrow = worker.configs(["elu", "tanh"], [0], width=16, bottleneck=1)
    alone = execute_task(Task(narrow[:1], "batched"))
    together = execute_task(Task(narrow, "batched"))
    assert worker.digest(alone[0]) == worker.digest(next(r for r in together if r.run_id == alone[0].run_id))
    assert all("one unit" in r.env["engine_fallback"] for r in together)
