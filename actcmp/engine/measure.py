"""The measurements of a stack: what ``engine.train_run`` records at each epoch.

Full-pass train and validation losses (in chunks sized per model), and on the probe set
the per-layer gradient norms and unit metrics (dead, saturated, died, revived, zero share,
pre- and post-activation mean and std), one activation slice at a time.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from actcmp.engine.kernels import loss_grad, masks_of_counts, per_sample_losses
from actcmp.engine.layout import Row
from actcmp.engine.stack import _TrainingStack

#: Layers are measured together in groups of at most this many bytes of pre-activations
#: per model: small enough to stay in cache, big enough to amortise calls. Per model, so
#: that the grouping (and the float sums in it) does not depend on the other models.
METRIC_GROUP_BYTES = 128 << 10


class _Stack(_TrainingStack):
    """The models still training, stacked, with the measurements of :meth:`measure` and
    :meth:`losses` (training: :class:`~actcmp.engine.stack._TrainingStack`)."""

    def measure(self, epoch: int, probe_size: int) -> list[tuple[float, float, list[Row]]]:
        """What ``engine.train_run``'s ``record`` gives, for every model: ``(train_loss,
        val_loss, layer rows)``. One activation slice at a time (no concatenation of big
        activations); the probe forward doubles as the first rows of the train loss."""
        n = self.x_train.shape[1]
        p = min(probe_size, n)
        train_parts, val_parts, grad_parts, count_parts = [], [], [], []
        clock = time.perf_counter
        for part, (s, e, _) in enumerate(self.parts):
            started = clock()
            slot = self.slot[s:e]
            x_probe = self.pad(self.x_train[:, :p].index_select(0, slot))
            out, record = self.forward(x_probe, save=True, need_grad=True, part=part)
            probe_losses = per_sample_losses(out, x_probe, self.kind)[:, :p]
            rest = self._losses(self.x_train, slot, p, part)
            train_parts.append(torch.cat([probe_losses, rest], dim=1).mean(dim=1))
            val_parts.append(self._losses(self.x_val, slot, 0, part).mean(dim=1))
            probing = clock()
            zs, hs = [r[1] for r in record[:-1]], [r[2] for r in record[:-1]]
            act = self.parts[part][2]
            derivs = [act.derivative(z, h) for z, h in zip(zs, hs, strict=True)]
            grad_parts.append(self._grad_norms(record, out, x_probe, probe_losses, part, derivs, p))
            count_parts.append(self._unit_counts(zs, hs, part, derivs, p))
            self.timings["losses"] += probing - started
            self.timings["probe"] += clock() - probing
        probing = clock()
        table, self.previous = self._layer_table(torch.cat(count_parts), p)
        layers = table.tolist()
        self.timings["probe"] += clock() - probing
        units = [fan_out for _, fan_out in self.dims[:-1]]
        return _rows(
            epoch,
            torch.cat(train_parts).tolist(),
            torch.cat(val_parts).tolist(),
            torch.cat(grad_parts).tolist(),
            layers,
            units,
        )

    def losses(self) -> list[tuple[float, float]]:
        """``(train_loss, val_loss)`` of every model, at an epoch without layer metrics."""
        started = time.perf_counter()
        train_parts, val_parts = [], []
        for part, (s, e, _) in enumerate(self.parts):
            slot = self.slot[s:e]
            train_parts.append(self._losses(self.x_train, slot, 0, part).mean(dim=1))
            val_parts.append(self._losses(self.x_val, slot, 0, part).mean(dim=1))
        self.timings["losses"] += time.perf_counter() - started
        return list(zip(torch.cat(train_parts).tolist(), torch.cat(val_parts).tolist(), strict=True))

    def val_losses(self) -> list[float]:
        """The validation loss of every model (``record = "val_loss"``): :meth:`losses`'
        second half, by the same passes."""
        started = time.perf_counter()
        parts = [
            self._losses(self.x_val, self.slot[s:e], 0, part).mean(dim=1) for part, (s, e, _) in enumerate(self.parts)
        ]
        self.timings["losses"] += time.perf_counter() - started
        return [float(v) for v in torch.cat(parts).tolist()]

    def _grad_norms(
        self,
        record: list[Any],
        out: torch.Tensor,
        x_probe: torch.Tensor,
        probe_losses: torch.Tensor,
        part: int,
        derivs: list[torch.Tensor | None] | None = None,
        rows: int | None = None,
    ) -> torch.Tensor:
        """``[m, 2 * layers]`` float64: norms of each layer's weight then bias gradient of
        the probe loss; 0 where that loss is not finite (the plain engine then skips
        backward). ``derivs``: f'(z) per hidden layer, as :meth:`backward` takes them;
        ``rows``: the probe rows of the padded ``x_probe`` (default: all)."""
        m = out.shape[0]
        grad_w = [torch.empty(m, i, o, dtype=self.dtype, device=self.dev) for i, o in self.dims]
        grad_b = [torch.empty(m, o, dtype=self.dtype, device=self.dev) for _, o in self.dims]
        self.backward(record, loss_grad(out, x_probe, self.kind, rows), part, (grad_w, grad_b), derivs)
        norms = [torch.linalg.vector_norm(g, dim=(1, 2)) for g in grad_w]
        norms += [torch.linalg.vector_norm(g, dim=1) for g in grad_b]
        finite = torch.isfinite(probe_losses.mean(dim=1))
        return torch.where(finite[:, None], torch.stack(norms, dim=1), 0.0).to(torch.float64)

    def _losses(self, x: torch.Tensor, slot: torch.Tensor, start: int, part: int) -> torch.Tensor:
        """Per-sample losses ``[m, n - start]`` of rows ``start:`` of the splits ``x[slot]``,
        in chunks of ``eval_rows`` rows (a number that depends on the model's shape only)."""
        m, n = slot.shape[0], x.shape[1]
        parts = []
        for s in range(start, n, self.eval_rows):
            rows = x[:, s : min(n, s + self.eval_rows)].index_select(0, slot)
            count = rows.shape[1]
            padded = self.pad(rows)
            out, _ = self.forward(padded, save=False, part=part)
            parts.append(per_sample_losses(out, padded, self.kind)[:, :count])
        if not parts:
            return torch.zeros(m, 0, dtype=self.dtype, device=self.dev)
        return torch.cat(parts, dim=1)

    def _unit_counts(
        self,
        zs: list[torch.Tensor],
        hs: list[torch.Tensor],
        part: int,
        derivs: list[torch.Tensor | None],
        rows: int | None = None,
    ) -> torch.Tensor:
        """``[m, units, 7]`` float64 for slice ``part``, every hidden unit side by side: probe
        inputs where f'(z) == 0, where |f'(z)| is below the saturation limit, where h == 0;
        the sum of z; the sum of squares of z minus its layer's mean (two-pass variance);
        the same two sums of h = f(z).

        Only the passes over the probe activations run per slice, on data that is still in
        cache (:meth:`_group_counts`); everything per unit or per layer is done once for all
        models by :meth:`_layer_table`. Consecutive layers are counted together, side by side
        along the unit axis, in groups of at most ``METRIC_GROUP_BYTES`` (one big
        concatenation of a deep stack's layers was several times slower per element).
        ``derivs``: f'(z) per layer from :meth:`_Act.derivative` (None: two-valued);
        ``rows``: the probe rows of the (padded) activations, default all.
        """
        s, e, act = self.parts[part]
        n = zs[0].shape[1] if rows is None else rows
        budget = max(1, METRIC_GROUP_BYTES // (zs[0].shape[1] * zs[0].element_size()))
        groups = []
        first, width = 0, 0
        for layer, z in enumerate(zs):
            width += z.shape[2]
            if layer == len(zs) - 1 or width + zs[layer + 1].shape[2] > budget:
                groups.append(self._group_counts(zs, hs, derivs, part, first, layer + 1, n))
                first, width = layer + 1, 0
        raw = torch.cat(groups, dim=2)  # [k + 4, m, units]
        if act.kind in act.TWO_VALUED:
            npos, h_zero, z_sum, squares, h_sum, h_squares = raw.unbind(0)
            slope = None
            if self.slopes is not None and act.kind == "prelu":
                slope = self.slopes[s:e].index_select(1, self.unit_layer)  # [m, units]
            zero, small = act.two_valued_counts(npos, n, slope, self.limit[s:e], zs[0].dtype)
        else:
            zero, small, h_zero, z_sum, squares, h_sum, h_squares = raw.unbind(0)
        return torch.stack([zero, small, h_zero, z_sum, squares, h_sum, h_squares], dim=2)

    def _group_counts(
        self,
        zs: list[torch.Tensor],
        hs: list[torch.Tensor],
        derivs: list[torch.Tensor | None],
        part: int,
        first: int,
        stop: int,
        rows: int,
    ) -> torch.Tensor:
        """The per-unit sums over the first ``rows`` inputs of hidden layers ``first:stop``,
        ``[k + 4, m, units]`` float64:
        the inputs with z > 0 (two-valued f'; k = 2) or with f' == 0 and with |f'| below the
        limit (k = 3); with h == 0; the sum of z; the centred sum of squares; the sum of h
        and its centred sum of squares. The 0/1
        indicators go side by side into one buffer and are summed by one reduction (exact:
        float sums of at most ``n`` ones)."""
        act = self.parts[part][2]
        z = zs[first] if stop - first == 1 else torch.cat(zs[first:stop], dim=2)  # [m, n, units]
        h = hs[first] if stop - first == 1 else torch.cat(hs[first:stop], dim=2)
        m, padded, units = z.shape
        n = rows
        two_valued = act.kind in act.TWO_VALUED
        k = 2 if two_valued else 3
        # the buffer in z's layout: elementwise ops over mixed layouts are many times slower
        if z.is_contiguous():
            flags = torch.empty(k, m, padded, units, dtype=z.dtype, device=z.device)
        else:
            flags = torch.empty(k, m, units, padded, dtype=z.dtype, device=z.device).transpose(2, 3)
        if two_valued:
            torch.gt(z, 0, out=flags[0])
        else:
            given = derivs[first:stop]
            deriv = given[0] if stop - first == 1 else torch.cat(given, dim=2)  # type: ignore[arg-type]
            assert deriv is not None
            torch.eq(deriv, 0, out=flags[0])
            magnitude = deriv if act.kind in act.NONNEGATIVE else torch.abs(deriv, out=flags[1])
            torch.lt(magnitude, self.slice_limits[part], out=flags[1])
        torch.eq(h, 0, out=flags[k - 1])
        counts = flags[:, :, :n].sum(dim=2).to(torch.float64)  # [k, m, units]
        z_sum = z[:, :n].sum(dim=1).to(torch.float64)
        u0 = sum(t.shape[2] for t in zs[:first])
        unit_layer = self.unit_layer[u0 : u0 + units] - first
        # per-layer sums in unit order (index_add_ adds one unit after the other: no
        # matmul whose blocking could depend on the number of models)
        layer_sums = torch.zeros(m, stop - first, dtype=torch.float64, device=z.device).index_add_(1, unit_layer, z_sum)
        mean = layer_sums / (n * self.units_per_layer[first:stop])  # [m, layers]
        centred = torch.sub(z, mean.to(z.dtype).index_select(1, unit_layer)[:, None, :], out=flags[0])
        squares = centred.mul_(centred)[:, :n].sum(dim=1).to(torch.float64)
        h_sum = h[:, :n].sum(dim=1).to(torch.float64)
        h_layer_sums = torch.zeros_like(layer_sums).index_add_(1, unit_layer, h_sum)
        h_mean = h_layer_sums / (n * self.units_per_layer[first:stop])
        h_centred = torch.sub(h, h_mean.to(h.dtype).index_select(1, unit_layer)[:, None, :], out=flags[0])
        h_squares = h_centred.mul_(h_centred)[:, :n].sum(dim=1).to(torch.float64)
        return torch.cat([counts, z_sum[None], squares[None], h_sum[None], h_squares[None]])

    def _layer_table(self, counts: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """From :meth:`_unit_counts` of every model ``[M, units, 7]`` over ``n`` probe
        inputs: ``[M, hidden, 9]`` float64 (dead, saturated, zero share, pre-activation mean
        and std, died, revived, post-activation mean and std; counts for the unit metrics) and the new dead masks ``[M,
        units]``. Per-layer figures are sums over each layer's units (exact: counts, or
        float64 sums)."""
        zero, small, h_zero, z_sum, squares, h_sum, h_squares = counts.unbind(2)
        dead, sat = masks_of_counts(zero, small, n, self.share)
        columns = [dead.to(torch.float64), sat.to(torch.float64), h_zero, z_sum, squares, h_sum, h_squares]
        if self.previous is not None:
            columns += [(dead & ~self.previous).to(torch.float64), (self.previous & ~dead).to(torch.float64)]
        stacked = torch.stack(columns, dim=1)  # [M, columns, units]
        sums = stacked.new_zeros(*stacked.shape[:2], len(self.dims) - 1).index_add_(2, self.unit_layer, stacked)
        count = n * self.units_per_layer  # [layers]
        dead_count, sat_count = sums[:, 0], sums[:, 1]
        zero_share, mean = sums[:, 2] / count, sums[:, 3] / count
        std = torch.where(count > 1, (sums[:, 4] / (count - 1).clamp_min(1)).sqrt(), 0.0)
        post_mean = sums[:, 5] / count
        post_std = torch.where(count > 1, (sums[:, 6] / (count - 1).clamp_min(1)).sqrt(), 0.0)
        if self.previous is None:
            died = revived = torch.zeros_like(mean)
        else:
            died, revived = sums[:, 7], sums[:, 8]
        table = [dead_count, sat_count, zero_share, mean, std, died, revived, post_mean, post_std]
        return torch.stack(table, dim=2), dead


def _rows(
    epoch: int,
    train: list[float],
    val: list[float],
    grads: list[list[float]],
    layers: list[list[list[float]]],
    units: list[int],
) -> list[tuple[float, float, list[Row]]]:
    """Per model: ``(train_loss, val_loss, layer rows in the plain engine's order)``."""
    n_linear = len(units) + 1
    out = []
    for m, (train_loss, val_loss) in enumerate(zip(train, val, strict=True)):
        rows: list[Row] = []
        g = grads[m]
        for index in range(n_linear):
            rows.append((epoch, index, "grad_norm_weight", g[index]))
            rows.append((epoch, index, "grad_norm_bias", g[n_linear + index]))
        for index, (dead, sat, zero, mean, std, died, revived, post_mean, post_std) in enumerate(layers[m]):
            u = units[index]
            rows += [
                (epoch, index, "dead_fraction", int(dead) / u),
                (epoch, index, "saturated_fraction", int(sat) / u),
                (epoch, index, "zero_fraction", zero),
                (epoch, index, "preact_mean", mean),
                (epoch, index, "preact_std", std),
                (epoch, index, "postact_mean", post_mean),
                (epoch, index, "postact_std", post_std),
                (epoch, index, "died_fraction", int(died) / u),
                (epoch, index, "revived_fraction", int(revived) / u),
            ]
        out.append((train_loss, val_loss, rows))
    return out
