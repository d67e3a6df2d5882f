"""Fast E-step kernels for in-memory chunks: matrix products instead of component loops.

The reference kernels (:mod:`gaussmix._core.estep`) loop over components as
scikit-learn does. Here every covariance type's log-density is written as the
*expanded quadratic form on centred rows*: with ``z = x - c`` for a centre ``c``
near the data,

    log π_k + log N(x | μ_k, Σ_k) = features(z) @ W[:, k]

where ``features(z)`` holds the second moments of ``z`` (all products for 'full',
squares for 'diag', ``|z|²`` for 'spherical'), ``z`` itself and a 1, and ``W``
folds in precisions, means, log-determinants and log-weights. One product gives
the densities of all components, and one more product ``rw.T @ features`` gives
every component's mass, first and second moments about ``c``, from which the
centred statistics follow exactly. 'tied' projects the rows once by the shared
precision factor and uses ``|y|², y, 1``.

Expanding the square cancels digits in proportion to how far the centre is from a
component in that component's own units (its Mahalanobis distance), and for
'full' also to the condition number of its precision matrix. Components closer
than ``sqrt(_NEAR)`` to the mixture's mean (with a condition number below
``_NEAR``) share that centre; any other component is centred on its own mean, and
a 'full' one is evaluated in the factored form ``|P^T (x - μ)|²``, so clusters
1e9 apart and nearly singular covariances stay exact.

Rows stay in their dtype (float32 rows give float32 densities), while
responsibilities, products for the statistics and every sum are float64. With
numba the features are built in one compiled pass; without it, by NumPy.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import numpy as np

from .._core.covariance import Covariance, Params
from .._core.stats import Stats

__all__ = [
    "Plan",
    "Sums",
    "add_sums",
    "chunk_log_resp",
    "chunk_stats",
    "chunk_sums",
    "jit",
    "make_plan",
    "stats_from_sums",
]

_LOG_2PI = float(np.log(2.0 * np.pi))
_TINY = float(np.finfo(np.float64).tiny)  # smallest normal float64
_NEAR = 1e4  # squared Mahalanobis distance of the shared centre: cancellation ≲ eps·1e4
_STACKED_MIN_D = 32  # 'full' from this many dimensions: stacked factors, not d²/2 features
_KINDS = {"full": 0, "diag": 1, "spherical": 2, "tied": 3}

_jit_module: Any = None


def jit() -> Any:
    """The compiled kernels module, or None when numba is unavailable or disabled.

    Setting the environment variable ``GAUSSMIX_DISABLE_NUMBA=1`` forces the
    NumPy path (the tests use it to compare both).
    """
    global _jit_module
    if os.environ.get("GAUSSMIX_DISABLE_NUMBA", "") not in ("", "0"):
        return None
    if _jit_module is None:
        try:
            from . import _jit
        except ImportError:
            _jit_module = False
        else:
            _jit_module = _jit
    return _jit_module or None


def bytes_per_row(kind: str, n_components: int, d: int) -> int:
    """Bytes of per-chunk temporaries per row: features, densities, responsibilities."""
    if kind == "full" and d >= _STACKED_MIN_D:
        features = d + 1 + 2 * n_components * d  # [z; 1], P^T z and r ⊗ z
    else:
        features = feature_count(kind, d)
    return 8 * (features + 3 * n_components + d)


def feature_count(kind: str, d: int) -> int:
    """Number of feature columns m for covariance type ``kind`` in d dimensions."""
    if kind == "full":
        return d * (d + 1) // 2 + d + 1
    if kind == "diag":
        return 2 * d + 1
    return d + 2  # spherical, and tied's projected rows


class Group(NamedTuple):
    """Components that share one centre.

    Attributes
    ----------
    centre : ndarray of shape (d,), float64
    members : ndarray of shape (K_g,), intp
        The components in this group.
    W : ndarray of shape (m, K_g), the rows' dtype
        ``features(x - centre) @ W`` = log π_k + log N(x | k).
    factor : ndarray of shape (d, d) or None
        For a lone 'full' component centred on its mean: its precision Cholesky
        factor, so its density comes from ``|P^T (x - μ)|²`` with no expansion.
    stacked : ndarray of shape (d + 1, K_g d) or None
        'full' with many features (d >= ``_STACKED_MIN_D``): every member's
        ``[P_k; -(μ_k - c) P_k]`` side by side, so one product of ``[z; 1]`` gives
        all ``P_k^T (x - μ_k)``; the features are then just ``[z; 1]`` and the
        second moments come from ``(r ⊗ z) z^T`` (products of well-shaped matrices
        instead of d²/2 features).
    bias : ndarray of shape (K_g,) or None
        With ``stacked``: log π_k + log |P_k| - d/2 log 2π, float64.
    factors, offsets : ndarray of shape (K_g, d, d) and (K_g, d), or None
        With ``stacked`` and upper-triangular factors (always, from the M-step):
        the P_k and μ_k - centre, float64, for the triangular products.
    """

    centre: np.ndarray
    members: np.ndarray
    W: np.ndarray
    factor: np.ndarray | None = None
    stacked: np.ndarray | None = None
    bias: np.ndarray | None = None
    factors: np.ndarray | None = None
    offsets: np.ndarray | None = None


class Plan(NamedTuple):
    """Everything the chunk kernels need from the parameters, computed once per E-step.

    Attributes
    ----------
    kind : str
        Covariance type name.
    n_components, n_features : int
    groups : tuple of Group
    tied_factor : ndarray of shape (d, d) or None
        'tied' precision Cholesky factor, in the rows' dtype.
    dead : ndarray of int
        Components of weight 0, whose log-density is -inf.
    """

    kind: str
    n_components: int
    n_features: int
    groups: tuple[Group, ...]
    tied_factor: np.ndarray | None
    dead: np.ndarray


def make_plan(params: Params, cov: Covariance, dtype: np.dtype) -> Plan:
    """Fold ``params`` into per-group weight matrices for rows of ``dtype``.

    Parameters
    ----------
    params : Params
    cov : Covariance
    dtype : float32 or float64
        The rows' dtype.
    """
    kind = cov.name
    weights, means, prec = params.weights, params.means, params.precisions_cholesky
    K, d = means.shape
    # A weight of exactly 0 means log 0 = -inf: that is set after the product
    # (BLAS may multiply an infinite coefficient by a padding zero).
    dead = np.flatnonzero(weights <= 0)
    safe_weights = np.where(weights > 0, weights, 1.0)
    bias = np.log(safe_weights) + cov.form.log_det(prec, d) - 0.5 * d * _LOG_2PI
    centre = weights @ means
    delta = means - centre
    near = _centre_distance(kind, delta, prec) <= _NEAR
    if kind == "full":
        # Σ_jl Λ_jl z_j z_l loses digits in proportion to Λ's condition number.
        near &= np.linalg.cond(prec) ** 2 <= _NEAR
    groups = []
    if near.any():
        group = _group(kind, centre, np.flatnonzero(near), means, prec, bias, dtype)
        if kind == "full" and d >= _STACKED_MIN_D:
            P = prec[group.members]
            eta = np.einsum("kj,kjl->kl", means[group.members] - centre, P)
            stacked = np.vstack([np.hstack(list(P)), -eta.reshape(1, -1)])
            group = group._replace(stacked=stacked.astype(dtype), bias=bias[group.members])
            group = _with_factors(group, means, prec)
        groups.append(group)
    for k in np.flatnonzero(~near):
        group = _group(kind, means[k], np.array([k]), means, prec, bias, dtype)
        if kind == "full" and d >= _STACKED_MIN_D:  # stacked, of one: |P_k^T (x - μ_k)|²
            stacked = np.vstack([prec[k], np.zeros((1, d))])
            group = group._replace(stacked=stacked.astype(dtype), bias=bias[[k]])
            group = _with_factors(group, means, prec)
        elif kind == "full":  # its own centre: the factored form |P_k^T (x - μ_k)|²
            group = group._replace(factor=prec[k].astype(dtype))
        groups.append(group)
    tied = prec.astype(dtype) if kind == "tied" else None
    return Plan(kind, K, d, tuple(groups), tied, dead)


def _with_factors(group: Group, means: np.ndarray, prec: np.ndarray) -> Group:
    """``group`` with its members' factors and offsets where all are upper triangular."""
    P = np.ascontiguousarray(prec[group.members], dtype=np.float64)
    if np.any(np.tril(P, -1)):
        return group
    offsets = np.ascontiguousarray(means[group.members] - group.centre)
    return group._replace(factors=P, offsets=offsets)


