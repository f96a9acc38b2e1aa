"""actcmp benchmark (``make bench``): one table, measured side by side in one process.

For a group of 24 models (8 activations x 3 seeds) at depths 2, 4, 8 and widths 64, 256:

* canonical:        the per-model PyTorch loop a user writes by hand (nn.Sequential,
                    DataLoader, torch.optim.Adam) that RECORDS NOTHING (no losses, no metrics);
* canonical+losses: the same loop recording what actcmp records every epoch at the least:
                    full-pass train and validation losses in eval mode;
* plain:            actcmp's per-run reference engine (``engine.train_run``), everything a
                    run records, end-of-run metrics included;
* batched:          actcmp's batched engine (``engine_batched.train_group``), the same
                    records, end-of-run metrics included ("whole engine"), and its parts from
                    the engine's own timings: the optimizer-step loop ("steps"), the per-epoch
                    full-pass losses, the layer metrics (gradient norms, dead/saturated units)
                    and the end of the run (histograms, test pass, the linear probes of all
                    models, of which "linear probe").

Each contender runs ``--repeats`` times, interleaved (canonical, canonical+losses, plain,
batched, then sgemms), medians reported. The peak is this machine's fp32 matmul rate measured
like the work: 2048^3 sgemms after a warm-up, timed between the groups' repeats at the same
thread count (median of all of them, at least 9). Achieved GFLOP/s counts the training
matmuls only (6 * batch * in * out per layer, step and model) over the step loop's time.
The load average (``os.getloadavg``) is recorded before and after: on a shared machine
read the ratios (measured in one process, interleaved), not the seconds.

Then the default sweep (288 runs, ``--jobs 2``) is run as a subprocess: wall time,
CPU-seconds of its processes, peak memory, and where the batched engine spent its time.

Writes ``results/bench/bench.json`` (one object per row). ``--quick``: a smoke run of a few
seconds (8 models, depth 2, width 64, one epoch, one repeat, 9 smaller sgemms, no sweep).
``--threads 1,2`` adds a two-thread table (on a 2-core machine that is busy with anything
else, two OpenMP threads spin against each other: expect outliers).

Example: .venv/bin/python benchmarks/bench.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from torch import nn  # noqa: E402

import actcmp.engine.batched as engine_batched  # noqa: E402
import actcmp.engine.plain as engine  # noqa: E402
from actcmp.config import make_run  # noqa: E402
from actcmp.core.activations import parse_activation  # noqa: E402
from actcmp.core.model import cfg_dims  # noqa: E402
from actcmp.datasets import load_dataset  # noqa: E402
from actcmp.run.resources import tune_allocator  # noqa: E402

ACTIVATIONS = ["relu", "leaky_relu", "prelu", "elu", "gelu", "silu", "tanh", "sigmoid"]
SEEDS = [0, 1, 2]


# ----------------------------------------------------------------------------- timing helpers


class PartClock:
    """Seconds spent in one function of the engines while measuring (patched, restored)."""

    def __init__(self, module: Any, name: str) -> None:
        self.seconds = 0.0
        self.module, self.name = module, name
        self._original = getattr(module, name)

    def __enter__(self) -> PartClock:
        original = self._original

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        setattr(self.module, self.name, timed)
        return self

    def __exit__(self, *exc: object) -> None:
        setattr(self.module, self.name, self._original)


class Peak:
    """fp32 sgemm rate samples, taken between the groups' repeats (like the work)."""

    def __init__(self, size: int = 2048) -> None:
        self.size = size
        self.samples: dict[int, list[float]] = {}
        self._matrices: tuple[torch.Tensor, torch.Tensor] | None = None

    def sample(self, threads: int, count: int) -> None:
        torch.set_num_threads(threads)
        if self._matrices is None:
            self._matrices = (torch.randn(self.size, self.size), torch.randn(self.size, self.size))
            for _ in range(2):  # warm-up: first calls pay page faults and MKL's set-up
                self._matrices[0] @ self._matrices[1]
        a, b = self._matrices
        for _ in range(count):
            started = time.perf_counter()
            a @ b
            self.samples.setdefault(threads, []).append(2 * self.size**3 / (time.perf_counter() - started) / 1e9)

    def median(self, threads: int) -> float:
        return statistics.median(self.samples[threads])


