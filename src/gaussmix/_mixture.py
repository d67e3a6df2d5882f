"""What gaussmix's two mixture estimators share, written once.

:class:`MixtureBase` holds everything of :class:`~gaussmix.GaussianMixture` and
:class:`~gaussmix.BayesianGaussianMixture` that is not the fit itself: the shared
parameters and their validation, the input boundary (every input kind), the
``n_init`` loop with its verbose output and convergence warning, ``warm_start``'s
checks, and inference (``score_samples``, ``score``, ``predict``,
``predict_proba``, ``impute``, ``sample``, ``save``). A subclass provides
``_fit_rows`` (fit validated rows and set the fitted attributes) and
``_estep_params`` (the fitted model's E-step as maximum-likelihood parameters,
with the shift that restores its row log-densities).
"""

from __future__ import annotations

import numbers
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import replace
from numbers import Integral, Real
from typing import Any, ClassVar, Protocol, TypeVar

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._core.covariance import Covariance, Params, covariance_names, get_covariance
from ._core.init import INIT_METHODS
from ._core.limits import MAX_COVARIANCE
from ._core.missing import MISSING_POLICIES
from ._core.missing import impute as impute_missing
from ._core.noise import Noise
from ._input import InputInfo, Request, as_array, as_rows, check_device, is_tensor
from ._validation import InvalidParameterError, validate_params
from .backends import Rows

__all__ = ["MixtureBase"]


class _Run(Protocol):
    """What one run of a fit reports (``EMResult``, ``VariationalResult``)."""

    @property
    def converged(self) -> bool: ...

    @property
    def lower_bound(self) -> float: ...


_R = TypeVar("_R", bound=_Run)
_M = TypeVar("_M", bound="MixtureBase")


