"""Writing output files so that nothing is lost: atomically, and never over an input.

Every file gaussmix writes (model files, predictions, figures, ``Scan.map``
results) goes through :func:`atomic_write`: the bytes go to a temporary file in
the target's directory, which is renamed over the target only once everything
was written and flushed to disk. An exception, or an interrupted process that
unwinds (``KeyboardInterrupt``; the command line turns SIGTERM into an unwinding
exit too), removes the temporary file and leaves the target as it was.

An output that is one of the call's inputs (the same file, also through a
symbolic or hard link) is refused before anything is written, as ``cp`` and
``sort -o`` refuse to truncate what they read.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["OutputIsInputError", "atomic_write", "check_not_input"]

PathLike = str | os.PathLike[str]


class OutputIsInputError(ValueError):
    """An output path names a file that the same call reads."""


def check_not_input(output: PathLike, inputs: Iterable[PathLike]) -> None:
    """Raise :class:`OutputIsInputError` if ``output`` is the same file as one of ``inputs``.

    Sameness is that of the file system (device and inode, as ``os.path.samefile``),
    so a symbolic link to an input, or a hard link, counts as that input. An
    ``output`` that does not exist yet is no input.

    Parameters
    ----------
    output : path-like
    inputs : iterable of path-like
        The files the call reads (missing ones are skipped).
    """
    target = Path(output)
    try:
        target_stat = target.stat()
    except OSError:
        return  # nothing there yet (or unreadable: opening it will say so)
    for source in inputs:
        try:
            source_stat = Path(source).stat()
        except OSError:
            continue
        if (target_stat.st_dev, target_stat.st_ino) == (source_stat.st_dev, source_stat.st_ino):
            same = "" if str(source) == str(output) else f" (the same file as '{source}')"
            raise OutputIsInputError(
                f"refusing to write '{output}': it is an input of this call{same}, and "
                "writing it would destroy what is being read. Choose another output path."
            )


@contextlib.contextmanager
def atomic_write(
    path: PathLike, mode: str = "wb", *, inputs: Iterable[PathLike] = ()
) -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path`` and rename it over ``path`` on success.

    An exception (or an interrupted process) leaves ``path`` untouched and removes
    the temporary file, so readers never see a half-written file.

    Parameters
    ----------
    path : path-like
        The final file.
    mode : {'wb', 'w'}
        Binary or text (UTF-8) mode.
    inputs : iterable of path-like
        Files the caller reads: ``path`` must not be one of them.

    Raises
    ------
    OutputIsInputError
        If ``path`` is one of ``inputs`` (checked before anything is written).
    IsADirectoryError, FileNotFoundError
        If ``path`` is a directory, or its directory does not exist.
    """
    target = Path(path)
    check_not_input(target, inputs)
    directory = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise IsADirectoryError(f"cannot write '{target}': it is a directory")
    if not directory.is_dir():
        raise FileNotFoundError(f"cannot write '{target}': no such directory '{directory}'")
    tmp = None
    try:
        with _interrupts_held():  # else one could come between the file and its name
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
        text = {} if "b" in mode else {"encoding": "utf-8", "newline": ""}
        with open(fd, mode, **text) as f:  # type: ignore[call-overload]
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _default_mode())
        os.replace(tmp, target)
    except BaseException:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait while inside, where the platform can hold them (POSIX).

    Python runs a signal's handler between any two bytecodes, so ``KeyboardInterrupt``
    (or the command line's SIGTERM exit) could otherwise arrive after ``mkstemp``
    created the temporary file and before its name is known to the cleanup.
    """
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _default_mode() -> int:
    """The permission bits a plain ``open(path, 'w')`` would give (0o666 less the umask)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask
