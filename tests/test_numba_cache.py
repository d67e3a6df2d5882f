"""Every compiled kernel comes from numba's on-disk cache in a fresh process.

The first fit in a new process must not pay for compilation (about a second per
process otherwise). Checked without any timing: a child process fits a set of
models that reaches every kernel (each covariance form, the fused 1-D pass, the
BLAS-calling 'full' kernels at d >= 32, the direct passes for far 'diag' and
many-dimensional 'full' components, 'hc'), with ``NUMBA_CACHE_DIR`` pointing at
an empty folder, and reports numba's own cache statistics; a second child does
the same and must load everything and compile nothing.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import pytest

numba = pytest.importorskip("numba")

KERNEL_MODULES = ("gaussmix.backends._jit", "gaussmix._core._hc_kernel")

_CHILD = r"""
import importlib, json, sys, warnings
import numpy as np
from gaussmix import GaussianMixture

warnings.simplefilter("ignore")
rng = np.random.default_rng(0)

def blobs(n, d, k, spread):
    return rng.normal(size=(n, d)) + spread * rng.integers(k, size=(n, 1))

# (large enough for the feature kernels: smaller data run backends/_lean.py's NumPy)
for cov in ("full", "tied", "diag", "spherical"):
    GaussianMixture(2, covariance_type=cov, max_iter=2, random_state=0).fit(blobs(3000, 3, 2, 4))
GaussianMixture(3, covariance_type="diag", max_iter=2, random_state=0).fit(blobs(6000, 1, 3, 5))
GaussianMixture(2, max_iter=2, random_state=0).fit(blobs(6000, 32, 2, 3))
GaussianMixture(2, covariance_type="diag", max_iter=2, random_state=0).fit(blobs(3000, 3, 2, 1e3))
GaussianMixture(2, max_iter=2, random_state=0).fit(blobs(3000, 32, 2, 1e3))
GaussianMixture(2, init_params="hc", max_iter=2, random_state=0).fit(blobs(200, 2, 2, 4))

stats = {}
for name in sys.argv[1:]:
    module = importlib.import_module(name)
    for attr, obj in vars(module).items():
        if hasattr(obj, "stats") and hasattr(obj, "py_func"):
            stats[f"{name}.{attr}"] = [
                sum(obj.stats.cache_hits.values()), sum(obj.stats.cache_misses.values())
            ]
print(json.dumps(stats))
"""


def _dispatchers() -> dict[str, object]:
    found = {}
    for name in KERNEL_MODULES:
        for attr, obj in vars(importlib.import_module(name)).items():
            if isinstance(obj, numba.core.registry.CPUDispatcher):
                found[f"{name}.{attr}"] = obj
    return found


def test_every_kernel_asks_for_the_disk_cache():
    found = _dispatchers()
    assert len(found) >= 10
    uncached = [name for name, f in found.items() if type(f._cache).__name__ != "FunctionCache"]
    assert uncached == []


def _child(cache_dir: str) -> dict[str, list[int]]:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir, "GAUSSMIX_NUMBA_MIN_WORK": "0"}
    env.pop("GAUSSMIX_DISABLE_NUMBA", None)
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, *KERNEL_MODULES],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_fresh_process_compiles_nothing(tmp_path):
    first = _child(str(tmp_path))
    compiled = {name for name, (_, misses) in first.items() if misses}
    # The empty cache was filled: the check below can fail.
    assert {"gaussmix.backends._jit.maha_triangular", "gaussmix.backends._jit.sums_1d"} <= compiled
    second = _child(str(tmp_path))
    assert {name: misses for name, (_, misses) in second.items() if misses} == {}
    loaded = {name for name, (hits, _) in second.items() if hits}
    called = {"maha_triangular", "scatter_syrk", "sums_1d", "products", "squares", "norms"}
    called |= {"diagonal_direct", "diagonal_direct_moments", "moments_about"}
    assert {f"gaussmix.backends._jit.{name}" for name in called} <= loaded
    assert any(name.startswith("gaussmix._core._hc_kernel.") for name in loaded)


def _fresh_fit(code: str) -> str:
    """The last line a fresh process prints after ``code`` (no GAUSSMIX_ settings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAUSSMIX_")}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout.strip().splitlines()[-1]


_SMALL_FITS = (
    "import sys, warnings; from sklearn.datasets import load_digits, load_iris; "
    "from gaussmix import GaussianMixture; from gaussmix._core import parallel; "
    "warnings.simplefilter('ignore'); X = load_iris().data; "
    "[GaussianMixture(3, covariance_type=c, random_state=0).fit(X) "
    "for c in ('full', 'tied', 'diag', 'spherical')]; "
    "blas = parallel._blas is not None; "
    "GaussianMixture(10, covariance_type='diag', random_state=0).fit(load_digits().data); "
    "print('numba' in sys.modules, blas)"
)


def test_small_fits_never_load_numba():
    """Where numba's one-time cost (about a second in a fresh process) exceeds what its
    kernels save over a fit, the E-step runs NumPy's loops: iris of every covariance
    type and digits (1797 x 64, 'diag', K = 10) leave numba unimported, and iris
    never scans the loaded libraries to hold BLAS to one thread (its products are
    too small for BLAS threads)."""
    assert _fresh_fit(_SMALL_FITS) == "False False"


def test_a_large_pass_loads_numba():
    """The other side of the bound: a pass of 100,000 x 8 'full' rows with K = 16 runs
    the compiled kernels."""
    code = (
        "import sys, warnings, numpy as np; from gaussmix import GaussianMixture; "
        "warnings.simplefilter('ignore'); X = np.random.default_rng(0).normal(size=(100_000, 8)); "
        "GaussianMixture(16, max_iter=1, random_state=0).fit(X); print('numba' in sys.modules)"
    )
    assert _fresh_fit(code) == "True"


def test_without_a_writable_cache_folder_kernels_compile_per_process(monkeypatch, caplog):
    """numba refuses ``cache=True`` when no folder is writable (a read-only install with
    no writable home and no NUMBA_CACHE_DIR): the kernel is compiled uncached instead."""
    from gaussmix._core import compiled

    real = numba.njit

    def refusing(*args, **options):
        if options.get("cache"):
            raise RuntimeError("cannot cache function 'f': no locator available for file 'x'")
        return real(*args, **options)

    monkeypatch.setattr(numba, "njit", refusing)
    monkeypatch.setattr(compiled, "_warned", False)

    def f(x):
        return x + 1

    with caplog.at_level("WARNING", logger="gaussmix"):
        kernel = compiled.njit(nogil=True)(f)
    assert kernel(1) == 2
    assert type(kernel._cache).__name__ == "NullCache"
    assert "NUMBA_CACHE_DIR" in caplog.text
