"""The batched engine: every run of a group trained at once as stacked models.

A group (see ``config.SHAPE_KEYS``) shares tensor shapes, so its ``M`` models are stacked:
each layer's weights are one ``[M, in, out]`` tensor (a view of one flat parameter buffer,
see :class:`~actcmp.engine.layout._Layout`) and a training step is a handful of batched
matmuls (``baddbmm`` / ``bmm``) whatever ``M`` is. Forward and backward are written out by
hand, with no autograd graph in the hot loop: each activation's backward is the very ATen
kernel that autograd calls for its ``nn`` module (``gelu_backward``, ``tanh_backward``,
...); an activation without one (softsign, SELU, a user's callable) runs through autograd
on its slice.

Model shape (``widths`` or ``depth``/``width``/``bottleneck``) and the sparse and denoising
variants (:mod:`actcmp.core.variants`: the L1 activity penalty's coefficient and layers, the
input noise) are equal in a group. Input noise: each seed's corrupted training split is
drawn as the plain engine draws it and gathered in the epoch's batch order like the data.

What may differ per model: activation (models are sorted by activation and each activation
runs on its contiguous slice; PReLU's slope is a per-model, per-layer parameter), seed (its
own split, init and batch order, gathered by index), init, lr, momentum, weight decay and
the saturation parameters. Runs with different optimizers train as separate stacks. The
update is one call per update setting (lr, weight decay, momentum) over the parameter
ranges of that setting's models, wherever their activation slices put them, with
torch.optim's own formulas: Adam/AdamW through torch's fused kernel (an ulp from the
single-tensor path the plain engine runs), SGD through the single-tensor formulas.
Nothing couples two models.

Divergence: each step checks the per-model losses (one sync); a model with a non-finite
minibatch loss leaves the stack with its parameters from before that step, is measured at
the end of that epoch by the plain engine's own code, as the plain loop does, and never
touches the others. A model whose end-of-epoch measurement is not finite leaves the same way.

Measurements are the plain engine's (``engine.train_run``; tested in float64 to 1e-9, the
unit fractions exactly): full-pass train/val losses in eval mode, per-layer metrics on the
probe set (the first ``probe_size`` training rows) with analytic derivative masks, and
per-layer gradient norms of the probe loss. They run one part of an activation slice at a
time (at most ``stack.MEASURE_MODELS`` models, so that a full pass stays in the cache; no
concatenation of large activations), the probe forward doubling as the first rows of the
train-loss pass. A ``record = "val_loss"`` stack measures the validation loss alone and
skips the end of the run. Final metrics come from ``engine.finish`` on a plain
:class:`~actcmp.core.model.Autoencoder` rebuilt from each model's parameters, with each
model's linear probe fitted by :func:`actcmp.core.probe.probe_accuracies` (the stack in one
call), the anomaly AUROCs ranked by :func:`actcmp.core.metrics.anomaly_aurocs` (one call, on
each model's test errors from its one test pass, which ``finish`` and the stored samples
reuse) and the pre-activation histograms counted for several models per pass.

Where it lives: this module trains a group (:func:`train_group`, :func:`stack_refusal`,
the epoch loop and the end of a run); :mod:`~actcmp.engine.kernels` holds the activation
kernels and the losses, :mod:`~actcmp.engine.layout` the runs and the flat parameter
layout, :mod:`~actcmp.engine.stack` the stack's forward, backward and optimizer step,
:mod:`~actcmp.engine.measure` its measurements, :mod:`~actcmp.engine.memory` the memory
estimate.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

import torch

from actcmp.config import SHAPE_KEYS
from actcmp.core.activations import parse_activation
from actcmp.core.metrics import PREACT_HIST_PASS_VALUES, anomaly_aurocs, preact_histograms
from actcmp.core.model import Autoencoder, cfg_model
from actcmp.core.probe import probe_accuracies
from actcmp.core.threads import one_thread
from actcmp.core.variants import corrupt, has_noise
from actcmp.engine.kernels import _Act as _Act
from actcmp.engine.kernels import per_sample_losses as per_sample_losses
from actcmp.engine.layout import _Layout, _Run
from actcmp.engine.measure import _Stack
from actcmp.engine.memory import estimate_group_bytes as estimate_group_bytes
from actcmp.engine.memory import max_models_for_memory
from actcmp.engine.plain import (
    Probe,
    RunResult,
    Stages,
    _evaluate,
    auroc_inputs,
    batch_order,
    cast_dataset,
    environment,
    finish,
    finish_val_loss,
    histogram_rows,
    layers_due,
    n_parameters,
    preact_stages,
    records_everything,
    score_test_split,
    stage_tensors,
)
from actcmp.engine.samples import collect_samples
from actcmp.engine.stack import _update_key
from actcmp.moved import moved_names

ENGINE = "batched"


# ----------------------------------------------------------------------------- plain side


def _plain_model(run: _Run, layout: _Layout, dev: torch.device, dtype: torch.dtype) -> Autoencoder:
    """The plain :class:`Autoencoder` holding a run's parameters (its row)."""
    cfg = run.cfg
    out_spec = parse_activation(cfg["output_activation"], hidden=False)
    model = cfg_model(cfg, run.data.x_train.shape[1], run.spec, out_spec)
    model.to(device=dev, dtype=dtype)
    assert run.params is not None
    parts = run.params.to(dev).split(layout.sizes)
    with torch.no_grad():
        for index, (fan_in, fan_out) in enumerate(layout.dims):
            linear = model.linears[index]
            assert isinstance(linear, torch.nn.Linear)
            linear.weight.copy_(parts[2 * index].view(fan_in, fan_out).t())
            linear.bias.copy_(parts[2 * index + 1])
        if layout.with_slopes:
            slopes = parts[-1]
            for index, act in enumerate(model.acts):
                if isinstance(act, torch.nn.PReLU):
                    act.weight.fill_(float(slopes[index]))
    model.eval()
    return model


