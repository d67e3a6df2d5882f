"""The NumPy backend's E-step kernels, one per density form: matrix products, not loops.

``KERNELS[form.name]`` is the kernel of a density form (see
:class:`gaussmix._core.estep.FormKernel`, whose algorithm drives them). Every
form's log-density is written as the *expanded quadratic form on centred rows*:
with ``z = x - c`` for a centre ``c`` near the data,

    bias_k - ½ |P_kᵀ (x - μ_k)|² = features(z) @ W[:, k]

where ``features(z)`` holds the second moments of ``z`` (all products for
'full', squares for 'diagonal', ``|z|²`` for 'spherical'), ``z`` itself and a 1,
and ``W`` folds in precisions, means and the bias. One product gives the
densities of all components, and one more product ``rw @ features.T`` gives every
component's mass, first and second moments about ``c``, from which the centred
statistics follow exactly. 'shared' projects the rows once by the shared
precision factor and uses ``|y|², y, 1``.

Expanding the square cancels digits in proportion to how far the centre is from a
component in that component's own units (its Mahalanobis distance), and for
'full' also to the condition number of its precision matrix. Components closer
than ``sqrt(_NEAR)`` to the mixture's mean (with a condition number below
``_NEAR``) share that centre; any other component is centred on its own mean, and
a 'full' one is evaluated in the factored form ``|P^T (x - μ)|²``, so clusters
1e9 apart and nearly singular covariances stay exact. 'full' from
``_STACKED_MIN_D`` dimensions with fewer than d / 3 components stacks
the factors instead of building d²/2 features (see :class:`Group`), and its far
components share one direct group; 'spherical' far components share one direct
group too, while 'diagonal' keeps every component on the shared centre and takes
from the rows as they are only the terms (component, feature) whose expansion
would lose digits (:class:`DirectTerms`); rows in one dimension run the whole
chunk in one fused compiled pass.

Rows stay in their dtype (float32 rows give float32 densities), while
responsibilities, products for the statistics and every sum are float64. With
numba the features are built in one compiled pass; without it, by NumPy.
Nothing here is d² for 'diagonal' or 'spherical'.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np

from .._core.covariance.forms import DensityForm, Diagonal, Full, Shared, Spherical
from .._core.estep import Quadratic, Sums

__all__ = ["KERNELS", "Group", "Kernel", "Plan", "compiled_pass", "jit", "pass_work"]

_NEAR = 1e4  # squared Mahalanobis distance of the shared centre: cancellation ≲ eps·1e4
_STACKED_MIN_D = 32  # 'full' from this many dimensions: stacked factors, not d²/2 features
_STACKED_COMPONENTS_PER_D = 1 / 3
"""...while fewer than d / 3 components share a centre: from there one product of the
d²/2 features with all K columns costs less than K triangular products, whose BLAS
calls on a chunk's rows are small (at d = 32 from K ≈ 10, at d = 64 from K ≈ 20:
bench/RESULTS.md, "Very many components")."""

_jit_module: Any = None


@lru_cache(maxsize=64)
def _upper(d: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.triu_indices(d)``, built once per d (it cost as much as a small E-step's
    products when rebuilt every E-step); read-only."""
    rows, cols = np.triu_indices(d)
    rows.flags.writeable = cols.flags.writeable = False
    return rows, cols


_COMPILED_MIN_WORK = 2**26
"""The work of an E-step pass (:func:`pass_work`) from which the compiled kernels run.

numba costs a fresh process about 0.6 s of CPU once (importing it, and setting up
its compiler context when the first cached kernel loads), and its kernels save at
most about half of a NumPy pass (more for 1-D rows, nothing for 'tied'). A pass of
this much work takes NumPy about 0.05 s on an AVX2 x86-64 core, so from here the
import is repaid within a few tens of passes, what a fit takes; below it, a fit
that loaded numba would mostly pay for the import (``bench/compiled_cost.py``;
bench/RESULTS.md has the measurements)."""

_PER_COMPONENT_PASSES = 32
"""The E-step's passes over a chunk's (K, n) arrays (exp, maxima, normalisation,
flushes) cost about as much as this many features' multiply-adds each."""

_pass_bound: ContextVar[tuple[int, int] | None] = ContextVar("gaussmix_pass_bound", default=None)
"""Within :func:`compiled_pass`: the pass's work and the bound it is held to."""


def pass_work(kernel: Kernel, n_rows: int, n_features: int, n_components: int) -> int:
    """The work of one E-step pass of ``kernel`` over ``n_rows`` rows: rows × components ×
    (features + the per-component passes), the multiply-adds of its products and more."""
    return n_rows * n_components * (kernel.feature_count(n_features) + _PER_COMPONENT_PASSES)


def _min_work() -> int:
    """The work from which the compiled kernels run (the environment's settings, read
    once per pass: each read costs microseconds, several times a small E-step's)."""
    if os.environ.get("GAUSSMIX_DISABLE_NUMBA", "") not in ("", "0"):
        return -1
    return int(os.environ.get("GAUSSMIX_NUMBA_MIN_WORK", _COMPILED_MIN_WORK))


