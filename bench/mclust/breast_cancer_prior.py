"""Degenerate components on standardised breast_cancer, without and with mclust's prior.

Fits ``GaussianMixture(K, covariance_type="full", random_state=seed)`` for
K = 2...9 and seeds 0, 1, 2 (k-means start), without a prior and with
``prior="default"``, and prints each fit's smallest covariance eigenvalue, the
rows of the component that has it, and BIC. A smallest eigenvalue equal to
``reg_covar`` (1e-6) is a degenerate component that only ``reg_covar`` holds up.

Usage: ``python bench/mclust/breast_cancer_prior.py``
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

import gaussmix

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from machine import header  # bench/machine.py


def smallest(gm: gaussmix.GaussianMixture, X: np.ndarray) -> tuple[float, int]:
    """The smallest eigenvalue over the components, and its component's rows."""
    eig = np.linalg.eigvalsh(gm.covariances_)[:, 0]
    k = int(np.argmin(eig))
    return float(eig[k]), int(np.sum(gm.predict(X) == k))


def main() -> None:
    print(header())
    warnings.simplefilter("ignore")
    X = StandardScaler().fit_transform(load_breast_cancer().data)
    print("\n| K | seed | no prior: min eig | rows | BIC | prior: min eig | rows | BIC |")
    print("|---|---|---|---|---|---|---|---|")
    degenerate = [0, 0]
    for K in range(2, 10):
        for seed in (0, 1, 2):
            cells = []
            for i, prior in enumerate((None, "default")):
                gm = gaussmix.GaussianMixture(
                    K, covariance_type="full", random_state=seed, prior=prior
                ).fit(X)
                eig, rows = smallest(gm, X)
                degenerate[i] += eig <= 1.01 * gm.reg_covar
                cells.append(f"{eig:.3g} | {rows} | {gm.bic(X):.1f}")
            print(f"| {K} | {seed} | {' | '.join(cells)} |", flush=True)
    print(
        f"\ndegenerate (smallest eigenvalue = reg_covar): {degenerate[0]} of 24 without "
        f"a prior, {degenerate[1]} of 24 with prior='default'"
    )


if __name__ == "__main__":
    main()
