"""The torch backend: the NumPy backend's results on tensors, on the CPU (and a GPU).

Runs on torch's CPU build in CI; with a CUDA device present (``torch.cuda.is_available()``)
the device-parametrised tests also run there. Skipped as a whole without torch.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings
from typing import Any

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

torch = pytest.importorskip("torch")

from _support import COVARIANCE_TYPES, assert_close, blobs  # noqa: E402
from gaussmix import GaussianMixture  # noqa: E402
from gaussmix._core.covariance import get_covariance  # noqa: E402
from gaussmix._core.init import initial_stats  # noqa: E402
from gaussmix.backends.numpy import NumpyRows  # noqa: E402
from gaussmix.backends.torch import TorchRows  # noqa: E402

INITS = ("kmeans", "k-means++", "random", "random_from_data")
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
FITTED = ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_")


@pytest.fixture(params=["numpy", "torch"])
def cpu_kernels(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """CPU tensors through the NumPy kernels (the default) and through torch's."""
    from gaussmix.backends import torch as torch_backend

    monkeypatch.setattr(torch_backend, "CPU_KERNELS", request.param)
    return str(request.param)


def _fit(X: Any, **kw: Any) -> GaussianMixture:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(**kw).fit(X)


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max |b|."""
    return float(np.abs(np.asarray(a) - b).max() / np.abs(b).max())


def _assert_same_fit(a: GaussianMixture, b: GaussianMixture, rel: float) -> None:
    for name in FITTED:
        assert isinstance(getattr(b, name), np.ndarray), name
        assert _rel(getattr(b, name), getattr(a, name)) <= rel, name
    if np.isfinite(a.lower_bound_):  # -inf when no iteration ran (max_iter=0)
        assert abs(a.lower_bound_ - b.lower_bound_) <= rel * max(1.0, abs(a.lower_bound_))


def _separated(n: int, d: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Well-separated clusters with well-conditioned covariances, and their centres.

    float32 EM agrees with float64 EM to float32 rounding only where nothing amplifies
    rounding: no near-singular covariance, no close call of the stopping rule.
    """
    rng = np.random.RandomState(seed)
    centres = rng.normal(scale=6.0, size=(k, d))
    scales = rng.uniform(0.6, 1.5, size=(k, d))
    labels = rng.randint(k, size=n)
    X = centres[labels] + rng.normal(size=(n, d)) * scales[labels]
    return X, centres