@contextmanager
def compiled_pass(work: int) -> Iterator[None]:
    """Within it, :func:`jit` decides for the whole pass of ``work`` (see :func:`pass_work`),
    not for each chunk: every chunk of a pass takes the same path, chosen by the
    pass's size alone (never by what the process has loaded before, so the same
    rows always give the same bits). :func:`gaussmix._core.parallel.map_chunks`
    carries it into its threads."""
    token = _pass_bound.set((work, _min_work()))
    try:
        yield
    finally:
        _pass_bound.reset(token)


def jit(values: int) -> Any:
    """The compiled kernels module for a chunk of ``values`` numbers, or None: without
    numba, when it is disabled, or where it would not pay.

    Inside :func:`compiled_pass` the pass's work decides (a chunk alone is its
    own pass otherwise): below ``_COMPILED_MIN_WORK`` the E-step runs NumPy's
    loops and never imports numba. ``GAUSSMIX_NUMBA_MIN_WORK`` sets the bound
    (0: always, as the tests of the compiled kernels do), and
    ``GAUSSMIX_DISABLE_NUMBA=1`` forces the NumPy path everywhere (the tests use
    it to compare both); a pass reads them when it begins.
    """
    global _jit_module
    bound = _pass_bound.get()
    work, min_work = (values, _min_work()) if bound is None else bound
    if min_work < 0 or work < min_work:
        return None
    if _jit_module is None:
        try:
            from . import _jit
        except ImportError:
            _jit_module = False
        else:
            _jit_module = _jit
    return _jit_module or None


class Group(NamedTuple):
    """Components that share one centre.

    Attributes
    ----------
    centre : ndarray of shape (d,), float64
        For a direct group, each member's own centre, (K_g, d).
    members : ndarray of shape (K_g,), intp
        The components in this group.
    W : ndarray of shape (m, K_g), the rows' dtype, or None
        ``features(x - centre) @ W`` = bias_k - ½ |P_kᵀ (x - μ_k)|² (None for a
        stacked group, which needs no features beyond ``[z; 1]``).
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
        With ``stacked`` or ``factor``: the members' bias, float64.
    factors, offsets : ndarray of shape (K_g, d, d) and (K_g, d), or None
        With ``stacked`` and upper-triangular factors (always, from the M-step):
        the P_k and μ_k - centre, float64, for the triangular products.
    direct : ndarray of shape (K_g, d), float64, or None
        'spherical' components far from the shared centre, each
        centred on its own mean: their squared precisions per feature, for
        ``bias_k - ½ Σ_j p²_kj (x_j - μ_kj)²`` straight from the rows (no
        expansion, nothing to cancel; ``bias`` holds the bias). One such group
        holds every far component, so they cost one pass, not one each. 'full'
        from ``_STACKED_MIN_D`` dimensions: the far components' means (also in
        ``offsets``, with their ``factors``), for ``|P_kᵀ (x - μ_k)|²`` and the
        sums about μ_k from the rows as they are, x - μ_k exactly as a group of
        one centred on μ_k would have it.
    """

    centre: np.ndarray
    members: np.ndarray
    W: np.ndarray | None
    factor: np.ndarray | None = None
    stacked: np.ndarray | None = None
    bias: np.ndarray | None = None
    factors: np.ndarray | None = None
    offsets: np.ndarray | None = None
    direct: np.ndarray | None = None


class Plan(NamedTuple):
    """Everything the chunk kernels need from a :class:`Quadratic`, for one dtype.

    Attributes
    ----------
    n_components, n_features : int
    groups : tuple of Group
    dead : ndarray of int
        Components of bias -inf (weight 0), whose log-density is -inf.
    projection : ndarray of shape (d, d) or None
        'shared': the precision Cholesky factor, in the rows' dtype.
    direct : DirectTerms or None
        'diagonal': the terms taken from the rows as they are, added to the
        groups' densities (see :class:`DirectTerms`).
    """

    n_components: int
    n_features: int
    groups: tuple[Group, ...]
    dead: np.ndarray
    projection: np.ndarray | None = None
    direct: DirectTerms | None = None


class DirectTerms(NamedTuple):
    """The 'diagonal' terms ``p²_kj (x_j - μ_kj)²`` evaluated from the rows as they are.

    Expanded about the shared centre c, a term loses digits in proportion to
    ``p²_kj (μ_kj - c_j)²``. Every component's largest such terms, as many as it
    takes for the rest to sum to at most ``_NEAR``, are left out of the shared
    group's weights and computed here instead; the rest stay expanded, so the loss
    is bounded as for a whole component near the centre (eps · ``_NEAR``), while
    only the terms that need it cost a pass of their own. The centre is chosen to
    need few: per feature the precision-weighted mean of the components' means
    (digits' pixels, constant within a cluster, make every component far from the
    mixture's mean through 2 to 8 of its 64 features; from this centre none).

    Attributes
    ----------
    members : ndarray of shape (K_p,), intp
        The components with such terms.
    means : ndarray of shape (K_p, d), float64
    scales : ndarray of shape (K_p, d), float64
        p²_kj at the direct features, 0 at the others.
    columns : tuple of K_p ndarrays of intp
        Each member's direct features.
    """

    members: np.ndarray
    means: np.ndarray
    scales: np.ndarray
    columns: tuple[np.ndarray, ...]


