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

__all__ = ["plot_convergence", "plot_mixture", "plot_selection"]

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


def _dense(model: Any, k: int) -> np.ndarray:
    """Component ``k``'s covariance as a (d, d) matrix, from the model registry."""
    from ._core.covariance import get_covariance

    K, d = model.means_.shape
    form = get_covariance(model.covariance_type).form
    return form.dense(model.covariances_, K, d)[k]


def _variance(model: Any, k: int, i: int) -> float:
    return float(_dense(model, k)[i, i])


def _covariance_2d(model: Any, k: int, i: int, j: int) -> np.ndarray:
    """The (2, 2) covariance of component ``k`` over features ``i`` (x) and ``j`` (y)."""
    return _dense(model, k)[np.ix_([i, j], [i, j])]


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


def _limits(x: np.ndarray, pad: float = 0.05) -> tuple[float, float]:
    low, high = float(np.min(x)), float(np.max(x))
    span = high - low if high > low else max(abs(high), 1.0)
    return low - pad * span, high + pad * span


def _draw_1d(
    ax: Axes, model: Any, x: np.ndarray, i: int, colors: list[Any], bins: Any, legend: bool
) -> None:
    from scipy.stats import norm

    ax.hist(x, bins=bins, density=True, color="0.82", edgecolor="white", label="data")
    low, high = _limits(x)
    grid = np.linspace(low, high, 400)
    total = np.zeros_like(grid)
    for k in range(model.n_components):
        weight = float(model.weights_[k])
        density = weight * norm.pdf(grid, model.means_[k, i], np.sqrt(_variance(model, k, i)))
        total += density
        ax.fill_between(grid, density, color=colors[k], alpha=0.25, lw=0)
        ax.plot(grid, density, color=colors[k], lw=2.0, label=f"component {k} ({weight:.0%})")
    ax.plot(grid, total, color="black", lw=1.3, ls="--", label="mixture")
    ax.set_xlim(low, high)
    ax.set_ylim(bottom=0)
    if legend:
        ax.legend(frameon=False, fontsize="small")


def _draw_2d(
    ax: Axes,
    model: Any,
    X: np.ndarray,
    labels: np.ndarray,
    i: int,
    j: int,
    colors: list[Any],
    sigmas: tuple[float, ...],
    shown: np.ndarray,
    point_size: float,
    legend: bool,
) -> None:
    xs, ys = X[shown, i], X[shown, j]
    ax.scatter(
        xs,
        ys,
        c=[colors[int(c)] for c in labels[shown]],
        s=point_size,
        alpha=0.65,
        linewidths=0,
        zorder=2,
    )
    for k in range(model.n_components):
        mean = model.means_[k, [i, j]]
        cov = _covariance_2d(model, k, i, j)
        for n, sigma in enumerate(sorted(sigmas)):
            patch = _ellipse(
                mean,
                cov,
                sigma,
                fill=False,
                edgecolor=colors[k],
                lw=1.8 - 0.4 * n,
                alpha=1.0 - 0.25 * n,
                zorder=3,
            )
            patch.set_gid(f"component-{k}-sigma-{sigma:g}")
            ax.add_patch(patch)
    ax.scatter(
        model.means_[:, i],
        model.means_[:, j],
        marker="X",
        s=110,
        c=colors[: model.n_components],
        edgecolors="black",
        linewidths=1.2,
        zorder=4,
        gid="means",
    )
    ax.set_xlim(*_limits(X[:, i]))
    ax.set_ylim(*_limits(X[:, j]))
    if legend:
        from matplotlib.lines import Line2D

        handles = [
            Line2D(
                [],
                [],
                marker="o",
                ls="",
                color=colors[k],
                label=f"component {k} ({model.weights_[k]:.0%})",
            )
            for k in range(model.n_components)
        ]
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
) -> Any:
    """Draw a fitted mixture over its data.

    - 1 feature: a histogram of X with each component's weighted density and
      the mixture's total density.
    - 2 features: the rows coloured by their most probable component, each
      component's 1-, 2- and 3-σ ellipses (``sigmas``) and the means.
    - more features: a pair grid, with the 2-feature plot of every pair off the
      diagonal and the 1-feature plot of every feature on it.

    Parameters
    ----------
    model : GaussianMixture
        A fitted model.
    X : array-like of shape (n_samples, n_features)
        Column names of a DataFrame (or the model's ``feature_names_in_``) label
        the axes.
    ax : matplotlib Axes, optional
        For 1 or 2 features: the axes to draw into. For more: a Figure, or a
        (d, d) array of Axes.
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

    Returns
    -------
    matplotlib.axes.Axes for 1 or 2 features, matplotlib.figure.Figure for more.
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
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*feature names", category=UserWarning)
        labels = np.asarray(model.predict(data))
    colors = _colors(model.n_components)
    title = f"Gaussian mixture: K = {model.n_components}, {model.covariance_type} covariance"
    rng = np.random.default_rng(random_state)
    shown = np.sort(rng.choice(n, max_points, replace=False)) if n > max_points else np.arange(n)
    point_size = float(np.clip(3000 / max(len(shown), 1), 4, 30))

    if d == 1:
        ax = ax if ax is not None else plt.subplots(figsize=(7, 4.5), layout="constrained")[1]
        _draw_1d(ax, model, data[:, 0], 0, colors, bins, legend=True)
        ax.set_xlabel(names[0])
        ax.set_ylabel("density")
        ax.set_title(title)
        return ax
    if d == 2:
        ax = ax if ax is not None else plt.subplots(figsize=(7, 5.5), layout="constrained")[1]
        _draw_2d(ax, model, data, labels, 0, 1, colors, sigmas, shown, point_size, legend=True)
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])
        ax.set_title(title)
        return ax

    if ax is None:
        size = min(2.6 * d, 20)
        fig, axes = plt.subplots(d, d, figsize=(size, size), layout="constrained", squeeze=False)
    elif isinstance(ax, np.ndarray):
        axes = ax
        if axes.shape != (d, d):
            raise ValueError(f"ax must be a ({d}, {d}) array of Axes; got shape {axes.shape}.")
        fig = axes[0, 0].figure
    elif hasattr(ax, "add_subplot") and hasattr(ax, "savefig"):
        fig = ax
        axes = np.asarray(fig.subplots(d, d, squeeze=False))
    else:
        raise TypeError(f"For {d} features, ax must be a Figure or a ({d}, {d}) array of Axes.")
    small_points = max(point_size / 2, 2.0)
    for row in range(d):
        for col in range(d):
            a = axes[row, col]
            if row == col:
                _draw_1d(a, model, data[:, row], row, colors, bins, legend=False)
                a.set_yticks([])
            else:
                _draw_2d(
                    a, model, data, labels, col, row, colors, sigmas, shown, small_points, False
                )
            a.set_xlabel(names[col] if row == d - 1 else "")
            a.set_ylabel(names[row] if col == 0 and row != col else "")
            if row != d - 1:
                a.tick_params(labelbottom=False)
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], marker="o", ls="", color=colors[k], label=f"component {k}")
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
