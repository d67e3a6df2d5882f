"""Covariance models: the constraint each component's covariance obeys, and its M-step.

A model owns what depends on the constraint: the maximum-likelihood covariances
from merged statistics (the M-step's covariance part), the number of free
parameters, and whether given covariances obey the constraint. Everything about
how the covariances are stored and used is its density form's
(:mod:`.forms`), shared by every model of that form.

scikit-learn's four types, one per density form:

=========  ==========  =====================================================
model      form        Σ_k
=========  ==========  =====================================================
full       full        any covariance per component
tied       shared      one covariance for all components
diag       diagonal    a diagonal covariance per component
spherical  spherical   σ²_k I per component
=========  ==========  =====================================================
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..stats import Stats
from .forms import DensityForm, Diagonal, Full, Shared, Spherical

__all__ = ["Covariance", "DiagModel", "FullModel", "SphericalModel", "TiedModel"]

_TINY_MASS = 10 * np.finfo(np.float64).eps  # keeps an empty component's division finite


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
    """

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    mclust_name: ClassVar[str]
    form: ClassVar[DensityForm]

    def n_parameters(self, n_components: int, n_features: int) -> int:
        """Free parameters of the whole mixture: covariances, means and weights."""
        cov = self._n_cov_parameters(n_components, n_features)
        return int(cov + n_components * n_features + n_components - 1)

    def _n_cov_parameters(self, n_components: int, n_features: int) -> int:
        raise NotImplementedError

    def covariances_from_stats(self, stats: Stats, reg_covar: float) -> np.ndarray:
        """Maximum-likelihood covariances of merged statistics, plus ``reg_covar``.

        Parameters
        ----------
        stats : Stats
            Statistics of all rows, with this model's form's scatter.
        reg_covar : float
            Added to every variance.

        Returns
        -------
        ndarray of shape ``form.shape(K, d)``
        """
        raise NotImplementedError

    def constraint_problem(self, covariances: np.ndarray) -> str:
        """Why ``covariances`` do not obey this model's constraint ('' if they do).

        The form's own checks (shapes, positive definiteness, factors) come first;
        this adds what the model requires beyond its form. scikit-learn's four
        models require nothing more.
        """
        return ""


class FullModel(Covariance):
    name = "full"
    aliases = ("VVV",)
    mclust_name = "VVV"
    form = Full()

    def _n_cov_parameters(self, n_components: int, n_features: int) -> int:
        return n_components * n_features * (n_features + 1) // 2

    def covariances_from_stats(self, stats: Stats, reg_covar: float) -> np.ndarray:
        cov = stats.scatter / (stats.mass + _TINY_MASS)[:, None, None]
        return self.form.regularize(cov, reg_covar)


class TiedModel(Covariance):
    name = "tied"
    aliases = ("EEE",)
    mclust_name = "EEE"
    form = Shared()

    def _n_cov_parameters(self, n_components: int, n_features: int) -> int:
        return n_features * (n_features + 1) // 2

    def covariances_from_stats(self, stats: Stats, reg_covar: float) -> np.ndarray:
        return self.form.regularize(stats.scatter / stats.mass.sum(), reg_covar)


class DiagModel(Covariance):
    name = "diag"
    aliases = ("VVI",)
    mclust_name = "VVI"
    form = Diagonal()

    def _n_cov_parameters(self, n_components: int, n_features: int) -> int:
        return n_components * n_features

    def covariances_from_stats(self, stats: Stats, reg_covar: float) -> np.ndarray:
        cov = stats.scatter / (stats.mass + _TINY_MASS)[:, None]
        return self.form.regularize(cov, reg_covar)


class SphericalModel(Covariance):
    name = "spherical"
    aliases = ("VII",)
    mclust_name = "VII"
    form = Spherical()

    def _n_cov_parameters(self, n_components: int, n_features: int) -> int:
        return n_components

    def covariances_from_stats(self, stats: Stats, reg_covar: float) -> np.ndarray:
        d = stats.means.shape[1]
        cov = stats.scatter / ((stats.mass + _TINY_MASS) * d)
        return self.form.regularize(cov, reg_covar)
