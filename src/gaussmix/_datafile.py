"""Numeric data files for the command line: CSV/TSV text, Parquet and ``.npy``.

A :class:`DataFile` knows a file's columns and yields its selected columns as
float64 blocks of rows, so that predicting or scoring a large file never holds
more than one block in memory (fitting concatenates them). Every problem with a
file is a :class:`DataError` whose message names the file, the line or column,
and what to do.

Text files: the delimiter is sniffed (comma, tab, semicolon, pipe, else
whitespace), a first row with any non-numeric field is the header, ``#`` starts
a comment, blank lines are skipped, ``.gz`` files are decompressed. Parquet
needs pyarrow. ``.npy`` files must hold a 1-D or 2-D numeric array (they are
memory-mapped, never unpickled).
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from .io import atomic_write

__all__ = ["BLOCK_ROWS", "DataError", "DataFile", "open_data", "write_table"]

BLOCK_ROWS = 65536
_SNIFF_BYTES = 64 * 1024
_PARQUET = (".parquet", ".pq", ".parq")


class DataError(ValueError):
    """A data file cannot be read as a numeric matrix."""


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_data_line(line: str) -> bool:
    return bool(line.strip()) and not line.lstrip().startswith("#")


def _suffixes(path: Path) -> list[str]:
    return [s.lower() for s in path.suffixes]


def _select(
    path: Path, names: list[str] | None, n_columns: int, columns: Sequence[str] | None
) -> list[int]:
    """Indices of the requested columns (by name, else by 0-based index)."""
    if not columns:
        return list(range(n_columns))
    selected = []
    for token in columns:
        token = token.strip()
        if names is not None and token in names:
            selected.append(names.index(token))
            continue
        try:
            index = int(token)
        except ValueError:
            index = None
        if index is not None and -n_columns <= index < n_columns:
            selected.append(index % n_columns)
            continue
        if names is None:
            raise DataError(
                f"{path}: unknown column {token!r}: the file has no header, so give column "
                f"indices 0..{n_columns - 1}"
            )
        shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
        raise DataError(f"{path}: unknown column {token!r}; its columns are: {shown}")
    if len(set(selected)) != len(selected):
        raise DataError(f"{path}: a column is selected more than once in {list(columns)}")
    return selected


class DataFile:
    """Base class: a file's column names and its selected columns in blocks.

    Attributes
    ----------
    path : Path
    names : list of str or None
        All column names (None for a file without a header).
    selected : list of int
        Indices of the selected columns.
    """

    path: Path
    names: list[str] | None
    selected: list[int]

    @property
    def n_features(self) -> int:
        return len(self.selected)

    @property
    def columns(self) -> list[str] | None:
        """Names of the selected columns, or None without a header."""
        return None if self.names is None else [self.names[i] for i in self.selected]

    def blocks(self, rows: int = BLOCK_ROWS) -> Iterator[np.ndarray]:
        """The selected columns as float64 arrays of at most ``rows`` rows, in order."""
        raise NotImplementedError

    def read(self) -> np.ndarray:
        """All rows of the selected columns, shape (n, n_features)."""
        parts = list(self.blocks())
        if not parts:
            return np.empty((0, self.n_features))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


class TextFile(DataFile):
    def __init__(self, path: Path, columns: Sequence[str] | None) -> None:
        self.path = path
        self._gzip = _suffixes(path)[-1:] == [".gz"]
        try:
            with self._open() as f:
                sample = f.read(_SNIFF_BYTES)
        except UnicodeDecodeError:
            raise DataError(
                f"{path}: not a text file (give CSV/TSV text, Parquet or .npy data)"
            ) from None
        except (OSError, EOFError) as exc:
            if isinstance(exc, FileNotFoundError | IsADirectoryError | PermissionError):
                raise
            raise DataError(f"{path}: cannot be read ({exc})") from None
        lines = [ln for ln in sample.splitlines() if _is_data_line(ln)]
        if len(sample) == _SNIFF_BYTES and len(lines) > 1:
            lines = lines[:-1]  # the last line of the sample may be cut
        if not lines:
            raise DataError(f"{path}: the file is empty (no rows of data)")
        self.delimiter = self._sniff(lines)
        first = self._split(lines[0])
        self._has_header = not all(_is_number(v) for v in first)
        self.names = [v.strip() for v in first] if self._has_header else None
        data_lines = lines[1:] if self._has_header else lines
        if not data_lines:
            raise DataError(f"{path}: the file has a header but no rows of data")
        n_columns = len(first)
        self.selected = _select(path, self.names, n_columns, columns)
        row = self._split(data_lines[0])
        if len(row) == n_columns:
            bad = [i for i in self.selected if not _is_number(row[i]) and row[i].strip()]
            if bad:
                what = ", ".join(repr(self._column_name(i)) for i in bad)
                example = row[bad[0]].strip()
                raise DataError(
                    f"{path}: column{'s' if len(bad) > 1 else ''} {what} "
                    f"{'are' if len(bad) > 1 else 'is'} not numeric (first value {example!r}); "
                    "choose numeric columns with --columns"
                )

    def _open(self) -> IO[str]:
        if self._gzip:
            return io.TextIOWrapper(gzip.open(self.path, "rb"), encoding="utf-8-sig")
        return open(self.path, encoding="utf-8-sig", newline="")

    def _sniff(self, lines: list[str]) -> str | None:
        head = lines[:50]
        try:
            dialect = csv.Sniffer().sniff("\n".join(head), delimiters=",\t;|")
            delimiter: str | None = dialect.delimiter
        except csv.Error:
            delimiter = None
        if delimiter is not None:
            counts = {len(self._split(ln, delimiter)) for ln in head}
            if len(counts) == 1:
                return delimiter
        for candidate in (",", "\t", ";", "|"):
            counts = {ln.count(candidate) for ln in head}
            if len(counts) == 1 and counts.pop() > 0:
                return candidate
        if any(len(ln.split()) > 1 for ln in head):
            return None  # whitespace-separated
        return "\t" if ".tsv" in _suffixes(self.path) else ","

    def _split(self, line: str, delimiter: Any = "unset") -> list[str]:
        delimiter = self.delimiter if delimiter == "unset" else delimiter
        if delimiter is None:
            return line.split()
        try:
            return next(csv.reader([line], delimiter=delimiter))
        except csv.Error as exc:  # for example a field beyond csv's size limit
            raise DataError(f"{self.path}: cannot split a line into fields ({exc})") from None

    def _column_name(self, i: int) -> str:
        return self.names[i] if self.names is not None else f"column {i}"

    def blocks(self, rows: int = BLOCK_ROWS) -> Iterator[np.ndarray]:
        with self._open() as f:
            line_no = 0
            if self._has_header:
                for line in f:
                    line_no += 1
                    if _is_data_line(line):
                        break
            while True:
                lines = list(itertools.islice(f, rows))
                if not lines:
                    return
                try:
                    block = np.loadtxt(
                        lines,
                        delimiter=self.delimiter,
                        usecols=self.selected,
                        ndmin=2,
                        dtype=np.float64,
                        quotechar='"',
                        comments="#",
                    )
                except ValueError:
                    self._explain(lines, line_no)
                    raise
                line_no += len(lines)
                if block.shape[0]:
                    yield block.reshape(-1, self.n_features)

    def _explain(self, lines: list[str], offset: int) -> None:
        """Raise a DataError for the first bad line of a block that loadtxt rejected."""
        expected = len(self.names) if self.names is not None else None
        for i, line in enumerate(lines):
            if not _is_data_line(line):
                continue
            fields = self._split(line.rstrip("\r\n"))
            where = f"{self.path}: line {offset + i + 1}"
            if expected is None:
                expected = len(fields)
            if len(fields) != expected:
                raise DataError(
                    f"{where} has {len(fields)} field{'s' if len(fields) != 1 else ''}, "
                    f"expected {expected}"
                )
            for j in self.selected:
                value = fields[j].strip().strip('"')
                if not value:
                    raise DataError(
                        f"{where}: missing value in column {self._column_name(j)!r}; "
                        "remove or impute missing values first"
                    )
                if not _is_number(value):
                    raise DataError(
                        f"{where}: {value!r} in column {self._column_name(j)!r} is not a number"
                    )
        raise DataError(f"{self.path}: a line after line {offset} cannot be read as numbers")


class ParquetFile(DataFile):
    def __init__(self, path: Path, columns: Sequence[str] | None) -> None:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise DataError(
                f"{path}: reading Parquet needs pyarrow (pip install pyarrow)"
            ) from None
        self.path = path
        try:
            self._file = pq.ParquetFile(path)
        except (OSError, pa.ArrowException) as exc:
            if isinstance(exc, FileNotFoundError | IsADirectoryError | PermissionError):
                raise
            raise DataError(f"{path}: not a readable Parquet file ({exc})") from None
        schema = self._file.schema_arrow
        self.names = list(schema.names)
        self.selected = _select(path, self.names, len(self.names), columns)
        numeric = (pa.types.is_integer, pa.types.is_floating, pa.types.is_decimal)
        bad = [
            self.names[i]
            for i in self.selected
            if not any(test(schema.field(i).type) for test in numeric)
        ]
        if bad:
            types = ", ".join(f"{n!r} ({schema.field(n).type})" for n in bad)
            raise DataError(
                f"{path}: column{'s' if len(bad) > 1 else ''} {types} "
                f"{'are' if len(bad) > 1 else 'is'} not numeric; "
                "choose numeric columns with --columns"
            )
        if self._file.metadata.num_rows == 0:
            raise DataError(f"{path}: the file has no rows of data")

    def blocks(self, rows: int = BLOCK_ROWS) -> Iterator[np.ndarray]:
        names = self.columns
        assert names is not None
        for batch in self._file.iter_batches(batch_size=rows, columns=names):
            parts = []
            for name in names:
                column = batch.column(name)
                if column.null_count:
                    raise DataError(
                        f"{self.path}: column {name!r} has missing values; "
                        "remove or impute them first"
                    )
                parts.append(np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64))
            yield np.column_stack(parts)


class NpyFile(DataFile):
    def __init__(self, path: Path, columns: Sequence[str] | None) -> None:
        self.path = path
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            raise
        except (OSError, ValueError, EOFError) as exc:
            raise DataError(f"{path}: not a readable .npy array ({exc})") from None
        if not isinstance(array, np.ndarray):
            raise DataError(f"{path}: expected one array in a .npy file")
        if array.dtype.kind not in "biuf":
            raise DataError(f"{path}: the array's dtype {array.dtype} is not numeric")
        if array.ndim not in (1, 2):
            raise DataError(f"{path}: expected a 1-D or 2-D array, got shape {array.shape}")
        self._array = array.reshape(-1, 1) if array.ndim == 1 else array
        if self._array.shape[0] == 0:
            raise DataError(f"{path}: the array has no rows")
        self.names = None
        self.selected = _select(path, None, self._array.shape[1], columns)

    def blocks(self, rows: int = BLOCK_ROWS) -> Iterator[np.ndarray]:
        for start in range(0, self._array.shape[0], rows):
            block = self._array[start : start + rows]
            yield np.asarray(block[:, self.selected], dtype=np.float64)


def open_data(path: str | os.PathLike[str], columns: Sequence[str] | None = None) -> DataFile:
    """Open a CSV/TSV, Parquet or ``.npy`` data file, choosing ``columns`` (names or indices).

    Raises
    ------
    FileNotFoundError, IsADirectoryError, PermissionError
        If the file cannot be opened.
    DataError
        If it cannot be read as a numeric matrix.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: '{path}'")
    if path.is_dir():
        raise IsADirectoryError(f"'{path}' is a directory, not a data file")
    suffix = path.suffix.lower()
    if suffix in _PARQUET:
        return ParquetFile(path, columns)
    if suffix == ".npy":
        return NpyFile(path, columns)
    return TextFile(path, columns)


