"""Pure metric functions on tensors and arrays; no I/O, no printing.

"Dead" means the same for every activation: a unit whose activation derivative is exactly
zero on every input of the probe set. "Saturated" is measured on each activation's own
terms: a unit that is not dead but whose |f'(z)| is below ``threshold * peak`` (``peak``
= the activation's largest derivative) on at least ``share`` of the probe inputs.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np
import torch

from actcmp.core.activations import ActivationSpec, parse_activation


def dead_mask(deriv: torch.Tensor) -> torch.Tensor:
    """Bool ``[units]``: True where ``deriv [n, units]`` is zero for every input."""
    return (deriv == 0).all(dim=0)


def saturated_mask(deriv: torch.Tensor, peak: float, threshold: float, share: float) -> torch.Tensor:
    """Bool ``[units]``: not dead, and ``|deriv| < threshold*peak`` on >= ``share`` of inputs."""
    small = (deriv.abs() < threshold * peak).to(torch.float64).mean(dim=0) >= share
    return small & ~dead_mask(deriv)


def zero_fraction(post: torch.Tensor) -> float:
    """Share of (input, unit) outputs ``post [n, units]`` that are exactly zero (sparsity)."""
    return float((post == 0).to(torch.float64).mean())


def transitions(previous: torch.Tensor | None, current: torch.Tensor) -> tuple[int, int]:
    """(died, revived) unit counts between two dead masks ``[units]``."""
    if previous is None:
        return 0, 0
    died = int((current & ~previous).sum())
    revived = int((previous & ~current).sum())
    return died, revived


@cache
def peak_derivative(canonical: str) -> float:
    """max |f'(z)| over z in [-20, 20] (analytic or autograd), cached per activation."""
    spec = parse_activation(canonical)
    return _peak(spec)


def _peak(spec: ActivationSpec) -> float:
    z = torch.linspace(-20, 20, 8001, dtype=torch.float64)
    module = spec.build().to(torch.float64)
    value = float(spec.derivative(z, module).abs().max())
    return value if value > 0 and math.isfinite(value) else 1.0


def grad_norm(tensor: torch.Tensor | None) -> float:
    """L2 norm of a gradient tensor (0 when it has none)."""
    return 0.0 if tensor is None else float(tensor.detach().norm())


def epochs_to_threshold(losses: list[float], threshold: float) -> int | None:
    """First epoch (index into ``losses``, epoch 0 = init) with loss <= threshold, or None."""
    for epoch, value in enumerate(losses):
        if math.isfinite(value) and value <= threshold:
            return epoch
    return None


def linear_probe_accuracy(
    codes_train: np.ndarray, y_train: np.ndarray, codes_test: np.ndarray, y_test: np.ndarray
) -> float | None:
    """Test accuracy of a logistic regression on standardised codes ``[n, bottleneck]``.

    None when the codes are not finite or the training labels have a single class.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if not (np.isfinite(codes_train).all() and np.isfinite(codes_test).all()):
        return None
    if len(np.unique(y_train)) < 2:
        return None
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))
    with warnings.catch_warnings(), one_blas_thread():
        # a probe that has not fully converged in 300 steps is still a fair measurement
        warnings.simplefilter("ignore")
        probe.fit(codes_train, y_train)
    return float(probe.score(codes_test, y_test))


def one_blas_thread() -> Any:
    """numpy/scipy's BLAS on one thread (a context manager) while small scikit-learn fits
    run: their threads otherwise spin against torch's and the other workers (measured:
    5x slower with 2 threads on 2 cores; same results)."""
    controller = _blas_controller()
    return contextlib.nullcontext() if controller is None else controller.limit(limits=1, user_api="blas")


@cache
def _blas_controller() -> Any:
    """One threadpoolctl controller per process: building one scans the loaded libraries
    (~20 ms, measured), limiting through it afterwards costs ~0.2 ms."""
    try:
        import scipy.optimize  # noqa: F401  (load the BLAS the fits use before the scan)
        import sklearn.linear_model  # noqa: F401
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - comes with scikit-learn
        return None
    return ThreadpoolController()


#: pre-activation histograms: ``PREACT_HIST_BINS`` equal bins on ``PREACT_HIST_RANGE``;
#: values beyond the range count in the end bins (so saturation shows as mass there)
PREACT_HIST_RANGE = (-6.0, 6.0)
PREACT_HIST_BINS = 48
#: the most values one :func:`preact_histograms` pass over several runs' tensors takes (the
#: batched engine's end of run; a larger run has a pass of its own). Measured (2 cores,
#: 24 models): merging small runs saves the per-call overhead (probe 512 at depth 1: 7 -> 3-5
#: ms), but one pass over a whole group of default-sized runs (140k-450k values each) took
#: 1.3-3x the time of a pass per run (larger temporaries are slower per value); this bound
#: keeps the pass's temporaries (~40 bytes a value) at ~10 MiB
PREACT_HIST_PASS_VALUES = 1 << 18


def preact_histogram(z: torch.Tensor) -> np.ndarray | None:
    """Shares ``[PREACT_HIST_BINS]`` (summing to 1) of the finite values of ``z`` (any
    shape) in equal bins on ``PREACT_HIST_RANGE``, values outside the range clipped into
    the end bins. None when ``z`` has no finite value."""
    return preact_histograms([z])[0]


def preact_histograms(zs: list[torch.Tensor]) -> list[np.ndarray | None]:
    """:func:`preact_histogram` of each tensor in ``zs``, with one counting pass for all.

    A value's bin is ``floor((z - low) * bins / (high - low))`` in float64, clipped to the
    end bins (the last bin closed), which is what ``numpy.histogram`` gives on the same range
    (tested). Non-finite values are left out. Counted in numpy: the same IEEE operations as
    torch's, 3-4x faster on these sizes (torch's ``isfinite``, ``where`` and
    ``repeat_interleave`` cost 9-12 ns a value here, numpy's whole pass ~10)."""
    if not zs:
        return []
    low, high = PREACT_HIST_RANGE
    bins = PREACT_HIST_BINS
    flat = torch.cat([z.detach().reshape(-1).to(torch.float64) for z in zs]).cpu().numpy()
    position = flat - low
    position *= bins / (high - low)
    np.clip(position, 0, bins - 0.5, out=position)  # floor below = the bin
    with np.errstate(invalid="ignore"):  # a NaN's slot is garbage: replaced below
        slots = position.astype(np.int64)
    start = 0
    for index, z in enumerate(zs):  # each tensor's bins after the previous tensors'
        stop = start + z.numel()
        if index:
            slots[start:stop] += index * bins
        start = stop
    finite = np.isfinite(flat)
    if not finite.all():
        slots[~finite] = len(zs) * bins  # one slot past the last tensor's: dropped
    counts = np.bincount(slots, minlength=len(zs) * bins + 1)[:-1].reshape(len(zs), bins).astype(np.float64)
    totals = counts.sum(axis=1)
    shares = counts / np.maximum(totals, 1)[:, None]
    return [None if total == 0 else row for row, total in zip(shares, totals.tolist(), strict=True)]


