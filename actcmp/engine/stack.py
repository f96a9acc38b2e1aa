"""The models of a stack while they train: setup, forward, backward, the optimizer step.

:class:`_TrainingStack` holds the models still training (all with the same optimizer) in
flat buffers (:class:`~actcmp.engine.layout._Layout`); its forward and backward passes run
every model at once, or one activation slice alone for the measurements, which
:class:`~actcmp.engine.measure._Stack` adds.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from actcmp.core.activations import parse_activation
from actcmp.core.model import cfg_dims, cfg_init_tensors
from actcmp.core.variants import penalised_layers
from actcmp.engine.kernels import _Act, _prelu_input_grad, loss_grad, per_sample_losses
from actcmp.engine.layout import _LayerPlan, _Layout, _Run, _runs_of
from actcmp.engine.memory import EVAL_CHUNK_BYTES

#: torch.optim.Adam / AdamW defaults, which ``engine.make_optimizer`` keeps.
BETA1, BETA2, EPS = 0.9, 0.999, 1e-8
#: A matmul whose output has fewer columns than this (and fewer than the other way round)
#: is computed transposed: MKL is several times slower on very narrow outputs.
NARROW = 32
#: Activation-shaped buffers hold a multiple of this many elements per model (rows are
#: padded): two AVX-512 vectors of float32, so that no element falls into the scalar tail
#: loop of an elementwise kernel, whatever the model's place in the stack.
SLOT = 64
#: The most models a measurement pass (full-pass losses, layer metrics) runs at once; see
#: ``_TrainingStack.parts``. A model's numbers do not depend on it (tested). Measured on an
#: 80-model stack (mnist1d, depth 4, 10 models per activation): full-pass losses 235 ms with
#: 2 or 4 models a pass, 377 ms with the whole slice of 10, 262 ms one at a time.
MEASURE_MODELS = 4
#: Output activations whose values lie in [-1, 1] (NaN aside), whatever their input.
BOUNDED_OUTPUTS = ("sigmoid", "tanh", "softmax")
#: With such an output and training data no larger than this in magnitude, a batch's MSE
#: cannot overflow (squares below 1e13, means of them), in float32 or float64.
MSE_TARGET_BOUND = 1e6


class _TrainingStack:
    """The models still training, stacked (all with the same optimizer): parameters,
    forward, backward and the update; :class:`~actcmp.engine.measure._Stack` adds the
    measurements."""

    def __init__(self, runs: list[_Run], dev: torch.device, dtype: torch.dtype) -> None:
        cfg0 = runs[0].cfg
        self.runs = runs
        self.dev, self.dtype = dev, dtype
        self.kind = cfg0["loss"]
        self.optimizer = cfg0["optimizer"]
        if any(r.cfg["optimizer"] != self.optimizer for r in runs):
            raise ValueError("one optimizer per stack")
        self.n_features = runs[0].data.x_train.shape[1]
        self.dims = cfg_dims(cfg0, self.n_features)
        #: the L1 activity penalty (equal in a group, see ``sweep.GROUP_KEYS``): hidden layers, coefficient
        self.penalty_layers = set(penalised_layers(cfg0))
        self.penalty_coef = float(cfg0.get("activity_l1", 0.0))
        self.acts: dict[str, _Act] = {}
        for run in runs:
            if run.spec.canonical not in self.acts:
                self.acts[run.spec.canonical] = _Act(run.spec, dtype, dev)
        self.layout = _Layout(self.dims, any(self.acts[r.spec.canonical].kind == "prelu" for r in runs))
        self.out_act = _Act(parse_activation(cfg0["output_activation"], hidden=False), dtype, dev, hidden=False)
        self._stack_data()
        #: rows are padded to a multiple of this, so that every activation-shaped buffer
        #: holds a multiple of SLOT elements per model (see :meth:`pad`)
        widths = [self.n_features] + [fan_out for _, fan_out in self.dims]
        self.row_step = max(SLOT // math.gcd(SLOT, w) for w in widths)
        widest = max(max(i, o) for i, o in self.dims)
        self.eval_rows = self.padded_rows(max(1, EVAL_CHUNK_BYTES // (3 * widest * torch.finfo(dtype).bits // 8)))
        m, size = len(runs), self.layout.size
        self.flat = torch.zeros(m * size, dtype=dtype, device=dev)
        for model, run in enumerate(runs):
            self.layout.fill(self.flat, m, model, self._initial_row(run))
        self.grad = torch.zeros_like(self.flat)
        self.state_a = torch.zeros_like(self.flat)  # exp_avg, or the momentum buffer
        self.state_b = torch.zeros_like(self.flat)  # exp_avg_sq
        self.scratch = torch.empty_like(self.flat)
        self.steps = 0
        self.step_count = torch.zeros((), dtype=torch.float32, device=dev)  # the fused optimizer's
        #: dead masks of the last measurement, ``[M, units of all hidden layers]``
        self.previous: torch.Tensor | None = None
        units = [fan_out for _, fan_out in self.dims[:-1]]
        self.units_per_layer = torch.tensor(units, dtype=torch.float64, device=dev)
        self.unit_layer = torch.repeat_interleave(torch.arange(len(units), device=dev), torch.tensor(units, device=dev))
        #: seconds spent: full-pass losses (the probe forward included), probe extras
        #: (gradient norms, layer metrics); train_group adds training and finishing
        self.timings = {"losses": 0.0, "probe": 0.0}
        self._refresh()
        # bounded outputs and finite data: the minibatch loss is finite exactly when the
        # output has no NaN, which is cheaper to check than the loss itself. MSE: where the
        # output activation is bounded by 1 and the targets (the clean training data) by
        # MSE_TARGET_BOUND, no square or sum of the loss can overflow, so the loss of a
        # model's batch rows is finite exactly when those rows of its output have no NaN
        finite = bool(torch.isfinite(self.x_train).all())
        self.nan_check_only = finite and self.kind in ("bce", "ce")
        if finite and self.kind == "mse" and self.out_act.kind in BOUNDED_OUTPUTS and self.x_train.numel():
            self.nan_check_only = float(self.x_train.abs().max()) <= MSE_TARGET_BOUND

    # setup -----------------------------------------------------------------------------------
    def _stack_data(self) -> None:
        """Unique splits ``[S, n, d]`` (runs sharing a seed share one) and each run's slot."""
        slots: list[tuple[int, Any]] = []
        index: list[int] = []
        for run in self.runs:
            data = run.data
            for slot, (seed, other) in enumerate(slots):
                if (
                    seed == run.cfg["seed"]
                    and other.x_train.shape == data.x_train.shape
                    and (
                        other is data
                        or (torch.equal(other.x_train, data.x_train) and torch.equal(other.x_val, data.x_val))
                    )
                ):
                    index.append(slot)
                    break
            else:
                index.append(len(slots))
                slots.append((run.cfg["seed"], data))
        shapes = {(tuple(d.x_train.shape), tuple(d.x_val.shape)) for _, d in slots}
        if len(shapes) != 1:
            raise ValueError(f"runs of one group must have equal split sizes, got {sorted(shapes)}")
        self.slot_seeds = [seed for seed, _ in slots]
        self.x_train = torch.stack([d.x_train for _, d in slots]).to(self.dev)
        self.x_val = torch.stack([d.x_val for _, d in slots]).to(self.dev)
        self.slot = torch.tensor(index, dtype=torch.long, device=self.dev)

    def _initial_row(self, run: _Run) -> torch.Tensor:
        parts: list[torch.Tensor] = []
        run.initial = cfg_init_tensors(run.cfg, self.dims, run.spec, self.dtype)
        for weight, bias in run.initial:
            parts += [weight.t().reshape(-1), bias]
        if self.layout.with_slopes:
            slopes = torch.zeros(self.layout.hidden, dtype=self.dtype)
            act = self.acts[run.spec.canonical]
            if act.kind == "prelu":
                # nn.PReLU keeps its init in float32 before the plain engine casts the model
                slope = act.module.weight
                assert isinstance(slope, torch.Tensor)
                slopes.fill_(float(slope.detach().reshape(-1)[0]))
            parts.append(slopes)
        return torch.cat(parts).to(self.dev)

    def _refresh(self) -> None:
        """Views, activation slices, layer plans and per-model settings for the current models."""
        m, dev = self.size, self.dev
        self.W, self.b, self.slopes = self.layout.views(self.flat, m)
        self.gW, self.gb, self.gslopes = self.layout.views(self.grad, m)
        self.slices = [(s, e, self.acts[key]) for s, e, key in _runs_of([r.spec.canonical for r in self.runs])]
        self.plans = self._plans(0, m, self.slices, self.gW, self.gb)
        #: what the measurements run one at a time: the activation slices, cut into parts of
        #: at most MEASURE_MODELS models (a full pass holds up to EVAL_CHUNK_BYTES of
        #: activations per model: more models at once fall out of the cache)
        self.parts = [
            (start, min(start + MEASURE_MODELS, e), act)
            for s, e, act in self.slices
            for start in range(s, e, MEASURE_MODELS)
        ]
        self._part_plans: dict[int, list[_LayerPlan]] = {}
        #: per padded minibatch row count, the training step's buffers (:class:`_StepBuffers`)
        self._step_buffers: dict[int, _StepBuffers] = {}
        limits = [r.cfg["saturation_threshold"] * self.acts[r.spec.canonical].peak for r in self.runs]
        self.limit = torch.tensor(limits, dtype=torch.float64, device=dev)
        #: per measurement part, its limit in the pre-activations' dtype (what _Act.counts
        #: compares with): a Python number where its models agree, else ``[m, 1, 1]``
        self.slice_limits: list[float | torch.Tensor] = []
        for s, e, _ in self.parts:
            own = torch.tensor(limits[s:e], dtype=self.dtype)
            self.slice_limits.append(float(own[0]) if len(set(limits[s:e])) == 1 else own.to(dev).view(-1, 1, 1))
        self.share = torch.tensor([r.cfg["saturation_share"] for r in self.runs], dtype=torch.float64, device=dev)
        #: the update settings of the stack's models: ``(lr, weight decay, momentum)``, each
        #: with its runs of consecutive models ``(start, stop)``. The models of one setting are
        #: updated by one call with its own scalar settings over the ranges of all its runs
        #: (:meth:`_Layout.ranges`: each model's elements processed as when it is alone), so a
        #: model's update depends neither on which other settings share its stack nor on how
        #: the activation slices cut its setting's models into runs
        spans: dict[tuple[float, float, float], list[tuple[int, int]]] = {}
        for s, e, key in _runs_of([_update_key(r.cfg) for r in self.runs]):
            spans.setdefault(key, []).append((s, e))
        self.update_groups = list(spans)
        #: per update setting, the tensors of the parameters, gradients and both states
        self.update_tensors = [
            [
                [t for s, e in spans[key] for t in self.layout.ranges(buf, m, s, e)]
                for buf in (self.flat, self.grad, self.state_a, self.state_b)
            ]
            for key in self.update_groups
        ]

    def _plans(
        self,
        start: int,
        stop: int,
        slices: list[tuple[int, int, _Act]],
        grad_w: list[torch.Tensor] | None,
        grad_b: list[torch.Tensor] | None,
    ) -> list[_LayerPlan]:
        """Layer plans for models ``start:stop`` (``slices`` in stack coordinates)."""
        plans = []
        for layer, (fan_in, fan_out) in enumerate(self.dims):
            weight, bias = self.W[layer][start:stop], self.b[layer][start:stop]
            acts = []
            if layer < self.layout.hidden:
                for s, e, act in slices:
                    slope = grad_slope = None
                    if act.kind == "prelu" and self.slopes is not None and self.gslopes is not None:
                        slope = self.slopes[s:e, layer].view(-1, 1, 1)
                        grad_slope = self.gslopes[s:e, layer]
                    acts.append((s - start, e - start, act, slope, grad_slope))
            plans.append(
                _LayerPlan(
                    W=weight,
                    Wt=weight.transpose(1, 2),
                    b_row=bias.unsqueeze(1),
                    b_col=bias.unsqueeze(2),
                    gW=None if grad_w is None else grad_w[layer][start:stop],
                    gb=None if grad_b is None else grad_b[layer][start:stop],
                    narrow_out=fan_out < NARROW and fan_out < fan_in,
                    acts=acts,
                )
            )
        return plans

    def part_plans(self, part: int) -> list[_LayerPlan]:
        """Layer plans for measurement part ``part`` alone (no gradient buffers)."""
        if part not in self._part_plans:
            s, e, act = self.parts[part]
            self._part_plans[part] = self._plans(s, e, [(s, e, act)], None, None)
        return self._part_plans[part]

    def keep(self, rows: list[int]) -> None:
        """Drop every model not in ``rows`` (ascending) from the stack."""
        m = self.size
        index = torch.tensor(rows, dtype=torch.long, device=self.dev)
        self.flat, self.grad = self.layout.take(self.flat, m, index), self.layout.take(self.grad, m, index)
        self.state_a, self.state_b = self.layout.take(self.state_a, m, index), self.layout.take(self.state_b, m, index)
        self.scratch = torch.empty_like(self.flat)
        self.slot = self.slot[index]
        if self.previous is not None:
            self.previous = self.previous[index]
        self.runs = [self.runs[i] for i in rows]
        self._refresh()

    @property
    def size(self) -> int:
        return len(self.runs)

    def row(self, model: int) -> torch.Tensor:
        return self.layout.row(self.flat, self.size, model)

    def row_masks(self, model: int) -> list[torch.Tensor] | None:
        """A model's dead masks per hidden layer, as ``engine.Probe`` keeps them."""
        if self.previous is None:
            return None
        return list(self.previous[model].split([fan_out for _, fan_out in self.dims[:-1]]))

    # forward / backward ------------------------------------------------------------------------
    # Every model at once (``part`` None), or one measurement part alone (``part``: some
    # models of one activation slice, see ``parts``; the measurements use this). Each
    # activation writes its slice of one output buffer in the layout of z. Inputs come with their rows padded (:meth:`pad`), so that every
    # activation-shaped buffer holds a multiple of ``SLOT`` elements per model: an
    # elementwise kernel then runs every element through its vectorised path, whatever the
    # other models and the slice boundaries are (a slice boundary inside a SIMD vector
    # would send some elements through the scalar tail loop, which rounds differently).
    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """``x [m, n, d]`` with zero rows appended up to :meth:`padded_rows`."""
        n = x.shape[1]
        rows = self.padded_rows(n)
        if rows == n:
            return x.contiguous()
        out = x.new_zeros(x.shape[0], rows, x.shape[2])
        out[:, :n] = x
        return out

    def padded_rows(self, n: int) -> int:
        return -(-n // self.row_step) * self.row_step

    def forward(
        self, x: torch.Tensor, save: bool, need_grad: bool = False, part: int | None = None
    ) -> tuple[torch.Tensor, list[Any]]:
        """Reconstruction ``[m, n, d]``; with ``save``, per layer ``(input, z, h, saved)``:
        what backward and the measurements need (``saved``: per activation slice)."""
        plans = self.plans if part is None else self.part_plans(part)
        if part is None and save:
            return self._train_forward(x, need_grad)
        last = len(plans) - 1
        record: list[Any] = []
        h = x
        for layer, plan in enumerate(plans):
            if plan.narrow_out:  # few output columns: compute z^T = W^T h^T
                z = torch.baddbmm(plan.b_col, plan.Wt, h.transpose(1, 2)).transpose(1, 2)
            else:
                z = torch.baddbmm(plan.b_row, h, plan.W)
            h_new = torch.empty_like(z)  # z's layout
            if layer == last:
                keep = self.out_act.fwd(z, None, need_grad, h_new)
                if save:
                    record.append((h, z, h_new, [keep]))
                return h_new, record
            kept = [act.fwd(z[s:e], slope, need_grad, h_new[s:e]) for s, e, act, slope, _ in plan.acts]
            if save:
                record.append((h, z, h_new, kept))
            h = h_new
        raise AssertionError("unreachable")

    def backward(
        self,
        record: list[Any],
        dout: torch.Tensor,
        part: int | None = None,
        grads: tuple[list[torch.Tensor], list[torch.Tensor]] | None = None,
        derivs: list[torch.Tensor | None] | None = None,
        penalty_rows: int | None = None,
    ) -> None:
        """Gradients of the summed per-model losses: into the training buffers (weights,
        biases, PReLU slopes) or, given ``grads``, into those weight and bias tensors.

        ``penalty_rows`` (training): the minibatch's real rows; the L1 activity penalty's
        gradient (coefficient / rows * sign(h), as autograd computes it for
        :func:`~actcmp.core.variants.activity_penalty`) joins dh of each penalised layer.

        ``derivs`` (one activation slice, ``grads`` given): f'(z) of each hidden layer, or
        None; where given, dz = dh * f'(z) replaces the activation's backward kernel (the
        probe has f' already; the kernels compute dh times the same f')."""
        plans = self.plans if part is None else self.part_plans(part)
        assert derivs is None or (part is not None and grads is not None)
        if part is None and grads is None:
            self._train_backward(record, dout, penalty_rows)
            return
        last = len(plans) - 1
        _, z_out, out, kept_out = record[last]
        dz = torch.empty_like(z_out)
        self.out_act.bwd(dout, z_out, out, kept_out[0], None, dz)
        for layer in range(last, -1, -1):
            plan = plans[layer]
            h_in = record[layer][0]
            grad_w = plan.gW if grads is None else grads[0][layer]
            grad_b = plan.gb if grads is None else grads[1][layer]
            assert grad_w is not None and grad_b is not None
            if plan.narrow_out:
                grad_w.copy_(torch.bmm(dz.transpose(1, 2), h_in).transpose(1, 2))
            else:
                torch.bmm(h_in.transpose(1, 2), dz, out=grad_w)
            torch.sum(dz, dim=1, out=grad_b)
            if layer == 0:
                return
            if plans[layer - 1].narrow_out:  # dh in the layout of z (and h, f') below
                dh = torch.bmm(plan.W, dz.transpose(1, 2)).transpose(1, 2)
            else:
                dh = torch.bmm(dz, plan.Wt)
            _, z_below, h_below, kept = record[layer - 1]
            if penalty_rows is not None and layer - 1 in self.penalty_layers:
                scale = torch.full((), self.penalty_coef, dtype=dh.dtype, device=dh.device) / penalty_rows
                dh[:, :penalty_rows] += torch.sign(h_below[:, :penalty_rows]) * scale
            given = None if derivs is None else derivs[layer - 1]
            if given is not None:
                dz = torch.mul(dh, given)
                continue
            dz = torch.empty_like(z_below)
            for (s, e, act, slope, grad_slope), keep in zip(plans[layer - 1].acts, kept, strict=True):
                if grads is not None and act.kind == "prelu" and slope is not None:  # no slope gradient wanted
                    dz[s:e] = _prelu_input_grad(dh[s:e], z_below[s:e], slope)
                    continue
                dslope = act.bwd(dh[s:e], z_below[s:e], h_below[s:e], keep, slope, dz[s:e])
                if dslope is not None and grad_slope is not None and grads is None:
                    torch.sum(dslope, dim=(1, 2), out=grad_slope)

    # the training step's passes: the same kernels on the same values as :meth:`forward` and
    # :meth:`backward`, into buffers allocated once per stack and minibatch size, with every
    # activation slice's views made once (a step otherwise spends a good share of its time
    # allocating buffers and slicing them per activation)
    def step_buffers(self, rows: int) -> _StepBuffers:
        """The buffers of a training step on ``rows`` (padded) rows per model."""
        if rows not in self._step_buffers:
            self._step_buffers[rows] = _StepBuffers(self.plans, self.size, rows, self.dtype, self.dev)
        return self._step_buffers[rows]

    def _train_forward(self, x: torch.Tensor, need_grad: bool) -> tuple[torch.Tensor, list[Any]]:
        """:meth:`forward` of every model with ``save``, into the step's buffers."""
        plans = self.plans
        bufs = self.step_buffers(x.shape[1])
        last = len(plans) - 1
        record: list[Any] = []
        h = x
        for layer, plan in enumerate(plans):
            z = bufs.z[layer]
            if plan.narrow_out:  # few output columns: compute z^T = W^T h^T
                torch.baddbmm(plan.b_col, plan.Wt, h.transpose(1, 2), out=bufs.z_store[layer])
            else:
                torch.baddbmm(plan.b_row, h, plan.W, out=z)
            h_new = bufs.h[layer]
            if layer == last:
                keep = self.out_act.fwd(z, None, need_grad, h_new)
                record.append((h, z, h_new, [keep]))
                return h_new, record
            kept = [fwd(z_s, slope, need_grad, h_s) for fwd, z_s, slope, h_s in bufs.forward[layer]]
            record.append((h, z, h_new, kept))
            h = h_new
        raise AssertionError("unreachable")

    def _train_backward(self, record: list[Any], dout: torch.Tensor, penalty_rows: int | None) -> None:
        """:meth:`backward` into the training buffers, with the step's buffers."""
        plans = self.plans
        last = len(plans) - 1
        _, z_out, out, kept_out = record[last]
        bufs = self.step_buffers(z_out.shape[1])
        dz = bufs.dz[last]
        self.out_act.bwd(dout, z_out, out, kept_out[0], None, dz)
        for layer in range(last, -1, -1):
            plan = plans[layer]
            h_in = record[layer][0]
            grad_w, grad_b = plan.gW, plan.gb
            assert grad_w is not None and grad_b is not None
            if plan.narrow_out:
                grad_w.copy_(torch.bmm(dz.transpose(1, 2), h_in, out=bufs.gw_store[layer]).transpose(1, 2))
            else:
                torch.bmm(h_in.transpose(1, 2), dz, out=grad_w)
            torch.sum(dz, dim=1, out=grad_b)
            if layer == 0:
                return
            dh = bufs.dh[layer - 1]  # dh in the layout of z (and h, f') below
            if plans[layer - 1].narrow_out:
                torch.bmm(plan.W, dz.transpose(1, 2), out=bufs.dh_store[layer - 1])
            else:
                torch.bmm(dz, plan.Wt, out=dh)
            _, _, h_below, kept = record[layer - 1]
            if penalty_rows is not None and layer - 1 in self.penalty_layers:
                scale = torch.full((), self.penalty_coef, dtype=dh.dtype, device=dh.device) / penalty_rows
                dh[:, :penalty_rows] += torch.sign(h_below[:, :penalty_rows]) * scale
            for (bwd, dh_s, z_s, h_s, dz_s, slope, grad_slope), keep in zip(
                bufs.backward[layer - 1], kept, strict=True
            ):
                dslope = bwd(dh_s, z_s, h_s, keep, slope, dz_s)
                if dslope is not None and grad_slope is not None:
                    torch.sum(dslope, dim=(1, 2), out=grad_slope)
            dz = bufs.dz[layer - 1]

    # training ---------------------------------------------------------------------------------------
    def train_step(self, x: torch.Tensor, target: torch.Tensor | None = None) -> list[tuple[int, torch.Tensor]]:
        """One minibatch ``x [M, B, d]`` (each model's own rows) for every model; ``target``
        (same shape) when the input is corrupted, else ``x`` itself.

        Returns ``(model, its parameters before this step)`` for each model whose loss was
        not finite; the caller drops them (their update here is garbage, and only theirs).
        """
        rows = x.shape[1]
        x = self.pad(x)
        y = x if target is None else self.pad(target)
        out, record = self.forward(x, save=True, need_grad=True)
        if self.nan_check_only:  # NaN exactly where the loss would not be finite
            check = out[:, :rows].sum(dim=(1, 2))  # the batch's rows (the padding rows are no loss)
        else:
            check = per_sample_losses(out, y, self.kind)[:, :rows].mean(dim=1)
        if self.penalty_layers:  # the plain engine tests loss + L1 penalty: a penalty that overflows counts
            penalty = [record[layer][2][:, :rows].abs().sum(dim=2).mean(dim=1) for layer in sorted(self.penalty_layers)]
            check = check + self.penalty_coef * torch.stack(penalty).sum(dim=0)
        bad: list[tuple[int, torch.Tensor]] = []
        if not math.isfinite(float(check.sum())):
            for model in torch.nonzero(~torch.isfinite(check)).flatten().tolist():
                bad.append((model, self.row(model)))
        self.backward(record, loss_grad(out, y, self.kind, rows), penalty_rows=rows if self.penalty_layers else None)
        self.steps += 1
        self._update()
        return bad

    def _update(self) -> None:
        """torch.optim's update, one call per update setting, over the parameter ranges of
        that setting's models in every activation slice: Adam/AdamW through torch's fused
        kernel (what ``torch.optim.Adam(fused=True)`` runs; an ulp from the single-tensor
        path the plain engine runs), SGD through the single-tensor formulas."""
        if self.optimizer in ("adam", "adamw"):
            self.step_count += 1  # what torch.optim does before its fused kernel
            fused = torch._fused_adamw_ if self.optimizer == "adamw" else torch._fused_adam_
        elif self.optimizer != "sgd":
            raise ValueError(f"unknown optimizer {self.optimizer!r}")
        for (lr, decay, momentum), tensors in zip(self.update_groups, self.update_tensors, strict=True):
            params, grads, state_a, state_b = tensors
            if self.optimizer != "sgd":
                fused(
                    params, grads, state_a, state_b, [], [self.step_count] * len(params),
                    lr=lr, beta1=BETA1, beta2=BETA2, weight_decay=decay, eps=EPS, amsgrad=False, maximize=False,
                )  # fmt: skip
                continue
            if decay:
                grads = [g.add(p, alpha=decay) for g, p in zip(grads, params, strict=True)]
            if momentum:
                for buf, g in zip(state_a, grads, strict=True):
                    if self.steps == 1:
                        buf.copy_(g)
                    else:
                        buf.mul_(momentum).add_(g)
                grads = state_a
            for param, g in zip(params, grads, strict=True):
                param.add_(g, alpha=-lr)


def _update_key(cfg: dict[str, Any]) -> tuple[float, float, float]:
    """The update settings a model shares with the others of its optimizer call."""
    return (float(cfg["lr"]), float(cfg["weight_decay"]), float(cfg["momentum"]))


class _StepBuffers:
    """What one training step writes, per layer, for ``m`` models and ``rows`` padded rows:
    ``z``, ``h = f(z)``, ``dz`` and the ``dh`` coming down into it, all in the layout the
    allocating passes give them (``z`` transposed where the layer is ``narrow_out``; its
    contiguous storage in ``z_store``, what the matmul writes), and per activation slice
    its views of them: ``forward[layer]`` ``(fwd, z, slope, h)``, ``backward[layer]``
    ``(bwd, dh, z, h, dz, slope, slope gradient)``."""

    def __init__(self, plans: list[_LayerPlan], m: int, rows: int, dtype: torch.dtype, dev: torch.device) -> None:
        self.z: list[torch.Tensor] = []
        self.z_store: list[torch.Tensor] = []
        self.h: list[torch.Tensor] = []
        self.dz: list[torch.Tensor] = []
        self.dh: list[torch.Tensor] = []
        self.dh_store: list[torch.Tensor] = []
        self.gw_store: list[torch.Tensor] = []
        self.forward: list[list[tuple[Any, torch.Tensor, Any, torch.Tensor]]] = []
        self.backward: list[list[tuple[Any, ...]]] = []
        for plan in plans:
            fan_in, fan_out = plan.W.shape[1], plan.W.shape[2]
            if plan.narrow_out:
                store = torch.empty(m, fan_out, rows, dtype=dtype, device=dev)
                z = store.transpose(1, 2)
                self.gw_store.append(torch.empty(m, fan_out, fan_in, dtype=dtype, device=dev))
            else:
                store = z = torch.empty(m, rows, fan_out, dtype=dtype, device=dev)
                self.gw_store.append(store)  # unused
            h = torch.empty_like(z)
            dz = torch.empty_like(z)
            dh_store = torch.empty_like(store)  # the gradient of h, in z's layout
            dh = dh_store if store is z else dh_store.transpose(1, 2)
            self.z_store.append(store)
            self.z.append(z)
            self.h.append(h)
            self.dz.append(dz)
            self.dh_store.append(dh_store)
            self.dh.append(dh)
            self.forward.append([(act.fwd, z[s:e], slope, h[s:e]) for s, e, act, slope, _ in plan.acts])
            self.backward.append(
                [(act.bwd, dh[s:e], z[s:e], h[s:e], dz[s:e], slope, grad) for s, e, act, slope, grad in plan.acts]
            )
