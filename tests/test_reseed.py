"""Collapsing components: re-seeded at the worst-explained rows, then dropped; never NaN."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from _support import assert_close
from gaussmix import GaussianMixture
from gaussmix._core.covariance import get_covariance
from gaussmix._core.em import MAX_RESEEDS, Reseeder, m_step, run_em
from gaussmix._core.estep import stats_from_resp
from gaussmix.backends.numpy import NumpyRows

TYPES = ["full", "tied", "diag", "spherical"]


def _collinear_and_blob(seed: int = 0) -> np.ndarray:
    """A collinear cluster (singular covariance at this scale) next to a full-rank one."""
    rng = np.random.default_rng(seed)
    t = rng.normal(size=(30, 1))
    return np.vstack([np.hstack([t, 2 * t]), rng.normal(size=(30, 2)) + 5]) * 1e10


def _fit(X: np.ndarray, **kw: object) -> tuple[GaussianMixture, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gm = GaussianMixture(**kw).fit(X)  # type: ignore[arg-type]
    return gm, [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]


@pytest.mark.parametrize("covariance_type", TYPES)
def test_without_collapse_the_reseeding_m_step_is_the_plain_one(covariance_type: str) -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 3))
    resp = rng.dirichlet(np.ones(3), size=200)
    cov = get_covariance(covariance_type)
    stats = stats_from_resp(X, resp, cov)
    plain, guarded = m_step(stats, cov, 1e-6), Reseeder(3).m_step(stats, cov, 1e-6)
    for a, b in zip(plain, guarded, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_ordinary_data_needs_no_reseed(covariance_type: str) -> None:
    X = np.random.default_rng(2).normal(size=(300, 2)) + np.repeat([[0, 0], [6, 0]], 150, 0)
    gm, caught = _fit(X, n_components=2, covariance_type=covariance_type, random_state=0)
    assert gm.n_reseeds_ == 0 and not caught
    assert np.all(np.diff(gm.lower_bounds_) >= 0)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_an_empty_component_is_reseeded_at_the_worst_explained_rows(covariance_type: str) -> None:
    """A component started far from all data gets no mass; it restarts inside the data."""
    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(size=(100, 2)), rng.normal(size=(100, 2)) + 8, [[30.0, 30.0]]])
    K = 3
    gm, caught = _fit(
        X,
        n_components=K,
        covariance_type=covariance_type,
        means_init=[[0.0, 0.0], [8.0, 8.0], [1e6, -1e6]],
        weights_init=[0.45, 0.45, 0.1],
        random_state=0,
    )
    assert gm.n_reseeds_ >= 1
    assert any("re-seed" in message for message in caught)
    assert np.all(np.isfinite(gm.means_)) and np.all(np.isfinite(gm.covariances_))
    assert np.abs(gm.means_).max() < 40, "the far component must have moved into the data"
    assert np.isfinite(gm.score_samples(X)).all()


def test_worst_explained_rows_have_the_lowest_likelihood_and_positive_weight() -> None:
    X = np.array([[0.0], [0.1], [-0.1], [9.0], [5.0]])
    gm = GaussianMixture(1, random_state=0).fit(X[:3])
    cov = get_covariance("full")
    rows = NumpyRows(X)
    np.testing.assert_array_equal(rows.worst_explained(gm._params, cov, 2), [[9.0], [5.0]])
    weighted = NumpyRows(X, np.array([1.0, 1, 1, 0, 1]))
    np.testing.assert_array_equal(weighted.worst_explained(gm._params, cov, 1), [[5.0]])


def test_a_component_collapsing_again_and_again_is_dropped_where_sklearn_fails() -> None:
    X = _collinear_and_blob(seed=2)
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        SkGaussianMixture(2, random_state=0).fit(X)
    gm, caught = _fit(X, n_components=2, random_state=0)
    assert gm.n_reseeds_ == MAX_RESEEDS
    assert sorted(gm.weights_.tolist()) == [0.0, 1.0]
    assert any("dropped (weight 0)" in message for message in caught)
    assert gm.means_.shape == (2, 2) and np.isfinite(gm.covariances_).all()
    dropped = int(np.argmin(gm.weights_))
    assert not np.any(gm.predict(X) == dropped)
    assert np.isfinite(gm.score_samples(X)).all()
    assert_close(gm.predict_proba(X).sum(axis=1), 1.0)


def test_a_reseed_restarts_the_monotonicity_check() -> None:
    """A bound lower after a re-seed does not stop the fit; each recorded bound after the
    last re-seed is non-decreasing; the fit converges.

    How many re-seeds this degenerate fit needs, and whether a component is dropped in
    the end, turns on the rounding of a singular covariance at scale 1e10 and so on the
    BLAS kernel: the test asserts what holds on every one.
    """
    X = _collinear_and_blob(seed=4)
    cov = get_covariance("full")
    rows = NumpyRows(X)
    reseeder = Reseeder(2, lambda p, m: rows.worst_explained(p, cov, m))
    start = m_step(stats_from_resp(X, np.repeat([[0.9, 0.1], [0.1, 0.9]], 30, 0), cov), cov, 1e-6)
    changes: list[int] = []  # re-seeds and drops so far, after each iteration's M-step
    result = run_em(
        lambda p: rows.expectation(p, cov),
        start,
        cov,
        reg_covar=1e-6,
        tol=1e-3,
        max_iter=200,
        reseeder=reseeder,
        on_iteration=lambda n_iter, bound, change: changes.append(reseeder.n_changes),
    )
    bounds = result.lower_bounds
    reseeded = [i for i, n in enumerate(changes) if n > (changes[i - 1] if i else 0)]
    assert result.converged and result.n_reseeds >= 1 and reseeded
    # the bound that follows a re-seed fell (so without the restart the fit would stop)
    assert any(bounds[i + 1] < bounds[i] for i in reseeded if i + 1 < len(bounds))
    assert np.all(np.diff(bounds[reseeded[-1] + 1 :]) >= 0)
    assert np.all(np.isfinite(result.params.precisions_cholesky))


def test_a_collapsed_initial_component_is_repaired() -> None:
    """reg_covar=0 and single-row seeds: every initial covariance is singular."""
    X = np.random.default_rng(5).normal(size=(60, 2))
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        SkGaussianMixture(3, reg_covar=0.0, init_params="random_from_data", random_state=0).fit(X)
    gm, _ = _fit(X, n_components=3, reg_covar=0.0, init_params="random_from_data", random_state=0)
    assert gm.n_reseeds_ >= 1
    assert np.isfinite(gm.covariances_).all() and np.isfinite(gm.score_samples(X)).all()


@pytest.mark.filterwarnings(
    "ignore:Number of distinct clusters:sklearn.exceptions.ConvergenceWarning"
)
@pytest.mark.parametrize("covariance_type", TYPES)
def test_unrecoverable_collapse_is_one_clear_value_error(covariance_type: str) -> None:
    X = np.ones((20, 3))  # one distinct row, no regularisation: no covariance exists
    with pytest.raises(ValueError, match="reg_covar") as info:
        GaussianMixture(2, covariance_type=covariance_type, reg_covar=0.0).fit(X)
    assert "LinAlg" not in str(info.value) and "numpy" not in str(info.value)
