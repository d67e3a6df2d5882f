"""k-means++ seeding and k-means, written once over the ``Rows`` primitives.

:func:`kmeans_plusplus` is scikit-learn's ``kmeans_plusplus`` step for step, with
the same draws, over any rows: each step is one call of the rows'
``plusplus_step`` (two passes where the rows live).

:func:`kmeans_centres` is scikit-learn's ``KMeans(n_clusters=K, n_init=1)`` (Lloyd's
algorithm) on rows held on the host: the data centred on their mean, k-means++
seeds, iterations until no label changes or the centres move (summed squared
shift) by at most ``tol`` times the mean feature variance, empty clusters moved
to the rows farthest from their centres, and a last labelling by the final
centres; with many rows Hamerly's bounds spare most rows most of the distances,
with the same labels (:class:`_Nearest`). :func:`kmeans_stats` runs it on all rows up to
``KMEANS_SAMPLE_ROWS`` and on a sample of that many beyond (see its docstring).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..covariance import Covariance
from ..parallel import map_chunks, single_threaded_blas
from ..stats import Stats
from . import arrays
from .draws import choose, sample_rows

__all__ = [
    "KMEANS_FULL_STEPS",
    "KMEANS_MAX_ITER",
    "KMEANS_SAMPLE_ROWS",
    "KMEANS_TOL",
    "Distances",
    "SeedStep",
    "kmeans_centres",
    "kmeans_plusplus",
    "kmeans_stats",
    "take_rows",
]

KMEANS_SAMPLE_ROWS = 65_536
"""Up to this many rows, 'kmeans' is scikit-learn's KMeans on all of them; beyond,
on a sample of this many rows drawn with replacement in proportion to the weights."""
KMEANS_FULL_STEPS = 1
"""Lloyd steps over all rows after the sample's k-means (beyond KMEANS_SAMPLE_ROWS)."""
KMEANS_MAX_ITER = 300  # scikit-learn's KMeans defaults
KMEANS_TOL = 1e-4


class SeedStep(NamedTuple):
    """What one k-means++ step over rows returns (see ``Rows.plusplus_step``).

    Attributes
    ----------
    closest : any
        Each row's squared distance to its nearest seed so far, kept where the rows
        live (an array, a tensor, persisted Dask blocks); pass it to the next step.
    best : int
        Which of the step's candidates became the seed.
    following : ndarray of shape (t,), int64, or None
        Positions of the next step's candidates (in draw order), or None when no
        draws were given.
    candidates : ndarray of shape (t, d), float64, or None
        The rows at those positions.
    """

    closest: Any
    best: int
    following: np.ndarray | None
    candidates: np.ndarray | None


