"""Training: the plain per-run reference trainer and what it records.

Pure core: takes a resolved config and a :class:`~actcmp.datasets.Dataset`, returns a
:class:`RunResult` of plain records. It opens no files and prints nothing. Any faster
engine must reproduce these numbers on the same seeds (see ``tests/test_engine.py``).

Measurement points are epoch 0 (initialisation) and the end of every epoch. At each one:

* ``train_loss`` / ``val_loss``: full-pass losses in eval mode (no dropout exists, so this
  equals the model's loss on those sets, not the running minibatch mean);

and at epoch 0, every ``probe_every`` epochs, the last epoch and a divergence
(:func:`layers_due`):

* per hidden layer on a fixed probe set (the first ``probe_size`` training samples):
  dead / saturated / zero-output fractions, pre-activation mean and std, post-activation
  (output) mean and std (``postact_mean`` / ``postact_std``: what self-normalisation is
  about), units that died or came back since the previous point;
* per linear layer: gradient norm of weight and bias of the probe-set loss.

At initialisation and at the last epoch only (they are 48 numbers per layer): the
histogram of each hidden layer's pre-activations on the probe set
(``preact_hist_00`` ... ``preact_hist_47``, shares on ``metrics.PREACT_HIST_RANGE``).
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from actcmp.config import DEFAULT_PROBE_EVERY
from actcmp.core.activations import ActivationSpec, parse_activation
from actcmp.core.losses import batch_loss, per_sample_loss
from actcmp.core.metrics import (
    PREACT_HIST_BINS,
    anomaly_auroc,
    dead_mask,
    epochs_to_threshold,
    grad_norm,
    peak_derivative,
    preact_histograms,
    saturated_mask,
    transitions,
    zero_fraction,
)
from actcmp.core.model import (
    Autoencoder,
    cfg_dims,
    cfg_init_tensors,
    cfg_model,
    derive_seed,
)
from actcmp.core.probe import PROBE_VERSION, probe_accuracies
from actcmp.core.result import RunResult
from actcmp.core.threads import one_thread
from actcmp.core.variants import activity_penalty, corrupt, has_noise, penalised_layers
from actcmp.engine.samples import collect_samples
from actcmp.plan import resolve  # noqa: F401  (moved to plan, which needs no torch; imported from here too)

STATUSES = ("done", "diverged", "failed")
HIST_NAMES = [f"preact_hist_{b:02d}" for b in range(PREACT_HIST_BINS)]


def make_optimizer(params: list[torch.nn.Parameter], cfg: dict[str, Any]) -> torch.optim.Optimizer:
    name = cfg["optimizer"]
    if name == "adam":
        return torch.optim.Adam(params, lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    if name == "adamw":
        return torch.optim.AdamW(params, lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    if name == "sgd":
        return torch.optim.SGD(params, lr=cfg["lr"], momentum=cfg["momentum"], weight_decay=cfg["weight_decay"])
    raise ValueError(f"unknown optimizer {name!r}")


def batch_order(n: int, batch_size: int, seed: int, epoch: int) -> list[torch.Tensor]:
    """Index batches for one epoch; identical for every activation sharing the seed."""
    gen = torch.Generator().manual_seed(derive_seed(seed, f"batches:{epoch}"))
    perm = torch.randperm(n, generator=gen)
    return list(perm.split(batch_size))


def cpu_capability() -> str:
    """ATen's CPU kernel family in this process, lower case (``avx512``, ``avx2``, ``default``...)."""
    try:
        return str(torch.backends.cpu.get_cpu_capability()).lower()
    except (AttributeError, RuntimeError):  # torch too old to say
        return "unknown"


#: ``env["engine"]`` of the runs this engine trains: the engines agree to float tolerance,
#: not to the last bit, so a run's numbers depend on which one trained it (``--engine``)
ENGINE = "plain"


