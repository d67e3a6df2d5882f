"""float32 rows whose densities overflow float32 are computed in float64, on every input kind.

Two tight clusters (variances near reg_covar=1e-20) give precision factors near
1e10; a float32 row at 1e11 then has squared distances near 1e42, beyond float32's
range (3.4e38). Those rows (only those) are redone in float64: probabilities and
scores are float64's, never NaN. A log-likelihood beyond float32's range comes
back as -inf in float32 arrays (its correct rounding) and finite in ``score``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from _support import assert_close
from gaussmix import GaussianMixture, scan

FAR = np.array([[1e11, -1e11], [-3e10, 2e10]])


def _model() -> tuple[GaussianMixture, np.ndarray]:
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(0, 1e-9, (50, 2)), rng.normal(1, 1e-9, (50, 2))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "within 0.1% of reg_covar": on purpose
        gm = GaussianMixture(2, reg_covar=1e-20, random_state=0).fit(X.astype(np.float32))
    return gm, X


def _numpy(X: np.ndarray, tmp_path: Any) -> Any:
    return X


def _torch(kernels: str) -> Callable[[np.ndarray, Any], Any]:
    def make(X: np.ndarray, tmp_path: Any) -> Any:
        torch = pytest.importorskip("torch")
        from gaussmix.backends import torch as torch_backend

        torch_backend.CPU_KERNELS = kernels  # restored by the fixture below
        return torch.from_numpy(X)

    return make


def _scan(X: np.ndarray, tmp_path: Any) -> Any:
    path = tmp_path / "rows.npy"
    np.save(path, X)
    return scan(path, chunk_rows=3)


def _dask(X: np.ndarray, tmp_path: Any) -> Any:
    da = pytest.importorskip("dask.array")
    return da.from_array(X, chunks=(3, X.shape[1]))


KINDS = {
    "numpy": _numpy,
    "torch": _torch("numpy"),
    "torch-kernels": _torch("torch"),
    "scan": _scan,
    "dask": _dask,
}


@pytest.fixture(autouse=True)
def _restore_cpu_kernels() -> Any:
    yield
    try:
        from gaussmix.backends import torch as torch_backend
    except ImportError:
        return
    torch_backend.CPU_KERNELS = "numpy"


def _host(values: Any) -> np.ndarray:
    if hasattr(values, "compute"):
        values = values.compute()
    if hasattr(values, "numpy"):
        values = values.numpy()
    return np.asarray(values)


@pytest.mark.parametrize("kind", list(KINDS))
def test_far_float32_rows_get_float64_answers(kind: str, tmp_path: Any) -> None:
    gm, X = _model()
    rows = np.vstack([FAR, X[:3], X[-3:]])  # far rows among ordinary ones, in one chunk
    rows32 = rows.astype(np.float32)
    data = KINDS[kind](rows32, tmp_path)
    want_proba = gm.predict_proba(rows32.astype(np.float64))
    want_ll = gm.score_samples(rows32.astype(np.float64))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        proba = _host(gm.predict_proba(data))
        ll = _host(gm.score_samples(data))
        labels = _host(gm.predict(data))
        score = gm.score(data)
    assert proba.dtype == ll.dtype == np.float32
    assert not np.isnan(proba).any() and not np.isnan(ll).any()
    np.testing.assert_allclose(proba, want_proba, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(labels, want_proba.argmax(axis=1))
    # Beyond float32's range the log-likelihood rounds to -inf; within it, float64's.
    beyond = np.abs(want_ll) > np.finfo(np.float32).max
    assert beyond[: len(FAR)].all() and not beyond[len(FAR) :].any()
    assert np.all(ll[beyond] == -np.inf)
    # score() sums in float64: finite, and float64's value.
    assert np.isfinite(score)
    if kind == "torch-kernels":
        # torch's own kernels centre float32 rows on the mixture's mean alone, and
        # clusters 1e9 of their spreads apart lose digits there (a limit of the GPU
        # path, see tests/test_kernels.py::_offset_error): only the far rows'
        # probabilities and the absence of NaN are float64's here.
        return
    assert_close(ll[~beyond], want_ll[~beyond], rtol=1e-5)
    assert score == pytest.approx(float(np.mean(want_ll)), rel=1e-6)


@pytest.mark.parametrize("kind", list(KINDS))
def test_weighted_score_with_far_rows(kind: str, tmp_path: Any) -> None:
    gm, X = _model()
    rows32 = np.vstack([X[:4], FAR, X[-4:]]).astype(np.float32)
    w = np.linspace(0.5, 2.0, len(rows32))
    w[1] = 0.0
    data = KINDS[kind](rows32, tmp_path)
    if kind.startswith("torch"):
        import torch

        weights: Any = torch.from_numpy(w)
    elif kind == "dask":
        import dask.array as da

        weights = da.from_array(w, chunks=3)
    else:
        weights = w
    want = np.average(gm.score_samples(rows32.astype(np.float64)), weights=w)
    assert gm.score(data, sample_weight=weights) == pytest.approx(want, rel=1e-6)
