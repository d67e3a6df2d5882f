"""merge_components: the entropy merges against a brute-force search, on every input kind."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.metrics import adjusted_rand_score

import gaussmix
from _support import COVARIANCE_TYPES
from gaussmix import GaussianMixture


def _square_and_blob(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A uniform square (not Gaussian: several components model it) and a far Gaussian blob."""
    rng = np.random.RandomState(seed)
    square = rng.uniform(0, 6, size=(900, 2))
    blob = rng.normal(size=(300, 2)) * 0.5 + [12.0, 3.0]
    return np.vstack([square, blob]), np.repeat([0, 1], [900, 300])


def _entropy(resp: np.ndarray, groups: list[list[int]], weights: np.ndarray) -> float:
    t = np.stack([resp[:, g].sum(axis=1) for g in groups], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -float(weights @ np.where(t > 0, t * np.log(t), 0.0).sum(axis=1))


def _brute_force(resp: np.ndarray, weights: np.ndarray) -> tuple[list, list]:
    """At each step, every pair's union scored by recomputing the entropy from scratch."""
    groups = [[k] for k in range(resp.shape[1])]
    entropies, partitions = [_entropy(resp, groups, weights)], [sorted(map(tuple, groups))]
    while len(groups) > 1:
        a, b = min(
            itertools.combinations(range(len(groups)), 2),
            key=lambda p: _entropy(
                resp,
                [g for i, g in enumerate(groups) if i not in p] + [groups[p[0]] + groups[p[1]]],
                weights,
            ),
        )
        groups = [g for i, g in enumerate(groups) if i not in (a, b)] + [groups[a] + groups[b]]
        entropies.append(_entropy(resp, groups, weights))
        partitions.append(sorted(tuple(sorted(g)) for g in groups))
    return entropies, partitions


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_merges_match_a_brute_force_search(covariance_type: str) -> None:
    X, _ = _square_and_blob()
    model = GaussianMixture(5, covariance_type=covariance_type, random_state=0).fit(X)
    weights = np.random.RandomState(1).randint(1, 4, size=len(X)).astype(float)
    merged = gaussmix.merge_components(model, X, sample_weight=weights)
    entropies, partitions = _brute_force(model.predict_proba(X), weights)
    assert_allclose(merged.entropies_, entropies, rtol=1e-10, atol=1e-8)
    for n_clusters, partition in zip(range(5, 0, -1), partitions, strict=True):
        found = sorted(tuple(c.tolist()) for c in merged.clusters(n_clusters))
        assert found == partition
    assert np.all(np.diff(merged.entropies_) <= 1e-9)


def test_the_elbow_finds_the_non_gaussian_cluster() -> None:
    X, truth = _square_and_blob()
    model = GaussianMixture(6, random_state=0).fit(X)
    merged = gaussmix.merge_components(model, X)
    assert merged.n_clusters_ == 2
    assert adjusted_rand_score(truth, merged.predict(X)) > 0.99
    proba = merged.predict_proba(X)
    assert proba.shape == (1200, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert_allclose(merged.predict_proba(X, n_clusters=6), model.predict_proba(X), atol=1e-15)
    assert merged.labels(6).tolist() == list(range(6))
    assert "2 clusters" in repr(merged)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_each_cluster_is_a_mixture_of_its_components(covariance_type: str) -> None:
    X, _ = _square_and_blob(2)
    model = GaussianMixture(4, covariance_type=covariance_type, random_state=0).fit(X)
    merged = gaussmix.merge_components(model, X, n_clusters=2)
    resp_log = np.log(model.predict_proba(X)) + model.score_samples(X)[:, None]  # ln w_k N_k
    for c, members in enumerate(merged.clusters()):
        part = merged.mixture(c)
        assert isinstance(part, GaussianMixture) and part.n_components == members.size
        expected = np.logaddexp.reduce(resp_log[:, members], axis=1) - np.log(
            model.weights_[members].sum()
        )
        assert_allclose(part.score_samples(X), expected, rtol=1e-9, atol=1e-9)
    with pytest.raises(IndexError):
        merged.mixture(2)


def _input_kinds(X: np.ndarray, tmp_path: Any) -> dict[str, Any]:
    kinds: dict[str, Any] = {"numpy": X, "list": X.tolist()}
    try:
        import torch

        kinds["torch"] = torch.tensor(X)
    except ImportError:
        pass
    try:
        import dask.array as da

        kinds["dask"] = da.from_array(X, chunks=(500, 2))
    except ImportError:
        pass
    path = tmp_path / "rows.npy"
    np.save(path, X)
    kinds["scan"] = gaussmix.scan(path)
    return kinds


def test_every_input_kind_gives_the_same_merges(tmp_path: Any) -> None:
    X, _ = _square_and_blob(3)
    model = GaussianMixture(4, random_state=0).fit(X)
    reference = gaussmix.merge_components(model, X)
    for kind, rows in _input_kinds(X, tmp_path).items():
        merged = gaussmix.merge_components(model, rows)
        scale = reference.entropies_[0]  # (the last entropies are near 0: an absolute scale)
        assert_allclose(merged.entropies_, reference.entropies_, atol=1e-9 * scale, err_msg=kind)
        assert np.array_equal(merged.membership_, reference.membership_), kind
        assert np.array_equal(merged.predict(rows), reference.predict(X)), kind


def test_bad_arguments() -> None:
    X, _ = _square_and_blob()
    model = GaussianMixture(3, random_state=0).fit(X)
    with pytest.raises(ValueError, match="merging can only reduce"):
        gaussmix.merge_components(model, X, n_clusters=4)
    with pytest.raises(ValueError, match="n_clusters"):
        gaussmix.merge_components(model, X, n_clusters=0)
    with pytest.raises(ValueError, match="sample_weight"):
        gaussmix.merge_components(model, X, sample_weight=np.ones(3))
    merged = gaussmix.merge_components(model, X)
    with pytest.raises(ValueError, match="at most 3"):
        merged.clusters(4)
