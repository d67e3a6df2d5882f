"""The entry point: run a command, and turn every way it can end into an exit status.

Exit statuses: 0 done; 2 a user's error (one line on standard error); 1 an
unexpected internal error (one line; ``GAUSSMIX_DEBUG=1`` shows the
traceback); 130 interrupted (Ctrl-C); 143 terminated (SIGTERM).

Ctrl-C and SIGTERM both unwind the command, as an exception does, so an output
file being written is removed (``atomic_write``) and the target left as it was.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from ._errors import CliError, report

CLI_EXTRA = 'pip install "gaussmix[cli]"'


class Terminated(BaseException):
    """SIGTERM arrived: unwind like KeyboardInterrupt (no ``except Exception`` stops it)."""


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """While inside, SIGTERM raises :class:`Terminated` (only the main thread handles signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``gaussmix`` command line; returns the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments after the program name (default ``sys.argv[1:]``).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        import rich  # noqa: F401
        import typer  # noqa: F401
    except ImportError:
        print(f"gaussmix: the command line needs typer and rich: {CLI_EXTRA}", file=sys.stderr)
        return 2
    from ._app import build_app

    debug = bool(os.environ.get("GAUSSMIX_DEBUG"))
    try:
        with _sigterm_unwinds():
            return _run(build_app(args), args)
    except CliError as exc:
        return report(exc)
    except KeyboardInterrupt:
        print("gaussmix: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("gaussmix: terminated", file=sys.stderr)
        return 143
    except MemoryError as exc:
        if debug:
            raise
        return report(
            f"not enough memory ({exc or 'the allocation failed'}): use less data or "
            "smaller options (fewer components, rows or candidates)"
        )
    except BrokenPipeError:
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 1
    except (OSError, ValueError, TypeError) as exc:  # also ModelFileError, ScanError
        if debug:
            raise
        if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
            return report(f"{exc.strerror}: '{exc.filename}'")
        return report(str(exc) or type(exc).__name__)
    except Exception as exc:
        if debug:
            raise
        return report(
            f"internal error: {type(exc).__name__}: {exc} (set GAUSSMIX_DEBUG=1 "
            "for the traceback, and please report it)",
            1,
        )


def _run(app: Any, argv: list[str]) -> int:
    """Run the typer ``app`` on ``argv``, with typer's usage errors as one line each."""
    import typer

    # typer >= 0.2x vendors click as typer._click; older typer uses click itself.
    errors = sys.modules[typer.BadParameter.__module__]
    no_args = getattr(errors, "NoArgsIsHelpError", ())
    aborts = tuple(a for a in (getattr(errors, "Abort", None), typer.Abort) if a is not None)
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="gaussmix", standalone_mode=False)
    except no_args as exc:
        message = exc.format_message()  # typer has already printed the help
        if message.strip():
            print(message, file=sys.stderr)
        return 2
    except errors.ClickException as exc:
        where = ""
        ctx = getattr(exc, "ctx", None)
        if ctx is not None and ctx.command_path and ctx.command_path != "gaussmix":
            where = f"{ctx.command_path.removeprefix('gaussmix ')}: "
        hint = ""
        if isinstance(exc, errors.UsageError):
            path = ctx.command_path if ctx is not None else "gaussmix"
            hint = f" (see '{path} --help')"
        return report(f"{where}{exc.format_message()}{hint}", exc.exit_code)
    except aborts:
        return report("aborted", 1)
    except typer.Exit as exc:
        return int(exc.exit_code)
    code = int(result) if isinstance(result, int) else 0
    if code == 130:  # typer turns Ctrl-C into exit status 130
        print("gaussmix: interrupted", file=sys.stderr)
    return code
