"""Covariance strategy objects: densities, parameter counts, precision round trips."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.stats import multivariate_normal
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from _support import (
    COVARIANCE_TYPES,
    assert_close,
    dense_covariance,
    random_covariances,
    random_params,
)
from gaussmix import GaussianMixture
from gaussmix._core.covariance import IllConditionedError, Params, get_covariance, params_problem
from gaussmix._core.estep import stats_from_resp
from gaussmix._core.stats import Stats, merge, pooled


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("d", [1, 2, 5])
def test_log_prob_matches_scipy(covariance_type: str, d: int) -> None:
    rng = np.random.RandomState(d)
    K = 3
    cov = get_covariance(covariance_type)
    params = random_params(covariance_type, K, d, rng)
    X = rng.normal(scale=3.0, size=(40, d))
    got = cov.form.log_prob(X, params.means, params.precisions_cholesky)
    assert got.shape == (40, K)
    for k in range(K):
        expected = multivariate_normal(
            params.means[k], dense_covariance(covariance_type, params.covariances, k, d)
        ).logpdf(X)
        assert_allclose(got[:, k], expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_paired_mahalanobis_is_the_diagonal_of_the_full_matrix(covariance_type: str) -> None:
    # Each point against its own component's mean and precision, far from the origin.
    rng = np.random.RandomState(4)
    K, d = 4, 3
    form = get_covariance(covariance_type).form
    params = random_params(covariance_type, K, d, rng)
    points = params.means + rng.normal(size=(K, d)) + 1e4
    means = params.means + 1e4
    got = form.paired_mahalanobis(points, means, params.precisions_cholesky)
    full = form.mahalanobis(points, means, params.precisions_cholesky)
    assert got.shape == (K,)
    assert_close(got, np.diagonal(full), rtol=1e-9)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_log_prob_float32_stays_float32(covariance_type: str) -> None:
    rng = np.random.RandomState(1)
    cov = get_covariance(covariance_type)
    params = random_params(covariance_type, 2, 3, rng)
    X = rng.normal(size=(30, 3))
    got = cov.form.log_prob(
        X.astype(np.float32),
        params.means.astype(np.float32),
        params.precisions_cholesky.astype(np.float32),
    )
    assert got.dtype == np.float32
    assert_close(got, cov.form.log_prob(X, params.means, params.precisions_cholesky), rtol=1e-5)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_score_samples_single_component_matches_scipy(covariance_type: str) -> None:
    rng = np.random.RandomState(2)
    d = 3
    cov = get_covariance(covariance_type)
    covariances = random_covariances(covariance_type, 1, d, rng)
    mean = rng.normal(size=(1, d))
    precisions = cov.form.precisions(cov.form.cholesky_precisions(covariances))
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
    assert_close(gm.score_samples(X), expected.logpdf(X), rtol=1e-12)
    log_density = expected.logpdf(X)
    assert_close(gm.score(X), log_density.mean(), rtol=1e-12, scale=np.abs(log_density).max())


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
    assert covariances.shape == cov.form.shape(K, d)

    prec_chol = cov.form.cholesky_precisions(covariances)
    assert prec_chol.shape == cov.form.shape(K, d)
    precisions = cov.form.precisions(prec_chol)
    for k in range(K):
        dense_cov = dense_covariance(covariance_type, covariances, k, d)
        dense_prec = dense_covariance(covariance_type, precisions, k, d)
        assert_allclose(dense_prec @ dense_cov, np.eye(d), atol=1e-12)
    assert_close(cov.form.covariances_from_precisions(precisions), covariances, rtol=1e-12)
    assert cov.form.is_valid_precision(precisions)

    # The factor built from precisions (as for precisions_init) gives the same precisions
    # and the same densities, though it may be a different (lower) triangle.
    from_prec = cov.form.cholesky_from_precisions(precisions)
    assert_allclose(cov.form.precisions(from_prec), precisions, rtol=1e-12, atol=1e-14)
    means = rng.normal(size=(K, d))
    X = rng.normal(size=(20, d))
    assert_close(cov.form.log_prob(X, means, from_prec), cov.form.log_prob(X, means, prec_chol))


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_full_factors_are_upper_triangular(covariance_type: str) -> None:
    cov = get_covariance(covariance_type)
    covariances = random_covariances(covariance_type, 2, 3, np.random.RandomState(4))
    prec_chol = cov.form.cholesky_precisions(covariances)
    assert_array_equal(np.tril(prec_chol, -1), 0.0)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_singular_or_non_finite_covariance_is_a_clear_error(covariance_type: str) -> None:
    cov = get_covariance(covariance_type)
    zero = np.zeros(cov.form.shape(2, 3))
    with pytest.raises(IllConditionedError, match="increase reg_covar"):
        cov.form.cholesky_precisions(zero)
    with pytest.raises(IllConditionedError, match="Rescale the input data"):
        cov.form.cholesky_precisions(np.full(cov.form.shape(2, 3), np.inf))
    assert issubclass(IllConditionedError, ValueError)


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_non_symmetric_positive_definite_precision_is_invalid(covariance_type: str) -> None:
    cov = get_covariance(covariance_type)
    bad = -np.eye(2) if covariance_type == "tied" else np.stack([np.eye(2), -np.eye(2)])
    assert not cov.form.is_valid_precision(bad)
    asym = np.array([[1.0, 0.5], [0.0, 1.0]])
    assert not cov.form.is_valid_precision(asym if covariance_type == "tied" else asym[None])


def test_get_covariance_lists_valid_options() -> None:
    with pytest.raises(ValueError, match="'full', 'tied', 'diag', 'spherical'"):
        get_covariance("foo")


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_variances_are_the_dense_diagonals(covariance_type: str) -> None:
    K, d = 3, 4
    cov = get_covariance(covariance_type)
    covariances = random_covariances(covariance_type, K, d, np.random.RandomState(5))
    variances = cov.form.variances(covariances, d)
    dense = cov.form.dense(covariances, K, d)
    assert dense.shape == (K, d, d)
    for k in range(K):
        expected = dense_covariance(covariance_type, covariances, k, d)
        assert_close(dense[k], expected)
        assert_close(variances[k if cov.form.per_component else 0], np.diag(expected))


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


# -- the registry's facts: canonical factors and valid parameters ----------------------------
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_factors_from_precisions_are_the_canonical_ones(covariance_type: str) -> None:
    """precisions_init gives the factor the M-step would compute (upper, positive diagonal)."""
    K, d = 3, 4
    cov = get_covariance(covariance_type)
    covariances = random_covariances(covariance_type, K, d, np.random.RandomState(7))
    canonical = cov.form.cholesky_precisions(covariances)
    from_precisions = cov.form.cholesky_from_precisions(cov.form.precisions(canonical))
    assert_allclose(from_precisions, canonical, rtol=1e-10, atol=1e-12 * np.abs(canonical).max())
    assert cov.form.factor_problem(covariances, from_precisions) == ""


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_a_fitted_model_has_valid_params(covariance_type: str) -> None:
    X = np.random.RandomState(0).normal(size=(200, 3))
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    assert params_problem(gm._params, get_covariance(covariance_type)) == ""


def _lying(covariance_type: str, how: str) -> Params:
    """Parameters of a 2-component model in 2-D that a forged file could hold."""
    K, d = 2, 2
    cov = get_covariance(covariance_type)
    covariances = random_covariances(covariance_type, K, d, np.random.RandomState(3))
    factors = cov.form.cholesky_precisions(covariances)
    means = np.zeros((K, d))
    if how == "negated":  # P Pᵀ is still Σ⁻¹
        factors = -factors
    elif how == "rotated":  # (P Q)(P Q)ᵀ = P Pᵀ for a rotation Q
        angle = np.pi / 4
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        factors = factors @ rotation
    elif how == "tiny":
        covariances = np.full_like(covariances, 1e-310) if cov.form.diagonal else covariances
        factors = 1.0 / np.sqrt(covariances) if cov.form.diagonal else factors
    elif how == "far":
        means = np.full((K, d), 1e300)
    return Params(np.full(K, 0.5), means, covariances, factors)


@pytest.mark.parametrize(
    ("covariance_type", "how", "match"),
    [
        ("full", "negated", "positive diagonal"),
        ("tied", "negated", "positive diagonal"),
        ("diag", "negated", "not all positive"),
        ("spherical", "negated", "not all positive"),
        ("full", "rotated", "upper triangular"),
        ("tied", "rotated", "upper triangular"),
        ("diag", "tiny", "beyond"),
        ("spherical", "tiny", "beyond"),
        ("full", "far", "means reach"),
    ],
)
def test_lying_params_are_named(covariance_type: str, how: str, match: str) -> None:
    problem = params_problem(_lying(covariance_type, how), get_covariance(covariance_type))
    assert match in problem


def test_weights_must_sum_to_one() -> None:
    params = _lying("full", "none")
    assert params_problem(params._replace(weights=np.array([0.5, 0.5 + 5e-8])), FULL) != ""
    assert params_problem(params._replace(weights=np.array([0.5, 0.5 + 5e-9])), FULL) == ""


FULL = get_covariance("full")


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_merge_serves_numpy_and_torch_alike(covariance_type: str) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.RandomState(2)
    form = get_covariance(covariance_type).form
    K, d = 3, 2
    blocks = [
        Stats(
            float(rng.uniform(1, 5)),
            float(rng.normal()),
            rng.uniform(0, 3, size=K) * np.array([1.0, 0.0, 1.0]),  # one empty component
            rng.normal(size=(K, d)),
            np.abs(random_covariances(covariance_type, K, d, rng)),
        )
        for _ in range(2)
    ]
    expected = merge(*blocks, form)
    as_tensors = [Stats(*(torch.as_tensor(np.asarray(v)) for v in b)) for b in blocks]
    got = merge(*as_tensors, form)
    for a, b in zip(got, expected, strict=True):
        assert_allclose(np.asarray(a), b, rtol=1e-14, atol=1e-14 * (1 + np.abs(b).max()))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_pooled_statistics_are_the_whole_data_as_one_component(covariance_type: str) -> None:
    rng = np.random.RandomState(4)
    X = rng.normal(size=(50, 3)) + 10.0
    resp = rng.dirichlet(np.ones(3), size=50)
    cov = get_covariance(covariance_type)
    together = pooled(stats_from_resp(X, resp, cov), cov.form)
    single = stats_from_resp(X, np.ones((50, 1)), cov)
    assert_close(together.mass, single.mass)
    assert_close(together.means, single.means, rtol=1e-13)
    assert_close(together.scatter, single.scatter, rtol=1e-11)
