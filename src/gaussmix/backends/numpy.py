"""In-memory NumPy rows, processed in cache-sized chunks.

Memory beyond the data is bounded by the chunk size: no (n, K) or (n, K, d)
array is ever built for the whole data set.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

from .._core.covariance import Covariance, DensityForm, Params
from .._core.estep import stats_from_resp
from .._core.hc import hc_initial_stats
from .._core.init import initial_assignment
from .._core.stats import Stats, merge_all
from . import _kernels

__all__ = ["NumpyRows", "default_chunk_rows", "label_stats"]

# Working set per chunk: the features (m, rows) plus densities and
# responsibilities (K, rows) of each thread stay within a few MB. Chunks this
# large keep the per-chunk Python work (under the GIL) small next to the kernels,
# which is what lets the threads run in parallel.
_CHUNK_BYTES = 8 * 2**20
_MIN_CHUNK_ROWS = 256
_MAX_CHUNK_ROWS = 65536
_LABEL_CHUNK_ROWS = 65536

T = TypeVar("T")


def default_chunk_rows(n_components: int, n_features: int, kind: str = "full") -> int:
    """Rows per chunk for the E-step's temporaries of covariance type ``kind``."""
    per_row = _kernels.bytes_per_row(kind, n_components, n_features)
    return int(min(_MAX_CHUNK_ROWS, max(_MIN_CHUNK_ROWS, _CHUNK_BYTES // per_row)))


def n_threads() -> int:
    """Threads that work on chunks: the CPUs this process may run on.

    ``GAUSSMIX_NUM_THREADS`` overrides it (1 runs every chunk in the calling thread).
    """
    configured = os.environ.get("GAUSSMIX_NUM_THREADS")
    if configured:
        return max(1, int(configured))
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


_pool: ThreadPoolExecutor | None = None
_blas: Any = None


def _single_threaded_blas() -> Any:
    """A context holding BLAS to one thread (its threads only wait on each other here)."""
    global _blas
    if _blas is None:
        from threadpoolctl import ThreadpoolController

        _blas = ThreadpoolController()
    return _blas.limit(limits=1, user_api="blas")


def _map_chunks(fn: Callable[..., T], tasks: Iterable[tuple[Any, ...]]) -> Iterator[T]:
    """``fn(*task) for task in tasks``, in order, on a thread pool when there are several.

    The kernels release the GIL (BLAS, NumPy loops, numba ``nogil``), so chunks run
    in parallel. BLAS is held to one thread meanwhile: its products here are small,
    and its own threads would only oversubscribe the cores. Results come back in
    task order, so merging them is deterministic whatever the scheduling.
    """
    global _pool
    tasks = list(tasks)
    workers = min(n_threads(), len(tasks))
    with _single_threaded_blas():
        if workers <= 1:
            for task in tasks:
                yield fn(*task)
            return
        if _pool is None or _pool._max_workers < workers:
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gaussmix")
        yield from _pool.map(lambda task: fn(*task), tasks)


def label_stats(
    X: np.ndarray,
    weights: np.ndarray | None,
    labels: np.ndarray,
    form: DensityForm,
    n_components: int,
) -> Stats:
    """Exact statistics of hard labels, one component's rows at a time (two-pass centring).

    Parameters
    ----------
    X : ndarray of shape (n, d)
    weights : ndarray of shape (n,) or None
    labels : ndarray of shape (n,), int
        Component of each row; -1 for a row that belongs to none.
    form : DensityForm
        The covariance model's density form (the scatter's shape).
    n_components : int
    """
    d = X.shape[1]
    mass = np.zeros(n_components)
    means = np.zeros((n_components, d))
    second = np.zeros((n_components, d) if form.diagonal else (n_components, d, d))
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(n_components + 1))
    for k in range(n_components):
        rows = order[bounds[k] : bounds[k + 1]]
        if rows.size == 0:
            continue
        Xk = X[rows].astype(np.float64, copy=False)
        wk = np.ones(rows.size) if weights is None else weights[rows]
        mass[k] = wk.sum()
        if mass[k] <= 0:
            continue
        means[k] = wk @ Xk / mass[k]
        Z = Xk - means[k]
        second[k] = wk @ (Z * Z) if form.diagonal else (Z.T * wk) @ Z
    total = float(X.shape[0] if weights is None else weights.sum())
    return Stats(total, 0.0, mass, means, form.reduce_scatter(second))


class NumpyRows:
    """Rows of an in-memory array with optional row weights, seen chunk by chunk.

    Parameters
    ----------
    X : ndarray of shape (n, d), float32 or float64, finite
    weights : ndarray of shape (n,) or None
        Non-negative row weights (multiplicities); ``None`` means all ones.
    chunk_rows : int, optional
        Rows per chunk; by default sized to keep temporaries near a few MB.
    """

    def __init__(
        self, X: np.ndarray, weights: np.ndarray | None = None, chunk_rows: int | None = None
    ) -> None:
        self.X = X
        self.weights = weights
        self.chunk_rows = chunk_rows

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def total_weight(self) -> float:
        return float(self.n_rows if self.weights is None else self.weights.sum())

    def _chunk_rows(self, n_components: int, kind: str = "full") -> int:
        if self.chunk_rows is not None:
            return self.chunk_rows
        return default_chunk_rows(n_components, self.n_features, kind)

    def chunks(
        self, n_components: int, kind: str = "full"
    ) -> Iterator[tuple[slice, np.ndarray, np.ndarray | None]]:
        """Yield ``(rows, X_chunk, weights_chunk)`` covering every row once, in order."""
        step = self._chunk_rows(n_components, kind)
        for start in range(0, self.n_rows, step):
            rows = slice(start, min(start + step, self.n_rows))
            w = None if self.weights is None else self.weights[rows]
            yield rows, self.X[rows], w

    def expectation(self, params: Params, cov: Covariance) -> Stats:
        """Merged E-step statistics of all rows under ``params``."""
        K = params.means.shape[0]
        plan = _kernels.make_plan(params, cov, self.X.dtype)
        tasks = ((X, w, plan) for _, X, w in self.chunks(K, cov.name))
        sums = _kernels.add_sums(list(_map_chunks(_kernels.chunk_sums, tasks)))
        return _kernels.stats_from_sums(plan, sums)

    def initial_stats(
        self, n_components: int, method: str, rng: np.random.RandomState, cov: Covariance
    ) -> Stats:
        """Statistics of the initial assignment ``method`` makes (see ``_core.init``)."""
        if method == "hc":
            return hc_initial_stats(self._take, self.n_rows, n_components, rng, cov)
        assignment = initial_assignment(self.X, self.weights, n_components, method, rng)
        return self._assignment_stats(assignment, cov, n_components)

    def _take(self, index: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        """Rows and weights at sorted positions (None: all), as ``BlockRows._take``."""
        if index is None:
            return self.X, self.weights
        return self.X[index], None if self.weights is None else self.weights[index]

    def _assignment_stats(
        self, assignment: np.ndarray, cov: Covariance, n_components: int
    ) -> Stats:
        """Statistics of a fixed assignment: labels (n,) with -1 for none, or resp (n, K)."""
        parts = []
        if assignment.ndim == 1:  # hard labels: large chunks, one component at a time
            with _single_threaded_blas():
                for start in range(0, self.n_rows, _LABEL_CHUNK_ROWS):
                    rows = slice(start, start + _LABEL_CHUNK_ROWS)
                    w = None if self.weights is None else self.weights[rows]
                    labels = assignment[rows]
                    parts.append(label_stats(self.X[rows], w, labels, cov.form, n_components))
            return merge_all(parts, cov.form)
        for rows, X, w in self.chunks(n_components):
            resp = assignment[rows]
            rw = resp if w is None else resp * w[:, None]
            total = float(X.shape[0] if w is None else w.sum())
            parts.append(stats_from_resp(X, rw, cov, total_weight=total))
        return merge_all(parts, cov.form)

    def map_log_resp(
        self,
        params: Params,
        cov: Covariance,
        reduce: Callable[[np.ndarray, np.ndarray], np.ndarray],
    ) -> np.ndarray:
        """Concatenate ``reduce(log_norm, log_resp)`` over the chunks, in row order."""
        K = params.means.shape[0]
        plan = _kernels.make_plan(params, cov, self.X.dtype)

        def one(X: np.ndarray) -> np.ndarray:
            return reduce(*_kernels.chunk_log_resp(X, plan))

        # Each chunk's result goes straight into the output, so the results are
        # never held twice.
        out: np.ndarray | None = None
        start = 0
        for part in _map_chunks(one, ((X,) for _, X, _ in self.chunks(K, cov.name))):
            if out is None:
                out = np.empty((self.n_rows, *part.shape[1:]), dtype=part.dtype)
            out[start : start + part.shape[0]] = part
            start += part.shape[0]
        assert out is not None and start == self.n_rows
        return out

    def worst_explained(self, params: Params, cov: Covariance, m: int) -> np.ndarray:
        """The ``m`` rows of lowest log-likelihood under ``params``, shape (m', d), m' <= m.

        Rows of weight 0 are never chosen. Used to re-seed collapsed components.
        """
        log_norm = self.map_log_resp(params, cov, lambda log_norm, _: log_norm)
        if self.weights is not None:
            log_norm = np.where(self.weights > 0, log_norm, np.inf)
            m = min(m, int(np.count_nonzero(self.weights)))
        worst = np.argsort(log_norm, kind="stable")[:m]
        return np.asarray(self.X[worst], dtype=np.float64)
