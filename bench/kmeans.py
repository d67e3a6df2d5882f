"""The 'kmeans' start's k-means against scikit-learn's ``KMeans(n_init=1)``, side by side.

gaussmix's :func:`~gaussmix._core.init.kmeans.kmeans_centres` is scikit-learn's
``KMeans(n_clusters=K, n_init=1, random_state=seed)`` (the same seeds and labels);
with many rows it keeps Hamerly's bounds (:class:`~gaussmix._core.init.kmeans._Nearest`).
Each case times, alternating in this process: gaussmix with the bounds where its
rule keeps them, gaussmix relabelling every row in every pass (the bounds off), and
scikit-learn; medians of ``--runs`` (CPU time: meant for one thread,
``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 GAUSSMIX_NUM_THREADS=1``). It also checks
that both of gaussmix's runs label every row as scikit-learn does.

Usage: ``python bench/kmeans.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits

from gaussmix._core.init import kmeans

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import header, load_average
from run import make_data

CASES = [(n, d, K) for n in (10_000, 50_000) for d in (2, 10, 30, 64) for K in (5, 16)]


def _labels(X: np.ndarray, K: int) -> np.ndarray:
    return kmeans.kmeans_centres(X, None, K, np.random.RandomState(0))[1]


def _sklearn(X: np.ndarray, K: int) -> KMeans:
    return KMeans(K, n_init=1, random_state=np.random.RandomState(0)).fit(X)


def cpu_ms(f: Callable[[], object]) -> float:
    start = time.process_time()
    f()
    return (time.process_time() - start) * 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    print(header(), flush=True)
    print(
        "\nms of CPU time, medians of alternating runs; ratio = scikit-learn / gaussmix "
        "(with the bounds where kept).\n"
    )
    print("| data | bounds | gaussmix ms | bounds off ms | scikit-learn ms | ratio | iterations |")
    print("|---|---|---:|---:|---:|---:|---:|")
    data = [("digits (1797 x 64), K=10", load_digits().data, 10)]
    data += [(f"n={n:,}, d={d}, K={K}", make_data(n, d, K), K) for n, d, K in CASES]
    rule = kmeans._BOUNDED_MIN_PRODUCT
    warnings.simplefilter("ignore")
    for label, X, K in data:
        ours = functools.partial(_labels, X, K)
        theirs = functools.partial(_sklearn, X, K)
        ref = theirs()
        kmeans._BOUNDED_MIN_PRODUCT = 2**62
        plain_labels = ours()
        kmeans._BOUNDED_MIN_PRODUCT = rule
        labels = ours()
        if not (np.array_equal(labels, ref.labels_) and np.array_equal(plain_labels, labels)):
            print(f"| {label} | labels differ from scikit-learn's |")
            continue
        Xa = np.hstack([X, np.ones((X.shape[0], 1))])
        kept = kmeans._Nearest(Xa, None, K).bounded
        times: dict[str, list[float]] = {"bounded": [], "plain": [], "sklearn": []}
        for _ in range(args.runs):
            kmeans._BOUNDED_MIN_PRODUCT = rule
            times["bounded"].append(cpu_ms(ours))
            kmeans._BOUNDED_MIN_PRODUCT = 2**62
            times["plain"].append(cpu_ms(ours))
            kmeans._BOUNDED_MIN_PRODUCT = rule
            times["sklearn"].append(cpu_ms(theirs))
        m = {key: statistics.median(v) for key, v in times.items()}
        print(
            f"| {label} | {'yes' if kept else 'no'} | {m['bounded']:.1f} | {m['plain']:.1f} | "
            f"{m['sklearn']:.1f} | **{m['sklearn'] / m['bounded']:.2f}x** | {ref.n_iter_} |",
            flush=True,
        )
    print(f"\nLoad average at the end: {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
