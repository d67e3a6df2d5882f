"""Partial labels: EM with some rows' components known (semi-supervised, as mclust's MclustSSC).

A row whose component y is known keeps the responsibilities of its label (1 for y,
0 for the others) in every E-step: it adds its weight to component y only, and its
term of the log-likelihood is the complete-data one, log π_y + log φ_y(x), where an
unlabelled row's is log Σ_k π_k φ_k(x). Their sum is what EM maximises here, and the
fit's ``lower_bound_`` (per unit of weight): R mclust's ``MclustSSC`` log-likelihood.
Each M-step is the exact maximum given the responsibilities, so EM stays monotone.

The labelled rows' statistics (mass, centred mean and scatter per component) do not
depend on the parameters, so one pass computes them (the rows' ``soft_stats`` with
the labels' one-hot responsibilities) and every E-step merges them with the
unlabelled rows' statistics (:func:`~.stats.merge`). Their log-likelihood term is a
function of those statistics and the parameters
(:func:`~.estep.complete_log_likelihood`), so no pass over labelled rows runs per
iteration. The one exception is rows with missing values (``missing='marginalize'``),
whose expected statistics depend on the parameters: :class:`~.missing.MissingRows`
recomputes its incomplete labelled rows in each E-step (``split_labels``).

The unlabelled rows' E-step still visits the labelled rows (at weight 0), so a
fit with labels costs what one without them does, plus one pass at the start.

The unlabelled rows are the same rows with the labelled ones' weights set to 0
(``rows.with_weights``), so every source (arrays, files, Dask, tensors) runs its own
E-step unchanged; only weights (8 bytes a row) and labels (4) travel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .covariance import Covariance, Params
from .estep import complete_log_likelihood
from .stats import Stats, merge

__all__ = ["LabelledRows", "OneHot"]


class OneHot:
    """The labels' responsibilities, ``(stop - start, K)`` for global rows start:stop.

    Row i has 1 in column ``labels[i]`` and 0 elsewhere; an unlabelled row (−1) has 0
    everywhere, so it adds nothing. It pickles (to Dask workers) with the labels.

    Parameters
    ----------
    labels : ndarray of shape (n,), int
        A component index per row, −1 where unknown.
    n_components : int
    """

    def __init__(self, labels: np.ndarray, n_components: int) -> None:
        self.labels, self.n_components = labels, n_components

    def __call__(self, start: int, stop: int) -> np.ndarray:
        block = self.labels[start:stop]
        resp = np.zeros((block.shape[0], self.n_components))
        known = np.flatnonzero(block >= 0)
        resp[known, block[known]] = 1.0
        return resp


class LabelledRows:
    """Rows some of whose components are known, behind the ordinary rows interface.

    ``expectation`` merges the unlabelled rows' E-step with the labelled rows'
    statistics (see the module docstring); ``map_log_resp`` is that of all the rows.
    It offers no initialisation primitives: :func:`gaussmix._core.init.initial_stats`
    sees ``labels`` and starts from :meth:`label_stats` and the unlabelled rows'
    primitives (:mod:`gaussmix._core.init.labelled`).

    Parameters
    ----------
    rows : Rows
        All rows, with their weights.
    labels : ndarray of shape (n,), int
        Validated: a component index in 0..K-1 per row, −1 where unknown.
    n_components : int

    Attributes
    ----------
    unlabelled : Rows
        The same rows with the labelled ones' weights set to 0.
    n_unlabelled : int
        Unlabelled rows of non-zero weight.
    """

    def __init__(self, rows: Any, labels: np.ndarray, n_components: int) -> None:
        self.rows, self.labels, self.n_components = rows, labels, n_components
        self._weights = weights = rows.host_weights()  # (n,) or None: one pass for Dask
        known = labels >= 0
        unknown_weights = np.where(known, 0.0, 1.0 if weights is None else weights)
        self.unlabelled = rows.with_weights(unknown_weights) if known.any() else rows
        self.n_unlabelled = int(np.count_nonzero(unknown_weights))
        # Rows whose statistics under their labels depend on the parameters (rows with
        # missing values) are computed per E-step by the rows themselves.
        split = getattr(rows, "split_labels", None)
        self._constant_labels: np.ndarray = labels
        self._varying: Callable[[Params, Covariance], Stats] | None = None
        if split is not None:
            self._constant_labels, self._varying = split(labels)
        self._constant: tuple[Any, Stats] | None = None  # (form, statistics), computed once

    @property
    def n_rows(self) -> int:
        return int(self.rows.n_rows)

    @property
    def n_features(self) -> int:
        return int(self.rows.n_features)

    @property
    def total_weight(self) -> float:
        return float(self.rows.total_weight)

    def _one_hot_stats(self, labels: np.ndarray, cov: Covariance) -> Stats:
        """One pass: the statistics of the rows ``labels`` names, each in its component."""
        stats = self.rows.soft_stats(OneHot(labels, self.n_components), cov)
        known = labels >= 0
        w = self._weights
        weight = float(np.count_nonzero(known) if w is None else w[known].sum())
        return stats._replace(total_weight=weight, log_likelihood=0.0)

    def label_stats(self, cov: Covariance) -> Stats:
        """Statistics of every labelled row in its component, without log-likelihood.

        What a start needs; for rows with missing values they are those of the rows
        with their column means filled in (the initialisation's rows).
        """
        if self._varying is None:
            return self._known_constant(cov)
        return self._one_hot_stats(self.labels, cov)

    def _known_constant(self, cov: Covariance) -> Stats:
        if self._constant is None or self._constant[0] is not cov.form:
            self._constant = (cov.form, self._one_hot_stats(self._constant_labels, cov))
        return self._constant[1]

    def known_stats(self, params: Params, cov: Covariance) -> Stats:
        """Statistics of the labelled rows, with their log-likelihood term under ``params``.

        ``log_likelihood`` is Σ_i w_i (log π_{y_i} + log φ_{y_i}(x_i)) over them.
        """
        stats = self._known_constant(cov)
        stats = stats._replace(log_likelihood=complete_log_likelihood(stats, params, cov.form))
        if self._varying is not None:
            stats = merge(stats, self._varying(params, cov), cov.form)
        return stats

    def expectation(self, params: Params, cov: Covariance) -> Stats:
        """Merged statistics: the unlabelled rows' E-step and the labelled rows' own."""
        known = self.known_stats(params, cov)
        if not self.n_unlabelled:
            return known._replace(total_weight=self.total_weight)
        return merge(self.unlabelled.expectation(params, cov), known, cov.form)

    def map_log_resp(self, params: Params, cov: Covariance, reduce: Any) -> Any:
        return self.rows.map_log_resp(params, cov, reduce)

    def worst_explained(self, params: Params, cov: Covariance, m: int) -> np.ndarray:
        """Rows of lowest log-likelihood among the unlabelled ones (re-seeding)."""
        source = self.unlabelled if self.n_unlabelled else self.rows
        worst = getattr(source, "worst_explained", None)
        return np.empty((0, self.n_features)) if worst is None else worst(params, cov, m)
