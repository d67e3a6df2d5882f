"""Data and parameter builders shared by the issue-2 test modules."""

from __future__ import annotations

from typing import Any

import numpy as np

from gaussmix._core.covariance import Params, get_covariance

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


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
    """A fitted ``gaussmix.GaussianMixture`` holding ``params`` (as a restored model does)."""
    from gaussmix import GaussianMixture

    form = get_covariance(covariance_type).form
    model = GaussianMixture(len(params.weights), covariance_type=covariance_type)
    model.weights_ = params.weights
    model.means_ = params.means
    model.covariances_ = params.covariances
    model.precisions_cholesky_ = params.precisions_cholesky
    model.precisions_ = form.precisions(params.precisions_cholesky)
    model.converged_, model.n_iter_, model.lower_bound_ = True, 0, 0.0
    model.n_features_in_ = params.means.shape[1]
    return model
