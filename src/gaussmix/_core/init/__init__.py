"""Initial statistics: 'kmeans', 'k-means++', 'random', 'random_from_data', 'hc', defined once.

Each method is written here once, over a few primitives every rows object
provides (``take``, ``host_weights``, ``nearest_stats``, ``plusplus_step``,
``soft_stats``; see :mod:`gaussmix.backends`), so for a given ``random_state``
every source (NumPy arrays, ``scan`` files, Dask, torch tensors) starts from the
same parameters, up to the rounding of sums taken in another order:

- 'random_from_data': K distinct rows drawn as scikit-learn draws them
  (``rng.choice(n, K, replace=False)``; with weights, in proportion to them);
  each component starts at its row.
- 'k-means++': scikit-learn's ``kmeans_plusplus`` seeds over all rows (same draws,
  same distances); each component starts at its seed row.
- 'random': scikit-learn's random responsibilities, ``rng.uniform(size=(n, K))``
  normalised per row (re-drawn block by block where the rows live).
- 'kmeans' (the default): scikit-learn's ``KMeans(n_clusters=K, n_init=1)`` labels
  on all rows up to ``KMEANS_SAMPLE_ROWS`` rows (the same start as scikit-learn's
  GaussianMixture), and on a sample of that size beyond, followed by Lloyd steps
  over all rows (see :func:`.kmeans.kmeans_stats`).

- 'hc': R mclust's start, model-based hierarchical clustering, on at most
  :data:`~gaussmix._core.hc.HC_SAMPLE_ROWS` rows gathered with ``take`` (see
  :mod:`gaussmix._core.hc`).

A noise component's start (:func:`noise_start`) marks its initial rows on the
'hc' sample too.

With partial labels (:class:`~gaussmix._core.labels.LabelledRows`) the start
respects them: components start from their labelled rows' means, and the method
only places components that have no labelled row (see :mod:`.labelled`).

'random_from_data', 'k-means++' and 'random' reproduce scikit-learn's
GaussianMixture start on any data; so
does 'kmeans' up to ``KMEANS_SAMPLE_ROWS`` rows. The start's statistics, through
the ordinary M-step, give the initial parameters. With ``sample_weight`` (which
scikit-learn's GaussianMixture does not take) the draws follow the weights as
scikit-learn's KMeans does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..covariance import Covariance
from ..hc import hc_initial_stats, hc_sample_index
from ..noise import initial_noise, initial_share
from ..parallel import single_threaded_blas
from ..stats import Stats
from .draws import UniformResponsibilities, distinct_rows
from .kmeans import (
    KMEANS_FULL_STEPS,
    KMEANS_MAX_ITER,
    KMEANS_SAMPLE_ROWS,
    kmeans_plusplus,
    kmeans_stats,
    take_rows,
)
from .labelled import labelled_stats

__all__ = [
    "INIT_METHODS",
    "KMEANS_FULL_STEPS",
    "KMEANS_MAX_ITER",
    "KMEANS_SAMPLE_ROWS",
    "hc_sample",
    "initial_stats",
    "noise_start",
    "seed_stats",
]


def seed_stats(rows: Any, seeds: np.ndarray, cov: Covariance) -> Stats:
    """Statistics of one seed row per component (a row chosen twice serves both).

    Parameters
    ----------
    rows : Rows
    seeds : ndarray of shape (K,), int
    cov : Covariance
    """
    X, w = take_rows(rows, seeds)
    K, d = X.shape
    mass = np.ones(K) if w is None else np.asarray(w, dtype=np.float64)
    scatter = np.zeros(cov.form.shape(K, d))
    return Stats(rows.total_weight, 0.0, mass, X, scatter)


def _kmeans_plusplus(rows: Any, K: int, rng: np.random.RandomState, cov: Covariance) -> Stats:
    return seed_stats(rows, kmeans_plusplus(rows, K, rng), cov)


def _random_from_data(rows: Any, K: int, rng: np.random.RandomState, cov: Covariance) -> Stats:
    return seed_stats(rows, distinct_rows(rows.host_weights(), rows.n_rows, K, rng), cov)


def _random(rows: Any, K: int, rng: np.random.RandomState, cov: Covariance) -> Stats:
    return rows.soft_stats(UniformResponsibilities(rng, rows.n_rows, K), cov)


def hc_sample(
    rows: Any, rng: np.random.RandomState
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The rows 'hc' runs on: their positions (m,), the rows (m, d) and weights (m,) or None.

    Every row up to :data:`~gaussmix._core.hc.HC_SAMPLE_ROWS`, else the sample
    :func:`~gaussmix._core.hc.hc_sample_index` draws, gathered with ``take``, so
    every row source gives the same start.
    """
    index = hc_sample_index(rows.n_rows, rng)
    index = np.arange(rows.n_rows) if index is None else index
    return (index, *rows.take(index))


