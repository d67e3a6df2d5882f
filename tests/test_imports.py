"""``import gaussmix`` is light: its public names load on first use, heavy libraries never."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("sklearn", "matplotlib", "numba", "torch", "dask", "pandas", "pyarrow", "typer", "rich")


def _fresh(code: str) -> str:
    """The last line a fresh interpreter prints after running ``code``."""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return result.stdout.strip().splitlines()[-1]


def test_import_gaussmix_loads_no_heavy_library():
    heavy = (*HEAVY, "scipy.linalg")
    code = f"import sys, gaussmix; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    assert _fresh(code) == "[]"


def test_import_gaussmix_loads_no_gaussmix_module_but_the_version():
    code = "import sys, gaussmix; print(sorted(m for m in sys.modules if 'gaussmix' in m))"
    assert _fresh(code) == "['gaussmix', 'gaussmix._version']"


def test_public_names_load_on_first_use():
    import gaussmix
    from gaussmix._compat import gmm_em
    from gaussmix._estimator import GaussianMixture
    from gaussmix.io import ModelFileError, load
    from gaussmix.select import SelectionResult

    assert gaussmix.GaussianMixture is GaussianMixture and gaussmix.gmm_em is gmm_em
    assert gaussmix.load is load and gaussmix.ModelFileError is ModelFileError
    assert gaussmix.SelectionResult is SelectionResult
    assert set(gaussmix.__all__) <= set(dir(gaussmix))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        gaussmix.nope  # noqa: B018


def test_scan_and_select_stay_the_functions_when_their_modules_load_first():
    """The submodules gaussmix.scan and gaussmix.select never replace the functions."""
    code = (
        "import importlib, gaussmix; importlib.import_module('gaussmix.scan'); "
        "importlib.import_module('gaussmix.select'); import gaussmix.scan, gaussmix.select; "
        "print(callable(gaussmix.scan), callable(gaussmix.select), "
        "type(gaussmix.scan).__name__, gaussmix.select.__module__)"
    )
    assert _fresh(code) == "True True function gaussmix.select"


def test_command_line_help_loads_no_heavy_library():
    """``gaussmix --help`` and every ``gaussmix COMMAND --help`` import what the help needs."""
    pytest.importorskip("typer")
    from gaussmix.cli._app import COMMANDS

    heavy = tuple(m for m in HEAVY if m not in ("typer", "rich"))
    for argv in ([], *([name] for name in COMMANDS)):
        code = (
            f"import sys; from gaussmix.cli import main; main({[*argv, '--help']!r}); "
            f"print(sorted(m for m in {(*heavy, 'scipy.linalg', 'scipy.special')!r} "
            "if m in sys.modules))"
        )
        assert _fresh(code) == "[]", argv
