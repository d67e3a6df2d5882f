"""Covariance models: the constraint each component's covariance obeys, and its M-step.

A model owns what depends on the constraint: the maximum-likelihood covariances
from merged statistics (the M-step's covariance part), the number of free
parameters, whether given covariances obey the constraint, and how a prior
enters its M-step (see :mod:`.prior`). Everything about how the covariances are
stored and used is its density form's (:mod:`.forms`), shared by every model of
that form.

The models are mclust's fourteen parameterisations Σ_k = λ_k D_k A_k D_kᵀ
(Celeux & Govaert, 1995): volume λ_k = |Σ_k|^(1/d), shape A_k (diagonal, |A_k| =
1) and orientation D_k (orthogonal), each Equal across components, Variable, or
the Identity. scikit-learn's four types are four of them, under either name.

=====  =========  ==========  =============================================  =========
name   alias      form        Σ_k                                            M-step
=====  =========  ==========  =============================================  =========
EII               spherical   λ I                                            closed
VII    spherical  spherical   λ_k I                                          closed
EEI               diagonal    λ A                                            closed
VEI               diagonal    λ_k A                                          iterative
EVI               diagonal    λ A_k                                          closed
VVI    diag       diagonal    λ_k A_k                                        closed
EEE    tied       shared      λ D A Dᵀ                                       closed
VEE               full        λ_k D A Dᵀ                                     iterative
EVE               full        λ D A_k Dᵀ                                     iterative
VVE               full        λ_k D A_k Dᵀ                                   iterative
EEV               full        λ D_k A D_kᵀ                                   closed
VEV               full        λ_k D_k A D_kᵀ                                 iterative
EVV               full        λ D_k A_k D_kᵀ                                 closed
VVV    full       full        λ_k D_k A_k D_kᵀ                               closed
=====  =========  ==========  =============================================  =========

The covariances are stored in the form's shape, whatever the constraint: EII
keeps (K,) equal values, EEI (K, d) equal rows, VEE, EVE, ... (K, d, d).

``reg_covar`` is added to each component's scatter as ``reg_covar × N_k × I``
before the constrained M-step, which keeps the constraint (adding it to the
covariances afterwards would not: an equal-volume model's volumes would differ)
and, for scikit-learn's four, is exactly scikit-learn's ``+ reg_covar`` on the
variances. The iterative M-steps are in :mod:`.solvers` and start from the
previous M-step's solution when the EM loop passes it (``start``).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..stats import Stats
from . import solvers
from .forms import DensityForm, Diagonal, Full, Shared, Spherical

__all__ = ["MODELS", "Covariance"]

_TINY_MASS = 10 * np.finfo(np.float64).eps  # keeps an empty component's division finite

CONSTRAINT_RTOL = 1e-8
"""Relative tolerance of :meth:`Covariance.constraint_problem` (a saved fit holds to ~1e-14)."""


class Covariance:
    """Base class: one stateless instance per covariance model.

    Attributes
    ----------
    name : str
        The model's name as ``covariance_type`` accepts it.
    aliases : tuple of str
        Other names of the same model (mclust's name for scikit-learn's four).
    mclust_name : str
        The model's name in mclust (EII, ..., VVV).
    form : DensityForm
        How its covariances are stored and used.
    independent : bool
        Whether each component's covariance is unconstrained by the others' (VII,
        VVI, VVV): a re-seeded component may then take any covariance of the form.
    has_prior : bool
        Whether mclust defines a MAP M-step under a conjugate prior for the model
        (all but VEE, EVE, VVE and EVV; see :mod:`.prior`).
    prior_scale_once : bool
        Whether a prior's scale enters the M-step once (EII, EEI, EEE, as mclust),
        rather than once per component (see :mod:`.prior`).
    """

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    mclust_name: ClassVar[str]
    form: ClassVar[DensityForm]
    independent: ClassVar[bool] = False
    has_prior: ClassVar[bool] = True
    prior_scale_once: ClassVar[bool] = False

    def n_parameters(self, n_components: int, n_features: int) -> int:
        """Free parameters of the whole mixture: covariances, means and weights.

        Counted as mclust's ``nMclustParams`` counts them, so that BIC is mclust's.
        """
        cov = self._n_cov_parameters(n_components, n_features)
        return int(cov + n_components * n_features + n_components - 1)

    def _n_cov_parameters(self, n_components: int, n_features: int) -> int:
        raise NotImplementedError

    def covariances_from_stats(
        self, stats: Stats, reg_covar: float, start: np.ndarray | None = None
    ) -> np.ndarray:
        """Maximum-likelihood covariances of merged statistics, with ``reg_covar``.

        Parameters
        ----------
        stats : Stats
            Statistics of all rows, with this model's form's scatter.
        reg_covar : float
            Added to every variance (through the scatter, so the constraint holds).
        start : ndarray, optional
            The previous covariances (``form.shape(K, d)``): where the iterative
            M-steps start their inner iterations. Ignored by closed forms, and when
            it is not usable (for example user-given precisions that do not obey the
            constraint are only a starting point).

        Returns
        -------
        ndarray of shape ``form.shape(K, d)``
        """
        mass = stats.mass + _TINY_MASS
        d = stats.means.shape[1]
        scatter = stats.scatter + self.form.identity_scatter(reg_covar * mass, d)
        usable = start is not None and start.shape == scatter.shape and _positive(start)
        return self._fit(mass, scatter, d, start if usable else None)

    def _fit(
        self, mass: np.ndarray, scatter: np.ndarray, d: int, start: np.ndarray | None
    ) -> np.ndarray:
        """The constrained maximum-likelihood covariances of regularised statistics.

        Parameters
        ----------
        mass : ndarray of shape (K,), positive
        scatter : ndarray, the form's scatter shape
        d : int
        start : ndarray of the form's covariance shape, or None
        """
        raise NotImplementedError

    def constraint_problem(self, covariances: np.ndarray) -> str:
        """Why ``covariances`` do not obey this model's constraint ('' if they do).

        The form's own checks (shapes, positive definiteness, factors) come first;
        this adds what the model requires beyond its form, to a tolerance relative to
        the covariances' magnitudes (``CONSTRAINT_RTOL``, more where eigenvalues
        are involved and the matrices are ill-conditioned).
        """
        return ""

    def prior_mass(self, n_components: int, n_features: int, dof: float, shrinks: bool) -> float:
        """Mass a prior adds to each component's statistics for the covariance M-step.

        mclust's choice per model (see :mod:`.prior`); ``shrinks`` says whether the
        prior also shrinks the means (a positive shrinkage), whose normal prior adds
        the (d-dimensional) determinant of one more observation. One component is
        fitted as mclust fits it whatever the model (its single-Gaussian XII, XXI
        or XXX): with the prior of the form's unconstrained model (VII, VVI, VVV).
        """
        model = _ONE_COMPONENT[self.form.name] if n_components == 1 else self
        return model._prior_mass(n_components, n_features, dof, shrinks)

    def _prior_mass(self, n_components: int, n_features: int, dof: float, shrinks: bool) -> float:
        # The conjugate (normal-)inverse-Wishart count, mclust's for VVV.
        return dof + n_features + 1 + float(shrinks)


def _positive(covariances: np.ndarray) -> bool:
    """Finite, with positive variances (enough for a starting point)."""
    variances = covariances.diagonal(axis1=-2, axis2=-1) if covariances.ndim == 3 else covariances
    return bool(np.all(np.isfinite(covariances)) and np.all(variances > 0))


# -- helpers of the constraint checks --------------------------------------------------
def _equal(values: np.ndarray, what: str, rtol: float = CONSTRAINT_RTOL) -> str:
    """'' if the rows of ``values`` (K, ...) are equal to ``rtol`` of their magnitude."""
    scale = float(np.max(np.abs(values)))
    if np.all(np.abs(values - values[:1]) <= rtol * scale):
        return ""
    return f"the components' {what} are not equal, as the model requires"


def _spectra(covariances: np.ndarray) -> tuple[np.ndarray, float]:
    """Eigenvalues (K, d) in decreasing order, and a tolerance for comparing them."""
    eig = np.linalg.eigvalsh(covariances)[:, ::-1]
    condition = float(np.max(eig[:, 0] / eig[:, -1]))
    return eig, CONSTRAINT_RTOL + 1e3 * np.finfo(np.float64).eps * condition


def _log_volumes(covariances: np.ndarray) -> np.ndarray:
    """log |Σ_k|^(1/d) of positive-definite (K, d, d) or diagonal (K, d) covariances."""
    if covariances.ndim == 2:
        return np.mean(np.log(covariances), axis=1)
    return np.linalg.slogdet(covariances)[1] / covariances.shape[-1]


def _equal_volumes(covariances: np.ndarray, rtol: float) -> str:
    logs = _log_volumes(covariances)
    if np.all(np.abs(logs - logs[0]) <= rtol * max(1.0, float(np.max(np.abs(logs))))):
        return ""
    return "the components' volumes (determinants) are not equal, as the model requires"


def _common_orientation(covariances: np.ndarray) -> str:
    """'' if the matrices commute pairwise, that is share their eigenvectors."""
    norms = np.max(np.abs(covariances), axis=(1, 2))
    for i in range(covariances.shape[0]):
        for j in range(i):
            a, b = covariances[i], covariances[j]
            if np.max(np.abs(a @ b - b @ a)) > CONSTRAINT_RTOL * norms[i] * norms[j]:
                return (
                    "the components' covariances do not share their orientation "
                    "(eigenvectors), as the model requires"
                )
    return ""


def _compose(orientations: np.ndarray, diagonals: np.ndarray) -> np.ndarray:
    """Symmetric D_k diag(b_k) D_kᵀ for D (d, d) or (K, d, d) and b (K, d)."""
    vectors = np.broadcast_to(orientations, (diagonals.shape[0], *orientations.shape[-2:]))
    out = np.einsum("kij,kj,klj->kil", vectors, diagonals, vectors)
    return (out + out.transpose(0, 2, 1)) / 2


def _decreasing_eigh(matrices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (K, d), decreasing, and their eigenvectors (K, d, d) as columns."""
    values, vectors = np.linalg.eigh(matrices)
    return values[:, ::-1], vectors[:, :, ::-1]


