"""Where rows live and how their kernels run.

Every backend offers a *rows* object with the same small interface, so the EM
loop and the estimator never depend on where the data is:

- ``n_rows``, ``n_features``, ``total_weight``
- ``expectation(params, cov) -> Stats``: merged E-step statistics of all rows
- ``initial_stats(n_components, method, rng, cov) -> Stats``: statistics of an
  initial assignment ('kmeans', 'k-means++', 'random', 'random_from_data')
- ``map_log_resp(params, cov, reduce)``: ``reduce(log_norm, log_resp)`` per chunk,
  concatenated in row order, in the backend's own array type
- optionally ``worst_explained(params, cov, m) -> ndarray (m', d)``: the rows of
  lowest log-likelihood, where collapsed components are re-seeded (see
  ``_core.em``); without it they restart at the data's mean

``numpy`` (in-memory arrays, the default) is always available; the others are
imported lazily, only when their kind of input is used.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from .._core.covariance import Covariance, Params
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

    def initial_stats(
        self, n_components: int, method: str, rng: np.random.RandomState, cov: Covariance
    ) -> Stats: ...

    def map_log_resp(self, params: Params, cov: Covariance, reduce: Any) -> Any: ...
