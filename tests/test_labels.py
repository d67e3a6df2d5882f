"""Partial labels: semi-supervised EM (``semi_supervised=True``, ``fit(X, y)``) on every path.

The reference is a semi-supervised EM step written here by hand (scipy densities,
explicit sums): unlabelled rows get their posterior responsibilities, labelled rows
their one-hot label, and the log-likelihood is mclust's MclustSSC one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import stats as sps
from sklearn.utils._param_validation import InvalidParameterError

import gaussmix
from _support import assert_close
from gaussmix import GaussianMixture
from gaussmix._core.covariance import COVARIANCE_TYPES, Params, get_covariance
from gaussmix._core.em import m_step
from gaussmix._core.stats import Stats
from test_input_matrix import KINDS, Kind

MODELS = list(COVARIANCE_TYPES)  # every model in the registry
K, D = 3, 2


def _data(n: int = 240, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, their true components, and partial labels (about a third known)."""
    rng = np.random.RandomState(seed)
    centres = np.array([[0.0, 0.0], [5.0, 1.0], [1.0, 6.0]])
    truth = rng.randint(K, size=n)
    X = centres[truth] + rng.normal(size=(n, D)) * np.array([1.0, 0.6])
    labels = np.where(rng.uniform(size=n) < 0.35, truth, -1)
    labels[:K] = truth[:K] = np.arange(K)  # every component has a labelled row
    X[:K] = centres
    return X, truth, labels


def _init(covariance_type: str, seed: int = 3) -> dict[str, np.ndarray]:
    """Init arrays in the model's form: means off the clusters, broad covariances."""
    rng = np.random.RandomState(seed)
    form = get_covariance(covariance_type).form
    a = rng.normal(size=(K, D, D))
    dense = np.einsum("kij,klj->kil", a, a) / D + np.eye(D)
    covariances = form.from_dense(dense)
    precisions = form.precisions(form.cholesky_precisions(covariances))
    means = np.array([[1.0, 1.0], [4.0, 0.0], [0.0, 5.0]]) + 0.3 * rng.normal(size=(K, D))
    return {
        "weights_init": np.array([0.5, 0.3, 0.2]),
        "means_init": means,
        "precisions_init": precisions,
    }


