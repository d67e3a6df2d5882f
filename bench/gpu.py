"""GPU benchmark: gaussmix on CUDA, scikit-learn's array-API path on CUDA, scikit-learn on NumPy.

The problem of issue 4: n = 1,000,000 rows, d = 64 features, K = 64 components,
'full' covariances, float32. All three fits start from the same explicit parameters
(scikit-learn's array-API path refuses 'kmeans' initialisation, so no method
initialises itself) and run a fixed number of EM iterations (tol = 0); the time per
iteration is the difference between two fits with different ``max_iter`` divided
by the difference in iterations, so set-up, validation and initialisation cancel.

FLOPs are counted from gaussmix's kernels: per iteration the batched product that
gives every component's whitened coordinates (2·n·K·d·d, plus the bias row and
padding) and the one that gives the whitened scatter (2·n·K·d·d), plus the
component sums (2·n·K·d). The *model* count, 4·n·K·d² + 2·n·K·d, is the same for
scikit-learn (its E-step and M-step loop over components doing the same products),
and the fraction of peak uses it. The FP32 peak is measured (a large float32 matrix
product with TF32 off) and the datasheet figure is quoted beside it.

Usage::

    python bench/gpu.py                          # the issue's problem on CUDA
    python bench/gpu.py --device cpu --n 20000   # smoke test on any machine
    python bench/gpu.py --json results.json      # also write every number as JSON
"""

from __future__ import annotations

import os

# scikit-learn's array-API dispatch needs SciPy's array-API support, set before
# SciPy is first imported. NumPy inputs are unaffected.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import argparse
import json
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # run from a checkout
from gaussmix import GaussianMixture
from gaussmix._core.covariance import Params, get_covariance
from gaussmix._core.em import m_step
from gaussmix.backends import _torch_kernels as torch_kernels
from gaussmix.backends import torch as torch_backend
from gaussmix.backends.torch import TorchRows

# Vendor datasheet FP32 (non-tensor) peaks, TFLOP/s, matched on the device name.
DATASHEET_FP32 = (
    ("H200", 67.0, "NVIDIA H200 SXM datasheet: 67 TFLOPS FP32"),
    ("H100 PCIe", 51.2, "NVIDIA H100 PCIe datasheet: 51 TFLOPS FP32"),
    ("H100 NVL", 60.0, "NVIDIA H100 NVL datasheet: 60 TFLOPS FP32"),
    ("H100", 67.0, "NVIDIA H100 SXM datasheet: 67 TFLOPS FP32"),
    ("A100", 19.5, "NVIDIA A100 datasheet: 19.5 TFLOPS FP32"),
    ("L40S", 91.6, "NVIDIA L40S datasheet: 91.6 TFLOPS FP32"),
    ("L4", 30.3, "NVIDIA L4 datasheet: 30.3 TFLOPS FP32"),
)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device) -> tuple[float, Any]:
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - start, out


def measure_peak_fp32(device: torch.device) -> float:
    """FLOP/s of a large float32 matrix product with TF32 off (median of 10)."""
    size = 8192 if device.type == "cuda" else 1024
    gen = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(size, size, device=device, generator=gen)
    b = torch.randn(size, size, device=device, generator=gen)
    for _ in range(3):
        a @ b
    times = [timed(lambda: a @ b, device)[0] for _ in range(10)]
    return 2.0 * size**3 / statistics.median(times)


def measure_copy_bandwidth(device: torch.device) -> float:
    """Bytes/s of a device-to-device copy, counting bytes read plus bytes written."""
    n = 2**28 if device.type == "cuda" else 2**24
    x = torch.empty(n, dtype=torch.float32, device=device).uniform_()
    y = torch.empty_like(x)
    for _ in range(2):
        y.copy_(x)
    times = [timed(lambda: y.copy_(x), device)[0] for _ in range(5)]
    return 2.0 * 4 * n / statistics.median(times)


