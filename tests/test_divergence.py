"""Divergences and entropy against numerical integration (scipy) and each other.

The ground truth is independent of gaussmix: densities from scipy.stats, dense
covariances from the test support (not the registry), integrals by adaptive
quadrature in 1-D and Simpson's rule on a fine grid in 2-D (which is accurate
to rounding for Gaussian integrands on a wide box). The closed forms must
match it to integration accuracy, the Monte Carlo estimates within 4 standard
errors (seeded), and the bounds must bracket it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import integrate, stats
from sklearn.exceptions import NotFittedError
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import gaussmix
from _support import COVARIANCE_TYPES, dense_covariance, fitted_mixture, random_params
from gaussmix._core.covariance import Params, get_covariance

KL_APPROXIMATIONS = ("variational", "product", "matched", "gaussian", "upper", "lower")


def _mixture(covariance_type: str, k: int, d: int, seed: int) -> Any:
    return fitted_mixture(
        random_params(covariance_type, k, d, np.random.RandomState(seed)), covariance_type
    )


def _log_density(model: Any, X: np.ndarray) -> np.ndarray:
    """ln p(x) from scipy.stats, component by component."""
    d = model.means_.shape[1]
    logs = [
        np.log(w)
        + stats.multivariate_normal(
            m, dense_covariance(model.covariance_type, model.covariances_, k, d)
        )
        .logpdf(X)
        .reshape(-1)
        for k, (w, m) in enumerate(zip(model.weights_, model.means_, strict=True))
    ]
    return np.logaddexp.reduce(np.stack(logs), axis=0)


def _box(*models: Any) -> tuple[np.ndarray, np.ndarray]:
    means = np.vstack([m.means_ for m in models])
    spread = max(
        float(
            np.sqrt(
                np.max(
                    np.linalg.eigvalsh(
                        dense_covariance(m.covariance_type, m.covariances_, k, m.means_.shape[1])
                    )
                )
            )
        )
        for m in models
        for k in range(m.means_.shape[0])
    )
    return means.min(axis=0) - 14 * spread, means.max(axis=0) + 14 * spread


def _integrate(integrand, *models: Any, grid: int = 401) -> float:
    """∫ integrand(ln p_1(x), ln p_2(x), ...) dx over the models' features (1-D or 2-D).

    1-D: adaptive quadrature; 2-D: Simpson's rule on a ``grid`` × ``grid`` mesh.
    """
    low, high = _box(*models)
    d = models[0].means_.shape[1]
    if d == 1:
        points = np.unique(np.concatenate([m.means_[:, 0] for m in models]))

        def f(x: float) -> float:
            X = np.array([[x]])
            return float(integrand(*(_log_density(m, X) for m in models))[0])

        value, _ = integrate.quad(
            f, low[0], high[0], points=points, limit=500, epsabs=1e-13, epsrel=1e-11
        )
        return float(value)
    grids = [np.linspace(lo, hi, grid) for lo, hi in zip(low, high, strict=True)]
    mesh = np.stack(np.meshgrid(*grids, indexing="ij"), axis=-1).reshape(-1, d)
    values = integrand(*(_log_density(m, mesh) for m in models)).reshape(len(grids[0]), -1)
    inner = integrate.simpson(values, x=grids[1], axis=1)
    return float(integrate.simpson(inner, x=grids[0]))


def _kl_integrand(lp: np.ndarray, lq: np.ndarray) -> np.ndarray:
    return np.exp(lp) * (lp - lq)


def _entropy_integrand(lp: np.ndarray) -> np.ndarray:
    return -np.exp(lp) * lp


def _bc_integrand(lp: np.ndarray, lq: np.ndarray) -> np.ndarray:
    return np.exp(0.5 * (lp + lq))


def _close(value: float, truth: float, tol: float = 1e-9) -> bool:
    return abs(value - truth) <= tol * max(1.0, abs(truth))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("d", [1, 2])
def test_closed_forms_match_numerical_integration(covariance_type: str, d: int) -> None:
    p = _mixture(covariance_type, 1, d, seed=1)
    q = _mixture(covariance_type, 1, d, seed=2)
    kl = _integrate(_kl_integrand, p, q)
    bc = _integrate(_bc_integrand, p, q)
    assert _close(gaussmix.kl_divergence(p, q), kl)
    assert _close(gaussmix.kl_divergence(p, q, method="closed"), kl)
    assert _close(gaussmix.entropy(p), _integrate(_entropy_integrand, p))
    assert _close(gaussmix.bhattacharyya_distance(p, q), -np.log(bc))
    assert _close(gaussmix.hellinger_distance(p, q), np.sqrt(1 - bc))
    # The approximations and the upper bound are exact between single Gaussians; D_prod
    # and the lower bound (both built on ln ∫ f g ≥ E_f[ln g]) are not.
    for method in set(KL_APPROXIMATIONS) - {"product", "lower"}:
        assert _close(gaussmix.kl_divergence(p, q, method=method), kl), method
    assert gaussmix.kl_divergence(p, q, method="lower") <= kl
    assert _close(gaussmix.entropy(p, method="upper"), gaussmix.entropy(p))
    assert gaussmix.entropy(p, method="lower") < gaussmix.entropy(p)  # the Rényi-2 entropy
    for method in ("lower", "upper"):
        assert _close(gaussmix.bhattacharyya_distance(p, q, method=method), -np.log(bc)), method


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("d", [1, 2])
def test_mixtures_monte_carlo_and_bounds_against_integration(covariance_type: str, d: int) -> None:
    p = _mixture(covariance_type, 3, d, seed=3)
    q = _mixture(covariance_type, 2, d, seed=4)
    kl = _integrate(_kl_integrand, p, q)
    entropy = _integrate(_entropy_integrand, p)
    bc = _integrate(_bc_integrand, p, q)
    truths = {
        gaussmix.kl_divergence: kl,
        gaussmix.bhattacharyya_distance: -np.log(bc),
        gaussmix.hellinger_distance: np.sqrt(1 - bc),
    }
    for function, truth in truths.items():
        value, std = function(p, q, n_samples=20_000, random_state=0, return_std=True)
        assert 0 < std < 0.1 * max(truth, 0.1), function
        assert abs(value - truth) <= 4 * std, (function, value, truth, std)
        low = function(p, q, method="lower")
        high = function(p, q, method="upper")
        assert low - 1e-5 <= truth <= high + 1e-5, (function, low, truth, high)
    value, std = gaussmix.entropy(p, n_samples=20_000, random_state=0, return_std=True)
    assert abs(value - entropy) <= 4 * std
    low, high = gaussmix.entropy(p, method="lower"), gaussmix.entropy(p, method="upper")
    assert low - 1e-5 <= entropy <= high + 1e-5
    # The variational bound is tighter than the classic one.
    classic = p.weights_ @ (
        0.5
        * np.log(
            np.linalg.det(
                2
                * np.pi
                * np.e
                * np.stack(
                    [dense_covariance(covariance_type, p.covariances_, k, d) for k in range(3)]
                )
            )
        )
        - np.log(p.weights_)
    )
    assert high <= classic + 1e-12
    # The approximations land near the truth on these overlapping mixtures.
    for method in ("variational", "product", "matched", "gaussian"):
        approx = gaussmix.kl_divergence(p, q, method=method)
        assert np.isfinite(approx) and abs(approx - kl) < max(1.0, kl), (method, approx, kl)


def test_monte_carlo_is_seeded_and_shrinks_with_more_samples() -> None:
    p, q = _mixture("full", 3, 2, seed=5), _mixture("diag", 2, 2, seed=6)
    first = gaussmix.kl_divergence(p, q, n_samples=5000, random_state=7, return_std=True)
    assert gaussmix.kl_divergence(p, q, n_samples=5000, random_state=7, return_std=True) == first
    assert gaussmix.kl_divergence(p, q, n_samples=5000, random_state=8) != first[0]
    more = gaussmix.kl_divergence(p, q, n_samples=80_000, random_state=7, return_std=True)
    assert more[1] < 0.5 * first[1]


def test_identical_mixtures() -> None:
    p = _mixture("full", 3, 2, seed=9)
    for method in ("variational", "product", "gaussian", "lower"):
        assert abs(gaussmix.kl_divergence(p, p, method=method)) <= 1e-12, method
    assert gaussmix.kl_divergence(p, p, random_state=0, return_std=True) == (0.0, 0.0)
    assert gaussmix.hellinger_distance(p, p, random_state=0, return_std=True) == (0.0, 0.0)
    assert gaussmix.bhattacharyya_distance(p, p, method="upper") >= 0.0


def test_kl_divergence_is_not_symmetric_but_distances_are() -> None:
    p, q = _mixture("spherical", 1, 2, seed=10), _mixture("full", 1, 2, seed=11)
    assert not np.isclose(gaussmix.kl_divergence(p, q), gaussmix.kl_divergence(q, p))
    assert np.isclose(gaussmix.hellinger_distance(p, q), gaussmix.hellinger_distance(q, p))
    assert np.isclose(gaussmix.bhattacharyya_distance(p, q), gaussmix.bhattacharyya_distance(q, p))


def test_zero_weight_components_are_no_part_of_the_mixture() -> None:
    rng = np.random.RandomState(12)
    params = random_params("full", 3, 2, rng)
    p = fitted_mixture(params, "full")
    dropped = fitted_mixture(
        params._replace(weights=np.array([1.0, 0.0, 0.0])),
        "full",
    )
    single = fitted_mixture(
        Params(
            np.ones(1), params.means[:1], params.covariances[:1], params.precisions_cholesky[:1]
        ),
        "full",
    )
    for method in KL_APPROXIMATIONS:
        expected = gaussmix.kl_divergence(single, p, method=method)
        assert gaussmix.kl_divergence(dropped, p, method=method) == pytest.approx(
            expected, abs=1e-12
        )
    assert gaussmix.entropy(dropped) == pytest.approx(gaussmix.entropy(single), abs=1e-12)
    value, std = gaussmix.kl_divergence(
        dropped, p, n_samples=1000, random_state=0, return_std=True
    )
    assert np.isfinite(value) and np.isfinite(std)


def test_scikit_learn_mixtures_are_accepted() -> None:
    rng = np.random.RandomState(13)
    X = np.vstack([rng.normal(size=(100, 2)), rng.normal(size=(100, 2)) + 4])
    theirs = SkGaussianMixture(2, covariance_type="tied", random_state=0).fit(X)
    cov = get_covariance("tied")
    params = Params(
        theirs.weights_,
        theirs.means_,
        theirs.covariances_,
        cov.form.cholesky_precisions(theirs.covariances_),
    )
    ours = fitted_mixture(params, "tied")
    q = _mixture("tied", 2, 2, seed=14)
    for method in KL_APPROXIMATIONS:
        assert gaussmix.kl_divergence(theirs, q, method=method) == gaussmix.kl_divergence(
            ours, q, method=method
        )


def test_bad_arguments_get_clear_errors() -> None:
    p, q = _mixture("full", 2, 2, seed=15), _mixture("full", 2, 3, seed=16)
    with pytest.raises(ValueError, match="same features"):
        gaussmix.kl_divergence(p, q)
    with pytest.raises(ValueError, match="single Gaussians"):
        gaussmix.kl_divergence(p, p, method="closed")
    with pytest.raises(ValueError, match="standard error"):
        gaussmix.entropy(p, method="upper", return_std=True)
    with pytest.raises(ValueError, match="'variational'"):
        gaussmix.kl_divergence(p, p, method="varitional")
    with pytest.raises(ValueError, match="n_samples"):
        gaussmix.kl_divergence(p, p, n_samples=1)
    with pytest.raises(NotFittedError):
        gaussmix.entropy(gaussmix.GaussianMixture())
    with pytest.raises(TypeError, match="fitted Gaussian mixture"):
        gaussmix.entropy(np.zeros(3))
