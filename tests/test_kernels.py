"""The fast E-step kernels against the NumPy reference kernels (``_core.estep``).

Every covariance type, float64 and float32 rows, row weights, chunk sizes, d = 1
and K = 1, with numba and with the pure-NumPy fallback; plus the far-apart and
badly scaled data that the expanded quadratic form must survive.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pytest

from _support import assert_close
from gaussmix._core import estep
from gaussmix._core.covariance import Params, get_covariance
from gaussmix._core.init.arrays import label_stats
from gaussmix._core.stats import Stats
from gaussmix._core.xp import NUMPY
from gaussmix.backends import _kernels, _lean
from gaussmix.backends.numpy import NumpyRows

TYPES = ("full", "tied", "diag", "spherical")


@pytest.fixture(params=["numba", "numpy"])
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "numba":
        pytest.importorskip("numba")
        monkeypatch.delenv("GAUSSMIX_DISABLE_NUMBA", raising=False)
        monkeypatch.setenv("GAUSSMIX_NUMBA_MIN_WORK", "0")  # compiled even on small passes
    else:
        monkeypatch.setenv("GAUSSMIX_DISABLE_NUMBA", "1")
    return str(request.param)


def random_params(kind: str, K: int, d: int, rng: np.random.Generator, scale: float = 1.0):
    """Random parameters of a K-component mixture in d dimensions (float64)."""
    cov = get_covariance(kind)
    weights = rng.dirichlet(np.ones(K) * 3)
    means = rng.normal(scale=2.0 * scale, size=(K, d))
    if kind == "full":
        a = rng.normal(size=(K, d, d))
        covariances = (a @ a.transpose(0, 2, 1) / d + 0.3 * np.eye(d)) * scale**2
    elif kind == "tied":
        a = rng.normal(size=(d, d))
        covariances = (a @ a.T / d + 0.3 * np.eye(d)) * scale**2
    elif kind == "diag":
        covariances = rng.uniform(0.3, 2.0, size=(K, d)) * scale**2
    else:
        covariances = rng.uniform(0.3, 2.0, size=K) * scale**2
    return Params(weights, means, covariances, cov.form.cholesky_precisions(covariances)), cov


def sample_rows(params: Params, n: int, rng: np.random.Generator) -> np.ndarray:
    """Rows near the mixture's components (roughly unit spread scaled like the params)."""
    K, d = params.means.shape
    labels = rng.choice(K, size=n, p=params.weights)
    spread = np.sqrt(np.mean(np.abs(params.covariances)) + 1e-300)
    return params.means[labels] + rng.normal(size=(n, d)) * spread


def assert_stats_close(got: Stats, want: Stats, rtol: float) -> None:
    scale = max(float(np.max(np.abs(want.means))), 1e-300)
    assert got.total_weight == pytest.approx(want.total_weight, rel=1e-14)
    assert got.log_likelihood == pytest.approx(want.log_likelihood, rel=rtol)
    np.testing.assert_allclose(got.mass, want.mass, rtol=rtol, atol=rtol * want.total_weight)
    np.testing.assert_allclose(got.means, want.means, rtol=rtol, atol=rtol * scale)
    big = max(float(np.max(np.abs(want.scatter))), 1e-300)
    np.testing.assert_allclose(got.scatter, want.scatter, rtol=rtol, atol=rtol * big)


def make_plan(params: Params, cov, dtype) -> _kernels.Plan:
    """The NumPy kernel's plan of ``params`` for rows of ``dtype``."""
    return _kernels.KERNELS[cov.form.name].plan(estep.quadratic(params, cov.form), dtype)


def plan_stats(X, w, plan, cov) -> Stats:
    """Statistics of one chunk by the NumPy kernel under ``plan`` (the shared algorithm)."""
    kernel = _kernels.KERNELS[cov.form.name]
    return estep.stats_from_sums(kernel, plan, estep.chunk_sums(kernel, plan, X, w))


def plan_log_resp(X, plan, cov):
    """log p(x) and log responsibilities of one chunk by the NumPy kernel."""
    kernel = _kernels.KERNELS[cov.form.name]
    plan64 = make_plan  # noqa: F841 (unused: no rows overflow in these tests)
    return estep.chunk_log_resp(kernel, plan, X, plan64=lambda: plan)


def fast_stats(X, w, params, cov) -> Stats:
    return plan_stats(X, w, make_plan(params, cov, X.dtype), cov)


@pytest.mark.parametrize("kind", TYPES)
@pytest.mark.parametrize("K, d", [(1, 1), (5, 1), (4, 2), (3, 3), (6, 7)])
@pytest.mark.parametrize("weighted", [False, True])
def test_chunk_stats_match_the_reference(engine, kind, K, d, weighted):
    rng = np.random.default_rng(K * 100 + d)
    params, cov = random_params(kind, K, d, rng)
    X = sample_rows(params, 300, rng)
    w = rng.uniform(0, 3, size=300) if weighted else None
    if weighted:
        w[::7] = 0.0  # rows of weight 0 count for nothing
    want = estep.chunk_stats(X, w, params, cov)
    assert_stats_close(fast_stats(X, w, params, cov), want, 1e-10)


