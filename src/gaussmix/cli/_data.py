"""What commands read: data files through :func:`gaussmix.scan`, and model files."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._errors import CliError

STREAM_BYTES = 256 * 2**20
"""Data files larger than this are fitted through ``gaussmix.scan`` (one pass per EM
iteration, memory bounded by its chunk size) instead of being read into memory."""


def split_columns(columns: Sequence[str] | None) -> list[str] | None:
    """``--columns`` values (repeated, or comma-separated) as one list of tokens."""
    if not columns:
        return None
    names = [part.strip() for value in columns for part in value.split(",") if part.strip()]
    return names or None


def open_data(path: str, columns: Sequence[str] | None, model: Any = None) -> Any:
    """A gaussmix.scan of DATA; with a model, pick its columns by name or check their count.

    ``--columns`` tokens are column names, else 0-based positions.
    """
    from ..scan import column_names, scan

    wanted = split_columns(columns)
    model_names = getattr(model, "feature_names_in_", None) if model is not None else None
    try:
        keys: list[Any] | None = None
        if wanted is not None or model_names is not None:
            names = column_names(path)
            if wanted is None and model_names is not None and names is not None:
                missing = [str(n) for n in model_names if n not in names]
                if missing:
                    raise CliError(
                        f"{path}: the model's column{'s' if len(missing) > 1 else ''} "
                        f"{', '.join(repr(m) for m in missing)} "
                        f"{'are' if len(missing) > 1 else 'is'} not in the file; "
                        "choose the columns with --columns"
                    )
                wanted = [str(n) for n in model_names]
            if wanted is not None:
                keys = [column_key(token, names) for token in wanted]
        data = scan(path, columns=keys)
    except ImportError as exc:  # Parquet without pyarrow: a user's setup, not a bug
        raise CliError(str(exc)) from None
    if model is not None and data.n_features != model.n_features_in_:
        raise CliError(
            f"{path}: {data.n_features} column(s) selected, but the model was fitted on "
            f"{model.n_features_in_}; choose the columns with --columns"
        )
    return data


def column_key(token: str, names: list[str] | None) -> str | int:
    """A --columns token as a column name if the file has it, else as a position."""
    if names is not None and token in names:
        return token
    try:
        return int(token)
    except ValueError:
        return token  # unknown: scan says so, with the file's columns


def column_labels(data: Any) -> list[str] | None:
    """The names of a scan's selected columns, or None for a file without names."""
    return list(data.columns) if isinstance(data.columns[0], str) else None


def fit_input(data: Any) -> Any:
    """What to fit: a large file's scan itself (one pass per EM iteration), else its rows."""
    if data.path.stat().st_size > STREAM_BYTES:
        if data.n_rows == 0:
            raise CliError(f"{data.path}: no rows of data")
        return data
    return read_all(data)


def n_rows(X: Any) -> int:
    """Rows of an array or of a scan."""
    return int(X.n_rows if hasattr(X, "n_rows") else X.shape[0])


def read_all(data: Any) -> np.ndarray:
    """Every row of a scan, shape (n_rows, n_features)."""
    parts = list(data)
    if not parts or sum(part.shape[0] for part in parts) == 0:
        raise CliError(f"{data.path}: no rows of data")
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def load_model(path: str) -> Any:
    """The fitted model in a gaussmix model file."""
    from ..io import load

    return load(path)


def feature_labels(model: Any) -> list[str]:
    """The model's column names, or x0, x1, ... when it was fitted without names."""
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        return [str(n) for n in names]
    return [f"x{i}" for i in range(model.n_features_in_)]
