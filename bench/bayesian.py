"""BayesianGaussianMixture against scikit-learn's, side by side (``make bench``).

Both libraries fit the same data from the same start (``init_params='random'`` with
the same ``random_state``: the same random responsibilities, for all four
covariance types) with ``tol=0`` for a fixed number of iterations, alternating in
this one process. The time per variational iteration is
``(median T(5 iterations) - median T(1 iteration)) / 4``, so validation, the
prior's pass, the start and the final labelling cancel out; the ratio is that of
the two libraries' times per iteration. (Differences of single fits are not used:
on a loaded machine a 1-iteration fit can take longer than a 5-iteration one, and
a per-repeat ratio of such differences is noise.) A difference that is not
positive is reported as unmeasured, never as a ratio. Both fits must end at the
same lower bound (the same work was done).

Usage: ``python bench/bayesian.py [--quick] [--strict] [--cpu-time]`` (``--quick``: a
tenth of the rows, a smoke run; ``--strict``: exit 1 when a target is missed or
unmeasured; ``--cpu-time``: the process's CPU seconds instead of wall time, for
single-threaded runs on a loaded machine, ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
GAUSSMIX_NUM_THREADS=1``, as ``bench/smalldata.py --cpu-time``). The issue's table
(n = 200,000, d = 16, K = 16) is the default run, wall time, default threads, on a
quiet machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture as SkBayesianGaussianMixture

from gaussmix import BayesianGaussianMixture
from machine import header, load_average  # the machine header every bench script prints
from run import make_data  # bench/run.py's data


@dataclass(frozen=True)
class Case:
    covariance_type: str
    n: int
    d: int
    k: int
    target: float

    @property
    def label(self) -> str:
        return f"{self.covariance_type}, n={self.n:,}, d={self.d}, K={self.k}"


CASES = (
    Case("full", 200_000, 16, 16, 8.0),
    Case("tied", 200_000, 16, 16, 8.0),
    Case("diag", 200_000, 16, 16, 5.0),
    Case("spherical", 200_000, 16, 16, 5.0),
)


CLOCK = time.perf_counter  # --cpu-time: time.process_time


def fit_time(cls: type, X: np.ndarray, case: Case, n_iter: int) -> tuple[float, float]:
    """Seconds of one fit (wall, or CPU with --cpu-time) and its final lower bound."""
    model = cls(
        n_components=case.k,
        covariance_type=case.covariance_type,
        init_params="random",
        random_state=0,
        tol=0.0,
        max_iter=n_iter,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = CLOCK()
        model.fit(X)
        seconds = CLOCK() - start
    return seconds, float(np.squeeze(model.lower_bound_))


def run_case(case: Case, n_iter: int, repeats: int) -> dict[str, Any]:
    """Seconds per iteration of both libraries (NaN where unmeasured), their ratio, bound gap."""
    X = make_data(case.n, case.d, case.k)
    fit_time(BayesianGaussianMixture, X, case, 2)  # warm up (numba, BLAS buffers)
    fit_time(SkBayesianGaussianMixture, X, case, 2)
    order = (BayesianGaussianMixture, SkBayesianGaussianMixture)
    times: dict[tuple[type, int], list[float]] = {
        (cls, iters): [] for cls in order for iters in (1, n_iter)
    }
    bounds: dict[type, float] = {}
    for rep in range(repeats):
        for cls in order if rep % 2 == 0 else order[::-1]:
            seconds, bounds[cls] = fit_time(cls, X, case, n_iter)
            times[cls, n_iter].append(seconds)
            times[cls, 1].append(fit_time(cls, X, case, 1)[0])
    per_iter = {}
    for cls in order:
        step = statistics.median(times[cls, n_iter]) - statistics.median(times[cls, 1])
        per_iter[cls] = step / (n_iter - 1) if step > 0 else float("nan")
    ours, theirs = per_iter[BayesianGaussianMixture], per_iter[SkBayesianGaussianMixture]
    bound = bounds[SkBayesianGaussianMixture]
    return {
        "sklearn_s": theirs,
        "gaussmix_s": ours,
        "ratio": theirs / ours,  # NaN where either is unmeasured
        "bound_gap": abs(bounds[BayesianGaussianMixture] - bound) / abs(bound),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run on a tenth of the rows")
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when a target is missed or unmeasured"
    )
    parser.add_argument("--cpu-time", action="store_true", help="CPU seconds, not wall time")
    args = parser.parse_args(argv)
    global CLOCK
    CLOCK = time.process_time if args.cpu_time else time.perf_counter
    scale = 10 if args.quick else 1
    n_iter, repeats = (5, 2) if args.quick else (5, 3)
    print("BayesianGaussianMixture: gaussmix against scikit-learn, per variational iteration")
    print(header(), flush=True)
    print(
        f"Fits of {n_iter} and of 1 iteration, {repeats} repeats each (alternating); "
        f"per iteration = (median T({n_iter}) - median T(1)) / {n_iter - 1}.\n"
    )
    print("| case | scikit-learn ms/iter | gaussmix ms/iter | ratio | target | bound gap |")
    print("|---|---|---|---|---|---|")
    missed, unmeasured, mismatch = [], [], False
    for case in CASES:
        case = Case(case.covariance_type, case.n // scale, case.d, case.k, case.target)
        r = run_case(case, n_iter, repeats)
        same = r["bound_gap"] <= 1e-6
        mismatch |= not same
        if np.isnan(r["ratio"]):
            unmeasured.append(case.label)
            verdict, ratio = "unmeasured", "T(n) <= T(1): timing noise"
        else:
            met = r["ratio"] >= case.target
            verdict, ratio = ("met" if met else "MISSED"), f"**{r['ratio']:.1f}x**"
            if not met:
                missed.append(case.label)
        print(
            f"| {case.label} | {r['sklearn_s'] * 1e3:.0f} | {r['gaussmix_s'] * 1e3:.1f} | "
            f"{ratio} | ≥ {case.target:g}x {verdict} | "
            f"{r['bound_gap']:.1e}{'' if same else ' MISMATCH'} |",
            flush=True,
        )
    print(f"\nLoad average at end: {load_average()}")
    if mismatch:
        print("\nERROR: gaussmix and scikit-learn did not end at the same lower bound.")
        return 1
    if unmeasured:
        print(f"\nNot measured (timing noise; rerun when quieter): {'; '.join(unmeasured)}")
    if missed:
        print(f"\nTargets missed: {'; '.join(missed)}")
    if missed or unmeasured:
        return 1 if args.strict else 0
    print("\nEvery target met.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
