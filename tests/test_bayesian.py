"""gaussmix.BayesianGaussianMixture: scikit-learn's results from the same start, and more.

Parity is tested from starts both libraries compute alike: the default 'kmeans'
(scikit-learn's KMeans labels, up to 65,536 rows), 'random' (the same random
responsibilities), 'random_from_data' and 'k-means++' (the same seed rows; not for
'tied', whose start scikit-learn computes from seed rows against the whole data's
second moment), with the same ``random_state``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture as SkBayesian

from _support import COVARIANCE_TYPES, assert_close, blobs
from gaussmix import BayesianGaussianMixture, GaussianMixture
from gaussmix._validation import InvalidParameterError
from test_input_matrix import BAD_COL, BAD_ROW, KINDS, Kind
from test_input_matrix import X as MATRIX_X

RTOL = 1e-6
PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")
POSTERIOR = (
    "weights_",
    "means_",
    "covariances_",
    "precisions_",
    "precisions_cholesky_",
    "mean_precision_",
    "degrees_of_freedom_",
)
PRIORS = (
    "weight_concentration_prior_",
    "mean_precision_prior_",
    "mean_prior_",
    "degrees_of_freedom_prior_",
    "covariance_prior_",
)


def _fit_both(X: np.ndarray, **params: Any) -> tuple[BayesianGaussianMixture, SkBayesian]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = BayesianGaussianMixture(**params).fit(X)
        theirs = SkBayesian(**params).fit(X)
    return ours, theirs


def _close(got: Any, expected: Any, name: str, rtol: float = RTOL) -> None:
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert got.shape == expected.shape, name
    assert_close(got, expected, rtol=rtol, err_msg=name)


def max_difference(ours: Any, theirs: Any) -> float:
    """The largest difference of the fitted parameters, relative to each one's scale."""
    worst = 0.0
    for name in (*POSTERIOR, "weight_concentration_"):
        got = np.asarray(getattr(ours, name), dtype=np.float64)
        expected = np.asarray(getattr(theirs, name), dtype=np.float64)
        worst = max(worst, float(np.max(np.abs(got - expected)) / np.max(np.abs(expected))))
    return worst


def assert_same_fit(ours: Any, theirs: Any, X: np.ndarray) -> None:
    for name in (*POSTERIOR, *PRIORS, "weight_concentration_"):
        _close(getattr(ours, name), getattr(theirs, name), name)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.converged_ == theirs.converged_
    # (scikit-learn's 'tied' bound is a 1-element array; gaussmix's is a float.)
    assert isinstance(ours.lower_bound_, float)
    _close(ours.lower_bound_, np.squeeze(theirs.lower_bound_), "lower_bound_")
    _close(ours.lower_bounds_, np.squeeze(theirs.lower_bounds_), "lower_bounds_")
    _close(ours.score_samples(X), theirs.score_samples(X), "score_samples")
    _close(ours.predict_proba(X), theirs.predict_proba(X), "predict_proba")
    assert np.array_equal(ours.predict(X), theirs.predict(X))
    _close(ours.score(X), theirs.score(X), "score")