def _centre_distance(kind: str, delta: np.ndarray, prec: np.ndarray) -> np.ndarray:
    """Squared Mahalanobis distance of each component's mean from the centre, (K,)."""
    if kind == "full":
        projected = np.einsum("kj,kjl->kl", delta, prec)
    elif kind == "tied":
        projected = delta @ prec
    elif kind == "diag":
        projected = delta * prec
    else:
        projected = delta * prec[:, None]
    return np.einsum("kj,kj->k", projected, projected)


def _group(
    kind: str,
    centre: np.ndarray,
    index: np.ndarray,
    means: np.ndarray,
    prec: np.ndarray,
    bias: np.ndarray,
    dtype: np.dtype,
) -> Group:
    """The weight matrix W (m, K_g) of the components ``index`` about ``centre``."""
    d = means.shape[1]
    delta = means[index] - centre
    if kind == "full":
        P = prec[index]
        lam = np.einsum("kij,klj->kil", P, P)  # precision matrices Λ_k = P_k P_k^T
        eta = np.einsum("kj,kjl->kl", delta, P)
        rows, cols = np.triu_indices(d)
        quad = -0.5 * lam[:, rows, cols] * np.where(rows == cols, 1.0, 2.0)
        linear = np.einsum("kjl,kl->kj", lam, delta)
    elif kind == "tied":
        eta = delta @ prec  # the features are |y|², y, 1 with y = (x - c) P
        quad = np.full((len(index), 1), -0.5)
        linear = eta
    elif kind == "diag":
        p2 = prec[index] ** 2
        eta = delta * prec[index]
        quad = -0.5 * p2
        linear = p2 * delta
    else:
        p2 = prec[index] ** 2
        eta = delta * prec[index][:, None]
        quad = -0.5 * p2[:, None]
        linear = p2[:, None] * delta
    const = -0.5 * np.einsum("kj,kj->k", eta, eta) + bias[index]
    W = np.hstack([quad, linear, const[:, None]]).T.astype(dtype, order="C")
    return Group(np.asarray(centre, dtype=np.float64), index, W)


