"""The torch backend's E-step kernels, one per density form, and its array operations.

``KERNELS[form.name]`` is the kernel of a density form (see
:class:`gaussmix._core.estep.FormKernel`, whose algorithm drives them through
:data:`TORCH`). Rows are centred by a shift ``c`` (the mixture's mean
Σ_k π_k μ_k, which after the first M-step is the data's weighted mean); every
kernel works with batched matrix products, no Python loop over components.

'full', the costly case: rows are padded with a column of ones, so one batched
product gives every component's whitened coordinates at once::

    y_k = [x - c, 1] @ [[P_k], [-(μ_k - c) P_k]]  =  (x - μ_k) P_k

computed as (K·d, p) @ (p, rows/s) for blocks of rows ('blocks': wide products
suit GPU matrix kernels) or as (rows, p) @ (p, d) per component ('batched').
``|y_k|²`` is the Mahalanobis distance, and after the responsibilities the same
tensor, scaled in place by √(w r_k), gives the scatter about the current means in
whitened coordinates with one more batched product, ``Σ_i w r_ik y yᵀ``. On a
CUDA device the default kernel, 'fused', does the first product on tensor cores
(three TF32 products, see :func:`_tf32x3_bmm`) and the scaling and scatter in one
Triton kernel that reads the tensor once (``FULL_KERNEL`` lists the kernels). It
is mapped back once per E-step, ``S_k = P_k⁻ᵀ (Σ w r y yᵀ) P_k⁻¹`` in float64.
'shared' does the same with the shared factor; 'diagonal' and 'spherical' use the
per-component differences directly. Peak memory beyond the data is one
(K, chunk, d) work tensor.

float32 rows stay float32 in the row-wise work (distances, densities,
responsibilities and the per-chunk products); each chunk's moments are float64,
and so is everything after. Centring the rows (by ``c``, then by each
component's mean inside the whitened coordinates) keeps float32 products free of
the cancellation a data offset would cause.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import numpy as np
import torch

from .._core.covariance import DensityForm, Params
from .._core.covariance.forms import Diagonal, Full, Shared, Spherical
from .._core.estep import Quadratic, Sums, quadratic

__all__ = ["FULL_KERNEL", "KERNELS", "TORCH", "TorchKernel", "TorchOps", "device_plan"]

_F64 = torch.float64
FULL_KERNEL: str | None = None
"""How 'full' computes the whitened coordinates; None: 'fused' on a CUDA device,
'blocks' elsewhere (bench/gpu.py times them; on an H200 at n=1e6, d=64, K=64 the
E-step took 52.4 ms with 'blocks', 46.3 ms with 'tf32x3', 31.1 ms with 'fused'):
'batched', one product per component, (rows, p) @ (p, d), laid out (K, rows, d);
'blocks', one product per block of rows, (K·d, p) @ (p, rows/s), laid out
(s, K, d, rows/s): wide outputs, which suit GPU matrix kernels better (on an H200
its E-step ran 18% faster); 'tf32x3', the 'blocks' product for float32 rows done
on tensor cores as three TF32 products (see :func:`_tf32x3_bmm`), whose error is
a few float32 roundings rather than one; or 'fused', 'tf32x3' plus, on a CUDA
device with Triton, the weighted scatter as one Triton kernel that reads the
whitened coordinates once (:mod:`gaussmix.backends._torch_triton`) instead of a
scaling pass and a product. 'batched' and 'blocks' are exact float32 (or float64)
products; the others fall back to 'blocks' for float64 rows."""


# -- array operations ------------------------------------------------------------------
class TorchOps:
    """:class:`gaussmix._core.xp.ArrayOps` for tensors: no host synchronisation
    inside a chunk; responsibilities in the rows' dtype."""

    float64 = _F64

    @staticmethod
    def where(condition: torch.Tensor, a: Any, b: Any) -> torch.Tensor:
        return torch.where(condition, a, b)

    @staticmethod
    def log(a: torch.Tensor) -> torch.Tensor:
        return torch.log(a)

    @staticmethod
    def isfinite(a: torch.Tensor) -> torch.Tensor:
        return torch.isfinite(a)

    @staticmethod
    def exp(a: torch.Tensor) -> torch.Tensor:
        return torch.exp(a)

    @staticmethod
    def any(a: torch.Tensor) -> bool:
        return bool(a.any())

    @staticmethod
    def top(wlp: torch.Tensor) -> torch.Tensor:
        return wlp.amax(0)

    @staticmethod
    def shifted(wlp: torch.Tensor, top: torch.Tensor) -> torch.Tensor:
        return wlp.sub_(top)

    @staticmethod
    def exp_shifted(wlp: torch.Tensor, top: torch.Tensor) -> torch.Tensor:
        return wlp.sub_(top).exp_()

    @staticmethod
    def reciprocal_scale(weights: torch.Tensor | None, s: torch.Tensor) -> torch.Tensor:
        return s.reciprocal_() if weights is None else (weights / s).to(s.dtype)

    @staticmethod
    def flush_(rw: torch.Tensor) -> None:
        # Subnormals are slow on x86 CPUs only; on a GPU the pass would cost time for nothing.
        if rw.device.type == "cpu":
            rw.masked_fill_(rw < torch.finfo(rw.dtype).tiny, 0.0)

    @staticmethod
    def sum64(a: torch.Tensor) -> torch.Tensor:
        return a.sum(dtype=_F64)

    @staticmethod
    def dot64(w: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return torch.dot(w, a.to(_F64))

    @staticmethod
    def may_overflow(wlp: torch.Tensor) -> bool:
        return wlp.dtype.itemsize < 8

    @staticmethod
    def drop_rows(
        wlp: torch.Tensor, top: torch.Tensor, weights: torch.Tensor | None, bad: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # Masks, not a test of bad.any(): that would wait for the device.
        wlp.masked_fill_(bad, 0.0)
        top.masked_fill_(bad, 0.0)
        kept = torch.ones_like(top, dtype=_F64) if weights is None else weights
        return kept.masked_fill(bad, 0.0), bad.sum()

    @staticmethod
    def to_float64(a: torch.Tensor) -> torch.Tensor:
        return a.to(_F64)

    @staticmethod
    def cast_like(a: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return a.to(like.dtype)


TORCH = TorchOps()


# -- plans -------------------------------------------------------------------------------
class Plan(NamedTuple):
    """A :class:`Quadratic` on the device, prepared for one density form and dtype.

    ``shift`` is subtracted from every row (in the rows' dtype) and ``centres``
    are the means relative to it, rounded to the rows' dtype; ``*64`` are the same
    values in float64. ``const`` is the bias in the rows' dtype. ``prec`` holds
    the precision factors in the rows' dtype ('full': padded to (K, p, d) with the
    bias row), ``extra`` what the form's kernel adds (see each kernel), and
    ``back`` what maps whitened scatter back (float64).
    """

    K: int
    shift: torch.Tensor
    shift64: torch.Tensor
    centres: torch.Tensor
    centres64: torch.Tensor
    const: torch.Tensor
    prec: torch.Tensor
    extra: torch.Tensor | None
    back: torch.Tensor | None


def _triangle(P: np.ndarray) -> bool | None:
    """True if every matrix in ``P`` (..., d, d) is upper triangular, False if lower."""
    below = np.tril_indices(P.shape[-1], -1)
    if not np.any(P[..., below[0], below[1]]):
        return True
    if not np.any(P[..., below[1], below[0]]):
        return False
    return None


def _inverse(P64: torch.Tensor, upper: bool | None) -> torch.Tensor:
    """Inverse of (a batch of) precision factors, without a host synchronisation."""
    if upper is None:
        return torch.linalg.inv_ex(P64).inverse
    eye = torch.eye(P64.shape[-1], dtype=P64.dtype, device=P64.device).expand_as(P64)
    return torch.linalg.solve_triangular(P64, eye, upper=upper)


_PLANS: OrderedDict[Any, tuple[tuple[Any, ...], Plan]] = OrderedDict()
_MAX_PLANS = 4  # fitted models in use at once; a fit's own plans die with its iterations


def device_plan(
    kernel: TorchKernel, params: Params, dtype: torch.dtype, device: torch.device
) -> Plan:
    """``kernel``'s plan of ``params`` on ``device``, reused while the same arrays live.

    Inference on many tensors with one fitted model copies its parameters to the
    device once: plans are kept by the identity of the parameter arrays (checked
    by weak references, and dropped when the arrays are), at most ``_MAX_PLANS``.
    """
    arrays = tuple(params)[:4]  # (a noise component is not the kernels': see estep)
    key = (kernel.form.name, str(device), dtype, *map(id, arrays))
    hit = _PLANS.get(key)
    if hit is not None and all(ref() is a for ref, a in zip(hit[0], arrays, strict=True)):
        _PLANS.move_to_end(key)
        return hit[1]
    plan = kernel.plan(quadratic(params, kernel.form), dtype, device)
    try:
        refs = tuple(weakref.ref(a) for a in arrays)
    except TypeError:  # not weakly referenceable: not kept
        return plan
    _PLANS[key] = (refs, plan)
    weakref.finalize(arrays[1], _PLANS.pop, key, None)
    while len(_PLANS) > _MAX_PLANS:
        _PLANS.popitem(last=False)
    return plan


# -- kernels -------------------------------------------------------------------------------
class TorchKernel:
    """A density form's torch kernel; subclasses fold the precisions and compute the
    distances and the scatter, the rest is shared.

    The work a chunk's densities leave for its moments is ``(Xc, tensor)``: the
    shifted rows and the form's per-component coordinates.
    """

    def __init__(self, form: DensityForm) -> None:
        self.form = form

    def plan(self, quad: Quadratic, dtype: torch.dtype, device: torch.device) -> Plan:
        """Fold ``quad`` into tensors on ``device`` for rows of ``dtype`` (one host copy)."""
        weights, means, prec, bias = quad[:4]  # (a noise term is the E-step's, not a kernel's)
        K, d = means.shape
        shift_host = np.asarray(weights @ means / max(weights.sum(), np.finfo(float).tiny))
        if not np.all(np.isfinite(shift_host)):
            shift_host = np.zeros(d)
        packed = np.concatenate([bias, shift_host, means.ravel(), prec.ravel()])
        flat = torch.from_numpy(packed).to(device)  # the one host-to-device copy
        shift64 = flat[K : K + d].to(dtype).to(_F64)
        means64 = flat[K + d : K + d + K * d].view(K, d)
        P64 = flat[K + d + K * d :].view(prec.shape).to(dtype).to(_F64)  # as the kernels see it
        centres = (means64 - shift64).to(dtype)
        centres64 = centres.to(_F64)
        prec_t, extra, back = self.fold(P64, centres64, dtype, prec)
        const = flat[:K].to(dtype)
        return Plan(K, shift64.to(dtype), shift64, centres, centres64, const, prec_t, extra, back)

    def fold(
        self, P64: torch.Tensor, centres64: torch.Tensor, dtype: torch.dtype, prec: np.ndarray
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """``(prec, extra, back)`` of :class:`Plan` from the factors P64 (float64)."""
        raise NotImplementedError

    def bytes_per_row(self, n_components: int, d: int, itemsize: int, factor: int = 1) -> int:
        """Bytes of a chunk's work tensors per row (``factor`` copies of (K, d))."""
        return factor * itemsize * n_components * (d + 6) + 8 * (2 * d + 8)

    def log_prob(self, X: torch.Tensor, plan: Plan) -> tuple[torch.Tensor, Any]:
        Xc = X - plan.shift
        maha, work = self.distances(Xc, plan)
        return maha.mul_(-0.5).add_(plan.const.unsqueeze(1)), (Xc, work)

    def distances(self, Xc: torch.Tensor, plan: Plan) -> tuple[torch.Tensor, torch.Tensor]:
        """Squared Mahalanobis distances (K, r) and the work tensor for the scatter."""
        raise NotImplementedError

    def moments(
        self, X: torch.Tensor, plan: Plan, rw: torch.Tensor, work: Any
    ) -> tuple[torch.Tensor, ...]:
        """Mass (K,), Σ r (x - c) (K, d) and the whitened scatter about the means, float64."""
        Xc, tensor = work
        mass = rw.sum(1, dtype=_F64)
        first = (rw @ Xc).to(_F64)
        return mass, first, self.scatter(tensor, rw, plan)

    def scatter(self, work: torch.Tensor, rw: torch.Tensor, plan: Plan) -> torch.Tensor:
        """The chunk's scatter about the current means in the kernel's coordinates."""
        raise NotImplementedError

    def centred(
        self, plan: Plan, moments: tuple[torch.Tensor, ...]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        mass, first, second = moments
        first = first - mass[:, None] * plan.centres64  # about the means, not the shift
        return mass, first, self.unwhiten(second, plan), plan.centres64 + plan.shift64

    def unwhiten(self, second: torch.Tensor, plan: Plan) -> torch.Tensor:
        """The scatter in data coordinates (once per E-step)."""
        return second

    def fused_sums(self, X: torch.Tensor, weights: Any, plan: Plan) -> Sums | None:
        return None


class SphericalKernel(TorchKernel):
    """Work: the squared distances |x - μ_k|² (K, r); ``extra`` the precisions σ_k⁻²."""

    def fold(
        self, P64: torch.Tensor, centres64: torch.Tensor, dtype: torch.dtype, prec: np.ndarray
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        P = P64.to(dtype)
        return P, P * P, None

    def distances(self, Xc: torch.Tensor, plan: Plan) -> tuple[torch.Tensor, torch.Tensor]:
        assert plan.extra is not None
        diff = Xc.unsqueeze(0) - plan.centres.unsqueeze(1)
        work = diff.square_().sum(2)  # (K, r) squared distances
        return work * plan.extra.unsqueeze(1), work

    def scatter(self, work: torch.Tensor, rw: torch.Tensor, plan: Plan) -> torch.Tensor:
        return (rw * work).sum(1, dtype=_F64)


class DiagonalKernel(TorchKernel):
    """Work: the squared whitened differences ((x - μ_k) / σ_k)² (K, r, d)."""

    def fold(
        self, P64: torch.Tensor, centres64: torch.Tensor, dtype: torch.dtype, prec: np.ndarray
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        return P64.to(dtype), None, P64 * P64

    def distances(self, Xc: torch.Tensor, plan: Plan) -> tuple[torch.Tensor, torch.Tensor]:
        work = (Xc.unsqueeze(0) - plan.centres.unsqueeze(1)).mul_(plan.prec.unsqueeze(1))
        work.square_()
        return work.sum(2), work

    def scatter(self, work: torch.Tensor, rw: torch.Tensor, plan: Plan) -> torch.Tensor:
        return torch.bmm(rw.unsqueeze(1), work).squeeze(1).to(_F64)

    def unwhiten(self, second: torch.Tensor, plan: Plan) -> torch.Tensor:
        assert plan.back is not None
        return second / plan.back


class SharedKernel(TorchKernel):
    """Work: the whitened differences y_k = (x - c) P - b_k (K, r, d), ``extra`` the
    b_k = (μ_k - c) P."""

    def fold(
        self, P64: torch.Tensor, centres64: torch.Tensor, dtype: torch.dtype, prec: np.ndarray
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        return P64.to(dtype), (centres64 @ P64).to(dtype), _inverse(P64, _triangle(prec))

    def distances(self, Xc: torch.Tensor, plan: Plan) -> tuple[torch.Tensor, torch.Tensor]:
        assert plan.extra is not None
        work = (Xc @ plan.prec).unsqueeze(0) - plan.extra.unsqueeze(1)  # (K, r, d)
        return torch.linalg.vector_norm(work, dim=2).square_(), work

    def scatter(self, work: torch.Tensor, rw: torch.Tensor, plan: Plan) -> torch.Tensor:
        d = work.shape[2]
        work.mul_(rw.sqrt().unsqueeze(2))
        flat = work.view(-1, d)
        return (flat.T @ flat).to(_F64)

    def unwhiten(self, second: torch.Tensor, plan: Plan) -> torch.Tensor:
        assert plan.back is not None
        return plan.back.mT @ second @ plan.back


class FullKernel(TorchKernel):
    """Work: every component's whitened coordinates, (s, K, d, b) ('blocks' and
    the TF32 kernels) or (K, r, d) ('batched'); ``prec`` the padded factors
    (K, p, d), ``extra`` the same stacked (K·d, p)."""

    def fold(
        self, P64: torch.Tensor, centres64: torch.Tensor, dtype: torch.dtype, prec: np.ndarray
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        K, d = centres64.shape
        p = _padded_width(d)
        padded = torch.zeros(K, p, d, dtype=dtype, device=P64.device)
        padded[:, :d] = P64.to(dtype)
        padded[:, d] = -torch.bmm(centres64.unsqueeze(1), P64).squeeze(1).to(dtype)
        stacked = padded.transpose(1, 2).reshape(K * d, p)  # stacked (K·d, p) for 'blocks'
        return padded, stacked, _inverse(P64, _triangle(prec))

    def log_prob(self, X: torch.Tensor, plan: Plan) -> tuple[torch.Tensor, Any]:
        r, d = X.shape
        Xa = torch.zeros(r, _padded_width(d), dtype=X.dtype, device=X.device)
        Xa[:, d] = 1.0
        Xc = torch.sub(X, plan.shift, out=Xa[:, :d])
        maha, work = self.padded_distances(Xa, plan)
        return maha.mul_(-0.5).add_(plan.const.unsqueeze(1)), (Xc, work)

    def padded_distances(self, Xa: torch.Tensor, plan: Plan) -> tuple[torch.Tensor, torch.Tensor]:
        """Distances (K, r) and whitened coordinates of the padded rows ``Xa`` (r, p)."""
        K = plan.K
        kernel = _full_kernel(Xa)
        if kernel == "batched":
            r, p = Xa.shape
            work = torch.bmm(Xa.unsqueeze(0).expand(K, r, p), plan.prec)  # (K, r, d)
            return torch.linalg.vector_norm(work, dim=2).square_(), work
        assert plan.extra is not None
        r, p = Xa.shape
        d = plan.centres.shape[1]
        s = _splits(r, K)
        b = r // s
        blocks = Xa.view(s, b, p).transpose(1, 2)  # (s, p, b)
        if kernel in ("tf32x3", "fused") and Xa.dtype == torch.float32:
            work = _tf32x3_bmm(plan.extra, blocks).view(s, K, d, b)
        else:
            stacked = plan.extra.unsqueeze(0).expand(s, K * d, p)
            work = torch.bmm(stacked, blocks).view(s, K, d, b)
        maha = torch.linalg.vector_norm(work, dim=2).square_().transpose(0, 1).reshape(K, r)
        return maha, work

    def scatter(self, work: torch.Tensor, rw: torch.Tensor, plan: Plan) -> torch.Tensor:
        K = plan.K
        if work.ndim == 4:  # 'blocks': (s, K, d, b)
            s, _, d, b = work.shape
            fused = _fused_kernels(work) if _full_kernel(work) == "fused" else None
            if fused is not None:
                return fused.weighted_gram(work, rw).sum(0, dtype=_F64)
            scale = rw.view(K, s, b).transpose(0, 1).sqrt().contiguous()  # (s, K, b), small
            work.mul_(scale.unsqueeze(2))  # one contiguous broadcast pass over the big tensor
            blocks = work.view(s * K, d, b)
            gram = torch.bmm(blocks, blocks.transpose(1, 2))
            return gram.view(s, K, d, d).sum(0, dtype=_F64)
        _, r, d = work.shape
        work.mul_(rw.sqrt().unsqueeze(2))
        s = _splits(r, K)
        blocks = work.view(K * s, r // s, d)
        gram = torch.bmm(blocks.transpose(1, 2), blocks)
        return gram.view(K, s, d, d).sum(1, dtype=_F64)

    def unwhiten(self, second: torch.Tensor, plan: Plan) -> torch.Tensor:
        assert plan.back is not None
        return plan.back.mT @ second @ plan.back


def _padded_width(d: int) -> int:
    """Columns of the padded rows [x - c, 1, 0...]: d + 1 rounded up to 16 bytes."""
    return -(-(d + 1) // 4) * 4


def _splits(r: int, K: int) -> int:
    """Row blocks per chunk for the scatter's batched product (enough blocks for a GPU)."""
    s = 1
    while s < 32 and K * s < 1024 and r % (2 * s) == 0 and r // (2 * s) >= 1024:
        s *= 2
    return s


def _full_kernel(x: torch.Tensor) -> str:
    """``FULL_KERNEL``, or its default for ``x``'s device."""
    if FULL_KERNEL is not None:
        return FULL_KERNEL
    return "fused" if x.is_cuda else "blocks"


def _fused_kernels(work: torch.Tensor) -> Any | None:
    """The Triton kernels module if it can take ``work`` (CUDA, float32, small d), else None."""
    if not (work.is_cuda and work.dtype == torch.float32):
        return None
    try:
        from . import _torch_triton
    except ImportError:  # no Triton: the plain torch path
        return None
    return _torch_triton if work.shape[-2] <= _torch_triton.MAX_FEATURES else None


def _split_tf32(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(hi, lo)``: float32 ``x`` rounded to TF32's 10-bit mantissa, and the rest.

    ``hi`` is exactly representable in TF32 and ``hi + lo == x`` exactly, with
    ``|lo| <= 2**-11 |x|`` (round half away from zero on the bit pattern).
    """
    bits = x.contiguous().view(torch.int32)
    hi = ((bits + 0x1000) & -0x2000).view(torch.float32)
    return hi, x - hi


@contextmanager
def _tf32_products() -> Iterator[None]:
    """Let cuBLAS use TF32 tensor cores for float32 products inside the block.

    Sets torch's (legacy) TF32 flag and restores it. If the flag cannot be read
    (torch refuses when its two precision APIs were mixed), it is left alone: the
    products are then plain float32, just as accurate and slower.
    """
    flags = torch.backends.cuda.matmul
    try:
        old = flags.allow_tf32
    except RuntimeError:
        old = None
    if old is not None:
        flags.allow_tf32 = True
    try:
        yield
    finally:
        if old is not None:
            flags.allow_tf32 = old


def _tf32x3_bmm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` for float32 ``a`` (m, p) and ``b`` (s, p, n) as three TF32 products.

    With ``a = ah + al`` and ``b = bh + bl`` split by :func:`_split_tf32`,
    ``a b ≈ ah bh + ah bl + al bh`` (the dropped ``al bl`` is below 2**-22 of
    ``|a||b|``), computed as ONE product over a reduction three times as long,
    ``[ah, ah, al] @ [bh; bl; bh]``, so the (s, m, n) output is written once. The
    halves are exact in TF32, so on tensor cores the error is that of rounding the
    small parts and of float32 accumulation: a few float32 roundings, at several
    times the speed of a float32 product on CUDA cores. Returns (s, m, n).
    """
    ah, al = _split_tf32(a)
    bh, bl = _split_tf32(b)
    left = torch.cat([ah, ah, al], dim=1).unsqueeze(0).expand(b.shape[0], -1, -1)
    right = torch.cat([bh, bl, bh], dim=1)
    with _tf32_products():
        return torch.bmm(left, right)


KERNELS: dict[str, TorchKernel] = {
    kernel.form.name: kernel
    for kernel in (
        SphericalKernel(Spherical()),
        DiagonalKernel(Diagonal()),
        FullKernel(Full()),
        SharedKernel(Shared()),
    )
}
"""The torch backend's kernel of each density form, by the form's name."""
