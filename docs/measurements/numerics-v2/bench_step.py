"""Interleaved A/B of the training step on one group shape (24 models, one thread).

usage: bench_step.py DATASET DEPTH WIDTH [REPEATS] [STEPS_PER_BLOCK]
Variants, each on its own identically built stack:
  base        engine's _TrainingStack.train_step (numerics v1)
  adamflat    same, Adam = ATen _fused_adam_ over [flat] as one tensor
  compile-fb  inductor-compiled fwd+bwd (fused act + f'), Adam as adamflat
  compile-all inductor-compiled fwd+bwd+Adam
Prints compile (first-call) seconds per compiled variant, then medians of per-step ms.
"""
import sys, json
from common import *
from v2step import FusedStep, step_adam_flat
torch.set_num_threads(1)
ds, depth, width = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
reps = int(sys.argv[4]) if len(sys.argv) > 4 else 9
k = int(sys.argv[5]) if len(sys.argv) > 5 else 20
variants = (sys.argv[6] if len(sys.argv) > 6 else "base,adamflat,compile-fb,compile-all").split(",")
res = {"shape": f"{ds} d{depth} w{width}", "load_before": load(), "compile_s": {}}
with torch.no_grad():
    stacks = {v: build(ds, depth, width) for v in variants}
    bs = full_batches(stacks["base"], k)
    fns = {}
    for v in variants:
        st = stacks[v]
        if v == "base":
            fns[v] = st.train_step
        elif v == "adamflat":
            fns[v] = (lambda st: (lambda x: step_adam_flat(st, x)))(st)
        else:
            f = FusedStep(st, v)
            t = time.perf_counter(); f(bs[0]); res["compile_s"][v] = round(time.perf_counter() - t, 2)
            fns[v] = f
    for v in variants:  # warm-up
        for x in bs[:5]: fns[v](x)
    times = {v: [] for v in variants}
    for r in range(reps):
        for v in (variants if r % 2 == 0 else variants[::-1]):
            t = time.perf_counter()
            for x in bs: fns[v](x)
            times[v].append(1e3 * (time.perf_counter() - t) / len(bs))
    res["ms_per_step"] = {v: round(med(times[v]), 3) for v in variants}
    res["speedup_vs_base"] = {v: round(med(times["base"]) / med(times[v]), 3) for v in variants}
    res["load_after"] = load()
print(json.dumps(res))