@pytest.mark.parametrize("kind", TYPES)
def test_log_responsibilities_match_the_reference(engine, kind):
    rng = np.random.default_rng(1)
    params, cov = random_params(kind, 4, 3, rng)
    X = sample_rows(params, 200, rng)
    plan = make_plan(params, cov, X.dtype)
    log_norm, log_resp = plan_log_resp(X, plan, cov)
    want_norm, want_resp = estep.log_responsibilities(X, params, cov)
    assert_close(log_norm, want_norm, rtol=1e-10)
    np.testing.assert_allclose(log_resp, want_resp, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kind", TYPES)
@pytest.mark.parametrize("d", [1, 6])
def test_float32_rows_stay_float32_and_accurate(engine, kind, d):
    rng = np.random.default_rng(2)
    params, cov = random_params(kind, 3, d, rng)
    X32 = (sample_rows(params, 400, rng) + 1000.0).astype(np.float32)  # offset: centring matters
    params = params._replace(means=params.means + 1000.0)
    X64 = X32.astype(np.float64)
    got = fast_stats(X32, None, params, cov)
    want = estep.chunk_stats(X64, None, params, cov)
    assert got.mass.dtype == got.means.dtype == got.scatter.dtype == np.float64
    assert_stats_close(got, want, 2e-5)
    log_norm, log_resp = plan_log_resp(X32, make_plan(params, cov, X32.dtype), cov)
    assert log_norm.dtype == log_resp.dtype == np.float32
    assert_close(log_norm, estep.log_responsibilities(X64, params, cov)[0], rtol=1e-5)


@pytest.mark.parametrize("kind", TYPES)
def test_chunking_and_threads_do_not_change_the_statistics(engine, kind, monkeypatch):
    rng = np.random.default_rng(3)
    params, cov = random_params(kind, 5, 4, rng)
    X = sample_rows(params, 2000, rng)
    w = rng.uniform(0.5, 2, size=2000)
    whole = NumpyRows(X, w, chunk_rows=2000).expectation(params, cov)
    for chunk_rows in (1, 7, 333):
        chunked = NumpyRows(X, w, chunk_rows=chunk_rows).expectation(params, cov)
        assert_stats_close(chunked, whole, 1e-10)
    threaded = NumpyRows(X, w, chunk_rows=100).expectation(params, cov)
    monkeypatch.setenv("GAUSSMIX_NUM_THREADS", "1")
    serial = NumpyRows(X, w, chunk_rows=100).expectation(params, cov)
    for a, b in zip(threaded, serial, strict=True):
        np.testing.assert_array_equal(a, b)  # deterministic merge order


def centres_of(plan) -> dict[int, np.ndarray]:
    """The centre each component's rows are taken about, by component, per feature:
    a group's, or a member's own mean at its direct features ('diagonal')."""
    centres = {
        int(k): np.array(g.centre if g.centre.ndim == 1 else g.centre[i], dtype=float)
        for g in plan.groups
        for i, k in enumerate(g.members)
    }
    if plan.direct is not None:
        direct = plan.direct
        for row, (k, cols) in enumerate(zip(direct.members, direct.columns, strict=True)):
            centres[int(k)][cols] = direct.means[row, cols]
    return centres


@pytest.mark.parametrize("kind", ["diag", "spherical"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_far_diagonal_components_share_one_direct_pass(engine, kind, dtype):
    """Many 'diag'/'spherical' components far from the shared centre (digits' constant
    pixels make every component far) are evaluated about their own means (for
    'diagonal' at the features where they are far: here every one), with the
    reference's statistics."""
    rng = np.random.default_rng(11)
    K, d, n = 6, 4, 600
    params, cov = random_params(kind, K, d, rng)
    params = params._replace(means=1e6 * rng.normal(size=(K, d)))
    X = (params.means[rng.integers(K, size=n)] + rng.normal(size=(n, d))).astype(dtype)
    plan = make_plan(params, cov, X.dtype)
    assert len(plan.groups) == 1
    for k, centre in centres_of(plan).items():
        np.testing.assert_array_equal(centre, params.means[k])
    got = plan_stats(X, None, plan, cov)
    want = estep.chunk_stats(X.astype(np.float64), None, params, cov)
    assert got.mass == pytest.approx(want.mass, rel=1e-9, abs=1e-9 * n)
    np.testing.assert_allclose(got.means, want.means, rtol=1e-12, atol=1e-9)
    spread = np.max(np.abs(want.scatter))
    np.testing.assert_allclose(got.scatter, want.scatter, rtol=1e-6, atol=1e-9 * spread)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_diagonal_takes_only_the_features_that_would_lose_digits_from_the_rows(engine, dtype):
    """Two 'diag' components, each constant to 1e-6 in the same two features at
    different values, are far from any shared centre there: those terms are taken
    from the rows, their other features stay in the expansion, and the statistics
    are the reference's, the tiny variances too (the expanded square would lose 12
    of their 16 digits)."""
    rng = np.random.default_rng(5)
    K, d, n = 3, 6, 900
    means = rng.normal(size=(K, d))
    variances = np.ones((K, d))
    variances[:2, :2] = 1e-12
    cov = get_covariance("diag")
    params = Params(np.ones(K) / K, means, variances, cov.form.cholesky_precisions(variances))
    labels = np.arange(n) % K
    X = (means[labels] + rng.normal(size=(n, d)) * np.sqrt(variances[labels])).astype(dtype)
    plan = make_plan(params, cov, np.dtype(dtype))
    assert plan.direct is not None
    assert plan.direct.members.tolist() == [0, 1]
    assert [c.tolist() for c in plan.direct.columns] == [[0, 1], [0, 1]]
    got = plan_stats(X, None, plan, cov)
    want = estep.chunk_stats(X.astype(np.float64), None, params, cov)
    rtol = 1e-9 if dtype == np.float64 else 1e-5  # float32 densities: float32 responsibilities
    assert_close(got.mass, want.mass, rtol=rtol, scale=float(n))
    assert_close(got.means, want.means, rtol=rtol, scale=float(np.abs(X).max()))
    tiny = want.scatter[:2, :2]
    assert np.all(np.abs(got.scatter[:2, :2] / tiny - 1.0) < 10 * rtol)
    assert_close(got.scatter, want.scatter, rtol=rtol, scale=float(want.scatter.max()))


@pytest.mark.parametrize("kind", TYPES)
def test_clusters_far_apart_keep_their_own_spread(engine, kind):
    """Clusters 1e9 apart with unit spread: no digits lost to the expanded square."""
    rng = np.random.default_rng(4)
    d, n = 3, 400
    params, cov = random_params(kind, 2, d, rng)
    params = params._replace(means=np.array([[0.0] * d, [1e9] * d]))
    X = np.vstack([rng.normal(size=(n, d)), 1e9 + rng.normal(size=(n, d))])
    plan = make_plan(params, cov, X.dtype)
    for k, centre in centres_of(plan).items():  # each component centred on its own mean
        np.testing.assert_array_equal(centre, params.means[k])
    got = plan_stats(X, None, plan, cov)
    for k, rows in enumerate((X[:n], X[n:])):
        assert got.mass[k] == pytest.approx(n, rel=1e-12)
        np.testing.assert_allclose(got.means[k], rows.mean(axis=0), rtol=1e-14, atol=1e-9)
        centred = rows - rows.mean(axis=0)
        scatter = centred.T @ centred
        want = {
            "full": scatter,
            "diag": np.diag(scatter),
            "spherical": np.trace(scatter),
        }.get(kind)
        if want is not None:
            np.testing.assert_allclose(got.scatter[k], want, rtol=1e-9, atol=1e-9 * n)
    if kind == "tied":
        c = [r - r.mean(axis=0) for r in (X[:n], X[n:])]
        want = c[0].T @ c[0] + c[1].T @ c[1]
        np.testing.assert_allclose(got.scatter, want, rtol=1e-9, atol=1e-6)


@pytest.mark.parametrize("kind", TYPES)
@pytest.mark.parametrize("scale", [1e12, 1e-12])
def test_extreme_scales(engine, kind, scale):
    rng = np.random.default_rng(5)
    params, cov = random_params(kind, 3, 4, rng, scale=scale)
    X = sample_rows(params, 300, rng)
    for dtype, rtol in ((np.float64, 1e-10), (np.float32, 1e-4)):
        Xd = X.astype(dtype)
        got = fast_stats(Xd, None, params, cov)
        want = estep.chunk_stats(Xd.astype(np.float64), None, params, cov)
        assert np.all(np.isfinite(got.scatter))
        assert_stats_close(got, want, rtol)


def test_zero_weight_components_and_rows(engine):
    rng = np.random.default_rng(6)
    params, cov = random_params("full", 3, 2, rng)
    params = params._replace(weights=np.array([0.5, 0.5, 0.0]))
    X = sample_rows(params, 100, rng)
    w = np.ones(100)
    w[:10] = 0.0
    got = fast_stats(X, w, params, cov)
    want = estep.chunk_stats(X, w, params, cov)
    assert got.mass[2] == 0.0
    assert_stats_close(got, want, 1e-10)


def test_ill_conditioned_full_component_uses_the_factored_form(engine):
    rng = np.random.default_rng(7)
    params, cov = random_params("full", 3, 4, rng)
    squeezed = params.covariances.copy()
    squeezed[1] = np.diag([1.0, 1.0, 1.0, 1e-7])  # condition number 1e7
    params = params._replace(
        covariances=squeezed, precisions_cholesky=cov.form.cholesky_precisions(squeezed)
    )
    X = sample_rows(params, 300, rng)
    plan = make_plan(params, cov, X.dtype)
    assert any(g.factor is not None for g in plan.groups)
    want = estep.chunk_stats(X, None, params, cov)
    assert_stats_close(plan_stats(X, None, plan, cov), want, 1e-10)


@pytest.mark.parametrize("kind", TYPES)
def test_label_statistics_match_one_hot_responsibilities(kind):
    rng = np.random.default_rng(8)
    X = rng.normal(size=(500, 3)) + 100.0
    w = rng.uniform(0, 2, size=500)
    labels = rng.integers(-1, 4, size=500)  # -1: a row of no component
    labels[labels == 2] = 1  # component 2 stays empty
    cov = get_covariance(kind)
    got = label_stats(X, w, labels, get_covariance(kind).form, 4)
    rw = (labels[:, None] == np.arange(4)) * w[:, None]
    want = estep.stats_from_resp(X, rw, cov, total_weight=float(w.sum()))
    assert_stats_close(got, want, 1e-12)
    assert got.mass[2] == 0.0


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-10), (np.float32, 2e-5)])
@pytest.mark.parametrize("weighted", [False, True])
def test_stacked_factors_for_many_dimensions(monkeypatch, dtype, rtol, weighted):
    monkeypatch.setattr(_kernels, "_STACKED_MIN_D", 3)  # the path used from d = 32 on
    monkeypatch.setattr(_kernels, "_STACKED_COMPONENTS_PER_D", 1.0)  # (for K < d / 3)
    rng = np.random.default_rng(10)
    params, cov = random_params("full", 4, 5, rng)
    X = sample_rows(params, 400, rng).astype(dtype)
    w = rng.uniform(0, 2, size=400) if weighted else None
    plan = make_plan(params, cov, X.dtype)
    assert plan.groups[0].stacked is not None
    want = estep.chunk_stats(X.astype(np.float64), w, params, cov)
    assert_stats_close(plan_stats(X, w, plan, cov), want, rtol)
    chunked = NumpyRows(X, w, chunk_rows=37).expectation(params, cov)
    assert_stats_close(chunked, want, rtol)
    log_norm, _ = plan_log_resp(X, plan, cov)
    want_norm = estep.log_responsibilities(X.astype(np.float64), params, cov)[0]
    assert_close(log_norm, want_norm, rtol=rtol)


