"""Density forms: how a component's covariance is stored, factored and used.

Every covariance model (see :mod:`.models`) has one of four density forms, which
fix everything the E-step, the merge of statistics, sampling and file checks
need to know about the numbers, whatever constraint the model puts on them:

==========  ===================  ==========================================  ============
form        covariances          precisions_cholesky                          scatter kept
==========  ===================  ==========================================  ============
spherical   (K,)                 (K,), 1/sqrt(σ²_k)                           (K,) trace
diagonal    (K, d)               (K, d), 1/sqrt(σ²_kj)                        (K, d)
full        (K, d, d)            (K, d, d), upper triangular, P Pᵀ = Σ_k⁻¹    (K, d, d)
shared      (d, d)               (d, d), the same for every component         (d, d) summed
==========  ===================  ==========================================  ============

Shapes and conventions follow scikit-learn ('spherical', 'diag', 'full' and
'tied' are its four types, one per form). The *scatter kept* is what the E-step
accumulates per block (see :mod:`gaussmix._core.stats`): the centred scatter
Σ_i w_i r_ik (x_i - m_k)(x_i - m_k)ᵀ reduced to what the form needs.

A form's methods take and return NumPy arrays, except :meth:`DensityForm.correction`,
:meth:`DensityForm.reduce_scatter` and :meth:`DensityForm.reduce_components`, which
use only array operators and so serve NumPy arrays and torch tensors alike.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..limits import MAX_PRECISION_CHOLESKY

__all__ = [
    "FORMS",
    "DensityForm",
    "Diagonal",
    "Full",
    "IllConditionedError",
    "Shared",
    "Spherical",
]

_LOG_2PI = float(np.log(2.0 * np.pi))  # a Python float keeps float32 rows float32


class IllConditionedError(ValueError):
    """A covariance is not numerically positive definite."""


ILL_DEFINED = (
    "Fitting the mixture model failed because some components have ill-defined "
    "empirical covariance (for instance caused by singleton or collapsed samples). "
    "Try to decrease the number of components, increase reg_covar, "
    "or scale the input data."
)


class DensityForm:
    """Base class: one stateless instance per density form (see the module docstring).

    Attributes
    ----------
    name : str
        'spherical', 'diagonal', 'full' or 'shared'.
    diagonal : bool
        Whether covariances are diagonal (spherical, diagonal): per-feature
        variances describe them, and second moments are needed on the diagonal only.
    per_component : bool
        Whether each component has its own covariance (all but 'shared').
    precision_requirement : str
        What a user-given precision must be, for error messages.
    """

    name: ClassVar[str]
    diagonal: ClassVar[bool]
    per_component: ClassVar[bool] = True
    precision_requirement: ClassVar[str] = "positive"

    # -- shapes and the statistics' scatter ------------------------------------------
    def shape(self, n_components: int, n_features: int) -> tuple[int, ...]:
        """Shape of ``covariances``, ``precisions_cholesky`` and the scatter kept."""
        raise NotImplementedError

    def correction(self, coef: Any, delta: Any) -> Any:
        """Σ_k coef_k δ_k δ_kᵀ reduced to this form's scatter shape.

        The scatter added when moving per-component centres by ``delta``. Only array
        operators are used, so NumPy arrays and torch tensors both work.

        Parameters
        ----------
        coef : array of shape (K,)
        delta : array of shape (K, d)
        """
        raise NotImplementedError

    def reduce_scatter(self, second: Any) -> Any:
        """This form's scatter from per-component second moments (array operators
        only: NumPy arrays and torch tensors alike).

        Parameters
        ----------
        second : array of shape (K, d) for diagonal forms, else (K, d, d)
            Per-component (diagonals of) scatter matrices.
        """
        return second

    def reduce_components(self, scatter: Any) -> Any:
        """The scatter of all components taken together, shape ``shape(1, d)``."""
        return scatter.sum(axis=0)[None]

    def identity_scatter(self, coef: np.ndarray, n_features: int) -> np.ndarray:
        """Σ_k coef_k I reduced to this form's scatter shape.

        ``scatter + identity_scatter(reg_covar * mass, d)`` is the scatter of the same
        rows with ``reg_covar`` added to every covariance's diagonal: an M-step on it
        adds ``reg_covar`` to the variances and keeps every model's constraint.

        Parameters
        ----------
        coef : ndarray of shape (K,)
        """
        raise NotImplementedError

    def prior_scatter(self, coef: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """A prior's scale Λ (d, d), times ``coef`` (K,), as this form's scatter.

        What a conjugate prior adds to the scatter (see :mod:`.prior`): Λ itself for
        matrices, its diagonal for diagonal covariances, and for a spherical one the
        variance ς² = tr(Λ)/d, added once to the scatter's trace (the inverse-gamma
        prior's scale, mclust's).
        """
        raise NotImplementedError

    def scatter_about(self, X: np.ndarray, rw: np.ndarray, centres: np.ndarray) -> np.ndarray:
        """Σ_i rw_ik (x_i - c_k)(x_i - c_k)ᵀ in this form's scatter shape (reference kernel).

        Parameters
        ----------
        X : ndarray of shape (n, d)
        rw : ndarray of shape (n, K), weighted responsibilities
        centres : ndarray of shape (K, d)
        """
        d = X.shape[1]
        K = rw.shape[1]
        second = np.empty((K, d) if self.diagonal else (K, d, d))
        for k, c in enumerate(centres):
            diff = X - c
            if self.diagonal:
                second[k] = rw[:, k] @ (diff * diff)
            else:
                second[k] = (rw[:, k, None] * diff).T @ diff
        return self.reduce_scatter(second)

    # -- covariances as numbers ----------------------------------------------------------
    def variances(self, covariances: np.ndarray, n_features: int) -> np.ndarray:
        """Each component's per-feature variances, shape (K, d) ((1, d) for 'shared')."""
        raise NotImplementedError

    def dense(self, covariances: np.ndarray, n_components: int, n_features: int) -> np.ndarray:
        """Every component's covariance as a dense matrix, shape (K, d, d) (a new array)."""
        raise NotImplementedError

    def from_dense(self, dense: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`dense`: covariances of this form from matrices (K, d, d).

        Entries this form does not keep (off-diagonal ones for diagonal forms) are
        ignored; a spherical variance is the mean of the diagonal. Used for
        covariances derived from a fitted model's (marginals, conditionals), which
        keep its form. Returns a new array.
        """
        raise NotImplementedError

    def regularize(self, covariances: np.ndarray, reg_covar: float) -> np.ndarray:
        """``covariances`` with ``reg_covar`` added to every variance (in place)."""
        covariances += reg_covar
        return covariances

    # -- factors ---------------------------------------------------------------------
    def cholesky_precisions(self, covariances: np.ndarray) -> np.ndarray:
        """Precision Cholesky factors of ``covariances``.

        Raises
        ------
        IllConditionedError
            If a covariance is not numerically positive definite.
        """
        _check_finite_covariances(covariances)
        if np.any(covariances <= 0.0):
            raise IllConditionedError(ILL_DEFINED)
        return _checked_range(1.0 / np.sqrt(covariances))

    def precisions(self, precisions_cholesky: np.ndarray) -> np.ndarray:
        """Precision matrices (or inverse variances) from their Cholesky factors."""
        return precisions_cholesky**2

    def covariances_from_precisions(self, precisions: np.ndarray) -> np.ndarray:
        """Covariances from precisions (for ``precisions_init``)."""
        return 1.0 / precisions

    def cholesky_from_precisions(self, precisions: np.ndarray) -> np.ndarray:
        """Precision Cholesky factors straight from precisions (for ``precisions_init``)."""
        return np.sqrt(precisions)

    def is_valid_precision(self, precisions: np.ndarray) -> bool:
        """Whether user-given precisions meet :attr:`precision_requirement`."""
        return bool(np.all(precisions > 0))

    def covariance_problem(self, covariances: np.ndarray) -> str:
        """Why ``covariances`` are not valid covariances of this form ('' if they are)."""
        return "" if np.all(covariances > 0) else "variances are not all positive"

    def factor_problem(self, covariances: np.ndarray, precisions_cholesky: np.ndarray) -> str:
        """Why ``precisions_cholesky`` are not the canonical factors ('' if they are).

        The canonical factor is the one :meth:`cholesky_precisions` computes: for
        variances 1/sqrt(σ²); for matrices the upper-triangular P with a positive
        diagonal and P Pᵀ = Σ⁻¹, which is unique. Agreement is checked to a
        tolerance that grows with the covariance's condition number.
        """
        if np.any(precisions_cholesky <= 0):
            return "precision factors are not all positive"
        expected = 1.0 / np.sqrt(covariances)
        if not np.allclose(precisions_cholesky, expected, rtol=1e-8, atol=0.0):
            return "precision factors do not match the variances (1/sqrt of each)"
        return ""

    # -- densities (reference kernels) ---------------------------------------------------
    def log_det(self, precisions_cholesky: np.ndarray, n_features: int) -> np.ndarray:
        """log |P_k| for each component, shape (K,) (a scalar for 'shared')."""
        raise NotImplementedError

    def mahalanobis(self, X: np.ndarray, means: np.ndarray, prec_chol: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distances, shape (n, K)."""
        raise NotImplementedError

    def paired_mahalanobis(
        self, points: np.ndarray, means: np.ndarray, prec_chol: np.ndarray
    ) -> np.ndarray:
        """Squared Mahalanobis distance of each point k from mean k under component k, (K,).

        The diagonal of ``mahalanobis(points, means, prec_chol)`` without the rest
        of the (K, K) matrix (statistics' means against the parameters' means).

        Parameters
        ----------
        points, means : ndarray of shape (K, d)
        prec_chol : ndarray, this form's precision-Cholesky shape
        """
        raise NotImplementedError

    def log_prob(self, X: np.ndarray, means: np.ndarray, prec_chol: np.ndarray) -> np.ndarray:
        """Gaussian log-density of each row under each component, shape (n, K), in X's dtype.

        Parameters
        ----------
        X : ndarray of shape (n, d)
        means : ndarray of shape (K, d)
        prec_chol : ndarray, this form's precision-Cholesky shape
        """
        d = X.shape[1]
        log_det = self.log_det(prec_chol, d)
        return -0.5 * (d * _LOG_2PI + self.mahalanobis(X, means, prec_chol)) + log_det

    def sample_component(
        self, rng: np.random.RandomState, mean: np.ndarray, covariances: np.ndarray, k: int, n: int
    ) -> np.ndarray:
        """Draw ``n`` rows from component ``k`` (the random stream scikit-learn draws)."""
        return mean + rng.standard_normal(size=(n, mean.shape[0])) * np.sqrt(covariances[k])


def _check_finite_covariances(covariances: np.ndarray) -> None:
    if not np.all(np.isfinite(covariances)):
        raise IllConditionedError(
            "Fitting the mixture model failed because a covariance overflowed to "
            "infinity or NaN: the data's scale is beyond float range for squared "
            "distances. Rescale the input data (for example with StandardScaler)."
        )


def _checked_range(precisions_cholesky: np.ndarray) -> np.ndarray:
    """``precisions_cholesky``, unless its precisions would overflow (IllConditionedError)."""
    if not np.all(np.abs(precisions_cholesky) < MAX_PRECISION_CHOLESKY):
        raise IllConditionedError(ILL_DEFINED)
    return precisions_cholesky


def _cholesky_upper_inverse(cov: np.ndarray) -> np.ndarray:
    """``inv(cholesky(cov)).T`` for a stack of matrices (..., d, d), raising IllConditionedError.

    One batched NumPy Cholesky for the whole stack, then LAPACK's triangular
    inverse (``trtri``) per matrix, called directly: the transposed lower factor is
    upper triangular, so each call returns the upper factor itself (exact zeros
    below the diagonal). At K = d = 64 this is about 2.5 times faster than a SciPy
    Cholesky and triangular solve per component (which pay SciPy's input checks
    each time); the triangular inverse is as accurate as the solve.
    """
    from scipy.linalg import lapack  # here, not at import: the CLI lists models without SciPy

    try:
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise IllConditionedError(ILL_DEFINED) from None
    flat = chol.reshape(-1, *cov.shape[-2:])
    out = np.empty_like(flat)
    for k, lower in enumerate(flat):
        out[k], info = lapack.dtrtri(lower.T, lower=0)
        if info != 0:  # a zero pivot: cannot follow a successful Cholesky, but be safe
            raise IllConditionedError(ILL_DEFINED)
    return out.reshape(cov.shape)


def _is_spd(matrix: np.ndarray) -> bool:
    if not np.allclose(matrix, matrix.T):
        return False
    return bool(np.all(np.linalg.eigvalsh(matrix) > 0.0))


class Spherical(DensityForm):
    name = "spherical"
    diagonal = True

    def shape(self, n_components: int, n_features: int) -> tuple[int, ...]:
        return (n_components,)

    def correction(self, coef: Any, delta: Any) -> Any:
        return coef * (delta * delta).sum(axis=1)

    def identity_scatter(self, coef: np.ndarray, n_features: int) -> np.ndarray:
        return coef * n_features

    def prior_scatter(self, coef: np.ndarray, scale: np.ndarray) -> np.ndarray:
        return coef * (np.trace(scale) / scale.shape[0])

    def reduce_scatter(self, second: Any) -> Any:
        return second.sum(axis=1)

    def variances(self, covariances: np.ndarray, n_features: int) -> np.ndarray:
        return np.repeat(covariances[:, None], n_features, axis=1)

    def dense(self, covariances: np.ndarray, n_components: int, n_features: int) -> np.ndarray:
        return covariances[:, None, None] * np.eye(n_features)

    def from_dense(self, dense: np.ndarray) -> np.ndarray:
        return np.diagonal(dense, axis1=1, axis2=2).mean(axis=1)

    def log_det(self, precisions_cholesky: np.ndarray, n_features: int) -> np.ndarray:
        return n_features * np.log(precisions_cholesky)

    def mahalanobis(self, X: np.ndarray, means: np.ndarray, prec_chol: np.ndarray) -> np.ndarray:
        out = np.empty((X.shape[0], means.shape[0]), dtype=X.dtype)
        for k in range(means.shape[0]):
            diff = X - means[k]
            out[:, k] = np.einsum("ij,ij->i", diff, diff) * prec_chol[k] ** 2
        return out

    def paired_mahalanobis(
        self, points: np.ndarray, means: np.ndarray, prec_chol: np.ndarray
    ) -> np.ndarray:
        diff = points - means
        return np.einsum("ij,ij->i", diff, diff) * prec_chol**2


class Diagonal(DensityForm):
    name = "diagonal"
    diagonal = True

    def shape(self, n_components: int, n_features: int) -> tuple[int, ...]:
        return (n_components, n_features)

    def correction(self, coef: Any, delta: Any) -> Any:
        return coef[:, None] * delta * delta

    def identity_scatter(self, coef: np.ndarray, n_features: int) -> np.ndarray:
        return np.repeat(coef[:, None], n_features, axis=1)

    def prior_scatter(self, coef: np.ndarray, scale: np.ndarray) -> np.ndarray:
        return coef[:, None] * np.diag(scale)

    def variances(self, covariances: np.ndarray, n_features: int) -> np.ndarray:
        return covariances

    def dense(self, covariances: np.ndarray, n_components: int, n_features: int) -> np.ndarray:
        return covariances[:, :, None] * np.eye(n_features)

    def from_dense(self, dense: np.ndarray) -> np.ndarray:
        return np.diagonal(dense, axis1=1, axis2=2).copy()

    def log_det(self, precisions_cholesky: np.ndarray, n_features: int) -> np.ndarray:
        return np.sum(np.log(precisions_cholesky), axis=1)

    def mahalanobis(self, X: np.ndarray, means: np.ndarray, prec_chol: np.ndarray) -> np.ndarray:
        out = np.empty((X.shape[0], means.shape[0]), dtype=X.dtype)
        for k in range(means.shape[0]):
            y = (X - means[k]) * prec_chol[k]
            out[:, k] = np.einsum("ij,ij->i", y, y)
        return out

    def paired_mahalanobis(
        self, points: np.ndarray, means: np.ndarray, prec_chol: np.ndarray
    ) -> np.ndarray:
        y = (points - means) * prec_chol
        return np.einsum("ij,ij->i", y, y)


class _Matrix(DensityForm):
    """Shared code of the forms whose covariances are full matrices."""

    diagonal = False
    precision_requirement = "symmetric, positive-definite"

    def regularize(self, covariances: np.ndarray, reg_covar: float) -> np.ndarray:
        d = covariances.shape[-1]
        covariances[..., np.arange(d), np.arange(d)] += reg_covar
        return covariances

    def cholesky_precisions(self, covariances: np.ndarray) -> np.ndarray:
        _check_finite_covariances(covariances)
        return _checked_range(_cholesky_upper_inverse(covariances))

    def covariances_from_precisions(self, precisions: np.ndarray) -> np.ndarray:
        return np.linalg.inv(precisions)

    def cholesky_from_precisions(self, precisions: np.ndarray) -> np.ndarray:
        # The canonical factor, upper triangular with P Pᵀ = Λ, straight from Λ: with J
        # the reversal, J Λ J = C Cᵀ (C lower) gives Λ = (J C J)(J C J)ᵀ, J C J upper.
        # (scikit-learn keeps Λ's lower Cholesky factor here: the same densities, but
        # not the factor its own M-step, and ours, computes.)
        flipped = np.linalg.cholesky(precisions[..., ::-1, ::-1])
        return np.ascontiguousarray(flipped[..., ::-1, ::-1])

    def covariance_problem(self, covariances: np.ndarray) -> str:
        for k, c in enumerate(covariances.reshape(-1, *covariances.shape[-2:])):
            which = "the covariance" if covariances.ndim == 2 else f"covariance {k}"
            if not np.all(np.abs(c - c.T) <= 1e-8 * float(np.max(np.abs(c)))):
                return f"{which} is not symmetric"
            try:
                np.linalg.cholesky(c)
            except np.linalg.LinAlgError:
                return f"{which} is not positive definite"
            if np.linalg.eigvalsh(c)[0] <= 0:
                return f"{which} is not positive definite"
        return ""

    def factor_problem(self, covariances: np.ndarray, precisions_cholesky: np.ndarray) -> str:
        matrices = covariances.reshape(-1, *covariances.shape[-2:])
        factors = precisions_cholesky.reshape(matrices.shape)
        below = np.tril_indices(matrices.shape[-1], -1)
        if np.any(factors[:, below[0], below[1]] != 0):
            return "precision factors are not upper triangular"
        if np.any(np.diagonal(factors, axis1=1, axis2=2) <= 0):
            return "precision factors do not have a positive diagonal"
        eye = np.eye(matrices.shape[-1])
        for c, p in zip(matrices, factors, strict=True):
            eig = np.linalg.eigvalsh(c)
            tol = 1e-6 + 1e3 * np.finfo(np.float64).eps * float(eig[-1] / eig[0])
            with np.errstate(over="ignore", invalid="ignore"):  # absurd factors: inf, no match
                if not np.all(np.abs(p.T @ c @ p - eye) <= tol):
                    return "precision factors do not match the covariances"
        return ""

    def mahalanobis(self, X: np.ndarray, means: np.ndarray, prec_chol: np.ndarray) -> np.ndarray:
        # Differences of projected rows, not |y|² - 2y·μ + |μ|², which cancels
        # catastrophically for data far from the origin (clusters 1e9 apart).
        factors = np.broadcast_to(prec_chol, (means.shape[0], *prec_chol.shape[-2:]))
        out = np.empty((X.shape[0], means.shape[0]), dtype=X.dtype)
        for k, (mu, chol) in enumerate(zip(means, factors, strict=True)):
            y = X @ chol - mu @ chol
            out[:, k] = np.einsum("ij,ij->i", y, y)
        return out

    def paired_mahalanobis(
        self, points: np.ndarray, means: np.ndarray, prec_chol: np.ndarray
    ) -> np.ndarray:
        # (K, 1, d) @ (K, d, d), or @ (d, d) for the shared factor.
        y = np.matmul((points - means)[:, None, :], prec_chol)[:, 0]
        return np.einsum("ij,ij->i", y, y)


class Full(_Matrix):
    name = "full"

    def shape(self, n_components: int, n_features: int) -> tuple[int, ...]:
        return (n_components, n_features, n_features)

    def correction(self, coef: Any, delta: Any) -> Any:
        return coef[:, None, None] * delta[:, :, None] * delta[:, None, :]

    def identity_scatter(self, coef: np.ndarray, n_features: int) -> np.ndarray:
        return coef[:, None, None] * np.eye(n_features)

    def prior_scatter(self, coef: np.ndarray, scale: np.ndarray) -> np.ndarray:
        return coef[:, None, None] * scale

    def variances(self, covariances: np.ndarray, n_features: int) -> np.ndarray:
        return np.diagonal(covariances, axis1=-2, axis2=-1)

    def dense(self, covariances: np.ndarray, n_components: int, n_features: int) -> np.ndarray:
        return covariances.copy()

    def from_dense(self, dense: np.ndarray) -> np.ndarray:
        return np.array(dense)

    def precisions(self, precisions_cholesky: np.ndarray) -> np.ndarray:
        return np.matmul(precisions_cholesky, precisions_cholesky.transpose(0, 2, 1))

    def is_valid_precision(self, precisions: np.ndarray) -> bool:
        return all(_is_spd(p) for p in precisions)

    def log_det(self, precisions_cholesky: np.ndarray, n_features: int) -> np.ndarray:
        diag = np.diagonal(precisions_cholesky, axis1=1, axis2=2)
        return np.sum(np.log(diag), axis=1)

    def sample_component(
        self, rng: np.random.RandomState, mean: np.ndarray, covariances: np.ndarray, k: int, n: int
    ) -> np.ndarray:
        return rng.multivariate_normal(mean, covariances[k], n)


class Shared(_Matrix):
    name = "shared"
    per_component = False

    def shape(self, n_components: int, n_features: int) -> tuple[int, ...]:
        return (n_features, n_features)

    def correction(self, coef: Any, delta: Any) -> Any:
        return (delta * coef[:, None]).T @ delta

    def identity_scatter(self, coef: np.ndarray, n_features: int) -> np.ndarray:
        return coef.sum() * np.eye(n_features)

    def prior_scatter(self, coef: np.ndarray, scale: np.ndarray) -> np.ndarray:
        return coef.sum() * scale

    def reduce_scatter(self, second: Any) -> Any:
        return second.sum(axis=0)

    def reduce_components(self, scatter: Any) -> Any:
        return scatter

    def variances(self, covariances: np.ndarray, n_features: int) -> np.ndarray:
        return np.diagonal(covariances)[None]

    def dense(self, covariances: np.ndarray, n_components: int, n_features: int) -> np.ndarray:
        return np.broadcast_to(covariances, (n_components, *covariances.shape)).copy()

    def from_dense(self, dense: np.ndarray) -> np.ndarray:
        return np.array(dense[0])

    def precisions(self, precisions_cholesky: np.ndarray) -> np.ndarray:
        return precisions_cholesky @ precisions_cholesky.T

    def is_valid_precision(self, precisions: np.ndarray) -> bool:
        return _is_spd(precisions)

    def log_det(self, precisions_cholesky: np.ndarray, n_features: int) -> np.ndarray:
        return np.sum(np.log(np.diag(precisions_cholesky)))

    def sample_component(
        self, rng: np.random.RandomState, mean: np.ndarray, covariances: np.ndarray, k: int, n: int
    ) -> np.ndarray:
        return rng.multivariate_normal(mean, covariances, n)


FORMS: dict[str, DensityForm] = {f.name: f for f in (Spherical(), Diagonal(), Full(), Shared())}
"""The four density forms by name; backends key their kernel tables by these names."""
