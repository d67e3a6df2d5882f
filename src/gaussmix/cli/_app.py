"""The typer application: the named command only, or the list of commands.

Building a command reads its options' choices from the registries and imports
its module; listing the commands (``gaussmix``, ``gaussmix --help``) does
neither, so the summaries below are kept beside the names, as pip keeps its
commands' (a test checks each against the first line of its command's
docstring).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from ._errors import CliError

COMMANDS: dict[str, str] = {
    "fit": "Fit a mixture to DATA and save it to a model file (-o MODEL).",
    "predict": "Label each row of DATA with its most probable component.",
    "score": "The model's log-likelihood of DATA, with BIC and AIC on it.",
    "sample": "Draw N rows from the mixture.",
    "info": "Describe a model file: format, covariance type, components, fit summary.",
    "select": (
        "Compare candidate models on DATA: BIC, AIC and ICL for each K and covariance type."
    ),
    "plot": "Draw the mixture over DATA and save the figure.",
}
"""Each command's one-line summary; module ``gaussmix.cli.NAME`` defines function NAME."""


def command_function(name: str) -> Any:
    """The function that runs command ``name``."""
    return getattr(importlib.import_module(f".{name}", __package__), name)


def build_app(argv: Sequence[str]) -> Any:
    """The application for ``gaussmix ARGV``: with its command only, if ARGV names one."""
    import typer

    app = typer.Typer(
        name="gaussmix",
        add_completion=False,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
    )

    @app.callback()
    def gaussmix() -> None:
        """Fit, select, inspect and apply Gaussian mixture models."""

    named = argv[0] if argv and argv[0] in COMMANDS else None
    if named is not None:
        app.command(name=named)(command_function(named))
        return app
    for name, summary in COMMANDS.items():
        app.command(name=name, help=summary)(_listed)
    return app


def _listed() -> None:
    """Stands in for a command in the list; runs only if the command came after '--'."""
    raise CliError("give the command first: gaussmix COMMAND [ARGS]...")