# -- per-chunk work --------------------------------------------------------------
# Rows are *columns* of every per-chunk array (features (m, n), densities and
# responsibilities (K, n)): the compiled loops then run along contiguous rows, and
# both products are plain matrix products, W.T @ F and rw @ F.T.


def _features(X: np.ndarray, plan: Plan, group: Group) -> np.ndarray:
    """Features of the chunk's rows about the group's centre, (m, n) in X's dtype."""
    n, d = X.shape
    if plan.kind == "tied":
        assert plan.tied_factor is not None
        F = np.empty((d + 2, n), dtype=X.dtype)
        z = np.subtract(X, group.centre).astype(X.dtype, copy=False)  # centred in float64
        y = np.matmul(plan.tied_factor.T, z.T, out=F[1 : d + 1])
        np.einsum("ji,ji->i", y, y, out=F[0])
        F[-1] = 1.0
        return F
    if group.stacked is not None:
        F = np.empty((d + 1, n), dtype=X.dtype)
        np.subtract(X.T, group.centre[:, None], out=F[:d], casting="same_kind")
        F[d] = 1.0
        return F
    F = np.empty((feature_count(plan.kind, d), n), dtype=X.dtype)
    kernels = jit()
    if kernels is not None:
        kernels.features(X, group.centre, _KINDS[plan.kind], F)
        return F
    q = F.shape[0] - 1 - d
    z = F[q : q + d]
    np.subtract(X.T, group.centre[:, None], out=z, casting="same_kind")
    F[-1] = 1.0
    if plan.kind == "full":
        rows, cols = np.triu_indices(d)
        np.multiply(z[rows], z[cols], out=F[:q])
    elif plan.kind == "diag":
        np.multiply(z, z, out=F[:d])
    else:
        np.einsum("ji,ji->i", z, z, out=F[0])
    return F


