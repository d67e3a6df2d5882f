"""gaussmix.plot: figures rendered with Agg, checked by their content."""

from __future__ import annotations

import io
import subprocess
import sys
import warnings

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.patches import Ellipse, Rectangle  # noqa: E402

from _support import assert_close  # noqa: E402
from gaussmix import BayesianGaussianMixture, GaussianMixture, select  # noqa: E402
from gaussmix.datasets import load_old_faithful  # noqa: E402
from gaussmix.plot import (  # noqa: E402
    MAX_GRID_FEATURES,
    plot_convergence,
    plot_mixture,
    plot_selection,
    separating_features,
)

TYPES = ("full", "tied", "diag", "spherical")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def faithful() -> np.ndarray:
    return load_old_faithful()[0]


@pytest.fixture(scope="module")
def models(faithful):
    return {t: GaussianMixture(2, covariance_type=t, random_state=0).fit(faithful) for t in TYPES}


def _render(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=40)
    data = buffer.getvalue()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return data


def _ellipses(ax) -> list[Ellipse]:
    return [p for p in ax.patches if isinstance(p, Ellipse)]


def _ellipse_covariance(e: Ellipse, n_sigma: float) -> np.ndarray:
    """The covariance whose n_sigma contour the ellipse draws."""
    theta = np.radians(e.angle)
    rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    axes = np.diag([(e.width / 2 / n_sigma) ** 2, (e.height / 2 / n_sigma) ** 2])
    return rotation @ axes @ rotation.T


def _cov2(model, k) -> np.ndarray:
    c = model.covariances_
    return {
        "full": lambda: c[k],
        "tied": lambda: c,
        "diag": lambda: np.diag(c[k]),
        "spherical": lambda: np.eye(2) * c[k],
    }[model.covariance_type]()


# -- plot_mixture ----------------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", TYPES)
def test_two_features_points_ellipses_and_means(models, faithful, covariance_type):
    model = models[covariance_type]
    ax = plot_mixture(model, faithful)
    _render(ax.figure)
    ellipses = _ellipses(ax)
    assert len(ellipses) == 2 * 3
    assert sorted(e.get_gid() for e in ellipses) == sorted(
        f"component-{k}-sigma-{s}" for k in range(2) for s in (1, 2, 3)
    )
    for e in ellipses:
        k, sigma = int(e.get_gid().split("-")[1]), float(e.get_gid().split("-")[3])
        assert_close(e.center, model.means_[k])
        np.testing.assert_allclose(_ellipse_covariance(e, sigma), _cov2(model, k), atol=1e-9)
        assert not e.get_fill()
    points, means = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(points.get_offsets()) == 272
    assert_close(points.get_offsets(), faithful)
    # Points are coloured by their component: one colour per predicted label.
    labels = model.predict(faithful)
    colours = points.get_facecolors()[:, :3]
    for k in range(2):
        assert len(np.unique(colours[labels == k], axis=0)) == 1
    assert not np.allclose(colours[labels == 0][0], colours[labels == 1][0])
    assert means.get_gid() == "means"
    assert_close(means.get_offsets(), model.means_)
    low, high = ax.get_xlim()
    assert low < faithful[:, 0].min() and high > faithful[:, 0].max()
    low, high = ax.get_ylim()
    assert low < faithful[:, 1].min() and high > faithful[:, 1].max()
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x0", "x1")
    assert f"{covariance_type} covariance" in ax.get_title()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[-1] == "means" and legend[0].startswith("component 0 (")


