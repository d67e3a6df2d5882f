"""``GaussianMixture``: a drop-in for scikit-learn's, as a thin shell over the core.

This layer holds what is particular to EM (the initial arrays, re-seeding,
online EM, the fitted parameters, marginals and conditionals, BIC and AIC); the
parameters, the input and inference it shares with ``BayesianGaussianMixture``
live in :mod:`gaussmix._mixture`. All numerical work is :mod:`gaussmix._core`'s,
through a rows object (see :mod:`gaussmix.backends`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, ClassVar, NamedTuple

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import StrOptions

from ._core import criteria
from ._core.covariance import (
    Covariance,
    IllConditionedError,
    Params,
    get_covariance,
    params_problem,
)
from ._core.covariance.prior import Prior, adjusted_stats, resolve_prior
from ._core.em import EMResult, Fixed, Reseeder, m_step, run_em
from ._core.init import initial_stats, noise_start
from ._core.labels import LabelledRows
from ._core.limits import MAX_COVARIANCE, MAX_MAGNITUDE, MAX_PRECISION_CHOLESKY
from ._core.noise import (
    N_NOISE_PARAMETERS,
    Noise,
    noise_mask,
    noise_region,
)
from ._core.online import step_size, stepwise_update
from ._core.stats import Stats
from ._input import InputInfo, as_rows
from ._mixture import MixtureBase, sum64
from ._prior_param import check_prior, check_prior_model
from ._random import random_state
from ._validation import (
    InvalidParameterError,
    warn_if_regularization_dominates,
)
from .backends import Rows

__all__ = ["FittedState", "GaussianMixture"]

_NOISE_ATTRIBUTES = ("noise_weight_", "noise_box_", "noise_axes_", "noise_hypervolume_")


class GaussianMixture(MixtureBase):
    """Gaussian mixture model fitted by Expectation-Maximization.

    A drop-in replacement for :class:`sklearn.mixture.GaussianMixture`: the same
    parameters, defaults, methods and fitted attributes, and the same results from
    the same starting point. In addition, ``fit``, ``fit_predict`` and ``score``
    accept ``sample_weight`` (row multiplicities).

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components K.
    covariance_type : str, default='full'
        'full': each component has its own covariance matrix; 'tied': all share
        one; 'diag': each has its own diagonal covariance; 'spherical': each has
        its own single variance. Or one of mclust's fourteen models Σ_k =
        λ_k D_k A_k D_kᵀ (volume λ, shape A, orientation D, each Equal across
        components, Variable, or the Identity): 'EII', 'VII', 'EEI', 'VEI', 'EVI',
        'VVI', 'EEE', 'VEE', 'EVE', 'VVE', 'EEV', 'VEV', 'EVV', 'VVV', of which
        'VII', 'VVI', 'EEE' and 'VVV' are 'spherical', 'diag', 'tied' and 'full'
        (the same model under either name). ``covariances_`` has the shape of the
        model's form: (K,) for EII and VII (EII's values equal), (K, d) for EEI,
        VEI, EVI and VVI (EEI's rows equal), (d, d) for EEE, (K, d, d) for the
        others. Free parameters (for ``bic``) are counted as mclust counts them.
    tol : float, default=1e-3
        Convergence threshold on the change of the mean log-likelihood.
    reg_covar : float, default=1e-6
        Non-negative regularization added to the diagonal of every covariance.
    max_iter : int, default=100
        EM iterations per initialization.
    n_init : int, default=1
        Number of initializations; the best result is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data', 'hc'}, default='kmeans'
        How the starting parameters are chosen; each method is defined once, so a
        given ``random_state`` gives the same start on every input kind (NumPy,
        ``scan`` files, Dask, torch tensors; see :mod:`gaussmix._core.init`).
        'random_from_data', 'k-means++' and 'random' draw exactly as
        scikit-learn's GaussianMixture does (same start, same fit). 'kmeans' is
        scikit-learn's start too (the labels of ``KMeans(n_clusters=K, n_init=1)``)
        up to 65,536 rows; on more rows the k-means runs on a sample of 65,536
        rows drawn with replacement (in proportion to ``sample_weight``), one
        Lloyd step over all rows follows and each row starts in its nearest
        centre's component, so larger data starts differently from scikit-learn
        (which runs k-means on every row). Its k-means computes in float64 (for
        float32 input too) and moves several empty clusters in order of distance
        (scikit-learn's order comes from ``argpartition``). 'hc' is R mclust's
        start: model-based hierarchical clustering (deterministic; on a sample of
        2,000 rows drawn from ``random_state`` for larger data), see
        :mod:`gaussmix._core.hc`.
    weights_init : array-like of shape (K,), optional
    means_init : array-like of shape (K, d), optional
    precisions_init : array-like, optional
        The shape of ``covariances_`` (see ``covariance_type``): (K, d, d) for
        'full', (d, d) for 'tied', (K, d) for 'diag', (K,) for 'spherical'.
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
    prior : None, 'default' or dict, default=None
        A conjugate prior on the components' means and covariances, as R mclust's
        ``priorControl()`` (Fraley & Raftery, 2007): EM then finds the maximum a
        posteriori parameters, which keeps small components from degenerating.
        'default' is mclust's ``defaultPrior`` (shrinkage 0.01 towards the data's
        mean, ``d + 2`` degrees of freedom, a scale from the data's covariance and
        K); a dict gives any of ``shrinkage``, ``mean``, ``dof`` and ``scale`` (a
        number c for c·I, d variances, or a (d, d) matrix), the others taking
        those defaults. Available for EII, VII, EEI, VEI, EVI, VVI, EEE, EEV, VEV
        and VVV (mclust's; scikit-learn's four are among them); the weights have
        no prior. ``bic()`` is then mclust's BIC with a prior (the log-likelihood
        at the MAP parameters), and ``lower_bound_`` adds the mean log prior. See
        :mod:`gaussmix._core.covariance.prior`.
    device : None, str or torch.device, default=None
        Where the work runs (needs PyTorch: ``pip install "gaussmix[torch]"``).
        None: a torch tensor is fitted where it lives (CPU or GPU) and NumPy input
        stays on the NumPy backend, which never imports torch. 'cpu', 'cuda',
        'cuda:1', ...: NumPy input (and tensors) are moved there. 'auto': the GPU
        when there is one, else the CPU. Fitted attributes stay NumPy arrays;
        ``predict``, ``predict_proba`` and ``score_samples`` return a tensor on its
        device for tensor input, a NumPy array otherwise.
    fix : str or tuple of {'weights', 'means', 'covariances'}, default=()
        Parameters EM holds fixed while it estimates the others: at
        ``weights_init`` (normalised to sum to 1), ``means_init`` or the covariances
        of ``precisions_init``, or, with ``warm_start`` on a fitted model, at the
        fitted values; ``partial_fit`` holds them too. Each M-step maximises the
        likelihood given them (covariances about fixed means), so EM stays
        monotone. Collapsed components are then not re-seeded (that would move
        them): a collapse raises the usual error suggesting a larger reg_covar.
        With ``noise``, held weights are the Gaussians' relative weights (they
        share 1 - ``noise_weight_``, which EM estimates).
    noise : bool or array-like, default=False
        Add a noise component, as R mclust's ``Mclust(X, initialization =
        list(noise = ...))``: a uniform density over the data's region (a box of
        hypervolume V as mclust's ``hypvol`` estimates it), so scattered outliers
        stop distorting the Gaussians (see :mod:`gaussmix._core.noise`). True:
        the initial noise rows are those in sparse surroundings (a
        nearest-neighbour rule, on the 'hc' sample of at most 2,000 rows). A
        boolean mask of shape (n_samples,), or row indices: those rows of the X
        given to ``fit`` start as noise. With ``init_params='hc'`` the initial
        noise rows take no part in the tree (as in mclust); other starts place
        every row. ``predict`` labels noise -1, ``predict_proba`` has the noise
        probability as its last column, ``bic`` counts 2 more parameters (mclust's
        count). With ``missing='marginalize'`` the box lies along the data's axes
        and a row's noise density is over its observed coordinates.
        ``partial_fit`` does not support it (the region must be known first);
        ``marginal``, ``condition``, the divergences and ``merge_components``
        refuse a model with a noise component.
    semi_supervised : bool, default=False
        Whether ``fit``, ``fit_predict`` and ``partial_fit`` take ``y`` as partial
        labels: per row, the index (0..K-1) of the component the row is known to
        belong to, or -1 where it is unknown. Labelled rows keep that component's
        responsibility 1 in every E-step (semi-supervised EM, as R mclust's
        ``MclustSSC``), the start is their means (see
        :mod:`gaussmix._core.init.labelled`), and ``lower_bound_`` is mclust's
        log-likelihood of such a fit: Σ over unlabelled rows of log p(x) plus Σ
        over labelled rows of log π_y φ_y(x), per unit of weight. ``score``,
        ``bic`` and ``aic`` given the same ``y`` report that log-likelihood too;
        without ``y`` they are the mixture's, as for any fit. With ``noise``, a
        labelled row is never noise. False (the default): ``y`` is ignored, as
        scikit-learn's GaussianMixture ignores it (pipelines and model selection
        pass their targets as ``y``).

    Attributes
    ----------
    weights_ : ndarray of shape (K,)
        With a noise component they sum to 1 - ``noise_weight_``.
    means_ : ndarray of shape (K, d)
    covariances_ : ndarray
    precisions_ : ndarray
    precisions_cholesky_ : ndarray
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Mean log-likelihood (per unit of sample weight) of the best run's last
        iteration; with a ``prior``, plus the log prior per unit of weight (up to a
        constant of the hyperparameters).
    lower_bounds_ : list of float
        The lower bound at each iteration of the best run; never decreases, except
        right after a collapsed component is re-seeded.
    n_reseeds_ : int
        Collapsed components re-seeded while fitting the best run (0 on ordinary
        data); components dropped after collapsing repeatedly have weight 0. See
        :mod:`gaussmix._core.em` for the policy.
    prior_ : dict or None
        The prior's hyperparameters the fit used (``shrinkage``, ``mean``, ``dof``,
        ``scale`` as a (d, d) matrix), defaults resolved; None without a prior.
        Set by ``fit`` and ``partial_fit`` (not kept in model files).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (d,)
        Only when X had string column names.
    noise_weight_ : float
        With ``noise``: the noise component's proportion π₀.
    noise_box_ : ndarray of shape (2, d)
        With ``noise``: the region's lower and upper corners, in the coordinates
        ``X @ noise_axes_``.
    noise_axes_ : ndarray of shape (d, d)
        With ``noise``: the box's axes (orthonormal columns; the identity when the
        box lies along the data's axes, else their principal axes).
    noise_hypervolume_ : float
        With ``noise``: V, the box's hypervolume; the noise density is 1 / V.

    Notes
    -----
    Parameters and statistics are float64. float32 input stays float32 in the
    row-wise work (densities, responsibilities) while every sum is accumulated in
    float64, so memory and bandwidth halve without losing the statistics' accuracy.
    The torch backend keeps the same policy on the device: float32 tensors stay
    float32 in the row-wise work and their statistics are accumulated in float64
    there (see :mod:`gaussmix.backends.torch`).
    """

    _parameter_constraints: ClassVar[dict[str, Any]] = {
        **MixtureBase._parameter_constraints,
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
        "prior": [None, StrOptions({"default"}), Mapping],
        "fix": "no_validation",  # names, checked by _fixed_names
        "noise": ["boolean", "array-like"],  # a mask or indices: checked against X in fit
        "semi_supervised": ["boolean"],
    }
    """scikit-learn's parameter constraints (its ``InvalidParameterError`` messages)."""

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
        fix: Any = (),
        noise: Any = False,
        semi_supervised: bool = False,
        prior: Any = None,
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
        self.prior = prior
        self.device = device
        self.fix = fix
        self.noise = noise
        self.semi_supervised = semi_supervised

    # -- validation -------------------------------------------------------------
    def _check_params(self) -> Covariance:
        cov = super()._check_params()
        _fixed_names(self.fix)
        check_prior_model(self.prior, cov)
        return cov

    # -- fitting --------------------------------------------------------------
    def _check_given_arrays(self, cov: Covariance, n_features: int) -> _Init:
        check_prior(self.prior, n_features)
        return _check_init_arrays(self, cov, n_features)

    def _fit_rows(self, rows: Rows, cov: Covariance, info: InputInfo, warm: bool) -> None:
        init = self._check_given_arrays(cov, info.n_features)
        fixed = _held(self, init, warm)
        prior = self._resolve_prior(rows, cov, info.n_features)
        fitted = self._run_em(rows, cov, init, warm, fixed, prior)
        self._apply_fit(fitted, cov, info, fixed, prior)

    def _resolve_prior(self, rows: Rows, cov: Covariance, n_features: int) -> Prior | None:
        """``prior``'s hyperparameters, defaults from one pass over the rows (or None)."""
        if self.prior is None:
            return None
        given = check_prior(self.prior, n_features)
        # All rows as one component (one pass): their mean and covariance.
        rows = _all_rows(rows)
        first, _ = rows.take(np.zeros(1, dtype=np.intp))
        data = rows.nearest_stats(first, first[0], cov)
        return resolve_prior(given, data, cov, self.n_components)

    def _run_em(
        self,
        rows: Rows,
        cov: Covariance,
        init: _Init,
        warm: bool,
        fixed: Fixed | None,
        prior: Prior | None = None,
    ) -> EMResult:
        """The best EM run (``n_init`` starts, or the fitted model's); no state changes."""

        def expectation(params: Params) -> Any:
            return rows.expectation(params, cov)

        # Rows that can name their worst-explained rows seed collapsed components there.
        worst_explained = getattr(rows, "worst_explained", None)
        seed_points = (
            None if worst_explained is None else lambda params, m: worst_explained(params, cov, m)
        )

        # The noise component's region: the same box for every initialization.
        region = None
        if not warm and self._has_noise:
            region = noise_region(
                _all_rows(rows),  # the region of every row, labelled or not
                along_data_axes=self.missing == "marginalize",
                min_side=float(np.sqrt(2.0 * np.pi * self.reg_covar)),
            )

        def run(index: int, started: float) -> EMResult:
            # Collapsed components are re-seeded, then dropped (see gaussmix._core.em);
            # never with fixed parameters, which a re-seed would move.
            reseeder = None if fixed else Reseeder(self.n_components, seed_points)
            if warm:
                params, start_bound = self._params, self.lower_bound_
            else:
                params = self._initial_params(rows, cov, rng, init, reseeder, region, prior)
                params = params if fixed is None else fixed.apply(params)
                start_bound = -np.inf
            return run_em(
                expectation,
                params,
                cov,
                reg_covar=self.reg_covar,
                tol=self.tol,
                max_iter=self.max_iter,
                start_lower_bound=start_bound,
                on_iteration=self._verbose_callback(started),
                reseeder=reseeder,
                fixed=fixed,
                prior=prior,
            )

        with random_state(self.random_state) as rng:  # the runs' draws, one stream
            best = self._best_run(1 if warm else self.n_init, run, stacklevel=6)
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
                stacklevel=5,
            )
        if self.max_iter > 0:  # (max_iter=0 asks for the initialization only)
            warn_if_regularization_dominates(
                cov.form.variances(best.params.covariances, rows.n_features),
                self.reg_covar,
                stacklevel=5,
            )
        return best

    def _apply_fit(
        self,
        fitted: EMResult,
        cov: Covariance,
        info: InputInfo,
        fixed: Fixed | None = None,
        prior: Prior | None = None,
    ) -> None:
        """Set every fitted attribute from a finished fit (nothing here can fail)."""
        self.prior_ = None if prior is None else prior._asdict()
        # Fixed weights are normalised already, and kept bit for bit.
        normalize = fixed is None or fixed.weights is None
        self._set_parameters(fitted.params, cov, normalize=normalize)
        self.converged_ = fitted.converged
        self.n_iter_ = fitted.n_iter
        self.lower_bounds_ = list(fitted.lower_bounds)
        self.lower_bound_: float = fitted.lower_bound
        self.n_reseeds_ = fitted.n_reseeds
        self._online: tuple[Stats, int] | None = None  # partial_fit's running statistics
        self._apply_input(info)

    def partial_fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> GaussianMixture:
        """One step of online (stepwise) EM on a batch of rows.

        The first call initialises the model from its batch (``init_params`` or
        the ``*_init`` arrays), unless the model is already fitted, in which case
        it continues from the fitted parameters. Each call then computes the
        batch's statistics under the current parameters, moves the running
        statistics towards them by η_t = (t + ``learning_offset``)^(-``learning_decay``)
        (t = 0, 1, ... counts the calls; the first batch's statistics replace the
        running ones) and takes the M-step on the running statistics; see
        :mod:`gaussmix._core.online`. ``fit`` discards the running statistics. A
        call that fails leaves the model as it was.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A batch: an array, a chunk of a :func:`gaussmix.scan`, a Dask array
            (for example one of ``X.blocks``) or a whole scan.
        y : array-like of shape (n_samples,), optional
            Ignored, unless ``semi_supervised=True``: the batch's partial labels
            (see :meth:`fit`).
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
            ``n_iter_`` counts the batches; ``lower_bound_`` is the last batch's mean
            log-likelihood under the parameters it was given (``lower_bounds_`` all of
            them, which need not increase); ``converged_`` stays False.
        """
        cov = self._check_params()
        if self._has_noise:
            raise ValueError(
                "partial_fit does not support noise: the noise component's region must "
                "be known before the first step. Use fit (on a scan of the whole data, "
                "for data that does not fit in memory), or noise=False."
            )
        first = not self._is_fitted()
        if not first:
            self._check_continuable(cov, "partial_fit", "call fit")
        request = self._request(fitting=True, n_components=self.n_components if first else None)
        labels = self._labels(y, required=True)
        rows, info = as_rows(X, sample_weight, request=request, labels=labels)
        init = _check_init_arrays(self, cov, info.n_features) if first else None
        # The prior resolved on the first batch, kept for the later ones.
        kept = None if first else getattr(self, "prior_", None)
        prior = (
            Prior(**kept)
            if kept is not None and self.prior is not None
            else self._resolve_prior(rows, cov, info.n_features)
        )
        if init is not None:
            with random_state(self.random_state) as rng:
                params = self._initial_params(rows, cov, rng, init, prior=prior)
        else:
            params = self._params
        fixed = _held(self, init, warm=not first)
        params = params if fixed is None else fixed.apply(params)
        running, t = getattr(self, "_online", None) or (None, -1)
        t += 1
        batch = rows.expectation(params, cov)
        step = step_size(t, self.learning_decay, self.learning_offset)
        running = stepwise_update(running, batch, step, cov.form)
        new_params = m_step(running, cov, self.reg_covar, fixed, params.covariances, prior)
        bound = batch.log_likelihood / batch.total_weight
        bounds = [*(self.lower_bounds_ if t else []), bound]
        # Nothing failed: the model changes now, all at once.
        self._set_parameters(new_params, cov, normalize=fixed is None or fixed.weights is None)
        self._online = (running, t)
        self.prior_ = None if prior is None else prior._asdict()
        self.converged_ = False
        self.n_iter_ = t + 1
        self.lower_bound_ = bound
        self.lower_bounds_ = bounds
        if first:
            self.n_reseeds_ = 0
            self._apply_input(info)
        return self

    @property
    def _has_noise(self) -> bool:
        return not (isinstance(self.noise, (bool, np.bool_)) and not self.noise)

    def _initial_params(
        self,
        rows: Rows,
        cov: Covariance,
        rng: np.random.RandomState,
        init: _Init,
        reseeder: Reseeder | None = None,
        region: Noise | None = None,
        prior: Prior | None = None,
    ) -> Params:
        K = self.n_components
        share, stats = 0.0, None
        if region is not None:
            noise_rows = noise_mask(self.noise, rows.n_rows)
            share, stats = noise_start(_all_rows(rows), noise_rows, K, self.init_params, rng, cov)
            if isinstance(rows, LabelledRows):
                stats = None  # the labels place the Gaussians (see _core.init.labelled)
        if init.weights is None or init.means is None or init.precisions is None:
            if stats is None:
                stats = initial_stats(rows, K, self.init_params, rng, cov)
            weights = stats.mass / stats.total_weight
            about, means = stats, stats.means
            if prior is not None:  # the first M-step is MAP too, as mclust's
                about, means = adjusted_stats(stats, cov, prior)
            covariances = cov.covariances_from_stats(about, self.reg_covar)
        if init.weights is not None:
            weights = init.weights
        if init.means is not None:
            means = init.means
        if init.precisions is None:
            try:
                prec_chol = cov.form.cholesky_precisions(covariances)
            except IllConditionedError:
                if reseeder is None:
                    raise
                # A collapsed initial component: re-seed it as the EM loop would.
                assert stats is not None  # (covariances come from statistics here)
                repaired = reseeder.m_step(stats, cov, self.reg_covar, prior=prior)
                covariances, prec_chol = repaired.covariances, repaired.precisions_cholesky
                weights = repaired.weights if init.weights is None else weights
                means = repaired.means if init.means is None else means
        else:
            assert init.covariances is not None and init.precisions_cholesky is not None
            covariances, prec_chol = init.covariances, init.precisions_cholesky
        if region is None:
            return Params(weights, means, covariances, prec_chol)
        # The Gaussians share what the initial noise leaves.
        weights = weights / weights.sum() * (1.0 - share)
        return Params(weights, means, covariances, prec_chol, region._replace(weight=share))

    # -- restored models --------------------------------------------------------
    @classmethod
    def _from_state(cls, params: Mapping[str, Any], state: FittedState) -> GaussianMixture:
        """A fitted model from constructor parameters and a fitted state (model files).

        The one way to build a fitted model without fitting: the parameters are
        validated as ``fit`` validates them (except ``device``, checked when the
        model is used, so that a model fitted on a GPU loads anywhere), and the
        state as exactly as valid as a fitted one (the registry's
        :func:`~gaussmix._core.covariance.params_problem`).

        Raises
        ------
        ValueError
            Saying what is wrong ("its constructor parameters are invalid (...)",
            "it does not hold a valid mixture: its ...").
        """
        model, cov, device = cls._restoring(params, state.n_features)
        fitted = get_covariance(state.covariance_type)
        if model.n_components != state.params.weights.shape[0] or cov is not fitted:
            raise ValueError("its parameters disagree with its n_components or covariance_type")
        problem = params_problem(Params(*state.params), fitted)
        if problem:
            raise ValueError(f"it does not hold a valid mixture: its {problem}")
        if state.n_features != state.params.means.shape[1]:
            raise ValueError("its n_features disagrees with its means' shape")
        if (state.params.noise is not None) != model._has_noise:
            raise ValueError(
                "its noise parameter and its noise component disagree (one without the other)"
            )
        weights = state.params.weights
        noise = state.params.noise
        gaussian = 1.0 if noise is None else 1.0 - noise.weight  # what the Gaussians share
        if abs(float(weights.sum()) - gaussian) > weights.shape[0] * np.finfo(np.float64).eps:
            weights = weights / weights.sum() * gaussian  # as a fit normalises; else bitwise
        model._set_parameters(state.params._replace(weights=weights), fitted, normalize=False)
        if state.n_reseeds is not None:
            model.n_reseeds_ = state.n_reseeds
        model._restored(device, state)
        return model

    def _set_parameters(
        self, params: Any, cov: Covariance | None = None, *, normalize: bool = True
    ) -> None:
        """Set the fitted parameters (``weights_`` ... ``precisions_``) from ``params``.

        ``params`` is (weights, means, covariances, precisions_cholesky), as in
        scikit-learn, and optionally a noise component; ``cov`` the covariance model
        they belong to (by default ``covariance_type``'s).
        """
        cov = get_covariance(self.covariance_type) if cov is None else cov
        params = Params(*params)
        # Starting weights from single seed rows ('k-means++', 'random_from_data') are
        # each row's share of the data, as in scikit-learn; the EM loop may return them
        # (max_iter=0, or a first M-step undone). A fitted model's weights sum to 1
        # (with the noise weight, when there is a noise component).
        precisions = cov.form.precisions(params.precisions_cholesky)
        noise = params.noise
        share = 1.0 if noise is None else 1.0 - noise.weight
        weights = params.weights / params.weights.sum() * share if normalize else params.weights
        if noise is None:
            for name in _NOISE_ATTRIBUTES:
                self.__dict__.pop(name, None)
        else:
            self.noise_weight_ = float(noise.weight)
            self.noise_box_ = np.vstack([noise.low, noise.high])
            self.noise_axes_ = noise.axes
            self.noise_hypervolume_ = float(np.exp(noise.log_volume))
        self.weights_ = weights
        self.means_ = params.means
        self.covariances_ = params.covariances
        self.precisions_cholesky_ = params.precisions_cholesky
        self.precisions_ = precisions
        self._fitted_covariance_type = cov.name

    @property
    def _params(self) -> Params:
        noise = None
        if "noise_weight_" in self.__dict__:
            low, high = self.noise_box_
            noise = Noise(self.noise_weight_, low, high, self.noise_axes_)
        arrays = (self.weights_, self.means_, self.covariances_, self.precisions_cholesky_)
        return Params(*arrays, noise=noise)

    def _noise_component(self) -> Noise | None:
        return self._params.noise

    def _estep_params(self) -> tuple[Params, float]:
        return self._params, 0.0

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

    def _n_parameters(self) -> int:
        """Free parameters, as mclust counts them (a noise component adds 2)."""
        K, d = self.means_.shape
        noise = N_NOISE_PARAMETERS if "noise_weight_" in self.__dict__ else 0
        return self._covariance().n_parameters(K, d) + noise

    def bic(self, X: Any, y: Any = None) -> float:
        """Bayesian information criterion on X (lower is better).

        With ``semi_supervised=True`` and partial labels ``y``: of mclust's
        semi-supervised log-likelihood (see :meth:`score`), n the rows of X.
        """
        log_likelihood, n_rows = self._log_likelihood(X, y)
        return criteria.bic(log_likelihood, self._n_parameters(), n_rows)

    def aic(self, X: Any, y: Any = None) -> float:
        """Akaike information criterion on X (lower is better); ``y`` as for :meth:`bic`."""
        return criteria.aic(self._log_likelihood(X, y)[0], self._n_parameters())

    def _log_likelihood(self, X: Any, y: Any) -> tuple[float, int]:
        """Σ log-likelihood of X's rows (with ``y``'s labels where they apply), and n."""
        if self._labels(y, required=False) is None:
            log_norm = self.score_samples(X)
            return sum64(log_norm), int(log_norm.shape[0])
        rows = self._rows(X, None, y)
        stats = rows.expectation(self._params, self._covariance())
        return float(stats.log_likelihood), int(rows.n_rows)


