"""noise=True: mclust's uniform noise component (gaussmix._core.noise), on every path."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gaussmix
from _support import assert_close, blobs, row_source
from gaussmix import GaussianMixture
from gaussmix._core import hc
from gaussmix._core.covariance import get_covariance
from gaussmix._core.estep import log_responsibilities
from gaussmix._core.noise import N_NOISE_PARAMETERS, initial_noise
from gaussmix.datasets import load_old_faithful


def _with_outliers(n_out: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Old Faithful and ``n_out`` rows uniform over its box; the outliers' mask."""
    X, _ = load_old_faithful()
    rng = np.random.RandomState(seed)
    out = rng.uniform(X.min(0), X.max(0), size=(n_out, 2))
    return np.vstack([X, out]), np.r_[np.zeros(len(X), bool), np.ones(n_out, bool)]


@pytest.fixture(scope="module")
def data():
    return _with_outliers()


@pytest.fixture(scope="module")
def fitted(data):
    X, _ = data
    return GaussianMixture(3, covariance_type="tied", init_params="hc", noise=True, tol=1e-6).fit(
        X
    )


# -- the model ---------------------------------------------------------------------------
def test_em_is_monotone_and_converges(fitted):
    assert fitted.converged_
    bounds = np.asarray(fitted.lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:]))


def test_weights_and_noise_weight_sum_to_one(fitted):
    assert 0.05 < fitted.noise_weight_ < 0.5
    assert fitted.weights_.sum() + fitted.noise_weight_ == pytest.approx(1.0, abs=1e-12)


def test_bic_counts_mclusts_two_noise_parameters(fitted, data):
    X, _ = data
    gaussians = get_covariance("tied").n_parameters(3, 2)
    assert fitted._n_parameters() == gaussians + N_NOISE_PARAMETERS == gaussians + 2
    log_likelihood = float(fitted.score_samples(X).sum())
    expected = -2.0 * log_likelihood + fitted._n_parameters() * np.log(X.shape[0])
    assert fitted.bic(X) == pytest.approx(expected, rel=1e-12)


def test_noise_is_one_more_constant_column(fitted, data):
    """log p(x) = logsumexp(log π_k N_k(x), log π₀ - log V) for every row."""
    X, _ = data
    params = fitted._params
    cov = get_covariance(fitted.covariance_type)
    plain = params._replace(noise=None)
    from gaussmix._core.estep import weighted_log_prob

    wlp = weighted_log_prob(X, plain, cov)
    column = np.log(fitted.noise_weight_) - np.log(fitted.noise_hypervolume_)
    expected = np.logaddexp(np.logaddexp.reduce(wlp, axis=1), column)
    np.testing.assert_allclose(fitted.score_samples(X), expected, rtol=1e-12, atol=1e-12)
    reference, _ = log_responsibilities(X, params, cov)  # the reference kernels agree
    np.testing.assert_allclose(reference, expected, rtol=1e-12, atol=1e-12)


def test_predict_labels_noise_minus_one(fitted, data):
    X, outliers = data
    labels = fitted.predict(X)
    proba = fitted.predict_proba(X)
    assert proba.shape == (X.shape[0], 4)  # the noise column last
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    best = proba.argmax(axis=1)
    np.testing.assert_array_equal(labels, np.where(best == 3, -1, best))
    assert np.mean(labels[outliers] == -1) > 0.6  # most scattered rows are noise
    assert np.mean(labels[~outliers] == -1) < 0.15
    np.testing.assert_array_equal(
        GaussianMixture(**fitted.get_params()).fit_predict(X), fitted.predict(X)
    )


def test_noise_stops_outliers_distorting_the_gaussians(data):
    X, outliers = data
    clean = GaussianMixture(3, covariance_type="tied", init_params="hc").fit(X[~outliers])
    kw = dict(covariance_type="tied", init_params="hc", tol=1e-6)
    with_noise = GaussianMixture(3, noise=True, **kw).fit(X)
    without = GaussianMixture(3, **kw).fit(X)

    def gap(model):
        return np.abs(np.sort(model.means_[:, 1]) - np.sort(clean.means_[:, 1])).max()

    assert gap(with_noise) < gap(without)
    assert np.trace(with_noise.covariances_) < np.trace(without.covariances_)


def test_hypervolume_is_mclusts_hypvol():
    # mclust 6.0.0: hypvol(faithful), hypvol(iris[, 1:4]), hypvol(faithful$waiting).
    from sklearn.datasets import load_iris

    faithful, _ = load_old_faithful()
    cases = [(faithful, 131.8688010035), (load_iris().data, 27.2411996222705)]
    cases.append((faithful[:, 1:], 53.0))
    for X, expected in cases:
        gm = GaussianMixture(1, noise=True, max_iter=0).fit(X)
        assert gm.noise_hypervolume_ == pytest.approx(expected, rel=1e-10)
        inside = (X @ gm.noise_axes_ >= gm.noise_box_[0] - 1e-9) & (
            X @ gm.noise_axes_ <= gm.noise_box_[1] + 1e-9
        )
        assert inside.all()


