"""Very many components (issue 12 §4): n = 100,000, d = 32, K = 1,024 against scikit-learn.

Per covariance type, both libraries:

- initialisation: a default fit with ``max_iter=0`` (k-means seeding and its
  statistics, nothing else), median of alternating runs;
- time per EM iteration from the same ``weights_init``/``means_init``/
  ``precisions_init`` with ``tol=0``, as ``(T(n_iter) - T(1)) / (n_iter - 1)``
  (``run.per_iteration``);
- gaussmix's peak traced memory during a one-iteration fit (``tracemalloc``, which
  sees NumPy's buffers), against the n x K float64 array (800 MB here) that
  scikit-learn's E-step holds twice.

Usage: ``python bench/many_components.py [--n N] [--k K] [--types full,diag] [--iters N]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from gaussmix import GaussianMixture
from machine import header, load_average
from run import Case, per_iteration, starting_params


def init_seconds(cls: type, X: np.ndarray, k: int, cov: str) -> float:
    start = time.perf_counter()
    cls(k, covariance_type=cov, max_iter=0, random_state=0).fit(X)
    return time.perf_counter() - start


def peak_bytes(X: np.ndarray, k: int, cov: str, init: dict) -> int:
    tracemalloc.start()
    GaussianMixture(k, covariance_type=cov, max_iter=1, tol=0.0, **init).fit(X)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--d", type=int, default=32)
    parser.add_argument("--k", type=int, default=1024)
    parser.add_argument("--types", default="full,tied,diag,spherical")
    parser.add_argument("--iters", type=int, default=3, help="EM iterations per timed fit")
    parser.add_argument("--pairs", type=int, default=2, help="alternating pairs")
    args = parser.parse_args()
    print(header(), flush=True)
    rng = np.random.default_rng(0)
    n, d, k = args.n, args.d, args.k
    X = rng.normal(scale=3.0, size=(k, d))[rng.integers(k, size=n)] + rng.normal(size=(n, d))
    print(
        f"\nn={n:,}, d={d}, K={k:,}; {args.pairs} alternating pairs, medians; per iteration "
        f"from {args.iters}- and 1-iteration fits.\n"
    )
    print(
        "| covariance | init sk s | init gm s | init ratio | sk s/iter | gm s/iter | "
        "iter ratio | gm peak traced MB | n x K float64 MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    warnings.simplefilter("ignore", ConvergenceWarning)
    for cov in args.types.split(","):
        init = starting_params(X, k, cov)
        case = Case(cov, n, d, k, np.float64, 0.0)
        for cls in (GaussianMixture, SkGaussianMixture):  # warm: compiled kernels, buffers
            cls(k, covariance_type=cov, max_iter=1, **init).fit(X[: 4 * k])
        times: dict[str, list[float]] = {"si": [], "gi": [], "se": [], "ge": []}
        for rep in range(args.pairs):
            order = ("gm", "sk") if rep % 2 == 0 else ("sk", "gm")
            for who in order:
                cls = GaussianMixture if who == "gm" else SkGaussianMixture
                times[f"{who[0]}i"].append(init_seconds(cls, X, k, cov))
                times[f"{who[0]}e"].append(per_iteration(cls, X, case, init, args.iters)[0])
        m = {key: statistics.median(v) for key, v in times.items()}
        peak = peak_bytes(X, k, cov, init) / 2**20
        print(
            f"| {cov} | {m['si']:.2f} | {m['gi']:.2f} | **{m['si'] / m['gi']:.1f}x** | "
            f"{m['se']:.2f} | {m['ge']:.3f} | **{m['se'] / m['ge']:.1f}x** | {peak:.0f} | "
            f"{n * k * 8 / 2**20:.0f} |",
            flush=True,
        )
    print(f"\nLoad average at the end: {load_average()}")


if __name__ == "__main__":
    main()
