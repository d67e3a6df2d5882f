"""gaussmix's noise component against mclust's, on data with scattered outliers (needs R).

For each data set both libraries start from the same initial noise rows
(mclust's ``initialization = list(noise = ...)``, gaussmix's ``noise=<indices>``)
and from mclust's hierarchical clustering:

1. gaussmix selects over mclust's family (``select(X, range(1, 10), "mclust",
   noise=rows)``) and mclust over its own (``Mclust(X, initialization = ...)``);
2. both fit the model and K that mclust chose (and gaussmix's choice, where it
   differs and mclust has it), and the script prints log-likelihood, free
   parameters, BIC (mclust's sign), the hypervolume, the noise proportion and the
   agreement of the classifications (noise included as a class of its own):
   the share of rows classified alike after matching the components, and the
   adjusted Rand index.

Usage: ``python bench/mclust/noise_comparison.py``
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score

import gaussmix
from gaussmix._core.covariance import MCLUST_NAMES
from gaussmix._core.noise import initial_noise
from gaussmix.datasets import load_old_faithful

HERE = Path(__file__).resolve().parent
TOL = 1e-8  # tighter than mclust's (a relative 1e-5), so gaussmix's optimum is at least as high


def _data_sets(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray, str]]:
    """name -> (X, initial noise rows (0-based), how they were chosen)."""
    rng = np.random.RandomState(0)
    faithful, _ = load_old_faithful()
    scattered = np.vstack([faithful, rng.uniform(faithful.min(0), faithful.max(0), (60, 2))])
    sets = {"faithful + 60 uniform": (scattered, "gaussmix's default rule (initial_noise)")}
    centres = np.array([[0.0, 0.0, 0.0], [6.0, 0.0, 2.0], [0.0, 7.0, -3.0]])
    blobs = np.vstack([rng.normal(c, 1.0, size=(200, 3)) for c in centres])
    clutter = rng.uniform(blobs.min(0) - 2, blobs.max(0) + 2, size=(120, 3))
    sets["3 blobs in 3-D + 120 uniform"] = (
        np.vstack([blobs, clutter]),
        "gaussmix's default rule (initial_noise)",
    )
    subprocess.run(
        [
            "Rscript",
            "-e",
            f"library(mclust); data(chevron); write.table(chevron[, -1], "
            f"'{folder / 'chevron.csv'}', sep = ',', row.names = FALSE, col.names = FALSE)",
        ],
        check=True,
        capture_output=True,
    )
    chevron = np.loadtxt(folder / "chevron.csv", delimiter=",")
    sets["chevron (mclust)"] = (chevron, "random, 3 in 4 (as mclust's chevron example)")
    out = {}
    for name, (X, how) in sets.items():
        if how.startswith("random"):
            rows = np.flatnonzero(np.random.RandomState(1).uniform(size=len(X)) < 0.75)
        else:
            rows = np.flatnonzero(initial_noise(X))
        out[name] = (X, rows, how)
    return out


def _mclust(folder: Path, X: np.ndarray, rows: np.ndarray, model: str, k: int) -> dict:
    np.savetxt(folder / "X.csv", X, delimiter=",", fmt="%.17g")
    np.savetxt(folder / "noise.txt", rows + 1, fmt="%d")
    prefix = folder / "out"
    subprocess.run(
        [
            "Rscript",
            str(HERE / "noise_fit.R"),
            str(folder / "X.csv"),
            str(folder / "noise.txt"),
            str(prefix),
            model,
            str(k),
        ],
        check=True,
        capture_output=True,
    )
    result = {}
    for which in ("fit", "best"):
        lines = Path(f"{prefix}_{which}.csv").read_text().splitlines()
        keys = [h.strip('"') for h in lines[0].split(",")]
        values = [v.strip('"') for v in lines[1].split(",")]
        record = dict(zip(keys, values, strict=True))
        record["classes"] = np.loadtxt(f"{prefix}_{which}_class.txt", dtype=int)
        result[which] = record
    result["version"] = Path(f"{prefix}_version.txt").read_text().strip()
    return result


def _ours(X: np.ndarray, rows: np.ndarray, model: str, k: int) -> gaussmix.GaussianMixture:
    gm = gaussmix.GaussianMixture(
        k, covariance_type=model, init_params="hc", noise=rows, tol=TOL, max_iter=5000
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return gm.fit(X)


def _agreement(ours: np.ndarray, theirs: np.ndarray) -> tuple[float, float]:
    """Share of rows classified alike after matching components, and the ARI."""
    a = np.where(ours < 0, 0, ours + 1)  # mclust's coding: 0 = noise, 1..G
    b = theirs
    table = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(table, (a, b), 1)
    table[0, 1:] -= len(a)  # noise matches noise only
    table[1:, 0] -= len(a)
    r, c = linear_sum_assignment(-table)
    matched = sum(table[i, j] for i, j in zip(r, c, strict=True) if (i == 0) == (j == 0))
    return float(matched) / len(a), float(adjusted_rand_score(a, b))


def main() -> None:
    sys.path.insert(0, str(HERE.parent))
    from machine import header, require_r

    print(header(), flush=True)
    require_r()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows_out = []
        version = "?"
        for name, (X, rows, how) in _data_sets(folder).items():
            n = X.shape[0]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                chosen = gaussmix.select(
                    X, range(1, 10), "mclust", noise=rows, tol=TOL, max_iter=5000
                )
            ours_best = (
                chosen.best_params_["covariance_type"],
                chosen.best_params_["n_components"],
            )
            r = _mclust(folder, X, rows, *ours_best)
            version = r["version"]
            theirs_best = (r["best"]["model"], int(r["best"]["G"]))
            print(f"\n{name}: n = {n}, initial noise {len(rows)} rows ({how})")
            print(
                f"  selected: gaussmix {ours_best[0]},{ours_best[1]} (BIC "
                f"{-chosen.best_score_:.3f} in mclust's sign), mclust {theirs_best[0]},"
                f"{theirs_best[1]} (BIC {float(r['best']['bic']):.3f})"
            )
            fits = [(theirs_best, r["best"])]
            if ours_best != theirs_best:
                fits.append((ours_best, r["fit"]))
            for (model, k), record in fits:
                if model not in MCLUST_NAMES:
                    print(f"  {model},{k}: not among gaussmix's models yet")
                    continue
                gm = _ours(X, rows, model, k)
                ll = float(np.sum(gm.score_samples(X)))
                share, ari = _agreement(gm.predict(X), record["classes"])
                rows_out.append(
                    (
                        name,
                        f"{model},{k}",
                        ll,
                        float(record["loglik"]),
                        gm._n_parameters(),
                        int(float(record["df"])),
                        -gm.bic(X),
                        float(record["bic"]),
                        gm.noise_hypervolume_,
                        float(record["hypvol"]),
                        gm.noise_weight_,
                        float(record["noise"]),
                        share,
                        ari,
                    )
                )
        print(f"\nmclust {version} against gaussmix (BIC in mclust's sign, higher is better)\n")
        print(
            "| data | model | log-lik gaussmix | log-lik mclust | df | BIC gaussmix | "
            "BIC mclust | hypervolume (both) | noise proportion gaussmix / mclust | "
            "rows classified alike | ARI |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for name, model, ll, ll_r, df, df_r, bic, bic_r, v, v_r, p, p_r, share, ari in rows_out:
            same_df = f"{df}" if df == df_r else f"{df} / {df_r}"
            same_v = f"{v:.6g}" if np.isclose(v, v_r, rtol=1e-9) else f"{v:.6g} / {v_r:.6g}"
            print(
                f"| {name} | {model} | {ll:.4f} | {ll_r:.4f} | {same_df} | {bic:.3f} | "
                f"{bic_r:.3f} | {same_v} | {p:.4f} / {p_r:.4f} | {share:.1%} | {ari:.4f} |"
            )


if __name__ == "__main__":
    main()
