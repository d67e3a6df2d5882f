"""Out of core: fit a >= 8 GB float32 ``.npy`` file through ``gaussmix.scan``.

The script checks the free disk space, writes the file chunk by chunk (rows
drawn from a fixed 4-component mixture in 16 dimensions), then in a fresh child
process fits it through :func:`gaussmix.scan` for a few EM iterations, recording
the time of every pass over the file and the child's peak resident memory
(``getrusage``). Other children fit the first ``--subset`` rows in memory with the
same settings, before and after the file fit (the machine may be shared), for the
throughput to compare against. The file is deleted at the end (unless ``--keep``).

Usage: ``python bench/outofcore.py [--gb 8.6] [--dir /tmp] [--iters 3]
[--subset 2000000] [--keep]``. Prints a Markdown table for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

D, K = 16, 4
WRITE_ROWS = 2**20  # rows generated and written at a time (64 MB)
RSS_LIMIT = 1.5 * 2**30


def write_mixture(path: Path, n_rows: int, seed: int = 0) -> float:
    """Write n_rows float32 rows of a fixed mixture as a .npy file; return seconds."""
    rng = np.random.default_rng(seed)
    # Overlapping components, so that EM keeps improving for many iterations.
    centres = rng.normal(scale=0.5, size=(K, D)).astype(np.float32)
    scales = np.array([0.5, 1.0, 1.5, 2.0], dtype=np.float32)
    started = time.perf_counter()
    with open(path, "wb") as f:
        header = {"descr": "<f4", "fortran_order": False, "shape": (n_rows, D)}
        np.lib.format.write_array_header_2_0(f, header)
        for start in range(0, n_rows, WRITE_ROWS):
            rows = min(WRITE_ROWS, n_rows - start)
            labels = rng.integers(K, size=rows)
            block = rng.standard_normal((rows, D), dtype=np.float32)
            block *= scales[labels, None]
            block += centres[labels]
            block.tofile(f)
    return time.perf_counter() - started


def child(mode: str, path: str, iters: int, subset: int) -> None:
    """Fit in this (fresh) process and print timings and peak RSS as JSON."""
    import resource
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    import gaussmix
    from gaussmix.backends.numpy import NumpyRows
    from gaussmix.scan import ScanRows

    passes: list[float] = []
    rows_class: Any = ScanRows if mode == "scan" else NumpyRows
    expectation = rows_class.expectation

    def timed(self: Any, *args: Any) -> Any:
        started = time.perf_counter()
        stats = expectation(self, *args)
        passes.append(time.perf_counter() - started)
        return stats

    rows_class.expectation = timed
    if mode == "scan":
        data: Any = gaussmix.scan(path)
        n_rows = data.n_rows
    else:
        data = np.array(np.load(path, mmap_mode="r")[:subset])
        n_rows = data.shape[0]
    gm = gaussmix.GaussianMixture(K, max_iter=iters, tol=0.0, random_state=0)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(data)
    total = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    print(
        json.dumps(
            {
                "n_rows": n_rows,
                "passes": passes,
                "fit_s": total,
                "init_s": total - sum(passes),
                "peak_rss": peak,
                "lower_bound": gm.lower_bound_,
            }
        )
    )


def run_child(mode: str, path: Path, iters: int, subset: int) -> dict[str, Any]:
    options = ["--path", str(path), "--iters", str(iters), "--subset", str(subset)]
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, *options],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=8.6, help="file size in GB (1e9 bytes)")
    parser.add_argument("--dir", default="/tmp", help="where to write the file")
    parser.add_argument("--iters", type=int, default=3, help="EM iterations")
    parser.add_argument("--subset", type=int, default=2_000_000, help="rows fitted in memory")
    parser.add_argument("--keep", action="store_true", help="keep the file")
    parser.add_argument("--child", choices=["scan", "memory"], help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.path, args.iters, args.subset)
        return 0
    from machine import header

    print(header(), flush=True)

    n_rows = int(args.gb * 1e9) // (4 * D)
    size = n_rows * 4 * D
    path = Path(args.dir) / "gaussmix-outofcore.npy"
    subprocess.run(["df", "-h", args.dir], check=False)
    free = shutil.disk_usage(args.dir).free
    if free < size + 2 * 2**30:
        print(f"need {size / 1e9:.1f} GB + 2 GiB free in {args.dir}; {free / 1e9:.1f} GB free")
        return 1
    try:
        print(f"writing {n_rows:,} x {D} float32 rows ({size / 1e9:.2f} GB) to {path} ...")
        write_s = write_mixture(path, n_rows)
        print(f"  written in {write_s:.0f} s")
        print(f"fitting the first {args.subset:,} rows in memory ...", flush=True)
        before = run_child("memory", path, args.iters, args.subset)
        print(f"fitting through scan ({args.iters} iterations) ...", flush=True)
        scan = run_child("scan", path, args.iters, args.subset)
        print("fitting in memory again ...", flush=True)
        after = run_child("memory", path, args.iters, args.subset)
    finally:
        if not args.keep:
            path.unlink(missing_ok=True)

    def rate(result: dict[str, Any]) -> list[float]:
        return [result["n_rows"] / s for s in result["passes"]]

    scan_rate, memory_rate = rate(scan), rate(before) + rate(after)
    print(json.dumps({"scan": scan, "memory before": before, "memory after": after}, indent=1))
    cpu = platform.processor() or platform.machine()
    print(
        f"\n{os.cpu_count()} CPUs ({cpu}), numpy {np.__version__}; K={K}, d={D}, full "
        f"covariance, float32; file {size / 1e9:.2f} GB ({n_rows:,} rows), written in "
        f"{write_s:.0f} s.\n"
    )
    print("| fit | rows | peak RSS | init | rows/s per iteration (each pass) | best rows/s |")
    print("|---|---:|---:|---:|---|---:|")
    for name, result in [
        ("in memory (subset), before", before),
        ("`scan` (file)", scan),
        ("in memory (subset), after", after),
    ]:
        rates = rate(result)
        print(
            f"| {name} | {result['n_rows']:,} | {result['peak_rss'] / 2**30:.2f} GiB | "
            f"{result['init_s']:.1f} s | {', '.join(f'{r / 1e6:.2f}M' for r in rates)} | "
            f"{max(rates) / 1e6:.2f}M |"
        )
    # The best pass is the one least slowed by other work on a shared machine.
    ratio = max(scan_rate) / max(memory_rate)
    print(f"\nscan / in-memory throughput (best passes): {ratio:.2f}")
    ok = scan["peak_rss"] < RSS_LIMIT
    print(f"peak RSS of the scan fit {'<' if ok else '>='} 1.5 GiB")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
