"""The values that choice options accept, read from the registries that define them.

Nothing here lists a covariance type, an initialisation or a criterion: the
names come from the model registry, the initialisation table and the
criteria (:mod:`gaussmix._core.criteria`), so a model added there is offered here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

ALL = "all"
"""``-c all``: every covariance type."""
DEFAULT_FAMILY = "sklearn"
"""The types a selection fits without ``-c``: scikit-learn's four."""


def covariance_types() -> tuple[str, ...]:
    """Every covariance type, in the registry's order (the one place the CLI asks)."""
    from .._core.covariance import COVARIANCE_TYPES

    return tuple(COVARIANCE_TYPES)


def families() -> tuple[str, ...]:
    """Names of model families (``-c mclust``: mclust's models, started as mclust does)."""
    from .._core.covariance import FAMILIES

    return tuple(FAMILIES)


def init_methods() -> tuple[str, ...]:
    """Every initialisation method ``init_params`` accepts."""
    from .._core.init import INIT_METHODS

    return tuple(INIT_METHODS)


def criteria() -> tuple[str, ...]:
    """The selection criteria (lower is better for each)."""
    from .._core.criteria import CRITERIA

    return tuple(CRITERIA)


def missing_policies() -> tuple[str, ...]:
    """What ``--missing`` accepts: GaussianMixture's ``missing`` values."""
    from .._core.missing import MISSING_POLICIES

    return tuple(MISSING_POLICIES)


def weight_priors() -> tuple[str, ...]:
    """What ``--prior-type`` accepts: BayesianGaussianMixture's weight priors."""
    from .._core.variational import WEIGHT_PRIORS

    return tuple(WEIGHT_PRIORS)


def metavar(names: Sequence[str]) -> str:
    """How help shows a choice: ``<a|b|c>``."""
    return f"<{'|'.join(names)}>"


def parser(names: Sequence[str]) -> Callable[[str], str]:
    """A typer ``parser`` that accepts exactly ``names`` and says which they are otherwise."""

    def parse(value: str) -> str:
        if value in names:
            return value
        import typer

        raise typer.BadParameter(f"{value!r} is not one of {', '.join(map(repr, names))}.")

    return parse