def _hc(rows: Any, K: int, rng: np.random.RandomState, cov: Covariance) -> Stats:
    _, X, w = hc_sample(rows, rng)
    return hc_initial_stats(X, w, K, cov)


_METHODS: dict[str, Callable[[Any, int, np.random.RandomState, Covariance], Stats]] = {
    "kmeans": kmeans_stats,
    "k-means++": _kmeans_plusplus,
    "random": _random,
    "random_from_data": _random_from_data,
    "hc": _hc,
}

INIT_METHODS = tuple(_METHODS)


def initial_stats(
    rows: Any, n_components: int, method: str, rng: np.random.RandomState, cov: Covariance
) -> Stats:
    """Statistics of the initial assignment ``method`` makes of ``rows``.

    Parameters
    ----------
    rows : Rows
    n_components : int
    method : {'kmeans', 'k-means++', 'random', 'random_from_data', 'hc'}
    rng : RandomState
        Advanced by the draws, as scikit-learn advances it.
    cov : Covariance

    Returns
    -------
    Stats
        ``total_weight`` is the rows' total weight, so ``mass / total_weight`` are
        the starting weights.
    """
    try:
        make = _METHODS[method]
    except KeyError:
        raise ValueError(f"unknown init method {method!r}; choose one of {INIT_METHODS}") from None
    # The products here are small: BLAS threads would only wait on each other (the
    # in-memory passes run their chunks on gaussmix's own threads instead).
    with single_threaded_blas(rows.n_rows * rows.n_features * n_components):
        if getattr(rows, "labels", None) is not None:  # partial labels: see .labelled
            return labelled_stats(rows, n_components, make, rng, cov)
        return make(rows, n_components, rng, cov)


def noise_start(
    rows: Any,
    noise_rows: np.ndarray | None,
    n_components: int,
    method: str,
    rng: np.random.RandomState,
    cov: Covariance,
) -> tuple[float, Stats | None]:
    """A noise component's start: π₀, and for 'hc' the Gaussians' initial statistics.

    The initial noise rows are judged on the 'hc' sample (:func:`hc_sample`):
    ``noise_rows`` (a mask over every row, the user's) or, for None, those
    :func:`~gaussmix._core.noise.initial_noise` finds there. π₀ starts at their
    share (:func:`~gaussmix._core.noise.initial_share`). With 'hc' the tree is
    built from the sample without them, as in mclust; other methods place every
    row (None: :func:`initial_stats` gives their start).

    Parameters
    ----------
    rows : Rows
    noise_rows : ndarray of shape (n,), bool, or None
    n_components : int
    method : str
    rng : RandomState
    cov : Covariance
    """
    index, X, w = hc_sample(rows, rng)
    marked = initial_noise(X, w) if noise_rows is None else noise_rows[index]
    share = initial_share(marked, w)
    if method != "hc":
        return share, None
    kept = np.where(marked, 0.0, 1.0 if w is None else w)
    with single_threaded_blas(X.size * n_components):
        return share, hc_initial_stats(X, kept, n_components, cov)