def anomaly_auroc(errors: np.ndarray, is_anomaly: np.ndarray) -> float | None:
    """AUROC of per-sample reconstruction error ``[n]`` against anomaly flags ``[n]``: one
    model's :func:`anomaly_aurocs`."""
    return anomaly_aurocs([errors], [is_anomaly])[0]


def anomaly_aurocs(errors_list: Sequence[np.ndarray], flags_list: Sequence[np.ndarray]) -> list[float | None]:
    """AUROC of each model's per-sample reconstruction errors ``[n]`` (higher = more
    anomalous) against its anomaly flags ``[n]`` (bool), for all models of a group at once.

    The very float scikit-learn's ``roc_auc_score(flags.astype(int), errors)`` gives, without
    importing scikit-learn (~1.3-1.8 CPU-seconds in a training worker): its computation
    redone step by step in numpy (:func:`_roc_auc`; compared bit for bit in
    ``tests/test_auroc.py``). None for a model whose errors are not all finite or whose flags
    hold one class only."""
    if len(errors_list) != len(flags_list):
        raise ValueError("one flag array per error array")
    return [_roc_auc(np.asarray(e), np.asarray(f, dtype=bool)) for e, f in zip(errors_list, flags_list, strict=True)]


def _roc_auc(errors: np.ndarray, flags: np.ndarray) -> float | None:
    """scikit-learn's binary ``roc_auc_score`` (1.9: ``roc_curve`` with ``drop_intermediate``,
    then ``auc``), in its own order of operations and dtypes, so the float is the same."""
    if errors.ndim != 1 or errors.shape != flags.shape:
        raise ValueError(f"errors and flags must be equal-length 1-d arrays, got {errors.shape} and {flags.shape}")
    if not np.isfinite(errors).all() or flags.all() or not flags.any():
        return None
    n = errors.shape[0]
    # confusion_matrix_at_thresholds: stable sort by descending score (numpy has no native
    # descending sort: array_api_compat flips, sorts stably, flips back), then the last
    # index of each run of equal scores, and the cumulative counts there in float64
    order = n - 1 - np.flip(np.argsort(np.flip(errors), kind="stable"))
    score, positive = errors[order], flags[order].astype(np.float64)
    thresholds = np.concatenate([np.nonzero(np.diff(score))[0], np.asarray([n - 1])])
    tps = np.cumsum(positive * 1.0, dtype=np.float64)[thresholds]
    fps = 1 + thresholds.astype(np.float64) - tps
    # roc_curve(drop_intermediate=True): keep the ends and the corners (a non-zero second
    # difference of fps or tps), then start the curve at (0, 0)
    if fps.shape[0] > 2:
        corners = np.logical_or(np.diff(fps, 2), np.diff(tps, 2))
        kept = np.where(np.concatenate([np.asarray([True]), corners, np.asarray([True])]))[0]
        fps, tps = fps[kept], tps[kept]
    tps = np.concatenate([np.asarray([0.0]), tps])
    fps = np.concatenate([np.asarray([0.0]), fps])
    fpr, tpr = fps / fps[-1], tps / tps[-1]  # both classes present: both ends > 0
    # auc(fpr, tpr): the direction check, then scipy.integrate.trapezoid's sum (pairwise,
    # as numpy sums a contiguous float64 array)
    direction = 1
    dx = np.diff(fpr)
    if np.any(dx < 0):
        if not np.all(dx <= 0):  # pragma: no cover - fps never decreases
            raise ValueError(f"x is neither increasing nor decreasing : {fpr}.")
        direction = -1
    area = direction * np.sum((fpr[1:] - fpr[:-1]) * (tpr[1:] + tpr[:-1]) / 2.0, axis=-1, dtype=np.float64)
    return float(area)
