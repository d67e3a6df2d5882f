"""In-memory input as one float NumPy array: arrays, lists, data frames, array-API arrays.

:func:`as_float_array` is the conversion every in-memory kind goes through
(torch tensors on the host too, for their dtype rules): it names the column
that is not numeric, rejects complex, datetime, string and categorical data,
sparse matrices and generators, and leaves shape errors to scikit-learn's
``check_array`` so that their wording is scikit-learn's.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
from sklearn.utils import check_array
from sklearn.utils.validation import _get_feature_names

from .._core.missing import MissingRows
from ..backends.numpy import NumpyRows
from .checks import check_observed_columns
from .info import InputInfo
from .request import Adapted, Request
from .weights import check_sample_weight

__all__ = ["NotNumericError", "array_input", "as_float_array", "feature_names"]

_FIX_COLUMNS = "Drop or encode the non-numeric columns first"
_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))


class NotNumericError(TypeError, ValueError):
    """Input data that is not numbers (caught as a TypeError or a ValueError, as
    scikit-learn raises either for it)."""


def feature_names(X: Any) -> np.ndarray | None:
    """X's string column names (pandas, polars, ...) as scikit-learn reads them, or None."""
    if type(X) is np.ndarray:  # none to read (and asking costs a small fit's E-step)
        return None
    return _get_feature_names(X)


def _column_label(names: list[Any] | None, col: int) -> str:
    return repr(str(names[col])) if names is not None else str(col)


def _not_numeric(label: str, what: str) -> NotNumericError:
    return NotNumericError(
        f"X must hold numbers only, but column {label} {what}. {_FIX_COLUMNS} (for example "
        "with X.select_dtypes('number') for a pandas frame, or an encoder from "
        "sklearn.preprocessing)."
    )


def _complex(where: str) -> ValueError:
    return ValueError(
        f"Complex data not supported: {where} is complex. Pass real numbers, for example "
        "the real and imaginary parts as separate columns."
    )


def _check_frame_columns(X: Any) -> None:
    """Reject a data frame's non-numeric columns by name, before any conversion."""
    dtypes = getattr(X, "dtypes", None)
    columns = getattr(X, "columns", None)
    if dtypes is None or columns is None or isinstance(X, np.ndarray):
        return
    names = [str(c) for c in columns]
    for i, dtype in enumerate(list(dtypes)):
        kind = _dtype_kind(dtype)
        if kind == "complex":
            raise _complex(f"column {_column_label(names, i)}")
        if kind not in ("number", "object"):
            raise _not_numeric(_column_label(names, i), f"has dtype {dtype} ({kind})")


def _dtype_kind(dtype: Any) -> str:
    """'number', 'complex', 'object' (decided by its values) or what else it is."""
    module = type(dtype).__module__
    if module.startswith("polars"):
        if dtype.is_numeric() or str(dtype) == "Boolean":
            return "number"
        return "text" if str(dtype) in ("String", "Utf8") else "not a number"
    name = str(dtype).lower()
    if "categor" in name:
        return "categorical"
    if "date" in name or "time" in name or "period" in name or "interval" in name:
        return "a date or time"
    if name in ("string", "str") or name.startswith("string["):
        return "text"
    try:
        np_dtype = np.dtype(getattr(dtype, "numpy_dtype", dtype))
    except TypeError:
        return "not a number"
    if np_dtype.kind == "c":
        return "complex"
    if np_dtype.kind == "O":
        return "object"
    return "number" if np_dtype.kind in "biuf" else "not a number"


def _first_unconvertible(X: np.ndarray, names: list[Any] | None) -> NotNumericError | None:
    """The error naming the first entry of an object/string array that is not a number."""
    for col in range(X.shape[1]):
        column = X[:, col]
        try:
            column.astype(np.float64)
        except (TypeError, ValueError):
            for row, value in enumerate(column):
                if value is None:  # None is NaN, a missing value
                    continue
                try:
                    float(value)
                except (TypeError, ValueError) as exc:
                    return _not_numeric(
                        _column_label(names, col),
                        f"holds {value!r} at row {row}, which is not a number ({exc})",
                    )
    return None


