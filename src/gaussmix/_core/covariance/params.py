"""The mixture's parameters, and what makes a set of them a valid mixture."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..limits import MAX_COVARIANCE, MAX_MAGNITUDE, MAX_PRECISION_CHOLESKY

if TYPE_CHECKING:
    from ..noise import Noise
    from .models import Covariance

__all__ = ["Params", "params_problem"]

WEIGHT_SUM_TOLERANCE = 1e-8
"""How far from 1 the weights of a valid mixture may sum (they are then renormalised)."""


class Params(NamedTuple):
    """Parameters of a Gaussian mixture (float64).

    Attributes
    ----------
    weights : ndarray of shape (K,)
    means : ndarray of shape (K, d)
    covariances : ndarray of shape ``form.shape(K, d)``
    precisions_cholesky : ndarray, same shape as ``covariances``
        The canonical factors (see :meth:`.forms.DensityForm.factor_problem`).
    noise : Noise or None
        A uniform noise component (:mod:`gaussmix._core.noise`); the Gaussians'
        weights then sum to 1 - ``noise.weight``.
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray
    noise: Noise | None = None


def params_problem(params: Params, model: Covariance) -> str:
    """Why ``params`` are not a valid mixture of ``model`` ('' if they are).

    Valid means exactly as valid as a fitted mixture: the form's shapes, finite
    values within the engine's limits (:mod:`gaussmix._core.limits`), weights
    that are non-negative and sum to 1 (within ``WEIGHT_SUM_TOLERANCE``), means
    within the data's magnitude limit, positive-definite covariances with their
    canonical precision factors, and the model's own constraint. Every density
    and responsibility computed from valid parameters is finite.

    Parameters
    ----------
    params : Params
    model : Covariance
    """
    weights, means, cov, chol = (np.asarray(a) for a in params[:4])
    K, d = means.shape if means.ndim == 2 else (weights.shape[0], -1)
    shape = model.form.shape(K, d)
    if weights.shape != (K,) or means.ndim != 2:
        return f"weights of shape {weights.shape} and means of shape {means.shape} do not match"
    if cov.shape != shape or chol.shape != shape:
        return (
            f"a {model.name!r} mixture of {K} components in {d} dimensions has covariances and "
            f"precision factors of shape {shape}; got {cov.shape} and {chol.shape}"
        )
    for name, array in zip(Params._fields[:4], (weights, means, cov, chol), strict=True):
        if not np.all(np.isfinite(array)):
            return f"{name} contain NaN or infinite values"
    if np.any(weights < 0):
        return "weights are not all non-negative"
    if np.any(weights > 1):  # (checked before the sum: a sum of huge weights would overflow)
        return "weights are not all at most 1"
    if params.noise is not None:
        from ..noise import noise_problem

        problem = noise_problem(params.noise, d, weights)
        if problem:
            return problem
    elif abs(float(weights.sum()) - 1.0) > WEIGHT_SUM_TOLERANCE:
        return f"weights sum to {float(weights.sum())!r}, not 1"
    if np.any(np.abs(means) > MAX_MAGNITUDE):
        return f"means reach {float(np.max(np.abs(means))):.3g}, beyond {MAX_MAGNITUDE:.0e}"
    if np.any(np.abs(cov) > MAX_COVARIANCE):
        return f"covariances reach {float(np.max(np.abs(cov))):.3g}, beyond {MAX_COVARIANCE:.0e}"
    if np.any(np.abs(chol) >= MAX_PRECISION_CHOLESKY):
        return (
            f"precision factors reach {float(np.max(np.abs(chol))):.3g}, beyond "
            f"{MAX_PRECISION_CHOLESKY:.0e} (variances too small for float range)"
        )
    return (
        model.form.covariance_problem(cov)
        or model.form.factor_problem(cov, chol)
        or (model.constraint_problem(cov))
    )
