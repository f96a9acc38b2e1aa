"""Where a stack keeps its models: the runs, the flat parameter buffers, the layer plans.

:class:`_Run` is one model of a group (what it has recorded; its parameters once it left
the stack); :class:`_Layout` places every model's parameters in one flat buffer;
:class:`_LayerPlan` is one linear layer with its activation slices, as the forward and
backward passes take them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from actcmp.core.activations import ActivationSpec
from actcmp.engine.kernels import _Act

#: See :meth:`_Layout.ranges`: a multiple of the widest SIMD vector of float32 (AVX-512)
#: and of the fused optimizer's task unit (a 64-byte cache line).
OPT_ALIGN = 16

Row = tuple[int, int, str, float]


@dataclass
class _Run:
    """One model of the group: what it has recorded, and its parameters once it left."""

    position: int
    cfg: dict[str, Any]
    data: Any
    spec: ActivationSpec
    epochs: list[tuple[int, str, float]] = field(default_factory=list)
    layers: list[Row] = field(default_factory=list)
    diverged_epoch: int | None = None
    last_epoch: int = 0
    params: torch.Tensor | None = None  # flat row [P], set when it leaves the stack
    previous: list[torch.Tensor] | None = None  # dead masks per hidden layer, set on leaving
    #: its initial (weight [out, in], bias [out]) per layer, as the stack drew them: the end of
    #: the run's epoch-0 histograms reuse them instead of drawing them again
    initial: list[tuple[torch.Tensor, torch.Tensor]] | None = None


class _Layout:
    """Where each model's parameters live in the flat ``[M * P]`` buffers.

    Layer-major: for each linear layer, the weights of all models ``[M, in, out]`` then
    their biases ``[M, out]``; then the PReLU slopes ``[M, hidden]`` when any model has
    them. Every view used by a matmul is contiguous (so one batched matmul kernel serves
    every model count), and the models ``start:stop`` of every block are one contiguous
    range (:meth:`ranges`, what the optimizer updates). A model's *row* (what leaves the
    stack) is its own parameters in the same order: ``[P]``.
    """

    def __init__(self, dims: list[tuple[int, int]], with_slopes: bool) -> None:
        self.dims = dims
        self.hidden = len(dims) - 1
        self.with_slopes = with_slopes
        self.sizes = [k for i, o in dims for k in (i * o, o)] + ([self.hidden] if with_slopes else [])
        self.size = sum(self.sizes)

    def views(self, flat: torch.Tensor, m: int) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor | None]:
        """Weights ``[m, in, out]``, biases ``[m, out]`` and slopes ``[m, hidden]`` of ``flat``."""
        weights, biases = [], []
        off = 0
        for fan_in, fan_out in self.dims:
            weights.append(flat[off : off + m * fan_in * fan_out].view(m, fan_in, fan_out))
            off += m * fan_in * fan_out
            biases.append(flat[off : off + m * fan_out].view(m, fan_out))
            off += m * fan_out
        slopes = flat[off : off + self.hidden * m].view(m, self.hidden) if self.with_slopes else None
        return weights, biases, slopes

    def segments(self, flat: torch.Tensor, m: int) -> list[torch.Tensor]:
        """``[m, k]`` views of every parameter block."""
        weights, biases, slopes = self.views(flat, m)
        out = [t for w, b in zip(weights, biases, strict=True) for t in (w.reshape(m, -1), b)]
        return out + ([slopes] if slopes is not None else [])

    def ranges(self, flat: torch.Tensor, m: int, start: int, stop: int) -> list[torch.Tensor]:
        """The parameters of models ``start:stop`` as the tensors one optimizer call takes.

        A block whose per-model size is a multiple of ``OPT_ALIGN`` is one contiguous range
        (every model's elements then meet the same SIMD lanes and no tail loop, as when the
        model is alone); any other block is one tensor per model, each then processed
        exactly as the model's own block would be if it were alone in the stack (an
        optimizer kernel's vector body and scalar tail round differently)."""
        out: list[torch.Tensor] = []
        for seg in self.segments(flat, m):
            if seg.shape[1] % OPT_ALIGN == 0:
                out.append(seg[start:stop].reshape(-1))
            else:
                out.extend(seg[model] for model in range(start, stop))
        return out

    def take(self, flat: torch.Tensor, m: int, index: torch.Tensor) -> torch.Tensor:
        """A new flat buffer holding only models ``index``."""
        return torch.cat([seg[index].reshape(-1) for seg in self.segments(flat, m)])

    def row(self, flat: torch.Tensor, m: int, model: int) -> torch.Tensor:
        """Model ``model``'s parameters as one ``[P]`` row (a copy)."""
        return torch.cat([seg[model] for seg in self.segments(flat, m)])

    def fill(self, flat: torch.Tensor, m: int, model: int, row: torch.Tensor) -> None:
        for seg, part in zip(self.segments(flat, m), row.split(self.sizes), strict=True):
            seg[model] = part


@dataclass
class _LayerPlan:
    """One linear layer (and the activation after it) for a set of stacked models.

    ``narrow_out``: the output has few columns, so ``z`` and ``dW`` are computed
    transposed, and the gradient of its input is computed in the layout of the ``z`` it
    came from (the layer below's ``narrow_out``: elementwise kernels over mixed layouts
    are several times slower). ``acts``: per activation slice, its models ``start:stop``
    (relative to the plan's), forward, backward, PReLU slope view and slope-gradient view
    (None where none).
    """

    W: torch.Tensor  # [m, in, out]
    Wt: torch.Tensor  # [m, out, in] (a view)
    b_row: torch.Tensor  # [m, 1, out]
    b_col: torch.Tensor  # [m, out, 1]
    gW: torch.Tensor | None
    gb: torch.Tensor | None
    narrow_out: bool
    acts: list[tuple[int, int, _Act, torch.Tensor | None, torch.Tensor | None]]


def _runs_of(keys: list[Any]) -> list[tuple[int, int, Any]]:
    """Maximal runs of equal consecutive keys: ``(start, stop, key)``."""
    out: list[tuple[int, int, Any]] = []
    start = 0
    for i in range(1, len(keys) + 1):
        if i == len(keys) or keys[i] != keys[start]:
            out.append((start, i, keys[start]))
            start = i
    return out
