"""A small results directory written straight through the store (no training), shared by
the export and scriptable-output tests. Imported as ``fake_results`` (``tests/`` is on
``sys.path``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from actcmp.engine.plain import RunResult
from actcmp.store.database import Store

ACTIVATIONS = ("relu", "tanh")
DEPTHS = (1, 2)
SEEDS = (0, 1)
EPOCHS = 3


def config(activation: str, depth: int, seed: int) -> dict[str, Any]:
    rid = f"{activation[:4]}{depth}{seed}".ljust(16, "0")
    return {
        "run_id": rid,
        "activation": activation,
        "dataset": "digits",
        "depth": depth,
        "seed": seed,
        "lr": 0.001,
        "epochs": EPOCHS,
        "init": "kaiming" if activation == "relu" else "xavier",
    }


def loss_of(activation: str, depth: int, seed: int, epoch: int) -> float:
    """A distinct, exactly representable loss per run and epoch (so read-back is exact)."""
    return 0.5 + 0.125 * depth + 0.0625 * seed - 0.03125 * epoch + (0.25 if activation == "tanh" else 0.0)


def result(activation: str, depth: int, seed: int) -> RunResult:
    cfg = config(activation, depth, seed)
    status = "diverged" if (activation, depth, seed) == ("tanh", 2, 1) else "done"
    epochs = [
        (epoch, name, loss_of(activation, depth, seed, epoch) + (0.0 if name == "train_loss" else 0.5))
        for epoch in range(EPOCHS)
        for name in ("train_loss", "val_loss")
    ]
    layers = [
        (epoch, layer, name, 0.25 * layer + 0.5 * epoch / EPOCHS)
        for epoch in (0, EPOCHS - 1)
        for layer in range(depth)
        for name in ("dead_fraction", "preact_hist_00")
    ]
    final = {
        "test_loss": loss_of(activation, depth, seed, EPOCHS) if status == "done" else None,
        "dead_fraction_final": 0.25 if activation == "relu" else 0.0,
        "probe_accuracy": None,
    }
    env = {"torch": "2.13.0+cpu", "engine": "plain", "group_timings_s": {"train": 0.5}}
    return RunResult(
        run_id=cfg["run_id"], config=cfg, status=status, final=final, epochs=epochs, layers=layers,
        wall_time_s=1.5, env=env,
    )  # fmt: skip


def failed_result() -> RunResult:
    cfg = config("gelu", 1, 0)
    return RunResult(
        run_id=cfg["run_id"], config=cfg, status="failed", final={}, wall_time_s=0.25,
        error="RuntimeError: boom\ntraceback line", env={"torch": "2.13.0+cpu"},
    )  # fmt: skip


def make_results(directory: Path, *, figures: bool = True) -> Path:
    """8 runs of relu/tanh x depth 1,2 x seeds 0,1 (one diverged), one failed gelu run,
    one planned run not stored (pending); ``figures``: a report's figure and report.html."""
    runs = [result(a, d, s) for a in ACTIVATIONS for d in DEPTHS for s in SEEDS]
    pending = config("gelu", 2, 0)
    with Store(directory) as store:
        planned = [r.config for r in runs] + [failed_result().config, pending]
        store.save_sweep("sweep1", "fake", {"grid": {}, "description": "a fake sweep"}, planned)
        for run in [*runs, failed_result()]:
            store.write_run(run)
    if figures:
        (directory / "figures").mkdir()
        (directory / "figures" / "loss_curves.png").write_bytes(b"\x89PNG fake")
        (directory / "report.html").write_text("<html>report</html>\n")
    return directory


def three_dataset_runs() -> list[dict[str, Any]]:
    """Runs of 5 activations over 3 datasets x 3 depths x 3 seeds whose test losses keep one
    order of the activations in every cell (nearly: a small per-dataset wobble), for the rank
    tests over cells and over the datasets as blocks."""
    quality = {"relu": 1.0, "elu": 1.02, "gelu": 1.04, "tanh": 1.3, "sigmoid": 3.0}
    return [
        {
            "run_id": f"{a}-{d}-{depth}-{seed}",
            "status": "done",
            "activation": a,
            "dataset": d,
            "depth": depth,
            "seed": seed,
            "test_loss": q
            * (1 + depth / 10)
            * (1 + 0.05 * seed)
            * (1 + 0.001 * (({"a": 0, "b": 3, "c": 5}[d] + seed) % 7)),
        }
        for a, q in quality.items()
        for d in ("a", "b", "c")
        for depth in (1, 2, 4)
        for seed in (0, 1, 2)
    ]


def gradient_cell(
    first: dict[str, list[float]], depth: int = 8, init: str = "auto", bounded_saturated: float = 0.0
) -> tuple[Any, Any]:
    """One condition of claim 4 as (runs, layers) frames: per activation, the first-layer
    gradient norm of each seed (the last layer's is 1, so log10 r = log10(first));
    ``bounded_saturated``: sigmoid's and tanh's final saturated fraction (others 0)."""
    import pandas as pd

    runs, layers = [], []
    for name, values in first.items():
        for seed, value in enumerate(values):
            run_id = f"{name}-{depth}-{init}-{seed}"
            saturated = bounded_saturated if name in ("sigmoid", "tanh") else 0.0
            runs.append(
                {
                    "run_id": run_id,
                    "activation": name,
                    "depth": depth,
                    "seed": seed,
                    "status": "done",
                    "init": init,
                    "saturated_fraction_final": saturated,
                }
            )
            layers += [
                {"run_id": run_id, "epoch": 0, "layer": 0, "metric": "grad_norm_weight", "value": value},
                {"run_id": run_id, "epoch": 0, "layer": 2 * depth - 1, "metric": "grad_norm_weight", "value": 1.0},
            ]
    return pd.DataFrame(runs), pd.DataFrame(layers)
