"""The torch adapter: tensors where they live, or arrays moved to a requested device.

Imported only when a tensor is passed or a device is asked for. Tensor checks run
on the device (one host synchronisation for the values: their minimum and
maximum) and raise the boundary's errors (:mod:`.checks`); arrays are converted
and checked on the host first, exactly as on the NumPy path. Weights go through
the one validator (:mod:`.weights`) on the host, then to the device.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from .._core.limits import MAX_MAGNITUDE
from ..backends.torch import TorchRows, resolve_device
from .arrays import as_float_array, feature_names
from .checks import (
    infinite_error,
    magnitude_error,
    marginalize_unavailable,
    needs_float64,
    nonfinite_error,
)
from .info import InputInfo
from .request import Adapted, Request
from .weights import check_sample_weight

__all__ = ["check_device", "torch_input"]


def check_device(spec: Any) -> torch.device:
    """The torch device ``device=spec`` names.

    Raises
    ------
    ValueError
        If ``spec`` names no device here, or one that holds no data ('meta').
    """
    device = resolve_device(spec)
    if device.type == "meta":
        raise ValueError(
            f"Invalid value for 'device': {spec!r} is torch's 'meta' device, which holds no "
            "data. Use 'cpu', a GPU such as 'cuda', 'auto' or None."
        )
    return device


def _float_tensor(X: torch.Tensor) -> torch.Tensor:
    """``X`` detached, in float32 or float64, as NumPy input is converted."""
    X = X.detach()
    if X.is_complex():
        raise ValueError(
            "Complex data not supported: X is a complex tensor. Pass real numbers, for "
            "example the real and imaginary parts as separate columns."
        )
    if X.dtype in (torch.float32, torch.float64):
        return X
    if X.is_floating_point():  # float16, bfloat16, float8 ...
        return X.to(torch.float32)
    return X.to(torch.float64)  # integers and bools, as scikit-learn converts them


def _check_shape(X: torch.Tensor, estimator: str) -> None:
    """scikit-learn's shape checks, with its messages."""
    if X.ndim >= 3:
        raise ValueError(
            "X must be a 2-D array of shape (n_samples, n_features). Found array with "
            f"dim {X.ndim}, while dim <= 2 is required by {estimator}. Reshape it, for "
            "example with X.reshape(len(X), -1)."
        )
    if X.ndim < 2:
        what = "scalar" if X.ndim == 0 else "1D"
        raise ValueError(
            f"Expected 2D array, got {what} array instead. Reshape your data either using "
            "X.reshape(-1, 1) if your data has a single feature or X.reshape(1, -1) if it "
            "contains a single sample."
        )
    for axis, what in ((0, "sample"), (1, "feature")):
        if X.shape[axis] < 1:
            raise ValueError(
                f"Found array with 0 {what}(s) (shape={tuple(X.shape)}) while a minimum of "
                f"1 is required by {estimator}."
            )


def _first(mask: torch.Tensor) -> tuple[int, int]:
    flat = int(torch.nonzero(mask.flatten())[0, 0])
    return divmod(flat, int(mask.shape[1]))


def _check_values(X: torch.Tensor, request: Request) -> torch.Tensor:
    """The boundary's value checks on the device; X, or X in float64 (see checks).

    A CPU tensor is checked as the NumPy array it shares memory with, by the array
    boundary's own check: no torch operation, whose threads then spin on and slow the
    NumPy kernels that fit CPU tensors (bench/RESULTS.md, torch CPU tensors).
    """
    if X.device.type == "cpu":
        view = X.numpy()
        checked = request.value_check("torch")(view)
        return X if checked is view else torch.from_numpy(checked)
    low, high = torch.stack([X.min(), X.max()]).tolist()  # NaN propagates: one sync
    if not (math.isfinite(low) and math.isfinite(high)):
        row, col = _first(~torch.isfinite(X))
        value = float(X[row, col])
        if math.isnan(value) and request.missing == "marginalize":
            raise marginalize_unavailable("torch", row, col)
        if request.missing == "marginalize":
            raise infinite_error(value, row, col)
        raise nonfinite_error(value, row, col)
    top = max(-low, high)
    if top > MAX_MAGNITUDE:
        row, col = _first(X.abs() > MAX_MAGNITUDE)
        raise magnitude_error(float(X[row, col]), row, col)
    if needs_float64(X.dtype == torch.float32, top, request.reg_covar):
        return X.to(torch.float64)
    return X


def torch_input(X: Any, sample_weight: Any, request: Request) -> Adapted:
    """Rows of a tensor (or of an array moved to ``request.device``), validated.

    A tensor stays where it is unless a device is requested, and its results come
    back as tensors there; array input comes back as NumPy arrays.
    """
    names = None
    if isinstance(X, torch.Tensor):
        _check_shape(X, request.estimator)
        X = _float_tensor(X)
        if request.device is not None:
            X = X.to(request.device)
        X = _check_values(X, request)
        output = "tensor"
    else:
        names = feature_names(X)
        array = request.value_check("torch")(as_float_array(X, estimator=request.estimator))
        array = np.ascontiguousarray(array)
        if not array.flags.writeable:  # torch shares only writable memory
            array = array.copy()
        X = torch.from_numpy(array).to(request.device)
        output = "numpy"
    X = X.contiguous()
    n = int(X.shape[0])
    checked = check_sample_weight(sample_weight, n)
    weights = None if checked.values is None else torch.from_numpy(checked.values).to(X.device)
    # (TorchRows keeps device copies of parameters itself, by the arrays' identity:
    # repeated predictions with one model copy its parameters to the device once.)
    rows = TorchRows(X, weights, numpy_out=output == "numpy")
    info = InputInfo(
        kind="torch",
        n_rows=n,
        n_features=int(X.shape[1]),
        feature_names=names,
        dtype=np.dtype(str(X.dtype).removeprefix("torch.")),
        device=str(X.device),
        output=output,
        weight_exponent=checked.exponent,
    )
    return Adapted(
        rows, info, checked.n_positive, "" if weights is None else "with non-zero weight"
    )
