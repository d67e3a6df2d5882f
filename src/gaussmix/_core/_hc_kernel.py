"""The agglomeration loop of model-based hierarchical clustering (see :mod:`.hc`).

One function, compiled by numba when it is importable (a core dependency) and
run as plain Python otherwise (correct, but only practical for a few hundred
rows; ``GAUSSMIX_DISABLE_NUMBA``, which switches the E-step kernels to NumPy,
does not apply: there is no NumPy formulation). It is imported only when 'hc'
is used.

Pair costs live in a square matrix indexed by *positions* 0..L-1, with the pair
(a, b), a < b, at ``cost[a, b]``. Merging positions i < j keeps the merged
cluster at i and moves the last position into j, as mclust's Fortran does;
that bookkeeping decides which of several equal-cost pairs merges first (the
one mclust's packed pair index ranks last: the largest b, then the largest a),
so ties break as in mclust. Each column b keeps its best pair (over a < b), so
a merge costs one pass over the columns and a rescan only of the columns whose
best pair involved the merged clusters: O(L²) pair costs in all instead of the
O(L³) of rescanning every pair after every merge.
"""

from __future__ import annotations

import math

import numpy as np

from .compiled import njit

VVV, EII, V = 0, 1, 2
"""Criteria: mclust's hcVVV (d >= 2), hcEII (Ward's, used when n <= d) and hcV (d = 1)."""


@njit(nogil=True)
def _term(criterion, mass, trace, W, n_features, alpha, beta):
    """A cluster's term of the classification criterion (mclust's vvvtij).

    mass * log(det(W / mass) + beta (trace + alpha) / mass), where the determinant
    is dropped while mass <= d (W is singular) or where W is numerically
    singular; for one dimension, mass * log((trace + alpha) / mass).
    """
    if criterion == EII:
        return trace
    q = beta * (trace + alpha) / mass
    if criterion == V or mass <= n_features:
        return mass * math.log(q)
    if trace == 0.0:
        return mass * math.log(alpha * beta / mass)
    # log det(W / mass) by Cholesky; a non-positive pivot means det = 0.
    d = n_features
    L = W.copy()
    logdet = 0.0
    for k in range(d):
        s = L[k, k]
        for m in range(k):
            s -= L[k, m] * L[k, m]
        if not s > 0.0:
            return mass * math.log(q)
        root = math.sqrt(s)
        L[k, k] = root
        logdet += math.log(root)
        for r in range(k + 1, d):
            t = L[r, k]
            for m in range(k):
                t -= L[r, m] * L[k, m]
            L[r, k] = t / root
    logdet = 2.0 * logdet - d * math.log(mass)
    if logdet <= 0.0:
        return mass * math.log(math.exp(logdet) + q)
    return mass * (math.log(1.0 + math.exp(-logdet) * q) + logdet)


@njit(nogil=True)
def _pair(criterion, a, b, mass, means, trace, term, slot, pool, scratch, alpha, beta):
    """Cost of merging positions a and b, and the merged cluster's trace and term.

    Fills ``scratch`` with the merged scatter W_a + W_b + c δδᵀ (c = n_a n_b / n_ab)
    when the criterion needs its determinant.
    """
    d = means.shape[1]
    na = mass[a]
    nb = mass[b]
    nab = na + nb
    c = na * nb / nab
    dd = 0.0
    for k in range(d):
        delta = means[a, k] - means[b, k]
        dd += delta * delta
    tr = trace[a] + trace[b] + c * dd
    if criterion == VVV and nab > d and tr != 0.0:
        _merged_scatter(a, b, c, means, slot, pool, scratch)
    t = _term(criterion, nab, tr, scratch, d, alpha, beta)
    return t - (term[a] + term[b]), tr, t


@njit(nogil=True)
def _merged_scatter(a, b, c, means, slot, pool, out):
    """out = W_a + W_b + c δδᵀ, δ = mean_a - mean_b (W = 0 for a cluster without a slot)."""
    d = means.shape[1]
    for r in range(d):
        dr = means[a, r] - means[b, r]
        for k in range(d):
            out[r, k] = c * dr * (means[a, k] - means[b, k])
    if slot[a] >= 0:
        out += pool[slot[a]]
    if slot[b] >= 0:
        out += pool[slot[b]]


@njit(nogil=True)
def _better(value, row, best_value, best_row):
    """Whether (value, row) beats (best_value, best_row): lower, or equal and later."""
    return value < best_value or (value == best_value and row > best_row)


