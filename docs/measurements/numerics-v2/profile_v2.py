"""Profile one variant (torch.profiler, one thread). usage: profile_v2.py DS DEPTH WIDTH MODE"""
import sys
from common import *
from v2step import FusedStep
torch.set_num_threads(1)
ds, depth, width, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
with torch.no_grad():
    st = build(ds, depth, width)
    f = FusedStep(st, mode) if mode != "base" else st.train_step
    bs = full_batches(st, 30)
    for x in bs[:10]: f(x)
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CPU]) as p:
        for x in bs[:20]: f(x)
    print(p.key_averages().table(sort_by="self_cpu_time_total", row_limit=18))
