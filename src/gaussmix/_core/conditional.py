"""Conditional Gaussians: each component's law of the unobserved coordinates given the rest.

For a row that observes coordinates ``o`` (and not ``m``), component k of a mixture
gives the marginal density N(x_o | μ_o, Σ_oo) and the conditional law

    E[x_m | x_o, k]    = μ_m + Σ_mo Σ_oo⁻¹ (x_o − μ_o)
    Cov[x_m | x_o, k]  = Σ_mm − Σ_mo Σ_oo⁻¹ Σ_om

(which does not depend on x_o), and the mixture's conditional is the mixture of
these with weights p(k | x_o), the responsibilities of the observed part. This is
the one implementation of that algebra: the missing-value E-step and ``impute``
(:mod:`.missing`), ``GaussianMixture.condition`` and the regressor all use it.

Rows may observe different coordinates: they come with an observed mask each
(diagonal forms, where nothing needs factoring) or a pattern index into a few masks
(matrix forms, where each pattern's Σ_oo is factored once per component). Every
result is embedded in the full d coordinates: conditional means are x with x_m
filled in, conditional covariances are zero on observed coordinates.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .covariance import DensityForm, IllConditionedError, Params
from .estep import normalise
from .noise import Noise

__all__ = [
    "Conditional",
    "component_covariances",
    "condition_nothing",
    "condition_rows",
    "draw",
]

_LOG_2PI = np.log(2.0 * np.pi)
_MAX_MAHALANOBIS = 1e300  # a density of exp(-5e299) is 0 already; beyond, sums could overflow
_LARGEST = 1e300  # conditional covariances beyond it are overflow from rounding noise
_LARGEST_MEAN = 1e150  # conditional means beyond it (data stop at 1e140) likewise


class Conditional(NamedTuple):
    """Every component's conditional law of a block of rows, and their weights.

    Attributes
    ----------
    log_norm : ndarray of shape (n,)
        log p(x_o) of each row under the mixture.
    log_resp : ndarray of shape (n, K)
        log p(k | x_o): the conditional mixture's log-weights.
    xhat : ndarray of shape (K, n, d)
        x with x_m replaced by E[x_m | x_o, k].
    cond : ndarray
        Cov[x_m | x_o, k] embedded in (d, d) with zeros on observed coordinates:
        for matrix forms one matrix per component and pattern, (K, G, d, d), row i
        using pattern ``group[i]``; for diagonal forms its diagonal per row,
        (K, n, d), and ``group`` is None.
    group : ndarray of shape (n,) or None
    """

    log_norm: np.ndarray
    log_resp: np.ndarray
    xhat: np.ndarray
    cond: np.ndarray
    group: np.ndarray | None


def _log_weights(weights: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):  # a weight of 0 (a dropped component) gives -inf
        return np.log(weights)


def _noise(params: Params, observed: np.ndarray) -> np.ndarray | None:
    """The noise's weighted log-density of rows observing ``observed`` (n, d), or None."""
    return None if params.noise is None else params.noise.marginal_log_density(observed)


def component_covariances(params: Params, form: DensityForm) -> np.ndarray:
    """What :func:`condition_rows` needs of the covariances, computed once per parameter set.

    Returns
    -------
    ndarray
        Per-feature variances (K, d) for diagonal forms, dense matrices (K, d, d)
        otherwise.
    """
    K, d = params.means.shape
    if form.diagonal:
        return np.broadcast_to(form.variances(params.covariances, d), (K, d))
    return form.dense(params.covariances, K, d)


def condition_rows(
    X: np.ndarray,
    observed: np.ndarray,
    params: Params,
    form: DensityForm,
    covariances: np.ndarray,
    group: np.ndarray | None = None,
) -> Conditional:
    """Condition a block of rows on their observed coordinates, under every component.

    Parameters
    ----------
    X : ndarray of shape (n, d), float64
        Values on unobserved coordinates are ignored (they may be NaN).
    observed : ndarray of bool
        Diagonal forms: the observed mask of each row, (n, d) (or one mask, (d,)).
        Matrix forms: a few masks, (G, d), row i observing ``observed[group[i]]``.
    params : Params
    form : DensityForm
    covariances : ndarray
        :func:`component_covariances` of ``params``.
    group : ndarray of shape (n,), int, optional
        Matrix forms: each row's pattern (all zeros, a single pattern, if omitted).
    """
    if form.diagonal:
        return _condition_diagonal(X, np.broadcast_to(observed, X.shape), params, covariances)
    if group is None:
        group = np.zeros(X.shape[0], dtype=np.intp)
    masks = np.atleast_2d(observed)
    return _condition_dense(X, group, masks, params, covariances, shared=not form.per_component)


