"""Model-based agglomerative hierarchical clustering: the 'hc' start, as mclust makes it.

R's mclust starts EM from a partition cut from a hierarchical clustering built
by the classification likelihood (Fraley, 1998, "Algorithms for model-based
Gaussian hierarchical clustering"; mclust's ``hc``). gaussmix reproduces its
default, the one ``Mclust`` uses:

1. **The data it clusters** (``mclust.options(hcUse = "SVD")``): each column is
   standardised (mean 0, standard deviation 1 with the n - 1 divisor; constant
   columns dropped), then rotated onto its singular vectors and scaled by the
   inverse square roots of the singular values, ``Z = X_std V S^(-1/2)``.
   gaussmix also drops directions whose singular value is zero to rounding
   (collinear columns), where mclust would divide by zero.
2. **The initial partition**: every row alone, as ``Mclust`` calls ``hc``
   (identical rows then merge first, their merges costing least).
3. **The criterion**: merging two clusters changes the classification
   criterion by ``term(i ∪ j) - term(i) - term(j)``; the cheapest pair merges,
   until one cluster is left. For d >= 2 (mclust's ``hcVVV``, its
   ``hcModelName`` default) a cluster of mass n with scatter W has

       term = n log(det(W / n) + β (tr W + α) / n),

   the determinant left out while n <= d (W is then singular), with β = 1 and
   α = tr(total scatter of Z) / (n d) (mclust's defaults ``alpha = beta = 1``
   scale it so). A merge's new scatter is ``W_i + W_j + n_i n_j / n_ij · δδᵀ``,
   so each pair's cost is a closed form of the two clusters' masses, means and
   scatters. With n <= d rows mclust switches to ``hcEII`` (Ward's criterion,
   the increase of tr W), and so does gaussmix. For one feature the criterion
   is mclust's ``hcV``, ``n log((W + α) / n)``, where mclust takes
   ``α = min(var, machine epsilon)`` (its code says ``min``; gaussmix follows it,
   so the trees agree). (mclust's ``Mclust`` itself starts one-dimensional
   data from quantiles instead of a tree.)
4. **Ties** between equal costs break as in mclust's Fortran, which numbers the
   clusters by position and moves the last one into the place of a merged one.
5. **The partition into K groups** (mclust's ``hclass``): the tree cut after
   its last K - 1 merges; the groups are numbered in the order their first row
   appears. The mixture then starts from the M-step on that partition.

Sample weights act as multiplicities: a row of weight w starts as one cluster
of mass w with no scatter, as w identical rows do under mclust's
``dupPartition`` (its documented ``hc`` default, which ``Mclust`` does not
pass). The tree of w separate identical rows can differ: the criterion's
regularisation makes partly merged duplicates attract each other, so merge
orders differ. Rows of weight 0 take no part.

**Large data** (mclust's ``subset``): with more than :data:`HC_SAMPLE_ROWS`
rows, the tree is built on a uniform sample of that many rows drawn from
``random_state`` (so the start is reproducible for a fixed seed and, as with
every other init, differs between seeds and between ``n_init`` runs; mclust
draws its own sample with R's ``sample``). The mixture then starts from the
M-step on the sample's partition, and EM's first E-step takes in every row,
exactly as mclust's ``mclustBIC`` does with a subset. Memory is bounded by the
sample: O(m²) pair costs and O(m d²) scatters for m sampled rows, whatever n is.
The pair costs are updated in closed form after each merge (O(m²) pair
evaluations in all; see :mod:`._hc_kernel`).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import NamedTuple

import numpy as np

from .covariance import Covariance
from .estep import stats_from_resp
from .stats import Stats

__all__ = [
    "HC_SAMPLE_ROWS",
    "HcTree",
    "hc_initial_stats",
    "hc_labels",
    "hc_sample_index",
    "hc_tree",
    "partition",
    "svd_transform",
]

HC_SAMPLE_ROWS = 2000
"""Rows above which the tree is built on a sample (mclust's ``mclust.options("subset")``)."""

_CACHE: OrderedDict[bytes, HcTree] = OrderedDict()
_CACHE_SIZE = 4  # trees kept: select fits many models from the same tree


class HcTree(NamedTuple):
    """A hierarchical clustering of rows, as mclust's ``hc`` returns it.

    Attributes
    ----------
    initial : ndarray of shape (n,), intp
        Each row's initial cluster: its index among the rows of non-zero weight
        (-1 for a row of weight 0).
    merges : ndarray of shape (L - 1, 2), intp
        The two labels merged at each step, smaller first; the merged cluster
        keeps the smaller (mclust's ``hcPairs``, 0-based).
    costs : ndarray of shape (L - 1,)
        The criterion's change at each merge.
    criterion : str
        'VVV', 'EII' or 'V' (mclust's names).
    """

    initial: np.ndarray
    merges: np.ndarray
    costs: np.ndarray
    criterion: str


def hc_sample_index(n_rows: int, rng: np.random.RandomState) -> np.ndarray | None:
    """The sorted rows the tree is built on, or None for all of them (n <= HC_SAMPLE_ROWS).

    Drawn uniformly without replacement; memory O(HC_SAMPLE_ROWS) whatever n is.
    The same ``rng`` state gives the same rows on every row source.
    """
    if n_rows <= HC_SAMPLE_ROWS:
        return None
    seed = int(rng.randint(np.iinfo(np.int32).max))
    index = np.random.default_rng(seed).choice(n_rows, size=HC_SAMPLE_ROWS, replace=False)
    return np.sort(index)


def svd_transform(X: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """mclust's ``hcUse = "SVD"`` coordinates, ``X_std V S^(-1/2)`` (module docstring).

    Parameters
    ----------
    X : ndarray of shape (n, d)
    weights : ndarray of shape (n,) or None
        Multiplicities (positive).

    Returns
    -------
    Z : ndarray of shape (n, r), float64, r <= min(n, d)
    """
    X = np.asarray(X, dtype=np.float64)
    w = np.ones(X.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    total = float(w.sum())
    mean = w @ X / total
    centred = X - mean
    denominator = max(total - 1.0, np.finfo(np.float64).tiny)
    sd = np.sqrt(w @ (centred * centred) / denominator)
    keep = sd > 0
    standard = centred[:, keep] / sd[keep]
    if standard.shape[1] == 0:
        return np.zeros((X.shape[0], 0))
    _, singular, vt = np.linalg.svd(np.sqrt(w)[:, None] * standard, full_matrices=False)
    rank = singular > singular[0] * max(standard.shape) * np.finfo(np.float64).eps
    return (standard @ vt[rank].T) / np.sqrt(singular[rank])


def hc_tree(X: np.ndarray, weights: np.ndarray | None = None) -> HcTree:
    """The hierarchical clustering of the rows of X (module docstring), cached.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    weights : ndarray of shape (n,) or None
        Multiplicities; rows of weight 0 belong to no cluster (label -1 in
        ``initial``).
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    w = None if weights is None else np.ascontiguousarray(weights, dtype=np.float64)
    digest = hashlib.blake2b(digest_size=20)
    digest.update(repr(X.shape).encode())
    digest.update(X.tobytes())
    if w is not None:
        digest.update(w.tobytes())
    key = digest.digest()
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    tree = _build(X, w)
    _CACHE[key] = tree
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return tree


def _build(X: np.ndarray, weights: np.ndarray | None) -> HcTree:
    from ._hc_kernel import EII, VVV, V, agglomerate

    n, d = X.shape
    used = np.ones(n, dtype=bool) if weights is None else weights > 0
    rows = np.flatnonzero(used)
    w = np.ones(rows.size) if weights is None else weights[rows]
    # Each row is an initial cluster of its weight's mass and no scatter.
    initial = np.full(n, -1, dtype=np.intp)
    initial[rows] = np.arange(rows.size)
    mass = np.ascontiguousarray(w, dtype=np.float64)
    Z = np.ascontiguousarray(svd_transform(X[rows], w))
    total = float(w.sum())
    p = Z.shape[1]
    if p == 0:  # every column constant: all rows alike, every merge free
        Z = np.zeros((rows.size, 1))
        criterion, name, alpha = EII, "EII", 0.0
    elif d == 1:
        criterion, name = V, "V"
        spread = float(w @ (Z[:, 0] - w @ Z[:, 0] / total) ** 2) / total if p else 0.0
        alpha = min(spread, np.finfo(np.float64).eps)
    elif total <= d:
        criterion, name, alpha = EII, "EII", 0.0
    else:
        criterion, name = VVV, "VVV"
        centred = Z - w @ Z / total
        alpha = max(float(w @ np.einsum("ij,ij->i", centred, centred)) / (total * p), 0.0)
        alpha = max(alpha, np.finfo(np.float64).eps)
    n_clusters = rows.size
    merges = np.zeros((max(n_clusters - 1, 0), 2), dtype=np.intp)
    costs = np.zeros(max(n_clusters - 1, 0))
    if n_clusters > 1:
        agglomerate(criterion, Z.copy(), mass.copy(), alpha, 1.0, merges, costs)
    return HcTree(initial, merges, costs, name)


def partition(tree: HcTree, n_components: int) -> np.ndarray:
    """Labels of the rows cut into ``n_components`` groups (mclust's ``hclass``).

    Groups are numbered 0 ... K' - 1 in the order their first row appears, with
    K' = min(K, number of initial clusters); rows of weight 0 get -1.

    Returns
    -------
    labels : ndarray of shape (n,), intp
    """
    n_clusters = tree.merges.shape[0] + 1
    parent = np.arange(n_clusters)
    for a, b in tree.merges[: max(n_clusters - n_components, 0)]:
        parent[b] = a
    # Merges point from a larger label to a smaller one: resolve in increasing order.
    for k in range(n_clusters):
        parent[k] = parent[parent[k]]
    group = np.where(tree.initial >= 0, parent[np.maximum(tree.initial, 0)], -1)
    used = group >= 0
    _, first, inverse = np.unique(group[used], return_index=True, return_inverse=True)
    rank = np.empty_like(first)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    labels = np.full(group.shape, -1, dtype=np.intp)
    labels[used] = rank[inverse.reshape(-1)]
    return labels


def hc_labels(X: np.ndarray, weights: np.ndarray | None, n_components: int) -> np.ndarray:
    """The 'hc' partition of the rows of X into ``n_components`` groups, shape (n,)."""
    return partition(hc_tree(X, weights), n_components)


def hc_initial_stats(
    X: np.ndarray, w: np.ndarray | None, n_components: int, cov: Covariance
) -> Stats:
    """Statistics of the 'hc' partition of a sample, for the initial M-step.

    The sample is the rows at :func:`hc_sample_index` (every row when n <=
    :data:`HC_SAMPLE_ROWS`), gathered by the row source, so every source that
    gathers the same rows gives the same start. The statistics are the
    sample's own (``total_weight`` is its weight), as mclust's M-step on its
    subset's partition; rows of weight 0 (or initial noise, given weight 0)
    take no part in the tree.

    Parameters
    ----------
    X : ndarray of shape (m, d)
    w : ndarray of shape (m,) or None
    n_components : int
    cov : Covariance
    """
    X = np.asarray(X, dtype=np.float64)
    labels = hc_labels(X, w, n_components)
    resp = np.zeros((X.shape[0], n_components))
    placed = labels >= 0
    resp[np.flatnonzero(placed), labels[placed]] = 1.0
    if w is not None:
        resp *= np.asarray(w, dtype=np.float64)[:, None]
    stats = stats_from_resp(X, resp, cov)
    return stats._replace(total_weight=float(stats.mass.sum()))
