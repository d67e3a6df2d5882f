"""The one validator of partial labels (``GaussianMixture(semi_supervised=True).fit(X, y)``).

Labels say, per row of X, which component the row belongs to where that is known:
an integer in 0..K-1, or −1 where it is not. They may come as anything
``sample_weight`` may come as (a list, a NumPy array, a pandas or polars Series, a
torch tensor on any device, a Dask array of any chunking): they are n small
integers, so they are brought to the host once, as the weights of a file's rows are.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from ..distributed import is_dask_collection

__all__ = ["check_labels"]


def _on_host(y: Any) -> np.ndarray:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(y, torch.Tensor):
        return np.asarray(y.detach().cpu().numpy())
    if is_dask_collection(y):  # a Dask array or Series
        return np.asarray(y.compute())
    return np.asarray(y)


def check_labels(y: Any, n_rows: int, n_components: int) -> np.ndarray:
    """Validated partial labels, shape (n_rows,), int32 (−1 where unknown).

    Parameters
    ----------
    y : array-like of shape (n_rows,), tensor or Dask array
    n_rows : int
        Rows of X.
    n_components : int
        K: labels name components 0..K-1.

    Raises
    ------
    ValueError
        If ``y`` is not one integer per row, or names no component.
    """
    fix = "(a component index 0..n_components-1 per row of X, or -1 where it is unknown)"
    try:
        labels = _on_host(y)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"y must hold the partial labels {fix}; reading it failed ({exc})."
        ) from None
    if labels.dtype.kind == "O" and labels.size:  # a list of Python ints, or with None
        try:
            labels = labels.astype(np.int64)
        except (TypeError, ValueError):
            kinds = sorted({type(v).__name__ for v in labels.ravel()})
            raise ValueError(
                f"y must hold integers {fix}; got values of type {', '.join(kinds)}."
            ) from None
    if labels.ndim != 1 or labels.shape[0] != n_rows:
        raise ValueError(
            f"y must have shape ({n_rows},), one label per row of X {fix}; got shape "
            f"{labels.shape}."
        )
    if labels.dtype.kind not in "iu" or labels.dtype == np.bool_:
        raise ValueError(
            f"y must hold integers {fix}; got dtype {labels.dtype}. Convert it, for example "
            "with y.astype(int), marking unknown rows with -1."
        )
    bad = np.flatnonzero((labels < -1) | (labels >= n_components))
    if bad.size:
        first = int(bad[0])
        raise ValueError(
            f"y must hold the partial labels {fix}, with n_components={n_components}; got "
            f"{labels[first]} at row {first} ({bad.size} row(s) out of range)."
        )
    return labels.astype(np.int32)
