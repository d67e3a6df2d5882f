"""Clusters made of several components: ``merge_components`` (as mclust's ``clustCombi``).

See :mod:`gaussmix._core.combine` for the entropy criterion of Baudry et al. (2010).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._core.combine import Hierarchy, elbow, entropy_hierarchy
from ._core.covariance import get_covariance
from ._input import check_sample_weight
from ._validation import check_no_noise, check_number
from .conditional import derived_model, fitted_from

__all__ = ["MergedComponents", "merge_components"]


def _as_numpy(values: Any) -> np.ndarray:
    """A NumPy array from a NumPy or Dask array or a torch tensor."""
    if hasattr(values, "compute"):
        values = values.compute()
    if hasattr(values, "detach"):
        values = values.detach().to("cpu").double().numpy()
    return np.asarray(values, dtype=np.float64)


def merge_components(
    model: Any, X: Any, *, n_clusters: int | None = None, sample_weight: Any = None
) -> MergedComponents:
    """Merge a fitted mixture's components into fewer clusters by the entropy criterion.

    Starting from the model's K components (one cluster each), the two clusters
    whose union most lowers the entropy of the responsibilities of X are joined,
    step by step, down to one cluster (Baudry et al. 2010; mclust's
    ``clustCombi``). Each cluster is then a mixture of its components.

    Parameters
    ----------
    model : fitted GaussianMixture
        Typically the BIC-selected fit of X, whose components may model one
        cluster each by several.
    X : array-like, scan, Dask array or torch tensor of shape (n_samples, n_features)
        The rows whose responsibilities define the entropy (usually the fitted data).
    n_clusters : int, optional
        The number of clusters to report by default; if omitted, the elbow of the
        entropy against the number of clusters (a two-segment piecewise-linear fit,
        as Baudry et al. read the plot; K itself when K ≤ 2).
    sample_weight : array-like of shape (n_samples,), optional
        Row weights in the entropy.

    Returns
    -------
    MergedComponents
    """
    check_is_fitted(model)
    check_no_noise(model, "merge_components()")
    K = model.weights_.shape[0]
    if n_clusters is not None:
        check_number("n_clusters", n_clusters, integer=True, low=1)
        if n_clusters > K:
            raise ValueError(
                f"n_clusters={n_clusters} is more than the model's {K} components; merging "
                "can only reduce their number."
            )
    resp = _as_numpy(model.predict_proba(X))
    weights = check_sample_weight(sample_weight, resp.shape[0]).values
    hierarchy = entropy_hierarchy(resp, weights)
    chosen = elbow(hierarchy.entropies) if n_clusters is None else int(n_clusters)
    return MergedComponents(model, hierarchy, chosen)


class MergedComponents:
    """A mixture's components merged into clusters, at every number of clusters.

    Attributes
    ----------
    n_clusters_ : int
        The number of clusters the methods use by default.
    entropies_ : ndarray of shape (K,)
        Entropy of the responsibilities with K, K − 1, …, 1 clusters.
    membership_ : ndarray of shape (K, K)
        Row j: the cluster of each component with K − j clusters.
    merged_ : ndarray of shape (K − 1, 2)
        The pair of clusters joined at each step (numbered as in that step's row).
    """

    def __init__(self, model: Any, hierarchy: Hierarchy, n_clusters: int) -> None:
        self._model = model
        self.n_clusters_ = n_clusters
        self.entropies_ = hierarchy.entropies
        self.membership_ = hierarchy.membership
        self.merged_ = hierarchy.merged

    def __repr__(self) -> str:
        return (
            f"MergedComponents({self.membership_.shape[0]} components into "
            f"{self.n_clusters_} clusters: {[c.tolist() for c in self.clusters()]})"
        )

    def _row(self, n_clusters: int | None) -> np.ndarray:
        K = self.membership_.shape[0]
        n = self.n_clusters_ if n_clusters is None else n_clusters
        check_number("n_clusters", n, integer=True, low=1)
        if n > K:
            raise ValueError(f"n_clusters must be at most {K}, the number of components.")
        return self.membership_[K - n]

    def clusters(self, n_clusters: int | None = None) -> list[np.ndarray]:
        """The components of each cluster (arrays of component indices)."""
        row = self._row(n_clusters)
        return [np.flatnonzero(row == c) for c in range(int(row.max()) + 1)]

    def labels(self, n_clusters: int | None = None) -> np.ndarray:
        """The cluster of each component, shape (K,)."""
        return self._row(n_clusters).copy()

    def predict_proba(self, X: Any, n_clusters: int | None = None) -> np.ndarray:
        """p(cluster | x): the summed responsibilities of each cluster's components.

        Returns
        -------
        ndarray of shape (n_samples, n_clusters)
        """
        row = self._row(n_clusters)
        resp = _as_numpy(self._model.predict_proba(X))
        out = np.zeros((resp.shape[0], int(row.max()) + 1))
        np.add.at(out.T, row, resp.T)
        return out

    def predict(self, X: Any, n_clusters: int | None = None) -> np.ndarray:
        """The most probable cluster of each row, shape (n_samples,)."""
        return self.predict_proba(X, n_clusters).argmax(axis=1)

    def mixture(self, cluster: int, n_clusters: int | None = None) -> Any:
        """Cluster ``cluster``'s own mixture: its components, weights renormalised.

        Returns
        -------
        A fitted estimator of the model's class, with as many components as the
        cluster has.
        """
        members = self.clusters(n_clusters)
        if not 0 <= cluster < len(members):
            raise IndexError(f"cluster must be in [0, {len(members)}); got {cluster!r}.")
        keep = members[cluster]
        model = self._model
        cov = get_covariance(model.covariance_type)
        K, d = model.means_.shape
        covariances = cov.form.from_dense(cov.form.dense(model.covariances_, K, d)[keep])
        result = derived_model(cov, covariances, keep.size, d)
        weights = model.weights_[keep] / model.weights_[keep].sum()
        names = getattr(model, "feature_names_in_", None)
        return fitted_from(model, weights, model.means_[keep], covariances, result, names)
