"""The E-step on one chunk of rows, in log space (NumPy reference kernels).

Everything here touches rows; nothing here touches an M-step. Backends with
faster kernels implement the same three functions with the same meaning.
"""

from __future__ import annotations

import numpy as np

from .covariance import Covariance, Params
from .stats import Stats

__all__ = ["chunk_stats", "log_responsibilities", "stats_from_resp", "weighted_log_prob"]


def weighted_log_prob(X: np.ndarray, params: Params, cov: Covariance) -> np.ndarray:
    """log π_k + log N(x_i | μ_k, Σ_k), shape (n, K), in ``X``'s dtype.

    Parameters
    ----------
    X : ndarray of shape (n, d), float32 or float64
    params : Params
    cov : Covariance
    """
    dtype = X.dtype
    means = params.means.astype(dtype, copy=False)
    prec_chol = params.precisions_cholesky.astype(dtype, copy=False)
    log_prob = cov.form.log_prob(X, means, prec_chol)
    with np.errstate(divide="ignore"):  # a weight of exactly 0 gives log 0 = -inf, on purpose
        log_weights = np.log(params.weights).astype(dtype, copy=False)
    return log_prob + log_weights


def log_responsibilities(
    X: np.ndarray, params: Params, cov: Covariance
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row log-likelihood and log responsibilities, by log-sum-exp.

    Returns
    -------
    log_norm : ndarray of shape (n,)
        log p(x_i).
    log_resp : ndarray of shape (n, K)
        log r_ik = log π_k N(x_i | k) - log p(x_i).
    """
    wlp = weighted_log_prob(X, params, cov)
    top = wlp.max(axis=1, keepdims=True)
    shifted = wlp - top
    # Normalise relative to the top density: adding log Σ exp to a huge |top| first
    # would round it away and leave responsibilities summing to more than 1.
    log_sum = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return (log_sum + top)[:, 0], shifted - log_sum


def stats_from_resp(
    X: np.ndarray,
    rw: np.ndarray,
    cov: Covariance,
    centres: np.ndarray | None = None,
    log_likelihood: float = 0.0,
    total_weight: float | None = None,
) -> Stats:
    """Statistics of a chunk given its weighted responsibilities.

    The scatter is taken about ``centres`` (for example the current means, close to
    the new ones) and moved to the new means exactly, so no large sums cancel.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    rw : ndarray of shape (n, K)
        w_i r_ik.
    cov : Covariance
    centres : ndarray of shape (K, d), optional
        Where to take the scatter about; by default the chunk's own means
        (one more pass over the chunk, exact for any data offset).
    log_likelihood : float
        Σ_i w_i log p(x_i), carried into the statistics.
    total_weight : float, optional
        Σ_i w_i; defaults to ``rw.sum()``.
    """
    rw64 = rw.astype(np.float64, copy=False)
    mass = rw64.sum(axis=0)
    if centres is None:
        safe = np.where(mass > 0, mass, 1.0)
        centres = (rw64.T @ X.astype(np.float64, copy=False)) / safe[:, None]
    centres = centres.astype(X.dtype, copy=False)
    # Mean offset from the centres, accumulated in float64.
    offset_sum = rw64.T @ X.astype(np.float64, copy=False) - mass[:, None] * centres
    safe = np.where(mass > 0, mass, 1.0)
    offset = np.where(mass[:, None] > 0, offset_sum / safe[:, None], 0.0)
    # float64 weights make the sum over rows accumulate in float64 for float32 X too.
    scatter = np.asarray(cov.form.scatter_about(X, rw64, centres), dtype=np.float64)
    scatter = scatter - cov.form.correction(mass, offset)
    means = np.where(mass[:, None] > 0, centres + offset, 0.0)
    total = float(rw64.sum()) if total_weight is None else float(total_weight)
    return Stats(total, float(log_likelihood), mass, means, scatter)


def chunk_stats(
    X: np.ndarray, weights: np.ndarray | None, params: Params, cov: Covariance
) -> Stats:
    """E-step on one chunk: responsibilities under ``params``, then statistics.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    weights : ndarray of shape (n,) or None
        Row weights (multiplicities); ``None`` means all ones.
    params : Params
    cov : Covariance
    """
    log_norm, log_resp = log_responsibilities(X, params, cov)
    resp = np.exp(log_resp)
    if weights is None:
        ll = float(np.sum(log_norm, dtype=np.float64))
        total = float(X.shape[0])
        rw = resp
    else:
        ll = float(np.dot(weights, log_norm.astype(np.float64)))
        total = float(weights.sum())
        rw = resp * weights[:, None].astype(resp.dtype, copy=False)
    return stats_from_resp(X, rw, cov, params.means, ll, total)