@njit(nogil=True)
def _rescan(cost, b, col_value, col_row):
    best = np.inf
    row = -1
    for a in range(b):
        if _better(cost[a, b], a, best, row):
            best = cost[a, b]
            row = a
    col_value[b] = best
    col_row[b] = row


@njit(nogil=True)
def agglomerate(criterion, means, mass, alpha, beta, merges, merge_costs):
    """Merge the initial clusters two at a time, cheapest pair first, down to one.

    Parameters
    ----------
    criterion : int
        VVV, EII or V.
    means : ndarray of shape (L, d), float64
        The initial clusters' means (modified: the working state).
    mass : ndarray of shape (L,), float64
        Their masses (row counts or weights; modified).
    alpha, beta : float
        mclust's regularisation of the VVV and V criteria.
    merges : ndarray of shape (L - 1, 2), intp (output)
        The labels merged at each step, smaller first; the merged cluster keeps
        the smaller label (labels are the initial clusters' indices).
    merge_costs : ndarray of shape (L - 1,), float64 (output)
        The criterion's change at each merge.
    """
    n_clusters, d = means.shape
    trace = np.zeros(n_clusters)
    term = np.empty(n_clusters)
    label = np.arange(n_clusters)
    slot = np.full(n_clusters, -1, dtype=np.intp)
    n_slots = n_clusters // 2 + 1 if criterion == VVV else 1
    pool = np.zeros((n_slots, d, d))
    free = np.arange(n_slots)[::-1].copy()
    n_free = n_slots
    scratch = np.zeros((d, d))
    zero = np.zeros((d, d))
    for k in range(n_clusters):
        term[k] = _term(criterion, mass[k], 0.0, zero, d, alpha, beta)
    cost = np.empty((n_clusters, n_clusters))
    col_value = np.full(n_clusters, np.inf)
    col_row = np.full(n_clusters, -1, dtype=np.intp)
    for b in range(1, n_clusters):
        for a in range(b):
            cost[a, b] = _pair(
                criterion, a, b, mass, means, trace, term, slot, pool, scratch, alpha, beta
            )[0]
        _rescan(cost, b, col_value, col_row)
    live = n_clusters
    for step in range(n_clusters - 1):
        j = 1
        for b in range(2, live):
            if _better(col_value[b], b, col_value[j], j):
                j = b
        i = col_row[j]
        merge_costs[step] = cost[i, j]
        merges[step, 0] = min(label[i], label[j])
        merges[step, 1] = max(label[i], label[j])
        # The merged cluster, at position i.
        _, tr, t = _pair(
            criterion, i, j, mass, means, trace, term, slot, pool, scratch, alpha, beta
        )
        if criterion == VVV:
            c = mass[i] * mass[j] / (mass[i] + mass[j])
            _merged_scatter(i, j, c, means, slot, pool, scratch)
            keep = slot[i] if slot[i] >= 0 else slot[j]
            if keep < 0:
                n_free -= 1
                keep = free[n_free]
            elif slot[i] >= 0 and slot[j] >= 0:
                free[n_free] = slot[j]
                n_free += 1
            pool[keep] = scratch
            slot[i] = keep
        share = mass[j] / (mass[i] + mass[j])
        for k in range(d):
            means[i, k] += share * (means[j, k] - means[i, k])
        mass[i] += mass[j]
        trace[i] = tr
        term[i] = t
        label[i] = min(label[i], label[j])
        # The last position moves into j.
        last = live - 1
        if j != last:
            mass[j] = mass[last]
            means[j] = means[last]
            trace[j] = trace[last]
            term[j] = term[last]
            label[j] = label[last]
            slot[j] = slot[last]
            for a in range(j):
                cost[a, j] = cost[a, last]
            for a in range(j + 1, last):
                cost[j, a] = cost[a, last]
        live -= 1
        # New costs of the merged cluster.
        for a in range(live):
            if a < i:
                cost[a, i] = _pair(
                    criterion, a, i, mass, means, trace, term, slot, pool, scratch, alpha, beta
                )[0]
            elif a > i:
                cost[i, a] = _pair(
                    criterion, i, a, mass, means, trace, term, slot, pool, scratch, alpha, beta
                )[0]
        # Each column's best pair: rescan where it involved i or j, else compare.
        for b in range(max(i, 1), live):
            if b == i or b == j or col_row[b] == i or col_row[b] == j:  # noqa: SIM109
                _rescan(cost, b, col_value, col_row)
                continue
            if i < b and _better(cost[i, b], i, col_value[b], col_row[b]):
                col_value[b] = cost[i, b]
                col_row[b] = i
            if j < b and _better(cost[j, b], j, col_value[b], col_row[b]):
                col_value[b] = cost[j, b]
                col_row[b] = j
