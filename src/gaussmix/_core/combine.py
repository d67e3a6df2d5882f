"""Combining mixture components into clusters by the entropy criterion (Baudry et al. 2010).

A mixture chosen by BIC often models one non-Gaussian cluster with several
components. Baudry, Raftery, Celeux, Lo & Gottardo (2010), "Combining mixture
components for clustering", merge them greedily: starting from the K components,
each step joins the two clusters whose union lowers the entropy of the
responsibilities,

    Ent = −Σ_i w_i Σ_c t_ic ln t_ic     (t_ic: the summed responsibilities of cluster c),

the most, down to one cluster. Joining a and b lowers it by
Σ_i w_i [(t_ia + t_ib) ln(t_ia + t_ib) − t_ia ln t_ia − t_ib ln t_ib] ≥ 0. The
number of clusters is then read off the entropy against the number of clusters
(an elbow; see :func:`elbow`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["Hierarchy", "elbow", "entropy_hierarchy"]


class Hierarchy(NamedTuple):
    """The merges from K components down to one cluster.

    Attributes
    ----------
    membership : ndarray of shape (K, K), int
        Row j: the cluster of each component when there are K − j clusters.
        Clusters are numbered in the order of their smallest component.
    entropies : ndarray of shape (K,)
        The entropy with K − j clusters (row j), non-increasing.
    merged : ndarray of shape (K - 1, 2), int
        The two clusters (numbered as in row j of ``membership``) joined at step j.
    """

    membership: np.ndarray
    entropies: np.ndarray
    merged: np.ndarray


def _plogp(t: np.ndarray) -> np.ndarray:
    """t ln t, with 0 ln 0 = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(t > 0, t * np.log(t), 0.0)


def entropy_hierarchy(resp: np.ndarray, weights: np.ndarray | None = None) -> Hierarchy:
    """Greedy entropy merges of a mixture's components.

    Parameters
    ----------
    resp : ndarray of shape (n, K)
        Responsibilities of the rows (each row sums to 1).
    weights : ndarray of shape (n,), optional
        Row weights (multiplicities).

    Returns
    -------
    Hierarchy
    """
    n, K = resp.shape
    w = np.ones(n) if weights is None else weights
    clusters = [[k] for k in range(K)]
    t = np.array(resp, dtype=np.float64)
    membership = np.empty((K, K), dtype=np.intp)
    entropies = np.empty(K)
    merged = np.empty((max(K - 1, 0), 2), dtype=np.intp)
    for step in range(K):
        for label, members in enumerate(clusters):
            membership[step, members] = label
        own = _plogp(t)
        entropies[step] = -float(w @ own.sum(axis=1))
        if len(clusters) == 1:
            break
        c = len(clusters)
        gain = np.full((c, c), -np.inf)
        for i in range(c - 1):
            union = _plogp(t[:, i, None] + t[:, i + 1 :])  # (n, c - i - 1)
            gain[i, i + 1 :] = w @ (union - own[:, i, None] - own[:, i + 1 :])
        a, b = (int(i) for i in np.unravel_index(int(np.argmax(gain)), gain.shape))
        merged[step] = (a, b)
        t[:, a] += t[:, b]
        t = np.delete(t, b, axis=1)
        clusters[a] = sorted(clusters[a] + clusters[b])
        del clusters[b]
    return Hierarchy(membership, entropies, merged)


def elbow(entropies: np.ndarray) -> int:
    """The number of clusters at the elbow of the entropy plot.

    A continuous two-segment line, Ent(c) ≈ α + β c + γ max(0, c − c₀), is fitted by
    least squares to the entropies against the number of clusters c = 1 … K for
    every change point c₀ = 2 … K − 1; the best c₀ is the answer (Baudry et al.'s
    piecewise-linear reading of the plot). With K ≤ 2 there is no elbow to find,
    and K is returned.

    Parameters
    ----------
    entropies : ndarray of shape (K,)
        As in :class:`Hierarchy`: row j for K − j clusters.
    """
    K = entropies.shape[0]
    if K <= 2:
        return K
    counts = np.arange(K, 0, -1, dtype=np.float64)
    best, best_sse = K, np.inf
    for change in range(2, K):
        design = np.column_stack([np.ones(K), counts, np.maximum(0.0, counts - change)])
        coef, *_ = np.linalg.lstsq(design, entropies, rcond=None)
        sse = float(np.sum((design @ coef - entropies) ** 2))
        if sse < best_sse - 1e-12 * max(1.0, float(np.sum(entropies**2))):
            best, best_sse = change, sse
    return best
