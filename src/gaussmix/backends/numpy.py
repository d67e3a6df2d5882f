"""In-memory NumPy rows, processed in cache-sized chunks.

Memory beyond the data is bounded by the chunk size: no (n, K) or (n, K, d)
array is ever built for the whole data set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .._core import estep
from .._core.covariance import Covariance, DensityForm, Params
from .._core.estep import Quadratic, quadratic, stats_from_resp
from .._core.init import arrays as init_kernels
from .._core.init.draws import Responsibilities
from .._core.init.kmeans import Distances, SeedStep, plusplus_step
from .._core.noise import column_ranges
from .._core.parallel import map_chunks
from .._core.stats import Stats, merge_all
from .._core.xp import NumpyOps
from ._kernels import KERNELS, Kernel, compiled_pass, jit, pass_work
from ._lean import LEAN_KERNELS, LeanKernel

__all__ = ["NumpyRows", "default_chunk_rows"]

# Working set per chunk: the features (m, rows) plus densities and
# responsibilities (K, rows) of each thread stay within a few MB. Chunks this
# large keep the per-chunk Python work (under the GIL) small next to the kernels,
# which is what lets the threads run in parallel.
_CHUNK_BYTES = 8 * 2**20
_MIN_CHUNK_ROWS = 256
_MAX_CHUNK_ROWS = 65536
_LABEL_CHUNK_ROWS = 65536
_RESP_CHUNK_ENTRIES = 2**19  # responsibilities per chunk of 'random' (4 MB)


def default_chunk_rows(n_components: int, n_features: int, kernel: Kernel | None = None) -> int:
    """Rows per chunk for ``kernel``'s temporaries (by default, the largest kernel's)."""
    kernels = KERNELS.values() if kernel is None else (kernel,)
    per_row = max(k.bytes_per_row(n_components, n_features) for k in kernels)
    return int(min(_MAX_CHUNK_ROWS, max(_MIN_CHUNK_ROWS, _CHUNK_BYTES // per_row)))


class CompiledOps(NumpyOps):
    """NumPy's array operations, with numba's exp and flush where the pass runs numba.

    NumPy's float64 exp is a scalar loop on CPUs without AVX-512 (about 8 ns a
    value), and its masked assignment a slow one on every CPU; the compiled passes
    vectorise at whatever width the CPU has, and the shift by each row's top
    happens in the exp's own pass. The results equal NumPy's to 2 ulp.
    """

    @staticmethod
    def exp_shifted(wlp: np.ndarray, top: np.ndarray) -> np.ndarray:
        kernels = jit(wlp.size)
        if kernels is None or not wlp.flags.c_contiguous:
            return NumpyOps.exp_shifted(wlp, top)
        out = wlp if wlp.dtype == np.float64 else np.empty(wlp.shape)
        kernels.exp_shifted(wlp, np.ascontiguousarray(top, dtype=np.float64), out)
        return out

    @staticmethod
    def flush_(rw: np.ndarray) -> None:
        kernels = jit(rw.size)
        if kernels is None or not rw.flags.c_contiguous:
            NumpyOps.flush_(rw)
        else:
            kernels.flush_subnormal(rw)


COMPILED_OPS = CompiledOps()
"""The NumPy backend's array operations (one stateless instance)."""


