"""Numerics-v2 prototypes of the training step, on a _Stack's own buffers.

FusedStep(stack, mode):
  mode "compile-all":  forward + hand-written backward + Adam over the flat buffer, one
                       torch.compile(inductor) graph per stack shape; activations emit h and
                       f'(z) in one fused pass, backward is dz = dh * f'.
  mode "compile-fb":   forward + backward compiled; Adam = ATen _fused_adam_ on [flat] (one tensor).
  mode "eager-fb":     the same functional graph run eagerly (ATen, many small kernels) - a control.
adam_flat(stack): ATen fused Adam over the whole flat buffer as ONE tensor (v2 layout: every
  per-model block padded to 16 - the prototype skips the padding, see report).
"""
import math
import torch
from actcmp.engine.stack import BETA1, BETA2, EPS

SQRT1_2 = 0.7071067811865476
INV_SQRT_2PI = 0.3989422804014327


def act_fd(kind, p, z, slope):
    """(h, f'(z)) for one activation slice."""
    if kind == "relu":
        pos = z > 0
        return torch.where(pos, z, 0.0), pos.to(z.dtype)
    if kind == "leaky_relu":
        s = float(p["negative_slope"])
        pos = z > 0
        return torch.where(pos, z, z * s), torch.where(pos, 1.0, s)
    if kind == "prelu":
        pos = z > 0
        return torch.where(pos, z, z * slope), torch.where(pos, torch.ones_like(z), slope.expand_as(z))
    if kind == "elu":
        a = float(p["alpha"])
        pos = z > 0
        h = torch.where(pos, z, a * torch.expm1(z))
        return h, torch.where(pos, 1.0, h + a)
    if kind == "gelu":
        cdf = 0.5 * (1.0 + torch.erf(z * SQRT1_2))
        return z * cdf, cdf + z * (torch.exp(-0.5 * z * z) * INV_SQRT_2PI)
    if kind == "silu":
        s = torch.sigmoid(z)
        return z * s, s * (1.0 + z * (1.0 - s))
    if kind == "tanh":
        h = torch.tanh(z)
        return h, 1.0 - h * h
    if kind == "sigmoid":
        h = torch.sigmoid(z)
        return h, h * (1.0 - h)
    if kind == "identity":
        return z, None
    raise NotImplementedError(kind)


