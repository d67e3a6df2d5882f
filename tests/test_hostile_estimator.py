"""The estimator under hostile use: each case asserts its exact outcome.

Issue 11 §3-§6 (huge weights, tiny precisions, model state, raw exceptions,
misleading messages) and what an attacker tries next: object, 0-d, empty, sparse,
read-only and non-contiguous arrays, generators, weights of other lengths,
n_components beyond the rows. A failed call never changes a fitted model: every
failure case compares ``__dict__`` before and after, object by object.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import scipy.sparse
from sklearn.utils._param_validation import InvalidParameterError

import gaussmix
from _support import assert_close
from gaussmix import GaussianMixture

RNG = np.random.RandomState(0)
X = np.vstack([RNG.normal(size=(100, 2)), RNG.normal(size=(100, 2)) + 5.0])  # (200, 2)


def _fitted(**params: Any) -> GaussianMixture:
    return GaussianMixture(2, random_state=0, **params).fit(X)


def _assert_unchanged(model: GaussianMixture, before: dict[str, Any]) -> None:
    """Every attribute is the very object it was (a failed call replaced nothing)."""
    assert model.__dict__.keys() == before.keys()
    for name, value in before.items():
        assert model.__dict__[name] is value, name


def _finite_model(model: GaussianMixture) -> None:
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        assert np.all(np.isfinite(getattr(model, name))), name
    assert np.isfinite(model.lower_bound_)


# -- §3 huge weights, tiny precisions ----------------------------------------------------
def test_score_with_weights_of_1e308_is_the_mean_log_likelihood() -> None:
    gm = _fitted()
    assert gm.score(X, sample_weight=np.full(200, 1e308)) == pytest.approx(gm.score(X), rel=1e-12)


def test_weights_of_1e308_on_every_row_fit_as_unit_weights() -> None:
    plain = GaussianMixture(2, random_state=0).fit(X, sample_weight=np.ones(200))
    huge = GaussianMixture(2, random_state=0).fit(X, sample_weight=np.full(200, 1e308))
    np.testing.assert_allclose(huge.means_, plain.means_, rtol=1e-10, atol=1e-10 * np.abs(X).max())
    assert huge.lower_bound_ == pytest.approx(plain.lower_bound_, rel=1e-12)


def test_one_weight_of_1e308_gives_a_finite_fit_dominated_by_its_row() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the other rows weigh 1e-308 of it: components collapse
        gm = GaussianMixture(2, random_state=0).fit(X, sample_weight=np.r_[1e308, np.ones(199)])
    _finite_model(gm)
    heavy = int(np.argmax(gm.weights_))
    assert gm.weights_[heavy] == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(gm.means_[heavy], X[0], atol=1e-9)


def test_tiny_precisions_init_beyond_the_engine_is_refused() -> None:
    gm = GaussianMixture(
        2, covariance_type="spherical", precisions_init=np.full(2, 1e-320), max_iter=0
    )
    with pytest.raises(
        InvalidParameterError,
        match=r"'spherical precision' \(precisions_init\) is beyond the range gaussmix computes",
    ):
        gm.fit(X)


def test_means_init_beyond_the_magnitude_limit_is_refused() -> None:
    with pytest.raises(
        InvalidParameterError,
        match=r"'means' \(means_init\) reaches 1e\+200, beyond ±1e\+140",
    ):
        GaussianMixture(2, means_init=np.full((2, 2), 1e200)).fit(X)


# -- §4 model state ---------------------------------------------------------------------------
def test_warm_start_after_changing_n_components_is_a_clear_error() -> None:
    gm = _fitted(warm_start=True)
    gm.set_params(n_components=3)
    before = dict(gm.__dict__)
    with pytest.raises(
        ValueError,
        match=r"warm_start=True continues the fitted model \(2 components, covariance_type="
        r"'full'\), but the parameters now ask for n_components=3",
    ):
        gm.fit(X)
    _assert_unchanged(gm, before)
    gm.set_params(warm_start=False).fit(X)  # a fresh fit takes the new value
    assert gm.weights_.shape == (3,)


def test_warm_start_after_changing_covariance_type_is_a_clear_error() -> None:
    gm = _fitted(warm_start=True)
    gm.set_params(covariance_type="diag")
    with pytest.raises(ValueError, match=r"covariance_type='diag'\. Set them back"):
        gm.fit(X)


def test_inference_uses_the_fitted_covariance_model() -> None:
    gm = _fitted()
    labels, proba, bic = gm.predict(X), gm.predict_proba(X), gm.bic(X)
    gm.set_params(covariance_type="diag", n_components=5)
    np.testing.assert_array_equal(gm.predict(X), labels)
    np.testing.assert_array_equal(gm.predict_proba(X), proba)
    assert gm.bic(X) == bic
    draws, components = gm.sample(50)
    assert draws.shape == (50, 2) and set(components) <= {0, 1}


def test_warm_start_with_another_number_of_features_is_a_clear_error() -> None:
    gm = _fitted(warm_start=True)
    before = dict(gm.__dict__)
    with pytest.raises(
        ValueError,
        match="warm_start=True continues the fitted model, which has 2 features, but X has 3",
    ):
        gm.fit(np.hstack([X, X[:, :1]]))
    _assert_unchanged(gm, before)
    np.testing.assert_array_equal(gm.predict(X), _fitted().predict(X))


@pytest.mark.parametrize(
    "bad",
    [
        np.where(np.arange(200)[:, None] == 7, np.nan, X),
        np.ones((200, 3, 1)),
        np.array([["a", "b"]] * 200),
        X * 1e150,
    ],
    ids=["nan", "3-d", "strings", "magnitude"],
)
def test_a_refit_rejected_for_its_input_changes_nothing(bad: np.ndarray) -> None:
    gm = GaussianMixture(2, random_state=0).fit(np.hstack([X, X[:, :1]]))  # 3 features
    before = dict(gm.__dict__)
    with pytest.raises((TypeError, ValueError)):
        gm.fit(bad)
    _assert_unchanged(gm, before)
    gm.predict(np.hstack([X, X[:, :1]]))  # the old model still works on its own data


def test_a_refit_rejected_for_its_parameters_changes_nothing() -> None:
    gm = _fitted()
    gm.set_params(tol=-1.0)
    before = dict(gm.__dict__)
    with pytest.raises(InvalidParameterError):
        gm.fit(X[:50, :1])
    _assert_unchanged(gm, before)


def test_a_refit_that_fails_inside_em_changes_nothing() -> None:
    gm = _fitted()
    gm.set_params(n_components=10, reg_covar=0.0)
    before = dict(gm.__dict__)
    degenerate = np.vstack([np.ones((5, 2)), np.zeros((5, 2))])
    with pytest.raises(ValueError, match=r"^Fitting failed"):
        gm.fit(degenerate)
    _assert_unchanged(gm, before)


def test_a_refit_interrupted_inside_em_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    gm = _fitted()
    before = dict(gm.__dict__)

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(gaussmix._estimator, "run_em", interrupted)
    with pytest.raises(KeyboardInterrupt):
        gm.fit(X[::-1])
    _assert_unchanged(gm, before)


def test_a_rejected_partial_fit_batch_changes_nothing() -> None:
    gm = GaussianMixture(2, random_state=0).partial_fit(X)
    before = dict(gm.__dict__)
    with pytest.raises(ValueError, match="NaN or infinite"):
        gm.partial_fit(np.where(np.arange(200)[:, None] == 3, np.inf, X))
    with pytest.raises(ValueError, match="X has 1 features, but GaussianMixture is expecting 2"):
        gm.partial_fit(X[:, :1])
    gm.set_params(n_components=4)
    before = dict(gm.__dict__)
    with pytest.raises(ValueError, match=r"partial_fit continues the fitted model \(2 comp"):
        gm.partial_fit(X)
    _assert_unchanged(gm, before)


def test_save_after_set_params_refuses(tmp_path: Any) -> None:
    gm = _fitted()
    gm.set_params(n_components=5)
    with pytest.raises(ValueError, match="Cannot save this model"):
        gm.save(tmp_path / "m.gmm")
    assert list(tmp_path.iterdir()) == []


# -- §5 raw exceptions where a user erred -----------------------------------------------------
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_components": 10**400}, "'n_components' .* got an integer of 401 digits"),
        ({"tol": 10**400}, "'tol' .* got an integer of 401 digits"),
        ({"max_iter": 10**30}, "'max_iter' .* got an integer of 31 digits"),
        ({"reg_covar": 1e300}, r"'reg_covar' .* in the range \[0\.0, 1e\+280\]"),
        ({"device": "meta"}, "'meta' device, which holds no data"),
        ({"device": 3.5}, "is neither None, a string nor a torch.device"),
        (
            {"random_state": 2**32},
            r"'random_state' .* an int in the range \[0, 4294967295\]",
        ),
        ({"random_state": np.random.default_rng(0)}, "'random_state' parameter"),
    ],
)
def test_impossible_parameters_are_parameter_errors(params: dict[str, Any], message: str) -> None:
    if "device" in params:
        pytest.importorskip("torch")
    with pytest.raises(InvalidParameterError, match=message):
        GaussianMixture(**params).fit(X)


def test_sample_sizes() -> None:
    gm = _fitted()
    for n in (0, -1, 2.5, 10**20, True):
        with pytest.raises(InvalidParameterError, match="Invalid value for 'n_samples'"):
            gm.sample(n)
    assert gm.sample(1)[0].shape == (1, 2)


# -- §6 and beyond: what an attacker tries ------------------------------------------------------
def test_object_arrays_of_numbers_fit_as_floats() -> None:
    gm = GaussianMixture(2, random_state=0).fit(X.astype(object))
    np.testing.assert_array_equal(gm.means_, _fitted().means_)


def test_an_object_array_holding_a_dict_names_it() -> None:
    bad = X.astype(object)
    bad[3, 1] = {"a": 1}
    with pytest.raises(TypeError, match=r"column 1 holds \{'a': 1\} at row 3, which is not a num"):
        GaussianMixture(2).fit(bad)


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        (np.float64(3.0), ValueError, "Expected 2D array, got scalar array instead"),
        (np.array(3.0), ValueError, "Expected 2D array, got scalar array instead"),
        (np.empty((0, 2)), ValueError, r"Found array with 0 sample\(s\) \(shape=\(0, 2\)\)"),
        (np.empty((5, 0)), ValueError, r"Found array with 0 feature\(s\) \(shape=\(5, 0\)\)"),
        (np.ones((4, 2, 2)), ValueError, "must be a 2-D array .* Found array with dim 3"),
        ([[1.0, 2.0], [3.0]], ValueError, "inhomogeneous|sequence"),
        (scipy.sparse.csr_matrix(X), TypeError, "Sparse data was passed .* dense"),
        (scipy.sparse.csr_array(X), TypeError, "Sparse data was passed .* dense"),
        ((row for row in X), TypeError, r"X is an iterator \(generator\)"),
        (iter(X.tolist()), TypeError, "X is an iterator"),
        (np.zeros(3, dtype=[("a", float), ("b", float)]), TypeError, "structured array"),
        (X.astype(np.complex64), ValueError, "Complex data not supported"),
        (X.astype("datetime64[s]"), TypeError, "numbers only"),
    ],
    ids=[
        "numpy scalar",
        "0-d",
        "no rows",
        "no columns",
        "3-d",
        "ragged",
        "csr_matrix",
        "csr_array",
        "generator",
        "iterator",
        "structured",
        "complex64",
        "datetime64",
    ],
)
def test_malformed_arrays_are_clear_errors(bad: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        GaussianMixture(1).fit(bad)
    fitted = _fitted()
    before = dict(fitted.__dict__)
    with pytest.raises((TypeError, ValueError)):
        fitted.predict(bad)
    _assert_unchanged(fitted, before)


def test_read_only_and_non_contiguous_arrays_fit_as_ordinary_ones() -> None:
    reference = _fitted()
    read_only = X.copy()
    read_only.flags.writeable = False
    wide = np.zeros((200, 4))
    wide[:, ::2] = X
    for variant in (read_only, np.asfortranarray(X), wide[:, ::2], X[::-1][::-1]):
        gm = GaussianMixture(2, random_state=0).fit(variant)
        assert_close(gm.means_, reference.means_, rtol=1e-12)
        np.testing.assert_array_equal(gm.predict(variant), reference.predict(X))
    assert not read_only.flags.writeable  # the input is never modified


def test_read_only_arrays_go_to_the_torch_backend() -> None:
    pytest.importorskip("torch")
    read_only = X.copy()
    read_only.flags.writeable = False
    gm = GaussianMixture(2, random_state=0, device="cpu").fit(read_only)
    np.testing.assert_array_equal(gm.predict(read_only), _fitted().predict(X))


def test_n_components_beyond_the_rows() -> None:
    with pytest.raises(
        ValueError,
        match=r"n_components = 1000000, n_samples = 200\. Use fewer components",
    ):
        GaussianMixture(10**6).fit(X)


@pytest.mark.parametrize(
    ("weights", "error", "message"),
    [
        (np.ones(201), ValueError, r"shape \(200,\), one weight per row of X; got shape \(201,\)"),
        (np.ones(199), ValueError, r"got shape \(199,\)"),
        (np.ones((200, 1)), ValueError, r"got shape \(200, 1\)"),
        (np.ones(()), ValueError, r"got shape \(\)"),
        (np.ones(200) + 1j, ValueError, "sample_weight is complex"),
        (["w"] * 200, TypeError, "sample_weight must hold numbers"),
        (-1.0, ValueError, "non-negative .* got -1.0 at row 0"),
        (
            np.r_[np.ones(199), np.inf],
            ValueError,
            r"NaN or infinite values \(the first, inf, at row 199",
        ),
    ],
)
def test_bad_weights(weights: Any, error: type, message: str) -> None:
    gm = _fitted()
    before = dict(gm.__dict__)
    with pytest.raises(error, match=message):
        gm.fit(X, sample_weight=weights)
    _assert_unchanged(gm, before)
    with pytest.raises(error, match=message):
        gm.score(X, sample_weight=weights)


def test_a_pandas_datetime_column_is_named() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"x": X[:, 0], "when": pd.date_range("2020", periods=200)})
    with pytest.raises(TypeError, match=r"column 'when' has dtype datetime64\[(ns|us)\]"):
        GaussianMixture(2).fit(frame)


def test_pandas_missing_values_are_nan() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"x": pd.array([1, None] + [2] * 198, dtype="Int64"), "y": X[:, 1]})
    with pytest.raises(
        ValueError, match=r"NaN or infinite values \(the first, nan, at row 1, col"
    ):
        GaussianMixture(2).fit(frame)
    gm = GaussianMixture(2, missing="marginalize", random_state=0).fit(frame)
    assert np.all(np.isfinite(gm.score_samples(frame)))


def test_infinity_is_refused_under_marginalize() -> None:
    bad = X.copy()
    bad[4, 0] = -np.inf
    with pytest.raises(ValueError, match=r"contains infinite values \(the first, -inf, at row 4"):
        GaussianMixture(2, missing="marginalize").fit(bad)


def test_select_passes_nan_through_under_marginalize() -> None:
    holes = X.copy()
    holes[::7, 1] = np.nan
    result = gaussmix.select(holes, [1, 2], missing="marginalize", random_state=0)
    assert result.best_.n_components in (1, 2)
    with pytest.raises(ValueError, match="NaN or infinite"):
        gaussmix.select(holes, [1, 2])


def test_small_float_dtypes_and_booleans_are_numbers() -> None:
    assert GaussianMixture(2, random_state=0).fit(X.astype(np.float16)).means_.dtype == np.float64
    flags = (X > 2.5).astype(bool)
    gm = GaussianMixture(2, random_state=0, reg_covar=1e-3).fit(flags)
    _finite_model(gm)


def test_gmm_em_refuses_data_beyond_the_magnitude_limit() -> None:
    x = np.random.RandomState(1).normal(size=50)
    with pytest.raises(ValueError, match=r"Input data's values reach .* beyond ±1e\+140"):
        gaussmix.gmm_em(x * 1e160, 2)


def test_restored_models_are_checked_like_fitted_ones() -> None:
    from gaussmix._estimator import FittedState

    gm = _fitted()
    state = FittedState(gm._params, "full", 2, None, True, gm.n_iter_, gm.lower_bound_, [], 0)
    restored = GaussianMixture._from_state(gm.get_params(), state)
    np.testing.assert_array_equal(restored.predict(X), gm.predict(X))
    bad = state._replace(params=gm._params._replace(weights=np.array([0.9, 0.3])))
    with pytest.raises(ValueError, match="it does not hold a valid mixture: its weights"):
        GaussianMixture._from_state(gm.get_params(), bad)
    with pytest.raises(ValueError, match="its constructor parameters are invalid"):
        GaussianMixture._from_state({**gm.get_params(), "tol": -1.0}, state)
    with pytest.raises(ValueError, match="disagree with its n_components"):
        GaussianMixture._from_state({**gm.get_params(), "n_components": 3}, state)
    with pytest.raises(ValueError, match="its device 'meta' holds no data"):
        GaussianMixture._from_state({**gm.get_params(), "device": "meta"}, state)
