"""gaussmix: Gaussian mixture models fitted by Expectation-Maximization."""

from ._compat import gmm_em
from ._estimator import GaussianMixture
from ._version import __version__
from .scan import scan

__all__ = ["GaussianMixture", "__version__", "gmm_em", "scan"]
