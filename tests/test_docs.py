"""The user guide's examples run: its Python blocks in order, and its gaussmix commands."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "guide.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(GUIDE.read_text()) if lang == language]


def test_the_guide_has_examples():
    assert len(_blocks("python")) >= 10
    assert any("gaussmix fit" in block for block in _blocks("sh"))


def test_guide(tmp_path, monkeypatch, capsys):
    """Run every Python block, then every `gaussmix` command, in a scratch directory."""
    pytest.importorskip("matplotlib")
    pytest.importorskip("pandas")
    pytest.importorskip("typer")
    from gaussmix import cli

    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "guide"}
    for number, block in enumerate(_blocks("python"), start=1):
        code = compile(block, f"{GUIDE.name}, python block {number}", "exec")
        exec(code, namespace)
    assert "Errno" not in capsys.readouterr().out

    commands = [
        line.strip()
        for block in _blocks("sh")
        for line in block.splitlines()
        if line.strip().startswith("gaussmix ")
    ]
    assert len(commands) >= 9
    for command in commands:
        argv = shlex.split(command.split("#")[0])[1:]
        code = cli.main(argv)
        captured = capsys.readouterr()
        assert code == 0, (command, captured.err)
        assert "error" not in captured.err, (command, captured.err)
    for name in ("faithful.gmm", "best.gmm", "labels.csv", "proba.npy", "faithful.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert (tmp_path / "sampled.csv").read_text().count("\n") == 101


def test_the_architecture_map_names_real_modules():
    """Every module or package docs/architecture.md names exists, so the map stays true."""
    text = (GUIDE.parent / "architecture.md").read_text()
    text = text.split("## Files split")[0]  # that table's "before" column is history
    root = GUIDE.parent.parent
    named = set(re.findall(r"`((?:\w+/)*\w+(?:\.py|/))`", text))
    assert len(named) >= 20, "the map names the modules it describes"
    source = root / "src" / "gaussmix"
    missing = sorted(p for p in named if not (source / p).exists() and not (root / p).exists())
    assert not missing, f"docs/architecture.md names modules that do not exist: {missing}"
