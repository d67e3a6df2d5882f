"""CPU speed of gaussmix against scikit-learn, side by side (``make bench``).

For every case of issue 3's table both libraries fit the same data from the same
starting parameters (``weights_init``, ``means_init``, ``precisions_init``) with
``tol=0`` for a fixed number of iterations, alternating several times in this one
process. The time per EM iteration is ``(T(N iterations) - T(1 iteration)) / (N - 1)``,
so validation, initialisation and the final labelling E-step cancel out. Both fits
must end at the same lower bound (the same work was done). The script also times
``gaussmix.gmm_em`` against the original problem's reference solution, reports the
'kmeans' initialisation time against the EM time at n = 1,000,000 and, in a child
process, the peak memory of ``predict`` on 20,000,000 x 8 float32 rows.

Usage: ``python bench/run.py [--quick] [--strict] [--skip-memory] [--skip-init]``.
``--quick`` is a smoke run on smaller data; ``--strict`` exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import gaussmix
from gaussmix import GaussianMixture

HERE = Path(__file__).resolve().parent
# The original problem's reference solution, kept verbatim once, beside the tests that pin it.
sys.path.insert(0, str(HERE.parent / "tests"))
from machine import header, load_average  # noqa: E402
from reference_gmm_em import gmm_em as reference_gmm_em  # noqa: E402


@dataclass(frozen=True)
class Case:
    covariance_type: str
    n: int
    d: int
    k: int
    dtype: type
    target: float

    @property
    def label(self) -> str:
        dtype = np.dtype(self.dtype).name
        return f"{self.covariance_type}, {dtype}, n={self.n:,}, d={self.d}, K={self.k}"


CASES = (
    Case("full", 200_000, 16, 16, np.float64, 8.0),
    Case("full", 200_000, 16, 16, np.float32, 8.0),
    Case("tied", 200_000, 16, 16, np.float64, 8.0),
    Case("diag", 200_000, 16, 16, np.float64, 5.0),
    Case("spherical", 200_000, 16, 16, np.float64, 5.0),
    Case("diag", 1_000_000, 1, 5, np.float64, 10.0),
    Case("full", 50_000, 64, 8, np.float64, 4.0),
    Case("full", 500_000, 2, 4, np.float64, 8.0),
)


# -- the machine ----------------------------------------------------------------
def matmul_peak(dtype: type, size: int = 2000, repeats: int = 5) -> float:
    """Best measured GFLOP/s of a square matrix product, all threads."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size)).astype(dtype)
    b = rng.standard_normal((size, size)).astype(dtype)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2.0 * size**3 / best / 1e9


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# -- data and starting parameters ---------------------------------------------------
def make_data(
    n: int, d: int, k: int, seed: int = 0, separation: float = 3.0, imbalance: float = 1.0
) -> np.ndarray:
    """n rows from a random mixture of k Gaussians in d dimensions (float64).

    The centres are drawn with standard deviation ``separation`` (clusters have a
    unit-scale covariance); with ``imbalance`` > 1 the cluster sizes grow
    geometrically, the largest ``imbalance`` times the smallest.
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=separation, size=(k, d))
    if imbalance == 1:
        labels = rng.integers(k, size=n)
    else:
        sizes = np.geomspace(1.0, imbalance, k)
        labels = rng.choice(k, size=n, p=sizes / sizes.sum())
    X = np.empty((n, d))
    for j in range(k):
        rows = labels == j
        a = rng.normal(size=(d, d)) / np.sqrt(d)
        chol = np.linalg.cholesky(a @ a.T + 0.5 * np.eye(d))
        X[rows] = centres[j] + rng.standard_normal((int(rows.sum()), d)) @ chol.T
    return X


def starting_params(X: np.ndarray, k: int, covariance_type: str, seed: int = 1) -> dict:
    """weights_init, means_init and precisions_init shared by both libraries."""
    rng = np.random.default_rng(seed)
    d = X.shape[1]
    X64 = X.astype(np.float64)
    means = X64[rng.choice(X.shape[0], size=k, replace=False)]
    cov = np.atleast_2d(np.cov(X64, rowvar=False))
    prec = np.linalg.inv(cov)
    precisions: np.ndarray
    if covariance_type == "full":
        precisions = np.repeat(prec[None], k, axis=0)
    elif covariance_type == "tied":
        precisions = prec
    elif covariance_type == "diag":
        precisions = np.repeat(1.0 / np.diag(cov)[None], k, axis=0)
    else:
        precisions = np.full(k, d / np.trace(cov))
    return {
        "weights_init": np.full(k, 1.0 / k),
        "means_init": means,
        "precisions_init": precisions,
    }


def useful_flops(case: Case) -> float:
    """Arithmetic an iteration needs (E-step densities and M-step sums), a model."""
    n, d, k = case.n, case.d, case.k
    if case.covariance_type == "full":
        return 4.0 * n * k * d * d
    if case.covariance_type == "tied":
        return 4.0 * n * d * d + 4.0 * n * k * d
    return 4.0 * n * k * d + 10.0 * n * k


# -- timing -----------------------------------------------------------------------
SKLEARN_BLAS_THREADS: int | None = None  # --sklearn-blas-threads


def fit_time(cls: type, X: np.ndarray, case: Case, init: dict, n_iter: int) -> tuple[float, float]:
    """Wall time of one fit and its final lower bound."""
    from threadpoolctl import threadpool_limits

    model = cls(case.k, covariance_type=case.covariance_type, tol=0.0, max_iter=n_iter, **init)
    threads = SKLEARN_BLAS_THREADS if cls is SkGaussianMixture else None
    with warnings.catch_warnings(), threadpool_limits(limits=threads, user_api="blas"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        seconds = _timed(lambda: model.fit(X))
    return seconds, float(model.lower_bound_)


def per_iteration(
    cls: type, X: np.ndarray, case: Case, init: dict, n_iter: int
) -> tuple[float, float]:
    """Seconds per EM iteration, by difference of an n_iter and a 1-iteration fit."""
    long, bound = fit_time(cls, X, case, init, n_iter)
    short, _ = fit_time(cls, X, case, init, 1)
    return max(long - short, 1e-9) / (n_iter - 1), bound


@dataclass
class Result:
    case: Case
    sklearn_s: float
    gaussmix_s: float
    ratio: float
    gflops: float
    peak: float
    bound_gap: float

    @property
    def met(self) -> bool:
        return self.ratio >= self.case.target


def run_case(case: Case, n_iter: int, repeats: int, peaks: dict) -> Result:
    X = make_data(case.n, case.d, case.k).astype(case.dtype)
    init = starting_params(X, case.k, case.covariance_type)
    # Warm up both (numba compilation, BLAS buffers) before timing.
    fit_time(GaussianMixture, X, case, init, 2)
    fit_time(SkGaussianMixture, X, case, init, 2)
    sk_times, gm_times, ratios = [], [], []
    bounds: dict[str, float] = {}
    for rep in range(repeats):
        order = (GaussianMixture, SkGaussianMixture)
        for cls in order if rep % 2 == 0 else order[::-1]:
            seconds, bound = per_iteration(cls, X, case, init, n_iter)
            bounds[cls.__module__] = bound
            (gm_times if cls is GaussianMixture else sk_times).append(seconds)
        ratios.append(sk_times[-1] / gm_times[-1])
    sk_bound, gm_bound = (
        bounds["sklearn.mixture._gaussian_mixture"],
        bounds[GaussianMixture.__module__],
    )
    gap = abs(gm_bound - sk_bound) / max(abs(sk_bound), 1e-300)
    gm = statistics.median(gm_times)
    return Result(
        case,
        statistics.median(sk_times),
        gm,
        statistics.median(ratios),
        useful_flops(case) / gm / 1e9,
        peaks[np.dtype(case.dtype).name],
        gap,
    )


class GmmEmTiming(NamedTuple):
    """``run_gmm_em``'s medians: per iteration (by difference, as for every case above)
    and per whole call of ``n_iter`` iterations, reference and gaussmix."""

    ref_iter_s: float
    gm_iter_s: float
    iter_ratio: float
    ref_call_s: float
    gm_call_s: float
    call_ratio: float
    gap: float


def run_gmm_em(n: int, k: int, n_iter: int, repeats: int) -> GmmEmTiming:
    """gaussmix.gmm_em against the reference on the same 1-D data.

    Per iteration as ``(T(n_iter) - T(1)) / (n_iter - 1)`` (each call's fixed cost,
    validation and the seeded draw of the initial means, cancels), and the whole call.
    """
    x = make_data(n, 1, k, seed=3)[:, 0]
    gaussmix.gmm_em(x, k, max_iter=2, tol=0.0)
    times: dict[tuple[str, int], list[float]] = {}
    outputs = {}
    for rep in range(repeats):
        for which in ("gm", "ref") if rep % 2 == 0 else ("ref", "gm"):
            fn = gaussmix.gmm_em if which == "gm" else reference_gmm_em
            for iterations in (n_iter, 1):
                start = time.perf_counter()
                out = fn(x, k, max_iter=iterations, tol=0.0)
                times.setdefault((which, iterations), []).append(time.perf_counter() - start)
                if iterations == n_iter:
                    outputs[which] = out

    def median_ratio(ref: list[float], gm: list[float]) -> float:
        return statistics.median(r / g for r, g in zip(ref, gm, strict=True))

    long, short = (
        {w: times[w, n_iter] for w in ("gm", "ref")},
        {w: times[w, 1] for w in ("gm", "ref")},
    )
    per = {
        w: [max(a - b, 1e-9) / (n_iter - 1) for a, b in zip(long[w], short[w], strict=True)]
        for w in ("gm", "ref")
    }
    gap = max(
        float(
            np.max(
                np.abs(np.subtract(outputs["gm"][key], outputs["ref"][key]))
                / np.abs(outputs["ref"][key])
            )
        )
        for key in ("means", "variances", "weights")
    )
    return GmmEmTiming(
        statistics.median(per["ref"]),
        statistics.median(per["gm"]),
        median_ratio(per["ref"], per["gm"]),
        statistics.median(long["ref"]),
        statistics.median(long["gm"]),
        median_ratio(long["ref"], long["gm"]),
        gap,
    )


def run_init(n: int, d: int, k: int) -> dict[str, float]:
    """'kmeans' initialisation time (its statistics included) vs EM time per iteration."""
    from sklearn.cluster import KMeans

    from gaussmix._core.covariance import get_covariance
    from gaussmix._core.init import initial_stats
    from gaussmix.backends.numpy import NumpyRows

    X = make_data(n, d, k, seed=5)
    rows, cov = NumpyRows(X), get_covariance("full")
    out: dict[str, float] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        out["gaussmix 'kmeans' init"] = min(
            _timed(lambda: initial_stats(rows, k, "kmeans", np.random.RandomState(0), cov))
            for _ in range(2)
        )
        out["scikit-learn KMeans(n_init=1), its 'kmeans' init"] = _timed(
            lambda: KMeans(k, n_init=1, random_state=0).fit(X)
        )
        case = Case("full", n, d, k, np.float64, 0.0)
        init = starting_params(X, k, "full")
        out["gaussmix EM per iteration"], _ = per_iteration(GaussianMixture, X, case, init, 4)
    return out


def run_memory(rows: int) -> str:
    """Peak memory of predict on rows x 8 float32, measured in a child process."""
    cmd = [sys.executable, str(HERE / "memory.py"), str(rows), "--no-header"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    return (done.stdout + done.stderr).strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run on smaller data")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-init", action="store_true")
    parser.add_argument("--only", help="run only cases whose label contains this text")
    parser.add_argument(
        "--sklearn-blas-threads",
        type=int,
        help="hold scikit-learn's BLAS to this many threads (default: BLAS's own default)",
    )
    args = parser.parse_args(argv)
    global SKLEARN_BLAS_THREADS
    SKLEARN_BLAS_THREADS = args.sklearn_blas_threads

    scale = 10 if args.quick else 1
    n_iter, repeats = (4, 2) if args.quick else (8, 3)
    print(header(), flush=True)
    peaks = {name: matmul_peak(np.dtype(name).type) for name in ("float64", "float32")}
    print(
        f"Measured matmul peak: float64 {peaks['float64']:.0f} GFLOP/s, "
        f"float32 {peaks['float32']:.0f} GFLOP/s\n"
    )

    blas = args.sklearn_blas_threads or "default"
    print(
        f"EM iterations per fit: {n_iter}; repeats: {repeats} (alternating); medians; "
        f"scikit-learn's BLAS threads: {blas}.\n"
    )
    print(
        "| case | scikit-learn ms/iter | gaussmix ms/iter | ratio | target | "
        "GFLOP/s (% of peak) | bound gap |"
    )
    print("|---|---|---|---|---|---|---|")
    failed_bound, missed = False, []
    for case in CASES:
        if args.only and args.only not in case.label:
            continue
        if scale > 1:
            case = Case(
                case.covariance_type, case.n // scale, case.d, case.k, case.dtype, case.target
            )
        r = run_case(case, n_iter, repeats, peaks)
        tolerance = 1e-6 if case.dtype is np.float64 else 1e-5
        ok_bound = r.bound_gap <= tolerance
        failed_bound |= not ok_bound
        if not r.met:
            missed.append(case.label)
        print(
            f"| {case.label} | {r.sklearn_s * 1e3:.1f} | {r.gaussmix_s * 1e3:.2f} | "
            f"**{r.ratio:.1f}x** | ≥ {case.target:g}x {'met' if r.met else 'MISSED'} | "
            f"{r.gflops:.1f} ({100 * r.gflops / r.peak:.0f}%) | "
            f"{r.bound_gap:.1e}{'' if ok_bound else ' MISMATCH'} |",
            flush=True,
        )

    if not args.only:
        n1 = 1_000_000 // scale
        em = run_gmm_em(n1, 5, n_iter, repeats)
        met = em.iter_ratio >= 10.0
        if not met:
            missed.append("gmm_em vs reference")
        failed_bound |= em.gap > 1e-8
        print(
            f"\ngmm_em vs the reference solution (n={n1:,}, k=5): per iteration reference "
            f"{em.ref_iter_s * 1e3:.1f} ms, gaussmix {em.gm_iter_s * 1e3:.2f} ms, ratio "
            f"**{em.iter_ratio:.1f}x** (target ≥ 10x {'met' if met else 'MISSED'}); a whole "
            f"call of {n_iter} iterations {em.ref_call_s * 1e3:.0f} against "
            f"{em.gm_call_s * 1e3:.0f} ms ({em.call_ratio:.1f}x: both draw the initial means "
            f"by a permutation of all n rows); largest relative difference of the results "
            f"{em.gap:.1e}"
        )

    if not args.skip_init and not args.only:
        n_init = 1_000_000 // scale
        timing = run_init(n_init, 16, 16)
        print(f"\nInitialisation at n={n_init:,}, d=16, K=16 (full):")
        for key, seconds in timing.items():
            print(f"- {key}: {seconds * 1e3:.0f} ms")
        print("(The start's quality against scikit-learn's: bench/init.py.)")

    if not args.skip_memory and not args.only:
        rows = 20_000_000 // (scale * 10 if args.quick else 1)
        print(f"\nMemory of predict on {rows:,} x 8 float32 rows:\n{run_memory(rows)}")

    print(f"\nLoad average at the end: {load_average()}")
    if failed_bound:
        print("\nERROR: gaussmix and the baseline did not end at the same result.")
        return 1
    if missed:
        print(f"\nTargets missed: {'; '.join(missed)}")
        if args.quick:
            print("(--quick runs a tenth of each size; the targets are set for the full sizes.)")
        return 1 if args.strict else 0
    print("\nEvery target met.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
