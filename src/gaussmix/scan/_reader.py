"""What every data-file reader provides, and the guard against a file that changes under it.

A :class:`Reader` is one file of one format, opened once: its column names and
dtypes, its row count and its chunks. ``scan`` reads a file once per pass (a fit
once per EM iteration) with the layout it learnt on opening, so every pass first
and last checks that the file is still the one it opened (:meth:`Reader.check_unchanged`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar, NamedTuple

import numpy as np

from .._files import file_kind

__all__ = ["FileIdentity", "Reader", "ScanError", "file_identity"]


class ScanError(ValueError):
    """A data file cannot be read as a numeric table, or it changed while it was read."""


class FileIdentity(NamedTuple):
    """What ``os.stat`` says of a file; other values mean other content."""

    device: int
    inode: int
    size: int
    mtime_ns: int


def file_identity(path: Path) -> FileIdentity:
    """The identity of the regular file at ``path``.

    Raises
    ------
    FileNotFoundError, IsADirectoryError, PermissionError
    ScanError
        For anything but a regular file (a FIFO or a device could be read only
        once, or never end), or a path that cannot be resolved (a symbolic-link loop).
    """
    try:
        status = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"scan: no such file {str(path)!r}.") from None
    except PermissionError:
        raise
    except OSError as exc:  # a symbolic-link loop, a name too long, ...
        raise ScanError(f"{path}: cannot be opened ({exc.strerror or exc}).") from None
    kind = file_kind(status)
    if kind == "a directory":
        raise IsADirectoryError(f"{path} is a directory, not a data file.")
    if kind != "a regular file":
        raise ScanError(
            f"{path} is not a regular file (it is {kind}); scan reads its file once per "
            "pass (a fit once per EM iteration): save the data to a regular file first."
        )
    return FileIdentity(status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)


class Reader:
    """One data file of one format, opened once. One subclass per format.

    Attributes
    ----------
    path : Path
    identity : FileIdentity
        The file as it was opened.
    names : list of str or None
        Every column's name, where the format has names.
    dtypes : list of numpy dtype
        Every column's dtype as read: float32 or float64.
    not_numeric : dict of int to str
        Why each non-numeric column (by position) cannot be read as numbers.
    n_rows : int or None
        The number of rows, where the file says it without being read through.
    """

    format: ClassVar[str]
    """The format's name: 'npy', 'parquet' or 'csv' (every delimited text)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.identity = file_identity(path)
        self.n_rows: int | None = None
        self.names, self.dtypes, self.not_numeric = self._open()
        if not self.dtypes:
            raise ScanError(f"{path}: the file has no columns.")

    def _open(self) -> tuple[list[str] | None, list[np.dtype], dict[int, str]]:
        """Read the file's layout: (names, dtypes, not_numeric)."""
        raise NotImplementedError

    def count_rows(self) -> int:
        """The number of rows, read through if the file does not say it."""
        assert self.n_rows is not None
        return self.n_rows

    def default_chunk_rows(self, dtype: np.dtype) -> int | None:
        """Rows per chunk when the caller gives none (None: the format's own blocks)."""
        raise NotImplementedError

    def chunks(
        self, positions: list[int], chunk_rows: int | None, dtype: np.dtype
    ) -> Iterator[np.ndarray]:
        """One pass: arrays of shape (rows, len(positions)) of dtype ``dtype``, in file order."""
        raise NotImplementedError

    def layout_now(self) -> str | None:
        """How the layout read on opening differs from the file's now, if it can tell."""
        return None

    def check_unchanged(self) -> None:
        """Raise :meth:`changed` unless the file is the one that was opened."""
        try:
            now = file_identity(self.path)
        except (OSError, ScanError) as exc:
            raise self.changed(f"it cannot be opened any more: {exc}") from None
        then = self.identity
        if (now.device, now.inode) != (then.device, then.inode):
            raise self.changed("another file was put in its place")
        if now.size != then.size:
            raise self.changed(f"its size went from {then.size} to {now.size} bytes")
        layout = self.layout_now()
        if layout is not None:
            raise self.changed(layout)
        if now.mtime_ns != then.mtime_ns:
            raise self.changed("it was modified")

    def changed(self, what: str) -> ScanError:
        """The error for a file that changed after it was opened (``what``: how)."""
        return ScanError(
            f"{self.path} changed while it was being read ({what}): the data file of a "
            "fit (read once per EM iteration) or of a prediction must not change before "
            "it ends, and what was computed from it is void. Write the new data to "
            "another file, or call gaussmix.scan() again once it is complete."
        )
