"""The EM loop, written against statistics only.

``run_em`` never sees rows: it asks an *expectation* callable for the merged
statistics of all rows under given parameters, and turns them into new parameters
with the pure ``m_step``. The same loop therefore fits an in-memory array, a file
read in chunks, a Dask array or a GPU tensor.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .covariance import Covariance, Params
from .stats import Stats

__all__ = ["EMResult", "Expectation", "m_step", "run_em"]

logger = logging.getLogger("gaussmix")

Expectation = Callable[[Params], Stats]
"""Maps parameters to the merged statistics of every row under them."""

_TINY_MASS = 10 * np.finfo(np.float64).eps


class EMResult(NamedTuple):
    """Outcome of one EM run.

    Attributes
    ----------
    params : Params
        Parameters after the last M-step.
    lower_bounds : list of float
        Mean log-likelihood (per unit of row weight) of the parameters entering
        each iteration's M-step; non-decreasing.
    n_iter : int
    converged : bool
    """

    params: Params
    lower_bounds: list[float]
    n_iter: int
    converged: bool

    @property
    def lower_bound(self) -> float:
        """The last recorded lower bound (-inf when no iteration ran)."""
        return self.lower_bounds[-1] if self.lower_bounds else -np.inf


def m_step(stats: Stats, cov: Covariance, reg_covar: float) -> Params:
    """Maximum-likelihood parameters from merged statistics (pure).

    Parameters
    ----------
    stats : Stats
        Statistics of all rows.
    cov : Covariance
    reg_covar : float
        Added to the diagonal of every covariance.

    Raises
    ------
    IllConditionedError
        If a covariance is not numerically positive definite.
    """
    # The small constant keeps an empty component's weight positive, as scikit-learn does.
    mass = stats.mass + _TINY_MASS
    weights = mass / mass.sum()
    covariances = cov.covariances_from_stats(stats, reg_covar)
    return Params(weights, stats.means.copy(), covariances, cov.cholesky_precisions(covariances))


def run_em(
    expectation: Expectation,
    params: Params,
    cov: Covariance,
    *,
    reg_covar: float,
    tol: float,
    max_iter: int,
    start_lower_bound: float = -np.inf,
    on_iteration: Callable[[int, float, float], None] | None = None,
) -> EMResult:
    """Iterate E- and M-steps from ``params`` until the lower bound settles.

    Each iteration computes the statistics under the current parameters (whose mean
    log-likelihood becomes the iteration's lower bound) and replaces the parameters
    by the M-step's. It stops when the bound changes by less than ``tol`` (as
    scikit-learn does), after ``max_iter`` iterations, or when an M-step would
    lower the log-likelihood: exact EM never does, so that happens only through
    ``reg_covar`` or rounding at a fixed point; the fit then keeps the better
    parameters, reports convergence and records no decreasing bound.

    Parameters
    ----------
    expectation : callable
        ``Params -> Stats`` over all rows.
    params : Params
        Starting parameters.
    cov : Covariance
    reg_covar, tol : float
    max_iter : int
    start_lower_bound : float
        The bound before the first iteration (a warm start passes its last one).
    on_iteration : callable, optional
        Called as ``on_iteration(n_iter, lower_bound, change)`` after each iteration.
    """
    lower_bounds: list[float] = []
    lower_bound = start_lower_bound
    previous = params
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        stats = expectation(params)
        new_bound = stats.log_likelihood / stats.total_weight
        if new_bound < lower_bound and lower_bounds:
            # The last M-step lowered the likelihood: keep the parameters before it.
            params, n_iter, converged = previous, n_iter - 1, True
            break
        change = new_bound - lower_bound
        lower_bound = new_bound
        lower_bounds.append(new_bound)
        previous, params = params, m_step(stats, cov, reg_covar)
        if on_iteration is not None:
            on_iteration(n_iter, new_bound, change)
        if abs(change) < tol:
            converged = True
            break
    return EMResult(params, lower_bounds, n_iter, converged)
