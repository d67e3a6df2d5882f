"""Model selection: fit every (K, covariance type) candidate and rank them.

``gaussmix.select`` fits one :class:`~gaussmix.GaussianMixture` per number of
components and covariance type, in parallel, and scores each with BIC, AIC and
ICL (see :mod:`gaussmix._core.criteria`; **lower is better for all three**).

``covariance_types="mclust"`` fits R mclust's family of models under mclust's
names (EII ... VVV; see :data:`gaussmix._core.covariance.FAMILIES`), started as
mclust starts them (``init_params='hc'``, unless given), as ``mclustBIC`` does.
mclust reports BIC as ``2 log L - p log n``, higher is better: the same number
negated, so ``-result.grid()`` is mclust's BIC table.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from ._core.covariance import FAMILIES, covariance_names, get_covariance
from ._core.criteria import CRITERIA, criteria, entropy
from ._estimator import GaussianMixture
from ._input import Request, as_array, is_tensor
from ._prior_param import check_prior_model
from ._validation import check_choice
from .distributed import is_dask_collection
from .scan import Scan

__all__ = ["CRITERIA", "SelectionResult", "expand_family", "select"]

COLUMNS = (
    "n_components",
    "covariance_type",
    "log_likelihood",
    "n_parameters",
    "bic",
    "aic",
    "icl",
    "converged",
    "n_iter",
    "error",
)


@dataclass
class SelectionResult:
    """The outcome of :func:`select`.

    Attributes
    ----------
    table : pandas.DataFrame or list of dict
        One row per candidate, in the order they were listed (covariance types
        outer, K inner), with the columns ``n_components``, ``covariance_type``,
        ``log_likelihood``, ``n_parameters``, ``bic``, ``aic``, ``icl``,
        ``converged``, ``n_iter`` and ``error`` (``None``, or the message of a
        candidate that could not be fitted, whose scores are then NaN). A pandas
        DataFrame when pandas is importable, otherwise the list of dicts
        :attr:`records`.
    records : list of dict
        The same rows as plain dicts, whether or not pandas is installed.
    best_ : GaussianMixture
        The fitted candidate with the lowest criterion.
    best_params_ : dict
        ``{'n_components': K, 'covariance_type': name}`` of the winner.
    best_index_ : int
        The winner's row in :attr:`records`.
    criterion : str
        'bic', 'aic' or 'icl'.
    n_samples : int
        Rows the candidates were fitted on.
    models_ : dict
        ``(n_components, covariance_type) -> GaussianMixture`` for every candidate
        that could be fitted.
    """

    records: list[dict[str, Any]]
    best_: GaussianMixture
    best_params_: dict[str, Any]
    best_index_: int
    criterion: str
    n_samples: int
    models_: dict[tuple[int, str], GaussianMixture] = field(repr=False)

    @property
    def table(self) -> Any:
        try:
            import pandas as pd
        except ImportError:
            return self.records
        return pd.DataFrame.from_records(self.records, columns=list(COLUMNS))

    def grid(self, criterion: str | None = None) -> Any:
        """The criterion as a table: one row per K, one column per covariance type.

        mclust's BIC table (``mclustBIC``) in gaussmix's sign (lower is better;
        negate it for mclust's). Candidates that could not be fitted are NaN.

        Parameters
        ----------
        criterion : {'bic', 'aic', 'icl'}, optional
            Defaults to the one the selection used.

        Returns
        -------
        pandas.DataFrame, or dict of dict without pandas
            ``grid[covariance_type][K]``, columns in the order the types were given.
        """
        criterion = criterion or self.criterion
        check_choice("criterion", criterion, CRITERIA)
        table: dict[str, dict[int, float]] = {}
        for r in self.records:
            table.setdefault(r["covariance_type"], {})[r["n_components"]] = r[criterion]
        try:
            import pandas as pd
        except ImportError:
            return table
        frame = pd.DataFrame(table)
        frame.index.name = "n_components"
        return frame.sort_index()

    @property
    def best_score_(self) -> float:
        """The winner's criterion value."""
        return float(self.records[self.best_index_][self.criterion])

    def __repr__(self) -> str:
        p = self.best_params_
        return (
            f"SelectionResult(best: n_components={p['n_components']}, "
            f"covariance_type={p['covariance_type']!r}, {self.criterion}="
            f"{self.best_score_:.6g}; {len(self.records)} candidates)"
        )


def select(
    X: Any,
    n_components: int | Iterable[int] = range(1, 10),
    covariance_types: str | Iterable[str] = ("full", "tied", "diag", "spherical"),
    criterion: str = "bic",
    n_init: int = 1,
    random_state: Any = None,
    n_jobs: int | None = None,
    *,
    callback: Callable[[dict[str, Any]], None] | None = None,
    **gm_kwargs: Any,
) -> SelectionResult:
    """Fit a mixture for every (K, covariance type) pair and pick the best by a criterion.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        A DataFrame's column names are kept by the fitted models.
    n_components : int or iterable of int, default=range(1, 10)
        Numbers of components to try.
    covariance_types : str or iterable of str, default=scikit-learn's four
        Names of covariance models (any ``covariance_type``), or the name of a
        family: 'mclust' fits mclust's models (EII ... VVV, under mclust's
        names) and, unless ``init_params`` is given, starts them from mclust's
        hierarchical clustering (``'hc'``).
    criterion : {'bic', 'aic', 'icl'}, default='bic'
        What to minimise (see the module docstring; lower is better for all).
    n_init : int, default=1
        Initializations per candidate (the best is kept).
    random_state : int, RandomState instance or None, default=None
        An int gives every candidate the same seed (reproducible, and the same
        as fitting each candidate by hand with that seed); a RandomState draws
        one seed per candidate in order.
    n_jobs : int or None, default=None
        Candidates fitted in parallel with joblib, as in scikit-learn: ``None``
        means 1 unless inside a ``joblib.parallel_config`` context, -1 means all
        processors.
    callback : callable, optional
        Called with each candidate's row (a dict) as soon as it is scored (for
        progress reporting).
    **gm_kwargs
        Other :class:`GaussianMixture` parameters (``tol``, ``max_iter``,
        ``reg_covar``, ``init_params``, ...), the same for every candidate.

    Returns
    -------
    SelectionResult

    Raises
    ------
    ValueError
        If an option is invalid, X is not a finite numeric matrix, or no
        candidate could be fitted (the message gives the first failure).
        A candidate that fails (for example with an ill-defined covariance) is
        recorded in the table with its error; it does not stop the others.
    """
    ks = _components(n_components)
    types, gm_kwargs = expand_family(covariance_types, gm_kwargs)
    check_choice("criterion", criterion, CRITERIA)
    for name in ("n_components", "covariance_type", "n_init", "random_state"):
        if name in gm_kwargs:
            raise TypeError(f"select() sets {name!r} itself; pass it as select's own argument.")
    _check_X(X, gm_kwargs.get("missing"))

    candidates = [(k, t) for t in types for k in ks]
    if isinstance(random_state, numbers.Integral) or random_state is None:
        seeds: list[Any] = [random_state] * len(candidates)
    else:
        rng = check_random_state(random_state)
        seeds = [int(s) for s in rng.randint(np.iinfo(np.int32).max, size=len(candidates))]

    from joblib import Parallel, delayed

    jobs = (
        delayed(_fit_candidate)(X, k, t, n_init, seed, gm_kwargs)
        for (k, t), seed in zip(candidates, seeds, strict=True)
    )
    records: list[dict[str, Any]] = []
    models: dict[tuple[int, str], GaussianMixture] = {}
    for record, model in Parallel(n_jobs=n_jobs, return_as="generator")(jobs):
        records.append(record)
        if model is not None:
            models[record["n_components"], record["covariance_type"]] = model
        if callback is not None:
            callback({k: v for k, v in record.items() if not k.startswith("_")})

    scores = [r[criterion] for r in records]
    valid = [i for i, s in enumerate(scores) if np.isfinite(s)]
    if not valid:
        first = records[0]["error"]
        raise ValueError(f"No candidate could be fitted. The first error: {first}")
    best = min(valid, key=lambda i: scores[i])
    n_samples = records[best].pop("_n_samples")
    for record in records:
        record.pop("_n_samples", None)
    key = (records[best]["n_components"], records[best]["covariance_type"])
    return SelectionResult(
        records=records,
        best_=models[key],
        best_params_={"n_components": key[0], "covariance_type": key[1]},
        best_index_=best,
        criterion=criterion,
        n_samples=n_samples,
        models_=models,
    )


def expand_family(
    covariance_types: str | Iterable[str], gm_kwargs: dict[str, Any]
) -> tuple[list[str], dict[str, Any]]:
    """The covariance types ``covariance_types`` names, and the estimator options to use.

    A family's name (see :data:`gaussmix._core.covariance.FAMILIES`) stands for
    its models, and its ``init_params`` applies unless ``gm_kwargs`` sets one.
    With a ``prior`` in ``gm_kwargs``, a family stands for its models that have
    one (mclust's ``mclustBIC`` drops EVE, VEE, VVE and EVV likewise); a model
    named explicitly without one is refused.

    Raises
    ------
    ValueError
        If a name is neither a covariance type nor a family, or none is given.
    """
    if isinstance(covariance_types, str) and covariance_types not in FAMILIES:
        check_choice("covariance_types", covariance_types, (*covariance_names(), *FAMILIES))
    family = FAMILIES.get(covariance_types) if isinstance(covariance_types, str) else None
    prior = gm_kwargs.get("prior")
    if family is None:
        names = _covariance_types(covariance_types)
        for name in names:  # a model named with a prior it has not: refused up front
            check_prior_model(prior, get_covariance(name))
        return names, gm_kwargs
    names = list(family.names)
    if prior is not None:  # as mclustBIC: the family's models that have a prior
        names = [n for n in names if get_covariance(n).has_prior]
    return names, {"init_params": family.init_params, **gm_kwargs}


def _components(n_components: Any) -> list[int]:
    values = [n_components] if isinstance(n_components, numbers.Integral) else n_components
    try:
        ks = list(values)
    except TypeError:
        raise TypeError(
            f"n_components must be an int or an iterable of ints; got {n_components!r}."
        ) from None
    if not ks:
        raise ValueError("n_components is empty: give at least one number of components.")
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise ValueError(f"n_components must hold integers >= 1; got {k!r}.")
    return list(dict.fromkeys(int(k) for k in ks))


def _covariance_types(covariance_types: Any) -> list[str]:
    types = [covariance_types] if isinstance(covariance_types, str) else list(covariance_types)
    if not types:
        raise ValueError("covariance_types is empty: give at least one covariance type.")
    for t in types:
        check_choice("covariance_type", t, covariance_names())
    return list(dict.fromkeys(types))


def _check_X(X: Any, missing: Any) -> None:
    """Fail early, with one message, on in-memory input that no candidate could fit."""
    if isinstance(X, Scan) or is_dask_collection(X) or is_tensor(X):
        return  # checked by each fit, block by block or on its device
    as_array(X, request=Request(missing="marginalize" if missing == "marginalize" else "error"))


def _fit_candidate(
    X: Any, k: int, covariance_type: str, n_init: int, seed: Any, gm_kwargs: dict[str, Any]
) -> tuple[dict[str, Any], GaussianMixture | None]:
    record: dict[str, Any] = {
        "n_components": k,
        "covariance_type": covariance_type,
        "log_likelihood": np.nan,
        "n_parameters": np.nan,
        "bic": np.nan,
        "aic": np.nan,
        "icl": np.nan,
        "converged": False,
        "n_iter": 0,
        "error": None,
    }
    model = GaussianMixture(
        k, covariance_type=covariance_type, n_init=n_init, random_state=seed, **gm_kwargs
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X)
        log_norm = _numpy(model.score_samples(X))
        resp = _numpy(model.predict_proba(X))
    except (ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
        record["error"] = " ".join(str(exc).split()) or type(exc).__name__
        return record, None
    n = log_norm.shape[0]
    log_likelihood = float(np.sum(log_norm, dtype=np.float64))
    p = model._n_parameters()
    scores = criteria(log_likelihood, p, n, entropy(resp))
    record.update(
        log_likelihood=log_likelihood,
        n_parameters=p,
        **scores._asdict(),
        converged=bool(model.converged_),
        n_iter=int(model.n_iter_),
        _n_samples=n,
    )
    return record, model


def _numpy(array: Any) -> np.ndarray:
    """An in-memory NumPy array from a NumPy, Dask or torch result."""
    if hasattr(array, "detach"):
        array = array.detach().cpu().numpy()
    elif hasattr(array, "compute"):
        array = array.compute()
    return np.asarray(array)