def test_column_names_label_the_axes(models, faithful):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(faithful, columns=["eruptions", "waiting"])
    ax = plot_mixture(models["full"], frame)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("eruptions", "waiting")
    named = GaussianMixture(2, random_state=0).fit(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no feature-name warning for a plain array
        ax = plot_mixture(named, faithful)
    assert ax.get_xlabel() == "eruptions"
    ax = plot_mixture(models["full"], faithful, feature_names=["a", "b"])
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("a", "b")
    with pytest.raises(ValueError, match="feature_names has 1 names for 2 features"):
        plot_mixture(models["full"], faithful, feature_names=["a"])


def test_custom_sigmas_and_given_axes(models, faithful):
    fig, axes = plt.subplots(1, 2)
    ax = plot_mixture(models["diag"], faithful, ax=axes[1], sigmas=(1.5,))
    assert ax is axes[1]
    assert len(_ellipses(axes[1])) == 2 and not _ellipses(axes[0])
    _render(fig)


def test_many_points_are_subsampled(models):
    X, _ = models["full"].sample(6000)
    ax = plot_mixture(models["full"], X, max_points=1000)
    points = ax.collections[0]
    assert len(points.get_offsets()) == 1000


def test_one_feature_histogram_and_densities(faithful):
    x = faithful[:, :1]
    model = GaussianMixture(2, random_state=0).fit(x)
    ax = plot_mixture(model, x, bins=20)
    _render(ax.figure)
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(bars) == 20
    heights = np.array([b.get_height() for b in bars])
    widths = np.array([b.get_width() for b in bars])
    assert np.sum(heights * widths) == pytest.approx(1.0)  # a density histogram
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert len(lines) == 3 and "mixture" in lines
    assert sorted(lines)[:2] == [f"component {k} ({w:.0%})" for k, w in enumerate(model.weights_)]
    components = [line for label, line in lines.items() if label.startswith("component")]
    total = lines["mixture"].get_ydata()
    assert_close(sum(c.get_ydata() for c in components), total)
    grid = lines["mixture"].get_xdata()
    expected = np.exp(model.score_samples(grid[:, None]))
    assert_close(total, expected, rtol=1e-10)
    for c, w in zip(components, model.weights_, strict=True):
        assert c.get_ydata().max() <= w / np.sqrt(2 * np.pi * model.covariances_.min()) + 1e-12
    assert ax.get_ylim()[0] == 0 and ax.get_ylabel() == "density" and ax.get_xlabel() == "x0"
    assert ax.get_xlim()[0] < x.min() and ax.get_xlim()[1] > x.max()


def test_pair_grid_for_more_features():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (150, 3)), rng.normal(4, 1, (150, 3))])
    model = GaussianMixture(2, covariance_type="tied", random_state=0).fit(X)
    fig = plot_mixture(model, X)
    _render(fig)
    axes = np.array(fig.axes).reshape(3, 3)
    for i in range(3):
        for j in range(3):
            ax = axes[i, j]
            if i == j:
                assert len(ax.get_lines()) == 3 and not _ellipses(ax)
            else:
                assert len(_ellipses(ax)) == 6
                assert_close(ax.collections[0].get_offsets(), X[:, [j, i]])
    assert [axes[2, j].get_xlabel() for j in range(3)] == ["x0", "x1", "x2"]
    assert [axes[i, 0].get_ylabel() for i in range(1, 3)] == ["x1", "x2"]
    assert "K = 2" in fig.get_suptitle()
    # Into a given figure, or a given (d, d) array of axes.
    given = plt.figure()
    assert plot_mixture(model, X, ax=given) is given and len(given.axes) == 9
    fig2, grid = plt.subplots(3, 3)
    assert plot_mixture(model, X, ax=grid) is fig2
    with pytest.raises(ValueError, match=r"\(3, 3\) array"):
        plot_mixture(model, X, ax=grid[:2])
    with pytest.raises(TypeError, match="Figure"):
        plot_mixture(model, X, ax="nope")


# -- wide data ------------------------------------------------------------------------
def _wide(covariance_type: str, d: int = 12, separating: tuple[int, ...] = (7, 2, 9)):
    """Two clusters in d features that differ only on ``separating``, most on the first."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, d))
    for rank, j in enumerate(separating):
        X[200:, j] += 8.0 - 2.0 * rank
    return X, GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_separating_features_rank_by_between_over_within_variance(covariance_type):
    _, model = _wide(covariance_type)
    chosen = separating_features(model, 3)
    np.testing.assert_array_equal(chosen, [7, 2, 9])
    # The score written out: variance of the means over the mean within-component variance.
    w, mu = model.weights_, model.means_
    within = w @ np.diagonal(_dense_all(model), axis1=1, axis2=2)
    score = (w @ (mu - w @ mu) ** 2) / within
    np.testing.assert_array_equal(separating_features(model, 12), np.argsort(-score))
    assert len(separating_features(model)) == MAX_GRID_FEATURES
    assert len(separating_features(model, 100)) == 12


@pytest.mark.parametrize("covariance_type", TYPES)
def test_wide_data_draws_the_most_separating_features_and_says_so(covariance_type):
    X, model = _wide(covariance_type)
    with pytest.warns(UserWarning, match=r"X has 12 features: drawing the 5 that separate") as w:
        fig = plot_mixture(model, X)
    assert "(x7, x2, x9, " in str(w[0].message) and "features=" in str(w[0].message)
    _render(fig)
    m = MAX_GRID_FEATURES
    assert len(fig.axes) == m * m
    axes = np.array(fig.axes).reshape(m, m)
    chosen = separating_features(model)
    assert [axes[m - 1, j].get_xlabel() for j in range(m)] == [f"x{i}" for i in chosen]
    assert "the 5 most separating of 12 features" in fig.get_suptitle()
    # Each panel is the model's marginal over its two features: the ellipses'
    # covariances are the blocks of the dense covariances.
    dense = np.array([np.atleast_2d(c) for c in _dense_all(model)])
    e = next(e for e in _ellipses(axes[1, 0]) if e.get_gid() == "component-0-sigma-1")
    i, j = chosen[0], chosen[1]
    np.testing.assert_allclose(
        _ellipse_covariance(e, 1.0), dense[0][np.ix_([i, j], [i, j])], rtol=1e-9, atol=1e-12
    )
    assert_close(axes[1, 0].collections[0].get_offsets(), X[:, [i, j]])


def _dense_all(model) -> np.ndarray:
    """(K, d, d) covariances, written out per covariance type for the test's own check."""
    K, d = model.means_.shape
    c = model.covariances_
    return {
        "full": lambda: c,
        "tied": lambda: np.broadcast_to(c, (K, d, d)),
        "diag": lambda: np.array([np.diag(v) for v in c]),
        "spherical": lambda: np.array([np.eye(d) * v for v in c]),
    }[model.covariance_type]()