def _all_rows(rows: Any) -> Any:
    """Every row, without partial labels: what the noise region and the prior are of."""
    return rows.rows if isinstance(rows, LabelledRows) else rows


class FittedState(NamedTuple):
    """A fitted model's state, as model files hold it (see ``GaussianMixture._from_state``)."""

    params: Params
    covariance_type: str
    n_features: int
    feature_names: list[str] | None
    converged: bool
    n_iter: int
    lower_bound: float
    lower_bounds: list[float]
    n_reseeds: int | None


class _Init(NamedTuple):
    """Validated initial arrays (float64), or None where ``init_params`` decides."""

    weights: np.ndarray | None
    means: np.ndarray | None
    precisions: np.ndarray | None
    covariances: np.ndarray | None
    precisions_cholesky: np.ndarray | None


FIXABLE = ("weights", "means", "covariances")
"""The parameters ``fix`` can hold."""


def _fixed_names(fix: Any) -> frozenset[str]:
    """The names in ``fix`` (a name or a sequence of names), or a clear error."""
    names = [fix] if isinstance(fix, str) else fix
    try:
        names = list(names)
    except TypeError:
        names = [names]
    bad = [n for n in names if not isinstance(n, str) or n not in FIXABLE]
    if bad or len(set(names)) != len(names):
        raise InvalidParameterError(
            f"Invalid value for 'fix': {fix!r}. Give any of {', '.join(map(repr, FIXABLE))}, "
            "each at most once (for example fix=('means',))."
        )
    return frozenset(names)


