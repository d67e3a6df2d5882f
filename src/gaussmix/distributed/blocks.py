"""Rows seen as an ordered sequence of blocks that are never all in memory at once.

A Dask array (blocks on workers) and a file read chunk by chunk (:func:`gaussmix.scan`)
share everything but *how* a function reaches the blocks. :class:`BlockRows`
implements the ``Rows`` protocol on top of two primitives a subclass provides:

- ``_map_merge(func, form, *shared)``: ``func(block, rows, *shared) -> Stats`` on
  every block (``block`` a :class:`~gaussmix.backends.numpy.NumpyRows`, ``rows``
  its global slice), merged into one ``Stats`` by the core's exact ``merge``;
- ``_take(index)``: the rows (and weights) at sorted global positions.

Each block's E-step is the NumPy backend's, so results equal an in-memory fit's
up to the rounding of a different merge order.

Initialisation without loading the data
---------------------------------------
The init methods are the core's (:mod:`gaussmix._core.init`), over primitives
built on the two above plus ``_map_blocks`` (a function of each block and a
per-block state that stays where the block lives, for k-means++'s distances):
samples and seed rows are gathered with ``_take``; every pass over all rows runs
on the blocks, and only statistics, potentials and seed rows come back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._core.covariance import Covariance, DensityForm, Params
from .._core.init import arrays
from .._core.init.draws import Responsibilities
from .._core.init.kmeans import SeedStep
from .._core.stats import Stats
from ..backends.numpy import NumpyRows

__all__ = ["BlockCheck", "BlockFunc", "BlockMap", "BlockRows"]

BlockFunc = Callable[..., Stats]
"""``func(block: NumpyRows, rows: slice, *shared) -> Stats``; module-level, so it pickles."""

BlockCheck = Callable[[np.ndarray, "slice | np.ndarray"], np.ndarray]
"""``check(X, rows) -> X``: the input boundary's value checks of a block whose rows sit
at ``rows`` globally (see :class:`gaussmix._input.ValueCheck`); it may return the
block in float64. It pickles, so Dask workers run it where the block is computed."""

BlockMap = Callable[..., tuple[Any, Any]]
"""``func(block, rows, state, *shared) -> (state, result)``; module-level, so it pickles."""


class BlockRows:
    """Base class: the ``Rows`` protocol for rows held as a sequence of blocks.

    Subclasses set ``n_rows``, ``n_features``, ``total_weight`` and ``check`` (the
    boundary's :data:`BlockCheck`) and implement ``_map_merge`` and ``_map_blocks``
    (over non-empty blocks only), ``_take``, ``host_weights``, ``map_log_resp`` and
    ``column_ranges``; each runs ``check`` on every block it passes on, so values are
    checked as they stream.
    """

    n_rows: int
    n_features: int
    total_weight: float
    check: BlockCheck

    def _map_merge(self, func: BlockFunc, form: DensityForm, *shared: Any) -> Stats:
        raise NotImplementedError

    def _take(self, index: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        """Rows (n_index, d) and weights (n_index,) or None at sorted global positions.

        ``None`` takes every row.
        """
        raise NotImplementedError

    def _map_blocks(
        self, func: BlockMap, states: list[Any] | None, *shared: Any
    ) -> tuple[list[Any], list[Any]]:
        """``func(block, rows, state, *shared) -> (state', result)`` on every block, in order.

        ``states`` holds one state per block (None: None for each). Returns the new
        states, kept where the blocks live, and the results, on the client.
        """
        raise NotImplementedError

    def host_weights(self) -> np.ndarray | None:
        """The row weights (n,) as float64 on the client, or None when unweighted."""
        raise NotImplementedError

    def map_log_resp(self, params: Params, cov: Covariance, reduce: Any) -> Any:
        """``reduce(log_norm, log_resp)`` per block, in row order."""
        raise NotImplementedError

    def column_ranges(self, axes: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Column minima and maxima of ``X @ axes`` over rows of non-zero weight."""
        raise NotImplementedError

    def expectation(self, params: Params, cov: Covariance) -> Stats:
        """Merged E-step statistics of all rows: one pass over the blocks."""
        return self._map_merge(_expectation, cov.form, params, cov)

    # -- the initialisation primitives (see gaussmix.backends and _core.init) ------------
    def take(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Rows at sorted distinct positions, float64 (m, d), and their weights (m,) or None."""
        X, w = self._take(None if index.size == self.n_rows else index)
        return np.asarray(X, dtype=np.float64), w

    def nearest_stats(self, centres: np.ndarray, origin: np.ndarray, cov: Covariance) -> Stats:
        """Statistics of every row's hard assignment to its nearest centre: one pass."""
        return self._map_merge(_nearest_stats, cov.form, centres, origin, cov)

    def soft_stats(self, responsibilities: Responsibilities, cov: Covariance) -> Stats:
        """Statistics of ``responsibilities(start, stop)`` (global rows): one pass."""
        return self._map_merge(_soft_stats, cov.form, responsibilities, cov)

    def plusplus_step(
        self, closest: list[Any] | None, candidates: np.ndarray, draws: np.ndarray | None
    ) -> SeedStep:
        """One k-means++ step: a pass for the candidates' potentials, one for the new
        distances (kept on the blocks), and one to find the next candidates."""
        best, potential = 0, None
        if closest is not None and candidates.shape[0] > 1:
            _, parts = self._map_blocks(_potentials, closest, candidates)
            pots = np.sum(parts, axis=0)
            best = int(np.argmin(pots))
            potential = float(pots[best])
        closest, parts = self._map_blocks(_closest, closest, candidates[best])
        if draws is None:
            return SeedStep(closest, best, None, None)
        starts = [start for start, _ in parts]
        totals = np.array([total for _, total in parts], dtype=np.float64)
        if potential is None:
            potential = float(totals.sum())
        targets = draws * potential
        # Each target's block from the blocks' running totals, then a search within it.
        ends = np.cumsum(totals)
        block = np.minimum(np.searchsorted(ends, targets), len(ends) - 1)
        wanted = {
            starts[b]: (
                np.flatnonzero(block == b),
                targets[block == b],
                float(ends[b] - totals[b]),
            )
            for b in np.unique(block)
        }
        _, found = self._map_blocks(_search, closest, wanted)
        following = np.empty(targets.shape, dtype=np.int64)
        rows = np.empty((targets.shape[0], self.n_features))
        for hit in found:
            if hit is not None:
                which, index, X = hit
                following[which], rows[which] = index, X
        return SeedStep(closest, best, following, rows)


# -- block functions (module level: they travel to Dask workers by reference) ------


def _expectation(block: NumpyRows, rows: slice, params: Params, cov: Covariance) -> Stats:
    return block.expectation(params, cov)


def _nearest_stats(
    block: NumpyRows, rows: slice, centres: np.ndarray, origin: np.ndarray, cov: Covariance
) -> Stats:
    return block.nearest_stats(centres, origin, cov)


def _soft_stats(
    block: NumpyRows, rows: slice, responsibilities: Responsibilities, cov: Covariance
) -> Stats:
    def local(start: int, stop: int) -> np.ndarray:
        return responsibilities(rows.start + start, rows.start + stop)

    return block.soft_stats(local, cov)


def _potentials(
    block: NumpyRows, rows: slice, closest: np.ndarray, candidates: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    return closest, arrays.plusplus_potentials(block.X, block.weights, closest, candidates)[0]


def _closest(
    block: NumpyRows, rows: slice, closest: np.ndarray | None, centre: np.ndarray
) -> tuple[np.ndarray, tuple[int, float]]:
    new = arrays.plusplus_closest(block.X, centre, closest)
    w = block.weights
    return new, (rows.start, float(new.sum() if w is None else new @ w))


def _search(
    block: NumpyRows,
    rows: slice,
    closest: np.ndarray,
    wanted: dict[int, tuple[np.ndarray, np.ndarray, float]],
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray] | None]:
    """Where this block's running sum (after the blocks before it) reaches its targets.

    Returns the block's distances unchanged and ``(which, positions, rows)``: which
    targets were found here, their global row positions and the rows (float64).
    """
    if rows.start not in wanted:
        return closest, None
    which, targets, carry = wanted[rows.start]
    local, _ = arrays.cumsum_search(closest, block.weights, targets, carry)
    local = np.minimum(local, block.n_rows - 1)  # rounding past the block's end
    return closest, (which, rows.start + local, np.asarray(block.X[local], dtype=np.float64))
