"""PyTorch rows: the same EM engine on tensors, on the CPU or a GPU.

This module is the backend's memory placement: devices, chunks, the copies
between host and device. The E-step algorithm is :mod:`gaussmix._core.estep`'s
and the kernels are :mod:`._torch_kernels`' (one per density form); the EM loop,
the M-step and the statistics are the NumPy ones. Per iteration the parameters
travel to the device once (one packed copy), every chunk's statistics are
computed there with batched matrix products, accumulated there in float64, and
the small merged statistics come back to the host once: that copy is the
iteration's only host synchronisation (the EM loop's convergence check needs its
log-likelihood). Chunks are sized to bound the work tensors' memory
(``CUDA_CHUNK_BYTES``: min(2 GiB, GPU memory / 16); ``CPU_CHUNK_BYTES``: 16 MiB).

CPU tensors
-----------
On the CPU the NumPy backend's kernels (numba, threads) are faster than torch's,
so by default (``CPU_KERNELS = 'numpy'``) the E-step and inference of a CPU
tensor run them on the tensor's own memory (``Tensor.numpy()`` shares it: no
copy), and results come back as tensors as before. ``CPU_KERNELS = 'torch'``
runs the torch kernels there too (the tests use it to check them without a GPU).

dtype policy
------------
- float64 tensors are processed in float64 throughout.
- float32 tensors stay float32 in the row-wise work (distances, densities,
  responsibilities and the per-chunk matrix products), like the NumPy backend.
  Each chunk's partial sums are then cast to float64 and every accumulation
  across chunks, the change of coordinates and the centring corrections are
  float64 on the device. Rows whose float32 densities overflow (far from every
  component) are redone in float64.
- float16 and bfloat16 tensors are promoted to float32; integer and bool tensors
  to float64 (as scikit-learn converts integer arrays).
- float32 matrix products follow torch's float32 matmul precision. Its default,
  'highest', uses no TF32; ``torch.set_float32_matmul_precision('high')`` turns
  TF32 on at the cost of about three significant digits in the statistics.
  Except: on a CUDA device, 'full' float32 rows by default use the 'fused' kernel,
  whose two large products split each float32 operand into two TF32 halves and
  run three tensor-core products ("3xTF32"). Its error is a few float32 roundings,
  not TF32's: on an H200 at n=1e6, d=64, K=64 the E-step statistics differed from
  plain float32 products by 3e-7 (relative). ``_torch_kernels.FULL_KERNEL =
  'blocks'`` gives plain float32 products.

Initialisations are the core's (:mod:`gaussmix._core.init`), over this
backend's primitives: every pass over the rows (nearest-centre statistics,
k-means++'s distances, random responsibilities drawn on the host) runs on the
device; only seed rows, samples and statistics travel.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from functools import cached_property
from typing import Any

import numpy as np
import torch

from .._core import estep
from .._core.covariance import Covariance, DensityForm, Params
from .._core.init.draws import Responsibilities
from .._core.init.kmeans import SeedStep
from .._core.stats import Stats, merge_all
from ._torch_kernels import KERNELS, TORCH, TorchKernel, device_plan
from .numpy import NumpyRows

__all__ = [
    "CPU_CHUNK_BYTES",
    "CPU_KERNELS",
    "CUDA_CHUNK_BYTES",
    "TorchRows",
    "available_devices",
    "resolve_device",
]

CUDA_CHUNK_BYTES: int | None = None
"""Memory for one chunk's work tensors on a GPU; None: min(2 GiB, the GPU's memory / 16).

