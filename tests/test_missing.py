"""missing='marginalize': NaN entries as missing at random, in fit, inference and impute."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.stats import multivariate_normal
from sklearn.impute import SimpleImputer
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from _support import assert_close
from gaussmix import GaussianMixture
from gaussmix._core.covariance import get_covariance
from gaussmix._core.missing import MissingRows, group_patterns
from gaussmix.backends.numpy import NumpyRows

TYPES = ["full", "tied", "diag", "spherical"]


def _dense(gm: GaussianMixture) -> np.ndarray:
    """The fitted covariances as (K, d, d) matrices, whatever the type."""
    K, d = gm.means_.shape
    c = gm.covariances_
    if gm.covariance_type == "full":
        return np.asarray(c)
    if gm.covariance_type == "tied":
        return np.repeat(c[None], K, axis=0)
    if gm.covariance_type == "diag":
        return np.stack([np.diag(v) for v in c])
    return np.stack([np.eye(d) * v for v in c])


def _mixture(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n rows of a 5-D, 3-component mixture with correlated components, and labels."""
    shapes = np.random.default_rng(0)  # the same components for every seed
    mixing = [shapes.normal(size=(5, 5)) * 0.6 + np.eye(5) for _ in range(3)]
    centres = np.array([[0, 0, 0, 0, 0], [4, 4, 0, -2, 1], [-3, 4, 3, 2, -2]], dtype=float)
    rng = np.random.default_rng(seed)
    labels = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    X = np.einsum("ni,nij->nj", rng.normal(size=(n, 5)), np.stack(mixing)[labels])
    return X + centres[labels], labels


