"""fix=: parameters held exactly during EM, the others estimated given them, on every path."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats

import gaussmix
from _support import COVARIANCE_TYPES, blobs, dense_covariance, explicit_init
from gaussmix import GaussianMixture
from gaussmix._core.covariance import get_covariance

SUBSETS = (
    ("weights",),
    ("means",),
    ("covariances",),
    ("weights", "means"),
    ("means", "covariances"),
    ("weights", "means", "covariances"),
)


def _held(init: dict[str, Any], covariance_type: str) -> dict[str, np.ndarray]:
    form = get_covariance(covariance_type).form
    return {
        "weights": init["weights_init"] / init["weights_init"].sum(),
        "means": init["means_init"],
        "covariances": form.covariances_from_precisions(init["precisions_init"]),
    }


def _one_constrained_step(X, init, covariance_type, fix, reg_covar):
    """One EM step from the init arrays, by hand: scipy densities, explicit sums."""
    held = _held(init, covariance_type)
    K, d = init["means_init"].shape
    dense = np.stack(
        [dense_covariance(covariance_type, held["covariances"], k, d) for k in range(K)]
    )
    log = np.stack(
        [
            np.log(w) + stats.multivariate_normal(m, c).logpdf(X)
            for w, m, c in zip(held["weights"], held["means"], dense, strict=True)
        ],
        axis=1,
    )
    r = np.exp(log - np.logaddexp.reduce(log, axis=1, keepdims=True))
    mass = r.sum(axis=0)
    weights = held["weights"] if "weights" in fix else mass / mass.sum()
    means = held["means"] if "means" in fix else (r.T @ X) / mass[:, None]
    if "covariances" in fix:
        return weights, means, held["covariances"]
    scatter = np.stack([(r[:, k, None] * (X - means[k])).T @ (X - means[k]) for k in range(K)])
    if covariance_type == "full":
        cov = scatter / mass[:, None, None] + reg_covar * np.eye(d)
    elif covariance_type == "tied":
        cov = scatter.sum(axis=0) / mass.sum() + reg_covar * np.eye(d)
    elif covariance_type == "diag":
        cov = np.diagonal(scatter, axis1=1, axis2=2) / mass[:, None] + reg_covar
    else:
        cov = np.trace(scatter, axis1=1, axis2=2) / (d * mass) + reg_covar
    return weights, means, cov


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # max_iter=1
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("fix", SUBSETS)
def test_one_step_is_the_constrained_maximum(covariance_type: str, fix: tuple[str, ...]) -> None:
    X = blobs(300, 3, 3, seed=1)
    init = explicit_init(X, 3, covariance_type, seed=2)
    model = GaussianMixture(3, covariance_type=covariance_type, max_iter=1, fix=fix, **init)
    model.fit(X)
    weights, means, cov = _one_constrained_step(X, init, covariance_type, fix, model.reg_covar)
    held = _held(init, covariance_type)
    for name, fitted in (
        ("weights", model.weights_),
        ("means", model.means_),
        ("covariances", model.covariances_),
    ):
        if name in fix:
            assert np.array_equal(fitted, held[name]), name  # bit for bit
    assert_allclose(model.weights_, weights, rtol=1e-10, atol=1e-13)
    assert_allclose(model.means_, means, rtol=1e-9, atol=1e-9)
    assert_allclose(model.covariances_, cov, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fixed_fit_is_monotone_and_held_to_convergence(covariance_type: str) -> None:
    X = blobs(400, 2, 3, seed=3)
    init = explicit_init(X, 3, covariance_type, seed=4)
    model = GaussianMixture(
        3, covariance_type=covariance_type, fix=("means",), tol=1e-6, max_iter=2000, **init
    ).fit(X)
    assert np.array_equal(model.means_, init["means_init"])
    bounds = np.asarray(model.lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:]).max())
    free = GaussianMixture(
        3, covariance_type=covariance_type, tol=1e-6, max_iter=2000, **init
    ).fit(X)
    assert free.lower_bound_ >= model.lower_bound_ - 1e-9  # holding means cannot fit better


def _kinds(X: np.ndarray, tmp_path: Any) -> dict[str, Any]:
    kinds: dict[str, Any] = {"numpy": X}
    try:
        import torch

        kinds["torch"] = torch.tensor(X)
    except ImportError:
        pass
    try:
        import dask.array as da

        kinds["dask"] = da.from_array(X, chunks=(100, X.shape[1]))
    except ImportError:
        pass
    np.save(tmp_path / "rows.npy", X)
    kinds["scan"] = gaussmix.scan(tmp_path / "rows.npy")
    return kinds


@pytest.mark.parametrize("fix", [("means",), ("weights", "covariances")])
def test_every_row_source_holds_them(fix: tuple[str, ...], tmp_path: Any) -> None:
    X = blobs(500, 3, 3, seed=5)
    init = explicit_init(X, 3, "full", seed=6)
    held = _held(init, "full")
    reference = GaussianMixture(3, fix=fix, **init).fit(X)
    for kind, rows in _kinds(X, tmp_path).items():
        model = GaussianMixture(3, fix=fix, **init).fit(rows)
        for name in fix:
            assert np.array_equal(getattr(model, name + "_"), held[name]), (kind, name)
        assert_allclose(model.means_, reference.means_, rtol=1e-7, atol=1e-7, err_msg=kind)
        assert_allclose(model.weights_, reference.weights_, rtol=1e-7, atol=1e-9, err_msg=kind)


def test_weights_missing_values_warm_start_and_partial_fit() -> None:
    X = blobs(600, 3, 3, seed=7)
    init = explicit_init(X, 3, "diag", seed=8)
    weights = np.random.RandomState(9).randint(0, 3, size=600).astype(float)
    model = GaussianMixture(3, covariance_type="diag", fix="means", **init)
    model.fit(X, sample_weight=weights)
    assert np.array_equal(model.means_, init["means_init"])
    holes = X.copy()
    holes[np.random.RandomState(10).rand(*X.shape) < 0.2] = np.nan
    holey = GaussianMixture(3, covariance_type="diag", fix="means", missing="marginalize", **init)
    assert np.array_equal(holey.fit(holes).means_, init["means_init"])
    # warm_start: held at the fitted values.
    free = GaussianMixture(3, random_state=0).fit(X)
    before = free.weights_.copy()
    free.set_params(warm_start=True, fix=("weights",)).fit(X[::-1] + 0.3)
    assert np.array_equal(free.weights_, before)
    # partial_fit: held batch after batch.
    online = GaussianMixture(
        3, fix=("means", "covariances"), **explicit_init(X, 3, "full", seed=11)
    )
    for batch in np.array_split(X, 4):
        online.partial_fit(batch)
        assert np.array_equal(online.means_, online.means_init)


def test_model_files_keep_fix(tmp_path: Any) -> None:
    X = blobs(200, 2, 2, seed=12)
    model = GaussianMixture(2, fix=("means",), **explicit_init(X, 2, "full", seed=13)).fit(X)
    model.save(tmp_path / "m.gmm")
    loaded = gaussmix.load(tmp_path / "m.gmm")
    assert tuple(loaded.fix) == ("means",)
    assert np.array_equal(loaded.means_, model.means_)


def test_bad_fix_values() -> None:
    X = blobs(200, 2, 2, seed=14)
    with pytest.raises(ValueError, match="Invalid value for 'fix'"):
        GaussianMixture(2, fix=("mean",)).fit(X)
    with pytest.raises(ValueError, match="Invalid value for 'fix'"):
        GaussianMixture(2, fix=("means", "means")).fit(X)
    with pytest.raises(ValueError, match="means_init is not set"):
        GaussianMixture(2, fix=("means",)).fit(X)
    with pytest.raises(ValueError, match="weights_init, precisions_init are not set"):
        GaussianMixture(2, fix=("weights", "covariances")).fit(X)
