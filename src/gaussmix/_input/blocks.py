"""Adapters for sources read block by block: ``gaussmix.scan`` files and Dask collections.

Nothing is gathered to check them. What is known up front (shape, dtypes, column
types) is checked here; the values are checked by the boundary's
:class:`~.checks.ValueCheck`, which the rows run on every block as it streams,
naming the global row of the first bad value. Weights are checked here in one
pass (they are n numbers, not n × d).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..scan import Scan
from .arrays import NotNumericError
from .checks import ValueCheck
from .info import InputInfo
from .request import Adapted, Request
from .weights import check_sample_weight, combine, scale_exponent, summarize

__all__ = ["as_dask_array", "dask_input", "scan_input"]


def _no_rows(n_features: int) -> ValueError:
    return ValueError(
        f"Found array with 0 sample(s) (shape=(0, {n_features})) while a minimum of 1 is required."
    )


def scan_input(X: Scan, sample_weight: Any, request: Request) -> Adapted:
    """Rows of a :func:`gaussmix.scan` file; each pass reads and checks it chunk by chunk."""
    from ..distributed.scan import ScanRows

    n_rows, n_features = X.shape
    if n_rows == 0:
        raise _no_rows(n_features)
    weights = check_sample_weight(sample_weight, n_rows)
    rows = ScanRows(X, weights.values, request.value_check("scan"))
    info = InputInfo("scan", n_rows, n_features, None, X.dtype, None, "numpy", weights.exponent)
    usable = "" if weights.values is None else "with non-zero weight"
    return Adapted(rows, info, weights.n_positive, usable)


# -- Dask --------------------------------------------------------------------------
def as_dask_array(X: Any) -> Any:
    """A 2-D float Dask array of X's rows, one block along the columns.

    A DataFrame's partition lengths stay unknown (NaN chunks) until computed.

    Parameters
    ----------
    X : dask.array.Array or dask DataFrame (numeric columns)

    Raises
    ------
    TypeError
        If X is another kind of Dask collection or has non-numeric columns.
    ValueError
        If X is not two-dimensional, or is complex.
    """
    import dask.array as da

    if not isinstance(X, da.Array):
        X = _frame_to_array(X)
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2D dask array of shape (n_samples, n_features); got shape {X.shape}. "
            "Reshape it, for example with X.reshape(-1, 1) for a single feature."
        )
    kind = np.dtype(X.dtype).kind
    if kind == "c":
        raise ValueError(
            f"Complex data not supported: the dask array is {X.dtype}. Pass real numbers, "
            "for example the real and imaginary parts as separate columns."
        )
    if kind not in "biuf":
        raise NotNumericError(
            f"X must hold numbers only, but the dask array has dtype {X.dtype}. Convert "
            "it to a numeric dtype first."
        )
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    return X.rechunk({1: -1})


def _frame_to_array(X: Any) -> Any:
    """A dask DataFrame's (or Series') numeric columns as an array (needs dask[dataframe])."""
    import dask.dataframe as dd
    from pandas.api.types import is_complex_dtype, is_numeric_dtype

    if isinstance(X, dd.Series):
        X = X.to_frame()
    if not isinstance(X, dd.DataFrame):
        raise TypeError(
            f"Expected a dask array or dask DataFrame; got {type(X).__name__}. "
            "Convert it with dask.array.from_array or pass a NumPy array."
        )
    complex_columns = [str(c) for c, t in X.dtypes.items() if is_complex_dtype(t)]
    if complex_columns:
        raise ValueError(
            f"Complex data not supported: the dask DataFrame's columns {complex_columns} are "
            "complex. Pass real numbers, for example the real and imaginary parts as "
            "separate columns."
        )
    bad = {str(c): str(t) for c, t in X.dtypes.items() if not is_numeric_dtype(t)}
    if bad:
        raise NotNumericError(
            f"X must hold numbers only, but the dask DataFrame has non-numeric columns "
            f"{list(bad)} (dtypes {', '.join(bad.values())}). Drop or encode them first, for "
            "example with X.select_dtypes('number')."
        )
    return X.to_dask_array()


def _dask_weights(sample_weight: Any, X: Any) -> tuple[Any, int, float, int]:
    """Validated, scaled Dask weights chunked like X, their non-zero count, total and scale.

    The scale is the power of two the weights were multiplied by (see
    :mod:`.weights`).
    """
    import dask
    import dask.array as da

    from ..distributed import is_dask_collection

    n, row_chunks = int(X.shape[0]), (X.chunks[0],)
    if not is_dask_collection(sample_weight):
        checked = check_sample_weight(sample_weight, n)
        assert checked.values is not None
        w = da.from_array(checked.values, chunks=row_chunks)
        return w, checked.n_positive, float(checked.values.sum()), checked.exponent
    if not isinstance(sample_weight, da.Array):  # a dask Series
        sample_weight = sample_weight.to_dask_array(lengths=True)
    if sample_weight.shape != (n,):
        raise ValueError(
            f"sample_weight must have shape ({n},), one weight per row of X; "
            f"got shape {sample_weight.shape}."
        )
    if np.dtype(sample_weight.dtype).kind not in "biuf":
        raise ValueError(
            f"sample_weight must hold real numbers; got a dask array of dtype "
            f"{sample_weight.dtype}."
        )
    w = sample_weight.astype(np.float64).rechunk(row_chunks)
    starts = np.concatenate([[0], np.cumsum(row_chunks[0])[:-1]])
    blocks = w.to_delayed().ravel()
    summaries = dask.compute(
        *[dask.delayed(summarize)(b, int(s)) for b, s in zip(blocks, starts, strict=True)]
    )
    largest, n_positive = combine(summaries)
    exponent = scale_exponent(largest)
    w = da.map_blocks(np.ldexp, w, exponent, dtype=np.float64)
    (total,) = dask.compute(w.sum())
    return w, n_positive, float(total), exponent


def _frame_names(X: Any) -> np.ndarray | None:
    """A Dask DataFrame's column names when they are all strings (as for pandas)."""
    columns = list(getattr(X, "columns", []))
    if columns and all(isinstance(c, str) for c in columns):
        return np.asarray(columns, dtype=object)
    return None


def dask_input(X: Any, sample_weight: Any, request: Request) -> Adapted:
    """Rows of a Dask array or DataFrame; every block is checked where it is computed."""
    from ..distributed.dask import DaskRows

    names = _frame_names(X)
    X = as_dask_array(X)
    if request.fitting:
        X = X.persist()  # a fit passes over the data many times
    if any(np.isnan(c) for c in X.chunks[0]):
        X = X.compute_chunk_sizes()  # DataFrames: cheap once persisted
    n_rows, n_features = int(X.shape[0]), int(X.shape[1])
    if n_rows == 0:
        raise _no_rows(n_features)
    if sample_weight is None:
        w, n_usable, total, exponent = None, n_rows, float(n_rows), 0
    else:
        w, n_usable, total, exponent = _dask_weights(sample_weight, X)
        if request.fitting:
            w = w.persist()
    check: ValueCheck = request.value_check("Dask")
    rows = DaskRows(X, w, total, check)
    info = InputInfo("dask", n_rows, n_features, names, np.dtype(X.dtype), None, "dask", exponent)
    return Adapted(rows, info, n_usable, "" if w is None else "with non-zero weight")