def _weighted_log_prob(X: np.ndarray, plan: Plan) -> tuple[np.ndarray, list[np.ndarray]]:
    """log π_k + log N(x_i | k), (K, n) in X's dtype, and each group's features."""
    feats = [_features(X, plan, g) for g in plan.groups]
    g0 = plan.groups[0]
    if len(plan.groups) == 1 and g0.factor is None and g0.stacked is None:
        wlp = g0.W.T @ feats[0]
    else:
        n, d = X.shape
        wlp = np.empty((plan.n_components, n), dtype=X.dtype)
        for g, F in zip(plan.groups, feats, strict=True):
            if g.stacked is not None and _triangular(g, F):
                maha = np.empty((len(g.members), n))
                jit().maha_triangular(F, g.offsets, g.factors, maha)
                assert g.bias is not None
                wlp[g.members] = maha * -0.5 + g.bias[:, None]
            elif g.stacked is not None:
                y = g.stacked.T @ F  # (K_g d, n): P_k^T (x - μ_k)
                y *= y
                maha = y.reshape(len(g.members), d, n).sum(axis=1)
                assert g.bias is not None
                wlp[g.members] = maha * -0.5 + g.bias[:, None]
            elif g.factor is None:
                wlp[g.members] = g.W.T @ F
            else:
                y = g.factor.T @ F[-1 - d : -1]
                wlp[g.members[0]] = np.einsum("ji,ji->i", y, y) * -0.5 + g.W[-1, 0]
    wlp[plan.dead] = -np.inf
    return wlp, feats


def _triangular(group: Group, F: np.ndarray) -> bool:
    """Whether the stacked group's densities go through numba's triangular products."""
    kernels = jit()
    return (
        group.factors is not None
        and F.dtype == np.float64
        and kernels is not None
        and kernels.HAVE_BLAS
    )


def _responsibilities(
    wlp: np.ndarray, weights: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, float]:
    """Weighted responsibilities (K, n) and log p(x_i) (n,), both float64, and Σ w log p.

    A float64 ``wlp`` is overwritten by the responsibilities. With rows as columns
    every pass is a vectorised NumPy loop over contiguous rows (NumPy's SIMD exp
    beats a compiled scalar one).
    """
    top = wlp.max(axis=0).astype(np.float64)
    if wlp.dtype == np.float64:  # the densities are not needed after this: reuse them
        rw = np.subtract(wlp, top, out=wlp)
    else:
        rw = np.subtract(wlp, top, dtype=np.float64)
    np.exp(rw, out=rw)
    s = rw.sum(axis=0)
    log_norm = np.log(s)
    log_norm += top
    np.divide(1.0 if weights is None else weights, s, out=s)
    rw *= s
    # Subnormal responsibilities (below 2.2e-308, already short of 53 bits) would
    # make every product they enter 10-100x slower on x86; they count as 0.
    np.putmask(rw, rw < _TINY, 0.0)
    if weights is None:
        ll = float(log_norm.sum())
    else:
        ll = float(np.dot(weights, np.where(weights > 0, log_norm, 0.0)))
    return rw, log_norm, ll


