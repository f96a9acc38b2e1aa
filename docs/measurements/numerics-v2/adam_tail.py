"""Does ATen's fused Adam give an element different bits in the vector body than in the
scalar tail / at another offset? (kernel-level check behind 'pad Adam blocks to 16')"""
import torch
torch.manual_seed(0)
def run(n, off):
    g = torch.Generator().manual_seed(1)
    p, gr, a, b = (torch.randn(1024, generator=g)[:n] for _ in range(4)); b = b.abs() * 1e-3; gr = gr * 1e-3
    P, G, A, B = (torch.zeros(off + n) for _ in range(4))
    for T, t in ((P, p), (G, gr), (A, a), (B, b)): T[off:] = t
    P, G, A, B = P[off:], G[off:], A[off:], B[off:]   # same values, shifted start
    st = torch.tensor(3.0)
    torch._fused_adam_([P], [G], [A], [B], [], [st], lr=1e-3, beta1=0.9, beta2=0.999, weight_decay=0.0, eps=1e-8, amsgrad=False, maximize=False)
    return P
base = run(1024, 0)
for n, off in ((1024, 3), (1024, 16), (1021, 0), (1013, 0), (1024, 5)):
    r = run(n, off); k = min(n, 1024)
    eq = (r[:k].view(torch.int32) == base[:k].view(torch.int32))
    print(f"n={n} offset={off}: elements differing from the 1024-long aligned run: {int((~eq).sum())} at {torch.nonzero(~eq).flatten().tolist()[:8]}")
print(torch.backends.cpu.get_cpu_capability())
