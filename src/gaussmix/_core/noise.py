"""A noise component: mclust's uniform (Poisson process) density over the data's region.

Scattered outliers distort the Gaussians that must explain them. mclust's answer
(Banfield & Raftery, 1993; ``Mclust(X, initialization = list(noise = ...))``) adds
one more component, a constant density 1 / V over the region the data occupy, of
hypervolume V; its proportion π₀ is estimated with the others. gaussmix does the
same:

- **The region** is a box (:class:`Noise`): along the data's own axes, or along
  their principal axes, whichever has the smaller volume, as mclust's ``hypvol``
  estimates V (the product of the data's ranges per column, or per principal
  component score). With ``missing='marginalize'`` it is always the box along the
  data's axes: a row with missing entries then sees the noise density of its
  observed coordinates, 1 / (the product of their ranges), the marginal of the
  uniform box, as its Gaussian densities are marginals.
- **The E-step** is unchanged but for one column: every row's noise term
  log π₀ - log V (:meth:`Noise.log_density`) joins the Gaussians' in the
  normalisation. The Gaussians' statistics are unchanged; the noise mass is the
  total weight minus the Gaussians' mass.
- **The M-step** (:func:`with_noise`): π₀ is the noise mass's share of the
  total weight, and the Gaussians' weights share the rest (they sum to 1 - π₀).
- **BIC** counts :data:`N_NOISE_PARAMETERS` more free parameters, as mclust's
  ``nMclustParams(..., noise = TRUE)`` does (the noise proportion and V).
- **The start**: rows marked as initial noise (a mask given by the user, as
  mclust's ``initialization$noise``, or :func:`initial_noise` otherwise) start
  in the noise component; π₀ starts at their share.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from ..backends import Rows
    from .covariance import Params
    from .stats import Stats

__all__ = [
    "NOISE_NEIGHBOURS",
    "N_NOISE_PARAMETERS",
    "Noise",
    "box",
    "column_ranges",
    "initial_noise",
    "initial_share",
    "noise_problem",
    "noise_region",
    "with_noise",
]

N_NOISE_PARAMETERS = 2
"""Free parameters a noise component adds to BIC's count: its proportion and V (mclust's)."""

NOISE_NEIGHBOURS = 5
"""k of the k-th nearest-neighbour distances the default initial noise is judged by."""

_MIN_INITIAL_SHARE = 0.01  # π₀ starts at least here, so EM can grow it where noise is


class Noise(NamedTuple):
    """The noise component: its proportion and its box.

    Attributes
    ----------
    weight : float
        π₀, the noise proportion (the Gaussians' weights sum to 1 - π₀).
    low, high : ndarray of shape (d,)
        The box's corners in the coordinates ``x @ axes``.
    axes : ndarray of shape (d, d)
        Orthonormal columns: the box's axes (the identity: the data's own).
    """

    weight: float
    low: np.ndarray
    high: np.ndarray
    axes: np.ndarray

    @property
    def log_volume(self) -> float:
        """log V, the box's log hypervolume."""
        return float(np.sum(np.log(self.high - self.low)))

    def log_density(self) -> float:
        """log π₀ - log V: every row's weighted noise log-density (-inf when π₀ = 0)."""
        with np.errstate(divide="ignore"):
            return float(np.log(self.weight)) - self.log_volume

    def marginal_log_density(self, observed: np.ndarray) -> np.ndarray:
        """log π₀ - log V_o for observation patterns (the box along the data's axes).

        Parameters
        ----------
        observed : ndarray of shape (m, d), bool
            Each pattern's observed coordinates.

        Returns
        -------
        ndarray of shape (m,)

        Raises
        ------
        ValueError
            If the box is not along the data's axes (only such a box has a uniform
            marginal; a fit with ``missing='marginalize'`` always makes one).
        """
        if not np.array_equal(self.axes, np.eye(self.axes.shape[0])):
            raise ValueError(
                "This model's noise box lies along the data's principal axes, so rows with "
                "missing values have no uniform noise density. Fit with "
                "missing='marginalize' to score rows with missing values."
            )
        with np.errstate(divide="ignore"):
            log_weight = float(np.log(self.weight))
        return log_weight - observed @ np.log(self.high - self.low)

    def centre(self) -> np.ndarray:
        """The box's centre in the data's coordinates, shape (d,)."""
        return 0.5 * (self.low + self.high) @ self.axes.T

    def sample(self, rng: np.random.RandomState, n: int) -> np.ndarray:
        """``n`` rows drawn uniformly from the box, shape (n, d)."""
        u = rng.uniform(size=(n, self.low.shape[0]))
        return (self.low + u * (self.high - self.low)) @ self.axes.T