def test_flat_columns_keep_a_finite_density():
    X = blobs(200, 3, seed=1)
    X[:, 2] = 5.0
    gm = GaussianMixture(2, noise=True).fit(X)
    assert np.isfinite(gm.noise_hypervolume_) and gm.noise_hypervolume_ > 0
    assert np.all(np.isfinite(gm.score_samples(X)))


def test_noise_free_data_keeps_little_noise():
    X = blobs(600, 2, k=3, seed=3)
    gm = GaussianMixture(3, noise=True, init_params="hc").fit(X)
    assert gm.noise_weight_ < 0.02


def test_default_initial_noise_finds_scattered_rows(data):
    X, outliers = data
    marked = initial_noise(X)
    assert marked[outliers].mean() > 0.5 and marked[~outliers].mean() < 0.1
    # Gaussian tails look sparse too: some start as noise, and EM takes them back
    # (test_noise_free_data_keeps_little_noise).
    assert initial_noise(blobs(300, 2, seed=4)).mean() < 0.25


def test_initial_noise_mask_or_indices(data):
    X, outliers = data
    by_mask = GaussianMixture(3, noise=outliers, init_params="hc", max_iter=0).fit(X)
    by_index = GaussianMixture(3, noise=np.flatnonzero(outliers), init_params="hc", max_iter=0)
    by_index.fit(X)
    assert by_mask.noise_weight_ == pytest.approx(outliers.mean())
    np.testing.assert_array_equal(by_mask.means_, by_index.means_)
    # 'hc' leaves the initial noise out of the tree: the start is the tree of the others.
    clean = GaussianMixture(3, init_params="hc", max_iter=0).fit(X[~outliers])
    np.testing.assert_allclose(by_mask.means_, clean.means_, atol=1e-12)
    assert_close(by_mask.weights_, clean.weights_ * (1 - outliers.mean()))


@pytest.mark.parametrize(
    ("noise", "match"),
    [
        (np.ones(3, bool), "shape"),
        (np.array([0, 10_000]), "0 <= i"),
        (np.array([0.5, 1.5]), "indices"),
        ("yes", "noise"),
        (np.ones(332, bool), "every row"),
    ],
)
def test_bad_noise(data, noise, match):
    X, _ = data
    with pytest.raises(ValueError, match=match):
        GaussianMixture(2, noise=noise).fit(X)


def test_partial_fit_refuses_noise(data):
    with pytest.raises(ValueError, match="partial_fit does not support noise"):
        GaussianMixture(2, noise=True).partial_fit(data[0])


def test_sample_draws_noise_from_the_box(fitted):
    X, y = fitted.sample(4000)
    assert X.shape == (4000, 2)
    share = np.mean(y == -1)
    assert share == pytest.approx(fitted.noise_weight_, abs=0.03)
    Y = X[y == -1] @ fitted.noise_axes_
    assert np.all(fitted.noise_box_[0] <= Y) and np.all(fitted.noise_box_[1] >= Y)


def test_refit_without_noise_drops_the_attributes(data):
    X, _ = data
    gm = GaussianMixture(2, noise=True).fit(X)
    gm.set_params(noise=False).fit(X)
    assert not hasattr(gm, "noise_weight_") and gm.predict_proba(X).shape == (len(X), 2)


# -- every path ---------------------------------------------------------------------------
def test_integer_weights_equal_repeated_rows(data):
    X, outliers = data
    counts = np.random.RandomState(5).randint(1, 4, size=len(X))
    repeated = np.repeat(X, counts, axis=0)
    start = GaussianMixture(3, covariance_type="full", max_iter=0, random_state=0).fit(X)
    kw = dict(
        covariance_type="full",
        weights_init=start.weights_,
        means_init=start.means_,
        precisions_init=start.precisions_,
        tol=1e-10,
        max_iter=300,
    )
    a = GaussianMixture(3, noise=np.flatnonzero(outliers), **kw).fit(X, sample_weight=counts)
    rows = np.flatnonzero(np.repeat(outliers, counts))
    b = GaussianMixture(3, noise=rows, **kw).fit(repeated)
    assert_close(a.noise_weight_, b.noise_weight_, rtol=1e-8)
    assert_close(a.means_, b.means_, rtol=1e-8)
    assert_close(a.noise_hypervolume_, b.noise_hypervolume_, rtol=1e-12)


