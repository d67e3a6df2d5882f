"""Rows beyond one in-memory array: Dask collections and files read in chunks.

Both are backends of the same engine (see :mod:`gaussmix.backends`): they map the
core's per-block E-step over blocks and merge the statistics exactly; the EM loop
and the M-step stay the core's. Nothing here imports Dask until a Dask collection
is actually passed in.
"""

from __future__ import annotations

import sys
from typing import Any

from ..scan import Scan
from .blocks import BlockRows
from .scan import ScanRows

__all__ = ["BlockRows", "block_rows", "is_dask_collection"]


def is_dask_collection(X: Any) -> bool:
    """Whether ``X`` is a Dask collection, without importing Dask to find out."""
    if "dask" not in sys.modules:  # nothing can be a Dask collection before dask is imported
        return False
    from dask import is_dask_collection as is_collection

    return bool(is_collection(X))


def block_rows(X: Any, sample_weight: Any = None, *, persist: bool = False) -> BlockRows | None:
    """The rows object for a Dask collection or a :func:`gaussmix.scan`, else None.

    Parameters
    ----------
    X : any
    sample_weight : array-like of shape (n,), Dask array, or None
    persist : bool
        Persist Dask data once (for fitting, which passes over it many times).
    """
    if isinstance(X, Scan):
        return ScanRows(X, sample_weight)
    if is_dask_collection(X):
        from .dask import DaskRows

        return DaskRows(X, sample_weight, persist=persist)
    return None
