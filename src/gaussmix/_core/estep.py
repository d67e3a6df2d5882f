"""The E-step, written once: the algorithm around the kernels, for every backend.

A backend contributes, per density form, a *kernel* (:class:`FormKernel`: the
weighted log-densities of a chunk of rows, and the raw moments of a chunk given
its responsibilities) and its memory placement (chunks, threads, device, host
copies). Everything between is here, once, over an array namespace
(:mod:`.xp`) so that NumPy arrays and torch tensors both go through it:

1. :func:`quadratic` folds the mixture's parameters into what every density is
   made of, log ρ_k(x) = bias_k - ½ |P_kᵀ (x - μ_k)|² (a variational E-step gives
   its expected precisions and digamma terms in the same shape);
2. per chunk, :func:`chunk_sums`: densities, :func:`responsibilities`
   (normalised relative to each row's top density, weighted, subnormals flushed)
   and raw moments about the kernel's fixed centres;
3. :func:`add_sums` in :func:`~.stats.merge_all`'s pairwise tree, then
   :func:`stats_from_sums`: the centred statistics (moved from the fixed centres
   to the new means exactly);
4. rows whose densities overflow a narrow dtype (float32 rows far from every
   component) are taken out of their chunk and redone in float64
   (:func:`overflow_stats`, :func:`chunk_log_resp`).

The reference kernels at the end (:func:`weighted_log_prob`,
:func:`log_responsibilities`, :func:`stats_from_resp`, :func:`chunk_stats`)
compute the same quantities straight from the formulas, one component at a
time; the tests hold every backend's kernels to them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, Protocol

import numpy as np

from .covariance import Covariance, DensityForm, Params
from .stats import Stats, merge, merge_all
from .xp import NUMPY, ArrayOps

__all__ = [
    "FormKernel",
    "Quadratic",
    "Sums",
    "add_sums",
    "chunk_log_resp",
    "chunk_stats",
    "chunk_sums",
    "complete_log_likelihood",
    "expectation",
    "log_responsibilities",
    "noise_term",
    "normalise",
    "quadratic",
    "responsibilities",
    "stats_from_resp",
    "stats_from_sums",
    "weighted_log_prob",
]

_LOG_2PI = float(np.log(2.0 * np.pi))


class Quadratic(NamedTuple):
    """What a chunk's log-densities are made of (float64, on the host).

    ``log ρ_k(x) = bias_k - ½ |P_kᵀ (x - μ_k)|²``: for EM ``bias_k`` is
    log π_k + log |P_k| - d/2 log 2π; a variational E-step gives its expected
    precision factors as P_k and E[log π_k] + ½ E[log |Λ_k|] - d/2 log 2π - d/(2β_k)
    as bias_k. The kernels take nothing else.

    Attributes
    ----------
    weights : ndarray of shape (K,)
        Where the mixture's mass is (the kernels centre rows on Σ_k w_k μ_k): the
        weights, summing to 1 (the Gaussians' shares, with a noise component).
    means : ndarray of shape (K, d)
    precisions_cholesky : ndarray of the form's shape
    bias : ndarray of shape (K,)
        -inf for a component that takes no rows (weight 0).
    noise : float or None
        A noise component's weighted log-density log π₀ - log V, the same for every
        row (:mod:`.noise`): one more term in each row's normalisation, which the
        algorithm here adds (the kernels never see it); None without one.
    """

    weights: np.ndarray
    means: np.ndarray
    precisions_cholesky: np.ndarray
    bias: np.ndarray
    noise: float | None = None


def quadratic(params: Params, form: DensityForm) -> Quadratic:
    """The EM E-step's :class:`Quadratic` of ``params``."""
    weights = np.asarray(params.weights, dtype=np.float64)
    means = np.asarray(params.means, dtype=np.float64)
    prec = np.asarray(params.precisions_cholesky, dtype=np.float64)
    d = means.shape[1]
    with np.errstate(divide="ignore"):  # a weight of exactly 0 gives log 0 = -inf, on purpose
        log_weights = np.log(weights)
    bias = log_weights + form.log_det(prec, d) - 0.5 * d * _LOG_2PI
    if params.noise is None:
        return Quadratic(weights, means, prec, bias)
    # The Gaussians' weights sum to 1 - π₀: their shares say where their mass is.
    return Quadratic(weights / weights.sum(), means, prec, bias, noise_term(params))


def noise_term(params: Params) -> float | None:
    """``params``' noise component's weighted log-density log π₀ - log V (None: none)."""
    return None if params.noise is None else params.noise.log_density()


def complete_log_likelihood(stats: Stats, params: Params, form: DensityForm) -> float:
    """Σ_i w_i Σ_k r_ik (log π_k + log N(x_i | μ_k, Σ_k)) from statistics of responsibilities r.

    Exact: per component it is N_k (log π_k + log |P_k| - d/2 log 2π)
    - ½ (tr(Λ_k S_k) + N_k (m_k - μ_k)ᵀ Λ_k (m_k - μ_k)) for the statistics'
    mass N_k, mean m_k and scatter S_k, so it needs no pass over the rows. (A
    component of weight 0 and mass 0 adds 0.)

    Parameters
    ----------
    stats : Stats
        Statistics of some rows under responsibilities r (one-hot for known labels).
    params : Params
    form : DensityForm
    """
    chol = params.precisions_cholesky
    d = params.means.shape[1]
    mass = np.asarray(stats.mass, dtype=np.float64)
    used = mass > 0
    with np.errstate(divide="ignore"):  # a weight of 0 with mass gives -inf, on purpose
        log_weights = np.where(used, np.log(np.where(used, params.weights, 1.0)), 0.0)
    log_det = np.broadcast_to(form.log_det(chol, d), mass.shape)
    offsets = form.paired_mahalanobis(stats.means, params.means, chol)
    spread = float(np.sum(form.precisions(chol) * stats.scatter))  # Σ_k tr(Λ_k S_k)
    per_mass = log_weights + log_det - 0.5 * d * _LOG_2PI - 0.5 * offsets
    return float(np.sum(np.where(used, mass * per_mass, 0.0))) - 0.5 * spread


class Sums(NamedTuple):
    """Raw sums of a block of rows under one plan; blocks' sums add exactly.

    Attributes
    ----------
    total_weight, log_likelihood : float or 0-d array
        Σ_i w_i and Σ_i w_i log p(x_i) over the rows kept.
    moments : tuple of arrays
        The kernel's moments about its plan's fixed centres, in its own layout
        (:meth:`FormKernel.centred` reads them).
    overflow : int or 0-d array
        Rows left out because their densities overflowed the rows' dtype.
    """

    total_weight: Any
    log_likelihood: Any
    moments: tuple[Any, ...]
    overflow: Any


class FormKernel(Protocol):
    """One density form's E-step primitives in one backend (an entry of its table).

    A *plan* is whatever the backend's ``plan`` method folded a :class:`Quadratic`
    into for rows of one dtype (weight matrices, device tensors); the algorithm
    here only passes it along. Densities and responsibilities are laid out (K, n).
    """

    form: DensityForm

    def log_prob(self, X: Any, plan: Any) -> tuple[Any, Any]:
        """``bias_k - ½ |P_kᵀ (x_i - μ_k)|²`` as (K, n) in X's dtype, and the work the
        moments reuse (features, whitened coordinates)."""
        ...

    def moments(self, X: Any, plan: Any, rw: Any, work: Any) -> tuple[Any, ...]:
        """Raw moments of the chunk given weighted responsibilities ``rw`` (K, n),
        float64 and additive over chunks; ``rw`` may be overwritten."""
        ...

    def centred(self, plan: Any, moments: tuple[Any, ...]) -> tuple[Any, Any, Any, Any]:
        """``(mass (K,), first (K, d), second, centres (K, d))`` from summed moments.

        ``first`` = Σ_i w_i r_ik (x_i - c_k) and ``second`` the scatter about the
        centres c_k in the form's scatter shape, all float64."""
        ...

    def fused_sums(self, X: Any, weights: Any, plan: Any) -> Sums | None:
        """The whole chunk's :class:`Sums` in one fused pass, or None where there is none."""
        ...


# -- one chunk -------------------------------------------------------------------
def responsibilities(
    wlp: Any, weights: Any, ops: ArrayOps = NUMPY, noise: float | None = None
) -> tuple[Any, Any, Any, Any, Any]:
    """Weighted responsibilities of a chunk from its weighted log-densities.

    Normalised relative to each row's top density (adding log Σ exp to a huge
    |top| first would round it away and leave responsibilities summing to more
    than 1). Subnormal responsibilities (below 2.2e-308, already short of 53 bits)
    count as 0: they would make every product they enter 10-100x slower on x86.
    Rows whose densities overflowed a narrow dtype (a top that is not finite) are
    dropped: weight 0 here, redone in float64 by the caller. A noise component's
    log-density ``noise`` joins every row's normalisation and takes no
    responsibility here (the Gaussians' then sum to less than 1).

    Parameters
    ----------
    wlp : array of shape (K, n)
        log π_k + log N(x_i | k); overwritten.
    weights : array of shape (n,), float64, or None
    ops : ArrayOps
    noise : float, optional
        log π₀ - log V (:attr:`Quadratic.noise`).

    Returns
    -------
    rw : array of shape (K, n)
        w_i r_ik.
    log_norm : array of shape (n,)
        log p(x_i) (meaningless for dropped rows).
    weights : array of shape (n,) or None
        The weights used (0 for dropped rows).
    log_likelihood : float or 0-d array
        Σ_i w_i log p(x_i), in float64.
    overflow : int or 0-d array
        The number of rows dropped.
    """
    top = ops.top(wlp)
    overflow: Any = 0
    if ops.may_overflow(wlp):
        weights, overflow = ops.drop_rows(wlp, top, weights, ~ops.isfinite(top))
    top = _with_noise_top(top, noise, ops)
    rw = ops.exp_shifted(wlp, top)
    s = rw.sum(0)
    if noise is not None:
        s += ops.exp(noise - top)
    log_norm = ops.log(s)
    log_norm += top
    rw *= ops.reciprocal_scale(weights, s)
    ops.flush_(rw)
    if weights is None:
        ll = ops.sum64(log_norm)
    else:  # a row of weight 0 counts for nothing, even where its log p is -inf
        ll = ops.dot64(weights, ops.where(weights > 0, log_norm, 0.0))
    return rw, log_norm, weights, ll, overflow


def _with_noise_top(top: Any, noise: Any, ops: ArrayOps) -> Any:
    """Each row's top density with a noise component's ``noise`` (scalar or (n,)) among
    them (``top`` itself without one)."""
    return top if noise is None else ops.where(top > noise, top, noise)


def chunk_sums(
    kernel: FormKernel,
    plan: Any,
    X: Any,
    weights: Any,
    ops: ArrayOps = NUMPY,
    noise: float | None = None,
) -> Sums:
    """E-step sums of one chunk of rows under ``plan``.

    Parameters
    ----------
    kernel : FormKernel
    plan : the kernel's plan for X's dtype
    X : array of shape (n, d)
    weights : array of shape (n,), float64, or None
    ops : ArrayOps
    noise : float, optional
        A noise component's log-density (:attr:`Quadratic.noise`); the fused
        kernels, which normalise inside, are not used with one.
    """
    fused = None if noise is not None else kernel.fused_sums(X, weights, plan)
    if fused is not None:
        return fused
    wlp, work = kernel.log_prob(X, plan)
    rw, _, kept, ll, overflow = responsibilities(wlp, weights, ops, noise)
    total = float(X.shape[0]) if kept is None else ops.sum64(kept)
    return Sums(total, ll, kernel.moments(X, plan, rw, work), overflow)


def add_sums(a: Sums, b: Sums, form: DensityForm | None = None) -> Sums:
    """The sums of two disjoint blocks under the same plan (a ``merge_all`` pair)."""
    moments = tuple(x + y for x, y in zip(a.moments, b.moments, strict=True))
    return Sums(
        a.total_weight + b.total_weight,
        a.log_likelihood + b.log_likelihood,
        moments,
        a.overflow + b.overflow,
    )


def stats_from_sums(kernel: FormKernel, plan: Any, sums: Sums, ops: ArrayOps = NUMPY) -> Stats:
    """Centred statistics from the sums of all rows (once per E-step).

    The scatter is taken about fixed centres close to the data (the kernel's) and
    moved to the new means exactly (Chan's correction), so no large sums cancel.
    """
    mass, first, second, centres = kernel.centred(plan, sums.moments)
    positive = mass > 0
    safe = ops.where(positive, mass, 1.0)
    offset = first / safe[:, None]  # the mean's offset from its centre (0 where empty)
    means = ops.where(positive[:, None], centres + offset, 0.0)
    scatter = second - kernel.form.correction(mass, offset)
    return Stats(sums.total_weight, sums.log_likelihood, mass, means, scatter)


# -- all rows ---------------------------------------------------------------------
Chunks = Callable[[], Iterable[tuple[Any, Any]]]
"""A function giving the rows chunk by chunk, as (X, weights) pairs, on each call."""


def expectation(
    kernel: FormKernel,
    plan: Any,
    chunks: Chunks,
    *,
    plan64: Callable[[], Any],
    ops: ArrayOps = NUMPY,
    run: Callable[[Callable[..., Sums], Iterable[tuple[Any, Any]]], Iterable[Sums]] | None = None,
    to_host: Callable[[Stats, Any], tuple[Stats, int]] | None = None,
    noise: float | None = None,
) -> Stats:
    """Merged E-step statistics of all rows.

    Parameters
    ----------
    kernel, plan : FormKernel and its plan for the rows' dtype
    chunks : Chunks
    plan64 : callable
        The kernel's float64 plan (only called where rows overflowed).
    ops : ArrayOps
    run : callable, optional
        ``run(fn, chunks)`` yields ``fn(X, weights)`` per chunk, in order (a thread
        pool's map); by default one after another.
    to_host : callable, optional
        ``to_host(stats, overflow)`` returns host statistics and the overflow as an
        int (a device backend copies both in one transfer); by default the identity.
    noise : float, optional
        A noise component's log-density (:attr:`Quadratic.noise`): the statistics
        are the Gaussians', ``total_weight - Σ mass`` the noise's mass.
    """

    def one(X: Any, weights: Any) -> Sums:
        return chunk_sums(kernel, plan, X, weights, ops, noise)

    parts = (one(X, w) for X, w in chunks()) if run is None else run(one, chunks())
    sums = merge_all(parts, kernel.form, add_sums)
    stats = stats_from_sums(kernel, plan, sums, ops)
    if to_host is None:
        overflow = int(sums.overflow)
    else:
        stats, overflow = to_host(stats, sums.overflow)
    if overflow:
        rescued = overflow_stats(kernel, plan, plan64(), chunks, ops, noise)
        rescued = rescued if to_host is None else to_host(rescued, 0)[0]
        stats = merge(stats, rescued, kernel.form)
    return stats


def _overflowed(kernel: FormKernel, plan: Any, X: Any, ops: ArrayOps) -> Any:
    """Which rows of X have densities that overflow X's dtype under ``plan``, (n,) bool."""
    wlp, _ = kernel.log_prob(X, plan)
    return ~ops.isfinite(ops.top(wlp))


def overflow_stats(
    kernel: FormKernel,
    plan: Any,
    plan64: Any,
    chunks: Chunks,
    ops: ArrayOps = NUMPY,
    noise: float | None = None,
) -> Stats:
    """Statistics of just the rows whose densities overflow under ``plan``, in float64.

    float32 rows far from every component (``1e11`` from components of variance
    1e-20) have squared distances beyond float32's range; in float64 they are
    ordinary numbers. Only those rows are redone, so other float32 data keep
    float32's speed.
    """
    parts = []
    for X, w in chunks():
        bad = _overflowed(kernel, plan, X, ops)
        if ops.any(bad):
            rows = ops.to_float64(X[bad])
            weights = None if w is None else w[bad]
            parts.append(chunk_sums(kernel, plan64, rows, weights, ops, noise))
    return stats_from_sums(kernel, plan64, merge_all(parts, kernel.form, add_sums), ops)


def normalise(
    wlp: Any, ops: ArrayOps = NUMPY, top: Any = None, noise: Any = None
) -> tuple[Any, Any]:
    """Per-row log-likelihood and log responsibilities, by log-sum-exp over axis 0.

    Normalised relative to each row's top density: subtracting ``log_sum + top``
    from ``wlp`` would round ``log_sum`` away when |top| is huge (a row far from
    every component). A noise component's log-density ``noise`` is one more term
    in the sum, with no responsibility of its own: the Gaussians' then sum to
    ``1 - exp(noise - log_norm)``.

    Parameters
    ----------
    wlp : array of shape (K, n)
        log π_k + log N(x_i | k); may be overwritten.
    ops : ArrayOps
    top : array of shape (n,), optional
        ``ops.top(wlp)``, where the caller has it already.
    noise : float or array of shape (n,), optional
        log π₀ - log V (:attr:`Quadratic.noise`), or for rows with missing values
        the noise's marginal over each row's observed coordinates.

    Returns
    -------
    log_norm : array of shape (n,)
    log_resp : array of shape (K, n)
        In the responsibilities' dtype (float64 for NumPy).
    """
    top = _with_noise_top(ops.top(wlp) if top is None else top, noise, ops)
    shifted = ops.shifted(wlp, top)
    total = ops.exp(shifted).sum(0)
    if noise is not None:
        total += ops.exp(noise - top)
    log_sum = ops.log(total)
    shifted -= log_sum
    log_sum += top
    return log_sum, shifted


def chunk_log_resp(
    kernel: FormKernel,
    plan: Any,
    X: Any,
    *,
    plan64: Callable[[], Any],
    ops: ArrayOps = NUMPY,
    noise: float | None = None,
) -> tuple[Any, Any]:
    """log p(x_i) (n,) and log responsibilities (n, K) of one chunk, in X's dtype.

    Rows whose densities overflow X's dtype are computed in float64 (``plan64``)
    and rounded to X's dtype at the end (a log-likelihood beyond float32's range
    is then -inf; the responsibilities are exact). ``noise``: a noise
    component's log-density (:attr:`Quadratic.noise`), in the normalisation.
    """
    wlp, _ = kernel.log_prob(X, plan)
    top = ops.top(wlp)
    bad = None
    if ops.may_overflow(wlp):
        bad = ~ops.isfinite(top)
        ops.drop_rows(wlp, top, None, bad)
    log_norm, log_resp = normalise(wlp, ops, top, noise)
    if bad is not None and ops.any(bad):
        log_norm, log_resp = ops.to_float64(log_norm), ops.to_float64(log_resp)
        wlp64, _ = kernel.log_prob(ops.to_float64(X[bad]), plan64())
        log_norm[bad], log_resp[:, bad] = normalise(wlp64, ops, noise=noise)
    return ops.cast_like(log_norm, X), ops.cast_like(log_resp, X).T


# -- reference kernels (one component at a time, straight from the formulas) -------
def weighted_log_prob(X: np.ndarray, params: Params, cov: Covariance) -> np.ndarray:
    """log π_k + log N(x_i | μ_k, Σ_k), shape (n, K), in ``X``'s dtype.

    Parameters
    ----------
    X : ndarray of shape (n, d), float32 or float64
    params : Params
    cov : Covariance
    """
    dtype = X.dtype
    means = params.means.astype(dtype, copy=False)
    prec_chol = params.precisions_cholesky.astype(dtype, copy=False)
    log_prob = cov.form.log_prob(X, means, prec_chol)
    with np.errstate(divide="ignore"):  # a weight of exactly 0 gives log 0 = -inf, on purpose
        log_weights = np.log(params.weights).astype(dtype, copy=False)
    return log_prob + log_weights


def log_responsibilities(
    X: np.ndarray, params: Params, cov: Covariance
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row log-likelihood and log responsibilities (reference kernels).

    Returns
    -------
    log_norm : ndarray of shape (n,)
        log p(x_i).
    log_resp : ndarray of shape (n, K)
        log r_ik = log π_k N(x_i | k) - log p(x_i). With a noise component (whose
        constant log-density joins the normalisation) they sum to less than 1.
    """
    log_norm, log_resp = normalise(weighted_log_prob(X, params, cov).T, noise=noise_term(params))
    return log_norm.astype(X.dtype, copy=False), log_resp.T.astype(X.dtype, copy=False)


def stats_from_resp(
    X: np.ndarray,
    rw: np.ndarray,
    cov: Covariance,
    centres: np.ndarray | None = None,
    log_likelihood: float = 0.0,
    total_weight: float | None = None,
) -> Stats:
    """Statistics of a chunk given its weighted responsibilities.

    The scatter is taken about ``centres`` (for example the current means, close to
    the new ones) and moved to the new means exactly, so no large sums cancel.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    rw : ndarray of shape (n, K)
        w_i r_ik.
    cov : Covariance
    centres : ndarray of shape (K, d), optional
        Where to take the scatter about; by default the chunk's own means
        (one more pass over the chunk, exact for any data offset).
    log_likelihood : float
        Σ_i w_i log p(x_i), carried into the statistics.
    total_weight : float, optional
        Σ_i w_i; defaults to ``rw.sum()``.
    """
    rw64 = rw.astype(np.float64, copy=False)
    mass = rw64.sum(axis=0)
    if centres is None:
        safe = np.where(mass > 0, mass, 1.0)
        centres = (rw64.T @ X.astype(np.float64, copy=False)) / safe[:, None]
    centres = centres.astype(X.dtype, copy=False)
    # Mean offset from the centres, accumulated in float64.
    offset_sum = rw64.T @ X.astype(np.float64, copy=False) - mass[:, None] * centres
    safe = np.where(mass > 0, mass, 1.0)
    offset = np.where(mass[:, None] > 0, offset_sum / safe[:, None], 0.0)
    # float64 weights make the sum over rows accumulate in float64 for float32 X too.
    scatter = np.asarray(cov.form.scatter_about(X, rw64, centres), dtype=np.float64)
    scatter = scatter - cov.form.correction(mass, offset)
    means = np.where(mass[:, None] > 0, centres + offset, 0.0)
    total = float(rw64.sum()) if total_weight is None else float(total_weight)
    return Stats(total, float(log_likelihood), mass, means, scatter)


def chunk_stats(
    X: np.ndarray, weights: np.ndarray | None, params: Params, cov: Covariance
) -> Stats:
    """E-step on one chunk by the reference kernels: responsibilities, then statistics.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    weights : ndarray of shape (n,) or None
        Row weights (multiplicities); ``None`` means all ones.
    params : Params
    cov : Covariance
    """
    log_norm, log_resp = log_responsibilities(X, params, cov)
    resp = np.exp(log_resp)
    if weights is None:
        ll = float(np.sum(log_norm, dtype=np.float64))
        total = float(X.shape[0])
        rw = resp
    else:
        ll = float(np.dot(weights, log_norm.astype(np.float64)))
        total = float(weights.sum())
        rw = resp * weights[:, None].astype(resp.dtype, copy=False)
    return stats_from_resp(X, rw, cov, params.means, ll, total)