_RANGE_CHUNK_ROWS = 65_536  # rows projected at a time by column_ranges
_FLAT = float(
    np.sqrt(np.finfo(np.float64).eps)
)  # a side below this share of the longest is widened


def box(
    low: np.ndarray,
    high: np.ndarray,
    axes: np.ndarray | None = None,
    weight: float = 0.0,
    min_side: float = 0.0,
) -> Noise:
    """A :class:`Noise` of the given box, its flat sides widened.

    A constant column (or a direction the data do not vary in) would give V = 0,
    an infinite noise density that claims every row (mclust's ``hypvol`` returns 0
    there). A side shorter than ``min_side`` is widened to it, about its centre:
    the estimator passes sqrt(2π reg_covar), the width at which a Gaussian of
    variance ``reg_covar`` has the same peak density, so a flat column favours
    neither the noise nor the Gaussians. Without it (``reg_covar=0``) a side gets
    at least sqrt(machine epsilon) times the longest side or its corners'
    magnitude. Every row stays inside and the density stays finite.
    """
    low = np.asarray(low, dtype=np.float64).copy()
    high = np.asarray(high, dtype=np.float64).copy()
    side = high - low
    floor = _FLAT * max(float(np.max(side)) if side.size else 0.0, 0.0)
    floor = np.maximum(np.maximum(floor, _FLAT * np.maximum(np.abs(low), np.abs(high))), 1e-300)
    floor = np.maximum(floor, min_side)
    flat = ~(side >= floor)
    if flat.any():
        middle = 0.5 * (low[flat] + high[flat])
        low[flat] = middle - 0.5 * floor[flat]
        high[flat] = middle + 0.5 * floor[flat]
    axes = np.eye(low.shape[0]) if axes is None else np.asarray(axes, dtype=np.float64)
    return Noise(float(weight), low, high, axes)