Read at each call (bench/gpu.py sweeps it): on an H200, 2 GiB chunks ran the E-step
of n=1e6, d=64, K=64 about 10% faster than 512 MiB chunks."""
CPU_CHUNK_BYTES = 16 * 2**20
"""The same on the CPU, where chunks should stay near the caches."""
CPU_KERNELS = "numpy"
"""Which kernels run the E-step of CPU tensors: 'numpy' (the NumPy backend's, on the
tensor's memory; faster, see bench/RESULTS.md) or 'torch'."""
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


# -- statistics on the device --------------------------------------------------------
def _stats_about_own_means(Xc64: torch.Tensor, rw: torch.Tensor, form: DensityForm) -> Stats:
    """Float64 statistics of rows ``Xc64`` (r, d) with weighted responsibilities (K, r)."""
    mass = rw.sum(1)
    positive = mass > 0
    safe = torch.where(positive, mass, torch.ones_like(mass))
    means = torch.where(positive[:, None], (rw @ Xc64) / safe[:, None], 0.0)
    D = Xc64.unsqueeze(0) - means.unsqueeze(1)  # (K, r, d)
    if form.diagonal:
        second = torch.bmm(rw.unsqueeze(1), D * D).squeeze(1)
    else:
        second = torch.bmm((D * rw.unsqueeze(2)).transpose(1, 2), D)
    scatter = form.reduce_scatter(second)
    zero = torch.zeros((), dtype=_F64, device=Xc64.device)
    return Stats(zero, zero, mass, means, scatter)


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
    """

    def __init__(
        self,
        X: torch.Tensor,
        weights: torch.Tensor | None = None,
        *,
        chunk_rows: int | None = None,
        numpy_out: bool = False,
    ) -> None:
        self.X = X
        self.weights = weights
        self.chunk_rows = chunk_rows
        self.numpy_out = numpy_out
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
        host = self._host
        return float(self._total()) if host is None else host.total_weight

    # -- helpers -----------------------------------------------------------------
    @cached_property
    def _host(self) -> NumpyRows | None:
        """The same rows as NumPy rows sharing the tensor's memory, where the NumPy
        kernels run the E-step (CPU tensors, ``CPU_KERNELS = 'numpy'``); made once,
        as the views cost more than a small E-step's kernel."""
        if self.device.type != "cpu" or CPU_KERNELS != "numpy":
            return None
        weights = None if self.weights is None else self.weights.numpy()
        return NumpyRows(self.X.numpy(), weights, self.chunk_rows)

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

    def _pairs(self, n_components: int) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        """The rows chunk by chunk as ``(X, weights)``."""
        for start, stop in self._ranges(min(self._chunk_rows(n_components), self.n_rows)):
            yield self.X[start:stop], None if self.weights is None else self.weights[start:stop]

    def _copy_to_host(self, stats: Stats, overflow: Any) -> tuple[Stats, int]:
        """Device statistics and an overflow count on the host: one copy."""
        K, d = stats.means.shape
        opts: dict[str, Any] = {"dtype": _F64, "device": self.device}
        packed = torch.cat(
            [
                torch.as_tensor(stats.total_weight, **opts).reshape(1),
                torch.as_tensor(stats.log_likelihood, **opts).reshape(1),
                torch.as_tensor(overflow, **opts).reshape(1),
                stats.mass,
                stats.means.reshape(-1),
                stats.scatter.reshape(-1),
            ]
        )
        host = packed.cpu().numpy()  # the synchronisation
        return Stats(
            float(host[0]),
            float(host[1]),
            host[3 : 3 + K].copy(),
            host[3 + K : 3 + K + K * d].reshape(K, d).copy(),
            host[3 + K + K * d :].reshape(stats.scatter.shape).copy(),
        ), int(host[2])

    def _to_host(self, stats: Stats, shift64: torch.Tensor) -> Stats:
        """Move device statistics (means relative to ``shift64``) to the host: one copy."""
        means = torch.where(stats.mass[:, None] > 0, stats.means + shift64, 0.0)
        return self._copy_to_host(stats._replace(means=means), 0)[0]

    # -- the Rows interface ----------------------------------------------------------
    def expectation(self, params: Params, cov: Covariance) -> Stats:
        """Merged E-step statistics of all rows under ``params`` (one host copy)."""
        host = self._host
        if host is not None:
            return host.expectation(params, cov)
        kernel = KERNELS[cov.form.name]
        return self._expectation(
            kernel,
            lambda dtype: device_plan(kernel, params, dtype, self.device),
            estep.noise_term(params),
        )

    def expectation_of(self, quad: estep.Quadratic, form: DensityForm) -> Stats:
        """Merged E-step statistics of all rows for densities ``quad`` of ``form``."""
        host = self._host
        if host is not None:
            return host.expectation_of(quad, form)
        kernel = KERNELS[form.name]

        def plan_for(dtype: torch.dtype) -> Any:
            return kernel.plan(quad, dtype, self.device)

        return self._expectation(kernel, plan_for, quad.noise)

    def _expectation(
        self, kernel: TorchKernel, plan_for: Callable[[torch.dtype], Any], noise: float | None
    ) -> Stats:
        """The shared E-step over this tensor's chunks; ``plan_for(dtype)`` makes plans;
        ``noise`` is a noise component's log-density (:attr:`estep.Quadratic.noise`)."""
        plan = plan_for(self.dtype)
        return estep.expectation(
            kernel,
            plan,
            lambda: self._pairs(plan.K),
            plan64=lambda: plan_for(_F64),
            ops=TORCH,
            to_host=self._copy_to_host,
            noise=noise,
        )

    def map_log_resp(
        self, params: Params, cov: Covariance, reduce: Callable[[Any, Any], Any]
    ) -> Any:
        """Concatenate ``reduce(log_norm, log_resp)`` over the chunks, in row order.

        ``log_norm`` is (r,) and ``log_resp`` (r, K), on the rows' device (for CPU
        tensors NumPy views of them); the result is a tensor there, or a NumPy
        array for NumPy input.
        """
        host = self._host
        if host is not None:
            result = host.map_log_resp(params, cov, reduce)
            return result if self.numpy_out else torch.from_numpy(result)
        kernel = KERNELS[cov.form.name]
        plan = device_plan(kernel, params, self.dtype, self.device)

        def plan64() -> Any:
            return device_plan(kernel, params, _F64, self.device)

        noise = estep.noise_term(params)
        parts = [
            reduce(*estep.chunk_log_resp(kernel, plan, X, plan64=plan64, ops=TORCH, noise=noise))
            for X, _ in self._pairs(params.means.shape[0])
        ]
        out = torch.cat(parts)
        return out.cpu().numpy() if self.numpy_out else out

    def worst_explained(self, params: Params, cov: Covariance, m: int) -> np.ndarray:
        """The ``m`` rows of lowest log-likelihood under ``params``, (m', d) float64.

        Rows of weight 0 are never chosen. Used to re-seed collapsed components.
        """
        host = self._host
        if host is not None:
            return host.worst_explained(params, cov, m)
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
        host = self._host
        if host is not None:  # NumPy's gather (none at all for every row)
            return host.take(index)
        at = torch.from_numpy(np.asarray(index, dtype=np.int64)).to(self.device)
        X = self.X[at].to(_F64).cpu().numpy()
        return X, None if self.weights is None else self.weights[at].cpu().numpy()

    def with_weights(self, weights: np.ndarray | None) -> TorchRows:
        """The same rows under other weights (n,), copied to the rows' device."""
        w = None if weights is None else torch.from_numpy(np.asarray(weights, np.float64))
        return TorchRows(
            self.X,
            None if w is None else w.to(self.device),
            chunk_rows=self.chunk_rows,
            numpy_out=self.numpy_out,
        )

    def host_weights(self) -> np.ndarray | None:
        """The row weights (n,) as float64 on the host, or None when unweighted."""
        host = self._host
        if host is not None:
            return host.host_weights()
        return None if self.weights is None else self.weights.cpu().numpy()

    def column_ranges(self, axes: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Column minima and maxima of ``X @ axes`` over rows of non-zero weight, on the
        device in chunks (float64), one copy to the host."""
        host = self._host
        if host is not None:
            return host.column_ranges(axes)
        d = self.n_features if axes is None else axes.shape[1]
        opts: dict[str, Any] = {"dtype": _F64, "device": self.device}
        low, high = torch.full((d,), math.inf, **opts), torch.full((d,), -math.inf, **opts)
        A = None if axes is None else torch.from_numpy(np.ascontiguousarray(axes)).to(**opts)
        for start, stop in self._ranges(self._chunk_rows(1, 8, 2)):
            Y = self.X[start:stop].to(_F64)
            if A is not None:
                Y = Y @ A
            if self.weights is not None:
                Y = Y[self.weights[start:stop] > 0]
            if Y.shape[0]:
                low = torch.minimum(low, Y.amin(0))
                high = torch.maximum(high, Y.amax(0))
        both = torch.stack([low, high]).cpu().numpy()
        return both[0].copy(), both[1].copy()

    def nearest_stats(self, centres: np.ndarray, origin: np.ndarray, cov: Covariance) -> Stats:
        """Statistics of every row's hard assignment to its nearest centre, on the device.

        Distances in the rows' dtype about ``origin``; statistics in float64.
        """
        host = self._host
        if host is not None:
            return host.nearest_stats(centres, origin, cov)
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
            parts.append(_stats_about_own_means(rows.to(_F64) - origin64, rw, cov.form))
        merged = merge_all(parts, cov.form)
        return self._to_host(merged._replace(total_weight=self._total()), origin64)

    def soft_stats(self, responsibilities: Responsibilities, cov: Covariance) -> Stats:
        """Statistics of ``responsibilities(start, stop)`` (drawn on the host, in row order)."""
        host = self._host
        if host is not None:
            return host.soft_stats(responsibilities, cov)
        K = responsibilities(0, 0).shape[1]
        shift64 = self._mean()
        parts = []
        for start, stop in self._ranges(self._chunk_rows(K, 8, 2)):
            rw = torch.from_numpy(responsibilities(start, stop).T.copy()).to(self.device)
            if self.weights is not None:
                rw = rw * self.weights[start:stop]
            Xc64 = self.X[start:stop].to(_F64) - shift64
            parts.append(_stats_about_own_means(Xc64, rw, cov.form))
        merged = merge_all(parts, cov.form)
        return self._to_host(merged._replace(total_weight=self._total()), shift64)

    def plusplus_step(
        self, closest: Any, candidates: np.ndarray, draws: np.ndarray | None
    ) -> SeedStep:
        """One k-means++ step on the device; ``closest`` is a float64 tensor (n,).

        Distances are scikit-learn's, in float64, on the rows as given.
        """
        host = self._host
        if host is not None:  # its own state (NumPy distances) throughout the seeding
            return host.plusplus_step(closest, candidates, draws)
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
            pots_host = pots.cpu().numpy()
            best = int(np.argmin(pots_host))
            potential = float(pots_host[best])
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