def _held(model: GaussianMixture, init: _Init | None, warm: bool) -> Fixed | None:
    """The parameters ``model.fix`` holds: the fitted ones (``warm``), else the init arrays.

    Raises
    ------
    ValueError
        If a held parameter has no init array to be held at.
    """
    names = _fixed_names(model.fix)
    if not names:
        return None
    weights: np.ndarray | None
    means: np.ndarray | None
    covariances: np.ndarray | None
    chol: np.ndarray | None
    if warm or init is None:
        weights, means, covariances, chol = model._params[:4]  # (a noise's weight is EM's)
    else:
        weights, means = init.weights, init.means
        covariances, chol = init.covariances, init.precisions_cholesky
        given = {"weights": weights, "means": means, "covariances": covariances}
        missing = [n for n in FIXABLE if n in names and given[n] is None]
        if missing:
            arrays = {"weights": "weights_init", "means": "means_init"}
            needed = [arrays.get(n, "precisions_init") for n in missing]
            raise ValueError(
                f"fix={model.fix!r} holds {', '.join(missing)} at their given values, but "
                f"{', '.join(needed)} {'is' if len(needed) == 1 else 'are'} not set. Give "
                "them, or fit first and continue with warm_start=True."
            )
    return Fixed(
        weights if "weights" in names else None,
        means if "means" in names else None,
        covariances if "covariances" in names else None,
        chol if "covariances" in names else None,
    )


