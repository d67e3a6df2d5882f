"""Sufficient statistics: their meaning, their exact merge, and chunk invariance."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp

from _support import COVARIANCE_TYPES, assert_close, blobs, random_params
from gaussmix._core.covariance import DensityForm, get_covariance
from gaussmix._core.estep import (
    chunk_stats,
    log_responsibilities,
    stats_from_resp,
    weighted_log_prob,
)
from gaussmix._core.init.draws import UniformResponsibilities
from gaussmix._core.stats import Stats, merge, merge_all
from gaussmix.backends.numpy import NumpyRows


def _form(covariance_type: str) -> DensityForm:
    return get_covariance(covariance_type).form


def _data(n: int = 120, d: int = 3, K: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rows far from the origin (so uncentred sums would cancel) and random w_i r_ik."""
    rng = np.random.RandomState(seed)
    X = 1e3 + rng.normal(scale=2.0, size=(n, d))
    rw = rng.dirichlet(np.ones(K), size=n) * rng.uniform(0.0, 3.0, size=(n, 1))
    return X, rw


def _naive(X: np.ndarray, rw: np.ndarray, covariance_type: str) -> tuple[np.ndarray, ...]:
    """The statistics' definitions, computed directly."""
    mass = rw.sum(axis=0)
    means = rw.T @ X / mass[:, None]
    diffs = X[None] - means[:, None]  # (K, n, d)
    full = np.einsum("ki,kij,kil->kjl", rw.T, diffs, diffs)
    scatter = {
        "full": full,
        "tied": full.sum(axis=0),
        "diag": np.diagonal(full, axis1=1, axis2=2),
        "spherical": np.trace(full, axis1=1, axis2=2),
    }[covariance_type]
    return mass, means, scatter


def assert_stats_close(a: Stats, b: Stats, rtol: float = 1e-10) -> None:
    for field in ("total_weight", "log_likelihood", "mass", "means", "scatter"):
        assert_close(getattr(a, field), getattr(b, field), rtol=rtol, err_msg=field)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_stats_match_their_definition(covariance_type: str) -> None:
    X, rw = _data()
    stats = stats_from_resp(X, rw, get_covariance(covariance_type), log_likelihood=-5.0)
    mass, means, scatter = _naive(X, rw, covariance_type)
    assert_close(stats.mass, mass, rtol=1e-12)
    assert_close(stats.means, means, rtol=1e-12)
    assert_close(stats.scatter, scatter, rtol=1e-9)
    assert stats.total_weight == pytest.approx(rw.sum(), rel=1e-12)
    assert stats.log_likelihood == -5.0


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_scatter_about_any_centres_is_moved_exactly(covariance_type: str) -> None:
    X, rw = _data()
    cov = get_covariance(covariance_type)
    own = stats_from_resp(X, rw, cov)
    # Centres near the new means, as the previous iteration's means are.
    centres = own.means + np.random.RandomState(1).normal(size=(3, 3))
    assert_stats_close(stats_from_resp(X, rw, cov, centres), own)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_merging_two_blocks_equals_the_whole(covariance_type: str) -> None:
    X, rw = _data()
    cov = get_covariance(covariance_type)
    whole = stats_from_resp(X, rw, cov, log_likelihood=-7.0)
    a = stats_from_resp(X[:37], rw[:37], cov, log_likelihood=-3.0)
    b = stats_from_resp(X[37:], rw[37:], cov, log_likelihood=-4.0)
    assert_stats_close(merge(a, b, _form(covariance_type)), whole)
    assert_stats_close(merge(b, a, _form(covariance_type)), whole)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_merging_many_blocks_in_any_grouping_equals_the_whole(covariance_type: str) -> None:
    X, rw = _data(n=200)
    cov = get_covariance(covariance_type)
    whole = stats_from_resp(X, rw, cov)
    cuts = [0, 1, 2, 9, 50, 51, 120, 199, 200]
    parts = [stats_from_resp(X[i:j], rw[i:j], cov) for i, j in pairwise(cuts)]
    assert_stats_close(merge_all(parts, _form(covariance_type)), whole)
    running = parts[0]
    for part in parts[1:]:  # a left fold, as a stream would merge
        running = merge(running, part, _form(covariance_type))
    assert_stats_close(running, whole)
    assert_stats_close(merge_all(parts[::-1], _form(covariance_type)), whole)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_merge_with_empty_components_and_empty_blocks(covariance_type: str) -> None:
    X, rw = _data(K=4)
    rw[:60, 1] = 0.0  # component 1 has no mass in the first block
    rw[:, 3] = 0.0  # component 3 has no mass anywhere
    cov = get_covariance(covariance_type)
    whole = stats_from_resp(X, rw, cov)
    a = stats_from_resp(X[:60], rw[:60], cov)
    b = stats_from_resp(X[60:], rw[60:], cov)
    empty = stats_from_resp(X[:0], rw[:0], cov)
    for s in (a, b, empty, whole):
        assert all(np.all(np.isfinite(v)) for v in (s.mass, s.means, s.scatter))
    # A component without mass has zero statistics exactly (sums of zero terms).
    assert a.mass[1] == 0.0
    assert_array_equal(a.means[1], 0.0)
    merged = merge_all([empty, a, empty, b, empty], _form(covariance_type))
    assert_stats_close(merged, whole)
    assert merged.mass[3] == 0.0
    assert_array_equal(merged.means[3], 0.0)
    if covariance_type != "tied":
        assert_array_equal(merged.scatter[3], 0.0)


