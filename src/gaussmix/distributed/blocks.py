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
With at most :data:`INIT_SAMPLE_ROWS` rows, the rows are gathered and initialised
exactly as the NumPy backend does (same random stream, same start). Beyond that:

- ``'kmeans'``: k-means (scikit-learn, one run) on a uniform random sample of
  :data:`INIT_SAMPLE_ROWS` rows; every row is then assigned to its nearest
  k-means centre in one pass over the blocks, and the initial parameters are the
  statistics of that hard assignment, as for in-memory data.
- ``'k-means++'`` and ``'random_from_data'``: the seeds are picked from the sample
  (k-means++ seeding, or uniformly / in proportion to the row weights); each
  component starts at its seed row, as for in-memory data. A uniform sample makes
  ``'random_from_data'`` a uniform pick over all rows.
- ``'random'``: random responsibilities drawn block by block (a generator per
  block, seeded from ``random_state`` and the block's first row), one pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._core.covariance import Covariance, DensityForm, Params
from .._core.hc import hc_initial_stats
from .._core.init import initial_assignment
from .._core.stats import Stats
from ..backends.numpy import NumpyRows

__all__ = ["INIT_SAMPLE_ROWS", "BlockCheck", "BlockFunc", "BlockRows"]

INIT_SAMPLE_ROWS = 65_536
"""Rows gathered on the client to initialise larger data (a few MB)."""

BlockFunc = Callable[..., Stats]
"""``func(block: NumpyRows, rows: slice, *shared) -> Stats``; module-level, so it pickles."""

BlockCheck = Callable[[np.ndarray, "slice | np.ndarray"], np.ndarray]
"""``check(X, rows) -> X``: the input boundary's value checks of a block whose rows sit
at ``rows`` globally (see :class:`gaussmix._input.ValueCheck`); it may return the
block in float64. It pickles, so Dask workers run it where the block is computed."""


class BlockRows:
    """Base class: the ``Rows`` protocol for rows held as a sequence of blocks.

    Subclasses set ``n_rows``, ``n_features``, ``total_weight`` and ``check`` (the
    boundary's :data:`BlockCheck`) and implement ``_map_merge`` (over non-empty
    blocks only), ``_take`` and ``map_log_resp``; each runs ``check`` on every block
    it passes on, so values are checked as they stream.
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

    def map_log_resp(self, params: Params, cov: Covariance, reduce: Any) -> Any:
        """``reduce(log_norm, log_resp)`` per block, in row order."""
        raise NotImplementedError

    def expectation(self, params: Params, cov: Covariance) -> Stats:
        """Merged E-step statistics of all rows: one pass over the blocks."""
        return self._map_merge(_expectation, cov.form, params, cov)

    def initial_stats(
        self, n_components: int, method: str, rng: np.random.RandomState, cov: Covariance
    ) -> Stats:
        """Statistics of the initial assignment ``method`` makes (see the module docstring)."""
        K = n_components
        if method == "hc":  # its own sample, the same on every row source
            return hc_initial_stats(self._take, self.n_rows, K, rng, cov)
        if self.n_rows <= INIT_SAMPLE_ROWS:
            X, w = self._take(None)
            return NumpyRows(X, w).initial_stats(K, method, rng, cov)
        if method == "random":
            seed = int(rng.randint(np.iinfo(np.int32).max))
            return self._map_merge(_random_stats, cov.form, seed, K, cov)
        # With replacement, then deduplicated: cheap for any n (n >> sample size here).
        index = np.unique(rng.randint(0, self.n_rows, size=INIT_SAMPLE_ROWS))
        sample = NumpyRows(*self._take(index))
        stats = sample._assignment_stats(
            initial_assignment(sample.X, sample.weights, K, method, rng), cov, K
        )
        if method == "kmeans":
            return self._map_merge(_nearest_centre_stats, cov.form, stats.means, cov)
        # One seed row per component; the weights come out as the NumPy backend's.
        return stats._replace(total_weight=self.total_weight)


# -- block functions (module level: they travel to Dask workers by reference) ------


def _expectation(block: NumpyRows, rows: slice, params: Params, cov: Covariance) -> Stats:
    return block.expectation(params, cov)


def _random_stats(block: NumpyRows, rows: slice, seed: int, K: int, cov: Covariance) -> Stats:
    resp = np.random.default_rng([seed, rows.start]).uniform(size=(block.n_rows, K))
    return block._assignment_stats(resp / resp.sum(axis=1, keepdims=True), cov, K)


def _nearest_centre_stats(
    block: NumpyRows, rows: slice, centres: np.ndarray, cov: Covariance
) -> Stats:
    K = centres.shape[0]
    half_norms = 0.5 * np.einsum("kj,kj->k", centres, centres)
    labels = np.concatenate(
        [
            (X.astype(np.float64, copy=False) @ centres.T - half_norms).argmax(axis=1)
            for _, X, _ in block.chunks(K)
        ]
    )
    return block._assignment_stats(labels, cov, K)
