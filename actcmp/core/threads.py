"""One intra-op thread for a computation whose numbers must not depend on the thread count.

With more than one thread ATen splits a reduction to a single value (a model alone: its
loss, a gradient norm) across threads but not a reduction to several (the same model in a
stack), the BLAS splits one matrix's sums across threads but not a batch of matrices, and a
long elementwise pass is cut into chunks whose ends depend on the batch size. On one thread a
model's numbers depend neither on the thread count nor on its neighbours; parallelism comes
from ``--jobs`` (one stack per worker). Used by the batched engine's training and by the
linear probe's fit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the block on one intra-op thread; the caller's thread count is restored after."""
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
