"""Missing values (NaN) treated as missing at random: marginal E-step, expected M-step.

For a row with observed coordinates ``o`` and missing coordinates ``m``, component
k's density is the marginal Gaussian N(x_o | μ_o, Σ_oo), and the M-step needs the
*expected* sufficient statistics given x_o:

    E[x_m | x_o, k]          = μ_m + Σ_mo Σ_oo⁻¹ (x_o − μ_o)           (conditional mean)
    Cov[x_m | x_o, k]        = Σ_mm − Σ_mo Σ_oo⁻¹ Σ_om                   (conditional covariance)
    E[x x^T | x_o, k]        = x̂ x̂^T + C  (x̂: x with x_m filled in; C: the above, embedded)

so a row contributes exactly like the complete row x̂ plus C added to the scatter
(for diag/spherical only C's diagonal or trace). The statistics come out as the
ordinary :class:`~.stats.Stats`, so chunk merging, the EM loop and the M-step are
unchanged, and the E-step's log-likelihood is the observed-data log-likelihood, so EM
stays monotone.

Rows are grouped once by missing pattern (``np.unique`` on the packed mask): full
and tied covariances factor Σ_oo once per pattern and component; diag and spherical
need no factorisation and run on any mix of patterns at once. No Python loop runs
per row. Rows with every value missing carry no information and are left out.

:class:`MissingRows` presents rows with NaN through the ordinary rows interface
(see :mod:`gaussmix.backends`): complete rows go to any backend's rows object (the
fast kernels), incomplete rows to the conditional Gaussians of :mod:`.conditional`
(the one implementation of that algebra, which ``impute`` and
``GaussianMixture.condition`` use too) and to the expected statistics here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np

from .conditional import (
    Conditional,
    component_covariances,
    condition_nothing,
    condition_rows,
    draw,
)
from .covariance import Covariance, DensityForm, Params
from .noise import column_ranges
from .stats import Stats, merge_all

__all__ = ["MISSING_POLICIES", "MissingRows", "PatternGroups", "group_patterns", "impute"]

MISSING_POLICIES = ("error", "marginalize")
"""What a missing value (NaN) can mean: an error, or an entry to marginalise out."""

_BLOCK_BYTES = 2**23  # per block of incomplete rows: bounds the (rows, d, d) temporaries


class PatternGroups(NamedTuple):
    """Rows grouped by which coordinates they observe.

    Attributes
    ----------
    order : ndarray of shape (n,)
        Row indices sorted so that each pattern's rows are contiguous.
    bounds : ndarray of shape (G + 1,)
        Group g holds ``order[bounds[g]:bounds[g + 1]]``.
    observed : ndarray of shape (G, d), bool
        Each group's observed coordinates.
    """

    order: np.ndarray
    bounds: np.ndarray
    observed: np.ndarray


def group_patterns(observed: np.ndarray) -> PatternGroups:
    """Group rows by their observed-coordinate mask (no per-row Python loop).

    Parameters
    ----------
    observed : ndarray of shape (n, d), bool
    """
    d = observed.shape[1]
    packed = np.packbits(observed, axis=1)
    unique, inverse = np.unique(packed, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")
    counts = np.bincount(inverse, minlength=unique.shape[0])
    bounds = np.concatenate([[0], np.cumsum(counts)])
    masks = np.unpackbits(unique, axis=1, count=d).astype(bool)
    return PatternGroups(order, bounds, masks)


# -- statistics of one block of incomplete rows ----------------------------------------


def _block_stats(
    block: Conditional, weights: np.ndarray | None, form: DensityForm, centres: np.ndarray
) -> Stats:
    """Expected sufficient statistics of a block, taken about ``centres`` then moved."""
    rw = np.exp(block.log_resp)
    if weights is not None:
        rw = rw * weights[:, None]
    mass = rw.sum(axis=0)
    D = block.xhat - centres[:, None, :]  # (K, n, d)
    safe = np.where(mass > 0, mass, 1.0)
    offset = np.einsum("nk,knd->kd", rw, D) / safe[:, None]
    if block.group is not None:  # full or tied: one conditional covariance per pattern
        pattern_mass = np.zeros((block.cond.shape[1], rw.shape[1]))
        np.add.at(pattern_mass, block.group, rw)
        scatter = np.einsum("gk,kgij->kij", pattern_mass, block.cond)
        for k in range(rw.shape[1]):
            scatter[k] += (rw[:, k, None] * D[k]).T @ D[k]
    else:
        scatter = np.einsum("nk,knd->kd", rw, D * D + block.cond)
    scatter = form.reduce_scatter(scatter) - form.correction(mass, offset)
    means = np.where(mass[:, None] > 0, centres + offset, 0.0)
    if weights is None:
        total, ll = float(rw.shape[0]), float(block.log_norm.sum())
    else:
        total, ll = float(weights.sum()), float(weights @ block.log_norm)
    return Stats(total, ll, mass, means, scatter)


def _with_labels(block: Conditional, labels: np.ndarray) -> Conditional:
    """A block's conditionals with responsibilities fixed by known ``labels`` (n,).

    Row i then counts in component y_i only, and its log-likelihood term is
    log π_y + log φ_y(x_o) (the complete-data one of partial labels).
    """
    rows = np.arange(labels.shape[0])
    log_norm = block.log_resp[rows, labels] + block.log_norm
    log_resp = np.full_like(block.log_resp, -np.inf)
    log_resp[rows, labels] = 0.0
    return block._replace(log_norm=log_norm, log_resp=log_resp)


# -- the rows object -----------------------------------------------------------------


class MissingRows:
    """Rows with NaN entries, behind the ordinary rows interface.

    Complete rows are handed to ``make_rows`` (any backend's rows constructor, so
    they keep its fast kernels); incomplete rows are grouped by missing pattern once
    and handled by this module's kernels; rows with no observed value are left out
    of fitting (their posterior is the prior, their log-likelihood 0).

    Parameters
    ----------
    X : ndarray of shape (n, d), NaN marking missing entries, no infinities
    weights : ndarray of shape (n,) or None
    make_rows : callable
        ``make_rows(X_complete, weights_complete) -> rows`` for the complete rows.
    """

    def __init__(
        self,
        X: np.ndarray,
        weights: np.ndarray | None,
        make_rows: Callable[[np.ndarray, np.ndarray | None], Any],
    ) -> None:
        observed = ~np.isnan(X)
        n_obs = observed.sum(axis=1)
        d = X.shape[1]
        self._n, self._d = X.shape
        self._X, self._weights = X, weights
        self.complete_index = np.flatnonzero(n_obs == d)
        self.empty_index = np.flatnonzero(n_obs == 0)
        incomplete = np.flatnonzero((n_obs > 0) & (n_obs < d))
        # Sort incomplete rows by pattern once; each pattern is then a contiguous slice.
        groups = group_patterns(observed[incomplete])
        self.incomplete_index = incomplete[groups.order]
        self.groups = groups
        self._group_inc = np.repeat(np.arange(len(groups.bounds) - 1), np.diff(groups.bounds))
        self._X_inc = np.asarray(X[self.incomplete_index], dtype=np.float64)
        self._obs_inc = observed[self.incomplete_index]
        self._w_inc = None if weights is None else weights[self.incomplete_index]
        self.complete = None
        if self.complete_index.size:
            w = None if weights is None else weights[self.complete_index]
            self.complete = make_rows(X[self.complete_index], w)
        self._make_rows = make_rows
        self._seeding_rows: Any = None

    # -- the rows interface --------------------------------------------------------
    @property
    def n_rows(self) -> int:
        return self._n

    @property
    def n_features(self) -> int:
        return self._d

    @property
    def total_weight(self) -> float:
        return float(self._n if self._weights is None else self._weights.sum())

    def _blocks(self, params: Params, cov: Covariance) -> Iterator[tuple[slice, Conditional]]:
        """``(rows, block)`` over the incomplete rows (positions in pattern order)."""
        n_inc, d = self._X_inc.shape
        K = params.means.shape[0]
        step = int(np.clip(_BLOCK_BYTES // (8 * d * (d + 2 * K)), 16, 4096))
        form = cov.form
        covariances = component_covariances(params, form)
        for start in range(0, n_inc, step):
            rows = slice(start, min(start + step, n_inc))
            X = self._X_inc[rows]
            if form.diagonal:
                yield rows, condition_rows(X, self._obs_inc[rows], params, form, covariances)
            else:
                group = self._group_inc[rows]  # sorted: the block's patterns are contiguous
                masks = self.groups.observed[group[0] : group[-1] + 1]
                yield rows, condition_rows(X, masks, params, form, covariances, group - group[0])

    def expectation(self, params: Params, cov: Covariance) -> Stats:
        """Merged statistics: ordinary ones of complete rows, expected ones of the rest.

        Rows with nothing observed add their weight only (log p = log 1, no mass), so
        the mean log-likelihood agrees with ``score_samples``; with a noise component
        they add nothing, since the noise's mass is the weight the Gaussians do not
        take (see :mod:`gaussmix._core.noise`), and they are ignored by the fit.
        """
        K, d = params.means.shape
        parts = [] if self.complete is None else [self.complete.expectation(params, cov)]
        for rows, block in self._blocks(params, cov):
            w = None if self._w_inc is None else self._w_inc[rows]
            parts.append(_block_stats(block, w, cov.form, params.means))
        if not parts:
            zero = np.zeros(cov.form.shape(K, d))
            parts.append(Stats(0.0, 0.0, np.zeros(K), np.zeros((K, d)), zero))
        stats = merge_all(parts, cov.form)
        if params.noise is not None:
            return stats
        empty = self.empty_index
        empty_weight = empty.size if self._weights is None else self._weights[empty].sum()
        return stats._replace(total_weight=stats.total_weight + float(empty_weight))

    def with_weights(self, weights: np.ndarray | None) -> MissingRows:
        """The same rows under other weights (n,)."""
        return MissingRows(self._X, weights, self._make_rows)

    def split_labels(
        self, labels: np.ndarray
    ) -> tuple[np.ndarray, Callable[[Params, Covariance], Stats] | None]:
        """Partial labels split by whether their rows' statistics depend on the parameters.

        Complete rows' statistics under their labels are constant; an incomplete
        row's expected statistics depend on the parameters (see
        :mod:`gaussmix._core.labels`).

        Returns
        -------
        constant : ndarray of shape (n,)
            ``labels`` with -1 for every incomplete or empty row.
        varying : callable or None
            ``(params, cov) -> Stats`` of the labelled incomplete rows (and the
            weight of labelled empty rows, which carry no information), under
            their labels; None when there are none.
        """
        constant = np.full_like(labels, -1)
        constant[self.complete_index] = labels[self.complete_index]
        incomplete = self.incomplete_index[labels[self.incomplete_index] >= 0]
        empty = self.empty_index[labels[self.empty_index] >= 0]
        if not (incomplete.size or empty.size):
            return constant, None
        index = np.sort(incomplete)
        w = None if self._weights is None else self._weights[index]
        rows = MissingRows(self._X[index], w, _no_complete_rows)
        own = labels[index][rows.incomplete_index]  # in the subset's pattern order
        w_own = rows._w_inc
        empty_weight = float(empty.size if self._weights is None else self._weights[empty].sum())

        def varying(params: Params, cov: Covariance) -> Stats:
            K, d = params.means.shape
            parts = [
                Stats(
                    empty_weight,
                    0.0,
                    np.zeros(K),
                    np.zeros((K, d)),
                    np.zeros(cov.form.shape(K, d)),
                )
            ]
            for span, block in rows._blocks(params, cov):
                w_block = None if w_own is None else w_own[span]
                parts.append(
                    _block_stats(_with_labels(block, own[span]), w_block, cov.form, params.means)
                )
            return merge_all(parts, cov.form)

        return constant, varying

    # -- the initialisation primitives: those of column-mean-imputed rows ---------------
    def _seeding(self) -> Any:
        """All rows with missing entries imputed by their column's mean, built once.

        Only a starting point (EM then treats the missing entries properly); rows
        with nothing observed get weight 0, so no start depends on them.
        """
        if self._seeding_rows is None:
            X = np.array(self._X, dtype=np.float64)
            column_means = np.nanmean(X[np.setdiff1d(np.arange(self._n), self.empty_index)], 0)
            X = np.where(np.isnan(X), column_means, X)
            w = self._weights
            if self.empty_index.size:
                w = np.ones(self._n) if w is None else w.copy()
                w[self.empty_index] = 0.0
            self._seeding_rows = self._make_rows(X, w)
        return self._seeding_rows

    def take(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        return self._seeding().take(index)

    def host_weights(self) -> np.ndarray | None:
        return self._seeding().host_weights()

    def nearest_stats(self, centres: np.ndarray, origin: np.ndarray, cov: Covariance) -> Stats:
        return self._seeding().nearest_stats(centres, origin, cov)

    def plusplus_step(self, closest: Any, candidates: np.ndarray, draws: Any) -> Any:
        return self._seeding().plusplus_step(closest, candidates, draws)

    def soft_stats(self, responsibilities: Any, cov: Covariance) -> Stats:
        return self._seeding().soft_stats(responsibilities, cov)

    def column_ranges(self, axes: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Column minima and maxima of the observed values of rows of non-zero weight
        (``axes`` must be None: a box along the data's axes)."""
        if axes is not None:
            raise ValueError("rows with missing values have no principal-axis ranges")
        return column_ranges(self._X, self._weights, None)

    def map_log_resp(
        self,
        params: Params,
        cov: Covariance,
        reduce: Callable[[np.ndarray, np.ndarray], np.ndarray],
    ) -> np.ndarray:
        """``reduce(log_norm, log_resp)`` for every row, in the original row order."""
        pieces: list[tuple[np.ndarray, np.ndarray]] = []
        if self.complete is not None:
            pieces.append(
                (self.complete_index, np.asarray(self.complete.map_log_resp(params, cov, reduce)))
            )
        for rows, block in self._blocks(params, cov):
            pieces.append((self.incomplete_index[rows], reduce(block.log_norm, block.log_resp)))
        if self.empty_index.size:
            empty = condition_nothing(self.empty_index.size, params, cov.form)
            pieces.append((self.empty_index, reduce(empty.log_norm, empty.log_resp)))
        first = pieces[0][1]
        out = np.empty((self._n, *first.shape[1:]), dtype=first.dtype)
        for index, values in pieces:
            out[index] = values
        return out

    def worst_explained(self, params: Params, cov: Covariance, m: int) -> np.ndarray:
        """The ``m`` rows with the lowest log-likelihood, shape (m', d) with m' <= m.

        Complete rows are preferred (their densities are comparable with each
        other); incomplete rows are used, filled with their conditional means, only
        when there are no complete rows.
        """
        if self.complete is not None and hasattr(self.complete, "worst_explained"):
            return np.asarray(self.complete.worst_explained(params, cov, m))
        log_norm, filled = [], []
        for _, block in self._blocks(params, cov):
            log_norm.append(block.log_norm)
            filled.append(np.einsum("nk,knd->nd", np.exp(block.log_resp), block.xhat))
        if not log_norm:
            return np.empty((0, self._d))
        values = np.concatenate(log_norm)
        if self._w_inc is not None:
            values = np.where(self._w_inc > 0, values, np.inf)
        worst = np.argsort(values, kind="stable")[:m]
        return np.concatenate(filled)[worst]


