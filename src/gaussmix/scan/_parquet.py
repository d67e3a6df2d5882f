"""Parquet files through pyarrow (imported only here): row groups, or batches of rows.

Numeric (integer, float, decimal, boolean) columns without nulls.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ._reader import Reader, ScanError

__all__ = ["ParquetReader"]


def _pyarrow(path: Any) -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError(
            f"scan: reading {path.name} needs pyarrow; install it with "
            'pip install "gaussmix[dask]" (or pip install pyarrow).'
        ) from None
    return pa, pq


class ParquetReader(Reader):
    """A Parquet file's columns, by name; by default one chunk per row group."""

    format = "parquet"

    def _open(self) -> tuple[list[str], list[np.dtype], dict[int, str]]:
        pa, pq = _pyarrow(self.path)
        try:
            with pq.ParquetFile(self.path) as pf:
                schema = pf.schema_arrow
                self.n_rows = int(pf.metadata.num_rows)
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

    def default_chunk_rows(self, dtype: np.dtype) -> None:
        return None  # the file's row groups

    def chunks(
        self, positions: list[int], chunk_rows: int | None, dtype: np.dtype
    ) -> Iterator[np.ndarray]:
        pa, pq = _pyarrow(self.path)
        assert self.names is not None
        names = [self.names[i] for i in positions]
        start = 0
        try:
            with pq.ParquetFile(self.path) as pf:
                if chunk_rows is None:
                    parts: Iterator[Any] = (
                        pf.read_row_group(i, columns=names) for i in range(pf.num_row_groups)
                    )
                else:
                    parts = pf.iter_batches(batch_size=chunk_rows, columns=names)
                for part in parts:
                    yield self._chunk(part, names, start, dtype)
                    start += part.num_rows
        except (OSError, pa.ArrowException) as exc:
            if isinstance(exc, PermissionError):
                raise
            raise ScanError(f"{self.path}: not a readable Parquet file ({exc}).") from None

    def _chunk(self, part: Any, names: list[str], start: int, dtype: np.dtype) -> np.ndarray:
        """A row group or batch as an array of shape (part.num_rows, len(names))."""
        out = np.empty((part.num_rows, len(names)), dtype)
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