def make_data(n: int, d: int, k: int, device: torch.device) -> tuple[torch.Tensor, np.ndarray]:
    """Rows of a K-component mixture with random full covariances, float32, on ``device``."""
    gen = torch.Generator(device="cpu").manual_seed(0)
    centres = torch.randn(k, d, generator=gen) * 4.0
    factors = torch.eye(d) + 0.3 * torch.randn(k, d, d, generator=gen) / d**0.5
    labels = torch.randint(k, (n,), generator=gen)
    X = torch.empty(n, d, dtype=torch.float32, device=device)
    z = torch.randn(n, d, generator=gen)
    for j in range(k):  # set-up only
        rows = labels == j
        X[rows.to(device)] = (centres[j] + z[rows] @ factors[j].T).to(device)
    return X, labels.numpy()


def start_params(X: torch.Tensor, k: int) -> dict[str, np.ndarray]:
    """One explicit start for every method: K random rows, equal weights, 1/var precisions."""
    rng = np.random.RandomState(0)
    index = np.sort(rng.choice(X.shape[0], size=k, replace=False))
    means = X[torch.from_numpy(index).to(X.device)].double().cpu().numpy()
    var = float(X.double().var(0).mean())
    d = X.shape[1]
    return {
        "weights_init": np.full(k, 1.0 / k),
        "means_init": means,
        "precisions_init": np.repeat(np.eye(d)[None] / var, k, axis=0),
    }


def per_iteration(
    fit: Callable[[int], Any], device: torch.device, short: int, long: int, repeats: int
) -> tuple[float, Any, list[float]]:
    """(t(long) - t(short)) / (iterations run): seconds per EM iteration, medians of repeats."""
    shorts = [timed(lambda: fit(short), device) for _ in range(repeats)]
    longs = [timed(lambda: fit(long), device) for _ in range(repeats)]
    t_short = statistics.median(t for t, _ in shorts)
    t_long = statistics.median(t for t, _ in longs)
    n_short, n_long = shorts[-1][1].n_iter_, longs[-1][1].n_iter_  # as run (early stops count)
    return (t_long - t_short) / (n_long - n_short), longs[-1][1], [t_short, t_long]


def sklearn_iteration_seconds(
    X: Any, start: dict[str, Any], k: int, device: torch.device, array_api: bool, repeats: int
) -> float:
    """One EM iteration of scikit-learn itself (its ``_e_step`` then ``_m_step``), timed.

    The model is set to the common start directly, so no fit (validation, initial
    M-step, final E-step) is paid for; the median of ``repeats`` iterations.
    """
    model = SkGaussianMixture(n_components=k, covariance_type="full", reg_covar=1e-6)
    asarray = (
        (lambda a: torch.as_tensor(a, dtype=X.dtype, device=device))
        if array_api
        else (lambda a: np.asarray(a, dtype=X.dtype))
    )
    precisions = np.asarray(start["precisions_init"], dtype=np.float64)
    model.weights_ = asarray(start["weights_init"])
    model.means_ = asarray(start["means_init"])
    model.precisions_cholesky_ = asarray(np.linalg.cholesky(precisions))

    def one() -> None:
        _, log_resp = model._e_step(X)
        model._m_step(X, log_resp)

    with sklearn.config_context(array_api_dispatch=array_api):
        if device.type == "cuda":
            one()  # warm-up
        times = [timed(one, device)[0] for _ in range(repeats)]
    return statistics.median(times)


