"""One kernel family (set ATEN_CPU_CAPABILITY before running): train N steps under several
stack compositions and save each watched model's final parameter row.

usage: bits_run.py DS DEPTH WIDTH VARIANT OUTFILE [STEPS]
VARIANT: base | adamflat | compile-fb-v1adam | compile-all | eager-fb-v1adam
Compositions: sorted24 (engine order), shuffled24 (random order: slices of 1-2 models),
single:<i> (model i alone) for the watched models."""
import sys
from common import *
from v2step import FusedStep, step_adam_flat
torch.set_num_threads(1)
ds, depth, width, variant, outfile = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
steps = int(sys.argv[6]) if len(sys.argv) > 6 else 30
# config index = act*3 + seed  (ACTS order); watch prelu/s2, gelu/s1, tanh/s0, relu/s0
WATCH = [ACTS.index("prelu") * 3 + 2, ACTS.index("gelu") * 3 + 1, ACTS.index("tanh") * 3 + 0, ACTS.index("relu") * 3]

def stepper(st):
    if variant == "base": return st.train_step
    if variant == "adamflat": return lambda x: step_adam_flat(st, x)
    if variant.endswith("-v1adam"): return FusedStep(st, variant[: -len("-v1adam")], v1adam=True)
    return FusedStep(st, variant)

out = {"capability": torch.backends.cpu.get_cpu_capability(), "rows": {}}
comps = [("sorted24", None, "sorted"), ("shuffled24", None, "shuffled")] + [(f"single:{i}", [i], "sorted") for i in WATCH]
with torch.no_grad():
    for name, select, order in comps:
        st = build(ds, depth, width, select=select, order=order)
        f = stepper(st)
        t = time.perf_counter()
        for x in full_batches(st, steps):
            f(x)
        pos = positions(st)
        out["rows"][name] = {p: st.row(j).clone() for j, p in enumerate(pos) if p in WATCH}
        print(name, f"{time.perf_counter()-t:.1f}s", flush=True)
torch.save(out, outfile)
