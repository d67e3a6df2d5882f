"""Bad input is a clear error; degenerate but finite input is a finite, sensible fit."""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError

from _support import COVARIANCE_TYPES, assert_close, blobs
from gaussmix import GaussianMixture

X_OK = blobs(n=40, d=2, k=2, seed=0)


def _fitted() -> GaussianMixture:
    return GaussianMixture(2, random_state=0).fit(X_OK)


# -- data ---------------------------------------------------------------------


@pytest.mark.parametrize("method", ["fit", "fit_predict", "predict", "score_samples", "score"])
def test_nan_and_inf_give_the_first_position(method: str) -> None:
    X = X_OK.copy()
    X[7, 1] = np.nan
    X[9, 0] = np.inf
    X[30, 1] = -np.inf
    target = GaussianMixture(2) if method.startswith("fit") else _fitted()
    with pytest.raises(
        ValueError,
        match=r"Input X contains NaN or infinite values \(the first, nan, at row 7, "
        r"column 1\)\. Remove or impute them .* missing=\"marginalize\"",
    ):
        getattr(target, method)(X)
    one = X_OK.copy()
    one[0, 0] = np.inf
    with pytest.raises(ValueError, match=r"NaN or infinite values \(the first, inf, at row 0"):
        getattr(target, method)(one)


