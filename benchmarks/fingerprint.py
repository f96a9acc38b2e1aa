"""Fingerprint of every number the batched engine stores: one hash per group and a total.

Trains a few small groups with :func:`actcmp.engine.batched.train_group` that between them
exercise every activation with kernels of its own and some through autograd (softsign,
SELU, CELU), PReLU's slopes, Adam, AdamW and SGD with weight decay and momentum in one
group, divergence mid-training, softmax + cross-entropy, the L1 activity penalty, input
noise, ``probe_every`` = 2, float32 and float64. Hashes each run's status, final metrics,
per-epoch and per-layer rows (floats by their exact bit pattern) and sample blobs; not wall
times or the environment.

Use it to check that a change to the engine computes exactly the same numbers: run it on
both versions (e.g. the old one from ``git archive`` into a temp dir) and compare::

    PYTHONPATH=$PWD .venv/bin/python benchmarks/fingerprint.py
    PYTHONPATH=/tmp/old .venv/bin/python benchmarks/fingerprint.py   # old tree first on the path

The hashes depend on the CPU kernel family (AVX2 / AVX-512) and the torch version: compare
runs on one machine. ``--only NAME`` runs one group; ``--list`` names them.
"""

from __future__ import annotations

import argparse
import hashlib
import struct
import sys
from typing import Any

import torch

from actcmp.config import make_run
from actcmp.datasets import load_dataset
from actcmp.engine import plain
from actcmp.engine.batched import train_group

ALL_ACTIVATIONS = [
    "relu", "leaky_relu", "prelu", "elu", "gelu", "silu", "mish", "tanh", "sigmoid", "softplus",
    "hardtanh", "relu6", "hardswish", "softsign", "selu", "celu", "identity",
]  # fmt: skip

