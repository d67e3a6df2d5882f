"""Start-up cost of gaussmix in fresh processes: ``import gaussmix`` and ``gaussmix --help``.

Each measurement runs a new Python process, and the kinds of process alternate
(one of each per round, and with ``--against SRC`` one of each for that other
source tree too, e.g. an older checkout's ``src``), so a change of load hits
them alike. It reports medians over the rounds:

- ``import gaussmix`` beyond ``import numpy, scipy``, timed inside the child
  (``perf_counter`` around the one import after NumPy and SciPy are loaded), and
  likewise ``from gaussmix import GaussianMixture`` (which needs scikit-learn's
  estimator base classes) beyond NumPy and SciPy, and beyond ``sklearn.base``
  (gaussmix's own modules);
- the wall time (and CPU seconds, which load disturbs less) of whole
  processes: ``python -c "import numpy, scipy"`` (the floor),
  ``python -c "import gaussmix"``, ``gaussmix --help`` and ``gaussmix fit --help``;

and which heavy libraries ``import gaussmix`` loaded (none is the goal).

Usage: ``python bench/startup.py [--rounds N] [--against OTHER/src]`` (default 9 rounds).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

from machine import header

HEAVY = ("sklearn", "matplotlib", "numba", "torch", "dask", "pandas", "pyarrow", "typer", "rich")

_TIMED = "import time, {before}; t = time.perf_counter(); {then}; print(time.perf_counter() - t)"
BEYOND = {
    "import gaussmix beyond import numpy, scipy": ("numpy, scipy", "import gaussmix"),
    "from gaussmix import GaussianMixture beyond numpy, scipy": (
        "numpy, scipy",
        "from gaussmix import GaussianMixture",
    ),
    "  of which gaussmix's own, beyond sklearn.base": (
        "numpy, scipy, sklearn.base",
        "from gaussmix import GaussianMixture",
    ),
}
"""Imports timed inside the child: (what it imports first, the timed statement)."""
_LOADED = f"import sys, gaussmix; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
_CLI = "import sys; from gaussmix.cli import main; sys.exit(main(sys.argv[1:]))"

PROCESSES = {
    "python -c 'import numpy, scipy'": ["-c", "import numpy, scipy"],
    "python -c 'import gaussmix'": ["-c", "import gaussmix"],
    "gaussmix --help": ["-c", _CLI, "--help"],
    "gaussmix fit --help": ["-c", _CLI, "fit", "--help"],
}


def _wall(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of a whole child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, *args],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def _child(code: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env
    )
    return done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9, help="fresh processes of each kind")
    parser.add_argument("--against", help="another gaussmix source tree (its src directory)")
    args = parser.parse_args()
    trees = {"this checkout": dict(os.environ)}
    if args.against:
        trees[args.against] = {**os.environ, "PYTHONPATH": os.path.abspath(args.against)}
    for env in trees.values():
        _wall(PROCESSES["gaussmix --help"], env)  # a first run fills the OS's file cache
    print(header(), flush=True)
    load_before = os.getloadavg()
    beyond = {(tree, label): [] for tree in trees for label in BEYOND}
    walls: dict[tuple[str, str], list[tuple[float, float]]] = {
        (tree, name): [] for tree in trees for name in PROCESSES
    }
    for _ in range(args.rounds):
        for tree, env in trees.items():
            for label, (before, then) in BEYOND.items():
                code = _TIMED.format(before=before, then=then)
                beyond[tree, label].append(float(_child(code, env)))
            for name, argv in PROCESSES.items():
                walls[tree, name].append(_wall(argv, env))
    load_after = os.getloadavg()
    print(f"Python {sys.version.split()[0]} ({sys.executable}), {os.cpu_count()} CPUs")
    print(
        f"load average {load_before[0]:.2f} at the start, {load_after[0]:.2f} at the end; "
        f"medians of {args.rounds} fresh processes each"
    )
    for tree, env in trees.items():
        print(f"-- {tree}")
        for label in BEYOND:
            print(f"{label:<58} {statistics.median(beyond[tree, label]):7.3f} s")
        for name in PROCESSES:
            label = f"{name} (whole process)"
            wall = statistics.median(w for w, _ in walls[tree, name])
            cpu = statistics.median(c for _, c in walls[tree, name])
            print(f"{label:<58} {wall:7.3f} s ({cpu:.3f} s CPU)")
        print(f"heavy modules loaded by import gaussmix: {_child(_LOADED, env) or 'none'}")


if __name__ == "__main__":
    main()
