"""A conjugate prior on the components' means and covariances (MAP EM), as mclust's.

mclust's ``priorControl()`` (Fraley & Raftery, 2007, "Bayesian regularization for
normal mixture estimation and model-based clustering"): each component's mean has
a normal prior μ_k ~ N(μ_P, Σ_k / κ) and its covariance the conjugate prior of the
model's parameterisation (an inverse gamma on a variance, an inverse Wishart on
a matrix) with ν degrees of freedom and scale Λ_P. No prior is put on the weights.
EM then maximises the posterior: the M-step is the model's own, on statistics to
which the prior adds pseudo-observations,

    μ_k = (N_k m_k + κ μ_P) / (N_k + κ)
    scatter_k + κ N_k / (N_k + κ) (m_k - μ_P)(m_k - μ_P)ᵀ + Λ_P       (the scale)
    N_k + c                                                           (the mass)

where c (:meth:`.models.Covariance.prior_mass`) and whether Λ_P enters once or per
component (:attr:`.models.Covariance.prior_scale_once`) are mclust's choices for
each model; with a spherical form the scale is the variance ς² = tr(Λ_P)/d, added
once to the scatter's trace, with a diagonal one diag(Λ_P). The M-step is exact
for the prior those pseudo-observations define, also for the iterative models.
mclust defines priors for EII, VII, EEI, VEI, EVI, VVI, EEE, EEV, VEV and VVV
(``Covariance.has_prior``); not for VEE, EVE, VVE and EVV.

``defaultPrior`` (:func:`resolve_prior` with nothing given): κ = 0.01, μ_P the
data's mean, ν = d + 2, and Λ_P = (1/K)^(2/d) times the data's covariance for the
matrix forms (its diagonal when there are no more rows than features), times
the mean of its variances (Σ_j var_j / d) times I for the diagonal ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ..stats import Stats

if TYPE_CHECKING:
    from .models import Covariance
    from .params import Params

__all__ = ["PRIOR_KEYS", "Prior", "adjusted_stats", "log_prior", "resolve_prior"]

PRIOR_KEYS = ("shrinkage", "mean", "dof", "scale")
"""The hyperparameters, as mclust's ``priorControl(...)`` names them."""

DEFAULT_SHRINKAGE = 0.01
"""mclust's default κ."""


class Prior(NamedTuple):
    """The hyperparameters of a resolved prior (float64).

    Attributes
    ----------
    shrinkage : float
        κ >= 0, the prior mean's weight in observations (0: no prior on the means).
    mean : ndarray of shape (d,)
        μ_P.
    dof : float
        ν > d - 1.
    scale : ndarray of shape (d, d)
        Λ_P, symmetric positive definite.
    """

    shrinkage: float
    mean: np.ndarray
    dof: float
    scale: np.ndarray

    def as_dict(self) -> dict[str, Any]:
        """``{'shrinkage': float, 'mean': list, 'dof': float, 'scale': nested list}``."""
        return {
            "shrinkage": self.shrinkage,
            "mean": self.mean.tolist(),
            "dof": self.dof,
            "scale": self.scale.tolist(),
        }


def resolve_prior(
    given: Mapping[str, Any], data: Stats, cov: Covariance, n_components: int
) -> Prior:
    """The prior's hyperparameters: those ``given``, mclust's defaults for the others.

    Parameters
    ----------
    given : mapping
        Any of :data:`PRIOR_KEYS`, already checked (``scale`` as a (d, d) matrix).
    data : Stats
        Statistics of all rows as one component (K = 1) in ``cov``'s form.
    cov : Covariance
    n_components : int
    """
    d = data.means.shape[1]
    n = float(data.total_weight)
    shrinkage = float(given.get("shrinkage", DEFAULT_SHRINKAGE))
    mean = given.get("mean")
    dof = given.get("dof")
    scale = given.get("scale")
    if scale is None:
        fac = (1.0 / n_components) ** (2.0 / d)
        # The data's covariance with R's var() denominator, n - 1 (at least 1).
        one = data.scatter[0] if cov.form.per_component else data.scatter  # shared: (d, d)
        scatter = np.asarray(one, dtype=np.float64) / max(n - 1.0, 1.0)
        if cov.form.diagonal:  # EII ... VVI: the mean variance
            variances = scatter / d if scatter.ndim == 0 else scatter
            scale = fac * np.mean(variances) * np.eye(d)
        else:
            scale = fac * (scatter if n > d else np.diag(np.diag(scatter)))
    return Prior(
        shrinkage=shrinkage,
        mean=np.array(data.means[0] if mean is None else mean, dtype=np.float64),
        dof=float(d + 2 if dof is None else dof),
        scale=np.array(scale, dtype=np.float64),
    )


