"""``.npy`` files: read chunk by chunk through memory maps, written chunk by chunk.

Each chunk is a fresh memory map of just that chunk's rows, so resident memory
never grows with the file; nothing is unpickled. :class:`NpyWriter` writes an
array whose row count is known only at the end (``Scan.map``'s outputs) in one
pass: it reserves the header, streams the rows, then writes the header in place.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

import numpy as np

from ._reader import Reader, ScanError

__all__ = ["NpyReader", "NpyWriter"]

_CHUNK_BYTES = 64 * 2**20  # default chunk: about 64 MB of rows


class NpyReader(Reader):
    """A 1-D (one column) or 2-D numeric array saved with ``np.save``."""

    format = "npy"

    def _open(self) -> tuple[None, list[np.dtype], dict[int, str]]:
        try:
            array = np.load(self.path, mmap_mode="r", allow_pickle=False)  # reads no data
        except (OSError, ValueError, EOFError, SyntaxError) as exc:
            if isinstance(exc, PermissionError):
                raise
            raise ScanError(f"{self.path}: not a readable .npy array ({exc}).") from None
        if not isinstance(array, np.memmap):  # an .npz archive
            raise ScanError(f"{self.path}: expected one array saved with np.save.")
        if array.dtype.kind not in "biuf":
            raise ScanError(
                f"{self.path}: the array's dtype {array.dtype} is not numeric; "
                "save a float or integer array."
            )
        if array.ndim not in (1, 2):
            raise ScanError(
                f"{self.path}: holds an array of shape {array.shape}; expected a 1-D "
                "(one column) or 2-D (n_samples, n_features) array."
            )
        width = array.shape[1] if array.ndim == 2 else 1
        self.n_rows = int(array.shape[0])
        self._shape = array.shape
        self._dtype = array.dtype
        self._offset = array.offset
        self._fortran = not array.flags.c_contiguous
        dtype = np.dtype(np.float32 if array.dtype == np.float32 else np.float64)
        return None, [dtype] * width, {}

    def default_chunk_rows(self, dtype: np.dtype) -> int:
        return max(1, _CHUNK_BYTES // (dtype.itemsize * len(self.dtypes)))

    def layout_now(self) -> str | None:
        try:
            now = np.load(self.path, mmap_mode="r", allow_pickle=False)  # reads no data
        except (OSError, ValueError, EOFError, SyntaxError):
            return "its header cannot be read any more"
        if not isinstance(now, np.memmap):
            return "it is not one .npy array any more"
        if (now.shape, now.dtype) != (self._shape, self._dtype):
            return f"it held {self._dtype} {self._shape} and now holds {now.dtype} {now.shape}"
        if now.flags.c_contiguous == self._fortran:
            return "its memory order changed"
        return None

    def chunks(
        self, positions: list[int], chunk_rows: int | None, dtype: np.dtype
    ) -> Iterator[np.ndarray]:
        assert self.n_rows is not None
        width = len(self.dtypes)
        step = chunk_rows or self.default_chunk_rows(dtype)
        for start in range(0, self.n_rows, step):
            rows = min(step, self.n_rows - start)
            # A map for this chunk alone: dropping the chunk unmaps it, so resident
            # memory stays bounded by the chunk size however large the file is.
            if self._fortran:  # rows are strided: map the array, copy out the chunk's rows
                window = np.load(self.path, mmap_mode="r")[start : start + rows]
            else:
                window = np.memmap(
                    self.path,
                    dtype=self._dtype,
                    mode="r",
                    offset=self._offset + start * width * self._dtype.itemsize,
                    shape=(rows, width),
                )
            X = np.asarray(window).reshape(rows, width)
            if positions != list(range(width)):
                X = X[:, positions]
            yield X.astype(dtype, copy=False)


class NpyWriter:
    """Write an ``.npy`` array to an open binary file, row blocks at a time.

    The header is reserved for the largest row count, the blocks follow, and
    :meth:`close` writes the real header (padded with spaces, as NumPy pads its
    own headers) over the reservation. Every block must have the first's trailing
    shape and a dtype that casts to the first's safely.

    Parameters
    ----------
    f : binary file, opened for writing and seekable
    """

    def __init__(self, f: IO[bytes]) -> None:
        self._f = f
        self._dtype: np.dtype | None = None
        self._trailing: tuple[int, ...] = ()
        self._header_size = 0
        self.n_rows = 0

    def _header(self, n_rows: int) -> bytes:
        assert self._dtype is not None
        fields = {
            "descr": np.lib.format.dtype_to_descr(self._dtype),
            "fortran_order": False,
            "shape": (n_rows, *self._trailing),
        }
        text = repr(fields).encode("latin1")
        # magic (6) + version (2) + length (2) + text, padded to a multiple of 64, '\n' last
        size = self._header_size or -(-(10 + len(text) + 1) // 64) * 64
        text = text + b" " * (size - 10 - len(text) - 1) + b"\n"
        return np.lib.format.magic(1, 0) + len(text).to_bytes(2, "little") + text

    def write(self, block: np.ndarray) -> None:
        """Append ``block`` (rows along its first axis)."""
        if self._dtype is None:
            self._dtype, self._trailing = block.dtype, block.shape[1:]
            reserved = self._header(np.iinfo(np.int64).max)
            self._header_size = len(reserved)
            self._f.write(reserved)
        elif block.shape[1:] != self._trailing or not np.can_cast(block.dtype, self._dtype):
            raise ValueError(
                f"Scan.map: func returned rows of shape {block.shape[1:]} and dtype "
                f"{block.dtype} after rows of shape {self._trailing} and dtype {self._dtype}; "
                "every chunk's result must have the same shape per row and dtype."
            )
        np.ascontiguousarray(block, dtype=self._dtype).tofile(self._f)
        self.n_rows += block.shape[0]

    def close(self) -> None:
        """Write the header for the rows written (at least one block must have been)."""
        assert self._dtype is not None
        self._f.seek(0)
        self._f.write(self._header(self.n_rows))
        self._f.seek(0, 2)
