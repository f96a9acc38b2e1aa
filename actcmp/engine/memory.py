"""Memory of a stack: what one group of stacked models needs, and how many fit a budget.

Pure arithmetic on a run's config and its split sizes (no /proc, no allocator: the budget
itself comes from :mod:`actcmp.run.resources`).
"""

from __future__ import annotations

from typing import Any

from actcmp.core.shapes import cfg_dims

#: Rows per chunk of the full-pass evaluation are chosen to keep each model's activations
#: under this (per model, so that the chunks, and with them the numbers, do not depend on
#: how many models share the stack).
EVAL_CHUNK_BYTES = 2 << 20


def _counts(cfg: dict[str, Any], n_features: int) -> tuple[int, int]:
    dims = cfg_dims(cfg, n_features)
    params = sum(i * o + o for i, o in dims) + len(dims) - 1
    units = sum(o for _, o in dims)
    return params, units


def estimate_group_bytes(
    cfg: dict[str, Any],
    n_models: int,
    n_train: int,
    n_features: int,
    n_val: int | None = None,
    n_test: int | None = None,
    element_bytes: int = 4,
) -> int:
    """Peak memory (bytes) of :func:`~actcmp.engine.batched.train_group` on ``n_models``
    runs shaped like ``cfg``.

    Per model: parameters, gradients, two optimizer states and the update's temporaries
    (7 buffers of the parameter count); what a minibatch step keeps for backward (``z``,
    ``h`` and their gradients: 4 per unit and sample, plus the batch), held for the whole
    run in the step's buffers, once for the full batch and once for the epoch's last,
    shorter one (:class:`~actcmp.engine.stack._StepBuffers`); the same for the
    probe set during measurement; its stacked split (worst case: every model its own seed);
    and the caller's float32 ``Dataset`` of that run. Plus one evaluation chunk and a
    fixed allowance for the interpreter and libraries.
    """
    n_val = n_val if n_val is not None else max(1, n_train // 4)
    n_test = n_test if n_test is not None else n_val
    params, units = _counts(cfg, n_features)
    probe = min(cfg["probe_size"], n_train)
    per_model = element_bytes * (
        7 * params
        + 4 * cfg["batch_size"] * (2 * units + n_features)
        + 5 * probe * (units + n_features)
        + (n_train + n_val) * n_features
    )
    per_model += 4 * (n_train + n_val + n_test) * n_features
    return int(n_models * (per_model + EVAL_CHUNK_BYTES) + (256 << 20))


def max_models_for_memory(
    cfg: dict[str, Any],
    n_train: int,
    n_features: int,
    budget_bytes: int,
    n_val: int | None = None,
    n_test: int | None = None,
    element_bytes: int = 4,
) -> int:
    """The most models of this shape that one group may stack within ``budget_bytes`` (>= 1)."""
    one = estimate_group_bytes(cfg, 1, n_train, n_features, n_val, n_test, element_bytes)
    two = estimate_group_bytes(cfg, 2, n_train, n_features, n_val, n_test, element_bytes)
    per_model, fixed = two - one, 2 * one - two
    return max(1, int((budget_bytes - fixed) // max(1, per_model)))
