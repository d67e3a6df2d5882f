"""Information criteria for choosing a model: BIC, AIC and ICL, written once.

**Lower is better for all three** (scikit-learn's sign convention; R's mclust
reports the same quantities negated, higher is better):

- ``bic = -2 log L + p log n``
- ``aic = -2 log L + 2 p``
- ``icl = bic + 2 H``, where ``H = -Σ_i Σ_k r_ik log r_ik ≥ 0`` is the entropy of
  the responsibilities: ICL (Biernacki, Celeux & Govaert, 2000; mclust's ``icl``)
  adds a penalty for overlapping components, so it prefers well-separated clusters.

``log L`` is the total log-likelihood of the data, ``p`` the number of free
parameters and ``n`` the number of rows.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

__all__ = ["CRITERIA", "Criteria", "aic", "bic", "criteria", "entropy"]

CRITERIA = ("bic", "aic", "icl")


def bic(log_likelihood: float, n_parameters: int, n_samples: int) -> float:
    """Bayesian information criterion, ``-2 log L + p log n``."""
    return float(-2.0 * log_likelihood + n_parameters * math.log(n_samples))


def aic(log_likelihood: float, n_parameters: int) -> float:
    """Akaike information criterion, ``-2 log L + 2 p``."""
    return float(-2.0 * log_likelihood + 2.0 * n_parameters)


def entropy(resp: np.ndarray) -> float:
    """Entropy of responsibilities, ``-Σ_i Σ_k r_ik log r_ik`` (0 log 0 = 0), float64 sums.

    Parameters
    ----------
    resp : ndarray of shape (n, K)
    """
    from scipy.special import xlogy  # here, not at import: the CLI lists CRITERIA without SciPy

    return -float(np.sum(xlogy(resp, resp), dtype=np.float64))


class Criteria(NamedTuple):
    """The three criteria of one fitted model on one data set (lower is better)."""

    bic: float
    aic: float
    icl: float


def criteria(
    log_likelihood: float, n_parameters: int, n_samples: int, resp_entropy: float
) -> Criteria:
    """BIC, AIC and ICL together.

    Parameters
    ----------
    log_likelihood : float
        Total log-likelihood of the data.
    n_parameters : int
    n_samples : int
    resp_entropy : float
        :func:`entropy` of the responsibilities.
    """
    b = bic(log_likelihood, n_parameters, n_samples)
    return Criteria(b, aic(log_likelihood, n_parameters), b + 2.0 * resp_entropy)