def adjusted_stats(
    stats: Stats, cov: Covariance, prior: Prior, means_fixed: bool = False
) -> tuple[Stats, np.ndarray]:
    """The statistics with the prior's pseudo-observations, and the MAP means.

    With ``means_fixed`` (``stats`` about means held at given values, ``fix=``) the
    means stay, and the prior's normal term adds κ (μ_k - μ_P)(μ_k - μ_P)ᵀ, the
    posterior's covariance term given those means.

    Returns
    -------
    stats : Stats
        ``mass`` N_k + c, ``scatter`` with the shrinkage term and the scale
        (see the module docstring); ``means`` the MAP means.
    means : ndarray of shape (K, d)
        The MAP means (N_k m_k + κ μ_P) / (N_k + κ).
    """
    K = stats.mass.shape[0]
    d = stats.means.shape[1]
    kappa = prior.shrinkage
    mass = np.asarray(stats.mass, dtype=np.float64)
    delta = stats.means - prior.mean
    with np.errstate(divide="ignore", invalid="ignore"):
        means = np.where(
            (mass + kappa)[:, None] > 0,
            (mass[:, None] * stats.means + kappa * prior.mean) / (mass + kappa)[:, None],
            stats.means,
        )
        shrink = np.where(mass + kappa > 0, kappa * mass / (mass + kappa), 0.0)
    if means_fixed:
        means, shrink = np.array(stats.means), np.full(K, kappa)
    coef = np.full(K, 1.0 / K if cov.prior_scale_once else 1.0)
    scatter = (
        stats.scatter
        + cov.form.correction(shrink, delta)
        + cov.form.prior_scatter(coef, prior.scale)
    )
    extra = cov.prior_mass(K, d, prior.dof, kappa > 0)
    return stats._replace(mass=mass + extra, means=means, scatter=scatter), means


def log_prior(params: Params, cov: Covariance, prior: Prior) -> float:
    """The prior's log-density at ``params``, up to a constant of the hyperparameters.

    The penalty the MAP M-step maximises with the expected log-likelihood:
    Σ_k -½ [c log|Σ_k| + tr(Σ_k⁻¹ Λ_k) + κ (μ_k - μ_P)ᵀ Σ_k⁻¹ (μ_k - μ_P)], with
    c and Λ_k as in :func:`adjusted_stats` (the scale in the form's terms), so that
    MAP EM never lowers log-likelihood + log prior.
    """
    K, d = params.means.shape
    form = cov.form
    pc = params.precisions_cholesky
    c = cov.prior_mass(K, d, prior.dof, prior.shrinkage > 0)
    coef = np.full(K, 1.0 / K if cov.prior_scale_once else 1.0)
    scale = form.prior_scatter(coef, prior.scale)
    precisions = form.precisions(pc)
    trace = float(np.sum(precisions * scale))
    log_det_cov = -2.0 * np.broadcast_to(form.log_det(pc, d), (K,))
    quad = form.mahalanobis(prior.mean[None], params.means, pc)[0]
    return -0.5 * float(c * log_det_cov.sum() + trace + prior.shrinkage * quad.sum())
