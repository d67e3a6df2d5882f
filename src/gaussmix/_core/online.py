"""Online (stepwise) EM: running sufficient statistics, one batch at a time.

Stepwise EM (Cappé & Moulines, 2009; Liang & Klein, 2009) keeps a running average
``s`` of per-row sufficient statistics and, for each new batch, moves it towards
the batch's statistics under the current parameters:

    s_0 = stats(batch_0) / w(batch_0)
    s_t = (1 - η_t) s_{t-1} + η_t stats(batch_t) / w(batch_t),   t = 1, 2, ...
    η_t = (t + t0)^(-κ),   κ ∈ (0.5, 1], t0 ≥ 0

followed by the ordinary M-step on ``s``. Dividing by the batch's total weight
``w`` makes batches of any size comparable. With κ ∈ (0.5, 1] the steps satisfy
Σ η_t = ∞ and Σ η_t² < ∞, the Robbins-Monro conditions under which the parameters
converge; a smaller κ forgets early (poorly estimated) statistics faster, a larger
t0 damps the first steps.

The interpolation is done on the centred statistics with the core's exact
``merge``: scaling a block's statistics by c scales its mass, scatter, weight and
log-likelihood and keeps its means, and the merge of two scaled blocks is exactly
the interpolation of the raw moments Σ r, Σ r x, Σ r x xᵀ.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .stats import Stats, merge

if TYPE_CHECKING:
    from .covariance import DensityForm

__all__ = ["scaled", "step_size", "stepwise_update"]


def step_size(t: int, decay: float, offset: float) -> float:
    """η_t = (t + offset)^(-decay), capped at 1."""
    base = t + offset
    return 1.0 if base <= 1 else float(base**-decay)


def scaled(stats: Stats, factor: float) -> Stats:
    """The statistics of a block whose every row weight is multiplied by ``factor``."""
    return Stats(
        stats.total_weight * factor,
        stats.log_likelihood * factor,
        stats.mass * factor,
        stats.means,
        stats.scatter * factor,
    )


def stepwise_update(running: Stats | None, batch: Stats, step: float, form: DensityForm) -> Stats:
    """Move the running per-row statistics a ``step`` towards a batch's.

    Parameters
    ----------
    running : Stats or None
        Running statistics per unit of row weight; None before the first batch,
        which then replaces them.
    batch : Stats
        The new batch's statistics under the current parameters.
    step : float
        η_t in [0, 1].
    form : DensityForm
        The covariance model's density form.

    Returns
    -------
    Stats
        New running statistics, with ``total_weight`` 1.
    """
    per_row = scaled(batch, 1.0 / batch.total_weight)
    if running is None:
        return per_row
    return merge(scaled(running, 1.0 - step), scaled(per_row, step), form)
