"""mclust's fourteen covariance models: M-steps, parameter counts, aliases, constraints."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import minimize

from _support import assert_close
from gaussmix import GaussianMixture
from gaussmix._core.covariance import MCLUST_NAMES, get_covariance, solvers
from gaussmix._core.em import m_step
from gaussmix._core.estep import stats_from_resp
from gaussmix._core.stats import Stats

SKLEARN_ALIASES = {"VII": "spherical", "VVI": "diag", "EEE": "tied", "VVV": "full"}


def _data(n: int = 120, d: int = 2, seed: int = 0) -> np.ndarray:
    """Three elongated clusters of different sizes, volumes and orientations."""
    rng = np.random.RandomState(seed)
    parts = []
    for k, size in enumerate((n // 2, n // 3, n - n // 2 - n // 3)):
        mixing = rng.normal(size=(d, d)) * (0.5 + k)
        parts.append(rng.normal(size=(size, d)) @ mixing + 6.0 * rng.normal(size=d))
    return np.vstack(parts)


def _stats(X: np.ndarray, K: int, seed: int, model_name: str) -> Stats:
    """Statistics of X under random soft responsibilities, in the model's form."""
    rng = np.random.RandomState(seed)
    resp = rng.dirichlet(np.full(K, 0.7), size=X.shape[0])
    return stats_from_resp(X, resp, get_covariance(model_name))


# -- the expected complete-data log-likelihood and a brute-force maximiser ------------------
def _q(covariances: np.ndarray, mass: np.ndarray, scatter: np.ndarray) -> float:
    """Σ_k -N_k/2 log|Σ_k| - tr(Σ_k⁻¹ S_k)/2 for dense (K, d, d) covariances and scatters."""
    sign, logdet = np.linalg.slogdet(covariances)
    if np.any(sign <= 0):  # an optimiser's step to a singular matrix: no maximum there
        return -1e100
    traces = np.einsum("kij,kji->k", np.linalg.inv(covariances), scatter)
    return float(-0.5 * np.sum(mass * logdet + traces))


def _dense_scatter(stats: Stats, model_name: str, d: int) -> np.ndarray:
    """The scatter the model's form keeps, as dense (K, d, d) matrices for _q."""
    form = get_covariance(model_name).form
    K = stats.mass.shape[0]
    scatter = np.asarray(stats.scatter)
    if form.name == "spherical":
        return scatter[:, None, None] * np.eye(d) / d
    if form.name == "diagonal":
        return scatter[:, :, None] * np.eye(d)
    if form.name == "shared":  # only the sum matters: spread it evenly
        return np.broadcast_to(scatter / K, (K, d, d))
    return scatter


