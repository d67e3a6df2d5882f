"""Data and parameter builders, and the tolerance rule, shared by the test modules."""

from __future__ import annotations

from typing import Any

import numpy as np

from gaussmix._core.covariance import Params, get_covariance

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def assert_close(
    actual: Any,
    desired: Any,
    *,
    rtol: float = 1e-7,
    scale: float | None = None,
    err_msg: str = "",
) -> None:
    """Assert ``actual`` equals ``desired`` to ``rtol`` of the quantity's magnitude.

    Floating-point rounding is relative to the size of the numbers a result was computed
    from, not to the result itself: a log-responsibility of -5e-4 is a difference of
    log-densities of size ~10, and a mean of centred data is a sum of terms of the data's
    scale. A bare relative tolerance (``assert_allclose``'s default ``atol=0``) on such a
    value fails on another CPU or BLAS kernel (AVX2 against AVX-512, OpenBLAS against MKL)
    that sums in another order. So every entry is also allowed an absolute error of
    ``rtol * scale``.

    Parameters
    ----------
    actual, desired : array_like
        The computed and the expected values (any shape numpy broadcasts).
    rtol : float, default=1e-7
        Relative tolerance: elementwise, and of ``scale``.
    scale : float, optional
        The magnitude the rounding is relative to. Defaults to the largest finite
        ``|desired|``, the size of the quantity as a whole, so near-zero entries of an
        array are compared at the array's scale. Pass it where that magnitude is not in
        ``desired``: a scalar near zero computed from data of scale ``s`` (a mean of
        centred data, a difference of log-likelihoods) takes ``scale=s``.
    err_msg : str, default=""
        Shown on failure.

    Notes
    -----
    Non-finite entries must match exactly (as in ``numpy.testing.assert_allclose``). A
    comparison that is exact by construction (a product by zero, a bit-identity claim)
    belongs in ``numpy.testing.assert_array_equal`` instead.
    """
    if scale is None:
        magnitudes = np.abs(np.asarray(desired, dtype=np.float64))
        finite = magnitudes[np.isfinite(magnitudes)]
        scale = float(finite.max()) if finite.size else 0.0
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=rtol * scale, err_msg=err_msg)


def blobs(
    n: int = 300,
    d: int = 2,
    k: int = 3,
    seed: int = 0,
    spread: float = 4.0,
    dtype: Any = np.float64,
) -> np.ndarray:
    """``n`` rows from ``k`` well-separated Gaussian clusters of unequal shapes, shuffled.

    Returns
    -------
    ndarray of shape (n, d)
    """
    rng = np.random.RandomState(seed)
    centres = rng.uniform(-spread, spread, size=(k, d)) * np.sqrt(d)
    labels = rng.randint(k, size=n)
    labels[:k] = np.arange(k)  # every cluster has a row
    mixing = rng.normal(size=(k, d, d)) * 0.5 + np.eye(d)
    noise = np.einsum("nj,nij->ni", rng.normal(size=(n, d)), mixing[labels])
    return (centres[labels] + noise).astype(dtype)


def random_covariances(
    covariance_type: str, k: int, d: int, rng: np.random.RandomState, scale: float = 1.0
) -> np.ndarray:
    """Random valid covariances in ``covariance_type``'s shape (see covariance.py)."""
    if covariance_type == "full":
        a = rng.normal(size=(k, d, d))
        return scale * (np.einsum("kij,klj->kil", a, a) / d + 0.5 * np.eye(d))
    if covariance_type == "tied":
        a = rng.normal(size=(d, d))
        return scale * (a @ a.T / d + 0.5 * np.eye(d))
    if covariance_type == "diag":
        return scale * rng.uniform(0.3, 2.0, size=(k, d))
    return scale * rng.uniform(0.3, 2.0, size=k)


def dense_covariance(covariance_type: str, covariances: np.ndarray, k: int, d: int) -> np.ndarray:
    """Component ``k``'s covariance as a (d, d) matrix."""
    if covariance_type == "full":
        return covariances[k]
    if covariance_type == "tied":
        return covariances
    if covariance_type == "diag":
        return np.diag(covariances[k])
    return covariances[k] * np.eye(d)


def random_params(
    covariance_type: str, k: int, d: int, rng: np.random.RandomState, spread: float = 3.0
) -> Params:
    """Random valid mixture parameters (float64)."""
    cov = get_covariance(covariance_type)
    weights = rng.dirichlet(np.full(k, 2.0))
    means = rng.uniform(-spread, spread, size=(k, d))
    covariances = random_covariances(covariance_type, k, d, rng)
    return Params(weights, means, covariances, cov.form.cholesky_precisions(covariances))


def explicit_init(X: np.ndarray, k: int, covariance_type: str, seed: int = 0) -> dict[str, Any]:
    """``weights_init``, ``means_init`` and ``precisions_init`` for a fit of ``X``.

    Means are perturbed data rows, covariances random with the data's scale, so the
    fit starts away from any fixed point and runs several EM iterations.
    """
    rng = np.random.RandomState(seed)
    n, d = X.shape
    weights = rng.dirichlet(np.full(k, 5.0))
    means = X[rng.choice(n, k, replace=False)] + 0.1 * rng.normal(size=(k, d))
    scale = max(float(np.mean(np.var(X, axis=0))), 1e-3)  # constant data: still valid
    covariances = random_covariances(covariance_type, k, d, rng, scale=scale)
    cov = get_covariance(covariance_type)
    precisions = cov.form.precisions(cov.form.cholesky_precisions(covariances))
    return {"weights_init": weights, "means_init": means, "precisions_init": precisions}


def fitted_mixture(params: Params, covariance_type: str) -> Any:
    """A fitted ``gaussmix.GaussianMixture`` holding ``params``, built as a restored model is."""
    from gaussmix._estimator import FittedState, GaussianMixture

    K, d = params.means.shape
    state = FittedState(params, covariance_type, d, None, True, 0, 0.0, [], None)
    settings = {"n_components": K, "covariance_type": covariance_type}
    return GaussianMixture._from_state(settings, state)


def row_source(kind: str, X: np.ndarray, tmp_path: Any) -> Any:
    """X as the row source ``kind``: 'numpy', 'float32', 'scan' (a .npy file), 'dask', 'torch'.

    Skips the test when the source's library is missing.
    """
    import pytest

    if kind == "numpy":
        return X
    if kind == "float32":
        return X.astype(np.float32)
    if kind == "scan":
        import gaussmix

        np.save(tmp_path / "x.npy", X)
        return gaussmix.scan(tmp_path / "x.npy", chunk_rows=97)
    if kind == "dask":
        da = pytest.importorskip("dask.array")
        return da.from_array(X, chunks=(113, X.shape[1]))
    torch = pytest.importorskip("torch")
    return torch.from_numpy(X)
