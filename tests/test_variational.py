"""The variational core (_core/variational.py) against scikit-learn's BayesianGaussianMixture.

scikit-learn's estimator is driven step by step through its private methods
(``_initialize``, ``_e_step``, ``_m_step``, ``_compute_lower_bound``) from the same
responsibilities, and every posterior parameter and bound is compared at each
iteration: the core must be the same algorithm, not just reach the same end.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.special import logsumexp, xlogy
from sklearn.cluster import KMeans
from sklearn.mixture import BayesianGaussianMixture as SkBayesian

from _support import COVARIANCE_TYPES, assert_close, blobs
from gaussmix._core import variational as V
from gaussmix._core.covariance import IllConditionedError, get_covariance
from gaussmix._core.estep import chunk_stats, log_responsibilities, stats_from_resp

PRIOR_TYPES = tuple(V.WEIGHT_PRIORS)
RTOL = 1e-6
FIELDS = {
    "weight_concentration": "weight_concentration_",
    "mean_precision": "mean_precision_",
    "means": "means_",
    "degrees_of_freedom": "degrees_of_freedom_",
    "covariances": "covariances_",
    "precisions_cholesky": "precisions_cholesky_",
}


def _data_stats(X: np.ndarray, covariance_type: str, weights: Any = None) -> Any:
    ones = np.ones((X.shape[0], 1)) if weights is None else np.asarray(weights)[:, None]
    return stats_from_resp(X, ones, get_covariance(covariance_type))


def _random_resp(n: int, k: int, seed: int) -> np.ndarray:
    resp = np.random.RandomState(seed).uniform(size=(n, k))
    return resp / resp.sum(axis=1, keepdims=True)


def assert_same_posterior(ours: V.Posterior, theirs: SkBayesian) -> None:
    for field, attribute in FIELDS.items():
        got = np.asarray(getattr(ours, field), dtype=np.float64)
        expected = np.asarray(getattr(theirs, attribute), dtype=np.float64)
        assert got.shape == expected.shape, field
        scale = float(np.abs(expected).max())
        assert_allclose(got, expected, rtol=RTOL, atol=RTOL * scale, err_msg=field)


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_every_iteration_matches_scikit_learn(covariance_type: str, prior_type: str) -> None:
    # Data far from the origin, of unequal scales, more components than clusters
    # (some switch off): every term of the update and the bound is exercised.
    X = blobs(n=600, d=3, k=3, seed=1) * [1.0, 3.0, 0.3] + 50.0
    K = 5
    sk = SkBayesian(
        n_components=K, covariance_type=covariance_type, weight_concentration_prior_type=prior_type
    )
    sk._check_parameters(X)
    resp = _random_resp(X.shape[0], K, seed=2)
    sk._initialize(X, resp)
    cov = get_covariance(covariance_type)
    weight_prior = V.WEIGHT_PRIORS[prior_type]
    prior = V.data_prior(_data_stats(X, covariance_type), cov, K)
    posterior = V.m_step(stats_from_resp(X, resp, cov), cov, prior, weight_prior, sk.reg_covar)
    assert_same_posterior(posterior, sk)
    for _ in range(25):
        plan = V.plan(posterior, cov.form, weight_prior)
        stats = chunk_stats(X, None, plan.params, cov)
        posterior = V.m_step(stats, cov, prior, weight_prior, sk.reg_covar)
        bound = V.lower_bound(
            V.entropy(stats, plan.params, cov.form), posterior, cov.form, weight_prior
        )
        log_prob_norm, log_resp = sk._e_step(X)
        # The plan's E-step is scikit-learn's: the same row log-densities, once shifted.
        rows_ll = stats.log_likelihood / stats.total_weight + plan.log_shift
        assert_close(rows_ll, log_prob_norm, rtol=1e-9)
        sk._m_step(X, log_resp)
        expected = float(np.squeeze(sk._compute_lower_bound(log_resp, log_prob_norm)))
        assert_close(bound, expected, rtol=1e-9)
        assert_same_posterior(posterior, sk)
    sk._set_parameters(sk._get_parameters())
    assert_close(weight_prior.weights(posterior.weight_concentration), sk.weights_, rtol=1e-9)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_default_prior_is_scikit_learns(covariance_type: str) -> None:
    X = blobs(n=200, d=4, k=2, seed=3) * [1.0, 10.0, 0.1, 2.0]
    sk = SkBayesian(n_components=4, covariance_type=covariance_type)
    sk._check_parameters(X)
    prior = V.data_prior(_data_stats(X, covariance_type), get_covariance(covariance_type), 4)
    assert prior.weight_concentration == sk.weight_concentration_prior_
    assert prior.mean_precision == sk.mean_precision_prior_
    assert prior.degrees_of_freedom == sk.degrees_of_freedom_prior_
    assert_close(prior.mean, sk.mean_prior_, rtol=1e-12)
    assert np.shape(prior.covariance) == np.shape(sk.covariance_prior_)
    assert_close(prior.covariance, sk.covariance_prior_, rtol=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_integer_weights_give_the_defaults_of_repeated_rows(covariance_type: str) -> None:
    X = blobs(n=60, d=3, k=2, seed=4)
    counts = np.random.RandomState(5).randint(0, 4, size=X.shape[0])
    cov = get_covariance(covariance_type)
    weighted = V.data_prior(_data_stats(X, covariance_type, counts), cov, 3)
    repeated = V.data_prior(_data_stats(np.repeat(X, counts, axis=0), covariance_type), cov, 3)
    for a, b in zip(weighted, repeated, strict=True):
        assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_entropy_from_statistics_is_exact(covariance_type: str) -> None:
    # Far-off data and unequal row weights: -Σ w r log r from the statistics alone
    # equals the direct sum over rows.
    rng = np.random.RandomState(6)
    X = blobs(n=500, d=3, k=3, seed=6) + 1e3
    weights = rng.uniform(0.0, 3.0, size=X.shape[0])
    cov = get_covariance(covariance_type)
    prior = V.data_prior(_data_stats(X, covariance_type), cov, 4)
    resp = _random_resp(X.shape[0], 4, seed=7)
    posterior = V.m_step(stats_from_resp(X, resp, cov), cov, prior, V.DirichletProcess(), 1e-6)
    params = V.plan(posterior, cov.form, V.DirichletProcess()).params
    stats = chunk_stats(X, weights, params, cov)
    _, log_resp = log_responsibilities(X, params, cov)
    direct = -float(np.sum(weights[:, None] * xlogy(np.exp(log_resp), np.exp(log_resp))))
    got = V.entropy(stats, params, cov.form)
    assert_allclose(got, direct, rtol=1e-9, atol=1e-9 * abs(stats.log_likelihood))
    assert got > 0


def test_plan_log_shift_restores_the_constants() -> None:
    X = blobs(n=200, d=2, k=2, seed=8)
    cov = get_covariance("full")
    prior = V.data_prior(_data_stats(X, "full"), cov, 3)
    posterior = V.m_step(
        stats_from_resp(X, _random_resp(200, 3, 9), cov),
        cov,
        prior,
        V.DirichletDistribution(),
        1e-6,
    )
    plan = V.plan(posterior, cov.form, V.DirichletDistribution())
    assert_close(plan.params.weights.sum(), 1.0, rtol=1e-15)
    sk = SkBayesian(n_components=3, weight_concentration_prior_type="dirichlet_distribution")
    sk._check_parameters(X)
    sk._initialize(X, _random_resp(200, 3, 9))
    expected = sk._estimate_log_weights() + (
        sk._estimate_log_prob(X) - _gaussian_log_prob(X, posterior, cov)
    ).mean(axis=0)
    assert_close(np.log(plan.params.weights) + plan.log_shift, expected, rtol=1e-10)
    assert_close(plan.log_shift, logsumexp(expected), rtol=1e-12)


def _gaussian_log_prob(X: np.ndarray, posterior: V.Posterior, cov: Any) -> np.ndarray:
    return cov.form.log_prob(X, posterior.means, posterior.precisions_cholesky)


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_empty_components_get_the_prior(covariance_type: str, prior_type: str) -> None:
    # A component without mass is the prior itself: mean m_0, covariance Ψ_0/ν_0.
    X = blobs(n=100, d=3, k=2, seed=10)
    cov = get_covariance(covariance_type)
    prior = V.data_prior(_data_stats(X, covariance_type), cov, 3)
    resp = np.zeros((100, 3))
    resp[:, 0] = 1.0
    posterior = V.m_step(
        stats_from_resp(X, resp, cov), cov, prior, V.WEIGHT_PRIORS[prior_type], 0.0
    )
    assert_close(posterior.means[1:], np.broadcast_to(prior.mean, (2, 3)), rtol=1e-12)
    assert_close(posterior.mean_precision[1:], prior.mean_precision, rtol=1e-12)
    if cov.form.per_component:
        expected = np.broadcast_to(prior.covariance, posterior.covariances[1:].shape)
        assert_close(posterior.covariances[1:], expected / prior.degrees_of_freedom, rtol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_degenerate_data_keeps_every_component_proper(covariance_type: str) -> None:
    # A constant column and repeated rows: the data's covariance (the default Ψ_0)
    # is singular, so reg_covar keeps the prior and every posterior proper.
    X = np.repeat(np.array([[1.0, 5.0, 2.0], [2.0, 5.0, 4.0], [3.0, 5.0, 6.0]]), 20, axis=0)
    cov = get_covariance(covariance_type)
    prior = V.data_prior(_data_stats(X, covariance_type), cov, 4, reg_covar=1e-6)
    posterior = V.m_step(
        stats_from_resp(X, _random_resp(60, 4, 11), cov), cov, prior, V.DirichletProcess(), 1e-6
    )
    for _ in range(20):
        params = V.plan(posterior, cov.form, V.DirichletProcess()).params
        stats = chunk_stats(X, None, params, cov)
        posterior = V.m_step(stats, cov, prior, V.DirichletProcess(), 1e-6)
        bound = V.lower_bound(
            V.entropy(stats, params, cov.form), posterior, cov.form, V.DirichletProcess()
        )
        assert np.isfinite(bound)
    for array in posterior:
        assert np.all(np.isfinite(np.asarray(array, dtype=np.float64)))
    same = np.ones((10, 3))
    with pytest.raises(IllConditionedError, match="reg_covar"):
        V.data_prior(_data_stats(same, covariance_type), cov, 4, reg_covar=0.0)


def test_run_variational_stops_as_scikit_learn() -> None:
    X = blobs(n=400, d=2, k=3, seed=12)
    cov = get_covariance("diag")
    weight_prior = V.DirichletProcess()
    prior = V.data_prior(_data_stats(X, "diag"), cov, 4)
    resp = _random_resp(400, 4, 13)
    start = V.m_step(stats_from_resp(X, resp, cov), cov, prior, weight_prior, 1e-6)
    seen: list[tuple[int, float, float]] = []
    result = V.run_variational(
        lambda params: chunk_stats(X, None, params, cov),
        start,
        cov,
        prior,
        weight_prior,
        reg_covar=1e-6,
        tol=1e-3,
        max_iter=200,
        on_iteration=lambda *args: seen.append(args),
    )
    sk = SkBayesian(
        n_components=4,
        covariance_type="diag",
        init_params="random",
        tol=1e-3,
        max_iter=200,
        random_state=13,
    ).fit(X)
    assert result.converged and sk.converged_
    assert result.n_iter == sk.n_iter_ == len(seen)
    assert_close(result.lower_bounds, sk.lower_bounds_, rtol=1e-9)
    assert_allclose(result.posterior.means, sk.means_, rtol=1e-7, atol=1e-9)
    assert abs(result.lower_bounds[-1] - result.lower_bounds[-2]) < 1e-3


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_a_first_batch_is_one_coordinate_ascent_step(covariance_type: str) -> None:
    X = blobs(n=300, d=3, k=3, seed=14)
    cov = get_covariance(covariance_type)
    weight_prior = V.DirichletProcess()
    prior = V.data_prior(_data_stats(X, covariance_type), cov, 4)
    start = V.m_step(
        stats_from_resp(X, _random_resp(300, 4, 15), cov), cov, prior, weight_prior, 1e-6
    )
    stats = chunk_stats(X, None, V.plan(start, cov.form, weight_prior).params, cov)
    stream, posterior = V.stochastic_step(
        None, stats, cov, prior, weight_prior, reg_covar=1e-6, decay=0.7, offset=2.0
    )
    expected = V.m_step(stats, cov, prior, weight_prior, 1e-6)
    for got, want in zip(posterior, expected, strict=True):
        assert_close(np.asarray(got, float), np.asarray(want, float), rtol=1e-12)
    assert stream.n_batches == 1 and stream.seen_weight == 300.0


def test_stochastic_steps_approach_the_batch_posterior() -> None:
    # Batches of one stationary stream: the running statistics settle where the
    # batch fit's are, so the held-out score approaches the batch fit's.
    X = blobs(n=22_000, d=3, k=4, seed=16)
    train, test = X[:20_000], X[20_000:]
    cov = get_covariance("diag")
    weight_prior = V.DirichletProcess()
    labels = KMeans(6, n_init=1, random_state=17).fit(train[:200]).predict(train)
    resp = np.eye(6)[labels]

    def score(posterior: V.Posterior) -> float:
        plan = V.plan(posterior, cov.form, weight_prior)
        stats = chunk_stats(test, None, plan.params, cov)
        return stats.log_likelihood / stats.total_weight + plan.log_shift

    prior = V.data_prior(_data_stats(train, "diag"), cov, 6)
    start = V.m_step(stats_from_resp(train, resp, cov), cov, prior, weight_prior, 1e-6)
    batch = V.run_variational(
        lambda params: chunk_stats(train, None, params, cov),
        start,
        cov,
        prior,
        weight_prior,
        reg_covar=1e-6,
        tol=2e-2,
        max_iter=500,
    )
    first = train[:200]
    prior = V.data_prior(_data_stats(first, "diag"), cov, 6)
    posterior = V.m_step(stats_from_resp(first, resp[:200], cov), cov, prior, weight_prior, 1e-6)
    stream = None
    for rows in np.array_split(train, 100):
        stats = chunk_stats(rows, None, V.plan(posterior, cov.form, weight_prior).params, cov)
        stream, posterior = V.stochastic_step(
            stream, stats, cov, prior, weight_prior, reg_covar=1e-6, decay=0.7, offset=2.0
        )
    assert stream is not None and stream.seen_weight == pytest.approx(20_000)
    assert abs(score(posterior) - score(batch.posterior)) < 0.01 * abs(score(batch.posterior))
