"""Rows of a :func:`gaussmix.scan` file: every pass reads the file once, chunk by chunk."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .._core.covariance import Covariance, DensityForm, Params
from .._core.stats import Stats, merge_all
from ..backends.numpy import NumpyRows
from ..scan import Scan
from .blocks import BlockCheck, BlockFunc, BlockMap, BlockRows

__all__ = ["ScanRows"]


class ScanRows(BlockRows):
    """Rows of a :class:`~gaussmix.scan.Scan`, each chunk a block.

    The scan itself checks, on every pass, that its file did not change.

    Parameters
    ----------
    data : Scan
    weights : ndarray of shape (n,), optional
        Validated row weights (see :mod:`gaussmix._input.weights`), in memory.
    check : BlockCheck
        The input boundary's value checks, run on every chunk read.
    """

    def __init__(self, data: Scan, weights: np.ndarray | None, check: BlockCheck) -> None:
        self.data = data
        self.n_rows, self.n_features = data.shape
        self.weights = weights
        self.check = check
        self.total_weight = float(self.n_rows if weights is None else weights.sum())

    def _blocks(self) -> Iterator[tuple[NumpyRows, slice]]:
        start = 0
        for X in self.data:
            rows = slice(start, start + X.shape[0])
            start = rows.stop
            if X.shape[0]:
                X = self.check(X, rows)
                w = None if self.weights is None else self.weights[rows]
                # The whole file is the pass that decides whether the compiled kernels pay.
                yield NumpyRows(X, w, pass_rows=self.n_rows), rows

    def _map_merge(self, func: BlockFunc, form: DensityForm, *shared: Any) -> Stats:
        return merge_all((func(block, rows, *shared) for block, rows in self._blocks()), form)

    def _map_blocks(
        self, func: BlockMap, states: list[Any] | None, *shared: Any
    ) -> tuple[list[Any], list[Any]]:
        # The states live here, on the host: k-means++ keeps 8 bytes a row.
        pairs = [
            func(block, rows, None if states is None else states[i], *shared)
            for i, (block, rows) in enumerate(self._blocks())
        ]
        return [state for state, _ in pairs], [result for _, result in pairs]

    def host_weights(self) -> np.ndarray | None:
        return self.weights

    def with_weights(self, weights: np.ndarray | None) -> ScanRows:
        """The same file under other weights (n,), in memory."""
        return ScanRows(self.data, weights, self.check)

    def _take(self, index: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        # Only the picked rows are checked (and, for .npy, read from disk).
        picked, start = [], 0
        for X in self.data:
            if index is None:
                picked.append(X)
            else:
                lo, hi = np.searchsorted(index, [start, start + X.shape[0]])
                picked.append(X[index[lo:hi] - start])
            start += X.shape[0]
        X = np.concatenate(picked)
        X = self.check(X, slice(0, X.shape[0]) if index is None else index)
        w = self.weights
        return X, w if w is None or index is None else w[index]

    def column_ranges(self, axes: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Column minima and maxima of ``X @ axes`` over rows of non-zero weight: one pass."""
        parts = [block.column_ranges(axes) for block, _ in self._blocks()]
        return np.min([p[0] for p in parts], axis=0), np.max([p[1] for p in parts], axis=0)

    def map_log_resp(
        self,
        params: Params,
        cov: Covariance,
        reduce: Callable[[np.ndarray, np.ndarray], np.ndarray],
    ) -> np.ndarray:
        """``reduce(log_norm, log_resp)`` over the file, in memory, in row order."""
        return np.concatenate(
            [block.map_log_resp(params, cov, reduce) for block, _ in self._blocks()]
        )
