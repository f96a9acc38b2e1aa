"""Fused Adam: same inputs in the vector body and in the scalar tail -> same bits? 
Each trial: a tensor of 16+15 elements whose last 15 (tail of 31 = 3*8+7 for AVX2 vectors;
the 16-unit tail for the cache-line unit) repeat the first 15; 20000 trials, several steps."""
import torch
g = torch.Generator().manual_seed(0)
T, n = 20000, 31
vals = [torch.randn(T, 15, generator=g) for _ in range(4)]
diff = 0; tot = 0
for step in (1.0, 2.0, 10.0, 1000.0):
    for t in range(0, T, 1):
        pass
    # batch it: one call per trial is slow; use per-trial tensors in one list call
    P, G, A, B = [], [], [], []
    for t in range(T):
        p, gr, a, b = (v[t] for v in vals)
        P.append(torch.cat([p, p[:1], p])); G.append(torch.cat([gr, gr[:1], gr]) * 1e-3)
        A.append(torch.cat([a, a[:1], a]) * 1e-3); B.append(torch.cat([b, b[:1], b]).abs() * 1e-6)
    torch._fused_adam_(P, G, A, B, [], [torch.tensor(step)] * T, lr=1e-3, beta1=0.9, beta2=0.999, weight_decay=0.0, eps=1e-8, amsgrad=False, maximize=False)
    for x in (P, A, B):
        X = torch.stack(x)
        d = (X[:, :15].view(torch.int32) != X[:, 16:].view(torch.int32))
        diff += int(d.sum()); tot += d.numel()
print(torch.backends.cpu.get_cpu_capability(), f"elements whose tail result differs from the same inputs in the vector body: {diff} of {tot}")
