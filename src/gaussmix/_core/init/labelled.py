"""The start of a fit with partial labels: from the labelled rows' means.

Each component with labelled rows starts at their (weighted) mean; the unlabelled
rows go to their nearest such centre (squared Euclidean distance, one pass where
the rows live), and the start is the statistics of both together (the labelled
rows in their own components), so the first M-step already honours the labels and
every component gets the spread of the rows around it, not of a few labelled rows.

Components without labelled rows take the centres of the ``init_params`` method
run on the unlabelled rows: that method's K centres are matched to the labelled
components' centres (the assignment of least total squared distance, scipy's
``linear_sum_assignment``) and the unmatched ones, in the method's order, are the
others'. When every component has labelled rows the start is deterministic (no
draw is made), so ``n_init`` repeats it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..covariance import Covariance
from ..stats import Stats, merge, pooled

__all__ = ["labelled_stats"]

Method = Callable[[Any, int, np.random.RandomState, Covariance], Stats]


def _free_centres(labelled: np.ndarray, candidates: np.ndarray, m: int) -> np.ndarray:
    """The ``m`` candidates left once each labelled centre took its nearest (jointly)."""
    from scipy.optimize import linear_sum_assignment  # (scipy stays out of the CLI's help)

    cost = ((labelled[:, None, :] - candidates[None, :, :]) ** 2).sum(axis=2)
    _, taken = linear_sum_assignment(cost)
    return np.delete(candidates, taken, axis=0)[:m]


def labelled_stats(
    rows: Any, n_components: int, method: Method, rng: np.random.RandomState, cov: Covariance
) -> Stats:
    """Statistics of the start of :class:`~gaussmix._core.labels.LabelledRows` (see above).

    Parameters
    ----------
    rows : LabelledRows
    n_components : int
    method : callable
        The ``init_params`` method, for components without labelled rows.
    rng : RandomState
    cov : Covariance
    """
    known = rows.label_stats(cov)
    if not rows.n_unlabelled:  # every row of positive weight is labelled
        return known._replace(total_weight=rows.total_weight)
    has = known.mass > 0
    centres = known.means.copy()
    if not has.all():
        candidates = method(rows.unlabelled, n_components, rng, cov).means
        centres[~has] = _free_centres(centres[has], candidates, int((~has).sum()))
    origin = pooled(known, cov.form).means[0] if has.any() else centres.mean(axis=0)
    nearest = rows.unlabelled.nearest_stats(centres, origin, cov)
    return merge(nearest._replace(log_likelihood=0.0), known, cov.form)
