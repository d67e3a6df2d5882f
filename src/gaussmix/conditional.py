"""Marginals and conditionals of a fitted mixture, in closed form.

The marginal of a Gaussian mixture over some features is the mixture of its
components' marginals, with the same weights: each component keeps the means and
the block of its covariance on those features. Conditioning on the values x_o of
some features gives, for each row, the mixture over the other features whose
weights are the responsibilities p(k | x_o) of the observed part and whose
components are the conditional Gaussians

    E[x_m | x_o, k] = μ_m + Σ_mo Σ_oo⁻¹ (x_o − μ_o),   Cov[x_m | x_o, k] = Σ_mm − Σ_mo Σ_oo⁻¹ Σ_om

computed by the one implementation of that algebra (:mod:`gaussmix._core.conditional`,
which the missing-value E-step and ``impute`` use too). The covariances do not
depend on x_o, so a conditional of n rows holds n sets of weights and means but a
single set of covariances.

**Which covariance model the result has.** Both operations keep the density form
(spherical, diagonal, full or shared covariances) of the model they start from:
a diagonal covariance's block is diagonal, a covariance shared by every component
has one shared block and one shared Schur complement. The result is a mixture of
the original model when its covariances still obey that model's constraint, and
otherwise of the least constrained model of the same form. scikit-learn's four
models ('full', 'tied', 'diag', 'spherical') are each the least constrained of
their form, so they always stay as they are. Of mclust's constrained models,
those whose constraint survives the operation stay (for example equal covariances,
equal volumes of spherical components, or covariances proportional to one
shared matrix), and the others become that form's unconstrained model (for
example equal volume with varying shapes becomes 'diag' once some features are
dropped, since the dropped features' share of each volume differs).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._core.conditional import component_covariances, condition_rows
from ._core.covariance import COVARIANCE_TYPES, FORMS, Covariance, Params, get_covariance
from ._estimator import FittedState
from ._input import Request, as_array
from ._tensors import like, tensor_of, to_numpy
from ._validation import check_no_noise, check_number

__all__ = ["ConditionalMixture", "condition", "marginal"]


# -- features and models ---------------------------------------------------------------
def feature_indices(model: Any, features: Any) -> np.ndarray:
    """Column indices of ``features`` (an index, a name, or a sequence or mask of them).

    Raises
    ------
    ValueError
        If a feature is unknown, repeated, or none is given.
    """
    d = model.n_features_in_
    names = getattr(model, "feature_names_in_", None)
    items = np.asarray(features, dtype=object).reshape(-1)
    if items.size and all(isinstance(f, (bool, np.bool_)) for f in items):
        if items.size != d:
            raise ValueError(
                f"A boolean mask of features must have one entry per feature ({d}); "
                f"got {items.size}."
            )
        return np.flatnonzero(items.astype(bool))
    indices = []
    for item in items:
        if isinstance(item, str):
            if names is None or item not in names:
                known = "has no feature names" if names is None else f"has {list(names)}"
                raise ValueError(f"Unknown feature {item!r}: the model {known}.")
            indices.append(int(np.flatnonzero(names == item)[0]))
        elif isinstance(item, numbers.Integral) and not isinstance(item, (bool, np.bool_)):
            if not -d <= item < d:
                raise ValueError(f"Feature index {item} is out of range for {d} features.")
            indices.append(int(item) % d)
        else:
            raise TypeError(
                f"Features are given by index or name; got {item!r} ({type(item).__name__})."
            )
    out = np.asarray(indices, dtype=np.intp)
    if out.size == 0:
        raise ValueError("No feature was given; choose at least one.")
    if np.unique(out).size != out.size:
        raise ValueError(f"A feature is given twice: {features!r}.")
    return out


def derived_model(
    model: Covariance, covariances: np.ndarray, n_components: int, n_features: int
) -> Covariance:
    """``model`` if ``covariances`` obey its constraint, else its form's least constrained model.

    ``covariances`` have ``model``'s density form (derived from a fit of ``model``,
    by marginalising or conditioning). See the module docstring.
    """
    if not model.constraint_problem(covariances):
        return model
    same_form = [m for m in COVARIANCE_TYPES.values() if type(m.form) is type(model.form)]
    return max(same_form, key=lambda m: m.n_parameters(n_components, n_features))


def fitted_from(
    template: Any,
    weights: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    model: Covariance,
    names: Any,
) -> Any:
    """An estimator of ``template``'s class, fitted to these parameters (``model``'s form).

    Built by the estimator's one constructor of fitted models (``_from_state``), so
    it is exactly as valid as a fitted one. Its constructor parameters are the
    template's (those tied to its features, the ``*_init`` arrays, are dropped);
    its fit diagnostics (``converged_``, ``n_iter_``, ``lower_bound_``,
    ``lower_bounds_``) are the template's fit's.
    """
    settings = template.get_params(deep=False)
    settings.update(
        n_components=int(weights.shape[0]),
        covariance_type=model.name,
        weights_init=None,
        means_init=None,
        precisions_init=None,
    )
    params = Params(weights, means, covariances, model.form.cholesky_precisions(covariances))
    state = FittedState(
        params=params,
        covariance_type=model.name,
        n_features=int(means.shape[1]),
        feature_names=None if names is None else [str(n) for n in names],
        converged=bool(template.converged_),
        n_iter=int(template.n_iter_),
        lower_bound=float(template.lower_bound_),
        lower_bounds=list(template.lower_bounds_),
        n_reseeds=getattr(template, "n_reseeds_", None),
    )
    return type(template)._from_state(settings, state)


def _names(model: Any, indices: np.ndarray) -> np.ndarray | None:
    names = getattr(model, "feature_names_in_", None)
    return None if names is None else np.asarray(names, dtype=object)[indices]


def _check_values(values: Any, n_columns: int, name: str) -> np.ndarray:
    """``values`` as finite float64 rows of ``n_columns`` columns.

    A 1-D array is a column when there is one column, else one row.
    """
    values = to_numpy(values)
    if np.ndim(values) == 1:
        length = len(values)
        if n_columns > 1 and length != n_columns:
            raise ValueError(
                f"{name} must have shape (n_rows, {n_columns}), one column per feature; got "
                f"a 1-D array of {length} values."
            )
        values = np.asarray(values).reshape(-1 if n_columns == 1 else 1, n_columns)
    X, _ = as_array(values, request=Request(), name=name)  # the input boundary's checks
    if X.shape[1] != n_columns:
        raise ValueError(
            f"{name} must have one column per feature ({n_columns}); got {X.shape[1]}."
        )
    return np.asarray(X, dtype=np.float64)


# -- the operations ----------------------------------------------------------------------
def marginal(model: Any, features: Any) -> Any:
    """The mixture of ``features`` (see :meth:`gaussmix.GaussianMixture.marginal`)."""
    check_is_fitted(model)
    check_no_noise(model, "marginal()")
    indices = feature_indices(model, features)
    cov = get_covariance(model.covariance_type)
    K, d = model.means_.shape
    dense = cov.form.dense(model.covariances_, K, d)
    covariances = cov.form.from_dense(dense[:, indices][:, :, indices])
    result = derived_model(cov, covariances, K, indices.size)
    means = model.means_[:, indices]
    return fitted_from(model, model.weights_, means, covariances, result, _names(model, indices))


def condition(model: Any, features: Any, values: Any) -> ConditionalMixture:
    """Conditionals given ``values`` (see :meth:`gaussmix.GaussianMixture.condition`)."""
    check_is_fitted(model)
    check_no_noise(model, "condition()")
    given = feature_indices(model, features)
    K, d = model.means_.shape
    others = np.setdiff1d(np.arange(d), given)
    if others.size == 0:
        raise ValueError(
            "Conditioning on every feature leaves nothing to describe; give fewer features."
        )
    tensor = tensor_of(values)
    X_given = _check_values(values, given.size, "values")
    n = X_given.shape[0]
    X = np.zeros((n, d))
    X[:, given] = X_given
    observed = np.zeros(d, dtype=bool)
    observed[given] = True
    cov = get_covariance(model.covariance_type)
    params = Params(model.weights_, model.means_, model.covariances_, model.precisions_cholesky_)
    block = condition_rows(X, observed, params, cov.form, component_covariances(params, cov.form))
    if cov.form.diagonal:  # one row of variances per row, all equal: Σ_mm
        variances = block.cond[:, 0, others]
        dense = variances[:, :, None] * np.eye(others.size)
    else:  # one pattern: (K, 1, d, d)
        dense = block.cond[:, 0][:, others][:, :, others]
    result = derived_model(cov, cov.form.from_dense(dense), K, others.size)
    return ConditionalMixture(
        model,
        given=given,
        features=others,
        weights=np.exp(block.log_resp),
        means=block.xhat[:, :, others].transpose(1, 0, 2),
        covariances=dense,
        covariance_type=result.name,
        log_marginal=block.log_norm,
        tensor=tensor,
    )


class ConditionalMixture:
    """The conditional distributions p(x_m | x_o) of a fitted mixture, one per row of x_o.

    Returned by :meth:`gaussmix.GaussianMixture.condition`. Row i's conditional is
    the mixture Σ_k w_ik N(μ_ik, Σ_k) over the features ``features_``.

    Attributes
    ----------
    features_ : ndarray of shape (m,)
        Indices (into the fitted model's features) of the features described.
    given_ : ndarray of shape (g,)
        Indices of the features conditioned on, in the order their values came.
    feature_names_ : ndarray of shape (m,) or None
        Names of ``features_`` when the model has feature names.
    weights_ : ndarray of shape (n, K)
        w_ik = p(k | x_o,i), the responsibilities of the observed part.
    means_ : ndarray of shape (n, K, m)
        μ_ik = E[x_m | x_o,i, k].
    covariances_ : ndarray of shape (K, m, m)
        Σ_k = Cov[x_m | x_o, k], dense; the same for every row.
    covariance_type : str
        The covariance model of the conditionals (see :mod:`gaussmix.conditional`).
    log_marginal_ : ndarray of shape (n,)
        ln p(x_o,i): each row's log-likelihood under the marginal of the given features.

    Notes
    -----
    When the values were a torch tensor, ``predict``, ``sample`` and ``score_samples``
    return float64 tensors on its device; the attributes are NumPy arrays, as a
    fitted model's are.
    """

    def __init__(
        self,
        model: Any,
        *,
        given: np.ndarray,
        features: np.ndarray,
        weights: np.ndarray,
        means: np.ndarray,
        covariances: np.ndarray,
        covariance_type: str,
        log_marginal: np.ndarray,
        tensor: Any = None,
    ) -> None:
        self._model = model
        self.given_ = given
        self.features_ = features
        self.feature_names_ = _names(model, features)
        self.weights_ = weights
        self.means_ = means
        self.covariances_ = covariances
        self.covariance_type = covariance_type
        self.log_marginal_ = log_marginal
        self._tensor = tensor

    def __len__(self) -> int:
        return int(self.weights_.shape[0])

    def __repr__(self) -> str:
        return (
            f"ConditionalMixture({len(self)} rows, {self.weights_.shape[1]} components over "
            f"features {self.features_.tolist()} given {self.given_.tolist()})"
        )

    def __getitem__(self, row: int) -> Any:
        """Row ``row``'s conditional as a fitted estimator of the model's class."""
        if not isinstance(row, numbers.Integral) or not -len(self) <= row < len(self):
            raise IndexError(f"row must be an integer index below {len(self)}; got {row!r}.")
        model = get_covariance(self.covariance_type)
        covariances = model.form.from_dense(self.covariances_)
        weights, means = self.weights_[row], self.means_[row]
        return fitted_from(self._model, weights, means, covariances, model, self.feature_names_)

    def predict(self, return_std: bool = False) -> Any:
        """The conditional means E[x_m | x_o] = Σ_k w_ik μ_ik.

        Parameters
        ----------
        return_std : bool, default=False
            Also return the conditional standard deviations: the square roots of
            the diagonal of :meth:`covariance`.

        Returns
        -------
        mean : ndarray of shape (n, m)
        std : ndarray of shape (n, m), only with ``return_std``
        """
        mean = np.einsum("nk,nkj->nj", self.weights_, self.means_)
        if not return_std:
            return like(mean, self._tensor)
        variances = np.einsum("nk,kjj->nj", self.weights_, self.covariances_)
        spread = self.means_ - mean[:, None, :]
        variances = variances + np.einsum("nk,nkj->nj", self.weights_, spread * spread)
        return like(mean, self._tensor), like(np.sqrt(variances), self._tensor)

    def covariance(self) -> np.ndarray:
        """Each row's conditional covariance Cov[x_m | x_o] (the law of total variance).

        Σ_k w_ik (Σ_k + (μ_ik − μ_i)(μ_ik − μ_i)ᵀ), with μ_i the conditional mean.

        Returns
        -------
        ndarray of shape (n, m, m)
        """
        mean = np.einsum("nk,nkj->nj", self.weights_, self.means_)
        spread = self.means_ - mean[:, None, :]
        within = np.einsum("nk,kij->nij", self.weights_, self.covariances_)
        between = np.einsum("nk,nki,nkj->nij", self.weights_, spread, spread)
        return within + between

    def score_samples(self, X: Any) -> Any:
        """ln p(x_m,i | x_o,i): each row of X under its own row's conditional.

        Parameters
        ----------
        X : array-like of shape (n, m)
            Values of ``features_``, one row per conditioning row.

        Returns
        -------
        ndarray of shape (n,)
        """
        X = _check_values(X, self.features_.size, "X")
        if X.shape[0] != len(self):
            raise ValueError(
                f"X must have one row per conditioning row ({len(self)}); got {X.shape[0]}."
            )
        K, m = self.weights_.shape[1], self.features_.size
        full = FORMS["full"]  # the dense covariances are the full form's
        prec_chol = full.cholesky_precisions(self.covariances_)
        with np.errstate(divide="ignore"):  # a weight of 0 gives −inf
            wlp = np.log(self.weights_)
        for k in range(K):  # each row against its own means: rows shifted, means 0
            shifted = X - self.means_[:, k]
            wlp[:, k] += full.log_prob(shifted, np.zeros((1, m)), prec_chol[k : k + 1])[:, 0]
        top = wlp.max(axis=1, keepdims=True)
        out = (np.log(np.exp(wlp - top).sum(axis=1, keepdims=True)) + top)[:, 0]
        return like(out, self._tensor)

    def sample(self, n_samples: int = 1, random_state: Any = None) -> Any:
        """Draw from each row's conditional.

        Parameters
        ----------
        n_samples : int, default=1
            Draws per row.
        random_state : int, RandomState instance or None

        Returns
        -------
        ndarray of shape (n, n_samples, m)
        """
        check_number("n_samples", n_samples, integer=True, low=1)
        rng = check_random_state(random_state)
        n, K = self.weights_.shape
        u = rng.uniform(size=(n, n_samples))
        cumulative = np.cumsum(self.weights_, axis=1)
        labels = np.minimum((cumulative[:, None, :] < u[:, :, None]).sum(axis=2), K - 1)
        noise = rng.standard_normal(size=(n, n_samples, self.features_.size))
        # A PSD square root of each covariance (one that is singular still draws).
        vals, vecs = np.linalg.eigh(self.covariances_)
        roots = vecs * np.sqrt(np.clip(vals, 0.0, None))[:, None, :]  # (K, m, m)
        rows = np.arange(n)[:, None]
        draws = self.means_[rows, labels] + np.einsum("nsij,nsj->nsi", roots[labels], noise)
        return like(draws, self._tensor)
