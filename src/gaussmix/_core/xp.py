"""The few array operations the E-step algorithm needs, for one array library.

:mod:`.estep` writes the E-step once, for NumPy arrays and torch tensors alike; it
reaches the array library only through an :class:`ArrayOps` object. That is a
dozen operations, not a general namespace: those where NumPy and torch differ in
name or signature (the maximum over an axis, a cast), those the array-API standard
lacks and the hot loop needs (exp and masking *in place*, so a chunk's densities
become its responsibilities without a second (K, n) array), and the places where
the two backends' policies differ (NumPy's responsibilities are float64 whatever
the rows' dtype; torch keeps float32 rows' responsibilities float32 on the
device, and never synchronises with the host inside a chunk). The torch
implementation lives with its backend (:mod:`gaussmix.backends.torch`), so this
core never imports torch.

Arrays here are laid out with components along axis 0 and rows along axis 1
((K, n)), as the backends' kernels produce them.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

__all__ = ["NUMPY", "ArrayOps", "NumpyOps"]

_TINY = float(np.finfo(np.float64).tiny)  # smallest normal float64


class ArrayOps(Protocol):
    """Array operations of one library, as the E-step algorithm uses them."""

    float64: Any
    """The library's float64 dtype."""

    def where(self, condition: Any, a: Any, b: Any) -> Any:
        """``a`` where ``condition`` holds, else ``b`` (either may be a Python scalar)."""
        ...

    def log(self, a: Any) -> Any: ...

    def isfinite(self, a: Any) -> Any: ...

    def any(self, a: Any) -> bool:
        """Whether any entry of a boolean array is true (a host synchronisation on a GPU)."""
        ...

    def top(self, wlp: Any) -> Any:
        """The maximum over components of each row, (n,), in the responsibilities' dtype."""
        ...

    def exp_shifted(self, wlp: Any, top: Any) -> Any:
        """``exp(wlp - top)`` in the responsibilities' dtype; may overwrite ``wlp``."""
        ...

    def shifted(self, wlp: Any, top: Any) -> Any:
        """``wlp - top`` in the responsibilities' dtype; may overwrite ``wlp``."""
        ...

    def exp(self, a: Any) -> Any: ...

    def reciprocal_scale(self, weights: Any, s: Any) -> Any:
        """``weights / s`` (``1 / s`` for None weights) in ``s``'s dtype; may overwrite ``s``."""
        ...

    def flush_(self, rw: Any) -> None:
        """Set entries below the smallest normal float64 to 0, in place."""
        ...

    def sum64(self, a: Any) -> Any:
        """The sum of all entries, accumulated in float64 (a scalar, 0-d on a device)."""
        ...

    def dot64(self, w: Any, a: Any) -> Any:
        """``Σ_i w_i a_i`` in float64; ``w`` is float64."""
        ...

    def may_overflow(self, wlp: Any) -> bool:
        """Whether ``wlp``'s dtype is narrower than float64, so its densities may overflow."""
        ...

    def drop_rows(self, wlp: Any, top: Any, weights: Any, bad: Any) -> tuple[Any, Any]:
        """Take the rows ``bad`` (n,) out of a chunk: densities 0, top 0, weight 0, in place.

        Returns the weights to use (a new float64 array where any row was dropped;
        ``weights`` itself, possibly None, where none was) and the number dropped.
        """
        ...

    def to_float64(self, a: Any) -> Any:
        """``a`` as float64 (no copy when it is already)."""
        ...

    def cast_like(self, a: Any, like: Any) -> Any:
        """``a`` in ``like``'s dtype (no copy when it is already)."""
        ...


class NumpyOps:
    """:class:`ArrayOps` for NumPy arrays: responsibilities and sums in float64."""

    float64 = np.float64
    where = staticmethod(np.where)
    log = staticmethod(np.log)
    isfinite = staticmethod(np.isfinite)
    exp = staticmethod(np.exp)

    @staticmethod
    def any(a: np.ndarray) -> bool:
        return bool(a.any())

    @staticmethod
    def top(wlp: np.ndarray) -> np.ndarray:
        return wlp.max(axis=0).astype(np.float64, copy=False)

    @staticmethod
    def shifted(wlp: np.ndarray, top: np.ndarray) -> np.ndarray:
        if wlp.dtype == np.float64:  # the densities are not needed after this: reuse them
            return np.subtract(wlp, top, out=wlp)
        return np.subtract(wlp, top, dtype=np.float64)

    @staticmethod
    def exp_shifted(wlp: np.ndarray, top: np.ndarray) -> np.ndarray:
        rw = NumpyOps.shifted(wlp, top)
        return np.exp(rw, out=rw)

    @staticmethod
    def reciprocal_scale(weights: np.ndarray | None, s: np.ndarray) -> np.ndarray:
        return np.divide(1.0 if weights is None else weights, s, out=s)

    @staticmethod
    def flush_(rw: np.ndarray) -> None:
        np.putmask(rw, rw < _TINY, 0.0)

    @staticmethod
    def sum64(a: np.ndarray) -> float:
        return float(np.sum(a, dtype=np.float64))

    @staticmethod
    def dot64(w: np.ndarray, a: np.ndarray) -> float:
        return float(np.dot(w, a.astype(np.float64, copy=False)))

    @staticmethod
    def may_overflow(wlp: np.ndarray) -> bool:
        return wlp.dtype.itemsize < 8

    @staticmethod
    def drop_rows(
        wlp: np.ndarray, top: np.ndarray, weights: np.ndarray | None, bad: np.ndarray
    ) -> tuple[np.ndarray | None, int]:
        count = int(np.count_nonzero(bad))
        if count == 0:
            return weights, 0
        wlp[:, bad] = 0.0
        top[bad] = 0.0
        kept = np.ones(wlp.shape[1]) if weights is None else np.array(weights, dtype=np.float64)
        kept[bad] = 0.0
        return kept, count

    @staticmethod
    def to_float64(a: np.ndarray) -> np.ndarray:
        return a.astype(np.float64, copy=False)

    @staticmethod
    def cast_like(a: np.ndarray, like: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):  # beyond the narrow dtype's range: ±inf, on purpose
            return a.astype(like.dtype, copy=False)


NUMPY: ArrayOps = NumpyOps()
"""The NumPy operations (one stateless instance)."""