@pytest.mark.parametrize("K, stacked", [(4, True), (12, False)])
def test_many_dimensions_stack_few_components_and_expand_many(engine, K, stacked):
    """From 32 dimensions, fewer than d / 3 components sharing a centre are stacked,
    more share the d²/2 features; both give the reference statistics."""
    rng = np.random.default_rng(12)
    params, cov = random_params("full", K, 33, rng)
    X = sample_rows(params, 300, rng)
    plan = make_plan(params, cov, X.dtype)
    near = [g for g in plan.groups if g.direct is None and len(g.members) > 1]
    assert near and all((g.stacked is not None) == stacked for g in near)
    want = estep.chunk_stats(X, None, params, cov)
    assert_stats_close(plan_stats(X, None, plan, cov), want, 1e-9)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-10), (np.float32, 2e-5)])
def test_far_components_in_many_dimensions_share_one_direct_group(
    engine, monkeypatch, dtype, rtol
):
    """Components far from the mixture's mean form one direct group (the rows as they
    are, each member about its own mean), as exact as a group of one each, and
    responsibilities that would be subnormal count as 0."""
    monkeypatch.setattr(_kernels, "_STACKED_MIN_D", 3)
    rng = np.random.default_rng(11)
    params, cov = random_params("full", 3, 5, rng)
    params = params._replace(means=params.means + np.array([[0.0], [300.0], [-300.0]]))
    X = sample_rows(params, 300, rng)
    X[:3] = params.means[0] + 38.0  # responsibilities near 1e-308 for the other components
    X = X.astype(dtype)
    plan = make_plan(params, cov, X.dtype)
    direct = [g for g in plan.groups if g.direct is not None]
    assert len(direct) == 1 and {1, 2} <= set(direct[0].members.tolist())
    X64 = X.astype(np.float64)
    want = estep.chunk_stats(X64, None, params, cov)
    assert_stats_close(plan_stats(X, None, plan, cov), want, rtol)
    log_norm, _ = plan_log_resp(X, plan, cov)
    assert_close(log_norm, estep.log_responsibilities(X64, params, cov)[0], rtol=rtol)
    # against a group of one per far component, the layout this group replaces
    kernel = _kernels.KERNELS["full"]
    lone = _kernels.Kernel.far_groups.__get__(kernel)
    monkeypatch.setattr(kernel, "far_groups", lone)
    alone = make_plan(params, cov, X.dtype)
    assert len(alone.groups) > len(plan.groups)
    got, _ = kernel.log_prob(X, plan)
    each, _ = kernel.log_prob(X, alone)
    assert_close(got, each, rtol=64 * np.finfo(dtype).eps)


