"""Plots of fitted mixtures, model selection and EM convergence (matplotlib).

Install the extra with ``pip install "gaussmix[plot]"``. matplotlib is imported
only when a function here is called. Every function accepts ``ax=`` (draw into
existing axes) and returns what it drew into, so the figure can be adjusted or
saved::

    from gaussmix.plot import plot_mixture
    ax = plot_mixture(model, X)
    ax.figure.savefig("mixture.png")
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ._estimator import GaussianMixture
    from .select import SelectionResult

__all__ = [
    "MAX_GRID_FEATURES",
    "plot_convergence",
    "plot_mixture",
    "plot_selection",
    "separating_features",
]

# mclust's BIC plot styles (mclust.options("bicPlotColors", "bicPlotSymbols")) by the
# model's mclust name: colour, marker (R's plotting symbol), filled.
_MCLUST_STYLE = {
    "EII": ("gray", "^", True),  # pch 17
    "VII": ("black", "^", False),  # 2
    "EEI": ("#218B21", "o", True),  # 16
    "EVI": ("#41884F", r"$\oplus$", True),  # 10
    "VEI": ("#508476", r"$\otimes$", True),  # 13
    "VVI": ("#58819C", "o", False),  # 1
    "EEE": ("#597DC3", "s", True),  # 15
    "VEE": ("#5178EA", r"$\ast$", True),  # 8
    "EVE": ("#716EE7", "D", False),  # 5
    "VVE": ("#9B60B8", "d", False),  # 9 (a diamond with a plus in R)
    "EEV": ("#B2508B", r"$\boxplus$", True),  # 12
    "VEV": ("#C03F60", r"$\boxtimes$", True),  # 7
    "EVV": ("#C82A36", r"$\boxdot$", True),  # 14 (a square with a triangle in R)
    "VVV": ("#CC0000", "s", False),  # 0
}


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError('gaussmix.plot needs matplotlib: pip install "gaussmix[plot]"') from None
    return plt


def _colors(n: int) -> list[Any]:
    plt = _pyplot()
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    if n <= 20:
        return [cmap(i % cmap.N) for i in range(n)]
    return [plt.get_cmap("hsv")(i / n) for i in range(n)]


# -- the mixture --------------------------------------------------------------------
def _feature_names(model: Any, X: Any, d: int) -> list[str]:
    columns = getattr(X, "columns", None)
    if columns is not None:
        return [str(c) for c in columns]
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        return [str(n) for n in names]
    return [f"x{i}" for i in range(d)]


MAX_GRID_FEATURES = 5
"""A pair grid shows at most this many features unless ``features=`` names more: a
grid of d features draws d² panels, unreadable (and slow) long before d = 64."""


def separating_features(model: GaussianMixture, n_features: int = MAX_GRID_FEATURES) -> np.ndarray:
    """The features whose components differ most, relative to the components' spread.

    Feature j scores ``Σ_k w_k (μ_kj - μ̄_j)² / Σ_k w_k σ²_kj``: the variance of
    the component means (between components) over the mean variance within a
    component, both weighted by the mixture weights and read from the fitted
    parameters alone. A feature on which every component has the same mean
    scores 0.

    Parameters
    ----------
    model : GaussianMixture
        A fitted model.
    n_features : int, default=MAX_GRID_FEATURES
        How many to return (at most the model's features).

    Returns
    -------
    ndarray of int, shape (min(n_features, d),)
        Feature indices, the most separating first.
    """
    check_is_fitted(model)
    weights, means = np.asarray(model.weights_), np.asarray(model.means_)
    weights = weights / weights.sum()  # (the Gaussians' share, with a noise component)
    centre = weights @ means
    between = weights @ (means - centre) ** 2
    within = _form(model).variances(model.covariances_, means.shape[1])  # (K, d) or (1, d)
    within = (weights @ within) if within.shape[0] == weights.shape[0] else within[0]
    score = between / np.maximum(within, np.finfo(np.float64).tiny)
    return np.argsort(-score, kind="stable")[:n_features]


def _form(model: Any) -> Any:
    """The density form of the model's covariance type, from the model registry."""
    from ._core.covariance import get_covariance

    return get_covariance(model.covariance_type).form


def _dense_covariances(model: Any) -> np.ndarray:
    """Every component's covariance as a (K, d, d) array, from the model registry."""
    K, d = model.means_.shape
    return np.asarray(_form(model).dense(model.covariances_, K, d))


def _choose_features(
    model: Any, features: Any, names: list[str], d: int
) -> tuple[np.ndarray, str]:
    """The features to draw and what the title says of them ('' for every feature)."""
    if features is None:
        if d <= MAX_GRID_FEATURES:
            return np.arange(d), ""
        chosen = separating_features(model)
        listed = ", ".join(names[i] for i in chosen)
        warnings.warn(
            f"X has {d} features: drawing the {len(chosen)} that separate the components "
            f"most ({listed}; between- over within-component variance). Pass features= "
            "(gaussmix plot --features) to choose others.",
            UserWarning,
            stacklevel=3,
        )
        return chosen, f"\nthe {len(chosen)} most separating of {d} features"
    wanted = [features] if isinstance(features, (str, int, np.integer)) else list(features)
    chosen_list = []
    for f in wanted:
        if isinstance(f, str):
            if f not in names:
                raise ValueError(
                    f"features: {f!r} is not a feature name; the names are "
                    f"{', '.join(names[:20])}{', ...' if d > 20 else ''}."
                )
            chosen_list.append(names.index(f))
        elif isinstance(f, (int, np.integer)) and not isinstance(f, bool) and 0 <= f < d:
            chosen_list.append(int(f))
        else:
            raise ValueError(
                f"features: {f!r} is neither a feature name nor an index from 0 to {d - 1}."
            )
    if not chosen_list or len(set(chosen_list)) != len(chosen_list):
        raise ValueError(f"features must name at least one feature, each once; got {features!r}.")
    chosen = np.asarray(chosen_list)
    return chosen, ("" if len(chosen) == d else f"\n{len(chosen)} of {d} features")


def _ellipse(mean: np.ndarray, cov: np.ndarray, n_sigma: float, **kwargs: Any) -> Any:
    """The ``n_sigma`` contour of a 2-D Gaussian (Mahalanobis distance ``n_sigma``)."""
    from matplotlib.patches import Ellipse

    values, vectors = np.linalg.eigh(cov)
    values = np.clip(values, 0.0, None)
    angle = float(np.degrees(np.arctan2(vectors[1, 1], vectors[0, 1])))
    width, height = 2.0 * n_sigma * np.sqrt(values[::-1])
    return Ellipse(
        (float(mean[0]), float(mean[1])), float(width), float(height), angle=angle, **kwargs
    )


_NOISE_COLOR = "0.35"  # noise points: grey crosses


def _noise_side(model: Any, feature: int) -> tuple[float, float, float] | None:
    """The noise component's weight and its box's side along ``feature``, or None.

    The noise's marginal along a feature is uniform over that side when the box
    lies along the data's axes; a box along principal axes has no uniform
    marginal, and is not drawn in 1-D (None, as for a model without noise).
    """
    if "noise_weight_" not in model.__dict__:
        return None
    axes = np.asarray(model.noise_axes_)
    if not np.array_equal(axes, np.eye(axes.shape[0])):
        return None
    low, high = model.noise_box_[:, feature]
    return float(model.noise_weight_), float(low), float(high)


_OFF_ALPHA = 0.3
"""Opacity of a switched-off component (a variational mixture's unused ones)."""


def _component_label(k: int, weight: float, off: bool) -> str:
    return f"component {k} ({weight:.0%}{', off' if off else ''})"


def _limits(x: np.ndarray, pad: float = 0.05) -> tuple[float, float]:
    low, high = float(np.min(x)), float(np.max(x))
    span = high - low if high > low else max(abs(high), 1.0)
    return low - pad * span, high + pad * span


def _draw_1d(
    ax: Axes,
    weights: np.ndarray,
    means: np.ndarray,
    variances: np.ndarray,
    x: np.ndarray,
    colors: list[Any],
    bins: Any,
    legend: bool,
    noise_side: tuple[float, float, float] | None = None,
    off: np.ndarray | None = None,
) -> None:
    """Histogram of ``x`` (n,) and each component's density (``means``, ``variances``: (K,)).

    ``noise_side``: a noise component's weight and its box's side along ``x``
    (:func:`_noise_side`), drawn as its uniform weighted density. Components
    marked ``off`` (K,) are drawn faded and dashed.
    """
    off = np.zeros(len(weights), dtype=bool) if off is None else off
    from scipy.stats import norm

    ax.hist(x, bins=bins, density=True, color="0.82", edgecolor="white", label="data")
    low, high = _limits(x)
    grid = np.linspace(low, high, 400)
    total = np.zeros_like(grid)
    for k, weight in enumerate(weights):
        density = weight * norm.pdf(grid, means[k], np.sqrt(variances[k]))
        total += density
        ax.fill_between(grid, density, color=colors[k], alpha=0.05 if off[k] else 0.25, lw=0)
        ax.plot(
            grid,
            density,
            color=colors[k],
            lw=1.0 if off[k] else 2.0,
            ls="--" if off[k] else "-",
            alpha=_OFF_ALPHA if off[k] else 1.0,
            label=_component_label(k, weight, off[k]),
        )
    if noise_side is not None:
        share, side_low, side_high = noise_side
        inside = (grid >= side_low) & (grid <= side_high)
        noise = np.where(inside, share / (side_high - side_low), 0.0)
        total += noise
        ax.plot(grid, noise, color=_NOISE_COLOR, lw=1.5, ls=":", label=f"noise ({share:.0%})")
    ax.plot(grid, total, color="black", lw=1.3, ls="--", label="mixture")
    ax.set_xlim(low, high)
    ax.set_ylim(bottom=0)
    if legend:
        ax.legend(frameon=False, fontsize="small")


def _draw_2d(
    ax: Axes,
    weights: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    X: np.ndarray,
    labels: np.ndarray,
    colors: list[Any],
    sigmas: tuple[float, ...],
    shown: np.ndarray,
    point_size: float,
    legend: bool,
    noise_weight: float | None = None,
    off: np.ndarray | None = None,
) -> None:
    """Rows of ``X`` (n, 2) coloured by ``labels``, and each component's ellipses.

    ``means`` (K, 2) and ``covariances`` (K, 2, 2) are the components' over the two
    features drawn. Rows labelled -1 (a noise component's, of weight
    ``noise_weight``) are grey crosses. Components marked ``off`` (K,) are drawn
    faded and dashed, with their smallest ellipse only.
    """
    from matplotlib.colors import to_rgb

    off = np.zeros(len(weights), dtype=bool) if off is None else off
    placed = shown[labels[shown] >= 0]
    ax.scatter(
        X[placed, 0],
        X[placed, 1],
        c=[colors[int(c)] for c in labels[placed]],
        s=point_size,
        alpha=0.65,
        linewidths=0,
        zorder=2,
    )
    noisy = shown[labels[shown] < 0]  # rows the noise component explains best
    if noisy.size:
        ax.scatter(
            X[noisy, 0],
            X[noisy, 1],
            marker="x",
            c=_NOISE_COLOR,
            s=point_size,
            linewidths=1.0,
            alpha=0.8,
            zorder=2,
            gid="noise",
        )
    for k in range(len(weights)):
        # A switched-off component (the prior's shape, often many alike): one contour.
        for n, sigma in enumerate(sorted(sigmas)[: 1 if off[k] else None]):
            patch = _ellipse(
                means[k],
                covariances[k],
                sigma,
                fill=False,
                edgecolor=colors[k],
                lw=(1.8 - 0.4 * n) * (0.6 if off[k] else 1.0),
                ls="--" if off[k] else "-",
                alpha=(1.0 - 0.25 * n) * (_OFF_ALPHA if off[k] else 1.0),
                zorder=3,
            )
            patch.set_gid(f"component-{k}-sigma-{sigma:g}")
            ax.add_patch(patch)
    ax.scatter(
        means[:, 0],
        means[:, 1],
        marker="X",
        s=np.where(off, 50, 110),
        c=[(*to_rgb(colors[k]), _OFF_ALPHA if off[k] else 1.0) for k in range(len(weights))],
        edgecolors=[(0.0, 0.0, 0.0, _OFF_ALPHA if o else 1.0) for o in off],
        linewidths=1.2,
        zorder=4,
        gid="means",
    )
    ax.set_xlim(*_limits(X[:, 0]))
    ax.set_ylim(*_limits(X[:, 1]))
    if legend:
        from matplotlib.lines import Line2D

        handles = [
            Line2D(
                [],
                [],
                marker="o",
                ls="",
                color=colors[k],
                alpha=_OFF_ALPHA if off[k] else 1.0,
                label=_component_label(k, weights[k], off[k]),
            )
            for k in range(len(weights))
        ]
        if noise_weight is not None:
            label = f"noise ({noise_weight:.0%})"
            handles.append(Line2D([], [], marker="x", ls="", color=_NOISE_COLOR, label=label))
        handles.append(
            Line2D([], [], marker="X", ls="", color="white", mec="black", ms=9, label="means")
        )
        ax.legend(handles=handles, frameon=False, fontsize="small", loc="best")


def plot_mixture(
    model: GaussianMixture,
    X: Any,
    *,
    ax: Any = None,
    sigmas: tuple[float, ...] = (1, 2, 3),
    bins: Any = "auto",
    max_points: int = 5000,
    random_state: int = 0,
    feature_names: Any = None,
    features: Any = None,
) -> Any:
    """Draw a fitted mixture over its data.

    - 1 feature: a histogram of X with each component's weighted density and
      the mixture's total density.
    - 2 features: the rows coloured by their most probable component, each
      component's 1-, 2- and 3-σ ellipses (``sigmas``) and the means.
    - more features: a pair grid, with the 2-feature plot of every pair off the
      diagonal and the 1-feature plot of every feature on it. Of more than
      ``MAX_GRID_FEATURES`` (5) features, the grid shows the most separating
      ones (:func:`separating_features`), says so in its title and warns,
      unless ``features`` names the features to draw.

    Parameters
    ----------
    model : GaussianMixture or BayesianGaussianMixture
        A fitted model. Switched-off components (a variational mixture's
        components that hold less than one row's weight, or components of weight
        0) are drawn faded and dashed, and marked "off" in the legend.
    X : array-like of shape (n_samples, n_features)
        Column names of a DataFrame (or the model's ``feature_names_in_``) label
        the axes.
    ax : matplotlib Axes, optional
        For 1 or 2 features drawn: the axes to draw into. For more: a Figure, or
        an (m, m) array of Axes for m features drawn.
    sigmas : tuple of float, default=(1, 2, 3)
        Mahalanobis radii of the ellipses.
    bins : int, sequence or str, default='auto'
        Histogram bins (see ``numpy.histogram``).
    max_points : int, default=5000
        At most this many rows are drawn as points (a random subset; every row
        still counts in the histograms).
    random_state : int, default=0
        Seed of that subset.
    feature_names : sequence of str, optional
        Axis labels; by default X's column names, else the model's
        ``feature_names_in_``, else x0, x1, ...
    features : sequence of int or str, optional
        The features to draw, by index or name, in this order (the rows are
        still coloured by the model's prediction from every feature).

    Returns
    -------
    matplotlib.axes.Axes for 1 or 2 features drawn, matplotlib.figure.Figure for more.
    """
    plt = _pyplot()
    check_is_fitted(model)
    data = check_array(X, dtype=np.float64)
    n, d = data.shape
    if d != model.means_.shape[1]:
        raise ValueError(
            f"X has {d} features, but the model was fitted with {model.means_.shape[1]}."
        )
    names = [str(n) for n in feature_names] if feature_names is not None else None
    if names is not None and len(names) != d:
        raise ValueError(f"feature_names has {len(names)} names for {d} features.")
    names = names or _feature_names(model, X, d)
    chosen, which = _choose_features(model, features, names, d)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*feature names", category=UserWarning)
        labels = np.asarray(model.predict(data))
    # The components' marginals over the features drawn (a noise component's are
    # the sides of its box, see _noise_side).
    weights = np.asarray(model.weights_, dtype=np.float64)
    means = np.asarray(model.means_)[:, chosen]
    covariances = _dense_covariances(model)[:, chosen][:, :, chosen]  # (K, m, m)
    noise_weight = model.__dict__.get("noise_weight_")
    off = np.asarray(model._switched_off())
    drawn = data[:, chosen]
    names = [names[i] for i in chosen]
    m = len(chosen)
    colors = _colors(model.n_components)
    in_use = "" if not off.any() else f" ({int(np.sum(~off))} in use)"
    title = (
        f"{'Variational ' if hasattr(model, 'weight_concentration_') else ''}Gaussian "
        f"mixture: K = {model.n_components}{in_use}, {model.covariance_type} covariance{which}"
    )
    rng = np.random.default_rng(random_state)
    shown = np.sort(rng.choice(n, max_points, replace=False)) if n > max_points else np.arange(n)
    point_size = float(np.clip(3000 / max(len(shown), 1), 4, 30))

    def one(a: Any, i: int, legend: bool) -> None:
        _draw_1d(
            a,
            weights,
            means[:, i],
            covariances[:, i, i],
            drawn[:, i],
            colors,
            bins,
            legend,
            _noise_side(model, int(chosen[i])),
            off,
        )

    def pair(a: Any, i: int, j: int, size: float, legend: bool) -> None:
        idx = [i, j]
        block = covariances[:, idx][:, :, idx]
        _draw_2d(
            a,
            weights,
            means[:, idx],
            block,
            drawn[:, idx],
            labels,
            colors,
            sigmas,
            shown,
            size,
            legend,
            noise_weight,
            off,
        )

    if m == 1:
        ax = ax if ax is not None else plt.subplots(figsize=(7, 4.5), layout="constrained")[1]
        one(ax, 0, legend=True)
        ax.set_xlabel(names[0])
        ax.set_ylabel("density")
        ax.set_title(title)
        return ax
    if m == 2:
        ax = ax if ax is not None else plt.subplots(figsize=(7, 5.5), layout="constrained")[1]
        pair(ax, 0, 1, point_size, legend=True)
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])
        ax.set_title(title)
        return ax

    if ax is None:
        size = min(2.6 * m, 20)
        fig, axes = plt.subplots(m, m, figsize=(size, size), layout="constrained", squeeze=False)
    elif isinstance(ax, np.ndarray):
        axes = ax
        if axes.shape != (m, m):
            raise ValueError(f"ax must be a ({m}, {m}) array of Axes; got shape {axes.shape}.")
        fig = axes[0, 0].figure
    elif hasattr(ax, "add_subplot") and hasattr(ax, "savefig"):
        fig = ax
        axes = np.asarray(fig.subplots(m, m, squeeze=False))
    else:
        raise TypeError(f"For {m} features, ax must be a Figure or a ({m}, {m}) array of Axes.")
    small_points = max(point_size / 2, 2.0)
    for row in range(m):
        for col in range(m):
            a = axes[row, col]
            if row == col:
                one(a, row, legend=False)
                a.set_yticks([])
            else:
                pair(a, col, row, small_points, legend=False)
            a.set_xlabel(names[col] if row == m - 1 else "")
            a.set_ylabel(names[row] if col == 0 and row != col else "")
            if row != m - 1:
                a.tick_params(labelbottom=False)
    from matplotlib.lines import Line2D

    handles = [
        Line2D(
            [],
            [],
            marker="o",
            ls="",
            color=colors[k],
            alpha=_OFF_ALPHA if off[k] else 1.0,
            label=f"component {k}{' (off)' if off[k] else ''}",
        )
        for k in range(model.n_components)
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(model.n_components, 8))
    fig.suptitle(title)
    return fig


