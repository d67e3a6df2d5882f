"""``gaussmix.gmm_em`` against the original problem's reference solution."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.special import logsumexp
from scipy.stats import norm

import reference_gmm_em
from _support import assert_close
from gaussmix import gmm_em

KEYS = {"means", "variances", "weights", "log_likelihood", "iterations"}


@contextmanager
def _reference_numpy_state() -> Iterator[None]:
    """Run the reference without leaking its global seeding or its warnings."""
    state = np.random.get_state()  # noqa: NPY002 (the global state is the point)
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            yield
    finally:
        np.random.set_state(state)  # noqa: NPY002 (the global state is the point)


def reference(data: np.ndarray, k: int, **kwargs: Any) -> dict[str, Any]:
    with _reference_numpy_state():
        return reference_gmm_em.gmm_em(np.asarray(data, dtype=float), k, **kwargs)


def _case(i: int) -> tuple[np.ndarray, int, dict[str, Any]]:
    """The i-th generated data set: varied k, sizes, scales, offsets, seeds, tol, max_iter."""
    rng = np.random.RandomState(1000 + i)
    true_k = rng.randint(1, 5)
    scale = 10.0 ** rng.uniform(-2, 3)
    offset = rng.choice([0.0, 1.0, -50.0, 1e3]) * scale
    n = int(rng.choice([8, 30, 100, 400, 1500]))
    centres = offset + scale * rng.uniform(-5, 5, size=true_k)
    sds = scale * rng.uniform(0.3, 1.5, size=true_k)
    labels = rng.randint(true_k, size=n)
    data = centres[labels] + sds[labels] * rng.normal(size=n)
    k = int(min(n, rng.randint(1, 6)))
    kwargs: dict[str, Any] = {"seed": int(rng.randint(0, 10_000))}
    if i % 3 == 0:
        kwargs["tol"] = float(rng.choice([1e-9, 1e-3, 1e-1]))
    if i % 4 == 0:
        kwargs["max_iter"] = int(rng.choice([1, 2, 7, 300]))
    return data, k, kwargs


def assert_matches_reference(got: dict[str, Any], want: dict[str, Any], scale: float) -> None:
    assert set(got) == set(want) == KEYS
    assert got["iterations"] == want["iterations"]
    assert isinstance(got["iterations"], int)
    for key in ("means", "variances", "weights"):
        assert isinstance(got[key], list)
        assert all(isinstance(v, float) for v in got[key])
    assert_allclose(got["means"], want["means"], rtol=1e-8, atol=1e-10 * scale)
    assert_allclose(got["variances"], want["variances"], rtol=1e-8, atol=1e-12 * scale**2)
    assert_allclose(got["weights"], want["weights"], rtol=1e-8, atol=1e-12)
    assert isinstance(got["log_likelihood"], float)
    assert_allclose(got["log_likelihood"], want["log_likelihood"], rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("i", range(50))
def test_matches_the_reference_on_generated_data(i: int) -> None:
    data, k, kwargs = _case(i)
    got = gmm_em(data, k, **kwargs)
    want = reference(data, k, **kwargs)
    assert np.all(np.isfinite(want["means"]))  # an ordinary case, where the reference works
    assert_matches_reference(got, want, scale=float(np.abs(data).max()))


def test_matches_the_reference_on_the_problem_example() -> None:
    data = np.array([1.0, 1.2, 0.8, 1.1, 0.9, 5.0, 5.2, 4.8, 5.1, 4.9])
    got = gmm_em(data, 2)
    assert_matches_reference(got, reference(data, 2), scale=5.0)
    assert sorted(got["means"]) == pytest.approx([1.0, 5.0], abs=1e-6)
    # Lists, tuples and integer data are accepted like arrays.
    assert gmm_em(data.tolist(), 2) == got
    ints = np.array([1, 2, 1, 2, 9, 8, 9, 8])
    assert_matches_reference(gmm_em(ints, 2, seed=3), reference(ints, 2, seed=3), scale=9.0)


def test_does_not_touch_numpys_global_random_state() -> None:
    np.random.seed(123)  # noqa: NPY002 (the global state is the point)
    before = np.random.get_state()  # noqa: NPY002 (the global state is the point)
    gmm_em(np.arange(20.0), 3, seed=7)
    after = np.random.get_state()  # noqa: NPY002 (the global state is the point)
    assert before[0] == after[0]
    assert np.array_equal(before[1], after[1])
    assert before[2:] == after[2:]


def test_same_seed_same_result_different_seed_different_start() -> None:
    data = np.random.RandomState(0).normal(size=200)
    assert gmm_em(data, 3, seed=5) == gmm_em(data, 3, seed=5)
    one_step = {s: gmm_em(data, 3, max_iter=1, seed=s)["means"] for s in (1, 2)}
    assert one_step[1] != one_step[2]


# -- beyond the reference: exact EM in log space ------------------------------


def _exact_step(
    x: np.ndarray, means: np.ndarray, variances: np.ndarray, weights: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """One EM step in log space with the reference's M-step rules; returns (ll, params)."""
    log_p = np.log(weights) + norm.logpdf(x[:, None], means, np.sqrt(variances))
    log_norm = logsumexp(log_p, axis=1)
    resp = np.exp(log_p - log_norm[:, None])
    mass = resp.sum(axis=0)
    keep = mass >= 1e-10
    safe = np.where(keep, mass, 1.0)
    new_means = np.where(keep, resp.T @ x / safe, means)
    scatter = np.einsum("ik,ik->k", resp, (x[:, None] - new_means) ** 2)
    new_variances = np.where(keep, np.maximum(scatter / safe, 1e-6), variances)
    return float(log_norm.sum()), new_means, new_variances, mass / x.shape[0]


