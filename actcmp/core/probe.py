"""The linear probe on a model's codes, for one model or a whole stack at once (pure torch).
A model's probe is bit-identical whether it is fitted alone or in a batch of any size and at
any position, so the engines fit a stack in one call and a run's numbers still depend only
on its own configuration (README: same numbers everywhere).

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
(``tests/test_probe.py`` bounds the difference on fixtures). The batch-invariant solver
below kept version 2: against the solver it replaced (one model per call) it moves
coefficients by rounding only (at most 2.3e-7, on a nearly flat optimum) and keeps every
accuracy of 72 probes of trained codes and 142 fixtures; their iteration counts too, but for
two fixtures whose gradient crossed ``TOL`` one iteration earlier or later.

Solver: Newton's method on the ``(k + 1) * K`` parameters of each model (the Hessian of a
probe on 8 codes and 10 classes is 90 x 90), objective and gradient in float64, the
Hessian in float32 (it only sets the direction), solved by Cholesky; the first step from
``W = 0`` uses the exact Hessian there (a Kronecker product), and a model whose gradient
is already below ``REUSE_BELOW`` keeps its last factor. Each step is searched backtracking
on ``2^-j`` (Armijo), every model its own step. Every model has its own convergence test
(largest entry of the mean objective's gradient below ``TOL``, 6-12 iterations on trained
codes) and stops on its own; each iteration computes only the models still running.

Why a model's numbers do not depend on the batch (tested to the bit in
``tests/test_probe_batch.py`` under the native, AVX2 and default kernel families, on one
and two threads):

* products (logits, gradient, Gram matrix, Hessian) and the LAPACK calls (Cholesky, solve)
  are made one model at a time on 2-D operands that start at a 64-byte boundary, exactly
  the calls the model makes alone: ``torch.bmm`` (MKL's batched GEMM) differed from a
  model's own GEMM at some positions of a stack even with 64-byte-aligned slots, and MKL's
  GEMM rounds differently at another alignment;
* every per-model buffer holds its samples in the last axis, padded with zero columns to a
  multiple of ``ROWS`` (64): elementwise passes (``exp``, ``log``) over a stacked buffer
  put each model's elements at the same SIMD lanes as alone, with no scalar tail;
* sums over samples or parameters run over a model's own contiguous last axis (ATen
  reduces each such row on its own); the sum over classes is written out in a fixed
  order; everything else is exactly rounded elementwise arithmetic, ``max`` or ``argmax``;
* models with another class count (largest label + 1) are fitted apart, as they are
  alone; and the fit runs on one intra-op thread (with more, ATen splits a reduction with
  a single output, a model alone, across threads, and cuts long elementwise passes at
  batch-dependent points). The argument is for CPU kernels; on a GPU the reductions'
  launch shapes depend on the batch, and nothing here is tested there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from actcmp.core.threads import one_thread

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
#: Precision of the Hessian (see :func:`_hessians`).
HESSIAN_DTYPE = torch.float32
#: Rows (samples) of every per-model buffer are padded with zero rows to a multiple of this:
#: each model's slab of a stacked buffer then starts at a 64-byte boundary and holds a
#: whole number of SIMD vectors, as it does alone (see the module docstring).
ROWS = 64
_ALIGN = 64  # bytes
#: Models fitted together at most: a call fits its models in chunks whose working buffers
#: (about six float64 ``[K, N]``, two ``[k + 1, N]`` and ``HESSIAN_COPIES`` ``[K (k+1)]^2`` per
#: model) stay under this. A model's numbers do not depend on the chunk (nor on the batch).
CHUNK_BYTES = 256 << 20
#: params x params float64 matrices a model holds at once in a fit (for sizing chunks)
HESSIAN_COPIES = 10


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

    Each model's result is bit-identical to fitting it alone, at any batch size and
    position (module docstring). ``K`` (the rows of ``weights``) is the batch's largest
    label + 1; a model's own classes are its largest label + 1, and its rows beyond them
    are zero. Runs on the device of ``codes_train`` in float64, on one intra-op thread."""
    dev = codes_train.device
    labels_train = _labels(y_train, dev)
    labels_test = _labels(y_test, dev)
    m = codes_train.shape[0]
    own = labels_train.amax(1) if labels_train.shape[1] else torch.zeros(m, dtype=torch.long, device=dev)
    if labels_test.shape[1]:
        own = torch.maximum(own, labels_test.amax(1))
    own_classes = (own + 1).tolist()
    classes = max(own_classes, default=1)
    weights = torch.zeros(m, classes, codes_train.shape[2] + 1, dtype=torch.float64, device=dev)
    accuracy: list[float | None] = [None] * m
    iterations, converged = [0] * m, [False] * m
    width = max(ROWS, -(-codes_train.shape[1] // ROWS) * ROWS)
    with torch.no_grad(), one_thread():
        for count in sorted(set(own_classes)):  # models of a different class count apart: as alone
            same = [i for i, own_count in enumerate(own_classes) if own_count == count]
            most = models_per_chunk(width, count, codes_train.shape[2])
            for start in range(0, len(same), most):
                members = same[start : start + most]
                rows = torch.tensor(members, device=dev)
                fit = _fit(
                    codes_train.detach().index_select(0, rows), labels_train.index_select(0, rows),
                    codes_test.detach().index_select(0, rows), labels_test.index_select(0, rows), count, c, max_iter, tol,
                )  # fmt: skip
                weights[rows, :count] = fit.weights
                for j, i in enumerate(members):
                    accuracy[i], iterations[i], converged[i] = fit.accuracy[j], fit.iterations[j], fit.converged[j]
    return ProbeFit(accuracy, iterations, converged, weights)


def _fit(
    codes_train: torch.Tensor,
    labels_train: torch.Tensor,
    codes_test: torch.Tensor,
    labels_test: torch.Tensor,
    classes: int,
    c: float,
    max_iter: int,
    tol: float,
) -> ProbeFit:
    """:func:`fit_probes` for models of one class count; inside ``no_grad`` and one thread."""
    dev = codes_train.device
    f64 = torch.float64
    z_train, z_test = codes_train.to(f64), codes_test.to(f64)
    m, n, k = z_train.shape
    n_test = z_test.shape[1]
    d = k + 1
    finite = torch.isfinite(z_train).flatten(1).all(1) & torch.isfinite(z_test).flatten(1).all(1)
    z_train = torch.where(finite.view(-1, 1, 1), z_train, 0.0)
    z_test = torch.where(finite.view(-1, 1, 1), z_test, 0.0)
    present = torch.zeros(m, classes, dtype=torch.bool, device=dev)
    present.scatter_(1, labels_train, True)
    n_present = present.sum(1)
    usable = finite & (n_present >= 2)

    # standardisation: each model's and code's sums over its own rows (a contiguous last axis)
    codes = z_train.transpose(1, 2).contiguous()  # [M, k, n]
    mean = codes.sum(2, keepdim=True) / n
    centred = codes - mean
    std = (centred * centred).sum(2, keepdim=True).div(n).sqrt()
    scale = torch.where(std > 10 * torch.finfo(f64).eps * mean.abs().clamp_min(1.0), std, 1.0)
    x_train = _design(centred / scale, n)  # [M, d, N]: codes, a row of ones, zero padding
    x_test = _design((z_test.transpose(1, 2) - mean) / scale, n_test)
    width = x_train.shape[2]
    real = torch.arange(width, device=dev) < n  # [N]: the columns that are samples
    labels = torch.zeros(m, width, dtype=torch.long, device=dev)
    labels[:, :n] = labels_train
    targets = torch.zeros(m, classes, width, dtype=torch.uint8, device=dev)  # one-hot, 0 in padding
    targets.scatter_(1, labels.unsqueeze(1), 1)
    targets *= real
    # per model: L2 strength on the mean loss; doubled for two classes (binary = softmax
    # with the weight difference penalised once, see the module docstring)
    strength = torch.full((m,), 1.0 / (c * n), dtype=f64, device=dev)
    strength = torch.where(n_present == 2, 2 * strength, strength)
    penalised = torch.ones(d, dtype=f64, device=dev)
    penalised[-1] = 0.0  # intercepts
    free = present.to(f64).unsqueeze(2) * torch.ones(d, dtype=f64, device=dev)  # [M, K, d]
    # the loss is flat along a common shift of the intercepts: curvature added along it
    # makes the Hessian positive definite and moves nothing (the gradient is orthogonal)
    shift = (present.to(f64).unsqueeze(2) * (1 - penalised)).flatten(1)  # [M, K d]
    flat_shift = shift.unsqueeze(2) * shift.unsqueeze(1)
    problem = _Problem(x_train, labels, real, present, strength, penalised, n)
    x_low = x_train.to(HESSIAN_DTYPE)

    weights = torch.zeros(m, classes, d, dtype=f64, device=dev)
    iterations = torch.zeros(m, dtype=torch.long, device=dev)
    converged = torch.zeros(m, dtype=torch.bool, device=dev)
    active = usable.clone()
    value = torch.zeros(m, dtype=f64, device=dev)
    probs = torch.zeros(m, classes, width, dtype=f64, device=dev)
    factors: dict[int, torch.Tensor] = {}
    hessians: dict[int, torch.Tensor] = {}  # kept where the factor failed (a plain solve)
    fitted = active.nonzero().flatten()
    if fitted.numel():
        value[fitted], probs[fitted] = problem.evaluate(fitted, weights[fitted])
        # at W = 0 every present class has probability 1 / K: the Hessian is a Kronecker product
        uniform = present[fitted].to(f64) / n_present[fitted].to(f64).unsqueeze(1)
        gram = torch.stack([torch.mm(_aligned(x_train[i]), _aligned(x_train[i]).t()) for i in fitted.tolist()]) / n
        hessian = _kron(torch.diag_embed(uniform) - uniform.unsqueeze(2) * uniform.unsqueeze(1), gram)
        hessian = _regularised(hessian, strength[fitted], penalised, free[fitted]) + flat_shift[fitted]
        _factor(hessian, fitted.tolist(), factors, hessians)
    for iteration in range(max_iter):
        members = active.nonzero().flatten()
        if not members.numel():
            break
        rows = members.tolist()
        residual = _take(probs, members) - _take(targets, members)  # [A, K, N]
        grad = torch.stack([torch.mm(_aligned(residual[j]), _aligned(x_train[i]).t()) for j, i in enumerate(rows)])
        start = _take(weights, members)
        grad = (grad / n + strength[members].view(-1, 1, 1) * start * penalised) * free[members]
        largest = grad.abs().flatten(1).amax(1)
        done = largest < tol
        converged[members[done]] = True
        active[members[done]] = False
        keep = ~done
        members, grad, largest, start = members[keep], grad[keep], largest[keep], start[keep]
        if not members.numel():
            break
        rows = members.tolist()
        # a fresh Hessian where the gradient is still large; close to the optimum the last
        # one's factor serves (it hardly changes there, and it is the probe's main cost)
        if iteration:
            refresh = members[largest > REUSE_BELOW]
            if refresh.numel():
                hessian = _hessians(x_low, probs, refresh, n)
                hessian = _regularised(hessian, strength[refresh], penalised, free[refresh]) + flat_shift[refresh]
                _factor(hessian, refresh.tolist(), factors, hessians)
        steps = []
        for j, i in enumerate(rows):
            rhs = grad[j].reshape(-1, 1)
            if i in hessians:  # not positive definite in float32: a plain solve
                steps.append(torch.linalg.solve(hessians[i], rhs))
            else:
                steps.append(torch.cholesky_solve(rhs, factors[i]))
        direction = -torch.stack(steps).view(len(rows), classes, d) * free[members]
        slope = (grad * direction).flatten(1).sum(1)
        # backtracking, every model its own step: a full step is nearly always taken, so
        # most iterations evaluate the objective once
        chosen = torch.zeros(len(rows), dtype=f64, device=dev)
        pending = torch.ones(len(rows), dtype=torch.bool, device=dev)
        for step in (0.5**j for j in range(STEPS)):
            trying = pending.nonzero().flatten()
            after, trial_probs = problem.evaluate(members[trying], start[trying] + step * direction[trying])
            accepted = after <= value[members[trying]] + _ARMIJO * step * slope[trying]
            took = trying[accepted]
            chosen[took] = step
            if took.numel() == m:  # every model took this step: its state as it is, no copy
                value, probs = after, trial_probs
            else:
                value[members[took]] = after[accepted]
                probs[members[took]] = trial_probs[accepted]
            pending[took] = False
            if not bool(pending.any()):
                break
        moved = chosen > 0
        weights[members] = start + chosen.view(-1, 1, 1) * direction
        iterations[members] += 1
        # no step decreases the objective: it is at its optimum to rounding
        converged[members[~moved]] = True
        active[members[~moved]] = False
    accuracy: list[float | None] = [None] * m
    if n_test:
        logits = torch.stack([torch.mm(_aligned(weights[i]), _aligned(x_test[i])) for i in range(m)])
        predicted = logits.masked_fill(~present.unsqueeze(2), -torch.inf).argmax(1)[:, :n_test]
        correct = (predicted == labels_test).to(f64).sum(1) / n_test
    else:
        correct = torch.zeros(m, dtype=f64, device=dev)
    for i, (share, ok) in enumerate(zip(correct.tolist(), usable.tolist(), strict=True)):
        accuracy[i] = float(share) if ok else None
    return ProbeFit(accuracy, iterations.tolist(), converged.tolist(), weights)


def probe_accuracies(models: Sequence[Autoencoder], datasets: Sequence[Any]) -> list[float | None]:
    """``probe_accuracy`` of each trained ``model`` on its ``Dataset`` (None where the data
    has no labels): the codes of its train and test splits, probes of equally shaped codes
    fitted together by :func:`fit_probes` (each as it would be alone); codes on another
    device than the CPU one model per call, as before."""
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
            key: tuple[Any, ...] = (tuple(train.shape), tuple(test.shape), train.device)
            if train.device.type != "cpu":  # the batch invariance is argued and tested on CPU kernels
                key = (*key, index)
            shapes.setdefault(key, []).append(index)
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


class _Problem:
    """The objective of every model of a batch, evaluated for any subset of them."""

    def __init__(
        self,
        x: torch.Tensor,
        labels: torch.Tensor,
        real: torch.Tensor,
        present: torch.Tensor,
        strength: torch.Tensor,
        penalised: torch.Tensor,
        n: int,
    ) -> None:
        self.x, self.labels, self.real, self.present = x, labels, real, present
        self.strength, self.penalised, self.n = strength, penalised, n

    def evaluate(self, members: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[P]``: mean cross-entropy + strength/2 ||W||^2 of the models ``members`` at
        ``weights [P, K, d]``; and their class probabilities ``[P, K, N]``."""
        logits = torch.stack(
            [torch.mm(_aligned(weights[j]), _aligned(self.x[i])) for j, i in enumerate(members.tolist())]
        )
        absent = ~_take(self.present, members)
        if bool(absent.any()):  # classes missing from a model's training labels: never predicted
            logits.masked_fill_(absent.unsqueeze(2), -torch.inf)
        picked = logits.gather(1, _take(self.labels, members).unsqueeze(1)).squeeze(1)
        top = logits.amax(1, keepdim=True)
        exp = logits.sub_(top).exp_()  # in place, [P, K, N] contiguous: no SIMD tail (ROWS)
        total = exp[:, 0]
        for row in range(1, exp.shape[1]):  # the sum over classes in a fixed order
            total = total + exp[:, row]
        log_norm = torch.log(total).add_(top.squeeze(1))
        loss = torch.where(self.real, log_norm - picked, 0.0).sum(1) / self.n
        penalty = (weights.square() * self.penalised).flatten(1).sum(1)
        return loss + 0.5 * self.strength[members] * penalty, exp.div_(total.unsqueeze(1))


def models_per_chunk(width: int, classes: int, codes: int) -> int:
    """How many models one fit holds at once: their working buffers under ``CHUNK_BYTES`` (at
    least one): the ``[K, N]`` / ``[k+1, N]`` passes over ``width`` padded samples, and
    ``HESSIAN_COPIES`` float64 ``params x params`` matrices (Hessian, refreshed Hessian, factor,
    intercept-shift term, Kronecker temporaries), ``params = K (k + 1)``."""
    params = classes * (codes + 1)
    per_model = 8 * width * (6 * classes + 2 * (codes + 1)) + 8 * HESSIAN_COPIES * params**2
    return max(1, CHUNK_BYTES // per_model)


def _labels(y: torch.Tensor | np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(np.asarray(y) if not torch.is_tensor(y) else y).to(device).long()


def _design(x: torch.Tensor, n: int) -> torch.Tensor:
    """``[M, k + 1, N]``: the standardised codes ``x [M, k, n]``, a row of ones (the
    intercept) and zero columns up to ``N``, the next multiple of ``ROWS``."""
    m, k, _ = x.shape
    width = max(ROWS, -(-n // ROWS) * ROWS)
    out = torch.zeros(m, k + 1, width, dtype=x.dtype, device=x.device)
    out[:, :k, :n] = x
    out[:, k, :n] = 1.0
    return out


def _take(x: torch.Tensor, members: torch.Tensor) -> torch.Tensor:
    """The rows ``members`` (sorted, distinct) of ``x``: ``x`` itself when that is all of them."""
    return x if members.numel() == x.shape[0] else x.index_select(0, members)


def _aligned(x: torch.Tensor) -> torch.Tensor:
    """``x`` (a model's operand of a BLAS or LAPACK call) contiguous at a 64-byte boundary,
    as it is alone: the BLAS may round differently at another alignment (issue 12)."""
    if x.is_contiguous() and x.data_ptr() % _ALIGN == 0:
        return x
    return x.clone(memory_format=torch.contiguous_format)


def _kron(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Batched Kronecker product ``[M, K d, K d]`` of ``a [M, K, K]`` and ``b [M, d, d]``."""
    m, k, _ = a.shape
    d = b.shape[1]
    return (a.view(m, k, 1, k, 1) * b.view(m, 1, d, 1, d)).reshape(m, k * d, k * d)


def _hessians(x: torch.Tensor, probs: torch.Tensor, members: torch.Tensor, n: int) -> torch.Tensor:
    """``[R, K d, K d]``: the mean loss's Hessian of the models ``members``,
    sum_i (diag(p_i) - p_i p_i^T) (x) x_i x_i^T / n.

    Computed in float32 (``HESSIAN_DTYPE``): it only sets the step's direction, and the
    line search and the convergence test use the float64 objective and gradient, so the
    optimum is float64's; the ``n (K d)^2`` product is the probe's largest cost."""
    low = HESSIAN_DTYPE
    xs = _take(x, members)  # [R, d, N], already in HESSIAN_DTYPE
    ps = _take(probs, members).to(low)  # [R, K, N]
    r, d, width = xs.shape
    classes = ps.shape[1]
    products, diagonal = [], []
    for codes, p in zip(xs, ps, strict=True):  # one model at a time: [K d, N] buffers only
        weighted = (p.unsqueeze(1) * codes.unsqueeze(0)).reshape(classes * d, width)  # p_ic x_i
        products.append(torch.mm(weighted, weighted.t()))
        # (c, c) blocks: sum_i p_ic x_i x_i^T, from the same weighted codes
        diagonal.append(torch.mm(_aligned(codes), weighted.t()))
    diagonal_blocks = torch.stack(diagonal).view(r, d, classes, d).transpose(1, 2)
    eye_k = torch.eye(classes, dtype=low, device=x.device)
    block = (diagonal_blocks.unsqueeze(3) * eye_k.view(1, classes, 1, classes, 1)).reshape(r, classes * d, classes * d)
    return ((block - torch.stack(products)) / n).to(probs.dtype)


def _regularised(
    hessian: torch.Tensor, strength: torch.Tensor, penalised: torch.Tensor, free: torch.Tensor
) -> torch.Tensor:
    """The objective's Hessian: the penalty added; rows of absent classes the identity's."""
    classes = free.shape[1]
    mask = free.flatten(1)
    diagonal = (strength.view(-1, 1) * penalised.repeat(classes)) * mask + (1 - mask)
    return hessian * mask.unsqueeze(1) * mask.unsqueeze(2) + torch.diag_embed(diagonal)


def _factor(
    hessian: torch.Tensor, members: list[int], factors: dict[int, torch.Tensor], failed: dict[int, torch.Tensor]
) -> None:
    """Each model's Cholesky factor of its ``hessian`` (one LAPACK call per model, as
    alone); where it fails (not positive definite in float32) the Hessian is kept for a
    plain solve."""
    for matrix, i in zip(hessian, members, strict=True):
        factor, info = torch.linalg.cholesky_ex(_aligned(matrix))
        factors[i] = factor
        if int(info) != 0:
            failed[i] = matrix.clone()
        else:
            failed.pop(i, None)


__all__ = ["PROBE_C", "PROBE_VERSION", "ProbeFit", "fit_probes", "probe_accuracies"]