@pytest.mark.parametrize("kernel", ["maha_triangular", "_maha_tiles", "_maha_trmm"])
@pytest.mark.parametrize("d, n", [(1, 5), (6, 300), (33, 777)])
def test_triangular_kernel_reads_only_the_upper_triangle(kernel, d, n):
    """|P_kᵀ (z - δ_k)|² from either implementation (this CPU's choice, the compiled
    tiles, BLAS's dtrmm), for dimensions that are no multiple of the tile and rows
    that are none of its block, whatever lies below P's diagonal."""
    _jit = pytest.importorskip("gaussmix.backends._jit")
    if kernel == "_maha_trmm" and _jit._dtrmm is None:
        pytest.skip("SciPy's Cython BLAS is not available")
    maha = getattr(_jit, kernel)
    if kernel == "_maha_tiles":
        maha = functools.partial(maha, B=_jit._MAHA_BLOCK_ROWS)
    rng = np.random.default_rng(4)
    K = 3
    Z = np.vstack([rng.normal(size=(d, n)), np.ones((1, n))])
    offsets = rng.normal(size=(K, d))
    factors = np.triu(rng.normal(size=(K, d, d))) + 3 * np.eye(d)
    Y = np.einsum("kjl,kji->kli", factors, Z[None, :d] - offsets[:, :, None])
    want = (Y * Y).sum(axis=1)
    got = np.empty((K, n))
    maha(Z, offsets, factors + np.tril(rng.normal(size=(d, d)), -1), got)
    assert_close(got, want, rtol=1e-13)


