"""The view ``scan(path)`` returns: a file's selected columns as re-iterable float chunks."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .._outputs import atomic_write
from ._npy import NpyReader, NpyWriter
from ._parquet import ParquetReader
from ._reader import Reader, ScanError, file_identity
from ._text import TextReader

__all__ = ["Scan", "column_names", "scan"]

_READERS: dict[str, type[Reader]] = {
    ".npy": NpyReader,
    ".parquet": ParquetReader,
    ".pq": ParquetReader,
    ".parq": ParquetReader,
    ".csv": TextReader,
    ".tsv": TextReader,
    ".txt": TextReader,
    ".dat": TextReader,
}
_FIX_COLUMNS = "choose numeric columns (--columns on the command line, columns=[...] in Python)"


def scan(
    path: str | os.PathLike[str],
    columns: list[str] | list[int] | None = None,
    chunk_rows: int | None = None,
) -> Scan:
    """A re-iterable, chunked view of the numeric columns of a data file.

    Parameters
    ----------
    path : str or path-like
        A ``.npy``, Parquet (``.parquet``, ``.pq``, ``.parq``) or text (``.csv``,
        ``.tsv``, ``.txt``, ``.dat``, each optionally ``.gz``) file.
    columns : list of str or int, optional
        Columns to use, by name (Parquet, text with a header) or position; all by default.
    chunk_rows : int, optional
        Rows per chunk. By default about 64 MB of rows for ``.npy`` (8 MB of
        numbers for text, whose lines take several times that), and one chunk per
        row group for Parquet.

    Returns
    -------
    Scan
        Iterating over it yields float32 (for float32 data) or float64 arrays of
        shape (rows_in_chunk, n_features).

    Raises
    ------
    FileNotFoundError, IsADirectoryError, PermissionError
        If ``path`` is not there, is a directory, or cannot be read.
    ScanError
        (a ValueError) For an unknown file type, anything but a regular file (a
        FIFO, a device), unknown or repeated columns, or a file that is not a
        numeric table; while iterating, for a line that does not hold a number in
        every selected column, or a file that changed after it was opened.
    TypeError
        If a selected column is not numeric.
    ImportError
        For a Parquet file without pyarrow.
    """
    return Scan(path, columns, chunk_rows)


class Scan:
    """A file's numeric columns as a sequence of in-memory chunks (see :func:`scan`).

    Every pass (each iteration, and so each EM iteration of a fit) first and last
    checks that the file is still the one that was opened, and raises a
    :class:`ScanError` if it changed.

    Attributes
    ----------
    path : Path
    format : {'npy', 'parquet', 'csv'}
        'csv' stands for every delimited text format.
    columns : list of str or int
        The selected columns: names where the file has them, else positions.
    chunk_rows : int or None
    dtype : numpy dtype
        float32 when every selected column is float32, else float64.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        columns: list[str] | list[int] | None = None,
        chunk_rows: int | None = None,
    ) -> None:
        if chunk_rows is not None and (
            isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1
        ):
            raise ValueError(f"scan: chunk_rows must be a positive integer; got {chunk_rows!r}.")
        self.path = Path(path)
        self._reader = _open(self.path)
        self.format = self._reader.format
        names = self._reader.names
        positions = _select(columns, names, len(self._reader.dtypes), self.path)
        bad = [i for i in positions if i in self._reader.not_numeric]
        if bad:
            many = len(bad) > 1
            labels = ", ".join(repr(names[i]) if names else str(i) for i in bad)
            reasons = "; ".join(self._reader.not_numeric[i] for i in bad)
            raise TypeError(
                f"{self.path}: column{'s' if many else ''} {labels} "
                f"{'are' if many else 'is'} not numeric ({reasons}); {_FIX_COLUMNS}."
            )
        self._positions = positions
        self.columns: list[Any] = [names[i] for i in positions] if names else positions
        single = all(self._reader.dtypes[i] == np.float32 for i in positions)
        self.dtype = np.dtype(np.float32 if single else np.float64)
        self.chunk_rows = chunk_rows or self._reader.default_chunk_rows(self.dtype)

    # -- shape ----------------------------------------------------------------
    @property
    def n_rows(self) -> int:
        """Number of rows (a text file is counted once, on first use)."""
        return self._reader.count_rows()

    @property
    def n_features(self) -> int:
        return len(self._positions)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_rows, self.n_features)

    def __repr__(self) -> str:
        return (
            f"scan({str(self.path)!r}, format={self.format!r}, "
            f"n_features={self.n_features}, chunk_rows={self.chunk_rows})"
        )

    def __iter__(self) -> Iterator[np.ndarray]:
        """Chunks of shape (rows, n_features), in file order; a new pass each time.

        Raises
        ------
        ScanError
            If the file changed since it was opened (checked when the pass starts,
            when it ends, and when a chunk cannot be read).
        """
        self._reader.check_unchanged()
        return self._pass()

    def _pass(self) -> Iterator[np.ndarray]:
        reader, seen = self._reader, 0
        try:
            for X in reader.chunks(self._positions, self.chunk_rows, self.dtype):
                seen += X.shape[0]
                if reader.n_rows is not None and seen > reader.n_rows:
                    raise reader.changed(f"it has more than its {reader.n_rows} rows")
                yield X
        except (OSError, ValueError):  # often a symptom of a file changed under the reader
            reader.check_unchanged()
            raise
        reader.check_unchanged()
        if reader.n_rows is None:
            reader.n_rows = seen  # a text file's rows, counted by its first whole pass
        elif seen != reader.n_rows:
            raise reader.changed(f"it has {seen} rows, not {reader.n_rows}")

    # -- outputs --------------------------------------------------------------
    def map(
        self, func: Callable[[np.ndarray], Any], out: str | os.PathLike[str] | None = None
    ) -> np.ndarray:
        """Apply ``func`` to every chunk and stack the results in row order.

        Parameters
        ----------
        func : callable
            ``func(chunk) -> array`` with one row of output per row of input, for
            example ``gm.predict``, ``gm.predict_proba`` or ``gm.score_samples``.
        out : str or path-like, optional
            A ``.npy`` file to write the results to, chunk by chunk, so they never
            need to fit in memory. It is written to a temporary file renamed into
            place at the end, so an error (in ``func`` or in the file) leaves no
            file and any previous file at ``out`` as it was. It must not be the
            scanned file (also through a link).

        Returns
        -------
        ndarray of shape (n_rows, ...)
            In memory, or (with ``out``) the written file memory-mapped read-only.

        Raises
        ------
        ValueError
            If ``func`` returns other than one row per input row, or rows of
            another shape or dtype than for the first chunk, or the file has no rows.
        gaussmix.OutputIsInputError
            (a ValueError) If ``out`` is the scanned file.
        """
        if out is None:
            results = [self._result(func, X) for X in self]
            if not results:
                raise self._no_rows()
            return np.concatenate(results)
        with atomic_write(out, "wb", inputs=[self.path]) as f:
            writer = NpyWriter(f)
            for X in self:
                writer.write(self._result(func, X))
            if not writer.n_rows:
                raise self._no_rows()
            writer.close()
        return np.load(out, mmap_mode="r")

    @staticmethod
    def _result(func: Callable[[np.ndarray], Any], X: np.ndarray) -> np.ndarray:
        result = np.asarray(func(X))
        if result.shape[:1] != X.shape[:1]:
            raise ValueError(
                f"Scan.map: func returned {result.shape[:1] or 'a scalar'} rows for a chunk "
                f"of {X.shape[0]}; it must return one row per input row."
            )
        return result

    def _no_rows(self) -> ScanError:
        return ScanError(f"Scan.map: {self.path} has no rows of data, so there is nothing to map.")


