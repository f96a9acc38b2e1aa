"""Reference numbers the claims compare against, computed from the data, not trained."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


def pca_mse(x_train: np.ndarray, x_eval: np.ndarray, n_components: int) -> float:
    """Mean squared reconstruction error on ``x_eval`` of PCA (scikit-learn, centred on
    the training mean) fitted on ``x_train`` with ``n_components`` components; the mean
    over samples and features, as the engine's ``mse`` loss."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=n_components, svd_solver="full").fit(x_train)
    recon = pca.inverse_transform(pca.transform(x_eval))
    return float(np.mean((np.asarray(x_eval, dtype=np.float64) - recon) ** 2))


KEYS = ["dataset", "seed", "bottleneck", "split", "val_fraction", "test_fraction"]
#: the fractions a run without them in its frame used (``RunConfig``'s defaults)
DEFAULT_FRACTIONS = {"val_fraction": 0.15, "test_fraction": 0.15}


def _keyed(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` with the columns of :data:`KEYS`: the split seed, and the fractions as floats."""
    keyed = runs.assign(split=split_seeds(runs))
    for column, default in DEFAULT_FRACTIONS.items():
        values = keyed[column] if column in keyed.columns else default
        keyed = keyed.assign(**{column: values}).astype({column: float})
    return keyed


def split_seeds(runs: pd.DataFrame) -> list[int]:
    """The seed each run's split was drawn from: ``split_seed``, else the run's ``seed``."""
    import pandas as pd

    from actcmp.config import split_seed_of

    splits = runs["split_seed"] if "split_seed" in runs.columns else [None] * len(runs)
    return [
        split_seed_of({"seed": seed, "split_seed": None if pd.isna(split) else split})
        for seed, split in zip(runs["seed"], splits, strict=True)
    ]


def pca_reference(runs: pd.DataFrame, data_dir: str | None = None) -> pd.DataFrame:
    """PCA's train and test MSE for every (dataset, seed, bottleneck, split seed, fractions) of
    ``runs``, on exactly the split the runs used (``load_dataset`` with the same split seed,
    ``split_seed`` or else the run's seed, and fractions). Columns: :data:`KEYS`,
    ``pca_train_mse, pca_test_mse``; join it to runs with :func:`attach_pca`."""
    import pandas as pd

    from actcmp.datasets import load_dataset

    columns = [*KEYS, "pca_train_mse", "pca_test_mse"]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    combos = _keyed(runs)[KEYS].drop_duplicates()
    rows = []
    for combo in combos.itertuples(index=False):
        values = combo._asdict()
        val, test = float(values["val_fraction"]), float(values["test_fraction"])
        data = load_dataset(values["dataset"], int(values["split"]), val, test, data_dir=data_dir)
        x_train, x_test = data.x_train.numpy().astype(np.float64), data.x_test.numpy().astype(np.float64)
        k = int(values["bottleneck"])
        rows.append(
            {
                "dataset": values["dataset"],
                "seed": int(values["seed"]),
                "bottleneck": k,
                "split": int(values["split"]),
                "val_fraction": val,
                "test_fraction": test,
                "pca_train_mse": pca_mse(x_train, x_train, k),
                "pca_test_mse": pca_mse(x_train, x_test, k),
            }
        )
    frame = pd.DataFrame(rows, columns=columns)
    return frame.groupby(KEYS, as_index=False).first()


def attach_pca(runs: pd.DataFrame, pca: pd.DataFrame) -> pd.DataFrame:
    """``runs`` (those with a reference) with ``pca_train_mse`` and ``pca_test_mse`` of their split."""
    if runs.empty or pca is None or pca.empty:
        return runs.iloc[0:0].assign(pca_train_mse=[], pca_test_mse=[])
    if "split" not in pca.columns:  # a reference without split seeds: each seed's own split
        pca = pca.assign(split=pca["seed"])
    pca = _keyed(pca.drop(columns="split_seed", errors="ignore").assign(split_seed=pca["split"]))
    keyed = _keyed(runs)
    added = [c for c in KEYS if c not in runs.columns]
    return keyed.merge(pca[[*KEYS, "pca_train_mse", "pca_test_mse"]], on=KEYS, how="inner").drop(columns=added)
