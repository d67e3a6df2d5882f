"""init_params='hc': mclust's model-based hierarchical clustering (gaussmix._core.hc)."""

from __future__ import annotations

import numpy as np
import pytest

import gaussmix
from _support import assert_close, blobs, row_source
from gaussmix import GaussianMixture
from gaussmix._core import hc
from gaussmix._core.hc import hc_tree, partition, svd_transform
from gaussmix.datasets import load_old_faithful


# -- the criterion, recomputed by brute force ----------------------------------------
def _term(Z: np.ndarray, mass: np.ndarray, criterion: str, alpha: float) -> float:
    """A cluster's term straight from its rows (mclust's vvvtij / hcV / Ward)."""
    n = float(mass.sum())
    mean = mass @ Z / n
    centred = Z - mean
    W = (centred * mass[:, None]).T @ centred
    trace = float(np.trace(W))
    if criterion == "EII":
        return trace
    if criterion == "V" or n <= Z.shape[1]:
        return n * np.log((trace + alpha) / n)
    return n * np.log(np.linalg.det(W / n) + (trace + alpha) / n)


def _brute_force(X: np.ndarray, weights: np.ndarray | None = None) -> tuple[list, list]:
    """Merge the cheapest pair of clusters, every cost computed from scratch."""
    Z = svd_transform(X, weights)
    w = np.ones(X.shape[0]) if weights is None else weights
    n, p = Z.shape
    if X.shape[1] == 1:
        criterion = "V"
        centred = Z[:, 0] - w @ Z[:, 0] / w.sum()
        alpha = min(float(w @ centred**2) / w.sum(), np.finfo(float).eps)
    elif w.sum() <= X.shape[1]:
        criterion, alpha = "EII", 0.0
    else:
        criterion = "VVV"
        centred = Z - w @ Z / w.sum()
        alpha = float(w @ (centred**2).sum(axis=1)) / (w.sum() * p)
    clusters = {k: [k] for k in range(n)}
    merges, costs = [], []
    while len(clusters) > 1:
        labels = sorted(clusters)
        best = None
        for a_i, a in enumerate(labels):
            for b in labels[a_i + 1 :]:
                both = clusters[a] + clusters[b]
                cost = (
                    _term(Z[both], w[both], criterion, alpha)
                    - _term(Z[clusters[a]], w[clusters[a]], criterion, alpha)
                    - _term(Z[clusters[b]], w[clusters[b]], criterion, alpha)
                )
                if best is None or cost < best[0]:
                    best = (cost, a, b)
        assert best is not None
        cost, a, b = best
        clusters[a] += clusters.pop(b)
        merges.append((a, b))
        costs.append(cost)
    return merges, costs


@pytest.mark.parametrize(
    ("n", "d", "seed"),
    [(30, 2, 0), (26, 3, 1), (24, 1, 2), (6, 9, 3), (40, 4, 4)],
    ids=["VVV-2d", "VVV-3d", "V-1d", "EII-n<=d", "VVV-4d"],
)
def test_merge_sequence_matches_brute_force(n, d, seed):
    X = blobs(n, d, k=3, seed=seed)
    tree = hc_tree(X)
    merges, costs = _brute_force(X)
    assert [tuple(m) for m in tree.merges] == merges
    scale = max(1.0, float(np.max(np.abs(costs))))
    np.testing.assert_allclose(tree.costs, costs, rtol=1e-9, atol=1e-9 * scale)


def test_weighted_merge_sequence_matches_brute_force():
    X = blobs(28, 2, k=3, seed=5)
    w = np.random.RandomState(0).uniform(0.5, 3.0, size=X.shape[0])
    tree = hc_tree(X, w)
    merges, costs = _brute_force(X, w)
    assert [tuple(m) for m in tree.merges] == merges
    np.testing.assert_allclose(tree.costs, costs, rtol=1e-9, atol=1e-9)


def test_svd_transform_is_mclusts():
    X = blobs(200, 3, seed=1) * [1.0, 10.0, 0.1] + 5.0
    Z = svd_transform(X)
    standard = (X - X.mean(0)) / X.std(0, ddof=1)
    singular = np.linalg.svd(standard, compute_uv=False)
    # Z = X_std V S^(-1/2): centred, orthogonal columns with Zᵀ Z = S.
    np.testing.assert_allclose(Z.T @ Z, np.diag(singular), atol=1e-9 * singular.max())
    # Pairwise geometry of Z is X_std's, seen through S^(-1/2).
    gram = standard @ np.linalg.pinv(standard.T @ standard) @ standard.T
    np.testing.assert_allclose(Z @ np.diag(singular) @ Z.T, standard @ standard.T, atol=1e-8)
    assert gram.shape == (200, 200)