# ----------------------------------------------------------------------------- the contenders


def make_group(
    dataset: str, depth: int, width: int, epochs: int, seeds: list[int] | None = None
) -> tuple[list[dict[str, Any]], list[Any]]:
    configs, datasets = [], []
    for activation in ACTIVATIONS:
        for seed in SEEDS if seeds is None else seeds:
            cfg = make_run(
                {"dataset": dataset, "depth": depth, "width": width, "bottleneck": 8, "epochs": epochs,
                 "activation": activation, "seed": seed}
            )  # fmt: skip
            data = load_dataset(cfg.dataset, cfg.seed, cfg.val_fraction, cfg.test_fraction)
            configs.append(engine.resolve(cfg, data.info.output_activation, data.info.loss))
            datasets.append(data)
    return configs, datasets


def canonical_loop(configs: list[dict[str, Any]], datasets: list[Any], record_losses: bool = False) -> None:
    """What a user writes: one model at a time, DataLoader batches, Adam, nothing recorded;
    with ``record_losses``, the full-pass train and validation losses (eval mode) after
    every epoch and at initialisation, as actcmp's engines record them."""
    from torch.utils.data import DataLoader, TensorDataset

    for cfg, data in zip(configs, datasets, strict=True):
        torch.manual_seed(cfg["seed"])
        dims = cfg_dims(cfg, data.x_train.shape[1])
        layers: list[nn.Module] = []
        for index, (fan_in, fan_out) in enumerate(dims):
            layers.append(nn.Linear(fan_in, fan_out))
            last = index == len(dims) - 1
            layers.append(parse_activation(cfg["output_activation" if last else "activation"], hidden=not last).build())
        model = nn.Sequential(*layers)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
        loader = DataLoader(TensorDataset(data.x_train), batch_size=cfg["batch_size"], shuffle=True)
        loss_fn = nn.BCELoss() if cfg["loss"] == "bce" else nn.MSELoss()
        losses: list[tuple[float, float]] = []
        if record_losses:
            losses.append(_full_pass_losses(model, loss_fn, data))
        for _ in range(cfg["epochs"]):
            for (batch,) in loader:
                optimizer.zero_grad()
                loss = loss_fn(model(batch), batch)
                loss.backward()
                optimizer.step()
            if record_losses:
                losses.append(_full_pass_losses(model, loss_fn, data))


def _full_pass_losses(model: nn.Module, loss_fn: nn.Module, data: Any) -> tuple[float, float]:
    model.eval()
    with torch.no_grad():
        train, val = float(loss_fn(model(data.x_train), data.x_train)), float(loss_fn(model(data.x_val), data.x_val))
    model.train()
    return train, val


def canonical_with_losses(configs: list[dict[str, Any]], datasets: list[Any]) -> None:
    canonical_loop(configs, datasets, record_losses=True)


def plain_engine(configs: list[dict[str, Any]], datasets: list[Any]) -> None:
    for cfg, data in zip(configs, datasets, strict=True):
        engine.train_run(cfg, data)


def batched_engine(configs: list[dict[str, Any]], datasets: list[Any]) -> dict[str, float]:
    results = engine_batched.train_group(configs, datasets)
    totals: dict[str, float] = {}
    seen: set[int] = set()
    for result in results:  # one timings dict per stack (one stack per optimizer)
        timings = result.env.get("group_timings_s", {})
        if id(timings) in seen:
            continue
        seen.add(id(timings))
        for key, value in timings.items():
            totals[key] = totals.get(key, 0.0) + value
    return totals


def training_flops(configs: list[dict[str, Any]], datasets: list[Any]) -> float:
    total = 0.0
    for cfg, data in zip(configs, datasets, strict=True):
        n = data.x_train.shape[0]
        dims = cfg_dims(cfg, data.x_train.shape[1])
        samples = n * cfg["epochs"]  # every sample passes once per epoch (the last batch may be short)
        total += 6.0 * samples * sum(i * o for i, o in dims)
    return total


