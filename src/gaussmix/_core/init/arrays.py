"""The initialisation primitives over one in-memory array (the NumPy reference kernels).

:class:`~gaussmix.backends.numpy.NumpyRows` implements its part of the ``Rows``
protocol with these functions, and so does every block of a Dask array or a scan
file (each block is a NumpyRows); the k-means on the host sample
(:mod:`.kmeans`) calls them directly. Work is chunked so that no (n, K) array is
ever built: a chunk's distance matrix holds about ``_CHUNK_ENTRIES`` numbers.

Distances are squared Euclidean, written as BLAS products:

- nearest centre: ``|c|² - 2 (x - o)·(c - o)`` about an origin ``o`` near the
  data, in the rows' dtype, as one product of the rows with a column of ones
  appended and :func:`distance_factors` (``|x - o|²`` is the same for every
  centre, so it is left out, as scikit-learn's Lloyd iteration does, except where
  few centres are compared by packed keys, which need true distances);
- k-means++: ``(-2 c·x + |c|²) + |x|²`` in float64 on the rows as given, clipped at
  0: scikit-learn's ``kmeans_plusplus`` formula, term for term, so the same
  ``random_state`` picks the same seeds.
"""

from __future__ import annotations

import numpy as np

from ..covariance import DensityForm
from ..stats import Stats

__all__ = [
    "ClusterSums",
    "cluster_sums",
    "cumsum_search",
    "distance_factors",
    "label_stats",
    "nearest_labels",
    "nearest_of_augmented",
    "nearest_stats",
    "plusplus_closest",
    "plusplus_distances",
    "plusplus_potentials",
    "row_norms",
]

_CHUNK_ENTRIES = 2**18  # entries of a chunk's distance matrix (2 MB in float64)
_MIN_CHUNK_ROWS = 256
_KEY_BITS = 4
"""Up to 2**_KEY_BITS centres, nearest centres are found by packed keys (see
:func:`nearest_of_augmented`); from 32 they cost what argmin does (bench/RESULTS.md)."""
_KEY_ENTRIES = 2**15  # keys per block (256 KB: they stay in cache between the passes)
_ONE_HOT_ENTRIES = 2**13  # beyond, the sparse product's fixed cost is the smaller


