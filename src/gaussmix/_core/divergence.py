"""Divergences between Gaussians, and their deterministic approximations for mixtures.

Between two Gaussians f = N(μ_f, Σ_f) and g = N(μ_g, Σ_g) in d dimensions:

    KL(f ‖ g)       = ½ [tr(Σ_g⁻¹ Σ_f) + (μ_g − μ_f)ᵀ Σ_g⁻¹ (μ_g − μ_f) − d + ln|Σ_g| − ln|Σ_f|]
    ln ∫ f g        = ln N(μ_f; μ_g, Σ_f + Σ_g)
    D_B(f, g)       = ⅛ δᵀ Σ⁻¹ δ + ½ ln(|Σ| / sqrt(|Σ_f| |Σ_g|)),  Σ = (Σ_f + Σ_g)/2, δ = μ_f − μ_g
    H(f)            = ½ ln|2πe Σ_f|

all computed from Cholesky factors (no inverse, no determinant). Between
mixtures f = Σ_a π_a f_a and g = Σ_b ω_b g_b there is no closed form; the
deterministic approximations of Hershey & Olsen (2007), "Approximating the
Kullback Leibler divergence between Gaussian mixture models", are built from the
matrices of these pairwise quantities (a few K × K matrices, no sampling), and the
bounds come from two bounds on the cross-entropy term E_f[ln g]:

    Σ_a π_a ln Σ_b ω_b e^{−KL(f_a ‖ g_b)} − Σ_a π_a H(f_a)  ≤  E_f[ln g]
    E_f[ln g]  ≤  Σ_a π_a ln Σ_b ω_b ∫ f_a g_b

(the left by Jensen with optimal variational weights, the right by Jensen on ln;
Durrieu, Thiran & Kelly 2012). With g = f they bound the entropy. Everything is
in log space, so far-apart components underflow to nothing instead of NaN.

Components of zero weight must be dropped by the caller (they are no part of the
distribution, and would put 0 · ln 0 into the sums).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import logsumexp

__all__ = [
    "Gaussians",
    "bhattacharyya_bounds",
    "component_entropy",
    "entropy_bounds",
    "gaussians",
    "kl_gaussian",
    "kl_lower",
    "kl_matched",
    "kl_product",
    "kl_upper",
    "kl_variational",
    "pairwise_bhattacharyya",
    "pairwise_kl",
    "pairwise_log_overlap",
]

_LOG_2PI = float(np.log(2.0 * np.pi))


class Gaussians(NamedTuple):
    """A mixture as dense arrays (float64).

    Attributes
    ----------
    weights : ndarray of shape (K,), all positive, summing to 1
    means : ndarray of shape (K, d)
    covariances : ndarray of shape (K, d, d)
    chol : ndarray of shape (K, d, d)
        Lower Cholesky factors of the covariances.
    log_det : ndarray of shape (K,)
        ln |Σ_k|.
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    chol: np.ndarray
    log_det: np.ndarray


def gaussians(weights: np.ndarray, means: np.ndarray, covariances: np.ndarray) -> Gaussians:
    """A :class:`Gaussians` from weights (K,), means (K, d) and dense covariances (K, d, d)."""
    chol = np.linalg.cholesky(covariances)
    log_det = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
    return Gaussians(weights, means, covariances, chol, log_det)


def pairwise_kl(f: Gaussians, g: Gaussians) -> np.ndarray:
    """KL(f_a ‖ g_b) for every pair of components, shape (A, B)."""
    d = f.means.shape[1]
    # tr(Σ_b⁻¹ Σ_a) = ‖L_b⁻¹ L_a‖²_F and the Mahalanobis term ‖L_b⁻¹ (μ_a − μ_b)‖².
    spread = np.linalg.solve(g.chol[None], f.chol[:, None])  # (A, B, d, d)
    trace = np.einsum("abij,abij->ab", spread, spread)
    delta = f.means[:, None, :] - g.means[None, :, :]  # (A, B, d)
    z = np.linalg.solve(g.chol[None], delta[..., None])
    maha = np.einsum("abi,abi->ab", z[..., 0], z[..., 0])
    kl = 0.5 * (trace + maha - d + g.log_det[None, :] - f.log_det[:, None])
    return np.maximum(kl, 0.0)  # exactly 0 between equal components, never a rounding −1e-16