class Sums(NamedTuple):
    """Raw sums of a block of rows about each group's centre; they add exactly.

    Attributes
    ----------
    total_weight, log_likelihood : float
    groups : tuple of ndarray
        Per group, Σ_i w_i r_ik f(x_i - c_g) of shape (K_g, m) (for 'tied' the
        first moments and the mass only).
    tied_second : ndarray of shape (d, d) or None
        'tied': Σ_g Σ_i (Σ_{k in g} w_i r_ik) (x_i - c_g)(x_i - c_g)^T.
    """

    total_weight: float
    log_likelihood: float
    groups: tuple[np.ndarray, ...]
    tied_second: np.ndarray | None


def chunk_sums(X: np.ndarray, weights: np.ndarray | None, plan: Plan) -> Sums:
    """E-step sums of one chunk under ``plan``.

    Parameters
    ----------
    X : ndarray of shape (n, d), float32 or float64
    weights : ndarray of shape (n,) or None
    plan : Plan
        From :func:`make_plan` for X's dtype.
    """
    total = float(X.shape[0]) if weights is None else float(weights.sum())
    fused = _sums_1d(X, weights, plan)
    if fused is not None:
        return Sums(total, fused[1], (fused[0],), None)
    wlp, feats = _weighted_log_prob(X, plan)
    rw, _, ll = _responsibilities(wlp, weights)
    del wlp
    sums, tied_second = [], None
    for g, F in zip(plan.groups, feats, strict=True):
        r = rw if len(plan.groups) == 1 else rw[g.members]
        if plan.kind == "tied":
            z = np.subtract(X, g.centre)  # float64 centred rows
            sums.append(np.hstack([r @ z, r.sum(axis=1)[:, None]]))
            second = (z.T * r.sum(axis=0)) @ z
            tied_second = second if tied_second is None else tied_second + second
        elif g.stacked is not None and _triangular(g, F):
            sums.append(_symmetric_sums(r, F))
        elif g.stacked is not None:
            sums.append(_stacked_sums(r, F.astype(np.float64, copy=False)))
        else:
            sums.append(r @ F.T.astype(np.float64, copy=False))
    return Sums(total, ll, tuple(sums), tied_second)


def _sums_1d(
    X: np.ndarray, weights: np.ndarray | None, plan: Plan
) -> tuple[np.ndarray, float] | None:
    """Sums (K, 3) and log-likelihood of unweighted float64 1-D rows by the fused kernel.

    None where it does not apply (numba missing, weights, float32, several groups);
    there the general path's separate passes run instead.
    """
    kernels = jit()
    g = plan.groups[0]
    if (
        kernels is None
        or weights is not None
        or X.shape[1] != 1
        or X.dtype != np.float64
        or len(plan.groups) != 1
        or plan.kind not in ("diag", "spherical")
    ):
        return None
    W = g.W.astype(np.float64)
    W[2, plan.dead] = -np.inf
    out = np.empty((plan.n_components, 3))
    ll = kernels.sums_1d(np.ascontiguousarray(X[:, 0]), float(g.centre[0]), W, out)
    return out, float(ll)