# -- spherical --------------------------------------------------------------------------
class EII(Covariance):
    name = mclust_name = "EII"
    form = Spherical()
    prior_scale_once = True

    def _n_cov_parameters(self, n_components: int, n_features: int) -> int:
        return 1

    def _fit(
        self, mass: np.ndarray, scatter: np.ndarray, d: int, start: np.ndarray | None
    ) -> np.ndarray:
        return np.full(mass.shape[0], scatter.sum() / (d * mass.sum()))

    def constraint_problem(self, covariances: np.ndarray) -> str:
        return _equal(covariances, "variances")

    def _prior_mass(self, n_components: int, n_features: int, dof: float, shrinks: bool) -> float:
        return float(shrinks) + (dof + 2) / (n_components * n_features)


class SphericalModel(Covariance):
    """VII, scikit-learn's 'spherical'."""

    name = "spherical"
    aliases = ("VII",)
    mclust_name = "VII"
    form = Spherical()
    independent = True

    def _n_cov_parameters(self, n_components: int, n_features: int) -> int:
        return n_components

    def covariances_from_stats(
        self, stats: Stats, reg_covar: float, start: np.ndarray | None = None
    ) -> np.ndarray:
        # scikit-learn's arithmetic (variances, then + reg_covar): bit for bit its fit.
        d = stats.means.shape[1]
        cov = stats.scatter / ((stats.mass + _TINY_MASS) * d)
        return self.form.regularize(cov, reg_covar)

    def _prior_mass(self, n_components: int, n_features: int, dof: float, shrinks: bool) -> float:
        return float(shrinks) + (dof + 2) / n_features


