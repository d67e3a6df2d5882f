"""Fit K = 1…6 with every covariance type on Old Faithful and pick a model by BIC."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from gaussmix import GaussianMixture
from gaussmix.datasets import load_old_faithful

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
KS = range(1, 7)


def main() -> None:
    X, columns = load_old_faithful()
    print(f"Old Faithful: {X.shape[0]} eruptions, columns {columns}\n")

    bic: dict[tuple[int, str], float] = {}
    models = {}
    for covariance_type in COVARIANCE_TYPES:
        for k in KS:
            model = GaussianMixture(k, covariance_type=covariance_type, n_init=3, random_state=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(X)
            bic[k, covariance_type] = model.bic(X)
            models[k, covariance_type] = model

    print("BIC (lower is better)")
    print("  K " + "".join(f"{c:>12}" for c in COVARIANCE_TYPES))
    for k in KS:
        print(f"{k:>3} " + "".join(f"{bic[k, c]:12.1f}" for c in COVARIANCE_TYPES))

    best_k, best_type = min(bic, key=bic.__getitem__)
    best = models[best_k, best_type]
    chosen = f"K = {best_k}, covariance_type = {best_type!r}"
    print(f"\nChosen: {chosen}, BIC = {bic[best_k, best_type]:.1f}")
    np.set_printoptions(precision=3, suppress=True)
    indent = "\n" + " " * 14
    for k in np.argsort(best.means_[:, 0]):
        mean = "  ".join(f"{c}={m:.3f}" for c, m in zip(columns, best.means_[k], strict=True))
        cov = best.covariances_ if best_type == "tied" else best.covariances_[k]
        print(f"\ncomponent {k}: weight {best.weights_[k]:.3f}")
        print(f"  mean        {mean}")
        print(f"  covariance  {str(cov).replace(chr(10), indent)}")


if __name__ == "__main__":
    main()
