"""Files larger than memory, read chunk by chunk: ``gaussmix.scan``.

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

Formats, chosen by the file's suffix:

- ``.npy``: each chunk is a fresh memory map of just that chunk's rows (C order),
  so resident memory never grows with the file.
- ``.parquet`` / ``.pq``: row groups (or batches of ``chunk_rows``) through
  pyarrow, imported only here.
- ``.csv`` / ``.tsv`` / ``.txt``: lines parsed ``chunk_rows`` at a time; the
  delimiter (comma, semicolon, tab or whitespace) is detected from the first line,
  which is a header of column names if any of its fields is not a number.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from ._core.covariance import Covariance, Params
from ._core.stats import Stats, merge_all
from ._validation import check_sample_weight
from .backends.numpy import NumpyRows
from .distributed.blocks import BlockFunc, BlockRows, check_block_finite

__all__ = ["Scan", "ScanRows", "scan"]

_CHUNK_BYTES = 64 * 2**20  # default chunk: about 64 MB of rows
_FORMATS = {
    ".npy": "npy",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
}


def scan(
    path: str | os.PathLike[str],
    columns: list[str] | list[int] | None = None,
    chunk_rows: int | None = None,
) -> Scan:
    """A re-iterable, chunked view of the numeric columns of a large file.

    Parameters
    ----------
    path : str or path-like
        A ``.npy``, Parquet (``.parquet``, ``.pq``) or CSV (``.csv``, ``.tsv``,
        ``.txt``) file.
    columns : list of str or int, optional
        Columns to use, by name (Parquet, CSV with a header) or position; all by default.
    chunk_rows : int, optional
        Rows per chunk. By default about 64 MB of rows for ``.npy`` (8 MB of
        numbers for CSV, whose text takes several times that), and one chunk per
        row group for Parquet.

    Returns
    -------
    Scan
        Iterating over it yields float32 (for float32 data) or float64 arrays of
        shape (rows_in_chunk, n_features).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        For an unknown file type, unknown columns, or a file that is not a table.
    TypeError
        If a selected column is not numeric.
    """
    return Scan(path, columns, chunk_rows)


class Scan:
    """A file's numeric columns as a sequence of in-memory chunks (see :func:`scan`).

    Attributes
    ----------
    path : Path
    format : {'npy', 'parquet', 'csv'}
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
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"scan: no such file {str(self.path)!r}.")
        suffix = self.path.suffix.lower()
        if suffix not in _FORMATS:
            raise ValueError(
                f"scan: cannot tell the format of {self.path.name!r} from its suffix; "
                f"use one of {', '.join(sorted(_FORMATS))}."
            )
        if chunk_rows is not None and (
            isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1
        ):
            raise ValueError(f"scan: chunk_rows must be a positive integer; got {chunk_rows!r}.")
        self.format = _FORMATS[suffix]
        self._n_rows: int | None = None
        names, dtypes = getattr(self, f"_open_{self.format}")()
        self._names: list[str] | None = names
        positions = _select(columns, names, len(dtypes), self.path.name)
        bad = [
            names[i] if names else i for i in positions if not np.issubdtype(dtypes[i], np.number)
        ]
        if bad:
            raise TypeError(
                f"scan: {self.path.name} has non-numeric columns {bad}. "
                "Select numeric columns with columns=[...]."
            )
        self._positions = positions
        self.columns: list[Any] = [names[i] for i in positions] if names else positions
        single = all(dtypes[i] == np.float32 for i in positions)
        self.dtype = np.dtype(np.float32 if single else np.float64)
        self.chunk_rows = chunk_rows
        if chunk_rows is None and self.format != "parquet":
            # CSV lines are held as text while parsed: several times their numbers' size.
            budget = _CHUNK_BYTES if self.format == "npy" else _CHUNK_BYTES // 8
            self.chunk_rows = max(1, budget // (self.dtype.itemsize * max(len(dtypes), 1)))

    # -- shape ----------------------------------------------------------------
    @property
    def n_rows(self) -> int:
        """Number of rows (a CSV file is counted once, on first use)."""
        if self._n_rows is None:
            self._n_rows = self._count_csv_rows()
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
    def _open_npy(self) -> tuple[None, list[np.dtype]]:
        header = np.load(self.path, mmap_mode="r")  # maps, reads nothing
        if header.ndim != 2:
            raise ValueError(
                f"scan: {self.path.name} holds an array of shape {header.shape}; "
                "expected a 2-D (n_samples, n_features) array."
            )
        if header.dtype.names is not None or not header.flags.c_contiguous:
            raise ValueError(
                f"scan: {self.path.name} is a structured or Fortran-ordered array; "
                "save a plain C-ordered array, e.g. np.save(path, np.ascontiguousarray(X))."
            )
        self._n_rows = int(header.shape[0])
        self._npy = (header.dtype, header.shape[1], header.offset)
        return None, [header.dtype] * header.shape[1]

    def _chunks_npy(self) -> Iterator[np.ndarray]:
        dtype, width, offset = self._npy
        step = int(self.chunk_rows or 1)
        for start in range(0, self.n_rows, step):
            rows = min(step, self.n_rows - start)
            # A map of this chunk alone: dropping the chunk unmaps it, so resident
            # memory stays bounded by the chunk size however large the file is.
            window = np.memmap(
                self.path,
                dtype=dtype,
                mode="r",
                offset=offset + start * width * dtype.itemsize,
                shape=(rows, width),
            )
            yield self._as_float(np.asarray(window))

    # -- Parquet --------------------------------------------------------------
    def _open_parquet(self) -> tuple[list[str], list[np.dtype]]:
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise ImportError(
                f"scan: reading {self.path.name} needs pyarrow; install it with "
                'pip install "gaussmix[dask]" (or pip install pyarrow).'
            ) from None
        with pq.ParquetFile(self.path) as pf:
            schema = pf.schema_arrow
            self._n_rows = int(pf.metadata.num_rows)
        dtypes = []
        for field in schema:
            try:
                dtypes.append(np.dtype(field.type.to_pandas_dtype()))
            except (NotImplementedError, TypeError):
                dtypes.append(np.dtype(object))
        return list(schema.names), dtypes

    def _chunks_parquet(self) -> Iterator[np.ndarray]:
        import pyarrow.parquet as pq

        assert self._names is not None
        names = [self._names[i] for i in self._positions]
        with pq.ParquetFile(self.path) as pf:
            if self.chunk_rows is None:
                parts: Iterator[Any] = (
                    pf.read_row_group(i, columns=names) for i in range(pf.num_row_groups)
                )
            else:
                parts = pf.iter_batches(batch_size=self.chunk_rows, columns=names)
            for part in parts:
                yield np.column_stack(
                    [
                        np.asarray(part.column(i).to_numpy(zero_copy_only=False), self.dtype)
                        for i in range(len(names))
                    ]
                ).reshape(part.num_rows, len(names))

    # -- CSV ------------------------------------------------------------------
    def _open_csv(self) -> tuple[list[str] | None, list[np.dtype]]:
        with open(self.path, newline="") as f:
            first = f.readline()
            sample = list(islice(f, 100))
        if not first.strip():
            raise ValueError(f"scan: {self.path.name} is empty or starts with a blank line.")
        self._delimiter = next((d for d in ",;\t" if d in first), None)
        fields = self._split(first)
        self._header = not all(_is_number(v) for v in fields)
        names = fields if self._header else None
        if not self._header:
            sample.insert(0, first)
        # A column is numeric if every sampled value parses as a number.
        dtypes: list[np.dtype] = [np.dtype(np.float64)] * len(fields)
        for line in filter(str.strip, sample):
            for i, value in enumerate(self._split(line)[: len(fields)]):
                if not _is_number(value):
                    dtypes[i] = np.dtype(object)
        return names, dtypes

    def _split(self, line: str) -> list[str]:
        if self._delimiter is None:
            return line.split()
        return [v.strip() for v in next(csv.reader([line], delimiter=self._delimiter))]

    def _count_csv_rows(self) -> int:
        with open(self.path, newline="") as f:
            return sum(1 for line in f if line.strip()) - int(self._header)

    def _chunks_csv(self) -> Iterator[np.ndarray]:
        step = int(self.chunk_rows or 1)
        with open(self.path, newline="") as f:
            line_no = 1
            if self._header:
                next(f)
                line_no = 2
            while block := list(islice(f, step)):
                first, line_no = line_no, line_no + len(block)
                lines = [line for line in block if line.strip()]
                if not lines:
                    continue
                try:
                    chunk = np.loadtxt(
                        io.StringIO("".join(lines)),
                        delimiter=self._delimiter,
                        usecols=self._positions,
                        ndmin=2,
                        dtype=np.float64,
                        comments=None,
                    )
                except ValueError as exc:
                    raise ValueError(
                        f"scan: {self.path.name}, lines {first}-{line_no - 1}: {exc}. "
                        "Every selected column must hold a number on every line."
                    ) from None
                yield chunk

    # -- helpers --------------------------------------------------------------
    def _as_float(self, X: np.ndarray) -> np.ndarray:
        if self._positions != list(range(X.shape[1])):
            X = X[:, self._positions]
        return X.astype(self.dtype, copy=False)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _select(columns: Any, names: list[str] | None, width: int, file: str) -> list[int]:
    """Positions of the selected ``columns`` (names or integer positions)."""
    if columns is None:
        return list(range(width))
    if isinstance(columns, (str, int)):
        columns = [columns]
    positions, unknown = [], []
    for c in columns:
        if isinstance(c, (int, np.integer)) and not isinstance(c, bool):
            ok = -width <= c < width
            position = int(c) % width if ok else -1
        else:
            ok = names is not None and c in names
            position = names.index(c) if ok and names is not None else -1
        if ok:
            positions.append(position)
        else:
            unknown.append(c)
    if unknown:
        has = f"columns {names}" if names else f"{width} unnamed columns (select by position)"
        raise ValueError(f"scan: unknown columns {unknown} in {file}, which has {has}.")
    if not positions:
        raise ValueError("scan: columns=[] selects nothing; pass None for every column.")
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