def _mask(X: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    Xm = X.copy()
    Xm[np.random.default_rng(seed).uniform(size=X.shape) < fraction] = np.nan
    return Xm


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X, _ = _mixture(2400, seed=0)
    X_test, _ = _mixture(1000, seed=1)
    return X, _mask(X, 0.2, seed=2), X_test


def test_patterns_are_grouped_without_a_row_loop() -> None:
    observed = np.array([[1, 0, 1], [1, 1, 1], [1, 0, 1], [0, 0, 1]], dtype=bool)
    groups = group_patterns(observed)
    assert groups.observed.shape == (3, 3)
    for g in range(3):
        rows = groups.order[groups.bounds[g] : groups.bounds[g + 1]]
        assert (observed[rows] == groups.observed[g]).all()
    assert sorted(groups.order.tolist()) == [0, 1, 2, 3]


@pytest.mark.parametrize("covariance_type", TYPES)
def test_expected_statistics_match_a_row_by_row_reference(covariance_type: str) -> None:
    """Marginal log-likelihood, conditional means and the Schur-complement correction."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 4)) @ rng.normal(size=(4, 4))
    Xm = _mask(X, 0.3, seed=4)
    weights = rng.uniform(0.5, 2.0, size=120)
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    cov = get_covariance(covariance_type)
    stats = MissingRows(Xm, weights, NumpyRows).expectation(gm._params, cov)

    S, K, d = _dense(gm), 3, 4
    ll, N, S1, S2 = 0.0, np.zeros(K), np.zeros((K, d)), np.zeros((K, d, d))
    for x, w in zip(Xm, weights, strict=True):
        o = ~np.isnan(x)
        m = ~o
        if not o.any():
            continue
        log_p = np.log(gm.weights_) + [
            multivariate_normal(gm.means_[k][o], S[k][np.ix_(o, o)]).logpdf(x[o]) for k in range(K)
        ]
        total = np.logaddexp.reduce(log_p)
        ll += w * total
        r = w * np.exp(log_p - total)
        for k in range(K):
            gain = S[k][np.ix_(m, o)] @ np.linalg.inv(S[k][np.ix_(o, o)])
            xhat = x.copy()
            xhat[m] = gm.means_[k][m] + gain @ (x[o] - gm.means_[k][o])
            cond = np.zeros((d, d))
            cond[np.ix_(m, m)] = S[k][np.ix_(m, m)] - gain @ S[k][np.ix_(o, m)]
            N[k] += r[k]
            S1[k] += r[k] * xhat
            S2[k] += r[k] * (np.outer(xhat, xhat) + cond)
    means = S1 / N[:, None]
    scatter = S2 - N[:, None, None] * np.einsum("ki,kj->kij", means, means)
    reduce = {
        "full": lambda s: s,
        "tied": lambda s: s.sum(axis=0),
        "diag": lambda s: np.diagonal(s, axis1=1, axis2=2),
        "spherical": lambda s: np.trace(s, axis1=1, axis2=2),
    }[covariance_type]
    assert_close(stats.log_likelihood, ll, rtol=1e-10)
    assert_close(stats.mass, N, rtol=1e-10)
    np.testing.assert_allclose(stats.means, means, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(stats.scatter, reduce(scatter), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_without_nan_the_fit_is_exactly_the_ordinary_one(covariance_type: str) -> None:
    X, _ = _mixture(300, seed=5)
    kw = {"n_components": 3, "covariance_type": covariance_type, "random_state": 0}
    plain = GaussianMixture(**kw).fit(X)
    marg = GaussianMixture(**kw, missing="marginalize").fit(X)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_array_equal(getattr(marg, name), getattr(plain, name))
    assert marg.lower_bounds_ == plain.lower_bounds_
    np.testing.assert_array_equal(marg.score_samples(X), plain.score_samples(X))


@pytest.mark.parametrize("covariance_type", TYPES)
def test_fit_with_missing_values_beats_mean_imputation_and_matches_the_full_fit(
    covariance_type: str, data: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> None:
    X, Xm, X_test = data
    kw = {"n_components": 3, "covariance_type": covariance_type, "random_state": 0}
    gm = GaussianMixture(**kw, missing="marginalize", n_init=2).fit(Xm)
    assert np.all(np.diff(gm.lower_bounds_) >= -1e-12), "EM must stay monotone"
    full = GaussianMixture(**kw, n_init=2).fit(X)
    baseline = SkGaussianMixture(**kw, n_init=2).fit(SimpleImputer().fit_transform(Xm))

    held_out = gm.score(X_test)
    assert held_out > baseline.score(X_test) + 0.05
    assert held_out > full.score(X_test) - 0.1
    # Parameters close to the full-data fit, components matched by their means.
    cost = ((gm.means_[:, None] - full.means_[None]) ** 2).sum(axis=-1)
    rows, cols = linear_sum_assignment(cost)
    np.testing.assert_allclose(gm.weights_[rows], full.weights_[cols], atol=0.03)
    np.testing.assert_allclose(gm.means_[rows], full.means_[cols], atol=0.25)
    scale = np.abs(_dense(full)).max()
    np.testing.assert_allclose(_dense(gm)[rows], _dense(full)[cols], atol=0.12 * scale)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_inference_marginalises_over_missing_coordinates(covariance_type: str) -> None:
    X, _ = _mixture(400, seed=6)
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    gm.set_params(missing="marginalize")
    Xm = _mask(X[:50], 0.4, seed=7)
    Xm[0] = np.nan
    S = _dense(gm)
    log_p = np.full((50, 3), 0.0)
    for i, x in enumerate(Xm):
        o = ~np.isnan(x)
        for k in range(3):
            if o.any():
                log_p[i, k] = multivariate_normal(gm.means_[k][o], S[k][np.ix_(o, o)]).logpdf(x[o])
    log_p += np.log(gm.weights_)
    expected = np.logaddexp.reduce(log_p, axis=1)
    np.testing.assert_allclose(gm.score_samples(Xm), expected, rtol=1e-10, atol=1e-12)
    assert abs(gm.score_samples(Xm)[0]) < 1e-12  # nothing observed: log p = log 1
    proba = gm.predict_proba(Xm)
    np.testing.assert_allclose(proba, np.exp(log_p - expected[:, None]), rtol=1e-9, atol=1e-300)
    assert_close(proba[0], gm.weights_)
    np.testing.assert_array_equal(gm.predict(Xm), proba.argmax(axis=1))
    # A mean of log-densities rounds relative to its terms, not to itself.
    assert_close(gm.score(Xm), expected.mean(), scale=np.abs(expected).max())


def test_impute_gives_the_conditional_expectation() -> None:
    rng = np.random.default_rng(8)
    cov = np.array([[2.0, 0.8, 0.3], [0.8, 1.0, -0.4], [0.3, -0.4, 1.5]])
    X = rng.multivariate_normal([1.0, -2.0, 0.5], cov, size=4000)
    gm = GaussianMixture(1, random_state=0).fit(X)
    Xm = X[:200].copy()
    Xm[:, 1] = np.nan
    Xm[:5] = np.nan
    filled = gm.impute(Xm)
    mu, S = gm.means_[0], gm.covariances_[0]
    o = [0, 2]
    expected = mu[1] + (X[5:200, o] - mu[o]) @ np.linalg.solve(S[np.ix_(o, o)], S[o, 1])
    assert_close(filled[5:, 1], expected, rtol=1e-10)
    np.testing.assert_array_equal(filled[5:, o], X[5:200, o])  # observed entries unchanged
    assert_close(filled[:5], np.repeat(mu[None], 5, axis=0))
    assert not np.isnan(Xm[5:, 0]).any(), "impute must not modify its input"


@pytest.mark.parametrize("covariance_type", TYPES)
def test_impute_draws_from_the_conditional_mixture(covariance_type: str) -> None:
    X, _ = _mixture(600, seed=9)
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    row = X[:1].copy()
    row[0, [1, 3]] = np.nan
    many = np.repeat(row, 4000, axis=0)
    draws = gm.impute(many, sample=True, random_state=0)
    np.testing.assert_array_equal(draws, gm.impute(many, sample=True, random_state=0))
    assert np.isfinite(draws).all() and draws[:, [1, 3]].std(axis=0).min() > 0
    np.testing.assert_array_equal(draws[:, [0, 2, 4]], many[:, [0, 2, 4]])
    mean = gm.impute(row)[0, [1, 3]]
    spread = draws[:, [1, 3]].std(axis=0)
    assert np.all(np.abs(draws[:, [1, 3]].mean(axis=0) - mean) < 4 * spread / np.sqrt(4000))


def test_rows_with_nothing_observed_are_ignored_with_a_warning() -> None:
    X, _ = _mixture(300, seed=10)
    Xm = _mask(X, 0.2, seed=11)
    with_empty = np.vstack([Xm, np.full((7, 5), np.nan)])
    kw = {"n_components": 3, "random_state": 0, "missing": "marginalize"}
    reference = GaussianMixture(**kw).fit(Xm[~np.isnan(Xm).all(axis=1)])
    with pytest.warns(UserWarning, match=r"7 row\(s\) of X have every value missing"):
        gm = GaussianMixture(**kw).fit(with_empty)
    assert_close(gm.means_, reference.means_, rtol=1e-12)
    assert_close(gm.covariances_, reference.covariances_, rtol=1e-12)


def test_sample_weight_with_missing_values_acts_as_repetition() -> None:
    X, _ = _mixture(200, seed=12)
    Xm = _mask(X, 0.25, seed=13)
    counts = np.random.default_rng(14).integers(1, 4, size=200)
    kw = {"n_components": 2, "covariance_type": "full", "missing": "marginalize"}
    init = {
        "weights_init": [0.5, 0.5],
        "means_init": np.array([[0.0] * 5, [4.0, 4, 0, -2, 1]]),
        "precisions_init": np.repeat(np.eye(5)[None], 2, axis=0),
    }
    weighted = GaussianMixture(**kw, **init).fit(Xm, sample_weight=counts)
    repeated = GaussianMixture(**kw, **init).fit(np.repeat(Xm, counts, axis=0))
    assert_close(weighted.means_, repeated.means_, rtol=1e-8)
    assert_close(weighted.covariances_, repeated.covariances_, rtol=1e-7)


def test_dataframes_and_float32_with_missing_values() -> None:
    X, _ = _mixture(300, seed=15)
    Xm = _mask(X, 0.2, seed=16)
    frame = pd.DataFrame(Xm, columns=list("abcde"))
    gm = GaussianMixture(3, random_state=0, missing="marginalize").fit(frame)
    assert list(gm.feature_names_in_) == list("abcde")
    assert np.isfinite(gm.score_samples(frame)).all()
    assert not gm.impute(frame).__array__().__contains__(np.nan)
    gm32 = GaussianMixture(3, random_state=0, missing="marginalize").fit(Xm.astype(np.float32))
    np.testing.assert_allclose(gm32.means_, gm.means_, atol=1e-3)


def test_clear_errors() -> None:
    X, _ = _mixture(50, seed=17)
    Xm = _mask(X, 0.2, seed=18)
    with pytest.raises(ValueError, match="NaN or infinite"):
        GaussianMixture(2).fit(Xm)
    with pytest.raises(ValueError, match=r"'missing' .* a str among .*'marginalize'"):
        GaussianMixture(2, missing="drop").fit(X)  # (set order varies)
    bad = Xm.copy()
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="infinite value"):
        GaussianMixture(2, missing="marginalize").fit(bad)
    bad = Xm.copy()
    bad[:, 2] = np.nan
    with pytest.raises(ValueError, match=r"Column\(s\) \[2\] of X have no observed value"):
        GaussianMixture(2, missing="marginalize").fit(bad)
    fitted = GaussianMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="NaN or infinite"):
        fitted.predict(Xm)  # missing='error' at inference too
    with pytest.raises(ValueError, match="infinite value"):
        fitted.impute(np.where(np.isnan(Xm), np.inf, Xm))


def test_allow_nan_tag_follows_the_parameter() -> None:
    assert not GaussianMixture().__sklearn_tags__().input_tags.allow_nan
    assert GaussianMixture(missing="marginalize").__sklearn_tags__().input_tags.allow_nan


def test_missing_values_in_high_dimension_with_every_row_incomplete() -> None:
    """Every row incomplete, nearly one pattern per row: still finite and monotone."""
    rng = np.random.default_rng(19)
    X = rng.normal(size=(120, 12)) + np.repeat([[0.0], [5.0]], 60, axis=0)
    Xm = _mask(X, 0.3, seed=20)
    for covariance_type in TYPES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            gm = GaussianMixture(
                2, covariance_type=covariance_type, random_state=0, missing="marginalize"
            ).fit(Xm)
        assert np.all(np.diff(gm.lower_bounds_) >= -1e-9)
        assert np.isfinite(gm.score_samples(Xm)).all()
        assert (gm.predict(Xm) == np.repeat([0, 1], 60)).mean() in (0.0, 1.0)


def test_scikit_learn_estimator_checks_pass_with_marginalize() -> None:
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(
            GaussianMixture(missing="marginalize", covariance_type="diag"), on_fail=None
        )
    failed = [(r["check_name"], str(r["exception"])) for r in results if r["status"] == "failed"]
    assert not failed


def test_a_marginalizing_model_round_trips_through_a_model_file(tmp_path) -> None:
    from gaussmix import load

    X, _ = _mixture(200, seed=21)
    Xm = _mask(X, 0.2, seed=22)
    gm = GaussianMixture(3, random_state=0, missing="marginalize").fit(Xm)
    gm.save(tmp_path / "m.gmm")
    again = load(tmp_path / "m.gmm")
    assert again.missing == "marginalize" and again.n_reseeds_ == gm.n_reseeds_
    np.testing.assert_array_equal(again.score_samples(Xm), gm.score_samples(Xm))
    np.testing.assert_array_equal(again.impute(Xm), gm.impute(Xm))