def _measure_plain(run: _Run, model: Autoencoder, epoch: int, dev: torch.device) -> None:
    """``engine.train_run``'s ``record`` for one model that left the stack mid-epoch."""
    kind = run.cfg["loss"]
    x_train, x_val = run.data.x_train.to(dev), run.data.x_val.to(dev)
    if not records_everything(run.cfg):
        run.epochs.append((epoch, "val_loss", _evaluate(model, x_val, kind)))
        return
    train_loss, val_loss = _evaluate(model, x_train, kind), _evaluate(model, x_val, kind)
    run.epochs += [(epoch, "train_loss", train_loss), (epoch, "val_loss", val_loss)]
    _probe_plain(run, model, x_train, epoch)


def _probe_plain(run: _Run, model: Autoencoder, x_train: torch.Tensor, epoch: int) -> None:
    """The plain engine's layer metrics of one model, against its last measured masks."""
    probe = Probe(run.cfg, run.spec)
    probe.previous = run.previous
    with torch.enable_grad():
        run.layers.extend(probe.measure(model, x_train[: run.cfg["probe_size"]], epoch))
    run.previous = probe.previous


# ----------------------------------------------------------------------------- entry point


def train_group(
    configs: list[dict[str, Any]],
    datasets: list[Any],
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    memory_budget: int | None = None,
) -> list[RunResult]:
    """Train resolved ``configs`` (one group: equal ``config.SHAPE_KEYS``) on their
    ``datasets`` (one :class:`~actcmp.datasets.Dataset` per config, split by its seed) as
    stacked models. Returns one :class:`RunResult` per config, in the given order, with the
    numbers ``engine.train_run`` gives for it (``env["engine"] == "batched"``).

    Runs with different optimizers train as separate stacks, one after the other. A group
    larger than ``memory_budget`` bytes (default: no limit; a sweep passes each worker's
    share, see :mod:`actcmp.run.resources`) is split. Raises,
    so that the caller can fall back to the plain engine, on what it cannot stack: unequal
    shapes, an activation with parameters of its own other than PReLU's slope.
    """
    if len(configs) != len(datasets):
        raise ValueError("one dataset per config")
    if not configs:
        return []
    _check_group(configs)
    data0 = datasets[0]
    budget = memory_budget if memory_budget is not None else sys.maxsize
    most = max_models_for_memory(
        configs[0], data0.x_train.shape[0], data0.x_train.shape[1], budget,
        data0.x_val.shape[0], data0.x_test.shape[0], torch.finfo(dtype).bits // 8,
    )  # fmt: skip
    by_optimizer: dict[str, list[int]] = {}
    for index, cfg in enumerate(configs):
        by_optimizer.setdefault(cfg["optimizer"], []).append(index)
    results: list[RunResult | None] = [None] * len(configs)
    dev = torch.device(device)
    for members in by_optimizer.values():
        for start in range(0, len(members), most):
            chunk = members[start : start + most]
            with torch.no_grad(), one_thread():
                trained = _train([configs[i] for i in chunk], [datasets[i] for i in chunk], dev, dtype)
            for index, result in zip(chunk, trained, strict=True):
                results[index] = result
    return [r for r in results if r is not None]