def test_svd_transform_drops_constant_and_collinear_columns():
    X = blobs(50, 2, seed=2)
    X = np.column_stack([X, np.full(50, 3.0), X[:, 0] * 2.0 - X[:, 1]])
    Z = svd_transform(X)
    assert Z.shape == (50, 2)
    assert np.all(np.isfinite(Z))
    assert hc_tree(X).merges.shape == (49, 2)


# mclust 6.0.0: hclass(hc(faithful, modelName = "VVV", use = "SVD"), 1:9) group sizes,
# and the first merges of its hcPairs (1-based there, 0-based here).
FAITHFUL_SIZES = {
    2: [175, 97],
    3: [40, 97, 135],
    4: [40, 65, 135, 32],
    5: [40, 65, 65, 32, 70],
    6: [40, 65, 29, 32, 70, 36],
    7: [40, 34, 29, 32, 70, 31, 36],
    8: [26, 34, 29, 32, 70, 31, 36, 14],
    9: [26, 34, 29, 32, 59, 31, 11, 36, 14],
}
FAITHFUL_FIRST_MERGES = [(182, 263), (131, 182), (131, 221), (131, 267), (131, 174)]


def test_old_faithful_tree_is_mclusts():
    X, _ = load_old_faithful()
    tree = hc_tree(X)
    assert tree.criterion == "VVV"
    assert [tuple(m) for m in tree.merges[:5]] == FAITHFUL_FIRST_MERGES
    for k, sizes in FAITHFUL_SIZES.items():
        assert np.bincount(partition(tree, k)).tolist() == sizes


def test_partition_numbers_groups_by_first_appearance():
    X = blobs(120, 2, k=4, seed=3)
    tree = hc_tree(X)
    for k in range(1, 10):
        labels = partition(tree, k)
        assert labels.min() == 0 and labels.max() == k - 1
        firsts = [int(np.flatnonzero(labels == g)[0]) for g in range(k)]
        assert firsts == sorted(firsts)
        if k > 1:  # cutting one merge later splits exactly one group in two
            coarser = partition(tree, k - 1)
            pairs = {(a, b) for a, b in zip(coarser, labels, strict=True)}
            assert len(pairs) == k


def test_hc_is_deterministic_and_independent_of_random_state():
    X = blobs(400, 3, k=3, seed=4)
    fits = [
        GaussianMixture(3, init_params="hc", max_iter=0, random_state=seed).fit(X)
        for seed in (0, 1, None)
    ]
    hc._CACHE.clear()
    fits.append(GaussianMixture(3, init_params="hc", max_iter=0, random_state=2).fit(X))
    for gm in fits[1:]:
        np.testing.assert_array_equal(gm.means_, fits[0].means_)
        np.testing.assert_array_equal(gm.covariances_, fits[0].covariances_)
        np.testing.assert_array_equal(gm.weights_, fits[0].weights_)


def test_initial_parameters_are_the_m_step_of_the_partition():
    X = blobs(300, 2, k=3, seed=6)
    gm = GaussianMixture(3, init_params="hc", max_iter=0, reg_covar=0.0).fit(X)
    labels = partition(hc_tree(X), 3)
    for k in range(3):
        rows = X[labels == k]
        assert_close(gm.weights_[k], rows.shape[0] / X.shape[0])
        np.testing.assert_allclose(gm.means_[k], rows.mean(0), atol=1e-12)
        np.testing.assert_allclose(gm.covariances_[k], np.cov(rows.T, bias=True), atol=1e-12)


def test_large_data_builds_the_tree_on_a_sample(monkeypatch):
    monkeypatch.setattr(hc, "HC_SAMPLE_ROWS", 150)
    built = []
    build = hc._build

    def spy(X, w):
        built.append(X.shape[0])
        return build(X, w)

    monkeypatch.setattr(hc, "_build", spy)
    X = blobs(1000, 2, k=3, seed=7)
    a = GaussianMixture(3, init_params="hc", max_iter=0, random_state=0).fit(X)
    b = GaussianMixture(3, init_params="hc", max_iter=0, random_state=0).fit(X)
    c = GaussianMixture(3, init_params="hc", max_iter=0, random_state=1).fit(X)
    assert built == [150, 150]  # the same seed's sample comes from the cache
    np.testing.assert_array_equal(a.means_, b.means_)
    assert not np.array_equal(a.means_, c.means_)
    assert a.weights_.sum() == pytest.approx(1.0)
    # The sample's partition, M-step on the sample only (mclust's subset).
    index = hc.hc_sample_index(1000, np.random.RandomState(0))
    assert index is not None and index.size == 150 and np.all(np.diff(index) > 0)
    labels = partition(hc_tree(X[index]), 3)
    for k in range(3):
        np.testing.assert_allclose(a.means_[k], X[index][labels == k].mean(0), atol=1e-12)
    full = GaussianMixture(3, init_params="hc", tol=1e-8, random_state=0).fit(X)
    assert full.converged_


