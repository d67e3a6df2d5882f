"""Input files are regular files: what anything else is, and opening without blocking.

gaussmix reads its inputs (data files, model files) whole or several times over,
so a FIFO, a device or a socket can never be one: reading it could block forever
(a FIFO without a writer), never end (``/dev/zero``) or give other bytes each
time. Callers refuse them by what :func:`file_kind` says, each with its own error.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import IO

__all__ = ["file_kind", "open_regular"]

_KINDS = (
    (stat.S_ISREG, "a regular file"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def file_kind(status: os.stat_result) -> str:
    """What ``status`` describes: 'a regular file', 'a directory', 'a FIFO (named pipe)', ..."""
    return next((kind for test, kind in _KINDS if test(status.st_mode)), "not a file")


def open_regular(path: Path) -> tuple[IO[bytes] | None, str]:
    """Open ``path`` for binary reading, never blocking; also say what it is.

    The path is checked before it is opened (a device is never opened) and the
    opened descriptor again (the path may have been replaced in between); opening
    is non-blocking, so a FIFO put in its place cannot hang the caller.

    Returns
    -------
    file : binary file, or None
        Open for reading if ``kind`` is 'a regular file', else None.
    kind : str
        :func:`file_kind` of the path.

    Raises
    ------
    OSError
        As ``os.stat`` or ``os.open`` raise it (FileNotFoundError,
        PermissionError, a symbolic-link loop, ...).
    """
    kind = file_kind(os.stat(path))
    if kind != "a regular file":
        return None, kind
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    kind = file_kind(os.fstat(fd))
    if kind != "a regular file":
        os.close(fd)
        return None, kind
    return os.fdopen(fd, "rb"), kind