def condition_nothing(n: int, params: Params, form: DensityForm) -> Conditional:
    """Rows that observe nothing: posterior = prior, x̂ = μ_k, C = Σ_k."""
    K, d = params.means.shape
    log_weights = np.repeat(_log_weights(params.weights)[:, None], n, axis=1)
    log_norm, log_resp = normalise(log_weights, noise=_noise(params, np.zeros((n, d), dtype=bool)))
    log_resp = log_resp.T
    xhat = np.broadcast_to(params.means[:, None, :], (K, n, d)).copy()
    if not form.diagonal:
        cond = form.dense(params.covariances, K, d)[:, None]
        return Conditional(log_norm, log_resp, xhat, cond, np.zeros(n, dtype=np.intp))
    var = form.variances(params.covariances, d)
    cond = np.broadcast_to(var[:, None, :], (K, n, d)).copy()
    return Conditional(log_norm, log_resp, xhat, cond, None)


def _cholesky_observed(sigma: np.ndarray, both_obs: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """Batched Cholesky factors of each pattern's Σ_oo (identity on missing coordinates).

    Each observed variance gets a relative jitter of 1e-13 (far below any
    statistical error): a covariance that passed the M-step's Cholesky can still be
    numerically singular when reg_covar is negligible at the data's scale, and the
    jitter keeps Σ_mo Σ_oo⁻¹ Σ_om within Σ_mm instead of rounding noise blown up
    to overflow. Should a sub-block still fail, the jitter grows (1e-10, then
    1e-7) so the fit goes on and EM can repair the component; beyond, a clear error.
    """
    masked = sigma * both_obs
    variances = np.diagonal(sigma, axis1=-2, axis2=-1) * np.diagonal(both_obs, axis1=1, axis2=2)
    eye = np.eye(sigma.shape[-1])
    for jitter in (1e-13, 1e-10, 1e-7):
        try:
            return np.linalg.cholesky(masked + fill + jitter * variances[:, :, None] * eye)
        except np.linalg.LinAlgError:
            continue
    raise IllConditionedError(
        "A covariance is numerically singular on a subset of the features; increase reg_covar."
    )


def _squared_norms(z: np.ndarray, scale: np.ndarray | None = None) -> np.ndarray:
    """Σ_j z_ij² (or Σ_j z_ij² scale_j), saturated at ``_MAX_MAHALANOBIS`` instead of inf.

    A row so far from a component that its squared distance leaves float range has
    zero density there either way; saturating keeps its log-likelihood finite, so a
    row far from every component gets finite, well-defined responsibilities.
    """
    with np.errstate(over="ignore"):
        squares = z * z
        total = squares.sum(axis=1) if scale is None else squares @ scale
    return np.minimum(total, _MAX_MAHALANOBIS)


def _condition_dense(
    X: np.ndarray,
    group: np.ndarray,
    masks: np.ndarray,
    params: Params,
    covariances: np.ndarray,
    shared: bool,
) -> Conditional:
    """Covariance matrices ``covariances`` (K, d, d); row i observes ``masks[group[i]]``.

    With ``shared`` (one covariance for every component) each pattern is factored once.

    Each pattern's Σ_oo = L Lᵀ is factored by a batched Cholesky of Σ with its
    missing rows and columns replaced by the identity's (same factor on the observed
    block, log-determinant and solves unchanged), so any number of patterns costs no
    Python loop. With z = L⁻¹(x_o − μ_o) and B = L⁻¹Σ_om, the conditional mean is
    μ_m + Bᵀz and the conditional covariance Σ_mm − BᵀB: both stay within the data's
    scale even when Σ_oo is nearly singular (Σ_mo Σ_oo⁻¹ on its own would not).
    """
    n, d = X.shape
    K = params.means.shape[0]
    obs = masks.astype(np.float64)  # (G, d)
    mis = 1.0 - obs
    both_obs = obs[:, :, None] * obs[:, None, :]
    both_mis = mis[:, :, None] * mis[:, None, :]
    observed = masks[group]  # (n, d)
    n_obs = observed.sum(axis=1)
    eye = np.eye(d)
    wlp = np.empty((n, K))
    xhat = np.empty((K, n, d))
    cond = np.empty((K, masks.shape[0], d, d))
    factor: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
    for k in range(K):
        mu = params.means[k]
        if factor is None or not shared:
            sigma = covariances[k]
            chol = _cholesky_observed(sigma, both_obs, eye * mis[:, None, :])
            chol_inv = np.linalg.inv(chol)  # (G, d, d), lower triangular
            log_det = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
            with np.errstate(over="ignore", invalid="ignore"):
                gain = np.matmul(chol_inv, obs[:, :, None] * sigma * mis[:, None, :])  # L⁻¹Σ_om
                schur = both_mis * (sigma - np.matmul(gain.transpose(0, 2, 1), gain))
            # A covariance whose cross terms are rounding noise (variances more than
            # 1/eps apart, reg_covar negligible) can blow these up: such a pattern
            # falls back to the unconditional mean and covariance of x_m.
            broken = ~(np.abs(schur) <= _LARGEST).all(axis=(1, 2))
            gain[broken], schur[broken] = 0.0, both_mis[broken] * sigma
            factor = (chol_inv, gain, log_det, schur)
        chol_inv, gain, log_det, schur = factor
        diff = np.where(observed, X - mu, 0.0)
        z = np.einsum("nij,nj->ni", chol_inv[group], diff)
        wlp[:, k] = -0.5 * (n_obs * _LOG_2PI + log_det[group] + _squared_norms(z))
        plain = np.where(observed, X, mu)
        with np.errstate(over="ignore", invalid="ignore"):
            filled = plain + np.einsum("nji,nj->ni", gain[group], z)
        # (the same fallback for rows so far out that their conditional mean overflows)
        xhat[k] = np.where((np.abs(filled) <= _LARGEST_MEAN).all(axis=1)[:, None], filled, plain)
        cond[k] = schur
    log_norm, log_resp = normalise(
        (wlp + _log_weights(params.weights)).T, noise=_noise(params, masks[group])
    )
    log_resp = log_resp.T
    return Conditional(log_norm, log_resp, xhat, cond, group)


def _condition_diagonal(
    X: np.ndarray, observed: np.ndarray, params: Params, var: np.ndarray
) -> Conditional:
    """Diagonal covariances, variances ``var`` (K, d); ``observed`` (n, d) may differ by row."""
    n, d = X.shape
    K = params.means.shape[0]
    x0 = np.where(observed, X, 0.0)
    obs = observed.astype(np.float64)
    wlp = np.empty((n, K))
    xhat = np.empty((K, n, d))
    cond = np.empty((K, n, d))
    n_obs = obs.sum(axis=1)
    for k in range(K):
        diff = (x0 - params.means[k]) * obs
        maha = _squared_norms(diff, 1.0 / var[k])
        wlp[:, k] = -0.5 * (n_obs * _LOG_2PI + obs @ np.log(var[k]) + maha)
        xhat[k] = np.where(observed, X, params.means[k])
        cond[k] = (1.0 - obs) * var[k]
    log_norm, log_resp = normalise(
        (wlp + _log_weights(params.weights)).T, noise=_noise(params, observed)
    )
    log_resp = log_resp.T
    return Conditional(log_norm, log_resp, xhat, cond, None)


def draw(
    block: Conditional, rng: np.random.RandomState, noise_component: Noise | None = None
) -> np.ndarray:
    """One draw of each row from its conditional mixture, shape (n, d) (x_o kept).

    A component is drawn from the row's responsibilities, then x_m from that
    component's conditional Gaussian. With a noise component, a row whose draw
    falls past the Gaussians' responsibilities is drawn uniformly from its box
    (the caller keeps x_o).
    """
    resp = np.exp(block.log_resp)
    n = resp.shape[0]
    u = np.asarray(rng.uniform(size=n))
    cumulative = resp.cumsum(axis=1)
    labels = np.minimum((cumulative < u[:, None]).sum(axis=1), resp.shape[1] - 1)
    mean: np.ndarray = block.xhat[labels, np.arange(n)]
    noise = rng.standard_normal(size=mean.shape)
    if block.group is not None:
        # A PSD square root of each conditional covariance (zero on x_o).
        vals, vecs = np.linalg.eigh(block.cond[labels, block.group])
        roots = vecs * np.sqrt(np.clip(vals, 0.0, None))[:, None, :]
        draws = mean + np.einsum("nij,nj->ni", roots, noise)
    else:
        draws = mean + np.sqrt(block.cond[labels, np.arange(n)]) * noise
    if noise_component is not None:
        in_noise = np.flatnonzero(cumulative[:, -1] < u)
        draws[in_noise] = noise_component.sample(rng, in_noise.size)
    return draws
