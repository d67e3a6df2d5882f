"""Dask arrays and DataFrames: the same fit as NumPy, on any scheduler, surviving a lost worker."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

dask = pytest.importorskip("dask")
pytest.importorskip("dask.bag")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")

from gaussmix import GaussianMixture  # noqa: E402
from gaussmix._core.init import kmeans  # noqa: E402
from gaussmix.distributed.dask import DaskRows  # noqa: E402

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
CENTRES = np.array([[0.0, 0.0, 0.0], [4.0, 4.0, 0.0], [0.0, 5.0, 5.0]])


def _mixture(n_per: int = 400, seed: int = 0) -> np.ndarray:
    rng = np.random.RandomState(seed)
    X = np.vstack([rng.randn(n_per, 3) * (1.0 + k / 2) + c for k, c in enumerate(CENTRES)])
    return X[rng.permutation(len(X))]


X = _mixture()
# A fixed start, so that the fits compare iterate by iterate.
START = dict(means_init=CENTRES + 0.5, weights_init=np.full(3, 1 / 3), random_state=0)
EXACT = dict(n_components=3, tol=1e-6, max_iter=300)


def _assert_same_fit(gm: GaussianMixture, ref: GaussianMixture, atol: float = 1e-8) -> None:
    assert gm.n_iter_ == ref.n_iter_
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_allclose(getattr(gm, name), getattr(ref, name), rtol=0, atol=atol)
    assert gm.lower_bound_ == pytest.approx(ref.lower_bound_, abs=atol)


@pytest.fixture(scope="session")
def client():
    """One LocalCluster of two worker processes for the whole session."""
    with (
        distributed.LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


@pytest.fixture
def synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


def test_import_gaussmix_does_not_import_dask():
    # (pyarrow is not checked: scikit-learn imports pandas, which imports it when present.)
    code = (
        "import sys, gaussmix; gaussmix.GaussianMixture(2).fit([[0.0], [1.0], [5.0], [6.0]]); "
        "print(sorted(m for m in ('dask', 'distributed') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.usefixtures("synchronous")
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("chunks", [1200, 500, 97])
def test_chunking_invariance_matches_numpy(covariance_type, chunks):
    kw = dict(EXACT, covariance_type=covariance_type, **START)
    ref = GaussianMixture(**kw).fit(X)
    gm = GaussianMixture(**kw).fit(da.from_array(X, chunks=(chunks, 3)))
    _assert_same_fit(gm, ref)


def test_threaded_scheduler_matches_numpy():
    kw = dict(EXACT, covariance_type="diag", **START)
    ref = GaussianMixture(**kw).fit(X)
    with dask.config.set(scheduler="threads"):
        gm = GaussianMixture(**kw).fit(da.from_array(X, chunks=(100, 3)))
    _assert_same_fit(gm, ref)


@pytest.mark.usefixtures("synchronous")
@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_initialisations_match_numpy(init_params):
    # The init methods are written once (gaussmix._core.init): the same start.
    kw = dict(EXACT, init_params=init_params, random_state=3)
    ref = GaussianMixture(**kw).fit(X)
    gm = GaussianMixture(**kw).fit(da.from_array(X, chunks=(250, 3)))
    _assert_same_fit(gm, ref)


@pytest.mark.usefixtures("synchronous")
@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_initialisation_of_large_data_gathers_only_a_sample(monkeypatch, init_params):
    monkeypatch.setattr(kmeans, "KMEANS_SAMPLE_ROWS", 300)
    taken = []
    take = DaskRows._take

    def spy(self, index):
        taken.append(self.n_rows if index is None else len(index))
        return take(self, index)

    monkeypatch.setattr(DaskRows, "_take", spy)
    kw = dict(n_components=3, init_params=init_params, random_state=0, tol=1e-6, max_iter=500)
    gm = GaussianMixture(**kw).fit(da.from_array(X, chunks=(250, 3)))
    assert all(n <= 300 for n in taken)
    _assert_same_fit(gm, GaussianMixture(**kw).fit(X))


def test_distributed_fit_matches_numpy_and_outputs_are_lazy(client):
    kw = dict(EXACT, **START)
    ref = GaussianMixture(**kw).fit(X)
    dX = da.from_array(X, chunks=(150, 3))
    gm = GaussianMixture(**kw).fit(dX)
    _assert_same_fit(gm, ref)

    labels, proba, log_density = gm.predict(dX), gm.predict_proba(dX), gm.score_samples(dX)
    for out, expected in [
        (labels, ref.predict(X)),
        (proba, ref.predict_proba(X)),
        (log_density, ref.score_samples(X)),
    ]:
        assert isinstance(out, da.Array)
        assert out.chunks[0] == dX.chunks[0]
        np.testing.assert_allclose(out.compute(), expected, rtol=0, atol=1e-8)
    score = gm.score(dX)
    assert isinstance(score, float)
    assert score == pytest.approx(ref.score(X), abs=1e-10)
    assert gm.bic(dX) == pytest.approx(ref.bic(X), rel=1e-12)
    assert gm.aic(dX) == pytest.approx(ref.aic(X), rel=1e-12)


def test_sample_weight_as_dask_or_numpy(client):
    w = np.random.RandomState(1).randint(0, 4, size=len(X)).astype(float)
    kw = dict(EXACT, **START)
    ref = GaussianMixture(**kw).fit(X, sample_weight=w)
    dX = da.from_array(X, chunks=(300, 3))
    for weights in (w, da.from_array(w, chunks=500)):
        _assert_same_fit(GaussianMixture(**kw).fit(dX, sample_weight=weights), ref)
    assert GaussianMixture(**kw).fit(X).score(dX, sample_weight=w) == pytest.approx(
        GaussianMixture(**kw).fit(X).score(X, sample_weight=w), abs=1e-10
    )


@pytest.mark.usefixtures("synchronous")
def test_dask_dataframe_numeric_columns():
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    frame["c"] = (frame["c"] * 100).round().astype(int)  # integer columns are numbers too
    kw = dict(EXACT, **START)
    ref = GaussianMixture(**kw).fit(frame.to_numpy(dtype=float))
    gm = GaussianMixture(**kw).fit(dd.from_pandas(frame, npartitions=4))
    _assert_same_fit(gm, ref)
    labels = gm.predict(dd.from_pandas(frame, npartitions=3))
    assert isinstance(labels, da.Array)
    np.testing.assert_array_equal(labels.compute(), ref.predict(frame.to_numpy(dtype=float)))


@pytest.mark.usefixtures("synchronous")
def test_dask_dataframe_with_text_column_names_it():
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(city="Oslo", kind="x")
    with pytest.raises(TypeError, match=r"non-numeric columns \['city', 'kind'\]"):
        GaussianMixture(3).fit(dd.from_pandas(frame, npartitions=2))


@pytest.mark.usefixtures("synchronous")
def test_bad_dask_input_errors():
    bad = X.copy()
    bad[700, 1] = np.nan
    with pytest.raises(ValueError, match="at row 700, column 1"):
        GaussianMixture(3, **START).fit(da.from_array(bad, chunks=(250, 3)))
    gm = GaussianMixture(3, **START).fit(X)
    with pytest.raises(ValueError, match="at row 700, column 1"):
        gm.predict(da.from_array(bad, chunks=(250, 3))).compute()
    with pytest.raises(ValueError, match="X has 2 features, but GaussianMixture is expecting 3"):
        gm.predict(da.from_array(X[:, :2], chunks=(250, 2)))
    with pytest.raises(TypeError, match="Expected a dask array or dask DataFrame; got Bag"):
        gm.fit(dask.bag.from_sequence([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="2D dask array"):
        gm.fit(da.from_array(X[:, 0], chunks=250))
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        GaussianMixture(5).fit(da.from_array(X[:3], chunks=2))
    with pytest.raises(ValueError, match="non-negative"):
        GaussianMixture(3).fit(da.from_array(X, chunks=250), sample_weight=-np.ones(len(X)))


@pytest.mark.timeout(150)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fit_survives_a_killed_worker(client, monkeypatch):
    """Kill one worker process mid-fit: its blocks are recomputed, the result is unchanged."""
    kw = dict(n_components=3, tol=0.0, max_iter=12, **START)
    ref = GaussianMixture(**kw).fit(X)
    victim = max(client.run(os.getpid).values())
    killed = threading.Event()
    calls = 0
    map_merge = DaskRows._map_merge

    def kill() -> None:
        os.kill(victim, signal.SIGKILL)
        killed.set()

    def kill_during_third_pass(self, *args):
        nonlocal calls
        calls += 1
        if calls == 3:  # from a thread, while the pass runs
            threading.Timer(0.02, kill).start()
        return map_merge(self, *args)

    monkeypatch.setattr(DaskRows, "_map_merge", kill_during_third_pass)
    gm = GaussianMixture(**kw).fit(da.from_array(X, chunks=(100, 3)))
    assert killed.is_set()
    assert calls == gm.n_iter_ == kw["max_iter"]
    _assert_same_fit(gm, ref)
    # The nanny starts a new worker process; later tests get two workers again.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pids = client.run(os.getpid)
        if len(pids) == 2 and victim not in pids.values():
            break
        time.sleep(0.2)
    assert victim not in pids.values()
