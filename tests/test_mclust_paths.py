"""Every path with every one of mclust's fourteen models: one fit, the same on each input kind.

Each fit starts from the same explicit parameters (an M-step of the model on a
fixed partition), so the fits on NumPy, a ``scan`` file, Dask and torch, with
weights or with repeated rows, compare iterate by iterate.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

import gaussmix
from _support import assert_close
from gaussmix import GaussianMixture
from gaussmix._core.covariance import MCLUST_NAMES, get_covariance
from gaussmix._core.em import m_step
from gaussmix._core.estep import stats_from_resp

K = 2


def _data(seed: int = 0) -> np.ndarray:
    rng = np.random.RandomState(seed)
    a = rng.normal(size=(70, 3)) @ np.array([[1.0, 0.4, 0.0], [0.0, 0.8, 0.3], [0.0, 0.0, 0.5]])
    b = rng.normal(size=(50, 3)) @ np.array([[0.6, 0.0, 0.2], [0.0, 1.5, 0.0], [0.1, 0.0, 0.9]])
    return np.vstack([a, b + np.array([4.0, -2.0, 1.0])])


X = _data()
LABELS = (X[:, 0] > 2.0).astype(int)


def _start(name: str) -> dict:
    """weights_init, means_init and precisions_init: the model's M-step on LABELS."""
    model = get_covariance(name)
    params = m_step(stats_from_resp(X, np.eye(K)[LABELS], model), model, 1e-6)
    return {
        "weights_init": params.weights,
        "means_init": params.means,
        "precisions_init": model.form.precisions(params.precisions_cholesky),
    }


def _model(name: str, **kwargs) -> GaussianMixture:
    return GaussianMixture(
        K, covariance_type=name, tol=1e-8, max_iter=60, **_start(name), **kwargs
    )


@pytest.fixture(scope="module")
def reference() -> dict[str, GaussianMixture]:
    return {name: _model(name).fit(X) for name in MCLUST_NAMES}


def _same_fit(got: GaussianMixture, expected: GaussianMixture, rtol: float = 1e-9) -> None:
    for attribute in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        want = getattr(expected, attribute)
        assert_allclose(getattr(got, attribute), want, rtol=rtol, atol=rtol * np.abs(want).max())
    assert got.n_iter_ == expected.n_iter_


@pytest.mark.parametrize("name", MCLUST_NAMES)
def test_reference_fit_obeys_the_model(name: str, reference) -> None:
    gm = reference[name]
    model = get_covariance(name)
    assert gm.covariances_.shape == model.form.shape(K, 3)
    assert model.constraint_problem(gm.covariances_) == ""
    assert gm.converged_
    bounds = np.array(gm.lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:]))
    assert gm.bic(X) == pytest.approx(
        -2 * gm.score(X) * X.shape[0] + model.n_parameters(K, 3) * np.log(X.shape[0])
    )


@pytest.mark.parametrize("name", MCLUST_NAMES)
def test_integer_weights_are_repeated_rows(name: str) -> None:
    weights = np.random.RandomState(1).randint(0, 3, size=X.shape[0])
    weighted = _model(name).fit(X, sample_weight=weights)
    repeated = _model(name).fit(np.repeat(X, weights, axis=0))
    _same_fit(weighted, repeated, rtol=1e-7)


@pytest.mark.parametrize("name", MCLUST_NAMES)
def test_scan_file(name: str, reference, tmp_path) -> None:
    np.save(tmp_path / "x.npy", X)
    _same_fit(_model(name).fit(gaussmix.scan(tmp_path / "x.npy", chunk_rows=50)), reference[name])


@pytest.mark.parametrize("name", MCLUST_NAMES)
def test_dask(name: str, reference) -> None:
    da = pytest.importorskip("dask.array")
    _same_fit(_model(name).fit(da.from_array(X, chunks=(40, 3))), reference[name])


