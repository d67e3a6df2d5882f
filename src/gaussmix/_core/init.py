"""Initial responsibilities: 'kmeans', 'k-means++', 'random', 'random_from_data', 'hc'.

'k-means++', 'random' and 'random_from_data' return an assignment of rows to
components as scikit-learn builds it, drawing from the same random stream, so the
same ``random_state`` starts from the same place. 'kmeans' (the default) is
gaussmix's own fast k-means: k-means++ seeding and Lloyd iterations on a sample of
at most ``KMEANS_SAMPLE_ROWS`` rows, then ``KMEANS_FULL_STEPS`` Lloyd steps over all
rows in chunks, so it costs a few passes over the data whatever its size. The
statistics of the assignment, through the ordinary M-step, give the initial
parameters. 'hc' is mclust's model-based hierarchical clustering, on at most
:data:`~gaussmix._core.hc.HC_SAMPLE_ROWS` rows gathered by every row source
alike (see :mod:`gaussmix._core.hc`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["INIT_METHODS", "initial_assignment", "kmeans_labels"]

INIT_METHODS = ("kmeans", "k-means++", "random", "random_from_data", "hc")

KMEANS_SAMPLE_ROWS = 20_000  # k-means runs to convergence on at most this many rows
KMEANS_MAX_ITER = 100
KMEANS_FULL_STEPS = 1  # Lloyd steps on all rows after the sample's k-means
_CHUNK_ROWS = 65_536


def initial_assignment(
    X: np.ndarray,
    weights: np.ndarray | None,
    n_components: int,
    method: str,
    rng: np.random.RandomState,
) -> np.ndarray:
    """Initial responsibilities for ``method``.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    weights : ndarray of shape (n,) or None
        Row weights; rows of weight 0 are never chosen as seeds.
    n_components : int
    method : {'kmeans', 'k-means++', 'random', 'random_from_data'}
    rng : RandomState

    Returns
    -------
    labels_or_resp : ndarray
        Either integer labels of shape (n,), where -1 marks a row that seeds no
        component, or soft responsibilities of shape (n, K) ('random').
    """
    n = X.shape[0]
    if method == "kmeans":
        return kmeans_labels(X, weights, n_components, rng)
    if method == "random":
        resp = rng.uniform(size=(n, n_components))
        return resp / resp.sum(axis=1, keepdims=True)
    if method == "random_from_data":
        p = None if weights is None else weights / weights.sum()
        if p is not None and np.count_nonzero(p) < n_components:
            p = None
        seeds = rng.choice(n, size=n_components, replace=False, p=p)
    elif method == "k-means++":
        from sklearn.cluster import kmeans_plusplus

        _, seeds = kmeans_plusplus(X, n_components, random_state=rng, sample_weight=weights)
    else:
        raise ValueError(f"unknown init method {method!r}; choose one of {INIT_METHODS}")
    labels = np.full(n, -1, dtype=np.intp)
    labels[seeds] = np.arange(n_components)
    return labels


def kmeans_labels(
    X: np.ndarray, weights: np.ndarray | None, n_components: int, rng: np.random.RandomState
) -> np.ndarray:
    """Hard labels of a weighted k-means, computed mostly on a sample.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    weights : ndarray of shape (n,) or None
        Row weights: the seeding, the centres and the sample honour them; rows of
        weight 0 never seed a cluster.
    n_components : int
    rng : RandomState

    Returns
    -------
    labels : ndarray of shape (n,), intp
    """
    from threadpoolctl import threadpool_limits

    # The products here are small: BLAS threads would only wait on each other.
    with threadpool_limits(limits=1, user_api="blas"):
        return _kmeans_labels(X, weights, n_components, rng)


def _kmeans_labels(
    X: np.ndarray, weights: np.ndarray | None, n_components: int, rng: np.random.RandomState
) -> np.ndarray:
    from sklearn.cluster import kmeans_plusplus

    n = X.shape[0]
    candidates = np.arange(n) if weights is None else np.flatnonzero(weights > 0)
    if candidates.size > KMEANS_SAMPLE_ROWS:
        candidates = np.sort(rng.choice(candidates, KMEANS_SAMPLE_ROWS, replace=False))
    sample = np.asarray(X[candidates], dtype=np.float64)
    sample_w = None if weights is None else weights[candidates]
    # Distances are taken about the sample's mean, so far-off data keeps its digits.
    shift = np.average(sample, axis=0, weights=sample_w)
    sample -= shift
    centres, _ = kmeans_plusplus(sample, n_components, random_state=rng, sample_weight=sample_w)
    previous = None
    for _ in range(KMEANS_MAX_ITER):
        labels = _nearest(sample, centres)
        if previous is not None and np.array_equal(labels, previous):
            break
        centres = _centroids(sample, sample_w, labels, centres)
        previous = labels
    if candidates.size == n:
        return labels.astype(np.intp)
    for _ in range(KMEANS_FULL_STEPS):
        sums = np.zeros_like(centres)
        mass = np.zeros(n_components)
        for start in range(0, n, _CHUNK_ROWS):
            rows = slice(start, start + _CHUNK_ROWS)
            block = np.asarray(X[rows], dtype=np.float64) - shift
            w = np.ones(block.shape[0]) if weights is None else weights[rows]
            onehot = _one_hot(_nearest(block, centres), n_components) * w[:, None]
            sums += onehot.T @ block
            mass += onehot.sum(axis=0)
        filled = mass > 0
        centres[filled] = sums[filled] / mass[filled, None]
    return np.concatenate(
        [
            _nearest(np.asarray(X[start : start + _CHUNK_ROWS], dtype=np.float64) - shift, centres)
            for start in range(0, n, _CHUNK_ROWS)
        ]
    ).astype(np.intp)


def _nearest(X: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest centre for each row, (n,)."""
    distances = X @ (-2.0 * centres.T)
    distances += np.einsum("kj,kj->k", centres, centres)
    return distances.argmin(axis=1)


def _one_hot(labels: np.ndarray, n_components: int) -> np.ndarray:
    onehot = np.zeros((labels.shape[0], n_components))
    onehot[np.arange(labels.shape[0]), labels] = 1.0
    return onehot


def _centroids(
    X: np.ndarray, weights: np.ndarray | None, labels: np.ndarray, centres: np.ndarray
) -> np.ndarray:
    """Weighted mean of each cluster's rows; an empty cluster keeps its centre."""
    onehot = _one_hot(labels, centres.shape[0])
    if weights is not None:
        onehot *= weights[:, None]
    mass = onehot.sum(axis=0)
    filled = mass > 0
    out = centres.copy()
    out[filled] = (onehot.T @ X)[filled] / mass[filled, None]
    return out
