"""Device selection, in one place: ``cpu``, ``cuda`` (``cuda:N``) or ``auto``."""

from __future__ import annotations

from actcmp.errors import ConfigError


def resolve_device(name: str) -> str:
    """The concrete device string for ``name``; a clear error if CUDA is asked for but absent."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {name}: no CUDA device is available here (use --device cpu or auto)")
        return name
    raise ConfigError(f"unknown device '{name}' (choose cpu, cuda or auto)")