@pytest.mark.parametrize("name", MCLUST_NAMES)
def test_torch(name: str, reference) -> None:
    torch = pytest.importorskip("torch")
    _same_fit(_model(name).fit(torch.tensor(X)), reference[name])


@pytest.mark.parametrize("name", MCLUST_NAMES)
def test_missing_values_are_marginalised(name: str, reference) -> None:
    # Without NaN, missing='marginalize' is the ordinary fit.
    _same_fit(_model(name, missing="marginalize").fit(X), reference[name])
    holes = X.copy()
    holes[np.random.RandomState(2).rand(*X.shape) < 0.1] = np.nan
    holes[np.isnan(holes).all(axis=1), 0] = 0.0
    gm = _model(name, missing="marginalize").fit(holes)
    assert get_covariance(name).constraint_problem(gm.covariances_) == ""
    assert np.all(np.isfinite(gm.score_samples(holes)))
    assert np.all(np.isfinite(gm.impute(holes)))


@pytest.mark.parametrize("name", MCLUST_NAMES)
def test_partial_fit(name: str) -> None:
    gm = _model(name)
    for batch in np.array_split(X[np.random.RandomState(3).permutation(len(X))], 4):
        gm.partial_fit(batch)
    assert get_covariance(name).constraint_problem(gm.covariances_) == ""
    assert np.all(np.isfinite(gm.score_samples(X)))


@pytest.mark.parametrize("name", MCLUST_NAMES)
def test_model_file_round_trip(name: str, reference, tmp_path) -> None:
    reference[name].save(tmp_path / "m.gmm")
    loaded = gaussmix.load(tmp_path / "m.gmm")
    assert loaded.covariance_type == name
    for attribute in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert np.array_equal(getattr(loaded, attribute), getattr(reference[name], attribute))
    assert_close(loaded.predict_proba(X), reference[name].predict_proba(X), rtol=1e-12)


CONSTRAINED = [
    n
    for n in MCLUST_NAMES
    if get_covariance(n).form.per_component and not get_covariance(n).independent
]


@pytest.mark.parametrize("name", CONSTRAINED)
def test_model_file_that_breaks_the_constraint_is_rejected(name: str, reference, tmp_path):
    from gaussmix import io as gio

    model = get_covariance(name)
    gm = reference[name]
    covariances = np.array(gm.covariances_)
    # Stretch component 1 along the first feature: another volume, shape and orientation.
    if covariances.ndim == 1:
        covariances[1] *= 1.5
    elif covariances.ndim == 2:
        covariances[1, 0] *= 1.5
    else:
        covariances[1, 0, 0] += 0.5 * covariances[1].max()
    meta = {
        "format": gio.FORMAT_NAME,
        "format_version": gio.FORMAT_VERSION,
        "gaussmix_version": gaussmix.__version__,
        "covariance_type": name,
        "n_components": K,
        "n_features": 3,
        "feature_names": None,
        "params": {
            k: v
            for k, v in gm.get_params().items()
            if k not in ("weights_init", "means_init", "precisions_init")
        },
        "fit": {
            "converged": True,
            "n_iter": gm.n_iter_,
            "lower_bound": gm.lower_bound_,
            "lower_bounds": list(gm.lower_bounds_),
            "n_reseeds": 0,
        },
    }
    tensors = {
        "weights": np.array(gm.weights_),
        "means": np.array(gm.means_),
        "covariances": covariances,
        "precisions_cholesky": model.form.cholesky_precisions(covariances),
    }
    path = tmp_path / "m.gmm"
    path.write_bytes(gio._serialize(meta, tensors))
    with pytest.raises(gio.ModelFileError, match="model requires"):
        gaussmix.load(path)


@pytest.mark.parametrize("name", MCLUST_NAMES)
def test_plot_mixture(name: str, reference) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gaussmix.plot import plot_mixture

    ax = plot_mixture(reference[name], X)
    assert ax is not None
    plt.close("all")