# -- writing ---------------------------------------------------------------------
def write_table(
    path: str | os.PathLike[str] | None, array: np.ndarray, names: Sequence[str]
) -> None:
    """Write a 1-D or 2-D array with column ``names`` atomically.

    The format follows the suffix: ``.npy``, Parquet, ``.tsv`` (tab-separated),
    anything else comma-separated text with a header. ``path=None`` writes CSV to
    standard output. Floats are written with 17 significant digits (exact).
    """
    import sys

    table = array.reshape(-1, 1) if array.ndim == 1 else array
    if path is None:
        _write_text(sys.stdout, table, names, ",")
        sys.stdout.flush()
        return
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix == ".npy":
        with atomic_write(target, "wb") as f:
            np.save(f, array, allow_pickle=False)
    elif suffix in _PARQUET:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise DataError(
                f"{target}: writing Parquet needs pyarrow (pip install pyarrow)"
            ) from None
        columns = {name: table[:, i] for i, name in enumerate(names)}
        with atomic_write(target, "wb") as f:
            pq.write_table(pa.table(columns), f)
    else:
        delimiter = "\t" if suffix in (".tsv", ".tab") else ","
        with atomic_write(target, "w") as f:
            _write_text(f, table, names, delimiter)


def _write_text(f: IO[str], table: np.ndarray, names: Sequence[str], delimiter: str) -> None:
    f.write(delimiter.join(names) + "\n")
    fmt = "%d" if table.dtype.kind in "biu" else "%.17g"
    if table.shape[0]:
        np.savetxt(f, table, fmt=fmt, delimiter=delimiter)
