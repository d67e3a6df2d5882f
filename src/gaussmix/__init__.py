"""gaussmix: Gaussian mixture models fitted by Expectation-Maximization.

The public names are imported when first used (``gaussmix.GaussianMixture``
loads scikit-learn then), so ``import gaussmix`` itself costs almost nothing
beyond NumPy and SciPy and loads none of the heavy libraries.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from ._bayesian import BayesianGaussianMixture
    from ._compat import gmm_em
    from ._core.covariance import MCLUST_NAMES
    from ._estimator import GaussianMixture
    from .divergence import bhattacharyya_distance, entropy, hellinger_distance, kl_divergence
    from .io import ModelFileError, load
    from .merging import MergedComponents, merge_components
    from .regression import GaussianMixtureRegressor
    from .scan import scan
    from .select import SelectionResult, select

__all__ = [
    "MCLUST_NAMES",
    "BayesianGaussianMixture",
    "GaussianMixture",
    "GaussianMixtureRegressor",
    "MergedComponents",
    "ModelFileError",
    "SelectionResult",
    "__version__",
    "bhattacharyya_distance",
    "entropy",
    "gmm_em",
    "hellinger_distance",
    "kl_divergence",
    "load",
    "merge_components",
    "scan",
    "select",
]

_WHERE = {
    "BayesianGaussianMixture": "._bayesian",
    "MCLUST_NAMES": "._core.covariance",
    "GaussianMixture": "._estimator",
    "GaussianMixtureRegressor": ".regression",
    "MergedComponents": ".merging",
    "ModelFileError": ".io",
    "SelectionResult": ".select",
    "bhattacharyya_distance": ".divergence",
    "entropy": ".divergence",
    "hellinger_distance": ".divergence",
    "kl_divergence": ".divergence",
    "gmm_em": "._compat",
    "load": ".io",
    "merge_components": ".merging",
    "scan": ".scan",
    "select": ".select",
}
"""Public name -> the module that defines it."""


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'gaussmix' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """The package module; keeps ``gaussmix.scan`` and ``gaussmix.select`` the functions.

    Importing the submodule ``gaussmix.scan`` (or ``gaussmix.select``) binds it on
    the package under the name of the function it defines; that binding is
    skipped, so the public name stays the function (the module is in
    ``sys.modules``).
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _WHERE.get(name) == f".{name}":
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
