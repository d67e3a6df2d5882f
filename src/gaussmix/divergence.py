"""Divergences, distances and entropy of fitted Gaussian mixtures.

Each function takes fitted mixtures — :class:`gaussmix.GaussianMixture` (any
covariance type), a marginal or a restored model, or anything with scikit-learn's
fitted mixture attributes (``weights_``, ``means_``, ``covariances_``,
``covariance_type``, for example :class:`sklearn.mixture.GaussianMixture`) — and a
``method``:

- ``'closed'``: the exact closed form; only between single Gaussians (mixtures of
  one component of non-zero weight).
- ``'monte_carlo'``: an unbiased estimate from ``n_samples`` draws seeded by
  ``random_state``; ``return_std=True`` also returns its standard error.
- deterministic approximations and bounds for mixtures, built from the closed forms
  between components (see :mod:`gaussmix._core.divergence`): no sampling, a few
  K × K matrices, the same answer every time.
- ``'auto'`` (the default): ``'closed'`` between single Gaussians, else
  ``'monte_carlo'``.

All values are in nats (natural logarithms) and computed in float64.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._core import divergence as core
from ._core.covariance import DensityForm, get_covariance
from ._validation import check_choice, check_no_noise, check_number

__all__ = ["bhattacharyya_distance", "entropy", "hellinger_distance", "kl_divergence"]

KL_METHODS = (
    "auto",
    "closed",
    "monte_carlo",
    "variational",
    "product",
    "matched",
    "gaussian",
    "upper",
    "lower",
)
ENTROPY_METHODS = ("auto", "closed", "monte_carlo", "lower", "upper")
DISTANCE_METHODS = ("auto", "closed", "monte_carlo", "lower", "upper")

_CHUNK = 2**15  # rows per block of Monte Carlo densities: bounds the (rows, K) temporaries


class _Mixture(NamedTuple):
    """A fitted mixture as the registry stores it (for sampling and densities) and dense."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray
    form: DensityForm
    dense: core.Gaussians  # components of non-zero weight only


def _mixture(model: Any, name: str) -> _Mixture:
    """Read a fitted mixture's parameters, or raise a clear error."""
    needed = ("weights_", "means_", "covariances_", "covariance_type")
    if not all(hasattr(model, attr) for attr in needed[-1:]):
        raise TypeError(
            f"{name} must be a fitted Gaussian mixture (for example gaussmix.GaussianMixture); "
            f"got {type(model).__name__}."
        )
    check_is_fitted(model, needed[:-1])
    check_no_noise(model, "A divergence")
    form = get_covariance(model.covariance_type).form
    weights = np.asarray(model.weights_, dtype=np.float64)
    means = np.asarray(model.means_, dtype=np.float64)
    covariances = np.asarray(model.covariances_, dtype=np.float64)
    K, d = means.shape
    # Recomputed rather than read: scikit-learn's factors from precisions_init differ.
    prec_chol = form.cholesky_precisions(covariances)
    keep = weights > 0
    dense = core.gaussians(
        weights[keep] / weights[keep].sum(), means[keep], form.dense(covariances, K, d)[keep]
    )
    return _Mixture(weights, means, covariances, prec_chol, form, dense)


def _pair(p: Any, q: Any) -> tuple[_Mixture, _Mixture]:
    f, g = _mixture(p, "p"), _mixture(q, "q")
    if f.means.shape[1] != g.means.shape[1]:
        raise ValueError(
            f"p and q must be mixtures over the same features; p has {f.means.shape[1]} "
            f"and q has {g.means.shape[1]}."
        )
    return f, g


def _is_gaussian(*mixtures: _Mixture) -> bool:
    return all(m.dense.weights.shape[0] == 1 for m in mixtures)


def _resolve(method: str, options: tuple[str, ...], mixtures: tuple[_Mixture, ...]) -> str:
    check_choice("method", method, options)
    if method == "auto":
        return "closed" if _is_gaussian(*mixtures) else "monte_carlo"
    if method == "closed" and not _is_gaussian(*mixtures):
        raise ValueError(
            "method='closed' is exact only between single Gaussians, but a mixture has "
            "several components of non-zero weight. Use method='monte_carlo' (an estimate "
            "with a standard error) or one of the deterministic approximations."
        )
    return method


def _check_sampling(n_samples: Any) -> None:
    check_number("n_samples", n_samples, integer=True, low=2)


def _result(value: float, std: float | None, return_std: bool, method: str) -> Any:
    if not return_std:
        return value
    if std is None:
        raise ValueError(
            f"method={method!r} is a deterministic approximation without a standard error; "
            "return_std=True needs method='monte_carlo' (or 'closed', whose error is 0)."
        )
    return value, std


# -- Monte Carlo ---------------------------------------------------------------------
def _sample(m: _Mixture, n: int, rng: np.random.RandomState) -> np.ndarray:
    counts = rng.multinomial(n, m.weights / m.weights.sum())
    parts = [
        m.form.sample_component(rng, mean, m.covariances, k, int(count))
        for k, (mean, count) in enumerate(zip(m.means, counts, strict=True))
        if count
    ]
    return np.vstack(parts)


