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

Initialisations run on the device and draw from the NumPy ``rng`` the estimator
passes in, so they are reproducible: 'random_from_data' and 'random' draw the same
numbers as the NumPy backend (same starts for the same ``random_state``);
'k-means++' follows scikit-learn's seeding step by step with the same draws (the
same seeds in float64; in float32 scikit-learn's float32 running sums can pick a
neighbouring candidate on large data); 'kmeans' is that seeding followed by
Lloyd's iterations as scikit-learn's ``KMeans`` runs them (same labels unless two
centres tie for a row to rounding).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import numpy as np
import torch

from .._core.covariance import Covariance, DensityForm, Params
from .._core.hc import hc_initial_stats
from .._core.init import INIT_METHODS
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
_KMEANS_MAX_ITER = 300  # scikit-learn's KMeans defaults
_KMEANS_TOL = 1e-4
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

    def initial_stats(
        self, n_components: int, method: str, rng: np.random.RandomState, cov: Covariance
    ) -> Stats:
        """Statistics of the initial assignment ``method`` makes, computed on the device.

        The draws come from ``rng`` exactly as the NumPy backend makes them (see the
        module docstring for how far the starts agree).
        """
        K, kind, form = n_components, cov.name, cov.form
        if method == "hc":  # on a sample gathered to the host, as every row source does
            return hc_initial_stats(self._take, self.n_rows, K, rng, cov)
        if method == "random":
            return self._soft_stats(kind, form, K, self._random_resp(K, rng))
        if method == "kmeans":
            labels = self._kmeans_labels(K, rng)

            def one_hot(start: int, stop: int) -> torch.Tensor:
                lab = labels[start:stop]
                ks = torch.arange(K, device=self.device)
                return (lab.unsqueeze(0) == ks.unsqueeze(1)).to(_F64)

            return self._soft_stats(kind, form, K, one_hot)
        if method == "random_from_data":
            n = self.n_rows
            p = None
            if self.weights is not None:
                host = self.weights.cpu().numpy()
                p = host / host.sum()
                if np.count_nonzero(p) < K:
                    p = None
            seeds = rng.choice(n, size=K, replace=False, p=p)
        elif method == "k-means++":
            seeds = self._kmeans_plusplus(K, rng, None).cpu().numpy()
        else:
            raise ValueError(f"unknown init method {method!r}; choose one of {INIT_METHODS}")
        return self._seed_stats(kind, K, np.asarray(seeds, dtype=np.int64))

    # -- initialisation kernels --------------------------------------------------------
    def _random_resp(self, K: int, rng: np.random.RandomState) -> Callable[[int, int], Any]:
        """Row blocks of ``rng.uniform(size=(n, K))``, normalised, drawn in row order."""

        def block(start: int, stop: int) -> torch.Tensor:
            resp = rng.uniform(size=(stop - start, K))
            resp /= resp.sum(axis=1, keepdims=True)
            return torch.from_numpy(resp.T.copy()).to(self.device)

        return block

    def _soft_stats(
        self,
        kind: str,
        form: DensityForm,
        K: int,
        resp_block: Callable[[int, int], torch.Tensor],
    ) -> Stats:
        """Statistics of responsibilities given block by block as (K, r) float64."""
        shift64 = self._mean()
        parts = []
        for start, stop in self._ranges(self._chunk_rows(K, 8, 2)):
            rw = resp_block(start, stop)
            if self.weights is not None:
                rw = rw * self.weights[start:stop]
            Xc64 = self.X[start:stop].to(_F64) - shift64
            parts.append(_stats_about_own_means(Xc64, rw, kind))
        merged = merge_all(parts, form)
        return self._to_host(merged._replace(total_weight=self._total()), shift64)

    def _take(self, index: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        """Rows and weights at sorted positions (None: all) as float64 host arrays."""
        rows = self.X if index is None else self.X[torch.from_numpy(index).to(self.device)]
        weights = self.weights
        if weights is not None and index is not None:
            weights = weights[torch.from_numpy(index).to(self.device)]
        host = rows.to(_F64).cpu().numpy()
        return host, None if weights is None else weights.to(_F64).cpu().numpy()

    def _seed_stats(self, kind: str, K: int, seeds: np.ndarray) -> Stats:
        """Statistics of one row per component (a row chosen twice goes to the last)."""
        keep = np.array([seeds[k] not in seeds[k + 1 :] for k in range(K)], dtype=np.float64)
        index = torch.from_numpy(seeds).to(self.device)
        w = torch.from_numpy(keep).to(self.device)
        if self.weights is not None:
            w = w * self.weights[index]
        shift64 = self._mean()
        Xc64 = self.X[index].to(_F64) - shift64
        stats = _stats_about_own_means(Xc64, torch.diag(w), kind)
        return self._to_host(stats._replace(total_weight=self._total()), shift64)

    def _rows64(self, start: int, stop: int, shift: torch.Tensor | None) -> torch.Tensor:
        rows = self.X[start:stop]
        if shift is not None:
            rows = rows - shift
        return rows.to(_F64)

    def _sample_weight(self) -> torch.Tensor:
        """scikit-learn's KMeans weights: ones, or the weights in the rows' dtype, float64."""
        if self.weights is None:
            return torch.ones(self.n_rows, dtype=_F64, device=self.device)
        return self.weights.to(self.dtype).to(_F64)

    def _kmeans_plusplus(
        self, K: int, rng: np.random.RandomState, shift: torch.Tensor | None
    ) -> torch.Tensor:
        """Row indices of scikit-learn's k-means++ seeds, computed on the device.

        Follows ``sklearn.cluster._kmeans._kmeans_plusplus`` step by step with the same
        draws from ``rng``; every data-dependent step stays on the device (no
        synchronisation). ``shift`` (rows' dtype) is subtracted first, as ``KMeans``
        centres its data.
        """
        n, dev = self.n_rows, self.device
        n_trials = 2 + int(np.log(K))
        w = self._sample_weight()
        step = self._chunk_rows(max(n_trials, 8), 8)
        x_sq = torch.empty(n, dtype=_F64, device=dev)
        for start, stop in self._ranges(step):
            rows = self._rows64(start, stop, shift)
            x_sq[start:stop] = (rows * rows).sum(1)

        def sq_dist(index: torch.Tensor) -> torch.Tensor:
            centres = self.X[index]
            centres = (centres if shift is None else centres - shift).to(_F64)
            c_sq = (centres * centres).sum(1, keepdim=True)
            out = torch.empty(index.shape[0], n, dtype=_F64, device=dev)
            for start, stop in self._ranges(step):
                rows = self._rows64(start, stop, shift)
                block = (centres @ rows.T).mul_(-2.0)
                block += c_sq
                block += x_sq[start:stop]
                out[:, start:stop] = block.clamp_(min=0.0)
            return out

        # First seed: rng.choice(n, p=w / w.sum()) as NumPy draws it.
        u = torch.tensor([rng.random_sample()], dtype=_F64, device=dev)
        cdf = torch.cumsum(w / w.sum(), 0)
        cdf = cdf / cdf[-1]
        first = torch.searchsorted(cdf, u, right=True).clamp_(max=n - 1)
        trials = torch.from_numpy(rng.uniform(size=(max(K - 1, 0), n_trials))).to(dev)
        seeds = torch.empty(K, dtype=torch.int64, device=dev)
        seeds[0] = first[0]
        closest = sq_dist(first)[0]
        potential = closest @ w
        for c in range(1, K):
            rand_vals = trials[c - 1] * potential
            candidates = torch.searchsorted(torch.cumsum(w * closest, 0), rand_vals)
            candidates.clamp_(max=n - 1)
            dist = sq_dist(candidates)
            torch.minimum(closest.unsqueeze(0), dist, out=dist)
            pots = dist @ w
            best = torch.argmin(pots)
            potential = pots[best]
            closest = dist[best]
            seeds[c] = candidates[best]
        return seeds

    def _kmeans_labels(self, K: int, rng: np.random.RandomState) -> torch.Tensor:
        """Labels of scikit-learn's ``KMeans(K, n_init=1, random_state=rng)``, on the device.

        k-means++ seeds on the centred rows, then Lloyd's iterations until the labels
        stop changing or the centres move less than scikit-learn's tolerance (one
        small host copy per Lloyd iteration decides that), then labels for the final
        centres. Empty clusters are relocated to the rows farthest from their centres.
        """
        n, dev, dtype = self.n_rows, self.device, self.dtype
        mean64 = self._mean()
        shift = mean64.to(dtype)
        w = self._sample_weight()
        step = self._chunk_rows(K, 8, 2)
        # scikit-learn's tolerance: mean feature variance (unweighted) times tol.
        var = torch.zeros(self.n_features, dtype=_F64, device=dev)
        for start, stop in self._ranges(step):
            diff = self.X[start:stop].to(_F64) - mean64
            var += (diff * diff).sum(0)
        tol = float((var / n).mean()) * _KMEANS_TOL

        centres = self.X[self._kmeans_plusplus(K, rng, shift)] - shift  # rows' dtype
        ks = torch.arange(K, device=dev)

        def assign(
            centres: torch.Tensor, update: bool
        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            c_sq = (centres * centres).sum(1)
            labels = torch.empty(n, dtype=torch.int64, device=dev)
            sums = torch.zeros(K, self.n_features, dtype=_F64, device=dev)
            mass = torch.zeros(K, dtype=_F64, device=dev)
            for start, stop in self._ranges(step):
                rows = self.X[start:stop] - shift
                dist = torch.addmm(c_sq.unsqueeze(0), rows, centres.T, alpha=-2.0)
                lab = dist.argmin(1)
                labels[start:stop] = lab
                if update:
                    member = (ks.unsqueeze(1) == lab.unsqueeze(0)).to(_F64) * w[start:stop]
                    sums += member @ rows.to(_F64)
                    mass += member.sum(1)
            return labels, sums, mass

        labels_old = torch.full((n,), -1, dtype=torch.int64, device=dev)
        strict = False
        for _ in range(_KMEANS_MAX_ITER):
            labels, sums, mass = assign(centres, True)
            new = (sums / torch.where(mass > 0, mass, 1.0)[:, None]).to(dtype)
            moved = ((new.to(_F64) - centres.to(_F64)) ** 2).sum()
            n_empty, n_changed, shift_sq = torch.stack(
                [(mass == 0).sum().to(_F64), (labels != labels_old).sum().to(_F64), moved]
            ).tolist()
            if n_empty:
                new = self._relocate(centres, labels, sums, mass, shift, w, int(n_empty), step)
                shift_sq = float(((new.to(_F64) - centres.to(_F64)) ** 2).sum())
            centres = new
            if n_changed == 0:
                strict = True
                break
            if shift_sq <= tol:
                break
            labels_old = labels
        if not strict:
            labels = assign(centres, False)[0]
        return labels

    def _relocate(
        self,
        centres: torch.Tensor,
        labels: torch.Tensor,
        sums: torch.Tensor,
        mass: torch.Tensor,
        shift: torch.Tensor,
        w: torch.Tensor,
        n_empty: int,
        step: int,
    ) -> torch.Tensor:
        """scikit-learn's ``_relocate_empty_clusters_dense``: empty clusters take far rows."""
        far_dist = torch.empty(self.n_rows, dtype=_F64, device=self.device)
        for start, stop in self._ranges(step):
            diff = self.X[start:stop] - shift - centres[labels[start:stop]]
            far_dist[start:stop] = (diff * diff).sum(1).to(_F64)
        far = torch.topk(far_dist, n_empty).indices
        empty = torch.nonzero(mass == 0).flatten()
        for i in range(n_empty):
            row, old, new_id = far[i], labels[far[i]], empty[i]
            x = (self.X[row] - shift).to(_F64) * w[row]
            sums[old] -= x
            sums[new_id] = x
            mass[new_id] = w[row]
            mass[old] -= w[row]
        return (sums / mass[:, None]).to(self.dtype)
