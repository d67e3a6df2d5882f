"""The NumPy backend's kernels for small chunks: the Gaussian formulas as a few batched products.

``LEAN_KERNELS[form.name]`` is a density form's kernel for chunks where the
feature kernels (:mod:`._kernels`) do not pay: their plan (centre groups,
condition numbers, weight matrices) and their bookkeeping cost a fixed ~0.1-0.5 ms
per E-step, more than the whole E-step of a few hundred rows. Here every
component is taken about its own mean, ``Z_k = X - μ_k`` (K, n, d), and

- 'spherical': |Z_k|² p_k², 'diagonal': |Z_k ⊙ p_k|², 'full': |Z_k P_k|² (one batched
  product on the smallest chunks, else a product per component through (n, d)
  buffers), 'shared': |Z_k P|² (one product of all K n rows);
- the moments are ``Σ_i r_ik z_ik`` and the second moments about μ_k (one batched
  product for the K scatters of 'shared' and of 'full' on the smallest chunks, else
  for 'full' one product per component over the rows whose terms count).

Nothing is expanded, so no digit is lost to a far cluster or an ill-conditioned
precision: these are the reference formulas of :mod:`gaussmix._core.estep`, batched.
The work is a few passes over K n d numbers (and K n d² flops for the matrix
forms), against the feature kernels' one product of their features: each lean
kernel's :meth:`~LeanKernel.pays` says for which chunks it is the cheaper, and the
backend runs it there unless the pass is large enough for the compiled feature
kernels (for 'full' from 8 dimensions that is most chunks: NumPy's d²/2 features
cost 2-5x K batched products with the factors).

Rows stay in their dtype (float32 rows give float32 densities, so a row whose
squared distances overflow float32 is redone in float64 by the E-step), while
responsibilities, moments and every sum are float64.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .._core.covariance.forms import DensityForm, Diagonal, Full, Shared, Spherical
from .._core.estep import Quadratic, Sums

__all__ = ["LEAN_KERNELS", "LeanKernel", "LeanPlan"]

_SMALL = 2**16
"""K n d up to which the lean kernels' centred rows (K, n, d) stay small (512 KB: heap
memory, no fresh pages)..."""
_SMALL_DENSITIES = 2**11
"""...and K n up to which they are the cheaper for every form: the feature kernels'
plan and bookkeeping, not the arithmetic, are then what an E-step costs, while the
lean products' cost per density (K small products, a sum over d per density) grows
with K n (bench/RESULTS.md, "Fixed costs, 'diag' direct terms, k-means bounds")."""
_FULL_MIN_FEATURES = 8
_FULL_LARGE = 2**20
"""'full' from ``_FULL_MIN_FEATURES`` dimensions: lean up to this K n d (8 MB of
centred rows), where d²/2 features cost more than K batched products with P_k."""


class LeanPlan(NamedTuple):
    """A :class:`Quadratic` in the rows' dtype.

    Attributes
    ----------
    means : ndarray of shape (K, d), float64
        Each component's mean: the rows are centred on it (in float64, so that
        float32 rows far from the origin keep float32's digits about it), and the
        moments are taken about it.
    factors : ndarray of the form's precision-Cholesky shape, the rows' dtype
    bias : ndarray of shape (K,), the rows' dtype
        -inf for a component of weight 0 (its densities are then -inf).
    """

    means: np.ndarray
    factors: np.ndarray
    bias: np.ndarray


class LeanKernel:
    """A density form's lean kernel (the :class:`~gaussmix._core.estep.FormKernel` protocol).

    Subclasses give the squared Mahalanobis distances of the centred rows and the
    second moments; the rest is shared.
    """

    def __init__(self, form: DensityForm) -> None:
        self.form = form

    def pays(self, n_rows: int, n_features: int, n_components: int) -> bool:
        """Whether this kernel is cheaper than the feature kernel on such a chunk."""
        densities = n_rows * n_components
        return densities <= _SMALL_DENSITIES and densities * n_features <= _SMALL

    def plan(self, quad: Quadratic, dtype: Any) -> LeanPlan:
        """``quad`` in rows of ``dtype`` (a noise term is the E-step's, not a kernel's)."""
        means, prec, bias = quad.means, quad.precisions_cholesky, quad.bias
        return LeanPlan(means, prec.astype(dtype, copy=False), np.asarray(bias, dtype=dtype))

    def log_prob(self, X: np.ndarray, plan: LeanPlan) -> tuple[np.ndarray, np.ndarray | None]:
        """``bias_k - ½ |P_kᵀ (x_i - μ_k)|²`` (K, n) in X's dtype, and the centred rows
        (K, n, d) for :meth:`moments` (None where it centres them again)."""
        Z = X[None, :, :] - plan.means[:, None, :]  # (K, n, d), float64
        Z = Z.astype(X.dtype, copy=False)
        with np.errstate(over="ignore", invalid="ignore"):  # overflowed rows are redone
            wlp = self.mahalanobis(Z, plan.factors)
            wlp *= -0.5
            wlp += plan.bias[:, None]
        return wlp, Z

    def mahalanobis(self, Z: np.ndarray, factors: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distances (K, n) of the centred rows ``Z`` (K, n, d)."""
        raise NotImplementedError

    def moments(
        self, X: np.ndarray, plan: LeanPlan, rw: np.ndarray, Z: np.ndarray | None
    ) -> tuple[np.ndarray, ...]:
        """Mass (K,), first moments (K, d) and second moments about the means."""
        assert Z is not None
        Z64 = Z.astype(np.float64, copy=False)
        first = np.matmul(rw[:, None, :], Z64)[:, 0]
        return rw.sum(axis=1), first, self.second(rw, Z64)

    def second(self, rw: np.ndarray, Z: np.ndarray) -> np.ndarray:
        """Σ_i rw_ik z_ik z_ikᵀ in the form's scatter shape, float64."""
        raise NotImplementedError

    def centred(
        self, plan: LeanPlan, moments: tuple[np.ndarray, ...]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        mass, first, second = moments
        return mass, first, second, plan.means

    def fused_sums(self, X: np.ndarray, weights: np.ndarray | None, plan: LeanPlan) -> Sums | None:
        return None


def _squared_norms(Y: np.ndarray) -> np.ndarray:
    """|y|² of each (K, n) row of ``Y`` (K, n, d)."""
    return np.einsum("knd,knd->kn", Y, Y)


class LeanSpherical(LeanKernel):
    def mahalanobis(self, Z: np.ndarray, factors: np.ndarray) -> np.ndarray:
        out = _squared_norms(Z)
        out *= (factors * factors)[:, None]
        return out

    def second(self, rw: np.ndarray, Z: np.ndarray) -> np.ndarray:
        return np.einsum("kn,kn->k", rw, _squared_norms(Z))


class LeanDiagonal(LeanKernel):
    def mahalanobis(self, Z: np.ndarray, factors: np.ndarray) -> np.ndarray:
        return _squared_norms(Z * factors[:, None, :])

    def second(self, rw: np.ndarray, Z: np.ndarray) -> np.ndarray:
        return np.matmul(rw[:, None, :], Z * Z)[:, 0]


_EPS = float(np.finfo(np.float64).eps)


def _terms_that_count(size: np.ndarray) -> np.ndarray:
    """Which rows' terms enter a component's scatter, (n,) bool, from ``size`` (n,), a
    bound on every entry of each row's term (rw_ik |z_ik|²).

    The rule of the compiled scatters (``_jit._terms_that_count``): a term of size at
    most ε Σ size / n is left out; together the left-out terms change any entry by at
    most ε times the scatter's trace, within the full product's rounding.
    """
    return size > _EPS * size.sum() / max(size.shape[0], 1)


class LeanFull(LeanKernel):
    """'full' one component at a time, through buffers of (n, d): no (K, n, d) array.

    Fresh memory of K n d numbers in every chunk costs its page faults, which on small
    data can cost more than the products (bench/RESULTS.md). Each component's scatter
    is summed over the rows whose terms count. Up to ``_SMALL`` centred numbers (heap
    memory, no fresh pages) all components go through one batched product each.
    """

    def pays(self, n_rows: int, n_features: int, n_components: int) -> bool:
        entries = n_rows * n_features * n_components
        wide = n_features >= _FULL_MIN_FEATURES and entries <= _FULL_LARGE
        return wide or super().pays(n_rows, n_features, n_components)

    def log_prob(self, X: np.ndarray, plan: LeanPlan) -> tuple[np.ndarray, np.ndarray | None]:
        K = plan.means.shape[0]
        if K * X.size <= _SMALL:  # a few products of all components: fewer calls
            return super().log_prob(X, plan)
        wlp = np.empty((K, X.shape[0]), dtype=X.dtype)
        z, y = np.empty(X.shape, dtype=X.dtype), np.empty(X.shape, dtype=X.dtype)
        with np.errstate(over="ignore", invalid="ignore"):  # overflowed rows are redone
            for k in range(K):
                np.subtract(X, plan.means[k], out=z, casting="same_kind")  # in float64
                np.matmul(z, plan.factors[k], out=y)
                np.einsum("nd,nd->n", y, y, out=wlp[k])
            wlp *= -0.5
            wlp += plan.bias[:, None]
        return wlp, None

    def mahalanobis(self, Z: np.ndarray, factors: np.ndarray) -> np.ndarray:
        return _squared_norms(np.matmul(Z, factors))

    def second(self, rw: np.ndarray, Z: np.ndarray) -> np.ndarray:
        S = np.matmul((Z * rw[:, :, None]).transpose(0, 2, 1), Z)
        S += S.transpose(0, 2, 1)  # exactly symmetric, as the M-step expects
        S *= 0.5
        return S

    def moments(
        self, X: np.ndarray, plan: LeanPlan, rw: np.ndarray, Z: np.ndarray | None
    ) -> tuple[np.ndarray, ...]:
        if Z is not None:  # centred by log_prob (a small chunk)
            return super().moments(X, plan, rw, Z)
        K, d = plan.means.shape
        first, second = np.empty((K, d)), np.empty((K, d, d))
        z = np.empty(X.shape, dtype=X.dtype)
        for k in range(K):
            np.subtract(X, plan.means[k], out=z, casting="same_kind")  # as in log_prob
            z64 = z.astype(np.float64, copy=False)
            first[k] = rw[k] @ z64
            rows = _terms_that_count(rw[k] * np.einsum("nd,nd->n", z64, z64))
            if rows.mean() > 0.5:  # most rows: no gather
                np.matmul(z64.T * rw[k], z64, out=second[k])
            else:
                zk = z64[rows]
                np.matmul(zk.T * rw[k, rows], zk, out=second[k])
        second += second.transpose(0, 2, 1)  # exactly symmetric, as the M-step expects
        second *= 0.5
        return rw.sum(axis=1), first, second


class LeanShared(LeanKernel):
    def mahalanobis(self, Z: np.ndarray, factors: np.ndarray) -> np.ndarray:
        d = Z.shape[-1]
        return _squared_norms((Z.reshape(-1, d) @ factors).reshape(Z.shape))  # one product

    def second(self, rw: np.ndarray, Z: np.ndarray) -> np.ndarray:
        d = Z.shape[-1]
        flat = Z.reshape(-1, d)
        S = (Z * rw[:, :, None]).reshape(-1, d).T @ flat
        S += S.T
        S *= 0.5
        return S


LEAN_KERNELS: dict[str, LeanKernel] = {
    kernel.form.name: kernel
    for kernel in (
        LeanSpherical(Spherical()),
        LeanDiagonal(Diagonal()),
        LeanFull(Full()),
        LeanShared(Shared()),
    )
}
"""The NumPy backend's lean kernel of each density form, by the form's name."""