class MixtureBase(DensityMixin, BaseEstimator):
    """The shared machinery of gaussmix's mixture estimators (see the module docstring)."""

    _parameter_constraints: ClassVar[dict[str, Any]] = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions(set(covariance_names()))],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "reg_covar": [Interval(Real, 0.0, MAX_COVARIANCE, closed="both")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions(set(INIT_METHODS))],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
        "missing": [StrOptions(set(MISSING_POLICIES))],
        "learning_decay": [Interval(Real, 0.5, 1.0, closed="right")],
        "learning_offset": [Interval(Real, 0.0, None, closed="left")],
        "device": "no_validation",  # checked against the devices here (see _device)
    }
    """scikit-learn's parameter constraints (its ``InvalidParameterError`` messages)."""

    # Declared for the type checker; each subclass's __init__ sets them.
    n_components: int
    covariance_type: str
    tol: float
    reg_covar: float
    max_iter: int
    n_init: int
    init_params: str
    random_state: Any
    warm_start: bool
    verbose: int
    verbose_interval: int
    missing: str
    learning_decay: float
    learning_offset: float
    device: Any

    @classmethod
    def _get_param_names(cls) -> list[str]:
        """scikit-learn's parameter names from ``__init__``'s signature, read once per class
        (``get_params`` asks on every fit, and reading a signature costs as much as a
        small fit's E-step)."""
        names = _PARAM_NAMES.get(cls)
        if names is None:
            names = _PARAM_NAMES[cls] = tuple(super()._get_param_names())
        return list(names)

    # -- what a subclass provides ------------------------------------------------------
    def _fit_rows(self, rows: Rows, cov: Covariance, info: InputInfo, warm: bool) -> None:
        """Fit validated rows and set every fitted attribute (only once nothing can fail)."""
        raise NotImplementedError

    def _estep_params(self) -> tuple[Params, float]:
        """The fitted model's E-step as parameters, and the shift of its log-densities.

        Responsibilities under the parameters are the model's; a row's log-density
        under them plus the shift is what ``score_samples`` returns.
        """
        raise NotImplementedError

    def _noise_component(self) -> Noise | None:
        """The fitted model's noise component (``GaussianMixture(noise=...)``), or None."""
        return None

    @property
    def _label_reduce(self) -> Any:
        return _labels_with_noise if self._noise_component() is not None else _labels

    def _switched_off(self) -> np.ndarray:
        """Which components the fitted model no longer uses, (K,) bool (plots fade them).

        Here: those of weight 0 (dropped after collapsing repeatedly).
        """
        return np.asarray(self.weights_) == 0.0

    def _check_given_arrays(self, cov: Covariance, n_features: int) -> Any:
        """The array-valued constructor parameters, validated for ``n_features`` features."""
        raise NotImplementedError

    # -- restored models (model files) -------------------------------------------------
    @classmethod
    def _restoring(
        cls: type[_M], params: Mapping[str, Any], n_features: int
    ) -> tuple[_M, Covariance, Any]:
        """A model of stored constructor parameters, validated as ``fit`` validates them.

        ``device`` is checked when the model is used instead, so that a model
        fitted on a GPU loads anywhere. Returns the model (on no device), its
        covariance model and the stored device.

        Raises
        ------
        ValueError
            Saying what is wrong ("its constructor parameters are invalid (...)").
        """
        device = params.get("device")
        if device is not None and not isinstance(device, str):
            raise ValueError(f"its device {device!r} is not a string")
        if isinstance(device, str) and device.split(":")[0] == "meta":
            raise ValueError("its device 'meta' holds no data")
        accepted = set(cls().get_params(deep=False))
        unknown = sorted(set(params) - accepted)
        if unknown:
            raise ValueError(f"its constructor parameters {unknown} are unknown")
        model = cls(**{**params, "device": None})
        try:
            cov = model._check_params()
            model._check_given_arrays(cov, n_features)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"its constructor parameters are invalid ({exc})") from None
        return model, cov, device

    def _restored(self, device: Any, state: Any) -> None:
        """Set what every restored model has: its device, fit summary and features."""
        self.set_params(device=device)
        self.converged_ = state.converged
        self.n_iter_ = state.n_iter
        self.lower_bound_ = state.lower_bound
        self.lower_bounds_ = list(state.lower_bounds)
        names = None if state.feature_names is None else np.asarray(state.feature_names, object)
        self._apply_input(
            InputInfo("array", 0, state.n_features, names, np.dtype(np.float64), None, "numpy")
        )

    # -- validation -----------------------------------------------------------
    def _check_params(self) -> Covariance:
        """Validate every constructor parameter (before any data is read)."""
        validate_params(
            self._parameter_constraints, self.get_params(deep=False), type(self).__name__
        )
        self._device()
        return get_covariance(self.covariance_type)

    def _device(self) -> Any:
        """The resolved torch device of ``device``, or None."""
        try:
            return check_device(self.device)
        except ValueError as exc:
            raise InvalidParameterError(str(exc)) from None

    def _request(self, *, fitting: bool, n_components: int | None = None) -> Request:
        fitted = None
        if not fitting or n_components is None:  # inference, or a later partial_fit batch
            fitted = (self.n_features_in_, getattr(self, "feature_names_in_", None))
        return Request(
            missing=self.missing,
            reg_covar=float(self.reg_covar),
            device=self._device(),
            fitting=fitting,
            n_components=n_components,
            fitted=fitted,
            n_labels=self.n_components if fitted is None else self.weights_.shape[0],
            estimator=type(self).__name__,
        )

    def _labels(self, y: Any, *, required: bool) -> Any:
        """``y`` when it holds partial labels (``GaussianMixture(semi_supervised=True)``).

        None otherwise: ``y`` is then ignored, as scikit-learn ignores it.

        Raises
        ------
        ValueError
            If labels are ``required`` by a fit and ``y`` is None.
        """
        if not getattr(self, "semi_supervised", False):
            return None
        if y is None and required:
            raise ValueError(
                "semi_supervised=True fits with partial labels: pass them as y (a component "
                "index 0..n_components-1 per row of X, -1 where it is unknown), or set "
                "semi_supervised=False."
            )
        return y

    def _rows(self, X: Any, sample_weight: Any = None, y: Any = None) -> Rows:
        """Validated rows of X for inference with the fitted model (with ``y``'s labels)."""
        check_is_fitted(self)
        labels = self._labels(y, required=False)
        rows, _ = as_rows(X, sample_weight, request=self._request(fitting=False), labels=labels)
        return rows

    def _is_fitted(self) -> bool:
        return hasattr(self, "weights_")

    def _covariance(self) -> Covariance:
        """The fitted model's covariance model (not a ``covariance_type`` set since)."""
        return get_covariance(getattr(self, "_fitted_covariance_type", self.covariance_type))

    def _check_continuable(self, cov: Covariance, how: str, fresh: str) -> None:
        """Raise unless the parameters still describe the fitted model ``how`` continues."""
        fitted, K = self._covariance(), self.weights_.shape[0]
        if cov is not fitted or self.n_components != K:
            raise ValueError(
                f"{how} continues the fitted model ({K} components, covariance_type="
                f"{fitted.name!r}), but the parameters now ask for n_components="
                f"{self.n_components!r}, covariance_type={self.covariance_type!r}. Set them "
                f"back, or start a new model ({fresh})."
            )

    # -- fitting --------------------------------------------------------------
    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> Any:
        """Estimate the mixture's parameters.

        Everything is validated before the model changes: a fit that fails (bad
        parameters, bad input, or an error while fitting) leaves a fitted model
        exactly as it was.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Also a data frame, a torch tensor, a Dask array or DataFrame, or a
            :func:`gaussmix.scan` file (see :mod:`gaussmix._input`).
        y : array-like of shape (n_samples,), optional
            Ignored, unless ``GaussianMixture(semi_supervised=True)``: then the
            partial labels, a component index 0..K-1 per row where it is known and
            -1 elsewhere (integers; a list, array, Series, tensor or Dask array).
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative row weights acting as multiplicities: integer weights give
            exactly the fit on the correspondingly repeated rows. Only their ratios
            matter (extreme ones are scaled internally, exactly, by a power of four).

        Returns
        -------
        self
        """
        self._fit(X, sample_weight, y)
        return self

    def fit_predict(self, X: Any, y: Any = None, sample_weight: Any = None) -> np.ndarray:
        """Fit the model and return the most probable component of each row.

        With partial labels (``semi_supervised=True``), rows whose label ``y`` gives
        keep it (their responsibilities were fixed by it), as mclust's ``MclustSSC``
        classifies them.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        rows, cov = self._fit(X, sample_weight, y)
        params, _ = self._estep_params()
        predicted = rows.map_log_resp(params, cov, self._label_reduce)
        known = getattr(rows, "labels", None)
        return predicted if known is None else _keep_known(predicted, known)

    def _fit(self, X: Any, sample_weight: Any, y: Any) -> tuple[Rows, Covariance]:
        # fit itself computes no labels: for a file or a Dask array that pass is not free.
        cov = self._check_params()
        warm = bool(self.warm_start) and self._is_fitted()
        if warm:
            self._check_continuable(cov, "warm_start=True", "fit with warm_start=False")
        request = self._request(fitting=True, n_components=self.n_components)
        labels = self._labels(y, required=True)
        rows, info = as_rows(X, sample_weight, request=request, labels=labels)
        if warm and info.n_features != self.n_features_in_:
            raise ValueError(
                f"warm_start=True continues the fitted model, which has {self.n_features_in_} "
                f"features, but X has {info.n_features}. Fit with warm_start=False to start a "
                "new model on X."
            )
        self._fit_rows(rows, cov, info, warm)
        return rows, cov

    def _best_run(self, n_init: int, run: Callable[[int, float], _R], *, stacklevel: int) -> _R:
        """The best of ``n_init`` runs, ``run(index, started)``, as scikit-learn picks it.

        Prints scikit-learn's verbose messages, and warns (ConvergenceWarning, at
        ``stacklevel`` from here) when the best run did not converge.
        """
        best: _R | None = None
        for index in range(n_init):
            if self.verbose:
                print(f"Initialization {index}")
            started = time.perf_counter()
            result = run(index, started)
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
                stacklevel=stacklevel,
            )
        return best

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

    def _apply_input(self, info: InputInfo) -> None:
        """What the fit's input taught: its features (scikit-learn's attributes)."""
        self.n_features_in_ = info.n_features
        if info.feature_names is None:
            self.__dict__.pop("feature_names_in_", None)
        else:
            self.feature_names_in_ = info.feature_names

    # -- inference ------------------------------------------------------------
    def score_samples(self, X: Any) -> np.ndarray:
        """Log-likelihood of each row, log p(x_i).

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        rows = self._rows(X)
        params, shift = self._estep_params()
        if shift == 0.0:
            return rows.map_log_resp(params, self._covariance(), lambda log_norm, _: log_norm)
        return rows.map_log_resp(params, self._covariance(), lambda log_norm, _: log_norm + shift)

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Mean log-likelihood of the rows (weighted by ``sample_weight`` if given).

        With ``GaussianMixture(semi_supervised=True)`` and partial labels ``y``,
        labelled rows count by log π_y φ_y(x) (mclust's log-likelihood of a
        semi-supervised fit, which ``lower_bound_`` reports); otherwise ``y`` is
        ignored.
        """
        rows = self._rows(X, sample_weight, y)
        params, shift = self._estep_params()
        stats = rows.expectation(params, self._covariance())
        return float(stats.log_likelihood / stats.total_weight) + shift

    def predict_proba(self, X: Any) -> np.ndarray:
        """Posterior probability of each component for each row.

        Returns
        -------
        ndarray of shape (n_samples, n_components), or (n_samples, n_components + 1)
            With a noise component, the last column is the noise's probability.
        """
        rows = self._rows(X)
        params, _ = self._estep_params()
        noise = self._noise_component() is not None
        reduce = _probabilities_with_noise if noise else _probabilities
        return rows.map_log_resp(params, self._covariance(), reduce)

    def predict(self, X: Any) -> np.ndarray:
        """Most probable component of each row (-1: the noise component).

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        rows = self._rows(X)
        params, _ = self._estep_params()
        return rows.map_log_resp(params, self._covariance(), self._label_reduce)

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
        request = replace(self._request(fitting=False), missing="marginalize", device=None)
        array, _ = as_array(X, request=request)
        rng = check_random_state(random_state) if sample else None
        return impute_missing(array, self._estep_params()[0], self._covariance(), rng)

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
            The component each row was drawn from (-1: the noise component, whose
            rows are drawn uniformly from its box, after the Gaussians' rows).
        """
        check_is_fitted(self)
        if (
            isinstance(n_samples, bool)
            or not isinstance(n_samples, numbers.Integral)
            or not 1 <= n_samples <= _MAX_SAMPLES
        ):
            raise InvalidParameterError(
                f"Invalid value for 'n_samples': {n_samples!r} . The sampling requires at "
                f"least one sample, and at most {_MAX_SAMPLES} (an integer)."
            )
        cov = self._covariance()
        rng = check_random_state(self.random_state)
        noise = self._noise_component()
        if noise is None:
            counts = rng.multinomial(n_samples, self.weights_)
        else:
            counts = rng.multinomial(n_samples, [*self.weights_, noise.weight])
        K = self.weights_.shape[0]
        X = np.vstack(
            [
                cov.form.sample_component(rng, mean, self.covariances_, k, int(count))
                for k, (mean, count) in enumerate(zip(self.means_, counts[:K], strict=True))
            ]
        )
        y = np.repeat(np.arange(K), counts[:K])
        if noise is not None:
            X = np.vstack([X, noise.sample(rng, int(counts[-1]))])
            y = np.concatenate([y, np.full(int(counts[-1]), -1)])
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


_MAX_SAMPLES = 2**48  # a bound that keeps a (n_samples, d) draw a plain allocation error


_PARAM_NAMES: dict[type, tuple[str, ...]] = {}
"""Each estimator class's parameter names (see ``MixtureBase._get_param_names``)."""


def _probabilities(log_norm: Any, log_resp: Any) -> Any:
    """The Gaussians' posterior probabilities (n, K) of a chunk (NumPy or tensor)."""
    return _exp(log_resp)


def _probabilities_with_noise(log_norm: Any, log_resp: Any) -> Any:
    """(n, K + 1): the Gaussians' posteriors and, last, the noise's: what they leave."""
    resp = _exp(log_resp)
    if isinstance(resp, np.ndarray):
        noise = np.clip(1.0 - resp.sum(axis=1, keepdims=True), 0.0, 1.0)
        return np.concatenate([resp, noise.astype(resp.dtype)], axis=1)
    import torch

    noise = (1.0 - resp.sum(dim=1, keepdim=True)).clamp(0.0, 1.0)
    return torch.cat([resp, noise], dim=1)


def _labels(log_norm: Any, log_resp: Any) -> Any:
    """Most probable component of each row of a chunk."""
    return log_resp.argmax(axis=1)


def _labels_with_noise(log_norm: Any, log_resp: Any) -> Any:
    """Most probable component of each row of a chunk; -1 where the noise is likelier."""
    labels = log_resp.argmax(axis=1)
    resp = _exp(log_resp)
    if isinstance(resp, np.ndarray):
        noise = 1.0 - resp.sum(axis=1)
        return np.where(noise > resp.max(axis=1), -1, labels)
    noise = 1.0 - resp.sum(dim=1)
    return labels.masked_fill(noise > resp.amax(dim=1), -1)


def _keep_known(predicted: Any, labels: np.ndarray) -> Any:
    """``predicted`` (NumPy, tensor or Dask, (n,)) with the known ``labels`` (>= 0) put back."""
    if isinstance(predicted, np.ndarray):
        return np.where(labels >= 0, labels, predicted)
    if is_tensor(predicted):
        import torch

        known = torch.from_numpy(labels.astype(np.int64)).to(predicted.device)
        return torch.where(known >= 0, known.to(predicted.dtype), predicted)
    import dask.array as da

    known = da.from_array(labels, chunks=predicted.chunks)
    return da.where(known >= 0, known, predicted)


def _exp(values: Any) -> Any:
    """Elementwise exp of a NumPy array or a tensor, in its own kind."""
    return np.exp(values) if isinstance(values, np.ndarray) else values.exp()


def sum64(values: Any) -> float:
    """Sum of a NumPy or Dask array or a tensor, accumulated in float64."""
    if is_tensor(values):
        return float(values.double().sum())
    return float(np.sum(values, dtype=np.float64))