def test_scatters_leave_out_only_terms_below_their_rounding():
    """The compiled 'full' scatters skip rows whose terms r_ik |z_i|² are at most
    ε Σ_i r_ik |z_i|² / n (clusters apart: most rows, for most components), and the
    sums stay the full ones to rounding."""
    _jit = pytest.importorskip("gaussmix.backends._jit")
    if not _jit.HAVE_BLAS:
        pytest.skip("SciPy's Cython BLAS is not available")
    size = np.array([1.0, 0.0, 1e-18, 3.0, 2e-16, 4e-16])
    keep = np.empty(size.size, dtype=np.int64)
    m = _jit._terms_that_count(size, keep)  # bound: ε · 4 / 6 ≈ 1.5e-16
    assert keep[:m].tolist() == [0, 3, 4, 5]
    rng = np.random.default_rng(3)
    d, n, K = 6, 500, 3
    Z = np.vstack([rng.normal(size=(d, n)) * 10.0, np.ones((1, n))])
    r = rng.uniform(0.1, 1.0, size=(K, n))
    r[:, ::2] *= 1e-22  # half the rows: negligible for every component
    T = d * (d + 1) // 2
    got = np.empty((K, T))
    _jit.scatter_syrk(r, Z, got)
    rows, cols = np.triu_indices(d)
    full = np.einsum("ki,ji,li->kjl", r, Z[:d], Z[:d])[:, rows, cols]
    scale = np.einsum("ki,ji,ji->k", r, Z[:d], Z[:d])  # Σ_i r_ik |z_i|²
    for k in range(K):
        assert_close(got[k], full[k], rtol=1e-13, scale=scale[k])
    offsets = rng.normal(size=(K, d))
    about = np.empty((K, T + d + 1))
    _jit.moments_about(r, Z, offsets, about)
    Y = Z[None, :d] - offsets[:, :, None]  # (K, d, n)
    want = np.einsum("ki,kji,kli->kjl", r, Y, Y)[:, rows, cols]
    scale = np.einsum("ki,kji,kji->k", r, Y, Y)
    for k in range(K):
        assert_close(about[k, :T], want[k], rtol=1e-13, scale=scale[k])
    assert_close(about[:, T : T + d], np.einsum("ki,kji->kj", r, Y), rtol=1e-13)
    assert_close(about[:, -1], r.sum(axis=1), rtol=1e-13)


@pytest.mark.parametrize("n", [240, 3000])  # K n d below and above the batched bound
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lean_full_scatters_over_the_rows_that_count(dtype, n):
    """Clusters apart (each row's responsibility near 0 for all but one component):
    the lean 'full' kernel sums each scatter over its own rows (batched on small
    chunks, over every row), and the moments are the full sums to rounding."""
    rng = np.random.default_rng(5)
    K, d = 3, 9
    assert (K * n * d <= _lean._SMALL) == (n == 240)
    labels = np.arange(n) % K
    means = rng.normal(size=(K, d)) * 50.0
    X = (means[labels] + rng.normal(size=(n, d))).astype(dtype)
    rw = np.where(labels == np.arange(K)[:, None], 1.0, 1e-30)  # (K, n)
    quad = estep.Quadratic(
        np.full(K, 1.0 / K), means, np.repeat(np.eye(d)[None], K, axis=0), np.zeros(K)
    )
    kernel = _lean.LEAN_KERNELS["full"]
    plan = kernel.plan(quad, X.dtype)
    _, work = kernel.log_prob(X, plan)
    mass, first, second = kernel.moments(X, plan, rw, work)
    # (K, n, d): x - μ_k in float64, rounded to the rows' dtype as the kernel holds it
    Z = (X.astype(np.float64)[None] - means[:, None]).astype(dtype).astype(np.float64)
    assert_close(mass, rw.sum(axis=1), rtol=1e-14)
    assert_close(first, np.einsum("kn,knd->kd", rw, Z), rtol=1e-12)
    want = np.einsum("kn,knd,kne->kde", rw, Z, Z)
    for k in range(K):
        assert_close(
            second[k], want[k], rtol=1e-12, scale=float(np.einsum("n,nd,nd->", rw[k], Z[k], Z[k]))
        )