# -- diagonal ---------------------------------------------------------------------------
class EEI(Covariance):
    name = mclust_name = "EEI"
    form = Diagonal()
    prior_scale_once = True

    def _n_cov_parameters(self, n_components: int, n_features: int) -> int:
        return n_features

    def _fit(
        self, mass: np.ndarray, scatter: np.ndarray, d: int, start: np.ndarray | None
    ) -> np.ndarray:
        return np.repeat((scatter.sum(axis=0) / mass.sum())[None], mass.shape[0], axis=0)

    def constraint_problem(self, covariances: np.ndarray) -> str:
        return _equal(covariances, "variances")

    def _prior_mass(self, n_components: int, n_features: int, dof: float, shrinks: bool) -> float:
        return (dof + 1 + float(shrinks)) / n_components


class VEI(Covariance):
    name = mclust_name = "VEI"
    form = Diagonal()

    def _n_cov_parameters(self, n_components: int, n_features: int) -> int:
        return n_components + n_features - 1

    def _fit(
        self, mass: np.ndarray, scatter: np.ndarray, d: int, start: np.ndarray | None
    ) -> np.ndarray:
        shape = None if start is None else start[0]
        volumes, shape, _ = solvers.volume_and_shape(mass, scatter, shape)
        return volumes[:, None] * shape

    def constraint_problem(self, covariances: np.ndarray) -> str:
        shapes = covariances / solvers.geometric_mean(covariances)[:, None]
        return _equal(shapes, "shapes (variances divided by their geometric mean)")

    def _prior_mass(self, n_components: int, n_features: int, dof: float, shrinks: bool) -> float:
        return (dof + 2 + float(shrinks)) / n_features


