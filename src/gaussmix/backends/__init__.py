"""Where rows live and how their kernels run.

Every backend offers a *rows* object with the same small interface, so the EM
loop and the estimator never depend on where the data is:

- ``n_rows``, ``n_features``, ``total_weight``
- ``expectation(params, cov) -> Stats``: merged E-step statistics of all rows
- ``map_log_resp(params, cov, reduce)``: ``reduce(log_norm, log_resp)`` per chunk,
  concatenated in row order, in the backend's own array type
- ``column_ranges(axes) -> (low, high)``: the smallest and largest value of each
  column of ``X @ axes`` (of X for None) over rows of non-zero weight, NaN
  ignored: the noise component's box (:mod:`gaussmix._core.noise`)
- optionally ``worst_explained(params, cov, m) -> ndarray (m', d)``: the rows of
  lowest log-likelihood, where collapsed components are re-seeded (see
  ``_core.em``); without it they restart at the data's mean
- ``with_weights(weights) -> Rows``: the same rows under other host weights (n,)
  (partial labels fit the unlabelled rows as the rows with the labelled ones'
  weights at 0; see :mod:`gaussmix._core.labels`)

and the few primitives the initialisations (:mod:`gaussmix._core.init`, each
method written once over them) need. Each pass runs where the rows live (on the
GPU, on the Dask workers, over the file chunk by chunk); only samples, seed
rows and statistics travel:

- ``take(index) -> (X, weights)``: rows at sorted, distinct positions as float64
  host arrays (m, d), with their weights (m,) or None
- ``host_weights() -> ndarray (n,) | None``: every row's weight on the host
  (8 bytes a row), None when unweighted
- ``nearest_stats(centres, origin, cov) -> Stats``: one pass: the statistics of
  every row's hard assignment to its nearest centre (squared Euclidean distance
  about ``origin``, in the rows' dtype; first centre on a tie)
- ``plusplus_step(closest, candidates, draws) -> SeedStep``: one k-means++ step
  (see :func:`gaussmix._core.init.kmeans.kmeans_plusplus`): the candidate that
  lowers Σ w·(squared distance to the nearest seed) most, each row's new
  distance (kept where the rows live, opaque to the caller) and, given uniform
  ``draws``, the next candidates
- ``soft_stats(responsibilities, cov) -> Stats``: one pass: the statistics of
  responsibilities ``responsibilities(start, stop)`` of global rows

``numpy`` (in-memory arrays, the default) is always available; the others are
imported lazily, only when their kind of input is used.

A backend is its memory placement plus a table of kernels by density form
(``_kernels.KERNELS``, ``_torch_kernels.KERNELS``, keyed by ``form.name``; NumPy
also has ``_lean.LEAN_KERNELS`` for small data); the
E-step algorithm around the kernels is :mod:`gaussmix._core.estep`, written once
for both over an array namespace (:mod:`gaussmix._core.xp`):

- ``numpy.py``: in-memory rows in cache-sized chunks on a thread pool
- ``_kernels.py``: the NumPy kernels (expanded quadratic form, centre groups)
- ``_lean.py``: the NumPy kernels of small chunks (the formulas as a
  few batched products, no plan), chosen by cost
- ``_jit.py``: their compiled (numba) loops
- ``torch.py``: tensor rows on a device (CPU tensors run the NumPy kernels)
- ``_torch_kernels.py``: the torch kernels and array operations
- ``_torch_triton.py``: the fused scatter on CUDA
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from .._core.covariance import Covariance, Params
from .._core.init.draws import Responsibilities
from .._core.init.kmeans import SeedStep
from .._core.stats import Stats

__all__ = ["Rows"]


class Rows(Protocol):
    """The interface every backend's rows object implements."""

    @property
    def n_rows(self) -> int: ...

    @property
    def n_features(self) -> int: ...

    @property
    def total_weight(self) -> float: ...

    def expectation(self, params: Params, cov: Covariance) -> Stats: ...

    def map_log_resp(self, params: Params, cov: Covariance, reduce: Any) -> Any: ...

    def with_weights(self, weights: np.ndarray | None) -> Rows: ...

    def take(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]: ...

    def host_weights(self) -> np.ndarray | None: ...

    def nearest_stats(self, centres: np.ndarray, origin: np.ndarray, cov: Covariance) -> Stats: ...

    def plusplus_step(
        self, closest: Any, candidates: np.ndarray, draws: np.ndarray | None
    ) -> SeedStep: ...

    def soft_stats(self, responsibilities: Responsibilities, cov: Covariance) -> Stats: ...

    def column_ranges(self, axes: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]: ...
