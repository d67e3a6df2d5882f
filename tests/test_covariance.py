"""Covariance strategy objects: densities, parameter counts, precision round trips."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.stats import multivariate_normal
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from _support import COVARIANCE_TYPES, dense_covariance, random_covariances, random_params
from gaussmix import GaussianMixture
from gaussmix._core.covariance import IllConditionedError, get_covariance


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("d", [1, 2, 5])
def test_log_prob_matches_scipy(covariance_type: str, d: int) -> None:
    rng = np.random.RandomState(d)
    K = 3
    cov = get_covariance(covariance_type)
    params = random_params(covariance_type, K, d, rng)
    X = rng.normal(scale=3.0, size=(40, d))
    got = cov.log_prob(X, params.means, params.precisions_cholesky)
    assert got.shape == (40, K)
    for k in range(K):
        expected = multivariate_normal(
            params.means[k], dense_covariance(covariance_type, params.covariances, k, d)
        ).logpdf(X)
        assert_allclose(got[:, k], expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_log_prob_float32_stays_float32(covariance_type: str) -> None:
    rng = np.random.RandomState(1)
    cov = get_covariance(covariance_type)
    params = random_params(covariance_type, 2, 3, rng)
    X = rng.normal(size=(30, 3))
    got = cov.log_prob(
        X.astype(np.float32),
        params.means.astype(np.float32),
        params.precisions_cholesky.astype(np.float32),
    )
    assert got.dtype == np.float32
    assert_allclose(got, cov.log_prob(X, params.means, params.precisions_cholesky), rtol=1e-5)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_score_samples_single_component_matches_scipy(covariance_type: str) -> None:
    rng = np.random.RandomState(2)
    d = 3
    cov = get_covariance(covariance_type)
    covariances = random_covariances(covariance_type, 1, d, rng)
    mean = rng.normal(size=(1, d))
    precisions = cov.precisions(cov.cholesky_precisions(covariances))
    X = rng.normal(scale=2.0, size=(50, d))
    gm = GaussianMixture(
        1,
        covariance_type=covariance_type,
        weights_init=[1.0],
        means_init=mean,
        precisions_init=precisions,
        max_iter=0,  # keep exactly the given parameters
    ).fit(X)
    expected = multivariate_normal(mean[0], dense_covariance(covariance_type, covariances, 0, d))
    assert_allclose(gm.score_samples(X), expected.logpdf(X), rtol=1e-12)
    assert_allclose(gm.score(X), expected.logpdf(X).mean(), rtol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize(("K", "d"), [(1, 1), (3, 2), (4, 7)])
def test_n_parameters_matches_sklearn(covariance_type: str, K: int, d: int) -> None:
    sk = SkGaussianMixture(K, covariance_type=covariance_type)
    sk.means_ = np.zeros((K, d))
    expected = sk._n_parameters()
    assert get_covariance(covariance_type).n_parameters(K, d) == expected
    gm = GaussianMixture(K, covariance_type=covariance_type)
    gm.means_ = np.zeros((K, d))
    assert gm._n_parameters() == expected


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_precision_round_trips(covariance_type: str) -> None:
    rng = np.random.RandomState(3)
    K, d = 3, 4
    cov = get_covariance(covariance_type)
    covariances = random_covariances(covariance_type, K, d, rng)
    assert covariances.shape == cov.shape(K, d)

    prec_chol = cov.cholesky_precisions(covariances)
    assert prec_chol.shape == cov.shape(K, d)
    precisions = cov.precisions(prec_chol)
    for k in range(K):
        dense_cov = dense_covariance(covariance_type, covariances, k, d)
        dense_prec = dense_covariance(covariance_type, precisions, k, d)
        assert_allclose(dense_prec @ dense_cov, np.eye(d), atol=1e-12)
    assert_allclose(cov.covariances_from_precisions(precisions), covariances, rtol=1e-12)
    assert cov.is_valid_precision(precisions)

    # The factor built from precisions (as for precisions_init) gives the same precisions
    # and the same densities, though it may be a different (lower) triangle.
    from_prec = cov.cholesky_from_precisions(precisions)
    assert_allclose(cov.precisions(from_prec), precisions, rtol=1e-12, atol=1e-14)
    means = rng.normal(size=(K, d))
    X = rng.normal(size=(20, d))
    assert_allclose(cov.log_prob(X, means, from_prec), cov.log_prob(X, means, prec_chol))


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_full_factors_are_upper_triangular(covariance_type: str) -> None:
    cov = get_covariance(covariance_type)
    covariances = random_covariances(covariance_type, 2, 3, np.random.RandomState(4))
    prec_chol = cov.cholesky_precisions(covariances)
    assert_allclose(np.tril(prec_chol, -1), 0.0)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_singular_or_non_finite_covariance_is_a_clear_error(covariance_type: str) -> None:
    cov = get_covariance(covariance_type)
    zero = np.zeros(cov.shape(2, 3))
    with pytest.raises(IllConditionedError, match="increase reg_covar"):
        cov.cholesky_precisions(zero)
    with pytest.raises(IllConditionedError, match="Rescale the input data"):
        cov.cholesky_precisions(np.full(cov.shape(2, 3), np.inf))
    assert issubclass(IllConditionedError, ValueError)


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_non_symmetric_positive_definite_precision_is_invalid(covariance_type: str) -> None:
    cov = get_covariance(covariance_type)
    bad = -np.eye(2) if covariance_type == "tied" else np.stack([np.eye(2), -np.eye(2)])
    assert not cov.is_valid_precision(bad)
    asym = np.array([[1.0, 0.5], [0.0, 1.0]])
    assert not cov.is_valid_precision(asym if covariance_type == "tied" else asym[None])


def test_get_covariance_lists_valid_options() -> None:
    with pytest.raises(ValueError, match="'full', 'tied', 'diag', 'spherical'"):
        get_covariance("foo")


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_variances_are_the_dense_diagonals(covariance_type: str) -> None:
    K, d = 3, 4
    cov = get_covariance(covariance_type)
    covariances = random_covariances(covariance_type, K, d, np.random.RandomState(5))
    got = cov.variances(covariances)
    for k in range(K):
        dense = np.diag(dense_covariance(covariance_type, covariances, k, d))
        row = {"tied": got, "spherical": np.full(d, got[k])}.get(covariance_type, got[k])
        assert_allclose(row, dense)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_score_samples_is_accurate_with_collinear_features(covariance_type: str) -> None:
    # A feature that is a combination of others makes every covariance nearly singular
    # (condition ~1e8 with the default reg_covar). Float64 then only determines the
    # log-density to ~eps·cond ≈ 1e-8 (scipy's own error here is ~5e-9), so this asks
    # for no more than scikit-learn parity: no cancellation beyond the conditioning.
    from gaussmix.datasets import load_old_faithful

    X, _ = load_old_faithful()
    X = np.c_[X, X[:, 0] + 2.0 * X[:, 1]]
    gm = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
    K, d = gm.means_.shape
    densities = [
        np.log(gm.weights_[k])
        + multivariate_normal(
            gm.means_[k], dense_covariance(covariance_type, gm.covariances_, k, d)
        ).logpdf(X)
        for k in range(K)
    ]
    expected = np.logaddexp.reduce(densities, axis=0)
    assert_allclose(gm.score_samples(X), expected, rtol=1e-6, atol=1e-6)
