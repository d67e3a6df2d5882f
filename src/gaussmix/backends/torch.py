"""PyTorch rows: the same EM engine on tensors, on the CPU or a GPU.

Only the kernels differ from the NumPy backend: the EM loop, the M-step and the
statistics (:class:`~gaussmix._core.stats.Stats`) are the NumPy ones. Per
iteration the parameters travel to the device once (one packed copy), every
chunk's statistics are computed there with batched matrix products (no Python
loop over components), accumulated there in float64, and the small merged
statistics come back to the host once: that copy is the iteration's only host
synchronisation (the EM loop's convergence check needs its log-likelihood).

Kernels ('full', the costly case)
---------------------------------
Rows are centred by a shift ``c`` (the mixture's mean Σ_k π_k μ_k, which after
the first M-step is the data's weighted mean) and padded with a column of ones, so
one batched product gives every component's whitened coordinates at once::

    y_k = [x - c, 1] @ [[P_k], [-(μ_k - c) P_k]]  =  (x - μ_k) P_k

computed as (K·d, p) @ (p, rows/s) for blocks of rows ('blocks': wide products
suit GPU matrix kernels) or as (rows, p) @ (p, d) per component ('batched').
``|y_k|²`` is the Mahalanobis distance, and after the log-sum-exp the same tensor,
scaled in place by √(w r_k), gives the scatter about the current means in whitened
coordinates with one more batched product, ``Σ_i w r_ik y yᵀ``. On a CUDA device
the default kernel, 'fused', does the first product on tensor cores (three TF32
products, see below) and the scaling and scatter in one Triton kernel that reads
the tensor once (``FULL_KERNEL`` lists the kernels).
It is mapped back once per iteration, ``S_k = P_k⁻ᵀ (Σ w r y yᵀ) P_k⁻¹`` in
float64, and moved to the new means exactly (Chan's correction). 'tied' does the
same with the shared factor; 'diag' and 'spherical' use the per-component
differences directly. Peak memory beyond the data is one (K, chunk, d) work tensor;
chunks are sized to bound it (``CUDA_CHUNK_BYTES``: min(2 GiB, GPU memory / 16);
``CPU_CHUNK_BYTES``: 16 MiB).

dtype policy
------------
- float64 tensors are processed in float64 throughout.
- float32 tensors stay float32 in the row-wise work (distances, densities,
  responsibilities and the per-chunk matrix products), like the NumPy backend.
  Each chunk's partial sums are then cast to float64 and every accumulation
  across chunks, the change of coordinates and the centring corrections are
  float64 on the device. Centring the rows (by ``c``, then by each component's
  mean inside the whitened coordinates) keeps float32 products free of the
  cancellation a data offset would cause.
- float16 and bfloat16 tensors are promoted to float32; integer and bool tensors
  to float64 (as scikit-learn converts integer arrays).
- float32 matrix products follow torch's float32 matmul precision. Its default,
  'highest', uses no TF32; ``torch.set_float32_matmul_precision('high')`` turns
  TF32 on at the cost of about three significant digits in the statistics.
  Except: on a CUDA device, 'full' float32 rows by default use the 'fused' kernel,
  whose two large products split each float32 operand into two TF32 halves and
  run three tensor-core products ("3xTF32"). Its error is a few float32 roundings,
  not TF32's: on an H200 at n=1e6, d=64, K=64 the E-step statistics differed from
  plain float32 products by 3e-7 (relative). ``FULL_KERNEL = 'blocks'`` gives
  plain float32 products.

Initialisations are the core's (:mod:`gaussmix._core.init`), over this
backend's primitives: every pass over the rows (nearest-centre statistics,
k-means++'s distances, random responsibilities drawn on the host) runs on the
device; only seed rows, samples and statistics travel.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import numpy as np
import torch

from .._core.covariance import Covariance, Params
from .._core.init.draws import Responsibilities
from .._core.init.kmeans import SeedStep
from .._core.stats import Stats, merge_all

__all__ = [
    "CPU_CHUNK_BYTES",
    "CUDA_CHUNK_BYTES",
    "TorchRows",
    "available_devices",
    "resolve_device",
]

_LOG_2PI = math.log(2.0 * math.pi)
CUDA_CHUNK_BYTES: int | None = None
"""Memory for one chunk's work tensors on a GPU; None: min(2 GiB, the GPU's memory / 16).

