"""Outside the covariance registry, no code decides anything by a covariance-type name.

A fact about a covariance model lives in its registry entry (``_core/covariance/``):
code elsewhere asks the entry (its density form, its shapes, its parameter count)
instead of comparing ``covariance_type`` with ``"full"`` and the like. This test reads
every source file's syntax tree, so a new comparison fails CI where it is written.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "gaussmix"
REGISTRY = SOURCE / "_core" / "covariance"

# scikit-learn's four names and mclust's fourteen (two of which are the same models).
NAMES = frozenset(
    {"full", "tied", "diag", "spherical"}
    | {
        "EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE",
        "VEE", "EVE", "VVE", "EEV", "VEV", "EVV", "VVV",
    }
)  # fmt: skip


# Presentation tables keyed by the names users read, not decisions about a model:
# mclust's own BIC-plot colours and markers, per mclust model name.
PRESENTATION_TABLES = frozenset({("plot.py", "_MCLUST_STYLE")})


def _names_in(node: ast.expr) -> list[str]:
    """The covariance names a comparison operand spells out: a literal or a literal collection."""
    if isinstance(node, ast.Constant) and node.value in NAMES:
        return [node.value]
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [n for elt in node.elts for n in _names_in(elt)]
    return []


def name_decisions(tree: ast.AST, filename: str = "") -> list[tuple[int, str]]:
    """Lines that branch on a covariance name: ``==``, ``!=``, ``in``, ``case``, dict keys."""
    found: list[tuple[int, str]] = []
    exempt = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name) and (filename, target.id) in PRESENTATION_TABLES
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            names = [n for operand in operands for n in _names_in(operand)]
            if names:
                found.append((node.lineno, f"compares with {names}"))
        elif isinstance(node, ast.match_case):
            names = [
                n.value.value
                for n in ast.walk(node.pattern)
                if isinstance(n, ast.MatchValue)
                and isinstance(n.value, ast.Constant)
                and n.value.value in NAMES
            ]
            if names:
                found.append((node.pattern.lineno, f"matches {names}"))
        elif isinstance(node, ast.Dict) and id(node) not in exempt:
            keys = [k.value for k in node.keys if isinstance(k, ast.Constant) and k.value in NAMES]
            if keys:
                found.append((node.lineno, f"dispatches on the keys {keys}"))
    return found


def _sources() -> list[Path]:
    return sorted(p for p in SOURCE.rglob("*.py") if REGISTRY not in p.parents)


def test_the_scan_finds_every_kind_of_name_decision() -> None:
    # Guard the guard: each pattern is caught, and only the named table is exempt.
    probe = ast.parse(
        'if kind == "diag" or kind in ("full", "tied"):\n    pass\n'
        'KERNELS = {"EEE": 1}\n'
        'match kind:\n    case "VVV":\n        pass\n'
        '_MCLUST_STYLE = {"EII": 1}\n'
    )
    assert len(name_decisions(probe)) == 5
    assert len(name_decisions(probe, "plot.py")) == 4
    assert REGISTRY.is_dir() and _sources(), "the source tree moved: point SOURCE at it"


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(SOURCE)))
def test_no_covariance_name_decision_outside_the_registry(path: Path) -> None:
    relative = str(path.relative_to(SOURCE))
    hits = name_decisions(ast.parse(path.read_text(), filename=relative), relative)
    assert not hits, "\n".join(
        f"{relative}:{line}: {what} — ask the covariance registry entry "
        "(gaussmix._core.covariance) instead"
        for line, what in hits
    )