# -- parity with the NumPy backend ---------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("init", INITS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float64_every_init_matches_numpy(
    covariance_type: str, init: str, device: str, cpu_kernels: str
) -> None:
    X = blobs(n=300, d=3, k=3, seed=1)
    kw = dict(
        n_components=3,
        covariance_type=covariance_type,
        init_params=init,
        random_state=0,
        tol=1e-8,
        max_iter=150,
    )
    ref = _fit(X, **kw)
    got = _fit(torch.from_numpy(X).to(device), **kw)
    assert got.n_iter_ == ref.n_iter_
    _assert_same_fit(ref, got, 1e-10)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("init", INITS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_starts_match_numpy(covariance_type: str, init: str, device: str) -> None:
    """Same random_state, same initial parameters (max_iter=0), in float32."""
    X = blobs(n=400, d=3, k=3, seed=2, dtype=np.float32)
    kw = dict(n_components=3, covariance_type=covariance_type, init_params=init, random_state=3)
    ref = _fit(X, max_iter=0, **kw)
    got = _fit(torch.from_numpy(X).to(device), max_iter=0, **kw)
    _assert_same_fit(ref, got, 1e-4)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_fit_from_same_start_matches_numpy(
    covariance_type: str, device: str, cpu_kernels: str
) -> None:
    X, centres = _separated(n=600, d=4, k=3, seed=4)
    means_init = centres + np.random.RandomState(0).normal(scale=0.7, size=centres.shape)
    kw = dict(n_components=3, covariance_type=covariance_type, means_init=means_init, tol=1e-4)
    X32 = X.astype(np.float32)
    ref = _fit(X32, **kw)
    got = _fit(torch.from_numpy(X32).to(device), **kw)
    _assert_same_fit(ref, got, 1e-4)
    _assert_same_fit(_fit(X, **kw), got, 1e-4)  # and float64's fit
    assert got.predict_proba(torch.from_numpy(X32).to(device)).dtype == torch.float32


def test_n_init_and_weights_match_numpy(cpu_kernels: str) -> None:
    X = blobs(n=300, d=2, k=4, seed=5)
    w = np.random.RandomState(0).uniform(0.2, 3.0, size=X.shape[0])
    kw = dict(n_components=4, n_init=3, random_state=7, tol=1e-6, init_params="k-means++")
    ref = GaussianMixture(**kw).fit(X, sample_weight=w)
    got = GaussianMixture(**kw).fit(torch.from_numpy(X), sample_weight=torch.from_numpy(w))
    _assert_same_fit(ref, got, 1e-10)
    assert got.score(torch.from_numpy(X), sample_weight=torch.from_numpy(w)) == pytest.approx(
        ref.score(X, sample_weight=w), rel=1e-12
    )


def test_integer_weights_are_repeated_rows() -> None:
    X = blobs(n=120, d=2, k=2, seed=6)
    counts = np.random.RandomState(1).randint(0, 4, size=X.shape[0])
    counts[:2] = 1
    repeated = torch.from_numpy(np.repeat(X, counts, axis=0))
    start = _fit(X, n_components=2, random_state=0, max_iter=1)
    kw = dict(
        n_components=2,
        tol=1e-10,
        means_init=start.means_,
        weights_init=start.weights_,
        precisions_init=start.precisions_,
    )
    a = GaussianMixture(**kw).fit(torch.from_numpy(X), sample_weight=torch.from_numpy(counts))
    b = GaussianMixture(**kw).fit(repeated)
    _assert_same_fit(b, a, 1e-9)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kernel", ["batched", "blocks", "tf32x3", "fused"])
def test_full_kernels_match_numpy(kernel: str, device: str, monkeypatch: Any) -> None:
    """Every way of computing 'full' whitened coordinates, on every chunking."""
    from gaussmix.backends import _torch_kernels
    from gaussmix.backends import torch as torch_backend

    monkeypatch.setattr(torch_backend, "CPU_KERNELS", "torch")
    monkeypatch.setattr(_torch_kernels, "FULL_KERNEL", kernel)
    X = blobs(n=4100, d=5, k=4, seed=14)
    kw = dict(n_components=4, random_state=0, tol=1e-8)
    ref = _fit(X, **kw)
    _assert_same_fit(ref, _fit(torch.from_numpy(X).to(device), **kw), 1e-10)
    cov = get_covariance("full")
    stats = NumpyRows(X).expectation(ref._params, cov)
    X32 = torch.from_numpy(X.astype(np.float32)).to(device)
    for chunk_rows in (None, 2048, 999):
        got = TorchRows(X32, chunk_rows=chunk_rows).expectation(ref._params, cov)
        for name in ("mass", "means", "scatter"):
            assert _rel(getattr(got, name), getattr(stats, name)) < 1e-5, (chunk_rows, name)


def test_tf32_split_is_exact() -> None:
    """hi is TF32 (10-bit mantissa), hi + lo is x exactly, and the split product is close."""
    from gaussmix.backends._torch_kernels import _split_tf32, _tf32x3_bmm

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(300, 70, generator=gen) * torch.logspace(-20, 20, 70)
    hi, lo = _split_tf32(x)
    assert torch.equal(hi + lo, x)
    assert not (hi.view(torch.int32) & 0x1FFF).any()
    assert bool((lo.abs() <= 2.0**-11 * x.abs()).all())
    a = torch.randn(40, 30, generator=gen)
    b = torch.randn(3, 30, 50, generator=gen)
    exact = (a.double() @ b.double()).float()
    assert _rel(_tf32x3_bmm(a, b).numpy(), exact.numpy()) < 1e-6


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the Triton kernel needs CUDA")
@pytest.mark.parametrize("shape", [(2, 3, 5, 100), (4, 2, 64, 130), (1, 2, 70, 64)])
def test_triton_weighted_gram(shape: tuple[int, int, int, int]) -> None:
    """The fused scale-and-scatter kernel against float64 einsum, odd sizes included."""
    pytest.importorskip("triton")
    from gaussmix.backends._torch_triton import weighted_gram

    s, K, d, b = shape
    gen = torch.Generator().manual_seed(0)
    work = torch.randn(s, K, d, b, generator=gen)
    resp = torch.rand(K, s * b, generator=gen)
    got = weighted_gram(work.cuda(), resp.cuda()).cpu().double()
    r = resp.view(K, s, b).transpose(0, 1).double()
    ref = torch.einsum("skit,skt,skjt->skij", work.double(), r, work.double())
    assert _rel(got.numpy(), ref.numpy()) < 1e-5


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_chunks_merge_exactly(covariance_type: str, cpu_kernels: str) -> None:
    """Statistics do not depend on the chunking; they equal the NumPy backend's."""
    X = blobs(n=257, d=3, k=3, seed=7)
    w = np.random.RandomState(2).uniform(0.0, 2.0, size=X.shape[0])
    cov = get_covariance(covariance_type)
    params = _fit(X, n_components=3, covariance_type=covariance_type, random_state=0)._params
    ref = NumpyRows(X, w).expectation(params, cov)
    Xt, wt = torch.from_numpy(X), torch.from_numpy(w)
    for chunk_rows in (None, 1, 37):
        rows = TorchRows(Xt, wt, chunk_rows=chunk_rows)
        got = rows.expectation(params, cov)
        for name in ("mass", "means", "scatter"):
            assert _rel(getattr(got, name), getattr(ref, name)) < 1e-12, (chunk_rows, name)
        scale = float(np.abs(X).max() ** 2 * w.sum())
        assert got.log_likelihood == pytest.approx(ref.log_likelihood, rel=1e-13)
        assert got.total_weight == pytest.approx(w.sum(), rel=1e-14)
        for method in INITS:
            a = initial_stats(rows, 3, method, np.random.RandomState(0), cov)
            b = initial_stats(NumpyRows(X, w), 3, method, np.random.RandomState(0), cov)
            for name in ("mass", "means", "scatter"):  # seeds' scatter is rounding: atol
                np.testing.assert_allclose(
                    getattr(a, name), getattr(b, name), rtol=1e-10, atol=1e-13 * scale
                )


def test_device_parameters_are_copied_once_for_inference(monkeypatch: pytest.MonkeyPatch) -> None:
    """Predictions on many tensors with one model fold and copy its parameters once
    (plans are kept by the parameter arrays' identity, not by the estimator)."""
    import gc

    from gaussmix.backends import _torch_kernels
    from gaussmix.backends import torch as torch_backend

    monkeypatch.setattr(torch_backend, "CPU_KERNELS", "torch")
    kernel = _torch_kernels.KERNELS[get_covariance("full").form.name]
    made = []
    original = type(kernel).plan

    def counting(self: Any, *args: Any) -> Any:
        made.append(args[1])
        return original(self, *args)

    monkeypatch.setattr(type(kernel), "plan", counting)
    X = blobs(n=200, d=3, k=2, seed=15)
    gm = _fit(torch.from_numpy(X), n_components=2, random_state=0)
    made.clear()
    for seed in range(3):
        gm.predict(torch.from_numpy(blobs(n=50, d=3, k=2, seed=seed)))
    assert made == [torch.float64]  # one plan for three calls
    gm.means_ = gm.means_.copy()  # new parameters: a new plan, never a stale one
    gm.predict(torch.from_numpy(X))
    assert len(made) == 2
    gc.collect()
    assert len(_torch_kernels._PLANS) <= _torch_kernels._MAX_PLANS


def test_worst_explained_matches_numpy(cpu_kernels: str) -> None:
    X = blobs(n=200, d=2, k=2, seed=8)
    w = np.ones(X.shape[0])
    w[:5] = 0.0
    gm = _fit(X, n_components=2, random_state=0)
    cov = get_covariance("full")
    ref = NumpyRows(X, w).worst_explained(gm._params, cov, 4)
    got = TorchRows(torch.from_numpy(X), torch.from_numpy(w)).worst_explained(gm._params, cov, 4)
    np.testing.assert_array_equal(got, ref)


# -- tensors in, tensors out -----------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
def test_tensor_in_tensor_out(device: str, cpu_kernels: str) -> None:
    X = blobs(n=200, d=3, k=2, seed=9)
    Xt = torch.from_numpy(X).to(device)
    ref = GaussianMixture(2, random_state=0).fit(X)
    gm = GaussianMixture(2, random_state=0)
    labels = gm.fit_predict(Xt)
    assert isinstance(labels, torch.Tensor) and labels.device.type == device
    for name in FITTED:
        assert isinstance(getattr(gm, name), np.ndarray)
    for method in ("predict", "predict_proba", "score_samples"):
        out = getattr(gm, method)(Xt)
        assert isinstance(out, torch.Tensor) and out.device.type == device, method
        assert_close(out.cpu().numpy(), getattr(ref, method)(X), rtol=1e-10)
    for method in ("score", "bic", "aic"):
        value = getattr(gm, method)(Xt)
        assert type(value) is float, method
        assert value == pytest.approx(getattr(ref, method)(X), rel=1e-12)
    # NumPy input to a model fitted on tensors gives NumPy output; pickling is unchanged.
    np.testing.assert_array_equal(gm.predict(X), ref.predict(X))
    clone = pickle.loads(pickle.dumps(gm))
    np.testing.assert_array_equal(clone.predict(Xt).cpu().numpy(), ref.predict(X))


def test_device_moves_numpy_input() -> None:
    X = blobs(n=150, d=2, k=2, seed=10, dtype=np.float32)
    ref = GaussianMixture(2, random_state=0).fit(X)
    gm = GaussianMixture(2, random_state=0, device="cpu").fit(X)
    out = gm.predict_proba(X)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_allclose(out, ref.predict_proba(X), atol=1e-5)
    assert isinstance(gm.score_samples(X), np.ndarray)
    auto = GaussianMixture(2, random_state=0, device="auto").fit(X)
    assert isinstance(auto.predict(X), np.ndarray)


def test_tensor_dtypes_and_validation() -> None:
    X = blobs(n=100, d=2, k=2, seed=11)
    gm = GaussianMixture(2, random_state=0).fit(torch.from_numpy(X))
    assert gm.score_samples(torch.from_numpy(X).half()).dtype == torch.float32
    assert gm.score_samples(torch.from_numpy(X).round().long()).dtype == torch.float64
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        gm.predict(torch.zeros(5, dtype=torch.float64))
    with pytest.raises(ValueError, match="dim 3"):
        gm.predict(torch.zeros(2, 2, 2))
    with pytest.raises(ValueError, match="0 sample"):
        gm.predict(torch.zeros(0, 2))
    with pytest.raises(ValueError, match="X has 3 features, but GaussianMixture is expecting 2"):
        gm.predict(torch.zeros(4, 3))
    bad = torch.from_numpy(X.copy())
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError) as from_tensor:
        GaussianMixture(2).fit(bad)
    with pytest.raises(ValueError) as from_numpy:
        GaussianMixture(2).fit(bad.numpy())
    assert str(from_tensor.value) == str(from_numpy.value)
    with pytest.raises(ValueError, match="non-negative"):
        GaussianMixture(2).fit(torch.from_numpy(X), sample_weight=-torch.ones(X.shape[0]))
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        GaussianMixture(3).fit(torch.from_numpy(X[:2]))