def test_features_chooses_what_to_draw():
    X, model = _wide("diag")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an explicit choice warns of nothing
        ax = plot_mixture(model, X, features=[9, 2])
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("x9", "x2")
        assert "2 of 12 features" in ax.get_title()
        ax = plot_mixture(model, X, features=["x4"], feature_names=[f"x{i}" for i in range(12)])
        assert ax.get_xlabel() == "x4" and ax.get_ylabel() == "density"
        fig = plot_mixture(model, X, features=range(7))  # more than the default, if asked
        assert len(fig.axes) == 49
    for bad, match in [
        ([], "at least one feature"),
        ([1, 1], "each once"),
        ([12], "from 0 to 11"),
        (["nope"], "'nope' is not a feature name"),
        ([True], "neither a feature name nor an index"),
    ]:
        with pytest.raises(ValueError, match=match):
            plot_mixture(model, X, features=bad)


def test_features_in_another_order(models, faithful):
    ax = plot_mixture(models["full"], faithful, features=[1, 0])
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x1", "x0")
    assert_close(ax.collections[0].get_offsets(), faithful[:, ::-1])
    e = next(e for e in _ellipses(ax) if e.get_gid() == "component-1-sigma-2")
    expected = models["full"].covariances_[1][::-1, ::-1]
    assert_close(_ellipse_covariance(e, 2.0), expected, rtol=1e-9)


def test_narrow_data_draws_every_feature_without_a_warning(models, faithful):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ax = plot_mixture(models["full"], faithful)
    assert "features" not in ax.get_title()


def test_bad_input(models, faithful):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(ValueError, match="3 features"):
        plot_mixture(models["full"], np.ones((5, 3)))
    with pytest.raises(NotFittedError):
        plot_mixture(GaussianMixture(), faithful)


# -- plot_selection ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def result(faithful):
    return select(faithful, range(1, 5), random_state=0)


def test_selection_plot(result):
    ax = plot_selection(result)
    _render(ax.figure)
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines) == list(TYPES)
    for covariance_type, line in lines.items():
        rows = [r for r in result.records if r["covariance_type"] == covariance_type]
        np.testing.assert_array_equal(line.get_xdata(), [r["n_components"] for r in rows])
        np.testing.assert_array_equal(line.get_ydata(), [r["bic"] for r in rows])
    best = next(c for c in ax.collections if c.get_gid() == "best")
    assert_close(best.get_offsets(), [[2, result.best_score_]])
    assert [t.get_text() for t in ax.texts] == ["best: K = 2, full"]
    assert ax.get_ylabel() == "BIC (lower is better)"
    assert ax.get_xlabel() == "number of components K"
    assert list(ax.get_xticks()) == [1, 2, 3, 4]
    low, high = ax.get_ylim()
    bics = [r["bic"] for r in result.records]
    assert low < min(bics) and high > max(bics)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(TYPES)


def test_selection_plot_other_criterion_and_axes(result):
    _, ax = plt.subplots()
    assert plot_selection(result, ax=ax, criterion="icl") is ax
    assert ax.get_ylabel() == "ICL (lower is better)"
    full = next(line for line in ax.get_lines() if line.get_label() == "full")
    np.testing.assert_array_equal(full.get_ydata(), [r["icl"] for r in result.records[:4]])
    with pytest.raises(ValueError, match="criterion"):
        plot_selection(result, criterion="mdl")


