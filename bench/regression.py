"""Gaussian mixture regression: gaussmix against gmr and k-nearest neighbours.

On a few standard regression sets (scikit-learn's diabetes, Friedman #1, a 1-D
heteroscedastic sine, a 2-D surface with two targets), for 3 random 75/25 splits:

- gaussmix.GaussianMixtureRegressor, K chosen by 3-fold CV on the training rows
  from (1, 2, 4, 8, 16), full covariances;
- gmr.sklearn.GaussianMixtureRegressor (if ``gmr`` is importable) with the same K,
  ``init_params='kmeans++'`` (its default 'random' start is much worse);
- scikit-learn's KNeighborsRegressor, k chosen by 3-fold CV from (5, 10, 20, 40).

X and y are standardised on the training rows. Reported: held-out R² (mean over
splits), the held-out negative log predictive density per row (standardised y;
not defined for k-NN), and the fit + predict time (median over splits, the three
run side by side on the same split; the ratio is to gaussmix's time).
California housing is not included: scikit-learn downloads it, and this machine
has no network.

Writes the section "Regression" of bench/RESULTS.md and prints it. gmr is never a
test dependency: install it only for this benchmark (``pip install gmr``).

Run: ``.venv/bin/python bench/regression.py`` (a few minutes).
"""

from __future__ import annotations

import os
import re
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import load_diabetes, make_friedman1
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neighbors import KNeighborsRegressor
from sklearn.preprocessing import StandardScaler

from gaussmix import GaussianMixtureRegressor

RESULTS = Path(__file__).with_name("RESULTS.md")
SECTION = "Regression"
SPLITS = 3

try:
    from gmr.sklearn import GaussianMixtureRegressor as GmrRegressor
except ImportError:
    GmrRegressor = None


def datasets() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.RandomState(0)
    x1 = rng.uniform(-3, 3, size=(2000, 1))
    y1 = np.sin(2 * x1[:, 0]) + (0.05 + 0.3 * (x1[:, 0] > 0)) * rng.normal(size=2000)
    x2 = rng.uniform(-2, 2, size=(3000, 2))
    y2 = np.column_stack(
        [np.sin(2 * x2[:, 0]) * np.cos(x2[:, 1]), x2[:, 0] * x2[:, 1] / 2]
    ) + 0.1 * rng.normal(size=(3000, 2))
    return {
        "diabetes (442x10)": load_diabetes(return_X_y=True),
        "Friedman #1 (2000x10)": make_friedman1(2000, noise=1.0, random_state=0),
        "1-D sine, heteroscedastic (2000x1)": (x1, y1),
        "2-D surface, 2 targets (3000x2)": (x2, y2),
    }


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def _ours(X: np.ndarray, y: np.ndarray, Xt: np.ndarray, yt: np.ndarray, seed: int):
    search = GridSearchCV(
        GaussianMixtureRegressor(random_state=seed),
        {"n_components": [1, 2, 4, 8, 16]},
        cv=3,
    ).fit(X, y)
    k = search.best_params_["n_components"]

    def run() -> Any:
        model = GaussianMixtureRegressor(k, random_state=seed).fit(X, y)
        return model, model.predict(Xt)

    (model, pred), seconds = _timed(run)
    nll = -float(np.mean(model.condition(Xt).score_samples(yt.reshape(len(yt), -1))))
    return r2_score(yt, pred), nll, seconds, k


def _gmr(X, y, Xt, yt, seed: int, k: int):
    def run() -> Any:
        model = GmrRegressor(k, init_params="kmeans++", random_state=seed).fit(X, y)
        return model, model.predict(Xt)

    (model, pred), seconds = _timed(run)
    given = np.asarray(model.indices_)
    targets = yt.reshape(len(yt), -1)
    log_density = [
        np.log(model.gmm_.condition(given, x).to_probability_density(t[None])[0] + 1e-300)
        for x, t in zip(Xt, targets, strict=True)
    ]
    return r2_score(yt, pred.reshape(yt.shape)), -float(np.mean(log_density)), seconds


def _knn(X, y, Xt, yt):
    search = GridSearchCV(KNeighborsRegressor(), {"n_neighbors": [5, 10, 20, 40]}, cv=3)
    k = search.fit(X, y).best_params_["n_neighbors"]
    pred, seconds = _timed(lambda: KNeighborsRegressor(k).fit(X, y).predict(Xt))
    return r2_score(yt, pred), seconds


