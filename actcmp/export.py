"""``actcmp export``: stored results as Parquet or CSV files (one per frame)."""

from __future__ import annotations

from pathlib import Path

from actcmp.errors import ConfigError, StoreError
from actcmp.store import load_results

FORMATS = ("parquet", "csv")


def export_results(directory: str | Path, fmt: str = "parquet", out: str | Path | None = None) -> list[Path]:
    """Write ``runs``, ``epochs``, ``layers`` and ``planned`` frames; return the paths."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: choose parquet, csv, mlflow or tensorboard")
    results = load_results(directory)
    target = Path(out) if out is not None else Path(directory) / "export"
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create export directory {target}: {exc.strerror}") from None
    paths = []
    for name in ("runs", "epochs", "layers", "planned"):
        frame = getattr(results, name)
        path = target / f"{name}.{fmt}"
        tmp = path.with_name(f".{path.name}.tmp")
        if fmt == "parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False)
        tmp.replace(path)
        paths.append(path)
    return paths
