"""The linear probe on a model's codes, for one model or many at once (pure torch; the engines
fit one model per call, so that a run's numbers never depend on its neighbours).

Definition (``PROBE_VERSION`` 2; the same objective as version 1, scikit-learn's
``make_pipeline(StandardScaler(), LogisticRegression(C=1.0))``):

* inputs: the codes ``[n, k]`` of the training split, standardised with their own mean and
  (population) standard deviation, a constant code column left unscaled; the test codes
  with the same statistics;
* model: multinomial logistic regression over the classes present in the training labels
  (softmax of ``z @ W + b``), fitted by minimising
  ``mean cross-entropy + 1 / (2 C n) * ||W||^2`` (the intercepts ``b`` unpenalised); with two
  classes, the binary logistic regression scikit-learn fits (the same as a softmax whose
  penalty is doubled: at the optimum ``W_0 = -W_1``);
* result: accuracy of ``argmax`` on the test codes (a test label absent from training is
  always wrong); None when any code is not finite or the training labels hold one class.

Version 1 (runs stored before this module) ran scikit-learn's L-BFGS, stopped after 300
iterations or at its tolerance 1e-4; version 2 solves the same problem to its optimum
with Newton's method, so the two differ only where version 1 had not converged
(``tests/test_probe.py`` bounds the difference on fixtures).

Solver: Newton's method on the ``(k + 1) * K`` parameters of each model (the Hessian of a
probe on 8 codes and 10 classes is 90 x 90), objective and gradient in float64, the
Hessian in float32 (it only sets the direction), solved by Cholesky; the first step from
``W = 0`` uses the exact Hessian there (a Kronecker product), and a model whose gradient
is already below ``REUSE_BELOW`` keeps its last factor. Each step is searched backtracking
on ``2^-j`` (Armijo), every model its own step. Every model has its own convergence test
(largest entry of the mean objective's gradient below ``TOL``, 6-12 iterations on trained
codes) and stops on its own; nothing is reduced across models, so a model's probe does
not depend on what else is in the batch (tested: alone or among others, the same
accuracy and iteration count, coefficients equal to 1e-8; the float32 Hessian product
may round differently with the batch size). A stopped model solves against the identity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from actcmp.core.model import Autoencoder

#: Stored beside ``probe_accuracy`` in a run's final metrics (absent: version 1, sklearn).
PROBE_VERSION = 2
#: Inverse regularisation strength, as scikit-learn's ``C`` (its default).
PROBE_C = 1.0
MAX_ITER = 50
#: Convergence: the largest entry of the gradient of the (mean) objective.
TOL = 1e-9
#: Backtracking steps tried per Newton iteration at most: 1, 1/2, ..., 2^-(STEPS-1).
STEPS = 30
_ARMIJO = 1e-4
#: A model whose largest gradient entry is below this keeps its last Hessian's factor (the
#: chord method: near the optimum the Hessian hardly changes, and it is the cost).
REUSE_BELOW = 1e-6
#: Precision of the Hessian (see :func:`_hessian`).
HESSIAN_DTYPE = torch.float32


@dataclass
class ProbeFit:
    """Per model: test accuracy (None: not measurable), Newton iterations, converged."""

    accuracy: list[float | None]
    iterations: list[int]
    converged: list[bool]
    weights: torch.Tensor  # [M, K, k + 1] (last column: intercepts), standardised inputs


def fit_probes(
    codes_train: torch.Tensor,
    y_train: torch.Tensor | np.ndarray,
    codes_test: torch.Tensor,
    y_test: torch.Tensor | np.ndarray,
    c: float = PROBE_C,
    max_iter: int = MAX_ITER,
    tol: float = TOL,
) -> ProbeFit:
    """Fit one probe per model on ``codes_train [M, n, k]`` with labels ``y_train [M, n]``
    (int, >= 0) and score it on ``codes_test [M, m, k]`` / ``y_test [M, m]``.

    Runs on the device of ``codes_train`` in float64."""
    dev = codes_train.device
    f64 = torch.float64
    z_train, z_test = codes_train.detach().to(f64), codes_test.detach().to(f64)
    labels_train = torch.as_tensor(np.asarray(y_train) if not torch.is_tensor(y_train) else y_train).to(dev).long()
    labels_test = torch.as_tensor(np.asarray(y_test) if not torch.is_tensor(y_test) else y_test).to(dev).long()
    m, n, k = z_train.shape
    finite = torch.isfinite(z_train).flatten(1).all(1) & torch.isfinite(z_test).flatten(1).all(1)
    z_train = torch.where(finite.view(-1, 1, 1), z_train, 0.0)
    z_test = torch.where(finite.view(-1, 1, 1), z_test, 0.0)
    classes = int(max(int(labels_train.max()), int(labels_test.max()) if labels_test.numel() else 0)) + 1
    present = torch.zeros(m, classes, dtype=torch.bool, device=dev)
    present.scatter_(1, labels_train, True)
    n_present = present.sum(1)
    usable = finite & (n_present >= 2)

    mean = z_train.mean(1, keepdim=True)
    std = z_train.std(1, keepdim=True, correction=0)
    scale = torch.where(std > 10 * torch.finfo(f64).eps * mean.abs().clamp_min(1.0), std, 1.0)
    x_train = _with_intercept((z_train - mean) / scale)
    x_test = _with_intercept((z_test - mean) / scale)
    d = k + 1
    targets = torch.zeros(m, n, classes, dtype=f64, device=dev)
    targets.scatter_(2, labels_train.unsqueeze(2), 1.0)
    # per model: L2 strength on the mean loss; doubled for two classes (binary = softmax
    # with the weight difference penalised once, see the module docstring)
    strength = torch.full((m,), 1.0 / (c * n), dtype=f64, device=dev)
    strength = torch.where(n_present == 2, 2 * strength, strength)
    penalised = torch.ones(d, dtype=f64, device=dev)
    penalised[-1] = 0.0  # intercepts
    free = present.to(f64).unsqueeze(2) * torch.ones(d, dtype=f64, device=dev)  # [M, K, d]

    weights = torch.zeros(m, classes, d, dtype=f64, device=dev)
    active = usable.clone()
    iterations = torch.zeros(m, dtype=torch.long, device=dev)
    converged = torch.zeros(m, dtype=torch.bool, device=dev)
    # the loss is flat along a common shift of the intercepts: curvature added along it
    # makes the Hessian positive definite and moves nothing (the gradient is orthogonal)
    shift = (present.to(f64).unsqueeze(2) * (1 - penalised)).flatten(1)  # [M, K d]
    flat_shift = shift.unsqueeze(2) * shift.unsqueeze(1)
    identity = torch.eye(classes * d, dtype=f64, device=dev)
    logits = _masked(x_train @ weights.transpose(1, 2), present)
    value, log_norm = _value(logits, labels_train, weights, strength, penalised)
    # at W = 0 every present class has probability 1 / K: the Hessian is a Kronecker product
    uniform = present.to(f64) / n_present.clamp_min(1).to(f64).unsqueeze(1)
    hessian = _kron(torch.diag_embed(uniform) - uniform.unsqueeze(2) * uniform.unsqueeze(1),
                    x_train.transpose(1, 2) @ x_train / n)  # fmt: skip
    hessian = _regularised(hessian, strength, penalised, free) + flat_shift
    factor, failed = _factor(hessian, active, identity)
    for iteration in range(max_iter):
        if not bool(active.any()):
            break
        probs = torch.exp(logits - log_norm.unsqueeze(2))
        grad = ((probs - targets).transpose(1, 2) @ x_train) / n
        grad = (grad + strength.view(-1, 1, 1) * weights * penalised) * free
        largest = grad.abs().flatten(1).amax(1)
        done = largest < tol
        converged |= active & done
        active &= ~done
        if not bool(active.any()):
            break
        # a fresh Hessian where the gradient is still large; close to the optimum the last
        # one's factor serves (it hardly changes there, and it is the probe's main cost)
        refresh = active & (largest > REUSE_BELOW) if iteration else torch.zeros_like(active)
        if bool(refresh.any()):
            fresh = _regularised(_hessian(x_train, probs), strength, penalised, free) + flat_shift
            fresh_factor, fresh_failed = _factor(fresh, refresh, identity)
            hessian = torch.where(refresh.view(-1, 1, 1), fresh, hessian)
            factor = torch.where(refresh.view(-1, 1, 1), fresh_factor, factor)
            failed = torch.where(refresh, fresh_failed, failed)
        rhs = torch.where(active.view(-1, 1), grad.flatten(1), 0.0).unsqueeze(2)
        step_flat = torch.cholesky_solve(rhs, factor)
        if bool((failed & active).any()):  # not positive definite in float32: a plain solve
            rescue = torch.linalg.solve(torch.where(failed.view(-1, 1, 1), hessian, identity), rhs)
            step_flat = torch.where(failed.view(-1, 1, 1), rescue, step_flat)
        direction = -step_flat.view(m, classes, d) * free
        slope = (grad * direction).flatten(1).sum(1)
        # backtracking, every model its own step: a full step is nearly always taken, so
        # most iterations evaluate the objective once
        chosen = torch.zeros(m, dtype=f64, device=dev)
        pending = active.clone()
        for step in (0.5**j for j in range(STEPS)):
            trial = weights + step * direction
            trial_logits = _masked(x_train @ trial.transpose(1, 2), present)
            after, trial_norm = _value(trial_logits, labels_train, trial, strength, penalised)
            accepted = pending & (after <= value + _ARMIJO * step * slope)
            chosen = torch.where(accepted, step, chosen)
            logits = torch.where(accepted.view(-1, 1, 1), trial_logits, logits)
            log_norm = torch.where(accepted.view(-1, 1), trial_norm, log_norm)
            value = torch.where(accepted, after, value)
            pending &= ~accepted
            if not bool(pending.any()):
                break
        moved = active & (chosen > 0)
        weights = weights + chosen.view(-1, 1, 1) * direction
        iterations += active.long()
        # no step decreases the objective: it is at its optimum to rounding
        converged |= active & ~moved
        active &= moved
    predicted = _masked(x_test @ weights.transpose(1, 2), present).argmax(2)
    correct = (predicted == labels_test).to(f64).mean(1) if labels_test.shape[1] else torch.zeros(m, dtype=f64)
    accuracy = [float(a) if ok else None for a, ok in zip(correct.tolist(), usable.tolist(), strict=True)]
    return ProbeFit(accuracy, iterations.tolist(), converged.tolist(), weights)


def probe_accuracies(models: Sequence[Autoencoder], datasets: Sequence[Any]) -> list[float | None]:
    """``probe_accuracy`` of each trained ``model`` on its ``Dataset`` (None where the data
    has no labels): the codes of its train and test splits, probes of equally shaped codes
    fitted together by :func:`fit_probes`."""
    if len(models) != len(datasets):
        raise ValueError("one dataset per model")
    accuracy: list[float | None] = [None] * len(models)
    shapes: dict[tuple[Any, ...], list[int]] = {}
    codes: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    with torch.no_grad():
        for index, (model, data) in enumerate(zip(models, datasets, strict=True)):
            if data.y_train is None or data.y_test is None:
                continue
            parameter = next(model.parameters())
            train = model.encode(data.x_train.to(device=parameter.device, dtype=parameter.dtype))
            test = model.encode(data.x_test.to(device=parameter.device, dtype=parameter.dtype))
            codes[index] = (train, test)
            shapes.setdefault((tuple(train.shape), tuple(test.shape), train.device), []).append(index)
    for members in shapes.values():
        fit = fit_probes(
            torch.stack([codes[i][0] for i in members]),
            np.stack([np.asarray(datasets[i].y_train) for i in members]),
            torch.stack([codes[i][1] for i in members]),
            np.stack([np.asarray(datasets[i].y_test) for i in members]),
        )
        for index, value in zip(members, fit.accuracy, strict=True):
            accuracy[index] = value
    return accuracy


def _with_intercept(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x, torch.ones(*x.shape[:-1], 1, dtype=x.dtype, device=x.device)], -1)


def _masked(logits: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """Logits ``[..., n, K]`` with the classes absent from a model's training labels at -inf."""
    return logits.masked_fill(~present.unsqueeze(-2), -torch.inf)


