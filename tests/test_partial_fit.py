"""partial_fit: online (stepwise) EM over batches, from arrays, scan chunks and Dask blocks."""

from __future__ import annotations

import numpy as np
import pytest

from _support import assert_close
from gaussmix import GaussianMixture, scan
from gaussmix._core.covariance import get_covariance
from gaussmix._core.online import scaled, step_size, stepwise_update
from gaussmix._core.stats import Stats

CENTRES = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
WEIGHTS = np.array([0.5, 0.3, 0.2])
SCALES = np.array([1.0, 0.7, 1.3])


def draw(n: int, rng: np.random.RandomState) -> np.ndarray:
    labels = rng.choice(3, size=n, p=WEIGHTS)
    return CENTRES[labels] + rng.randn(n, 2) * SCALES[labels, None]


def raw_moments(stats: Stats) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Σ r, Σ r x, Σ r x xᵀ of full-covariance statistics."""
    first = stats.mass[:, None] * stats.means
    second = stats.scatter + np.einsum("k,ki,kj->kij", stats.mass, stats.means, stats.means)
    return stats.mass, first, second


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_hundred_batches_reach_the_batch_em_log_likelihood(covariance_type):
    rng = np.random.RandomState(0)
    batches = [draw(200, rng) for _ in range(100)]
    X = np.vstack(batches)
    batch_em = GaussianMixture(3, covariance_type=covariance_type, tol=1e-8, max_iter=1000)
    batch_em.set_params(random_state=0).fit(X)
    online = GaussianMixture(3, covariance_type=covariance_type, random_state=0)
    for batch in batches:
        online.partial_fit(batch)
    assert online.n_iter_ == 100
    assert len(online.lower_bounds_) == 100
    assert not online.converged_
    gap = (batch_em.score(X) - online.score(X)) / abs(batch_em.score(X))
    assert gap < 0.01

    # It found batch EM's mixture, not just a likelihood: the same components, in some order.
    def order(gm):
        return np.argsort(gm.means_[:, 0] + 2 * gm.means_[:, 1])

    online_order, batch_order = order(online), order(batch_em)
    np.testing.assert_allclose(online.means_[online_order], batch_em.means_[batch_order], atol=0.1)
    np.testing.assert_allclose(
        online.weights_[online_order], batch_em.weights_[batch_order], atol=0.02
    )


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_first_call_initialises_from_its_batch_like_fit():
    X = draw(300, np.random.RandomState(1))
    one = GaussianMixture(3, random_state=0).partial_fit(X)
    # One stepwise-EM step from the same start is one EM iteration.
    fit = GaussianMixture(3, random_state=0, max_iter=1).fit(X)
    for name in ("weights_", "means_", "covariances_"):
        assert_close(getattr(one, name), getattr(fit, name), rtol=1e-12)
    assert one.n_features_in_ == 2


def test_the_step_interpolates_raw_moments_exactly():
    rng = np.random.RandomState(2)
    cov = get_covariance("full")
    gm = GaussianMixture(3, random_state=0).fit(draw(500, rng))
    from gaussmix.backends.numpy import NumpyRows

    a = NumpyRows(draw(100, rng)).expectation(gm._params, cov)
    b = NumpyRows(draw(300, rng) + 1000.0).expectation(gm._params, cov)  # far apart
    running = stepwise_update(None, a, 1.0, get_covariance("full").form)
    assert running.total_weight == pytest.approx(1.0)
    eta = step_size(1, 0.7, 2.0)
    assert eta == pytest.approx(3.0**-0.7)
    new = stepwise_update(running, b, eta, get_covariance("full").form)
    expected = [
        (1 - eta) * ma / 100 + eta * mb / 300
        for ma, mb in zip(raw_moments(a), raw_moments(b), strict=True)
    ]
    for got, want in zip(raw_moments(new), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    assert scaled(a, 0.0).mass.sum() == 0.0


def test_steps_follow_the_documented_schedule():
    assert step_size(0, 0.7, 0.0) == 1.0  # capped
    assert step_size(4, 0.6, 1.0) == pytest.approx(5.0**-0.6)
    assert step_size(4, 1.0, 2.0) == pytest.approx(1 / 6)


def test_works_with_scan_chunks_and_weights(tmp_path):
    rng = np.random.RandomState(3)
    X = draw(20_000, rng)
    np.save(tmp_path / "x.npy", X)
    from_chunks = GaussianMixture(3, random_state=0)
    for chunk in scan(tmp_path / "x.npy", chunk_rows=500):
        from_chunks.partial_fit(chunk)
    assert from_chunks.n_iter_ == 40
    weighted = GaussianMixture(3, random_state=0)
    for chunk in np.array_split(X, 40):
        weighted.partial_fit(chunk, sample_weight=np.full(len(chunk), 2.0))
    # Batches are averaged per unit of weight: uniform weights change nothing.
    assert_close(weighted.means_, from_chunks.means_, rtol=1e-10)
    whole = GaussianMixture(3, random_state=0).partial_fit(scan(tmp_path / "x.npy"))
    assert whole.n_iter_ == 1


def test_works_with_dask_blocks():
    da = pytest.importorskip("dask.array")
    dask = pytest.importorskip("dask")
    X = draw(8_000, np.random.RandomState(4))
    dX = da.from_array(X, chunks=(500, 2))
    online, reference = GaussianMixture(3, random_state=0), GaussianMixture(3, random_state=0)
    with dask.config.set(scheduler="synchronous"):
        for block in dX.blocks:
            online.partial_fit(block)
    for block in np.array_split(X, 16):
        reference.partial_fit(block)
    assert_close(online.means_, reference.means_, rtol=1e-10)


def test_continues_after_fit_and_fit_starts_afresh():
    rng = np.random.RandomState(5)
    X = draw(2000, rng)
    gm = GaussianMixture(3, random_state=0).fit(X)
    means = gm.means_.copy()
    gm.partial_fit(draw(500, rng))
    assert gm.n_iter_ == 1  # continued from the fitted parameters, new running statistics
    np.testing.assert_allclose(gm.means_, means, atol=0.3)
    gm.partial_fit(draw(500, rng))
    assert gm.n_iter_ == 2
    gm.fit(X)
    gm.partial_fit(draw(500, rng))
    assert gm.n_iter_ == 1


def test_bad_input_and_parameters():
    X = draw(100, np.random.RandomState(6))
    gm = GaussianMixture(3, random_state=0).partial_fit(X)
    with pytest.raises(ValueError, match="X has 3 features, but GaussianMixture is expecting 2"):
        gm.partial_fit(np.hstack([X, X[:, :1]]))
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        GaussianMixture(3).partial_fit(X[:2])
    with pytest.raises(ValueError, match="learning_decay"):
        GaussianMixture(3, learning_decay=0.5).partial_fit(X)
    with pytest.raises(ValueError, match=r"'learning_decay' .* in the range \(0\.5, 1\.0\]"):
        GaussianMixture(3, learning_decay=1.5).partial_fit(X)
    with pytest.raises(ValueError, match="learning_offset"):
        GaussianMixture(3, learning_offset=-1.0).partial_fit(X)
    bad = X.copy()
    bad[5, 1] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        gm.partial_fit(bad)
