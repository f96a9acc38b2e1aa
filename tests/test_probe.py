"""The batched linear probe (actcmp.core.probe) against scikit-learn, alone and in a batch."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from actcmp.core.metrics import linear_probe_accuracy
from actcmp.core.probe import PROBE_VERSION, ProbeFit, fit_probes, probe_accuracies


def blobs(seed: int, n: int = 500, m: int = 200, k: int = 6, classes: int = 5, spread: float = 0.8) -> tuple:
    """Codes ``[n + m, k]`` around class centres, labels ``[n + m]``; train then test rows."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, k))
    y = rng.integers(0, classes, size=n + m)
    z = centres[y] * spread + rng.normal(size=(n + m, k))
    z *= rng.uniform(0.1, 50.0, size=k)  # unequal scales: the standardisation matters
    z += rng.normal(0, 5, size=k)
    return z[:n], y[:n], z[n:], y[n:]


def sklearn_exact(z_train: np.ndarray, y_train: np.ndarray) -> LogisticRegression:
    """The same objective as the probe, solved by scikit-learn to its optimum."""
    pipe = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=10_000, tol=1e-12))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(z_train, y_train)
    return pipe


def one(z_train: np.ndarray, y_train: np.ndarray, z_test: np.ndarray, y_test: np.ndarray) -> ProbeFit:
    return fit_probes(torch.tensor(z_train)[None], y_train[None], torch.tensor(z_test)[None], y_test[None])


@pytest.mark.parametrize(
    ("seed", "classes", "k"),
    [
        pytest.param(0, 5, 6, id="5-classes"),
        pytest.param(1, 10, 8, id="10-classes"),
        pytest.param(2, 2, 4, id="binary"),
        pytest.param(3, 3, 1, id="one-code"),
    ],
)
def test_same_optimum_as_scikit_learn(seed: int, classes: int, k: int) -> None:
    z_train, y_train, z_test, y_test = blobs(seed, k=k, classes=classes)
    fit = one(z_train, y_train, z_test, y_test)
    reference = sklearn_exact(z_train, y_train)
    assert fit.converged == [True]
    assert fit.accuracy[0] == pytest.approx(reference.score(z_test, y_test), abs=1e-12)
    weights = fit.weights[0].numpy()  # [K, k + 1], standardised inputs, last column intercepts
    coef, intercept = reference[-1].coef_, reference[-1].intercept_
    if classes == 2:  # scikit-learn's one vector is the difference of the two softmax rows
        weights = (weights[1] - weights[0])[None]
    else:  # softmax intercepts are defined up to a common shift: compare centred
        weights[:, -1] -= weights[:, -1].mean()
        intercept = intercept - intercept.mean()
    np.testing.assert_allclose(weights[:, :k], coef, atol=1e-6)
    np.testing.assert_allclose(weights[:, k], intercept, atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_within_a_hundredth_of_the_stored_scikit_learn_probe(seed: int) -> None:
    # version 1 (scikit-learn's L-BFGS, at most 300 iterations, float32 codes) and version 2
    # solve the same problem: their accuracies differ by rounding of the stopping point
    z_train, y_train, z_test, y_test = (a.astype(np.float32) if a.dtype.kind == "f" else a for a in blobs(seed))
    version_1 = linear_probe_accuracy(z_train, y_train, z_test, y_test)
    assert version_1 is not None
    assert abs(one(z_train, y_train, z_test, y_test).accuracy[0] - version_1) <= 0.01


def test_a_model_is_probed_the_same_alone_or_in_a_batch() -> None:
    sets = [blobs(seed, n=400, m=100, k=5, classes=4) for seed in range(5)]
    z_train = np.stack([s[0] for s in sets])
    y_train = np.stack([s[1] for s in sets])
    z_test = np.stack([s[2] for s in sets])
    y_test = np.stack([s[3] for s in sets])
    z_train[1, 3, 2] = np.nan  # a diverged model's codes
    y_train[2] = 1  # a single class
    z_train[3] *= 1e-3  # a model that converges at its own pace
    batch = fit_probes(torch.tensor(z_train), y_train, torch.tensor(z_test), y_test)
    assert batch.accuracy[1] is None and batch.accuracy[2] is None
    assert batch.iterations[1] == batch.iterations[2] == 0  # never fitted
    assert all(batch.converged[i] for i in (0, 3, 4))
    for i in (0, 3, 4):
        alone = one(z_train[i], y_train[i], z_test[i], y_test[i])
        assert alone.accuracy[0] == batch.accuracy[i]
        assert alone.iterations[0] == batch.iterations[i]
        assert torch.equal(alone.weights[0], batch.weights[i])  # to the bit (test_probe_batch.py)
    assert batch.accuracy[0] == pytest.approx(sklearn_exact(z_train[0], y_train[0]).score(z_test[0], y_test[0]))


def test_classes_missing_from_training_are_never_predicted() -> None:
    # the anomaly class of `clusters` is in the test split only: always a wrong answer,
    # as in scikit-learn, which only knows the training classes
    z_train, y_train, z_test, y_test = blobs(5, classes=4)
    y_test = y_test.copy()
    y_test[:20] = 4
    fit = one(z_train, y_train, z_test, y_test)
    assert fit.weights.shape[1] == 5
    assert fit.accuracy[0] == pytest.approx(sklearn_exact(z_train, y_train).score(z_test, y_test), abs=1e-12)


def test_unmeasurable_probes_are_none() -> None:
    z_train, y_train, z_test, y_test = blobs(6)
    assert one(z_train, np.zeros_like(y_train), z_test, y_test).accuracy == [None]
    z_test = z_test.copy()
    z_test[0, 0] = np.inf
    assert one(z_train, y_train, z_test, y_test).accuracy == [None]


def test_constant_code_column_is_left_unscaled() -> None:
    z_train, y_train, z_test, y_test = blobs(7)
    z_train[:, 0] = 3.0
    z_test[:, 0] = 3.0
    fit = one(z_train, y_train, z_test, y_test)
    assert fit.converged == [True]
    assert fit.accuracy[0] == pytest.approx(sklearn_exact(z_train, y_train).score(z_test, y_test), abs=1e-12)


def test_models_of_a_group_are_fitted_together_and_unlabelled_data_gives_none() -> None:
    from types import SimpleNamespace

    from actcmp.core.activations import parse_activation
    from actcmp.core.model import Autoencoder

    z_train, y_train, z_test, y_test = blobs(8, k=12)
    x_train, x_test = torch.tensor(z_train, dtype=torch.float32), torch.tensor(z_test, dtype=torch.float32)
    labelled = SimpleNamespace(x_train=x_train, x_test=x_test, y_train=y_train, y_test=y_test)
    unlabelled = SimpleNamespace(x_train=x_train, x_test=x_test, y_train=None, y_test=None)
    torch.manual_seed(0)
    models = [
        Autoencoder(12, 2, 8, 3, parse_activation("tanh"), parse_activation("identity", hidden=False)) for _ in range(3)
    ]
    together = probe_accuracies(models, [labelled, unlabelled, labelled])
    assert together[1] is None and together[0] is not None and together[2] is not None
    assert together[0] == probe_accuracies(models[:1], [labelled])[0]
    assert PROBE_VERSION == 2
