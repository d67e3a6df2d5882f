"""The checks every input kind passes, and their messages, written once.

Each check has a NumPy implementation that runs on a whole array or on one block
of a source read block by block (a ``scan`` file, a Dask array), where a
block's rows are named by their global positions. The torch adapter computes the
same summaries on its device and raises the same errors through the same
message builders (:func:`nonfinite_error`, :func:`magnitude_error`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._core.limits import MAX_MAGNITUDE

__all__ = [
    "FLOAT32_MIN_REG",
    "FLOAT32_RANGE",
    "ValueCheck",
    "check_enough_rows",
    "check_observed_columns",
    "infinite_error",
    "magnitude_error",
    "marginalize_unavailable",
    "needs_float64",
    "nonfinite_error",
]

FLOAT32_RANGE = (1e-12, 1e12)
"""float32 data whose largest |x| lies outside this range is computed in float64:
float32 squares overflow near 1e19 and lose all precision below about 1e-23."""
FLOAT32_MIN_REG = 1e-30
"""float32 data is computed in float64 under a smaller reg_covar: the precisions of
variances that small leave float32's range."""

_FIX_NONFINITE = (
    "Remove or impute them first (for example with sklearn.impute.SimpleImputer), or "
    'fit NaN as missing values with missing="marginalize".'
)


# -- messages -----------------------------------------------------------------------
def nonfinite_error(value: float, row: int, col: int, name: str = "X") -> ValueError:
    """The error for a NaN or infinite value (when NaN does not mean missing)."""
    return ValueError(
        f"Input {name} contains NaN or infinite values (the first, {value}, at row {row}, "
        f"column {col}). {_FIX_NONFINITE}"
    )


def infinite_error(value: float, row: int, col: int, name: str = "X") -> ValueError:
    """The error for an infinite value where NaN marks a missing entry."""
    return ValueError(
        f"Input {name} contains infinite values (the first, {value}, at row {row}, column "
        f'{col}). With missing="marginalize" only NaN marks a missing entry; replace '
        "infinities by NaN or finite values."
    )


def marginalize_unavailable(kind: str, row: int, col: int, name: str = "X") -> ValueError:
    """The error for NaN in an input kind whose backend cannot marginalise it."""
    return ValueError(
        f"Input {name} contains NaN (the first at row {row}, column {col}), but missing="
        f'"marginalize" is available only for in-memory arrays (NumPy, lists, data '
        f"frames), not for {kind} input. Load the data as a NumPy array, or impute the "
        "missing values first (for example with sklearn.impute.SimpleImputer)."
    )


def magnitude_error(value: float, row: int, col: int, name: str = "X") -> ValueError:
    """The error for a value beyond :data:`MAX_MAGNITUDE`."""
    return ValueError(
        f"Input {name}'s values reach {abs(value):.3g} (at row {row}, column {col}), beyond "
        f"±{MAX_MAGNITUDE:.0e}: their squared distances could overflow float64. Please "
        "rescale X (for example divide it by a power of ten, or use "
        "sklearn.preprocessing.StandardScaler)."
    )


def needs_float64(is_float32: bool, top: float, reg_covar: float) -> bool:
    """Whether float32 rows must be computed in float64 (see :data:`FLOAT32_RANGE`)."""
    low, high = FLOAT32_RANGE
    return is_float32 and (not low <= top <= high or reg_covar < FLOAT32_MIN_REG)


# -- values ---------------------------------------------------------------------------
def _position(rows: slice | np.ndarray | None, row: int) -> int:
    if rows is None:
        return row
    if isinstance(rows, slice):
        return (rows.start or 0) + row
    return int(rows[row])


