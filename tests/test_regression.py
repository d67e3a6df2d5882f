"""GaussianMixtureRegressor: scikit-learn's regressor checks, and against independent fits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from _support import assert_close
from gaussmix import GaussianMixtureRegressor


@parametrize_with_checks(
    [GaussianMixtureRegressor(), GaussianMixtureRegressor(covariance_type="tied")]
)
def test_sklearn_regressor_checks(estimator: Any, check: Callable[[Any], None]) -> None:
    check(estimator)


def _linear(n: int = 400, targets: int = 1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 3))
    coef = rng.normal(size=(3, targets))
    y = X @ coef + 0.3 * rng.normal(size=(n, targets)) + 2.0
    return X, y[:, 0] if targets == 1 else y


@pytest.mark.parametrize("targets", [1, 2])
def test_one_component_is_ordinary_least_squares(targets: int) -> None:
    X, y = _linear(targets=targets)
    model = GaussianMixtureRegressor(reg_covar=0.0).fit(X, y)
    ols = LinearRegression().fit(X, y)
    Xt, _ = _linear(50, targets, seed=1)
    mean, std = model.predict(Xt, return_std=True)
    assert mean.shape == std.shape == ((50,) if targets == 1 else (50, targets))
    assert_allclose(mean, ols.predict(Xt), rtol=1e-9, atol=1e-9)
    # The conditional variance is the residual variance (maximum likelihood, ddof=0).
    residual = np.asarray(y - ols.predict(X)).reshape(len(X), -1)
    expected = np.broadcast_to(residual.std(axis=0), (50, targets))
    assert_close(std.reshape(50, -1), expected, rtol=1e-8)


def test_nonlinear_function_and_uncertainty() -> None:
    rng = np.random.RandomState(2)
    x = rng.uniform(-3, 3, size=(1500, 1))
    noise = 0.05 + 0.25 * (x[:, 0] > 0)  # heteroscedastic: noisier on the right
    y = np.sin(2 * x[:, 0]) + noise * rng.normal(size=1500)
    model = GaussianMixtureRegressor(8, random_state=0).fit(x, y)
    grid = np.linspace(-2.5, 2.5, 101)[:, None]
    mean, std = model.predict(grid, return_std=True)
    assert np.max(np.abs(mean - np.sin(2 * grid[:, 0]))) < 0.25
    assert model.score(x, y) > 0.85 > LinearRegression().fit(x, y).score(x, y)
    assert np.median(std[grid[:, 0] > 0.5]) > 2 * np.median(std[grid[:, 0] < -0.5])
    # Draws of y | x have the predicted moments.
    draws = model.sample_y(grid[::25], n_samples=20_000, random_state=0)
    assert draws.shape == (5, 20_000)
    assert_allclose(draws.mean(axis=1), mean[::25], atol=5 * std[::25].max() / np.sqrt(20_000))
    assert_close(draws.std(axis=1), std[::25], rtol=0.03)


def test_predict_is_the_joint_mixtures_conditional_mean() -> None:
    X, y = _linear(targets=2, seed=3)
    y = y + np.sin(X[:, :1]) * 2
    model = GaussianMixtureRegressor(3, random_state=0).fit(X, y)
    assert model.mixture_.n_features_in_ == 5 and model.n_targets_ == 2
    expected = model.mixture_.condition([0, 1, 2], X[:10]).predict()
    assert_close(model.predict(X[:10]), expected)
    assert model.sample_y(X[:4], 3).shape == (4, 2, 3)
    assert model.condition(X[:4]).features_.tolist() == [3, 4]


def test_sample_weight_is_a_multiplicity() -> None:
    X, y = _linear(60, seed=4)
    counts = np.random.RandomState(5).randint(0, 4, size=60)
    weighted = GaussianMixtureRegressor().fit(X, y, sample_weight=counts)
    repeated = GaussianMixtureRegressor().fit(np.repeat(X, counts, axis=0), np.repeat(y, counts))
    assert_allclose(weighted.predict(X), repeated.predict(X), rtol=1e-7, atol=1e-7)


def test_pipeline_and_grid_search() -> None:
    rng = np.random.RandomState(6)
    X = rng.uniform(-2, 2, size=(300, 2))
    y = np.tanh(3 * X[:, 0]) * 10 + X[:, 1] + 0.1 * rng.normal(size=300)
    pipe = make_pipeline(StandardScaler(), GaussianMixtureRegressor(random_state=0))
    search = GridSearchCV(pipe, {"gaussianmixtureregressor__n_components": [1, 4]}, cv=3)
    search.fit(X, y)
    assert search.best_params_ == {"gaussianmixtureregressor__n_components": 4}
    assert search.score(X, y) > 0.9


def test_torch_tensors_in_and_out() -> None:
    torch = pytest.importorskip("torch")
    X, y = _linear(200, seed=7)
    numpy_model = GaussianMixtureRegressor(2, random_state=0).fit(X, y)
    model = GaussianMixtureRegressor(2, random_state=0).fit(torch.tensor(X), torch.tensor(y))
    prediction = model.predict(torch.tensor(X[:5]))
    assert isinstance(prediction, torch.Tensor) and prediction.dtype == torch.float64
    assert_allclose(prediction.numpy(), numpy_model.predict(X[:5]), rtol=1e-10, atol=1e-10)
    assert model.sample_y(torch.tensor(X[:3]), 2).shape == (3, 2)
