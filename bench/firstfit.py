"""The first fit in a fresh process against a warm one (issue 12 §2).

Each round starts a new Python process that loads the data (scikit-learn's
bundled sets, so scikit-learn is imported), imports gaussmix, times the first
``gaussmix.GaussianMixture`` (importing the estimator's modules), then times
``GaussianMixture(K, covariance_type=cov, random_state=0).fit(X)`` twice on the
same data: the first fit pays every one-time cost left (numba and its kernels
where the fit is large enough for them, scikit-learn's pieces loaded on first
use), the second is warm. It reports, per case, the median over rounds of the
import, the first fit, the warm fit and their difference (target: under 0.1 s;
also in CPU seconds, which load disturbs less), and from the last round how many
compiled kernels came from numba's on-disk cache and how many were compiled.

A first, untimed process per case fills the caches (Python's bytecode, and
numba's: ``NUMBA_CACHE_DIR``, else ``__pycache__`` beside the sources, else the
user's cache directory), so the rounds show what users of an installed package see.

Usage: ``python bench/firstfit.py [--rounds N] [--only TEXT]`` (default 5 rounds).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from machine import header, load_average

CASES = {
    "iris, full, K=3": ("iris", "full", 3),
    "digits, diag, K=10": ("digits", "diag", 10),
    "synthetic 20,000 x 16, full, K=16": ("synthetic-16", "full", 16),
    "synthetic 20,000 x 64, full, K=8": ("synthetic-64", "full", 8),
    "synthetic 1-D 200,000, diag, K=5": ("synthetic-1", "diag", 5),
}

_CHILD = r"""
import json, sys, time, warnings
import numpy as np
name, cov, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
if name == "iris":
    from sklearn.datasets import load_iris
    X = load_iris().data
elif name == "digits":
    from sklearn.datasets import load_digits
    X = load_digits().data
else:
    d = int(name.split("-")[1])
    n = 200_000 if d == 1 else 20_000
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d)) + 4.0 * rng.integers(k, size=(n, 1))
import gaussmix
warnings.simplefilter("ignore")
start = time.perf_counter()
GaussianMixture = gaussmix.GaussianMixture  # imports the estimator's modules
imported = time.perf_counter() - start
times, cpu = [], []
for _ in range(2):
    start, start_cpu = time.perf_counter(), time.process_time()
    GaussianMixture(k, covariance_type=cov, random_state=0).fit(X)
    times.append(time.perf_counter() - start)
    cpu.append(time.process_time() - start_cpu)
hits = misses = 0
if "numba" in sys.modules:
    from numba.core.registry import CPUDispatcher
    import gc
    for obj in gc.get_objects():
        if isinstance(obj, CPUDispatcher) and obj.__module__.startswith("gaussmix"):
            hits += sum(obj.stats.cache_hits.values())
            misses += sum(obj.stats.cache_misses.values())
print(json.dumps({"import": imported, "first": times[0], "warm": times[1],
                  "extra_cpu": cpu[0] - cpu[1], "numba": "numba" in sys.modules,
                  "cache_hits": hits, "compiled": misses}))
"""


def child(name: str, cov: str, k: int) -> dict:
    # As an installed package: Python's compiled bytecode is written and reused (with
    # PYTHONDONTWRITEBYTECODE set, every fresh process would compile every module).
    env = {key: v for key, v in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, name, cov, str(k)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {**result, "extra": result["first"] - result["warm"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="fresh processes per case")
    parser.add_argument("--only", help="run only cases whose label contains this text")
    args = parser.parse_args()
    print(header(), flush=True)
    print(
        "\n| case | import s | first fit s | warm fit s | first - warm s | (CPU s) "
        "| numba imported | kernels from cache / compiled |"
    )
    print("|---|---:|---:|---:|---:|---:|---|---|")
    for label, (name, cov, k) in CASES.items():
        if args.only and args.only not in label:
            continue
        child(name, cov, k)  # fills the bytecode and numba caches
        runs = [child(name, cov, k) for _ in range(args.rounds)]
        imported, first, warm, extra, extra_cpu = (
            statistics.median(r[key] for r in runs)
            for key in ("import", "first", "warm", "extra", "extra_cpu")
        )
        last = runs[-1]
        print(
            f"| {label} | {imported:.3f} | {first:.3f} | {warm:.3f} | **{extra:.3f}** | "
            f"{extra_cpu:.3f} | {'yes' if last['numba'] else 'no'} | "
            f"{last['cache_hits']} / {last['compiled']} |",
            flush=True,
        )
    print(f"\nLoad average at the end: {load_average()}")


if __name__ == "__main__":
    main()
