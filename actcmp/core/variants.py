"""The sparse and denoising variants: an L1 activity penalty and input corruption.

Pure torch, shared by both engines so that they train on the very same numbers.

* ``activity_l1 = c`` adds ``c * sum over penalised layers of (mean over the minibatch of
  the sum over units of |h|)`` to the training loss, ``h`` the layer's output (after the
  activation). ``activity_l1_on = "code"`` penalises the code layer alone (the encoder's
  last, hidden layer ``depth - 1``), ``"hidden"`` every hidden layer, decoder included.
  Only training steps see it: the recorded losses (train/val/test) and the probe's
  gradient norms are of the reconstruction loss alone, so runs with and without it compare.
* ``input_noise = s`` corrupts the inputs of training steps (targets stay clean): Gaussian
  (``input_noise_kind = "gaussian"``, ``x + s * N(0, 1)``) or masking (``"mask"``: each
  input set to 0 with probability ``s``, no rescaling). One draw per run seed and epoch
  for the whole training split (a float64 draw, cast to the data's dtype), taken in the
  epoch's batch order like the data: the same corruption in every engine and for every
  activation of a seed. Evaluation, probes and final metrics see clean data.
"""

from __future__ import annotations

from typing import Any

import torch

from actcmp.core.model import derive_seed


def penalised_layers(cfg: dict[str, Any]) -> list[int]:
    """Indices of the hidden layers (0 .. 2*depth-2) the L1 activity penalty applies to."""
    if not cfg.get("activity_l1", 0.0):
        return []
    if cfg.get("activity_l1_on", "code") == "hidden":
        return list(range(2 * cfg["depth"] - 1))
    return [cfg["depth"] - 1]


def activity_penalty(post: list[torch.Tensor], cfg: dict[str, Any]) -> torch.Tensor | None:
    """The L1 activity penalty (scalar) of hidden outputs ``post`` ([batch, units] each),
    or None when the run has none."""
    layers = penalised_layers(cfg)
    if not layers:
        return None
    total = sum((post[i].abs().sum(dim=1).mean() for i in layers), start=torch.zeros((), dtype=post[0].dtype))
    return cfg["activity_l1"] * total


def has_noise(cfg: dict[str, Any]) -> bool:
    return bool(cfg.get("input_noise", 0.0))


def corrupt(x: torch.Tensor, cfg: dict[str, Any], seed: int, epoch: int) -> torch.Tensor:
    """The training split ``x [n, d]`` as corrupted in ``epoch`` for run seed ``seed``
    (a new tensor; ``x`` itself when the run has no input noise)."""
    level = float(cfg.get("input_noise", 0.0))
    if not level:
        return x
    gen = torch.Generator().manual_seed(derive_seed(seed, f"noise:{epoch}"))
    if cfg.get("input_noise_kind", "gaussian") == "mask":
        keep = torch.rand(tuple(x.shape), generator=gen, dtype=torch.float64) >= level
        return x * keep.to(device=x.device, dtype=x.dtype)
    noise = torch.randn(tuple(x.shape), generator=gen, dtype=torch.float64) * level
    return x + noise.to(device=x.device, dtype=x.dtype)
