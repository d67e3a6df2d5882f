"""Covariance types as small strategy objects, and the mixture's parameters.

Each covariance type knows the shapes it keeps, how to turn merged statistics into
covariances (the M-step's covariance part), how to factor them into precision
Cholesky factors, the Gaussian log-density it implies, and how many free
parameters it has. Shapes and conventions follow scikit-learn:

=========  ===================  ===========================================
type       covariances          precisions_cholesky
=========  ===================  ===========================================
full       (K, d, d)            (K, d, d), upper triangular, P_k P_k^T = Σ_k^-1
tied       (d, d)               (d, d)
diag       (K, d)               (K, d),   1/sqrt(σ²)
spherical  (K,)                 (K,),     1/sqrt(σ²)
=========  ===================  ===========================================
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

import numpy as np
from scipy import linalg
from scipy.linalg import lapack

from .stats import Stats

__all__ = [
    "COVARIANCE_TYPES",
    "Covariance",
    "IllConditionedError",
    "Params",
    "get_covariance",
]

_LOG_2PI = float(np.log(2.0 * np.pi))  # a Python float keeps float32 rows float32


class Params(NamedTuple):
    """Parameters of a Gaussian mixture (float64).

    Attributes
    ----------
    weights : ndarray of shape (K,)
    means : ndarray of shape (K, d)
    covariances : ndarray, shape set by the covariance type
    precisions_cholesky : ndarray, same shape as ``covariances``
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray


class IllConditionedError(ValueError):
    """A covariance is not numerically positive definite."""


_ILL_DEFINED = (
    "Fitting the mixture model failed because some components have ill-defined "
    "empirical covariance (for instance caused by singleton or collapsed samples). "
    "Try to decrease the number of components, increase reg_covar, "
    "or scale the input data."
)