def _init_error(message: str) -> InvalidParameterError:
    return InvalidParameterError(message)


def _as_float_array(label: str, param: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    """An initial array as float64, in its own float dtype's precision checks later."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise _init_error(f"{param} must be an array of numbers; got {value!r}.") from None
    if array.shape != shape:
        raise _init_error(
            f"The parameter '{label}' should have the shape of {shape}, but got {array.shape} "
            f"({param})."
        )
    if not np.all(np.isfinite(array)):
        raise _init_error(f"The parameter '{label}' ({param}) contains NaN or infinite values.")
    return array


def _check_init_arrays(model: GaussianMixture, cov: Covariance, n_features: int) -> _Init:
    """The ``*_init`` arrays, validated as scikit-learn does and within the engine's range."""
    K = model.n_components
    weights = means = precisions = covariances = chol = None
    if model.weights_init is not None:
        weights = _as_float_array("weights", "weights_init", model.weights_init, (K,))
        if np.any(weights < 0) or np.any(weights > 1):
            raise _init_error(
                "The parameter 'weights' should be in the range [0, 1], but got max value "
                f"{weights.max():.5f}, min value {weights.min():.5f} (weights_init)."
            )
        # As scikit-learn: normalised to within 1e-8 in the precision they were given in.
        given = np.asarray(model.weights_init)
        in_own = weights.astype(given.dtype if given.dtype == np.float32 else np.float64)
        total = float(in_own.sum())
        if abs(1.0 - total) > 1e-8:
            raise _init_error(
                "The parameter 'weights' should be normalized, but got sum(weights) = "
                f"{total:.5f} (weights_init)."
            )
        weights = weights / weights.sum()
    if model.means_init is not None:
        means = _as_float_array("means", "means_init", model.means_init, (K, n_features))
        top = float(np.max(np.abs(means)))
        if top > MAX_MAGNITUDE:
            raise _init_error(
                f"The parameter 'means' (means_init) reaches {top:.3g}, beyond ±"
                f"{MAX_MAGNITUDE:.0e}, the largest magnitude gaussmix computes with: rescale "
                "the data and means_init together."
            )
    if model.precisions_init is not None:
        label = f"{cov.name} precision"
        shape = cov.form.shape(K, n_features)
        precisions = _as_float_array(label, "precisions_init", model.precisions_init, shape)
        if not cov.form.is_valid_precision(precisions):
            raise _init_error(
                f"'{label}' should be {cov.form.precision_requirement} (precisions_init, "
                f"covariance_type={model.covariance_type!r})."
            )
        with np.errstate(over="ignore", divide="ignore", under="ignore"):
            covariances = cov.form.covariances_from_precisions(precisions)
            chol = cov.form.cholesky_from_precisions(precisions)
        problem = _range_problem(covariances, chol)
        if problem:
            raise _init_error(
                f"The parameter '{label}' (precisions_init) is beyond the range gaussmix "
                f"computes in: {problem}. Rescale the data and precisions_init together."
            )
    return _Init(weights, means, precisions, covariances, chol)


def _range_problem(covariances: np.ndarray, chol: np.ndarray) -> str:
    if not (np.all(np.isfinite(covariances)) and np.all(np.isfinite(chol))):
        return "its covariances (inverses) or their factors are not finite numbers"
    top = float(np.max(np.abs(covariances)))
    if top > MAX_COVARIANCE:
        return f"its covariances reach {top:.3g}, beyond {MAX_COVARIANCE:.0e}"
    top = float(np.max(np.abs(chol)))
    if top >= MAX_PRECISION_CHOLESKY:
        return (
            f"its precision factors reach {top:.3g}, beyond {MAX_PRECISION_CHOLESKY:.0e} "
            "(precisions beyond float range)"
        )
    return ""