def _stacked_sums(r: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """Sums (K_g, m) in the feature layout from responsibilities (K_g, n) and [z; 1] (d+1, n)."""
    K, n = r.shape
    d = Z.shape[0] - 1
    A = (r[:, None, :] * Z[None, :d, :]).reshape(K * d, n)
    moments = (A @ Z.T).reshape(K, d, d + 1)  # [Σ r z z^T | Σ r z] per component
    rows, cols = np.triu_indices(d)
    return np.hstack([moments[:, rows, cols], moments[:, :, d], r.sum(axis=1)[:, None]])


def _symmetric_sums(r: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """:func:`_stacked_sums` through numba's symmetric rank-n updates (float64 rows)."""
    K = r.shape[0]
    d = Z.shape[0] - 1
    second = np.empty((K, d, d))
    jit().scatter_syrk(r, Z, second)
    rows, cols = np.triu_indices(d)
    first = r @ Z.T  # (K, d + 1): Σ r z and Σ r
    return np.hstack([second[:, cols, rows], first])


def add_sums(parts: list[Sums]) -> Sums:
    """Sum of the sums of disjoint blocks, by a balanced tree (rounding ~ log(blocks)).

    Raises
    ------
    ValueError
        If ``parts`` is empty.
    """
    if not parts:
        raise ValueError("cannot add an empty collection of sums")
    level = list(parts)
    while len(level) > 1:
        paired = [_add(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def _add(a: Sums, b: Sums) -> Sums:
    tied = None if a.tied_second is None else a.tied_second + b.tied_second
    groups = tuple(x + y for x, y in zip(a.groups, b.groups, strict=True))
    return Sums(a.total_weight + b.total_weight, a.log_likelihood + b.log_likelihood, groups, tied)


def chunk_stats(X: np.ndarray, weights: np.ndarray | None, plan: Plan) -> Stats:
    """E-step statistics of one chunk (the fast equivalent of ``_core.estep.chunk_stats``)."""
    return stats_from_sums(plan, chunk_sums(X, weights, plan))


def stats_from_sums(plan: Plan, sums: Sums) -> Stats:
    """Centred statistics from the sums of all rows (once per E-step).

    In each group's sums the last column is the mass, the d before it the first
    moment about the group's centre, and the leading ones the second moments
    (for 'tied' those come summed over components in ``tied_second``).
    """
    K, d, kind = plan.n_components, plan.n_features, plan.kind
    mass = np.zeros(K)
    means = np.zeros((K, d))
    scatter: np.ndarray
    if kind == "full":
        scatter = np.zeros((K, d, d))
    elif kind == "tied":
        scatter = np.zeros((d, d))
    elif kind == "diag":
        scatter = np.zeros((K, d))
    else:
        scatter = np.zeros(K)
    rows, cols = np.triu_indices(d)
    for g, G in zip(plan.groups, sums.groups, strict=True):
        m = G[:, -1]
        first = G[:, -1 - d : -1]
        safe = np.where(m > 0, m, 1.0)
        offset = first / safe[:, None]  # the mean's offset from the centre (0 where empty)
        idx = g.members
        mass[idx] = m
        means[idx] = np.where(m[:, None] > 0, g.centre + offset, 0.0)
        if kind == "full":
            second = np.zeros((len(idx), d, d))
            second[:, rows, cols] = G[:, : len(rows)]
            second[:, cols, rows] = G[:, : len(rows)]
            scatter[idx] = second - first[:, :, None] * offset[:, None, :]
        elif kind == "tied":
            scatter -= first.T @ offset
        elif kind == "diag":
            scatter[idx] = G[:, :d] - first * offset
        else:
            scatter[idx] = G[:, 0] - np.einsum("kj,kj->k", first, offset)
    if kind == "tied":
        assert sums.tied_second is not None
        scatter += sums.tied_second
    return Stats(sums.total_weight, sums.log_likelihood, mass, means, scatter)


def chunk_log_resp(X: np.ndarray, plan: Plan) -> tuple[np.ndarray, np.ndarray]:
    """log p(x_i) (n,) and log responsibilities (n, K) in X's dtype, of one chunk."""
    wlp, _ = _weighted_log_prob(X, plan)
    top = wlp.max(axis=0)
    shifted = np.subtract(wlp, top, dtype=np.float64)
    log_sum = np.log(np.exp(shifted).sum(axis=0))
    # Normalised relative to the top density: subtracting log_sum + top from wlp would
    # round log_sum away when |top| is huge (a row far from every component).
    shifted -= log_sum
    log_norm = (log_sum + top).astype(X.dtype, copy=False)
    return log_norm, shifted.astype(X.dtype, copy=False).T
