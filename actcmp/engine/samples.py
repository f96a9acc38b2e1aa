"""A small fixed sample of what a trained autoencoder does, kept with each run for pictures.

At the end of a finished (not diverged) run both engines call :func:`collect_samples`,
which returns ``{kind: blob}``; the store keeps each blob in its ``samples`` table and the
report (:mod:`actcmp.report.pictures`) draws from them. The rows are fixed by the data
split alone, so every run of a dataset and seed (any activation, depth, engine) stores the
same rows:

* ``reconstruction``: ``original`` and ``reconstruction`` float16 ``[k, d]`` of the first
  ``SAMPLE_ROWS`` test rows (float32 when a value is beyond float16's range), and ``image_shape`` int ``[2]`` (``[]`` when rows are not images);
* ``codes``: ``codes`` float32 ``[m, b]``, the bottleneck activations of the first
  ``CODE_ROWS`` test rows (float32: saturated codes differ in the 4th digit, which float16
  would round into a lattice), with ``labels`` int ``[m]`` and ``anomaly`` bool ``[m]``
  where the dataset has them;
* ``errors`` (anomaly sets only): ``errors`` float32 ``[n_test]``, the per-row
  reconstruction error in the run's loss (what ``anomaly_auroc`` ranks), and ``anomaly``
  bool ``[n_test]``, for ROC curves.

A blob is a compressed ``.npz`` (no pickles); a few kilobytes for 8x8 digits, tens for 28x28.
Pure: no files, no printing.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

    from actcmp.core.model import Autoencoder

SAMPLE_ROWS = 16
CODE_ROWS = 256
KINDS = ("reconstruction", "codes", "errors")
_FLOAT16_MAX = float(np.finfo(np.float16).max)


def encode(arrays: dict[str, np.ndarray]) -> bytes:
    """Arrays -> compressed ``.npz`` bytes (deterministic for equal arrays)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def decode(blob: bytes) -> dict[str, np.ndarray]:
    """The inverse of :func:`encode` (refuses pickled objects)."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def compact(values: np.ndarray) -> np.ndarray:
    """float16 when every finite value fits it, else float32 (a reconstruction gone far out)."""
    finite = values[np.isfinite(values)]
    fits = not finite.size or float(np.abs(finite).max()) < _FLOAT16_MAX
    return values.astype(np.float16 if fits else np.float32)


def image_shape(data: Any) -> tuple[int, int] | None:
    """The dataset's image shape when its rows are images of that many pixels."""
    shape = getattr(getattr(data, "info", None), "image_shape", None)
    if shape is None or int(np.prod(shape)) != data.x_test.shape[1]:
        return None
    return int(shape[0]), int(shape[1])


def collect_samples(
    model: Autoencoder,
    data: Any,
    cfg: dict[str, Any],
    diverged_epoch: int | None,
    dev: torch.device,
    test_errors: torch.Tensor | None = None,
) -> dict[str, bytes]:
    """The run's sample blobs (see the module docstring); none for a diverged run.

    ``test_errors``: the model's per-sample test errors (``engine.score_test_split``'s) when the
    caller has them; otherwise they are computed here the same way."""
    import torch  # lazy: the report decodes samples without torch

    from actcmp.core.losses import per_sample_loss

    if diverged_epoch is not None or len(data.x_test) == 0:
        return {}
    dtype = next(model.parameters()).dtype
    x_test = data.x_test.to(device=dev, dtype=dtype)
    shown, coded = x_test[:SAMPLE_ROWS], x_test[:CODE_ROWS]

    def numpy(tensor: torch.Tensor) -> np.ndarray:
        return tensor.detach().to(device="cpu", dtype=torch.float32).numpy()

    with torch.no_grad():
        reconstruction = numpy(model(shown))
        codes = numpy(model.encode(coded))
    shape = image_shape(data)
    blobs = {
        "reconstruction": encode(
            {
                "original": numpy(shown).astype(np.float16),
                "reconstruction": compact(reconstruction),
                "image_shape": np.asarray(shape if shape is not None else [], dtype=np.int64),
            }
        )
    }
    code_arrays = {"codes": codes}
    if data.y_test is not None:
        code_arrays["labels"] = np.asarray(data.y_test[: len(codes)], dtype=np.int64)
    if data.anomaly_test is not None:
        code_arrays["anomaly"] = np.asarray(data.anomaly_test[: len(codes)], dtype=bool)
    blobs["codes"] = encode(code_arrays)
    if data.anomaly_test is not None:
        if test_errors is None:
            with torch.no_grad():
                test_errors = per_sample_loss(model(x_test), x_test, cfg["loss"])
        errors = numpy(test_errors)
        blobs["errors"] = encode({"errors": errors, "anomaly": np.asarray(data.anomaly_test, dtype=bool)})
    return blobs


__all__ = ["CODE_ROWS", "KINDS", "SAMPLE_ROWS", "collect_samples", "compact", "decode", "encode"]