def timed(fn: Any, *args: Any) -> tuple[float, float, Any]:
    """(total seconds, seconds in the batched engine's linear probes, fn's result)."""
    with PartClock(engine_batched, "probe_accuracies") as clock:
        started = time.perf_counter()
        out = fn(*args)
        return time.perf_counter() - started, clock.seconds, out


def measure_group(
    dataset: str,
    depth: int,
    width: int,
    epochs: int,
    threads: int,
    repeats: int,
    peak: Peak,
    peak_samples: int,
    seeds: list[int] | None = None,
) -> dict[str, Any]:
    torch.set_num_threads(threads)
    configs, datasets = make_group(dataset, depth, width, epochs, seeds)
    timings: dict[str, list[float]] = {
        key: [] for key in ("canonical", "canonical_losses", "plain", "batched", "linear_probe")
    }
    parts: list[dict[str, float]] = []
    for _ in range(repeats):  # interleaved, so that a busy spell hurts all alike
        timings["canonical"].append(timed(canonical_loop, configs, datasets)[0])
        timings["canonical_losses"].append(timed(canonical_with_losses, configs, datasets)[0])
        timings["plain"].append(timed(plain_engine, configs, datasets)[0])
        total, probe, part = timed(batched_engine, configs, datasets)
        timings["batched"].append(total)
        timings["linear_probe"].append(probe)
        parts.append(part)
        peak.sample(threads, peak_samples)
        torch.set_num_threads(threads)
    med = {key: statistics.median(values) for key, values in timings.items()}
    part_med = {
        key: statistics.median(p.get(key, float("nan")) for p in parts)
        for key in ("train", "losses", "probe", "finish")
    }
    flops = training_flops(configs, datasets)
    step_s = part_med["train"]
    return {
        "kind": "group",
        "dataset": dataset,
        "depth": depth,
        "width": width,
        "models": len(configs),
        "epochs": epochs,
        "threads": threads,
        "repeats": repeats,
        "canonical_s": med["canonical"],
        "canonical_with_losses_s": med["canonical_losses"],
        "plain_s": med["plain"],
        "batched_s": med["batched"],
        "batched_steps_s": step_s,
        "batched_losses_s": part_med["losses"],
        "batched_layer_metrics_s": part_med["probe"],
        "batched_end_of_run_s": part_med["finish"],
        "batched_linear_probe_s": med["linear_probe"],
        "whole_vs_canonical": med["canonical"] / med["batched"],
        "whole_vs_canonical_with_losses": med["canonical_losses"] / med["batched"],
        "steps_vs_canonical": med["canonical"] / step_s,
        "whole_vs_plain": med["plain"] / med["batched"],
        "training_gflop": flops / 1e9,
        "canonical_gflops": flops / med["canonical"] / 1e9,
        "batched_step_gflops": flops / step_s / 1e9,
    }


# ----------------------------------------------------------------------------- the default sweep


