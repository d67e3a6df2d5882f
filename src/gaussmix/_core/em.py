"""The EM loop, written against statistics only.

``run_em`` never sees rows: it asks an *expectation* callable for the merged
statistics of all rows under given parameters, and turns them into new parameters
with the pure ``m_step``. The same loop therefore fits an in-memory array, a file
read in chunks, a Dask array or a GPU tensor.

Collapsing components
---------------------
A component *collapses* when its responsibility mass falls below
``MIN_MASS_FRACTION`` of the total row weight, or when its covariance is not
numerically positive definite (a few identical or collinear rows at a scale where
``reg_covar`` is negligible). Given a :class:`Reseeder`, the M-step then re-seeds
it instead of failing:

- its mean moves to one of the rows worst explained by the current model (lowest
  log-likelihood; several collapsed components get distinct rows), found through
  the rows object's ``worst_explained`` hook, so this loop never sees rows;
- its covariance becomes the data's overall covariance (from the statistics)
  divided by K, plus ``reg_covar``, where each component's covariance is free of
  the others' (VII, VVI, VVV); in the other models, whose components share their
  volume, shape or orientation, a copy of the heaviest kept component's, which
  keeps the constraint; its weight becomes 1/K (the others shrink);
- after ``MAX_RESEEDS`` re-seeds, a component that collapses again is *dropped*:
  it keeps its place (arrays keep n_components rows) with weight exactly 0, the
  data's mean and that covariance, so no row is ever assigned to it.

A re-seed may lower the likelihood once, so it restarts the loop's monotonicity
check and never counts as convergence. When no component can be kept (every one
dropped, a singular shared 'tied' covariance, or a singular overall covariance,
so re-seeding has nothing sound to start from) the fit stops with a ValueError
suggesting a larger ``reg_covar``, fewer components or rescaled data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .covariance import Covariance, IllConditionedError, Params
from .covariance.prior import Prior, adjusted_stats, log_prior
from .noise import with_noise
from .stats import Stats, pooled, recentred

__all__ = [
    "MAX_RESEEDS",
    "MIN_MASS_FRACTION",
    "EMResult",
    "Expectation",
    "Fixed",
    "Reseeder",
    "SeedPoints",
    "m_step",
    "run_em",
]

logger = logging.getLogger("gaussmix")

Expectation = Callable[[Params], Stats]
"""Maps parameters to the merged statistics of every row under them."""

SeedPoints = Callable[[Params, int], np.ndarray]
"""``(params, m) -> points`` of shape (m', d), m' <= m: rows worst explained by ``params``."""

_TINY_MASS = 10 * np.finfo(np.float64).eps
# Relative size of rounding noise in a mean log-likelihood computed in float64.
_ROUNDING = 1e-12
MIN_MASS_FRACTION = 1e-9
"""A component with less responsibility mass than this share of the row weight collapsed."""
MAX_RESEEDS = 3
"""Re-seeds per component before a further collapse drops it."""


class EMResult(NamedTuple):
    """Outcome of one EM run.

    Attributes
    ----------
    params : Params
        Parameters after the last M-step.
    lower_bounds : list of float
        Mean log-likelihood (per unit of row weight) of the parameters entering
        each iteration's M-step, plus the log prior (per unit of row weight, up to
        a constant) when there is one; non-decreasing.
    n_iter : int
    converged : bool
    n_reseeds : int
        Components re-seeded during the run (see the module docstring).
    n_dropped : int
        Components dropped (weight 0) after collapsing repeatedly.
    """

    params: Params
    lower_bounds: list[float]
    n_iter: int
    converged: bool
    n_reseeds: int = 0
    n_dropped: int = 0

    @property
    def lower_bound(self) -> float:
        """The last recorded lower bound (-inf when no iteration ran)."""
        return self.lower_bounds[-1] if self.lower_bounds else -np.inf


class Fixed(NamedTuple):
    """Parameters EM holds at given values (``fix=``); None where EM estimates them.

    Each M-step then maximises the likelihood over the other parameters given
    these, so EM stays monotone: weights do not enter the other updates, means held
    fixed make the covariances the scatter about them (:func:`.stats.recentred`),
    and covariances held fixed leave the means the weighted means.

    Attributes
    ----------
    weights : ndarray of shape (K,) or None
    means : ndarray of shape (K, d) or None
    covariances, precisions_cholesky : ndarrays of the form's shape, or both None
    """

    weights: np.ndarray | None = None
    means: np.ndarray | None = None
    covariances: np.ndarray | None = None
    precisions_cholesky: np.ndarray | None = None

    def apply(self, params: Params) -> Params:
        """``params`` with the held parameters put back (exactly, not recomputed).

        With a noise component the held weights are the Gaussians' relative
        weights: they share what the noise leaves, 1 - π₀ (see :func:`.noise.with_noise`).
        """
        weights = params.weights if self.weights is None else self.weights
        if self.weights is not None and params.noise is not None:
            weights = weights / weights.sum() * (1.0 - params.noise.weight)
        means = params.means if self.means is None else self.means
        if self.covariances is None or self.precisions_cholesky is None:
            return params._replace(weights=weights, means=means)
        return Params(weights, means, self.covariances, self.precisions_cholesky)


def m_step(
    stats: Stats,
    cov: Covariance,
    reg_covar: float,
    fixed: Fixed | None = None,
    start: np.ndarray | None = None,
    prior: Prior | None = None,
) -> Params:
    """Maximum-likelihood parameters from merged statistics (pure), or MAP ones.

    Parameters
    ----------
    stats : Stats
        Statistics of all rows.
    cov : Covariance
    reg_covar : float
        Added to the diagonal of every covariance (keeping the model's constraint).
    fixed : Fixed, optional
        Parameters held at given values; the others are estimated given them.
    start : ndarray, optional
        The previous covariances, where iterative M-steps start.
    prior : Prior, optional
        A conjugate prior on means and covariances (``cov.has_prior``): the
        maximum a posteriori parameters (see :mod:`.covariance.prior`); the
        weights have no prior.

    Raises
    ------
    IllConditionedError
        If a covariance is not numerically positive definite.
    """
    # The small constant keeps an empty component's weight positive, as scikit-learn does.
    mass = stats.mass + _TINY_MASS
    weights = mass / mass.sum()
    if fixed is None:
        fixed = Fixed()
    means = stats.means.copy()
    if fixed.covariances is not None and fixed.precisions_cholesky is not None:
        covariances, prec_chol = fixed.covariances, fixed.precisions_cholesky
        if prior is not None:  # the MAP means do not depend on the covariances
            means = adjusted_stats(stats, cov, prior)[1]
    else:
        about = stats if fixed.means is None else recentred(stats, fixed.means, cov.form)
        if prior is not None:
            about, means = adjusted_stats(about, cov, prior, fixed.means is not None)
        covariances = cov.covariances_from_stats(about, reg_covar, start)
        prec_chol = cov.form.cholesky_precisions(covariances)
    return fixed.apply(Params(weights, means, covariances, prec_chol))


class _Unrecoverable(IllConditionedError):
    """Collapsed components cannot be re-seeded soundly."""


def _overall(stats: Stats, cov: Covariance) -> tuple[np.ndarray, np.ndarray]:
    """The data's mean (d,) and its covariance as one component's, from statistics.

    The covariance has shape ``cov.form.shape(1, d)``, without ``reg_covar``.
    """
    together = pooled(stats, cov.form)
    return together.means[0], cov.covariances_from_stats(together, 0.0)


class Reseeder:
    """The collapse policy of one EM run (see the module docstring); stateful.

    Parameters
    ----------
    n_components : int
    seed_points : callable, optional
        ``(params, m) -> points (m', d)``: rows worst explained by ``params``.
        Without it, re-seeded components start at the data's mean.
    max_reseeds : int
        Re-seeds per component before a further collapse drops it.

    Attributes
    ----------
    n_reseeds : int
        Re-seeds so far, over all components.
    dropped : ndarray of shape (K,), bool
    """

    def __init__(
        self,
        n_components: int,
        seed_points: SeedPoints | None = None,
        max_reseeds: int = MAX_RESEEDS,
    ) -> None:
        self.seed_points = seed_points
        self.max_reseeds = max_reseeds
        self.counts = np.zeros(n_components, dtype=np.intp)
        self.dropped = np.zeros(n_components, dtype=bool)
        self.n_reseeds = 0
        self.n_changes = 0  # re-seeds and drops: each restarts the monotonicity check

    def m_step(
        self,
        stats: Stats,
        cov: Covariance,
        reg_covar: float,
        start: np.ndarray | None = None,
        prior: Prior | None = None,
    ) -> Params:
        """:func:`m_step`, re-seeding or dropping collapsed components.

        Identical to :func:`m_step` when no component collapses. A replaced
        component's covariance keeps the model's constraint: the broad covariance
        where each component's covariance is free of the others' (VII, VVI, VVV),
        otherwise a copy of the heaviest kept component's.

        Raises
        ------
        IllConditionedError
            (a ValueError) when no component can be kept; see the module docstring.
        """
        collapsed = stats.mass < MIN_MASS_FRACTION * stats.total_weight
        if not (collapsed.any() or self.dropped.any()):
            try:
                return m_step(stats, cov, reg_covar, start=start, prior=prior)
            except IllConditionedError:
                pass
        K = stats.mass.shape[0]
        weights = (stats.mass + _TINY_MASS) / (stats.mass + _TINY_MASS).sum()
        about, means = stats, stats.means.copy()
        if prior is not None:
            about, means = adjusted_stats(stats, cov, prior)
        covariances = cov.covariances_from_stats(about, reg_covar, start)
        collapsed = (collapsed | self._singular(cov, covariances)) & ~self.dropped
        reseed = collapsed & (self.counts < self.max_reseeds)
        self.dropped |= collapsed & ~reseed
        if self.dropped.all():
            raise _Unrecoverable(
                f"Fitting failed: all {K} components collapsed repeatedly (too little mass, or "
                "a singular covariance). Use fewer components, increase reg_covar, or "
                "standardize X."
            )
        # Collapsed and dropped components: the data's mean and a broad covariance.
        mean, overall = _overall(stats, cov)
        replace = collapsed | self.dropped
        means[replace] = mean
        kept = ~replace
        if cov.form.per_component and not cov.independent and kept.any():
            heaviest = np.flatnonzero(kept)[np.argmax(stats.mass[kept])]
            covariances[replace] = covariances[heaviest]
        elif cov.form.per_component:
            seed_cov = cov.form.regularize(overall / K, reg_covar)
            if self._singular(cov, seed_cov).any():
                raise _Unrecoverable(
                    "Fitting failed: a component collapsed and the data's own covariance is "
                    "numerically singular at its scale (for example constant columns or "
                    f"repeated rows with reg_covar={reg_covar:g}), so it cannot be re-seeded. "
                    "Increase reg_covar (it is absolute: compare it with the data's "
                    "variances), or standardize X."
                )
            covariances[replace] = seed_cov[0]
        weights[replace] = 0.0
        if reseed.any():
            means[reseed] = self._seeds(
                Params(weights, means, covariances, cov.form.cholesky_precisions(covariances)),
                int(reseed.sum()),
                fallback=mean,
            )
            weights[reseed] = 1.0 / K
            self.counts[reseed] += 1
            self.n_reseeds += int(reseed.sum())
            logger.info("re-seeded collapsed component(s) %s", np.flatnonzero(reseed).tolist())
        if collapsed.any():  # something new was re-seeded or dropped
            self.n_changes += 1
        weights /= weights.sum()
        return Params(weights, means, covariances, cov.form.cholesky_precisions(covariances))

    @staticmethod
    def _singular(cov: Covariance, covariances: np.ndarray) -> np.ndarray:
        """Which components' covariances are not numerically positive definite, (K,)."""
        if not cov.form.per_component:
            try:
                cov.form.cholesky_precisions(covariances)
            except IllConditionedError:
                raise _Unrecoverable(
                    "Fitting failed: the shared ('tied') covariance is numerically singular "
                    "(for example constant columns, or more features than distinct rows, "
                    "at a scale where reg_covar is negligible). Increase reg_covar, use "
                    "fewer components, or standardize X."
                ) from None
            return np.zeros(1, dtype=bool)
        bad = np.zeros(covariances.shape[0], dtype=bool)
        for k in range(covariances.shape[0]):
            try:
                cov.form.cholesky_precisions(covariances[k : k + 1])
            except IllConditionedError:
                bad[k] = True
        return bad

    def _seeds(self, interim: Params, m: int, fallback: np.ndarray) -> np.ndarray:
        """``m`` seed means: the rows worst explained by ``interim`` (the kept components)."""
        weights = interim.weights
        if weights.sum() <= 0:  # nothing kept yet: judge rows by the broad components
            weights = np.where(self.dropped, 0.0, 1.0)
        interim = interim._replace(weights=weights / weights.sum())
        points = np.empty((0, fallback.shape[0]))
        if self.seed_points is not None:
            points = np.asarray(self.seed_points(interim, m), dtype=np.float64)[:m]
        if points.shape[0] < m:
            points = np.vstack([points, np.repeat(fallback[None], m - points.shape[0], axis=0)])
        return points


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
    reseeder: Reseeder | None = None,
    fixed: Fixed | None = None,
    prior: Prior | None = None,
) -> EMResult:
    """Iterate E- and M-steps from ``params`` until the lower bound settles.

    Each iteration computes the statistics under the current parameters (whose mean
    log-likelihood becomes the iteration's lower bound) and replaces the parameters
    by the M-step's. It stops when the bound changes by less than ``tol`` (as
    scikit-learn does; a drop that small is recorded as no change), after
    ``max_iter`` iterations, or when an M-step lowers the log-likelihood by ``tol``
    or more (beyond rounding error): exact EM never does, so that happens only
    through ``reg_covar``; the fit then keeps the better parameters, reports
    convergence and records no decreasing bound.

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
    reseeder : Reseeder, optional
        Re-seeds collapsed components instead of raising (see the module docstring).
        Without it, an M-step on a collapsed component raises IllConditionedError.
    fixed : Fixed, optional
        Parameters held at given values in every M-step (``params`` should hold
        them already). Not combined with a ``reseeder``: re-seeding would move them.
    prior : Prior, optional
        MAP EM: the M-steps maximise the posterior, and the bound adds the log
        prior (see :mod:`.covariance.prior`).
    """
    if fixed is not None and reseeder is not None:
        raise ValueError("fixed parameters cannot be combined with re-seeding")
    lower_bounds: list[float] = []
    lower_bound = start_lower_bound
    previous = params
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        stats = expectation(params)
        new_bound = stats.log_likelihood / stats.total_weight
        if prior is not None:
            new_bound += log_prior(params, cov, prior) / stats.total_weight
        drop = lower_bound - new_bound
        if lower_bounds and drop >= max(tol, _ROUNDING * (1.0 + abs(lower_bound))):
            # The last M-step lowered the likelihood: keep the parameters before it.
            params, n_iter, converged = previous, n_iter - 1, True
            break
        if lower_bounds and drop > 0:
            # A drop below tol (or rounding error at a fixed point) is no change, as
            # in scikit-learn's stopping rule, and is recorded as none.
            new_bound = lower_bound
        change = new_bound - lower_bound
        lower_bound = new_bound
        lower_bounds.append(new_bound)
        if reseeder is None:
            new = m_step(stats, cov, reg_covar, fixed, params.covariances, prior)
            changed = False
        else:
            before = reseeder.n_changes
            new = reseeder.m_step(stats, cov, reg_covar, params.covariances, prior)
            changed = reseeder.n_changes > before
        previous, params = params, with_noise(new, stats, params.noise)
        if on_iteration is not None:
            on_iteration(n_iter, new_bound, change)
        if changed:
            # A re-seed may lower the likelihood once: restart the monotonicity check.
            lower_bound = -np.inf
        elif abs(change) < tol:
            converged = True
            break
    n_reseeds = 0 if reseeder is None else reseeder.n_reseeds
    n_dropped = 0 if reseeder is None else int(reseeder.dropped.sum())
    return EMResult(params, lower_bounds, n_iter, converged, n_reseeds, n_dropped)
