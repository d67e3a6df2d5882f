"""MAP EM under mclust's conjugate prior (``prior=``): M-steps, bounds, errors, every path.

The reference numbers are R mclust 6.0.0's: ``me(X, modelName, z, prior =
priorControl(), control = emControl(itmax = 1))`` (one MAP M-step from fixed
responsibilities) on scikit-learn's iris with ``z = RandomState(0).dirichlet(
ones(3), 150)``: each component's log-determinant and trace, and its mean's sum.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.datasets import load_iris

import gaussmix
from _support import assert_close
from gaussmix import GaussianMixture
from gaussmix._core.covariance import MCLUST_NAMES, MODELS_WITH_PRIOR, get_covariance
from gaussmix._core.covariance.prior import log_prior, resolve_prior
from gaussmix._core.em import m_step
from gaussmix._core.estep import stats_from_resp
from gaussmix._core.stats import pooled
from gaussmix._validation import InvalidParameterError

IRIS = load_iris().data
Z = np.random.RandomState(0).dirichlet(np.ones(3), size=150)

MAP_MEAN_SUMS = (13.8538862497, 13.9306141161, 13.7919824452)  # Σ_j μ_kj, every model
MCLUST = {  # model: (log|Σ_k|, tr Σ_k), k = 1, 2, 3
    "EII": ((0.375406840488,) * 3, (4.39358741082,) * 3),
    "VII": (
        (0.00835797421728, 0.16694709402, 0.613528426533),
        (4.00836671227, 4.17047998968, 4.66308136972),
    ),
    "EEI": ((-1.64296826494,) * 3, (4.32687497885,) * 3),
    "VEI": (
        (-1.72341707963, -1.74815329883, -1.19514506243),
        (4.19513791993, 4.1692750084, 4.78743233582),
    ),
    "EVI": ((-1.57135659542,) * 3, (4.27364675867, 4.46591270625, 4.33747531381)),
    "VVI": (
        (-2.25306639514, -2.23101651062, -1.65655687146),
        (3.60398455661, 3.78694122323, 4.24606378229),
    ),
    "EEE": ((-6.63346258375,) * 3, (4.16857467475,) * 3),
    "EEV": ((-6.57994501342,) * 3, (4.25263359644,) * 3),
    "VEV": (
        (-6.27373045554, -6.44708897194, -6.11008405562),
        (4.58928384235, 4.39463446561, 4.7809323809),
    ),
    "VVV": (
        (-7.22017171528, -7.2962559173, -6.92304171172),
        (3.4162027457, 3.60683732273, 4.05112182809),
    ),
}


def _map_step(name: str, X: np.ndarray = IRIS, z: np.ndarray = Z):
    model = get_covariance(name)
    stats = stats_from_resp(X, z, model)
    prior = resolve_prior({}, pooled(stats, model.form), model, z.shape[1])
    params = m_step(stats, model, 0.0, prior=prior)
    dense = model.form.dense(params.covariances, z.shape[1], X.shape[1])
    return model, stats, prior, params.means, dense


def test_the_models_with_a_prior_are_mclusts() -> None:
    assert tuple(MCLUST) == MODELS_WITH_PRIOR
    assert set(MCLUST_NAMES) - set(MODELS_WITH_PRIOR) == {"VEE", "EVE", "VVE", "EVV"}


@pytest.mark.parametrize("name", [n for n in MCLUST if n not in ("EII", "EEI")])
def test_map_m_step_is_mclusts(name: str) -> None:
    _, _, _, means, dense = _map_step(name)
    log_det, trace = MCLUST[name]
    assert_close(np.linalg.slogdet(dense)[1], log_det, rtol=1e-9, scale=10.0)
    assert_close(np.trace(dense, axis1=1, axis2=2), trace, rtol=1e-9)
    assert_close(means.sum(axis=1), MAP_MEAN_SUMS, rtol=1e-10)


def test_eei_covariance_is_mclusts_and_its_means_are_map_means() -> None:
    # mclust's EEI keeps the components' sample means (it does not shrink them);
    # gaussmix shrinks them, as every other model and Fraley & Raftery (2007) do.
    _, stats, prior, means, dense = _map_step("EEI")
    log_det, trace = MCLUST["EEI"]
    assert_close(np.linalg.slogdet(dense)[1], log_det, rtol=1e-9, scale=10.0)
    assert_close(np.trace(dense, axis1=1, axis2=2), trace, rtol=1e-9)
    kappa = prior.shrinkage
    mass = stats.mass[:, None]
    assert_close(means, (mass * stats.means + kappa * prior.mean) / (mass + kappa), rtol=1e-13)
    assert_close(means.sum(axis=1), MAP_MEAN_SUMS, rtol=1e-10)


def test_eii_adds_the_prior_scale_as_fraley_and_raftery() -> None:
    # σ² = (ς² + Σ_k [W_k + κN_k/(N_k+κ) |m_k - μ_P|²]) / (ν + (n + K) d + 2); mclust's
    # Fortran leaves ς² out of the numerator (its result is this without it).
    _, stats, prior, _, dense = _map_step("EII")
    n, d = IRIS.shape
    K = 3
    scale = np.trace(prior.scale) / d
    kappa = prior.shrinkage
    shrink = kappa * stats.mass / (stats.mass + kappa)
    between = shrink @ np.sum((stats.means - prior.mean) ** 2, axis=1)
    denominator = prior.dof + (n + K) * d + 2
    sigma2 = (scale + stats.scatter.sum() + between) / denominator
    assert_close(dense[0], sigma2 * np.eye(d), rtol=1e-13)
    without_scale = (stats.scatter.sum() + between) / denominator
    assert_close(d * np.log(without_scale), MCLUST["EII"][0][0], rtol=1e-9, scale=10.0)


def test_default_prior_is_mclusts_default_prior() -> None:
    d = IRIS.shape[1]
    for name, diagonal in (("VVV", False), ("EEE", False), ("VII", True), ("EEI", True)):
        model = get_covariance(name)
        prior = resolve_prior({}, pooled(stats_from_resp(IRIS, Z, model), model.form), model, 3)
        assert prior.shrinkage == 0.01 and prior.dof == d + 2
        assert_close(prior.mean, IRIS.mean(axis=0), rtol=1e-13)
        fac = (1 / 3) ** (2 / d)
        cov = np.cov(IRIS.T)
        want = fac * np.trace(cov) / d * np.eye(d) if diagonal else fac * cov
        assert_close(prior.scale, want, rtol=1e-12)


@pytest.mark.parametrize("name", MODELS_WITH_PRIOR)
def test_map_m_step_maximises_the_posterior(name: str) -> None:
    # The M-step's parameters beat nearby ones (that keep the model's constraint) on
    # expected complete-data log-likelihood + log prior.
    model, stats, prior, means, _ = _map_step(name)
    best = m_step(stats, model, 0.0, prior=prior)

    def objective(params) -> float:
        d = IRIS.shape[1]
        log_det = np.broadcast_to(model.form.log_det(params.precisions_cholesky, d), (3,))
        maha = model.form.mahalanobis(IRIS, params.means, params.precisions_cholesky)
        complete = np.sum(Z * (log_det - 0.5 * maha))
        return complete + log_prior(params, model, prior)

    rng = np.random.RandomState(5)
    top = objective(best)
    for _ in range(5):
        scale = np.exp(rng.normal(scale=0.05))
        cov = best.covariances * scale
        means = best.means + rng.normal(scale=0.02, size=best.means.shape)
        factor = model.form.cholesky_precisions(cov)
        for candidate in (
            best._replace(covariances=cov, precisions_cholesky=factor),
            best._replace(means=means),
        ):
            assert objective(candidate) <= top + 1e-9 * abs(top)


@pytest.mark.parametrize("name", MODELS_WITH_PRIOR)
def test_map_em_never_lowers_the_posterior(name: str) -> None:
    gm = GaussianMixture(3, covariance_type=name, prior="default", init_params="hc", tol=1e-9,
                         max_iter=300, reg_covar=0.0).fit(IRIS)  # fmt: skip
    bounds = np.array(gm.lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:]))
    n = IRIS.shape[0]
    assert gm.bic(IRIS) == pytest.approx(
        -2 * gm.score(IRIS) * n + get_covariance(name).n_parameters(3, 4) * np.log(n)
    )
    assert gm.prior_["dof"] == 6.0 and gm.prior_["scale"].shape == (4, 4)


def test_scikit_learn_names_take_the_prior_too() -> None:
    for alias, name in (("full", "VVV"), ("tied", "EEE"), ("diag", "VVI"), ("spherical", "VII")):
        a = GaussianMixture(2, covariance_type=alias, prior="default", random_state=0).fit(IRIS)
        b = GaussianMixture(2, covariance_type=name, prior="default", random_state=0).fit(IRIS)
        assert np.array_equal(a.covariances_, b.covariances_)


def test_explicit_hyperparameters() -> None:
    d = IRIS.shape[1]
    strong = {"shrinkage": 1e4, "mean": np.zeros(d), "dof": d + 10, "scale": 2.0}
    gm = GaussianMixture(2, prior=strong, random_state=0).fit(IRIS)
    assert_array_equal(gm.prior_["scale"], 2.0 * np.eye(d))
    assert np.all(np.abs(gm.means_) < 0.1)  # pulled to the prior mean
    variances = GaussianMixture(2, prior={"scale": [1.0, 2.0, 3.0, 4.0]}).fit(IRIS).prior_
    assert_array_equal(np.diag(variances["scale"]), [1, 2, 3, 4])
    assert variances["shrinkage"] == 0.01 and variances["dof"] == d + 2


@pytest.mark.parametrize(
    ("prior", "match"),
    [
        ({"shrinkage": -1.0}, "'shrinkage' must be a number >= 0"),
        ({"dof": 3}, "'dof' must be a number > d - 1 = 3"),
        ({"mean": [1.0, 2.0]}, "'mean' must be 4 finite numbers"),
        ({"mean": np.zeros(4), "shrinkage": 0}, "mean with shrinkage 0"),
        ({"scale": -1.0}, "'scale' must be a positive number"),
        ({"scale": [[1.0, 2.0], [2.0, 1.0]]}, "'scale' must be"),
        ({"scale": np.diag([1.0, 1.0, 1.0, -1.0])}, "'scale' must be"),
        ({"scale": np.full((4, 4), np.nan)}, "'scale' must be"),
        ({"shrinkg": 0.1}, "unknown hyperparameter"),
        ("flat", "'prior' parameter"),
    ],
)
def test_bad_hyperparameters_are_refused(prior, match: str) -> None:
    gm = GaussianMixture(2, prior=prior)
    with pytest.raises(InvalidParameterError, match=match):
        gm.fit(IRIS)
    assert not hasattr(gm, "weights_")


@pytest.mark.parametrize("name", ["VEE", "EVE", "VVE", "EVV"])
def test_models_without_a_prior_are_refused(name: str) -> None:
    with pytest.raises(InvalidParameterError, match="prior is not available for"):
        GaussianMixture(2, covariance_type=name, prior="default").fit(IRIS)
    with pytest.raises(InvalidParameterError, match="EII, VII, EEI"):
        gaussmix.select(IRIS, n_components=2, covariance_types=[name], prior="default")


def test_select_over_mclusts_family_drops_the_models_without_a_prior() -> None:
    result = gaussmix.select(IRIS, n_components=[1, 2], covariance_types="mclust",
                             prior="default")  # fmt: skip
    assert {r["covariance_type"] for r in result.records} == set(MODELS_WITH_PRIOR)
    assert all(r["error"] is None for r in result.records)


def test_prior_removes_a_degenerate_component() -> None:
    # Five collinear rows in 3-D make a component whose covariance is singular; without
    # a prior its smallest variance is reg_covar, with one it is the prior's scale's.
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(size=(200, 3)), np.outer(np.arange(5.0), [1.0, 1.0, 1.0]) + 8])
    start = {"means_init": np.array([[0.0, 0.0, 0.0], [10.0, 10.0, 10.0]]), "max_iter": 200}
    plain = GaussianMixture(2, **start).fit(X)
    smallest = np.linalg.eigvalsh(plain.covariances_)[:, 0]
    assert smallest.min() < 10 * plain.reg_covar
    gm = GaussianMixture(2, prior="default", **start).fit(X)
    assert np.linalg.eigvalsh(gm.covariances_)[:, 0].min() > 1e3 * gm.reg_covar


# -- every path ---------------------------------------------------------------------
def _fit(X, name="VEV", sample_weight=None, **kwargs) -> GaussianMixture:
    start = {"init_params": "hc", "random_state": 0, "tol": 1e-7, "max_iter": 500}
    gm = GaussianMixture(3, covariance_type=name, prior="default", **start, **kwargs)
    return gm.fit(X, sample_weight=sample_weight)


def _same(a: GaussianMixture, b: GaussianMixture, rtol: float = 1e-8) -> None:
    for attribute in ("weights_", "means_", "covariances_"):
        want = getattr(b, attribute)
        assert_close(getattr(a, attribute), want, rtol=rtol)


@pytest.fixture(scope="module")
def reference() -> GaussianMixture:
    return _fit(IRIS)


def test_integer_weights_are_repeated_rows() -> None:
    weights = np.random.RandomState(1).randint(1, 3, size=IRIS.shape[0])
    _same(_fit(IRIS, sample_weight=weights), _fit(np.repeat(IRIS, weights, axis=0)), rtol=1e-7)


def test_scan_dask_torch_and_missing_give_the_same_fit(reference, tmp_path) -> None:
    np.save(tmp_path / "x.npy", IRIS)
    _same(_fit(gaussmix.scan(tmp_path / "x.npy", chunk_rows=40)), reference)
    _same(_fit(IRIS, missing="marginalize"), reference)
    da = pytest.importorskip("dask.array")
    _same(_fit(da.from_array(IRIS, chunks=(50, 4))), reference)
    torch = pytest.importorskip("torch")
    _same(_fit(torch.tensor(IRIS)), reference)


def test_missing_values_with_a_prior() -> None:
    holes = IRIS.copy()
    holes[np.random.RandomState(2).rand(*IRIS.shape) < 0.1] = np.nan
    holes[np.isnan(holes).all(axis=1), 0] = 5.0
    gm = _fit(holes, missing="marginalize")
    assert np.all(np.isfinite(gm.score_samples(holes)))


def test_partial_fit_keeps_the_first_batchs_prior() -> None:
    gm = GaussianMixture(3, covariance_type="VVV", prior="default", random_state=0)
    batches = np.array_split(IRIS[np.random.RandomState(3).permutation(150)], 3)
    gm.partial_fit(batches[0])
    first = gm.prior_
    for batch in batches[1:]:
        gm.partial_fit(batch)
    assert_array_equal(gm.prior_["scale"], first["scale"])
    assert np.all(np.isfinite(gm.score_samples(IRIS)))


def test_model_files_keep_the_prior_parameter(reference, tmp_path) -> None:
    for prior in ("default", {"shrinkage": 0.05, "mean": IRIS.mean(axis=0), "dof": 8.0}):
        gm = _fit(IRIS).set_params(prior=prior)
        gm.save(tmp_path / "m.gmm")
        loaded = gaussmix.load(tmp_path / "m.gmm")
        assert_close(loaded.predict_proba(IRIS), gm.predict_proba(IRIS), rtol=1e-12)
        refit = loaded.fit(IRIS)
        _same(refit, GaussianMixture(**gm.get_params()).fit(IRIS))


def test_fixed_means_with_a_prior() -> None:
    # Means held: the covariances are the posterior's given them (the prior's normal
    # term adds κ (μ_k - μ_P)(μ_k - μ_P)ᵀ), and MAP EM stays monotone.
    means = IRIS[[0, 60, 120]]
    gm = GaussianMixture(3, covariance_type="VVV", prior="default", fix=["means"],
                         means_init=means, tol=1e-8, max_iter=300).fit(IRIS)  # fmt: skip
    assert_array_equal(gm.means_, means)
    bounds = np.array(gm.lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:]))


def test_noise_with_a_prior() -> None:
    rng = np.random.RandomState(4)
    X = np.vstack([IRIS, rng.uniform(IRIS.min(0), IRIS.max(0), size=(15, 4))])
    gm = GaussianMixture(3, covariance_type="EEV", prior="default", noise=True,
                         init_params="hc").fit(X)  # fmt: skip
    assert 0 < gm.noise_weight_ < 0.5
    assert np.all(np.isfinite(gm.score_samples(X)))


def test_command_line_prior(tmp_path, capsys) -> None:
    from gaussmix import cli

    data = tmp_path / "iris.csv"
    np.savetxt(data, IRIS, delimiter=",", header="a,b,c,d", comments="")
    model = tmp_path / "m.gmm"
    argv = ["fit", data, "-k", "3", "-c", "VEV", "--prior", "--seed", "0", "-o", model]
    assert cli.main([str(a) for a in argv]) == 0
    assert gaussmix.load(model).prior == "default"
    argv = ["select", data, "-c", "mclust", "--k-range", "1-2", "--prior", "--json"]
    assert cli.main([str(a) for a in argv]) == 0
    out = capsys.readouterr().out
    assert '"EVE"' not in out and '"VEV"' in out
    argv = ["fit", data, "-k", "2", "-c", "EVE", "--prior", "-o", tmp_path / "e.gmm"]
    assert cli.main([str(a) for a in argv]) == 2
    assert "prior is not available" in capsys.readouterr().err


def test_one_component_is_mclusts_single_gaussian_whatever_the_model() -> None:
    # mclust fits K = 1 as XII, XXI or XXX under the prior: every model of a form
    # gives that form's unconstrained model's fit.
    for names in (("EII", "VII"), ("EEI", "VEI", "EVI", "VVI"), ("EEE", "EEV", "VEV", "VVV")):
        fits = [GaussianMixture(1, covariance_type=n, prior="default").fit(IRIS) for n in names]
        pairs = zip(names, fits, strict=True)
        dense = [get_covariance(n).form.dense(f.covariances_, 1, 4) for n, f in pairs]
        for other in dense[1:]:
            assert_close(other, dense[0], rtol=1e-10)