Read at each call (bench/gpu.py sweeps it): on an H200, 2 GiB chunks ran the E-step
of n=1e6, d=64, K=64 about 10% faster than 512 MiB chunks."""
CPU_CHUNK_BYTES = 16 * 2**20
"""The same on the CPU, where chunks should stay near the caches."""
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
_F64 = torch.float64


# -- devices ---------------------------------------------------------------------
def available_devices() -> list[str]:
    """The devices torch can use here, as strings ('cpu', 'cuda:0', ...)."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    return devices


def _unavailable(spec: Any, why: str) -> ValueError:
    listing = ", ".join(repr(d) for d in available_devices())
    return ValueError(
        f"Invalid value for 'device': {spec!r} {why}. The devices here are {listing}; "
        "use one of them, 'auto' (the GPU when there is one, else the CPU) or None "
        "(tensors stay where they are, NumPy input stays on the NumPy backend)."
    )


def resolve_device(spec: Any) -> torch.device:
    """The torch device that ``GaussianMixture(device=spec)`` names.

    Raises
    ------
    ValueError
        If ``spec`` is not a device name or the device does not exist here; the
        message lists the devices that do.
    """
    if isinstance(spec, str) and spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")
    if isinstance(spec, torch.device):
        device = spec
    elif isinstance(spec, str):
        try:
            device = torch.device(spec)
        except (RuntimeError, ValueError):
            raise _unavailable(spec, "is not a device name") from None
    else:
        raise _unavailable(spec, "is neither None, a string nor a torch.device")
    if device.type == "cpu":
        return torch.device("cpu")
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = device.index
        if count == 0 or (index is not None and index >= count):
            raise _unavailable(spec, "does not exist here")
        return torch.device("cuda", torch.cuda.current_device() if index is None else index)
    try:
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError, ValueError):
        raise _unavailable(spec, "is not available") from None
    return device


# -- device parameters -------------------------------------------------------------
class _Plan(NamedTuple):
    """Parameters on the device, prepared for one covariance type and dtype.

    ``shift`` is subtracted from every row (in the rows' dtype) and ``centres``
    are the means relative to it, rounded to the rows' dtype; ``*64`` are the same
    values in float64. ``prec`` holds the precision factors in the rows' dtype
    ('full': padded to (K, p, d) with the bias row, see the module docstring), and
    ``back`` what maps whitened scatter back (float64).
    """

    kind: str
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


