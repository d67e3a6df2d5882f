"""gaussmix's fourteen mclust models against R's mclust (needs R with mclust).

Fits EII ... VVV for K = 1...6 on several data sets with both: mclust through
``fits.R`` (``mclustBIC``: a hierarchical start on the SVD-transformed rows and
mclust's EM control), gaussmix through ``select(covariance_types='mclust')``
(``init_params='hc'``), on the same rows. gaussmix runs without
regularisation (``reg_covar=0``, as mclust) and to a tight tolerance, so both
report their maximum from the same start; a fit either side cannot make
(a singular covariance) counts as missing on that side.

Prints, per data set, every fit's log-likelihood, number of parameters and
BIC (mclust's sign: 2 log L - p log n, higher is better) side by side, the
model each selects, and a summary against the target: the same number of
parameters everywhere, a log-likelihood at least mclust's (within 1e-4
relative) in at least 95% of the fits both make, and the same selected model.

Usage: ``python bench/mclust/compare.py [--full] [--prior]`` (``--full`` prints
every fit, not only those that miss; ``--prior`` fits both with mclust's default
conjugate prior, ``priorControl()``, for the ten models that have one).
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from sklearn.datasets import load_iris, load_wine

import gaussmix
from gaussmix.datasets import load_old_faithful

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from machine import header, load_average, require_r  # noqa: E402  (bench/machine.py)

RTOL = 1e-4  # the target's relative tolerance on log-likelihoods
K_RANGE = range(1, 7)


def synthetic(seed: int = 0) -> np.ndarray:
    """400 rows in 3-D: four clusters of different volumes, shapes and orientations."""
    rng = np.random.default_rng(seed)
    parts = []
    for n, centre, scale in (
        (150, (0, 0, 0), 1.0),
        (100, (6, 0, 2), 0.5),
        (100, (0, 7, -3), 1.5),
        (50, (7, 7, 7), 0.8),
    ):
        A = rng.normal(size=(3, 3)) * scale
        parts.append(rng.normal(size=(n, 3)) @ A + np.asarray(centre, float))
    return np.concatenate(parts)


def data_sets() -> dict[str, np.ndarray]:
    return {
        "faithful": load_old_faithful()[0],
        "iris": load_iris().data,
        "wine": load_wine().data,
        "synthetic": synthetic(),
    }


def mclust_fits(
    folder: Path, names: list[str], prior: bool
) -> tuple[str, dict[str, dict], dict[str, str]]:
    """Run fits.R; return mclust's version, ``{name: {(model, K): row}}`` and its picks."""
    flag = ["--prior"] if prior else []
    subprocess.run(["Rscript", str(HERE / "fits.R"), str(folder), *flag, *names], check=True)
    fits: dict[str, dict] = {}
    best: dict[str, str] = {}
    for name in names:
        with open(folder / f"{name}_fits.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        fits[name] = {
            (r["model"], int(r["K"])): {
                "loglik": _float(r["loglik"]),
                "n_parameters": int(r["n_parameters"]),
                "bic": _float(r["bic"]),
            }
            for r in rows
        }
        best[name] = (folder / f"{name}_best.txt").read_text().strip()
    return (folder / "version.txt").read_text().strip(), fits, best


def _float(text: str) -> float:
    return float("nan") if text in ("NA", "") else float(text)


def gaussmix_fits(X: np.ndarray, prior: bool) -> tuple[dict, str]:
    """``{(model, K): row}`` in mclust's sign, and the selected 'MODEL,K'."""
    result = gaussmix.select(
        X,
        n_components=K_RANGE,
        covariance_types="mclust",
        reg_covar=0.0,
        tol=1e-10,
        max_iter=10_000,
        random_state=0,
        prior="default" if prior else None,
    )
    fits = {
        (r["covariance_type"], r["n_components"]): {
            "loglik": r["log_likelihood"],
            "n_parameters": r["n_parameters"],
            "bic": -r["bic"],
        }
        for r in result.records
    }
    p = result.best_params_
    return fits, f"{p['covariance_type']},{p['n_components']}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="print every fit, not only misses")
    parser.add_argument(
        "--prior", action="store_true", help="with mclust's default prior (priorControl())"
    )
    args = parser.parse_args()
    require_r()
    sets = data_sets()
    print(header())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, X in sets.items():
            np.savetxt(folder / f"{name}_X.csv", X, delimiter=",", fmt="%.17g")
        version, theirs, their_best = mclust_fits(folder, list(sets), args.prior)
    print(f"mclust {version} against gaussmix {gaussmix.__version__}\n")

    total = both = at_least = same_p = 0
    only_ours = only_theirs = 0
    picks = []
    per_set = []
    for name, X in sets.items():
        ours, our_best = gaussmix_fits(X, args.prior)
        n, d = X.shape
        print(f"### {name} (n = {n}, d = {d})\n")
        print(
            "| model | K | p | log L mclust | log L gaussmix | rel. diff "
            "| BIC mclust | BIC gaussmix |"
        )
        print("|---|---|---|---|---|---|---|---|")
        diffs = []
        for key, their in theirs[name].items():
            our = ours[key]
            total += 1
            same_p += our["n_parameters"] == their["n_parameters"]
            a, b = their["loglik"], our["loglik"]
            diff = (b - a) / abs(a) if np.isfinite(a) and np.isfinite(b) else np.nan
            if np.isfinite(a) and np.isfinite(b):
                diffs.append(diff)
                both += 1
                at_least += diff >= -RTOL
            only_ours += np.isfinite(b) and not np.isfinite(a)
            only_theirs += np.isfinite(a) and not np.isfinite(b)
            if args.full or not (diff >= -RTOL) or our["n_parameters"] != their["n_parameters"]:
                p = (
                    str(their["n_parameters"])
                    if our["n_parameters"] == their["n_parameters"]
                    else f"{their['n_parameters']} / {our['n_parameters']}"
                )
                print(
                    f"| {key[0]} | {key[1]} | {p} | {a:.6f} | {b:.6f} | {diff:+.2e} "
                    f"| {their['bic']:.4f} | {our['bic']:.4f} |"
                )
        picks.append((name, their_best[name], our_best, their_best[name] == our_best))
        per_set.append((name, n, d, len(theirs[name]), np.asarray(diffs)))
        print()
    print(
        "| data | n | d | fits | both make | log L >= mclust's (1e-4) | higher by > 1e-6 "
        "| median rel. diff | lowest rel. diff |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, n, d, fits, diffs in per_set:
        print(
            f"| {name} | {n} | {d} | {fits} | {diffs.size} | {int(np.sum(diffs >= -RTOL))} "
            f"| {int(np.sum(diffs > 1e-6))} | {np.median(diffs):+.1e} | {diffs.min():+.1e} |"
        )
    print()
    print("| data | mclust selects | gaussmix selects | same |")
    print("|---|---|---|---|")
    for name, a, b, same in picks:
        print(f"| {name} | {a} | {b} | {'yes' if same else 'no'} |")
    print(
        f"\nfits: {total}; same number of parameters: {same_p}/{total}; made by both: {both}, "
        f"only by mclust: {only_theirs}, only by gaussmix: {only_ours}\n"
        f"log-likelihood >= mclust's - {RTOL:g} relative: {at_least}/{both} "
        f"({100 * at_least / max(both, 1):.1f}%); same selected model: "
        f"{sum(p[3] for p in picks)}/{len(picks)}"
    )
    print(f"Load average at the end: {load_average()}")


if __name__ == "__main__":
    main()
