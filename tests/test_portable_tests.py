"""The suite's own tolerance rule: no bare relative tolerance, so it passes on any CPU.

``numpy.testing.assert_allclose`` defaults to ``atol=0``: without an absolute floor, a
value near zero computed from numbers of size ~1 fails on a machine whose BLAS or SIMD
width sums in another order (seen: a log-responsibility of -5e-4 off by 2.2e-16 on an
AMD EPYC). Every call must say its absolute tolerance, or go through
``_support.assert_close``, which scales one to the quantity's magnitude.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent


def bare_assert_allclose(source: str) -> list[int]:
    """Line numbers of ``assert_allclose(...)`` calls in ``source`` without ``atol=``.

    Matches the name however it is reached (``assert_allclose``,
    ``np.testing.assert_allclose``, ``npt.assert_allclose``). A call that passes its
    keywords through ``**kwargs`` is counted as bare: its floor is not visible.
    """
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name == "assert_allclose" and not any(k.arg == "atol" for k in node.keywords):
            lines.append(node.lineno)
    return lines


def test_the_scan_finds_bare_calls_in_every_spelling() -> None:
    probe = (
        "import numpy as np\n"
        "from numpy.testing import assert_allclose\n"
        "assert_allclose(a, b)\n"
        "assert_allclose(a, b, rtol=1e-12)\n"
        "np.testing.assert_allclose(a, b, 1e-9)\n"
        "assert_allclose(a, b, **options)\n"
        "assert_allclose(a, b, rtol=1e-12, atol=1e-12 * scale)\n"
        "np.testing.assert_allclose(a, b, atol=0.0)\n"
        "assert_close(a, b, rtol=1e-12)\n"
    )
    assert bare_assert_allclose(probe) == [3, 4, 5, 6]


def test_no_test_module_uses_a_bare_relative_tolerance() -> None:
    modules = sorted(TESTS.rglob("*.py"))
    assert Path(__file__) in modules and len(modules) > 10  # the scan sees the suite
    found = [
        f"{path.relative_to(TESTS)}:{line}"
        for path in modules
        for line in bare_assert_allclose(path.read_text(encoding="utf-8"))
    ]
    assert not found, (
        "assert_allclose without atol= is a bare relative tolerance that fails near zero "
        "on other CPUs/BLAS builds; use _support.assert_close (scale= where the magnitude "
        "is not in `desired`), or assert_array_equal where equality is exact: " + ", ".join(found)
    )