@pytest.mark.parametrize("n_out", [60, 600], ids=["all-rows", "sampled"])
@pytest.mark.parametrize("kind", ["scan", "dask", "torch", "torch-kernels"])
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_every_row_source_fits_the_same_noise(monkeypatch, tmp_path, kind, n_out):
    pytest.importorskip("dask")
    import dask

    monkeypatch.setattr(hc, "HC_SAMPLE_ROWS", 300)
    kind = _torch_kernels_on_cpu(monkeypatch, kind)
    X, _ = _with_outliers(n_out)
    # 30 EM steps from the same start: every path takes the same ones.
    kw = dict(
        covariance_type="tied", init_params="hc", noise=True, tol=0, max_iter=30, random_state=3
    )
    ref = GaussianMixture(3, **kw).fit(X)
    with dask.config.set(scheduler="synchronous"):
        source = row_source(kind, X, tmp_path)
        gm = GaussianMixture(3, **kw).fit(source)
        labels = np.asarray(gm.predict(source))
        proba = gm.predict_proba(source)
    proba = proba.numpy() if hasattr(proba, "numpy") else np.asarray(proba)
    assert gm.noise_hypervolume_ == pytest.approx(ref.noise_hypervolume_, rel=1e-12)
    assert gm.noise_weight_ == pytest.approx(ref.noise_weight_, abs=1e-7)
    np.testing.assert_allclose(gm.means_, ref.means_, atol=1e-5)
    np.testing.assert_array_equal(labels, ref.predict(X))
    np.testing.assert_allclose(proba, ref.predict_proba(X), atol=1e-6)
    assert proba.shape[1] == 4


def _torch_kernels_on_cpu(monkeypatch, kind):
    """'torch-kernels': CPU tensors through the torch kernels (a GPU's path), not NumPy's."""
    if kind != "torch-kernels":
        return kind
    pytest.importorskip("torch")
    from gaussmix.backends import torch as torch_backend

    monkeypatch.setattr(torch_backend, "CPU_KERNELS", "torch")
    return "torch"


@pytest.mark.parametrize("kind", ["float32", "torch-kernels"])
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_float32_rows_see_the_same_noise(monkeypatch, tmp_path, kind, fitted, data):
    """float32 rows (NumPy's kernels, and torch's): the noise column in their E-step too."""
    X, _ = data
    kind = _torch_kernels_on_cpu(monkeypatch, kind)
    source = row_source(kind, X, tmp_path)
    if kind == "torch":
        source = source.float()
    score = np.asarray(fitted.score_samples(source), dtype=np.float64)
    np.testing.assert_allclose(score, fitted.score_samples(X), rtol=1e-5, atol=1e-5)
    proba = fitted.predict_proba(source)
    proba = proba.numpy() if hasattr(proba, "numpy") else proba
    assert proba.shape == (X.shape[0], 4)
    np.testing.assert_allclose(proba, fitted.predict_proba(X), atol=1e-4)
    # One E-step's statistics: the Gaussians' mass leaves the noise its share.
    refit = GaussianMixture(**fitted.get_params()).set_params(max_iter=1).fit(X)
    narrow = GaussianMixture(**fitted.get_params()).set_params(max_iter=1).fit(source)
    assert narrow.noise_weight_ == pytest.approx(refit.noise_weight_, abs=1e-5)
    assert narrow.noise_hypervolume_ == pytest.approx(refit.noise_hypervolume_, rel=1e-5)