def take_rows(rows: Any, index: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Rows at any positions (repeats and any order allowed), through ``rows.take``.

    Returns
    -------
    X : ndarray of shape (len(index), d), float64
    weights : ndarray of shape (len(index),) or None
    """
    unique, inverse = np.unique(np.asarray(index, dtype=np.int64), return_inverse=True)
    X, w = rows.take(unique)
    return X[inverse], None if w is None else w[inverse]


def kmeans_plusplus(rows: Any, n_clusters: int, rng: np.random.RandomState) -> np.ndarray:
    """Row positions of scikit-learn's k-means++ seeds, shape (n_clusters,), int64.

    The first seed is drawn in proportion to the row weights, each next one as
    the best of ``2 + int(log K)`` candidates drawn in proportion to the weighted
    squared distance to the nearest seed so far (the one that lowers the
    weighted sum of those distances most). Distances are those of the rows as
    given, in float64, like scikit-learn's.

    Parameters
    ----------
    rows : Rows
    n_clusters : int
    rng : RandomState
    """
    n = rows.n_rows
    n_trials = 2 + int(np.log(n_clusters))
    following = choose(rows.host_weights(), n, np.array([rng.random_sample()]))
    candidates, _ = take_rows(rows, following)
    # scikit-learn draws each step's trials after the previous step: the same stream.
    trials = rng.uniform(size=(n_clusters - 1, n_trials))
    seeds = np.empty(n_clusters, dtype=np.int64)
    closest = None
    for c in range(n_clusters):
        draws = trials[c] if c < n_clusters - 1 else None
        step = rows.plusplus_step(closest, candidates, draws)
        seeds[c] = following[step.best]
        closest, following, candidates = step.closest, step.following, step.candidates
    return seeds


def _tolerance(Xc: np.ndarray) -> float:
    """scikit-learn's KMeans tolerance: tol times the mean (unweighted) feature variance,
    from the rows ``Xc`` (n, d) centred on their mean (one pass, no temporary)."""
    variances = np.einsum("ij,ij->j", Xc, Xc) / Xc.shape[0]
    return float(np.mean(variances)) * KMEANS_TOL


class Distances(NamedTuple):
    """k-means++'s per-row state over an in-memory array (``SeedStep.closest``).

    Attributes
    ----------
    closest : ndarray of shape (n,)
        Squared distance to the nearest seed so far.
    norms : ndarray of shape (n,)
        The rows' squared norms, computed once (as scikit-learn does).
    """

    closest: np.ndarray
    norms: np.ndarray


_KEEP_ENTRIES = 2**23  # keep a step's candidate distances (64 MB) instead of a second pass
TASK_ROWS = 16_384
"""Rows per task of the host passes: fixed, so sums do not depend on the thread count."""


def _tasks(n: int) -> list[tuple[int, int]]:
    return [(start, min(start + TASK_ROWS, n)) for start in range(0, n, TASK_ROWS)]


def plusplus_step(
    X: np.ndarray,
    weights: np.ndarray | None,
    state: Distances | None,
    candidates: np.ndarray,
    draws: np.ndarray | None,
) -> SeedStep:
    """One k-means++ step over an in-memory array (the ``Rows.plusplus_step`` contract).

    Tasks of ``TASK_ROWS`` rows run on the thread pool; the distances to the
    step's candidates are kept (no second pass) while they fit in 64 MB.
    """
    n = X.shape[0]
    tasks = _tasks(n)
    w_of = (lambda a, b: None) if weights is None else (lambda a, b: weights[a:b])
    if state is None:
        norms = _joined(list(map_chunks(lambda a, b: arrays.row_norms(X[a:b]), tasks)))
    else:
        norms = state.norms

    def closest_to(centre: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
        def one(a: int, b: int) -> np.ndarray:
            before = None if previous is None else previous[a:b]
            return arrays.plusplus_closest(X[a:b], centre, before, norms[a:b])

        return _joined(list(map_chunks(one, tasks)))

    if state is None or candidates.shape[0] == 1:
        best, potential = 0, None
        closest = closest_to(candidates[0], None if state is None else state.closest)
    else:
        keep = candidates.shape[0] * n <= _KEEP_ENTRIES

        def pots_of(a: int, b: int) -> tuple[np.ndarray, np.ndarray | None]:
            return arrays.plusplus_potentials(
                X[a:b], w_of(a, b), state.closest[a:b], candidates, norms[a:b], keep
            )

        parts = list(map_chunks(pots_of, tasks))
        pots = parts[0][0] if len(parts) == 1 else np.sum([p for p, _ in parts], axis=0)
        best = int(np.argmin(pots))
        potential = float(pots[best])
        if keep:
            closest = _joined([kept[best] for _, kept in parts if kept is not None])
        else:
            closest = closest_to(candidates[best], state.closest)
    if draws is None:
        return SeedStep(Distances(closest, norms), best, None, None)
    if potential is None:
        potential = float(closest.sum() if weights is None else closest @ weights)
    following, _ = arrays.cumsum_search(closest, weights, draws * potential)
    following = np.minimum(following, n - 1)
    rows = np.asarray(X[following], dtype=np.float64)
    return SeedStep(Distances(closest, norms), best, following, rows)


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    """The tasks' parts in row order (the one part itself, uncopied)."""
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


class _HostRows:
    """The primitives k-means++ needs, over an in-memory float64 array (see ``Rows``)."""

    def __init__(self, X: np.ndarray, weights: np.ndarray | None) -> None:
        self.X, self.weights = X, weights
        self.n_rows = X.shape[0]

    def host_weights(self) -> np.ndarray | None:
        return self.weights

    def take(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        return self.X[index], None if self.weights is None else self.weights[index]

    def plusplus_step(
        self, state: Distances | None, candidates: np.ndarray, draws: np.ndarray | None
    ) -> SeedStep:
        return plusplus_step(self.X, self.weights, state, candidates, draws)


def kmeans_centres(
    X: np.ndarray, weights: np.ndarray | None, n_clusters: int, rng: np.random.RandomState
) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's ``KMeans(n_clusters, n_init=1, random_state=rng)`` on host rows.

    Parameters
    ----------
    X : ndarray of shape (n, d), float64
    weights : ndarray of shape (n,) or None
    n_clusters : int
    rng : RandomState

    Returns
    -------
    centres : ndarray of shape (n_clusters, d)
    labels : ndarray of shape (n,), intp
        Each row's nearest final centre.
    """
    mean = X.mean(axis=0)
    n, d = X.shape
    # The rows centred on their mean (distances keep their digits however far the
    # data lie from 0), with a column of ones: it puts |c|² into the distances'
    # product and the clusters' masses into the sums'.
    Xa = np.empty((n, d + 1))
    np.subtract(X, mean, out=Xa[:, :d])
    Xa[:, d] = 1.0
    Xc = Xa[:, :d]
    tol = _tolerance(Xc)
    # held once for the whole run (threads work on tasks)
    with single_threaded_blas(X.size * n_clusters):
        seeds = kmeans_plusplus(_HostRows(Xc, weights), n_clusters, rng)
        centres = Xc[seeds]
        nearest = _Nearest(Xa, weights, n_clusters)
        moved = None
        previous = None
        strict = False
        for _ in range(KMEANS_MAX_ITER):
            sums = nearest.assign(centres, moved)
            labels = nearest.labels
            mass = sums[:, d]
            filled = mass > 0
            if not filled.all():
                _relocate(Xa, weights, centres, labels, sums, np.flatnonzero(~filled))
                filled = mass > 0
            # times the reciprocal, as scikit-learn does (an empty cluster keeps 0 sums)
            new = sums[:, :d] * (1.0 / np.where(filled, mass, 1.0))[:, None]
            delta = new - centres
            shift = float(np.einsum("kj,kj->", delta, delta))
            if nearest.bounded:
                moved = np.sqrt(np.einsum("kj,kj->k", delta, delta))
            centres = new
            if previous is not None and np.array_equal(labels, previous):
                strict = True
                break
            if shift <= tol:
                break
            previous = labels.copy()
        if not strict:
            nearest.assign(centres, moved, sums=False)
    return centres + mean, nearest.labels


_BOUNDED_MIN_ROWS_TIMES_CLUSTERS = 2**16
_BOUNDED_MIN_PRODUCT = 256
""":class:`_Nearest` keeps its bounds from this many rows times clusters, and where
a row's distances cost at least this many multiply-adds (clusters times features
plus one): below either, relabelling every row costs less than the bounds'
dozen passes over the rows (bench/RESULTS.md, the k-means start)."""
_MARGIN = 1e-9
"""Relative margin a skipped row's bounds must clear: far beyond their rounding."""


class _Nearest:
    """Each row's nearest centre as k-means moves the centres: Lloyd's labels.

    With many rows, Hamerly's bounds spare most rows the distances to every centre
    once the centres settle: each row keeps an upper bound on its distance to its
    own centre and a lower bound on its distance to every other, both moved by
    how far the centres moved; a row is relabelled unless its upper bound is
    below the lower one, or below half its centre's distance to the nearest other
    centre, by a relative margin far beyond the bounds' rounding (so a skipped row
    is one whose label no rounding of the distances could change). The labels are
    those of relabelling every row, as scikit-learn's Lloyd iteration does.

    Parameters
    ----------
    Xa : ndarray of shape (n, d + 1)
        The rows with their column of ones (see :func:`kmeans_centres`).
    weights : ndarray of shape (n,) or None
    n_clusters : int

    Attributes
    ----------
    labels : ndarray of shape (n,), intp
    """

    def __init__(self, Xa: np.ndarray, weights: np.ndarray | None, n_clusters: int) -> None:
        n = Xa.shape[0]
        self.Xa, self.weights = Xa, weights
        self.labels = np.zeros(n, dtype=np.intp)
        self.bounded = (
            n * n_clusters >= _BOUNDED_MIN_ROWS_TIMES_CLUSTERS
            and n_clusters * Xa.shape[1] >= _BOUNDED_MIN_PRODUCT
        )
        self.norms = arrays.row_norms(Xa[:, :-1])
        self._sums = {
            a: arrays.ClusterSums(Xa[a:b], None if weights is None else weights[a:b], n_clusters)
            for a, b in _tasks(n)
        }
        if self.bounded:
            self.upper = np.full(n, np.inf)  # every row is labelled the first time
            self.lower = np.zeros(n)

    def assign(
        self, centres: np.ndarray, moved: np.ndarray | None, sums: bool = True
    ) -> np.ndarray:
        """Label every row by ``centres`` (K, d), which moved by ``moved`` (K,) since the
        last call; return the clusters' weighted sums (K, d + 1), masses last (with
        ``sums=False``, an empty array)."""
        factors = arrays.distance_factors(centres)
        slack = _slack(factors)
        half_gap = _half_gaps(centres, factors, slack) if self.bounded else None

        def one(a: int, b: int) -> np.ndarray | None:
            if half_gap is None:
                self.labels[a:b] = arrays.nearest_of_augmented(
                    self.Xa[a:b], factors, self.norms[a:b]
                )
            else:
                upper, lower = self.upper[a:b], self.lower[a:b]
                if moved is not None:
                    upper += moved[self.labels[a:b]]
                    lower -= moved.max()
                clear = np.maximum(lower, half_gap[self.labels[a:b]])
                rows = np.flatnonzero(upper * (1.0 + _MARGIN) >= clear)
                if 2 * rows.size > b - a:  # most rows: the block as it is, no gather
                    self._relabel(slice(a, b), factors, slack)
                elif rows.size:
                    self._relabel(rows + a, factors, slack)
            if not sums:
                return None
            return self._sums[a](self.labels[a:b])

        parts = list(map_chunks(one, _tasks(self.Xa.shape[0])))
        total = parts[0]
        if total is None:
            return np.empty(0)
        for part in parts[1:]:
            total = total + part
        return total

    def _relabel(self, rows: np.ndarray | slice, factors: np.ndarray, slack: float) -> None:
        """Labels and bounds of ``rows`` (positions, or a block) from their distances to
        every centre."""
        K = factors.shape[1]
        c_most = float(factors[-1].max())
        step = arrays.chunk_rows(K)
        if isinstance(rows, slice):
            parts: list[np.ndarray | slice] = [
                slice(start, min(start + step, rows.stop))
                for start in range(rows.start, rows.stop, step)
            ]
        else:
            parts = [rows[start : start + step] for start in range(0, rows.size, step)]
        for index in parts:
            D = self.Xa[index] @ factors  # |c|² - 2 x·c
            nearest = D.argmin(axis=1)
            at = np.arange(D.shape[0])
            first = D[at, nearest]
            D[at, nearest] = np.inf
            second = D.min(axis=1)
            x_sq = self.norms[index]
            error = slack * (x_sq + 2.0 * c_most)
            self.labels[index] = nearest
            self.upper[index] = np.sqrt(np.maximum(first + x_sq + error, 0.0))
            self.lower[index] = np.sqrt(np.maximum(second + x_sq - error, 0.0))


def _slack(factors: np.ndarray) -> float:
    """A bound on the rounding of a squared distance |c|² - 2 x·c + |x|², relative to
    |x|² + 2 max |c|² (d + 3 terms, each rounded once), from the centres' factors."""
    return 4.0 * (factors.shape[0] + 2) * float(np.finfo(np.float64).eps)


def _half_gaps(centres: np.ndarray, factors: np.ndarray, slack: float) -> np.ndarray:
    """Half of each centre's distance to the nearest other centre, bounded below, (K,)."""
    c_sq = factors[-1]
    pair = c_sq[:, None] + c_sq[None, :]
    gaps = pair - 2.0 * (centres @ centres.T) - slack * 2.0 * pair
    np.fill_diagonal(gaps, np.inf)
    return 0.5 * np.sqrt(np.maximum(gaps.min(axis=1), 0.0))


def _relocate(
    Xa: np.ndarray,
    weights: np.ndarray | None,
    centres: np.ndarray,
    labels: np.ndarray,
    sums: np.ndarray,
    empty: np.ndarray,
) -> None:
    """Move empty clusters to the rows farthest from their centres (``sums`` in place).

    scikit-learn's rule: the i-th empty cluster takes the i-th farthest row
    (distance to its centre before this step), which leaves its old cluster.
    (scikit-learn orders rows of equal distance, and several empty clusters,
    by ``argpartition``; here the farthest comes first, ties by position.)
    ``Xa`` and ``sums`` carry the column of ones and the masses (see
    :meth:`_Nearest.assign`), so moving a row's sum moves its mass.
    """
    d = centres.shape[1]
    far_dist = ((Xa[:, :d] - centres[labels]) ** 2).sum(axis=1)
    far = np.argsort(-far_dist, kind="stable")[: empty.size]
    for new_id, row in zip(empty, far, strict=False):
        moved = Xa[row] * (1.0 if weights is None else float(weights[row]))
        sums[labels[row]] -= moved
        sums[new_id] = moved


def kmeans_stats(
    rows: Any, n_components: int, rng: np.random.RandomState, cov: Covariance
) -> Stats:
    """Statistics of the 'kmeans' start: each row assigned to its nearest k-means centre.

    With at most ``KMEANS_SAMPLE_ROWS`` rows, :func:`kmeans_centres` runs on all of
    them (gathered on the host in float64): the labels are those of scikit-learn's
    ``KMeans(n_init=1)``, so the start is scikit-learn's GaussianMixture's. Beyond,
    it runs on ``KMEANS_SAMPLE_ROWS`` rows drawn with replacement in proportion to
    the weights; then ``KMEANS_FULL_STEPS`` Lloyd steps over all rows (where they
    live) refine the centres, and the statistics are those of the rows' nearest
    final centre.
    """
    n = rows.n_rows
    if n <= KMEANS_SAMPLE_ROWS:
        X, w = rows.take(np.arange(n))
        _, labels = kmeans_centres(X, w, n_components, rng)
        stats = arrays.label_stats(X, w, labels, cov.form, n_components)
        return stats._replace(total_weight=rows.total_weight)
    X, _ = take_rows(rows, sample_rows(rows.host_weights(), n, KMEANS_SAMPLE_ROWS, rng))
    centres, _ = kmeans_centres(X, None, n_components, rng)
    origin = X.mean(axis=0)
    for _ in range(KMEANS_FULL_STEPS):
        step = rows.nearest_stats(centres, origin, cov)
        centres = np.where(step.mass[:, None] > 0, step.means, centres)
    return rows.nearest_stats(centres, origin, cov)
