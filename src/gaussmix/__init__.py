"""gaussmix: Gaussian mixture models fitted by Expectation-Maximization."""

from ._compat import gmm_em
from ._estimator import GaussianMixture
from ._version import __version__
from .io import ModelFileError, load
from .scan import scan
from .select import SelectionResult, select

__all__ = [
    "GaussianMixture",
    "ModelFileError",
    "SelectionResult",
    "__version__",
    "gmm_em",
    "load",
    "scan",
    "select",
]
