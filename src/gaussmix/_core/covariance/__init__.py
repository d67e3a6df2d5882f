"""The model registry: every fact about a covariance model, in one place.

A *covariance model* (:mod:`.models`) is the constraint the components'
covariances obey (mclust's fourteen, EII ... VVV, of which scikit-learn's 'full',
'tied', 'diag' and 'spherical' are four): its M-step (:mod:`.solvers` for the
iterative ones), its number of free parameters, the check of its constraint and
Each model has a *density form* (:mod:`.forms`: 'spherical', 'diagonal', 'full' or
'shared'), which owns how the covariances are stored, factored, merged and used
in densities. Backends key their E-step kernels by the form's name, so adding a
model of an existing form touches only this package, and no code outside it
looks at a model's name.
"""

from __future__ import annotations

from typing import NamedTuple

from .forms import FORMS, DensityForm, IllConditionedError
from .models import MODELS, Covariance
from .params import Params, params_problem

__all__ = [
    "COVARIANCE_TYPES",
    "FAMILIES",
    "FORMS",
    "MCLUST_NAMES",
    "MODELS_WITH_PRIOR",
    "Covariance",
    "DensityForm",
    "Family",
    "IllConditionedError",
    "Params",
    "covariance_names",
    "get_covariance",
    "params_problem",
]

_SKLEARN_ORDER = ("full", "tied", "diag", "spherical")

COVARIANCE_TYPES: dict[str, Covariance] = {
    m.name: m
    for m in sorted(
        MODELS, key=lambda m: _SKLEARN_ORDER.index(m.name) if m.name in _SKLEARN_ORDER else 4
    )
}
"""The models by their canonical names, in the order they are listed to users:
scikit-learn's four, then mclust's other ten in mclust's order."""

MCLUST_NAMES: tuple[str, ...] = tuple(m.mclust_name for m in MODELS)
"""mclust's fourteen model names in mclust's order; each is a valid ``covariance_type``."""

MODELS_WITH_PRIOR: tuple[str, ...] = tuple(m.mclust_name for m in MODELS if m.has_prior)
"""mclust's names of the models with a MAP M-step under a conjugate prior (see ``.prior``)."""


class Family(NamedTuple):
    """A named set of models fitted together (``select(covariance_types=name)``).

    Attributes
    ----------
    names : tuple of str
        The models' names, in the order they are listed.
    init_params : str
        The start the family's own software uses.
    """

    names: tuple[str, ...]
    init_params: str


FAMILIES: dict[str, Family] = {
    "sklearn": Family(_SKLEARN_ORDER, "kmeans"),
    "mclust": Family(MCLUST_NAMES, "hc"),
}
"""Families by name: 'sklearn' is scikit-learn's four types, started as
scikit-learn starts them (k-means); 'mclust' is R mclust's models under its
names, started as mclust starts them (hierarchical clustering, 'hc')."""

_BY_NAME: dict[str, Covariance] = {
    name: model for model in COVARIANCE_TYPES.values() for name in (model.name, *model.aliases)
}


def covariance_names() -> tuple[str, ...]:
    """Every name ``covariance_type`` accepts: the canonical names, then the aliases."""
    aliases = [a for m in COVARIANCE_TYPES.values() for a in m.aliases]
    return (*COVARIANCE_TYPES, *aliases)


def get_covariance(name: str) -> Covariance:
    """The covariance model called ``name`` (a canonical name or an alias).

    Raises
    ------
    ValueError
        If ``name`` is not a model's name; the message lists the valid ones.
    """
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        valid = ", ".join(repr(n) for n in covariance_names())
        raise ValueError(
            f"Invalid value for 'covariance_type': {name!r}. Choose one of {valid}."
        ) from None
