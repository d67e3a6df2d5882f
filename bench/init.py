"""The default start: gaussmix's 'kmeans' against scikit-learn's KMeans-based start.

For each data set, number of components and seed, one default GaussianMixture
fit (gaussmix's EM, ``covariance_type='full'``) starts from

(a) scikit-learn's start: the labels of ``KMeans(n_clusters=K, n_init=1,
    random_state=seed)`` (what scikit-learn's GaussianMixture does), turned into
    initial parameters by the M-step, passed as ``*_init``;
(b) gaussmix's ``init_params='kmeans'`` with the same ``random_state``;

and each variant of (b) named with ``--variants`` (module constants of
:mod:`gaussmix._core.init.kmeans` changed for the run, e.g. a smaller sample).
It reports the final mean log-likelihood per row (the fit's ``lower_bound_``):
wins, ties (within 1e-3, the fits' ``tol``; and how many of them are identical
runs) and losses of (b) against (a), the median and the worst differences;
and, side by side in this process, the init time (``KMeans.fit`` against
gaussmix's initial statistics) and the whole default fit (scikit-learn's
``GaussianMixture(K).fit`` against gaussmix's).

Data: scikit-learn's iris, wine, breast_cancer and digits (standardised; digits'
constant pixels dropped), Old Faithful, and synthetic Gaussian blobs over a grid
of n, d, K, separation and cluster-size imbalance.

The large-K part (issue 12 §4) times, at n = 100,000, d = 32, K = 1,024, the
initialisations against scikit-learn's ``kmeans_plusplus`` and
``KMeans(n_init=1)``, next to one EM iteration of each covariance type.

Usage: ``python bench/init.py [--quick] [--full] [--seeds N] [--variants]
[--skip-large-k]``. The default grid takes a few minutes on two cores;
``--quick`` is a smoke run, ``--full`` the larger grid reported in RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gaussmix import GaussianMixture
from gaussmix._core.covariance import get_covariance
from gaussmix._core.em import m_step
from gaussmix._core.init import arrays, initial_stats, kmeans
from gaussmix.backends.numpy import NumpyRows
from machine import header, load_average
from run import make_data

COV = "full"
VARIANTS: dict[str, dict[str, int]] = {
    "sample 16,384 rows": {"KMEANS_SAMPLE_ROWS": 16_384},
    "sample 16,384 rows, no full step": {"KMEANS_SAMPLE_ROWS": 16_384, "KMEANS_FULL_STEPS": 0},
    "Lloyd at most 20 iterations": {"KMEANS_MAX_ITER": 20},
}


@contextlib.contextmanager
def patched(values: dict[str, int]) -> Iterator[None]:
    old = {name: getattr(kmeans, name) for name in values}
    for name, value in values.items():
        setattr(kmeans, name, value)
    try:
        yield
    finally:
        for name, value in old.items():
            setattr(kmeans, name, value)


# -- data ------------------------------------------------------------------------------
def real_data() -> list[tuple[str, np.ndarray, int]]:
    from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine

    from gaussmix.datasets import load_old_faithful

    def standardised(X: np.ndarray) -> np.ndarray:
        X = X[:, X.std(axis=0) > 0]
        return (X - X.mean(axis=0)) / X.std(axis=0)

    return [
        ("iris", load_iris().data, 3),
        ("wine (std)", standardised(load_wine().data), 3),
        ("breast_cancer (std)", standardised(load_breast_cancer().data), 2),
        ("digits (std)", standardised(load_digits().data), 10),
        ("Old Faithful", load_old_faithful()[0], 2),
    ]


def synthetic_grid(full: bool, quick: bool) -> list[tuple[str, np.ndarray, int]]:
    if quick:
        ns, ds, ks = (2_000, 100_000), (2, 10), (5,)
    elif full:
        ns, ds, ks = (2_000, 20_000, 150_000), (2, 10, 30), (4, 16)
    else:
        ns, ds, ks = (2_000, 20_000, 100_000), (2, 10), (4, 16)
    out = []
    for n, d, k, (sep, sep_name), (imb, imb_name) in itertools.product(
        ns, ds, ks, ((4.0, "separated"), (1.5, "overlapping")), ((1, "equal"), (10, "10:1"))
    ):
        X = make_data(n, d, k, seed=n + d + k, separation=sep, imbalance=imb)
        out.append((f"blobs n={n:,} d={d} K={k} {sep_name} {imb_name}", X, k))
    return out


# -- the two starts --------------------------------------------------------------------
def sklearn_start(X: np.ndarray, k: int, seed: int) -> dict[str, np.ndarray]:
    """scikit-learn's GaussianMixture start: KMeans(n_init=1) labels, then the M-step."""
    from sklearn.cluster import KMeans

    labels = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(X).labels_
    cov = get_covariance(COV)
    params = m_step(arrays.label_stats(X, None, labels, cov.form, k), cov, 1e-6)
    return {
        "weights_init": params.weights,
        "means_init": params.means,
        "precisions_init": cov.form.precisions(params.precisions_cholesky),
    }