def test_vectorised_exp_is_within_two_ulp():
    _jit = pytest.importorskip("gaussmix.backends._jit")
    edges = [0.0, -1e-300, -0.34657359, -0.3465736, -1.0, -707.99, -708.0, -708.5]
    tails = [-744.4, -745.2, -746.0, -1e300, -np.inf]  # subnormal, 0, -inf
    a = np.concatenate([edges, tails, -np.random.default_rng(0).uniform(0, 750, 5000)])
    out = np.empty_like(a)
    _jit._exp_nonpositive(a, out, np.empty(a.size), a.size)
    want = np.exp(a)
    normal = want >= np.finfo(np.float64).tiny
    np.testing.assert_allclose(out[normal], want[normal], rtol=4.5e-16, atol=0)
    np.testing.assert_array_equal(out[~normal], want[~normal])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_compiled_exp_and_flush_match_numpys(engine, dtype):
    """The NumPy backend's responsibilities passes (compiled exp of densities shifted
    by their row's top, flush of subnormals) against NumPy's: 2 ulp and exactly."""
    from gaussmix.backends.numpy import COMPILED_OPS

    rng = np.random.default_rng(3)
    wlp = rng.uniform(-800.0, 0.0, size=(7, 1003)).astype(dtype)
    wlp[:, :6] = np.array([0.0, -1e-300, -707.99, -708.5, -745.2, -np.inf], dtype=dtype)[:, None].T
    top = np.maximum(wlp.max(axis=0).astype(np.float64), -5.0)
    want = np.exp(wlp.astype(np.float64) - top)
    got = COMPILED_OPS.exp_shifted(wlp.copy(), top)
    assert got.dtype == np.float64 and got.shape == want.shape
    normal = want >= np.finfo(np.float64).tiny
    np.testing.assert_allclose(got[normal], want[normal], rtol=4.5e-16, atol=0)
    np.testing.assert_array_equal(got[~normal], want[~normal])
    flushed = want * 1e-10
    NUMPY.flush_(want_flushed := flushed.copy())
    COMPILED_OPS.flush_(flushed)
    np.testing.assert_array_equal(flushed, want_flushed)


@pytest.mark.parametrize("kind", ["diag", "spherical"])
@pytest.mark.parametrize("K, n", [(1, 300), (5, 20000), (200, 1000)])
def test_fused_one_dimensional_pass(engine, kind, K, n):
    """Blocks, the partial last block, products of row sums flushed to logarithms,
    a weight-0 component and densities that underflow all match the reference."""
    rng = np.random.default_rng(K)
    params, cov = random_params(kind, K, 1, rng, scale=3.0)
    if K > 1:
        weights = params.weights.copy()
        weights[-1] = 0.0
        params = params._replace(weights=weights / weights.sum())
    X = sample_rows(params, n, rng)
    X[:5] = params.means[0] + 200.0  # far from all: most densities underflow
    want = estep.chunk_stats(X, None, params, cov)
    assert_stats_close(fast_stats(X, None, params, cov), want, 1e-10)


# -- every form's kernel on every engine, against the reference formulas ------------
class Engine(NamedTuple):
    """One backend's kernel table and how to hand it arrays."""

    name: str
    kernels: dict[str, Any]
    ops: Any
    plan: Callable[[Any, Any, np.dtype], Any]  # (kernel, quadratic, NumPy dtype) -> plan
    array: Callable[[np.ndarray], Any]  # NumPy -> the engine's arrays
    numpy: Callable[[Any], np.ndarray]  # and back


def _numpy_engine(name: str) -> Engine:
    return Engine(
        name,
        _lean.LEAN_KERNELS if name == "lean" else _kernels.KERNELS,
        NUMPY,
        lambda kernel, quad, dtype: kernel.plan(quad, dtype),
        lambda a: a,
        np.asarray,
    )


