"""Hostile input, tried systematically: every input fits finitely or is a clear ValueError.

A hypothesis campaign over shapes (n from 1, d up to n and beyond, K up to n and
one past it), scales from 1e-150 to 1e150, duplicate rows, constant columns,
integer/boolean/float16/float32 input, Fortran-ordered and non-contiguous arrays,
pandas DataFrames with NaN (with missing='marginalize' and 'error'), every
covariance type and every init. Each input must either fit with finite parameters
and finite ``predict``/``predict_proba``/``score_samples``, or raise a ValueError
whose message is one of the known clear ones (never a NumPy or LinAlg internal).

The same holds for inference on hostile rows, for model files (truncated,
bit-flipped, overwritten, extended, oversized headers, and wrong versions or values
behind a valid digest: a working model or one ModelFileError; arrays that lie --
scaled, negated, rotated, nudged -- are rejected or predict finitely), for text data
files (ragged rows, quotes, comments, byte-order marks, NULs: read whole at the
header's width, or one ScanError) and for the command line (random bytes, empty
files, huge fields, odd encodings: exit status 2 with one line on stderr). The
named cases live beside it in test_hostile_scan.py and test_hostile_models.py.

CI runs a bounded campaign (about 200 inputs); ``make fuzz`` (HYPOTHESIS_PROFILE=fuzz)
a long one (thousands). The module prints how many inputs it tried and how they
ended; GAUSSMIX_FUZZ_TRACE=1 also prints each rejected input.
"""

from __future__ import annotations

import json
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

from _hostile import run_cli, written
from gaussmix import GaussianMixture

