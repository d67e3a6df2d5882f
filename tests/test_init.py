"""One definition of each initialisation: the same start on every source, scikit-learn's draws.

The matrix: 4 methods × 4 sources (NumPy, a ``scan`` file read in chunks, Dask
blocks, a torch tensor) × n below and above the 'kmeans' sample threshold ×
weighted and unweighted rows, comparing the initial parameters (``max_iter=0``)
and the fit with the NumPy array's.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.exceptions import ConvergenceWarning

from _support import assert_close, blobs
from gaussmix import GaussianMixture, scan
from gaussmix._core.covariance import get_covariance
from gaussmix._core.init import INIT_METHODS, arrays, draws, initial_stats, kmeans
from gaussmix._core.init.arrays import cumsum_search
from gaussmix.backends.numpy import NumpyRows

N_SMALL, N_LARGE = 500, 1300
SAMPLE_ROWS = 800  # the 'kmeans' sample threshold during these tests: N_SMALL < it < N_LARGE
FITTED = ("weights_", "means_", "covariances_")
SOURCES = ("numpy", "scan", "dask", "torch")
DEFAULT_SAMPLE_ROWS = kmeans.KMEANS_SAMPLE_ROWS


@pytest.fixture(autouse=True)
def small_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kmeans, "KMEANS_SAMPLE_ROWS", SAMPLE_ROWS)
    monkeypatch.setattr(draws, "_STATE_EVERY", 96)  # random draws restart mid-block
    monkeypatch.setattr(draws, "_CHUNK", 128)  # cumulative sums carried across chunks


def _data(n: int, weighted: bool) -> tuple[np.ndarray, np.ndarray | None]:
    X = blobs(n=n, d=3, k=4, seed=n) + np.array([50.0, -20.0, 0.0])  # off the origin
    if not weighted:
        return X, None
    w = np.random.RandomState(1).uniform(0.0, 3.0, size=n)
    w[::7] = 0.0  # rows that weigh nothing are never seeds
    return X, w


def _source(kind: str, X: np.ndarray, w: np.ndarray | None, tmp_path: Any) -> tuple[Any, Any]:
    """``(X, sample_weight)`` as the source ``kind`` takes them, in several blocks."""
    if kind == "numpy":
        return X, w
    if kind == "scan":
        np.save(tmp_path / "X.npy", X)
        return scan(tmp_path / "X.npy", chunk_rows=333), w
    if kind == "dask":
        da = pytest.importorskip("dask.array")
        weights = None if w is None else da.from_array(w, chunks=250)
        return da.from_array(X, chunks=(250, 3)), weights
    torch = pytest.importorskip("torch")
    return torch.from_numpy(X), None if w is None else torch.from_numpy(w)


def _fit(X: Any, w: Any, **params: Any) -> GaussianMixture:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(**params).fit(X, sample_weight=w)


def _assert_same(got: GaussianMixture, want: GaussianMixture, rtol: float) -> None:
    for name in FITTED:
        a, b = getattr(got, name), getattr(want, name)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max(), err_msg=name)


@pytest.fixture(scope="module")
def synchronous_dask() -> Any:
    dask = pytest.importorskip("dask")
    with dask.config.set(scheduler="synchronous"):
        yield


@pytest.mark.usefixtures("synchronous_dask")
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("n", [N_SMALL, N_LARGE])
@pytest.mark.parametrize("source", SOURCES[1:])
@pytest.mark.parametrize("method", INIT_METHODS)
def test_every_source_starts_and_ends_where_numpy_does(
    method: str, source: str, n: int, weighted: bool, tmp_path: Any
) -> None:
    X, w = _data(n, weighted)
    data, weights = _source(source, X, w, tmp_path)
    params = dict(n_components=4, init_params=method, random_state=7, covariance_type="full")
    start, ref_start = _fit(data, weights, max_iter=0, **params), _fit(X, w, max_iter=0, **params)
    _assert_same(start, ref_start, 1e-9)
    fit, ref_fit = _fit(data, weights, **params), _fit(X, w, **params)
    _assert_same(fit, ref_fit, 1e-7)
    assert fit.n_iter_ == ref_fit.n_iter_


@pytest.mark.parametrize("method", INIT_METHODS)
def test_numpy_start_is_chunk_invariant_and_reproducible(method: str) -> None:
    X, w = _data(N_LARGE, weighted=True)
    cov = get_covariance("diag")
    whole = initial_stats(NumpyRows(X, w), 4, method, np.random.RandomState(3), cov)
    chunked = initial_stats(
        NumpyRows(X, w, chunk_rows=97), 4, method, np.random.RandomState(3), cov
    )
    for name in ("mass", "means", "scatter"):
        a, b = getattr(whole, name), getattr(chunked, name)
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.abs(b).max())


@pytest.mark.parametrize("cpu_kernels", ["torch", "numpy"])  # a GPU's path; the CPU default
def test_torch_start_in_small_chunks_matches_numpy(cpu_kernels: str, monkeypatch) -> None:
    torch = pytest.importorskip("torch")
    from gaussmix.backends import torch as torch_backend
    from gaussmix.backends.torch import TorchRows

    monkeypatch.setattr(torch_backend, "CPU_KERNELS", cpu_kernels)

    X, w = _data(N_LARGE, weighted=True)
    cov = get_covariance("full")
    rows = TorchRows(torch.from_numpy(X), torch.from_numpy(w), chunk_rows=101)
    for method in INIT_METHODS:
        got = initial_stats(rows, 4, method, np.random.RandomState(5), cov)
        want = initial_stats(NumpyRows(X, w), 4, method, np.random.RandomState(5), cov)
        for name in ("mass", "means", "scatter"):
            a, b = getattr(got, name), getattr(want, name)
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10 * np.abs(b).max())


# -- scikit-learn's draws ------------------------------------------------------------------


@pytest.mark.parametrize("weighted", [False, True])
def test_kmeans_plusplus_picks_sklearns_seeds(weighted: bool) -> None:
    X, w = _data(N_LARGE, weighted)
    for K in (1, 2, 7, 20):
        want = kmeans_plusplus(X, K, random_state=np.random.RandomState(K), sample_weight=w)[1]
        got = kmeans.kmeans_plusplus(NumpyRows(X, w), K, np.random.RandomState(K))
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("weighted", [False, True])
def test_kmeans_centres_are_sklearns_kmeans(weighted: bool) -> None:
    X, w = _data(N_SMALL, weighted)
    for K, seed in ((3, 0), (6, 1), (12, 2), (40, 3)):  # n K past the one-hot sums' bound
        rng, sk_rng = np.random.RandomState(seed), np.random.RandomState(seed)
        centres, labels = kmeans.kmeans_centres(X, w, K, rng)
        ref = KMeans(K, n_init=1, random_state=sk_rng).fit(X, sample_weight=w)
        np.testing.assert_array_equal(labels, ref.labels_)
        np.testing.assert_allclose(centres, ref.cluster_centers_, rtol=1e-10, atol=1e-10 * 50)
        assert rng.random_sample() == sk_rng.random_sample()  # the same draws consumed


@pytest.mark.parametrize("weighted", [False, True])
def test_empty_clusters_move_to_far_rows_as_in_sklearn(weighted: bool) -> None:
    # Duplicated rows make k-means++ seeds coincide, so a cluster starts empty.
    rng = np.random.RandomState(0)
    X = np.vstack([np.repeat(rng.normal(size=(3, 2)), 30, axis=0), rng.normal(size=(4, 2)) * 9])
    w = rng.uniform(0.5, 2.0, size=X.shape[0]) if weighted else None
    for seed in range(20):
        centres, labels = kmeans.kmeans_centres(X, w, 6, np.random.RandomState(seed))
        ref = KMeans(6, n_init=1, random_state=seed).fit(X, sample_weight=w)
        np.testing.assert_array_equal(labels, ref.labels_)
        assert_close(centres, ref.cluster_centers_, rtol=1e-12, scale=9.0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("K", [1, 2, 5, 16, 17, 40])
def test_nearest_centres_are_the_argmins_of_the_distances(K: int, dtype: type) -> None:
    # Up to 16 centres the nearest is found by packed keys (float64), beyond by argmin;
    # both give each row's nearest centre by the exact distances, wherever the two
    # nearest are not within rounding of each other. Rows sit on centres (distance 0,
    # which rounding may make slightly negative) and centres repeat (exact ties: any of
    # the equal centres is nearest).
    rng = np.random.default_rng(K)
    C = rng.normal(size=(K, 3)) * 4
    if K > 2:
        C[K - 1] = C[0]
    X = np.vstack([rng.normal(size=(3000, 3)) * 5 + 7, C + 7]).astype(dtype)
    origin = X.mean(axis=0, dtype=np.float64)
    labels = arrays.nearest_labels(X, C + 7, origin)
    exact = ((X.astype(np.float64)[:, None, :] - (C + 7)[None]) ** 2).sum(axis=2)
    part = np.sort(exact, axis=1)
    scale = float(exact.max())
    eps = float(np.finfo(dtype).eps)
    clear = part[:, 1] - part[:, 0] > 1e3 * eps * scale if K > 1 else np.ones(len(X), bool)
    np.testing.assert_array_equal(labels[clear], exact[clear].argmin(axis=1))
    chosen = exact[np.arange(len(X)), labels]
    assert np.all(chosen - part[:, 0] <= 1e3 * eps * scale)
    assert clear.mean() > 0.5  # (rows nearest the repeated centre tie)


@pytest.mark.parametrize("n_clusters", [3, 40])  # one-hot and sparse products
@pytest.mark.parametrize("weighted", [False, True])
def test_cluster_sums_follow_labels_that_change(n_clusters: int, weighted: bool) -> None:
    rng = np.random.default_rng(n_clusters)
    X = rng.normal(size=(700, 4)) * 3
    w = rng.uniform(0.5, 2.0, size=700) if weighted else None
    sums = arrays.ClusterSums(X, w, n_clusters)
    for _ in range(3):  # the same rows by new labels, as k-means asks every iteration
        labels = rng.integers(n_clusters, size=700)
        want = np.zeros((n_clusters, 4))
        np.add.at(want, labels, X * (1.0 if w is None else w[:, None]))
        assert_close(sums(labels), want, rtol=1e-12, scale=float(np.abs(want).max()))


def test_draws_reproduce_numpys_choice() -> None:
    rng = np.random.RandomState(0)
    w = rng.uniform(size=1000)
    w[rng.randint(1000, size=300)] = 0.0
    for weights in (None, w):
        p = None if weights is None else weights / weights.sum()
        u = np.random.RandomState(4).random_sample(50)
        equal = np.ones(1000) / 1000 if p is None else p
        want = np.random.RandomState(4).choice(1000, size=50, p=equal)
        np.testing.assert_array_equal(draws.choose(weights, 1000, u), want)
        got = draws.distinct_rows(weights, 1000, 40, np.random.RandomState(6))
        np.testing.assert_array_equal(got, np.random.RandomState(6).choice(1000, 40, False, p))


def test_uniform_responsibilities_are_one_draw_in_any_pieces() -> None:
    rng, ref = np.random.RandomState(2), np.random.RandomState(2)
    resp = draws.UniformResponsibilities(rng, 1000, 3)
    want = ref.uniform(size=(1000, 3))
    want /= want.sum(axis=1)[:, None]
    assert rng.random_sample() == ref.random_sample()  # the caller's stream moved on as one draw
    for start, stop in ((0, 1000), (5, 17), (400, 1000), (17, 333), (333, 700), (999, 1000)):
        np.testing.assert_array_equal(resp(start, stop), want[start:stop])


def test_cumsum_search_equals_one_cumsum() -> None:
    values = np.random.RandomState(3).exponential(size=5000)
    total = np.cumsum(values)
    targets = np.sort(np.random.RandomState(4).uniform(0, total[-1] * 1.001, size=30))
    index, carry = cumsum_search(values, None, targets)
    np.testing.assert_array_equal(index, np.searchsorted(total, targets))
    assert carry == total[-1]


# -- the sklearn-parity of 'kmeans' on in-memory data ------------------------------------


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_default_start_is_sklearns_on_in_memory_data(
    covariance_type: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    monkeypatch.setattr(kmeans, "KMEANS_SAMPLE_ROWS", DEFAULT_SAMPLE_ROWS)
    X = blobs(n=4000, d=3, k=6, seed=11)
    params = dict(n_components=6, covariance_type=covariance_type, random_state=0)
    ours, theirs = _fit(X, None, **params), SkGaussianMixture(**params).fit(X)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.lower_bound_ == pytest.approx(theirs.lower_bound_, rel=1e-10)
    np.testing.assert_allclose(ours.means_, theirs.means_, rtol=1e-8, atol=1e-8 * 20)


def test_kmeans_beyond_the_sample_threshold_gathers_only_the_sample(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    taken, passes = [], []
    take, nearest = NumpyRows.take, NumpyRows.nearest_stats

    def spy_take(self: NumpyRows, index: np.ndarray) -> Any:
        taken.append(len(index))
        return take(self, index)

    def spy_nearest(self: NumpyRows, *args: Any) -> Any:
        passes.append(self.n_rows)
        return nearest(self, *args)

    monkeypatch.setattr(NumpyRows, "take", spy_take)
    monkeypatch.setattr(NumpyRows, "nearest_stats", spy_nearest)
    X, _ = _data(N_LARGE, weighted=False)
    cov = get_covariance("spherical")
    stats = initial_stats(NumpyRows(X), 4, "kmeans", np.random.RandomState(0), cov)
    assert taken and max(taken) <= SAMPLE_ROWS  # distinct rows of the sample
    assert passes == [N_LARGE] * (kmeans.KMEANS_FULL_STEPS + 1)  # Lloyd steps, then labels
    assert stats.total_weight == N_LARGE and stats.mass.sum() == N_LARGE


@pytest.mark.parametrize("n_per", [300, 1000])  # all rows, and a sample (2,000 > 800)
def test_kmeans_honours_weights(n_per: int) -> None:
    rng = np.random.default_rng(9)
    X = np.vstack([rng.normal(size=(n_per, 2)), rng.normal(size=(n_per, 2)) + 20.0])
    w = np.ones(2 * n_per)
    w[n_per:] = 0.0  # the far cluster weighs nothing
    cov = get_covariance("full")
    a = initial_stats(NumpyRows(X, w), 2, "kmeans", np.random.RandomState(0), cov)
    b = initial_stats(NumpyRows(X, w), 2, "kmeans", np.random.RandomState(0), cov)
    np.testing.assert_array_equal(a.means, b.means)
    assert np.all(np.abs(a.means).max(axis=1) < 5.0)  # both components split the weighted rows
    assert a.mass.sum() == n_per
    unweighted = initial_stats(NumpyRows(X), 2, "kmeans", np.random.RandomState(0), cov)
    assert sorted(np.round(unweighted.means[:, 0] / 20.0)) == [0.0, 1.0]


def test_integer_seeds_give_their_own_stream_to_every_fit() -> None:
    from gaussmix._random import random_state

    with random_state(3) as outer:
        outer.standard_normal(3)  # leaves a normal pending in its state
        with random_state(3) as inner:  # a fit inside a fit: never the same instance
            assert inner is not outer
            want = np.random.RandomState(3)
            np.testing.assert_array_equal(inner.random_sample(5), want.random_sample(5))
    for _ in range(2):  # re-used instances start their seed's stream afresh
        with random_state(3) as again:
            want = np.random.RandomState(3)
            np.testing.assert_array_equal(again.standard_normal(7), want.standard_normal(7))
    given = np.random.RandomState(1)
    with random_state(given) as same:
        assert same is given
    with random_state(None) as global_state:
        assert global_state is np.random.mtrand._rand
    X = blobs(n=300, d=2, k=3, seed=4)
    by_seed = GaussianMixture(3, random_state=5).fit(X)
    by_state = GaussianMixture(3, random_state=np.random.RandomState(5)).fit(X)
    np.testing.assert_array_equal(by_seed.means_, by_state.means_)


@pytest.mark.filterwarnings(
    "ignore:Number of distinct clusters:sklearn.exceptions.ConvergenceWarning"
)
@pytest.mark.parametrize("weighted", [False, True])
def test_kmeans_with_bounds_labels_rows_as_sklearns_lloyd(weighted: bool) -> None:
    # Enough rows, clusters and features that k-means keeps Hamerly's bounds; the
    # second data set has fewer distinct rows than clusters, so that clusters start
    # empty and are moved (the bounds then move with them). There clusters share a
    # centre, so which of them a row joins is a tie that each library's BLAS rounding
    # breaks (it differs between kernels), and which of many rows at equal distance
    # moves is scikit-learn's argpartition's choice: each row's centre is compared.
    rng = np.random.RandomState(0)
    spread = blobs(n=7000, d=20, k=12, seed=3)
    few = np.repeat(rng.normal(size=(10, 20)) * 4, 700, axis=0)
    w = rng.uniform(0.2, 3.0, size=7000) if weighted else None
    for X, exact_centres in ((spread, True), (few, False)):
        Xa = np.hstack([X - X.mean(axis=0), np.ones((X.shape[0], 1))])
        assert kmeans._Nearest(Xa, w, 16).bounded
        for seed in range(4):
            centres, labels = kmeans.kmeans_centres(X, w, 16, np.random.RandomState(seed))
            ref = KMeans(16, n_init=1, random_state=seed).fit(X, sample_weight=w)
            scale = float(np.abs(X).max())
            if exact_centres:
                np.testing.assert_array_equal(labels, ref.labels_)
                assert_close(centres, ref.cluster_centers_, rtol=1e-10, scale=scale)
            else:
                mine, theirs = centres[labels], ref.cluster_centers_[ref.labels_]
                assert_close(mine, theirs, rtol=1e-10, scale=scale)
