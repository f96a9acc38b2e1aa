"""The layer shapes of an autoencoder: pure arithmetic, no torch.

Planning, the memory estimate and the ETA's cost model need a run's layer sizes in the
sweep's main process, which never imports torch (a worker imports it, in parallel);
:mod:`actcmp.core.model` builds the layers from the same functions and re-exports them.
"""

from __future__ import annotations

import itertools
from typing import Any


def hidden_sizes(depth: int, width: int, bottleneck: int) -> list[int]:
    """Encoder layer widths: geometric from ``width`` to ``bottleneck`` over ``depth`` layers.

    >>> hidden_sizes(1, 64, 8), hidden_sizes(4, 64, 8)
    ([8], [64, 32, 16, 8])
    """
    if depth == 1:
        return [bottleneck]
    ratio = bottleneck / width
    return [max(bottleneck, round(width * ratio ** (i / (depth - 1)))) for i in range(depth)]


def encoder_sizes(depth: int, width: int, bottleneck: int, widths: list[int] | None = None) -> list[int]:
    """Encoder layer widths, the code layer last: explicit ``widths`` plus ``bottleneck``
    when given, else :func:`hidden_sizes`.

    >>> encoder_sizes(4, 1000, 30, [1000, 500, 250])
    [1000, 500, 250, 30]
    """
    if widths:
        return [*widths, bottleneck]
    return hidden_sizes(depth, width, bottleneck)


def layer_dims(
    n_features: int, depth: int, width: int, bottleneck: int, widths: list[int] | None = None
) -> list[tuple[int, int]]:
    """(in, out) of every linear layer, encoder then decoder: ``2*depth`` pairs."""
    sizes = [n_features, *encoder_sizes(depth, width, bottleneck, widths)]
    enc = list(itertools.pairwise(sizes))
    dec = [(o, i) for i, o in reversed(enc)]
    return enc + dec


def cfg_dims(cfg: dict[str, Any], n_features: int) -> list[tuple[int, int]]:
    """:func:`layer_dims` of a resolved run config."""
    return layer_dims(n_features, cfg["depth"], cfg["width"], cfg["bottleneck"], cfg.get("widths"))
