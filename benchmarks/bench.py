"""actcmp benchmark (``make bench``): one table, measured side by side in one process.

For a 24-model group (8 activations x 3 seeds) at depths 2, 4, 8 and widths 64, 256:

* canonical: the per-model PyTorch loop a user writes by hand (nn.Sequential, DataLoader,
  torch.optim.Adam; no metrics at all);
* plain:     actcmp's per-run reference engine (``engine.train_run``), all its metrics;
* batched:   actcmp's batched engine (``engine_batched.train_group``), the same metrics.

Each is timed ``--repeats`` times (median reported) on the same thread budget, next to
this machine's own fp32 matmul peak (a 2048^3 sgemm at that thread count). Achieved
GFLOP/s counts the training matmuls only: 6 * batch * in * out per layer, step and model
(forward and backward), over each engine's time without ``engine.finish`` (final
metrics: a logistic-regression probe per run, the same code in plain and batched).
Then the default sweep (288 runs, ``--jobs 2``) is run as a subprocess: wall time, peak
memory, and where the batched engine spent its time (training steps, full-pass losses,
probe: gradient norms and layer metrics, finishing).

Writes ``results/bench/bench.json`` (one object per row). ``--quick``: one repeat, one
epoch, no sweep. ``--threads 1,2`` adds a two-thread table (on a 2-core machine that is
busy with anything else, two OpenMP threads spin against each other: expect outliers).

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

import actcmp.engine as engine  # noqa: E402
import actcmp.engine_batched as engine_batched  # noqa: E402
from actcmp.activations import parse_activation  # noqa: E402
from actcmp.config import make_run  # noqa: E402
from actcmp.datasets import load_dataset  # noqa: E402
from actcmp.model import cfg_dims  # noqa: E402

ACTIVATIONS = ["relu", "leaky_relu", "prelu", "elu", "gelu", "silu", "tanh", "sigmoid"]
SEEDS = [0, 1, 2]


# ----------------------------------------------------------------------------- timing helpers


class FinishClock:
    """Seconds spent in ``engine.finish`` (patched in both engines while measuring)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._original = engine.finish

    def __enter__(self) -> FinishClock:
        original = self._original

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        engine.finish = timed  # type: ignore[assignment]
        engine_batched.finish = timed  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        engine.finish = self._original  # type: ignore[assignment]
        engine_batched.finish = self._original  # type: ignore[assignment]


def peak_gflops(threads: int, size: int = 2048, repeats: int = 7) -> float:
    """This machine's fp32 matmul rate: the median of timed ``size^3`` sgemms."""
    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(2):
        a @ b
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - started)
    return 2 * size**3 / statistics.median(times) / 1e9


# ----------------------------------------------------------------------------- the three contenders


def make_group(dataset: str, depth: int, width: int, epochs: int) -> tuple[list[dict[str, Any]], list[Any]]:
    configs, datasets = [], []
    for activation in ACTIVATIONS:
        for seed in SEEDS:
            cfg = make_run(
                {"dataset": dataset, "depth": depth, "width": width, "bottleneck": 8, "epochs": epochs,
                 "activation": activation, "seed": seed}
            )  # fmt: skip
            data = load_dataset(cfg.dataset, cfg.seed, cfg.val_fraction, cfg.test_fraction)
            configs.append(engine.resolve(cfg, data.info.output_activation, data.info.loss))
            datasets.append(data)
    return configs, datasets


def canonical_loop(configs: list[dict[str, Any]], datasets: list[Any]) -> None:
    """What a user writes: one model at a time, DataLoader batches, Adam, no metrics."""
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
        for _ in range(cfg["epochs"]):
            for (batch,) in loader:
                optimizer.zero_grad()
                loss = loss_fn(model(batch), batch)
                loss.backward()
                optimizer.step()


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
    """(total seconds, seconds in engine.finish, fn's result)."""
    with FinishClock() as clock:
        started = time.perf_counter()
        out = fn(*args)
        return time.perf_counter() - started, clock.seconds, out


