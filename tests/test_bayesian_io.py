"""Model files of BayesianGaussianMixture: exact round trips, and files that lie rejected."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gaussmix
from _support import COVARIANCE_TYPES, blobs
from gaussmix import BayesianGaussianMixture, ModelFileError, load
from gaussmix import io as gio

X = blobs(n=300, d=3, k=3, seed=0)
ATTRIBUTES = (
    "weights_",
    "means_",
    "covariances_",
    "precisions_",
    "precisions_cholesky_",
    "mean_precision_",
    "degrees_of_freedom_",
    "weight_concentration_prior_",
    "mean_precision_prior_",
    "mean_prior_",
    "degrees_of_freedom_prior_",
    "covariance_prior_",
    "lower_bound_",
    "n_iter_",
    "converged_",
    "n_features_in_",
)


def _fit(**params: Any) -> BayesianGaussianMixture:
    return BayesianGaussianMixture(n_components=4, random_state=0, max_iter=20, **params).fit(X)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("prior_type", ["dirichlet_process", "dirichlet_distribution"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_round_trip_is_exact(covariance_type: str, prior_type: str, tmp_path: Path) -> None:
    model = _fit(
        covariance_type=covariance_type,
        weight_concentration_prior_type=prior_type,
        mean_prior=X.mean(axis=0) + 1.0,
    )
    loaded = load(model.save(tmp_path / "m.gmm"))
    assert type(loaded) is BayesianGaussianMixture
    assert loaded.get_params().keys() == model.get_params().keys()
    assert np.array_equal(loaded.mean_prior, model.mean_prior)
    for name in ATTRIBUTES:
        a, b = getattr(model, name), getattr(loaded, name)
        assert np.shape(a) == np.shape(b) and np.array_equal(a, b), name
    assert type(loaded.weight_concentration_) is type(model.weight_concentration_)
    assert np.array_equal(np.asarray(loaded.weight_concentration_), model.weight_concentration_)
    assert loaded.lower_bounds_ == model.lower_bounds_
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert np.array_equal(loaded.score_samples(X), model.score_samples(X))
    # Saving the loaded model gives the same bytes.
    assert loaded.save(tmp_path / "again.gmm").read_bytes() == (tmp_path / "m.gmm").read_bytes()
    # A loaded model continues: warm start and partial_fit.
    loaded.set_params(warm_start=True, max_iter=2).fit(X)
    loaded.partial_fit(X[:50])


def test_a_given_scalar_covariance_prior_round_trips(tmp_path: Path) -> None:
    model = _fit(covariance_type="spherical", covariance_prior=2.5)
    loaded = load(model.save(tmp_path / "m.gmm"))
    assert loaded.covariance_prior == 2.5 and loaded.covariance_prior_ == 2.5


def _parts(model: BayesianGaussianMixture) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    meta, tensors = gio._contents(model)
    return meta, {name: np.array(array) for name, array in tensors.items()}


def _reject(
    model: BayesianGaussianMixture, change: Callable[..., Any], match: str, tmp_path: Path
) -> None:
    meta, tensors = _parts(model)
    change(meta, tensors)
    path = tmp_path / "bad.gmm"
    path.write_bytes(gio._serialize(meta, tensors))
    with pytest.raises(ModelFileError, match=match):
        load(path)


def _scale(name: str, index: Any, factor: float) -> Callable[..., Any]:
    def change(meta: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        tensors[name][index] *= factor

    return change


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda m, t: m.update(format_version=2), "format version 2 of gaussmix.Bayesian"),
        (lambda m, t: m.update(format=gio.FORMAT_NAME), "unknown array"),
        (lambda m, t: m["params"].update(weight_concentration_prior_type="x"), "not one of"),
        (
            lambda m, t: m["params"].update(
                weight_concentration_prior_type="dirichlet_distribution"
            ),
            "weight_concentration' has shape",
        ),
        (lambda m, t: t.pop("mean_precision"), "lacks the array"),
        (lambda m, t: t.pop("prior.covariance"), "lacks the array"),
        (lambda m, t: t.update(degrees_of_freedom=t["degrees_of_freedom"][:2].copy()), "shape"),
        (_scale("mean_precision", 1, 1.5), "same responsibility masses"),
        (_scale("degrees_of_freedom", 0, 1.01), "same responsibility masses"),
        (_scale("weight_concentration", (1, 2), 2.0), "posterior of its responsibility"),
        (_scale("weights", 0, 0.5), "weights are not the posterior mean"),
        (lambda m, t: t["mean_precision"].__setitem__(0, -1.0), "finite and positive"),
        (lambda m, t: t["degrees_of_freedom"].__setitem__(0, 1.0), "not all > 2"),
        (lambda m, t: t["prior.degrees_of_freedom"].fill(1.5), "prior's degrees of freedom"),
        (lambda m, t: t["prior.mean_precision"].fill(0.0), "prior's weight concentration"),
        (lambda m, t: t["prior.covariance"].__setitem__((0, 1), 9.0), "prior's covariance"),
        (lambda m, t: t["prior.mean"].fill(1e200), "prior's mean reaches"),
        (lambda m, t: t["covariances"].__setitem__((0, 0, 1), 5.0), "not symmetric"),
        (lambda m, t: t["means"].__setitem__((0, 0), np.nan), "NaN or infinite"),
        (lambda m, t: t["init.mean_prior"].fill(3.0), "mean is not the one its constructor"),
        (lambda m, t: m["params"].update(mean_precision_prior=7.0), "mean precision is not"),
        (lambda m, t: m["params"].update(degrees_of_freedom_prior=1.0), "invalid"),
    ],
)
def test_files_that_lie_are_rejected(change: Any, match: str, tmp_path: Path) -> None:
    model = _fit(mean_prior=X.mean(axis=0))
    _reject(model, change, match, tmp_path)


def test_a_gaussian_mixture_file_still_loads_as_one(tmp_path: Path) -> None:
    model = gaussmix.GaussianMixture(2, random_state=0).fit(X)
    assert type(load(model.save(tmp_path / "g.gmm"))) is gaussmix.GaussianMixture