def _value(
    logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor, strength: torch.Tensor, penalised: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``[M]``: mean cross-entropy of ``logits [M, n, K]`` + strength/2 ||W||^2; and the
    log-normalisers ``[M, n]``."""
    log_norm = torch.logsumexp(logits, 2)
    loss = (log_norm - logits.gather(2, labels.unsqueeze(2)).squeeze(2)).mean(1)
    return loss + 0.5 * strength * (weights.square() * penalised).flatten(1).sum(1), log_norm


def _kron(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Batched Kronecker product ``[M, K d, K d]`` of ``a [M, K, K]`` and ``b [M, d, d]``."""
    m, k, _ = a.shape
    d = b.shape[1]
    return (a.view(m, k, 1, k, 1) * b.view(m, 1, d, 1, d)).reshape(m, k * d, k * d)


def _hessian(x: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """``[M, K d, K d]``: the mean loss's Hessian, sum_i (diag(p_i) - p_i p_i^T) (x) x_i x_i^T / n.

    Computed in float32 (``HESSIAN_DTYPE``): it only sets the step's direction, and the
    line search and the convergence test use the float64 objective and gradient, so the
    optimum is float64's; the ``n (K d)^2`` product is the probe's largest cost."""
    m, n, d = x.shape
    classes = probs.shape[2]
    low = HESSIAN_DTYPE
    weighted = (probs.to(low).unsqueeze(3) * x.to(low).unsqueeze(2)).reshape(m, n, classes * d)  # p_ic x_i
    # (c, c) blocks: sum_i p_ic x_i x_i^T, from the same product
    diagonal_blocks = (x.to(low).transpose(1, 2) @ weighted).view(m, d, classes, d).transpose(1, 2)
    eye_k = torch.eye(classes, dtype=low, device=x.device)
    block = (diagonal_blocks.unsqueeze(3) * eye_k.view(1, classes, 1, classes, 1)).reshape(m, classes * d, classes * d)
    return ((block - weighted.transpose(1, 2) @ weighted) / n).to(x.dtype)


def _regularised(
    hessian: torch.Tensor, strength: torch.Tensor, penalised: torch.Tensor, free: torch.Tensor
) -> torch.Tensor:
    """The objective's Hessian: the penalty added; rows of absent classes the identity's."""
    classes = free.shape[1]
    mask = free.flatten(1)
    diagonal = (strength.view(-1, 1) * penalised.repeat(classes)) * mask + (1 - mask)
    return hessian * mask.unsqueeze(1) * mask.unsqueeze(2) + torch.diag_embed(diagonal)


def _factor(hessian: torch.Tensor, rows: torch.Tensor, identity: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cholesky factors of ``hessian`` where ``rows`` (the identity's elsewhere: nothing is
    shared between models) and where that failed (not positive definite)."""
    factor, info = torch.linalg.cholesky_ex(torch.where(rows.view(-1, 1, 1), hessian, identity))
    return factor, rows & (info != 0)


__all__ = ["PROBE_C", "PROBE_VERSION", "ProbeFit", "fit_probes", "probe_accuracies"]
