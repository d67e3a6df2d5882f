"""Sufficient statistics of a block of rows, and their exact merge.

EM for a Gaussian mixture needs, per component k, only

    N_k = Σ_i w_i r_ik                               responsibility mass
    m_k = Σ_i w_i r_ik x_i / N_k                     weighted mean
    S_k = Σ_i w_i r_ik (x_i - m_k)(x_i - m_k)^T      centred scatter

plus Σ_i w_i log p(x_i) and Σ_i w_i. Statistics of two blocks merge exactly with
Chan et al.'s pairwise update, so any split of the rows into blocks gives the same
result. Keeping the scatter *centred* (instead of Σ r x x^T − N m m^T) keeps float32
data and far-apart clusters accurate.

The scatter's shape depends on the covariance type (see :mod:`.covariance`):
full ``(K, d, d)``, tied ``(d, d)`` (summed over components), diag ``(K, d)`` and
spherical ``(K,)`` (the trace of each component's scatter).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, TypeVar

import numpy as np

__all__ = ["Stats", "merge", "merge_all", "scatter_correction"]


class Stats(NamedTuple):
    """Additive sufficient statistics of a block of rows (all float64).

    Attributes
    ----------
    total_weight : float
        Σ_i w_i, the block's total row weight.
    log_likelihood : float
        Σ_i w_i log p(x_i) under the parameters the statistics were computed with.
    mass : ndarray of shape (K,)
        N_k, responsibility mass per component.
    means : ndarray of shape (K, d)
        m_k, the responsibility-weighted mean per component (0 where N_k = 0).
    scatter : ndarray
        Centred scatter; shape set by the covariance type (see module docstring).
    """

    total_weight: float
    log_likelihood: float
    mass: np.ndarray
    means: np.ndarray
    scatter: np.ndarray


def scatter_correction(kind: str, coef: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Scatter added when moving per-component centres, in the shape of ``kind``.

    Returns Σ-form of ``coef_k · δ_k δ_k^T`` reduced as the covariance type keeps it.

    Parameters
    ----------
    kind : {'full', 'tied', 'diag', 'spherical'}
    coef : ndarray of shape (K,)
    delta : ndarray of shape (K, d)
    """
    if kind == "full":
        return np.einsum("k,ki,kj->kij", coef, delta, delta)
    if kind == "tied":
        return (delta * coef[:, None]).T @ delta
    if kind == "diag":
        return coef[:, None] * delta**2
    return coef * np.einsum("ki,ki->k", delta, delta)


def merge(a: Stats, b: Stats, kind: str) -> Stats:
    """Merge the statistics of two disjoint blocks exactly (Chan et al.).

    Parameters
    ----------
    a, b : Stats
        Statistics of two blocks under the same parameters.
    kind : {'full', 'tied', 'diag', 'spherical'}
        Covariance type, which fixes the scatter's shape.
    """
    mass = a.mass + b.mass
    # Components with no mass in either block keep mean 0 and add no correction.
    safe = np.where(mass > 0, mass, 1.0)
    frac_b = np.where(mass > 0, b.mass / safe, 0.0)
    delta = b.means - a.means
    means = a.means + frac_b[:, None] * delta
    coef = a.mass * frac_b
    scatter = a.scatter + b.scatter + scatter_correction(kind, coef, delta)
    return Stats(
        a.total_weight + b.total_weight,
        a.log_likelihood + b.log_likelihood,
        mass,
        means,
        scatter,
    )


_S = TypeVar("_S")


def merge_all(
    parts: Iterable[_S], kind: str, merge_pair: Callable[[_S, _S, str], _S] | None = None
) -> _S:
    """Merge any number of block statistics by a balanced pairwise tree.

    A tree (rather than a running sum) keeps rounding error growing with
    log(number of blocks) and lets callers pass statistics in any grouping.
    ``merge_pair`` (default :func:`merge`) lets a backend merge its own
    statistics type, for example tensors kept on a GPU.

    Raises
    ------
    ValueError
        If ``parts`` is empty.
    """
    pair: Callable[[Any, Any, str], Any] = merge if merge_pair is None else merge_pair
    level = list(parts)
    if not level:
        raise ValueError("cannot merge an empty collection of statistics")
    while len(level) > 1:
        paired = [pair(level[i], level[i + 1], kind) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]