def pairwise_log_overlap(f: Gaussians, g: Gaussians) -> np.ndarray:
    """ln ∫ f_a g_b = ln N(μ_a; μ_b, Σ_a + Σ_b) for every pair, shape (A, B)."""
    d = f.means.shape[1]
    total = f.covariances[:, None] + g.covariances[None, :]  # (A, B, d, d)
    chol = np.linalg.cholesky(total)
    delta = f.means[:, None, :] - g.means[None, :, :]
    z = np.linalg.solve(chol, delta[..., None])[..., 0]
    log_det = 2.0 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(axis=-1)
    return -0.5 * (d * _LOG_2PI + log_det + np.einsum("abi,abi->ab", z, z))


def pairwise_bhattacharyya(f: Gaussians, g: Gaussians) -> np.ndarray:
    """Bhattacharyya distance D_B(f_a, g_b) for every pair, shape (A, B)."""
    mid = 0.5 * (f.covariances[:, None] + g.covariances[None, :])
    chol = np.linalg.cholesky(mid)
    delta = f.means[:, None, :] - g.means[None, :, :]
    z = np.linalg.solve(chol, delta[..., None])[..., 0]
    log_det = 2.0 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(axis=-1)
    spread = log_det - 0.5 * (f.log_det[:, None] + g.log_det[None, :])
    return np.maximum(0.125 * np.einsum("abi,abi->ab", z, z) + 0.5 * spread, 0.0)


def component_entropy(f: Gaussians) -> np.ndarray:
    """Differential entropy H(f_a) = ½ ln|2πe Σ_a| of each component, shape (A,)."""
    d = f.means.shape[1]
    return 0.5 * (d * (1.0 + _LOG_2PI) + f.log_det)


def _cross_lower(f: Gaussians, g: Gaussians, kl: np.ndarray) -> float:
    """The variational lower bound on E_f[ln g], given ``kl`` = pairwise_kl(f, g)."""
    inner = logsumexp(np.log(g.weights)[None, :] - kl, axis=1)
    return float(f.weights @ (inner - component_entropy(f)))


def _cross_upper(f: Gaussians, g: Gaussians) -> float:
    """The product-of-Gaussians (Jensen) upper bound on E_f[ln g]."""
    inner = logsumexp(np.log(g.weights)[None, :] + pairwise_log_overlap(f, g), axis=1)
    return float(f.weights @ inner)


def kl_variational(f: Gaussians, g: Gaussians) -> float:
    """Hershey & Olsen's variational approximation D_var(f ‖ g) (exact for single Gaussians).

    D_var = Σ_a π_a ln(Σ_a' π_a' e^{−KL(f_a ‖ f_a')} / Σ_b ω_b e^{−KL(f_a ‖ g_b)}):
    the difference of the two variational lower bounds on E_f[ln f] and E_f[ln g].
    """
    own = logsumexp(np.log(f.weights)[None, :] - pairwise_kl(f, f), axis=1)
    cross = logsumexp(np.log(g.weights)[None, :] - pairwise_kl(f, g), axis=1)
    return float(f.weights @ (own - cross))


def kl_product(f: Gaussians, g: Gaussians) -> float:
    """Hershey & Olsen's product-of-Gaussians approximation D_prod(f ‖ g).

    D_prod = Σ_a π_a ln(Σ_a' π_a' ∫ f_a f_a' / Σ_b ω_b ∫ f_a g_b): the difference
    of the two Jensen upper bounds. Not exact even for single Gaussians.
    """
    return _cross_upper(f, f) - _cross_upper(f, g)


def kl_matched(f: Gaussians, g: Gaussians) -> float:
    """Goldberger's matched bound approximation D_match(f ‖ g), as in Hershey & Olsen.

    Each f_a is matched to m(a) = argmin_b KL(f_a ‖ g_b) − ln ω_b, and
    D_match = Σ_a π_a (KL(f_a ‖ g_m(a)) + ln(π_a / ω_m(a))).
    """
    score = pairwise_kl(f, g) - np.log(g.weights)[None, :]
    match = score.argmin(axis=1)
    rows = np.arange(score.shape[0])
    return float(f.weights @ (score[rows, match] + np.log(f.weights)))