class EVI(Covariance):
    name = mclust_name = "EVI"
    form = Diagonal()

    def _n_cov_parameters(self, n_components: int, n_features: int) -> int:
        return 1 + n_components * (n_features - 1)

    def _fit(
        self, mass: np.ndarray, scatter: np.ndarray, d: int, start: np.ndarray | None
    ) -> np.ndarray:
        volumes = solvers.geometric_mean(scatter)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (volumes.sum() / mass.sum()) * scatter / volumes[:, None]

    def constraint_problem(self, covariances: np.ndarray) -> str:
        return _equal_volumes(covariances, CONSTRAINT_RTOL)

    def _prior_mass(self, n_components: int, n_features: int, dof: float, shrinks: bool) -> float:
        return (dof + 1 + float(shrinks)) / n_components


class DiagModel(Covariance):
    """VVI, scikit-learn's 'diag'."""

    name = "diag"
    aliases = ("VVI",)
    mclust_name = "VVI"
    form = Diagonal()
    independent = True

    def _n_cov_parameters(self, n_components: int, n_features: int) -> int:
        return n_components * n_features

    def covariances_from_stats(
        self, stats: Stats, reg_covar: float, start: np.ndarray | None = None
    ) -> np.ndarray:
        cov = stats.scatter / (stats.mass + _TINY_MASS)[:, None]
        return self.form.regularize(cov, reg_covar)

    def _prior_mass(self, n_components: int, n_features: int, dof: float, shrinks: bool) -> float:
        return dof + 2 + float(shrinks)


# -- one shared matrix --------------------------------------------------------------
class TiedModel(Covariance):
    """EEE, scikit-learn's 'tied'."""

    name = "tied"
    aliases = ("EEE",)
    mclust_name = "EEE"
    form = Shared()
    prior_scale_once = True

    def _n_cov_parameters(self, n_components: int, n_features: int) -> int:
        return n_features * (n_features + 1) // 2

    def covariances_from_stats(
        self, stats: Stats, reg_covar: float, start: np.ndarray | None = None
    ) -> np.ndarray:
        return self.form.regularize(stats.scatter / stats.mass.sum(), reg_covar)

    def _prior_mass(self, n_components: int, n_features: int, dof: float, shrinks: bool) -> float:
        return float(shrinks) + (dof + n_features + 1) / n_components


# -- full matrices per component ---------------------------------------------------------
class VEE(Covariance):
    name = mclust_name = "VEE"
    form = Full()
    has_prior = False

    def _n_cov_parameters(self, n_components: int, n_features: int) -> int:
        d = n_features
        return n_components + (d - 1) + d * (d - 1) // 2

    def _fit(
        self, mass: np.ndarray, scatter: np.ndarray, d: int, start: np.ndarray | None
    ) -> np.ndarray:
        volumes = None if start is None else np.exp(_log_volumes(start))
        volumes, matrix, _ = solvers.volume_and_matrix(mass, scatter, volumes)
        return volumes[:, None, None] * matrix

    def constraint_problem(self, covariances: np.ndarray) -> str:
        units = covariances / np.exp(_log_volumes(covariances))[:, None, None]
        return _equal(units, "covariances divided by their volume")


class _CommonOrientation(Covariance):
    """EVE and VVE: one orientation D, shapes A_k per component."""

    form = Full()
    has_prior = False
    equal_volume: ClassVar[bool]

    def _fit(
        self, mass: np.ndarray, scatter: np.ndarray, d: int, start: np.ndarray | None
    ) -> np.ndarray:
        begin = None
        if start is not None:
            # The previous covariances share their eigenvectors: those of any generic
            # combination of them (irrational weights break ties between components).
            weights = np.sqrt(2.0 + np.arange(start.shape[0]))
            _, D = np.linalg.eigh(np.einsum("k,kij->ij", weights, start))
            begin = (D, np.einsum("ji,kjl,li->ki", D, start, D))
        D, diagonals, _ = solvers.common_orientation(
            mass, scatter, equal_volume=self.equal_volume, start=begin
        )
        return _compose(D, diagonals)

    def constraint_problem(self, covariances: np.ndarray) -> str:
        problem = _common_orientation(covariances)
        if problem or not self.equal_volume:
            return problem
        return _equal_volumes(covariances, _spectra(covariances)[1])


class EVE(_CommonOrientation):
    name = mclust_name = "EVE"
    equal_volume = True

    def _n_cov_parameters(self, n_components: int, n_features: int) -> int:
        d = n_features
        return 1 + n_components * (d - 1) + d * (d - 1) // 2


