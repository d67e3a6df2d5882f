"""Rows beyond one in-memory array: Dask collections and files read in chunks.

Both are backends of the same engine (see :mod:`gaussmix.backends`): they map the
core's per-block E-step over blocks and merge the statistics exactly; the EM loop
and the M-step stay the core's. Their rows are built by the input boundary
(:mod:`gaussmix._input`), which validates what is known up front and gives them
the checks to run on every block. Nothing here imports Dask until a Dask
collection is actually passed in.
"""

from __future__ import annotations

import sys
from typing import Any

from .blocks import BlockRows

__all__ = ["BlockRows", "is_dask_collection"]


def is_dask_collection(X: Any) -> bool:
    """Whether ``X`` is a Dask collection, without importing Dask to find out."""
    if "dask" not in sys.modules:  # nothing can be a Dask collection before dask is imported
        return False
    from dask import is_dask_collection as is_collection

    return bool(is_collection(X))