@pytest.mark.parametrize(
    ("X", "message"),
    [
        (np.arange(5.0), r"(?s)Expected 2D array, got 1D array.*Reshape your data"),
        (
            np.ones((4, 3, 2)),
            r"X must be a 2-D array of shape \(n_samples, n_features\)\. "
            r"Found array with dim 3.*Reshape it",
        ),
        (np.empty((0, 2)), r"0 sample\(s\) \(shape=\(0, 2\)\)"),
        (np.empty((5, 0)), r"0 feature\(s\) \(shape=\(5, 0\)\)"),
        ([["a", "b"], ["c", "d"]], "X must hold numbers only.*'a'.*Drop or encode"),
        (np.array([[1, "x"], [2, "y"]], dtype=object), "numbers only.*'x'"),
        (
            np.array([[1.0, None], [2.0, 3.0]], dtype=object),
            r"NaN or infinite values \(the first, nan, at row 0, column 1\)",
        ),  # None is NaN
        (pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "z"]}), "numbers only.*column 'b'"),
        (np.ones((3, 2)) + 1j, "Complex data not supported"),
    ],
)
def test_malformed_data_is_a_clear_error(X: Any, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        GaussianMixture().fit(X)
    fitted = _fitted()
    if not (isinstance(X, np.ndarray) and X.ndim == 2 and X.shape[1] == 0):
        with pytest.raises((ValueError, TypeError), match=message), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # fitted without feature names
            fitted.predict(X)


def test_fewer_rows_than_components() -> None:
    with pytest.raises(
        ValueError,
        match=re.escape(
            "n_samples >= n_components but got n_components = 5, n_samples = 3. "
            "Use fewer components or more data."
        ),
    ):
        GaussianMixture(5).fit(X_OK[:3])


def test_feature_count_differs_at_predict() -> None:
    fitted = _fitted()
    for method in ("predict", "predict_proba", "score_samples", "score", "bic", "aic"):
        with pytest.raises(
            ValueError, match="X has 3 features, but GaussianMixture is expecting 2"
        ):
            getattr(fitted, method)(np.ones((4, 3)))


def test_unfitted_model_says_fit_first() -> None:
    for method in ("predict", "predict_proba", "score_samples", "score", "bic", "aic"):
        with pytest.raises(ValueError, match=r"not fitted yet\. Call 'fit'"):
            getattr(GaussianMixture(), method)(X_OK)
    with pytest.raises(ValueError, match="not fitted yet"):
        GaussianMixture().sample(3)


# -- parameters -----------------------------------------------------------------


_PARAM = "The '{}' parameter of GaussianMixture must be "


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_components": 0}, _PARAM.format("n_components") + r"an int in the range \[1, inf\)"),
        ({"n_components": -1}, r"an int in the range \[1, inf\)\. Got -1 instead"),
        ({"n_components": 2.5}, r"n_components' .* an int in the range \[1, inf\)\. Got 2\.5"),
        ({"n_components": "3"}, r"n_components' .* Got '3' instead"),
        ({"n_components": True}, r"n_components' .* Got True instead"),
        ({"n_components": 10**400}, "n_components' .* fits in 64 bits; got an integer of 401"),
        (
            {"covariance_type": "foo"},
            _PARAM.format("covariance_type") + r"a str among \{.*'spherical'.*\}\. Got 'foo'",
        ),
        ({"covariance_type": None}, "covariance_type' .* Got None instead"),
        ({"tol": -1e-3}, r"'tol' .* a float in the range \[0\.0, inf\)"),
        ({"tol": "small"}, "'tol' .* Got 'small' instead"),
        ({"tol": np.nan}, "'tol' .* Got nan instead"),
        ({"tol": np.inf}, "'tol' .* Got inf instead"),
        ({"tol": 10**400}, "'tol' .* fits in 64 bits; got an integer of 401 digits"),
        ({"reg_covar": -1e-6}, r"'reg_covar' .* in the range \[0\.0, 1e\+280\]"),
        ({"reg_covar": np.inf}, "'reg_covar' .* Got inf instead"),
        ({"max_iter": -1}, r"'max_iter' .* an int in the range \[0, inf\)\. Got -1"),
        ({"max_iter": 10.0}, "'max_iter' .* Got 10.0 instead"),
        ({"n_init": 0}, r"'n_init' .* an int in the range \[1, inf\)\. Got 0"),
        (
            {"init_params": "foo"},
            r"'init_params' .* a str among \{.*'k-means\+\+'.*\}\. Got 'foo'",
        ),
        ({"random_state": "seed"}, "'random_state' .* an int in the range"),
        (
            {"random_state": 2**32},
            r"'random_state' .* an int in the range \[0, 4294967295\], an instance of "
            r"'numpy.random.mtrand.RandomState' or None\. Got 4294967296 instead",
        ),
        ({"random_state": -1}, r"'random_state' .* \[0, 4294967295\]"),
        ({"verbose": -1}, "'verbose' .* Got -1 instead"),
        ({"verbose": "loud"}, "'verbose' .* Got 'loud' instead"),
        ({"verbose_interval": 0}, r"'verbose_interval' .* \[1, inf\)"),
        ({"warm_start": "yes"}, "'warm_start' .* an instance of 'bool'"),
        ({"missing": "drop"}, r"'missing' .* a str among \{.*'marginalize'.*\}"),
        ({"learning_decay": 0.5}, r"'learning_decay' .* a float in the range \(0\.5, 1\.0\]"),
        ({"learning_offset": -1.0}, r"'learning_offset' .* \[0\.0, inf\)"),
        ({"device": "meta"}, "'meta' device, which holds no data"),
        ({"device": "nonsense"}, "'nonsense' is not a device name"),
    ],
)
def test_invalid_parameters(params: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        GaussianMixture(**params).fit(X_OK)
    # scikit-learn's kind: caught as a ValueError and as a TypeError.
    with pytest.raises(ValueError, match=message):
        GaussianMixture(**params).fit(X_OK)
    with pytest.raises(TypeError, match=message):
        GaussianMixture(**params).fit(X_OK)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # max_iter=1
def test_settings_that_passed_never_let_an_equal_invalid_one_through() -> None:
    X = blobs(n=60, d=2, k=2, seed=1)
    for good, bad in (
        (dict(n_components=1), dict(n_components=True)),  # 1 == True, but a bool
        (dict(max_iter=1), dict(max_iter=1.0)),  # equal, but not an int
        (dict(fix=()), dict(fix=("means", "nonsense"))),
    ):
        GaussianMixture(**good).fit(X)  # remembered as valid
        GaussianMixture(**good).fit(X)
        with pytest.raises(InvalidParameterError):
            GaussianMixture(**bad).fit(X)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"weights_init": [0.5]}, r"'weights' should have the shape of \(2,\), but got \(1,\)"),
        ({"weights_init": [0.5, 0.6]}, r"'weights' should be normalized.*= 1\.10000"),
        ({"weights_init": [1.5, -0.5]}, r"'weights' should be in the range \[0, 1\]"),
        ({"weights_init": [np.nan, 1.0]}, r"'weights' \(weights_init\) contains NaN"),
        ({"weights_init": ["a", "b"]}, "weights_init must be an array of numbers"),
        (
            {"means_init": np.zeros((3, 2))},
            r"'means' should have the shape of \(2, 2\), but got \(3, 2\)",
        ),
        ({"means_init": np.zeros((2, 3))}, r"shape of \(2, 2\), but got \(2, 3\)"),
        ({"means_init": [[np.inf, 0], [0, 0]]}, r"'means' \(means_init\) contains NaN"),
        (
            {"means_init": np.full((2, 2), 1e200)},
            r"'means' \(means_init\) reaches 1e\+200, beyond ±1e\+140",
        ),
        (
            {"precisions_init": np.ones((2, 2))},
            r"'full precision' should have the shape of \(2, 2, 2\)",
        ),
        (
            {"precisions_init": np.ones((2, 2, 2))},
            "'full precision' should be symmetric, positive-definite .*covariance_type='full'",
        ),
        (
            {"precisions_init": np.stack([np.eye(2), [[1.0, 2.0], [0.0, 1.0]]])},
            "symmetric, positive-definite",
        ),
        (
            {"covariance_type": "tied", "precisions_init": -np.eye(2)},
            "'tied precision' should be symmetric, positive-definite",
        ),
        (
            {"covariance_type": "diag", "precisions_init": [[1.0, 1.0], [1.0, 0.0]]},
            "'diag precision' should be positive",
        ),
        (
            {"covariance_type": "spherical", "precisions_init": [1.0, -1.0]},
            "'spherical precision' should be positive",
        ),
        (
            {"covariance_type": "spherical", "precisions_init": np.ones((2, 2))},
            r"shape of \(2,\)",
        ),
        (
            {"covariance_type": "spherical", "precisions_init": np.full(2, 1e-320)},
            "'spherical precision' .* beyond the range gaussmix computes in",
        ),
        (
            {"covariance_type": "diag", "precisions_init": np.full((2, 2), 1e305)},
            "precision factors reach .* beyond 1e\\+150",
        ),
    ],
)
def test_invalid_initial_parameters(params: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        GaussianMixture(2, **params).fit(X_OK)


def test_float32_weights_init_normalised_in_float32_are_accepted() -> None:
    weights = np.full(3, 1 / 3, dtype=np.float32)
    assert abs(float(weights.astype(np.float64).sum()) - 1.0) > 1e-8  # not in float64
    gm = GaussianMixture(3, weights_init=weights, max_iter=0, random_state=0).fit(X_OK)
    assert gm.weights_.sum() == pytest.approx(1.0, abs=1e-12)


# -- degenerate but finite data ---------------------------------------------------


def assert_finite_model(gm: GaussianMixture) -> None:
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        assert np.all(np.isfinite(getattr(gm, name))), name
    assert np.isfinite(gm.lower_bound_)
    assert gm.weights_.sum() == pytest.approx(1.0)
    assert np.all(np.diff(gm.lower_bounds_) >= 0)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("K", [1, 3])
def test_identical_rows(covariance_type: str, K: int) -> None:
    X = np.tile([[2.0, -1.0]], (30, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # KMeans: 1 distinct cluster
        with pytest.warns(UserWarning, match="Rescale X .* lower reg_covar"):
            gm = GaussianMixture(K, covariance_type=covariance_type, random_state=0).fit(X)
    assert_finite_model(gm)
    heavy = gm.means_[gm.weights_ > 1e-3]
    assert len(heavy) >= 1
    assert_close(heavy, np.broadcast_to([2.0, -1.0], heavy.shape))
    assert np.all(np.isfinite(gm.score_samples(X)))
    assert np.all(np.isfinite(gm.predict_proba(X)))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_a_constant_column(covariance_type: str) -> None:
    X = blobs(n=200, d=2, k=2, seed=1)
    X = np.c_[X[:, :1], np.full(200, 7.0), X[:, 1:]]
    gm = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
    assert_finite_model(gm)
    assert_close(gm.means_[:, 1], 7.0)
    if covariance_type in ("full", "diag"):
        variances = (
            gm.covariances_[:, 1, 1] if covariance_type == "full" else gm.covariances_[:, 1]
        )
        assert_close(variances, gm.reg_covar, rtol=1e-6)
    assert np.all(np.isfinite(gm.score_samples(X)))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_data_scaled_by_1e12(covariance_type: str) -> None:
    X = blobs(n=300, d=2, k=2, seed=2, spread=6.0)
    truth = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
    big = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X * 1e12)
    assert_finite_model(big)
    assert_close(np.sort(big.means_[:, 0]), np.sort(truth.means_[:, 0]) * 1e12, rtol=1e-5)
    assert np.array_equal(big.predict(X * 1e12), truth.predict(X))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_data_scaled_by_1e_minus_12(covariance_type: str) -> None:
    X = blobs(n=300, d=2, k=2, seed=2, spread=6.0)
    tiny = X * 1e-12
    # The default reg_covar (1e-6) swamps a spread of 1e-12: finite, but a warning says so.
    with pytest.warns(UserWarning, match="Rescale X"):
        swamped = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(tiny)
    assert_finite_model(swamped)
    # With reg_covar on the data's scale, the fit is the unscaled one, scaled.
    truth = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        fit = GaussianMixture(
            2, covariance_type=covariance_type, reg_covar=1e-30, random_state=0
        ).fit(tiny)
    assert_finite_model(fit)
    assert np.array_equal(fit.predict(tiny), truth.predict(X))
    assert_close(np.sort(fit.means_[:, 0]), np.sort(truth.means_[:, 0]) * 1e-12, rtol=1e-4)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_clusters_1e9_apart(covariance_type: str) -> None:
    rng = np.random.RandomState(3)
    X = np.vstack([rng.normal(size=(100, 2)), rng.normal(size=(150, 2)) + 1e9])
    gm = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
    assert_finite_model(gm)
    labels = gm.predict(X)
    assert len(set(labels[:100])) == len(set(labels[100:])) == 1
    assert labels[0] != labels[-1]
    assert_close(np.sort(gm.weights_), [0.4, 0.6], rtol=1e-9)
    # The density of each cluster is that of a standard-ish Gaussian: the far offset
    # does not cost accuracy in the log-likelihood.
    near = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(
        X - np.r_[np.zeros(100), np.full(150, 1e9 - 50.0)][:, None]
    )
    assert gm.lower_bound_ == pytest.approx(near.lower_bound_, abs=1e-6)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_ordinary_data_fits_without_warnings(covariance_type: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(
            blobs(n=300, d=3, k=3, seed=4)
        )