def test_merge_all_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="empty"):
        merge_all([], _form("full"))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_rows_accumulate_in_float64(covariance_type: str) -> None:
    rng = np.random.RandomState(5)
    n, K = 40_000, 3
    X32 = (100.0 + 3.0 * rng.normal(size=(n, 3))).astype(np.float32)
    rw32 = rng.dirichlet(np.ones(K), size=n).astype(np.float32)
    cov = get_covariance(covariance_type)
    got = stats_from_resp(X32, rw32, cov)
    for value in (got.mass, got.means, got.scatter):
        assert value.dtype == np.float64
    # The float64 statistics of the very same float32 values: a float32 accumulator
    # over 40 000 rows would be off by ~1e-5 relative.
    expected = stats_from_resp(X32.astype(np.float64), rw32.astype(np.float64), cov)
    assert_close(got.mass, expected.mass, rtol=1e-13)
    assert_close(got.means, expected.means, rtol=1e-13)
    assert_close(got.scatter, expected.scatter, rtol=1e-8)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_row_work_stays_float32(covariance_type: str) -> None:
    rng = np.random.RandomState(6)
    cov = get_covariance(covariance_type)
    params = random_params(covariance_type, 3, 2, rng)
    X = rng.normal(size=(50, 2))
    wlp32 = weighted_log_prob(X.astype(np.float32), params, cov)
    assert wlp32.dtype == np.float32
    assert_close(wlp32, weighted_log_prob(X, params, cov), rtol=1e-5)
    log_norm, log_resp = log_responsibilities(X.astype(np.float32), params, cov)
    assert log_norm.dtype == log_resp.dtype == np.float32
    stats = chunk_stats(X.astype(np.float32), None, params, cov)
    assert stats.mass.dtype == stats.scatter.dtype == np.float64


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_chunk_stats_are_the_weighted_e_step(covariance_type: str) -> None:
    rng = np.random.RandomState(7)
    cov = get_covariance(covariance_type)
    params = random_params(covariance_type, 3, 2, rng)
    X = rng.normal(scale=3.0, size=(80, 2))
    w = rng.uniform(0.0, 2.0, size=80)
    wlp = np.log(params.weights) + cov.form.log_prob(X, params.means, params.precisions_cholesky)
    log_norm = logsumexp(wlp, axis=1)
    resp = np.exp(wlp - log_norm[:, None])
    stats = chunk_stats(X, w, params, cov)
    assert stats.total_weight == pytest.approx(w.sum(), rel=1e-13)
    assert stats.log_likelihood == pytest.approx(w @ log_norm, rel=1e-12)
    mass, means, scatter = _naive(X, resp * w[:, None], covariance_type)
    assert_close(stats.mass, mass, rtol=1e-12)
    assert_allclose(stats.means, means, rtol=1e-12, atol=1e-12)
    assert_allclose(stats.scatter, scatter, rtol=1e-10, atol=1e-10)
    unweighted = chunk_stats(X, None, params, cov)
    assert_stats_close(unweighted, chunk_stats(X, np.ones(80), params, cov), rtol=1e-13)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_numpy_rows_expectation_is_chunk_invariant(covariance_type: str, weighted: bool) -> None:
    rng = np.random.RandomState(8)
    X = blobs(n=301, d=3, k=3, seed=8) + 500.0
    w = rng.uniform(0.0, 3.0, size=301) if weighted else None
    cov = get_covariance(covariance_type)
    params = random_params(covariance_type, 3, 3, rng)
    params = params._replace(means=params.means + 500.0)
    reference = NumpyRows(X, w, chunk_rows=X.shape[0]).expectation(params, cov)
    for chunk_rows in (1, 7, 64, 300, None):
        got = NumpyRows(X, w, chunk_rows=chunk_rows).expectation(params, cov)
        assert_stats_close(got, reference, rtol=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_numpy_rows_other_passes_are_chunk_invariant(covariance_type: str) -> None:
    rng = np.random.RandomState(9)
    X = blobs(n=101, d=2, k=3, seed=9)
    cov = get_covariance(covariance_type)
    params = random_params(covariance_type, 3, 2, rng)
    whole = NumpyRows(X, chunk_rows=101)
    centres, origin = X[:3], X.mean(axis=0)
    resp = UniformResponsibilities(rng, 101, 3)
    for chunk_rows in (1, 7):
        rows = NumpyRows(X, chunk_rows=chunk_rows)
        for reduce in (lambda n, _: n, lambda _, r: r):
            expected = whole.map_log_resp(params, cov, reduce)
            # Log-responsibilities near 0 are differences of log-densities of size
            # max|expected|: their rounding is relative to that, not to themselves.
            assert_close(rows.map_log_resp(params, cov, reduce), expected, rtol=1e-13)
        assert_stats_close(
            rows.nearest_stats(centres, origin, cov), whole.nearest_stats(centres, origin, cov)
        )
        assert_stats_close(rows.soft_stats(resp, cov), whole.soft_stats(resp, cov))


def test_merge_all_holds_log_many_blocks_of_a_stream() -> None:
    """Blocks are merged as they come: a stream of 1,000 never has more than
    log2(1,000) + 1 partial merges alive, and the merge order is the blocks' order."""
    import weakref

    alive: list[weakref.ref] = []
    most = 0

    class Part:  # a weak-referenceable stand-in for one block's sums
        def __init__(self, order: list[int]) -> None:
            self.order = order

    def blocks():
        nonlocal most
        for i in range(1000):
            part = Part([i])
            alive.append(weakref.ref(part))
            most = max(most, sum(ref() is not None for ref in alive))
            yield part

    merged = merge_all(blocks(), _form("full"), lambda a, b, form: Part(a.order + b.order))
    assert merged.order == list(range(1000))
    assert most <= 11
