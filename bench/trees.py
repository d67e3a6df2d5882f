"""Per-iteration time of two gaussmix source trees, alternating processes on one machine.

For judging whether a change costs speed (for example 0.1 against main): each of
``bench/run.py``'s cases is timed as ``make bench`` times it (its data, its shared
``*_init``, ``tol=0``, ``(T(8 iterations) - T(1)) / 7``), the median of 3 in a fresh
process; processes on the
old and the new tree alternate, ``--pairs`` times per case, so load changes hit both.

Usage::

    git worktree add --detach /tmp/old 86aa675
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/trees.py /tmp/old/src src

Prints the shared machine header, then one row per case: medians, the per-pair
ratios new / old and their median.

``--same-process`` imports both trees into one process instead (each ``gaussmix``
package copied under another name: it imports itself only relatively) and
alternates their fits there, the order swapped every pair: the two then share the
process's memory layout and every moment of the machine's load, which resolves
differences of a few percent that fresh processes on a shared machine do not.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import header
from run import CASES, make_data, per_iteration, starting_params


def case_inputs(case: Any) -> tuple[np.ndarray, dict]:
    """``bench/run.py``'s data and shared starting parameters for ``case``."""
    X = make_data(case.n, case.d, case.k).astype(case.dtype)
    return X, starting_params(X, case.k, case.covariance_type)


def one_case(index: int) -> float:
    """Milliseconds per EM iteration of ``CASES[index]`` for the gaussmix importable here.

    ``bench/run.py``'s data, starting parameters and timing; the median of 3.
    """
    from gaussmix import GaussianMixture

    case = CASES[index]
    X, init = case_inputs(case)
    per_iteration(GaussianMixture, X, case, init, 2)  # compile and warm up
    runs = (per_iteration(GaussianMixture, X, case, init, 8)[0] for _ in range(3))
    return 1000 * statistics.median(runs)


def in_tree(src: str, index: int) -> float:
    env = dict(os.environ, PYTHONPATH=src)
    code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
    code += f"from trees import one_case; print(one_case({index}))"
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code], env=env, capture_output=True, text=True
    )
    if out.returncode:
        raise SystemExit(f"{src}: {out.stderr.strip().splitlines()[-1]}")
    return float(out.stdout.strip().splitlines()[-1])


@cache
def both_trees(old: str, new: str) -> tuple[type, type]:
    """The two trees' GaussianMixture classes, imported into this process once (each
    ``gaussmix`` package copied under another name: it imports itself only relatively)."""
    folder = tempfile.mkdtemp(prefix="gaussmix-trees-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    names = ("gaussmix_old", "gaussmix_new")
    for name, src in zip(names, (old, new), strict=True):
        shutil.copytree(Path(src) / "gaussmix", Path(folder) / name)
    sys.path.insert(0, folder)
    old_cls, new_cls = (importlib.import_module(name).GaussianMixture for name in names)
    return old_cls, new_cls


def same_process(old: str, new: str, index: int, pairs: int) -> list[tuple[float, float]]:
    """(old, new) milliseconds per iteration of ``CASES[index]``, ``pairs`` times, both
    trees imported into this process; each pair's order alternates."""
    classes = both_trees(old, new)
    case = CASES[index]
    X, init = case_inputs(case)

    def ms(cls: type) -> float:
        return 1000 * per_iteration(cls, X, case, init, 8)[0]

    for cls in classes:
        per_iteration(cls, X, case, init, 2)  # compile and warm up
    out = []
    for i in range(pairs):
        if i % 2:
            new_ms, old_ms = ms(classes[1]), ms(classes[0])
        else:
            old_ms, new_ms = ms(classes[0]), ms(classes[1])
        out.append((old_ms, new_ms))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", help="the old tree's src directory")
    parser.add_argument("new", help="the new tree's src directory")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--only", help="run only cases whose label contains this text")
    parser.add_argument(
        "--same-process", action="store_true", help="both trees in one process (see above)"
    )
    args = parser.parse_args()
    print(header())
    print("| case | old ms/iter | new ms/iter | new / old per pair | median |")
    print("|---|---|---|---|---|")
    for index, case in enumerate(CASES):
        label = case.label
        if args.only and args.only not in label:
            continue
        if args.same_process:
            pairs = same_process(args.old, args.new, index, args.pairs)
        else:
            pairs = [
                (in_tree(args.old, index), in_tree(args.new, index)) for _ in range(args.pairs)
            ]
        ratios = [new / old for old, new in pairs]
        print(
            f"| {label} | {statistics.median(o for o, _ in pairs):.1f} "
            f"| {statistics.median(n for _, n in pairs):.1f} "
            f"| {', '.join(f'{r:.2f}' for r in ratios)} | {statistics.median(ratios):.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