class FusedStep:
    def __init__(self, stack, mode="compile-all", v1adam=False):
        self.st = stack
        self.v1adam = v1adam  # Adam = the engine's v1 update (per-range tensors), for the bit tests
        self.mode = mode
        cfg = stack.runs[0].cfg
        assert all(r.cfg["optimizer"] == "adam" for r in stack.runs)
        assert len(stack.update_groups) == 1, "prototype: one update setting"
        self.lr, self.decay, _ = stack.update_groups[0]
        self.m = stack.size
        self.dims = stack.dims
        self.slices = [(s, e, a.kind, a.p) for s, e, a in stack.slices]
        self.out_kind = stack.out_act.kind
        self.sizes = [(i, o) for i, o in self.dims]
        self.hidden = len(self.dims) - 1
        self.with_slopes = stack.layout.with_slopes
        self.step_t = torch.zeros((), dtype=torch.float32)
        fn = self._step if mode != "eager-fb" else self._step
        if mode.startswith("compile"):
            self.fn = torch.compile(fn, dynamic=False, fullgraph=True)
        else:
            self.fn = fn

    # views of the flat buffer, in the layout's order
    def _views(self, flat):
        m = self.m
        Ws, bs = [], []
        off = 0
        for i, o in self.dims:
            Ws.append(flat[off:off + m * i * o].view(m, i, o)); off += m * i * o
            bs.append(flat[off:off + m * o].view(m, o)); off += m * o
        slopes = flat[off:off + m * self.hidden].view(m, self.hidden) if self.with_slopes else None
        return Ws, bs, slopes

    def _step(self, flat, exp_avg, exp_avg_sq, step_t, x, grad_out):
        m = self.m
        Ws, bs, slopes = self._views(flat)
        hs, ds, zs = [x], [], []
        h = x
        last = len(self.dims) - 1
        for layer, (W, b) in enumerate(zip(Ws, bs)):
            z = torch.baddbmm(b.unsqueeze(1), h, W)
            if layer == last:
                if self.out_kind == "sigmoid":
                    out = torch.sigmoid(z); dout_act = out * (1.0 - out)
                elif self.out_kind == "identity":
                    out = z; dout_act = None
                else:
                    raise NotImplementedError(self.out_kind)
                break
            parts_h, parts_d = [], []
            for s, e, kind, p in self.slices:
                slope = slopes[s:e, layer].view(-1, 1, 1) if kind == "prelu" else None
                hh, dd = act_fd(kind, p, z[s:e], slope)
                parts_h.append(hh); parts_d.append(dd)
            h = torch.cat(parts_h) if len(parts_h) > 1 else parts_h[0]
            d = torch.cat(parts_d) if len(parts_d) > 1 else parts_d[0]
            zs.append(z); hs.append(h); ds.append(d)
        n, dfeat = x.shape[1], x.shape[2]
        check = out.sum(dim=(1, 2))
        # MSE: d mean / d out (prototype: full batches, rows == n)
        g = (out - x) * (2.0 / (n * dfeat))
        dz = g * dout_act if dout_act is not None else g
        gWs, gbs = [None] * len(Ws), [None] * len(Ws)
        gslope = []
        for layer in range(last, -1, -1):
            gWs[layer] = torch.bmm(hs[layer].transpose(1, 2), dz)
            gbs[layer] = dz.sum(dim=1)
            if layer == 0:
                break
            dh = torch.bmm(dz, Ws[layer].transpose(1, 2))
            if self.with_slopes:
                zb = zs[layer - 1]
                parts = []
                for s, e, kind, p in self.slices:
                    if kind == "prelu":
                        parts.append((dh[s:e] * torch.clamp_max(zb[s:e], 0.0)).sum(dim=(1, 2)))
                    else:
                        parts.append(torch.zeros(e - s, dtype=zb.dtype))
                gslope.append(torch.cat(parts))
            dz = dh * ds[layer - 1]
        grads = []
        for gW, gb in zip(gWs, gbs):
            grads += [gW.reshape(-1), gb.reshape(-1)]
        if self.with_slopes:
            grads.append(torch.stack(gslope[::-1], dim=1).reshape(-1))
        grad = torch.cat(grads)
        if not self.mode.endswith("-all"):
            return grad, check
        # Adam (torch's single-tensor formulas, no weight decay)
        step = step_t + 1
        exp_avg.lerp_(grad, 1 - BETA1)
        exp_avg_sq.mul_(BETA2).addcmul_(grad, grad, value=1 - BETA2)
        bc1 = 1 - BETA1 ** step
        bc2 = 1 - BETA2 ** step
        denom = exp_avg_sq.sqrt() / bc2.sqrt() + EPS
        flat.sub_(exp_avg / denom * (self.lr / bc1))
        step_t.copy_(step)
        return None, check

    def __call__(self, x):
        st = self.st
        grad, check = self.fn(st.flat, st.state_a, st.state_b, self.step_t, x, None)
        bad = not math.isfinite(float(check.sum()))
        if not self.mode.endswith("-all"):
            st.grad.copy_(grad)
            if self.v1adam:
                st._update()
            else:
                adam_flat(st)
        st.steps += 1
        return bad


def adam_flat(st):
    """ATen's fused Adam over the flat buffer as one tensor."""
    st.step_count += 1
    (lr, decay, _), = st.update_groups
    torch._fused_adam_([st.flat], [st.grad], [st.state_a], [st.state_b], [], [st.step_count],
                       lr=lr, beta1=BETA1, beta2=BETA2, weight_decay=decay, eps=EPS,
                       amsgrad=False, maximize=False)


def step_adam_flat(st, x):
    """The engine's step with the update replaced by adam_flat."""
    orig = st._update
    st._update = lambda: adam_flat(st)
    try:
        return st.train_step(x)
    finally:
        st._update = orig
