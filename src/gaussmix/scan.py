"""Data files, read chunk by chunk: ``gaussmix.scan``.

``scan(path)`` is a re-iterable view of a file's numeric columns as float chunks.
``GaussianMixture.fit``, ``predict``, ``predict_proba``, ``score`` and
``score_samples`` accept it: each EM iteration is one pass over the file, with
the same exact statistics as an in-memory fit, and memory bounded by the chunk
size. Predict-style outputs come back as one in-memory array (n rows are small
next to n × d); :meth:`Scan.map` writes them to a ``.npy`` file chunk by chunk
instead::

    data = gaussmix.scan("big.npy")
    gm = GaussianMixture(8).fit(data)
    labels = data.map(gm.predict, out="labels.npy")   # memory-mapped result

It is also the command line's one reader of data files. Formats, chosen by the
file's suffix:

- ``.npy``: a 1-D (one column) or 2-D numeric array. Each chunk is a fresh
  memory map of just that chunk's rows, so resident memory never grows with the
  file; nothing is unpickled.
- ``.parquet`` / ``.pq`` / ``.parq``: row groups (or batches of ``chunk_rows``)
  through pyarrow, imported only here. Numeric (integer, float, decimal, boolean)
  columns without nulls.
- ``.csv`` / ``.tsv`` / ``.txt`` / ``.dat``, optionally gzip-compressed (``.csv.gz``):
  UTF-8 lines parsed ``chunk_rows`` at a time. Blank lines and ``#`` comments are
  skipped; the delimiter (comma, tab, semicolon, pipe, else whitespace) is
  detected from the first lines, and the first line is a header of column names
  if any of its fields is not a number.

Every problem with a file's content is a :class:`ScanError` (a ``ValueError``)
whose message names the file, the line and column where it can, and what to do;
a non-numeric column is a ``TypeError``.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import os
import zlib
from collections.abc import Callable, Generator, Iterator
from itertools import islice
from pathlib import Path
from typing import IO, Any

import numpy as np

from ._core.covariance import Covariance, Params
from ._core.stats import Stats, merge_all
from ._validation import check_sample_weight
from .backends.numpy import NumpyRows
from .distributed.blocks import BlockFunc, BlockRows, check_block_finite

__all__ = ["Scan", "ScanError", "ScanRows", "scan"]

_CHUNK_BYTES = 64 * 2**20  # default chunk: about 64 MB of rows
_FORMATS = {
    ".npy": "npy",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".parq": "parquet",
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".dat": "csv",
}
_DELIMITERS = ",\t;|"  # tried in this order; else whitespace
_SNIFF_LINES = 50
_FIX_COLUMNS = "choose numeric columns (--columns on the command line, columns=[...] in Python)"


class ScanError(ValueError):
    """A data file's content cannot be read as a numeric table."""


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
    FileNotFoundError, IsADirectoryError
        If ``path`` is not a file.
    ScanError
        (a ValueError) For an unknown file type, unknown or repeated columns, or a
        file that is not a numeric table; while iterating, for a line that does not
        hold a number in every selected column.
    TypeError
        If a selected column is not numeric.
    ImportError
        For a Parquet file without pyarrow.
    """
    return Scan(path, columns, chunk_rows)


class Scan:
    """A file's numeric columns as a sequence of in-memory chunks (see :func:`scan`).

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
        dtypes, why = self._open(path)
        names = self._names
        positions = _select(columns, names, len(dtypes), self.path)
        bad = [i for i in positions if i in why]
        if bad:
            many = len(bad) > 1
            raise TypeError(
                f"{self.path}: column{'s' if many else ''} "
                f"{', '.join(self._label(i) for i in bad)} {'are' if many else 'is'} not "
                f"numeric ({'; '.join(why[i] for i in bad)}); {_FIX_COLUMNS}."
            )
        self._positions = positions
        self.columns: list[Any] = [names[i] for i in positions] if names else positions
        single = all(dtypes[i] == np.float32 for i in positions)
        self.dtype = np.dtype(np.float32 if single else np.float64)
        self.chunk_rows = chunk_rows
        if chunk_rows is None and self.format != "parquet":
            # Text lines are held as strings while parsed: several times their numbers' size.
            budget = _CHUNK_BYTES if self.format == "npy" else _CHUNK_BYTES // 8
            self.chunk_rows = max(1, budget // (self.dtype.itemsize * len(dtypes)))

    def _open(self, path: str | os.PathLike[str]) -> tuple[list[np.dtype], dict[int, str]]:
        """Read the file's format and columns: their dtypes, and why any is not numeric."""
        self.path = Path(path)
        if self.path.is_dir():
            raise IsADirectoryError(f"{self.path} is a directory, not a data file.")
        if not self.path.is_file():
            raise FileNotFoundError(f"scan: no such file {str(self.path)!r}.")
        self.format, self._gzip = _format(self.path)
        self._n_rows: int | None = None
        names, dtypes, why = getattr(self, f"_open_{self.format}")()
        if not dtypes:
            raise ScanError(f"{self.path}: the file has no columns.")
        self._names: list[str] | None = names
        self._width = len(dtypes)
        return dtypes, why

    # -- shape ----------------------------------------------------------------
    @property
    def n_rows(self) -> int:
        """Number of rows (a text file is counted once, on first use)."""
        if self._n_rows is None:
            with contextlib.closing(self._lines()) as lines:
                self._n_rows = sum(1 for _ in lines) - int(self._header)
        return self._n_rows

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
        """Chunks of shape (rows, n_features), in file order; a new pass each time."""
        return getattr(self, f"_chunks_{self.format}")()

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
            need to fit in memory.

        Returns
        -------
        ndarray of shape (n_rows, ...)
            In memory, or (with ``out``) the written file memory-mapped read-only.
        """
        if out is None:
            return np.concatenate([np.asarray(func(X)) for X in self])
        written, dtype = 0, None
        with open(out, "wb") as f:
            for X in self:
                result = np.asarray(func(X))
                if result.shape[:1] != X.shape[:1]:
                    raise ValueError(
                        f"Scan.map: func returned {result.shape[:1]} rows for a chunk of "
                        f"{X.shape[0]}; it must return one row per input row."
                    )
                if dtype is None:
                    dtype = result.dtype
                    header = {
                        "descr": np.lib.format.dtype_to_descr(dtype),
                        "fortran_order": False,
                        "shape": (self.n_rows, *result.shape[1:]),
                    }
                    np.lib.format.write_array_header_2_0(f, header)
                np.ascontiguousarray(result, dtype=dtype).tofile(f)
                written += result.shape[0]
        if written != self.n_rows:
            raise ValueError(f"Scan.map: {self.path.name} changed while it was read.")
        return np.load(out, mmap_mode="r")

    # -- .npy -----------------------------------------------------------------
    def _open_npy(self) -> tuple[None, list[np.dtype], dict[int, str]]:
        try:
            header = np.load(self.path, mmap_mode="r", allow_pickle=False)  # reads no data
        except (OSError, ValueError, EOFError) as exc:
            if isinstance(exc, PermissionError):
                raise
            raise ScanError(f"{self.path}: not a readable .npy array ({exc}).") from None
        if not isinstance(header, np.memmap):  # an .npz archive
            raise ScanError(f"{self.path}: expected one array saved with np.save.")
        if header.dtype.kind not in "biuf":
            raise ScanError(
                f"{self.path}: the array's dtype {header.dtype} is not numeric; "
                "save a float or integer array."
            )
        if header.ndim not in (1, 2):
            raise ScanError(
                f"{self.path}: holds an array of shape {header.shape}; expected a 1-D "
                "(one column) or 2-D (n_samples, n_features) array."
            )
        width = header.shape[1] if header.ndim == 2 else 1
        self._n_rows = int(header.shape[0])
        fortran = not header.flags.c_contiguous
        self._npy = (header.dtype, width, header.offset, fortran)
        return None, [header.dtype] * width, {}

    def _chunks_npy(self) -> Iterator[np.ndarray]:
        dtype, width, offset, fortran = self._npy
        step = int(self.chunk_rows or 1)
        for start in range(0, self.n_rows, step):
            rows = min(step, self.n_rows - start)
            # A map for this chunk alone: dropping the chunk unmaps it, so resident
            # memory stays bounded by the chunk size however large the file is.
            if fortran:  # rows are strided: map the array, copy out the chunk's rows
                window = np.load(self.path, mmap_mode="r")[start : start + rows]
            else:
                window = np.memmap(
                    self.path,
                    dtype=dtype,
                    mode="r",
                    offset=offset + start * width * dtype.itemsize,
                    shape=(rows, width),
                )
            yield self._as_float(np.asarray(window).reshape(rows, width))

    # -- Parquet --------------------------------------------------------------
    def _open_parquet(self) -> tuple[list[str], list[np.dtype], dict[int, str]]:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise ImportError(
                f"scan: reading {self.path.name} needs pyarrow; install it with "
                'pip install "gaussmix[dask]" (or pip install pyarrow).'
            ) from None
        try:
            with pq.ParquetFile(self.path) as pf:
                schema = pf.schema_arrow
                self._n_rows = int(pf.metadata.num_rows)
        except (OSError, ValueError, pa.ArrowException) as exc:
            if isinstance(exc, PermissionError):
                raise
            raise ScanError(f"{self.path}: not a readable Parquet file ({exc}).") from None
        dtypes, why = [], {}
        numeric = (pa.types.is_integer, pa.types.is_floating, pa.types.is_decimal)
        for i, field in enumerate(schema):
            single = pa.types.is_float32(field.type)
            dtypes.append(np.dtype(np.float32 if single else np.float64))
            if not (pa.types.is_boolean(field.type) or any(t(field.type) for t in numeric)):
                why[i] = f"type {field.type}"
        return list(schema.names), dtypes, why

    def _chunks_parquet(self) -> Iterator[np.ndarray]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        assert self._names is not None
        names = [self._names[i] for i in self._positions]
        start = 0
        try:
            with pq.ParquetFile(self.path) as pf:
                if self.chunk_rows is None:
                    parts: Iterator[Any] = (
                        pf.read_row_group(i, columns=names) for i in range(pf.num_row_groups)
                    )
                else:
                    parts = pf.iter_batches(batch_size=self.chunk_rows, columns=names)
                for part in parts:
                    yield self._parquet_chunk(part, names, start)
                    start += part.num_rows
        except (OSError, pa.ArrowException) as exc:
            if isinstance(exc, PermissionError):
                raise
            raise ScanError(f"{self.path}: not a readable Parquet file ({exc}).") from None

    def _parquet_chunk(self, part: Any, names: list[str], start: int) -> np.ndarray:
        """A row group or batch as an array of shape (part.num_rows, len(names))."""
        out = np.empty((part.num_rows, len(names)), self.dtype)
        for i, name in enumerate(names):
            column = part.column(i)
            if column.null_count:
                first = int(np.argmax(column.is_null().to_numpy(zero_copy_only=False)))
                raise ScanError(
                    f"{self.path}: column {name!r} has missing values (the first at row "
                    f"{start + first}); remove or impute them first."
                )
            out[:, i] = column.to_numpy(zero_copy_only=False)
        return out

    # -- text -----------------------------------------------------------------
    def _open_csv(self) -> tuple[list[str] | None, list[np.dtype], dict[int, str]]:
        with contextlib.closing(self._lines()) as lines:
            sample = list(islice(lines, _SNIFF_LINES))
        if not sample:
            raise ScanError(f"{self.path}: the file is empty (no rows of data).")
        tsv = ".tsv" in [s.lower() for s in self.path.suffixes]
        self._delimiter = _sniff([text for _, text in sample], "\t" if tsv else ",")
        first = self._split(*sample[0])
        self._header = any(v and not _is_number(v) for v in first)
        names = first if self._header else None
        width = len(first)
        why: dict[int, str] = {}
        if self._header and len(sample) > 1:  # a text column shows in the first row
            line_no, text = sample[1]
            for i, value in enumerate(self._split(line_no, text)[:width]):
                if value and not _is_number(value):
                    why[i] = f"first value {value!r} on line {line_no}"
        return names, [np.dtype(np.float64)] * width, why

    def _text(self) -> IO[str]:
        raw = gzip.open(self.path, "rb") if self._gzip else open(self.path, "rb")  # noqa: SIM115
        return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")

    def _lines(self) -> Generator[tuple[int, str], None, None]:
        """(line number, line) for every line that is not blank or a ``#`` comment."""
        line_no = 0
        with self._text() as f:
            try:
                for line_no, line in enumerate(f, 1):
                    stripped = line.strip()
                    if stripped and not stripped.startswith("#"):
                        yield line_no, line
            except UnicodeDecodeError:  # decoded in blocks: the line is only roughly known
                where = f" after line {line_no}" if line_no else ""
                raise ScanError(
                    f"{self.path}: not a text file (invalid UTF-8{where}); "
                    "give UTF-8 CSV/TSV text, Parquet or .npy data."
                ) from None
            except (OSError, EOFError, zlib.error) as exc:
                raise ScanError(f"{self.path}: cannot be read ({exc}).") from None

    def _split(self, line_no: int, line: str) -> list[str]:
        """A line's fields, stripped of blanks, a ``#`` comment (and quotes, for a delimiter)."""
        line = line.split("#", 1)[0]
        if self._delimiter is None:
            return line.split()
        try:
            return [v.strip() for v in next(csv.reader([line], delimiter=self._delimiter))]
        except (csv.Error, StopIteration) as exc:  # for example a field over csv's size limit
            raise ScanError(f"{self.path}: line {line_no} cannot be split ({exc}).") from None

    def _chunks_csv(self) -> Iterator[np.ndarray]:
        step = int(self.chunk_rows or 1)
        with contextlib.closing(self._lines()) as lines:
            if self._header:
                next(lines)
            while block := list(islice(lines, step)):
                try:
                    chunk = np.loadtxt(
                        [text for _, text in block],
                        delimiter=self._delimiter,
                        usecols=self._positions,
                        ndmin=2,
                        dtype=np.float64,
                        quotechar='"',
                        comments="#",
                    )
                except ValueError as exc:
                    raise self._bad_line(block, exc) from None
                if chunk.shape[0] != len(block):
                    raise self._bad_line(block, "rows do not match lines")
                yield chunk

    def _bad_line(self, block: list[tuple[int, str]], reason: Any) -> ScanError:
        """The error for the first line of ``block`` without a number in every column."""
        for line_no, text in block:
            fields = self._split(line_no, text)
            where = f"{self.path}: line {line_no}"
            if len(fields) <= max(self._positions):
                s = "" if len(fields) == 1 else "s"
                return ScanError(f"{where} has {len(fields)} field{s}, expected {self._width}.")
            for i in self._positions:
                value = fields[i].strip('"')
                if not value:
                    return ScanError(
                        f"{where}: missing value in column {self._label(i)}; "
                        "remove or impute missing values first."
                    )
                if not _is_number(value):
                    return ScanError(
                        f"{where}: {value!r} in column {self._label(i)} is not a number."
                    )
        first, last = block[0][0], block[-1][0]
        return ScanError(
            f"{self.path}: lines {first}-{last} cannot be read as numbers ({reason}); "
            "every selected column must hold a number on every line."
        )

    # -- helpers --------------------------------------------------------------
    def _label(self, i: int) -> str:
        return repr(self._names[i]) if self._names is not None else str(i)

    def _as_float(self, X: np.ndarray) -> np.ndarray:
        if self._positions != list(range(X.shape[1])):
            X = X[:, self._positions]
        return X.astype(self.dtype, copy=False)


def column_names(path: str | os.PathLike[str]) -> list[str] | None:
    """The names of all of a data file's columns, numeric or not; None if it has none.

    The command line reads these to turn ``--columns`` tokens into names or
    positions for :func:`scan`.
    """
    view = Scan.__new__(Scan)
    view._open(path)
    return view._names


def _format(path: Path) -> tuple[str, bool]:
    """The format for ``path``'s suffix, and whether it is gzip-compressed text."""
    suffixes = [s.lower() for s in path.suffixes]
    gz = suffixes[-1:] == [".gz"]
    suffix = suffixes[-2] if gz and len(suffixes) > 1 else path.suffix.lower()
    kind = _FORMATS.get(suffix)
    if kind is None or (gz and kind != "csv"):
        raise ScanError(
            f"{path}: cannot tell the format from its suffix; use one of "
            f"{', '.join(sorted(_FORMATS))} (text may be gzip-compressed: .csv.gz)."
        )
    return kind, gz


def _sniff(lines: list[str], default: str) -> str | None:
    """The delimiter of some lines of text: None stands for whitespace.

    The first of comma, tab, semicolon and pipe that splits every line into the
    same number (> 1) of fields; else the first of them in the first line (a
    ragged file, reported line by line when read); else whitespace if it splits
    the first line; else (one column) ``default``.
    """
    present = [d for d in _DELIMITERS if d in lines[0]]
    for delimiter in present:
        try:
            widths = {len(row) for row in csv.reader(lines, delimiter=delimiter)}
        except csv.Error:
            continue
        if len(widths) == 1 and widths.pop() > 1:
            return delimiter
    if present:
        return present[0]
    return None if len(lines[0].split()) > 1 else default


def _is_number(text: str) -> bool:
    """Whether ``text`` reads as a float (as np.loadtxt reads it: no ``_`` separators)."""
    try:
        float(text)
    except ValueError:
        return False
    return "_" not in text


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


class ScanRows(BlockRows):
    """Rows of a :class:`Scan`: every pass reads the file once, chunk by chunk.

    Parameters
    ----------
    data : Scan
    weights : array-like of shape (n,), optional
        Non-negative row weights, in memory (8 bytes a row).
    """

    def __init__(self, data: Scan, weights: Any = None) -> None:
        self.data = data
        self.n_rows, self.n_features = data.shape
        self.weights = check_sample_weight(weights, self.n_rows)
        self.total_weight = float(self.n_rows if self.weights is None else self.weights.sum())

    def _blocks(self) -> Iterator[tuple[NumpyRows, slice]]:
        start = 0
        for X in self.data:
            rows = slice(start, start + X.shape[0])
            start = rows.stop
            if rows.stop > self.n_rows:
                break  # the file grew: the check below reports it
            if X.shape[0]:
                check_block_finite(X, rows)
                yield NumpyRows(X, None if self.weights is None else self.weights[rows]), rows
        if start != self.n_rows:
            raise ValueError(f"scan: {self.data.path.name} changed while it was read.")

    def _map_merge(self, func: BlockFunc, kind: str, *shared: Any) -> Stats:
        return merge_all((func(block, rows, *shared) for block, rows in self._blocks()), kind)

    def _take(self, index: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        # Only the picked rows are checked (and, for .npy, read from disk).
        picked, start = [], 0
        for X in self.data:
            if index is None:
                picked.append(X)
            else:
                lo, hi = np.searchsorted(index, [start, start + X.shape[0]])
                picked.append(X[index[lo:hi] - start])
            start += X.shape[0]
        X = np.concatenate(picked)
        check_block_finite(X, slice(0, X.shape[0]) if index is None else index)
        w = self.weights
        return X, w if w is None or index is None else w[index]

    def map_log_resp(
        self,
        params: Params,
        cov: Covariance,
        reduce: Callable[[np.ndarray, np.ndarray], np.ndarray],
    ) -> np.ndarray:
        """``reduce(log_norm, log_resp)`` over the file, in memory, in row order."""
        return np.concatenate(
            [block.map_log_resp(params, cov, reduce) for block, _ in self._blocks()]
        )