def _data(seed: int = 0) -> np.ndarray:
    # Unequal scales, far from the origin, more components than clusters.
    return blobs(n=500, d=3, k=3, seed=seed) * [1.0, 4.0, 0.5] + 20.0


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("init_params", ["kmeans", "random", "random_from_data", "k-means++"])
def test_same_fit_as_scikit_learn(covariance_type: str, prior_type: str, init_params: str) -> None:
    if covariance_type == "tied" and init_params in ("random_from_data", "k-means++"):
        pytest.skip("scikit-learn's tied start from seed rows uses the whole data's X^T X")
    X = _data()
    ours, theirs = _fit_both(
        X,
        n_components=5,
        covariance_type=covariance_type,
        weight_concentration_prior_type=prior_type,
        init_params=init_params,
        random_state=3,
        max_iter=200,
    )
    assert theirs.n_iter_ >= 2
    assert_same_fit(ours, theirs, X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_same_fit_with_every_prior_given(covariance_type: str) -> None:
    X = _data(1)
    d = X.shape[1]
    covariance_prior = {
        "full": np.diag([2.0, 3.0, 0.5]) + 0.1,
        "tied": np.diag([2.0, 3.0, 0.5]) + 0.1,
        "diag": np.array([2.0, 3.0, 0.5]),
        "spherical": 1.5,
    }[covariance_type]
    ours, theirs = _fit_both(
        X,
        n_components=4,
        covariance_type=covariance_type,
        init_params="random",
        random_state=0,
        weight_concentration_prior=0.3,
        mean_precision_prior=0.5,
        mean_prior=np.full(d, 19.0),
        degrees_of_freedom_prior=d + 2.5,
        covariance_prior=covariance_prior,
    )
    assert_same_fit(ours, theirs, X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_n_init_warm_start_and_max_iter_0_as_scikit_learn(covariance_type: str) -> None:
    X = _data(2)
    params = {"n_components": 4, "covariance_type": covariance_type, "init_params": "random"}
    assert_same_fit(*_fit_both(X, n_init=3, random_state=5, **params), X)
    ours, theirs = _fit_both(X, max_iter=0, random_state=5, **params)
    assert ours.lower_bound_ == theirs.lower_bound_ == -np.inf and ours.lower_bounds_ == []
    for name in POSTERIOR:
        _close(getattr(ours, name), getattr(theirs, name), name)
    warm = {"warm_start": True, "max_iter": 5, "random_state": 5, **params}
    ours, theirs = BayesianGaussianMixture(**warm), SkBayesian(**warm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(3):
            ours.fit(X)
            theirs.fit(X)
    assert_same_fit(ours, theirs, X)


def test_dirichlet_process_switches_off_components() -> None:
    rng = np.random.RandomState(4)
    X = np.vstack([rng.normal(size=(500, 2)), rng.normal(size=(500, 2)) + 10.0])
    model = BayesianGaussianMixture(
        n_components=8, weight_concentration_prior=1e-3, random_state=0, max_iter=500
    ).fit(X)
    assert np.sum(model.weights_ > 0.01) == 2
    assert len(np.unique(model.predict(X))) == 2


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_integer_weights_are_repeated_rows(covariance_type: str) -> None:
    X = _data(3)[:200]
    counts = np.random.RandomState(0).randint(0, 4, size=X.shape[0])
    params = {"n_components": 3, "covariance_type": covariance_type, "random_state": 1}
    weighted = BayesianGaussianMixture(max_iter=0, **params).fit(X, sample_weight=counts)
    repeated = BayesianGaussianMixture(max_iter=0, **params).fit(np.repeat(X, counts, axis=0))
    # The same start for both (the draws differ), then the same fit.
    for name in (*POSTERIOR, "weight_concentration_"):
        setattr(repeated, name, getattr(weighted, name))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        weighted.set_params(max_iter=100, warm_start=True).fit(X, sample_weight=counts)
        repeated.set_params(max_iter=100, warm_start=True).fit(np.repeat(X, counts, axis=0))
    for name in (*POSTERIOR, *PRIORS, "weight_concentration_", "lower_bound_"):
        _close(getattr(weighted, name), getattr(repeated, name), name, rtol=1e-9)
    assert weighted.n_iter_ == repeated.n_iter_ > 3


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize(
    "make",
    [
        lambda: np.ones((30, 3)) * [1.0, 2.0, 3.0],  # every row the same
        lambda: np.repeat(np.arange(6.0)[:, None] * [1, 0, 2], 5, axis=0),  # collinear
        lambda: np.random.RandomState(0).normal(size=(4, 10)),  # fewer rows than features
    ],
    ids=["equal-rows", "collinear", "wide"],
)
def test_degenerate_data_never_crashes(covariance_type: str, make: Any) -> None:
    X = make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = BayesianGaussianMixture(
            n_components=3, covariance_type=covariance_type, random_state=0
        ).fit(X)
    assert np.all(np.isfinite(model.covariances_)) and np.isfinite(model.lower_bound_)
    assert np.all(np.isfinite(model.score_samples(X)))
    assert_close(model.predict_proba(X).sum(axis=1), np.ones(X.shape[0]), rtol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_collinear_columns_keep_scikit_learns_prior(covariance_type: str) -> None:
    # A singular default covariance_prior is regularised only when a component with
    # no rows would have no proper posterior: collinear columns keep scikit-learn's.
    X = np.repeat(np.arange(6.0)[:, None] * [1, 0, 2], 5, axis=0)
    ours, theirs = _fit_both(X, n_components=3, covariance_type=covariance_type, random_state=0)
    _close(ours.covariance_prior_, theirs.covariance_prior_, "covariance_prior_", rtol=1e-12)
    _close(ours.lower_bound_, np.squeeze(theirs.lower_bound_), "lower_bound_")


def test_mclust_names_of_scikit_learns_four_fit_the_same() -> None:
    X = _data(4)
    for sklearn_name, mclust_name in (("full", "VVV"), ("tied", "EEE"), ("diag", "VVI")):
        a = BayesianGaussianMixture(n_components=3, covariance_type=sklearn_name, random_state=0)
        b = BayesianGaussianMixture(n_components=3, covariance_type=mclust_name, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            assert np.array_equal(a.fit(X).means_, b.fit(X).means_)


def test_parameter_errors_are_scikit_learns_kind() -> None:
    X = _data()
    bad = [
        {"weight_concentration_prior_type": "dirichlet"},
        {"weight_concentration_prior": 0.0},
        {"mean_precision_prior": -1.0},
        {"degrees_of_freedom_prior": 1.5},  # d - 1 = 2
        {"mean_prior": [1.0, 2.0]},
        {"mean_prior": [1.0, np.nan, 2.0]},
        {"covariance_prior": np.eye(2)},
        {"covariance_prior": -np.eye(3)},
        {"covariance_type": "diag", "covariance_prior": [1.0, -1.0, 1.0]},
        {"covariance_type": "spherical", "covariance_prior": -2.0},
        {"covariance_type": "spherical", "covariance_prior": [1.0, 2.0]},
        {"covariance_type": "EEI"},  # mclust's: no conjugate posterior
    ]
    for params in bad:
        model = BayesianGaussianMixture(**params)
        with pytest.raises(InvalidParameterError):
            model.fit(X)
        assert not hasattr(model, "weights_")


# -- every input kind -------------------------------------------------------------------
@pytest.fixture(params=[k for k in KINDS if k.available], ids=lambda k: k.name)
def kind(request: pytest.FixtureRequest) -> Kind:
    return request.param


def _as_numpy(values: Any) -> np.ndarray:
    if hasattr(values, "compute"):
        values = values.compute()
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.asarray(values)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_every_input_kind_gives_the_same_fit(
    kind: Kind, covariance_type: str, tmp_path: Path
) -> None:
    weights = np.random.RandomState(1).uniform(0.5, 2.0, size=MATRIX_X.shape[0])
    params = {
        "n_components": 3,
        "covariance_type": covariance_type,
        "init_params": "random_from_data",
        "random_state": 0,
        "max_iter": 30,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference = BayesianGaussianMixture(**params).fit(MATRIX_X, sample_weight=weights)
        model = BayesianGaussianMixture(**params).fit(
            kind.make(MATRIX_X, tmp_path), sample_weight=kind.weights(weights)
        )
    for name in (*POSTERIOR, *PRIORS, "weight_concentration_", "lower_bound_"):
        _close(getattr(model, name), getattr(reference, name), name, rtol=1e-9)
    assert model.n_iter_ == reference.n_iter_
    data = kind.make(MATRIX_X, tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # frames carry names, arrays do not
        assert np.array_equal(_as_numpy(model.predict(data)), reference.predict(MATRIX_X))
        _close(_as_numpy(model.score_samples(data)), reference.score_samples(MATRIX_X), "scores")
        _close(model.score(data), reference.score(MATRIX_X), "score")
    batch = BayesianGaussianMixture(**params).partial_fit(kind.make(MATRIX_X, tmp_path))
    assert np.all(np.isfinite(batch.means_)) and batch.n_iter_ == 1


def test_bad_input_is_the_boundarys_one_error(kind: Kind, tmp_path: Path) -> None:
    bad = MATRIX_X.copy()
    bad[BAD_ROW, BAD_COL] = np.inf
    with pytest.raises(ValueError) as expected:
        GaussianMixture(2).fit(bad)
    model = BayesianGaussianMixture(n_components=2)
    with pytest.raises(ValueError) as got:
        model.fit(kind.make(bad, tmp_path))
    assert str(got.value) == str(expected.value).replace("GaussianMixture", type(model).__name__)
    assert not hasattr(model, "weights_")


# -- missing values -----------------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_missing_values_are_marginalised(covariance_type: str) -> None:
    X = _data(5)
    params = {"n_components": 4, "covariance_type": covariance_type, "random_state": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # No NaN: the same fit as without missing='marginalize'.
        plain = BayesianGaussianMixture(**params).fit(X)
        same = BayesianGaussianMixture(missing="marginalize", **params).fit(X)
        for name in (*POSTERIOR, *PRIORS, "lower_bound_"):
            _close(getattr(same, name), getattr(plain, name), name, rtol=1e-12)
        # 10% of the entries missing: a fit close to the complete data's.
        holes = X.copy()
        holes[np.random.RandomState(1).uniform(size=X.shape) < 0.1] = np.nan
        model = BayesianGaussianMixture(missing="marginalize", **params).fit(holes)
    assert np.isfinite(model.lower_bound_) and model.n_iter_ > 1
    assert np.all(np.diff(model.lower_bounds_) > -1e-6 * np.abs(model.lower_bounds_[1:]))
    assert np.max(np.abs(model.mean_prior_ - X.mean(axis=0))) < 0.1 * X.std(axis=0).max()
    scores = model.score_samples(holes)
    assert np.all(np.isfinite(scores))
    assert abs(plain.score(X) - model.score(X)) < 0.05 * abs(plain.score(X))
    filled = model.impute(holes)
    assert not np.isnan(filled).any()


# -- streaming ----------------------------------------------------------------------------
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_partial_fit_on_100_batches_is_within_1_percent(
    covariance_type: str, prior_type: str
) -> None:
    # One pass over 100 batches of a stationary stream against the batch fit of all
    # of it: the held-out score agrees to 1% (seeded; see docs/guide.md for more).
    X = blobs(n=21_000, d=3, k=4, seed=8)
    train, test = X[:20_000], X[20_000:]
    params = {
        "n_components": 6,
        "covariance_type": covariance_type,
        "weight_concentration_prior_type": prior_type,
        "random_state": 0,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        batch = BayesianGaussianMixture(tol=1e-2, max_iter=300, **params).fit(train)
    stream = BayesianGaussianMixture(**params)
    for rows in np.array_split(train, 100):
        stream.partial_fit(rows)
    assert stream.n_iter_ == 100 and len(stream.lower_bounds_) == 100
    assert not stream.converged_
    gap = abs(stream.score(test) - batch.score(test))
    assert gap < 0.01 * abs(batch.score(test)), (stream.score(test), batch.score(test))


def test_partial_fit_continues_a_fit_and_fails_cleanly() -> None:
    X = _data(6)
    model = BayesianGaussianMixture(n_components=3, random_state=0).fit(X)
    before = {name: np.copy(getattr(model, name)) for name in POSTERIOR}
    with pytest.raises(ValueError):
        model.partial_fit(X[:, :2])
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError):
        model.partial_fit(bad)
    for name, value in before.items():
        assert np.array_equal(getattr(model, name), value), name
    model.partial_fit(X[:100])
    assert model.n_iter_ == 1 and np.all(np.isfinite(model.means_))
    model.set_params(weight_concentration_prior_type="dirichlet_distribution")
    with pytest.raises(ValueError, match="weight_concentration_prior_type"):
        model.partial_fit(X[:100])
    with pytest.raises(ValueError, match="weight_concentration_prior_type"):
        model.set_params(warm_start=True).fit(X)


def test_a_failed_fit_changes_nothing() -> None:
    X = _data(7)
    model = BayesianGaussianMixture(n_components=3, random_state=0).fit(X)
    before = {name: np.copy(getattr(model, name)) for name in (*POSTERIOR, *PRIORS)}
    for params in ({"covariance_prior": np.eye(2)}, {"degrees_of_freedom_prior": 0.5}):
        with pytest.raises(ValueError):
            model.set_params(**params).fit(X)
        model.set_params(covariance_prior=None, degrees_of_freedom_prior=None)
    with pytest.raises(ValueError):
        model.fit(np.ones((1, 3)))  # fewer rows than components
    for name, value in before.items():
        assert np.array_equal(getattr(model, name), value), name