class VVE(_CommonOrientation):
    name = mclust_name = "VVE"
    equal_volume = False

    def _n_cov_parameters(self, n_components: int, n_features: int) -> int:
        d = n_features
        return n_components + n_components * (d - 1) + d * (d - 1) // 2


class EEV(Covariance):
    name = mclust_name = "EEV"
    form = Full()

    def _n_cov_parameters(self, n_components: int, n_features: int) -> int:
        d = n_features
        return 1 + (d - 1) + n_components * d * (d - 1) // 2

    def _fit(
        self, mass: np.ndarray, scatter: np.ndarray, d: int, start: np.ndarray | None
    ) -> np.ndarray:
        # Pairing each scatter's largest eigenvalues with the shape's largest entries
        # is optimal (von Neumann's trace inequality), so the shape is their sum.
        values, vectors = _decreasing_eigh(scatter)
        total = values.sum(axis=0)
        volume = solvers.geometric_mean(total)
        with np.errstate(divide="ignore", invalid="ignore"):
            shape = (volume / mass.sum()) * total / volume
        return _compose(vectors, np.repeat(shape[None], mass.shape[0], axis=0))

    def constraint_problem(self, covariances: np.ndarray) -> str:
        eig, rtol = _spectra(covariances)
        return _equal(eig, "eigenvalues", rtol)

    def _prior_mass(self, n_components: int, n_features: int, dof: float, shrinks: bool) -> float:
        return (dof + n_features + 1 + float(shrinks)) / n_components


class VEV(Covariance):
    name = mclust_name = "VEV"
    form = Full()

    def _n_cov_parameters(self, n_components: int, n_features: int) -> int:
        d = n_features
        return n_components + (d - 1) + n_components * d * (d - 1) // 2

    def _fit(
        self, mass: np.ndarray, scatter: np.ndarray, d: int, start: np.ndarray | None
    ) -> np.ndarray:
        values, vectors = _decreasing_eigh(scatter)
        shape = None if start is None else np.linalg.eigvalsh(start[0])[::-1]
        volumes, shape, _ = solvers.volume_and_shape(mass, values, shape)
        return _compose(vectors, volumes[:, None] * shape)

    def constraint_problem(self, covariances: np.ndarray) -> str:
        eig, rtol = _spectra(covariances)
        shapes = eig / solvers.geometric_mean(eig)[:, None]
        return _equal(shapes, "shapes (eigenvalues divided by their geometric mean)", rtol)

    def _prior_mass(self, n_components: int, n_features: int, dof: float, shrinks: bool) -> float:
        return 0.0  # mclust's VEV prior adds its scale only


class EVV(Covariance):
    name = mclust_name = "EVV"
    form = Full()
    has_prior = False

    def _n_cov_parameters(self, n_components: int, n_features: int) -> int:
        d = n_features
        return 1 - n_components + n_components * d * (d + 1) // 2

    def _fit(
        self, mass: np.ndarray, scatter: np.ndarray, d: int, start: np.ndarray | None
    ) -> np.ndarray:
        sign, logdet = np.linalg.slogdet(scatter)
        volumes = np.where(sign > 0, np.exp(logdet / d), 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (volumes.sum() / mass.sum()) * scatter / volumes[:, None, None]

    def constraint_problem(self, covariances: np.ndarray) -> str:
        return _equal_volumes(covariances, _spectra(covariances)[1])


class FullModel(Covariance):
    """VVV, scikit-learn's 'full'."""

    name = "full"
    aliases = ("VVV",)
    mclust_name = "VVV"
    form = Full()
    independent = True

    def _n_cov_parameters(self, n_components: int, n_features: int) -> int:
        return n_components * n_features * (n_features + 1) // 2

    def covariances_from_stats(
        self, stats: Stats, reg_covar: float, start: np.ndarray | None = None
    ) -> np.ndarray:
        cov = stats.scatter / (stats.mass + _TINY_MASS)[:, None, None]
        return self.form.regularize(cov, reg_covar)


MODELS: tuple[Covariance, ...] = (
    EII(),
    SphericalModel(),
    EEI(),
    VEI(),
    EVI(),
    DiagModel(),
    TiedModel(),
    VEE(),
    EVE(),
    VVE(),
    EEV(),
    VEV(),
    EVV(),
    FullModel(),
)
"""The fourteen models in mclust's order (EII, VII, ..., VVV)."""

_ONE_COMPONENT: dict[str, Covariance] = {
    m.form.name: m for m in MODELS if m.independent or not m.form.per_component
}
"""Each density form's model without constraints between components (VII, VVI, VVV, EEE)."""
