"""Gaussian mixture regression: a mixture fitted to [X, y], predicting E[y | x].

Fitting a Gaussian mixture to the joint rows [x, y] and conditioning it on x
gives, for every x, a whole distribution of y: a mixture whose weights are the
responsibilities of x and whose components are the conditional Gaussians (see
:mod:`gaussmix.conditional`). Its mean is a smooth, locally linear regression
(one component: exactly ordinary least squares), its spread the prediction's
uncertainty, which changes with x and need not be Gaussian (Ghahramani &
Jordan 1994; Sung 2004; the ``gmr`` library).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ._estimator import GaussianMixture
from ._tensors import like, tensor_of, to_numpy
from .conditional import ConditionalMixture

__all__ = ["GaussianMixtureRegressor"]


class GaussianMixtureRegressor(RegressorMixin, BaseEstimator):
    """Regression by a Gaussian mixture of the joint rows [X, y].

    ``fit`` fits :class:`gaussmix.GaussianMixture` to [X, y] (the parameters below
    are its own); ``predict`` returns the conditional mean E[y | x], and with
    ``return_std=True`` the conditional standard deviation, which varies with x.
    Several targets (a 2-D ``y``) are modelled jointly.

    Parameters
    ----------
    n_components : int, default=1
        Components of the joint mixture. One component is linear regression
        (ordinary least squares); more give a smooth nonlinear regression.
    covariance_type : str, default='full'
        The joint mixture's covariance model. Only models whose components
        correlate x with y ('full', 'tied' and the like) can predict anything but
        the components' means of y; the diagonal ones give a step function of x
        through the responsibilities alone.
    tol, reg_covar, max_iter, n_init, init_params, random_state, warm_start, verbose, \
verbose_interval, device
        As in :class:`gaussmix.GaussianMixture`. ``reg_covar`` is added to every
        variance of the joint rows, so X and y should be on comparable scales (for
        example standardised: a Pipeline with StandardScaler, and
        TransformedTargetRegressor for y).

    Attributes
    ----------
    mixture_ : GaussianMixture
        The joint mixture over the features then the targets.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features,)
        Only when X had string column names.
    n_targets_ : int
        Columns of y (1 for a 1-D y).
    n_iter_ : int
        EM iterations of the joint fit's best run.
    converged_ : bool
        Whether it converged.

    Notes
    -----
    NumPy arrays, array-likes and torch tensors are accepted; tensors are computed
    in float64 on the CPU, and ``predict`` and ``sample_y`` return float64 tensors
    on their device for tensor input.
    """

    def __init__(
        self,
        n_components: int = 1,
        *,
        covariance_type: str = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: str = "kmeans",
        random_state: Any = None,
        warm_start: bool = False,
        verbose: int = 0,
        verbose_interval: int = 10,
        device: Any = None,
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.device = device

    def _mixture(self) -> GaussianMixture:
        settings = self.get_params(deep=False)
        if self.warm_start and hasattr(self, "mixture_"):
            return self.mixture_.set_params(**settings)
        return GaussianMixture(**settings)

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> GaussianMixtureRegressor:
        """Fit the joint mixture of [X, y].

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        sample_weight : array-like of shape (n_samples,), optional
            Row weights (multiplicities), as in :meth:`GaussianMixture.fit`.

        Returns
        -------
        self
        """
        X, y = validate_data(
            self, to_numpy(X), to_numpy(y), multi_output=True, y_numeric=True, dtype=np.float64
        )
        targets = y.reshape(y.shape[0], -1).astype(np.float64)
        mixture = self._mixture().fit(np.hstack([X, targets]), sample_weight=sample_weight)
        self.mixture_ = mixture
        self.n_targets_ = targets.shape[1]
        self.n_iter_ = mixture.n_iter_
        self.converged_ = mixture.converged_
        self._single_target = y.ndim == 1
        return self

    def condition(self, X: Any) -> ConditionalMixture:
        """The whole conditional distribution p(y | x) of each row of X.

        Returns
        -------
        gaussmix.conditional.ConditionalMixture
            Over the targets; see :meth:`GaussianMixture.condition`.
        """
        check_is_fitted(self)
        tensor = tensor_of(X)
        X = validate_data(self, to_numpy(X), reset=False, dtype=np.float64)
        features = np.arange(self.n_features_in_)
        return self.mixture_.condition(features, X if tensor is None else like(X, tensor))

    def _shape(self, values: Any) -> Any:
        """Targets of shape (n, n_targets) as ``y`` was: (n,) for a 1-D y."""
        return values[:, 0] if self._single_target else values

    def predict(self, X: Any, return_std: bool = False) -> Any:
        """The conditional mean E[y | x] of each row (and its standard deviation).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        return_std : bool, default=False
            Also return the standard deviation of y given x (for each target).

        Returns
        -------
        y_mean : ndarray of shape (n_samples,) or (n_samples, n_targets)
        y_std : ndarray of the same shape, only with ``return_std``
        """
        result = self.condition(X).predict(return_std=return_std)
        if return_std:
            return self._shape(result[0]), self._shape(result[1])
        return self._shape(result)

    def sample_y(self, X: Any, n_samples: int = 1, random_state: Any = 0) -> Any:
        """Draw targets from p(y | x) for each row of X.

        Parameters
        ----------
        X : array-like of shape (n_samples_X, n_features)
        n_samples : int, default=1
            Draws per row.
        random_state : int, RandomState instance or None, default=0
            As in :meth:`sklearn.gaussian_process.GaussianProcessRegressor.sample_y`.

        Returns
        -------
        ndarray of shape (n_samples_X, n_samples) for a 1-D y, else
        (n_samples_X, n_targets, n_samples)
        """
        draws = self.condition(X).sample(n_samples, random_state=check_random_state(random_state))
        if self._single_target:
            return draws[:, :, 0]
        # (n, n_samples, n_targets) -> (n, n_targets, n_samples); tensors permute instead
        return draws.permute(0, 2, 1) if tensor_of(draws) is not None else draws.transpose(0, 2, 1)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
