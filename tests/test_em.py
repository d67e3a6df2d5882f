"""The EM loop on its own: m_step and run_em over an expectation callable."""

from __future__ import annotations

import numpy as np
import pytest

from _support import COVARIANCE_TYPES, assert_close, blobs, random_params
from gaussmix import GaussianMixture
from gaussmix._core.covariance import IllConditionedError, Params, get_covariance
from gaussmix._core.em import m_step, run_em
from gaussmix._core.estep import stats_from_resp
from gaussmix._core.stats import Stats
from gaussmix.backends.numpy import NumpyRows


def _rows_and_start(covariance_type: str, seed: int = 0) -> tuple[NumpyRows, Params]:
    X = blobs(n=400, d=2, k=3, seed=seed)
    params = random_params(covariance_type, 3, 2, np.random.RandomState(seed))
    return NumpyRows(X), params


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_m_step_is_the_maximum_likelihood_update(covariance_type: str) -> None:
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 2))
    resp = rng.dirichlet(np.ones(3), size=60)
    cov = get_covariance(covariance_type)
    params = m_step(stats_from_resp(X, resp, cov), cov, reg_covar=0.1)
    mass = resp.sum(axis=0)
    assert_close(params.weights, mass / 60, rtol=1e-12)
    assert params.weights.sum() == pytest.approx(1.0, abs=1e-15)
    means = resp.T @ X / mass[:, None]
    assert_close(params.means, means, rtol=1e-12)
    full = np.stack([(resp[:, k, None] * (X - means[k])).T @ (X - means[k]) for k in range(3)])
    expected = {
        "full": full / mass[:, None, None] + 0.1 * np.eye(2),
        "tied": full.sum(axis=0) / 60 + 0.1 * np.eye(2),
        "diag": np.diagonal(full, axis1=1, axis2=2) / mass[:, None] + 0.1,
        "spherical": np.trace(full, axis1=1, axis2=2) / (2 * mass) + 0.1,
    }[covariance_type]
    assert_close(params.covariances, expected, rtol=1e-12)
    assert_close(params.precisions_cholesky, cov.form.cholesky_precisions(expected), rtol=1e-12)


def test_m_step_keeps_an_empty_component_finite() -> None:
    X = np.random.RandomState(1).normal(size=(30, 2))
    resp = np.zeros((30, 2))
    resp[:, 0] = 1.0
    cov = get_covariance("full")
    params = m_step(stats_from_resp(X, resp, cov), cov, reg_covar=1e-6)
    assert params.weights[1] > 0.0
    assert params.weights.sum() == pytest.approx(1.0)
    assert_close(params.covariances[1], 1e-6 * np.eye(2))
    assert all(np.all(np.isfinite(p)) for p in params[:4]) and params.noise is None


def test_m_step_without_regularization_on_a_collapsed_component_is_a_clear_error() -> None:
    X = np.ones((10, 2))
    resp = np.ones((10, 1))
    cov = get_covariance("full")
    with pytest.raises(IllConditionedError, match="increase reg_covar"):
        m_step(stats_from_resp(X, resp, cov), cov, reg_covar=0.0)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_lower_bounds_never_decrease(covariance_type: str) -> None:
    rows, params = _rows_and_start(covariance_type)
    cov = get_covariance(covariance_type)
    seen: list[tuple[int, float, float]] = []
    result = run_em(
        lambda p: rows.expectation(p, cov),
        params,
        cov,
        reg_covar=1e-6,
        tol=1e-10,
        max_iter=200,
        on_iteration=lambda *args: seen.append(args),
    )
    bounds = np.asarray(result.lower_bounds)
    assert len(bounds) == result.n_iter > 3
    assert np.all(np.diff(bounds) >= 0.0)
    assert [s[0] for s in seen] == list(range(1, result.n_iter + 1))
    assert [s[1] for s in seen] == result.lower_bounds
    assert result.lower_bound == bounds[-1]
    assert result.converged


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_stopping_rule(covariance_type: str) -> None:
    rows, params = _rows_and_start(covariance_type, seed=1)
    cov = get_covariance(covariance_type)

    def expectation(p: Params) -> Stats:
        return rows.expectation(p, cov)

    tol = 1e-4
    result = run_em(expectation, params, cov, reg_covar=1e-6, tol=tol, max_iter=500)
    changes = np.diff(result.lower_bounds)
    assert result.converged
    assert abs(changes[-1]) < tol  # stopped at the first small change ...
    assert np.all(np.abs(changes[:-1]) >= tol)  # ... and not before

    # The same run cut short by max_iter: the same bounds so far, not converged.
    short = run_em(expectation, params, cov, reg_covar=1e-6, tol=tol, max_iter=3)
    assert (short.n_iter, short.converged) == (3, False)
    assert_close(short.lower_bounds, result.lower_bounds[:3], rtol=1e-14)

    # No iteration: the parameters come back untouched.
    none = run_em(expectation, params, cov, reg_covar=1e-6, tol=tol, max_iter=0)
    assert (none.n_iter, none.converged, none.lower_bounds) == (0, False, [])
    assert none.lower_bound == -np.inf
    assert none.params is params