def test_selection_plot_leaves_gaps_for_failures():
    X = np.array([[0.0, 1.0], [1.0, 0.5], [2.0, 2.5], [3.0, 1.0]])
    result = select(X, [1, 2, 5], "diag", random_state=0)
    ax = plot_selection(result)
    (line,) = ax.get_lines()
    assert np.isnan(line.get_ydata()[2]) and np.isfinite(line.get_ydata()[:2]).all()
    _render(ax.figure)


# -- plot_convergence -------------------------------------------------------------------
def test_convergence_plot(models):
    model = models["full"]
    ax = plot_convergence(model)
    _render(ax.figure)
    (line,) = ax.get_lines()
    np.testing.assert_array_equal(line.get_ydata(), model.lower_bounds_)
    np.testing.assert_array_equal(line.get_xdata(), np.arange(1, model.n_iter_ + 1))
    assert ax.get_xlabel() == "iteration"
    assert ax.get_ylabel() == "lower bound (mean log-likelihood)"
    assert ax.get_title() == f"EM converged after {model.n_iter_} iterations"
    _, given = plt.subplots()
    assert plot_convergence(model, ax=given) is given


def test_convergence_plot_needs_iterations(faithful):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = GaussianMixture(2, max_iter=0).fit(faithful)
    with pytest.raises(ValueError, match="no EM iteration"):
        plot_convergence(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = GaussianMixture(3, max_iter=2, tol=0, random_state=0).fit(faithful)
    assert plot_convergence(model).get_title() == "EM did not converge after 2 iterations"


# -- imports -------------------------------------------------------------------------------
def test_missing_matplotlib_is_a_clear_error(models, faithful, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r'pip install "gaussmix\[plot\]"'):
        plot_mixture(models["full"], faithful)


def test_import_gaussmix_stays_light():
    code = (
        "import sys, gaussmix; "
        "heavy = [m for m in ('matplotlib', 'typer', 'rich', 'click') "
        "if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_selection_plot_draws_mclusts_styles(faithful):
    from matplotlib.colors import to_hex

    from gaussmix._core.covariance import MCLUST_NAMES

    result = select(faithful, range(1, 4), "mclust")
    ax = plot_selection(result)
    _render(ax.figure)
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines) == list(MCLUST_NAMES)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(MCLUST_NAMES)
    # mclust.options("bicPlotColors") and its filled or open symbols.
    assert to_hex(lines["VVV"].get_color()) == "#cc0000"
    assert to_hex(lines["EEE"].get_color()) == "#597dc3"
    assert to_hex(lines["EEE"].get_markerfacecolor()) == "#597dc3"  # filled square, pch 15
    assert to_hex(lines["VVV"].get_markerfacecolor()) == "#ffffff"  # open square, pch 0
    assert [t.get_text() for t in ax.texts] == ["best: K = 3, EEE"]
    # scikit-learn's names draw in the styles of their mclust names.
    ax = plot_selection(select(faithful, [1, 2], ["full", "tied"], random_state=0))
    colors = [to_hex(line.get_color()) for line in ax.get_lines()]
    assert colors == ["#cc0000", "#597dc3"]


@pytest.mark.parametrize("covariance_type", TYPES)
def test_switched_off_components_are_faded(faithful, covariance_type):
    faithful = (faithful - faithful.mean(axis=0)) / faithful.std(axis=0)
    model = BayesianGaussianMixture(
        n_components=5, covariance_type=covariance_type, random_state=0, max_iter=300
    ).fit(faithful)
    off = model._switched_off()
    assert off.any() and not off.all()
    assert np.all(model.weights_[off] < model.weights_[~off].min())
    ax = plot_mixture(model, faithful)
    assert f"K = 5 ({int((~off).sum())} in use)" in ax.get_title()
    assert ax.get_title().startswith("Variational")
    for e in _ellipses(ax):
        k = int(e.get_gid().split("-")[1])
        assert (e.get_linestyle() == "--") == off[k]
        assert (e.get_alpha() <= 0.3) or not off[k]
    drawn = {int(e.get_gid().split("-")[1]) for e in _ellipses(ax)}
    assert drawn == set(range(5))  # every component, the switched-off ones once
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert sum("off)" in t for t in labels) == off.sum()
    one = plot_mixture(model, faithful, features=[1])
    dashed = [line for line in one.get_lines() if line.get_linestyle() == "--"]
    assert len(dashed) == off.sum() + 1  # the off components and the mixture's total
    _render(one.figure)