def stack_refusal(cfg: dict[str, Any]) -> str | None:
    """Why this run cannot train in a stack (then the plain engine trains it), or None.

    A function of the run's own config: an activation (hidden or output) with parameters
    of its own other than PReLU's slope, which the stack cannot hold per model; or a
    layer of one unit (MKL multiplies a single model's matrix with one column by another
    kernel than a batch of them, so such a run's numbers would depend on its neighbours)."""
    if cfg["bottleneck"] == 1 or cfg["width"] == 1 or 1 in (cfg.get("widths") or []):
        return "a layer of one unit (batched matmuls of one model take another kernel than of several)"
    for name, hidden in ((cfg["activation"], True), (cfg["output_activation"], False)):
        spec = parse_activation(name, hidden=hidden)
        if spec.canonical == "prelu" and hidden and spec.callable_path is None:
            continue
        if any(True for _ in spec.build().parameters()):
            return f"activation {spec.canonical} has parameters of its own"
    return None


def _check_group(configs: list[dict[str, Any]]) -> None:
    first = {k: configs[0].get(k) for k in SHAPE_KEYS}
    for cfg in configs[1:]:
        for key, value in first.items():
            if cfg.get(key) != value:
                raise ValueError(f"configs of one group differ in {key!r}: {value!r} vs {cfg.get(key)!r}")