def _exact_run(x: np.ndarray, k: int, n_steps: int, seed: int = 42) -> tuple[float, ...]:
    """``n_steps`` exact steps from the reference's initialization (no stopping rule)."""
    means = x[np.random.RandomState(seed).choice(x.shape[0], k, replace=False)]
    variances = np.full(k, np.var(x))
    weights = np.full(k, 1.0 / k)
    ll = -np.inf
    for _ in range(n_steps):
        ll, means, variances, weights = _exact_step(x, means, variances, weights)
    return ll, means, variances, weights


def _with_far_outlier() -> np.ndarray:
    rng = np.random.RandomState(0)
    x = np.r_[rng.normal(0.0, 1.0, 1000), rng.normal(6.0, 1.0, 1000), 400.0]
    return x


@pytest.mark.parametrize("n_steps", [1, 5, 40])
def test_a_far_outlier_keeps_its_exact_responsibilities(n_steps: int) -> None:
    x = _with_far_outlier()
    # tol=0 never stops early, so log_likelihood is that of the last E-step.
    got = gmm_em(x, 2, max_iter=n_steps, tol=0.0)
    ll, means, variances, weights = _exact_run(x, 2, n_steps)
    assert got["iterations"] == n_steps
    assert_close(got["log_likelihood"], ll, rtol=1e-10)
    assert_close(got["means"], means, rtol=1e-9)
    assert_close(got["variances"], variances, rtol=1e-9)
    assert_close(got["weights"], weights, rtol=1e-9)
    assert sum(got["weights"]) == pytest.approx(1.0, abs=1e-12)


def test_the_reference_drops_the_far_outlier() -> None:
    x = _with_far_outlier()
    n = x.shape[0]
    # One component: EM's answer is the sample mean and variance, outlier included.
    ours = gmm_em(x, 1)
    assert_close(ours["means"], [x.mean()], rtol=1e-12)
    assert_close(ours["variances"], [x.var()], rtol=1e-12)
    assert ours["weights"] == [1.0]
    exact = norm.logpdf(x, x.mean(), x.std()).sum()
    assert_close(ours["log_likelihood"], exact, rtol=1e-12)

    # The reference clamps the outlier's density at 1e-300: it drops out of the
    # M-step (the weights sum to 1 - 1/n) and adds log(1e-300) to the log-likelihood
    # instead of its true log-density.
    theirs = reference(x, 1)
    assert_close(theirs["means"], [x[:-1].mean()], rtol=1e-12)
    assert_close(theirs["variances"], [x[:-1].var()], rtol=1e-12)
    assert theirs["weights"] == pytest.approx([1.0 - 1.0 / n], abs=1e-15)
    log_p = np.log(1.0 - 1.0 / n) + norm.logpdf(x[:-1], x[:-1].mean(), x[:-1].std())
    clamped = log_p.sum() + np.log(1e-300)
    assert_close(theirs["log_likelihood"], clamped, rtol=1e-9)

    # With two components the same happens from the first iteration on.
    theirs = reference(x, 2, max_iter=5, tol=0.0)
    assert sum(theirs["weights"]) == pytest.approx(1.0 - 1.0 / n, abs=1e-12)
    assert sum(gmm_em(x, 2, max_iter=5, tol=0.0)["weights"]) == pytest.approx(1.0, abs=1e-12)


def test_constant_data_gives_finite_results() -> None:
    data = np.full(50, 3.25)
    theirs = reference(data, 2)
    assert np.isnan(theirs["means"]).any() or np.isnan(theirs["log_likelihood"])
    for k in (1, 2, 3):
        got = gmm_em(data, k)
        assert set(got) == KEYS
        assert np.allclose(got["means"], 3.25)
        assert np.all(np.asarray(got["variances"]) == 1e-6)
        assert sum(got["weights"]) == pytest.approx(1.0)
        assert np.isfinite(got["log_likelihood"])
        assert got["iterations"] <= 3


def test_log_likelihood_follows_the_reference_rule() -> None:
    data = np.random.RandomState(1).normal(size=300)
    got = gmm_em(data, 2, tol=1e-4)
    assert got["iterations"] < 100
    # On convergence the reported value is that of the iteration before the last.
    previous = gmm_em(data, 2, tol=0.0, max_iter=got["iterations"] - 1)
    assert got["log_likelihood"] == pytest.approx(previous["log_likelihood"], rel=1e-12)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        (([1.0, 2.0], 0), {}, ValueError, "'k' must be >= 1"),
        (([1.0, 2.0], 3), {}, ValueError, "k = 3 components need at least 3 data points; got 2"),
        (([1.0, 2.0], 1.5), {}, TypeError, "'k' must be an integer"),
        (([1.0, 2.0], "2"), {}, TypeError, "'k' must be an integer"),
        (([1.0, 2.0], 1), {"max_iter": 0}, ValueError, "'max_iter' must be >= 1"),
        (([1.0, 2.0], 1), {"tol": -1.0}, ValueError, "'tol' must be >= 0"),
        (([], 1), {}, ValueError, "data is empty"),
        ((np.ones((3, 2)), 1), {}, ValueError, r"one-dimensional \(n,\); got shape \(3, 2\)"),
        ((["a", "b"], 1), {}, TypeError, "sequence of numbers"),
        (
            ([1.0, np.nan, 2.0], 1),
            {},
            ValueError,
            r"Input data contains NaN or infinite values \(the first, nan, at row 1",
        ),
        (([1.0, np.inf], 1), {}, ValueError, "NaN or infinite"),
    ],
)
def test_bad_arguments_are_clear_errors(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        gmm_em(*args, **kwargs)


def test_a_column_vector_is_accepted() -> None:
    data = np.random.RandomState(2).normal(size=40)
    assert gmm_em(data[:, None], 2) == gmm_em(data, 2)
