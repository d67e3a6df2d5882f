"""When numba pays: its one-time cost in a fresh process against what its kernels save.

The NumPy backend runs numba's compiled kernels only for E-step passes of at
least ``_COMPILED_MIN_WORK`` work (``gaussmix.backends._kernels.pass_work``: rows
x components x (features + 32)). This measures both sides of that bound:

- numba's one-time cost: fresh processes (NumPy, SciPy, scikit-learn and the
  estimator already imported) time importing the compiled kernels and the first
  call of a cached one (numba sets up its compiler context then), in CPU and wall
  seconds, medians over ``--rounds``;
- per case, one E-step pass (``NumpyRows.expectation``) with and without the
  compiled kernels, alternating, medians of CPU seconds, and how many passes the
  saving needs to repay the one-time cost.

Run it single-threaded (``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
GAUSSMIX_NUM_THREADS=1``) so that CPU seconds are what one core spends.

Usage: ``python bench/compiled_cost.py [--rounds N] [--repeats R]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np

from machine import header, load_average

# (label, covariance type, n, d, K); n = 0: scikit-learn's digits
CASES = (
    ("iris-sized 150 x 4, full", "full", 150, 4, 3),
    ("digits 1797 x 64, diag", "diag", 0, 64, 10),
    ("2,000 x 10, full", "full", 2_000, 10, 5),
    ("20,000 x 16, full", "full", 20_000, 16, 16),
    ("200,000 x 1, diag", "diag", 200_000, 1, 5),
    ("10,000 x 30, spherical", "spherical", 10_000, 30, 16),
    ("10,000 x 30, full", "full", 10_000, 30, 16),
    ("100,000 x 8, full", "full", 100_000, 8, 16),
    ("50,000 x 64, diag", "diag", 50_000, 64, 16),
)

_ONCE = r"""
import json, time
import numpy as np, scipy, sklearn.base
from gaussmix import GaussianMixture
wall, cpu = time.perf_counter(), time.process_time()
from gaussmix.backends import _jit
X = np.ones((8, 3))
_jit.squares(X, np.zeros(3), np.empty((7, 8)))
print(json.dumps({"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}))
"""


def one_time(rounds: int) -> tuple[float, float]:
    """Median wall and CPU seconds of numba's import and first cached kernel."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    runs = []
    for _ in range(rounds + 1):  # the first fills the caches
        done = subprocess.run(
            [sys.executable, "-c", _ONCE], capture_output=True, text=True, env=env, check=True
        )
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    runs = runs[1:]
    return statistics.median(r["wall"] for r in runs), statistics.median(r["cpu"] for r in runs)


def pass_seconds(cov: str, n: int, d: int, k: int, repeats: int) -> tuple[float, float, int]:
    """Median CPU seconds of one E-step pass without and with the compiled kernels."""
    from gaussmix import GaussianMixture
    from gaussmix._core.covariance import get_covariance
    from gaussmix.backends._kernels import KERNELS, pass_work
    from gaussmix.backends.numpy import NumpyRows

    if n == 0:
        from sklearn.datasets import load_digits

        X = load_digits().data
    else:
        rng = np.random.default_rng(0)
        X = rng.normal(size=(n, d)) + 3.0 * rng.integers(k, size=(n, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        params = GaussianMixture(k, covariance_type=cov, max_iter=3, random_state=0).fit(X)._params
    model = get_covariance(cov)
    rows = NumpyRows(X)
    bounds = {"numpy": str(2**62), "compiled": "0"}
    times: dict[str, list[float]] = {"numpy": [], "compiled": []}
    start = time.process_time()
    rows.expectation(params, model)
    passes = max(1, int(0.1 / max(time.process_time() - start, 1e-5)))  # 0.1 s a measurement
    for rep in range(repeats + 1):
        for which in ("numpy", "compiled") if rep % 2 == 0 else ("compiled", "numpy"):
            os.environ["GAUSSMIX_NUMBA_MIN_WORK"] = bounds[which]
            start = time.process_time()
            for _ in range(passes):
                rows.expectation(params, model)
            if rep:  # the first round warms up
                times[which].append((time.process_time() - start) / passes)
    del os.environ["GAUSSMIX_NUMBA_MIN_WORK"]
    work = pass_work(KERNELS[model.form.name], X.shape[0], X.shape[1], k)
    return statistics.median(times["numpy"]), statistics.median(times["compiled"]), work


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="fresh processes for the import")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds per case")
    args = parser.parse_args()
    from gaussmix.backends._kernels import _COMPILED_MIN_WORK

    print(header(), flush=True)
    wall, cpu = one_time(args.rounds)
    print(
        f"\nnumba's one-time cost (import and first cached kernel), median of "
        f"{args.rounds} fresh processes: {cpu:.3f} s CPU, {wall:.3f} s wall"
    )
    print(f"bound: passes of work >= {_COMPILED_MIN_WORK:,} run compiled\n")
    print("| case | K | pass work | NumPy ms | compiled ms | saving ms | passes to repay | runs |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for label, cov, n, d, k in CASES:
        numpy_s, compiled_s, work = pass_seconds(cov, n, d, k, args.repeats)
        saving = numpy_s - compiled_s
        repay = f"{cpu / saving:,.0f}" if saving > 0 else "never"
        runs = "compiled" if work >= _COMPILED_MIN_WORK else "NumPy"
        print(
            f"| {label} | {k} | {work:,} | {numpy_s * 1e3:.2f} | {compiled_s * 1e3:.2f} | "
            f"{saving * 1e3:.2f} | {repay} | {runs} |",
            flush=True,
        )
    print(f"\nLoad average at the end: {load_average()}")


if __name__ == "__main__":
    main()