def fit(X: np.ndarray, k: int, seed: int, **init: Any) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm = GaussianMixture(k, covariance_type=COV, random_state=seed, **init).fit(X)
    return float(gm.lower_bound_)


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


TIE = 1e-3  # the fits' tol: EM stops once the mean log-likelihood moves less than this


def compare(a: float, b: float) -> str:
    """'same' (equal to rounding), 'tie' (within the fits' tol), 'win' or 'loss' for b."""
    if abs(b - a) <= 1e-9 * max(1.0, abs(a)):
        return "same"
    if abs(b - a) <= TIE:
        return "tie"
    return "win" if b > a else "loss"


def _wtl(outcomes: list[str]) -> str:
    ties = outcomes.count("tie") + outcomes.count("same")
    return f"{outcomes.count('win')}/{ties}/{outcomes.count('loss')}"


def quality(
    sets: list[tuple[str, np.ndarray, int]], seeds: int, variants: dict[str, dict[str, int]]
) -> None:
    names = ["kmeans (default)", *variants]
    tally: dict[str, list[tuple[str, float]]] = {name: [] for name in names}
    print("| data | n | d | K | " + " | ".join(f"{n}: W/T/L" for n in names) + " |")
    print("|---|---|---|---|" + "---|" * len(names))
    for label, X, k in sets:
        per: dict[str, list[str]] = {name: [] for name in names}
        for seed in range(seeds):
            reference = fit(X, k, seed, **sklearn_start(X, k, seed))
            for name in names:
                with patched(variants.get(name, {})):
                    ours = fit(X, k, seed)
                outcome = compare(reference, ours)
                per[name].append(outcome)
                tally[name].append((outcome, ours - reference))
        cells = [_wtl(per[name]) for name in names]
        print(f"| {label} | {X.shape[0]:,} | {X.shape[1]} | {k} | " + " | ".join(cells) + " |")
    print("\nOver all fits (final mean log-likelihood per row, (b) minus (a)):\n")
    print("| start | fits | wins | ties (identical) | losses | median difference | mean | worst |")
    print("|---|---|---|---|---|---|---|---|")
    for name in names:
        outcomes = [o for o, _ in tally[name]]
        diffs = np.array([d for _, d in tally[name]])
        ties = outcomes.count("tie") + outcomes.count("same")
        print(
            f"| {name} | {len(outcomes)} | {outcomes.count('win')} | {ties} "
            f"({outcomes.count('same')}) | {outcomes.count('loss')} | {np.median(diffs):+.2e} | "
            f"{diffs.mean():+.2e} | {diffs.min():+.2e} |"
        )