def _gmr_version() -> str:
    import gmr

    return str(gmr.__version__)


def _record(scores, nlls, times, key: str, r2: float, nll: float | None, seconds: float):
    scores[key].append(r2)
    times[key].append(seconds)
    if nll is not None:
        nlls[key].append(nll)


def _cell(scores, nlls, times, key: str, base: float) -> str:
    if not scores[key]:
        return "not run"
    nll = f", NLL {np.mean(nlls[key]):.3f}" if key in nlls else ""
    ratio = statistics.median(times[key]) / base
    return f"R² {np.mean(scores[key]):.3f}{nll}, {ratio:.1f}x time"


def run(on_row: Callable[[str], None] = lambda body: None) -> str:
    """The section's text; ``on_row`` gets the section so far after each data set."""
    from run import machine  # bench/run.py: the machine description every result carries

    machine_text = machine()
    rows: list[str] = []
    for name, (X_all, y_all) in datasets().items():
        scores: dict[str, list[float]] = {key: [] for key in ("ours", "gmr", "knn")}
        nlls: dict[str, list[float]] = {"ours": [], "gmr": []}
        times: dict[str, list[float]] = {key: [] for key in ("ours", "gmr", "knn")}
        ks = []
        for seed in range(SPLITS):
            X, Xt, y, yt = train_test_split(X_all, y_all, test_size=0.25, random_state=seed)
            sx = StandardScaler().fit(X)
            sy = StandardScaler().fit(np.reshape(y, (len(y), -1)))
            X, Xt = sx.transform(X), sx.transform(Xt)
            y = sy.transform(np.reshape(y, (len(y), -1))).reshape(np.shape(y))
            yt = sy.transform(np.reshape(yt, (len(yt), -1))).reshape(np.shape(yt))
            r2, nll, seconds, k = _ours(X, y, Xt, yt, seed)
            _record(scores, nlls, times, "ours", r2, nll, seconds)
            ks.append(k)
            if GmrRegressor is not None:
                r2, nll, seconds = _gmr(X, y, Xt, yt, seed, k)
                _record(scores, nlls, times, "gmr", r2, nll, seconds)
            r2, seconds = _knn(X, y, Xt, yt)
            _record(scores, nlls, times, "knn", r2, None, seconds)
        base = statistics.median(times["ours"])

        rows.append(
            f"| {name} | {statistics.median(ks):g} | R² {np.mean(scores['ours']):.3f}, "
            f"NLL {np.mean(nlls['ours']):.3f}, {1000 * base:.0f} ms | "
            f"{_cell(scores, nlls, times, 'gmr', base)} | "
            f"{_cell(scores, nlls, times, 'knn', base)} |"
        )
        print(rows[-1], flush=True)
        on_row(_section(rows, machine_text))
    return _section(rows, machine_text)


def _vector_width() -> str:
    """The widest x86 SIMD the CPU reports (Linux), for the machine line."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return "vector width unknown"
    for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("sse2", "SSE2")):
        if flag in flags:
            return f"vector width {name}"
    return "vector width unknown"


def _section(rows: list[str], machine_text: str) -> str:
    gmr_note = f"gmr {_gmr_version()}" if GmrRegressor is not None else "gmr not installed"
    load = os.getloadavg()
    return "\n".join(
        [
            f"## {SECTION}",
            "",
            f"Held-out accuracy over {SPLITS} random 75/25 splits (X and y standardised on the "
            "training rows; NLL: mean negative log predictive density per row, lower is better; "
            "time: median fit + predict with the chosen K or k (the CV not timed), as a "
            "multiple of gaussmix's, the three run side by side on each split; gaussmix's K is "
            "chosen by 3-fold CV and used for gmr too). Produced by "
            f"`bench/regression.py` with {gmr_note}.",
            "",
            f"Machine: {machine_text}; {_vector_width()}; load average "
            f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}.",
            "",
            "| data | K | gaussmix | gmr (kmeans++) | k-NN (k by CV) |",
            "|---|---|---|---|---|",
            *rows,
            "",
        ]
    )


def write_section(body: str) -> None:
    """Replace (or append) this benchmark's section of RESULTS.md, keeping the others."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^## {re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: body + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + body
    RESULTS.write_text(text)


if __name__ == "__main__":
    warnings.simplefilter("ignore", ConvergenceWarning)
    section = run(write_section)
    print(section)
    write_section(section)