def _train(
    configs: list[dict[str, Any]], datasets: list[Any], dev: torch.device, dtype: torch.dtype
) -> list[RunResult]:
    """One stack: records every epoch like ``engine.train_run``, then ``engine.finish``."""
    started = time.perf_counter()
    runs = [
        _Run(i, cfg, cast_dataset(data, dtype), parse_activation(cfg["activation"]))
        for i, (cfg, data) in enumerate(zip(configs, datasets, strict=True))
    ]
    # models with equal activations, then equal update settings, side by side: one kernel
    # call per activation slice (per layer and pass: the most calls of a step), one optimizer
    # call per setting over the ranges of its models in every slice
    stack = _Stack(sorted(runs, key=lambda r: (r.spec.canonical, _update_key(r.cfg), r.position)), dev, dtype)
    layout = stack.layout
    cfg0 = configs[0]
    n_train, batch_size = stack.x_train.shape[1], cfg0["batch_size"]

    def leave(models: list[int], epoch: int, params: dict[int, torch.Tensor]) -> list[_Run]:
        gone = []
        for model in models:
            run = stack.runs[model]
            run.diverged_epoch = epoch
            run.last_epoch = epoch
            run.params = params[model] if model in params else stack.row(model)
            run.previous = stack.row_masks(model)
            gone.append(run)
        stack.keep([i for i in range(stack.size) if i not in set(models)])
        return gone

    full = records_everything(cfg0)  # record is a group key: equal in the stack

    def record(epoch: int) -> None:
        if not full:  # record = "val_loss": the validation loss alone
            gone = []
            for model, (run, val_loss) in enumerate(zip(stack.runs, stack.val_losses(), strict=True)):
                run.epochs.append((epoch, "val_loss", val_loss))
                run.last_epoch = epoch
                if not math.isfinite(val_loss):
                    gone.append(model)
            if gone:
                leave(gone, epoch, {})
            return
        due = layers_due(epoch, cfg0)
        if due:
            measured = stack.measure(epoch, cfg0["probe_size"])
        else:  # losses only; a model that fails here gets its layers measured as it leaves
            measured = [(train_loss, val_loss, []) for train_loss, val_loss in stack.losses()]
        failed = []
        for model, (run, (train_loss, val_loss, rows)) in enumerate(zip(stack.runs, measured, strict=True)):
            run.epochs += [(epoch, "train_loss", train_loss), (epoch, "val_loss", val_loss)]
            run.layers.extend(rows)
            run.last_epoch = epoch
            if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
                failed.append(model)
        if failed:
            for run in leave(failed, epoch, {}):
                if not due:
                    _probe_plain(run, _plain_model(run, layout, dev, dtype), run.data.x_train.to(dev), epoch)

    record(0)
    for epoch in range(1, cfg0["epochs"] + 1):
        if stack.size == 0:
            break
        stepping = time.perf_counter()
        orders = [torch.cat(batch_order(n_train, batch_size, seed, epoch)) for seed in stack.slot_seeds]
        slot_order = torch.stack(orders).to(dev)
        slots = torch.arange(len(orders), device=dev).view(-1, 1)
        shuffled = stack.x_train[slots, slot_order]  # each split in this epoch's batch order
        noisy = None
        if has_noise(cfg0):  # each seed's corrupted split (variants.corrupt), in the same order
            corrupted = [corrupt(x, cfg0, seed, epoch) for x, seed in zip(stack.x_train, stack.slot_seeds, strict=True)]
            noisy = torch.stack(corrupted)[slots, slot_order]
        left: list[_Run] = []  # diverged during this epoch: measured at its end, as plain does
        for start in range(0, n_train, batch_size):
            clean = shuffled[:, start : start + batch_size].index_select(0, stack.slot)
            if noisy is None:
                bad = stack.train_step(clean)
            else:
                bad = stack.train_step(noisy[:, start : start + batch_size].index_select(0, stack.slot), clean)
            if bad:
                left += leave([model for model, _ in bad], epoch, dict(bad))
                if stack.size == 0:
                    break
        stack.timings["train"] = stack.timings.get("train", 0.0) + time.perf_counter() - stepping
        if stack.size:
            record(epoch)
        for run in left:
            _measure_plain(run, _plain_model(run, layout, dev, dtype), epoch, dev)

    for row, run in enumerate(stack.runs):
        run.params = stack.row(row)
    share = (time.perf_counter() - started) / len(runs)
    finishing = time.perf_counter()
    if not full:
        return _finish_val_loss(runs, layout, dev, dtype, stack.timings, share, finishing)
    # no scikit-learn here any more: no BLAS threads to hold back (metrics.one_blas_thread)
    models = [_plain_model(run, layout, dev, dtype) for run in runs]
    _preact_histograms(runs, models, dev)
    # the stack's linear probes in one call: each model's fit is bit-identical to its fit
    # alone (core/probe.py), so a run's numbers do not depend on its neighbours
    given: list[dict[str, float | None]] = [{} for _ in runs]
    fitted = [index for index, run in enumerate(runs) if run.diverged_epoch is None]
    probed = probe_accuracies([models[i] for i in fitted], [runs[i].data for i in fitted])
    for index, accuracy in zip(fitted, probed, strict=True):
        given[index]["probe_accuracy"] = accuracy
    # each model's test pass once: its errors feed test_loss, the AUROC and the stored samples
    tested = [score_test_split(model, run.data, run.cfg, dev) for run, model in zip(runs, models, strict=True)]
    # the AUROCs in one call (numpy, each model's alone: a run's value is its own);
    # a diverged run, or one without anomalies, gets finish's None
    scored = [i for i in fitted if runs[i].data.anomaly_test is not None]
    ranked = [auroc_inputs(tested[i][0], runs[i].data) for i in scored]
    aurocs = anomaly_aurocs([errors for errors, _ in ranked], [flags for _, flags in ranked])
    for index, auroc in zip(scored, aurocs, strict=True):
        given[index]["anomaly_auroc"] = auroc
    finals = [
        finish(model, run.data, run.cfg, run.epochs, run.layers, run.last_epoch, run.diverged_epoch, dev, extra, test)
        for run, model, extra, test in zip(runs, models, given, tested, strict=True)
    ]
    samples = [
        collect_samples(model, run.data, run.cfg, run.diverged_epoch, dev, test[0])  # pictures (issue 15)
        for run, model, test in zip(runs, models, tested, strict=True)
    ]
    spent = [(time.perf_counter() - finishing) / len(runs)] * len(runs)  # shared alike
    timings = {key: round(value, 4) for key, value in {**stack.timings, "finish": sum(spent)}.items()}
    return _results(runs, finals, dev, timings, [share + seconds for seconds in spent], samples)