def _padded_width(d: int) -> int:
    """Columns of the padded rows [x - c, 1, 0...]: d + 1 rounded up to 16 bytes."""
    return -(-(d + 1) // 4) * 4


def _make_plan(params: Params, kind: str, dtype: torch.dtype, device: torch.device) -> _Plan:
    weights = np.asarray(params.weights, dtype=np.float64)
    means = np.asarray(params.means, dtype=np.float64)
    prec = np.asarray(params.precisions_cholesky, dtype=np.float64)
    K, d = means.shape
    shift_host = np.asarray(weights @ means / max(weights.sum(), np.finfo(float).tiny))
    if not np.all(np.isfinite(shift_host)):
        shift_host = np.zeros(d)
    packed = np.concatenate([weights, shift_host, means.ravel(), prec.ravel()])
    flat = torch.from_numpy(packed).to(device)  # the one host-to-device copy
    w64 = flat[:K]
    shift64 = flat[K : K + d].to(dtype).to(_F64)
    means64 = flat[K + d : K + d + K * d].view(K, d)
    P64 = flat[K + d + K * d :].view(prec.shape).to(dtype).to(_F64)  # as the kernels see it
    centres = (means64 - shift64).to(dtype)
    centres64 = centres.to(_F64)
    P = P64.to(dtype)
    log_w = torch.log(w64)
    extra: torch.Tensor | None = None
    back: torch.Tensor | None = None
    if kind == "full":
        log_det = torch.log(torch.diagonal(P64, dim1=1, dim2=2)).sum(1)
        p = _padded_width(d)
        padded = torch.zeros(K, p, d, dtype=dtype, device=device)
        padded[:, :d] = P
        padded[:, d] = -torch.bmm(centres64.unsqueeze(1), P64).squeeze(1).to(dtype)
        prec_t = padded
        extra = padded.transpose(1, 2).reshape(K * d, p)  # stacked (K·d, p) for 'blocks'
        back = _inverse(P64, _triangle(prec))
    elif kind == "tied":
        log_det = torch.log(torch.diagonal(P64)).sum().expand(K)
        prec_t = P
        extra = (centres64 @ P64).to(dtype)  # b_k = (μ_k - c) P
        back = _inverse(P64, _triangle(prec))
    elif kind == "diag":
        log_det = torch.log(P64).sum(1)
        prec_t = P
        back = P64 * P64
    else:
        log_det = d * torch.log(P64)
        prec_t = P
        extra = P * P
    const = (log_det + log_w - 0.5 * d * _LOG_2PI).to(dtype)
    return _Plan(
        kind, K, shift64.to(dtype), shift64, centres, centres64, const, prec_t, extra, back
    )


# -- statistics on the device --------------------------------------------------------
def _stats_about_own_means(Xc64: torch.Tensor, rw: torch.Tensor, kind: str) -> Stats:
    """Float64 statistics of rows ``Xc64`` (r, d) with weighted responsibilities (K, r)."""
    mass = rw.sum(1)
    positive = mass > 0
    safe = torch.where(positive, mass, torch.ones_like(mass))
    means = torch.where(positive[:, None], (rw @ Xc64) / safe[:, None], 0.0)
    D = Xc64.unsqueeze(0) - means.unsqueeze(1)  # (K, r, d)
    if kind == "full":
        scatter = torch.bmm((D * rw.unsqueeze(2)).transpose(1, 2), D)
    elif kind == "tied":
        d = Xc64.shape[1]
        scatter = (D * rw.unsqueeze(2)).reshape(-1, d).T @ D.reshape(-1, d)
    elif kind == "diag":
        scatter = torch.bmm(rw.unsqueeze(1), D * D).squeeze(1)
    else:
        scatter = (rw * (D * D).sum(2)).sum(1)
    zero = torch.zeros((), dtype=_F64, device=Xc64.device)
    return Stats(zero, zero, mass, means, scatter)


def _splits(r: int, K: int) -> int:
    """Row blocks per chunk for the scatter's batched product (enough blocks for a GPU)."""
    s = 1
    while s < 32 and K * s < 1024 and r % (2 * s) == 0 and r // (2 * s) >= 1024:
        s *= 2
    return s


# -- the rows object -------------------------------------------------------------------
class TorchRows:
    """Rows of a 2-D tensor (CPU or GPU) with optional row weights, seen chunk by chunk.

    Parameters
    ----------
    X : tensor of shape (n, d), float32 or float64, finite, contiguous
    weights : tensor of shape (n,), float64, on X's device, or None
        Non-negative row weights (multiplicities); ``None`` means all ones.
    chunk_rows : int, optional
        Rows per chunk; by default sized to bound the work tensors' memory.
    numpy_out : bool, default=False
        Return ``map_log_resp`` results as NumPy arrays (for NumPy input).
    cache : dict, optional
        Where prepared device parameters are kept between calls (inference).
    """

    def __init__(
        self,
        X: torch.Tensor,
        weights: torch.Tensor | None = None,
        *,
        chunk_rows: int | None = None,
        numpy_out: bool = False,
        cache: dict[Any, Any] | None = None,
    ) -> None:
        self.X = X
        self.weights = weights
        self.chunk_rows = chunk_rows
        self.numpy_out = numpy_out
        self._cache = cache
        self._data_mean: torch.Tensor | None = None
        self._total_t: torch.Tensor | None = None

    @property
    def device(self) -> torch.device:
        return self.X.device

    @property
    def dtype(self) -> torch.dtype:
        return self.X.dtype

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def total_weight(self) -> float:
        return float(self._total())

    # -- helpers -----------------------------------------------------------------
    def _total(self) -> torch.Tensor:
        """Σ w_i as a float64 device scalar (no synchronisation)."""
        if self._total_t is None:
            if self.weights is None:
                self._total_t = torch.full((), float(self.n_rows), dtype=_F64, device=self.device)
            else:
                self._total_t = self.weights.sum()
        return self._total_t

    def _mean(self) -> torch.Tensor:
        """The rows' unweighted mean, float64 (d,), on the device (no synchronisation)."""
        if self._data_mean is None:
            total = torch.zeros(self.n_features, dtype=_F64, device=self.device)
            for start, stop in self._ranges(self._chunk_rows(1, 8)):
                total += self.X[start:stop].sum(0, dtype=_F64)
            self._data_mean = total / self.n_rows
        return self._data_mean

    def _chunk_rows(self, n_components: int, item: int | None = None, factor: int = 1) -> int:
        if self.chunk_rows is not None:
            return int(self.chunk_rows)
        item = self.X.element_size() if item is None else item
        d = self.n_features
        per_row = factor * item * n_components * (d + 6) + 8 * (2 * d + 8)
        if self.device.type != "cuda":
            budget = CPU_CHUNK_BYTES
        elif CUDA_CHUNK_BYTES is not None:
            budget = CUDA_CHUNK_BYTES
        else:
            memory = torch.cuda.get_device_properties(self.device).total_memory
            budget = min(2 * 2**30, memory // 16)
        rows = max(1, budget // per_row)
        if rows >= 2048:
            rows -= rows % 1024
        return int(rows)

    def _ranges(self, step: int) -> Iterator[tuple[int, int]]:
        n = self.n_rows
        for start in range(0, n, step):
            yield start, min(start + step, n)

    def _plan(self, params: Params, cov: Covariance) -> _Plan:
        key = (cov.name, str(self.device), self.dtype)
        if self._cache is not None:
            hit = self._cache.get(key)
            if hit is not None and all(a is b for a, b in zip(hit[0], params, strict=True)):
                return hit[1]
        plan = _make_plan(params, cov.name, self.dtype, self.device)
        if self._cache is not None:
            self._cache[key] = (tuple(params), plan)
        return plan

    def _chunks(
        self, plan: _Plan
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]]:
        """Yield ``(Xc, Xa, w)``: centred rows, padded rows ('full') and weights."""
        d = self.n_features
        step = min(self._chunk_rows(plan.K), self.n_rows)
        buffer = None
        if plan.kind == "full":
            buffer = torch.zeros(step, _padded_width(d), dtype=self.dtype, device=self.device)
            buffer[:, d] = 1.0
        for start, stop in self._ranges(step):
            rows = self.X[start:stop]
            w = None if self.weights is None else self.weights[start:stop]
            if buffer is None:
                yield rows - plan.shift, None, w
            else:
                Xa = buffer[: stop - start]
                torch.sub(rows, plan.shift, out=Xa[:, :d])
                yield Xa[:, :d], Xa, w

    @staticmethod
    def _log_prob(
        plan: _Plan, Xc: torch.Tensor, Xa: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``log π_k + log N(x | k)`` as (K, r), and the work tensor for the scatter."""
        K = plan.K
        kernel = _full_kernel(Xc)
        if plan.kind == "full" and kernel in ("blocks", "tf32x3", "fused"):
            assert Xa is not None and plan.extra is not None
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
        elif plan.kind == "full":
            assert Xa is not None
            r, p = Xa.shape
            work = torch.bmm(Xa.unsqueeze(0).expand(K, r, p), plan.prec)  # (K, r, d)
            maha = torch.linalg.vector_norm(work, dim=2).square_()
        elif plan.kind == "tied":
            assert plan.extra is not None
            work = (Xc @ plan.prec).unsqueeze(0) - plan.extra.unsqueeze(1)  # (K, r, d)
            maha = torch.linalg.vector_norm(work, dim=2).square_()
        elif plan.kind == "diag":
            work = (Xc.unsqueeze(0) - plan.centres.unsqueeze(1)).mul_(plan.prec.unsqueeze(1))
            work.square_()
            maha = work.sum(2)
        else:
            assert plan.extra is not None
            diff = Xc.unsqueeze(0) - plan.centres.unsqueeze(1)
            work = diff.square_().sum(2)  # (K, r) squared distances
            maha = work * plan.extra.unsqueeze(1)
        return maha.mul_(-0.5).add_(plan.const.unsqueeze(1)), work

    @staticmethod
    def _add_scatter(plan: _Plan, work: torch.Tensor, rw: torch.Tensor, acc: torch.Tensor) -> None:
        """Add the chunk's scatter about the current means (whitened) to ``acc`` (float64)."""
        kind, K = plan.kind, plan.K
        if kind == "full" and work.ndim == 4:  # 'blocks': (s, K, d, b)
            s, _, d, b = work.shape
            fused = _fused_kernels(work) if _full_kernel(work) == "fused" else None
            if fused is not None:
                acc += fused.weighted_gram(work, rw).sum(0, dtype=_F64)
                return
            scale = rw.view(K, s, b).transpose(0, 1).sqrt().contiguous()  # (s, K, b), small
            work.mul_(scale.unsqueeze(2))  # one contiguous broadcast pass over the big tensor
            blocks = work.view(s * K, d, b)
            gram = torch.bmm(blocks, blocks.transpose(1, 2))
            acc += gram.view(s, K, d, d).sum(0, dtype=_F64)
        elif kind == "full":
            _, r, d = work.shape
            work.mul_(rw.sqrt().unsqueeze(2))
            s = _splits(r, K)
            blocks = work.view(K * s, r // s, d)
            gram = torch.bmm(blocks.transpose(1, 2), blocks)
            acc += gram.view(K, s, d, d).sum(1, dtype=_F64)
        elif kind == "tied":
            d = work.shape[2]
            work.mul_(rw.sqrt().unsqueeze(2))
            flat = work.view(-1, d)
            acc += flat.T @ flat
        elif kind == "diag":
            acc += torch.bmm(rw.unsqueeze(1), work).squeeze(1)
        else:
            acc += (rw * work).sum(1, dtype=_F64)

    def _to_host(self, stats: Stats, shift64: torch.Tensor) -> Stats:
        """Move device statistics (means relative to ``shift64``) to the host: one copy."""
        K, d = stats.means.shape
        means = torch.where(stats.mass[:, None] > 0, stats.means + shift64, 0.0)
        packed = torch.cat(
            [
                stats.total_weight.reshape(1),
                stats.log_likelihood.reshape(1),
                stats.mass,
                means.reshape(-1),
                stats.scatter.reshape(-1),
            ]
        )
        host = packed.cpu().numpy()  # the synchronisation
        return Stats(
            float(host[0]),
            float(host[1]),
            host[2 : 2 + K].copy(),
            host[2 + K : 2 + K + K * d].reshape(K, d).copy(),
            host[2 + K + K * d :].reshape(stats.scatter.shape).copy(),
        )

    # -- the Rows interface ----------------------------------------------------------
    def expectation(self, params: Params, cov: Covariance) -> Stats:
        """Merged E-step statistics of all rows under ``params`` (one host copy)."""
        plan = self._plan(params, cov)
        K, d, kind = plan.K, self.n_features, plan.kind
        opts: dict[str, Any] = {"dtype": _F64, "device": self.device}
        mass = torch.zeros(K, **opts)
        sums = torch.zeros(K, d, **opts)
        ll = torch.zeros((), **opts)
        shapes = {"full": (K, d, d), "tied": (d, d), "diag": (K, d), "spherical": (K,)}
        scatter = torch.zeros(shapes[kind], **opts)
        for Xc, Xa, w in self._chunks(plan):
            wlp, work = self._log_prob(plan, Xc, Xa)
            log_norm = torch.logsumexp(wlp, dim=0)
            rw = wlp.sub_(log_norm).exp_()  # responsibilities (K, r), in place
            if w is None:
                ll += log_norm.sum(dtype=_F64)
            else:
                ll += torch.dot(log_norm.to(_F64), w)
                rw.mul_(w.to(rw.dtype))
            mass += rw.sum(1, dtype=_F64)
            sums += rw @ Xc
            self._add_scatter(plan, work, rw, scatter)
        # Exact statistics about the new means, all in float64 on the device.
        positive = mass > 0
        safe = torch.where(positive, mass, torch.ones_like(mass))
        offset = torch.where(
            positive[:, None], (sums - mass[:, None] * plan.centres64) / safe[:, None], 0.0
        )
        if kind in ("full", "tied"):
            assert plan.back is not None
            scatter = plan.back.mT @ scatter @ plan.back
        elif kind == "diag":
            assert plan.back is not None
            scatter = scatter / plan.back
        scatter = scatter - cov.form.correction(mass, offset)
        stats = Stats(self._total(), ll, mass, plan.centres64 + offset, scatter)
        return self._to_host(stats, plan.shift64)

    def map_log_resp(
        self, params: Params, cov: Covariance, reduce: Callable[[Any, Any], Any]
    ) -> Any:
        """Concatenate ``reduce(log_norm, log_resp)`` over the chunks, in row order.

        ``log_norm`` is (r,) and ``log_resp`` (r, K), tensors on the rows' device; the
        result is a tensor there, or a NumPy array for NumPy input.
        """
        plan = self._plan(params, cov)
        parts = []
        for Xc, Xa, _ in self._chunks(plan):
            wlp, _ = self._log_prob(plan, Xc, Xa)
            log_norm = torch.logsumexp(wlp, dim=0)
            parts.append(reduce(log_norm, (wlp - log_norm).T))
        out = torch.cat(parts)
        return out.cpu().numpy() if self.numpy_out else out

    def worst_explained(self, params: Params, cov: Covariance, m: int) -> np.ndarray:
        """The ``m`` rows of lowest log-likelihood under ``params``, (m', d) float64.

        Rows of weight 0 are never chosen. Used to re-seed collapsed components.
        """
        numpy_out, self.numpy_out = self.numpy_out, False
        try:
            log_norm = self.map_log_resp(params, cov, lambda ln, _: ln).to(_F64)
        finally:
            self.numpy_out = numpy_out
        if self.weights is not None:
            log_norm = torch.where(self.weights > 0, log_norm, math.inf)
            m = min(m, int(torch.count_nonzero(self.weights)))
        m = min(m, self.n_rows)
        worst = torch.sort(log_norm, stable=True).indices[:m]
        return self.X[worst].to(_F64).cpu().numpy()

    # -- the initialisation primitives (see gaussmix.backends and _core.init) ------------
    def take(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Rows at sorted distinct positions, float64 (m, d) on the host, and their weights."""
        at = torch.from_numpy(np.asarray(index, dtype=np.int64)).to(self.device)
        X = self.X[at].to(_F64).cpu().numpy()
        return X, None if self.weights is None else self.weights[at].cpu().numpy()

    def host_weights(self) -> np.ndarray | None:
        """The row weights (n,) as float64 on the host, or None when unweighted."""
        return None if self.weights is None else self.weights.cpu().numpy()

    def nearest_stats(self, centres: np.ndarray, origin: np.ndarray, cov: Covariance) -> Stats:
        """Statistics of every row's hard assignment to its nearest centre, on the device.

        Distances in the rows' dtype about ``origin``; statistics in float64.
        """
        K = centres.shape[0]
        origin64 = torch.from_numpy(np.asarray(origin, dtype=np.float64)).to(self.device)
        C = torch.from_numpy(centres).to(self.device) - origin64
        C_sq = (C * C).sum(1).to(self.dtype)
        C, shift = C.to(self.dtype), origin64.to(self.dtype)
        ks = torch.arange(K, device=self.device)
        parts = []
        for start, stop in self._ranges(self._chunk_rows(K, 8, 2)):
            rows = self.X[start:stop]
            labels = torch.addmm(C_sq.unsqueeze(0), rows - shift, C.T, alpha=-2.0).argmin(1)
            rw = (ks.unsqueeze(1) == labels.unsqueeze(0)).to(_F64)
            if self.weights is not None:
                rw = rw * self.weights[start:stop]
            parts.append(_stats_about_own_means(rows.to(_F64) - origin64, rw, cov.name))
        merged = merge_all(parts, cov.form)
        return self._to_host(merged._replace(total_weight=self._total()), origin64)

    def soft_stats(self, responsibilities: Responsibilities, cov: Covariance) -> Stats:
        """Statistics of ``responsibilities(start, stop)`` (drawn on the host, in row order)."""
        K = responsibilities(0, 0).shape[1]
        shift64 = self._mean()
        parts = []
        for start, stop in self._ranges(self._chunk_rows(K, 8, 2)):
            rw = torch.from_numpy(responsibilities(start, stop).T.copy()).to(self.device)
            if self.weights is not None:
                rw = rw * self.weights[start:stop]
            Xc64 = self.X[start:stop].to(_F64) - shift64
            parts.append(_stats_about_own_means(Xc64, rw, cov.name))
        merged = merge_all(parts, cov.form)
        return self._to_host(merged._replace(total_weight=self._total()), shift64)

    def plusplus_step(
        self, closest: torch.Tensor | None, candidates: np.ndarray, draws: np.ndarray | None
    ) -> SeedStep:
        """One k-means++ step on the device; ``closest`` is a float64 tensor (n,).

        Distances are scikit-learn's, in float64, on the rows as given.
        """
        n, dev = self.n_rows, self.device
        cand = torch.from_numpy(candidates).to(dev)
        w = self.weights
        step = self._chunk_rows(max(cand.shape[0], 8), 8)

        def distances(centres: torch.Tensor, start: int, stop: int) -> torch.Tensor:
            rows = self.X[start:stop].to(_F64)
            out = (centres @ rows.T).mul_(-2.0)
            out += (centres * centres).sum(1, keepdim=True)
            out += (rows * rows).sum(1)
            return out.clamp_(min=0.0)

        best, potential = 0, None
        if closest is not None and cand.shape[0] > 1:
            pots = torch.zeros(cand.shape[0], dtype=_F64, device=dev)
            for start, stop in self._ranges(step):
                dist = torch.minimum(distances(cand, start, stop), closest[start:stop])
                pots += dist.sum(1) if w is None else dist @ w[start:stop]
            host = pots.cpu().numpy()
            best = int(np.argmin(host))
            potential = float(host[best])
        new = torch.empty(n, dtype=_F64, device=dev)
        for start, stop in self._ranges(step):
            new[start:stop] = distances(cand[best : best + 1], start, stop)[0]
        if closest is not None:
            torch.minimum(new, closest, out=new)
        if draws is None:
            return SeedStep(new, best, None, None)
        weighted = new if w is None else w * new
        if potential is None:
            potential = float(weighted.sum())
        targets = torch.from_numpy(draws * potential).to(dev)
        found = torch.searchsorted(torch.cumsum(weighted, 0), targets).clamp_(max=n - 1)
        rows = self.X[found].to(_F64).cpu().numpy()
        return SeedStep(new, best, found.cpu().numpy(), rows)
