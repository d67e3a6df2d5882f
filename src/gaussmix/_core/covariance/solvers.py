"""The iterative M-steps of the constrained models Σ_k = λ_k D_k A_k D_kᵀ.

Celeux & Govaert (1995) give closed forms for most of mclust's fourteen models;
five need an inner iteration, and each function here is one of those, written
on the (prior-adjusted, regularised) statistics of all components:

- :func:`volume_and_shape` — VEI (on the scatters' diagonals) and VEV (on their
  eigenvalues): alternate the volumes λ_k and the common shape A (Celeux &
  Govaert's flip-flop, as mclust's ``mevei``/``mevev``).
- :func:`volume_and_matrix` — VEE: alternate λ_k and the common unit-determinant
  matrix C (as mclust's ``mevee``).
- :func:`common_orientation` — EVE and VVE: a common orientation D by the
  majorisation-minimisation steps MM1 and MM2 of Browne & McNicholas (2014),
  alternated with the closed-form shapes (as mclust's ``meeve``/``mevve``). For
  VVE the orientation step is weighted by the full diagonal λ_k A_k, which is the
  exact M-step; mclust weights it by A_k alone.

Every step of every iteration does not decrease the expected complete-data
log-likelihood, so an inner iteration started from the previous M-step's solution
(a *warm start*, which mclust's EM does too) never undoes progress: EM stays
monotone even when the inner iteration stops early. The iterations stop when the
objective's relative change falls below ``INNER_TOL`` or after
``INNER_MAX_ITER`` iterations.

All functions take ``mass`` (K,) — positive responsibility masses — and scatters
that are positive definite (the caller adds ``reg_covar``); zero or singular input
gives zeros or infinities in the result, never an exception, so that the caller's
factorisation reports the ill-conditioned covariance.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "INNER_MAX_ITER",
    "INNER_TOL",
    "common_orientation",
    "geometric_mean",
    "volume_and_matrix",
    "volume_and_shape",
]

INNER_TOL = 1e-12
"""Relative change of the inner objective below which an inner iteration stops.

mclust's default (``emControl()$tol[2]``) is sqrt(machine epsilon) ≈ 1.5e-8; a
tighter one costs a few more (cheap, d-by-d) iterations and, with warm starts,
keeps each M-step within about 1e-12 relative of its maximum."""

INNER_MAX_ITER = 1000
"""Inner iterations per M-step at most (mclust: no limit)."""


def geometric_mean(values: np.ndarray) -> np.ndarray:
    """Geometric mean over the last axis (0 where a value is 0)."""
    with np.errstate(divide="ignore"):
        return np.exp(np.mean(np.log(values), axis=-1))


def _changed(previous: float, current: float, tol: float) -> bool:
    return bool(abs(previous - current) > tol * (1.0 + abs(current)))


def volume_and_shape(
    mass: np.ndarray,
    diagonals: np.ndarray,
    shape: np.ndarray | None = None,
    *,
    tol: float = INNER_TOL,
    max_iter: int = INNER_MAX_ITER,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Volumes λ_k and a common shape A maximising Σ_k -N_k d/2 log λ_k - tr(Ω_k A⁻¹)/(2λ_k).

    Parameters
    ----------
    mass : ndarray of shape (K,)
    diagonals : ndarray of shape (K, d)
        Each component's scatter diagonal (VEI) or its eigenvalues in decreasing
        order (VEV).
    shape : ndarray of shape (d,), optional
        Starting shape (the previous M-step's); ones when absent.

    Returns
    -------
    volumes : ndarray of shape (K,)
    shape : ndarray of shape (d,), geometric mean 1
    n_iter : int
    """
    d = diagonals.shape[1]
    A = np.ones(d) if shape is None else shape / geometric_mean(shape)
    objective = np.inf
    n_iter = 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for _ in range(max_iter):
            n_iter += 1
            volumes = (diagonals / A).sum(axis=1) / (d * mass)
            A = (diagonals / volumes[:, None]).sum(axis=0)
            A = A / geometric_mean(A)
            previous, objective = objective, _volume_objective(mass, diagonals, volumes, A)
            if not _changed(previous, objective, tol):
                break
        volumes = (diagonals / A).sum(axis=1) / (d * mass)
    return volumes, A, n_iter


def _volume_objective(
    mass: np.ndarray, diagonals: np.ndarray, volumes: np.ndarray, shape: np.ndarray
) -> float:
    """-2 × the expected log-likelihood's covariance part, up to a constant."""
    d = diagonals.shape[1]
    return float(
        d * (mass * np.log(volumes)).sum() + (diagonals / (volumes[:, None] * shape)).sum()
    )


