"""BayesianGaussianMixture against scikit-learn's, side by side (``make bench``).

Both libraries fit the same data from the same start (``init_params='random'`` with
the same ``random_state``: the same random responsibilities, for all four
covariance types) with ``tol=0`` for a fixed number of iterations, alternating in
this one process. The time per variational iteration is
``(T(3 iterations) - T(1 iteration)) / 2``, so validation, the prior's pass,
the start and the final labelling cancel out. Both fits must end at the same lower
bound (the same work was done). Times are medians of the repeats; the ratio is the
median of each repeat's ratio.

Usage: ``python bench/bayesian.py [--quick] [--strict]`` (``--quick``: a tenth of
the rows, a smoke run; ``--strict``: exit 1 when a target is missed).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture as SkBayesianGaussianMixture

from gaussmix import BayesianGaussianMixture
from machine import header, load_average  # the machine header every bench script prints
from run import _timed, make_data  # bench/run.py's data


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


def fit_time(cls: type, X: np.ndarray, case: Case, n_iter: int) -> tuple[float, float]:
    """Wall time of one fit and its final lower bound."""
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
        seconds = _timed(lambda: model.fit(X))
    return seconds, float(np.squeeze(model.lower_bound_))


def per_iteration(cls: type, X: np.ndarray, case: Case, n_iter: int) -> tuple[float, float]:
    """Seconds per iteration, by difference of an n_iter and a 1-iteration fit."""
    long, bound = fit_time(cls, X, case, n_iter)
    short, _ = fit_time(cls, X, case, 1)
    return max(long - short, 1e-9) / (n_iter - 1), bound


def run_case(case: Case, n_iter: int, repeats: int) -> dict[str, Any]:
    X = make_data(case.n, case.d, case.k)
    fit_time(BayesianGaussianMixture, X, case, 2)  # warm up (numba, BLAS buffers)
    fit_time(SkBayesianGaussianMixture, X, case, 2)
    times: dict[type, list[float]] = {BayesianGaussianMixture: [], SkBayesianGaussianMixture: []}
    bounds: dict[type, float] = {}
    ratios = []
    order = (BayesianGaussianMixture, SkBayesianGaussianMixture)
    for rep in range(repeats):
        for cls in order if rep % 2 == 0 else order[::-1]:
            seconds, bounds[cls] = per_iteration(cls, X, case, n_iter)
            times[cls].append(seconds)
        ratios.append(times[SkBayesianGaussianMixture][-1] / times[BayesianGaussianMixture][-1])
    theirs = bounds[SkBayesianGaussianMixture]
    return {
        "sklearn_s": statistics.median(times[SkBayesianGaussianMixture]),
        "gaussmix_s": statistics.median(times[BayesianGaussianMixture]),
        "ratio": statistics.median(ratios),
        "bound_gap": abs(bounds[BayesianGaussianMixture] - theirs) / abs(theirs),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run on a tenth of the rows")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    n_iter, repeats = (3, 2) if args.quick else (3, 3)
    print("BayesianGaussianMixture: gaussmix against scikit-learn, per variational iteration")
    print(header(), flush=True)
    print(f"Iterations per fit: {n_iter}; repeats: {repeats} (alternating); medians.\n")
    print("| case | scikit-learn ms/iter | gaussmix ms/iter | ratio | target | bound gap |")
    print("|---|---|---|---|---|---|")
    missed, mismatch = [], False
    for case in CASES:
        case = Case(case.covariance_type, case.n // scale, case.d, case.k, case.target)
        r = run_case(case, n_iter, repeats)
        met = r["ratio"] >= case.target
        same = r["bound_gap"] <= 1e-6
        mismatch |= not same
        if not met:
            missed.append(case.label)
        print(
            f"| {case.label} | {r['sklearn_s'] * 1e3:.0f} | {r['gaussmix_s'] * 1e3:.1f} | "
            f"**{r['ratio']:.1f}x** | ≥ {case.target:g}x {'met' if met else 'MISSED'} | "
            f"{r['bound_gap']:.1e}{'' if same else ' MISMATCH'} |",
            flush=True,
        )
    print(f"\nLoad average at end: {load_average()}")
    if mismatch:
        print("\nERROR: gaussmix and scikit-learn did not end at the same lower bound.")
        return 1
    if missed:
        print(f"\nTargets missed: {'; '.join(missed)}")
        return 1 if args.strict else 0
    print("\nEvery target met.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
