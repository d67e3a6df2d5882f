"""The ``prior=`` parameter: its checks, the boundary of a prior's hyperparameters.

``prior`` is None (maximum likelihood), ``'default'`` (mclust's ``defaultPrior``)
or a mapping of any of mclust's ``priorControl`` hyperparameters — ``shrinkage``
(κ >= 0), ``mean`` (d,), ``dof`` (ν > d - 1), ``scale`` (a positive number c for
c·I, positive variances (d,), or a symmetric positive-definite (d, d) matrix) —
the others taking their defaults (see :mod:`gaussmix._core.covariance.prior`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._core.covariance import MODELS_WITH_PRIOR, Covariance
from ._core.covariance.prior import PRIOR_KEYS
from ._core.limits import MAX_COVARIANCE, MAX_MAGNITUDE
from ._validation import InvalidParameterError

__all__ = ["check_prior", "check_prior_model"]


def check_prior_model(prior: Any, cov: Covariance) -> None:
    """Refuse a prior for a model mclust defines none for, and malformed mappings.

    Raises
    ------
    InvalidParameterError
    """
    if prior is None:
        return
    if isinstance(prior, Mapping):
        unknown = sorted(str(k) for k in prior if k not in PRIOR_KEYS)
        if unknown:
            raise InvalidParameterError(
                f"The 'prior' parameter has unknown hyperparameter(s) {', '.join(unknown)}; "
                f"give any of {', '.join(PRIOR_KEYS)} (mclust's priorControl names)."
            )
    if not cov.has_prior:
        raise InvalidParameterError(
            f"prior is not available for covariance_type={cov.name!r}: mclust defines MAP "
            f"M-steps under its conjugate prior for {', '.join(MODELS_WITH_PRIOR)} only. "
            "Choose one of those models, or fit without a prior (prior=None)."
        )


def check_prior(prior: Any, n_features: int) -> dict[str, Any]:
    """The given hyperparameters as float64 values (``scale`` as a (d, d) matrix).

    ``prior`` has passed :func:`check_prior_model`; ``'default'`` gives ``{}``.

    Raises
    ------
    InvalidParameterError
        Naming the hyperparameter, what it must be, and what was received.
    """
    if not isinstance(prior, Mapping):
        return {}
    d = n_features
    out: dict[str, Any] = {}
    if prior.get("shrinkage") is not None:
        out["shrinkage"] = _number("shrinkage", prior["shrinkage"], 0.0, "a number >= 0")
    if prior.get("dof") is not None:
        out["dof"] = _number("dof", prior["dof"], d - 1.0, f"a number > d - 1 = {d - 1}")
        if out["dof"] <= d - 1:
            raise _error("dof", f"a number > d - 1 = {d - 1}", prior["dof"])
    if prior.get("mean") is not None:
        if out.get("shrinkage", 1.0) == 0:
            raise InvalidParameterError(
                "The 'prior' parameter gives a mean with shrinkage 0, which would ignore it "
                "(as mclust, this is refused): give a positive shrinkage, or no mean."
            )
        mean = _array("mean", prior["mean"], f"{d} finite numbers (one per feature)")
        if mean.shape != (d,) or np.max(np.abs(mean)) > MAX_MAGNITUDE:
            raise _error("mean", f"{d} finite numbers within ±{MAX_MAGNITUDE:.0e}", mean)
        out["mean"] = mean
    if prior.get("scale") is not None:
        out["scale"] = _scale(prior["scale"], d)
    return out


def _error(key: str, what: str, value: Any) -> InvalidParameterError:
    shown = np.array2string(value, threshold=6) if isinstance(value, np.ndarray) else repr(value)
    return InvalidParameterError(f"The prior's {key!r} must be {what}; got {shown[:120]}.")


def _number(key: str, value: Any, low: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _error(key, what, value)
    number = float(value)
    if not math.isfinite(number) or number < low or number > MAX_COVARIANCE:
        raise _error(key, what, value)
    return number


def _array(key: str, value: Any, what: str) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise _error(key, what, value) from None
    if not np.all(np.isfinite(array)):
        raise _error(key, what, array)
    return array


def _scale(value: Any, d: int) -> np.ndarray:
    what = (
        f"a positive number c (for c·I), {d} positive variances, or a symmetric "
        f"positive-definite {d} x {d} matrix, within {MAX_COVARIANCE:.0e}"
    )
    scale = _array("scale", value, what)
    if np.any(np.abs(scale) > MAX_COVARIANCE):
        raise _error("scale", what, scale)
    if scale.ndim == 0 and scale > 0:
        return float(scale) * np.eye(d)
    if scale.shape == (d,) and np.all(scale > 0):
        return np.diag(scale)
    symmetric = scale.shape == (d, d) and np.allclose(scale, scale.T, rtol=1e-10, atol=0.0)
    if symmetric and np.linalg.eigvalsh(scale)[0] > 0:
        return (scale + scale.T) / 2
    raise _error("scale", what, scale)
