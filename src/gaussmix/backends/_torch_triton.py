"""A Triton kernel for the torch backend: the weighted scatter in one pass.

The 'full' E-step on a GPU ends with ``Σ_i r_ik y_ik y_ikᵀ`` for every component,
over a (G, d, b) tensor of whitened coordinates (G = row blocks × components). In
plain torch that is a broadcast pass scaling the tensor by √r (it reads and writes
the whole tensor) and then a batched product (which reads it again). This kernel
reads each tile once, scales it by r in registers and accumulates the d × d
product there, so the tensor is read once and never written.

The products use Triton's ``tf32x3`` precision (each float32 operand split into
two TF32 halves, three tensor-core products): the error is a few float32
roundings, as for ``FULL_KERNEL = 'tf32x3'`` in :mod:`gaussmix.backends.torch`.

Imported only when that backend runs the 'fused' kernel on a CUDA device; without
Triton (``import triton`` fails) the backend keeps the plain torch path.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

__all__ = ["MAX_FEATURES", "weighted_gram"]

MAX_FEATURES = 128
"""Largest d the kernel takes (one program holds a d-by-d float32 accumulator)."""


@triton.jit
def _weighted_gram_kernel(
    work_ptr,
    resp_ptr,
    out_ptr,
    d,
    b,
    K,
    resp_stride,
    BLOCK_D: tl.constexpr,
    BLOCK_T: tl.constexpr,
):
    # One program per group g = j·K + k: block j of the chunk's rows, component k.
    g = tl.program_id(0)
    j = g // K
    k = g % K
    rows = tl.arange(0, BLOCK_D)
    cols = tl.arange(0, BLOCK_T)
    tile = work_ptr + g.to(tl.int64) * d * b + rows[:, None] * b + cols[None, :]
    resp = resp_ptr + k.to(tl.int64) * resp_stride + j.to(tl.int64) * b + cols
    acc = tl.zeros((BLOCK_D, BLOCK_D), dtype=tl.float32)
    for start in range(0, b, BLOCK_T):
        inside = (start + cols) < b
        y = tl.load(tile + start, mask=(rows[:, None] < d) & inside[None, :], other=0.0)
        r = tl.load(resp + start, mask=inside, other=0.0)
        acc = tl.dot(y * r[None, :], tl.trans(y), acc, input_precision="tf32x3")
    out = out_ptr + g.to(tl.int64) * d * d + rows[:, None] * d + rows[None, :]
    tl.store(out, acc, mask=(rows[:, None] < d) & (rows[None, :] < d))


def weighted_gram(work: torch.Tensor, resp: torch.Tensor) -> torch.Tensor:
    """``Σ_t r y yᵀ`` for every block and component of the whitened coordinates.

    Parameters
    ----------
    work : tensor of shape (s, K, d, b), float32, contiguous, on a CUDA device
        Whitened coordinates: block j of the chunk's rows (rows j·b to (j+1)·b),
        component k, feature, row.
    resp : tensor of shape (K, s·b), float32
        (Weighted) responsibilities of the chunk's rows, rows in order.

    Returns
    -------
    tensor of shape (s, K, d, d), float32
        ``out[j, k] = Σ_t resp[k, j·b + t] · work[j, k, :, t] work[j, k, :, t]ᵀ``.
    """
    s, K, d, b = work.shape
    if d > MAX_FEATURES:
        raise ValueError(f"weighted_gram takes at most {MAX_FEATURES} features, got {d}")
    work = work.contiguous()
    resp = resp.contiguous()
    out = torch.empty(s, K, d, d, dtype=torch.float32, device=work.device)
    block_d = max(16, triton.next_power_of_2(d))
    _weighted_gram_kernel[(s * K,)](
        work,
        resp,
        out,
        d,
        b,
        K,
        resp.stride(0),
        BLOCK_D=block_d,
        BLOCK_T=64 if block_d <= 64 else 32,
        num_warps=4,
        num_stages=3,
    )
    return out