def _log_density(m: _Mixture, X: np.ndarray) -> np.ndarray:
    """ln p(x) of each row of X under the mixture, shape (n,)."""
    with np.errstate(divide="ignore"):  # a dropped component's weight 0 gives −inf
        log_weights = np.log(m.weights)
    out = np.empty(X.shape[0])
    for start in range(0, X.shape[0], _CHUNK):
        rows = slice(start, start + _CHUNK)
        wlp = m.form.log_prob(X[rows], m.means, m.precisions_cholesky) + log_weights
        top = wlp.max(axis=1, keepdims=True)
        out[rows] = (np.log(np.exp(wlp - top).sum(axis=1, keepdims=True)) + top)[:, 0]
    return out


def _mean_and_error(values: np.ndarray) -> tuple[float, float]:
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(values.shape[0]))


def _bhattacharyya_coefficient(
    f: _Mixture, g: _Mixture, n_samples: int, random_state: Any
) -> tuple[float, float]:
    """BC = ∫ sqrt(f g) by stratified importance sampling from m = (f + g) / 2.

    The ratio sqrt(f g) / m lies in [0, 1] (the geometric mean is at most the
    arithmetic one), so the estimate has bounded variance whatever the overlap.
    Half the draws come from each of f and g.
    """
    rng = check_random_state(random_state)
    halves = (n_samples // 2, n_samples - n_samples // 2)
    means, variances = [], []
    for source, n in zip((f, g), halves, strict=True):
        X = _sample(source, n, rng)
        lf, lg = _log_density(f, X), _log_density(g, X)
        ratio = np.exp(0.5 * (lf + lg) - (np.logaddexp(lf, lg) - np.log(2.0)))
        means.append(ratio.mean())
        variances.append(ratio.var(ddof=1) / n)
    value = min(0.5 * (means[0] + means[1]), 1.0)
    return float(value), float(0.5 * np.sqrt(variances[0] + variances[1]))


def _log_coefficient(
    p: Any, q: Any, method: str, n_samples: Any, random_state: Any
) -> tuple[float, float | None]:
    """ln BC(p, q) by ``method``, and the standard error of BC (None for approximations)."""
    f, g = _pair(p, q)
    method = _resolve(method, DISTANCE_METHODS, (f, g))
    if method == "closed":
        return -float(core.pairwise_bhattacharyya(f.dense, g.dense)[0, 0]), 0.0
    if method == "monte_carlo":
        _check_sampling(n_samples)
        bc, std = _bhattacharyya_coefficient(f, g, n_samples, random_state)
        return float(np.log(bc)), std
    low_bc, high_bc = core.bhattacharyya_bounds(f.dense, g.dense)
    # (a lower bound on the distance is an upper bound on the coefficient)
    return float(np.log(high_bc if method == "lower" else low_bc)), None


# -- the public functions ------------------------------------------------------------
def kl_divergence(
    p: Any,
    q: Any,
    *,
    method: str = "auto",
    n_samples: int = 100_000,
    random_state: Any = None,
    return_std: bool = False,
) -> Any:
    """Kullback-Leibler divergence KL(p ‖ q) = E_p[ln p(x) − ln q(x)], in nats.

    Parameters
    ----------
    p, q : fitted Gaussian mixtures over the same features
    method : str, default='auto'
        'closed' (single Gaussians), 'monte_carlo' (draws from p), or one of the
        deterministic approximations of Hershey & Olsen (2007): 'variational'
        (D_var, usually the closest; exact for single Gaussians), 'product'
        (D_prod), 'matched' (D_match, Goldberger's matched bound approximation),
        'gaussian' (between the moment-matched single Gaussians); or a bound:
        'upper' (their variational upper bound D_vub, iterated to convergence;
        exact for single Gaussians) or 'lower' (Durrieu et al.'s lower bound, at
        least 0; loose, not exact even for single Gaussians). 'auto': 'closed' for
        single Gaussians, else 'monte_carlo'.
    n_samples : int, default=100_000
        Draws for 'monte_carlo'; the standard error falls as 1/sqrt(n_samples).
    random_state : int, RandomState instance or None
        Seeds the draws.
    return_std : bool, default=False
        Also return the estimate's standard error ('monte_carlo'; 0 for 'closed').

    Returns
    -------
    float, or (float, float) with ``return_std``
        The Monte Carlo estimate is unbiased and can fall slightly below 0 when p
        and q nearly agree.
    """
    f, g = _pair(p, q)
    method = _resolve(method, KL_METHODS, (f, g))
    if method == "monte_carlo":
        _check_sampling(n_samples)
        X = _sample(f, n_samples, check_random_state(random_state))
        value, std = _mean_and_error(_log_density(f, X) - _log_density(g, X))
        return _result(value, std, return_std, method)
    if method == "closed":
        return _result(float(core.pairwise_kl(f.dense, g.dense)[0, 0]), 0.0, return_std, method)
    approximations: dict[str, Callable[[core.Gaussians, core.Gaussians], float]] = {
        "variational": core.kl_variational,
        "product": core.kl_product,
        "matched": core.kl_matched,
        "gaussian": core.kl_gaussian,
        "upper": core.kl_upper,
        "lower": core.kl_lower,
    }
    return _result(approximations[method](f.dense, g.dense), None, return_std, method)


def entropy(
    p: Any,
    *,
    method: str = "auto",
    n_samples: int = 100_000,
    random_state: Any = None,
    return_std: bool = False,
) -> Any:
    """Differential entropy H(p) = −E_p[ln p(x)] of a mixture, in nats.

    Parameters
    ----------
    p : a fitted Gaussian mixture
    method : {'auto', 'closed', 'monte_carlo', 'lower', 'upper'}, default='auto'
        'closed': ½ ln|2πe Σ| (a single Gaussian); 'monte_carlo': draws from p;
        'lower': −Σ_a π_a ln Σ_b π_b ∫ p_a p_b (Huber et al. 2008); 'upper': the
        variational bound Σ_a π_a (H(p_a) − ln Σ_b π_b e^{−KL(p_a ‖ p_b)}), which is
        tighter than the classic Σ_a π_a (H(p_a) − ln π_a) and exact for a single
        Gaussian (the lower bound is then the Rényi entropy of order 2, not H).
    n_samples, random_state, return_std
        As in :func:`kl_divergence`.

    Returns
    -------
    float, or (float, float) with ``return_std``
    """
    f = _mixture(p, "p")
    method = _resolve(method, ENTROPY_METHODS, (f,))
    if method == "monte_carlo":
        _check_sampling(n_samples)
        X = _sample(f, n_samples, check_random_state(random_state))
        value, std = _mean_and_error(-_log_density(f, X))
        return _result(value, std, return_std, method)
    if method == "closed":
        return _result(float(core.component_entropy(f.dense)[0]), 0.0, return_std, method)
    lower, upper = core.entropy_bounds(f.dense)
    return _result(lower if method == "lower" else upper, None, return_std, method)


def bhattacharyya_distance(
    p: Any,
    q: Any,
    *,
    method: str = "auto",
    n_samples: int = 100_000,
    random_state: Any = None,
    return_std: bool = False,
) -> Any:
    """Bhattacharyya distance D_B(p, q) = −ln ∫ sqrt(p(x) q(x)) dx.

    Symmetric, 0 only when p = q, and infinite only for disjoint supports (never
    between Gaussians).

    Parameters
    ----------
    p, q : fitted Gaussian mixtures over the same features
    method : {'auto', 'closed', 'monte_carlo', 'lower', 'upper'}, default='auto'
        'closed': ⅛ δᵀ Σ⁻¹ δ + ½ ln(|Σ| / sqrt(|Σ_p| |Σ_q|)) with Σ the mean of the
        two covariances (single Gaussians). 'monte_carlo': the coefficient ∫ sqrt(pq)
        by importance sampling from (p + q)/2 (half the draws from each; the
        integrand is bounded, so the error is too), its standard error carried to
        the distance to first order. 'lower' / 'upper': bounds from the
        components' coefficients (sqrt of a sum is at most the sum of the square
        roots; Jensen), exact for single Gaussians.
    n_samples, random_state, return_std
        As in :func:`kl_divergence`.

    Returns
    -------
    float, or (float, float) with ``return_std``
    """
    log_bc, std = _log_coefficient(p, q, method, n_samples, random_state)
    distance = -log_bc
    if std is not None:
        std = std / float(np.exp(log_bc))  # to first order
    return _result(distance, std, return_std, method)


def hellinger_distance(
    p: Any,
    q: Any,
    *,
    method: str = "auto",
    n_samples: int = 100_000,
    random_state: Any = None,
    return_std: bool = False,
) -> Any:
    """Hellinger distance H(p, q) = sqrt(1 − ∫ sqrt(p(x) q(x)) dx), in [0, 1].

    (The convention without the factor sqrt(2): H² = ½ ∫ (sqrt p − sqrt q)².)
    It is a metric, and H² = 1 − exp(−D_B) with D_B the Bhattacharyya distance.

    Parameters
    ----------
    p, q : fitted Gaussian mixtures over the same features
    method : {'auto', 'closed', 'monte_carlo', 'lower', 'upper'}, default='auto'
        As in :func:`bhattacharyya_distance` (the same coefficient).
    n_samples, random_state, return_std
        As in :func:`kl_divergence`.

    Returns
    -------
    float, or (float, float) with ``return_std``
    """
    log_bc, std = _log_coefficient(p, q, method, n_samples, random_state)
    distance = float(np.sqrt(-np.expm1(log_bc)))  # expm1: exact for nearly equal p and q
    if std is not None:
        std = std / (2.0 * distance) if distance > 0 else 0.0  # to first order
    return _result(distance, std, return_std, method)
