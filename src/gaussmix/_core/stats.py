"""Sufficient statistics of a block of rows, and their exact merge.

EM for a Gaussian mixture needs, per component k, only

    N_k = Σ_i w_i r_ik                               responsibility mass
    m_k = Σ_i w_i r_ik x_i / N_k                     weighted mean
    S_k = Σ_i w_i r_ik (x_i - m_k)(x_i - m_k)^T      centred scatter

plus Σ_i w_i log p(x_i) and Σ_i w_i. Statistics of two blocks merge exactly with
Chan et al.'s pairwise update, so any split of the rows into blocks gives the same
result. Keeping the scatter *centred* (instead of Σ r x x^T − N m m^T) keeps float32
data and far-apart clusters accurate.

The scatter's shape is set by the covariance model's density form (see
:mod:`.covariance.forms`): full ``(K, d, d)``, shared ``(d, d)`` (summed over
components), diagonal ``(K, d)`` and spherical ``(K,)`` (the trace of each
component's scatter).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

if TYPE_CHECKING:
    from .covariance.forms import DensityForm

__all__ = ["Stats", "merge", "merge_all", "pooled", "recentred"]


class Stats(NamedTuple):
    """Additive sufficient statistics of a block of rows (all float64).

    Statistics computed by a backend on a device may hold the same values as
    tensors there (``total_weight`` and ``log_likelihood`` then 0-d).

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
        Centred scatter; shape set by the density form (see module docstring).
    """

    total_weight: Any  # float (or a 0-d tensor)
    log_likelihood: Any  # float (or a 0-d tensor)
    mass: Any  # ndarray (or tensor)
    means: Any
    scatter: Any


def merge(a: Stats, b: Stats, form: DensityForm) -> Stats:
    """Merge the statistics of two disjoint blocks exactly (Chan et al.).

    Written with array operators only, so it merges NumPy statistics and statistics
    held as torch tensors (on any device) alike.

    Parameters
    ----------
    a, b : Stats
        Statistics of two blocks under the same parameters.
    form : DensityForm
        The covariance model's density form, which fixes the scatter's shape.
    """
    mass = a.mass + b.mass
    # Components with no mass in either block keep mean 0 and add no correction
    # (their b.mass is 0, so the zero division is avoided by adding 1 there only).
    frac_b = b.mass / (mass + (mass <= 0))
    delta = b.means - a.means
    means = a.means + frac_b[:, None] * delta
    scatter = a.scatter + b.scatter + form.correction(a.mass * frac_b, delta)
    return Stats(
        a.total_weight + b.total_weight,
        a.log_likelihood + b.log_likelihood,
        mass,
        means,
        scatter,
    )


_S = TypeVar("_S")


def merge_all(
    parts: Iterable[_S],
    form: DensityForm,
    merge_pair: Callable[[_S, _S, DensityForm], _S] | None = None,
) -> _S:
    """Merge any number of block statistics, as they come, by a balanced pairwise tree.

    A tree (rather than a running sum) keeps rounding error growing with
    log(number of blocks) and lets callers pass statistics in any grouping. The
    tree is built while ``parts`` is consumed (a binary counter: two merged
    subtrees of equal size merge at once), so at most log2(blocks) partial merges
    are held at a time, never every block's statistics: a pass over n rows keeps
    O(log n) blocks' worth, however many components (at K = 1,024 'full', one
    block's sums are 4.6 MB). Earlier blocks are always the left operand.
    ``merge_pair`` (default :func:`merge`) lets a caller merge another type in the
    same tree (for example the raw sums of a backend's chunks).

    Raises
    ------
    ValueError
        If ``parts`` is empty.
    """
    pair: Callable[[Any, Any, DensityForm], Any] = merge if merge_pair is None else merge_pair
    stack: list[tuple[int, Any]] = []  # (blocks merged, their merge); sizes decrease
    for part in parts:
        size, merged = 1, part
        while stack and stack[-1][0] == size:
            merged = pair(stack.pop()[1], merged, form)
            size *= 2
        stack.append((size, merged))
    if not stack:
        raise ValueError("cannot merge an empty collection of statistics")
    merged = stack.pop()[1]
    while stack:
        merged = pair(stack.pop()[1], merged, form)
    return merged


def pooled(stats: Stats, form: DensityForm) -> Stats:
    """The statistics of all components taken together: one component's (K = 1).

    Its mean is the data's (weighted) mean and its scatter the data's total scatter,
    in ``form``'s shape for one component, so a model's M-step turns it into the
    data's overall covariance.
    """
    total = stats.mass.sum()
    mean = (stats.mass @ stats.means / total)[None]
    between = form.correction(stats.mass, stats.means - mean)
    scatter = form.reduce_components(stats.scatter + between)
    return Stats(stats.total_weight, stats.log_likelihood, total[None], mean, scatter)


def recentred(stats: Stats, centres: Any, form: DensityForm) -> Stats:
    """The same statistics with each component's scatter taken about ``centres`` (K, d).

    S_k + N_k (m_k − c_k)(m_k − c_k)ᵀ is the scatter about c_k: with it the M-step's
    covariances are the maximum-likelihood ones for means held at ``centres``.
    """
    scatter = stats.scatter + form.correction(stats.mass, stats.means - centres)
    return stats._replace(means=centres, scatter=scatter)
