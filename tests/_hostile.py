"""Helpers shared by the hostile-input suite (test_fuzz and the test_hostile_* modules)."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import warnings
from collections.abc import Iterator
from typing import Any

import pytest


@contextlib.contextmanager
def written(name: str, content: bytes) -> Iterator[str]:
    """The path of a file ``name`` holding ``content``, in a directory removed afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, name)
        with open(path, "wb") as f:
            f.write(content)
        yield path


def run_cli(argv: list[Any]) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``gaussmix ARGV`` run in this process, warnings off."""
    pytest.importorskip("typer")
    from gaussmix import cli

    out, err = io.StringIO(), io.StringIO()
    with (
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        code = cli.main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()
