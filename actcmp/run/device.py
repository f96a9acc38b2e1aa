"""Device selection, in one place: ``cpu``, ``cuda`` (``cuda:N``) or ``auto``."""

from __future__ import annotations

from actcmp.errors import ConfigError


def resolve_device(name: str) -> str:
    """The concrete device string for ``name``; a clear error if CUDA is asked for but absent.
    ``cpu`` needs no torch (the sweep's main process then never imports it)."""
    if name == "cpu":
        return "cpu"
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {name}: no CUDA device is available here (use --device cpu or auto)")
        return name
    raise ConfigError(f"unknown device '{name}' (choose cpu, cuda or auto)")
