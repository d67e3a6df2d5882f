"""gaussmix.GaussianMixture reaches scikit-learn's results from the same start.

Parity is tested from explicit ``weights_init``/``means_init``/``precisions_init``
and from every ``init_params`` (gaussmix draws its starts as scikit-learn does;
'kmeans' up to its sample threshold, see gaussmix._core.init).
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from _support import COVARIANCE_TYPES, assert_close, blobs, explicit_init
from gaussmix import GaussianMixture
from gaussmix._core.covariance import get_covariance

RTOL = 1e-6
FITTED = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")
SKLEARN_TIED_SEEDS = (
    "scikit-learn's initial tied covariance from single seed rows is (X^T X - Σ x_s x_s^T) / K, "
    "which depends on the origin; gaussmix uses the seeds' scatter (0) plus reg_covar"
)


def _fit_both(X: np.ndarray, **params: Any) -> tuple[GaussianMixture, SkGaussianMixture]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = GaussianMixture(**params).fit(X)
        theirs = SkGaussianMixture(**params).fit(X)
    return ours, theirs


def assert_same_parameters(ours: GaussianMixture, theirs: SkGaussianMixture) -> None:
    for name in FITTED:
        expected = getattr(theirs, name)
        got = getattr(ours, name)
        assert got.shape == expected.shape, name
        assert_allclose(got, expected, rtol=RTOL, atol=RTOL * np.abs(expected).max(), err_msg=name)


def assert_same_fit(ours: GaussianMixture, theirs: SkGaussianMixture, X: np.ndarray) -> None:
    assert_same_parameters(ours, theirs)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.converged_ == theirs.converged_
    assert_close(ours.lower_bound_, theirs.lower_bound_, rtol=RTOL)
    assert len(ours.lower_bounds_) == len(theirs.lower_bounds_)
    assert_close(ours.lower_bounds_, theirs.lower_bounds_, rtol=RTOL)
    assert_allclose(ours.score_samples(X), theirs.score_samples(X), rtol=RTOL, atol=RTOL)
    assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=RTOL, atol=RTOL)
    assert np.array_equal(ours.predict(X), theirs.predict(X))
    assert_close(ours.score(X), theirs.score(X), rtol=RTOL)
    assert_close(ours.bic(X), theirs.bic(X), rtol=RTOL)
    assert_close(ours.aic(X), theirs.aic(X), rtol=RTOL)
    assert ours.n_features_in_ == theirs.n_features_in_


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize(("d", "K", "seed"), [(2, 3, 0), (5, 4, 1), (1, 2, 2)])
def test_same_start_same_fit(covariance_type: str, d: int, K: int, seed: int) -> None:
    X = blobs(n=300, d=d, k=K, seed=seed)
    init = explicit_init(X, K, covariance_type, seed=seed)
    ours, theirs = _fit_both(X, n_components=K, covariance_type=covariance_type, **init)
    assert theirs.n_iter_ > 2  # a real run, not a start at a fixed point
    assert_same_fit(ours, theirs, X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_same_start_same_fit_tight_tol(covariance_type: str) -> None:
    X = blobs(n=250, d=3, k=3, seed=3)
    init = explicit_init(X, 3, covariance_type, seed=3)
    params = dict(n_components=3, covariance_type=covariance_type, tol=1e-7, reg_covar=1e-6)
    ours, theirs = _fit_both(X, max_iter=500, **params, **init)
    assert_same_fit(ours, theirs, X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_one_component_stops_at_the_same_iteration(covariance_type: str) -> None:
    # One component reaches its fixed point after one M-step; the next bound equals
    # the last up to rounding, which must not count as a decrease (regression test:
    # it stopped one iteration early in about a third of the cases).
    for seed in range(10):
        X = 100.0 + 3.0 * np.random.RandomState(seed).normal(size=(50, 3))
        ours, theirs = _fit_both(X, covariance_type=covariance_type)
        assert ours.n_iter_ == theirs.n_iter_ == 2
        assert_same_fit(ours, theirs, X)


def test_a_drop_below_tol_converges_as_in_sklearn() -> None:
    # reg_covar makes EM inexact: here the last M-step lowers the likelihood by less
    # than tol. As in scikit-learn that is convergence, with the same parameters;
    # gaussmix records the drop as no change.
    X = blobs(n=250, d=3, k=3, seed=3)
    init = explicit_init(X, 3, "full", seed=3)
    ours, theirs = _fit_both(X, n_components=3, tol=1e-7, reg_covar=1e-2, **init)
    assert -1e-7 < np.diff(theirs.lower_bounds_)[-1] < 0
    assert ours.lower_bounds_[-1] == ours.lower_bounds_[-2]
    assert_same_fit(ours, theirs, X)


def test_where_sklearn_lowers_the_likelihood_gaussmix_stops_before() -> None:
    # The same with a smaller tol: scikit-learn goes on with decreasing bounds;
    # gaussmix keeps the better parameters from before the first drop.
    X = blobs(n=250, d=3, k=3, seed=3)
    init = explicit_init(X, 3, "full", seed=3)
    ours, theirs = _fit_both(X, n_components=3, tol=1e-9, reg_covar=1e-2, **init)
    first_drop = int(np.argmax(np.diff(theirs.lower_bounds_) < 0))
    assert first_drop > 0 and theirs.n_iter_ > first_drop + 1
    assert np.all(np.diff(ours.lower_bounds_) >= 0)
    assert (ours.n_iter_, ours.converged_) == (first_drop + 1, True)
    assert_close(ours.lower_bounds_, theirs.lower_bounds_[: first_drop + 1], rtol=RTOL)
    assert ours.lower_bound_ >= theirs.lower_bound_
    for name in FITTED:
        assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_same_iterations_without_convergence(covariance_type: str) -> None:
    X = blobs(n=200, d=2, k=3, seed=4)
    init = explicit_init(X, 3, covariance_type, seed=4)
    params = dict(n_components=3, covariance_type=covariance_type, max_iter=4, tol=0.0, **init)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        ours = GaussianMixture(**params).fit(X)
    with pytest.warns(ConvergenceWarning):
        theirs = SkGaussianMixture(**params).fit(X)
    assert (ours.n_iter_, ours.converged_) == (4, False)
    assert_same_fit(ours, theirs, X)


def test_convergence_warning_only_when_not_converged() -> None:
    X = blobs(n=200, d=2, k=2, seed=5)
    init = explicit_init(X, 2, "full", seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        GaussianMixture(2, max_iter=200, **init).fit(X)  # converges: no warning
        GaussianMixture(2, max_iter=0, **init).fit(X)  # 0 iterations: initialization only
    with pytest.warns(ConvergenceWarning) as record:
        GaussianMixture(2, max_iter=1, tol=0.0, **init).fit(X)
    assert record[0].filename == __file__  # stacklevel points at the caller


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_max_iter_zero_keeps_the_initial_parameters(covariance_type: str) -> None:
    # (scikit-learn itself fails here: with precisions_init and max_iter=0 it has
    # no covariances_ to return, so only gaussmix is checked.)
    X = blobs(n=150, d=2, k=2, seed=6)
    init = explicit_init(X, 2, covariance_type, seed=6)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        ours = GaussianMixture(2, covariance_type=covariance_type, max_iter=0, **init).fit(X)
    assert (ours.n_iter_, ours.converged_, ours.lower_bounds_) == (0, False, [])
    assert ours.lower_bound_ == -np.inf
    assert_close(ours.weights_, init["weights_init"])
    assert_close(ours.means_, init["means_init"])
    assert_close(ours.precisions_, init["precisions_init"], rtol=1e-12)
    cov = get_covariance(covariance_type)
    assert_close(
        ours.covariances_,
        cov.form.covariances_from_precisions(init["precisions_init"]),
        rtol=1e-12,
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("init_params", ["random", "random_from_data"])
def test_max_iter_zero_gives_sklearns_initialization(
    covariance_type: str, init_params: str
) -> None:
    if covariance_type == "tied" and init_params == "random_from_data":
        pytest.skip(SKLEARN_TIED_SEEDS)
    X = blobs(n=150, d=2, k=3, seed=6)
    ours, theirs = _fit_both(
        X,
        n_components=3,
        covariance_type=covariance_type,
        init_params=init_params,
        n_init=2,
        max_iter=0,
        random_state=1,
    )
    assert ours.lower_bound_ == theirs.lower_bound_ == -np.inf
    assert (ours.n_iter_, ours.converged_) == (theirs.n_iter_, theirs.converged_)
    # scikit-learn leaves 'random_from_data' starting weights at 1/n each (they sum
    # to K/n); gaussmix's fitted weights always sum to 1, in the same proportions.
    assert_close(ours.weights_.sum(), 1.0, rtol=1e-12)
    theirs.weights_ = theirs.weights_ / theirs.weights_.sum()
    assert_same_parameters(ours, theirs)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_warm_start_continues_like_sklearn(covariance_type: str) -> None:
    X = blobs(n=300, d=2, k=3, seed=7)
    init = explicit_init(X, 3, covariance_type, seed=7)
    params = dict(
        n_components=3,
        covariance_type=covariance_type,
        warm_start=True,
        max_iter=3,
        tol=0.0,
        **init,
    )
    ours, theirs = GaussianMixture(**params), SkGaussianMixture(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(3):
            ours.fit(X)
            theirs.fit(X)
            assert_same_fit(ours, theirs, X)
    # Warm-started fits continue: three fits of 3 iterations go where one of 9 goes.
    once = GaussianMixture(**{**params, "warm_start": False, "max_iter": 9})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        once.fit(X)
    assert_close(ours.means_, once.means_, rtol=1e-10)
    assert_close(ours.covariances_, once.covariances_, rtol=1e-10)
    assert_close(ours.lower_bounds_, once.lower_bounds_[-3:], rtol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize(
    ("n", "d", "K", "seed"), [(200, 2, 3, 8), (4000, 3, 6, 11), (1797, 8, 10, 2)]
)
def test_default_kmeans_start_matches(
    covariance_type: str, n: int, d: int, K: int, seed: int
) -> None:
    # (One init: with n_init > 1, starts that reach the same optimum with permuted
    # components tie, and rounding decides which is kept.)
    X = blobs(n=n, d=d, k=K, seed=seed)
    ours, theirs = _fit_both(
        X, n_components=K, covariance_type=covariance_type, max_iter=30, random_state=seed
    )
    assert_same_fit(ours, theirs, X)


@pytest.mark.parametrize("init_params", ["random", "random_from_data", "k-means++"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_random_initializations_and_n_init_match(init_params: str, covariance_type: str) -> None:
    if covariance_type == "tied" and init_params != "random":
        pytest.skip(SKLEARN_TIED_SEEDS)
    X = blobs(n=200, d=2, k=3, seed=8)
    ours, theirs = _fit_both(
        X,
        n_components=3,
        covariance_type=covariance_type,
        init_params=init_params,
        n_init=3,
        max_iter=20,
        random_state=0,
    )
    assert_same_fit(ours, theirs, X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_n_init_keeps_the_best_run(covariance_type: str) -> None:
    X = blobs(n=200, d=2, k=4, seed=9)
    params = dict(n_components=4, covariance_type=covariance_type, init_params="random")
    # n_init=3 draws its first start as a single fit with the same random_state does.
    first = GaussianMixture(**params, random_state=0).fit(X)
    best = GaussianMixture(**params, n_init=3, random_state=0).fit(X)
    assert best.lower_bound_ >= first.lower_bound_
    assert best.lower_bound_ == best.lower_bounds_[-1]
    assert best.score(X) == pytest.approx(max(best.lower_bounds_), abs=1e-3)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_sample_draws_the_same_rows(covariance_type: str) -> None:
    X = blobs(n=200, d=3, k=3, seed=10)
    init = explicit_init(X, 3, covariance_type, seed=10)
    ours, theirs = _fit_both(
        X, n_components=3, covariance_type=covariance_type, random_state=3, **init
    )
    got_X, got_y = ours.sample(57)
    want_X, want_y = theirs.sample(57)
    assert got_X.shape == (57, 3)
    assert np.array_equal(got_y, want_y)
    assert_allclose(got_X, want_X, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="n_samples"):
        ours.sample(0)


def test_fit_predict_is_fit_then_predict() -> None:
    X = blobs(n=200, d=2, k=3, seed=11)
    init = explicit_init(X, 3, "full", seed=11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = GaussianMixture(3, max_iter=2, **init).fit_predict(X)
        sk_labels = SkGaussianMixture(3, max_iter=2, **init).fit_predict(X)
        model = GaussianMixture(3, max_iter=2, **init).fit(X)
    assert np.array_equal(labels, model.predict(X))
    assert np.array_equal(labels, sk_labels)


def test_feature_names_from_a_dataframe() -> None:
    X = blobs(n=120, d=2, k=2, seed=12)
    frame = pd.DataFrame(X, columns=["eruptions", "waiting"])
    init = explicit_init(X, 2, "full", seed=12)
    ours, theirs = _fit_both(frame, n_components=2, **init)
    assert list(ours.feature_names_in_) == ["eruptions", "waiting"]
    assert np.array_equal(ours.feature_names_in_, theirs.feature_names_in_)
    assert_close(ours.score_samples(frame), theirs.score_samples(frame), rtol=RTOL)
    # Plain arrays still predict, with scikit-learn's warning ...
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        ours.predict(X)
    # ... and columns that differ from the fitted ones are an error.
    with pytest.raises(ValueError, match=re.escape("feature names should match")):
        ours.predict(frame.rename(columns={"waiting": "wait"}))
    array_fit = GaussianMixture(2, **init).fit(X)
    assert not hasattr(array_fit, "feature_names_in_")


def test_float32_input_fits_close_to_float64() -> None:
    X = blobs(n=300, d=3, k=3, seed=13)
    init = explicit_init(X, 3, "full", seed=13)
    fit64 = GaussianMixture(3, tol=1e-6, max_iter=500, **init).fit(X)
    fit32 = GaussianMixture(3, tol=1e-6, max_iter=500, **init).fit(X.astype(np.float32))
    for name in FITTED:
        assert getattr(fit32, name).dtype == np.float64
        assert_allclose(getattr(fit32, name), getattr(fit64, name), rtol=1e-3, atol=1e-4)


def test_verbose_reports_like_sklearn(capsys: pytest.CaptureFixture[str]) -> None:
    X = blobs(n=100, d=2, k=2, seed=14)
    init = explicit_init(X, 2, "full", seed=14)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        GaussianMixture(2, verbose=2, verbose_interval=1, tol=0.0, max_iter=3, **init).fit(X)
        ours = capsys.readouterr().out
        SkGaussianMixture(2, verbose=2, verbose_interval=1, tol=0.0, max_iter=3, **init).fit(X)
    theirs = capsys.readouterr().out

    def shape(text: str) -> list[str]:
        return [re.sub(r"[-\d.e]+", "#", line) for line in text.splitlines() if line.strip()]

    assert shape(ours) == shape(theirs)


@pytest.mark.parametrize("given", ["weights_init", "means_init", "precisions_init"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_partial_initial_parameters_match(given: str, covariance_type: str) -> None:
    # One parameter given; the others come from scikit-learn's random initialization.
    X = blobs(n=200, d=2, k=3, seed=15)
    init = explicit_init(X, 3, covariance_type, seed=15)
    ours, theirs = _fit_both(
        X,
        n_components=3,
        covariance_type=covariance_type,
        init_params="random",
        random_state=0,
        **{given: init[given]},
    )
    assert_same_fit(ours, theirs, X)