def chunk_rows(n_columns: int) -> int:
    """Rows per chunk when each row needs ``n_columns`` distances."""
    return max(_MIN_CHUNK_ROWS, _CHUNK_ENTRIES // max(1, n_columns))


def _float(X: np.ndarray) -> np.dtype:
    return X.dtype if X.dtype in (np.float32, np.float64) else np.dtype(np.float64)


def distance_factors(centres: np.ndarray, dtype: np.dtype | type = np.float64) -> np.ndarray:
    """``[-2 Cᵀ; |c|²]``, shape (d + 1, K): rows ``[x, 1]`` times it give |c|² - 2 x·c,
    each row's squared distance to each centre less |x|² (the same for every centre)."""
    C = np.asarray(centres, dtype=dtype)
    factors = np.empty((C.shape[1] + 1, C.shape[0]), dtype=dtype)
    np.multiply(C.T, -2.0, out=factors[:-1])
    np.einsum("kj,kj->k", C, C, out=factors[-1])
    return factors


def nearest_of_augmented(
    Xa: np.ndarray, factors: np.ndarray, norms: np.ndarray | None = None
) -> np.ndarray:
    """Index of each row's nearest centre (the first on a tie), shape (n,), intp.

    Parameters
    ----------
    Xa : ndarray of shape (n, d + 1)
        Rows with a last column of ones (k-means keeps its rows so).
    factors : ndarray of shape (d + 1, K)
        The centres' :func:`distance_factors`.
    norms : ndarray of shape (n,), float64, optional
        The rows' squared norms |x|² (without the ones), computed here when needed
        and not given.
    """
    n, K = Xa.shape[0], factors.shape[1]
    labels = np.empty(n, dtype=np.intp)
    if K > 2**_KEY_BITS or Xa.dtype != np.float64:
        step = chunk_rows(K)
        for start in range(0, n, step):
            stop = start + step
            np.argmin(Xa[start:stop] @ factors, axis=1, out=labels[start:stop])
        return labels
    # Few centres: an argmin over each row's K distances branches on the data and
    # mispredicts (half its time). Instead each squared distance becomes an integer key,
    # its bits, whose lowest bits are replaced by the centre's index, and one vectorised
    # minimum over the K keys of each row gives its nearest centre. Non-negative doubles'
    # bits order as they do, and a negative one (only rounding makes one, at a distance
    # of about 0) orders below them all; distances within 2**-48 of each other tie, and
    # ties go to the first centre.
    if norms is None:
        norms = row_norms(Xa[:, :-1])
    step = max(_MIN_CHUNK_ROWS, _KEY_ENTRIES // K)
    buffer = np.empty((K, min(step, n)))
    keys = buffer.view(np.int64)
    low = np.int64(2**_KEY_BITS - 1)
    index = np.arange(K, dtype=np.int64)[:, None]
    factors_t = np.ascontiguousarray(factors.T)
    for start in range(0, n, step):
        stop = min(start + step, n)
        D, key = buffer[:, : stop - start], keys[:, : stop - start]
        np.matmul(factors_t, Xa[start:stop].T, out=D)
        D += norms[start:stop]
        key &= ~low
        key |= index
        np.bitwise_and(np.minimum.reduce(key, axis=0), low, out=labels[start:stop])
    return labels


def nearest_labels(
    X: np.ndarray, centres: np.ndarray, origin: np.ndarray | None = None
) -> np.ndarray:
    """Index of each row's nearest centre (the first on a tie), shape (n,), intp.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    centres : ndarray of shape (K, d), float64
    origin : ndarray of shape (d,), optional
        Subtracted from rows and centres first, so distances keep their digits
        for data far from 0; None when the data are already centred.
    """
    dtype = _float(X)
    factors = distance_factors(centres if origin is None else centres - origin, dtype)
    n, d = X.shape
    labels = np.empty(n, dtype=np.intp)
    step = chunk_rows(factors.shape[1])
    block = np.empty((min(step, n), d + 1), dtype=dtype)
    block[:, d] = 1.0
    for start in range(0, n, step):
        rows = X[start : start + step]
        part = block[: rows.shape[0]]
        if origin is None:
            part[:, :d] = rows
        else:
            np.subtract(rows, origin, out=part[:, :d], casting="unsafe")
        labels[start : start + rows.shape[0]] = nearest_of_augmented(part, factors)
    return labels


class ClusterSums:
    """Per-cluster weighted sums of fixed rows by labels that change, (K, m) float64.

    A one-hot product for few rows and clusters, a sparse one otherwise (its cost
    does not grow with K). k-means sums the same rows by new labels every iteration,
    so the sparse membership matrix is built once and only its row indices, the
    labels, are replaced: building it costs more than the product on a few thousand
    rows.

    Parameters
    ----------
    X : ndarray of shape (n, m)
        With a column of ones, that column of the sums holds the clusters' masses.
    weights : ndarray of shape (n,) or None
    n_clusters : int
    """

    def __init__(self, X: np.ndarray, weights: np.ndarray | None, n_clusters: int) -> None:
        n = X.shape[0]
        self._X = np.asarray(X, dtype=np.float64)
        self._w = np.ones(n) if weights is None else weights
        self._n_clusters = n_clusters
        self._member = None
        if n * n_clusters > _ONE_HOT_ENTRIES:
            from scipy.sparse import csc_array

            # One entry per column (row of X), in row order: built as it is stored.
            empty = np.zeros(n, dtype=np.intp)
            self._member = csc_array((self._w, empty, np.arange(n + 1)), shape=(n_clusters, n))

    def __call__(self, labels: np.ndarray) -> np.ndarray:
        """The sums of the rows labelled ``labels`` (n,), each in [0, K)."""
        if self._member is None:
            n = labels.shape[0]
            onehot = np.zeros((self._n_clusters, n))
            onehot[labels, np.arange(n)] = self._w
            return onehot @ self._X
        self._member.indices[...] = labels
        return np.asarray(self._member @ self._X)


def cluster_sums(
    X: np.ndarray, weights: np.ndarray | None, labels: np.ndarray, n_clusters: int
) -> np.ndarray:
    """Per-cluster weighted sums of rows once, (K, m) float64 (see :class:`ClusterSums`)."""
    return ClusterSums(X, weights, n_clusters)(labels)


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
        Component of each row, in [0, n_components), or -1 for a row of none (it
        counts in the total weight only).
    form : DensityForm
        The covariance model's density form (the scatter's shape).
    n_components : int
    """
    total_weight = float(X.shape[0] if weights is None else weights.sum())
    known = labels >= 0
    if not known.all():  # rows of no component (partial labels) count only in the total
        X, labels = X[known], labels[known]
        weights = None if weights is None else weights[known]
    d = X.shape[1]
    w = np.ones(X.shape[0]) if weights is None else weights
    mass = np.bincount(labels, weights=w, minlength=n_components)
    filled = mass > 0
    means = cluster_sums(X, weights, labels, n_components)
    means /= np.where(filled, mass, 1.0)[:, None]
    means[~filled] = 0.0
    # The second pass, about the means, gathers each component's rows a block at a
    # time into one buffer: gathering them whole would take fresh memory, and its
    # page faults, for every component.
    second = np.zeros((n_components, d) if form.diagonal else (n_components, d, d))
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(n_components + 1))
    step = max(1, _GATHER_ENTRIES // max(d, 1))
    buffer = np.empty((min(step, X.shape[0]), d))
    for k in np.flatnonzero(filled):
        rows = order[bounds[k] : bounds[k + 1]]
        for a in range(0, rows.size, step):
            block = rows[a : a + step]
            Z = buffer[: block.size]
            _gather(X, block, Z)
            Z -= means[k]
            wk = w[block]
            if form.diagonal:
                Z *= Z
                second[k] += wk @ Z
            else:
                second[k] += (Z.T * wk) @ Z
    return Stats(total_weight, 0.0, mass, means, form.reduce_scatter(second))


_GATHER_ENTRIES = 2**15  # numbers per gathered block (256 KB, reused: no fresh pages)


def _gather(X: np.ndarray, rows: np.ndarray, out: np.ndarray) -> None:
    """``out[...] = X[rows]``, in place where the dtypes agree (indexing builds the copy
    elsewhere first: at 2 features, six times the time)."""
    if X.dtype == out.dtype:
        np.take(X, rows, axis=0, out=out)
    else:
        out[...] = X[rows]


def nearest_stats(
    X: np.ndarray,
    weights: np.ndarray | None,
    centres: np.ndarray,
    origin: np.ndarray | None,
    form: DensityForm,
) -> Stats:
    """Statistics of every row's hard assignment to its nearest centre (see ``Rows``)."""
    labels = nearest_labels(X, centres, origin)
    return label_stats(X, weights, labels, form, centres.shape[0])


def row_norms(X: np.ndarray) -> np.ndarray:
    """Squared Euclidean norm of each row, (n,) float64 (scikit-learn's ``row_norms``)."""
    out = np.empty(X.shape[0])
    step = chunk_rows(X.shape[1])
    for start in range(0, X.shape[0], step):
        block = np.asarray(X[start : start + step], dtype=np.float64)
        out[start : start + step] = np.einsum("ij,ij->i", block, block)
    return out


def plusplus_distances(
    X: np.ndarray, centres: np.ndarray, start: int, stop: int, norms: np.ndarray | None = None
) -> np.ndarray:
    """Squared distances of rows ``start:stop`` to ``centres`` (m, d), shape (m, rows), float64.

    scikit-learn's ``_euclidean_distances`` on the rows as given (not centred), term
    for term, so that k-means++ draws the same seeds. ``norms`` are the rows'
    :func:`row_norms` (computed here when not given).
    """
    block = np.asarray(X[start:stop], dtype=np.float64)
    x_sq = np.einsum("ij,ij->i", block, block) if norms is None else norms[start:stop]
    dist = centres @ block.T
    dist *= -2.0
    dist += np.einsum("ij,ij->i", centres, centres)[:, None]
    dist += x_sq[None, :]
    return np.maximum(dist, 0.0, out=dist)


def plusplus_potentials(
    X: np.ndarray,
    weights: np.ndarray | None,
    closest: np.ndarray,
    candidates: np.ndarray,
    norms: np.ndarray | None = None,
    keep: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Σ_i w_i min(closest_i, |x_i - c_j|²) for each candidate c_j, shape (m,).

    Parameters
    ----------
    X : ndarray of shape (n, d)
    weights : ndarray of shape (n,) or None
    closest : ndarray of shape (n,), float64
        Each row's squared distance to its nearest seed so far.
    candidates : ndarray of shape (m, d), float64
    norms : ndarray of shape (n,), optional
        The rows' :func:`row_norms`.
    keep : bool
        Also return the (m, n) updated distances, ``min(closest, |x - c_j|²)``.
    """
    m, n = candidates.shape[0], X.shape[0]
    pots = np.zeros(m)
    kept = np.empty((m, n)) if keep else None
    step = chunk_rows(m)
    for start in range(0, n, step):
        stop = min(start + step, n)
        dist = plusplus_distances(X, candidates, start, stop, norms)
        np.minimum(dist, closest[start:stop], out=dist)
        pots += dist.sum(axis=1) if weights is None else dist @ weights[start:stop]
        if kept is not None:
            kept[:, start:stop] = dist
    return pots, kept


def plusplus_closest(
    X: np.ndarray,
    centre: np.ndarray,
    closest: np.ndarray | None,
    norms: np.ndarray | None = None,
) -> np.ndarray:
    """``min(closest, |x - centre|²)`` per row (the distances alone when closest is None)."""
    n = X.shape[0]
    out = np.empty(n)
    step = chunk_rows(1)
    for start in range(0, n, step):
        stop = min(start + step, n)
        out[start:stop] = plusplus_distances(X, centre[None], start, stop, norms)[0]
    return out if closest is None else np.minimum(out, closest, out=out)


def cumsum_search(
    values: np.ndarray, weights: np.ndarray | None, targets: np.ndarray, carry: float = 0.0
) -> tuple[np.ndarray, float]:
    """``searchsorted(carry + cumsum(w * values), targets)`` chunk by chunk.

    The running sum is carried from chunk to chunk in order, so the result equals
    one ``np.cumsum`` over the whole array bit for bit, with memory bounded by a
    chunk.

    Parameters
    ----------
    values : ndarray of shape (n,), float64
    weights : ndarray of shape (n,) or None
    targets : ndarray of shape (t,)
    carry : float
        The sum of everything before ``values`` (for blocks of a larger whole).

    Returns
    -------
    index : ndarray of shape (t,), int64
        For each target, the first position whose running sum reaches it (side
        'left'); ``n`` where none does.
    carry : float
        The running sum after the last value.
    """
    n = values.shape[0]
    step = chunk_rows(1)
    if n <= step and carry == 0.0:  # one chunk: the sums from 0 (0 + v is v exactly)
        sums = np.cumsum(values if weights is None else weights * values)
        index = np.searchsorted(sums, targets).astype(np.int64, copy=False)
        return index, float(sums[-1]) if n else 0.0
    index = np.full(targets.shape, n, dtype=np.int64)
    pending = np.ones(targets.shape, dtype=bool)
    for start in range(0, n, step):
        stop = min(start + step, n)
        part = values[start:stop] if weights is None else weights[start:stop] * values[start:stop]
        sums = np.cumsum(np.concatenate(([carry], part)))[1:]
        carry = float(sums[-1])
        found = pending & (targets <= carry)
        if found.any():
            index[found] = start + np.searchsorted(sums, targets[found])
            pending &= ~found
    return index, carry
