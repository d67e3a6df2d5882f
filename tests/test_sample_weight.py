"""``sample_weight``: row multiplicities in fit, fit_predict and score."""

from __future__ import annotations

import numpy as np
import pytest

from _support import COVARIANCE_TYPES, assert_close, blobs, explicit_init
from gaussmix import GaussianMixture

ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


def assert_same_model(a: GaussianMixture, b: GaussianMixture, rtol: float = 1e-10) -> None:
    for name in ATTRIBUTES:
        assert_close(getattr(a, name), getattr(b, name), rtol=rtol, err_msg=name)
    assert (a.n_iter_, a.converged_) == (b.n_iter_, b.converged_)
    assert_close(a.lower_bounds_, b.lower_bounds_, rtol=rtol)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_integer_weights_are_repeated_rows(covariance_type: str) -> None:
    X = blobs(n=150, d=2, k=3, seed=0)
    w = np.random.RandomState(0).randint(0, 5, size=150)
    init = explicit_init(X, 3, covariance_type, seed=0)
    params = dict(n_components=3, covariance_type=covariance_type, tol=1e-5, max_iter=500, **init)
    weighted = GaussianMixture(**params).fit(X, sample_weight=w)
    repeated = GaussianMixture(**params).fit(np.repeat(X, w, axis=0))
    assert weighted.n_iter_ > 2
    assert_same_model(weighted, repeated)
    assert_close(
        weighted.score(X, sample_weight=w), repeated.score(np.repeat(X, w, axis=0)), rtol=1e-12
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_zero_weights_drop_rows(covariance_type: str) -> None:
    X = blobs(n=120, d=3, k=2, seed=1)
    keep = np.random.RandomState(1).rand(120) > 0.3
    init = explicit_init(X, 2, covariance_type, seed=1)
    params = dict(n_components=2, covariance_type=covariance_type, **init)
    weighted = GaussianMixture(**params).fit(X, sample_weight=keep.astype(float))
    dropped = GaussianMixture(**params).fit(X[keep])
    assert_same_model(weighted, dropped)


def test_unit_weights_and_scaled_weights_change_nothing() -> None:
    X = blobs(n=100, d=2, k=2, seed=2)
    w = np.random.RandomState(2).uniform(0.1, 2.0, size=100)
    init = explicit_init(X, 2, "full", seed=2)
    plain = GaussianMixture(2, **init).fit(X)
    assert_same_model(GaussianMixture(2, **init).fit(X, sample_weight=np.ones(100)), plain, 1e-13)
    assert_same_model(GaussianMixture(2, **init).fit(X, sample_weight=2.0), plain, 1e-13)
    # The lower bound is per unit of weight, so scaling every weight changes nothing.
    a = GaussianMixture(2, **init).fit(X, sample_weight=w)
    b = GaussianMixture(2, **init).fit(X, sample_weight=1e3 * w)
    assert_same_model(a, b, 1e-9)


def test_score_and_fit_predict_take_weights() -> None:
    X = blobs(n=80, d=2, k=2, seed=3)
    w = np.random.RandomState(3).uniform(0.0, 3.0, size=80)
    init = explicit_init(X, 2, "diag", seed=3)
    gm = GaussianMixture(2, covariance_type="diag", **init)
    labels = gm.fit_predict(X, sample_weight=w)
    assert np.array_equal(labels, gm.predict(X))
    assert gm.score(X, sample_weight=w) == pytest.approx(
        np.average(gm.score_samples(X), weights=w), rel=1e-12
    )


def test_default_initialization_never_seeds_from_zero_weight_rows() -> None:
    rng = np.random.RandomState(4)
    X = np.vstack([rng.normal(size=(100, 2)), rng.normal(size=(100, 2)) + 8.0])
    X_outliers = np.vstack([X, [[1e3, 1e3], [-1e3, 1e3]]])
    w = np.r_[np.ones(200), 0.0, 0.0]
    for init_params in ("kmeans", "k-means++", "random_from_data"):
        for seed in range(3):
            gm = GaussianMixture(2, init_params=init_params, random_state=seed)
            gm.fit(X_outliers, sample_weight=w)
            assert np.all(np.abs(gm.means_) < 20.0), init_params
            assert gm.weights_.sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("sample_weight", "error", "message"),
    [
        (-np.ones(10), ValueError, r"non-negative .* got -1.0 at row 0"),
        (np.r_[np.ones(9), -0.5], ValueError, "got -0.5 at row 9"),
        (np.ones(9), ValueError, r"shape \(10,\), one weight per row of X; got shape \(9,\)"),
        (np.ones((10, 1)), ValueError, r"got shape \(10, 1\)"),
        (np.r_[np.ones(9), np.nan], ValueError, "NaN or infinite"),
        (np.r_[np.ones(9), np.inf], ValueError, "NaN or infinite"),
        (np.zeros(10), ValueError, "zero for every row"),
        (["a"] * 10, TypeError, "sample_weight must hold numbers"),
    ],
)
def test_bad_weights_are_clear_errors(sample_weight: object, error: type, message: str) -> None:
    X = blobs(n=10, d=2, k=1, seed=5)
    with pytest.raises(error, match=message):
        GaussianMixture().fit(X, sample_weight=sample_weight)
    fitted = GaussianMixture().fit(X)
    with pytest.raises(error, match=message):
        fitted.score(X, sample_weight=sample_weight)


def test_fewer_weighted_rows_than_components_is_an_error() -> None:
    X = blobs(n=10, d=2, k=1, seed=6)
    w = np.r_[1.0, 1.0, np.zeros(8)]
    with pytest.raises(ValueError, match=r"n_samples = 2 \(with non-zero weight\)"):
        GaussianMixture(3).fit(X, sample_weight=w)


def test_weights_are_not_modified() -> None:
    X = blobs(n=30, d=2, k=2, seed=7)
    w = np.arange(30, dtype=float)
    GaussianMixture(2, random_state=0).fit(X, sample_weight=w)
    assert np.array_equal(w, np.arange(30))