def _results(
    runs: list[_Run],
    finals: list[dict[str, float | None]],
    dev: torch.device,
    timings: dict[str, float],
    walls: list[float],
    samples: list[dict[str, bytes]] | None = None,
) -> list[RunResult]:
    """One :class:`RunResult` per run of a stack, its environment naming the engine, the
    group's size and its timings."""
    env = {**environment(str(dev)), "engine": ENGINE, "group_size": len(runs), "group_timings_s": timings}
    return [
        RunResult(
            run_id=run.cfg["run_id"],
            config=run.cfg,
            status="diverged" if run.diverged_epoch is not None else "done",
            final=final,
            epochs=run.epochs,
            layers=run.layers,
            wall_time_s=wall,
            env=dict(env),
            samples=samples[index] if samples is not None else {},
        )
        for index, (run, final, wall) in enumerate(zip(runs, finals, walls, strict=True))
    ]


def _finish_val_loss(
    runs: list[_Run],
    layout: _Layout,
    dev: torch.device,
    dtype: torch.dtype,
    timings: dict[str, float],
    share: float,
    finishing: float,
) -> list[RunResult]:
    """The results of a ``record = "val_loss"`` stack: ``engine.finish_val_loss`` per run
    (no end-of-run passes; the parameter count from one plain model per activation)."""
    counts: dict[str, int] = {}
    finals = []
    for run in runs:
        if run.spec.canonical not in counts:
            counts[run.spec.canonical] = n_parameters(_plain_model(run, layout, dev, dtype))
        count = counts[run.spec.canonical]
        finals.append(finish_val_loss(run.data, run.cfg, run.epochs, run.last_epoch, run.diverged_epoch, dev, count))
    spent = (time.perf_counter() - finishing) / len(runs)
    rounded = {key: round(value, 4) for key, value in {**timings, "finish": spent * len(runs)}.items()}
    return _results(runs, finals, dev, rounded, [share + spent] * len(runs))


def _preact_histograms(runs: list[_Run], models: list[Autoencoder], dev: torch.device) -> None:
    """Each run's ``preact_hist_NN`` rows (``engine.preact_histogram_rows``: the same
    :func:`~actcmp.engine.plain.preact_stages` and :func:`~actcmp.engine.plain.histogram_rows`),
    consecutive runs' stages counted together in one
    :func:`~actcmp.core.metrics.preact_histograms` pass of up to ``PREACT_HIST_PASS_VALUES``
    values (a run above it alone). Integer counts: the shares are those of a pass per run,
    so a run's rows do not depend on its neighbours (tested)."""
    pending: list[tuple[_Run, Stages]] = []
    values = 0

    def count() -> None:
        shares = iter(preact_histograms([z for _, stages in pending for z in stage_tensors(stages)]))
        for run, stages in pending:
            run.layers.extend(histogram_rows(stages, shares))
        pending.clear()

    for run, model in zip(runs, models, strict=True):
        stages = preact_stages(model, run.data, run.cfg, run.last_epoch, dev, run.initial)
        size = sum(z.numel() for z in stage_tensors(stages))
        if pending and values + size > PREACT_HIST_PASS_VALUES:
            count()
            values = 0
        pending.append((run, stages))
        values += size
    count()


# ``_Act``, ``per_sample_losses`` and ``estimate_group_bytes`` are imported as themselves
# above: re-exported, since tests and callers import them from here

# names this module held before the restructuring, now defined elsewhere: still importable
# from here (see actcmp.moved)
__getattr__ = moved_names(
    __name__,
    {
        "loss_grad": "actcmp.engine.kernels",
        "masks_of_counts": "actcmp.engine.kernels",
        "Row": "actcmp.engine.layout",
    },
)


__all__ = [
    "ENGINE",
    "estimate_group_bytes",
    "max_models_for_memory",
    "train_group",
]