def _hand_step(
    X: np.ndarray, w: np.ndarray, labels: np.ndarray, init: dict[str, Any], covariance_type: str
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """One semi-supervised EM step by hand: (mean log-likelihood, mass, means, scatter (K,d,d))."""
    form = get_covariance(covariance_type).form
    covariances = form.covariances_from_precisions(init["precisions_init"])
    dense = form.dense(covariances, K, D)
    weights = init["weights_init"]
    log = np.stack(
        [
            np.log(weights[k]) + sps.multivariate_normal(init["means_init"][k], dense[k]).logpdf(X)
            for k in range(K)
        ],
        axis=1,
    )
    known = labels >= 0
    r = np.exp(log - np.logaddexp.reduce(log, axis=1, keepdims=True))
    r[known] = np.eye(K)[labels[known]]
    per_row = np.where(known, log[np.arange(len(X)), np.maximum(labels, 0)], 0.0)
    per_row[~known] = np.logaddexp.reduce(log[~known], axis=1)
    ll = float(w @ per_row / w.sum())
    rw = r * w[:, None]
    mass = rw.sum(axis=0)
    means = rw.T @ X / mass[:, None]
    scatter = np.stack([(rw[:, k, None] * (X - means[k])).T @ (X - means[k]) for k in range(K)])
    return ll, mass, means, scatter


def _registry_m_step(covariance_type, mass, means, scatter, total, reg_covar, start) -> Params:
    """The registry's M-step on hand-made statistics (its formulas are tested elsewhere).

    ``start``: the covariances the fit's M-step started from (iterative models'
    inner iterations start there, as EM's do).
    """
    cov = get_covariance(covariance_type)
    form = cov.form
    second = np.diagonal(scatter, axis1=1, axis2=2) if form.diagonal else scatter
    stats = Stats(total, 0.0, mass, means, form.reduce_scatter(second))
    return m_step(stats, cov, reg_covar, start=start)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # max_iter=1
@pytest.mark.parametrize("covariance_type", MODELS)
@pytest.mark.parametrize("weighted", [False, True])
def test_one_step_is_the_hand_computed_semi_supervised_step(covariance_type, weighted):
    X, _, labels = _data()
    w = np.random.RandomState(1).uniform(0.2, 3.0, size=len(X)) if weighted else np.ones(len(X))
    init = _init(covariance_type)
    model = GaussianMixture(
        K, covariance_type=covariance_type, max_iter=1, semi_supervised=True, **init
    )
    model.fit(X, labels, sample_weight=w if weighted else None)
    ll, mass, means, scatter = _hand_step(X, w, labels, init, covariance_type)
    start = get_covariance(covariance_type).form.covariances_from_precisions(
        init["precisions_init"]
    )
    expected = _registry_m_step(
        covariance_type, mass, means, scatter, w.sum(), model.reg_covar, start
    )
    assert_close(model.lower_bounds_[0], ll, rtol=1e-10)
    assert_close(model.weights_, mass / mass.sum(), rtol=1e-10)
    assert_close(model.means_, means, rtol=1e-10)
    assert_close(model.covariances_, expected.covariances, rtol=1e-9)


def test_the_four_sklearn_types_by_their_own_formulas():
    """The M-step written out for scikit-learn's four types (no registry code)."""
    X, _, labels = _data()
    w = np.ones(len(X))
    for covariance_type in ("full", "tied", "diag", "spherical"):
        init = _init(covariance_type)
        model = GaussianMixture(
            K, covariance_type=covariance_type, max_iter=1, semi_supervised=True, **init
        )
        with pytest.warns(Warning):  # max_iter=1 does not converge
            model.fit(X, labels)
        _, mass, _, scatter = _hand_step(X, w, labels, init, covariance_type)
        reg = model.reg_covar
        eye = np.eye(D)
        if covariance_type == "full":
            expected = scatter / mass[:, None, None] + reg * eye
        elif covariance_type == "tied":
            expected = scatter.sum(axis=0) / mass.sum() + reg * eye
        elif covariance_type == "diag":
            expected = np.diagonal(scatter, axis1=1, axis2=2) / mass[:, None] + reg
        else:
            expected = np.trace(scatter, axis1=1, axis2=2) / (D * mass) + reg
        assert_close(model.covariances_, expected, rtol=1e-9)


@pytest.mark.parametrize("covariance_type", MODELS)
def test_a_fit_is_monotone_keeps_label_order_and_reports_mclust_loglik(covariance_type):
    X, truth, labels = _data()
    model = GaussianMixture(K, covariance_type=covariance_type, semi_supervised=True, tol=1e-8)
    model.fit(X, labels)
    bounds = np.asarray(model.lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-9 * (1 + np.abs(bounds[:-1])))
    # Components keep the labels' numbering: component k sits on cluster k.
    centres = np.array([X[truth == k].mean(axis=0) for k in range(K)])
    assert np.argmin(((model.means_[:, None] - centres[None]) ** 2).sum(-1), axis=1).tolist() == [
        0,
        1,
        2,
    ]
    # score(X, y) is the fitted parameters' MclustSSC log-likelihood per row, and
    # the fit's last bound is the one before its last M-step: they agree at convergence.
    assert_close(model.score(X, labels), model.lower_bound_, rtol=1e-6)
    # A labelled row's log π_y φ_y(x) is at most its log Σ_k π_k φ_k(x).
    assert model.score(X, labels) <= model.score(X)
    # fit_predict keeps the known labels and predicts the rest.
    predicted = GaussianMixture(
        K, covariance_type=covariance_type, semi_supervised=True, tol=1e-8
    ).fit_predict(X, labels)
    known = labels >= 0
    assert np.array_equal(predicted[known], labels[known])
    assert np.array_equal(predicted[~known], model.predict(X)[~known])


def test_score_bic_aic_with_labels_are_mclusts():
    X, _, labels = _data()
    model = GaussianMixture(K, semi_supervised=True).fit(X, labels)
    ll = model.score(X, labels) * len(X)
    p = model._n_parameters()
    assert_close(model.bic(X, labels), -2 * ll + p * np.log(len(X)), rtol=1e-12)
    assert_close(model.aic(X, labels), -2 * ll + 2 * p, rtol=1e-12)
    assert_close(model.bic(X), -2 * model.score(X) * len(X) + p * np.log(len(X)), rtol=1e-12)


def test_labels_pull_a_fit_where_unsupervised_em_does_not_go():
    """Two overlapping clusters told apart by their labels alone."""
    rng = np.random.RandomState(0)
    a = rng.normal(size=(300, 2)) * [3.0, 0.3]
    b = rng.normal(size=(300, 2)) * [0.3, 3.0]
    X = np.vstack([a, b])
    labels = np.r_[
        np.where(rng.uniform(size=300) < 0.2, 0, -1), np.where(rng.uniform(size=300) < 0.2, 1, -1)
    ]
    model = GaussianMixture(2, semi_supervised=True, random_state=0).fit(X, labels)
    assert (
        np.all(np.diag(model.covariances_[0]) > [5.0, 0.0]) and model.covariances_[0][1, 1] < 0.3
    )
    assert model.covariances_[1][0, 0] < 0.3 and model.covariances_[1][1, 1] > 5.0


def test_components_without_labels_are_started_by_init_params():
    X, truth, labels = _data(seed=2)
    labels = np.where(labels == 2, -1, labels)  # component 2 has no labelled row
    model = GaussianMixture(K, semi_supervised=True, random_state=0).fit(X, labels)
    centres = np.array([X[truth == k].mean(axis=0) for k in range(K)])
    nearest = np.argmin(((model.means_[:, None] - centres[None]) ** 2).sum(-1), axis=1)
    assert nearest.tolist() == [0, 1, 2]


def test_every_row_labelled_is_the_supervised_fit():
    X, truth, _ = _data()
    model = GaussianMixture(K, semi_supervised=True).fit(X, truth)
    assert model.converged_
    for k in range(K):
        rows = X[truth == k]
        assert_close(model.means_[k], rows.mean(axis=0), rtol=1e-12)
        assert_close(
            model.covariances_[k], np.cov(rows.T, bias=True) + 1e-6 * np.eye(D), rtol=1e-9
        )
    assert_close(model.weights_, np.bincount(truth) / len(X), rtol=1e-9)


# -- every row source ---------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
@pytest.mark.parametrize("weighted", [False, True])
def test_every_row_source_gives_the_numpy_fit(kind: Kind, weighted: bool, tmp_path) -> None:
    if not kind.available:
        pytest.skip(f"{kind.name} is not installed")
    X, _, labels = _data(120)
    w = np.random.RandomState(2).uniform(0.5, 2.0, size=len(X)) if weighted else None
    settings = dict(n_components=K, semi_supervised=True, tol=1e-10, max_iter=200)
    expected = GaussianMixture(**settings).fit(X, labels, sample_weight=w)
    source = kind.make(X, tmp_path)
    got = GaussianMixture(**settings).fit(
        source, kind.weights(labels), sample_weight=None if w is None else kind.weights(w)
    )
    assert_close(got.means_, expected.means_, rtol=1e-7)
    assert_close(got.covariances_, expected.covariances_, rtol=1e-7)
    assert_close(got.lower_bound_, expected.lower_bound_, rtol=1e-9)
    assert_close(got.score(source, kind.weights(labels)), expected.score(X, labels), rtol=1e-9)
    predicted = GaussianMixture(**settings).fit_predict(source, kind.weights(labels))
    predicted = np.asarray(predicted.compute() if hasattr(predicted, "compute") else predicted)
    assert np.array_equal(predicted, expected.fit_predict(X, labels))


# -- missing values -----------------------------------------------------------------
def _marginal_hand_step(X, labels, init):
    """One semi-supervised EM step for 'full' with NaN marginalised, by hand, row by row."""
    weights, means = init["weights_init"], init["means_init"]
    covs = np.linalg.inv(init["precisions_init"])
    n = len(X)
    r = np.zeros((n, K))
    xhat = np.zeros((K, n, D))
    cond = np.zeros((K, n, D, D))
    ll = 0.0
    for i in range(n):
        o = ~np.isnan(X[i])
        m = ~o
        log = np.empty(K)
        for k in range(K):
            S = covs[k]
            log[k] = np.log(weights[k]) + sps.multivariate_normal(
                means[k][o], S[np.ix_(o, o)]
            ).logpdf(X[i][o])
            xhat[k, i] = X[i]
            if m.any():
                gain = S[np.ix_(m, o)] @ np.linalg.inv(S[np.ix_(o, o)])
                xhat[k, i, m] = means[k][m] + gain @ (X[i][o] - means[k][o])
                cond[k, i][np.ix_(m, m)] = S[np.ix_(m, m)] - gain @ S[np.ix_(o, m)]
        if labels[i] >= 0:
            r[i, labels[i]] = 1.0
            ll += log[labels[i]]
        else:
            top = np.logaddexp.reduce(log)
            r[i] = np.exp(log - top)
            ll += top
    mass = r.sum(axis=0)
    new_means = np.einsum("nk,knd->kd", r, xhat) / mass[:, None]
    new_covs = np.stack(
        [
            (
                np.einsum("n,nd,ne->de", r[:, k], xhat[k] - new_means[k], xhat[k] - new_means[k])
                + np.einsum("n,nde->de", r[:, k], cond[k])
            )
            / mass[k]
            for k in range(K)
        ]
    )
    return ll / n, mass / n, new_means, new_covs


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_missing_values_labelled_or_not_one_step_by_hand():
    X, _, labels = _data(90)
    rng = np.random.RandomState(5)
    holes = rng.uniform(size=X.shape) < 0.15
    holes[holes.all(axis=1), 0] = False
    X = np.where(holes, np.nan, X)
    assert np.isnan(X[labels >= 0]).any() and np.isnan(X[labels < 0]).any()
    init = _init("full")
    model = GaussianMixture(
        K, max_iter=1, missing="marginalize", semi_supervised=True, reg_covar=0.0, **init
    ).fit(X, labels)
    ll, weights, means, covs = _marginal_hand_step(X, labels, init)
    assert_close(model.lower_bounds_[0], ll, rtol=1e-10)
    assert_close(model.weights_, weights, rtol=1e-10)
    assert_close(model.means_, means, rtol=1e-9)
    assert_close(model.covariances_, covs, rtol=1e-8)


# -- fix=, partial_fit, model files -------------------------------------------------
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fixed_means_with_labels():
    X, _, labels = _data()
    init = _init("full")
    model = GaussianMixture(K, max_iter=1, semi_supervised=True, fix=("means",), **init).fit(
        X, labels
    )
    _, mass, means, scatter = _hand_step(X, np.ones(len(X)), labels, init, "full")
    held = init["means_init"]
    about = scatter + np.einsum("k,kd,ke->kde", mass, means - held, means - held)
    assert np.array_equal(model.means_, held)
    assert_close(model.covariances_, about / mass[:, None, None] + 1e-6 * np.eye(D), rtol=1e-9)


def test_partial_fit_with_labels_is_stepwise_semi_supervised_em():
    X, _, labels = _data()
    init = _init("full")
    online = GaussianMixture(K, semi_supervised=True, **init)
    online.partial_fit(X, labels)  # the first step replaces the running statistics
    batch = GaussianMixture(K, max_iter=1, semi_supervised=True, **init)
    with pytest.warns(Warning):
        batch.fit(X, labels)
    assert_close(online.means_, batch.means_, rtol=1e-12)
    assert_close(online.lower_bound_, batch.lower_bounds_[0], rtol=1e-12)


def test_a_model_file_keeps_semi_supervised(tmp_path):
    X, _, labels = _data()
    model = GaussianMixture(K, semi_supervised=True).fit(X, labels)
    loaded = gaussmix.load(model.save(tmp_path / "m.gmm"))
    assert loaded.semi_supervised is True
    assert_close(loaded.score(X, labels), model.score(X, labels), rtol=1e-12)


# -- y when it is not labels, and bad labels ---------------------------------------------
def test_y_is_ignored_unless_semi_supervised():
    """scikit-learn passes regression targets as y to every estimator's fit."""
    X, _, _ = _data()
    targets = np.random.RandomState(0).normal(size=len(X))
    a = GaussianMixture(K, random_state=0).fit(X, targets)
    b = GaussianMixture(K, random_state=0).fit(X)
    assert np.array_equal(a.means_, b.means_)
    assert a.score(X, targets) == b.score(X)


BAD = {
    "float": (lambda y: y.astype(float), r"must hold integers .* got dtype float64"),
    "short": (lambda y: y[:-1], r"must have shape \(240,\)"),
    "2-D": (lambda y: y[:, None], r"must have shape \(240,\)"),
    "range": (lambda y: np.r_[y[:7], 3, y[8:]], r"n_components=3; got 3 at row 7"),
    "below": (lambda y: np.r_[y[:7], -2, y[8:]], r"got -2 at row 7"),
    "none": (lambda y: [None, *y.tolist()[1:]], r"must hold integers .* NoneType"),
    "bool": (lambda y: y > 0, r"must hold integers .* got dtype bool"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_labels_are_clear_errors_and_change_nothing(case):
    X, _, labels = _data()
    make, pattern = BAD[case]
    model = GaussianMixture(K, semi_supervised=True).fit(X, labels)
    before = model.means_.copy()
    with pytest.raises(ValueError, match=pattern):
        model.fit(X, make(labels))
    assert np.array_equal(model.means_, before)


def test_semi_supervised_without_y_says_what_to_do():
    X, _, _ = _data()
    with pytest.raises(ValueError, match=r"semi_supervised=True .* pass them as y"):
        GaussianMixture(K, semi_supervised=True).fit(X)


def test_semi_supervised_must_be_a_boolean():
    X, _, labels = _data()
    with pytest.raises(InvalidParameterError, match="semi_supervised"):
        GaussianMixture(K, semi_supervised="yes").fit(X, labels)


def test_a_noise_component_with_labels():
    """Labelled rows are never noise; the likelihood adds the noise density π₀ / V."""
    X, _, labels = _data()
    rng = np.random.RandomState(7)
    outliers = rng.uniform(-8.0, 12.0, size=(20, D))
    Z = np.vstack([X, outliers])
    y = np.r_[labels, np.full(20, -1)]
    model = GaussianMixture(K, semi_supervised=True, noise=True, random_state=0).fit(Z, y)
    bounds = np.asarray(model.lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-9 * (1 + np.abs(bounds[:-1])))
    assert 0.0 < model.noise_weight_ < 0.5
    predicted = model.fit_predict(Z, y)
    assert np.array_equal(predicted[y >= 0], y[y >= 0])
    # score(X, y) by hand from the fitted parameters, noise density included.
    dense = model.covariances_
    log = np.stack(
        [
            np.log(model.weights_[k])
            + sps.multivariate_normal(model.means_[k], dense[k]).logpdf(Z)
            for k in range(K)
        ],
        axis=1,
    )
    noise = np.log(model.noise_weight_) - np.log(model.noise_hypervolume_)
    everything = np.logaddexp(np.logaddexp.reduce(log, axis=1), noise)
    per_row = np.where(y >= 0, log[np.arange(len(Z)), np.maximum(y, 0)], everything)
    assert_close(model.score(Z, y), per_row.mean(), rtol=1e-10)


def test_a_prior_with_labels():
    """MAP EM (mclust's default prior) takes the labelled statistics like the others."""
    X, _, labels = _data()
    model = GaussianMixture(K, covariance_type="VVV", prior="default", semi_supervised=True)
    predicted = model.fit_predict(X, labels)
    assert model.converged_
    assert np.array_equal(predicted[labels >= 0], labels[labels >= 0])