settings.register_profile(
    "gaussmix-fuzz-ci",
    max_examples=100,
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
    r"^Input X contains NaN or infinite values \(the first",
    r"^Input X contains infinite values \(the first",
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
    if not tried:
        return
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
            X = np.median(X) < X
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
        "init_params": draw(
            st.sampled_from(["kmeans", "k-means++", "random", "random_from_data"])
        ),
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


@settings(PROFILE, max_examples=max(1, PROFILE.max_examples // 3))
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


# -- model files -----------------------------------------------------------------------
# A loaded file is either a working model or one ModelFileError (a ValueError) whose
# message names the file; nothing else may escape, and nothing in it is ever executed.


def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)


NASTY_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    _containers,
    max_leaves=8,
)


@pytest.fixture(scope="module")
def model_file() -> tuple[bytes, dict[str, Any], dict[str, np.ndarray]]:
    """A saved model's bytes, with the metadata and arrays it holds."""
    from gaussmix import io as gio

    X = np.random.default_rng(1).normal(size=(80, 2)) + np.repeat([[0.0], [5.0]], 40, axis=0)
    gm = GaussianMixture(2, random_state=0).fit(X)
    data = gio._serialize(*_parts(gm))
    return data, *_parts(gm)


def _parts(gm: GaussianMixture) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    from gaussmix import io as gio

    meta: dict[str, Any] = {
        "format": gio.FORMAT_NAME,
        "format_version": gio.FORMAT_VERSION,
        "gaussmix_version": "0",
        "covariance_type": gm.covariance_type,
        "n_components": gm.n_components,
        "n_features": gm.n_features_in_,
        "feature_names": None,
        "params": {
            k: v
            for k, v in gm.get_params().items()
            if k not in ("weights_init", "means_init", "precisions_init")
        },
        "fit": {
            "converged": bool(gm.converged_),
            "n_iter": gm.n_iter_,
            "lower_bound": gm.lower_bound_,
            "lower_bounds": list(gm.lower_bounds_),
        },
    }
    tensors = {n: np.array(getattr(gm, n + "_")) for n in ("weights", "means", "covariances")}
    tensors["precisions_cholesky"] = np.array(gm.precisions_cholesky_)
    return meta, tensors


def _load_bytes(data: bytes) -> str:
    """Load ``data`` from a file; 'loaded' or 'rejected', asserting the contract."""
    from gaussmix import ModelFileError, load

    with written("model.gmm", data) as path:
        try:
            gm = load(path)
        except ModelFileError as exc:
            text = str(exc)
            assert text and "\n" not in text and "model.gmm" in text, text
            return "rejected"
    X = np.random.default_rng(0).normal(size=(5, gm.n_features_in_))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            gm.predict(X)
        except ValueError as exc:
            _check_clear(exc)
    return "loaded"


@settings(PROFILE, max_examples=max(1, PROFILE.max_examples // 4))
@given(data=st.data())
def test_damaged_model_files_are_one_clear_error(
    model_file: tuple[bytes, dict[str, Any], dict[str, np.ndarray]], data: st.DataObject
) -> None:
    """Truncated, bit-flipped, overwritten, extended or oversized-header files."""
    import struct

    original = bytearray(model_file[0])
    how = data.draw(st.sampled_from(["truncate", "flip", "overwrite", "append", "length"]))
    if how == "truncate":
        damaged = bytes(original[: data.draw(st.integers(0, len(original) - 1))])
    elif how == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            at = data.draw(st.integers(0, len(original) - 1))
            original[at] ^= 1 << data.draw(st.integers(0, 7))
        damaged = bytes(original)
    elif how == "overwrite":
        at = data.draw(st.integers(0, len(original) - 1))
        junk = data.draw(st.binary(min_size=1, max_size=64))
        original[at : at + len(junk)] = junk
        damaged = bytes(original)
    elif how == "append":
        damaged = bytes(original) + data.draw(st.binary(min_size=1, max_size=256))
    else:  # the 8-byte header length, anywhere from 0 to 2**64 - 1
        length = data.draw(st.integers(0, 2**64 - 1) | st.integers(0, len(original) + 8))
        damaged = struct.pack("<Q", length) + bytes(original[8:])
    outcome = _load_bytes(damaged)
    _record(f"model file ({how}): {outcome}")


@settings(PROFILE, max_examples=max(1, PROFILE.max_examples // 4))
@given(data=st.data())
def test_tampered_but_well_formed_model_files_are_one_clear_error(
    model_file: tuple[bytes, dict[str, Any], dict[str, np.ndarray]], data: st.DataObject
) -> None:
    """Wrong versions, formats, keys and values, or arrays, behind a valid digest."""
    from gaussmix import io as gio

    _, meta, tensors = model_file
    meta = json.loads(json.dumps(meta))
    tensors = dict(tensors)
    target = data.draw(
        st.sampled_from(
            [
                *("format_version", "format", "covariance_type", "n_components"),
                *("n_features", "feature_names", "params", "fit", "extra key", "array"),
            ]
        )
    )
    if target == "format_version":
        meta["format_version"] = data.draw(
            st.sampled_from([0, 2, 99, -1, "1", 1.5, None, True, 2**64])
        )
    elif target == "array":
        name = data.draw(st.sampled_from(sorted(tensors)))
        shape = data.draw(st.lists(st.integers(0, 3), max_size=3).map(tuple))
        fill = data.draw(st.sampled_from([0.0, -1.0, 1.0, 1e308, np.nan, np.inf]))
        tensors[name] = np.full(shape, fill)
    elif target == "extra key":
        meta[data.draw(st.text(min_size=1, max_size=10))] = data.draw(NASTY_JSON)
    else:
        meta[target] = data.draw(NASTY_JSON)
    try:
        damaged = gio._serialize(meta, tensors)
    except (TypeError, ValueError):
        return  # not representable as a file at all
    outcome = _load_bytes(damaged)
    _record(f"tampered model file ({target}): {outcome}")


@pytest.fixture(scope="module")
def fitted_files() -> dict[str, tuple[dict[str, Any], dict[str, np.ndarray]]]:
    """What a file of a fitted model holds, per covariance type (metadata, arrays)."""
    from gaussmix import io as gio

    X = np.random.default_rng(5).normal(size=(90, 3)) + np.repeat([[0.0], [5.0], [9.0]], 30, 0)
    return {
        t: gio._contents(GaussianMixture(3, covariance_type=t, random_state=0).fit(X))
        for t in ("full", "tied", "diag", "spherical")
    }


_LIES = st.sampled_from(
    ["scale", "negate", "transpose", "rotate", "permute", "nudge", "entry", "swap arrays"]
)


@settings(PROFILE, max_examples=max(1, PROFILE.max_examples // 2))
@given(data=st.data())
def test_lying_model_files_are_rejected_or_predict_finitely(
    fitted_files: dict[str, tuple[dict[str, Any], dict[str, np.ndarray]]], data: st.DataObject
) -> None:
    """Arrays no fit gives (scaled, negated, rotated, nudged...) behind a valid digest.

    A loaded model is exactly as valid as a fitted one: every score and probability
    is finite, probabilities sum to 1, and sampling works.
    """
    from gaussmix import ModelFileError, load
    from gaussmix import io as gio

    kind = data.draw(st.sampled_from(sorted(fitted_files)))
    meta, tensors = fitted_files[kind]
    tensors = {name: array.copy() for name, array in tensors.items()}
    name = data.draw(st.sampled_from(sorted(tensors)))
    array = tensors[name]
    lie = data.draw(_LIES)
    if lie == "scale":
        array *= 10.0 ** data.draw(st.sampled_from([-320, -160, -150, -8, 8, 140, 150, 300]))
    elif lie == "negate":
        array *= -1
    elif lie == "transpose" and array.ndim >= 2:
        array[...] = np.swapaxes(array, -1, -2)
    elif lie == "rotate" and array.ndim >= 2:
        angle = data.draw(st.sampled_from([np.pi / 4, np.pi / 2, np.pi, 1e-9]))
        rotation = np.eye(array.shape[-1])
        rotation[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
        array[...] = array @ rotation
    elif lie == "permute":
        array[...] = array[::-1]
    elif lie == "nudge":
        array += data.draw(st.sampled_from([1e-12, 1e-9, 5e-9, 1e-6, 1e-3]))
    elif lie == "entry":
        index = tuple(data.draw(st.integers(0, n - 1)) for n in array.shape)
        array[index] = data.draw(st.sampled_from([0.0, -1e-300, 5e-324, 1e-310, 1e300, -3.0]))
    elif lie == "swap arrays":
        other = "covariances" if name != "covariances" else "precisions_cholesky"
        if tensors[other].shape == array.shape:
            tensors[name], tensors[other] = tensors[other], array
    with written("model.gmm", gio._serialize(meta, tensors)) as path:
        try:
            gm = load(path)
        except ModelFileError as exc:
            assert "model.gmm" in str(exc) and "\n" not in str(exc)
            _record(f"lying model file ({lie}): rejected")
            return
    X = np.random.default_rng(0).normal(size=(50, 3)) * 10.0 ** data.draw(
        st.sampled_from([0, 3, 100])
    )
    log_p, proba = gm.score_samples(X), gm.predict_proba(X)
    assert np.all(np.isfinite(log_p)), (kind, name, lie, log_p)
    assert np.all(np.isfinite(proba)) and np.allclose(proba.sum(axis=1), 1.0)
    assert gm.sample(20)[0].shape == (20, 3)
    _record(f"lying model file ({lie}): loaded, finite")


# -- data files ------------------------------------------------------------------------
# A data file is read as a table of the header's width, or refused with one ScanError
# (or TypeError, for a text column) naming the file; nothing else may escape.

_CELLS = st.sampled_from(
    ["1", "-2.5", "3e2", "1e400", "nan", "", "x", '"4"', '"5,6"', "7 # c", "\x00", "\u0664"]
)


@st.composite
def hostile_tables(draw: st.DrawFn) -> tuple[str, bytes]:
    """(suffix, content) of delimited text: ragged rows, quotes, comments, BOMs, NULs."""
    sep = draw(st.sampled_from([",", ";", "\t", " ", "|"]))
    width = draw(st.integers(1, 4))
    lines = []
    if draw(st.booleans()):
        lines.append(sep.join(draw(st.text('abc ,;#"', max_size=3)) for _ in range(width)))
    for _ in range(draw(st.integers(0, 8))):
        cells = width + draw(st.sampled_from([0, 0, 0, 0, 1, -1]))
        lines.append(sep.join(draw(_CELLS) for _ in range(max(cells, 0))))
    end = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]))
    return draw(st.sampled_from([".csv", ".tsv", ".txt"])), end.join(lines).encode(
        encoding, errors="replace"
    )


@settings(PROFILE, max_examples=max(1, PROFILE.max_examples // 2))
@given(case=hostile_tables(), chunk_rows=st.sampled_from([1, 3, None]))
def test_hostile_text_tables_read_whole_or_are_one_scan_error(
    case: tuple[str, bytes], chunk_rows: int | None
) -> None:
    from gaussmix import scan
    from gaussmix.scan import ScanError

    suffix, content = case
    with written("data" + suffix, content) as path:
        try:
            data = scan(path, chunk_rows=chunk_rows)
            chunks = list(data)
        except (ScanError, TypeError) as exc:
            assert path in str(exc) or "scan:" in str(exc), exc
            _record(f"data file: {type(exc).__name__}")
            return
    rows = sum(len(c) for c in chunks)
    assert rows == data.n_rows
    assert all(c.shape[1] == data.n_features and c.dtype == np.float64 for c in chunks)
    _record("data file: read")


# -- the command line -----------------------------------------------------------------
# Any input file gives exit status 0 (it happened to be valid data) or 2 with exactly
# one line 'gaussmix: error: ...' on stderr, never an internal error or a traceback.

_FIELDS = st.sampled_from(["1", "-2.5", "3e2", "nan", "inf", "-inf", "", "NA", "x", "1e400"])
_HUGE = st.sampled_from([400, 5000, 140_000]).map(lambda k: "9" * k)  # csv's limit: 131072


@st.composite
def hostile_files(draw: st.DrawFn) -> tuple[str, bytes]:
    """(file name, content): random bytes, empty files, huge fields, odd encodings."""
    kind = draw(st.sampled_from(["bytes", "empty", "table", "table", "huge field"]))
    suffix = draw(st.sampled_from([".csv", ".tsv", ".npy", ".parquet", ".txt"]))
    if kind == "bytes":
        return suffix, draw(st.binary(max_size=512))
    if kind == "empty":
        return suffix, b""
    n_cols = draw(st.integers(1, 4))
    sep = "\t" if suffix == ".tsv" else draw(st.sampled_from([",", ";", " ", "|"]))
    rows = [
        [
            draw(_HUGE if kind == "huge field" and draw(st.booleans()) else _FIELDS)
            for _ in range(n_cols)
        ]
        for _ in range(draw(st.integers(0, 12)))
    ]
    header = [draw(st.text(max_size=6)) for _ in range(n_cols)] if draw(st.booleans()) else []
    text = "\n".join(sep.join(r) for r in ([header] if header else []) + rows)
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32", "latin-1"]))
    return suffix, text.encode(encoding, errors="replace")


@pytest.fixture(scope="module")
def cli_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    pytest.importorskip("typer")
    path = tmp_path_factory.mktemp("cli") / "model.gmm"
    X = np.random.default_rng(2).normal(size=(60, 2))
    GaussianMixture(2, random_state=0).fit(X).save(path)
    return str(path)


@settings(PROFILE, max_examples=max(1, PROFILE.max_examples // 4))
@given(case=hostile_files(), command=st.sampled_from(["fit", "predict", "score", "info"]))
def test_the_command_line_answers_bad_files_with_one_line_and_status_2(
    cli_model: str, case: tuple[str, bytes], command: str
) -> None:
    suffix, content = case
    with written("data" + suffix, content) as path:
        argv = {
            "fit": ["fit", path, "-k", "2", "-o", os.path.join(os.path.dirname(path), "o.gmm")],
            "predict": ["predict", cli_model, path],
            "score": ["score", cli_model, path],
            "info": ["info", path],
        }[command]
        code, _, err = run_cli(argv)
    if code == 0:
        _record(f"cli {command}: valid by chance")
        return
    lines = err.strip().splitlines()
    assert code == 2, (code, err)
    assert len(lines) == 1 and lines[0].startswith("gaussmix: error: "), err
    assert "internal error" not in err and "Traceback" not in err, err
    _record(f"cli {command}: status 2")


# -- the scale policy, spelled out ---------------------------------------------------------
def test_values_beyond_1e140_are_one_rescale_error_at_fit_and_inference() -> None:
    X = np.random.default_rng(3).normal(size=(40, 2))
    with pytest.raises(ValueError, match=r"values reach 2e\+150.*Please rescale X"):
        GaussianMixture(2).fit(np.vstack([X, [[2e150, 0.0]]]))
    gm = GaussianMixture(2, random_state=0).fit(X * 1e139)  # just inside: fits finitely
    _assert_finite_model(gm, X * 1e139)
    with pytest.raises(ValueError, match="Please rescale X"):
        gm.predict(X * 1e141)


@pytest.mark.parametrize("scale", [1e-20, 1e15, 1e30])
def test_float32_beyond_its_safe_range_is_computed_in_float64(scale: float) -> None:
    X = (np.random.default_rng(4).normal(size=(60, 2)) + np.repeat([[0.0], [8.0]], 30, 0)) * scale
    X32 = X.astype(np.float32)
    gm = GaussianMixture(2, random_state=0, reg_covar=0.0).fit(X32)
    assert gm.n_reseeds_ == 0
    _assert_finite_model(gm, X32)
