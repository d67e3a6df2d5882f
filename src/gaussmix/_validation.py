"""Input and parameter checks with messages that say what was wrong and what to do."""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np

__all__ = [
    "check_choice",
    "check_finite",
    "check_magnitude",
    "check_number",
    "check_sample_weight",
    "explain_input_error",
    "warn_if_regularization_dominates",
]


def check_number(
    name: str,
    value: Any,
    *,
    integer: bool = False,
    low: float | None = None,
    low_inclusive: bool = True,
) -> None:
    """Raise a clear error unless ``value`` is a real (or integer) number in range."""
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        what = "an integer" if integer else "a real number"
        raise TypeError(
            f"Parameter {name!r} must be {what}; got {value!r} ({type(value).__name__})."
        )
    if not np.isfinite(float(value)):
        raise ValueError(f"Parameter {name!r} must be finite; got {value!r}.")
    if low is not None and (value < low or (not low_inclusive and value == low)):
        op = ">=" if low_inclusive else ">"
        raise ValueError(f"Parameter {name!r} must be {op} {low}; got {value!r}.")


def check_choice(name: str, value: Any, options: tuple[str, ...]) -> None:
    """Raise a ValueError listing ``options`` unless ``value`` is one of them."""
    if not isinstance(value, str) or value not in options:
        valid = ", ".join(repr(o) for o in options)
        raise ValueError(f"Invalid value for {name!r}: {value!r}. Choose one of {valid}.")


def check_finite(X: np.ndarray, name: str = "X") -> None:
    """Raise a ValueError counting non-finite entries and giving the first one's position."""
    step = max(1, 2**20 // max(1, X.shape[-1]))  # blocks keep the boolean temporary small
    if all(np.isfinite(X[i : i + step]).all() for i in range(0, X.shape[0], step)):
        return
    finite = np.isfinite(X)
    bad = ~finite
    count = int(bad.sum())
    row, col = (int(i) for i in np.argwhere(bad)[0])
    first = X[row, col]
    raise ValueError(
        f"Input {name} contains {count} NaN or infinite value{'s' if count > 1 else ''} "
        f"(the first, {first}, at row {row}, column {col}). Remove or impute them first, "
        "for example with sklearn.impute.SimpleImputer."
    )


MAX_MAGNITUDE = 1e140
"""Largest |x| accepted: squared distances summed over rows, and divided by the
default reg_covar, then stay far inside float64's range (about 1.8e308)."""
# float32 squares overflow near 1e19 and underflow near 1e-23: compute in float64 instead.
_FLOAT32_RANGE = (1e-12, 1e12)
_FLOAT32_MIN_REG = 1e-30  # smaller variances give precisions beyond float32's range


def check_magnitude(X: np.ndarray, name: str = "X", *, reg_covar: float = 1e-6) -> np.ndarray:
    """X itself, or X in float64 where float32's range is too narrow for its squares.

    float32 X is computed in float64 when its values are very large or very small,
    or when ``reg_covar`` is too small to keep every precision within float32's
    range. NaN entries are ignored.

    Raises
    ------
    ValueError
        If some |x| exceeds ``MAX_MAGNITUDE``: squared distances could overflow.
    """
    if X.size == 0:
        return X
    # fmax/fmin skip NaN; no |X| temporary the size of the data.
    top = max(-float(np.fmin.reduce(X, axis=None)), float(np.fmax.reduce(X, axis=None)))
    if top > MAX_MAGNITUDE:
        raise ValueError(
            f"Input {name}'s values reach {top:.3g}, beyond {MAX_MAGNITUDE:.0e}: their "
            "squared distances could overflow float64. Please rescale X (for example "
            "divide it by a power of ten, or use sklearn.preprocessing.StandardScaler)."
        )
    if X.dtype == np.float32 and (
        not _FLOAT32_RANGE[0] <= top <= _FLOAT32_RANGE[1] or reg_covar < _FLOAT32_MIN_REG
    ):
        return X.astype(np.float64)
    return X


def check_sample_weight(sample_weight: Any, n_rows: int) -> np.ndarray | None:
    """Validated float64 row weights of shape (n_rows,), or None for unit weights.

    Raises
    ------
    ValueError
        If the weights have the wrong shape, are negative or not finite, or all zero.
    """
    if sample_weight is None:
        return None
    if isinstance(sample_weight, numbers.Real) and not isinstance(sample_weight, bool):
        sample_weight = np.full(n_rows, float(sample_weight))
    try:
        w = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"sample_weight must be numeric: {exc}") from None
    if w.ndim != 1 or w.shape[0] != n_rows:
        raise ValueError(
            f"sample_weight must have shape ({n_rows},), one weight per row of X; "
            f"got shape {w.shape}."
        )
    if not np.all(np.isfinite(w)):
        raise ValueError("sample_weight contains NaN or infinite values; weights must be finite.")
    if np.any(w < 0):
        first = int(np.flatnonzero(w < 0)[0])
        raise ValueError(
            f"sample_weight must be non-negative (weights are row multiplicities); "
            f"got {w[first]} at row {first}."
        )
    if not np.any(w > 0):
        raise ValueError("sample_weight is zero for every row: there is nothing to fit.")
    return w


def explain_input_error(exc: Exception) -> Exception:
    """A clearer error for a failure of scikit-learn's ``validate_data``, else ``exc``."""
    text = str(exc)
    if "could not convert" in text or "argument must be" in text:
        return type(exc)(
            f"X must hold numbers only, but converting it to float failed ({text}). "
            "Drop or encode the non-numeric columns first."
        )
    if "while dim <= 2 is required" in text:
        return ValueError(
            f"X must be a 2-D array of shape (n_samples, n_features). {text} "
            "Reshape it, for example with X.reshape(len(X), -1)."
        )
    return exc


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