def measure_group(
    dataset: str, depth: int, width: int, epochs: int, threads: int, repeats: int, peak: float
) -> dict[str, Any]:
    torch.set_num_threads(threads)
    configs, datasets = make_group(dataset, depth, width, epochs)
    timings: dict[str, list[float]] = {
        key: [] for key in ("canonical", "plain", "plain_train", "batched", "batched_train")
    }
    parts: list[dict[str, float]] = []
    for _ in range(repeats):  # interleaved, so that a busy spell hurts all three alike
        total, _, _ = timed(canonical_loop, configs, datasets)
        timings["canonical"].append(total)
        total, finishing, _ = timed(plain_engine, configs, datasets)
        timings["plain"].append(total)
        timings["plain_train"].append(total - finishing)
        total, finishing, part = timed(batched_engine, configs, datasets)
        timings["batched"].append(total)
        timings["batched_train"].append(total - finishing)
        parts.append(part)
    med = {key: statistics.median(values) for key, values in timings.items()}
    flops = training_flops(configs, datasets)
    step_s = statistics.median(p.get("train", float("nan")) for p in parts)
    probe_s = statistics.median(p.get("probe", float("nan")) for p in parts)
    losses_s = statistics.median(p.get("losses", float("nan")) for p in parts)
    row = {
        "kind": "group",
        "dataset": dataset,
        "depth": depth,
        "width": width,
        "models": len(configs),
        "epochs": epochs,
        "threads": threads,
        "repeats": repeats,
        "canonical_s": med["canonical"],
        "plain_s": med["plain"],
        "plain_without_finish_s": med["plain_train"],
        "batched_s": med["batched"],
        "batched_without_finish_s": med["batched_train"],
        "batched_steps_s": step_s,
        "batched_losses_s": losses_s,
        "batched_probe_s": probe_s,
        "speedup_vs_canonical": med["canonical"] / med["batched_train"],
        "speedup_steps_vs_canonical": med["canonical"] / step_s,
        "speedup_vs_plain": med["plain_train"] / med["batched_train"],
        "speedup_vs_plain_with_finish": med["plain"] / med["batched"],
        "training_gflop": flops / 1e9,
        "canonical_gflops": flops / med["canonical"] / 1e9,
        "plain_gflops": flops / med["plain_train"] / 1e9,
        "batched_gflops": flops / med["batched_train"] / 1e9,
        "batched_step_gflops": flops / step_s / 1e9,
        "peak_gflops": peak,
    }
    row["batched_fraction_of_peak"] = row["batched_gflops"] / peak
    row["batched_step_fraction_of_peak"] = row["batched_step_gflops"] / peak
    return row


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
    from actcmp.store import Store

    with tempfile.TemporaryDirectory(prefix="actcmp-bench-") as tmp:
        out = Path(tmp) / "default"
        command = [sys.executable, "-m", "actcmp", "run", "experiments/default.toml", "--jobs", str(jobs),
                   "--out", str(out), "--quiet"]  # fmt: skip
        peak_tree = [0]
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
        "peak_rss_largest_process_mb": usage.ru_maxrss / 1024,
        "peak_rss_all_processes_mb": peak_tree[0] / 1024,
        "engines": engines,
        "engine_seconds": {k: round(v, 2) for k, v in breakdown.items()},
        "probe_share_of_engine_time": breakdown.get("probe", 0.0) / engine_total,
        "probe_share_of_step_time": breakdown.get("probe", 0.0) / breakdown.get("train", float("nan")),
    }


# ----------------------------------------------------------------------------- output