def _tree_rss_kb(root: int) -> int:
    """Summed resident memory (kB) of ``root`` and all its descendants, from /proc."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", encoding="ascii", errors="replace") as handle:
                fields = dict(line.split(":", 1) for line in handle if ":" in line)
        except OSError:
            continue
        parents[int(entry)] = int(fields.get("PPid", "0").strip() or 0)
        rss[int(entry)] = int(fields.get("VmRSS", "0 kB").split()[0]) if "VmRSS" in fields else 0
    members, frontier = {root}, [root]
    while frontier:
        current = frontier.pop()
        for pid, parent in parents.items():
            if parent == current and pid not in members:
                members.add(pid)
                frontier.append(pid)
    return sum(rss.get(pid, 0) for pid in members)


def measure_sweep(jobs: int) -> dict[str, Any]:
    from actcmp.store.database import Store

    with tempfile.TemporaryDirectory(prefix="actcmp-bench-") as tmp:
        out = Path(tmp) / "default"
        command = [sys.executable, "-m", "actcmp", "run", "experiments/default.toml", "--jobs", str(jobs),
                   "--out", str(out), "--quiet"]  # fmt: skip
        peak_tree = [0]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=REPO)
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak_tree[0] = max(peak_tree[0], _tree_rss_kb(process.pid))
                done.wait(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = process.wait()
        wall = time.perf_counter() - started
        done.set()
        sampler.join()
        if code != 0:
            raise SystemExit(f"default sweep failed with exit code {code}")
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        breakdown: dict[str, float] = {}
        engines: dict[str, int] = {}
        groups: set[str] = set()
        with Store(out, create=False) as store:
            for (rid,) in store.conn.execute("SELECT run_id FROM runs").fetchall():
                run = store.read_run(rid)
                assert run is not None
                env = run["env"]
                engines[env.get("engine", "?")] = engines.get(env.get("engine", "?"), 0) + 1
                timings = env.get("group_timings_s")
                key = json.dumps(timings, sort_keys=True)
                if timings and key not in groups:  # one entry per trained stack
                    groups.add(key)
                    for name, value in timings.items():
                        breakdown[name] = breakdown.get(name, 0.0) + value
            runs = len(engines) and sum(engines.values())
    engine_total = sum(breakdown.values()) or float("nan")
    return {
        "kind": "sweep",
        "sweep": "experiments/default.toml",
        "runs": runs,
        "jobs": jobs,
        "wall_s": wall,
        "cpu_s": (usage.ru_utime + usage.ru_stime) - (before.ru_utime + before.ru_stime),
        "peak_rss_largest_process_mb": usage.ru_maxrss / 1024,
        "peak_rss_all_processes_mb": peak_tree[0] / 1024,
        "engines": engines,
        "engine_seconds": {k: round(v, 2) for k, v in breakdown.items()},
        "probe_share_of_engine_time": breakdown.get("probe", 0.0) / engine_total,
        "probe_share_of_step_time": breakdown.get("probe", 0.0) / breakdown.get("train", float("nan")),
    }


# ----------------------------------------------------------------------------- output


def print_table(peak: Peak, rows: list[dict[str, Any]], load: dict[str, list[float]]) -> None:
    print(f"\nactcmp bench  {platform.processor() or platform.machine()}  torch {torch.__version__}")
    for threads in sorted(peak.samples):
        values = sorted(peak.samples[threads])
        print(
            f"fp32 peak ({peak.size}^3 sgemm, {len(values)} samples between the groups, {threads} thread(s)): "
            f"median {statistics.median(values):.1f} GFLOP/s (min {values[0]:.1f}, max {values[-1]:.1f})"
        )
    print(f"load average (1, 5, 15 min): before {load['before']}, after {load['after']}")
    models = rows[0]["models"] if rows else 0
    print(f"seconds for {models} models, medians; x: speed-up of the batched engine (higher is better)")
    header = (
        f"{'thr':>3} {'dep':>3} {'wid':>4} | {'canon':>6} {'can+ls':>6} {'plain':>6} {'whole':>6} | "
        f"{'steps':>6} {'losses':>6} {'layers':>6} {'end':>6} {'probe':>6} | "
        f"{'x canon':>7} {'x can+ls':>8} {'steps x':>7} {'x plain':>7} | {'steps %pk':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        pct = 100 * r["batched_step_gflops"] / peak.median(r["threads"])
        print(
            f"{r['threads']:>3} {r['depth']:>3} {r['width']:>4} | {r['canonical_s']:>6.2f} {r['canonical_with_losses_s']:>6.2f} "
            f"{r['plain_s']:>6.2f} {r['batched_s']:>6.2f} | {r['batched_steps_s']:>6.2f} {r['batched_losses_s']:>6.2f} "
            f"{r['batched_layer_metrics_s']:>6.2f} {r['batched_end_of_run_s']:>6.2f} {r['batched_linear_probe_s']:>6.2f} | "
            f"{r['whole_vs_canonical']:>6.1f}x {r['whole_vs_canonical_with_losses']:>7.1f}x {r['steps_vs_canonical']:>6.1f}x "
            f"{r['whole_vs_plain']:>6.1f}x | {pct:>8.1f}%"
        )
    print("canon: the canonical loop, recording NOTHING; can+ls: the same recording full-pass train/val losses")
    print("every epoch; plain / whole: actcmp's engines with everything a run records, end-of-run metrics")
    print("included. Parts of 'whole' (the batched engine's own timings): steps (optimizer-step loop), losses")
    print("(per-epoch full passes), layers (gradient norms, unit metrics), end (end-of-run metrics), of which")
    print("probe (the linear probes of the stack, one call). x canon / x can+ls / x plain: whole engine vs")
    print("each; steps x: the step loop vs canonical; steps %pk: training matmul GFLOP/s of the step loop")
    print("over the median sgemm peak measured between the groups.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds (no sweep)")
    parser.add_argument(
        "--threads", default="1", help="thread counts, e.g. 1,2 (default 1: two threads on a busy 2-core machine spin)"
    )
    parser.add_argument("--repeats", type=int, default=None, help="timings per cell (median; default 5, quick 1)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per run (default 3, quick 1)")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--depths", default=None, help="default 2,4,8 (quick 2)")
    parser.add_argument("--widths", default=None, help="default 64,256 (quick 64)")
    parser.add_argument("--no-sweep", action="store_true", help="skip the default sweep")
    parser.add_argument("--jobs", type=int, default=2, help="workers for the default sweep")
    parser.add_argument("--out", default=str(REPO / "results" / "bench" / "bench.json"))
    args = parser.parse_args(argv)
    load = {"before": [round(x, 2) for x in os.getloadavg()]}
    threads = [int(t) for t in args.threads.split(",")]
    repeats = args.repeats or (1 if args.quick else 5)
    epochs = args.epochs or (1 if args.quick else 3)
    depths = [int(d) for d in (args.depths or ("2" if args.quick else "2,4,8")).split(",")]
    widths = [int(w) for w in (args.widths or ("64" if args.quick else "64,256")).split(",")]
    seeds = [0] if args.quick else None
    peak = Peak(512 if args.quick else 2048)
    cells = len(depths) * len(widths)
    per_repeat = max(1, -(-9 // (cells * repeats)))  # at least 9 samples in all, per thread count

    tune_allocator()  # process-wide: every contender profits alike
    warm_configs, warm_data = make_group(args.dataset, 1, 16, 1, [0])  # first calls pay one-off costs
    for contender in (canonical_loop, canonical_with_losses, plain_engine, batched_engine):
        contender(warm_configs[::4], warm_data[::4])
    rows: list[dict[str, Any]] = []
    for count in threads:
        peak.sample(count, 0)  # warm-up, untimed
        for width in widths:
            for depth in depths:
                row = measure_group(args.dataset, depth, width, epochs, count, repeats, peak, per_repeat, seeds)
                rows.append(row)
                print(
                    f"  threads {count} depth {depth} width {width}: canonical {row['canonical_s']:.2f}s "
                    f"whole engine {row['batched_s']:.2f}s ({row['whole_vs_canonical']:.1f}x)",
                    flush=True,
                )
        rows.append({"kind": "peak", "threads": count, "sgemm": peak.size, "gflops": peak.median(count),
                     "samples": peak.samples[count]})  # fmt: skip
        for row in rows:
            if row["kind"] == "group" and row["threads"] == count:
                row["peak_gflops"] = peak.median(count)
                row["steps_fraction_of_peak"] = row["batched_step_gflops"] / peak.median(count)
    load["after"] = [round(x, 2) for x in os.getloadavg()]
    print_table(peak, [r for r in rows if r["kind"] == "group"], load)
    if not (args.quick or args.no_sweep):
        print(f"\ndefault sweep, --jobs {args.jobs} (subprocess) ...", flush=True)
        sweep = measure_sweep(args.jobs)
        rows.append(sweep)
        load["after_sweep"] = [round(x, 2) for x in os.getloadavg()]
        print(
            f"default sweep: {sweep['runs']} runs in {sweep['wall_s']:.1f} s wall, {sweep['cpu_s']:.1f} CPU-seconds, "
            f"peak RSS {sweep['peak_rss_all_processes_mb']:.0f} MB all processes "
            f"({sweep['peak_rss_largest_process_mb']:.0f} MB largest); engine time {sweep['engine_seconds']}; "
            f"load average after {load['after_sweep']}"
        )
    meta = {"kind": "meta", "machine": platform.machine(), "processor": platform.processor(),
            "cpus": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version(),
            "quick": args.quick, "epochs": epochs, "repeats": repeats, "load_average": load,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S")}  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps([meta, *rows], indent=1), encoding="utf-8")
    tmp.replace(out)
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
