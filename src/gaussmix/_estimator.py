"""``GaussianMixture``: a drop-in for scikit-learn's, as a thin shell over the core.

This layer validates parameters and input, sets scikit-learn's fitted
attributes, and delegates all numerical work to :mod:`gaussmix._core` through a
rows object (see :mod:`gaussmix.backends`).
"""

from __future__ import annotations

import sys
import time
import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ._core import criteria
from ._core.covariance import (
    Covariance,
    IllConditionedError,
    Params,
    covariance_names,
    get_covariance,
)
from ._core.em import EMResult, Reseeder, m_step, run_em
from ._core.init import INIT_METHODS
from ._core.missing import MissingRows, check_missing
from ._core.missing import impute as impute_missing
from ._core.online import step_size, stepwise_update
from ._core.stats import Stats
from ._validation import (
    check_choice,
    check_finite,
    check_magnitude,
    check_number,
    check_sample_weight,
    explain_input_error,
    warn_if_regularization_dominates,
)
from .backends import Rows
from .backends.numpy import NumpyRows
from .distributed import block_rows

__all__ = ["GaussianMixture"]


class GaussianMixture(DensityMixin, BaseEstimator):
    """Gaussian mixture model fitted by Expectation-Maximization.

    A drop-in replacement for :class:`sklearn.mixture.GaussianMixture`: the same
    parameters, defaults, methods and fitted attributes, and the same results from
    the same starting point. In addition, ``fit``, ``fit_predict`` and ``score``
    accept ``sample_weight`` (row multiplicities).

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components K.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        'full': each component has its own covariance matrix; 'tied': all share
        one; 'diag': each has its own diagonal covariance; 'spherical': each has
        its own single variance.
    tol : float, default=1e-3
        Convergence threshold on the change of the mean log-likelihood.
    reg_covar : float, default=1e-6
        Non-negative regularization added to the diagonal of every covariance.
    max_iter : int, default=100
        EM iterations per initialization.
    n_init : int, default=1
        Number of initializations; the best result is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data', 'hc'}, default='kmeans'
        How initial responsibilities are chosen. 'hc' is R mclust's start:
        model-based hierarchical clustering (deterministic; on a sample of
        2,000 rows drawn from ``random_state`` for larger data), see
        :mod:`gaussmix._core.hc`.
    weights_init : array-like of shape (K,), optional
    means_init : array-like of shape (K, d), optional
    precisions_init : array-like, optional
        Shape (K, d, d) for 'full', (d, d) for 'tied', (K, d) for 'diag', (K,) for
        'spherical'.
    random_state : int, RandomState instance or None, default=None
    warm_start : bool, default=False
        If True, each ``fit`` starts from the previous solution (``n_init`` is ignored).
    verbose : int, default=0
    verbose_interval : int, default=10
    missing : {'error', 'marginalize'}, default='error'
        What NaN entries in X mean. 'error': they are rejected, as scikit-learn
        does. 'marginalize': they are missing at random; each row is fitted and
        scored on its observed coordinates (marginal Gaussians), the M-step uses
        the expected statistics of the missing ones, and ``predict``,
        ``predict_proba``, ``score_samples`` and ``score`` marginalise over them.
        Rows with no observed value are ignored by ``fit`` (with a warning). See
        also :meth:`impute`.
    learning_decay : float in (0.5, 1], default=0.7
        κ in :meth:`partial_fit`'s step size η_t = (t + learning_offset)^(-κ).
    learning_offset : float >= 0, default=2.0
        t0 in that step size; larger values damp the first online steps.
    device : None, str or torch.device, default=None
        Where the work runs (needs PyTorch: ``pip install "gaussmix[torch]"``).
        None: a torch tensor is fitted where it lives (CPU or GPU) and NumPy input
        stays on the NumPy backend, which never imports torch. 'cpu', 'cuda',
        'cuda:1', ...: NumPy input (and tensors) are moved there. 'auto': the GPU
        when there is one, else the CPU. Fitted attributes stay NumPy arrays;
        ``predict``, ``predict_proba`` and ``score_samples`` return a tensor on its
        device for tensor input, a NumPy array otherwise.

    Attributes
    ----------
    weights_ : ndarray of shape (K,)
    means_ : ndarray of shape (K, d)
    covariances_ : ndarray
    precisions_ : ndarray
    precisions_cholesky_ : ndarray
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Mean log-likelihood (per unit of sample weight) of the best run's last iteration.
    lower_bounds_ : list of float
        The lower bound at each iteration of the best run; never decreases, except
        right after a collapsed component is re-seeded.
    n_reseeds_ : int
        Collapsed components re-seeded while fitting the best run (0 on ordinary
        data); components dropped after collapsing repeatedly have weight 0. See
        :mod:`gaussmix._core.em` for the policy.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (d,)
        Only when X had string column names.

    Notes
    -----
    Parameters and statistics are float64. float32 input stays float32 in the
    row-wise work (densities, responsibilities) while every sum is accumulated in
    float64, so memory and bandwidth halve without losing the statistics' accuracy.
    The torch backend keeps the same policy on the device: float32 tensors stay
    float32 in the row-wise work and their statistics are accumulated in float64
    there (see :mod:`gaussmix.backends.torch`).
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
        weights_init: Any = None,
        means_init: Any = None,
        precisions_init: Any = None,
        random_state: Any = None,
        warm_start: bool = False,
        verbose: int = 0,
        verbose_interval: int = 10,
        missing: str = "error",
        learning_decay: float = 0.7,
        learning_offset: float = 2.0,
        device: Any = None,
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.missing = missing
        self.learning_decay = learning_decay
        self.learning_offset = learning_offset
        self.device = device

    # -- validation -----------------------------------------------------------
    def _check_params(self) -> Covariance:
        check_number("n_components", self.n_components, integer=True, low=1)
        check_choice("covariance_type", self.covariance_type, covariance_names())
        check_number("tol", self.tol, low=0.0)
        check_number("reg_covar", self.reg_covar, low=0.0)
        check_number("max_iter", self.max_iter, integer=True, low=0)
        check_number("n_init", self.n_init, integer=True, low=1)
        check_choice("init_params", self.init_params, INIT_METHODS)
        check_number("verbose", self.verbose, integer=True, low=0)
        check_number("verbose_interval", self.verbose_interval, integer=True, low=1)
        check_choice("missing", self.missing, ("error", "marginalize"))
        if not isinstance(self.warm_start, (bool, np.bool_)):
            raise TypeError(f"Parameter 'warm_start' must be a bool; got {self.warm_start!r}.")
        try:
            check_random_state(self.random_state)
        except ValueError:
            raise ValueError(
                "Parameter 'random_state' must be None, an int or a numpy RandomState; "
                f"got {self.random_state!r}."
            ) from None
        return get_covariance(self.covariance_type)

    def _validate_X(self, X: Any, *, reset: bool) -> np.ndarray:
        try:
            X = validate_data(
                self, X, reset=reset, dtype=[np.float64, np.float32], ensure_all_finite=False
            )
        except (TypeError, ValueError) as exc:
            raise explain_input_error(exc) from None
        if self.missing == "marginalize":
            check_missing(X, fitting=reset)
        else:
            check_finite(X)
        return check_magnitude(X, reg_covar=self.reg_covar)

    def _check_init_arrays(self, cov: Covariance, n_features: int) -> None:
        K = self.n_components
        if self.weights_init is not None:
            w = _as_float_array("weights_init", self.weights_init, (K,))
            if np.any(w < 0) or np.any(w > 1):
                raise ValueError(
                    "The parameter 'weights_init' should be in the range [0, 1], "
                    f"but got max value {w.max():.5f}, min value {w.min():.5f}."
                )
            if not np.isclose(w.sum(), 1.0, rtol=0.0, atol=1e-8):
                raise ValueError(
                    "The parameter 'weights_init' should be normalized, "
                    f"but got sum(weights_init) = {w.sum():.5f}."
                )
        if self.means_init is not None:
            _as_float_array("means_init", self.means_init, (K, n_features))
        if self.precisions_init is not None:
            shape = cov.form.shape(K, n_features)
            p = _as_float_array("precisions_init", self.precisions_init, shape)
            if not cov.form.is_valid_precision(p):
                raise ValueError(
                    f"The parameter 'precisions_init' should be "
                    f"{cov.form.precision_requirement} for "
                    f"covariance_type={self.covariance_type!r}."
                )

    # -- fitting --------------------------------------------------------------
    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> GaussianMixture:
        """Estimate the mixture's parameters with EM.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative row weights acting as multiplicities: integer weights give
            exactly the fit on the correspondingly repeated rows.

        Returns
        -------
        self
        """
        self._fit(X, sample_weight)
        return self

    def fit_predict(self, X: Any, y: Any = None, sample_weight: Any = None) -> np.ndarray:
        """Fit the model and return the most probable component of each row.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        rows, cov = self._fit(X, sample_weight)
        return rows.map_log_resp(self._params, cov, lambda _, lr: lr.argmax(axis=1))

    def _fit(self, X: Any, sample_weight: Any) -> tuple[Rows, Covariance]:
        # fit itself computes no labels: for a file or a Dask array that pass is not free.
        cov = self._check_params()
        rows = self._rows(X, sample_weight, reset=True)
        self._check_init_arrays(cov, rows.n_features)
        self._fit_rows(rows, cov)
        return rows, cov

    def _rows(self, X: Any, sample_weight: Any = None, *, reset: bool) -> Rows:
        """Validated rows of X in the backend that suits it.

        With ``reset`` (fitting) it also checks there are enough rows for the
        components; otherwise that X matches the fitted model.
        """
        if not reset:
            check_is_fitted(self)
        if self.device is not None or _is_tensor(X):
            backend = _torch_backend()
            rows, weights = backend.torch_rows(
                self, X, sample_weight, reset=reset, validate_numpy=self._validate_X
            )
            if reset:
                self._check_enough_rows(rows.n_rows, weights)
            return rows
        blocks = block_rows(X, sample_weight, persist=reset)  # Dask collections, scan() files
        if blocks is not None:
            return self._check_block_rows(blocks, reset=reset)
        X = self._validate_X(X, reset=reset)
        weights = check_sample_weight(sample_weight, X.shape[0])
        if reset:
            self._check_enough_rows(X.shape[0], weights)
        if self.missing == "marginalize" and np.isnan(X).any():
            rows = MissingRows(X, weights, NumpyRows)
            if reset and rows.empty_index.size:
                row_weights = np.ones(X.shape[0]) if weights is None else weights
                used = np.count_nonzero(np.delete(row_weights, rows.empty_index))
                if used < self.n_components:
                    raise ValueError(
                        f"Expected n_samples >= n_components but got n_components = "
                        f"{self.n_components}, n_samples = {used} "
                        "(with an observed value). Use fewer components or more data."
                    )
                warnings.warn(
                    f"{rows.empty_index.size} row(s) of X have every value missing; they "
                    "carry no information and are ignored by the fit.",
                    UserWarning,
                    stacklevel=4,
                )
            return rows
        return NumpyRows(X, weights)

    def _check_enough_rows(self, n_rows: int, weights: Any) -> None:
        """Raise unless there are at least n_components rows (of non-zero weight)."""
        if weights is not None:
            n_rows = int((weights > 0).sum())
        if n_rows < self.n_components:
            raise ValueError(
                f"Expected n_samples >= n_components but got n_components = "
                f"{self.n_components}, n_samples = {n_rows}"
                f"{' (with non-zero weight)' if weights is not None else ''}. "
                "Use fewer components or more data."
            )

    def _check_block_rows(self, rows: Rows, *, reset: bool) -> Rows:
        """The feature-count and row-count checks of ``_rows`` for block rows."""
        if rows.n_rows == 0:
            raise ValueError(
                f"Found array with 0 sample(s) (shape=(0, {rows.n_features})) while a "
                "minimum of 1 is required."
            )
        if reset:
            self.n_features_in_ = rows.n_features
            self.__dict__.pop("feature_names_in_", None)
            self._check_enough_rows(rows.n_rows, None)
        elif rows.n_features != self.n_features_in_:
            raise ValueError(
                f"X has {rows.n_features} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input."
            )
        return rows

    def _fit_rows(self, rows: Rows, cov: Covariance) -> None:
        rng = check_random_state(self.random_state)
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        n_init = self.n_init if do_init else 1
        best: EMResult | None = None

        def expectation(params: Params) -> Any:
            return rows.expectation(params, cov)

        # Rows that can name their worst-explained rows seed collapsed components there.
        worst_explained = getattr(rows, "worst_explained", None)
        seed_points = (
            None if worst_explained is None else lambda params, m: worst_explained(params, cov, m)
        )

        for init in range(n_init):
            # Collapsed components are re-seeded, then dropped (see gaussmix._core.em).
            reseeder = Reseeder(self.n_components, seed_points)
            if self.verbose:
                print(f"Initialization {init}")
            started = time.perf_counter()
            if do_init:
                params = self._initial_params(rows, cov, rng, reseeder)
                start_bound = -np.inf
            else:
                params, start_bound = self._params, self.lower_bound_
            result = run_em(
                expectation,
                params,
                cov,
                reg_covar=self.reg_covar,
                tol=self.tol,
                max_iter=self.max_iter,
                start_lower_bound=start_bound,
                on_iteration=self._verbose_callback(started),
                reseeder=reseeder,
            )
            if self.verbose:
                state = "converged" if result.converged else "did not converge"
                print(
                    f"Initialization {state}. time lapse {time.perf_counter() - started:.5f}s"
                    f"\t lower bound {result.lower_bound:.5f}"
                )
            if best is None or self.max_iter == 0 or result.lower_bound > best.lower_bound:
                best = result
        assert best is not None
        if not best.converged and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. Try different init "
                "parameters, or increase max_iter, tol, or check for degenerate data.",
                ConvergenceWarning,
                stacklevel=4,
            )
        self._set_params(best.params, cov)
        self.converged_ = best.converged
        self.n_iter_ = best.n_iter
        self.lower_bounds_ = list(best.lower_bounds)
        self.lower_bound_: float = best.lower_bound
        self._online: tuple[Stats, int] | None = None  # partial_fit's running statistics
        self.n_reseeds_ = best.n_reseeds
        if best.n_reseeds or best.n_dropped:
            dropped = (
                f", and {best.n_dropped} dropped (weight 0) after collapsing repeatedly"
                if best.n_dropped
                else ""
            )
            warnings.warn(
                f"Components collapsed during fitting: {best.n_reseeds} re-seed(s){dropped}. "
                "The data may support fewer components: consider a smaller n_components "
                "or a larger reg_covar.",
                ConvergenceWarning,
                stacklevel=4,
            )
        if self.max_iter > 0:  # (max_iter=0 asks for the initialization only)
            warn_if_regularization_dominates(
                cov.form.variances(best.params.covariances, rows.n_features),
                self.reg_covar,
                stacklevel=4,
            )

    def partial_fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> GaussianMixture:
        """One step of online (stepwise) EM on a batch of rows.

        The first call initialises the model from its batch (``init_params`` or
        the ``*_init`` arrays), unless the model is already fitted, in which case
        it continues from the fitted parameters. Each call then computes the
        batch's statistics under the current parameters, moves the running
        statistics towards them by η_t = (t + ``learning_offset``)^(-``learning_decay``)
        (t = 0, 1, ... counts the calls; the first batch's statistics replace the
        running ones) and takes the M-step on the running statistics; see
        :mod:`gaussmix._core.online`. ``fit`` discards the running statistics.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A batch: an array, a chunk of a :func:`gaussmix.scan`, a Dask array
            (for example one of ``X.blocks``) or a whole scan.
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
            ``n_iter_`` counts the batches; ``lower_bound_`` is the last batch's mean
            log-likelihood under the parameters it was given (``lower_bounds_`` all of
            them, which need not increase); ``converged_`` stays False.
        """
        cov = self._check_params()
        check_number("learning_decay", self.learning_decay, low=0.5, low_inclusive=False)
        if self.learning_decay > 1:
            raise ValueError(
                f"Parameter 'learning_decay' must be in (0.5, 1]; got {self.learning_decay!r}."
            )
        check_number("learning_offset", self.learning_offset, low=0.0)
        first = not hasattr(self, "weights_")
        rows = self._rows(X, sample_weight, reset=first)
        if first:
            self._check_init_arrays(cov, rows.n_features)
            params = self._initial_params(rows, cov, check_random_state(self.random_state))
        else:
            params = self._params
        running, t = getattr(self, "_online", None) or (None, -1)
        t += 1
        batch = rows.expectation(params, cov)
        step = step_size(t, self.learning_decay, self.learning_offset)
        running = stepwise_update(running, batch, step, cov.form)
        self._set_params(m_step(running, cov, self.reg_covar), cov)
        self._online = (running, t)
        self.converged_ = False
        self.n_iter_ = t + 1
        self.lower_bound_ = batch.log_likelihood / batch.total_weight
        self.lower_bounds_ = [*(self.lower_bounds_ if t else []), self.lower_bound_]
        return self

    def _verbose_callback(self, started: float) -> Any:
        if self.verbose < 2:
            return None
        last = [started]

        def report(n_iter: int, bound: float, change: float) -> None:
            if n_iter % self.verbose_interval == 0:
                now = time.perf_counter()
                lapse = now - last[0]
                print(f"  Iteration {n_iter}\t time lapse {lapse:.5f}s\t ll change {change:.5f}")
                last[0] = now

        return report

    def _initial_params(
        self,
        rows: Rows,
        cov: Covariance,
        rng: np.random.RandomState,
        reseeder: Reseeder | None = None,
    ) -> Params:
        K, d = self.n_components, rows.n_features
        given = (self.weights_init, self.means_init, self.precisions_init)
        if any(g is None for g in given):
            stats = rows.initial_stats(K, self.init_params, rng, cov)
            weights = stats.mass / stats.total_weight
            means = stats.means
            covariances = cov.covariances_from_stats(stats, self.reg_covar)
        if self.weights_init is not None:
            weights = np.asarray(self.weights_init, dtype=np.float64)
        if self.means_init is not None:
            means = np.asarray(self.means_init, dtype=np.float64).reshape(K, d)
        if self.precisions_init is None:
            try:
                prec_chol = cov.form.cholesky_precisions(covariances)
            except IllConditionedError:
                if reseeder is None:
                    raise
                # A collapsed initial component: re-seed it as the EM loop would.
                repaired = reseeder.m_step(stats, cov, self.reg_covar)
                covariances, prec_chol = repaired.covariances, repaired.precisions_cholesky
                weights = repaired.weights if self.weights_init is None else weights
                means = repaired.means if self.means_init is None else means
        else:
            precisions = np.asarray(self.precisions_init, dtype=np.float64)
            prec_chol = cov.form.cholesky_from_precisions(precisions)
            covariances = cov.form.covariances_from_precisions(precisions)
        return Params(weights, means, covariances, prec_chol)

    def _set_params(self, params: Params, cov: Covariance) -> None:
        # Starting weights from single seed rows ('k-means++', 'random_from_data') are
        # each row's share of the data, as in scikit-learn; the EM loop may return them
        # (max_iter=0, or a first M-step undone). A fitted model's weights sum to 1.
        self.weights_ = params.weights / params.weights.sum()
        self.means_ = params.means
        self.covariances_ = params.covariances
        self.precisions_cholesky_ = params.precisions_cholesky
        self.precisions_ = cov.form.precisions(params.precisions_cholesky)

    @property
    def _params(self) -> Params:
        return Params(self.weights_, self.means_, self.covariances_, self.precisions_cholesky_)

    # -- inference ------------------------------------------------------------
    def score_samples(self, X: Any) -> np.ndarray:
        """Log-likelihood of each row, log p(x_i).

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        rows = self._rows(X, reset=False)
        return rows.map_log_resp(
            self._params, get_covariance(self.covariance_type), lambda log_norm, _: log_norm
        )

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Mean log-likelihood of the rows (weighted by ``sample_weight`` if given)."""
        rows = self._rows(X, sample_weight, reset=False)
        stats = rows.expectation(self._params, get_covariance(self.covariance_type))
        return stats.log_likelihood / stats.total_weight

    def predict_proba(self, X: Any) -> np.ndarray:
        """Posterior probability of each component for each row.

        Returns
        -------
        ndarray of shape (n_samples, n_components)
        """
        rows = self._rows(X, reset=False)
        return rows.map_log_resp(
            self._params,
            get_covariance(self.covariance_type),
            lambda _, log_resp: _exp(log_resp),
        )

    def predict(self, X: Any) -> np.ndarray:
        """Most probable component of each row.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        rows = self._rows(X, reset=False)
        return rows.map_log_resp(
            self._params,
            get_covariance(self.covariance_type),
            lambda _, log_resp: log_resp.argmax(axis=1),
        )

    def impute(self, X: Any, *, sample: bool = False, random_state: Any = None) -> np.ndarray:
        """Fill the NaN entries of X from the fitted mixture.

        Each missing entry gets its conditional expectation given the row's
        observed values, E[x_m | x_o] = Σ_k p(k | x_o) E[x_m | x_o, k]; with
        ``sample=True`` it is drawn from p(x_m | x_o) instead. Works whatever
        ``missing`` was at fit time.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NaN marks a missing entry; other values must be finite.
        sample : bool, default=False
            Draw the missing entries instead of taking their expectation.
        random_state : int, RandomState instance or None, default=None
            Seeds the draws when ``sample=True``.

        Returns
        -------
        ndarray of shape (n_samples, n_features), float64
            X with its missing entries filled; observed entries are unchanged.
        """
        check_is_fitted(self)
        X = validate_data(
            self, X, reset=False, dtype=[np.float64, np.float32], ensure_all_finite=False
        )
        check_missing(X, fitting=False)
        rng = check_random_state(random_state) if sample else None
        return impute_missing(X, self._params, get_covariance(self.covariance_type), rng)

    def marginal(self, features: Any) -> GaussianMixture:
        """The mixture of some of the features: the others integrated out.

        Each component keeps its weight, its means on ``features`` and the block
        of its covariance on them, so the result is exact, not refitted.

        Parameters
        ----------
        features : int, str, or a sequence or boolean mask of them
            Indices or names (when X had column names) of the features to keep, in
            the order the result should have them.

        Returns
        -------
        GaussianMixture
            A fitted model of the same class over ``features``, with their names.
            Its covariance model keeps this one's density form; see
            :mod:`gaussmix.conditional` for which model that is (for scikit-learn's
            four types, the same type).
        """
        from .conditional import marginal

        return marginal(self, features)

    def condition(self, features: Any, values: Any) -> Any:
        """The conditional mixture of the other features given ``values`` of ``features``.

        For each row x_o of ``values``: the mixture over the remaining features
        with weights p(k | x_o) (the responsibilities of the observed part) and
        each component's conditional Gaussian, E[x_m | x_o, k] = μ_m + Σ_mo Σ_oo⁻¹
        (x_o − μ_o) and Cov[x_m | x_o, k] = Σ_mm − Σ_mo Σ_oo⁻¹ Σ_om, in closed form
        and batched over the rows. ``impute`` uses the same computation.

        Parameters
        ----------
        features : int, str, or a sequence or boolean mask of them
            The features whose values are given (indices or names).
        values : array-like or torch tensor of shape (n_rows, len(features))
            Their values, finite; a 1-D array is one row (a column when one
            feature is given).

        Returns
        -------
        gaussmix.conditional.ConditionalMixture
            ``predict()`` gives the conditional means (and standard deviations),
            ``sample`` draws, ``score_samples`` gives conditional log-densities,
            and ``[i]`` is row i's conditional as a fitted GaussianMixture.
        """
        from .conditional import condition

        return condition(self, features, values)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.missing == "marginalize"
        return tags

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw rows from the fitted mixture (same random stream as scikit-learn).

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            The component each row was drawn from.
        """
        check_is_fitted(self)
        check_number("n_samples", n_samples, integer=True, low=1)
        cov = get_covariance(self.covariance_type)
        rng = check_random_state(self.random_state)
        counts = rng.multinomial(n_samples, self.weights_)
        X = np.vstack(
            [
                cov.form.sample_component(rng, mean, self.covariances_, k, int(count))
                for k, (mean, count) in enumerate(zip(self.means_, counts, strict=True))
            ]
        )
        y = np.repeat(np.arange(self.n_components), counts)
        return X, y

    def save(self, path: Any) -> Any:
        """Write the fitted model to ``path`` as a safe model file (no code runs on load).

        Read it back with :func:`gaussmix.load`; see :mod:`gaussmix.io` for the format.
        The file is written to a temporary name and renamed, so an interrupted save
        never leaves a half-written file.

        Returns
        -------
        pathlib.Path
        """
        from .io import save

        return save(self, path)

    def _n_parameters(self) -> int:
        return get_covariance(self.covariance_type).n_parameters(
            self.n_components, self.means_.shape[1]
        )

    def bic(self, X: Any) -> float:
        """Bayesian information criterion on X (lower is better)."""
        log_norm = self.score_samples(X)
        return criteria.bic(_sum64(log_norm), self._n_parameters(), log_norm.shape[0])

    def aic(self, X: Any) -> float:
        """Akaike information criterion on X (lower is better)."""
        return criteria.aic(_sum64(self.score_samples(X)), self._n_parameters())


def _as_float_array(name: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of numbers; got {value!r}.") from None
    if array.shape != shape:
        raise ValueError(
            f"The parameter '{name}' should have the shape of {shape}, but got {array.shape}."
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"The parameter '{name}' contains NaN or infinite values.")
    return array


# -- torch integration (gaussmix.backends.torch is imported only when needed) -------
def _is_tensor(X: Any) -> bool:
    """Whether X is a torch tensor, without importing torch."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(X, torch.Tensor)


def _torch_backend() -> Any:
    """:mod:`gaussmix.backends.torch`, or a clear ImportError when torch is missing."""
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "GaussianMixture(device=...) and torch tensor input need PyTorch, which is not "
            'installed. Install it with: pip install "gaussmix[torch]"'
        ) from exc
    from .backends import torch as backend

    return backend


def _exp(values: Any) -> Any:
    """Elementwise exp of a NumPy array or a tensor, in its own kind."""
    return np.exp(values) if isinstance(values, np.ndarray) else values.exp()


def _sum64(values: Any) -> float:
    """Sum of a NumPy or Dask array or a tensor, accumulated in float64."""
    if _is_tensor(values):
        return float(values.double().sum())
    return float(np.sum(values, dtype=np.float64))
