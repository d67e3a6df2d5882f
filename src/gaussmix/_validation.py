"""Checks of parameters, in scikit-learn's style, with messages that say what to do.

Every parameter error is scikit-learn's ``InvalidParameterError`` (a subclass of
both ``ValueError`` and ``TypeError``), so ``except ValueError`` and scikit-learn's
own tests catch them as they catch scikit-learn's. The estimator declares its
``_parameter_constraints`` as scikit-learn's estimators do; :func:`validate_params`
adds what those constraints cannot say: a number too large to compute with
(``10**400``) is an error, not an ``OverflowError`` later. Checks of input data
live at the input boundary (:mod:`gaussmix._input`), not here.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    validate_parameter_constraints,
)

__all__ = [
    "InvalidParameterError",
    "check_choice",
    "check_number",
    "validate_params",
    "warn_if_regularization_dominates",
]

_LARGEST_INT = np.iinfo(np.int64).max


def _unrepresentable(value: Any) -> str:
    """Why a number cannot be computed with ('' if it can)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Number):
        return ""
    if isinstance(value, numbers.Integral):
        if abs(int(value)) > _LARGEST_INT:
            return f"an integer of {len(str(abs(int(value))))} digits, beyond 2**63 - 1"
        return ""
    if isinstance(value, numbers.Real):
        try:
            float(value)
        except OverflowError:
            return "a number too large for a float"
    return ""


def validate_params(
    constraints: Mapping[str, Any], params: Mapping[str, Any], caller: str
) -> None:
    """scikit-learn's parameter validation, plus numbers too large to compute with.

    Settings that passed before (plain numbers, strings, None and tuples of them,
    compared with their types) pass again without the check, which builds every
    constraint anew each time (a noticeable share of a whole fit on small data).

    Raises
    ------
    InvalidParameterError
        With scikit-learn's message for a constraint that does not hold.
    """
    key = _settings_key(constraints, params, caller)
    if key is not None and key in _passed:
        return
    for name, value in params.items():
        if name not in constraints or constraints[name] == "no_validation":
            continue
        if isinstance(value, bool) and any(isinstance(c, Interval) for c in constraints[name]):
            shown = " or ".join(str(c) for c in constraints[name])
            raise InvalidParameterError(
                f"The {name!r} parameter of {caller} must be {shown}. Got {value!r} instead."
            )
        why = _unrepresentable(value)
        if why:
            raise InvalidParameterError(
                f"The {name!r} parameter of {caller} must be a number that fits in 64 bits; "
                f"got {why}."
            )
    validate_parameter_constraints(dict(constraints), dict(params), caller_name=caller)
    if key is not None:
        if len(_passed) >= _PASSED_KEPT:
            _passed.clear()
        _passed.add(key)


_passed: set[tuple[Any, ...]] = set()
_PASSED_KEPT = 256
_PLAIN = frozenset({int, float, str, bool, type(None)})


def _plain(value: Any) -> bool:
    if type(value) is tuple:
        return all(type(v) in _PLAIN for v in value)
    return type(value) in _PLAIN


def _settings_key(
    constraints: Mapping[str, Any], params: Mapping[str, Any], caller: str
) -> tuple[Any, ...] | None:
    """What identifies a validation's outcome: the constraints, the caller and every
    value with its type (``1``, ``1.0`` and ``True`` are equal but not equally
    valid); None unless every value is a plain number, string or None, or a tuple of
    them (no user object is kept alive here)."""
    if not all(_plain(v) for v in params.values()):
        return None
    return (id(constraints), caller, *((n, type(v), v) for n, v in params.items()))


def check_number(
    name: str,
    value: Any,
    *,
    integer: bool = False,
    low: float | None = None,
    low_inclusive: bool = True,
) -> None:
    """Raise a clear ``InvalidParameterError`` unless ``value`` is a number in range.

    For functions (``gmm_em``, ``select``); estimators declare constraints instead.
    """
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        what = "an integer" if integer else "a real number"
        raise InvalidParameterError(
            f"Parameter {name!r} must be {what}; got {value!r} ({type(value).__name__})."
        )
    why = _unrepresentable(value)
    if why:
        raise InvalidParameterError(f"Parameter {name!r} is too large: got {why}.")
    if not math.isfinite(float(value)):
        raise InvalidParameterError(f"Parameter {name!r} must be finite; got {value!r}.")
    if low is not None and (value < low or (not low_inclusive and value == low)):
        op = ">=" if low_inclusive else ">"
        raise InvalidParameterError(f"Parameter {name!r} must be {op} {low}; got {value!r}.")


def check_choice(name: str, value: Any, options: tuple[str, ...]) -> None:
    """Raise an ``InvalidParameterError`` listing ``options`` unless ``value`` is one."""
    if not isinstance(value, str) or value not in options:
        valid = ", ".join(repr(o) for o in options)
        raise InvalidParameterError(
            f"Invalid value for {name!r}: {value!r}. Choose one of {valid}."
        )


def warn_if_regularization_dominates(
    variances: np.ndarray, reg_covar: float, stacklevel: int = 2
) -> None:
    """Warn when every fitted variance is essentially ``reg_covar``.

    Then the components' own spread is far below ``reg_covar`` (for example data
    scaled by 1e-12, or identical rows) and the fit shows the regularization, not
    the data.

    Parameters
    ----------
    variances : ndarray
        Each feature's fitted variance per component (``reg_covar`` included).
    reg_covar : float
    stacklevel : int
        Passed to :func:`warnings.warn`, counted from the caller.
    """
    if reg_covar > 0 and np.all(np.abs(variances - reg_covar) <= 1e-3 * reg_covar):
        warnings.warn(
            f"Every fitted variance is within 0.1% of reg_covar={reg_covar:g}: the "
            "components' own spread is far below the regularization (data on a scale far "
            "below sqrt(reg_covar), identical rows, or as many components as distinct rows), "
            "so the fit reflects reg_covar rather than the data. Rescale X (for example with "
            "sklearn.preprocessing.StandardScaler), lower reg_covar or use fewer components.",
            UserWarning,
            stacklevel=stacklevel + 1,
        )


def check_no_noise(model: Any, what: str) -> None:
    """Raise a ValueError if ``model`` has a noise component, which ``what`` does not handle.

    Marginals, conditionals, divergences and merges are written for Gaussian
    mixtures; a uniform noise component has no closed forms there.
    """
    if "noise_weight_" in getattr(model, "__dict__", {}):
        raise ValueError(
            f"{what} is defined for Gaussian mixtures, and this model has a noise component "
            "(it was fitted with noise=...). Fit it with noise=False for this."
        )
