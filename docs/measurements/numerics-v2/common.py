"""Shared harness: build a _Stack like batched._train does, fixed batches, timing helpers."""
import os, sys, time, statistics
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))  # the repository root
import torch
from actcmp.config import make_run
from actcmp.datasets import load_dataset
from actcmp.core.activations import parse_activation
import actcmp.engine.plain as plain
from actcmp.engine.layout import _Run
from actcmp.engine.measure import _Stack
from actcmp.engine.stack import _update_key
from actcmp.engine.plain import cast_dataset, batch_order

ACTS = ["relu", "leaky_relu", "prelu", "elu", "gelu", "silu", "tanh", "sigmoid"]
SEEDS = [0, 1, 2]
_cache = {}

def configs(dataset, depth, width, epochs=20):
    out = []
    for a in ACTS:
        for s in SEEDS:
            cfg = make_run({"dataset": dataset, "depth": depth, "width": width, "bottleneck": 8,
                            "epochs": epochs, "activation": a, "seed": s})
            key = (dataset, s)
            if key not in _cache:
                _cache[key] = load_dataset(cfg.dataset, cfg.seed, cfg.val_fraction, cfg.test_fraction)
            data = _cache[key]
            out.append((plain.resolve(cfg, data.info.output_activation, data.info.loss), data))
    return out

def build(dataset, depth, width, select=None, order="sorted", dtype=torch.float32):
    """select: indices (into the 24 configs, act-major) to keep; order: 'sorted' (engine) or 'shuffled'."""
    cd = configs(dataset, depth, width)
    idx = list(range(len(cd))) if select is None else list(select)
    runs = [_Run(i, cd[i][0], cast_dataset(cd[i][1], dtype), parse_activation(cd[i][0]["activation"])) for i in idx]
    if order == "sorted":
        runs = sorted(runs, key=lambda r: (r.spec.canonical, _update_key(r.cfg), r.position))
    else:
        g = torch.Generator().manual_seed(1234)
        perm = torch.randperm(len(runs), generator=g).tolist()
        runs = [runs[p] for p in perm]
    return _Stack(runs, torch.device("cpu"), dtype)

def batches(stack, epoch=1):
    """The epoch's minibatches as batched._train builds them."""
    n_train, bs = stack.x_train.shape[1], stack.runs[0].cfg["batch_size"]
    orders = [torch.cat(batch_order(n_train, bs, seed, epoch)) for seed in stack.slot_seeds]
    slot_order = torch.stack(orders)
    slots = torch.arange(len(orders)).view(-1, 1)
    shuffled = stack.x_train[slots, slot_order]
    return [shuffled[:, s:s + bs].index_select(0, stack.slot) for s in range(0, n_train, bs)]

def full_batches(stack, k):
    bs = batches(stack)
    full = [b for b in bs if b.shape[1] == bs[0].shape[1]]
    return [full[i % len(full)] for i in range(k)]

def positions(stack):
    return [r.position for r in stack.runs]

def load():
    return os.getloadavg()

def med(xs):
    return statistics.median(xs)

from actcmp.run.resources import tune_allocator
tune_allocator()