def _torch_engine(name: str, monkeypatch: pytest.MonkeyPatch) -> Engine:
    torch = pytest.importorskip("torch")
    from gaussmix.backends import _torch_kernels

    monkeypatch.setattr(_torch_kernels, "FULL_KERNEL", name.removeprefix("torch-"))
    dtypes = {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32}
    return Engine(
        name,
        _torch_kernels.KERNELS,
        _torch_kernels.TORCH,
        lambda kernel, quad, dtype: kernel.plan(
            quad, dtypes[np.dtype(dtype)], torch.device("cpu")
        ),
        lambda a: torch.from_numpy(np.ascontiguousarray(a)),
        lambda t: t.double().numpy() if t.dtype != torch.bool else t.numpy(),
    )


@pytest.fixture(params=["numba", "numpy", "lean", "torch-blocks", "torch-batched"])
def table(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """numba's and NumPy's feature kernels, the lean kernels of small chunks, and
    torch's ('full' as blocks and batched) on the CPU."""
    name = str(request.param)
    if name.startswith("torch"):
        return _torch_engine(name, monkeypatch)
    if name == "numba":
        pytest.importorskip("numba")
        monkeypatch.delenv("GAUSSMIX_DISABLE_NUMBA", raising=False)
        monkeypatch.setenv("GAUSSMIX_NUMBA_MIN_WORK", "0")  # compiled even on small passes
    else:
        monkeypatch.setenv("GAUSSMIX_DISABLE_NUMBA", "1")
    return _numpy_engine(name)


def _case(kind: str, dtype: Any, far: bool, seed: int = 20, d: int = 3):
    """Parameters (float64), rows in ``dtype`` near them, and the rows as float64."""
    rng = np.random.default_rng(seed)
    params, cov = random_params(kind, 4, d, rng)
    if far:  # components far apart in their own units, and rows far from the origin
        gap = 1e5 if dtype == np.float64 else 1e3
        shift = np.arange(4)[:, None] * gap + 1e3
        params = params._replace(means=params.means + shift)
    X = sample_rows(params, 500, rng).astype(dtype)
    return params, cov, X, X.astype(np.float64)


def _reference_wlp(form: Any, X64: np.ndarray, params: Params) -> np.ndarray:
    """log π_k + ``form.log_prob``, (K, n), each column about its own mean so that the
    reference itself loses no digits to a data offset (rows 1e7 from the origin)."""
    out = np.empty((params.means.shape[0], X64.shape[0]))
    for k, mu in enumerate(params.means):
        lp = form.log_prob(X64 - mu, params.means - mu, params.precisions_cholesky)
        out[k] = lp[:, k] + np.log(params.weights[k])
    return out


def _offset_error(table: Engine, X64: np.ndarray, params: Params, dtype: Any) -> float:
    """The rounding of whitened coordinates a kernel centred on the mixture's mean c
    alone carries, eps |x - c| |P| (in units of the components' spread).

    The NumPy kernels centre far components on their own means and carry none of
    it; torch's centre every row on c (clusters far apart in their own units, in
    float32, lose digits there: a GPU limit, not the CPU default's).
    """
    if not table.name.startswith("torch"):
        return 0.0
    c = params.weights @ params.means
    P = np.abs(params.precisions_cholesky).max()
    return float(np.finfo(dtype).eps * np.abs(X64 - c).max() * P * X64.shape[1])


def _close(got: np.ndarray, want: np.ndarray, tol: float, scale: float | None = None) -> None:
    """|got - want| <= tol * scale, the scale being the largest |want| unless given."""
    scale = float(np.max(np.abs(want))) if scale is None else scale
    np.testing.assert_allclose(got, want, rtol=0, atol=tol * max(scale, 1e-300))


DTYPES = [(np.float64, 1e-10), (np.float32, 3e-5)]


@pytest.mark.parametrize("kind", TYPES)
@pytest.mark.parametrize("dtype, tol", DTYPES)
@pytest.mark.parametrize("far", [False, True])
def test_every_kernel_log_prob_matches_form_log_prob(table, kind, dtype, tol, far):
    params, cov, X, X64 = _case(kind, dtype, far)
    kernel = table.kernels[cov.form.name]
    plan = table.plan(kernel, estep.quadratic(params, cov.form), np.dtype(dtype))
    wlp, _ = kernel.log_prob(table.array(X), plan)
    got = table.numpy(wlp)
    want = _reference_wlp(cov.form, X64, params)
    assert got.shape == want.shape
    # Each density to the rows' precision relative to its own size (a far
    # component's is huge), with a floor of the size of a log-density near its mean.
    off = _offset_error(table, X64, params, dtype)
    bound = tol * (1.0 + np.abs(want)) + 8 * off * (1.0 + np.sqrt(np.abs(want)))
    if kind == "diag" and table.name in ("numpy", "numba"):
        # A far component's terms below the budget stay expanded about the shared
        # centre and may lose what a near component's do: eps · _NEAR.
        bound += np.finfo(dtype).eps * _kernels._NEAR
    np.testing.assert_array_less(np.abs(got - want), bound)


@pytest.mark.parametrize("kind", TYPES)
@pytest.mark.parametrize("dtype, tol", DTYPES)
@pytest.mark.parametrize("far", [False, True])
def test_every_kernel_moments_match_form_scatter_about(table, kind, dtype, tol, far):
    """Raw moments of random weighted responsibilities, read back by the kernel's
    ``centred``, against ``form.scatter_about`` about the same centres."""
    params, cov, X, X64 = _case(kind, dtype, far, seed=21)
    kernel = table.kernels[cov.form.name]
    plan = table.plan(kernel, estep.quadratic(params, cov.form), np.dtype(dtype))
    rng = np.random.default_rng(22)
    rw = rng.dirichlet(np.ones(4), size=X.shape[0]).T * rng.uniform(0, 3, size=X.shape[0])
    Xt = table.array(X)
    wlp, work = kernel.log_prob(Xt, plan)
    # In the responsibilities' dtype: torch's are the rows' dtype, NumPy's float64.
    rw_t = table.ops.cast_like(table.array(rw), wlp) if table.name.startswith("torch") else rw
    moments = kernel.moments(Xt, plan, rw_t, work)
    mass, first, second, centres = (table.numpy(a) for a in kernel.centred(plan, moments))
    rw32 = table.numpy(rw_t)  # the responsibilities as the kernel saw them
    assert_close(mass, rw32.sum(axis=1), rtol=tol)
    diff = X64[None] - centres[:, None]  # (K, n, d)
    _close(first, np.einsum("kn,knd->kd", rw32, diff), tol, float(np.abs(diff).max() * rw32.sum()))
    want = cov.form.scatter_about(X64, rw32.T, centres)
    _close(second, want, tol)


@pytest.mark.parametrize("kind", TYPES)
@pytest.mark.parametrize("dtype, tol", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("far", [False, True])
def test_every_engine_chunk_statistics_match_the_reference(table, kind, dtype, tol, weighted, far):
    """The shared algorithm over each engine's kernel: the reference statistics."""
    params, cov, X, X64 = _case(kind, dtype, far, seed=23)
    w = np.random.default_rng(24).uniform(0, 3, size=X.shape[0]) if weighted else None
    if weighted:
        w[::9] = 0.0
    kernel = table.kernels[cov.form.name]
    plan = table.plan(kernel, estep.quadratic(params, cov.form), np.dtype(dtype))
    weights = None if w is None else table.array(w)
    sums = estep.chunk_sums(kernel, plan, table.array(X), weights, table.ops)
    got = estep.stats_from_sums(kernel, plan, sums, table.ops)
    want = estep.chunk_stats(X64, w, params, cov)
    assert_stats_close(
        _host_stats(got, table), want, tol + 8 * _offset_error(table, X64, params, dtype)
    )


def _host_stats(stats: Stats, table: Engine) -> Stats:
    """``stats`` with every field a float or a float64 NumPy array."""
    fields = [a if isinstance(a, float) else table.numpy(a) for a in stats]
    return Stats(float(fields[0]), float(fields[1]), *fields[2:])


@pytest.mark.parametrize("kind", ["diag", "spherical"])
@pytest.mark.parametrize("tensor", [False, True])
def test_wide_diagonal_fits_use_no_d_squared_memory(kind, tensor):
    """Memory of a diag or spherical fit is O(chunk × d + K × d): at d = 4,000 a
    single d × d float64 array would be 128 MB; the whole fit traces far less."""
    import tracemalloc
    import warnings

    from gaussmix import GaussianMixture

    n, d = 20, 4000
    X = np.random.default_rng(0).normal(size=(n, d))
    if tensor:
        X = pytest.importorskip("torch").from_numpy(X)  # CPU tensors: NumPy kernels, shared
    gm = GaussianMixture(2, covariance_type=kind, random_state=0, max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence, and n < d
        gm.fit(X)  # compile and warm up outside the trace
        tracemalloc.start()
        try:
            gm.fit(X)
            gm.score_samples(X)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < d * d * 8 / 20, f"traced peak {peak / 1e6:.1f} MB"


def test_many_components_keep_memory_to_the_chunk():
    """A pass over many chunks holds a few chunks' sums, not every chunk's: at K = 256,
    d = 32 'full' one chunk's sums are 1.1 MB, all 79 chunks' 90 MB; the whole
    one-iteration fit traces less than the n x K float64 array (39 MB)."""
    import tracemalloc
    import warnings

    from gaussmix import GaussianMixture

    rng = np.random.default_rng(0)
    n, d, K = 20_000, 32, 256
    X = rng.normal(scale=3.0, size=(K, d))[rng.integers(K, size=n)] + rng.normal(size=(n, d))
    start = {"means_init": X[rng.choice(n, K, replace=False)], "weights_init": np.full(K, 1 / K)}
    gm = GaussianMixture(K, max_iter=1, **start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence
        gm.fit(X[: 4 * K])  # compile and warm up outside the trace
        tracemalloc.start()
        try:
            gm.fit(X)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < n * K * 8, f"traced peak {peak / 1e6:.1f} MB"
