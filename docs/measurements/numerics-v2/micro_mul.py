import sys
from common import *
torch.set_num_threads(1)
out = torch.rand(24,64,64); y = torch.rand(24,64,64)
scale = torch.ones(())/64
def t(f, n=200):
    f(); s=time.perf_counter()
    for _ in range(n): f()
    return 1e6*(time.perf_counter()-s)/n
print("sub", t(lambda: out-y))
d = out-y
print("2*d", t(lambda: 2*d))
print("d*0dim", t(lambda: d*(scale/64)))
print("d*float", t(lambda: d*float(scale/64)))
print("full", t(lambda: (2 * (out - y)) * (scale / 64)))
print(load())
