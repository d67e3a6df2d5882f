"""Torch tensors at the edge of the NumPy-only code: in as float64 arrays, out as tensors."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

__all__ = ["like", "tensor_of", "to_numpy"]


def tensor_of(values: Any) -> Any:
    """``values`` if it is a torch tensor (results then go back as tensors), else None.

    torch is never imported here: a tensor exists only if torch is loaded.
    """
    torch = sys.modules.get("torch")
    return values if torch is not None and isinstance(values, torch.Tensor) else None


def to_numpy(values: Any) -> Any:
    """A tensor as a float64 NumPy array (copied to the CPU); anything else unchanged."""
    if tensor_of(values) is not None:
        return values.detach().to("cpu").double().numpy()
    return values


def like(array: np.ndarray, tensor: Any) -> Any:
    """``array`` as a float64 tensor on ``tensor``'s device, or itself when ``tensor`` is None."""
    if tensor is None:
        return array
    import torch

    return torch.from_numpy(np.ascontiguousarray(array)).to(device=tensor.device)