# -- model selection ------------------------------------------------------------------
def plot_selection(
    result: SelectionResult, *, ax: Any = None, criterion: str | None = None
) -> Axes:
    """Criterion against the number of components, one line per covariance type.

    Drawn as mclust's BIC plot (``plot.mclustBIC``): one line per model over K,
    each model in mclust's colour and plotting symbol (scikit-learn's four in
    those of their mclust names: full = VVV, tied = EEE, diag = VVI,
    spherical = VII), the legend naming the types as the selection did (mclust's
    names for ``covariance_types="mclust"``). The sign is gaussmix's: **lower is
    better** (mclust plots the negated values, higher is better). The winner is
    circled and labelled; failed candidates leave gaps.

    Parameters
    ----------
    result : SelectionResult
        From :func:`gaussmix.select`.
    ax : matplotlib Axes, optional
    criterion : {'bic', 'aic', 'icl'}, optional
        Defaults to the one the selection used.

    Returns
    -------
    matplotlib.axes.Axes
    """
    plt = _pyplot()
    criterion = criterion or result.criterion
    if criterion not in ("bic", "aic", "icl"):
        raise ValueError(f"Invalid criterion {criterion!r}. Choose one of 'bic', 'aic', 'icl'.")
    if ax is None:
        ax = plt.subplots(figsize=(7, 4.5), layout="constrained")[1]
    from ._core.covariance import get_covariance

    records = result.records
    types = list(dict.fromkeys(r["covariance_type"] for r in records))
    for covariance_type in types:
        rows = sorted(
            (r for r in records if r["covariance_type"] == covariance_type),
            key=lambda r: r["n_components"],
        )
        color, marker, filled = _MCLUST_STYLE[get_covariance(covariance_type).mclust_name]
        ax.plot(
            [r["n_components"] for r in rows],
            [r[criterion] for r in rows],
            marker=marker,
            color=color,
            mfc=color if filled else "white",
            lw=1.3,
            ms=7,
            label=covariance_type,
        )
    scores = [(r[criterion], i) for i, r in enumerate(records) if np.isfinite(r[criterion])]
    if scores:
        value, index = min(scores)
        best = records[index]
        k, covariance_type = best["n_components"], best["covariance_type"]
        ax.scatter(
            [k], [value], s=260, facecolors="none", edgecolors="black", lw=2, zorder=5, gid="best"
        )
        right_end = k == max(r["n_components"] for r in records) and len(records) > 1
        ax.annotate(
            f"best: K = {k}, {covariance_type}",
            (k, value),
            xytext=(-28 if right_end else 28, 42),
            textcoords="offset points",
            ha="right" if right_end else "left",
            fontsize="small",
            bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": "0.6"},
            arrowprops={"arrowstyle": "-", "color": "0.4", "shrinkB": 9},
        )
        finite = np.array([s for s, _ in scores])
        low, high = float(finite.min()), float(finite.max())
        span = high - low if high > low else 1.0
        ax.set_ylim(low - 0.08 * span, high + 0.05 * span)
    all_ks = sorted({r["n_components"] for r in records})
    ax.set_xticks(all_ks)
    ax.set_xlabel("number of components K")
    ax.set_ylabel(f"{criterion.upper()} (lower is better)")
    ax.set_title(f"Model selection by {criterion.upper()}")
    ax.grid(True, alpha=0.3)
    ax.legend(
        title="covariance",
        frameon=False,
        fontsize="small",
        ncol=2 if len(types) > 7 else 1,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
    )
    return ax


# -- convergence ------------------------------------------------------------------------
def plot_convergence(model: GaussianMixture, *, ax: Any = None) -> Axes:
    """The EM lower bound (mean log-likelihood per row) at each iteration.

    Parameters
    ----------
    model : GaussianMixture
        A fitted model (its ``lower_bounds_``).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    plt = _pyplot()
    check_is_fitted(model)
    bounds = list(model.lower_bounds_)
    if not bounds:
        raise ValueError("The model recorded no EM iteration (max_iter=0): nothing to plot.")
    if ax is None:
        ax = plt.subplots(figsize=(6, 4), layout="constrained")[1]
    iterations = np.arange(1, len(bounds) + 1)
    ax.plot(iterations, bounds, marker="o" if len(bounds) <= 60 else None, ms=4, lw=1.5)
    ax.set_xlabel("iteration")
    ax.set_ylabel("lower bound (mean log-likelihood)")
    state = "converged" if model.converged_ else "did not converge"
    ax.set_title(f"EM {state} after {model.n_iter_} iterations")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(True, alpha=0.3)
    return ax