def test_sample_index_memory_does_not_grow_with_n():
    index = hc.hc_sample_index(10**12, np.random.RandomState(0))
    assert index is not None and index.size == hc.HC_SAMPLE_ROWS
    assert index.max() < 10**12 and np.unique(index).size == index.size


def test_unit_weights_are_no_weights():
    X = blobs(90, 3, k=3, seed=8)
    plain, weighted = hc_tree(X), hc_tree(X, np.ones(90))
    np.testing.assert_array_equal(plain.merges, weighted.merges)
    np.testing.assert_allclose(plain.costs, weighted.costs, rtol=1e-12, atol=1e-12)


def test_zero_weight_rows_take_no_part():
    X = blobs(80, 2, k=3, seed=9)
    w = np.ones(80)
    w[::7] = 0.0
    labels = partition(hc_tree(X, w), 3)
    assert np.all(labels[::7] == -1)
    kept = partition(hc_tree(X[w > 0]), 3)
    np.testing.assert_array_equal(labels[w > 0], kept)
    gm = GaussianMixture(3, init_params="hc", max_iter=0).fit(X, sample_weight=w)
    ref = GaussianMixture(3, init_params="hc", max_iter=0).fit(X[w > 0])
    np.testing.assert_allclose(gm.means_, ref.means_, atol=1e-12)


def test_more_components_than_rows_to_merge():
    X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    assert np.bincount(partition(hc_tree(X), 4)).tolist() == [1, 1, 1, 1]
    assert np.bincount(partition(hc_tree(X), 9)).tolist() == [1, 1, 1, 1]


def test_constant_data_still_partitions():
    X = np.ones((20, 3))
    assert partition(hc_tree(X), 2).max() == 1


def test_select_with_hc_finds_mclusts_old_faithful_answer():
    X, _ = load_old_faithful()
    result = gaussmix.select(
        X, range(1, 5), ["tied", "full"], init_params="hc", tol=1e-6, max_iter=1000
    )
    assert result.best_params_ == {"n_components": 3, "covariance_type": "tied"}
    assert result.best_score_ == pytest.approx(2314.316, abs=0.05)  # mclust: -2314.316


# -- the same start on every row source ------------------------------------------------
@pytest.mark.parametrize("n", [240, 700], ids=["all-rows", "sampled"])
@pytest.mark.parametrize("kind", ["float32", "scan", "dask", "torch"])
def test_every_row_source_gives_the_same_start(monkeypatch, tmp_path, kind, n):
    pytest.importorskip("dask")
    import dask

    monkeypatch.setattr(hc, "HC_SAMPLE_ROWS", 300)
    X = blobs(n, 3, k=3, seed=11)
    if kind == "float32":  # the start of float32 rows is the start of their float64 values
        X = X.astype(np.float32).astype(np.float64)
    w = np.random.RandomState(2).uniform(0.5, 2.0, size=n)
    for weights in (None, w):
        kw = dict(init_params="hc", max_iter=0, random_state=5, covariance_type="full")
        ref = GaussianMixture(3, **kw).fit(X, sample_weight=weights)
        with dask.config.set(scheduler="synchronous"):
            gm = GaussianMixture(3, **kw).fit(row_source(kind, X, tmp_path), sample_weight=weights)
        assert_close(gm.weights_, ref.weights_, rtol=1e-12)
        np.testing.assert_allclose(gm.means_, ref.means_, rtol=0, atol=1e-12 * np.abs(X).max())
        np.testing.assert_allclose(gm.covariances_, ref.covariances_, rtol=1e-10, atol=1e-12)


def test_missing_values_start_from_the_imputed_rows():
    X = blobs(200, 3, k=3, seed=12)
    holes = X.copy()
    holes[::9, 1] = np.nan
    imputed = np.where(np.isnan(holes), np.nanmean(holes, axis=0), holes)
    kw = dict(init_params="hc", max_iter=0)
    gm = GaussianMixture(3, missing="marginalize", **kw).fit(holes)
    ref = GaussianMixture(3, **kw).fit(imputed)
    np.testing.assert_allclose(gm.means_, ref.means_, atol=1e-12)
    full = GaussianMixture(3, missing="marginalize", init_params="hc").fit(holes)
    assert np.isfinite(full.lower_bound_)
