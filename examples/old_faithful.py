"""Old Faithful end to end, as R's mclust does it: select by BIC, save, reload, plot.

Fits K = 1…9 with mclust's family of covariance models, started from mclust's
hierarchical clustering (``gaussmix.select(X, covariance_types="mclust")``),
prints the BIC table (gaussmix's sign: lower is better; mclust prints the same
numbers negated) and the chosen model — mclust's answer, EEE with K = 3 (its
BIC −2314.316) — writes the model to ``demo/old_faithful.gmm``, loads it back
(checking that it predicts exactly as before), and draws
``demo/old_faithful_mixture.png`` and ``demo/old_faithful_selection.png``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

import gaussmix
from gaussmix.datasets import load_old_faithful

matplotlib.use("Agg")  # files only, no window
import matplotlib.pyplot as plt

from gaussmix.plot import plot_mixture, plot_selection

KS = range(1, 10)
MCLUST_BEST = ("EEE", 3, -2314.316)  # Mclust(faithful): model, K, BIC in mclust's sign
OUT = Path(__file__).resolve().parent.parent / "demo"


def main() -> None:
    X, columns = load_old_faithful()
    print(f"Old Faithful: {X.shape[0]} eruptions, columns {columns}\n")

    # mclust's models, each started from its hierarchical clustering ('hc'); tol as
    # tight as mclust's EM (a relative change of the log-likelihood of 1e-5).
    result = gaussmix.select(X, KS, "mclust", criterion="bic", tol=1e-5, max_iter=1000)
    bic = {(r["n_components"], r["covariance_type"]): r["bic"] for r in result.records}
    types = list(dict.fromkeys(r["covariance_type"] for r in result.records))

    print("BIC (gaussmix's sign: lower is better; mclust prints these numbers negated)")
    print("  K " + "".join(f"{c:>10}" for c in types))
    for k in KS:
        print(f"{k:>3} " + "".join(f"{bic[k, c]:10.3f}" for c in types))

    best = result.best_
    best_k, best_type = best.n_components, best.covariance_type
    chosen = f"K = {best_k}, covariance_type = {best_type!r}"
    print(f"\nChosen: {chosen}, BIC = {result.best_score_:.3f}")
    model, k, bic = MCLUST_BEST
    print(f"mclust's choice: {model} with K = {k}, BIC {bic} in its sign ({-bic} in ours)")
    np.set_printoptions(precision=3, suppress=True)
    indent = "\n" + " " * 14
    for k in np.argsort(best.means_[:, 0]):
        mean = "  ".join(f"{c}={m:.3f}" for c, m in zip(columns, best.means_[k], strict=True))
        cov = best.covariances_ if best.covariances_.ndim == 2 else best.covariances_[k]
        print(f"\ncomponent {k}: weight {best.weights_[k]:.3f}")
        print(f"  mean        {mean}")
        print(f"  covariance  {str(cov).replace(chr(10), indent)}")

    # Save, reload, and check the reloaded model predicts exactly as the fitted one.
    OUT.mkdir(exist_ok=True)
    path = best.save(OUT / "old_faithful.gmm")
    reloaded = gaussmix.load(path)
    if not np.array_equal(reloaded.predict_proba(X), best.predict_proba(X)):
        raise SystemExit(f"{path}: the reloaded model does not predict as the saved one")
    size = path.stat().st_size
    print(f"\nSaved demo/{path.name} ({size} bytes); reloaded, it predicts the same")

    ax = plot_mixture(reloaded, X)
    ax.set_xlabel("eruption time (minutes)")
    ax.set_ylabel("waiting time to the next eruption (minutes)")
    ax.set_title(f"Old Faithful: K = {best_k}, {best_type} (1, 2, 3 sigma ellipses)")
    ax.figure.savefig(OUT / "old_faithful_mixture.png", dpi=120)

    ax = plot_selection(result)
    ax.set_title("Old Faithful: BIC of mclust's models (lower is better)")
    ax.figure.savefig(OUT / "old_faithful_selection.png", dpi=120)
    plt.close("all")
    print("Wrote demo/old_faithful_mixture.png and demo/old_faithful_selection.png")


if __name__ == "__main__":
    main()
