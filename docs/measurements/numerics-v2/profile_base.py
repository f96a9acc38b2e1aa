"""Baseline step breakdown with torch.profiler (one thread)."""
import sys
from common import *
torch.set_num_threads(1)
ds, depth, width = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with torch.no_grad():
    st = build(ds, depth, width)
    bs = full_batches(st, 40)
    for b in bs[:10]: st.train_step(b)
    t = time.perf_counter()
    for b in bs: st.train_step(b)
    print(f"{ds} d{depth} w{width}: step {1e3*(time.perf_counter()-t)/len(bs):.2f} ms  load {load()}")
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CPU]) as p:
        for b in bs[:20]: st.train_step(b)
    print(p.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))
