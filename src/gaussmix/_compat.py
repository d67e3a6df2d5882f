"""``gmm_em``: the original textbook problem's function, on gaussmix's engine."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._core.covariance import Params, get_covariance
from ._input import Request, as_array
from ._validation import check_number
from .backends.numpy import NumpyRows

__all__ = ["gmm_em"]

_VARIANCE_FLOOR = 1e-6  # the reference's floor on every variance
_EMPTY_MASS = 1e-10  # components with less mass keep their mean and variance


def gmm_em(
    data: Any, k: int, max_iter: int = 100, tol: float = 1e-6, seed: int = 42
) -> dict[str, Any]:
    """Fit a mixture of ``k`` one-dimensional Gaussians by EM.

    The contract of the original problem's reference solution: the same
    initialisation for a given ``seed`` (means at ``k`` distinct data points drawn
    as ``np.random.seed(seed); np.random.choice(n, k, replace=False)`` would,
    variances at the data's variance, equal weights), the same M-step (variances
    floored at 1e-6; a component with mass below 1e-10 keeps its mean and
    variance), the same stopping rule and the same reported values, so results
    match the reference on ordinary data.

    What it guarantees beyond the reference:

    - NumPy's global random state is left untouched (a private ``RandomState``).
    - The E-step runs in log space, so a point far from every component keeps its
      exact responsibilities instead of dropping out through an underflow clamp,
      and ``log_likelihood`` is the exact log-likelihood.
    - The initial variance is floored at 1e-6 like every later one, so constant
      data gives finite results instead of NaN.
    - Weights always sum to 1.

    Parameters
    ----------
    data : array-like of shape (n,)
        Finite numbers.
    k : int
        Number of components, 1 <= k <= n.
    max_iter : int, default=100
        At least 1.
    tol : float, default=1e-6
        Stop when the log-likelihood changes by less than this.
    seed : int, default=42

    Returns
    -------
    dict
        ``means``, ``variances``, ``weights`` (lists of k floats): the parameters
        after the last M-step; ``log_likelihood`` (float): the total
        log-likelihood recorded by the reference's rule — on convergence, that of
        the iteration before the last, otherwise that of the last E-step;
        ``iterations`` (int): iterations run.
    """
    x = _as_1d(data)
    n = x.shape[0]
    check_number("k", k, integer=True, low=1)
    check_number("max_iter", max_iter, integer=True, low=1)
    check_number("tol", tol, low=0.0)
    if k > n:
        raise ValueError(f"k = {k} components need at least {k} data points; got {n}.")

    rng = np.random.RandomState(seed)
    means = x[rng.choice(n, k, replace=False)].copy()
    variances = np.full(k, max(float(np.var(x)), _VARIANCE_FLOOR))
    weights = np.full(k, 1.0 / k)

    diag = get_covariance("diag")
    rows = NumpyRows(x[:, None])
    log_likelihood = -np.inf
    iterations = 0
    while iterations < max_iter:
        iterations += 1
        params = Params(
            weights, means[:, None], variances[:, None], 1.0 / np.sqrt(variances)[:, None]
        )
        stats = rows.expectation(params, diag)
        updated = stats.mass >= _EMPTY_MASS
        safe_mass = np.where(updated, stats.mass, 1.0)
        means = np.where(updated, stats.means[:, 0], means)
        variances = np.where(
            updated, np.maximum(stats.scatter[:, 0] / safe_mass, _VARIANCE_FLOOR), variances
        )
        weights = stats.mass / n
        if abs(stats.log_likelihood - log_likelihood) < tol:
            break
        log_likelihood = stats.log_likelihood

    return {
        "means": means.tolist(),
        "variances": variances.tolist(),
        "weights": weights.tolist(),
        "log_likelihood": float(log_likelihood),
        "iterations": iterations,
    }


def _as_1d(data: Any) -> np.ndarray:
    """``data`` as a float64 vector, through the input boundary's checks (as column X)."""
    try:
        raw = np.asarray(data)
    except (TypeError, ValueError):
        raise TypeError("data must be a one-dimensional sequence of numbers.") from None
    if raw.ndim == 2 and raw.shape[1] == 1:
        raw = raw[:, 0]
    if raw.ndim != 1:
        raise ValueError(
            f"data must be one-dimensional (n,); got shape {raw.shape}. "
            "For multivariate data use gaussmix.GaussianMixture."
        )
    if raw.shape[0] == 0:
        raise ValueError("data is empty; gmm_em needs at least k data points.")
    try:
        column, _ = as_array(raw[:, None], request=Request(estimator="gmm_em"), name="data")
    except TypeError as exc:
        raise TypeError(f"data must be a one-dimensional sequence of numbers: {exc}") from None
    return np.ascontiguousarray(column[:, 0], dtype=np.float64)