def test_missing_values_use_the_observed_coordinates(data):
    X, _ = data
    holes = X.copy()
    holes[::7, 1] = np.nan
    gm = GaussianMixture(3, covariance_type="full", missing="marginalize", noise=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm.fit(holes)
    np.testing.assert_array_equal(gm.noise_axes_, np.eye(2))  # the box along the data's axes
    observed = X[~np.isnan(holes[:, 1]), :]
    assert_close(gm.noise_box_[:, 0], [X[:, 0].min(), X[:, 0].max()])
    assert_close(gm.noise_box_[:, 1], [observed[:, 1].min(), observed[:, 1].max()])
    # A row missing its second value: π₀ / (its first side) joins its Gaussian marginals.
    row = holes[7]
    from scipy.stats import norm

    gaussians = sum(
        w * norm.pdf(row[0], m[0], np.sqrt(c[0, 0]))
        for w, m, c in zip(gm.weights_, gm.means_, gm.covariances_, strict=True)
    )
    side = gm.noise_box_[1, 0] - gm.noise_box_[0, 0]
    expected = np.log(gaussians + gm.noise_weight_ / side)
    assert gm.score_samples(row[None])[0] == pytest.approx(expected, rel=1e-10)
    assert gm.predict_proba(holes).shape == (len(X), 4)
    filled = gm.impute(holes)
    assert np.all(np.isfinite(filled))


def test_model_files_keep_the_noise(tmp_path, fitted, data):
    X, outliers = data
    path = fitted.save(tmp_path / "noise.gmm")
    loaded = gaussmix.load(path)
    assert loaded.noise_weight_ == fitted.noise_weight_
    assert loaded.noise_hypervolume_ == pytest.approx(fitted.noise_hypervolume_, rel=1e-15)
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
    assert loaded.bic(X) == fitted.bic(X)
    masked = GaussianMixture(2, noise=outliers).fit(X)
    reloaded = gaussmix.load(masked.save(tmp_path / "mask.gmm"))
    np.testing.assert_array_equal(reloaded.noise, np.flatnonzero(outliers))


def test_model_files_reject_a_broken_noise(tmp_path, fitted):
    from gaussmix import io

    meta, tensors = io._contents(fitted)
    for name, value in [
        ("noise.weight", np.array([fitted.noise_weight_ + 0.1])),  # weights no longer sum to 1
        ("noise.box", fitted.noise_box_[::-1].copy()),  # an empty box
        ("noise.axes", 2.0 * fitted.noise_axes_),  # not orthonormal
    ]:
        broken = dict(tensors, **{name: value})
        (tmp_path / "bad.gmm").write_bytes(io._serialize(meta, broken))
        with pytest.raises(gaussmix.ModelFileError, match=r"noise|weights"):
            gaussmix.load(tmp_path / "bad.gmm")
    partial = {k: v for k, v in tensors.items() if k != "noise.axes"}
    (tmp_path / "bad.gmm").write_bytes(io._serialize(meta, partial))
    with pytest.raises(gaussmix.ModelFileError, match="lacks"):
        gaussmix.load(tmp_path / "bad.gmm")


def test_plots_draw_noise_points_apart(fitted, data):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gaussmix.plot import plot_mixture

    X, _ = data
    ax = plot_mixture(fitted, X)
    noise = next(c for c in ax.collections if c.get_gid() == "noise")
    assert len(noise.get_offsets()) == int(np.sum(fitted.predict(X) == -1))
    assert any("noise" in t.get_text() for t in ax.get_legend().get_texts())
    one = GaussianMixture(2, noise=True).fit(X[:, :1])
    ax = plot_mixture(one, X[:, :1])
    assert any(line.get_label().startswith("noise") for line in ax.get_lines())
    plt.close("all")


def test_select_counts_the_noise(data):
    X, _ = data
    result = gaussmix.select(X, [2, 3], "tied", noise=True, init_params="hc")
    for record in result.records:
        gaussians = get_covariance("tied").n_parameters(record["n_components"], 2)
        assert record["n_parameters"] == gaussians + 2


def test_gaussian_only_tools_refuse_a_noise_model(fitted, data):
    X, _ = data
    plain = GaussianMixture(3, covariance_type="tied", random_state=0).fit(X)
    with pytest.raises(ValueError, match="noise component"):
        fitted.marginal([0])
    with pytest.raises(ValueError, match="noise component"):
        fitted.condition([0], X[:3, :1])
    with pytest.raises(ValueError, match="noise component"):
        gaussmix.merge_components(fitted, X)
    with pytest.raises(ValueError, match="noise component"):
        gaussmix.kl_divergence(fitted, plain)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fix_holds_the_gaussians_relative_weights_and_the_means(data):
    """fix= with a noise component: held weights are the Gaussians' shares of 1 - π₀."""
    X, _ = data
    kw = dict(covariance_type="tied", init_params="hc", noise=True, tol=1e-8, max_iter=500)
    relative = np.array([0.5, 0.3, 0.2])
    gm = GaussianMixture(3, fix="weights", weights_init=relative, **kw).fit(X)
    assert 0.05 < gm.noise_weight_ < 0.5
    assert_close(gm.weights_ / gm.weights_.sum(), relative, rtol=1e-12)
    assert_close(gm.weights_.sum() + gm.noise_weight_, 1.0, rtol=1e-12)
    bounds = np.asarray(gm.lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:]))
    # Held again from the fitted model (warm start): the shares stay.
    gm.set_params(warm_start=True, weights_init=None).fit(X)
    assert_close(gm.weights_ / gm.weights_.sum(), relative, rtol=1e-12)
    assert_close(gm.weights_.sum() + gm.noise_weight_, 1.0, rtol=1e-12)
    free = GaussianMixture(3, **kw).fit(X)
    held = GaussianMixture(3, fix="means", means_init=free.means_ + 0.5, **kw).fit(X)
    np.testing.assert_array_equal(held.means_, free.means_ + 0.5)
    assert 0.05 < held.noise_weight_ < 0.5