def _parametrisation(name: str, K: int, d: int):
    """(number of parameters, θ -> dense (K, d, d) covariances) for model ``name``.

    log-volumes, log-shapes (d - 1 free, the last one making |A| = 1) and
    orientations (Cayley transforms of skew matrices), each one shared (E), one per
    component (V) or none (I).
    """
    letters = [{"E": 1, "V": K, "I": 0}[c] for c in name]
    counts = [letters[0], letters[1] * (d - 1), letters[2] * d * (d - 1) // 2]
    upper = np.triu_indices(d, 1)
    pick = [np.minimum(np.arange(K), max(n - 1, 0)) for n in letters]

    def build(theta: np.ndarray) -> np.ndarray:
        volumes, shapes, turns = np.split(theta, np.cumsum(counts)[:2])
        A = np.ones((K, d))
        if letters[1]:
            x = shapes.reshape(letters[1], d - 1)[pick[1]]
            A = np.exp(np.hstack([x, -x.sum(axis=1, keepdims=True)]))
        D = np.broadcast_to(np.eye(d), (K, d, d))
        if letters[2]:
            skew = np.zeros((letters[2], d, d))
            skew[:, upper[0], upper[1]] = turns.reshape(letters[2], -1)
            skew = skew - skew.transpose(0, 2, 1)
            eye = np.eye(d)
            D = np.linalg.solve(eye - skew, eye + skew)[pick[2]]
        lam = np.exp(volumes)[pick[0]]
        return lam[:, None, None] * np.einsum("kij,kj,klj->kil", D, A, D)

    return sum(counts), build


def _brute_force_maximum(name: str, mass: np.ndarray, scatter: np.ndarray, seed: int) -> float:
    K, d = scatter.shape[:2]
    n, build = _parametrisation(name, K, d)
    rng = np.random.RandomState(seed)
    best = -np.inf
    for _ in range(3):
        result = minimize(
            lambda theta: -_q(build(theta), mass, scatter),
            rng.normal(scale=0.3, size=n),
            method="BFGS",
            options={"gtol": 1e-8},
        )
        best = max(best, -result.fun)
    return best


@pytest.mark.parametrize("name", MCLUST_NAMES)
@pytest.mark.parametrize(("K", "d", "seed"), [(3, 2, 0), (2, 3, 1)])
def test_m_step_reaches_the_brute_force_maximum(name: str, K: int, d: int, seed: int) -> None:
    model = get_covariance(name)
    X = _data(90, d, seed)
    stats = _stats(X, K, seed, name)
    covariances = model.covariances_from_stats(stats, 0.0)
    assert model.constraint_problem(covariances) == ""
    mass, scatter = stats.mass, _dense_scatter(stats, name, d)
    got = _q(model.form.dense(covariances, K, d), mass, scatter)
    best = _brute_force_maximum(name, mass, scatter, seed)
    assert got >= best - 1e-9 * abs(best)


@pytest.mark.parametrize("name", ["VEI", "VEE", "EVE", "VVE", "VEV"])
def test_warm_start_reaches_the_same_maximum_in_fewer_iterations(name: str) -> None:
    model = get_covariance(name)
    X = _data(150, 3, 2)
    stats = _stats(X, 3, 2, name)
    cold = model.covariances_from_stats(stats, 0.0)
    # Start from the optimum of slightly different statistics (the previous M-step's).
    nearby = stats._replace(mass=stats.mass * 1.01, scatter=stats.scatter * 1.02)
    warm = model.covariances_from_stats(
        stats, 0.0, start=model.covariances_from_stats(nearby, 0.0)
    )
    d, K = 3, 3
    dense = _dense_scatter(stats, name, d)
    q_cold = _q(model.form.dense(cold, K, d), stats.mass, dense)
    q_warm = _q(model.form.dense(warm, K, d), stats.mass, dense)
    assert q_warm >= q_cold - 1e-10 * abs(q_cold)
    assert_allclose(warm, cold, rtol=1e-5, atol=1e-8 * np.abs(cold).max())


def test_inner_iterations_from_a_warm_start_are_few() -> None:
    rng = np.random.RandomState(3)
    mass = rng.uniform(10, 40, size=4)
    a = rng.normal(size=(4, 3, 3))
    scatter = np.einsum("kij,klj->kil", a, a) * mass[:, None, None]
    D, B, n_cold = solvers.common_orientation(mass, scatter, equal_volume=False)
    *_, n_warm = solvers.common_orientation(mass, scatter, equal_volume=False, start=(D, B))
    assert n_warm < n_cold
    assert n_warm <= 2


def test_inner_iterations_stop_at_the_cap() -> None:
    rng = np.random.RandomState(4)
    mass = rng.uniform(10, 40, size=3)
    diagonals = rng.uniform(0.5, 5.0, size=(3, 4)) * mass[:, None]
    *_, n_iter = solvers.volume_and_shape(mass, diagonals, max_iter=2, tol=0.0)
    assert n_iter == 2


# -- parameter counts: mclust's nVarParams table (mclust's documentation) --------------------
MCLUST_COVARIANCE_PARAMETERS = {
    "EII": lambda G, d: 1,
    "VII": lambda G, d: G,
    "EEI": lambda G, d: d,
    "VEI": lambda G, d: G + (d - 1),
    "EVI": lambda G, d: 1 + G * (d - 1),
    "VVI": lambda G, d: G * d,
    "EEE": lambda G, d: d * (d + 1) / 2,
    "EVE": lambda G, d: 1 + G * (d - 1) + d * (d - 1) / 2,
    "VEE": lambda G, d: G + (d - 1) + d * (d - 1) / 2,
    "VVE": lambda G, d: G + G * (d - 1) + d * (d - 1) / 2,
    "EEV": lambda G, d: 1 + (d - 1) + G * d * (d - 1) / 2,
    "VEV": lambda G, d: G + (d - 1) + G * d * (d - 1) / 2,
    "EVV": lambda G, d: 1 - G + G * d * (d + 1) / 2,
    "VVV": lambda G, d: G * d * (d + 1) / 2,
}


@pytest.mark.parametrize("name", MCLUST_NAMES)
@pytest.mark.parametrize(("G", "d"), [(1, 1), (1, 4), (3, 2), (5, 7), (9, 30)])
def test_n_parameters_is_mclusts(name: str, G: int, d: int) -> None:
    expected = MCLUST_COVARIANCE_PARAMETERS[name](G, d) + G * d + (G - 1)
    assert get_covariance(name).n_parameters(G, d) == expected


def test_old_faithful_counts_as_in_mclusts_bic_table() -> None:
    # mclust's summary of Mclust(faithful): EEE, G = 3 has 11 parameters (df).
    assert get_covariance("EEE").n_parameters(3, 2) == 11
    assert get_covariance("VVV").n_parameters(2, 2) == 11


# -- aliases ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("mclust", "sklearn"), sorted(SKLEARN_ALIASES.items()))
def test_aliases_are_the_same_model(mclust: str, sklearn: str) -> None:
    assert get_covariance(mclust) is get_covariance(sklearn)
    assert get_covariance(sklearn).mclust_name == mclust


@pytest.mark.parametrize(("mclust", "sklearn"), sorted(SKLEARN_ALIASES.items()))
def test_aliases_fit_bit_identically(mclust: str, sklearn: str) -> None:
    X = _data(150, 3, 5)
    fits = [
        GaussianMixture(3, covariance_type=name, random_state=0, tol=1e-6).fit(X)
        for name in (mclust, sklearn)
    ]
    for attribute in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert_array_equal(getattr(fits[0], attribute), getattr(fits[1], attribute))
    assert fits[0].lower_bounds_ == fits[1].lower_bounds_
    assert fits[0].bic(X) == fits[1].bic(X)


# -- reg_covar --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", MCLUST_NAMES)
def test_reg_covar_keeps_the_constraint(name: str) -> None:
    model = get_covariance(name)
    X = _data(120, 3, 6)
    stats = _stats(X, 3, 6, name)
    covariances = model.covariances_from_stats(stats, 0.5)
    assert model.constraint_problem(covariances) == ""
    # It acts as reg_covar * I added to each component's covariance in the scatter.
    unregularised = model.covariances_from_stats(stats, 0.0)
    variances = model.form.variances(covariances, 3)
    assert np.all(variances > model.form.variances(unregularised, 3))


@pytest.mark.parametrize("name", ["VII", "VVI", "EEE", "VVV"])
def test_reg_covar_in_the_scatter_is_sklearns_reg_covar(name: str) -> None:
    """For scikit-learn's four, N_k reg_covar I in the scatter is + reg_covar on the variances."""
    model = get_covariance(name)
    X = _data(120, 3, 7)
    stats = _stats(X, 3, 7, name)
    reg = 0.25
    theirs = model.covariances_from_stats(stats, reg)  # scikit-learn's arithmetic
    mass = stats.mass + 10 * np.finfo(np.float64).eps
    scatter = stats.scatter + model.form.identity_scatter(reg * mass, 3)
    if model.form.name == "shared":
        ours = scatter / mass.sum()
    elif model.form.name == "spherical":
        ours = scatter / (3 * mass)
    else:
        ours = scatter / mass.reshape(-1, *([1] * (scatter.ndim - 1)))
    assert_allclose(ours, theirs, rtol=1e-14, atol=1e-14 * np.abs(theirs).max())


# -- the constraint checks ----------------------------------------------------------------
def _fitted_covariances(name: str, K: int = 3, d: int = 3) -> np.ndarray:
    X = _data(150, d, 8)
    return get_covariance(name).covariances_from_stats(_stats(X, K, 8, name), 1e-6)


BROKEN = {
    "EII": lambda c: c * np.array([1.0, 1.0, 1.01]),
    "EEI": lambda c: c * np.array([[1.0], [1.0], [1.01]]),
    "VEI": lambda c: c * np.array([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.01, 1.0, 1.0]]),
    "EVI": lambda c: c * np.array([[1.0], [1.0], [1.01]]),
    "VEE": lambda c: c + np.eye(3) * np.array([0, 0, 0.01])[:, None, None] * c.max(),
    "EVE": lambda c: c * np.array([1.0, 1.0, 1.01])[:, None, None],
    "VVE": lambda c: np.stack([c[0], c[1], c[2] + 0.01 * c.max() * np.eye(3)[[0, 1, 2]][::-1]]),
    "EEV": lambda c: c * np.array([1.0, 1.0, 1.01])[:, None, None],
    "VEV": lambda c: c + np.eye(3) * np.array([0, 0, 0.02])[:, None, None] * c.max(),
    "EVV": lambda c: c * np.array([1.0, 1.0, 1.01])[:, None, None],
}