#: name -> (shared fields, per-run fields). Each group is one ``train_group`` call.
GROUPS: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {
    "activations": (
        {"dataset": "digits", "depth": 2, "width": 32, "bottleneck": 8, "epochs": 3, "probe_every": 2},
        [{"activation": a, "seed": s} for a in ALL_ACTIVATIONS for s in (0, 1)],
    ),
    "optimizers": (
        {"dataset": "digits", "depth": 3, "width": 24, "bottleneck": 6, "epochs": 3},
        [
            {"activation": "relu", "seed": 0, "optimizer": "adam"},
            {"activation": "tanh", "seed": 1, "optimizer": "adam", "weight_decay": 1e-3},
            {"activation": "prelu", "seed": 0, "optimizer": "adamw", "weight_decay": 0.05},
            {"activation": "gelu", "seed": 1, "optimizer": "adamw", "weight_decay": 0.05, "lr": 3e-3},
            {"activation": "elu", "seed": 0, "optimizer": "sgd", "lr": 0.05, "momentum": 0.9},
            {"activation": "selu", "seed": 1, "optimizer": "sgd", "lr": 0.05, "momentum": 0.0},
            {"activation": "sigmoid", "seed": 2, "optimizer": "sgd", "lr": 0.1, "momentum": 0.5, "weight_decay": 1e-3},
            {"activation": "leaky_relu", "seed": 2, "optimizer": "sgd", "lr": 0.05, "momentum": 0.9},
        ],
    ),
    "divergence": (
        {
            "dataset": "manifold",
            "depth": 2,
            "width": 16,
            "bottleneck": 4,
            "epochs": 5,
            "optimizer": "sgd",
            "probe_every": 2,
        },
        [
            {"activation": "identity", "seed": 0, "lr": 50.0, "momentum": 0.9},
            {"activation": "relu", "seed": 0, "lr": 0.05, "momentum": 0.9},
            {"activation": "tanh", "seed": 0, "lr": 0.05, "momentum": 0.0},
            {"activation": "prelu", "seed": 1, "lr": 50.0, "momentum": 0.0},
            {"activation": "softsign", "seed": 1, "lr": 20.0, "momentum": 0.9},
            {"activation": "elu", "seed": 1, "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-3},
        ],
    ),
    "softmax-ce": (
        {"dataset": "distributions", "depth": 2, "width": 32, "bottleneck": 6, "epochs": 3, "probe_every": 2},
        [{"activation": a, "seed": s} for a in ("relu", "tanh", "softsign", "prelu", "mish") for s in (0, 1)],
    ),
    "sparse-noisy": (
        {
            "dataset": "digits",
            "depth": 3,
            "width": 32,
            "bottleneck": 8,
            "epochs": 3,
            "activity_l1": 0.01,
            "activity_l1_on": "hidden",
            "input_noise": 0.2,
        },
        [{"activation": a, "seed": s} for a in ("relu", "sigmoid", "celu", "hardswish") for s in (0, 2)],
    ),
    "masked-code-l1": (
        {
            "dataset": "clusters",
            "depth": 2,
            "width": 24,
            "bottleneck": 4,
            "epochs": 2,
            "activity_l1": 0.05,
            "input_noise": 0.3,
            "input_noise_kind": "mask",
        },
        [{"activation": a, "seed": 0} for a in ("relu", "gelu", "tanh")],
    ),
    "float64": (
        {"dataset": "digits", "depth": 2, "width": 24, "bottleneck": 8, "epochs": 2, "dtype": "float64"},
        [{"activation": a, "seed": s} for a in ("relu", "prelu", "tanh", "selu", "silu") for s in (0, 1)],
    ),
}


def group_inputs(name: str) -> tuple[list[dict[str, Any]], list[Any], torch.dtype]:
    shared, members = GROUPS[name]
    shared = dict(shared)
    dtype = torch.float64 if shared.pop("dtype", "float32") == "float64" else torch.float32
    configs, datasets = [], []
    for member in members:
        cfg = make_run({**shared, **member})
        data = load_dataset(cfg.dataset, cfg.seed, cfg.val_fraction, cfg.test_fraction)
        configs.append(plain.resolve(cfg, data.info.output_activation, data.info.loss))
        datasets.append(data)
    return configs, datasets, dtype


def _feed(h: Any, value: Any) -> None:
    """Everything by exact value: floats by their bit pattern, containers in order."""
    if value is None:
        h.update(b"N")
    elif isinstance(value, bool):
        h.update(b"T" if value else b"F")
    elif isinstance(value, float):
        h.update(b"f" + struct.pack("<d", value))
    elif isinstance(value, int):
        h.update(b"i" + str(value).encode())
    elif isinstance(value, str):
        h.update(b"s" + value.encode() + b"\0")
    elif isinstance(value, bytes):
        h.update(b"b" + hashlib.sha256(value).digest())
    elif isinstance(value, dict):
        h.update(b"{")
        for key in sorted(value):
            _feed(h, key)
            _feed(h, value[key])
        h.update(b"}")
    elif isinstance(value, list | tuple):
        h.update(b"[")
        for item in value:
            _feed(h, item)
        h.update(b"]")
    else:
        raise TypeError(f"cannot fingerprint {type(value).__name__}")


def fingerprint(name: str) -> tuple[str, int]:
    """The hash of everything ``train_group`` returns for group ``name`` to be stored, and
    how many numbers went into it."""
    configs, datasets, dtype = group_inputs(name)
    results = train_group(configs, datasets, dtype=dtype)
    h = hashlib.sha256()
    numbers = 0
    for result in results:
        _feed(h, [result.run_id, result.status, result.final, result.epochs, result.layers, result.samples])
        numbers += len(result.final) + len(result.epochs) + len(result.layers)
    return h.hexdigest()[:16], numbers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=sorted(GROUPS), help="run only this group (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the groups and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(GROUPS))
        return 0
    torch.set_num_threads(1)
    total = hashlib.sha256()
    for name in args.only or list(GROUPS):
        digest, numbers = fingerprint(name)
        total.update(f"{name}={digest};".encode())
        print(f"{name:16s} {digest}  ({numbers} numbers)", flush=True)
    print(f"{'total':16s} {total.hexdigest()[:16]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
