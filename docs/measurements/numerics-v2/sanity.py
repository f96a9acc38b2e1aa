"""Does the fused step train like the engine (close, not equal)? And cold compile time."""
import sys
from common import *
from v2step import FusedStep
torch.set_num_threads(1)
ds, depth, width, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
with torch.no_grad():
    a = build(ds, depth, width); b = build(ds, depth, width)
    f = FusedStep(b, mode)
    bs = full_batches(a, 30)
    t = time.perf_counter(); f(bs[0]); print(f"first call (compile) {time.perf_counter()-t:.1f} s")
    a.train_step(bs[0])
    for x in bs[1:]:
        a.train_step(x); f(x)
    diff = (a.flat - b.flat).abs().max().item(); rel = diff / a.flat.abs().max().item()
    print(f"{ds} d{depth} w{width} {mode}: max|dflat| after 30 steps {diff:.3e} (rel {rel:.1e})")
