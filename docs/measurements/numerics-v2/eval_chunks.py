"""Full-pass losses (stack.losses(), and measure()'s loss part) with evaluation chunks of
2 MiB (today), 1 MiB, 512 KiB per model: time (interleaved, medians) and bit-equality.
usage: eval_chunks.py DS DEPTH WIDTH [REPEATS]"""
import sys, json
from common import *
torch.set_num_threads(1)
ds, depth, width = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
reps = int(sys.argv[4]) if len(sys.argv) > 4 else 9
SIZES = {"2MiB": 2 << 20, "1MiB": 1 << 20, "512KiB": 512 << 10}
with torch.no_grad():
    st = build(ds, depth, width)
    for x in full_batches(st, 20): st.train_step(x)   # trained a little
    widest = max(max(i, o) for i, o in st.dims)
    rows = {k: st.padded_rows(max(1, b // (3 * widest * 4))) for k, b in SIZES.items()}
    vals, times, mtimes = {}, {k: [] for k in SIZES}, {k: [] for k in SIZES}
    for k in SIZES:
        st.eval_rows = rows[k]; vals[k] = st.losses(); st.losses()
    for r in range(reps):
        for k in (list(SIZES) if r % 2 == 0 else list(SIZES)[::-1]):
            st.eval_rows = rows[k]
            t = time.perf_counter(); st.losses(); times[k].append(1e3 * (time.perf_counter() - t))
            st.timings["losses"] = 0.0
            st.measure(2, 512); mtimes[k].append(1e3 * st.timings["losses"])  # measure()'s loss share
    same = {k: vals[k] == vals["2MiB"] for k in SIZES}
    print(json.dumps({"shape": f"{ds} d{depth} w{width}", "n_train_val": [st.x_train.shape[1], st.x_val.shape[1]],
        "eval_rows": rows, "losses_ms": {k: round(med(v), 2) for k, v in times.items()},
        "measure_losses_ms": {k: round(med(v), 2) for k, v in mtimes.items()},
        "speedup_losses": {k: round(med(times["2MiB"]) / med(times[k]), 3) for k in SIZES},
        "bit_identical_to_2MiB": same, "capability": torch.backends.cpu.get_cpu_capability(), "load": load()}))
