"""Per-call cost of each activation's v1 kernels (fwd, bwd) on one slice [3, 64, w], and of
ATen-only v2 alternatives (ELU backward from its result; GELU backward composed)."""
import sys, time, statistics, os, torch
torch.set_num_threads(1)
aten = torch.ops.aten
def t(f, n=400):
    for _ in range(20): f()
    xs = []
    for _ in range(7):
        s = time.perf_counter()
        for _ in range(n): f()
        xs.append(1e6 * (time.perf_counter() - s) / n)
    return statistics.median(xs)
for w in (64, 26):
    z = torch.randn(3, 64, w); dh = torch.randn(3, 64, w); out = torch.empty_like(z)
    h_elu = torch.nn.functional.elu(z)
    r = {}
    r["gelu fwd"] = t(lambda: torch._C._nn.gelu(z, out=out))
    r["gelu bwd v1"] = t(lambda: aten.gelu_backward.grad_input(dh, z, grad_input=out))
    def gelu_composed():
        cdf = torch.erf(z * 0.7071067811865476).add_(1).mul_(0.5)
        pdf = torch.exp(z * z * -0.5).mul_(0.3989422804014327)
        torch.mul(dh, pdf.mul_(z).add_(cdf), out=out)
    r["gelu bwd composed"] = t(gelu_composed)
    r["elu fwd"] = t(lambda: torch._C._nn.elu(z, 1.0, 1, 1, out=out))
    r["elu bwd v1 (from z)"] = t(lambda: aten.elu_backward.grad_input(dh, 1.0, 1, 1, False, z, grad_input=out))
    r["elu bwd from h"] = t(lambda: aten.elu_backward.grad_input(dh, 1.0, 1, 1, True, h_elu, grad_input=out))
    r["silu bwd"] = t(lambda: aten.silu_backward.grad_input(dh, z, grad_input=out))
    r["tanh fwd"] = t(lambda: torch.tanh(z, out=out))
    r["relu fwd"] = t(lambda: torch.clamp_min(z, 0, out=out))
    r["mul (dh*f')"] = t(lambda: torch.mul(dh, z, out=out))
    print(f"[3,64,{w}] us/call:", {k: round(v, 1) for k, v in r.items()}, os.getloadavg())
