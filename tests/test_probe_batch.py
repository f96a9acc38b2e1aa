"""The linear probe fitted for a whole stack at once (issue 16) gives every model the
numbers it gets alone (issue 12): the same weights to the last bit, iterations, accuracy
and convergence, at any batch size and position, beside any neighbours, under every CPU
kernel family and thread count.

The fits run in ``probe_batch_worker.py``: in-process for a quick check, and in
subprocesses under the machine's kernels, ``ATEN_CPU_CAPABILITY=avx2`` and ``=default``,
each on one and two intra-op threads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
try:
    import probe_batch_worker as worker
finally:
    sys.path.remove(str(HERE))

FAMILIES = ["native", "avx2", "default"]


def run_worker(family: str, threads: int) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "ATEN_CPU_CAPABILITY"}
    if family != "native":
        env["ATEN_CPU_CAPABILITY"] = family
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parent), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    done = subprocess.run(
        [sys.executable, str(HERE / "probe_batch_worker.py"), str(threads)],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_a_model_is_fitted_to_the_bit_alone_or_in_a_batch() -> None:
    threads = torch.get_num_threads()
    try:
        report = worker.check(1, shapes=[(203, 51, 1, 2), (150, 33, 2, 10)], sizes=[2, 7, 25])
    finally:
        torch.set_num_threads(threads)
    assert report["mismatches"] == []
    assert report["fitted"] >= 40  # most of the pool is measurable: the comparison is not empty


def test_the_check_can_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    # a fit whose last bits move with the batch size is caught
    fit = worker.fit_probes

    def batch_dependent(*args: Any) -> Any:
        result = fit(*args)
        result.weights = result.weights * (1 + np.finfo(np.float64).eps * (result.weights.shape[0] > 1))
        return result

    monkeypatch.setattr(worker, "fit_probes", batch_dependent)
    threads = torch.get_num_threads()
    try:
        report = worker.check(1, shapes=[(97, 13, 8, 2)], sizes=[3])
    finally:
        torch.set_num_threads(threads)
    assert len(report["mismatches"]) == 3


def test_the_probe_leaves_the_thread_count_as_it_found_it() -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        worker.fit([worker.codes(0, 97, 13, 8, 2)])
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_bit_identical_under_every_kernel_family_and_thread_count(family: str) -> None:
    one, two = run_worker(family, 1), run_worker(family, 2)
    if family != "native":
        # ATen never goes above what the CPU has: the family asked for, or lower
        assert one["capability"].lower() in (family, "default"), one["capability"]
    for report in (one, two):
        assert report["mismatches"] == [], (report["capability"], report["threads"], report["mismatches"][:5])
    # and the thread count changes nothing: the probe always runs on one intra-op thread
    assert one["alone"] == two["alone"]


def test_a_call_over_its_memory_budget_fits_in_chunks_with_the_same_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    from actcmp.core import probe

    sets = [worker.codes(seed, 150, 33, 2, 10) for seed in range(7)]
    whole = worker.fit(sets)
    calls: list[int] = []
    fit = probe._fit

    def counted(codes_train: torch.Tensor, *args: Any) -> Any:
        calls.append(codes_train.shape[0])
        return fit(codes_train, *args)

    # two models per chunk (each needs 8 * 192 * (6 * 10 + 2 * 3) bytes for its passes and
    # HESSIAN_COPIES float64 matrices of (10 * 3)^2)
    monkeypatch.setattr(probe, "CHUNK_BYTES", 2 * (8 * 192 * 66 + 8 * probe.HESSIAN_COPIES * 30**2))
    monkeypatch.setattr(probe, "_fit", counted)
    chunked = worker.fit(sets)
    assert calls == [1, 2, 2, 2]  # seed 4 has nine classes: apart; then six in chunks of two
    assert torch.equal(chunked.weights, whole.weights)
    assert (chunked.accuracy, chunked.iterations) == (whole.accuracy, whole.iterations)


def test_a_chunk_of_wide_codes_counts_their_hessians() -> None:
    """A fit holds ``K (k+1)`` squared float64 matrices per model: with 128 codes and 10
    classes (13 MB each) a chunk must stay near CHUNK_BYTES, not grow with the stack."""
    from actcmp.core import probe

    params = 10 * 129
    most = probe.models_per_chunk(1280, 10, 128)
    assert most * 8 * probe.HESSIAN_COPIES * params**2 <= max(probe.CHUNK_BYTES, 8 * probe.HESSIAN_COPIES * params**2)
    assert probe.models_per_chunk(1280, 10, 8) > 100  # the default code of 8: a whole stack at once