def as_float_array(X: Any, *, estimator: str, name: str = "X") -> np.ndarray:
    """X as a 2-D float64 or float32 NumPy array (not yet checked for values).

    Raises
    ------
    TypeError
        For non-numeric data (naming the column and value), sparse matrices,
        generators and iterators.
    ValueError
        For complex data, or the wrong number of dimensions or an empty array
        (scikit-learn's messages).
    """
    if isinstance(X, Iterator):
        raise TypeError(
            f"{name} is an iterator ({type(X).__name__}); GaussianMixture needs all rows at "
            f"once: pass an array or a list, for example np.array(list({name})), or use "
            "gaussmix.scan for a file read in chunks."
        )
    _check_frame_columns(X)
    names = None if getattr(X, "columns", None) is None else list(X.columns)
    if not isinstance(X, np.ndarray) and hasattr(X, "__array_namespace__"):
        X = _from_array_api(X)
    raw = X if isinstance(X, np.ndarray) else None
    if raw is None and not _is_frame(X) and not _is_sparse(X):
        try:
            raw = np.asarray(X)
        except (TypeError, ValueError):
            raw = None  # ragged lists and the like: scikit-learn's message below
    if raw is not None:
        if raw.dtype.kind == "c":
            raise _complex(name)
        if raw.dtype.kind in "mM":
            raise _not_numeric("(all)", f"has dtype {raw.dtype} (a date or time)")
        if raw.dtype.kind in "OUS" and raw.ndim == 2:
            error = _first_unconvertible(raw, names)
            if error is not None:
                raise error
        if raw.dtype.kind == "V":
            raise TypeError(f"{name} is a structured array; pass a plain 2-D numeric array.")
        X = raw
        if type(raw) is np.ndarray and raw.ndim == 2 and raw.size and raw.dtype in _FLOATS:
            # What check_array would return unchanged; skipping it skips its data-frame
            # probe too (narwhals looking up its plugins: 0.1 s in a fresh process).
            return raw
    try:
        return check_array(
            X,
            dtype=[np.float64, np.float32],
            ensure_all_finite=False,
            estimator=estimator,
            input_name=name,
        )
    except (TypeError, ValueError) as exc:
        if _is_frame(X) and "convert" in str(exc):  # an object column: name it
            error = _first_unconvertible(np.asarray(X, dtype=object), names)
            if error is not None:
                raise error from None
        raise _explain(exc, name) from None


def _is_frame(X: Any) -> bool:
    return hasattr(X, "columns") and hasattr(X, "dtypes")


def _is_sparse(X: Any) -> bool:
    import scipy.sparse

    return bool(scipy.sparse.issparse(X))


def _from_array_api(X: Any) -> Any:
    """An array-API array (``array_api_strict``, CuPy, ...) as NumPy, on the host."""
    try:
        return np.from_dlpack(X)
    except (TypeError, ValueError, RuntimeError, BufferError, AttributeError):
        pass
    try:
        return np.asarray(X)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(
            f"X is an array of {type(X).__module__} that cannot be read on the host "
            f"({exc}); move it to the CPU or convert it to NumPy first."
        ) from None


def _explain(exc: Exception, name: str) -> Exception:
    text = str(exc)
    if "could not convert" in text or "argument must be" in text:
        return NotNumericError(
            f"{name} must hold numbers only, but converting it to float failed ({text}). "
            f"{_FIX_COLUMNS}."
        )
    if "while dim <= 2 is required" in text:
        return ValueError(
            f"{name} must be a 2-D array of shape (n_samples, n_features). {text} "
            f"Reshape it, for example with {name}.reshape(len({name}), -1)."
        )
    if "Sparse data was passed" in text or "sparse" in text.lower():
        return TypeError(
            f"{text} GaussianMixture works on dense rows; for data too large for memory "
            "use gaussmix.scan or a Dask array."
        )
    return exc


def array_input(X: Any, sample_weight: Any, request: Request) -> Adapted:
    """Rows of in-memory input on the NumPy backend (NaN rows apart under marginalize)."""
    names = feature_names(X)
    array = request.value_check(None)(as_float_array(X, estimator=request.estimator))
    n_rows, n_features = array.shape
    weights = check_sample_weight(sample_weight, n_rows)
    info = InputInfo(
        "array", n_rows, n_features, names, array.dtype, None, "numpy", weights.exponent
    )
    usable = "" if weights.values is None else "with non-zero weight"
    if request.missing != "marginalize" or not np.isnan(array).any():
        return Adapted(NumpyRows(array, weights.values), info, weights.n_positive, usable)
    if request.fitting:
        check_observed_columns(array)
    rows = MissingRows(array, weights.values, NumpyRows)
    n_usable = weights.n_positive
    if rows.empty_index.size:
        usable = "with an observed value" + (" and non-zero weight" if usable else "")
        kept = np.ones(n_rows) if weights.values is None else weights.values
        n_usable = int(np.count_nonzero(np.delete(kept, rows.empty_index)))
        if request.fitting and n_usable >= (request.n_components or 0):
            warnings.warn(
                f"{rows.empty_index.size} row(s) of X have every value missing; they "
                "carry no information and are ignored by the fit.",
                UserWarning,
                stacklevel=5,
            )
    return Adapted(rows, info, n_usable, usable)