class Covariance:
    """Base class: one instance per covariance type, stateless."""

    name: ClassVar[str]

    def shape(self, n_components: int, n_features: int) -> tuple[int, ...]:
        """Shape of ``covariances`` (and of ``precisions_cholesky``)."""
        raise NotImplementedError

    def n_parameters(self, n_components: int, n_features: int) -> int:
        """Free parameters of the whole mixture: covariances, means and weights."""
        cov = self._n_cov_parameters(n_components, n_features)
        return int(cov + n_components * n_features + n_components - 1)

    def _n_cov_parameters(self, n_components: int, n_features: int) -> int:
        raise NotImplementedError

    # -- M-step -------------------------------------------------------------
    def covariances_from_stats(self, stats: Stats, reg_covar: float) -> np.ndarray:
        """Maximum-likelihood covariances of merged statistics, plus ``reg_covar``."""
        raise NotImplementedError

    def variances(self, covariances: np.ndarray) -> np.ndarray:
        """Each feature's variance per component: (K, d), (d,) for tied, (K,) for spherical."""
        return covariances

    def cholesky_precisions(self, covariances: np.ndarray) -> np.ndarray:
        """Precision Cholesky factors of ``covariances``.

        Raises
        ------
        IllConditionedError
            If a covariance is not numerically positive definite.
        """
        # The default serves the elementwise variances of 'diag' and 'spherical'.
        _check_finite_covariances(covariances)
        if np.any(covariances <= 0.0):
            raise IllConditionedError(_ILL_DEFINED)
        return _checked_range(1.0 / np.sqrt(covariances))

    def precisions(self, precisions_cholesky: np.ndarray) -> np.ndarray:
        """Precision matrices (or variances' inverses) from their Cholesky factors."""
        return precisions_cholesky**2

    def covariances_from_precisions(self, precisions: np.ndarray) -> np.ndarray:
        """Covariances from precisions (for ``precisions_init``)."""
        return 1.0 / precisions

    def cholesky_from_precisions(self, precisions: np.ndarray) -> np.ndarray:
        """Precision Cholesky factors straight from precisions (for ``precisions_init``)."""
        return np.sqrt(precisions)

    def is_valid_precision(self, precisions: np.ndarray) -> bool:
        """Whether user-given precisions are symmetric positive definite."""
        return bool(np.all(precisions > 0))

    # -- E-step pieces (NumPy reference kernels) --------------------------------
    def log_det_cholesky(self, precisions_cholesky: np.ndarray, n_features: int) -> np.ndarray:
        """log |P_k| for each component, shape (K,) (or a scalar for tied)."""
        raise NotImplementedError

    def mahalanobis(self, X: np.ndarray, means: np.ndarray, prec_chol: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distances, shape (n, K)."""
        raise NotImplementedError

    def log_prob(self, X: np.ndarray, means: np.ndarray, prec_chol: np.ndarray) -> np.ndarray:
        """Gaussian log-density of each row under each component.

        Parameters
        ----------
        X : ndarray of shape (n, d)
        means : ndarray of shape (K, d)
        prec_chol : ndarray, this type's precision-Cholesky shape

        Returns
        -------
        ndarray of shape (n, K)
        """
        d = X.shape[1]
        log_det = self.log_det_cholesky(prec_chol, d)
        return -0.5 * (d * _LOG_2PI + self.mahalanobis(X, means, prec_chol)) + log_det

    def scatter_about(self, X: np.ndarray, rw: np.ndarray, centres: np.ndarray) -> np.ndarray:
        """Σ_i rw_ik (x_i - c_k)(x_i - c_k)^T in this type's scatter shape.

        Parameters
        ----------
        X : ndarray of shape (n, d)
        rw : ndarray of shape (n, K), weighted responsibilities
        centres : ndarray of shape (K, d)
        """
        raise NotImplementedError

    def sample_component(
        self, rng: np.random.RandomState, mean: np.ndarray, covariances: np.ndarray, k: int, n: int
    ) -> np.ndarray:
        """Draw ``n`` rows from component ``k`` (same random stream as scikit-learn)."""
        cov = covariances[k]
        return mean + rng.standard_normal(size=(n, mean.shape[0])) * np.sqrt(cov)


def _check_finite_covariances(covariances: np.ndarray) -> None:
    if not np.all(np.isfinite(covariances)):
        raise IllConditionedError(
            "Fitting the mixture model failed because a covariance overflowed to "
            "infinity or NaN: the data's scale is beyond float range for squared "
            "distances. Rescale the input data (for example with StandardScaler)."
        )


_MAX_PRECISION_CHOLESKY = 1e150  # beyond it, precisions (its squares) leave float range


def _checked_range(precisions_cholesky: np.ndarray) -> np.ndarray:
    """``precisions_cholesky``, unless it is so large that precisions would overflow.

    A variance below about 1e-300 (reachable only with reg_covar=0) is treated like
    a singular covariance: IllConditionedError, which EM answers by re-seeding.
    """
    if not np.all(np.abs(precisions_cholesky) < _MAX_PRECISION_CHOLESKY):
        raise IllConditionedError(_ILL_DEFINED)
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
    try:
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise IllConditionedError(_ILL_DEFINED) from None
    flat = chol.reshape(-1, *cov.shape[-2:])
    out = np.empty_like(flat)
    for k, lower in enumerate(flat):
        out[k], info = lapack.dtrtri(lower.T, lower=0)
        if info != 0:  # a zero pivot: cannot follow a successful Cholesky, but be safe
            raise IllConditionedError(_ILL_DEFINED)
    return out.reshape(cov.shape)


class Full(Covariance):
    name = "full"

    def variances(self, covariances: np.ndarray) -> np.ndarray:
        return np.diagonal(covariances, axis1=-2, axis2=-1)

    def shape(self, n_components: int, n_features: int) -> tuple[int, ...]:
        return (n_components, n_features, n_features)

    def _n_cov_parameters(self, n_components: int, n_features: int) -> int:
        return n_components * n_features * (n_features + 1) // 2

    def covariances_from_stats(self, stats: Stats, reg_covar: float) -> np.ndarray:
        mass = stats.mass + 10 * np.finfo(np.float64).eps
        cov = stats.scatter / mass[:, None, None]
        d = cov.shape[-1]
        cov[:, np.arange(d), np.arange(d)] += reg_covar
        return cov

    def cholesky_precisions(self, covariances: np.ndarray) -> np.ndarray:
        _check_finite_covariances(covariances)
        return _checked_range(_cholesky_upper_inverse(covariances))

    def precisions(self, precisions_cholesky: np.ndarray) -> np.ndarray:
        return np.einsum("kij,klj->kil", precisions_cholesky, precisions_cholesky)

    def covariances_from_precisions(self, precisions: np.ndarray) -> np.ndarray:
        return np.linalg.inv(precisions)

    def cholesky_from_precisions(self, precisions: np.ndarray) -> np.ndarray:
        return np.stack([linalg.cholesky(p, lower=True) for p in precisions])

    def is_valid_precision(self, precisions: np.ndarray) -> bool:
        return all(_is_spd(p) for p in precisions)

    def log_det_cholesky(self, precisions_cholesky: np.ndarray, n_features: int) -> np.ndarray:
        diag = np.diagonal(precisions_cholesky, axis1=1, axis2=2)
        return np.sum(np.log(diag), axis=1)

    def mahalanobis(self, X: np.ndarray, means: np.ndarray, prec_chol: np.ndarray) -> np.ndarray:
        out = np.empty((X.shape[0], means.shape[0]), dtype=X.dtype)
        for k, (mu, chol) in enumerate(zip(means, prec_chol, strict=True)):
            y = X @ chol - mu @ chol
            out[:, k] = np.einsum("ij,ij->i", y, y)
        return out

    def scatter_about(self, X: np.ndarray, rw: np.ndarray, centres: np.ndarray) -> np.ndarray:
        d = X.shape[1]
        out = np.empty((rw.shape[1], d, d))
        for k, c in enumerate(centres):
            diff = X - c
            out[k] = (rw[:, k, None] * diff).T @ diff
        return out

    def sample_component(
        self, rng: np.random.RandomState, mean: np.ndarray, covariances: np.ndarray, k: int, n: int
    ) -> np.ndarray:
        return rng.multivariate_normal(mean, covariances[k], n)


class Tied(Covariance):
    name = "tied"

    def variances(self, covariances: np.ndarray) -> np.ndarray:
        return np.diagonal(covariances, axis1=-2, axis2=-1)

    def shape(self, n_components: int, n_features: int) -> tuple[int, ...]:
        return (n_features, n_features)

    def _n_cov_parameters(self, n_components: int, n_features: int) -> int:
        return n_features * (n_features + 1) // 2

    def covariances_from_stats(self, stats: Stats, reg_covar: float) -> np.ndarray:
        cov = stats.scatter / stats.mass.sum()
        cov.flat[:: cov.shape[0] + 1] += reg_covar
        return cov

    def cholesky_precisions(self, covariances: np.ndarray) -> np.ndarray:
        _check_finite_covariances(covariances)
        return _checked_range(_cholesky_upper_inverse(covariances))

    def precisions(self, precisions_cholesky: np.ndarray) -> np.ndarray:
        return precisions_cholesky @ precisions_cholesky.T

    def covariances_from_precisions(self, precisions: np.ndarray) -> np.ndarray:
        return np.linalg.inv(precisions)

    def cholesky_from_precisions(self, precisions: np.ndarray) -> np.ndarray:
        return linalg.cholesky(precisions, lower=True)

    def is_valid_precision(self, precisions: np.ndarray) -> bool:
        return _is_spd(precisions)

    def log_det_cholesky(self, precisions_cholesky: np.ndarray, n_features: int) -> np.ndarray:
        return np.sum(np.log(np.diag(precisions_cholesky)))

    def mahalanobis(self, X: np.ndarray, means: np.ndarray, prec_chol: np.ndarray) -> np.ndarray:
        # Differences of projected rows, not |y|² - 2y·μ + |μ|², which cancels
        # catastrophically for data far from the origin (clusters 1e9 apart).
        y = X @ prec_chol
        mu = means @ prec_chol
        out = np.empty((X.shape[0], means.shape[0]), dtype=X.dtype)
        for k in range(means.shape[0]):
            diff = y - mu[k]
            out[:, k] = np.einsum("ij,ij->i", diff, diff)
        return out

    def scatter_about(self, X: np.ndarray, rw: np.ndarray, centres: np.ndarray) -> np.ndarray:
        d = X.shape[1]
        out = np.zeros((d, d))
        for k, c in enumerate(centres):
            diff = X - c
            out += (rw[:, k, None] * diff).T @ diff
        return out

    def sample_component(
        self, rng: np.random.RandomState, mean: np.ndarray, covariances: np.ndarray, k: int, n: int
    ) -> np.ndarray:
        return rng.multivariate_normal(mean, covariances, n)


class Diag(Covariance):
    name = "diag"

    def shape(self, n_components: int, n_features: int) -> tuple[int, ...]:
        return (n_components, n_features)

    def _n_cov_parameters(self, n_components: int, n_features: int) -> int:
        return n_components * n_features

    def covariances_from_stats(self, stats: Stats, reg_covar: float) -> np.ndarray:
        mass = stats.mass + 10 * np.finfo(np.float64).eps
        return stats.scatter / mass[:, None] + reg_covar

    def log_det_cholesky(self, precisions_cholesky: np.ndarray, n_features: int) -> np.ndarray:
        return np.sum(np.log(precisions_cholesky), axis=1)

    def mahalanobis(self, X: np.ndarray, means: np.ndarray, prec_chol: np.ndarray) -> np.ndarray:
        out = np.empty((X.shape[0], means.shape[0]), dtype=X.dtype)
        for k in range(means.shape[0]):
            y = (X - means[k]) * prec_chol[k]
            out[:, k] = np.einsum("ij,ij->i", y, y)
        return out

    def scatter_about(self, X: np.ndarray, rw: np.ndarray, centres: np.ndarray) -> np.ndarray:
        out = np.empty((rw.shape[1], X.shape[1]))
        for k, c in enumerate(centres):
            diff = X - c
            out[k] = rw[:, k] @ (diff * diff)
        return out


class Spherical(Covariance):
    name = "spherical"

    def shape(self, n_components: int, n_features: int) -> tuple[int, ...]:
        return (n_components,)

    def _n_cov_parameters(self, n_components: int, n_features: int) -> int:
        return n_components

    def covariances_from_stats(self, stats: Stats, reg_covar: float) -> np.ndarray:
        mass = stats.mass + 10 * np.finfo(np.float64).eps
        d = stats.means.shape[1]
        return stats.scatter / (mass * d) + reg_covar

    def log_det_cholesky(self, precisions_cholesky: np.ndarray, n_features: int) -> np.ndarray:
        return n_features * np.log(precisions_cholesky)

    def mahalanobis(self, X: np.ndarray, means: np.ndarray, prec_chol: np.ndarray) -> np.ndarray:
        out = np.empty((X.shape[0], means.shape[0]), dtype=X.dtype)
        for k in range(means.shape[0]):
            diff = X - means[k]
            out[:, k] = np.einsum("ij,ij->i", diff, diff) * prec_chol[k] ** 2
        return out

    def scatter_about(self, X: np.ndarray, rw: np.ndarray, centres: np.ndarray) -> np.ndarray:
        out = np.empty(rw.shape[1])
        for k, c in enumerate(centres):
            diff = X - c
            out[k] = rw[:, k] @ np.einsum("ij,ij->i", diff, diff)
        return out


def _is_spd(matrix: np.ndarray) -> bool:
    if not np.allclose(matrix, matrix.T):
        return False
    return bool(np.all(np.linalg.eigvalsh(matrix) > 0.0))


COVARIANCE_TYPES: dict[str, Covariance] = {
    c.name: c for c in (Full(), Tied(), Diag(), Spherical())
}


def get_covariance(name: str) -> Covariance:
    """The covariance strategy called ``name``.

    Raises
    ------
    ValueError
        If ``name`` is not one of 'full', 'tied', 'diag', 'spherical'.
    """
    try:
        return COVARIANCE_TYPES[name]
    except (KeyError, TypeError):
        valid = ", ".join(repr(n) for n in COVARIANCE_TYPES)
        raise ValueError(
            f"Invalid value for 'covariance_type': {name!r}. Choose one of {valid}."
        ) from None
