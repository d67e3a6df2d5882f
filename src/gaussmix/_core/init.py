"""Initial responsibilities: 'kmeans', 'k-means++', 'random', 'random_from_data'.

Each method returns an assignment of rows to components as scikit-learn builds it,
drawing from the same random stream, so the same ``random_state`` starts from the
same place. The statistics of that assignment, through the ordinary M-step, give
the initial parameters.
"""

from __future__ import annotations

import numpy as np

__all__ = ["INIT_METHODS", "initial_assignment"]

INIT_METHODS = ("kmeans", "k-means++", "random", "random_from_data")


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
        from sklearn.cluster import KMeans

        km = KMeans(n_clusters=n_components, n_init=1, random_state=rng)
        return km.fit(X, sample_weight=weights).labels_.astype(np.intp)
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