def environment(device: str = "cpu") -> dict[str, Any]:
    """Where a run was computed (stored beside it; not part of its identity)."""
    import actcmp

    return {
        "actcmp": actcmp.__version__,
        "torch": str(torch.__version__),  # a plain str: the main process unpickles results without torch
        "numpy": np.__version__,
        # the SIMD kernel family ATen dispatches to (ATEN_CPU_CAPABILITY can lower it):
        # together with the versions, what a run's last float bits depend on
        "cpu_capability": cpu_capability(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": device,
        "threads": torch.get_num_threads(),
    }


class Probe:
    """Layer measurements on the fixed probe set; remembers dead masks between calls."""

    def __init__(self, cfg: dict[str, Any], spec: ActivationSpec) -> None:
        self.cfg = cfg
        self.spec = spec
        self.peak = peak_derivative(spec.canonical)
        self.previous: list[torch.Tensor] | None = None
        self.dead_masks: list[torch.Tensor] = []

    def measure(self, model: Autoencoder, x_probe: torch.Tensor, epoch: int) -> list[tuple[int, int, str, float]]:
        cfg = self.cfg
        model.zero_grad(set_to_none=True)
        out, pre, post = model.forward_recording(x_probe)
        loss = batch_loss(out, x_probe, cfg["loss"])
        rows: list[tuple[int, int, str, float]] = []
        if torch.isfinite(loss):
            loss.backward()
        for index, layer in enumerate(model.linears):
            assert isinstance(layer, torch.nn.Linear)
            rows.append((epoch, index, "grad_norm_weight", grad_norm(layer.weight.grad)))
            rows.append((epoch, index, "grad_norm_bias", grad_norm(layer.bias.grad)))
        model.zero_grad(set_to_none=True)
        masks: list[torch.Tensor] = []
        with torch.no_grad():
            for index, (z, h) in enumerate(zip(pre, post, strict=True)):
                z, h = z.detach(), h.detach()
                deriv = self.spec.derivative(z, model.acts[index])
                dead = dead_mask(deriv)
                sat = saturated_mask(deriv, self.peak, cfg["saturation_threshold"], cfg["saturation_share"])
                units = z.shape[1]
                prev = self.previous[index] if self.previous is not None else None
                died, revived = transitions(prev, dead)
                rows += [
                    (epoch, index, "dead_fraction", float(dead.sum()) / units),
                    (epoch, index, "saturated_fraction", float(sat.sum()) / units),
                    (epoch, index, "zero_fraction", zero_fraction(h)),
                    (epoch, index, "preact_mean", float(z.mean())),
                    (epoch, index, "preact_std", float(z.std()) if z.numel() > 1 else 0.0),
                    (epoch, index, "postact_mean", float(h.mean())),
                    (epoch, index, "postact_std", float(h.std()) if h.numel() > 1 else 0.0),
                    (epoch, index, "died_fraction", died / units),
                    (epoch, index, "revived_fraction", revived / units),
                ]
                masks.append(dead)
        self.previous = masks
        self.dead_masks = masks
        return rows


def cast_dataset(data: Any, dtype: torch.dtype) -> Any:
    """``data`` with its tensors in ``dtype`` (the same object when nothing changes)."""
    if data.x_train.dtype == dtype:
        return data
    import copy

    cast = copy.copy(data)
    for name in ("x_train", "x_val", "x_test"):
        setattr(cast, name, getattr(data, name).to(dtype))
    return cast


def _evaluate(model: Autoencoder, x: torch.Tensor, kind: str) -> float:
    with torch.no_grad():
        return float(batch_loss(model(x), x, kind))


def _summaries(layers: list[tuple[int, int, str, float]], last_epoch: int) -> dict[str, float | None]:
    """Mean over hidden layers of dead/saturated fractions at init and at the end."""
    out: dict[str, float | None] = {}
    for metric in ("dead_fraction", "saturated_fraction"):
        for label, epoch in (("init", 0), ("final", last_epoch)):
            values = [v for e, _, m, v in layers if e == epoch and m == metric]
            out[f"{metric}_{label}"] = float(np.mean(values)) if values else None
    return out


def train_run(cfg: dict[str, Any], data: Any, device: str = "cpu", dtype: torch.dtype = torch.float32) -> RunResult:
    """Train one autoencoder from a resolved config on ``data`` (a Dataset). Plain loop.

    Training steps add the sparse and denoising variants (:mod:`actcmp.core.variants`): the L1
    activity penalty to the loss, input corruption to the batch (targets stay clean).
    Non-finite loss is an outcome (``status="diverged"`` with its epoch), not an error.
    ``dtype=torch.float64`` exists for comparing other engines against this one.

    On the CPU the run uses one intra-op thread, as the batched engine does: ATen splits a
    reduction (a layer's mean, a loss) over its threads, so with 2 threads the last bits of
    such values differed from a run on one (``--threads``, or ``--jobs 2`` on 4 cores).
    """
    if torch.device(device).type != "cpu":
        return _train_run(cfg, data, device, dtype)
    with one_thread():
        return _train_run(cfg, data, device, dtype)


def _train_run(cfg: dict[str, Any], data: Any, device: str, dtype: torch.dtype) -> RunResult:
    started = time.perf_counter()
    dev = torch.device(device)
    spec = parse_activation(cfg["activation"])
    out_spec = parse_activation(cfg["output_activation"], hidden=False)
    data = cast_dataset(data, dtype)
    x_train = data.x_train.to(dev)
    model = cfg_model(cfg, x_train.shape[1], spec, out_spec)
    model.to(dtype)
    model.load_init(cfg_init_tensors(cfg, model.dims, spec, dtype))
    model.to(dev)
    x_val = data.x_val.to(dev)
    optimizer = make_optimizer(list(model.parameters()), cfg)
    x_probe = x_train[: cfg["probe_size"]]
    probe = Probe(cfg, spec)
    kind = cfg["loss"]

    epochs: list[tuple[int, str, float]] = []
    layers: list[tuple[int, int, str, float]] = []
    diverged_epoch: int | None = None

    full = records_everything(cfg)

    def record(epoch: int, ending: bool = False) -> bool:
        if not full:  # record = "val_loss": the validation loss alone
            val_loss = _evaluate(model, x_val, kind)
            epochs.append((epoch, "val_loss", val_loss))
            return math.isfinite(val_loss)
        train_loss, val_loss = _evaluate(model, x_train, kind), _evaluate(model, x_val, kind)
        epochs.append((epoch, "train_loss", train_loss))
        epochs.append((epoch, "val_loss", val_loss))
        ok = math.isfinite(train_loss) and math.isfinite(val_loss)
        if ending or not ok or layers_due(epoch, cfg):
            layers.extend(probe.measure(model, x_probe, epoch))
        return ok

    penalised = bool(penalised_layers(cfg))
    ok = record(0)
    if not ok:
        diverged_epoch = 0
    last_epoch = 0
    for epoch in range(1, cfg["epochs"] + 1):
        if diverged_epoch is not None:
            break
        model.train()
        x_input = corrupt(x_train, cfg, cfg["seed"], epoch) if has_noise(cfg) else x_train
        for idx in batch_order(x_train.shape[0], cfg["batch_size"], cfg["seed"], epoch):
            batch = x_train[idx.to(dev)]
            optimizer.zero_grad(set_to_none=True)
            if penalised:
                out, _, post = model.forward_recording(x_input[idx.to(dev)])
                penalty = activity_penalty(post, cfg)
                assert penalty is not None
                loss = batch_loss(out, batch, kind) + penalty
            else:
                loss = batch_loss(model(x_input[idx.to(dev)]), batch, kind)
            if not torch.isfinite(loss):
                diverged_epoch = epoch
                break
            loss.backward()
            optimizer.step()
        model.eval()
        last_epoch = epoch
        if not record(epoch, ending=diverged_epoch is not None) and diverged_epoch is None:
            diverged_epoch = epoch

    samples: dict[str, bytes] = {}
    if full:
        layers.extend(preact_histogram_rows(model, data, cfg, last_epoch, dev))
        tested = score_test_split(model, data, cfg, dev)  # once: test_loss, the AUROC and the stored errors
        final = finish(model, data, cfg, epochs, layers, last_epoch, diverged_epoch, dev, tested=tested)
        samples = collect_samples(model, data, cfg, diverged_epoch, dev, tested[0])  # pictures (issue 15)
    else:
        final = finish_val_loss(data, cfg, epochs, last_epoch, diverged_epoch, dev, n_parameters(model))
    return RunResult(
        run_id=cfg["run_id"],
        config=cfg,
        status="diverged" if diverged_epoch is not None else "done",
        final=final,
        epochs=epochs,
        layers=layers,
        wall_time_s=time.perf_counter() - started,
        env={**environment(str(dev)), "engine": ENGINE},
        samples=samples,
    )


def records_everything(cfg: dict[str, Any]) -> bool:
    """Whether a run records everything (``record = "full"``, the default) rather than the
    validation loss alone (``"val_loss"``: no train loss, layer metrics, end-of-run metrics
    or samples; what a ``[tune]`` tuning run needs)."""
    return cfg.get("record", "full") == "full"


def n_parameters(model: Autoencoder) -> int:
    return sum(p.numel() for p in model.parameters())


def finish_val_loss(
    data: Any,
    cfg: dict[str, Any],
    epochs: list[tuple[int, str, float]],
    last_epoch: int,
    diverged_epoch: int | None,
    dev: torch.device,
    n_params: int,
) -> dict[str, float | None]:
    """The final metrics of a ``record = "val_loss"`` run: those of :func:`finish` that
    follow from its validation curve and the data alone (the same values :func:`finish`
    gives them); the others (train and test losses, probe, AUROC, unit summaries) are not
    measured, so they are absent, not None."""
    val_curve = [v for _, m, v in epochs if m == "val_loss"]
    baseline = baseline_loss(data, cfg, dev)
    threshold = cfg["threshold_fraction"] * baseline
    reached = epochs_to_threshold(val_curve, threshold)
    return {
        "final_val_loss": _finite(val_curve[-1]),
        "best_val_loss": _finite(min((v for v in val_curve if math.isfinite(v)), default=math.nan)),
        "baseline_loss": baseline,
        "loss_threshold": threshold,
        "epochs_to_threshold": float(reached) if reached is not None else None,
        "diverged": 1.0 if diverged_epoch is not None else 0.0,
        "diverged_epoch": float(diverged_epoch) if diverged_epoch is not None else None,
        "epochs_run": float(last_epoch),
        "n_params": float(n_params),
    }


def baseline_loss(data: Any, cfg: dict[str, Any], dev: torch.device) -> float:
    """The mean predictor's validation loss: every validation row predicted by the mean
    training row (``baseline_loss``; the depth rule and epochs-to-threshold read it)."""
    x_train, x_val = data.x_train.to(dev), data.x_val.to(dev)
    with torch.no_grad():
        mean_row = x_train.mean(dim=0, keepdim=True).expand_as(x_val)
        return float(batch_loss(mean_row, x_val, cfg["loss"]))


def layers_due(epoch: int, cfg: dict[str, Any]) -> bool:
    """Whether layer metrics are measured at ``epoch`` (``probe_every``): at epoch 0, every
    ``probe_every`` epochs and the last epoch; the engines also measure a run's epoch of
    divergence. Train and validation losses are recorded at every epoch."""
    return epoch % cfg.get("probe_every", DEFAULT_PROBE_EVERY) == 0 or epoch == cfg["epochs"]


def preact_histogram_rows(
    model: Autoencoder, data: Any, cfg: dict[str, Any], last_epoch: int, dev: torch.device
) -> list[tuple[int, int, str, float]]:
    """Layer rows ``preact_hist_NN`` (see :func:`~actcmp.core.metrics.preact_histogram`) of every
    hidden layer on the probe set: at epoch 0 from the run's initial weights (rebuilt from
    its seed, so every engine records the same) and at ``last_epoch`` from ``model``.
    Layers with no finite pre-activation get no rows.

    :func:`preact_stages` then :func:`histogram_rows`, with one counting pass for both
    stages; the batched engine counts several models' stages in one pass."""
    stages = preact_stages(model, data, cfg, last_epoch, dev)
    return histogram_rows(stages, iter(preact_histograms(stage_tensors(stages))))


#: a run's pre-activations to histogram: ``(epoch, [z of each hidden layer])`` per stage
Stages = list[tuple[int, list[torch.Tensor]]]


def preact_stages(
    model: Autoencoder,
    data: Any,
    cfg: dict[str, Any],
    last_epoch: int,
    dev: torch.device,
    initial: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> Stages:
    """The probe-set pre-activations :func:`preact_histogram_rows` counts: epoch 0 (the
    initial weights; ``initial``: the run's ``cfg_init_tensors`` where the caller has them)
    and, when ``last_epoch > 0``, ``model``'s at ``last_epoch``."""
    dtype = next(model.parameters()).dtype
    x_probe = data.x_train[: cfg["probe_size"]].to(device=dev, dtype=dtype)
    with torch.no_grad():
        stages = [(0, initial_preactivations(cfg, x_probe, initial))]
        if last_epoch > 0:
            stages.append((last_epoch, model.forward_recording(x_probe)[1]))
    return stages


def stage_tensors(stages: Stages) -> list[torch.Tensor]:
    """The tensors of ``stages`` in the order :func:`histogram_rows` reads their shares."""
    return [z for _, zs in stages for z in zs]


def histogram_rows(stages: Stages, shares: Iterator[np.ndarray | None]) -> list[tuple[int, int, str, float]]:
    """The layer rows of ``stages``, taking one histogram from ``shares`` (what
    :func:`~actcmp.core.metrics.preact_histograms` returns, in :func:`stage_tensors` order)
    per tensor; ``shares`` may go on with the next run's."""
    rows: list[tuple[int, int, str, float]] = []
    for epoch, zs in stages:
        for index in range(len(zs)):
            found = next(shares)
            if found is not None:
                rows += [(epoch, index, name, value) for name, value in zip(HIST_NAMES, found.tolist(), strict=True)]
    return rows


def initial_preactivations(
    cfg: dict[str, Any], x: torch.Tensor, initial: list[tuple[torch.Tensor, torch.Tensor]] | None = None
) -> list[torch.Tensor]:
    """Pre-activations of every hidden layer of a run's initial model (rebuilt from its
    seed, or ``initial``: its ``cfg_init_tensors`` in ``x``'s dtype, already drawn) on
    ``x``: ``Autoencoder.forward_recording``'s, without building the module (the same
    ``F.linear`` calls and a fresh activation module, as each layer's is at init)."""
    spec = parse_activation(cfg["activation"])
    act = spec.build().to(device=x.device, dtype=x.dtype)
    if initial is None:
        initial = cfg_init_tensors(cfg, cfg_dims(cfg, x.shape[1]), spec, x.dtype)
    zs: list[torch.Tensor] = []
    h = x
    for weight, bias in initial[:-1]:
        z = torch.nn.functional.linear(h, weight.to(x.device), bias.to(x.device))
        zs.append(z)
        h = act(z)
    return zs


def finish(
    model: Autoencoder,
    data: Any,
    cfg: dict[str, Any],
    epochs: list[tuple[int, str, float]],
    layers: list[tuple[int, int, str, float]],
    last_epoch: int,
    diverged_epoch: int | None,
    dev: torch.device,
    precomputed: dict[str, float | None] | None = None,
    tested: tuple[torch.Tensor, float] | None = None,
) -> dict[str, float | None]:
    """Final metrics of a trained model: losses, speed, probe accuracy, anomaly AUROC.

    ``precomputed``: ``probe_accuracy`` / ``anomaly_auroc`` already measured for this model
    (the batched engine fits all its models' probes at once, :mod:`actcmp.core.probe`, and
    ranks all its models' test errors in one :func:`~actcmp.core.metrics.anomaly_aurocs`
    call); a metric not given is computed here, for this model alone, by the same code.
    ``tested``: this model's :func:`score_test_split`, when the caller has already run it."""
    given = precomputed or {}
    test_errors, test_mse = tested if tested is not None else score_test_split(model, data, cfg, dev)
    test_loss = float(test_errors.mean())
    shared = finish_val_loss(data, cfg, epochs, last_epoch, diverged_epoch, dev, n_parameters(model))
    final: dict[str, float | None] = {
        "final_train_loss": _finite([v for _, m, v in epochs if m == "train_loss"][-1]),
        "final_val_loss": shared.pop("final_val_loss"),
        "best_val_loss": shared.pop("best_val_loss"),
        "test_loss": _finite(test_loss),
        "test_mse": _finite(test_mse),
        **shared,  # baseline_loss ... n_params, in finish_val_loss's order
        "probe_accuracy": None,
        "probe_version": float(PROBE_VERSION),
        "anomaly_auroc": None,
    }
    final.update(_summaries(layers, last_epoch))
    if "probe_accuracy" in given:
        final["probe_accuracy"] = given["probe_accuracy"]
    elif data.y_train is not None and data.y_test is not None and diverged_epoch is None:
        final["probe_accuracy"] = probe_accuracies([model], [data])[0]
    if "anomaly_auroc" in given:
        final["anomaly_auroc"] = given["anomaly_auroc"]
    elif data.anomaly_test is not None and diverged_epoch is None:
        final["anomaly_auroc"] = anomaly_auroc(*auroc_inputs(test_errors, data))
    return final


def score_test_split(
    model: Autoencoder, data: Any, cfg: dict[str, Any], dev: torch.device
) -> tuple[torch.Tensor, float]:
    """``model`` on the test split: the per-sample errors ``[n]`` in the run's loss (what
    ``test_loss`` averages and ``anomaly_auroc`` ranks) and the loss-independent MSE
    (``test_mse``, so runs trained with different losses compare fairly)."""
    x_test = data.x_test.to(dev)
    with torch.no_grad():
        reconstruction = model(x_test)
        errors = per_sample_loss(reconstruction, x_test, cfg["loss"])
        return errors, float(((reconstruction - x_test) ** 2).mean())


def auroc_inputs(test_errors: torch.Tensor, data: Any) -> tuple[np.ndarray, np.ndarray]:
    """What :func:`~actcmp.core.metrics.anomaly_auroc` ranks for a run: its test errors (in
    the model's dtype) and the test split's anomaly flags."""
    return test_errors.cpu().numpy(), np.asarray(data.anomaly_test, dtype=bool)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