def volume_and_matrix(
    mass: np.ndarray,
    scatter: np.ndarray,
    volumes: np.ndarray | None = None,
    *,
    tol: float = INNER_TOL,
    max_iter: int = INNER_MAX_ITER,
) -> tuple[np.ndarray, np.ndarray, int]:
    """VEE: volumes λ_k and a common C (|C| = 1) with Σ_k = λ_k C, by alternation.

    Parameters
    ----------
    mass : ndarray of shape (K,)
    scatter : ndarray of shape (K, d, d)
    volumes : ndarray of shape (K,), optional
        Starting volumes (the previous M-step's); ones when absent, as in mclust.

    Returns
    -------
    volumes : ndarray of shape (K,)
    matrix : ndarray of shape (d, d), determinant 1
    n_iter : int
    """
    K, d, _ = scatter.shape
    lam = np.ones(K) if volumes is None else volumes.copy()
    objective = np.inf
    n_iter = 0
    C = np.eye(d)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for n_iter in range(1, max_iter + 1):
            C = np.einsum("k,kij->ij", 1.0 / lam, scatter)
            C = C / _unit_determinant_factor(C)
            try:
                C_inv = np.linalg.inv(C)
            except np.linalg.LinAlgError:
                return np.zeros(K), np.zeros((d, d)), n_iter
            traces = np.einsum("ij,kji->k", C_inv, scatter)
            lam = traces / (d * mass)
            previous = objective
            objective = float(d * (mass * np.log(lam)).sum() + (traces / lam).sum())
            if not _changed(previous, objective, tol):
                break
    return lam, C, n_iter


def _unit_determinant_factor(matrix: np.ndarray) -> float:
    """|matrix|^(1/d), or inf when the matrix is not positive definite."""
    sign, logdet = np.linalg.slogdet(matrix)
    return float(np.exp(logdet / matrix.shape[-1])) if sign > 0 else np.inf


def common_orientation(
    mass: np.ndarray,
    scatter: np.ndarray,
    *,
    equal_volume: bool,
    start: tuple[np.ndarray, np.ndarray] | None = None,
    tol: float = INNER_TOL,
    max_iter: int = INNER_MAX_ITER,
) -> tuple[np.ndarray, np.ndarray, int]:
    """EVE (``equal_volume``) and VVE: Σ_k = D B_k Dᵀ with D common and B_k diagonal.

    Minimises Σ_k tr(D C_k Dᵀ W_k) over orthogonal D by Browne & McNicholas's
    MM1 (majorising W_k by its largest eigenvalue) and MM2 (majorising C_k by its
    largest entry), each a polar decomposition, with C_k = B_k⁻¹ refitted after
    each pair: B_k = λ A_k with |A_k| = 1 and λ common (EVE), or B_k free (VVE).

    Parameters
    ----------
    mass : ndarray of shape (K,)
    scatter : ndarray of shape (K, d, d)
    equal_volume : bool
    start : (orientation (d, d), diagonals (K, d)), optional
        The previous M-step's D and B_k; D = I and B_k = I when absent, as in mclust.

    Returns
    -------
    orientation : ndarray of shape (d, d), orthogonal
    diagonals : ndarray of shape (K, d), the B_k
    n_iter : int
    """
    K, d, _ = scatter.shape
    if start is None:
        D, inverse = np.eye(d), np.ones((K, d))
    else:
        D, inverse = start[0], 1.0 / start[1]
        if equal_volume:  # only the shapes A_k matter to the orientation step
            inverse = inverse / geometric_mean(inverse)[:, None]
    largest = np.linalg.eigvalsh(scatter)[:, -1]
    objective = np.inf
    n_iter = 0
    B = np.ones((K, d))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for _ in range(max_iter):
            n_iter += 1
            WD = scatter @ D
            D = _polar(-np.einsum("kij,kj->ij", WD - largest[:, None, None] * D, inverse))
            WD = scatter @ D
            excess = inverse - inverse.max(axis=1, keepdims=True)
            D = _polar(-np.einsum("kij,kj->ij", WD, excess))
            diag = np.einsum("ji,kjl,li->ki", D, scatter, D)
            previous = objective
            if equal_volume:
                volumes = geometric_mean(diag)
                inverse = volumes[:, None] / diag  # A_k⁻¹
                total = float(d * volumes.sum())  # Σ_k tr(A_k⁻¹ Dᵀ W_k D)
                B = (total / (d * mass.sum())) / inverse
                objective = float(d * mass.sum() * np.log(total))
            else:
                B = diag / mass[:, None]
                inverse = 1.0 / B
                objective = float((mass[:, None] * np.log(B)).sum())
            if not np.isfinite(objective):
                break
            if not _changed(previous, objective, tol):
                break
    return D, B, n_iter


def _polar(matrix: np.ndarray) -> np.ndarray:
    """The orthogonal factor U Vᵀ of ``matrix`` = U S Vᵀ (identity if the SVD fails)."""
    try:
        U, _, Vt = np.linalg.svd(matrix)
    except np.linalg.LinAlgError:
        return np.eye(matrix.shape[0])
    return U @ Vt
