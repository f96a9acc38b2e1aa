"""Trains the same runs in many compositions in one process; prints, per composition, a
digest of every stored number of each run (JSON on stdout).

Run by ``test_invariance.py`` in subprocesses, once per CPU kernel family
(``ATEN_CPU_CAPABILITY``): within one process every composition must give every run the
same digest. Not a test module itself (no ``test_`` prefix).
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from typing import Any

import torch

from actcmp.config import run_id, sweep_from_dict
from actcmp.engine import stack
from actcmp.engine.batched import estimate_group_bytes, train_group
from actcmp.run.sweep import cached_dataset, plan_runs

ACTIVATIONS = ["relu", "tanh", "elu", "sigmoid", "gelu", "silu", "leaky_relu", "prelu"]
#: the runs whose numbers are followed through every composition
TARGETS = [("elu", 0), ("gelu", 1), ("prelu", 2), ("sigmoid", 0), ("relu", 1)]


#: the model options of issue 15 (explicit widths, normal init, constant bias, L1 activity
#: penalty on every hidden layer, Gaussian input noise): a group of its own
VARIANT = {"widths": [24, 12], "init_distribution": "normal", "bias_init": 0.01, "activity_l1": 0.001,
           "activity_l1_on": "hidden", "input_noise": 0.1}  # fmt: skip
VARIANT_TARGET = ("gelu", 1)


def configs(
    activations: list[str],
    seeds: list[int],
    lr: float = 0.01,
    variant: bool = False,
    width: int = 24,
    bottleneck: int = 5,
) -> list[dict[str, Any]]:
    shape: dict[str, Any] = VARIANT if variant else {"width": width}
    grid: dict[str, Any] = {"activation": activations, "seed": seeds, **({} if variant else {"depth": [2]})}
    sweep = sweep_from_dict(
        {"name": "inv", "epochs": 2, "bottleneck": bottleneck, "batch_size": 100, "probe_size": 70,
         "probe_every": 1, "dataset": "digits", "lr": lr, **shape, "grid": grid}
    )  # fmt: skip
    return plan_runs(sweep)


def digest(result: Any) -> str:
    payload = repr((result.status, result.epochs, result.layers, sorted(result.final.items())))
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def val_loss_runs(cfgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same runs with ``record = "val_loss"`` (what [tune] gives its tuning runs; a
    sweep's own runs cannot ask for it), each with its own run id."""
    out = []
    for cfg in cfgs:
        lean = {k: v for k, v in cfg.items() if k != "run_id"} | {"record": "val_loss"}
        out.append({**lean, "run_id": run_id(lean)})
    return out


def train(cfgs: list[dict[str, Any]], budget: int | None = None) -> dict[str, str]:
    data = [cached_dataset(c, None) for c in cfgs]
    return {r.run_id: digest(r) for r in train_group(cfgs, data, memory_budget=budget)}


def val_curves(cfgs: list[dict[str, Any]]) -> dict[str, str]:
    """Per run, keyed by (activation, seed): a digest of its validation-loss curve alone."""
    data = [cached_dataset(c, None) for c in cfgs]
    out = {}
    for cfg, result in zip(cfgs, train_group(cfgs, data), strict=True):
        curve = [(e, v) for e, m, v in result.epochs if m == "val_loss"]
        out[f"{cfg['activation']}/{cfg['seed']}"] = hashlib.sha256(repr(curve).encode()).hexdigest()[:16]
    return out


def main() -> None:
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    torch.set_num_threads(threads)
    everything = configs(ACTIVATIONS, [0, 1, 2])  # 24 runs
    by_key = {(c["activation"], c["seed"]): c for c in everything}
    targets = [by_key[t] for t in TARGETS]
    rng = random.Random(0)
    out: dict[str, dict[str, str]] = {}
    out["alone"] = {k: v for c in targets for k, v in train([c]).items()}
    others = [c for c in everything if c not in targets]
    for size in (2, 4):
        found: dict[str, str] = {}
        for c in targets:
            group = [c, *rng.sample(others, size - 1)]
            rng.shuffle(group)
            found.update(train(group))
        out[f"group-of-{size}"] = found
    out["group-of-24"] = train(everything)
    shuffled = list(everything)
    rng.shuffle(shuffled)
    out["group-of-24-shuffled"] = train(shuffled)
    # a memory budget that splits the 24 models into chunks of about 5
    data = cached_dataset(everything[0], None)
    shape = (data.x_train.shape[0], data.x_train.shape[1], data.x_val.shape[0], data.x_test.shape[0])
    out["chunked"] = train(shuffled, budget=estimate_group_bytes(everything[0], 5, *shape))
    # neighbours with another learning rate share the stack (and their activation's slice)
    # but not the optimizer call
    out["other-lr-neighbours"] = train(targets + configs(["relu", "tanh", "elu"], [0, 1], lr=0.003))
    # a [tune] stack: every activation at several learning rates, its slice cut into
    # measurement parts of 1, 2 and (the default) 4 models
    many = [c for lr in (0.003, 0.01, 0.03) for c in configs(ACTIVATIONS, [0, 1, 2], lr=lr)]
    rng.shuffle(many)
    for size in (1, 2, stack.MEASURE_MODELS):
        default, stack.MEASURE_MODELS = stack.MEASURE_MODELS, size
        out[f"three-lrs-measured-{size}-at-a-time"] = train(many)
        stack.MEASURE_MODELS = default
    # odd shapes: per-model blocks of 3 and 21 floats put a model's weights at alignments
    # that change with its neighbours (MKL rounds by alignment unless MKL_CBWR is set)
    odd = configs(["elu", "tanh"], [0, 1, 2], width=7, bottleneck=3)
    lone = [c for c in odd if c["activation"] == "elu" and c["seed"] == 0]
    odd_out = {"alone": train(lone), "group-of-6": train(odd)}
    # the model options of issue 15: one target alone, then among its group
    variants = configs(["gelu", "relu", "tanh"], [0, 1], variant=True)
    target = next(c for c in variants if (c["activation"], c["seed"]) == VARIANT_TARGET)
    shuffled_variants = list(variants)
    rng.shuffle(shuffled_variants)
    variant_out = {
        "alone": train([target]),
        "group-of-6": train(variants),
        "group-of-6-shuffled": train(shuffled_variants),
    }
    # record = "val_loss" (a [tune] tuning run): its own group; alone, among others, shuffled
    lean = val_loss_runs(configs(ACTIVATIONS, [0, 1]))
    lean_target = next(c for c in lean if (c["activation"], c["seed"]) == ("gelu", 1))
    shuffled_lean = list(lean)
    rng.shuffle(shuffled_lean)
    # ... and as a [tune] tuning stack: every activation at three learning rates
    tuning = val_loss_runs([c for lr in (0.003, 0.01, 0.03) for c in configs(ACTIVATIONS, [0, 1], lr=lr)])
    rng.shuffle(tuning)
    record_out = {"alone": train([lean_target]), "group-of-16": train(lean),
                  "group-of-16-shuffled": train(shuffled_lean), "three-lrs-48": train(tuning)}  # fmt: skip
    # its validation curve is the one the same run records with record = "full"
    curves = {"val_loss": val_curves(lean), "full": val_curves(configs(ACTIVATIONS, [0, 1]))}
    json.dump({"capability": torch.backends.cpu.get_cpu_capability(), "threads": threads, "digests": out,
               "variant_digests": variant_out, "odd_digests": odd_out, "record_digests": record_out,
               "val_curves": curves}, sys.stdout)  # fmt: skip


if __name__ == "__main__":
    main()
