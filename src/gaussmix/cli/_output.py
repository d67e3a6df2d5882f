"""What commands print and write: JSON, tables of numbers in files, the console."""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from .._outputs import atomic_write
from ._errors import CliError

PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
TSV_SUFFIXES = (".tsv", ".tab")


def jsonable(value: Any) -> Any:
    """``value`` with NumPy arrays and scalars as Python lists and numbers; NaN and inf as None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    return value


def print_json(payload: Any) -> None:
    """One line of JSON on standard output."""
    sys.stdout.write(json.dumps(jsonable(payload), allow_nan=False) + "\n")
    sys.stdout.flush()


def write_table(
    path: str | None, array: np.ndarray, names: Sequence[str], *, inputs: Iterable[str] = ()
) -> None:
    """Write a 1-D or 2-D array with column ``names`` atomically (None: CSV to stdout).

    The format follows the suffix: ``.npy``, Parquet (``.parquet``, ``.pq``,
    ``.parq``), ``.tsv``/``.tab`` (tab-separated), anything else comma-separated
    text with a header. Floats are written with 17 significant digits (exact).
    ``path`` must not be one of ``inputs`` (the files the command read).
    """
    table = array.reshape(-1, 1) if array.ndim == 1 else array
    if path is None:
        _write_text(sys.stdout, table, names, ",")
        sys.stdout.flush()
        return
    suffix = Path(path).suffix.lower()
    if suffix == ".npy":
        with atomic_write(path, "wb", inputs=inputs) as f:
            np.save(f, array, allow_pickle=False)
    elif suffix in PARQUET_SUFFIXES:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise CliError(
                f"{path}: writing Parquet needs pyarrow (pip install pyarrow)"
            ) from None
        columns = {name: table[:, i] for i, name in enumerate(names)}
        with atomic_write(path, "wb", inputs=inputs) as f:
            pq.write_table(pa.table(columns), f)
    else:
        delimiter = "\t" if suffix in TSV_SUFFIXES else ","
        with atomic_write(path, "w", inputs=inputs) as f:
            _write_text(f, table, names, delimiter)


def _write_text(f: IO[str], table: np.ndarray, names: Sequence[str], delimiter: str) -> None:
    f.write(delimiter.join(names) + "\n")
    fmt = "%d" if table.dtype.kind in "biu" else "%.17g"
    if table.shape[0]:
        np.savetxt(f, table, fmt=fmt, delimiter=delimiter)


def check_fits_in_memory(n_bytes: int, what: str) -> None:
    """Refuse work that needs more than this machine's physical memory, before trying it."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX: let the allocation say so
        return
    if n_bytes > total:
        raise CliError(
            f"{what} needs about {_bytes(n_bytes)} of memory, more than this machine's "
            f"{_bytes(total)}: ask for less (several smaller runs with different --seed)"
        )


def _bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000:
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} EB"


def console() -> Any:
    """A rich console on standard output (wide enough for tables when it is no terminal)."""
    from rich.console import Console

    out = Console(highlight=False)
    if not out.is_terminal:
        out.width = max(out.width, 120)  # files and pipes: no truncated tables
    return out


def number(value: Any, digits: int = 6) -> str:
    """``value`` with ``digits`` significant digits; '—' for None, NaN and inf."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def fixed(value: Any) -> str:
    """``value`` with two decimals; '—' for anything not a finite float."""
    return f"{value:.2f}" if isinstance(value, float) and math.isfinite(value) else "—"