# Rows are *columns* of every per-chunk array (features (m, n), densities and
# responsibilities (K, n)): the compiled loops then run along contiguous rows, and
# both products are plain matrix products, W.T @ F and rw @ F.T.
class Kernel:
    """A density form's kernel: the expanded quadratic form about centre groups.

    Subclasses give the form's features, its coefficients and how its second
    moments sit in the summed features; the grouping, the products and the
    bookkeeping are shared.
    """

    compiled = ""
    """The name of the compiled function in :mod:`._jit` that builds the features."""

    def __init__(self, form: DensityForm) -> None:
        self.form = form

    # -- sizes -----------------------------------------------------------------------
    def feature_count(self, d: int) -> int:
        """Number of feature columns m in d dimensions."""
        raise NotImplementedError

    def bytes_per_row(self, n_components: int, d: int) -> int:
        """Bytes of per-chunk temporaries per row: features, densities, responsibilities."""
        return 8 * (self.feature_count(d) + 3 * n_components + d)

    # -- the plan --------------------------------------------------------------------
    def plan(self, quad: Quadratic, dtype: Any) -> Plan:
        """Fold ``quad`` into per-group weight matrices for rows of ``dtype``."""
        weights, means, prec, bias = quad[:4]  # (a noise term is the E-step's, not a kernel's)
        K, d = means.shape
        # A bias of -inf (weight 0) is set after the product (BLAS may multiply an
        # infinite coefficient by a padding zero).
        live = np.isfinite(bias)
        bias = np.where(live, bias, 0.0)
        centre = weights @ means
        near = (self.centre_distance(means - centre, prec) <= _NEAR) & self.well_conditioned(prec)
        groups = []
        if near.any():
            groups.append(self.group(centre, np.flatnonzero(near), means, prec, bias, dtype))
        if not near.all():
            groups.extend(self.far_groups(np.flatnonzero(~near), means, prec, bias, dtype))
        return Plan(K, d, tuple(groups), np.flatnonzero(~live), self.projection(prec, dtype))

    def centre_distance(self, delta: np.ndarray, prec: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distance of each component's mean from the centre, (K,)."""
        projected = self.project(delta, prec, np.arange(delta.shape[0]))
        return np.einsum("kj,kj->k", projected, projected)

    def well_conditioned(self, prec: np.ndarray) -> np.ndarray | bool:
        """Which components' expanded form keeps its digits (all, but for 'full')."""
        return True

    def project(self, delta: np.ndarray, prec: np.ndarray, index: np.ndarray) -> np.ndarray:
        """``P_kᵀ δ_k`` for the components ``index``, (K_g, d)."""
        raise NotImplementedError

    def coefficients(
        self, delta: np.ndarray, prec: np.ndarray, index: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The second-moment and linear coefficients of the components ``index``
        about a centre ``δ`` from their means, (K_g, m - d - 1) and (K_g, d)."""
        raise NotImplementedError

    def group(
        self,
        centre: np.ndarray,
        index: np.ndarray,
        means: np.ndarray,
        prec: np.ndarray,
        bias: np.ndarray,
        dtype: Any,
    ) -> Group:
        """The weight matrix W (m, K_g) of the components ``index`` about ``centre``."""
        delta = means[index] - centre
        quad, linear = self.coefficients(delta, prec, index)
        eta = self.project(delta, prec, index)
        const = -0.5 * np.einsum("kj,kj->k", eta, eta) + bias[index]
        W = np.hstack([quad, linear, const[:, None]]).T.astype(dtype, order="C")
        return Group(np.asarray(centre, dtype=np.float64), index, W)

    def far_groups(
        self, far: np.ndarray, means: np.ndarray, prec: np.ndarray, bias: np.ndarray, dtype: Any
    ) -> list[Group]:
        """Groups for the components ``far`` from the shared centre: one each, by default."""
        return [self.lone_group(int(k), means, prec, bias, dtype) for k in far]

    def lone_group(
        self, k: int, means: np.ndarray, prec: np.ndarray, bias: np.ndarray, dtype: Any
    ) -> Group:
        """Component ``k`` alone, centred on its own mean."""
        return self.group(means[k], np.array([k]), means, prec, bias, dtype)

    def projection(self, prec: np.ndarray, dtype: Any) -> np.ndarray | None:
        return None

    # -- per chunk ------------------------------------------------------------------
    def features(self, X: np.ndarray, plan: Plan, group: Group) -> np.ndarray:
        """Features of the chunk's rows about the group's centre, (m, n) in X's dtype."""
        n, d = X.shape
        F = np.empty((self.feature_count(d), n), dtype=X.dtype)
        kernels = jit(X.size)
        if kernels is not None:
            getattr(kernels, self.compiled)(X, group.centre, F)
            return F
        q = F.shape[0] - 1 - d
        z = F[q : q + d]
        np.subtract(X.T, group.centre[:, None], out=z, casting="same_kind")
        F[-1] = 1.0
        self.squares(z, F[:q])
        return F

    def squares(self, z: np.ndarray, out: np.ndarray) -> None:
        """The second-moment features of centred rows ``z`` (d, n), written to ``out``."""
        raise NotImplementedError

    def log_prob(self, X: np.ndarray, plan: Plan) -> tuple[np.ndarray, list[np.ndarray]]:
        """Weighted log-densities (K, n) in X's dtype, and each group's features."""
        with np.errstate(over="ignore", invalid="ignore"):  # overflowed rows are redone
            feats = [self.features(X, plan, g) for g in plan.groups]
            g0 = plan.groups[0]
            if len(plan.groups) == 1 and g0.W is not None:
                wlp = g0.W.T @ feats[0]
            else:
                wlp = np.empty((plan.n_components, X.shape[0]), dtype=X.dtype)
                for g, F in zip(plan.groups, feats, strict=True):
                    wlp[g.members] = self.group_log_prob(g, F)
        wlp[plan.dead] = -np.inf
        return wlp, feats

    def group_log_prob(self, group: Group, F: np.ndarray) -> np.ndarray:
        """The group's members' weighted log-densities (K_g, n) from its features."""
        assert group.W is not None
        return group.W.T @ F

    def moments(
        self, X: np.ndarray, plan: Plan, rw: np.ndarray, feats: list[np.ndarray]
    ) -> tuple[np.ndarray, ...]:
        """Per group Σ_i w_i r_ik f(x_i - c_g), (K_g, m): second moments, first, mass."""
        sums = []
        for g, F in zip(plan.groups, feats, strict=True):
            r = rw if len(plan.groups) == 1 else rw[g.members]
            sums.append(self.group_moments(g, r, F))
        return tuple(sums)

    def group_moments(self, group: Group, r: np.ndarray, F: np.ndarray) -> np.ndarray:
        return r @ F.T.astype(np.float64, copy=False)

    def fused_sums(self, X: np.ndarray, weights: np.ndarray | None, plan: Plan) -> Sums | None:
        return None

    # -- once per E-step ----------------------------------------------------------------
    def centred(
        self, plan: Plan, moments: tuple[np.ndarray, ...]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Mass, first moments and scatter about each component's group centre.

        In each group's sums the last column is the mass, the d before it the first
        moment about the group's centre, and the leading ones the second moments.
        """
        K, d = plan.n_components, plan.n_features
        mass = np.zeros(K)
        first = np.zeros((K, d))
        centres = np.zeros((K, d))
        second = np.zeros(self.form.shape(K, d))
        for g, G in zip(plan.groups, moments, strict=True):
            mass[g.members] = G[:, -1]
            first[g.members] = G[:, -1 - d : -1]
            centres[g.members] = g.centre
            self.put_second(second, g, G, d)
        return mass, first, second, centres

    def put_second(self, second: np.ndarray, group: Group, G: np.ndarray, d: int) -> None:
        """Write the group's second moments from its sums ``G`` into ``second``."""
        raise NotImplementedError


class _DiagonalKernel(Kernel):
    """What 'spherical' and 'diagonal' share: per-feature precisions, the far
    components in one direct group ('diagonal' plans finer, see
    :meth:`DiagonalKernel.plan`), and in one dimension (where both layouts are
    ``z², z, 1``) the fused compiled pass."""

    def scales(self, prec: np.ndarray, index: np.ndarray, d: int) -> np.ndarray:
        """Squared precisions per feature of the components ``index``, (K_g, d) float64."""
        raise NotImplementedError

    def far_groups(
        self, far: np.ndarray, means: np.ndarray, prec: np.ndarray, bias: np.ndarray, dtype: Any
    ) -> list[Group]:
        centres = np.ascontiguousarray(means[far], dtype=np.float64)
        scales = np.ascontiguousarray(self.scales(prec, far, means.shape[1]))
        return [Group(centres, far, None, bias=bias[far], direct=scales)]

    def features(self, X: np.ndarray, plan: Plan, group: Group) -> np.ndarray:
        if group.direct is not None:  # the rows themselves
            return X
        return super().features(X, plan, group)

    def group_log_prob(self, group: Group, F: np.ndarray) -> np.ndarray:
        if group.direct is None:
            return super().group_log_prob(group, F)
        assert group.bias is not None
        out = np.empty((len(group.members), F.shape[0]), dtype=F.dtype)
        kernels = jit(F.size)
        if kernels is not None:
            kernels.diagonal_direct(F, group.centre, group.direct, group.bias, out)
            return out
        z = np.empty(F.shape)  # one float64 buffer for every member: no page faults each
        for row, (c, p2, b) in enumerate(zip(group.centre, group.direct, group.bias, strict=True)):
            np.subtract(F, c, out=z)
            np.multiply(z, z, out=z)
            out[row] = b - 0.5 * (z @ p2)
        return out

    def group_moments(self, group: Group, r: np.ndarray, F: np.ndarray) -> np.ndarray:
        """Sums about each member's own centre, ``[z², z, 1]`` per feature (K_g, 2d + 1)."""
        if group.direct is None:
            return super().group_moments(group, r, F)
        K, d = group.centre.shape
        out = np.empty((K, 2 * d + 1))
        kernels = jit(F.size)
        if kernels is not None:
            kernels.diagonal_direct_moments(F, group.centre, r, out)
        else:
            z = np.empty(F.shape)  # one float64 buffer for every member
            for row, c in enumerate(group.centre):
                np.subtract(F, c, out=z)
                out[row, d : 2 * d] = r[row] @ z
                np.multiply(z, z, out=z)
                out[row, :d] = r[row] @ z
            out[:, 2 * d] = r.sum(axis=1)
        return self.from_diagonal_layout(out, d)

    def from_diagonal_layout(self, sums: np.ndarray, d: int) -> np.ndarray:
        """Sums in the ``[z², z, 1]`` layout, rearranged to this form's feature layout."""
        return sums

    def fused_sums(self, X: np.ndarray, weights: np.ndarray | None, plan: Plan) -> Sums | None:
        """Sums of unweighted float64 1-D rows by the fused kernel (one pass per chunk).

        None where it does not apply (numba missing, weights, float32, several
        groups); there the general path's separate passes run instead.
        """
        kernels = jit(X.size)
        if (
            kernels is None
            or weights is not None
            or X.shape[1] != 1
            or X.dtype != np.float64
            or len(plan.groups) != 1
            or plan.groups[0].W is None
            or plan.direct is not None
        ):
            return None
        g = plan.groups[0]
        assert g.W is not None
        W = g.W.astype(np.float64)
        W[2, plan.dead] = -np.inf
        out = np.empty((plan.n_components, 3))
        ll = kernels.sums_1d(np.ascontiguousarray(X[:, 0]), float(g.centre[0]), W, out)
        return Sums(float(X.shape[0]), float(ll), (out,), 0)


class SphericalKernel(_DiagonalKernel):
    """Features ``|z|², z, 1``."""

    compiled = "norms"

    def feature_count(self, d: int) -> int:
        return d + 2

    def project(self, delta: np.ndarray, prec: np.ndarray, index: np.ndarray) -> np.ndarray:
        return delta * prec[index][:, None]

    def scales(self, prec: np.ndarray, index: np.ndarray, d: int) -> np.ndarray:
        return np.repeat((prec[index] ** 2)[:, None], d, axis=1)

    def from_diagonal_layout(self, sums: np.ndarray, d: int) -> np.ndarray:
        return np.hstack([sums[:, :d].sum(axis=1, keepdims=True), sums[:, d:]])

    def coefficients(
        self, delta: np.ndarray, prec: np.ndarray, index: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        p2 = prec[index] ** 2
        return -0.5 * p2[:, None], p2[:, None] * delta

    def squares(self, z: np.ndarray, out: np.ndarray) -> None:
        np.einsum("ji,ji->i", z, z, out=out[0])

    def put_second(self, second: np.ndarray, group: Group, G: np.ndarray, d: int) -> None:
        second[group.members] = G[:, 0]


class DiagonalKernel(_DiagonalKernel):
    """Features ``z², z, 1`` (per feature), every component about the shared centre but
    for the terms that would lose digits there (:class:`DirectTerms`)."""

    compiled = "squares"

    def plan(self, quad: Quadratic, dtype: Any) -> Plan:
        means, prec, bias = quad.means, quad.precisions_cholesky, quad.bias
        K, d = means.shape
        live = np.isfinite(bias)  # -inf (weight 0) is set after the product, as in Kernel.plan
        p2 = prec**2
        # Per feature the centre that minimises Σ_k p²_kj (μ_kj - c_j)², what the
        # expansion loses: the precision-weighted mean of the live components' means.
        weigh = p2 * live[:, None] if live.any() else p2
        centre = (weigh * means).sum(axis=0) / weigh.sum(axis=0)
        delta = means - centre
        terms = p2 * delta * delta
        direct = _direct_features(terms) & live[:, None]  # (a dead one's densities: -inf)
        kept = ~direct
        W = np.hstack(
            [
                np.where(kept, -0.5 * p2, 0.0),
                np.where(kept, p2 * delta, 0.0),
                (-0.5 * np.where(kept, terms, 0.0).sum(axis=1) + np.where(live, bias, 0.0))[
                    :, None
                ],
            ]
        ).T.astype(dtype, order="C")
        group = Group(np.asarray(centre, dtype=np.float64), np.arange(K), W)
        members = np.flatnonzero(direct.any(axis=1))
        terms_of = None
        if members.size:
            terms_of = DirectTerms(
                members,
                np.ascontiguousarray(means[members], dtype=np.float64),
                np.ascontiguousarray(np.where(direct[members], p2[members], 0.0)),
                tuple(np.flatnonzero(row) for row in direct[members]),
            )
        return Plan(K, d, (group,), np.flatnonzero(~live), None, terms_of)

    def log_prob(self, X: np.ndarray, plan: Plan) -> tuple[np.ndarray, list[np.ndarray]]:
        wlp, feats = super().log_prob(X, plan)
        if plan.direct is not None:
            with np.errstate(over="ignore", invalid="ignore"):  # overflowed rows are redone
                wlp[plan.direct.members] += _direct_log_prob(X, plan.direct)
        return wlp, feats

    def moments(
        self, X: np.ndarray, plan: Plan, rw: np.ndarray, feats: list[np.ndarray]
    ) -> tuple[np.ndarray, ...]:
        sums = super().moments(X, plan, rw, feats)
        if plan.direct is None:
            return sums
        return (*sums, _direct_sums(X, plan.direct, rw[plan.direct.members]))

    def centred(
        self, plan: Plan, moments: tuple[np.ndarray, ...]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """As :meth:`Kernel.centred`, the direct features' sums about the members' own
        means: each feature of a component has its own centre."""
        if plan.direct is None:
            return super().centred(plan, moments)
        mass, first, second, centres = super().centred(plan, moments[:-1])
        direct, G = plan.direct, moments[-1]
        d = plan.n_features
        for row, (k, cols) in enumerate(zip(direct.members, direct.columns, strict=True)):
            centres[k, cols] = direct.means[row, cols]
            first[k, cols] = G[row, d + cols]
            second[k, cols] = G[row, cols]
        return mass, first, second, centres

    def feature_count(self, d: int) -> int:
        return 2 * d + 1

    def project(self, delta: np.ndarray, prec: np.ndarray, index: np.ndarray) -> np.ndarray:
        return delta * prec[index]

    def scales(self, prec: np.ndarray, index: np.ndarray, d: int) -> np.ndarray:
        return prec[index] ** 2

    def coefficients(
        self, delta: np.ndarray, prec: np.ndarray, index: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        p2 = prec[index] ** 2
        return -0.5 * p2, p2 * delta

    def squares(self, z: np.ndarray, out: np.ndarray) -> None:
        np.multiply(z, z, out=out)

    def put_second(self, second: np.ndarray, group: Group, G: np.ndarray, d: int) -> None:
        second[group.members] = G[:, :d]


def _direct_features(terms: np.ndarray) -> np.ndarray:
    """Which features of each component leave the expansion, (K, d) bool, from each
    term's cancellation ``terms`` (K, d) = p²_kj (μ_kj - c_j)²: the largest ones,
    until the rest sum to at most ``_NEAR``."""
    if terms.sum(axis=1).max(initial=0.0) <= _NEAR:  # every component near: no sort
        return np.zeros(terms.shape, dtype=bool)
    order = np.argsort(-terms, axis=1, kind="stable")
    ranked = np.take_along_axis(terms, order, axis=1)
    rest = np.cumsum(ranked[:, ::-1], axis=1)[:, ::-1]  # the sum from each rank on
    count = (rest > _NEAR).sum(axis=1)
    direct = np.zeros(terms.shape, dtype=bool)
    np.put_along_axis(direct, order, np.arange(terms.shape[1]) < count[:, None], axis=1)
    return direct


def _direct_log_prob(X: np.ndarray, direct: DirectTerms) -> np.ndarray:
    """``-½ Σ_j∈J_k p²_kj (x_j - μ_kj)²`` (K_p, n) of the direct terms, in X's dtype."""
    out = np.empty((direct.members.size, X.shape[0]), dtype=X.dtype)
    kernels = jit(X.size)
    if kernels is not None:  # every feature, the others at scale 0: one compiled pass
        zero = np.zeros(direct.members.size)
        kernels.diagonal_direct(X, direct.means, direct.scales, zero, out)
        return out
    for row, cols in enumerate(direct.columns):
        z = X[:, cols].astype(np.float64, copy=False)  # (a gathered copy already)
        z -= direct.means[row, cols]
        z *= z
        out[row] = z @ (-0.5 * direct.scales[row, cols])
    return out


def _direct_sums(X: np.ndarray, direct: DirectTerms, r: np.ndarray) -> np.ndarray:
    """``[Σ_i r z², Σ_i r z, Σ_i r]`` about each member's mean, (K_p, 2d + 1) float64,
    from the members' weighted responsibilities ``r`` (K_p, n); only the direct
    features' entries are meant (the compiled pass fills every one)."""
    d = X.shape[1]
    out = np.zeros((direct.members.size, 2 * d + 1))
    kernels = jit(X.size)
    if kernels is not None:
        kernels.diagonal_direct_moments(X, direct.means, np.ascontiguousarray(r), out)
        return out
    for row, cols in enumerate(direct.columns):
        z = X[:, cols].astype(np.float64, copy=False)
        z -= direct.means[row, cols]
        out[row, d + cols] = r[row] @ z
        z *= z
        out[row, cols] = r[row] @ z
    return out


class FullKernel(Kernel):
    """Features: the upper-triangle products ``z_j z_l`` (j <= l), ``z``, 1; from
    ``_STACKED_MIN_D`` dimensions and below d / 3 components stacked
    factors instead; a lone component in the factored form ``|P^T (x - μ)|²``; from
    ``_STACKED_MIN_D`` dimensions the far components in one direct group."""

    compiled = "products"

    def feature_count(self, d: int) -> int:
        return d * (d + 1) // 2 + d + 1

    def bytes_per_row(self, n_components: int, d: int) -> int:
        if _stacked(n_components, d):  # [z; 1], P^T z and r ⊗ z
            return 8 * (d + 1 + 2 * n_components * d + 3 * n_components + d)
        return super().bytes_per_row(n_components, d)

    def well_conditioned(self, prec: np.ndarray) -> np.ndarray | bool:
        # Σ_jl Λ_jl z_j z_l loses digits in proportion to Λ's condition number.
        return np.linalg.cond(prec) ** 2 <= _NEAR

    def project(self, delta: np.ndarray, prec: np.ndarray, index: np.ndarray) -> np.ndarray:
        return np.einsum("kj,kjl->kl", delta, prec[index])

    def coefficients(
        self, delta: np.ndarray, prec: np.ndarray, index: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        P = prec[index]
        lam = np.einsum("kij,klj->kil", P, P)  # precision matrices Λ_k = P_k P_k^T
        rows, cols = _upper(delta.shape[1])
        quad = -0.5 * lam[:, rows, cols] * np.where(rows == cols, 1.0, 2.0)
        return quad, np.einsum("kjl,kl->kj", lam, delta)

    def group(
        self,
        centre: np.ndarray,
        index: np.ndarray,
        means: np.ndarray,
        prec: np.ndarray,
        bias: np.ndarray,
        dtype: Any,
    ) -> Group:
        if not _stacked(*means.shape):
            return super().group(centre, index, means, prec, bias, dtype)
        P = prec[index]
        eta = self.project(means[index] - centre, prec, index)
        stacked = np.vstack([np.hstack(list(P)), -eta.reshape(1, -1)])
        group = Group(np.asarray(centre, dtype=np.float64), index, None)
        group = group._replace(stacked=stacked.astype(dtype), bias=bias[index])
        return _with_factors(group, means, prec)

    def far_groups(
        self, far: np.ndarray, means: np.ndarray, prec: np.ndarray, bias: np.ndarray, dtype: Any
    ) -> list[Group]:
        """From ``_STACKED_MIN_D`` dimensions, one direct group of all far components:
        the rows as they are, each member's density and sums about its own mean."""
        if means.shape[1] < _STACKED_MIN_D:
            return super().far_groups(far, means, prec, bias, dtype)  # one group each
        P = np.ascontiguousarray(prec[far], dtype=np.float64)
        if np.any(np.tril(P, -1)):  # (the M-step's factors always are triangular)
            return super().far_groups(far, means, prec, bias, dtype)
        centres = np.ascontiguousarray(means[far], dtype=np.float64)
        group = Group(centres, far, None, bias=bias[far], factors=P, offsets=centres)
        return [group._replace(direct=centres)]

    def lone_group(
        self, k: int, means: np.ndarray, prec: np.ndarray, bias: np.ndarray, dtype: Any
    ) -> Group:
        # its own centre: the factored form |P_k^T (x - μ_k)|², never the expanded one
        # (from _STACKED_MIN_D dimensions far components are one direct group instead,
        # unless their factors were not triangular, which the M-step never gives)
        group = Group(np.asarray(means[k], dtype=np.float64), np.array([k]), None)
        return group._replace(factor=prec[k].astype(dtype), bias=bias[[k]])

    def features(self, X: np.ndarray, plan: Plan, group: Group) -> np.ndarray:
        if group.W is not None:
            return super().features(X, plan, group)
        n, d = X.shape
        # [z; 1]; a direct group's rows as they are (its members' means are subtracted
        # one by one, so each member sees x - μ_k exactly)
        centre = np.zeros(d) if group.direct is not None else group.centre
        F = np.empty((d + 1, n), dtype=X.dtype)
        kernels = jit(X.size)
        if kernels is not None:
            kernels.centred(X, centre, F)
            return F
        np.subtract(X.T, centre[:, None], out=F[:d], casting="same_kind")
        F[d] = 1.0
        return F

    def squares(self, z: np.ndarray, out: np.ndarray) -> None:
        rows, cols = _upper(z.shape[0])
        np.multiply(z[rows], z[cols], out=out)

    def group_log_prob(self, group: Group, F: np.ndarray) -> np.ndarray:
        if group.W is not None:
            return super().group_log_prob(group, F)
        assert group.bias is not None
        d, n = F.shape[0] - 1, F.shape[1]
        if group.direct is not None:
            maha = _direct_mahalanobis(group, F)
        elif group.factor is not None:
            y = group.factor.T @ F[:d]
            maha = np.einsum("ji,ji->i", y, y)[None]
        elif _triangular(group, F):
            maha = np.empty((len(group.members), n))
            jit(F.size).maha_triangular(F, group.offsets, group.factors, maha)
        else:
            assert group.stacked is not None
            y = group.stacked.T @ F  # (K_g d, n): P_k^T (x - μ_k)
            y *= y
            maha = y.reshape(len(group.members), d, n).sum(axis=1)
        return maha * -0.5 + group.bias[:, None]

    def group_moments(self, group: Group, r: np.ndarray, F: np.ndarray) -> np.ndarray:
        if group.W is not None:
            return super().group_moments(group, r, F)
        if group.direct is not None:
            return _direct_moments(group, r, F)
        if _triangular(group, F):
            return _symmetric_sums(r, F)
        return _stacked_sums(r, F.astype(np.float64, copy=False))

    def put_second(self, second: np.ndarray, group: Group, G: np.ndarray, d: int) -> None:
        rows, cols = _upper(d)
        block = np.empty((len(group.members), d, d))
        block[:, rows, cols] = G[:, : len(rows)]
        block[:, cols, rows] = G[:, : len(rows)]
        second[group.members] = block


class SharedKernel(Kernel):
    """The rows projected once by the shared factor, ``y = (x - c) P``; features
    ``|y|², y, 1``; the shared scatter summed over components in float64."""

    def feature_count(self, d: int) -> int:
        return d + 2

    def project(self, delta: np.ndarray, prec: np.ndarray, index: np.ndarray) -> np.ndarray:
        return delta @ prec

    def coefficients(
        self, delta: np.ndarray, prec: np.ndarray, index: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        return np.full((len(index), 1), -0.5), delta @ prec

    def projection(self, prec: np.ndarray, dtype: Any) -> np.ndarray:
        return prec.astype(dtype)

    def features(self, X: np.ndarray, plan: Plan, group: Group) -> np.ndarray:
        assert plan.projection is not None
        n, d = X.shape
        F = np.empty((d + 2, n), dtype=X.dtype)
        z = np.subtract(X, group.centre).astype(X.dtype, copy=False)  # centred in float64
        y = np.matmul(plan.projection.T, z.T, out=F[1 : d + 1])
        np.einsum("ji,ji->i", y, y, out=F[0])
        F[-1] = 1.0
        return F

    def moments(
        self, X: np.ndarray, plan: Plan, rw: np.ndarray, feats: list[np.ndarray]
    ) -> tuple[np.ndarray, ...]:
        """Per group the first moments and mass (K_g, d + 1), then the scatter
        Σ_g Σ_i (Σ_{k in g} w_i r_ik) (x_i - c_g)(x_i - c_g)ᵀ (d, d)."""
        sums, second = [], None
        for g in plan.groups:
            r = rw if len(plan.groups) == 1 else rw[g.members]
            z = np.subtract(X, g.centre)  # float64 centred rows
            sums.append(np.hstack([r @ z, r.sum(axis=1)[:, None]]))
            part = (z.T * r.sum(axis=0)) @ z
            second = part if second is None else second + part
        assert second is not None
        return (*sums, second)

    def centred(
        self, plan: Plan, moments: tuple[np.ndarray, ...]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        mass, first, _, centres = super().centred(plan, moments[:-1])
        return mass, first, moments[-1], centres

    def put_second(self, second: np.ndarray, group: Group, G: np.ndarray, d: int) -> None:
        pass  # summed over components in the last moment


def _stacked(n_components: int, d: int) -> bool:
    """Whether 'full' components sharing a centre are stacked (see :class:`Group`)."""
    return d >= _STACKED_MIN_D and n_components < d * _STACKED_COMPONENTS_PER_D


def _with_factors(group: Group, means: np.ndarray, prec: np.ndarray) -> Group:
    """``group`` with its members' factors and offsets where all are upper triangular."""
    P = np.ascontiguousarray(prec[group.members], dtype=np.float64)
    if np.any(np.tril(P, -1)):
        return group
    offsets = np.ascontiguousarray(means[group.members] - group.centre)
    return group._replace(factors=P, offsets=offsets)


def _triangular(group: Group, F: np.ndarray) -> bool:
    """Whether a stacked or direct group's densities and sums go through numba's
    triangular products and BLAS scatters (float64 rows, factors upper triangular)."""
    kernels = jit(F.size)
    return (
        group.factors is not None
        and F.dtype == np.float64
        and kernels is not None
        and kernels.HAVE_BLAS
    )


def _direct_mahalanobis(group: Group, F: np.ndarray) -> np.ndarray:
    """|P_kᵀ (x - μ_k)|² (K_g, n) of a direct group's members, from the rows as they are."""
    assert group.factors is not None and group.offsets is not None
    d, n = F.shape[0] - 1, F.shape[1]
    if _triangular(group, F):
        maha = np.empty((len(group.members), n))
        jit(F.size).maha_triangular(F, group.offsets, group.factors, maha)
        return maha
    maha = np.empty((len(group.members), n), dtype=F.dtype)
    for row, (mean, P) in enumerate(zip(group.offsets, group.factors, strict=True)):
        z = np.subtract(F[:d], mean[:, None]).astype(F.dtype, copy=False)
        y = P.T.astype(F.dtype) @ z
        np.einsum("ji,ji->i", y, y, out=maha[row])
    return maha


def _direct_moments(group: Group, r: np.ndarray, F: np.ndarray) -> np.ndarray:
    """A direct group's sums about each member's own mean, (K_g, T + d + 1) float64:
    second moments in the feature layout, first moments, mass."""
    assert group.offsets is not None
    K, d = group.offsets.shape
    T = d * (d + 1) // 2
    out = np.empty((K, T + d + 1))
    if _triangular(group, F):  # the compiled path, as for its densities
        jit(F.size).moments_about(r, F, group.offsets, out)
        return out
    for row, mean in enumerate(group.offsets):  # [x - μ_k; 1], float64
        Z = np.subtract(F, np.append(mean, 0.0)[:, None], dtype=np.float64)
        out[row] = _stacked_sums(r[row : row + 1], Z)[0]
    return out


def _stacked_sums(r: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """Sums (K_g, m) in the feature layout from responsibilities (K_g, n) and [z; 1] (d+1, n)."""
    K, n = r.shape
    d = Z.shape[0] - 1
    A = (r[:, None, :] * Z[None, :d, :]).reshape(K * d, n)
    moments = (A @ Z.T).reshape(K, d, d + 1)  # [Σ r z z^T | Σ r z] per component
    rows, cols = _upper(d)
    return np.hstack([moments[:, rows, cols], moments[:, :, d], r.sum(axis=1)[:, None]])


def _symmetric_sums(r: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """:func:`_stacked_sums` through numba's symmetric rank-n updates (float64 rows)."""
    K = r.shape[0]
    d = Z.shape[0] - 1
    T = d * (d + 1) // 2
    sums = np.empty((K, T + d + 1))
    jit(Z.size).scatter_syrk(r, Z, sums)  # the second moments, in the feature layout
    sums[:, T:] = r @ Z.T  # Σ r z and Σ r
    return sums


KERNELS: dict[str, Kernel] = {
    kernel.form.name: kernel
    for kernel in (
        SphericalKernel(Spherical()),
        DiagonalKernel(Diagonal()),
        FullKernel(Full()),
        SharedKernel(Shared()),
    )
}
"""The NumPy backend's kernel of each density form, by the form's name."""
