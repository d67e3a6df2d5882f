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

import operator
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import dask
import dask.array as da
import numpy as np

from .._core.covariance import Covariance, DensityForm, Params
from .._core.estep import log_responsibilities
from .._core.stats import Stats, merge_all
from ..backends.numpy import NumpyRows
from .blocks import BlockCheck, BlockFunc, BlockMap, BlockRows

__all__ = ["DaskRows"]

_SPLIT_EVERY = 8  # fan-in of the merge tree


class DaskRows(BlockRows):
    """Rows of a Dask array or DataFrame, processed block by block on the workers.

    Parameters
    ----------
    X : dask.array.Array of shape (n, d)
        Float32 or float64, one block along the columns, known row chunks (the input
        boundary makes it so, and persists it for a fit).
    weights : dask.array.Array of shape (n,), or None
        Validated row weights (see :mod:`gaussmix._input.weights`), chunked like X.
    total_weight : float
        Their sum (``n`` without weights).
    check : BlockCheck
        The input boundary's value checks, run on every block where it is computed.
    """

    def __init__(
        self, X: da.Array, weights: da.Array | None, total_weight: float, check: BlockCheck
    ) -> None:
        self.X, self.weights, self.check = X, weights, check
        self.n_rows, self.n_features = int(X.shape[0]), int(X.shape[1])
        self.total_weight = total_weight
        ends = np.cumsum(X.chunks[0])
        xs = X.to_delayed().ravel()
        ws = [None] * len(xs) if weights is None else weights.to_delayed().ravel()
        self._blocks = [
            (x, wb, slice(int(end - size), int(end)))
            for x, wb, end, size in zip(xs, ws, ends, X.chunks[0], strict=True)
            if size > 0
        ]

    def _map_merge(self, func: BlockFunc, form: DensityForm, *shared: Any) -> Stats:
        shared_task = dask.delayed(shared, traverse=False)  # sent once, not once per block
        parts = [
            dask.delayed(_block_stats)(x, w, rows, self.check, func, shared_task)
            for x, w, rows in self._blocks
        ]
        (stats,) = dask.compute(_merge_tree(parts, form))
        return stats

    def _map_blocks(
        self, func: BlockMap, states: list[Any] | None, *shared: Any
    ) -> tuple[list[Any], list[Any]]:
        # The new states stay on the workers (persisted); only the results come back.
        shared_task = dask.delayed(shared, traverse=False)
        pairs = [
            dask.delayed(_block_map, pure=False)(
                x, w, rows, self.check, func, None if states is None else states[i], shared_task
            )
            for i, (x, w, rows) in enumerate(self._blocks)
        ]
        pairs = list(dask.persist(*pairs))
        new_states = [dask.delayed(operator.getitem)(pair, 0) for pair in pairs]
        results = dask.compute(*[dask.delayed(operator.getitem)(pair, 1) for pair in pairs])
        return new_states, list(results)

    def with_weights(self, weights: np.ndarray | None) -> DaskRows:
        """The same blocks under other weights (n,), sent to the workers chunked like X."""
        if weights is None:
            return DaskRows(self.X, None, float(self.n_rows), self.check)
        w = da.from_array(np.asarray(weights, np.float64), chunks=(self.X.chunks[0],))
        return DaskRows(self.X, w.persist(), float(np.sum(weights)), self.check)

    def host_weights(self) -> np.ndarray | None:
        if self.weights is None:
            return None
        return np.asarray(self.weights.compute(), dtype=np.float64)

    def _take(self, index: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        X, w = self.X, self.weights
        if index is not None:
            X, w = X[index], None if w is None else w[index]
        X, w = dask.compute(X, w)
        return self.check(X, slice(0, self.n_rows) if index is None else index), w

    def column_ranges(self, axes: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Column minima and maxima of ``X @ axes`` over rows of non-zero weight: one pass."""
        Y = self.X.astype(np.float64)
        if axes is not None:
            Y = Y @ axes
        if self.weights is not None:
            Y = da.where(self.weights[:, None] > 0, Y, np.nan)
        low, high = dask.compute(da.nanmin(Y, axis=0), da.nanmax(Y, axis=0))
        return np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)

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
        func: Any = partial(_block_reduce, params=params, cov=cov, reduce=reduce, check=self.check)
        return self.X.map_blocks(
            func, dtype=meta.dtype, meta=np.empty((0,) * meta.ndim, meta.dtype), **shape
        )


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
    X: np.ndarray,
    w: np.ndarray | None,
    rows: slice,
    check: BlockCheck,
    func: BlockFunc,
    shared: tuple[Any, ...],
) -> Stats:
    return func(NumpyRows(check(X, rows), w), rows, *shared)


def _block_map(
    X: np.ndarray,
    w: np.ndarray | None,
    rows: slice,
    check: BlockCheck,
    func: BlockMap,
    state: Any,
    shared: tuple[Any, ...],
) -> tuple[Any, Any]:
    return func(NumpyRows(check(X, rows), w), rows, state, *shared)


def _block_reduce(
    X: np.ndarray,
    params: Params,
    cov: Covariance,
    reduce: Callable[[np.ndarray, np.ndarray], np.ndarray],
    check: BlockCheck,
    block_info: Any = None,
) -> np.ndarray:
    start = block_info[0]["array-location"][0][0] if block_info else 0
    dtype = X.dtype
    X = check(X, slice(start, start + X.shape[0]))
    if X.shape[0] == 0:
        return np.asarray(reduce(*log_responsibilities(X, params, cov)))
    out = NumpyRows(X).map_log_resp(params, cov, reduce)
    # A block computed in float64 (see the boundary's checks) keeps the declared dtype.
    return out.astype(dtype, copy=False) if out.dtype.kind == "f" else out
