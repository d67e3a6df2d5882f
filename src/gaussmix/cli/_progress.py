"""Feedback while a command works: a delayed progress display, warnings as one line each."""

from __future__ import annotations

import contextlib
import sys
import threading
import warnings
from collections.abc import Iterator
from typing import Any

from ._errors import one_line

DELAY_S = 1.0
"""The progress display appears only for work that lasts longer than this."""


def interactive() -> bool:
    """Whether both standard output and standard error are terminals."""
    return sys.stdout.isatty() and sys.stderr.isatty()


class Progress:
    """A rich progress display on stderr that appears only if the work lasts > ``DELAY_S``.

    Parameters
    ----------
    enabled : bool
        False (``--quiet``, ``--json``) shows nothing; so does a run whose output
        is not a terminal.
    description : str
    total : int, optional
        Steps of the work (a bar and a count), or None (a spinner).
    """

    def __init__(self, enabled: bool, description: str, total: int | None = None) -> None:
        self.enabled = enabled and interactive()
        self.description = description
        self.total = total
        self._progress: Any = None
        self._lock = threading.Lock()
        self._started = False
        self._closed = False

    def __enter__(self) -> Progress:
        if not self.enabled:
            return self
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.progress import Progress as RichProgress

        columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
        if self.total is not None:
            columns += [BarColumn(), MofNCompleteColumn()]
        columns.append(TimeElapsedColumn())
        self._progress = RichProgress(*columns, console=Console(stderr=True), transient=True)
        self._task = self._progress.add_task(self.description, total=self.total)
        self._timer = threading.Timer(DELAY_S, self._start)
        self._timer.daemon = True
        self._timer.start()
        return self

    def _start(self) -> None:
        with self._lock:
            if not self._closed:
                self._progress.start()
                self._started = True

    def advance(self, description: str | None = None) -> None:
        """One step done (and, optionally, a new description)."""
        if self._progress is not None:
            self._progress.update(
                self._task, advance=1, **({"description": description} if description else {})
            )

    def __exit__(self, *exc: object) -> None:
        if self._progress is None:
            return
        self._timer.cancel()
        with self._lock:
            self._closed = True
            if self._started:
                self._progress.stop()


@contextlib.contextmanager
def warnings_as_lines(quiet: bool) -> Iterator[None]:
    """Turn warnings raised inside into one 'gaussmix: warning: ...' line each (none if quiet)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", message=".*feature names", category=UserWarning)
        yield
    if quiet:
        return
    seen = set()
    for w in caught:
        text = one_line(str(w.message))
        if text not in seen:
            seen.add(text)
            print(f"gaussmix: warning: {text}", file=sys.stderr)
