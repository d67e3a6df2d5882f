"""Random draws of the initialisations, reproduced without O(n) work arrays where possible.

Every draw comes from the NumPy ``RandomState`` the estimator builds from
``random_state``, in the order scikit-learn makes it, so the same seed gives the
same start. What each costs on the client (where the generator lives):

- :func:`choose` is ``rng.choice(n, size, p=w / w.sum())`` (with replacement)
  computed chunk by chunk: the cumulative sum is carried across chunks in order,
  so it equals NumPy's to the bit with memory bounded by a chunk (beyond the
  weights themselves, 8 bytes a row, or nothing without weights).
- :func:`distinct_rows` is ``rng.choice(n, K, replace=False[, p])``: without
  weights NumPy draws it as ``permutation(n)[:K]``, a transient array of n int64
  (8 bytes a row, the same as the weights a file's rows keep); no cheaper draw
  gives the same rows. With weights, NumPy's rejection rounds are replayed over
  chunks (same rows, no copy of the weights).
- :class:`UniformResponsibilities` is ``rng.uniform(size=(n, K))`` normalised
  per row, for any range of rows, on any machine: the client runs the stream
  through once (as scikit-learn's single draw does) and keeps the generator's
  state every ``2**20`` numbers (2.5 KB each), so a Dask worker re-draws its
  block from the nearest state without the draws ever travelling.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

__all__ = [
    "Responsibilities",
    "UniformResponsibilities",
    "choose",
    "distinct_rows",
    "sample_rows",
]

Responsibilities = Callable[[int, int], np.ndarray]
"""``resp(start, stop) -> (stop - start, K)``: responsibilities of global rows start:stop."""

_CHUNK = 2**20  # rows per chunk of a cumulative sum
_STATE_EVERY = 2**20  # numbers drawn between kept generator states


def _cdf_chunks(
    weights: np.ndarray | None, n: int, total: float, zeroed: np.ndarray | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """``(start, cumsum(p)[start:stop])`` of ``p = w / total``, chunk by chunk, exactly.

    ``zeroed`` (sorted positions) have their probability set to 0 first.
    """
    carry = 0.0
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        p = np.full(stop - start, 1.0 / total) if weights is None else weights[start:stop] / total
        if zeroed is not None and zeroed.size:
            lo, hi = np.searchsorted(zeroed, [start, stop])
            p[zeroed[lo:hi] - start] = 0.0
        cdf = np.cumsum(np.concatenate(([carry], p)))[1:]
        carry = float(cdf[-1])
        yield start, cdf


def _search_cdf(
    weights: np.ndarray | None, n: int, u: np.ndarray, zeroed: np.ndarray | None = None
) -> np.ndarray:
    """NumPy's ``cdf = cumsum(p); cdf /= cdf[-1]; cdf.searchsorted(u, 'right')``."""
    total = float(n) if weights is None else float(weights.sum())
    if 0 < n <= _CHUNK:  # one chunk: its cumulative sum once
        _, cdf = next(_cdf_chunks(weights, n, total, zeroed))
        cdf /= cdf[-1]
        return np.minimum(np.searchsorted(cdf, u, side="right"), n - 1).astype(np.int64)
    last = 0.0
    for _, cdf in _cdf_chunks(weights, n, total, zeroed):
        last = float(cdf[-1])
    index = np.full(u.shape, n - 1, dtype=np.int64)
    pending = np.ones(u.shape, dtype=bool)
    for start, cdf in _cdf_chunks(weights, n, total, zeroed):
        cdf /= last
        found = pending & (u < cdf[-1])
        if found.any():
            index[found] = start + np.searchsorted(cdf, u[found], side="right")
            pending &= ~found
        if not pending.any():
            break
    return index


def choose(weights: np.ndarray | None, n: int, u: np.ndarray) -> np.ndarray:
    """The rows ``rng.choice(n, p=w / w.sum())`` picks for its uniform draws ``u``.

    Parameters
    ----------
    weights : ndarray of shape (n,) or None
        Non-negative row weights; None for equal weights.
    n : int
    u : ndarray of shape (t,)
        Uniform draws on [0, 1) (``rng.random_sample(t)``).

    Returns
    -------
    ndarray of shape (t,), int64
    """
    return _search_cdf(weights, n, np.asarray(u, dtype=np.float64))


def sample_rows(
    weights: np.ndarray | None, n: int, size: int, rng: np.random.RandomState
) -> np.ndarray:
    """``size`` rows drawn with replacement, in proportion to their weights, (size,) int64."""
    if weights is None:
        return rng.randint(0, n, size=size).astype(np.int64)
    return choose(weights, n, rng.random_sample(size))


def distinct_rows(
    weights: np.ndarray | None, n: int, size: int, rng: np.random.RandomState
) -> np.ndarray:
    """``rng.choice(n, size, replace=False, p=w / w.sum())``, shape (size,), int64.

    With weights, rows of weight 0 are never drawn; when fewer than ``size`` rows
    have positive weight, the draw ignores the weights (as every row then must
    be drawn anyway).
    """
    if weights is None or np.count_nonzero(weights) < size:
        return rng.choice(n, size=size, replace=False).astype(np.int64)
    found = np.empty(0, dtype=np.int64)
    while found.size < size:
        u = rng.random_sample(size - found.size)
        new = _search_cdf(weights, n, u, np.sort(found))
        _, first = np.unique(new, return_index=True)
        found = np.concatenate([found, new[np.sort(first)]])
    return found


class UniformResponsibilities:
    """``rng.uniform(size=(n, K))`` normalised per row, re-drawn for any rows.

    Building it advances ``rng`` past all n·K numbers, as scikit-learn's one draw
    does, keeping the generator's state every ``_STATE_EVERY`` numbers. Calling it
    for rows ``start:stop`` draws them again from the nearest state before
    ``start`` (or straight on, when the previous call ended at ``start``). It
    pickles (to Dask workers) with its states only: kilobytes, never the draws.

    Parameters
    ----------
    rng : RandomState
    n_rows, n_components : int
    """

    def __init__(self, rng: np.random.RandomState, n_rows: int, n_components: int) -> None:
        self.n_rows, self.n_components = n_rows, n_components
        self.rows_per_state = max(1, _STATE_EVERY // n_components)
        self.states: list[Any] = []
        for start in range(0, n_rows, self.rows_per_state):
            self.states.append(rng.get_state())
            rng.random_sample(min(self.rows_per_state, n_rows - start) * n_components)
        self._local = threading.local()  # each thread's (next row, generator)

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_local"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._local = threading.local()

    def __call__(self, start: int, stop: int) -> np.ndarray:
        """Responsibilities of rows ``start:stop``, shape (stop - start, K), float64."""
        K = self.n_components
        cursor = getattr(self._local, "cursor", None)
        if cursor is not None and cursor[0] == start:
            rng = cursor[1]
        else:
            g = start // self.rows_per_state
            rng = np.random.RandomState()
            rng.set_state(self.states[g])
            skip = start - g * self.rows_per_state
            while skip:  # at most rows_per_state rows, in pieces of bounded size
                step = min(skip, self.rows_per_state)
                rng.random_sample(step * K)
                skip -= step
        resp = rng.uniform(size=(stop - start, K))
        self._local.cursor = (stop, rng)
        resp /= resp.sum(axis=1)[:, np.newaxis]
        return resp
