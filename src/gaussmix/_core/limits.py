"""The range of numbers the engine works in: limits shared by checks of input and of models."""

from __future__ import annotations

__all__ = ["MAX_COVARIANCE", "MAX_MAGNITUDE", "MAX_PRECISION_CHOLESKY"]

MAX_MAGNITUDE = 1e140
"""Largest |x| accepted in data and in means: squared distances summed over rows,
and divided by the default reg_covar, then stay far inside float64's range (about
1.8e308)."""

MAX_COVARIANCE = MAX_MAGNITUDE**2
"""Largest |Σ_ij|: the spread of data within ±MAX_MAGNITUDE. Larger entries would
overflow in a Cholesky factorisation's sums of squares."""

MAX_PRECISION_CHOLESKY = 1e150
"""Largest precision-factor entry: beyond it precisions (its squares) leave float
range. A variance below about 1e-300 (reachable only with reg_covar=0) is therefore
treated like a singular covariance."""
