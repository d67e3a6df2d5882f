"""Hostile input, tried systematically: every input fits finitely or is a clear ValueError.

A hypothesis campaign over shapes (n from 1, d up to n and beyond, K up to n and
one past it), scales from 1e-150 to 1e150, duplicate rows, constant columns,
integer/boolean/float16/float32 input, Fortran-ordered and non-contiguous arrays,
pandas DataFrames with NaN (with missing='marginalize' and 'error'), every
covariance type and every init. Each input must either fit with finite parameters
and finite ``predict``/``predict_proba``/``score_samples``, or raise a ValueError
whose message is one of the known clear ones (never a NumPy or LinAlg internal).

CI runs a bounded campaign; ``make fuzz`` (HYPOTHESIS_PROFILE=fuzz) a long one.
Each test prints how many inputs it tried and how they ended.
"""

from __future__ import annotations

import os
import re
import warnings
from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

from gaussmix import GaussianMixture

settings.register_profile(
    "gaussmix-fuzz-ci",
    max_examples=120,
    deadline=None,
    derandomize=True,  # CI tries the same inputs every run
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "gaussmix-fuzz-long",
    max_examples=5000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
LONG = os.environ.get("HYPOTHESIS_PROFILE") == "fuzz"
PROFILE = settings.get_profile("gaussmix-fuzz-long" if LONG else "gaussmix-fuzz-ci")

# Every ValueError gaussmix may raise on finite-or-not input, as message patterns.
CLEAR_MESSAGES = [
    r"^Expected n_samples >= n_components but got",
    r"^Input X contains \d+ NaN or infinite values?",
    r"^Input X contains \d+ infinite value",
    r"^Column\(s\) .* have no observed value",
    r"^Found array with 0 (sample|feature)\(s\)",
    r"^Fitting failed: .*(reg_covar|standardize X)",
    r"^Input X's values reach .* Please rescale X",
    r"^A covariance is numerically singular on a subset of the features; increase reg_covar",
]

OUTCOMES: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _report(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    tried = sum(OUTCOMES.values())
    summary = ", ".join(f"{count} {what}" for what, count in OUTCOMES.most_common())
    line = f"\nfuzz ({'long' if LONG else 'CI'} profile): tried {tried} inputs: {summary}"
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():  # shown even when output is captured
        print(line)


def _record(outcome: str) -> None:
    OUTCOMES[outcome] += 1
    event(outcome)


def _check_clear(exc: ValueError) -> str:
    text = str(exc)
    assert not isinstance(exc, np.linalg.LinAlgError), f"LinAlgError escaped: {text}"
    for pattern in CLEAR_MESSAGES:
        if re.search(pattern, text):
            return pattern
    raise AssertionError(f"unclear ValueError ({type(exc).__name__}): {text}")


@st.composite
def hostile_inputs(draw: st.DrawFn) -> tuple[Any, dict[str, Any], str]:
    """(X as passed to fit, estimator parameters, description)."""
    n = draw(st.integers(1, 30))
    d = draw(st.integers(1, max(2, min(n + 3, 10))))
    K = draw(st.integers(1, n + 1))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    kind = draw(st.sampled_from(["normal", "clusters", "integers", "one value"]))
    if kind == "normal":
        X = rng.normal(size=(n, d))
    elif kind == "clusters":
        X = rng.normal(size=(n, d)) * 0.1 + rng.integers(0, 3, size=(n, 1)) * 5.0
    elif kind == "integers":
        X = rng.integers(-2, 3, size=(n, d)).astype(np.float64)  # many duplicates
    else:
        X = np.full((n, d), 3.0)
    if n > 1 and draw(st.booleans()):
        X[: draw(st.integers(2, n))] = X[0]  # duplicated rows
    if draw(st.booleans()):
        X[:, draw(st.integers(0, d - 1))] = draw(st.sampled_from([0.0, 1.0, -7.5]))
    exponent = draw(st.sampled_from([-150, -100, -30, -8, 0, 0, 0, 8, 30, 100, 150]))
    X = X * 10.0**exponent
    if draw(st.booleans()):
        X = X + 10.0 ** draw(st.sampled_from([0, 6, 12]))  # far from the origin

    missing = draw(st.sampled_from(["error", "marginalize"]))
    nan_fraction = draw(st.sampled_from([0.0, 0.0, 0.1, 0.4, 1.0]))
    if nan_fraction:
        X[rng.uniform(size=X.shape) < nan_fraction] = np.nan

    dtype = draw(st.sampled_from(["float64", "float32", "float16", "int64", "bool"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # float16/float32 overflow to inf
        if dtype in ("float32", "float16"):
            X = X.astype(dtype)
        elif dtype == "int64" and not np.isnan(X).any():
            X = np.clip(np.round(X), -(2.0**62), 2.0**62).astype(np.int64)
        elif dtype == "bool" and not np.isnan(X).any():
            X = X > np.median(X)
    layout = draw(st.sampled_from(["C", "F", "strided", "DataFrame", "list"]))
    if layout == "F":
        X = np.asfortranarray(X)
    elif layout == "strided":
        wide = np.zeros((2 * X.shape[0], 2 * X.shape[1]), dtype=X.dtype)
        wide[::2, ::2] = X
        X = wide[::2, ::2]
    elif layout == "DataFrame":
        X = pd.DataFrame(X, columns=[f"c{j}" for j in range(X.shape[1])])
    elif layout == "list":
        X = X.tolist()
    params = {
        "n_components": K,
        "covariance_type": draw(st.sampled_from(["full", "tied", "diag", "spherical"])),
        "init_params": draw(st.sampled_from(["kmeans", "k-means++", "random", "random_from_data"])),
        "reg_covar": draw(st.sampled_from([1e-6, 1e-6, 1e-3, 0.0])),
        "max_iter": draw(st.sampled_from([1, 5, 20])),
        "missing": missing,
        "random_state": seed,
    }
    what = (
        f"n={n} d={d} K={K} {kind} 1e{exponent} nan={nan_fraction} {dtype} {layout} "
        f"{params['covariance_type']} {params['init_params']} reg={params['reg_covar']} "
        f"missing={missing}"
    )
    return X, params, what


def _assert_finite_model(gm: GaussianMixture, X: Any) -> None:
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        value = getattr(gm, name)
        assert np.all(np.isfinite(value)), f"{name} is not finite: {value}"
    # (an initialization that seeds fewer rows than n has weights summing below 1, as in
    # scikit-learn; EM keeps it when no M-step improves on it)
    assert np.all(gm.weights_ >= 0) and 0 < gm.weights_.sum() <= 1 + 1e-9
    assert np.isfinite(gm.lower_bound_)
    log_p = gm.score_samples(X)
    assert np.all(np.isfinite(log_p)), f"score_samples not finite: {log_p}"
    proba = gm.predict_proba(X)
    assert np.all(np.isfinite(proba)) and np.allclose(proba.sum(axis=1), 1.0)
    labels = gm.predict(X)
    assert labels.min() >= 0 and labels.max() < gm.n_components


@PROFILE
@given(hostile_inputs())
def test_every_input_fits_finitely_or_is_a_clear_value_error(
    case: tuple[Any, dict[str, Any], str],
) -> None:
    X, params, what = case
    gm = GaussianMixture(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        try:
            gm.fit(X)
        except ValueError as exc:
            pattern = _check_clear(exc)
            if os.environ.get("GAUSSMIX_FUZZ_TRACE"):
                print("TRACE", what, "->", str(exc)[:100])
            _record(f"clear ValueError {pattern[:40]!r}")
            return
        except Exception as exc:  # any other exception is a bug: say which input
            raise AssertionError(f"{type(exc).__name__} on {what}: {exc}") from exc
        _assert_finite_model(gm, X)
    _record("fitted")


@pytest.fixture(scope="module")
def fitted() -> dict[str, GaussianMixture]:
    """One small fitted model per covariance type, NaN-tolerant."""
    X = np.random.default_rng(0).normal(size=(60, 3)) + np.repeat([[0.0], [6.0]], 30, axis=0)
    return {
        t: GaussianMixture(2, covariance_type=t, random_state=0, missing="marginalize").fit(X)
        for t in ("full", "tied", "diag", "spherical")
    }


@settings(PROFILE, max_examples=max(1, PROFILE.max_examples // 2))
@given(
    exponent=st.sampled_from([-150, -30, 0, 30, 100, 139, 141, 150]),
    n=st.integers(1, 20),
    nan_fraction=st.sampled_from([0.0, 0.3, 1.0]),
    covariance_type=st.sampled_from(["full", "tied", "diag", "spherical"]),
    dtype=st.sampled_from(["float64", "float32", "int64"]),
    seed=st.integers(0, 2**16),
)
def test_inference_on_hostile_rows_is_finite_or_a_clear_value_error(
    fitted: dict[str, GaussianMixture],
    exponent: int,
    n: int,
    nan_fraction: float,
    covariance_type: str,
    dtype: str,
    seed: int,
) -> None:
    gm = fitted[covariance_type]
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)) * 10.0**exponent
    X[rng.uniform(size=X.shape) < nan_fraction] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # float32 overflow to inf
        if dtype == "float32":
            X = X.astype(np.float32)
        elif dtype == "int64" and not np.isnan(X).any():
            X = np.clip(X, -(2.0**62), 2.0**62).astype(np.int64)
    try:
        log_p = gm.score_samples(X)
        proba = gm.predict_proba(X)
        labels = gm.predict(X)
        filled = gm.impute(X)
    except ValueError as exc:
        _record(f"inference: clear ValueError {_check_clear(exc)[:40]!r}")
        return
    assert np.all(np.isfinite(log_p)) and np.all(np.isfinite(proba))
    assert np.allclose(proba.sum(axis=1), 1.0) and set(labels) <= {0, 1}
    assert np.all(np.isfinite(filled))
    _record("inference: finite")
