"""Time and size of ``plot_mixture`` on wide data: the 64-column digits model.

In a fresh child process per source tree: fit ``GaussianMixture(10,
covariance_type='diag', random_state=0)`` on scikit-learn's digits (1797 × 64),
then draw ``plot_mixture(model, X)`` and save it as PNG at 150 dpi (the CLI's
default), timing the drawing and the saving and reading the child's peak RSS.
``--against OTHER/src`` also runs an older source tree (under ``--timeout``:
issue 12 measured more than 8 minutes at 3.1 GB before).

Usage: ``python bench/plot_wide.py [--against OTHER/src] [--timeout S]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import io, json, resource, time, warnings
import matplotlib
matplotlib.use("Agg")
from sklearn.datasets import load_digits
from gaussmix import GaussianMixture
from gaussmix.plot import plot_mixture

X = load_digits().data
model = GaussianMixture(10, covariance_type="diag", random_state=0).fit(X)
start = time.perf_counter()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    drawn = plot_mixture(model, X)
fig = drawn if hasattr(drawn, "savefig") else drawn.figure
drawn_s = time.perf_counter() - start
buffer = io.BytesIO()
fig.savefig(buffer, format="png", dpi=150)
total_s = time.perf_counter() - start
print(json.dumps({
    "draw_s": drawn_s, "total_s": total_s, "png_bytes": len(buffer.getvalue()),
    "panels": len(fig.axes),
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "title": fig._suptitle.get_text() if fig._suptitle else drawn.get_title(),
    "warnings": [str(w.message) for w in caught],
}))
"""


def run(env: dict[str, str], timeout: float) -> dict[str, object]:
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=True,
        )
    except subprocess.TimeoutExpired:
        return {"timed_out_after_s": timeout}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", help="another gaussmix source tree (its src directory)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per run")
    args = parser.parse_args()
    trees = {"this checkout": dict(os.environ)}
    if args.against:
        trees[args.against] = {**os.environ, "PYTHONPATH": os.path.abspath(args.against)}
    from machine import header

    print(header(), flush=True)
    for tree, env in trees.items():
        print(f"-- {tree}: {json.dumps(run(env, args.timeout))}")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