# -- errors when torch or the device is missing -------------------------------------------
def test_missing_torch_is_a_clear_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    X = blobs(n=50, d=2, k=2, seed=12)
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails
    with pytest.raises(ImportError, match=r'pip install "gaussmix\[torch\]"'):
        GaussianMixture(2, device="cpu").fit(X)
    GaussianMixture(2, random_state=0).fit(X)  # NumPy input, device=None: no torch needed


@pytest.mark.parametrize("device", ["gpu", "cuda:99", "tpu", 3])
def test_bad_device_lists_the_devices_that_exist(device: Any) -> None:
    X = blobs(n=50, d=2, k=2, seed=13)
    with pytest.raises(ValueError, match=r"The devices here are 'cpu'"):
        GaussianMixture(2, device=device).fit(X)


def test_estimator_checks_pass_on_the_torch_backend() -> None:
    from sklearn.utils.estimator_checks import check_estimator

    check_estimator(GaussianMixture(device="cpu"))


def test_numpy_input_never_imports_torch() -> None:
    code = (
        "import sys, numpy as np\n"
        "from gaussmix import GaussianMixture\n"
        "X = np.random.RandomState(0).normal(size=(60, 2))\n"
        "gm = GaussianMixture(2, random_state=0).fit(X)\n"
        "gm.predict(X); gm.predict_proba(X); gm.score_samples(X); gm.bic(X)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