def speed(sets: list[tuple[str, np.ndarray, int]], repeats: int) -> None:
    """Init and whole-fit times, alternating the libraries, medians."""
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    cov = get_covariance(COV)
    print(
        "| data | KMeans(n_init=1) ms | gaussmix 'kmeans' ms | ratio | "
        "scikit-learn fit ms | gaussmix fit ms | ratio |"
    )
    print("|---|---|---|---|---|---|---|")
    init_ratios, fit_ratios = [], []
    for label, X, k in sets:
        times: dict[str, list[float]] = {"km": [], "ours": [], "skfit": [], "fit": []}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for seed in range(repeats):
                times["km"].append(
                    timed(lambda: KMeans(k, n_init=1, random_state=seed).fit(X))  # noqa: B023
                )
                rng = np.random.RandomState(seed)
                times["ours"].append(
                    timed(lambda: initial_stats(NumpyRows(X), k, "kmeans", rng, cov))  # noqa: B023
                )
                times["skfit"].append(
                    timed(lambda: SkGaussianMixture(k, random_state=seed).fit(X))  # noqa: B023
                )
                times["fit"].append(
                    timed(lambda: GaussianMixture(k, random_state=seed).fit(X))  # noqa: B023
                )
        med = {key: statistics.median(v) * 1e3 for key, v in times.items()}
        init_ratios.append(med["km"] / med["ours"])
        fit_ratios.append(med["skfit"] / med["fit"])
        print(
            f"| {label} | {med['km']:.1f} | {med['ours']:.1f} | {init_ratios[-1]:.1f}x | "
            f"{med['skfit']:.1f} | {med['fit']:.1f} | {fit_ratios[-1]:.1f}x |"
        )
    print(
        f"\nMedian ratios: init {statistics.median(init_ratios):.1f}x, "
        f"whole fit {statistics.median(fit_ratios):.1f}x (scikit-learn time / gaussmix time)."
    )


def large_k(n: int, d: int, k: int) -> None:
    """Init times at large K against scikit-learn's, and one EM iteration per type."""
    from sklearn.cluster import KMeans, kmeans_plusplus

    X = make_data(n, d, k, seed=7)
    cov = get_covariance(COV)
    rows = NumpyRows(X)
    print(f"Large K: n={n:,}, d={d}, K={k:,} (seconds, one run each)\n")
    print("| step | scikit-learn | gaussmix | ratio |")
    print("|---|---|---|---|")
    ours_pp = timed(lambda: kmeans.kmeans_plusplus(rows, k, np.random.RandomState(0)))
    sk_pp = timed(lambda: kmeans_plusplus(X, k, random_state=0))
    print(
        f"| k-means++ seeding, all rows | {sk_pp:.1f} | {ours_pp:.1f} | {sk_pp / ours_pp:.1f}x |"
    )
    ours_km = timed(lambda: initial_stats(rows, k, "kmeans", np.random.RandomState(0), cov))
    sk_km = timed(lambda: KMeans(k, n_init=1, random_state=0).fit(X))
    print(
        f"| 'kmeans' start (gaussmix: its statistics included) | {sk_km:.1f} | {ours_km:.1f} | "
        f"{sk_km / ours_km:.1f}x |"
    )
    print()
    for covariance_type in ("spherical", "diag", "full"):
        gm = GaussianMixture(k, covariance_type=covariance_type, max_iter=1, tol=0.0)
        gm.set_params(random_state=0, init_params="random_from_data")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gm.fit(X)
            params = gm._params
            cov_t = get_covariance(covariance_type)
            per_iter = timed(lambda: rows.expectation(params, cov_t))  # noqa: B023
        print(
            f"- gaussmix E-step ({covariance_type}): {per_iter:.2f} s; the 'kmeans' start "
            f"costs {ours_km / per_iter:.1f} of them"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run on smaller data")
    parser.add_argument("--full", action="store_true", help="the larger synthetic grid")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per data set")
    parser.add_argument("--variants", action="store_true", help="also time the variants")
    parser.add_argument("--skip-large-k", action="store_true")
    args = parser.parse_args(argv)
    seeds = args.seeds or (2 if args.quick else 5)
    print(header() + "\n", flush=True)
    real = real_data()
    synthetic = synthetic_grid(args.full, args.quick)
    variants = VARIANTS if args.variants else {}
    print(
        f"Final mean log-likelihood, (b) gaussmix 'kmeans' vs (a) scikit-learn's start, "
        f"{seeds} seeds, covariance_type='{COV}':\n"
    )
    quality(real + synthetic, seeds, variants)
    print("\nTimes (medians of alternating runs, one per seed):\n")
    speed(real + [s for s in synthetic if "separated equal" in s[0]], max(3, seeds))
    if not args.skip_large_k:
        print()
        if args.quick:
            large_k(10_000, 16, 128)
        else:
            large_k(100_000, 32, 1_024)
    print(f"\nLoad average at the end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
