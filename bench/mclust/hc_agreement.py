"""gaussmix's 'hc' tree against mclust's ``hc`` on the same rows (needs R with mclust).

Runs ``hc_trees.R`` (mclust's trees of several data sets, built as ``Mclust``
builds them: ``use = "SVD"``), builds gaussmix's tree of the same rows
(:func:`gaussmix._core.hc.hc_tree`), and prints, per data set, how many merges
agree (mclust's ``hcPairs``, in order) and how many of the partitions into
K = 1...9 groups are identical (mclust's ``hclass``; both number groups by
first appearance, so the labels must be equal, not just equivalent).

Where the merges part, it also reports whether mclust's own criterion,
restarted from the last partition both agree on (``hcVVV(Z, partition = ...)``),
makes gaussmix's merge: mclust updates its pair costs incrementally, and
restarting shows which merge its criterion really prefers.

Usage: ``python bench/mclust/hc_agreement.py``
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from gaussmix._core.hc import hc_tree, partition, svd_transform

HERE = Path(__file__).resolve().parent
SETS = (
    "faithful",
    "iris",
    "diabetes",
    "banknote",
    "wreath",
    "thyroid",
    "chevron",
    "waiting",
    "precip",
)

RESTART = """
suppressPackageStartupMessages(library(mclust))
a <- commandArgs(trailingOnly = TRUE)
Z <- as.matrix(read.csv(a[1], header = FALSE))
start <- scan(a[2], quiet = TRUE)
h <- hcVVV(Z, partition = start)
write.table(t(h), a[3], row.names = FALSE, col.names = FALSE, sep = ",")
"""


def _load(folder: Path, name: str, what: str) -> np.ndarray:
    return np.loadtxt(folder / f"{name}_{what}.csv", delimiter=",", ndmin=2)


def _restarted_merge(folder: Path, X: np.ndarray, ours, theirs: np.ndarray, step: int) -> str:
    """Which merge mclust's criterion makes when restarted where the trees part.

    Both trees share the partition before merge ``step``; ``hcVVV`` restarted
    from it computes every pair's cost afresh. Returns 'gaussmix's', 'its own'
    or 'another'.
    """
    if ours.criterion != "VVV":
        return "-"
    groups = ours.merges.shape[0] + 1 - step
    common = partition(ours, groups)  # rows are the initial clusters (no weights)
    np.savetxt(folder / "Z.csv", svd_transform(X), delimiter=",")
    np.savetxt(folder / "start.txt", common + 1, fmt="%d")
    (folder / "restart.R").write_text(RESTART)
    subprocess.run(
        [
            "Rscript",
            str(folder / "restart.R"),
            str(folder / "Z.csv"),
            str(folder / "start.txt"),
            str(folder / "restarted.csv"),
        ],
        check=True,
    )
    restarted = np.loadtxt(folder / "restarted.csv", delimiter=",", ndmin=2).astype(int) - 1
    fresh = set(restarted[0].tolist())
    if fresh == {int(common[r]) for r in ours.merges[step]}:
        return "gaussmix's"
    if fresh == {int(common[r]) for r in theirs[step]}:
        return "its own"
    return "another"


def main() -> None:
    sys.path.insert(0, str(HERE.parent))
    from machine import header, require_r

    print(header(), flush=True)
    require_r()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        subprocess.run(["Rscript", str(HERE / "hc_trees.R"), tmp], check=True)
        version = (folder / "version.txt").read_text().strip()
        print(f"mclust {version}: hc(X, use = 'SVD') against gaussmix's init_params='hc'\n")
        print(
            "| data | n | d | model | merges agreeing | first differing merge "
            "| partitions K=1..9 agreeing | mclust restarted there makes |"
        )
        print("|---|---|---|---|---|---|---|---|")
        total_parts = 0
        for name in SETS:
            X = _load(folder, name, "X")
            pairs = _load(folder, name, "pairs").astype(int) - 1
            classes = _load(folder, name, "classes").astype(int) - 1
            model = (folder / f"{name}_model.txt").read_text().strip()
            tree = hc_tree(X)
            same = np.all(tree.merges == pairs, axis=1)
            first = "-" if same.all() else str(int(np.argmin(same)) + 1)
            parts = sum(
                np.array_equal(partition(tree, k), classes[:, k - 1]) for k in range(1, 10)
            )
            total_parts += parts
            step = int(np.argmin(same))
            restart = "-" if same.all() else _restarted_merge(folder, X, tree, pairs, step)
            assert tree.criterion == model, (tree.criterion, model)
            print(
                f"| {name} | {X.shape[0]} | {X.shape[1]} | {model} | {int(same.sum())}/"
                f"{same.size} | {first} | {parts}/9 | {restart} |"
            )
        print(f"\npartitions agreeing: {total_parts}/{9 * len(SETS)}")


if __name__ == "__main__":
    main()
