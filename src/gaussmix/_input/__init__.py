"""The input boundary: whatever the user passed, as validated rows and a record of it.

:func:`as_rows` asks a small table of adapters, in order, which one takes ``X``:

=========  ===================================================  ======================
adapter    takes                                                rows
=========  ===================================================  ======================
scan       :func:`gaussmix.scan` files                          ``ScanRows``
dask       Dask arrays and DataFrames                           ``DaskRows``
torch      torch tensors, and any in-memory input when a        ``TorchRows``
           ``device`` is asked for
array      everything else: NumPy arrays, lists, pandas and     ``NumpyRows``
           polars frames, array-API arrays (read as NumPy)      (``MissingRows`` with
                                                                NaN, ``marginalize``)
=========  ===================================================  ======================

Every adapter runs the same checks with the same messages (:mod:`.checks`,
:mod:`.weights`): numeric dtype (complex, datetime, string and categorical data
rejected, naming the column), finite values (NaN allowed as missing under
``missing='marginalize'`` where the backend supports it: in-memory arrays), the
magnitude limit ±``MAX_MAGNITUDE`` (float32 rows too large or too small for
float32 squares computed in float64), one weight validator, and, when fitting,
enough rows for the components; at inference, the feature count and names
against the fitted model's. Sources read in blocks are checked block by block as
they stream, never gathered. Partial labels (``semi_supervised=True``'s y) are
checked by one validator for every kind (:mod:`.labels`). Nothing below the
boundary re-checks user input, and no
backend ever sees the estimator: it applies the returned
:class:`~.info.InputInfo` to itself.

Importing this package imports neither torch nor Dask; their adapters load only
for their inputs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from .._core.labels import LabelledRows
from ..distributed import is_dask_collection
from ..scan import Scan
from .arrays import array_input, as_float_array, feature_names
from .checks import ValueCheck, check_enough_rows
from .info import InputInfo, check_against_fit
from .labels import check_labels
from .request import Adapted, Request
from .weights import Weights, check_sample_weight

__all__ = [
    "InputInfo",
    "Request",
    "ValueCheck",
    "Weights",
    "as_array",
    "as_rows",
    "check_device",
    "check_sample_weight",
    "is_tensor",
]


def is_tensor(X: Any) -> bool:
    """Whether X is a torch tensor, without importing torch."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(X, torch.Tensor)


def _torch_input(X: Any, sample_weight: Any, request: Request) -> Adapted:
    from .tensors import torch_input

    return torch_input(X, sample_weight, request)


def _scan_input(X: Any, sample_weight: Any, request: Request) -> Adapted:
    from .blocks import scan_input

    return scan_input(X, sample_weight, request)


def _dask_input(X: Any, sample_weight: Any, request: Request) -> Adapted:
    from .blocks import dask_input

    return dask_input(X, sample_weight, request)


Adapter = Callable[[Any, Any, Request], Adapted]
_ADAPTERS: list[tuple[str, Callable[[Any, Request], bool], Adapter]] = [
    ("scan", lambda X, r: isinstance(X, Scan), _scan_input),
    ("dask", lambda X, r: is_dask_collection(X), _dask_input),
    ("torch", lambda X, r: is_tensor(X) or r.device is not None, _torch_input),
    ("array", lambda X, r: True, array_input),
]
"""(name, takes(X, request), adapter), asked in order; the last takes anything."""


def check_device(spec: Any) -> Any:
    """The torch device ``device=spec`` names, or None for None (imports torch only then).

    Raises
    ------
    ImportError
        If a device is asked for and PyTorch is not installed.
    ValueError
        If ``spec`` names no usable device here.
    """
    if spec is None:
        return None
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "GaussianMixture(device=...) and torch tensor input need PyTorch, which is not "
            'installed. Install it with: pip install "gaussmix[torch]"'
        ) from exc
    from .tensors import check_device as check_torch_device

    return check_torch_device(spec)


def as_rows(
    X: Any, sample_weight: Any = None, *, request: Request, labels: Any = None
) -> tuple[Any, InputInfo]:
    """Validated rows of ``X`` (and ``sample_weight``) for the backend that suits it.

    Parameters
    ----------
    X : array-like, data frame, tensor, Dask collection or :class:`gaussmix.scan.Scan`
        Of shape (n_samples, n_features).
    sample_weight : array-like of shape (n_samples,), scalar, tensor, Dask array or None
    request : Request
        The call's options: ``missing``, ``reg_covar``, the resolved ``device``,
        whether it fits (and how many components), or the fitted features to
        match at inference.
    labels : array-like of shape (n_samples,), tensor, Dask array or None
        Partial labels (a component index per row, -1 where unknown; see
        :mod:`.labels`), checked against ``request.n_labels`` components.

    Returns
    -------
    rows : Rows
        See :mod:`gaussmix.backends`; with labels, a
        :class:`~gaussmix._core.labels.LabelledRows` around them.
    info : InputInfo

    Raises
    ------
    TypeError, ValueError
        With the boundary's messages (see the module docstring).
    """
    if request.device is not None and (isinstance(X, Scan) or is_dask_collection(X)):
        raise ValueError(
            f"device={request.device!s} works on in-memory arrays and tensors; "
            f"{type(X).__name__} input runs on the NumPy backend: use device=None."
        )
    adapter = next(adapt for _, takes, adapt in _ADAPTERS if takes(X, request))
    rows, info, n_usable, usable = adapter(X, sample_weight, request)
    if request.fitted is not None:
        check_against_fit(info.n_features, info.feature_names, request.fitted, request.estimator)
    if request.fitting and request.n_components is not None:
        check_enough_rows(n_usable, request.n_components, which=usable)
    if labels is not None:
        assert request.n_labels is not None
        checked = check_labels(labels, info.n_rows, request.n_labels)
        rows = LabelledRows(rows, checked, request.n_labels)
    return rows, info


def as_array(X: Any, *, request: Request, name: str = "X") -> tuple[Any, InputInfo]:
    """In-memory ``X`` as a checked float NumPy array (for ``impute`` and ``gmm_em``).

    The same conversion and value checks as :func:`as_rows`' array adapter, and the
    fitted-feature check when ``request.fitted`` is given.
    """
    names = feature_names(X)
    array = as_float_array(X, estimator=request.estimator, name=name)
    check = ValueCheck(
        allow_nan=request.missing == "marginalize", reg_covar=request.reg_covar, name=name
    )
    array = check(array)
    info = InputInfo("array", array.shape[0], array.shape[1], names, array.dtype, None, "numpy")
    if request.fitted is not None:
        check_against_fit(info.n_features, names, request.fitted, request.estimator)
    return array, info