@pytest.mark.parametrize("name", MCLUST_NAMES)
def test_constraint_problem(name: str) -> None:
    model = get_covariance(name)
    covariances = _fitted_covariances(name)
    assert model.constraint_problem(covariances) == ""
    if name in BROKEN:
        broken = BROKEN[name](covariances.copy())
        assert model.form.covariance_problem(broken) == ""  # still valid covariances
        assert "model requires" in model.constraint_problem(broken)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("name", MCLUST_NAMES)
def test_constraint_holds_after_em_and_reseeding(name: str) -> None:
    # Three near-identical far rows and K = 4 make a component collapse.
    rng = np.random.RandomState(9)
    X = np.vstack([rng.normal(size=(40, 2)), rng.normal(size=(3, 2)) * 1e-4 + 50.0])
    gm = GaussianMixture(4, covariance_type=name, random_state=1, reg_covar=1e-10).fit(X)
    assert get_covariance(name).constraint_problem(gm.covariances_) == ""


# -- EM ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", MCLUST_NAMES)
def test_em_is_monotone(name: str) -> None:
    X = _data(200, 3, 10)
    gm = GaussianMixture(3, covariance_type=name, random_state=0, tol=1e-10, max_iter=300)
    gm.fit(X)
    bounds = np.array(gm.lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:]))
    assert gm.converged_
    assert get_covariance(name).constraint_problem(gm.covariances_) == ""
    assert gm.covariances_.shape == get_covariance(name).form.shape(3, 3)


@pytest.mark.parametrize("name", MCLUST_NAMES)
def test_m_step_from_responsibilities_of_one_component(name: str) -> None:
    """K = 1: every model is one Gaussian with its own constraint (I, diagonal or full)."""
    X = _data(60, 3, 11)
    model = get_covariance(name)
    params = m_step(stats_from_resp(X, np.ones((60, 1)), model), model, 0.0)
    dense = model.form.dense(params.covariances, 1, 3)[0]
    sample = np.cov(X.T, bias=True)
    if name[1:] == "II":
        assert_close(dense, np.trace(sample) / 3 * np.eye(3), rtol=1e-12)
    elif name[2] == "I":
        assert_close(dense, np.diag(np.diag(sample)), rtol=1e-12)
    else:  # (the orientation of EVE and VVE iterates: its error is the objective's root)
        assert_allclose(dense, sample, rtol=1e-6, atol=1e-6 * np.abs(sample).max())
