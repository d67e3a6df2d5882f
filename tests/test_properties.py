"""Invariants of every fit, for random shapes, component counts, covariance types and inits."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose

from _support import COVARIANCE_TYPES, assert_close, dense_covariance, explicit_init
from gaussmix import GaussianMixture
from gaussmix._core.covariance import get_covariance
from gaussmix._core.em import run_em
from gaussmix.backends.numpy import NumpyRows

SETTINGS = settings(max_examples=25, deadline=None)
INITS = ("kmeans", "k-means++", "random", "random_from_data", "explicit")


@st.composite
def problems(draw: st.DrawFn, arbitrary: bool = True) -> dict[str, Any]:
    """A data set and the settings to fit it with.

    With ``arbitrary``, half the data sets are any bounded floats (duplicates,
    collapsed columns and all); otherwise all are noisy clusters.
    """
    K = draw(st.integers(1, 4))
    d = draw(st.integers(1, 4))
    # Noisy clusters get enough rows for well-conditioned covariances.
    n = draw(st.integers(max(2, K), 60) if arbitrary else st.integers(5 * K * (d + 1), 100))
    if arbitrary and draw(st.booleans()):
        # Arbitrary bounded values, duplicates and all.
        elements = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
        X = draw(arrays(np.float64, (n, d), elements=elements))
    else:
        rng = np.random.RandomState(draw(st.integers(0, 2**31 - 1)))
        centres = rng.uniform(-5, 5, size=(K, d))
        X = centres[rng.randint(K, size=n)] + rng.normal(size=(n, d))
        # Any scale, and an offset of up to 100 spreads: float64 keeps ~13 digits of
        # the spread, so chunk invariance to 1e-10 is meaningful.
        X = (X + draw(st.sampled_from([0.0, 100.0]))) * 10.0 ** draw(st.integers(-3, 3))
    return {
        "X": X,
        "K": K,
        "covariance_type": draw(st.sampled_from(COVARIANCE_TYPES)),
        "init": draw(st.sampled_from(INITS)),
        "seed": draw(st.integers(0, 1000)),
    }


def _fit(problem: dict[str, Any], **extra: Any) -> GaussianMixture:
    X, K, covariance_type = problem["X"], problem["K"], problem["covariance_type"]
    params: dict[str, Any] = {"covariance_type": covariance_type, "random_state": problem["seed"]}
    if problem["init"] == "explicit":
        params.update(explicit_init(X, K, covariance_type, seed=problem["seed"]))
    else:
        params["init_params"] = problem["init"]
    with warnings.catch_warnings():
        # Degenerate draws may warn (collapsed components, reg_covar, KMeans); the
        # invariants must hold all the same. RuntimeWarnings stay errors.
        warnings.simplefilter("ignore", UserWarning)
        return GaussianMixture(K, **params, **extra).fit(X)


def _condition(covariance_type: str, covariances: np.ndarray) -> float:
    """The largest condition number among the components' covariances.

    A nearly singular covariance (collapsed or collinear draws) determines the
    densities only to ~eps·cond, so chunk-invariance allowances grow beyond 1e6.
    """
    if covariance_type == "full":
        return float(np.linalg.cond(covariances).max())
    if covariance_type == "tied":
        return float(np.linalg.cond(covariances))
    if covariance_type == "diag":
        return float((covariances.max(axis=1) / covariances.min(axis=1)).max())
    return 1.0


@SETTINGS
@given(problems())
def test_fitted_parameters_are_valid(problem: dict[str, Any]) -> None:
    gm = _fit(problem)
    K, d = problem["K"], problem["X"].shape[1]
    assert np.all(gm.weights_ >= 0)
    assert gm.weights_.sum() == np.float64(1.0) or abs(gm.weights_.sum() - 1.0) < 1e-12
    assert gm.means_.shape == (K, d)
    assert np.all(np.isfinite(gm.means_))
    cov = get_covariance(problem["covariance_type"])
    assert gm.covariances_.shape == cov.form.shape(K, d)
    for k in range(K):
        matrix = dense_covariance(problem["covariance_type"], gm.covariances_, k, d)
        assert_allclose(matrix, matrix.T, rtol=0, atol=1e-12 * np.abs(matrix).max())
        assert np.all(np.linalg.eigvalsh(matrix) > 0)
        precision = dense_covariance(problem["covariance_type"], gm.precisions_, k, d)
        assert_allclose(precision @ matrix, np.eye(d), atol=1e-12 * np.linalg.cond(matrix))
    if getattr(gm, "n_reseeds_", 0) == 0:  # a re-seeded component may lower it once
        assert np.all(np.diff(gm.lower_bounds_) >= 0)
    assert len(gm.lower_bounds_) == gm.n_iter_
    assert gm.lower_bound_ == gm.lower_bounds_[-1]


@SETTINGS
@given(problems())
def test_predictions_are_consistent(problem: dict[str, Any]) -> None:
    gm = _fit(problem)
    X = problem["X"]
    proba = gm.predict_proba(X)
    assert proba.shape == (X.shape[0], problem["K"])
    assert np.all((proba >= 0) & (proba <= 1))
    assert_close(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert np.array_equal(gm.predict(X), proba.argmax(axis=1))
    log_density = gm.score_samples(X)
    assert np.all(np.isfinite(log_density))
    # A mean of log-densities of either sign rounds relative to its terms, not to itself.
    assert_close(gm.score(X), log_density.mean(), rtol=1e-12, scale=np.abs(log_density).max())


@SETTINGS
@given(problems(), st.integers(1, 61))
def test_expectation_is_chunk_invariant(problem: dict[str, Any], chunk_rows: int) -> None:
    gm = _fit(problem)
    X = problem["X"]
    cov = get_covariance(problem["covariance_type"])
    whole = NumpyRows(X, chunk_rows=X.shape[0]).expectation(gm._params, cov)
    chunked = NumpyRows(X, chunk_rows=chunk_rows).expectation(gm._params, cov)
    rtol = 1e-10 * max(1.0, _condition(problem["covariance_type"], gm.covariances_) / 1e6)
    # Sums of terms of both signs are exact to rounding of their absolute sums.
    log_scale = float(np.abs(gm.score_samples(X)).sum())
    assert_allclose(
        chunked.log_likelihood, whole.log_likelihood, rtol=rtol, atol=1e-2 * rtol * log_scale
    )
    for got, want in zip(chunked[2:], whole[2:], strict=True):
        scale = max(1.0, float(np.abs(want).max()))
        assert_allclose(got, want, rtol=rtol, atol=rtol * scale)
    assert chunked.total_weight == whole.total_weight


@SETTINGS
@given(problems(arbitrary=False), st.integers(1, 61))
def test_em_is_chunk_invariant(problem: dict[str, Any], chunk_rows: int) -> None:
    # From an initialization far from the fit, EM's first steps move the means far;
    # on noisy clusters every split of the rows still gives the same iterations.
    gm = _fit(problem, max_iter=0)  # just the starting point
    X = problem["X"]
    cov = get_covariance(problem["covariance_type"])
    results = []
    for rows in (NumpyRows(X, chunk_rows=X.shape[0]), NumpyRows(X, chunk_rows=chunk_rows)):
        results.append(
            run_em(
                lambda p, rows=rows: rows.expectation(p, cov),
                gm._params,
                cov,
                reg_covar=1e-6,
                tol=1e-10,
                max_iter=3,
            )
        )
    whole, chunked = results
    assert chunked.n_iter == whole.n_iter
    # Seeding on single rows can leave a component nearly singular (see _condition).
    scale = max(1.0, _condition(problem["covariance_type"], whole.params.covariances) / 1e6)
    assert_allclose(chunked.lower_bounds, whole.lower_bounds, rtol=1e-10 * scale, atol=1e-10)
    for got, want in zip(chunked.params[:4], whole.params[:4], strict=True):  # (no noise)
        atol = 1e-10 * scale * max(1.0, np.abs(want).max())
        assert_allclose(got, want, rtol=1e-8 * scale, atol=atol)
