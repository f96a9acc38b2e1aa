"""Fits linear probes alone and in batches of many sizes and positions in one process;
prints (JSON on stdout) every model whose batched fit is not bit-identical to its fit
alone, and a digest of each fit alone.

Run by ``test_probe_batch.py`` in subprocesses, once per CPU kernel family
(``ATEN_CPU_CAPABILITY``) and thread count, and imported by it in-process. Not a test
module itself (no ``test_`` prefix).
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from typing import Any

import numpy as np
import torch

from actcmp.core.probe import ProbeFit, fit_probes

#: (train rows, test rows, codes, classes): n not a multiple of 8 or 16, k = 1 (a design
#: matrix of two columns), two classes (the doubled penalty) and ten
SHAPES = [(203, 51, 1, 2), (150, 33, 2, 10), (301, 77, 5, 3), (257, 40, 8, 10), (97, 13, 8, 2)]
SIZES = [2, 3, 7, 24, 25]
POOL = 26


def codes(seed: int, n: int, m: int, k: int, classes: int) -> tuple[np.ndarray, ...]:
    """float32 codes around class centres at unequal scales, labels; train then test.
    Every 7th model has its last class in the test split only (not fitted, never predicted),
    every 5th a constant code (left unscaled), every 11th a nearly separable problem, every
    9th one class fewer (a model of another class count: fitted apart, as alone), every 13th
    a non-finite code and every 17th a single training class (both: not measurable)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, k)) * (6.0 if seed % 11 == 3 else 1.0)
    y = rng.integers(0, classes - (seed % 9 == 4 and classes > 2), size=n + m)
    if seed % 7 == 2 and classes > 2:
        y[:n] = np.where(y[:n] == classes - 1, 0, y[:n])
        y[n] = classes - 1
    z = centres[y] * 0.8 + rng.normal(size=(n + m, k))
    z = z * rng.uniform(0.1, 50.0, size=k) + rng.normal(0, 5, size=k)
    if seed % 5 == 1:
        z[:, 0] = 2.5
    if seed % 13 == 6:
        z[n // 2, k - 1] = np.nan
    if seed % 17 == 8:
        y[:n] = 1
    z = z.astype(np.float32)
    return z[:n], y[:n], z[n:], y[n:]


def fit(sets: list[tuple[np.ndarray, ...]]) -> ProbeFit:
    return fit_probes(
        torch.tensor(np.stack([s[0] for s in sets])), np.stack([s[1] for s in sets]),
        torch.tensor(np.stack([s[2] for s in sets])), np.stack([s[3] for s in sets]),
    )  # fmt: skip


def digest(result: ProbeFit, index: int) -> str:
    own = result.weights[index]
    payload = repr((result.accuracy[index], result.iterations[index], result.converged[index]))
    return hashlib.sha256(payload.encode() + own.numpy().tobytes()).hexdigest()[:16]


def check(
    threads: int = 1, shapes: list[tuple[int, int, int, int]] | None = None, sizes: list[int] | None = None
) -> dict[str, Any]:
    """Every model of every shape alone, then in random batches of ``SIZES`` (shuffled,
    random neighbours): the models whose batched fit differs in any bit, and the digests."""
    torch.set_num_threads(threads)
    rng = random.Random(0)
    mismatches: list[str] = []
    alone_digests: dict[str, str] = {}
    fitted = 0
    for shape in shapes or SHAPES:
        pool = [codes(seed, *shape) for seed in range(POOL)]
        alone = [fit([s]) for s in pool]
        for seed, result in enumerate(alone):
            alone_digests[f"{shape}/{seed}"] = digest(result, 0)
        fitted += sum(r.accuracy[0] is not None for r in alone)
        for size in sizes or SIZES:
            members = rng.sample(range(POOL), size)
            batch = fit([pool[i] for i in members])
            for position, seed in enumerate(members):
                own = alone[seed].weights.shape[1]  # its classes; rows beyond them are zero
                same = (
                    torch.equal(batch.weights[position, :own], alone[seed].weights[0])
                    and not bool(batch.weights[position, own:].any())
                    and batch.iterations[position] == alone[seed].iterations[0]
                    and batch.accuracy[position] == alone[seed].accuracy[0]
                    and batch.converged[position] == alone[seed].converged[0]
                )
                if not same:
                    mismatches.append(f"{shape} seed {seed}: at {position} of {size}")
    return {
        "capability": str(torch.backends.cpu.get_cpu_capability()),
        "threads": threads,
        "mismatches": mismatches,
        "alone": alone_digests,
        "fitted": fitted,
    }


if __name__ == "__main__":
    json.dump(check(int(sys.argv[1]) if len(sys.argv) > 1 else 1), sys.stdout)
