"""What a call asks of the boundary, and what an adapter hands back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .checks import ValueCheck
from .info import InputInfo

__all__ = ["Adapted", "Request"]


@dataclass(frozen=True)
class Request:
    """The options of one call to :func:`gaussmix._input.as_rows`.

    Attributes
    ----------
    missing : {'error', 'marginalize'}
    reg_covar : float
        Decides whether float32 rows are computed in float64.
    device : torch.device or None
        Where tensor rows go (resolved); None: tensors stay put, arrays stay NumPy.
    fitting : bool
        A fit: data is persisted (Dask) and there must be enough rows.
    n_components : int or None
        Components to fit (the enough-rows check), when fitting.
    fitted : (int, ndarray or None) or None
        The fitted model's ``n_features_in_`` and feature names, at inference.
    n_labels : int or None
        The number of components partial labels may name (0..n_labels-1), when
        labels are given.
    estimator : str
        The estimator's name, for messages.
    """

    missing: str = "error"
    reg_covar: float = 1e-6
    device: Any = None
    fitting: bool = False
    n_components: int | None = None
    fitted: tuple[int, np.ndarray | None] | None = None
    n_labels: int | None = None
    estimator: str = "GaussianMixture"

    def value_check(self, kind: str | None) -> ValueCheck:
        """The value checks for an input kind; ``kind`` None: one that can marginalise."""
        marginalize = self.missing == "marginalize"
        return ValueCheck(
            allow_nan=marginalize and kind is None,
            reg_covar=self.reg_covar,
            nan_unsupported=kind if marginalize else None,
        )


class Adapted(NamedTuple):
    """What an adapter returns: the rows, their record, and the rows that can be fitted.

    ``n_usable`` counts the rows that carry information (of non-zero weight, with an
    observed value); ``usable`` says which, for the message (e.g. 'with non-zero
    weight'), or is '' when every row counts.
    """

    rows: Any
    info: InputInfo
    n_usable: int
    usable: str