class NumpyRows:
    """Rows of an in-memory array with optional row weights, seen chunk by chunk.

    Parameters
    ----------
    X : ndarray of shape (n, d), float32 or float64, finite
    weights : ndarray of shape (n,) or None
        Non-negative row weights (multiplicities); ``None`` means all ones.
    chunk_rows : int, optional
        Rows per chunk; by default sized to keep temporaries near a few MB.
    pass_rows : int, optional
        The rows of the whole pass these rows are one block of (a file read block
        by block), by default these: what decides whether the compiled kernels pay
        (:func:`._kernels.jit`).
    """

    def __init__(
        self,
        X: np.ndarray,
        weights: np.ndarray | None = None,
        chunk_rows: int | None = None,
        pass_rows: int | None = None,
    ) -> None:
        self.X = X
        self.weights = weights
        self.chunk_rows = chunk_rows
        self.pass_rows = X.shape[0] if pass_rows is None else pass_rows

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def total_weight(self) -> float:
        return float(self.n_rows if self.weights is None else self.weights.sum())

    def _chunk_rows(self, n_components: int, kernel: Kernel | None = None) -> int:
        if self.chunk_rows is not None:
            return self.chunk_rows
        return default_chunk_rows(n_components, self.n_features, kernel)

    def with_weights(self, weights: np.ndarray | None) -> NumpyRows:
        """The same rows under other weights (n,) (no copy of X)."""
        return NumpyRows(self.X, weights, self.chunk_rows, self.pass_rows)

    def expectation(self, params: Params, cov: Covariance) -> Stats:
        """Merged E-step statistics of all rows under ``params``."""
        return self.expectation_of(quadratic(params, cov.form), cov.form)

    def kernel(self, form: DensityForm, n_components: int) -> tuple[Kernel | LeanKernel, int]:
        """The kernel for ``form``'s E-step on these rows, chosen by cost, and rows per chunk.

        Chunks are sized for the feature kernels (:mod:`._kernels`). They run the
        lean kernels (:mod:`._lean`: a few batched products, no plan to build)
        where those are the cheaper on such a chunk, unless the pass is large
        enough for the compiled feature kernels. Called within the pass
        (:meth:`_compiled_pass`), which decides that.
        """
        features = KERNELS[form.name]
        step = self._chunk_rows(n_components, features)
        lean = LEAN_KERNELS[form.name]
        if lean.pays(min(step, self.n_rows), self.n_features, n_components) and jit(0) is None:
            return lean, step  # (the feature kernels would run NumPy's loops too)
        return features, step

    def _pairs(self, step: int) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """``(X_chunk, weights_chunk)`` of ``step`` rows each, every row once, in order."""
        for start in range(0, self.n_rows, step):
            rows = slice(start, min(start + step, self.n_rows))
            yield self.X[rows], None if self.weights is None else self.weights[rows]

    def expectation_of(self, quad: Quadratic, form: DensityForm) -> Stats:
        """Merged E-step statistics of all rows for densities ``quad`` of ``form``."""
        K = quad.means.shape[0]
        with self._compiled_pass(form, K):
            kernel, step = self.kernel(form, K)
            return estep.expectation(
                kernel,
                kernel.plan(quad, self.X.dtype),
                lambda: self._pairs(step),
                plan64=lambda: kernel.plan(quad, np.float64),
                ops=COMPILED_OPS,
                run=map_chunks,
                noise=quad.noise,
            )

    def _compiled_pass(self, form: DensityForm, n_components: int) -> Any:
        """The context in which a pass over these rows decides on the compiled kernels."""
        work = pass_work(KERNELS[form.name], self.pass_rows, self.n_features, n_components)
        return compiled_pass(work)

    # -- the initialisation primitives (see gaussmix.backends and _core.init) ------------
    def take(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Rows at sorted distinct positions, float64 (m, d), and their weights (m,) or None."""
        if index.size == self.n_rows:  # every row: no gathered copy
            return np.asarray(self.X, dtype=np.float64), self.weights
        w = None if self.weights is None else self.weights[index]
        return np.asarray(self.X[index], dtype=np.float64), w

    def host_weights(self) -> np.ndarray | None:
        """The row weights (n,), or None when unweighted."""
        return self.weights

    def column_ranges(self, axes: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Smallest and largest value of each column of ``X @ axes`` (X: None), rows of
        non-zero weight only (the noise component's box, :mod:`gaussmix._core.noise`)."""
        return column_ranges(self.X, self.weights, axes)

    def nearest_stats(self, centres: np.ndarray, origin: np.ndarray, cov: Covariance) -> Stats:
        """Statistics of every row's hard assignment to its nearest centre."""
        tasks = (
            (self.X[rows], None if self.weights is None else self.weights[rows])
            for rows in self._label_ranges()
        )

        def one(X: np.ndarray, w: np.ndarray | None) -> Stats:
            return init_kernels.nearest_stats(X, w, centres, origin, cov.form)

        return merge_all(map_chunks(one, tasks), cov.form)

    def plusplus_step(
        self, closest: Distances | None, candidates: np.ndarray, draws: np.ndarray | None
    ) -> SeedStep:
        """One k-means++ step; the distances (and row norms) stay in memory here."""
        return plusplus_step(self.X, self.weights, closest, candidates, draws)

    def soft_stats(self, responsibilities: Responsibilities, cov: Covariance) -> Stats:
        """Statistics of ``responsibilities(start, stop)``, drawn chunk by chunk in row order."""
        parts = []
        for rows in self._label_ranges(_RESP_CHUNK_ENTRIES // responsibilities(0, 0).shape[1]):
            X = self.X[rows]
            resp = responsibilities(rows.start, rows.stop)
            w = None if self.weights is None else self.weights[rows]
            rw = resp if w is None else resp * w[:, None]
            total = float(X.shape[0] if w is None else w.sum())
            parts.append(stats_from_resp(X, rw, cov, total_weight=total))
        return merge_all(parts, cov.form)

    def _label_ranges(self, step: int = _LABEL_CHUNK_ROWS) -> Iterator[slice]:
        """Row ranges for the initialisation's passes (``chunk_rows`` when given)."""
        step = max(1, self.chunk_rows or step)
        for start in range(0, self.n_rows, step):
            yield slice(start, min(start + step, self.n_rows))

    def map_log_resp(
        self,
        params: Params,
        cov: Covariance,
        reduce: Callable[[np.ndarray, np.ndarray], np.ndarray],
    ) -> np.ndarray:
        """Concatenate ``reduce(log_norm, log_resp)`` over the chunks, in row order."""
        K = params.means.shape[0]
        quad = quadratic(params, cov.form)
        # Each chunk's result goes straight into the output, so the results are
        # never held twice.
        out: np.ndarray | None = None
        start = 0
        with self._compiled_pass(cov.form, K):
            kernel, step = self.kernel(cov.form, K)
            plan = kernel.plan(quad, self.X.dtype)

            def plan64() -> Any:
                return kernel.plan(quad, np.float64)

            def one(X: np.ndarray) -> np.ndarray:
                return reduce(
                    *estep.chunk_log_resp(kernel, plan, X, plan64=plan64, noise=quad.noise)
                )

            for part in map_chunks(one, ((X,) for X, _ in self._pairs(step))):
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
