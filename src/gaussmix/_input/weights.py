"""The one validator of ``sample_weight``, for every input kind.

Weights are row multiplicities: only their ratios matter (the fitted parameters,
``lower_bound_`` and ``score`` are per unit of weight). So weights whose largest is
outside [2**-32, 2**32] are scaled by a power of four to a largest weight in
(0.25, 1]: exactly (square roots of weights scale exactly too), and every weighted
sum stays in range: weights of 1e308 fit as weights of 1 do, where their sum would
overflow. Ordinary weights are left as given (the M-step adds scikit-learn's
absolute 10·eps to each component's mass, so a rescaling could move a result by an
ulp).

A source whose weights arrive in blocks (a Dask array) summarises each block with
:func:`summarize` and combines the summaries with :func:`combine`; an in-memory
vector is one block.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "WeightSummary",
    "Weights",
    "check_sample_weight",
    "combine",
    "scale_exponent",
    "summarize",
]


class Weights(NamedTuple):
    """Validated weights.

    Attributes
    ----------
    values : ndarray of shape (n,), float64, or None
        The weights scaled by ``2**exponent`` (see the module docstring); None for unit weights.
    exponent : int
        The user's weights were multiplied by ``2**exponent`` (0 for None).
    n_positive : int
        Rows of non-zero weight.
    """

    values: np.ndarray | None
    exponent: int
    n_positive: int


class WeightSummary(NamedTuple):
    """What validation needs from one block of weights.

    ``problem`` is the message of the block's first invalid weight ('' if none),
    naming its global row.
    """

    problem: str
    largest: float
    n_positive: int


def _as_float_vector(sample_weight: Any, n_rows: int) -> np.ndarray:
    if isinstance(sample_weight, numbers.Real) and not isinstance(sample_weight, bool):
        return np.full(n_rows, float(sample_weight))
    if hasattr(sample_weight, "detach"):  # a torch tensor, possibly on a GPU
        sample_weight = sample_weight.detach().cpu().numpy()
    raw = np.asarray(sample_weight)
    if raw.dtype.kind == "c":
        raise ValueError("sample_weight is complex; weights must be real, non-negative numbers.")
    if raw.dtype.kind not in "biuf":
        try:
            raw = raw.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError(
                f"sample_weight must hold numbers; got an array of dtype {raw.dtype}."
            ) from None
    if raw.ndim != 1 or raw.shape[0] != n_rows:
        raise ValueError(
            f"sample_weight must have shape ({n_rows},), one weight per row of X; "
            f"got shape {raw.shape}."
        )
    return np.asarray(raw, dtype=np.float64)


def summarize(w: np.ndarray, start: int = 0) -> WeightSummary:
    """Summary of a block of float64 weights whose first row is global row ``start``."""
    if w.size == 0:
        return WeightSummary("", 0.0, 0)
    finite = np.isfinite(w)
    if not finite.all():
        first = int(np.flatnonzero(~finite)[0])
        return WeightSummary(
            f"sample_weight contains NaN or infinite values (the first, {w[first]}, at row "
            f"{start + first}); weights must be finite.",
            0.0,
            0,
        )
    negative = w < 0
    if negative.any():
        first = int(np.flatnonzero(negative)[0])
        return WeightSummary(
            "sample_weight must be non-negative (weights are row multiplicities); "
            f"got {w[first]} at row {start + first}.",
            0.0,
            0,
        )
    return WeightSummary("", float(w.max()), int(np.count_nonzero(w)))


def combine(summaries: Iterable[WeightSummary]) -> tuple[float, int]:
    """The largest weight and the count of non-zero ones, over blocks in row order.

    Raises
    ------
    ValueError
        For the first invalid weight, or when every weight is zero.
    """
    largest, n_positive = 0.0, 0
    for s in summaries:
        if s.problem:
            raise ValueError(s.problem)
        largest, n_positive = max(largest, s.largest), n_positive + s.n_positive
    if n_positive == 0:
        raise ValueError("sample_weight is zero for every row: there is nothing to fit.")
    return largest, n_positive


_ORDINARY = (2.0**-32, 2.0**32)  # largest weights left unscaled


def scale_exponent(largest: float) -> int:
    """The power of two applied to weights whose largest weight is ``largest`` (> 0).

    0 inside ``_ORDINARY``; else the even power that brings ``largest`` into (0.25, 1]
    (even, so that the scaling is exact under square roots as under products).
    """
    if _ORDINARY[0] <= largest <= _ORDINARY[1]:
        return 0
    mantissa, exponent = np.frexp(largest)  # largest = mantissa * 2**exponent, in [0.5, 1)
    if exponent % 2 == 0:
        return -int(exponent)
    return -int(exponent) + (1 if mantissa == 0.5 else -1)


def check_sample_weight(sample_weight: Any, n_rows: int) -> Weights:
    """Validate and scale in-memory weights (see the module docstring).

    Parameters
    ----------
    sample_weight : array-like of shape (n_rows,), scalar, tensor or None
    n_rows : int

    Raises
    ------
    TypeError
        If the weights are not numbers.
    ValueError
        If the weights have another shape, are complex, negative, NaN or infinite,
        or are all zero.
    """
    if sample_weight is None:
        return Weights(None, 0, n_rows)
    w = _as_float_vector(sample_weight, n_rows)
    largest, n_positive = combine([summarize(w)])
    exponent = scale_exponent(largest)
    return Weights(np.ldexp(w, exponent), exponent, n_positive)
