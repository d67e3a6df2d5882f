"""The command line's user errors: one line on standard error, exit status 2."""

from __future__ import annotations

import sys


class CliError(Exception):
    """A user error: printed as one line, exit status 2."""


def one_line(text: object) -> str:
    """``text`` with every run of whitespace (newlines included) as one space."""
    return " ".join(str(text).split())


def report(message: object, code: int = 2) -> int:
    """Print ``gaussmix: error: MESSAGE`` as one line on standard error; return ``code``."""
    print(f"gaussmix: error: {one_line(message)}", file=sys.stderr)
    return code
