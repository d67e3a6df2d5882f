"""scikit-learn's own estimator checks, one test per check.

Each covariance type of both estimators is checked with one component: with more, the default
'kmeans' initialization is stochastic, and scikit-learn's sample-weight
equivalence check (which shuffles the rows) cannot hold for it, as it does not
for KMeans itself. tests/test_sample_weight.py checks the equivalence from a
fixed start instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sklearn.utils.estimator_checks import parametrize_with_checks

from gaussmix import BayesianGaussianMixture, GaussianMixture

TYPES = ("full", "tied", "diag", "spherical")


@parametrize_with_checks(
    [GaussianMixture(covariance_type=c) for c in TYPES]
    + [BayesianGaussianMixture(covariance_type=c) for c in TYPES]
)
def test_sklearn_estimator_checks(estimator: Any, check: Callable[[Any], None]) -> None:
    check(estimator)
