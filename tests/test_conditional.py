"""Marginals and conditionals against independent calculations.

The references use none of gaussmix's algebra: dense covariances from the test
support, Schur complements by explicit inverses, densities from scipy.stats, and in
2-D the conditional mean and variance by numerical integration of the joint density.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import integrate, stats

from _support import (
    COVARIANCE_TYPES,
    assert_close,
    dense_covariance,
    fitted_mixture,
    random_params,
)
from gaussmix import GaussianMixture
from gaussmix._core.covariance import COVARIANCE_TYPES as REGISTRY
from gaussmix._core.covariance import get_covariance
from gaussmix.conditional import ConditionalMixture, derived_model


def _model(covariance_type: str, k: int = 3, d: int = 4, seed: int = 0) -> Any:
    return fitted_mixture(
        random_params(covariance_type, k, d, np.random.RandomState(seed)), covariance_type
    )


def _dense(model: Any) -> np.ndarray:
    K, d = model.means_.shape
    return np.stack(
        [dense_covariance(model.covariance_type, model.covariances_, k, d) for k in range(K)]
    )


def _log_density(weights: np.ndarray, means: np.ndarray, covs: np.ndarray, X: np.ndarray):
    logs = [
        np.log(w) + stats.multivariate_normal(m, c).logpdf(X).reshape(-1)
        for w, m, c in zip(weights, means, covs, strict=True)
    ]
    return np.logaddexp.reduce(np.stack(logs), axis=0)


def _reference_condition(model: Any, given: list[int], values: np.ndarray):
    """Weights (n, K), means (n, K, m), covariances (K, m, m) by explicit inverses."""
    d = model.means_.shape[1]
    others = [j for j in range(d) if j not in given]
    covs = _dense(model)
    log_w = np.stack(
        [
            np.log(w) + stats.multivariate_normal(m[given], c[np.ix_(given, given)]).logpdf(values)
            for w, m, c in zip(model.weights_, model.means_, covs, strict=True)
        ],
        axis=1,
    ).reshape(len(values), -1)
    weights = np.exp(log_w - np.logaddexp.reduce(log_w, axis=1, keepdims=True))
    means, conds = [], []
    for m, c in zip(model.means_, covs, strict=True):
        gain = c[np.ix_(others, given)] @ np.linalg.inv(c[np.ix_(given, given)])
        means.append(m[others] + (values - m[given]) @ gain.T)
        conds.append(c[np.ix_(others, others)] - gain @ c[np.ix_(given, others)])
    return weights, np.stack(means, axis=1), np.stack(conds)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_marginal_is_the_mixture_of_the_blocks(covariance_type: str) -> None:
    model = _model(covariance_type)
    marg = model.marginal([3, 1])
    assert type(marg) is GaussianMixture and marg.covariance_type == covariance_type
    assert marg.n_features_in_ == 2
    X = np.random.RandomState(1).normal(size=(50, 2)) * 2
    covs = _dense(model)[:, [3, 1]][:, :, [3, 1]]
    expected = _log_density(model.weights_, model.means_[:, [3, 1]], covs, X)
    assert_allclose(marg.score_samples(X), expected, rtol=1e-10, atol=1e-10)
    # The same as scoring rows with the other features missing (the missing-value path).
    full = np.full((50, 4), np.nan)
    full[:, [3, 1]] = X
    model.set_params(missing="marginalize")
    assert_allclose(model.score_samples(full), expected, rtol=1e-10, atol=1e-10)
    # A sample of the marginal is a sample of the model's columns (moments agree).
    draws, _ = marg.set_params(random_state=0).sample(20_000)
    joint, _ = model.set_params(random_state=1).sample(20_000)
    scale = np.sqrt(np.diag(np.cov(joint[:, [3, 1]].T)))
    assert_allclose(draws.mean(axis=0), joint[:, [3, 1]].mean(axis=0), atol=0.06 * scale.max())


def test_marginal_keeps_feature_names_and_accepts_names_and_masks() -> None:
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(2)
    frame = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    model = GaussianMixture(2, random_state=0).fit(frame)
    by_name = model.marginal(["c", "a"])
    assert list(by_name.feature_names_in_) == ["c", "a"]
    assert_close(by_name.means_, model.means_[:, [2, 0]])
    assert_close(model.marginal([True, False, True]).means_, model.means_[:, [0, 2]])
    assert_close(model.marginal("b").covariances_[:, 0, 0], model.covariances_[:, 1, 1])
    assert by_name.score_samples(frame[["c", "a"]]).shape == (200,)
    # A fitted model is untouched.
    assert model.n_features_in_ == 3 and model.means_.shape == (2, 3)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_condition_matches_explicit_inverses(covariance_type: str) -> None:
    model = _model(covariance_type, k=3, d=4, seed=3)
    values = np.random.RandomState(4).normal(size=(7, 2)) * 2
    cond = model.condition([2, 0], values)
    weights, means, covs = _reference_condition(model, [2, 0], values)
    assert isinstance(cond, ConditionalMixture) and len(cond) == 7
    assert cond.features_.tolist() == [1, 3] and cond.given_.tolist() == [2, 0]
    assert cond.covariance_type == covariance_type
    assert_allclose(cond.weights_, weights, rtol=1e-9, atol=1e-12)
    assert_allclose(cond.means_, means, rtol=1e-9, atol=1e-9)
    assert_allclose(cond.covariances_, covs, rtol=1e-9, atol=1e-12)
    assert_allclose(cond.predict(), np.einsum("nk,nkj->nj", weights, means), rtol=1e-9, atol=1e-9)
    # ln p(x_m | x_o) = ln p(x) − ln p(x_o), from the joint and the marginal.
    Y = np.random.RandomState(5).normal(size=(7, 2))
    joint = np.empty((7, 4))
    joint[:, [2, 0]], joint[:, [1, 3]] = values, Y
    expected = model.score_samples(joint) - model.marginal([2, 0]).score_samples(values)
    assert_allclose(cond.score_samples(Y), expected, rtol=1e-9, atol=1e-9)
    assert_allclose(cond.log_marginal_, model.marginal([2, 0]).score_samples(values), atol=1e-9)
    # Row i as an estimator: the same density.
    assert_allclose(cond[3].score_samples(Y[3:4]), cond.score_samples(Y)[3:4], atol=1e-9)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_condition_in_2d_against_numerical_integration(covariance_type: str) -> None:
    model = _model(covariance_type, k=3, d=2, seed=6)
    x = 0.7
    cond = model.condition(0, [x])
    mean, std = cond.predict(return_std=True)

    parts = [
        (w, stats.multivariate_normal(m, c))
        for w, m, c in zip(model.weights_, model.means_, _dense(model), strict=True)
    ]

    def joint(y: float) -> float:
        return sum(w * float(dist.pdf([x, y])) for w, dist in parts)

    evidence = integrate.quad(joint, -40, 40, limit=400, epsabs=1e-14)[0]
    first = integrate.quad(lambda y: y * joint(y), -40, 40, limit=400, epsabs=1e-14)[0]
    second = integrate.quad(lambda y: y * y * joint(y), -40, 40, limit=400, epsabs=1e-14)[0]
    m = first / evidence
    assert_allclose(mean[0, 0], m, rtol=1e-8, atol=1e-8)
    assert_close(std[0, 0], np.sqrt(second / evidence - m * m), rtol=1e-7)
    assert_close(cond.covariance()[0, 0, 0], std[0, 0] ** 2, rtol=1e-12)
    assert_close(np.exp(cond.log_marginal_[0]), evidence, rtol=1e-8)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_conditional_samples_have_the_conditional_moments(covariance_type: str) -> None:
    model = _model(covariance_type, k=3, d=3, seed=7)
    cond = model.condition([1], [[0.5], [-1.0]])
    draws = cond.sample(40_000, random_state=0)
    assert draws.shape == (2, 40_000, 2)
    mean = cond.predict()
    cov = cond.covariance()
    for i in range(2):
        scale = np.sqrt(np.diag(cov[i]))
        assert np.all(np.abs(draws[i].mean(axis=0) - mean[i]) <= 5 * scale / np.sqrt(40_000))
        assert_allclose(np.cov(draws[i].T), cov[i], atol=0.05 * scale.max() ** 2)
    assert np.array_equal(cond.sample(3, random_state=1), cond.sample(3, random_state=1))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_impute_is_the_conditional_mean(covariance_type: str) -> None:
    model = _model(covariance_type, seed=8)
    values = np.random.RandomState(9).normal(size=(5, 2))
    X = np.full((5, 4), np.nan)
    X[:, [0, 3]] = values
    assert_close(model.impute(X)[:, [1, 2]], model.condition([0, 3], values).predict())


def test_torch_values_give_tensors() -> None:
    torch = pytest.importorskip("torch")
    model = _model("full", seed=10)
    values = np.random.RandomState(11).normal(size=(6, 2))
    expected = model.condition([0, 1], values)
    cond = model.condition([0, 1], torch.tensor(values, dtype=torch.float32))
    mean, std = cond.predict(return_std=True)
    assert isinstance(mean, torch.Tensor) and mean.dtype == torch.float64
    assert isinstance(std, torch.Tensor)
    assert_allclose(mean.numpy(), expected.predict(), rtol=1e-6, atol=1e-6)
    Y = torch.zeros(6, 2, dtype=torch.float64)
    assert isinstance(cond.score_samples(Y), torch.Tensor)
    assert cond.sample(2, random_state=0).shape == (6, 2, 2)


def test_derived_model_keeps_a_constraint_that_survives() -> None:
    """A registry entry with a constraint: kept when the result obeys it, else its form's
    least constrained model (as mclust's constrained models are treated)."""

    model = get_covariance("EII")  # all components one variance
    assert derived_model(model, np.full(3, 2.0), 3, 2) is model
    assert derived_model(model, np.array([1.0, 2.0, 3.0]), 3, 2) is REGISTRY["spherical"]


def test_bad_features_and_values_get_clear_errors() -> None:
    model = _model("diag", seed=12)
    with pytest.raises(ValueError, match="twice"):
        model.marginal([1, 1])
    with pytest.raises(ValueError, match="out of range"):
        model.marginal([4])
    with pytest.raises(ValueError, match="no feature names"):
        model.marginal(["a"])
    with pytest.raises(ValueError, match="No feature"):
        model.marginal([])
    with pytest.raises(ValueError, match="nothing to describe"):
        model.condition([0, 1, 2, 3], [[0, 0, 0, 0]])
    with pytest.raises(ValueError, match="one column per feature"):
        model.condition([0, 1], [[0.0, 1.0, 2.0]])
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.condition([0, 1], [[np.nan, 1.0]])
    with pytest.raises(ValueError, match="1-D array of 3"):
        model.condition([0, 1], [0.0, 1.0, 2.0])
    cond = model.condition([0], [1.0, 2.0])  # one feature: a 1-D array is a column
    assert len(cond) == 2
    with pytest.raises(ValueError, match="one row per conditioning row"):
        cond.score_samples(np.zeros((3, 3)))
    with pytest.raises(IndexError):
        cond[2]
