"""Delimited text (CSV, TSV, ...), optionally gzip-compressed: lines parsed a block at a time.

Blank lines and ``#`` comments are skipped; the delimiter (comma, tab, semicolon,
pipe, else whitespace) is detected from the first lines, and the first line is a
header of column names if any of its fields is not a number. Text is UTF-8 (a
UTF-8, UTF-16 or UTF-32 byte-order mark is honoured). Every line must have as
many fields as the first: a line with more or fewer is an error naming it.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import io
import zlib
from collections.abc import Generator, Iterator
from itertools import islice, repeat
from typing import IO, Any

import numpy as np

from ._reader import Reader, ScanError

__all__ = ["TextReader"]

_CHUNK_BYTES = 8 * 2**20  # numbers per default chunk: text lines take several times that
_DELIMITERS = ",\t;|"  # tried in this order; else whitespace
_SNIFF_LINES = 50
_MAX_LINE_CHARS = 2**23  # a longer line is no table's (and would be held whole in memory)
_BOMS = (  # longest first: UTF-32-LE's mark starts with UTF-16-LE's
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


class TextReader(Reader):
    """A delimited text file; ``.gz`` (by its suffix) is decompressed while read."""

    format = "csv"

    def _open(self) -> tuple[list[str] | None, list[np.dtype], dict[int, str]]:
        self._gzip = self.path.suffix.lower() == ".gz"
        self._encoding = self._sniff_encoding()
        with contextlib.closing(self._lines()) as lines:
            sample = list(islice(lines, _SNIFF_LINES))
        if not sample:
            raise ScanError(f"{self.path}: the file is empty (no rows of data).")
        for line_no, text in sample:
            if "\0" in text:
                raise self._nul(line_no)
        tsv = ".tsv" in [s.lower() for s in self.path.suffixes]
        self._delimiter = _sniff([text for _, text in sample], "\t" if tsv else ",")
        first = self._split(*sample[0])
        self._header = any(v and not _is_number(v) for v in first)
        self._width = len(first)
        why: dict[int, str] = {}
        if self._header and len(sample) > 1:  # a text column shows in the first row
            line_no, text = sample[1]
            for i, value in enumerate(self._split(line_no, text)[: self._width]):
                if value and not _is_number(value):
                    why[i] = f"first value {value!r} on line {line_no}"
        names = first if self._header else None
        return names, [np.dtype(np.float64)] * self._width, why

    def default_chunk_rows(self, dtype: np.dtype) -> int:
        return max(1, _CHUNK_BYTES // (dtype.itemsize * self._width))

    def count_rows(self) -> int:
        if self.n_rows is None:
            with contextlib.closing(self._lines()) as lines:
                self.n_rows = sum(1 for _ in lines) - int(self._header)
        return self.n_rows

    def chunks(
        self, positions: list[int], chunk_rows: int | None, dtype: np.dtype
    ) -> Iterator[np.ndarray]:
        step = chunk_rows or self.default_chunk_rows(dtype)
        # With every column selected, np.loadtxt itself refuses a block whose lines
        # differ in width; with some, it would ignore extra fields: count them first.
        every = positions == list(range(self._width))
        with contextlib.closing(self._lines()) as lines:
            if self._header:
                next(lines)
            while block := list(islice(lines, step)):
                if not every:
                    self._check_widths(block)
                try:
                    chunk = np.loadtxt(
                        [text for _, text in block],
                        delimiter=self._delimiter,
                        usecols=None if every else positions,
                        ndmin=2,
                        dtype=np.float64,
                        quotechar='"',
                        comments="#",
                    )
                except ValueError as exc:
                    raise self._bad_line(block, positions, exc) from None
                if chunk.shape != (len(block), len(positions)):
                    raise self._bad_line(block, positions, "rows do not match lines")
                yield chunk.astype(dtype, copy=False)

    # -- lines and fields -------------------------------------------------------
    def _raw(self) -> IO[bytes]:
        if self._gzip:
            return gzip.open(self.path, "rb")  # type: ignore[return-value]
        return open(self.path, "rb")

    def _sniff_encoding(self) -> str:
        try:
            with self._raw() as raw:
                start = raw.read(4)
        except (OSError, EOFError, zlib.error) as exc:
            if isinstance(exc, PermissionError):
                raise
            raise ScanError(f"{self.path}: cannot be read ({exc}).") from None
        return next((name for bom, name in _BOMS if start.startswith(bom)), "utf-8-sig")

    def _lines(self) -> Generator[tuple[int, str], None, None]:
        """(line number, line) for every line that is not blank or a ``#`` comment."""
        line_no = 0
        with io.TextIOWrapper(self._raw(), encoding=self._encoding, newline="") as f:
            try:
                while line := f.readline(_MAX_LINE_CHARS + 1):
                    line_no += 1
                    if len(line) > _MAX_LINE_CHARS:
                        raise ScanError(
                            f"{self.path}: line {line_no} is longer than {_MAX_LINE_CHARS} "
                            "characters: not a table of delimited text (a binary file?)."
                        )
                    stripped = line.strip()
                    if stripped and not stripped.startswith("#"):
                        yield line_no, line
            except UnicodeError:  # decoded in blocks: the line is only roughly known
                where = f" after line {line_no}" if line_no else ""
                encoding = self._encoding.removesuffix("-sig").upper()
                raise ScanError(
                    f"{self.path}: not a text file (invalid {encoding}{where}); "
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

    def _check_widths(self, block: list[tuple[int, str]]) -> None:
        """Raise unless every line of ``block`` has as many fields as the first line."""
        delimiter, width = self._delimiter, self._width
        texts = [text for _, text in block]
        joined = "".join(texts)
        if "#" not in joined and (delimiter is None or '"' not in joined):
            # Without quotes or comments, counting delimiters (or words) is exact.
            if delimiter is None:
                widths = list(map(len, map(str.split, texts)))
            else:
                widths = [n + 1 for n in map(str.count, texts, repeat(delimiter))]
            if widths.count(width) == len(widths):
                return
        for line_no, text in block:
            fields = len(self._split(line_no, text))
            if fields != width:
                s = "" if fields == 1 else "s"
                raise ScanError(
                    f"{self.path}: line {line_no} has {fields} field{s}, expected {width}."
                )

    def _bad_line(
        self, block: list[tuple[int, str]], positions: list[int], reason: Any
    ) -> ScanError:
        """The error for the first line of ``block`` of another width, or without a number."""
        self._check_widths(block)
        for line_no, text in block:
            if "\0" in text:
                return self._nul(line_no)
            fields = self._split(line_no, text)
            where = f"{self.path}: line {line_no}"
            for i in positions:
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

    def _nul(self, line_no: int) -> ScanError:
        return ScanError(
            f"{self.path}: line {line_no} contains a NUL byte: a binary file, or text in "
            "UTF-16/UTF-32 without a byte-order mark; give UTF-8 CSV/TSV text."
        )

    def _label(self, i: int) -> str:
        return repr(self.names[i]) if self.names is not None else str(i)


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
    """Whether ``text`` reads as a float as np.loadtxt reads it (ASCII, no ``_`` separators)."""
    try:
        float(text)
    except ValueError:
        return False
    return text.isascii() and "_" not in text
