"""scikit-learn's own mixture tests, run against gaussmix's two estimators.

The installed scikit-learn's ``sklearn/mixture/tests/`` (``test_gaussian_mixture.py``,
``test_bayesian_mixture.py`` and ``test_mixture.py``) run in a subprocess with
``tests/sklearn_suite/substitute.py``, which binds ``sklearn.mixture.GaussianMixture``
and ``sklearn.mixture.BayesianGaussianMixture`` to gaussmix's classes and marks each
documented deviation (listed there and in docs/guide.md) as a strict expected failure: the
run passes only if every other test passes and every deviation still fails.

``make test`` runs scikit-learn's default configuration (float64, no array API,
about a minute); ``make sklearn-suite`` adds its float32 and array-API variants
(``SKLEARN_RUN_FLOAT32_TESTS=1 SCIPY_ARRAY_API=1``, several minutes), which this
test runs too when ``GAUSSMIX_SKLEARN_SUITE=full``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sklearn

TESTS = Path(sklearn.__file__).parent / "mixture" / "tests"
SUITE = [
    TESTS / name
    for name in ("test_gaussian_mixture.py", "test_bayesian_mixture.py", "test_mixture.py")
]
PLUGIN_DIR = Path(__file__).parent / "sklearn_suite"
_VARIANTS = ("SKLEARN_RUN_FLOAT32_TESTS", "SCIPY_ARRAY_API")


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_scikit_learn_mixture_tests_pass_but_for_documented_deviations() -> None:
    if not all(path.exists() for path in SUITE):
        pytest.skip("this scikit-learn was installed without its test files")
    env = {k: v for k, v in os.environ.items() if k not in _VARIANTS}
    if os.environ.get("GAUSSMIX_SKLEARN_SUITE") == "full":
        env.update(dict.fromkeys(_VARIANTS, "1"))
    env["PYTHONPATH"] = os.pathsep.join([str(PLUGIN_DIR), env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *map(str, SUITE),
            "-q",
            "-p",
            "substitute",
            "-p",
            "no:cacheprovider",
            "-W",
            "ignore::pytest.PytestRemovedIn10Warning",
            "-rfE",
        ],
        cwd=PLUGIN_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=1400,
    )
    tail = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, tail
    assert " passed" in result.stdout and "xfailed" in result.stdout, tail
