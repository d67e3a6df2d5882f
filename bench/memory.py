"""Peak memory of ``predict`` and ``score_samples`` beyond the data (run by bench/run.py).

Usage: ``python bench/memory.py [ROWS]`` (default 20,000,000) on ROWS × 8 float32 rows.
The data are generated in blocks straight into one float32 array, a model is
fitted on a subset, the kernel's high-water mark is reset, and the peak resident
memory during each call is reported beyond what was resident before it (the
returned labels, ROWS × 8 bytes, included).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from gaussmix import GaussianMixture


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def main(rows: int) -> None:
    d, k = 8, 8
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=3.0, size=(k, d))
    X = np.empty((rows, d), dtype=np.float32)
    block = 1_000_000
    for start in range(0, rows, block):
        stop = min(start + block, rows)
        labels = rng.integers(k, size=stop - start)
        X[start:stop] = centres[labels] + rng.standard_normal((stop - start, d))
    model = GaussianMixture(k, random_state=0, max_iter=20).fit(X[:100_000])
    data_mb = X.nbytes / 2**20
    for name in ("predict", "score_samples"):
        before = _status_kib("VmRSS")
        exact = _reset_peak()
        start = time.perf_counter()
        out = getattr(model, name)(X)
        seconds = time.perf_counter() - start
        peak = _status_kib("VmHWM")
        extra_mb = (peak - before) / 1024
        result_mb = out.nbytes / 2**20
        print(
            f"- {name}: data {data_mb:.0f} MB; peak beyond the data {extra_mb:.0f} MB "
            f"(of which the returned array {result_mb:.0f} MB); {seconds:.1f} s"
            f"{'' if exact else ' (peak not reset: an upper bound)'}"
        )
        del out


if __name__ == "__main__":
    if "--no-header" in sys.argv:  # bench/run.py prints it once for the whole run
        sys.argv.remove("--no-header")
    else:
        from machine import header

        print(header(), flush=True)
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000_000)
