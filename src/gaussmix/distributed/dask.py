"""Dask arrays and DataFrames as rows: the E-step runs on the blocks, where they live.

A fit persists the data once. Each EM iteration then builds a small graph: one
task per block computing that block's statistics with the NumPy backend (the
parameters, a few kilobytes, are one shared task), and a tree of ``merge`` tasks
(eight at a time) so that the client receives a single ``Stats``. The M-step
runs on the client. Only parameters and statistics travel per iteration.

The graphs run on whatever scheduler Dask would use: a ``distributed.Client``
when one is active, otherwise the threaded (or configured, e.g. synchronous)
scheduler. A fit keeps its state on the client only, so a worker lost mid-fit
costs a recomputation of its blocks from the persisted data's lineage and
changes nothing in the result.

``predict``, ``predict_proba`` and ``score_samples`` return lazy Dask arrays
(``map_blocks``), chunked along rows like the input.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import dask
import dask.array as da
import numpy as np

from .._core.covariance import Covariance, DensityForm, Params
from .._core.estep import log_responsibilities
from .._core.stats import Stats, merge_all
from .._validation import check_sample_weight
from ..backends.numpy import NumpyRows
from .blocks import BlockFunc, BlockRows, check_block_finite

__all__ = ["DaskRows", "as_dask_array"]

_SPLIT_EVERY = 8  # fan-in of the merge tree


def as_dask_array(X: Any) -> da.Array:
    """A 2-D float Dask array of X's rows, one block along the columns.

    A DataFrame's partition lengths stay unknown (NaN chunks) until computed.

    Parameters
    ----------
    X : dask.array.Array or dask DataFrame (numeric columns)

    Raises
    ------
    TypeError
        If X is another kind of Dask collection or has non-numeric columns.
    ValueError
        If X is not two-dimensional.
    """
    if not isinstance(X, da.Array):
        X = _frame_to_array(X)
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2D dask array of shape (n_samples, n_features); got shape {X.shape}. "
            "Reshape it, for example with X.reshape(-1, 1) for a single feature."
        )
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    return X.rechunk({1: -1})


def _frame_to_array(X: Any) -> da.Array:
    """A dask DataFrame's (or Series') numeric columns as an array (needs dask[dataframe])."""
    import dask.dataframe as dd
    from pandas.api.types import is_numeric_dtype

    if isinstance(X, dd.Series):
        X = X.to_frame()
    if not isinstance(X, dd.DataFrame):
        raise TypeError(
            f"Expected a dask array or dask DataFrame; got {type(X).__name__}. "
            "Convert it with dask.array.from_array or pass a NumPy array."
        )
    bad = [str(c) for c, t in X.dtypes.items() if not is_numeric_dtype(t)]
    if bad:
        raise TypeError(
            f"X must hold numbers only, but the dask DataFrame has non-numeric columns "
            f"{bad}. Drop or encode them first, for example with X.select_dtypes('number')."
        )
    return X.to_dask_array()


class DaskRows(BlockRows):
    """Rows of a Dask array or DataFrame, processed block by block on the workers.

    Parameters
    ----------
    X : dask.array.Array or dask DataFrame of shape (n, d)
    weights : array-like or dask array of shape (n,), optional
        Non-negative row weights (multiplicities).
    persist : bool, default=False
        Persist the data (and weights) once, as a fit does before its many passes.
    """

    def __init__(self, X: Any, weights: Any = None, *, persist: bool = False) -> None:
        X = as_dask_array(X)
        if persist:
            X = X.persist()
        if any(np.isnan(c) for c in X.chunks[0]):
            X = X.compute_chunk_sizes()  # DataFrames: cheap once persisted
        w = _as_dask_weights(weights, X)
        if persist and w is not None:
            w = w.persist()
        self.X, self.weights = X, w
        self.n_rows, self.n_features = int(X.shape[0]), int(X.shape[1])
        self.total_weight = float(self.n_rows) if w is None else _check_weights(w)
        ends = np.cumsum(X.chunks[0])
        xs = X.to_delayed().ravel()
        ws = [None] * len(xs) if w is None else w.to_delayed().ravel()
        self._blocks = [
            (x, wb, slice(int(end - size), int(end)))
            for x, wb, end, size in zip(xs, ws, ends, X.chunks[0], strict=True)
            if size > 0
        ]

    def _map_merge(self, func: BlockFunc, form: DensityForm, *shared: Any) -> Stats:
        shared_task = dask.delayed(shared, traverse=False)  # sent once, not once per block
        parts = [
            dask.delayed(_block_stats)(x, w, rows, func, shared_task)
            for x, w, rows in self._blocks
        ]
        (stats,) = dask.compute(_merge_tree(parts, form))
        return stats

    def _take(self, index: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        X, w = self.X, self.weights
        if index is not None:
            X, w = X[index], None if w is None else w[index]
        X, w = dask.compute(X, w)
        check_block_finite(X, slice(0, self.n_rows) if index is None else index)
        return X, w

    def map_log_resp(
        self,
        params: Params,
        cov: Covariance,
        reduce: Callable[[np.ndarray, np.ndarray], np.ndarray],
    ) -> da.Array:
        """Lazy ``reduce(log_norm, log_resp)`` per block, chunked along rows like X."""
        probe = np.zeros((1, self.n_features), dtype=self.X.dtype)
        meta = np.asarray(reduce(*log_responsibilities(probe, params, cov)))
        shape: dict[str, Any] = (
            {"drop_axis": 1}
            if meta.ndim == 1
            else {"chunks": (self.X.chunks[0], *((n,) for n in meta.shape[1:]))}
        )
        func = partial(_block_reduce, params=params, cov=cov, reduce=reduce)
        return self.X.map_blocks(
            func, dtype=meta.dtype, meta=np.empty((0,) * meta.ndim, meta.dtype), **shape
        )


def _as_dask_weights(weights: Any, X: da.Array) -> da.Array | None:
    """Weights as a float64 Dask array chunked along rows like X."""
    if weights is None:
        return None
    n, row_chunks = X.shape[0], (X.chunks[0],)
    if isinstance(weights, da.Array):
        if weights.shape != (n,):
            raise ValueError(
                f"sample_weight must have shape ({n},), one weight per row of X; "
                f"got shape {weights.shape}."
            )
        return weights.astype(np.float64).rechunk(row_chunks)
    checked = check_sample_weight(weights, n)
    assert checked is not None
    return da.from_array(checked, chunks=row_chunks)


def _check_weights(w: da.Array) -> float:
    """Validate Dask weights in one pass; return their total."""
    low, finite, total = dask.compute(w.min(), da.isfinite(w).all(), w.sum())
    if not finite:
        raise ValueError("sample_weight contains NaN or infinite values; weights must be finite.")
    if low < 0:
        raise ValueError(
            f"sample_weight must be non-negative (weights are row multiplicities); got {low}."
        )
    if total <= 0:
        raise ValueError("sample_weight is zero for every row: there is nothing to fit.")
    return float(total)


def _merge_tree(parts: Sequence[Any], form: DensityForm) -> Any:
    """Delayed statistics merged by a tree of fan-in ``_SPLIT_EVERY``."""
    level = list(parts)
    while len(level) > 1:
        level = [
            dask.delayed(merge_all)(level[i : i + _SPLIT_EVERY], form)
            for i in range(0, len(level), _SPLIT_EVERY)
        ]
    return level[0]


def _block_stats(
    X: np.ndarray, w: np.ndarray | None, rows: slice, func: BlockFunc, shared: tuple[Any, ...]
) -> Stats:
    check_block_finite(X, rows)
    return func(NumpyRows(X, w), rows, *shared)


def _block_reduce(
    X: np.ndarray,
    params: Params,
    cov: Covariance,
    reduce: Callable[[np.ndarray, np.ndarray], np.ndarray],
    block_info: Any = None,
) -> np.ndarray:
    start = block_info[0]["array-location"][0][0] if block_info else 0
    check_block_finite(X, slice(start, start + X.shape[0]))
    if X.shape[0] == 0:
        return np.asarray(reduce(*log_responsibilities(X, params, cov)))
    return NumpyRows(X).map_log_resp(params, cov, reduce)
