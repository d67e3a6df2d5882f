"""The original problem's reference solution, kept verbatim in logic as a timing baseline.

Copied from the project's seed (``gmm_em_problem.txt``); only formatting and type
hints were changed for the linter. ``bench/run.py`` times ``gaussmix.gmm_em``
against it on the same 1-D data.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def gaussian_pdf(x: np.ndarray, mean: float, var: float) -> np.ndarray:
    return (1.0 / np.sqrt(2 * np.pi * var)) * np.exp(-0.5 * (x - mean) ** 2 / var)


def gmm_em(
    data: np.ndarray, k: int, max_iter: int = 100, tol: float = 1e-6, seed: int = 42
) -> dict[str, Any]:
    np.random.seed(seed)  # noqa: NPY002 (the reference's own global seeding)
    n = len(data)

    # Initialize parameters
    indices = np.random.choice(n, k, replace=False)  # noqa: NPY002
    means = data[indices].astype(float)
    variances = np.full(k, np.var(data))
    weights = np.full(k, 1.0 / k)

    log_likelihood = -np.inf

    for iteration in range(max_iter):  # noqa: B007 (reported after the loop)
        # E-step: compute responsibilities
        resp = np.zeros((n, k))
        for j in range(k):
            resp[:, j] = weights[j] * gaussian_pdf(data, means[j], variances[j])

        row_sums = resp.sum(axis=1, keepdims=True)
        row_sums = np.maximum(row_sums, 1e-300)
        resp /= row_sums

        # M-step: update parameters
        Nk = resp.sum(axis=0)
        for j in range(k):
            if Nk[j] < 1e-10:
                continue
            means[j] = np.dot(resp[:, j], data) / Nk[j]
            variances[j] = np.dot(resp[:, j], (data - means[j]) ** 2) / Nk[j]
            variances[j] = max(variances[j], 1e-6)
        weights = Nk / n

        # Check convergence
        new_ll = np.sum(np.log(row_sums))
        if abs(new_ll - log_likelihood) < tol:
            break
        log_likelihood = new_ll

    return {
        "means": means.tolist(),
        "variances": variances.tolist(),
        "weights": weights.tolist(),
        "log_likelihood": float(log_likelihood),
        "iterations": iteration + 1,
    }
