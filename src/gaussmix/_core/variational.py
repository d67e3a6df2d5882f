"""Variational Bayesian mixtures: the M-step, the E-step's plan and the lower bound.

The model is scikit-learn's ``BayesianGaussianMixture`` (Bishop 2006, §10.2; Blei
& Jordan 2006): a Dirichlet-distribution or Dirichlet-process (stick-breaking)
prior on the weights, and a Normal-Wishart prior on each component's mean and
precision,

    μ_k | Λ_k ~ N(m_0, (β_0 Λ_k)^-1),    Λ_k ~ Wishart(ν_0, Ψ_0^-1).

Coordinate ascent alternates an E-step (responsibilities under the current
variational posterior) and an M-step (the posterior given the responsibilities).
Both are written here against the engine's sufficient statistics only
(:class:`~gaussmix._core.stats.Stats`), so every row source and backend serves
them unchanged:

The E-step's plan
    Under the variational posterior, log ρ_ik = E[log π_k] + E[log N(x_i | μ_k, Λ_k)]
    is the ordinary Gaussian log-density with the expected precision E[Λ_k] (the
    fitted ``precisions_cholesky_``) plus a per-component constant (digamma terms
    of the Wishart and the weights, and -d / 2β_k from the mean's spread). So the
    E-step is the maximum-likelihood E-step of :func:`plan`'s parameters, whose
    log-weights are those constants (shifted by a common constant, which changes
    no responsibility; :attr:`Plan.log_shift` restores the row log-densities).
The M-step
    The posterior is conjugate: it is the data's statistics merged with the
    prior's pseudo-statistics. β_0 pseudo-rows at m_0 give the posterior means
    (``means_``), their precision β_k (``mean_precision_``) and the between-means
    term of the Wishart scale, by the engine's exact :func:`~.stats.merge`; ν_0
    pseudo-rows of scatter Ψ_0 complete it. The expected covariance E[Λ_k]^-1 (the
    fitted ``covariances_``, scikit-learn's normalised Wishart scale) is then the
    covariance model's own maximum-likelihood covariance of those posterior
    statistics, with ν_k = ν_0 + N_k (``degrees_of_freedom_``) as their mass. So the
    covariance models of the registry give the variational M-step without a line
    about their names.
The lower bound
    scikit-learn's simplified bound: the responsibilities' entropy, minus the log
    normalisers of the Wishart, weight and mean posteriors (constants dropped). The
    entropy is recovered exactly from the statistics: since Σ_k r_ik = 1,
    Σ_k r_ik log r_ik = Σ_k r_ik log ρ_ik - log Σ_k ρ_ik, and the first term's sum
    over rows is a quadratic form in each component's mass, mean and scatter
    (see :func:`entropy`). With missing values marginalised, the same formula gives
    the entropy of the joint posterior of labels and missing values, the bound of
    variational inference with the missing values as latent variables.

Streaming (stochastic variational inference)
    Hoffman, Blei, Wang & Paisley (2013) take natural-gradient steps on the
    global parameters: λ_t = (1 - ρ_t) λ_{t-1} + ρ_t λ̂_t, where λ̂_t is the
    posterior the whole data set would give if every row were like the batch's.
    The Normal-Wishart and Dirichlet natural parameters are the prior's plus the
    raw moments Σ r, Σ r x, Σ r x xᵀ, so the step is the running per-row
    statistics of stepwise EM (:func:`~.online.stepwise_update`, the same
    Robbins-Monro ρ_t = (t + t_0)^-κ) scaled to the data's size and put through
    the variational M-step (:func:`stochastic_step`). The data's size is the row
    weight seen so far, so after one pass over a stream the posterior weighs the
    prior against all of it, as the batch fit does.

Everything is a pure function of NamedTuples (:class:`Prior`, :class:`Posterior`,
:class:`Stream`), in the style of optax; :func:`run_variational` is the
coordinate-ascent loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from . import em
from .covariance import Covariance, DensityForm, IllConditionedError, Params, params_problem
from .estep import complete_log_likelihood
from .limits import MAX_COVARIANCE, MAX_MAGNITUDE
from .online import scaled, step_size, stepwise_update
from .stats import Stats, merge, pooled

__all__ = [
    "WEIGHT_PRIORS",
    "DirichletDistribution",
    "DirichletProcess",
    "Plan",
    "Posterior",
    "Prior",
    "Stream",
    "VariationalResult",
    "WeightPrior",
    "data_prior",
    "data_statistics",
    "entropy",
    "lower_bound",
    "m_step",
    "plan",
    "posterior_problem",
    "prior_problem",
    "run_variational",
    "stochastic_step",
]

_TINY_MASS = 10 * np.finfo(np.float64).eps  # scikit-learn's guard on empty components
_SETTLED = 1e-12  # relative change of a log-likelihood that is rounding noise


# -- the weights' prior ------------------------------------------------------------------
class WeightPrior:
    """Base class: the prior on the mixture weights (one stateless instance per kind).

    A posterior *concentration* is what :meth:`posterior` returns: an array of
    shape (K,) for a Dirichlet distribution, a pair of such arrays (the Beta
    parameters of each stick) for a Dirichlet process, as scikit-learn stores
    ``weight_concentration_``.
    """

    name: str

    def posterior(self, mass: np.ndarray, prior: float) -> Any:
        """The posterior concentration given the responsibility mass (K,)."""
        raise NotImplementedError

    def expected_log_weights(self, concentration: Any) -> np.ndarray:
        """E[log π_k] under the posterior, shape (K,)."""
        raise NotImplementedError

    def log_normaliser(self, concentration: Any) -> float:
        """The log normalising constant the lower bound subtracts (constants dropped)."""
        raise NotImplementedError

    def weights(self, concentration: Any) -> np.ndarray:
        """The posterior mean weights, normalised to sum to 1 (``weights_``), (K,)."""
        raise NotImplementedError

    def masses(self, concentration: Any, prior: float) -> np.ndarray:
        """The responsibility mass N_k a posterior concentration was made of, (K,)."""
        raise NotImplementedError

    def concentration_shape(self, n_components: int) -> tuple[int, ...]:
        """The shape of a concentration as one array (a pair stacked: (2, K))."""
        raise NotImplementedError

    def as_concentration(self, array: np.ndarray) -> Any:
        """A concentration from its one-array form (the inverse of ``np.asarray``)."""
        return array


class DirichletDistribution(WeightPrior):
    """A symmetric Dirichlet prior on the K weights (a finite mixture)."""

    name = "dirichlet_distribution"

    def posterior(self, mass: np.ndarray, prior: float) -> np.ndarray:
        return prior + mass

    def expected_log_weights(self, concentration: np.ndarray) -> np.ndarray:
        from scipy.special import digamma

        return digamma(concentration) - digamma(np.sum(concentration))

    def log_normaliser(self, concentration: np.ndarray) -> float:
        from scipy.special import gammaln

        return float(gammaln(np.sum(concentration)) - np.sum(gammaln(concentration)))

    def weights(self, concentration: np.ndarray) -> np.ndarray:
        return concentration / np.sum(concentration)

    def masses(self, concentration: np.ndarray, prior: float) -> np.ndarray:
        return concentration - prior

    def concentration_shape(self, n_components: int) -> tuple[int, ...]:
        return (n_components,)


class DirichletProcess(WeightPrior):
    """A Dirichlet process truncated at K sticks (stick-breaking, Blei & Jordan 2006).

    Stick k breaks off a Beta(1, γ) share of what the sticks before it left; the
    posterior of stick k is Beta(1 + N_k, γ + Σ_{j>k} N_j).
    """

    name = "dirichlet_process"

    def posterior(self, mass: np.ndarray, prior: float) -> tuple[np.ndarray, np.ndarray]:
        beyond = np.zeros_like(mass)  # Σ_{j>k} N_j
        beyond[:-1] = np.cumsum(mass[::-1])[-2::-1]
        return 1.0 + mass, prior + beyond

    def expected_log_weights(self, concentration: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        from scipy.special import digamma

        a, b = concentration
        log_total = digamma(a + b)
        log_rest = digamma(b) - log_total  # E[log(1 - v_k)]
        expected = digamma(a) - log_total
        expected[1:] += np.cumsum(log_rest[:-1])  # the sticks broken before k
        return expected

    def log_normaliser(self, concentration: tuple[np.ndarray, np.ndarray]) -> float:
        from scipy.special import betaln

        a, b = concentration
        return float(-np.sum(betaln(a, b)))

    def weights(self, concentration: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        a, b = concentration
        total = a + b
        weights = a / total * np.hstack((1.0, np.cumprod(b / total)[:-1]))
        return weights / np.sum(weights)

    def masses(self, concentration: tuple[np.ndarray, np.ndarray], prior: float) -> np.ndarray:
        return concentration[0] - 1.0

    def concentration_shape(self, n_components: int) -> tuple[int, ...]:
        return (2, n_components)

    def as_concentration(self, array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return array[0], array[1]


WEIGHT_PRIORS: dict[str, WeightPrior] = {
    p.name: p for p in (DirichletProcess(), DirichletDistribution())
}
"""The weight priors by the names ``weight_concentration_prior_type`` accepts."""


# -- state ---------------------------------------------------------------------------------
class Prior(NamedTuple):
    """The prior's hyperparameters, resolved (scikit-learn's ``*_prior_`` attributes).

    Attributes
    ----------
    weight_concentration : float
        γ > 0, the weights' concentration.
    mean_precision : float
        β_0 > 0, the precision of the means' prior relative to Λ_k.
    mean : ndarray of shape (d,)
        m_0, the means' prior location.
    degrees_of_freedom : float
        ν_0 > d - 1.
    covariance : float or ndarray
        Ψ_0, the Wishart's scale: (d, d) for the matrix forms, (d,) for 'diagonal',
        a float for 'spherical', as scikit-learn's ``covariance_prior_``.
    """

    weight_concentration: float
    mean_precision: float
    mean: np.ndarray
    degrees_of_freedom: float
    covariance: Any


class Posterior(NamedTuple):
    """The variational posterior (scikit-learn's fitted attributes of the same names).

    Attributes
    ----------
    weight_concentration : ndarray of shape (K,) or pair of them
        See :class:`WeightPrior`.
    mean_precision : ndarray of shape (K,)
        β_k.
    means : ndarray of shape (K, d)
        m_k, the posterior means of the means.
    degrees_of_freedom : ndarray of shape (K,), or float for a shared covariance
        ν_k.
    covariances : ndarray of shape ``form.shape(K, d)``
        E[Λ_k]^-1 (the Wishart scale divided by ν_k).
    precisions_cholesky : ndarray, same shape
        The canonical factors of E[Λ_k].
    """

    weight_concentration: Any
    mean_precision: np.ndarray
    means: np.ndarray
    degrees_of_freedom: Any
    covariances: np.ndarray
    precisions_cholesky: np.ndarray


class Plan(NamedTuple):
    """The E-step of a posterior, as maximum-likelihood parameters.

    Attributes
    ----------
    params : Params
        Means and precision factors of the posterior; weights
        exp(c_k - log_shift) summing to 1, c_k the per-component constants.
    log_shift : float
        log Σ_k exp(c_k): add it to a row log-density under ``params`` to get the
        row's log Σ_k ρ_ik, which scikit-learn's ``score_samples`` returns.
    """

    params: Params
    log_shift: float


# -- the prior from data -------------------------------------------------------------------
def data_prior(
    data: Stats,
    cov: Covariance,
    n_components: int,
    *,
    weight_concentration: float | None = None,
    mean_precision: float | None = None,
    mean: np.ndarray | None = None,
    degrees_of_freedom: float | None = None,
    covariance: Any = None,
    reg_covar: float = 0.0,
) -> Prior:
    """The prior with scikit-learn's defaults for what is not given.

    Defaults: γ = 1/K, β_0 = 1, m_0 the data's mean, ν_0 = d and Ψ_0 the data's
    covariance with ddof=1 (as ``np.cov``; the weight Σw stands for the row count,
    so integer weights give the defaults of the repeated rows), reduced to the
    model's form. A default Ψ_0 so singular (all rows equal, say) that a component
    with no data would have no proper posterior gets ``reg_covar`` added to its
    variances; otherwise it is scikit-learn's.

    Parameters
    ----------
    data : Stats
        Statistics of all rows (any number of components; they are pooled).
    cov : Covariance
    n_components : int
    reg_covar : float
        Added to a singular default Ψ_0 (see above).

    Raises
    ------
    IllConditionedError
        If the default Ψ_0 stays singular (``reg_covar`` = 0).
    """
    together = pooled(data, cov.form)
    n_features = together.means.shape[1]
    weight = float(together.mass[0])
    if covariance is None:
        # np.cov's ddof=1, never inflating by more than 2 (fractional weights).
        unbiased = weight / max(weight - 1.0, weight / 2.0)
        stacked = cov.covariances_from_stats(together, 0.0) * unbiased
        if not _proper_when_empty(cov.form, stacked, reg_covar):
            stacked = cov.form.regularize(stacked, reg_covar)
            if not _proper_when_empty(cov.form, stacked, reg_covar):
                raise IllConditionedError(
                    "The data's covariance, the default covariance_prior, is singular "
                    "(constant columns or all rows equal) and reg_covar is 0. Set "
                    "reg_covar > 0 or give covariance_prior."
                )
        covariance = stacked[0] if cov.form.per_component else stacked
    return Prior(
        1.0 / n_components if weight_concentration is None else float(weight_concentration),
        1.0 if mean_precision is None else float(mean_precision),
        together.means[0].copy() if mean is None else np.asarray(mean, dtype=np.float64),
        float(n_features) if degrees_of_freedom is None else float(degrees_of_freedom),
        covariance,
    )


def data_statistics(
    expectation: Callable[[Params], Stats],
    centre: np.ndarray,
    cov: Covariance,
    *,
    reg_covar: float,
    iterate: bool,
    max_iter: int = 100,
) -> Stats:
    """Statistics of all rows as one component: the data's mean and scatter (K = 1).

    Every row's responsibility for a single component is 1, so one E-step gives
    them whatever the component. Where missing values are marginalised
    (``iterate``) the expected statistics depend on the component, so EM for one
    Gaussian runs until its log-likelihood settles: the maximum-likelihood mean and
    covariance of the observed values.

    Parameters
    ----------
    expectation : callable
        ``Params -> Stats`` over all rows.
    centre : ndarray of shape (d,)
        A point near the data (the component's starting mean; the statistics are
        taken about it and moved exactly).
    cov : Covariance
    reg_covar : float
        For the M-steps of ``iterate``.
    iterate : bool
    max_iter : int
    """
    form = cov.form
    unit = form.regularize(np.zeros(form.shape(1, centre.shape[0])), 1.0)
    params = Params(np.ones(1), centre[None], unit, form.cholesky_precisions(unit))
    stats = expectation(params)
    for _ in range(max_iter if iterate else 0):
        previous = stats.log_likelihood
        stats = expectation(em.m_step(stats, cov, reg_covar))
        if abs(stats.log_likelihood - previous) <= _SETTLED * (1.0 + abs(previous)):
            break
    return stats


def _proper_when_empty(form: DensityForm, covariance: np.ndarray, reg_covar: float) -> bool:
    """Whether a component with no data keeps a proper posterior under prior ``covariance``.

    Such a component's Wishart scale is Ψ_0 plus its tiny mass times ``reg_covar``
    (see :func:`m_step`); Ψ_0 is kept as scikit-learn computes it unless that
    scale has no precision factor.
    """
    scale = form.regularize(covariance.copy(), _TINY_MASS * reg_covar)
    try:
        form.cholesky_precisions(scale)
    except IllConditionedError:
        return False
    return True


# -- the M-step ----------------------------------------------------------------------------
def m_step(
    stats: Stats, cov: Covariance, prior: Prior, weight_prior: WeightPrior, reg_covar: float
) -> Posterior:
    """The variational posterior given the statistics of the responsibilities (pure).

    Parameters
    ----------
    stats : Stats
        Statistics of all rows under the current responsibilities.
    cov : Covariance
    prior : Prior
    weight_prior : WeightPrior
    reg_covar : float
        Added to the variances of the data's covariances, as scikit-learn adds it
        to each component's empirical covariance before the Wishart update.

    Raises
    ------
    IllConditionedError
        If a posterior covariance is not numerically positive definite.
    """
    form = cov.form
    K, d = stats.means.shape
    data = stats._replace(mass=stats.mass + _TINY_MASS)
    # β_0 pseudo-rows at m_0 (no scatter; the same for every component, so held as
    # scalars, which merge's array operators broadcast): the posterior means, β_k and
    # the between-means scatter.
    pseudo_rows = Stats(0.0, 0.0, prior.mean_precision, prior.mean, 0.0)
    located = merge(data, pseudo_rows, form)
    # ν_0 pseudo-rows of scatter Ψ_0, and reg_covar on each row's variances.
    second_shape = (K, d) if form.diagonal else (K, d, d)
    regularised = data.mass * reg_covar
    extra = np.broadcast_to(prior.covariance, second_shape) + (
        regularised[:, None] if form.diagonal else regularised[:, None, None] * np.eye(d)
    )
    dof = prior.degrees_of_freedom + data.mass
    wishart = Stats(
        data.total_weight,
        data.log_likelihood,
        dof,
        located.means,
        located.scatter + form.reduce_scatter(extra),
    )
    covariances = cov.covariances_from_stats(wishart, 0.0)
    return Posterior(
        weight_prior.posterior(data.mass, prior.weight_concentration),
        located.mass,
        located.means,
        dof if form.per_component else float(np.mean(dof)),
        covariances,
        form.cholesky_precisions(covariances),
    )


# -- the E-step's plan -----------------------------------------------------------------------
def _component_dof(posterior: Posterior) -> np.ndarray:
    """ν_k for every component, (K,) (a shared covariance's ν repeated)."""
    return np.broadcast_to(posterior.degrees_of_freedom, posterior.mean_precision.shape)


def _log_det_precision_wishart(posterior: Posterior, form: DensityForm) -> np.ndarray:
    """½ log|W_k| per component, (K,): the expected precision's factor less ν_k."""
    d = posterior.means.shape[1]
    log_det = form.log_det(posterior.precisions_cholesky, d)
    return log_det - 0.5 * d * np.log(_component_dof(posterior))


def plan(posterior: Posterior, form: DensityForm, weight_prior: WeightPrior) -> Plan:
    """The E-step of ``posterior`` as maximum-likelihood parameters (see module docstring).

    The per-component constant is
    c_k = E[log π_k] + ½ (Σ_j ψ((ν_k - j) / 2) + d log 2 - d log ν_k - d / β_k),
    scikit-learn's ``_estimate_log_weights`` plus what its ``_estimate_log_prob``
    adds to the Gaussian log-density of E[Λ_k].
    """
    from scipy.special import digamma

    d = posterior.means.shape[1]
    dof = _component_dof(posterior)
    log_lambda = d * math.log(2.0) + np.sum(digamma(0.5 * (dof - np.arange(d)[:, None])), axis=0)
    constants = weight_prior.expected_log_weights(posterior.weight_concentration) + 0.5 * (
        log_lambda - d * np.log(dof) - d / posterior.mean_precision
    )
    top = float(np.max(constants))
    log_shift = top + math.log(float(np.sum(np.exp(constants - top))))
    weights = np.exp(constants - log_shift)
    return Plan(
        Params(weights, posterior.means, posterior.covariances, posterior.precisions_cholesky),
        log_shift,
    )


# -- the lower bound -----------------------------------------------------------------------
def entropy(stats: Stats, params: Params, form: DensityForm) -> float:
    """-Σ_i w_i Σ_k r_ik log r_ik of the responsibilities ``stats`` were computed with.

    Exact from the statistics: with a_ik = log π_k + log N(x_i | μ_k, Λ_k^-1) (the
    E-step's weighted log-densities under ``params``), Σ_i w_i Σ_k r_ik a_ik is
    :func:`~.estep.complete_log_likelihood`, and Σ_k r_ik log r_ik = Σ_k r_ik a_ik
    - log p(x_i).

    Parameters
    ----------
    stats : Stats
        Statistics computed under ``params`` (with their log-likelihood).
    params : Params
    form : DensityForm
    """
    return float(stats.log_likelihood) - complete_log_likelihood(stats, params, form)


def lower_bound(
    resp_entropy: float, posterior: Posterior, form: DensityForm, weight_prior: WeightPrior
) -> float:
    """scikit-learn's variational lower bound (constants dropped), after an M-step.

    Parameters
    ----------
    resp_entropy : float
        :func:`entropy` of the responsibilities the M-step used.
    posterior : Posterior
        The M-step's result.
    form : DensityForm
    weight_prior : WeightPrior
    """
    from scipy.special import gammaln

    d = posterior.means.shape[1]
    dof = _component_dof(posterior)
    log_det = np.broadcast_to(_log_det_precision_wishart(posterior, form), dof.shape)
    log_wishart = -(
        dof * log_det
        + dof * d * 0.5 * math.log(2.0)
        + np.sum(gammaln(0.5 * (dof - np.arange(d)[:, None])), axis=0)
    )
    return float(
        resp_entropy
        - np.sum(log_wishart)
        - weight_prior.log_normaliser(posterior.weight_concentration)
        - 0.5 * d * np.sum(np.log(posterior.mean_precision))
    )


# -- validity of a stored posterior -------------------------------------------------------
def prior_problem(prior: Prior, cov: Covariance, n_features: int) -> str:
    """Why ``prior`` is not a valid prior for ``cov`` in ``n_features`` dimensions ('')."""
    scalars = (prior.weight_concentration, prior.mean_precision, prior.degrees_of_freedom)
    if not all(np.isfinite(v) and v > 0 for v in scalars):
        return "weight concentration, mean precision and degrees of freedom are not all > 0"
    if not prior.degrees_of_freedom > n_features - 1:
        return f"degrees of freedom {prior.degrees_of_freedom!r} are not > {n_features - 1}"
    mean = np.asarray(prior.mean)
    if mean.shape != (n_features,) or not np.all(np.isfinite(mean)):
        return f"mean is not {n_features} finite numbers"
    if np.any(np.abs(mean) > MAX_MAGNITUDE):
        return f"mean reaches beyond {MAX_MAGNITUDE:.0e}"
    stacked = cov.form.shape(1, n_features)
    covariance = np.asarray(prior.covariance, dtype=np.float64)
    if covariance.shape != (stacked[1:] if cov.form.per_component else stacked):
        return f"covariance has shape {covariance.shape}"
    if not np.all(np.isfinite(covariance)) or np.any(np.abs(covariance) > MAX_COVARIANCE):
        return "covariance is not finite within the engine's range"
    problem = cov.form.covariance_problem(covariance.reshape(stacked))
    return f"covariance: {problem}" if problem else ""


def posterior_problem(
    posterior: Posterior, prior: Prior, cov: Covariance, weight_prior: WeightPrior
) -> str:
    """Why ``posterior`` is not one the M-step makes from ``prior`` ('' if it is).

    Beyond shapes, ranges and a valid mixture (the registry's
    :func:`~.covariance.params_problem` on the mean weights, means, covariances and
    factors), the weights' concentration, the means' precisions and the degrees of
    freedom must all be made of the same non-negative responsibility masses N_k.
    """
    K, d = np.shape(posterior.means) if np.ndim(posterior.means) == 2 else (0, 0)
    if K == 0:
        return "means are not a (K, d) array"
    problem = prior_problem(prior, cov, d)
    if problem:
        return f"prior's {problem}"
    shape = np.shape(posterior.weight_concentration)
    if shape != weight_prior.concentration_shape(K):
        return f"weight concentration has shape {shape}, not {weight_prior.concentration_shape(K)}"
    concentration = np.asarray(posterior.weight_concentration, dtype=np.float64)
    beta = np.asarray(posterior.mean_precision, dtype=np.float64)
    dof = np.asarray(posterior.degrees_of_freedom, dtype=np.float64)
    if beta.shape != (K,) or dof.shape != ((K,) if cov.form.per_component else ()):
        return f"mean precisions of shape {beta.shape} and degrees of freedom {dof.shape}"
    for name, values in (
        ("weight concentration", concentration),
        ("mean precisions", beta),
        ("degrees of freedom", dof),
    ):
        if not np.all(np.isfinite(values)) or np.any(values <= 0):
            return f"{name} are not all finite and positive"
    if np.any(dof <= d - 1):
        return f"degrees of freedom are not all > {d - 1}"
    mass = beta - prior.mean_precision
    total = float(np.sum(np.abs(mass)))
    tolerance = 1e-9 * (1.0 + total + prior.mean_precision + prior.degrees_of_freedom)
    if np.any(mass < -tolerance):
        return "mean precisions are below the prior's"
    # ν_k = ν_0 + N_k per component; one shared covariance has ν = ν_0 + Σ_k N_k / K.
    dof_mass = mass if cov.form.per_component else np.sum(mass) / K
    weight_mass = weight_prior.masses(posterior.weight_concentration, prior.weight_concentration)
    for name, got, want in (
        ("degrees of freedom", dof - prior.degrees_of_freedom, dof_mass),
        ("weight concentration", weight_mass, mass),
    ):
        if not np.allclose(got, want, rtol=0.0, atol=tolerance):
            return f"{name} and mean precisions are not made of the same responsibility masses"
    expected = weight_prior.posterior(mass, prior.weight_concentration)
    if not np.allclose(np.asarray(expected), concentration, rtol=1e-9, atol=tolerance):
        return "weight concentration is not the posterior of its responsibility masses"
    weights = weight_prior.weights(posterior.weight_concentration)
    params = Params(weights, posterior.means, posterior.covariances, posterior.precisions_cholesky)
    return params_problem(params, cov)


# -- the loop ------------------------------------------------------------------------------
class VariationalResult(NamedTuple):
    """Outcome of one coordinate-ascent run.

    Attributes
    ----------
    posterior : Posterior
        After the last M-step.
    lower_bounds : list of float
        The bound after each iteration's M-step.
    n_iter : int
    converged : bool
    """

    posterior: Posterior
    lower_bounds: list[float]
    n_iter: int
    converged: bool

    @property
    def lower_bound(self) -> float:
        """The last recorded lower bound (-inf when no iteration ran)."""
        return self.lower_bounds[-1] if self.lower_bounds else -np.inf


def run_variational(
    expectation: Callable[[Params], Stats],
    posterior: Posterior,
    cov: Covariance,
    prior: Prior,
    weight_prior: WeightPrior,
    *,
    reg_covar: float,
    tol: float,
    max_iter: int,
    start_lower_bound: float = -np.inf,
    on_iteration: Callable[[int, float, float], None] | None = None,
) -> VariationalResult:
    """Alternate E- and M-steps from ``posterior`` until the bound changes by < ``tol``.

    As scikit-learn: each iteration takes the statistics under the current
    posterior's plan, the M-step, then the bound; it stops when the bound changes
    by less than ``tol`` (an absolute change of the total bound) or after
    ``max_iter`` iterations.

    Parameters
    ----------
    expectation : callable
        ``Params -> Stats`` over all rows (the maximum-likelihood E-step).
    posterior : Posterior
        Starting posterior (the M-step of the initial responsibilities).
    cov, prior, weight_prior
    reg_covar, tol : float
    max_iter : int
    start_lower_bound : float
        The bound before the first iteration (a warm start passes its last one).
    on_iteration : callable, optional
        Called as ``on_iteration(n_iter, lower_bound, change)`` after each iteration.
    """
    bounds: list[float] = []
    bound = start_lower_bound
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        params = plan(posterior, cov.form, weight_prior).params
        stats = expectation(params)
        posterior = m_step(stats, cov, prior, weight_prior, reg_covar)
        new_bound = lower_bound(
            entropy(stats, params, cov.form), posterior, cov.form, weight_prior
        )
        change = new_bound - bound
        bound = new_bound
        bounds.append(new_bound)
        if on_iteration is not None:
            on_iteration(n_iter, new_bound, change)
        if abs(change) < tol:
            converged = True
            break
    return VariationalResult(posterior, bounds, n_iter, converged)


# -- streaming -----------------------------------------------------------------------------
class Stream(NamedTuple):
    """The state of stochastic variational inference between batches.

    Attributes
    ----------
    running : Stats
        Running statistics per unit of row weight (``total_weight`` 1).
    n_batches : int
        Batches taken so far.
    seen_weight : float
        Row weight of every batch so far: the data's size the posterior assumes.
    """

    running: Stats
    n_batches: int
    seen_weight: float


def stochastic_step(
    stream: Stream | None,
    batch: Stats,
    cov: Covariance,
    prior: Prior,
    weight_prior: WeightPrior,
    *,
    reg_covar: float,
    decay: float,
    offset: float,
) -> tuple[Stream, Posterior]:
    """One natural-gradient step on the global parameters (see the module docstring).

    Parameters
    ----------
    stream : Stream or None
        The state after the previous batches; None before the first, whose
        statistics then replace the running ones.
    batch : Stats
        The batch's statistics under the current posterior's plan.
    cov, prior, weight_prior
    reg_covar : float
    decay, offset : float
        κ in (0.5, 1] and t_0 >= 0 of the step size ρ_t = (t + t_0)^-κ.

    Returns
    -------
    stream : Stream
    posterior : Posterior
    """
    t = 0 if stream is None else stream.n_batches
    previous = None if stream is None else stream.running
    running = stepwise_update(previous, batch, step_size(t, decay, offset), cov.form)
    seen = float(batch.total_weight) + (0.0 if stream is None else stream.seen_weight)
    posterior = m_step(scaled(running, seen), cov, prior, weight_prior, reg_covar)
    return Stream(running, t + 1, seen), posterior