def test_tol_zero_runs_max_iter() -> None:
    rows, params = _rows_and_start("diag", seed=2)
    cov = get_covariance("diag")
    result = run_em(
        lambda p: rows.expectation(p, cov), params, cov, reg_covar=1e-6, tol=0.0, max_iter=7
    )
    assert (result.n_iter, result.converged, len(result.lower_bounds)) == (7, False, 7)


def test_start_lower_bound_counts_as_the_previous_bound() -> None:
    rows, params = _rows_and_start("full", seed=3)
    cov = get_covariance("full")

    def expectation(p: Params) -> Stats:
        return rows.expectation(p, cov)

    first = expectation(params).log_likelihood / rows.n_rows
    # Starting from that very bound, the first iteration changes nothing: converged at once.
    result = run_em(
        expectation, params, cov, reg_covar=1e-6, tol=1e-3, max_iter=50, start_lower_bound=first
    )
    assert (result.n_iter, result.converged) == (1, True)
    assert result.lower_bounds == [first]


def _fixed_point(covariance_type: str) -> tuple[NumpyRows, Params]:
    rows, params = _rows_and_start(covariance_type, seed=4)
    cov = get_covariance(covariance_type)
    result = run_em(
        lambda p: rows.expectation(p, cov), params, cov, reg_covar=0.0, tol=1e-12, max_iter=1000
    )
    return rows, result.params


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_an_m_step_that_lowers_the_likelihood_is_undone(covariance_type: str) -> None:
    # From the maximum-likelihood fit, a huge reg_covar makes the first M-step worse:
    # the loop must keep the better parameters, not record a decreasing bound.
    rows, best = _fixed_point(covariance_type)
    cov = get_covariance(covariance_type)
    calls: list[Params] = []

    def expectation(p: Params) -> Stats:
        calls.append(p)
        return rows.expectation(p, cov)

    result = run_em(expectation, best, cov, reg_covar=10.0, tol=1e-8, max_iter=50)
    assert len(calls) == 2  # the bound of the regularized parameters was computed ...
    assert np.all(cov.form.variances(calls[1].covariances, 2) > 10.0)
    assert result.params is best  # ... found lower, and those parameters dropped
    assert (result.n_iter, result.converged) == (1, True)
    assert result.lower_bounds == [rows.expectation(best, cov).log_likelihood / rows.n_rows]


def test_a_lower_bound_drop_from_a_custom_expectation_keeps_the_better_parameters() -> None:
    # An expectation whose third call reports a lower likelihood than its second.
    rows, params = _rows_and_start("spherical", seed=5)
    cov = get_covariance("spherical")
    log_likelihoods = iter([-900.0, -800.0, -850.0, -700.0])
    calls: list[Params] = []

    def expectation(p: Params) -> Stats:
        calls.append(p)
        return rows.expectation(p, cov)._replace(log_likelihood=next(log_likelihoods))

    result = run_em(expectation, params, cov, reg_covar=1e-6, tol=1e-12, max_iter=10)
    n = rows.n_rows
    assert result.lower_bounds == [-900.0 / n, -800.0 / n]
    assert (result.n_iter, result.converged) == (2, True)
    assert result.params is calls[1]  # the parameters whose bound was -800


def test_estimator_keeps_the_better_parameters_too() -> None:
    X = blobs(n=300, d=2, k=2, seed=6)
    ml = GaussianMixture(2, reg_covar=0.0, tol=1e-12, max_iter=1000, random_state=0).fit(X)
    gm = GaussianMixture(
        2,
        reg_covar=100.0,
        weights_init=ml.weights_,
        means_init=ml.means_,
        precisions_init=ml.precisions_,
    ).fit(X)
    assert (gm.n_iter_, gm.converged_) == (1, True)
    assert_close(gm.means_, ml.means_, rtol=1e-12)
    assert_close(gm.covariances_, ml.covariances_, rtol=1e-9)
    assert gm.lower_bounds_ == [gm.lower_bound_]
    assert gm.lower_bound_ == pytest.approx(gm.score(X), rel=1e-12)


def test_a_drop_below_tol_is_convergence_recorded_as_no_change() -> None:
    rows, params = _rows_and_start("diag", seed=7)
    cov = get_covariance("diag")
    n = rows.n_rows
    log_likelihoods = iter([-900.0, -800.0, -800.0 - 1e-7 * n, -700.0])
    calls: list[Params] = []

    def expectation(p: Params) -> Stats:
        calls.append(p)
        return rows.expectation(p, cov)._replace(log_likelihood=next(log_likelihoods))

    result = run_em(expectation, params, cov, reg_covar=1e-6, tol=1e-6, max_iter=10)
    assert result.lower_bounds == [-900.0 / n, -800.0 / n, -800.0 / n]
    assert (result.n_iter, result.converged) == (3, True)
    assert len(calls) == 3
    assert result.params is not calls[2]  # the M-step's parameters, as scikit-learn keeps