def kl_gaussian(f: Gaussians, g: Gaussians) -> float:
    """KL between the moment-matched single Gaussians of f and g (exact for single Gaussians)."""
    return float(pairwise_kl(_moment_matched(f), _moment_matched(g))[0, 0])


def _moment_matched(f: Gaussians) -> Gaussians:
    mean = f.weights @ f.means
    delta = f.means - mean
    cov = np.einsum("a,aij->ij", f.weights, f.covariances) + (f.weights[:, None] * delta).T @ delta
    return gaussians(np.ones(1), mean[None], cov[None])


def kl_upper(f: Gaussians, g: Gaussians, *, max_iter: int = 1000, tol: float = 1e-12) -> float:
    """Hershey & Olsen's variational upper bound D_vub(f ‖ g) ≥ KL(f ‖ g).

    For joint weights φ_ab (Σ_b φ_ab = π_a) and ψ_ab (Σ_a ψ_ab = ω_b),
    KL(f ‖ g) ≤ Σ_ab φ_ab (ln(φ_ab / ψ_ab) + KL(f_a ‖ g_b)) (the log-sum inequality);
    alternating the closed-form minimisers over φ and ψ lowers the bound
    monotonically. Every iterate is a valid bound; iteration stops when it moves
    by less than ``tol`` (relative) or after ``max_iter`` rounds. The result is
    also capped by the other cheap upper bound, the Jensen bound on E_f[ln f]
    minus the variational one on E_f[ln g].
    """
    kl = pairwise_kl(f, g)
    log_pi = np.log(f.weights)[:, None]
    log_omega = np.log(g.weights)[None, :]
    log_psi = log_pi + log_omega
    bound = np.inf
    for _ in range(max_iter):
        log_phi = log_pi + log_psi - kl
        log_phi -= logsumexp(log_psi - kl, axis=1, keepdims=True)
        log_psi = log_omega + log_phi - logsumexp(log_phi, axis=0, keepdims=True)
        phi = np.exp(log_phi)
        new = float(np.sum(phi * (log_phi - log_psi + kl)))
        done = abs(bound - new) <= tol * max(1.0, abs(new))
        bound = min(bound, new)
        if done:
            break
    jensen = _cross_upper(f, f) - _cross_lower(f, g, kl)
    return max(0.0, min(bound, jensen))


def kl_lower(f: Gaussians, g: Gaussians) -> float:
    """A lower bound on KL(f ‖ g): the variational bound on E_f[ln f] minus the Jensen one on
    E_f[ln g] (Durrieu, Thiran & Kelly 2012), and never below 0."""
    lower = _cross_lower(f, f, pairwise_kl(f, f)) - _cross_upper(f, g)
    return max(0.0, lower)


def entropy_bounds(f: Gaussians) -> tuple[float, float]:
    """Lower and upper bounds on the mixture's entropy H(f) = −E_f[ln f].

    Lower: −Σ_a π_a ln Σ_b π_b ∫ f_a f_b (Jensen; Huber et al. 2008). Upper:
    Σ_a π_a (H(f_a) − ln Σ_b π_b e^{−KL(f_a ‖ f_b)}), the variational bound, which is
    at most the classic Σ_a π_a (H(f_a) − ln π_a). The upper one is exact for one
    Gaussian; the lower one is then its Rényi entropy of order 2.
    """
    lower = -_cross_upper(f, f)
    upper = -_cross_lower(f, f, pairwise_kl(f, f))
    return lower, max(lower, upper)


def bhattacharyya_bounds(f: Gaussians, g: Gaussians) -> tuple[float, float]:
    """Lower and upper bounds on the Bhattacharyya coefficient BC(f, g) = ∫ sqrt(f g).

    With c_ab = π_a ω_b BC(f_a, g_b)²: sqrt of a sum is at most the sum of the
    square roots, so BC ≤ Σ_ab sqrt(c_ab); by Jensen with the best weights on the
    pairs, BC ≥ sqrt(Σ_ab c_ab). Both are exact for single Gaussians; the upper
    one is also capped at 1.
    """
    log_c = (
        np.log(f.weights)[:, None]
        + np.log(g.weights)[None, :]
        - 2.0 * pairwise_bhattacharyya(f, g)
    )
    lower = float(np.exp(0.5 * logsumexp(log_c)))
    upper = float(np.exp(logsumexp(0.5 * log_c)))
    return min(lower, 1.0), min(max(upper, lower), 1.0)
