"""The reconstruction losses per sample, as both engines and the stored samples compute them."""

from __future__ import annotations

import torch


def per_sample_loss(out: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """Reconstruction loss per sample ``[n]`` for ``out, target [n, d]``."""
    if kind == "mse":
        return ((out - target) ** 2).mean(dim=1)
    if kind == "bce":
        p = out.clamp(1e-7, 1 - 1e-7)
        return -(target * torch.log(p) + (1 - target) * torch.log1p(-p)).mean(dim=1)
    if kind == "ce":
        return -(target * torch.log(out.clamp_min(1e-12))).sum(dim=1)
    raise ValueError(f"unknown loss {kind!r}")


def batch_loss(out: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """Mean reconstruction loss (scalar) over a batch."""
    return per_sample_loss(out, target, kind).mean()


__all__ = ["batch_loss", "per_sample_loss"]
