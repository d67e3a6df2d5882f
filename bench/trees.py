"""Per-iteration time of two gaussmix source trees, alternating processes on one machine.

For judging whether a change costs speed (for example 0.1 against main): each case
fits the same data from the same ``*_init`` with ``tol=0`` and reports
``(T(8 iterations) - T(1)) / 7``, the median of 3 in a fresh process; processes on the
old and the new tree alternate, ``--pairs`` times per case, so load changes hit both.

Usage::

    git worktree add --detach /tmp/old 86aa675
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/trees.py /tmp/old/src src

Prints the shared machine header, then one row per case: medians, the per-pair
ratios new / old and their median.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import header

CASES = [  # covariance type, n, d, K, dtype: bench/run.py's cases
    ("full", 200_000, 16, 16, "float64"),
    ("diag", 200_000, 16, 16, "float64"),
    ("spherical", 200_000, 16, 16, "float64"),
    ("tied", 200_000, 16, 16, "float64"),
    ("full", 200_000, 16, 16, "float32"),
    ("diag", 1_000_000, 1, 5, "float64"),
    ("full", 50_000, 64, 8, "float64"),
    ("full", 500_000, 2, 4, "float64"),
]


def one_case(covariance_type: str, n: int, d: int, k: int, dtype: str) -> float:
    """Milliseconds per EM iteration of the gaussmix importable here."""
    import numpy as np

    from gaussmix import GaussianMixture

    rng = np.random.default_rng(0)
    centres = rng.normal(0, 6, (k, d))
    X = (centres[rng.integers(0, k, n)] + rng.normal(size=(n, d))).astype(dtype)
    start = GaussianMixture(k, covariance_type=covariance_type, max_iter=1, random_state=0)
    start.fit(X[:20_000])
    kw = dict(
        covariance_type=covariance_type,
        weights_init=start.weights_,
        means_init=start.means_,
        precisions_init=start.precisions_,
        tol=0,
    )

    def seconds(iterations: int) -> float:
        model = GaussianMixture(k, max_iter=iterations, **kw)
        begin = time.perf_counter()
        model.fit(X)
        return time.perf_counter() - begin

    seconds(2)  # compile and warm up
    return 1000 * statistics.median((seconds(8) - seconds(1)) / 7 for _ in range(3))


def in_tree(src: str, case: tuple[object, ...]) -> float:
    env = dict(os.environ, PYTHONPATH=src)
    code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
    code += f"from trees import one_case; print(one_case(*{case!r}))"
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code], env=env, capture_output=True, text=True
    )
    if out.returncode:
        raise SystemExit(f"{src}: {out.stderr.strip().splitlines()[-1]}")
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", help="the old tree's src directory")
    parser.add_argument("new", help="the new tree's src directory")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--only", help="run only cases whose label contains this text")
    args = parser.parse_args()
    print(header())
    print("| case | old ms/iter | new ms/iter | new / old per pair | median |")
    print("|---|---|---|---|---|")
    for case in CASES:
        label = f"{case[0]}, n={case[1]:,}, d={case[2]}, K={case[3]}, {case[4]}"
        if args.only and args.only not in label:
            continue
        pairs = [(in_tree(args.old, case), in_tree(args.new, case)) for _ in range(args.pairs)]
        ratios = [new / old for old, new in pairs]
        print(
            f"| {label} | {statistics.median(o for o, _ in pairs):.1f} "
            f"| {statistics.median(n for _, n in pairs):.1f} "
            f"| {', '.join(f'{r:.2f}' for r in ratios)} | {statistics.median(ratios):.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