def _first(mask_of: Any, X: np.ndarray) -> tuple[int, int]:
    """(row, column) of the first entry where ``mask_of(block)`` holds, in row order."""
    step = max(1, 2**20 // max(1, X.shape[1]))
    for start in range(0, X.shape[0], step):
        hits = np.argwhere(mask_of(X[start : start + step]))
        if hits.size:
            return start + int(hits[0, 0]), int(hits[0, 1])
    raise AssertionError("no entry found")  # pragma: no cover


@dataclass(frozen=True)
class ValueCheck:
    """The value checks of one input, as a picklable callable on blocks of rows.

    ``check(X, rows)`` raises the boundary's error for the first NaN or infinite
    value (unless NaN marks missing values), for a value beyond ±MAX_MAGNITUDE,
    and returns X, or X in float64 where float32 is too narrow for its squares.

    Attributes
    ----------
    allow_nan : bool
        NaN marks a missing entry (``missing='marginalize'`` on a backend that
        supports it); infinities are still errors.
    reg_covar : float
        Decides whether float32 rows are computed in float64.
    nan_unsupported : str or None
        For ``missing='marginalize'`` on an input kind that cannot marginalise
        (``'scan'``, ``'Dask'``, ``'torch'``): NaN is then an error saying so.
    name : str
        The input's name in messages.
    """

    allow_nan: bool = False
    reg_covar: float = 1e-6
    nan_unsupported: str | None = None
    name: str = "X"

    def __call__(self, X: np.ndarray, rows: slice | np.ndarray | None = None) -> np.ndarray:
        """Check ``X`` (n, d), whose rows sit at ``rows`` in the whole input.

        Parameters
        ----------
        X : ndarray of shape (n, d), float32 or float64
        rows : slice, ndarray of shape (n,) or None
            The global positions of X's rows (None: X is the whole input).
        """
        if X.size == 0:
            return X
        if self.allow_nan:  # fmin/fmax skip NaN (and give NaN only for all-NaN X)
            low, high = float(np.fmin.reduce(X, axis=None)), float(np.fmax.reduce(X, axis=None))
            if math.isnan(low):
                return X
        else:  # min/max propagate NaN: two passes, no boolean temporary
            low, high = float(X.min()), float(X.max())
        if not (math.isfinite(low) and math.isfinite(high)):
            self._raise_nonfinite(X, rows)
        top = max(-low, high)
        if top > MAX_MAGNITUDE:
            row, col = _first(lambda b: np.abs(b) > MAX_MAGNITUDE, X)
            raise magnitude_error(float(X[row, col]), _position(rows, row), col, self.name)
        if needs_float64(X.dtype == np.float32, top, self.reg_covar):
            return X.astype(np.float64)
        return X

    def _raise_nonfinite(self, X: np.ndarray, rows: slice | np.ndarray | None) -> None:
        if self.allow_nan:
            row, col = _first(np.isinf, X)
            raise infinite_error(float(X[row, col]), _position(rows, row), col, self.name)
        row, col = _first(lambda b: ~np.isfinite(b), X)
        value, at = float(X[row, col]), _position(rows, row)
        if self.nan_unsupported is not None:  # missing='marginalize' where it cannot work
            if math.isnan(value):
                raise marginalize_unavailable(self.nan_unsupported, at, col, self.name)
            raise infinite_error(value, at, col, self.name)
        raise nonfinite_error(value, at, col, self.name)


def check_observed_columns(X: np.ndarray, name: str = "X") -> None:
    """Raise unless every column of X (NaN marking missing) has an observed value."""
    if X.shape[0] == 0:
        return
    unobserved = np.flatnonzero(np.isnan(X).all(axis=0))
    if unobserved.size:
        raise ValueError(
            f"Column(s) {unobserved[:10].tolist()} of {name} have no observed value, so "
            "their distribution cannot be estimated. Drop those columns first."
        )


# -- rows -----------------------------------------------------------------------------
def check_enough_rows(n_used: int, n_components: int, *, which: str = "") -> None:
    """Raise unless ``n_used`` rows can fit ``n_components`` components.

    Parameters
    ----------
    n_used : int
        Rows that count: all, or those of non-zero weight, or with an observed value.
    n_components : int
    which : str
        What made a row count, for the message (e.g. ``'with non-zero weight'``).
    """
    if n_used < n_components:
        raise ValueError(
            f"Expected n_samples >= n_components but got n_components = {n_components}, "
            f"n_samples = {n_used}{f' ({which})' if which else ''}. "
            "Use fewer components or more data."
        )