# -- imputation ----------------------------------------------------------------------


def impute(
    X: np.ndarray,
    params: Params,
    cov: Covariance,
    rng: np.random.RandomState | None = None,
) -> np.ndarray:
    """Fill NaN entries with E[x_m | x_o], or draw them from p(x_m | x_o) given ``rng``.

    E[x_m | x_o] = Σ_k r_k(x_o) E[x_m | x_o, k]; a draw first picks a component
    k ~ r(x_o), then x_m ~ N(E[x_m | x_o, k], Cov[x_m | x_o, k]). Rows with no
    observed value get the mixture mean (or a draw from the mixture). A noise
    component contributes its box's centre (or a uniform draw from the box) with
    its posterior probability.

    Parameters
    ----------
    X : ndarray of shape (n, d), NaN for missing entries
    params : Params
    cov : Covariance
    rng : RandomState, optional
        Draw instead of taking conditional expectations.

    Returns
    -------
    ndarray of shape (n, d), float64, without NaN
    """
    X = np.array(X, dtype=np.float64)
    missing = np.isnan(X)
    incomplete = np.flatnonzero(missing.any(axis=1))
    if incomplete.size == 0:
        return X
    rows = MissingRows(X[incomplete], None, _no_complete_rows)
    blocks = [(rows.incomplete_index[span], block) for span, block in rows._blocks(params, cov)]
    if rows.empty_index.size:
        nothing = condition_nothing(rows.empty_index.size, params, cov.form)
        blocks.append((rows.empty_index, nothing))
    filled = np.empty((incomplete.size, X.shape[1]))
    for index, block in blocks:
        if rng is None:
            resp = np.exp(block.log_resp)
            filled[index] = np.einsum("nk,knd->nd", resp, block.xhat)
            if params.noise is not None:  # the noise's posterior share: the box's centre
                noise_resp = np.clip(1.0 - resp.sum(axis=1), 0.0, 1.0)
                filled[index] += noise_resp[:, None] * params.noise.centre()
        else:
            filled[index] = draw(block, rng, params.noise)
    X[incomplete] = np.where(missing[incomplete], filled, X[incomplete])
    return X


def _no_complete_rows(X: np.ndarray, weights: np.ndarray | None) -> None:
    raise AssertionError("impute only builds rows without complete rows")
