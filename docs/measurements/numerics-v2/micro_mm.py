"""Matmul layouts for one layer of 24 models, B=64 rows: bmm (today), per-model mm loop,
one mm over a block-diagonal weight, and first-layer sharing (8 models per seed share x)."""
import time, statistics, os, torch
torch.set_num_threads(1)
def t(f, n=200):
    for _ in range(10): f()
    xs = []
    for _ in range(7):
        s = time.perf_counter()
        for _ in range(n): f()
        xs.append(1e6 * (time.perf_counter() - s) / n)
    return statistics.median(xs)
M, B = 24, 64
for i, o in ((64, 64), (35, 26), (256, 256)):
    h = torch.randn(M, B, i); W = torch.randn(M, i, o); out = torch.empty(M, B, o)
    Wbd = torch.block_diag(*W)                  # [M*i, M*o]
    hcat = h.transpose(0, 1).reshape(B, M * i)  # channels-last [B, M*i]
    ycat = torch.empty(B, M * o)
    r = {"bmm": t(lambda: torch.bmm(h, W, out=out)),
         "mm loop": t(lambda: [torch.mm(h[k], W[k], out=out[k]) for k in range(M)]),
         "block-diag mm": t(lambda: torch.mm(hcat, Wbd, out=ycat), n=20)}
    x = torch.randn(3, B, i); Wseed = W.view(3, 8, i, o).permute(0, 2, 1, 3).reshape(3, i, 8 * o)
    r["layer0 shared x (3 seeds x [i, 8o])"] = t(lambda: torch.bmm(x, Wseed))
    print(f"[{M}x{B}x{i}]@[{i}x{o}] us:", {k: round(v, 1) for k, v in r.items()},
          "bmm GFLOP/s %.1f" % (2 * M * B * i * o / r["bmm"] / 1e3), os.getloadavg())
