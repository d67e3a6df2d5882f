"""CPU tensors: the torch backend against the NumPy backend, side by side.

Issue 12 §5: a torch CPU tensor should fit no slower than the same data as a NumPy
array. Each case fits the same rows from the same start (``means_init``,
``tol=0``, a fixed number of iterations) as a NumPy array, as a CPU tensor
through the NumPy kernels (``CPU_KERNELS = 'numpy'``, the default: the tensor's
memory is shared, not copied), alternating, then as a CPU tensor through torch's
own kernels (``CPU_KERNELS = 'torch'``) in runs of their own (torch's threads spin
after its operations and slowed whichever run came next: 1.8x on 'diag' when the
three alternated), and reports the medians and the ratios.

Also three small cases (150 to 2,000 rows), where the fixed costs of a call
(the boundary's checks of a tensor, the host view) are what could differ.

Usage: ``python bench/torch_cpu.py [--n N] [--iters I] [--repeats R]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from gaussmix import GaussianMixture
from gaussmix.backends import torch as torch_backend

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import header, load_average
from run import make_data

CASES = (("full", 16, 64), ("tied", 16, 64), ("diag", 16, 64), ("spherical", 16, 64))
"""(covariance type, d, K) at ``--n`` rows."""
SMALL = (("full", 2_000, 10, 5), ("diag", 2_000, 10, 5), ("full", 150, 4, 3))
"""(covariance type, n, d, K): small data, where fixed costs per call matter."""


def fit_seconds(X: object, cov: str, k: int, means: np.ndarray, iters: int) -> float:
    gm = GaussianMixture(k, covariance_type=cov, means_init=means, tol=0.0, max_iter=iters)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        gm.fit(X)
        return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(header())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    print(
        f"{args.iters} EM iterations per fit; medians of {args.repeats} alternating runs "
        f"(n >= 10,000) or {15 * args.repeats} (small data)\n"
    )
    print(
        "| case | NumPy array ms | tensor, NumPy kernels ms | tensor, torch kernels ms | "
        "NumPy / tensor (NumPy kernels) | torch kernels / NumPy kernels |"
    )
    print("|---|---|---|---|---|---|")
    cases = [(cov, args.n, d, k) for cov, d, k in CASES] + list(SMALL)
    for cov, n, d, k in cases:
        X = make_data(n, d, k)
        means = X[np.random.default_rng(1).choice(n, k, replace=False)]
        T = torch.from_numpy(X)
        runs: dict[str, list[float]] = {"numpy": [], "shared": [], "torch": []}
        fit_seconds(X, cov, k, means, 2)  # warm up (compilation)
        # Small fits take milliseconds: more repeats, for the same share of the run.
        repeats = args.repeats if n >= 10_000 else 15 * args.repeats
        # The array and the tensor alternate; torch's own kernels run after them, as
        # their OpenMP threads keep spinning after each run and would slow the next.
        for rep in range(repeats):
            for which in ("numpy", "shared") if rep % 2 == 0 else ("shared", "numpy"):
                runs[which].append(
                    fit_seconds(X if which == "numpy" else T, cov, k, means, args.iters)
                )
        torch_backend.CPU_KERNELS = "torch"
        for _ in range(repeats):
            runs["torch"].append(fit_seconds(T, cov, k, means, args.iters))
        torch_backend.CPU_KERNELS = "numpy"
        a, b, c = (statistics.median(runs[w]) for w in ("numpy", "shared", "torch"))
        print(
            f"| {cov}, n={n:,}, d={d}, K={k} | {a * 1e3:.1f} | {b * 1e3:.1f} | {c * 1e3:.1f} "
            f"| {a / b:.2f} | {c / b:.2f} |",
            flush=True,
        )
    print(f"\nLoad average at the end: {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