def _open(path: Path) -> Reader:
    """The reader for ``path``'s format (chosen by its suffix), opened."""
    file_identity(path)  # a missing file, a directory or a FIFO says so before its suffix
    suffixes = [s.lower() for s in path.suffixes]
    gz = suffixes[-1:] == [".gz"]
    suffix = suffixes[-2] if gz and len(suffixes) > 1 else path.suffix.lower()
    reader = _READERS.get(suffix)
    if reader is None or (gz and reader is not TextReader):
        raise ScanError(
            f"{path}: cannot tell the format from its suffix; use one of "
            f"{', '.join(sorted(_READERS))} (text may be gzip-compressed: .csv.gz)."
        )
    return reader(path)


def column_names(path: str | os.PathLike[str]) -> list[str] | None:
    """The names of all of a data file's columns, numeric or not; None if it has none.

    The command line reads these to turn ``--columns`` tokens into names or
    positions for :func:`scan`.
    """
    return _open(Path(path)).names


def _select(columns: Any, names: list[str] | None, width: int, path: Path) -> list[int]:
    """Positions of the selected ``columns`` (names or integer positions)."""
    if columns is None:
        return list(range(width))
    if isinstance(columns, (str, int)):
        columns = [columns]
    positions, unknown = [], []
    for c in columns:
        if isinstance(c, (int, np.integer)) and not isinstance(c, bool):
            if -width <= c < width:
                positions.append(int(c) % width)
                continue
        elif names is not None and c in names:
            positions.append(names.index(c))
            continue
        unknown.append(c)
    if unknown:
        s = "s" if len(unknown) > 1 else ""
        if names is None:
            has = f"it has no column names: select by position, 0 to {width - 1}"
        else:
            has = "its columns are " + ", ".join(names[:20]) + (", ..." if width > 20 else "")
        listing = ", ".join(repr(c) for c in unknown)
        raise ScanError(f"{path}: unknown column{s} {listing}; {has}.")
    if not positions:
        raise ScanError("scan: columns=[] selects nothing; pass None for every column.")
    if len(set(positions)) < len(positions):
        raise ScanError(f"{path}: a column is selected more than once in {list(columns)}.")
    return positions