def profile_table(fn: Callable[[], Any], device: torch.device) -> str:
    """torch.profiler's per-kernel table for one call of ``fn``."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        fn()
        sync(device)
    averages = prof.key_averages()
    for key in ("device_time_total", "cuda_time_total", "cpu_time_total"):
        try:
            return str(averages.table(sort_by=key, row_limit=18))
        except (AttributeError, KeyError, ValueError, RuntimeError):
            continue
    return str(averages)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--k", type=int, default=64)
    parser.add_argument("--iters", type=int, default=10, help="extra iterations timed (gaussmix)")
    parser.add_argument("--sklearn-gpu-iters", type=int, default=3)
    parser.add_argument(
        "--kernels", default="batched,blocks,tf32x3,fused", help="'full' kernels to try"
    )
    parser.add_argument(
        "--chunk-mib", default="0,512", help="chunk budgets to try (MiB; 0: the default)"
    )
    parser.add_argument(
        "--sections",
        default="gaussmix,sklearn-gpu,sklearn-numpy",
        help="which of gaussmix, sklearn-gpu, sklearn-numpy to run",
    )
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--profile", type=Path, default=None, help="write the kernel table here")
    args = parser.parse_args(argv)
    sections = set(args.sections.split(","))

    warnings.simplefilter("ignore", ConvergenceWarning)
    torch.backends.cuda.matmul.allow_tf32 = False  # FP32 means FP32 (also torch's default)
    torch.set_float32_matmul_precision("highest")
    device = torch.device(args.device)
    if device.type == "cuda":
        device = torch.device("cuda", torch.cuda.current_device())
    torch_backend.CPU_KERNELS = "torch"  # time torch's kernels, also in a CPU smoke run
    n, d, k = args.n, args.d, args.k
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    result: dict[str, Any] = {
        "problem": {"n": n, "d": d, "k": k, "covariance_type": "full", "dtype": "float32"},
        "device": name or device.type,
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "scikit-learn": sklearn.__version__,
            "cuda": torch.version.cuda,
        },
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        result["device_properties"] = {
            "multiprocessors": props.multi_processor_count,
            "memory_GiB": round(props.total_memory / 2**30, 1),
            "capability": f"{props.major}.{props.minor}",
        }
    from machine import header

    print(header(), flush=True)
    print(f"device: {result['device']}  ({result['versions']})", flush=True)

    def save() -> None:  # after every section, so a timeout keeps what was measured
        if args.json is not None:
            args.json.write_text(json.dumps(result, indent=2, default=str))

    peak = measure_peak_fp32(device)
    bandwidth = measure_copy_bandwidth(device)
    datasheet = next(
        ((tf, src) for key, tf, src in DATASHEET_FP32 if key in result["device"]), (None, None)
    )
    result["peak_fp32_measured_TFLOPs"] = peak / 1e12
    result["peak_fp32_datasheet_TFLOPs"] = datasheet[0]
    result["peak_fp32_datasheet_source"] = datasheet[1]
    result["copy_bandwidth_measured_TBs"] = bandwidth / 1e12
    print(
        f"FP32 peak (measured, TF32 off): {peak / 1e12:.1f} TFLOP/s; "
        f"datasheet: {datasheet[0]} TFLOP/s; copy bandwidth {bandwidth / 1e12:.2f} TB/s",
        flush=True,
    )

    X, _ = make_data(n, d, k, device)
    start = start_params(X, k)
    common = {"n_components": k, "covariance_type": "full", "tol": 0.0}
    model_flops = 4.0 * n * k * d * d + 2.0 * n * k * d
    p = -(-(d + 1) // 4) * 4
    executed_flops = 2.0 * n * k * p * d + 2.0 * n * k * d * d + 2.0 * n * k * d
    result["flops_per_iteration"] = {"model": model_flops, "gaussmix_executed": executed_flops}
    t_iter = None

    # -- gaussmix on the device -------------------------------------------------------
    def gaussmix_fit(max_iter: int, data: torch.Tensor = X) -> GaussianMixture:
        return GaussianMixture(max_iter=max_iter, **common, **start).fit(data)

    if "gaussmix" in sections:
        gm = gaussmix_fit(3, X[: min(n, 50_000)])  # warm-up: cuBLAS handles, kernels, allocator
        # The E-step + statistics alone (device kernels plus the one copy back), for each
        # kernel and chunk budget; the fits below use the fastest.
        rows = TorchRows(X)
        cov = get_covariance("full")
        params = Params(gm.weights_, gm.means_, gm.covariances_, gm.precisions_cholesky_)
        attr = "CUDA_CHUNK_BYTES" if device.type == "cuda" else "CPU_CHUNK_BYTES"
        default_budget = getattr(torch_backend, attr)
        sweep: dict[str, float] = {}
        agreement: dict[str, dict[str, float]] = {}
        first: Any = None
        for kernel in args.kernels.split(","):
            for mib in (int(v) for v in args.chunk_mib.split(",")):
                torch_kernels.FULL_KERNEL = kernel
                setattr(torch_backend, attr, mib * 2**20 if mib else default_budget)
                key = f"{kernel}/{mib}MiB"
                try:
                    got = rows.expectation(params, cov)
                except Exception as exc:  # one failing kernel must not lose the others
                    result.setdefault("kernel_errors", {})[key] = f"{type(exc).__name__}: {exc}"
                    print(f"  E-step, kernel {kernel!r} failed: {exc}", flush=True)
                    continue
                # Agreement with the first kernel's statistics (max |a-b| / max |b|).
                first = first if sweep else got
                diff = {
                    name: float(
                        np.abs(getattr(got, name) - getattr(first, name)).max()
                        / np.abs(getattr(first, name)).max()
                    )
                    for name in ("mass", "means", "scatter")
                }
                agreement[key] = diff
                sweep[key] = statistics.median(
                    timed(lambda: rows.expectation(params, cov), device)[0] for _ in range(3)
                )
                print(
                    f"  E-step, kernel {kernel!r}, {mib} MiB chunks ({rows._chunk_rows(k)} "
                    f"rows): {sweep[key] * 1e3:.1f} ms; relative difference from the first: "
                    f"{diff}",
                    flush=True,
                )
        best = min(sweep, key=lambda key: sweep[key])
        kernel, mib = best.split("/")
        torch_kernels.FULL_KERNEL = kernel
        setattr(torch_backend, attr, int(mib[:-3]) * 2**20 or default_budget)
        t_estep = sweep[best]
        if args.profile is not None:
            args.profile.write_text(
                f"{best}\n" + profile_table(lambda: rows.expectation(params, cov), device)
            )
        stats = rows.expectation(params, cov)
        t_mstep = statistics.median(
            timed(lambda: m_step(stats, cov, 1e-6), device)[0] for _ in range(3)
        )
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        long = 2 + args.iters
        t_iter, gm, raw = per_iteration(gaussmix_fit, device, 2, long, repeats=3)
        peak_mem = (
            torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
        )
        result["gaussmix"] = {
            "seconds_per_iteration": t_iter,
            "estep_seconds": t_estep,
            "host_mstep_seconds": t_mstep,
            "kernel_and_chunk": best,
            "chunk_rows": rows._chunk_rows(k),
            "estep_seconds_by_kernel_and_chunk": sweep,
            "estep_stats_difference_from_first_kernel": agreement,
            "fit_seconds_short_long": raw,
            "iterations_short_long": [2, long],
            "n_iter_long": gm.n_iter_,
            "peak_memory_GiB": peak_mem,
            "model_TFLOPs": model_flops / t_iter / 1e12,
            "fraction_of_measured_peak": model_flops / t_iter / peak,
            "estep_fraction_of_measured_peak": model_flops / t_estep / peak,
            "estep_executed_fraction_of_measured_peak": executed_flops / t_estep / peak,
        }
        print(
            f"gaussmix ({best}): {t_iter * 1e3:.1f} ms/iteration ({t_estep * 1e3:.1f} ms in "
            f"the E-step and statistics on the device, {t_mstep * 1e3:.1f} ms in the host "
            f"M-step), {model_flops / t_iter / peak:.1%} of measured FP32 peak "
            f"({model_flops / t_estep / peak:.1%} in the E-step)",
            flush=True,
        )
        save()

    # -- scikit-learn's array-API path on the same device -------------------------------
    if "sklearn-gpu" in sections:
        sk_start = {
            key: torch.as_tensor(v, dtype=X.dtype, device=device) for key, v in start.items()
        }

        def sklearn_gpu_fit(max_iter: int, data: torch.Tensor = X) -> SkGaussianMixture:
            with sklearn.config_context(array_api_dispatch=True):
                model = SkGaussianMixture(
                    max_iter=max_iter,
                    init_params="random_from_data",
                    random_state=0,
                    **common,
                    **sk_start,
                )
                return model.fit(data)

        try:
            sklearn_gpu_fit(1, X[: min(n, 50_000)])  # warm-up
            sk_long = 1 + args.sklearn_gpu_iters
            t_sk, sk, raw = per_iteration(sklearn_gpu_fit, device, 1, sk_long, repeats=2)
            t_direct = sklearn_iteration_seconds(X, start, k, device, True, repeats=3)
            entry: dict[str, Any] = {
                "seconds_per_iteration": t_sk,
                "seconds_per_direct_iteration": t_direct,
                "fit_seconds_short_long": raw,
                "iterations_short_long": [1, sk_long],
                "model_TFLOPs": model_flops / t_sk / 1e12,
                "fraction_of_measured_peak": model_flops / t_sk / peak,
            }
            if t_iter is not None:
                entry["gaussmix_speedup"] = t_sk / t_iter
                entry["agreement"] = _compare(sk, sk_long, X, start, common)
            result["sklearn_array_api"] = entry
            print(
                f"scikit-learn array API: {t_sk * 1e3:.1f} ms/iteration ({t_direct * 1e3:.1f}"
                f" ms for its own E- and M-step alone); {entry}",
                flush=True,
            )
        except Exception as exc:  # report, do not hide, a failure of the other library
            result["sklearn_array_api"] = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"scikit-learn array API failed: {type(exc).__name__}: {exc}", flush=True)
        save()

    # -- scikit-learn on NumPy (the CPU) ------------------------------------------------
    if "sklearn-numpy" in sections:
        X_host = X.cpu().numpy()
        t_np = sklearn_iteration_seconds(X_host, start, k, torch.device("cpu"), False, repeats=2)
        result["sklearn_numpy"] = {
            "seconds_per_direct_iteration": t_np,
            "seconds_per_iteration": t_np,
            "cpu_threads": os.cpu_count(),
            "model_TFLOPs": model_flops / t_np / 1e12,
        }
        if t_iter is not None:
            result["sklearn_numpy"]["gaussmix_speedup"] = t_np / t_iter
        print(f"scikit-learn on NumPy: {t_np:.2f} s per E- and M-step", flush=True)
        save()

    print("\n" + table(result))
    return result


def _compare(
    sk: SkGaussianMixture,
    iters: int,
    X: torch.Tensor,
    start: dict[str, np.ndarray],
    common: dict[str, Any],
) -> dict[str, float]:
    """How far gaussmix's parameters are from scikit-learn's after the same iterations."""
    same = GaussianMixture(max_iter=iters, **common, **start).fit(X)
    sk_means = sk.means_.double().cpu().numpy()
    scale = float(np.abs(sk_means).max())
    return {
        "iterations": same.n_iter_,
        "means_max_rel_diff": float(np.abs(same.means_ - sk_means).max() / scale),
        "lower_bound_diff": float(abs(same.lower_bound_ - float(sk.lower_bound_))),
    }


def table(result: dict[str, Any]) -> str:
    """The headline numbers as a Markdown table."""
    prob = result["problem"]
    lines = [
        f"n={prob['n']:,}, d={prob['d']}, K={prob['k']}, full, float32 on {result['device']}; "
        f"FP32 peak measured {result['peak_fp32_measured_TFLOPs']:.1f} TFLOP/s "
        f"(datasheet {result['peak_fp32_datasheet_TFLOPs']})",
        "",
        "| method | time per EM iteration | model TFLOP/s | fraction of FP32 peak "
        "| gaussmix speed-up |",
        "| --- | --- | --- | --- | --- |",
    ]
    for key, label in (
        ("gaussmix", "gaussmix, torch on the device"),
        ("sklearn_array_api", "scikit-learn array API, torch on the device"),
        ("sklearn_numpy", "scikit-learn, NumPy on the CPU"),
    ):
        r = result.get(key)
        if r is None:
            continue
        if "error" in r:
            lines.append(f"| {label} | failed: {r['error']} | | | |")
            continue
        fraction = r.get("fraction_of_measured_peak")
        lines.append(
            f"| {label} | {r['seconds_per_iteration'] * 1e3:,.1f} ms | {r['model_TFLOPs']:.2f} | "
            f"{'' if fraction is None else f'{fraction:.1%}'} | "
            f"{r.get('gaussmix_speedup', 1.0):.1f}x |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