def print_table(peaks: dict[int, float], rows: list[dict[str, Any]]) -> None:
    print(f"\nactcmp bench  {platform.processor() or platform.machine()}  torch {torch.__version__}")
    print("fp32 matmul peak (2048^3 sgemm): " + ", ".join(f"{t} thread(s) {g:.1f} GFLOP/s" for t, g in peaks.items()))
    header = (
        f"{'thr':>3} {'depth':>5} {'width':>5} | {'canonical':>9} {'plain':>8} {'batched':>8} {'steps':>6} | "
        f"{'x canon':>7} {'x plain':>7} {'steps x canon':>13} | {'GFLOP/s':>7} {'% peak':>6} {'steps %pk':>9} | "
        f"{'probe %':>7}"
    )
    print("seconds for 24 models (plain and batched without engine.finish; final metrics shown apart)")
    print(header)
    print("-" * len(header))
    for r in rows:
        probe = 100 * r["batched_probe_s"] / r["batched_without_finish_s"]
        print(
            f"{r['threads']:>3} {r['depth']:>5} {r['width']:>5} | {r['canonical_s']:>9.2f} "
            f"{r['plain_without_finish_s']:>8.2f} {r['batched_without_finish_s']:>8.2f} {r['batched_steps_s']:>6.2f} | "
            f"{r['speedup_vs_canonical']:>6.1f}x {r['speedup_vs_plain']:>6.1f}x {r['speedup_steps_vs_canonical']:>12.1f}x | "
            f"{r['batched_gflops']:>7.1f} "
            f"{100 * r['batched_fraction_of_peak']:>5.1f}% {100 * r['batched_step_fraction_of_peak']:>8.1f}% | "
            f"{probe:>6.1f}%"
        )
    print("steps: the batched engine's optimizer-step loop alone (no measurements, like the canonical loop)")
    print("x canon / x plain: batched speedup (batched with its per-epoch measurements); steps x canon: the")
    print("step loop against the canonical loop; GFLOP/s, % peak: training matmul flops over batched time")
    print("without finish; steps %pk: the same over the step loop; probe %: gradient norms and layer")
    print("metrics, as a share of batched time without finish")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one repeat, one epoch, no sweep")
    parser.add_argument(
        "--threads", default="1", help="thread counts, e.g. 1,2 (default 1: two threads on a busy 2-core machine spin)"
    )
    parser.add_argument("--repeats", type=int, default=None, help="timings per cell (median; default 3, quick 1)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per run (default 3, quick 1)")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--depths", default="2,4,8")
    parser.add_argument("--widths", default="64,256")
    parser.add_argument("--no-sweep", action="store_true", help="skip the default sweep")
    parser.add_argument("--jobs", type=int, default=2, help="workers for the default sweep")
    parser.add_argument("--out", default=str(REPO / "results" / "bench" / "bench.json"))
    args = parser.parse_args(argv)
    threads = [int(t) for t in args.threads.split(",")]
    repeats = args.repeats or (1 if args.quick else 3)
    epochs = args.epochs or (1 if args.quick else 3)
    depths = [int(d) for d in args.depths.split(",")]
    widths = [int(w) for w in args.widths.split(",")]

    engine_batched.tune_allocator()  # process-wide: every contender profits alike
    warm_configs, warm_data = make_group(args.dataset, 1, 16, 1)  # first calls pay one-off costs
    for contender in (canonical_loop, plain_engine, batched_engine):
        contender(warm_configs[::3], warm_data[::3])
    peaks: dict[int, float] = {}
    rows: list[dict[str, Any]] = []
    for count in threads:
        peaks[count] = peak_gflops(count)
        rows.append({"kind": "peak", "threads": count, "gflops": peaks[count], "sgemm": 2048})
        for width in widths:
            for depth in depths:
                row = measure_group(args.dataset, depth, width, epochs, count, repeats, peaks[count])
                rows.append(row)
                print(
                    f"  threads {count} depth {depth} width {width}: canonical {row['canonical_s']:.2f}s "
                    f"plain {row['plain_without_finish_s']:.2f}s batched {row['batched_without_finish_s']:.2f}s",
                    flush=True,
                )
    print_table(peaks, [r for r in rows if r["kind"] == "group"])
    if not (args.quick or args.no_sweep):
        print(f"\ndefault sweep, --jobs {args.jobs} (subprocess) ...", flush=True)
        sweep = measure_sweep(args.jobs)
        rows.append(sweep)
        print(
            f"default sweep: {sweep['runs']} runs in {sweep['wall_s']:.1f} s wall, peak RSS "
            f"{sweep['peak_rss_all_processes_mb']:.0f} MB all processes ({sweep['peak_rss_largest_process_mb']:.0f} MB "
            f"largest); engine time {sweep['engine_seconds']}; probe {100 * sweep['probe_share_of_engine_time']:.1f}% "
            f"of engine time, {100 * sweep['probe_share_of_step_time']:.1f}% of optimizer-step time"
        )
    meta = {"kind": "meta", "machine": platform.machine(), "processor": platform.processor(),
            "cpus": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version(),
            "quick": args.quick, "epochs": epochs, "repeats": repeats,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S")}  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps([meta, *rows], indent=1), encoding="utf-8")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