def column_ranges(
    X: np.ndarray, weights: np.ndarray | None, axes: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Column minima and maxima (d',) of ``X @ axes`` over rows of non-zero weight, NaN
    ignored, in chunks (so the projection is never built for all rows at once)."""
    width = X.shape[1] if axes is None else axes.shape[1]
    low, high = np.full(width, np.inf), np.full(width, -np.inf)
    for start in range(0, X.shape[0], _RANGE_CHUNK_ROWS):
        block = np.asarray(X[start : start + _RANGE_CHUNK_ROWS], dtype=np.float64)
        if weights is not None:
            block = block[weights[start : start + _RANGE_CHUNK_ROWS] > 0]
        if axes is not None:
            block = block @ axes
        if block.shape[0]:
            with np.errstate(invalid="ignore"):  # all-NaN columns stay at +-inf
                low = np.fmin(low, np.nanmin(block, axis=0, initial=np.inf))
                high = np.fmax(high, np.nanmax(block, axis=0, initial=-np.inf))
    return low, high


def noise_region(rows: Rows, along_data_axes: bool, min_side: float = 0.0) -> Noise:
    """The box mclust's ``hypvol`` measures, of every row of non-zero weight (weight 0).

    The box along the data's axes (their ranges per column), or the one along their
    principal axes (the ranges of the principal component scores) where that is
    smaller, unless ``along_data_axes``. Two passes over the rows (three for the
    principal axes: their covariance first), through the rows' own primitives.

    Parameters
    ----------
    rows : Rows
        Needs ``column_ranges(axes)``: the smallest and largest value of each
        column of ``X @ axes`` (``axes`` None: of X) over the rows of non-zero
        weight, NaN ignored.
    along_data_axes : bool
        Always the box along the data's axes (``missing='marginalize'``).
    min_side : float
        Sides shorter than this are widened to it (see :func:`box`).
    """
    from .covariance import COVARIANCE_TYPES, Params

    low, high = rows.column_ranges(None)
    data_box = box(low, high, min_side=min_side)
    if along_data_axes or rows.n_features == 1:
        return data_box
    # The covariance of all rows: the full scatter statistics of one component (any
    # parameters), from a model whose form keeps a full scatter per component.
    full = next(
        m for m in COVARIANCE_TYPES.values() if m.form.per_component and not m.form.diagonal
    )
    d = rows.n_features
    unit = Params(np.ones(1), np.zeros((1, d)), np.eye(d)[None], np.eye(d)[None])
    stats = rows.expectation(unit, full)
    _, axes = np.linalg.eigh(stats.scatter[0] / stats.mass[0])
    low, high = rows.column_ranges(axes)
    principal = box(low, high, axes, min_side=min_side)
    return principal if principal.log_volume < data_box.log_volume else data_box


def noise_problem(noise: Noise, n_features: int, weights: np.ndarray) -> str:
    """Why ``noise`` is not a valid noise component with Gaussian ``weights`` ('' if it is)."""
    low, high, axes = (np.asarray(a, dtype=np.float64) for a in noise[1:])
    if low.shape != (n_features,) or high.shape != (n_features,):
        return f"noise box corners of shape {low.shape} and {high.shape}, not ({n_features},)"
    if axes.shape != (n_features, n_features):
        return f"noise box axes of shape {axes.shape}, not ({n_features}, {n_features})"
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high)) and np.all(np.isfinite(axes))):
        return "noise box contains NaN or infinite values"
    if not np.all(high > low):
        return "noise box is empty (a corner's coordinate is not below the other's)"
    if not math.isfinite(noise.log_volume):
        return "noise box's volume is beyond float range"
    if not np.allclose(axes.T @ axes, np.eye(n_features), rtol=0.0, atol=1e-10):
        return "noise box axes are not orthonormal"
    if not (0.0 <= noise.weight < 1.0):
        return f"noise weight {noise.weight!r} is not in [0, 1)"
    total = float(np.sum(weights)) + noise.weight
    if abs(total - 1.0) > 1e-8:
        return f"weights and the noise weight sum to {total!r}, not 1"
    return ""


def with_noise(params: Params, stats: Stats, noise: Noise | None) -> Params:
    """The M-step's ``params`` with the noise component's share of ``stats`` (the M-step's
    noise part; ``params`` unchanged without noise).

    π₀ is the noise mass's share of the total weight, ``1 - Σ_k N_k / Σ_i w_i``, and
    the Gaussians' weights (in ``params`` as relative weights: those of the M-step,
    or held ones, ``fix='weights'``) share the rest; the box stays ``noise``'s.
    π₀'s update is the constrained maximum given the Gaussians' relative weights
    too, so EM with held weights stays monotone.
    """
    if noise is None:
        return params
    gaussian = float(np.sum(stats.mass)) / float(stats.total_weight)
    share = min(max(1.0 - gaussian, 0.0), 1.0 - 1e-12)
    weights = params.weights / params.weights.sum() * (1.0 - share)
    return params._replace(weights=weights, noise=noise._replace(weight=share))


def initial_noise(X: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """The default initial noise: rows in sparse surroundings (Byers & Raftery, 1998).

    Each row's distance D to its :data:`NOISE_NEIGHBOURS`-th nearest neighbour
    gives Y = D^d, which for a Poisson process of intensity λ is Gamma(k, c λ)
    distributed. A two-component Gamma mixture of known shape k, fitted by EM,
    separates the dense features from the sparse clutter; rows more likely
    clutter are the initial noise (this is prabclus's ``NNclean``, which
    mclust's documentation uses to start its noise component). Where the
    clutter's share comes out above one half, or its intensity is not clearly
    lower, no row is marked. Gaussian tails are sparse too, so on data without
    outliers some tail rows start as noise; EM gives them back to the Gaussians.

    Parameters
    ----------
    X : ndarray of shape (m, d)
        A sample of rows (finite).
    weights : ndarray of shape (m,) or None
        Rows of weight 0 are never marked and never count as neighbours.

    Returns
    -------
    ndarray of shape (m,), bool
    """
    from scipy.special import gammaln
    from sklearn.neighbors import NearestNeighbors

    m, d = X.shape
    mask = np.zeros(m, dtype=bool)
    used = np.ones(m, dtype=bool) if weights is None else np.asarray(weights) > 0
    rows = np.flatnonzero(used)
    k = NOISE_NEIGHBOURS
    if rows.size <= 2 * k:
        return mask
    points = np.asarray(X[rows], dtype=np.float64)
    points = (points - points.mean(axis=0)) / np.where(points.std(axis=0) > 0, points.std(0), 1)
    distances, _ = NearestNeighbors(n_neighbors=k + 1).fit(points).kneighbors(points)
    radius = distances[:, k]  # (column 0 is the row itself)
    positive = radius[radius > 0]
    if positive.size == 0:
        return mask
    # Y = D^d in the log domain (d up to hundreds), floored so log Y stays finite.
    log_y = d * np.log(np.maximum(radius, positive.min() * 1e-3))
    log_y -= np.median(log_y)
    y = np.exp(np.clip(log_y, -700.0, 700.0))
    # Two Gamma(k, rate) components: dense (high rate) and sparse (low rate).
    rates = np.array([k / np.quantile(y, 0.25), k / np.quantile(y, 0.95)])
    share = np.array([0.9, 0.1])
    for _ in range(200):
        log_f = np.log(share) + k * np.log(rates) - rates * y[:, None]
        log_f += (k - 1) * log_y[:, None] - gammaln(k)
        top = log_f.max(axis=1, keepdims=True)
        resp = np.exp(log_f - top)
        resp /= resp.sum(axis=1, keepdims=True)
        mass = resp.sum(axis=0) + 1e-300
        new_rates = k * mass / (resp.T @ y + 1e-300)
        share = mass / mass.sum()
        if np.allclose(new_rates, rates, rtol=1e-8, atol=0.0):
            rates = new_rates
            break
        rates = new_rates
    sparse = int(np.argmin(rates))
    if share[sparse] > 0.5 or rates[sparse] > 0.5 * rates[1 - sparse]:
        return mask
    mask[rows] = resp[:, sparse] > 0.5
    return mask


def initial_share(mask: np.ndarray, weights: np.ndarray | None) -> float:
    """π₀ to start from: the marked rows' share of the weight, at least 1%."""
    w = np.ones(mask.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    total = float(w.sum())
    share = float(w[mask].sum()) / total if total > 0 else 0.0
    return max(share, _MIN_INITIAL_SHARE)


def noise_mask(value: object, n_rows: int) -> np.ndarray | None:
    """The initial noise rows a ``noise`` parameter names: None for ``True``, else a mask.

    Parameters
    ----------
    value : True, or array-like
        A boolean mask of shape (n,), or the indices of the initial noise rows
        (as mclust's ``initialization$noise``, 0-based).
    n_rows : int

    Returns
    -------
    ndarray of shape (n,), bool, or None

    Raises
    ------
    ValueError
        If the mask's shape or the indices do not fit the rows, or every row is noise.
    """
    if value is True:
        return None
    array = np.asarray(value)
    if array.dtype == bool:
        if array.shape != (n_rows,):
            raise ValueError(
                f"noise must be True, a boolean mask of shape ({n_rows},) (one entry per row "
                f"of X) or row indices; got a mask of shape {array.shape}."
            )
        mask = array.copy()
    elif array.ndim == 1 and np.issubdtype(array.dtype, np.integer):
        if array.size and (array.min() < 0 or array.max() >= n_rows):
            raise ValueError(
                f"noise indices must be rows of X, 0 <= i < {n_rows}; got values from "
                f"{array.min()} to {array.max()}."
            )
        mask = np.zeros(n_rows, dtype=bool)
        mask[array] = True
    else:
        raise ValueError(
            "noise must be True, False, a boolean mask with one entry per row of X, or the "
            f"indices of the initial noise rows; got an array of dtype {array.dtype} and "
            f"shape {array.shape}."
        )
    if mask.all():
        raise ValueError(
            "noise marks every row as initial noise: leave some rows to start the Gaussian "
            "components from."
        )
    return mask
