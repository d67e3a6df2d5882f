"""The header every benchmark prints first: which machine, which vectors, which BLAS, how busy.

A timing means little without the CPU it ran on (AVX2 or AVX-512 changes both the
numba kernels and OpenBLAS's kernels), the BLAS kernel OpenBLAS picked (its "core
type", which ``OPENBLAS_CORETYPE`` can force) and the load of a shared machine.
Every script in ``bench/`` prints :func:`header` before its first figure; the
first line of it, :func:`machine_kind`, names the table of ``bench/RESULTS.md``
its numbers belong to.

Usage from a bench script (``bench/`` is on ``sys.path`` when one is run as a file)::

    from machine import header
    print(header())
"""

from __future__ import annotations

import datetime
import os
import platform
import shutil
import sys
from functools import cache
from pathlib import Path

# The extensions that decide how wide the kernels run, as /proc/cpuinfo names them.
_EXTENSIONS = {
    "avx512f": "AVX-512F",
    "avx512dq": "DQ",
    "avx512bw": "BW",
    "avx512vl": "VL",
    "avx512_vnni": "VNNI",
    "avx2": "AVX2",
    "fma": "FMA",
}


def _cpuinfo() -> tuple[str, set[str]]:
    """The CPU's model name and feature flags (Linux); empty where unreadable."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine(), set()
    model, flags = "", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    return model or platform.machine(), flags


def _llvm_flags() -> set[str]:
    """Feature flags as LLVM (numba's compiler) sees the host, where /proc/cpuinfo is absent."""
    try:
        import llvmlite.binding as llvm
    except ImportError:
        return set()
    features = llvm.get_host_cpu_features()
    return {name.replace("-", "_") for name, on in features.items() if on}


@cache
def vector_extensions() -> tuple[list[str], int]:
    """The vector extensions the CPU has (names as Intel writes them) and its vector width.

    Returns
    -------
    names : list of str
        For example ``["AVX2", "FMA"]`` or ``["AVX-512F", "DQ", "BW", "VL", "AVX2", "FMA"]``.
    bits : int
        The widest floating-point vector: 512, 256 or 128.
    """
    _, flags = _cpuinfo()
    flags = flags or _llvm_flags()
    names = [label for flag, label in _EXTENSIONS.items() if flag in flags]
    bits = 512 if "avx512f" in flags else 256 if "avx" in flags else 128
    return names, bits


def numba_target() -> str:
    """The CPU numba compiles for (the host, unless NUMBA_CPU_NAME says otherwise)."""
    forced = os.environ.get("NUMBA_CPU_NAME")
    if forced:
        return f"{forced} (NUMBA_CPU_NAME)"
    try:
        import llvmlite.binding as llvm
    except ImportError:
        return "no numba"
    return str(llvm.get_host_cpu_name())


def blas() -> list[str]:
    """Each loaded BLAS: library, version, kernel (OpenBLAS's core type), threads, owner.

    NumPy and SciPy are imported first so that their BLAS libraries are loaded.
    """
    import numpy  # noqa: F401
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_info

    out = []
    for info in threadpool_info():
        if info["user_api"] != "blas":
            continue
        owner = Path(info["filepath"]).parent.name.removesuffix(".libs")
        kernel = info.get("architecture") or "?"
        out.append(
            f"{info['internal_api']} {info.get('version')}, {kernel} kernel, "
            f"{info['num_threads']} threads ({owner})"
        )
    names = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
    forced = [f"{name}={os.environ[name]}" for name in names if name in os.environ]
    if forced:
        out.append(f"forced by {', '.join(forced)}")
    return out


@cache
def blas_kernels() -> str:
    """The distinct BLAS kernels loaded, e.g. ``"OpenBLAS Haswell"``."""
    import numpy  # noqa: F401
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_info

    kinds = sorted(
        {
            f"{'OpenBLAS' if i['internal_api'] == 'openblas' else i['internal_api']} "
            f"{i.get('architecture') or ''}".strip()
            for i in threadpool_info()
            if i["user_api"] == "blas"
        }
    )
    return " / ".join(kinds) or "no BLAS found"


def machine_kind() -> str:
    """A short name for the kind of machine: CPU model, vector width, BLAS kernel.

    The tables of ``bench/RESULTS.md`` are headed by it.
    """
    model, _ = _cpuinfo()
    names, bits = vector_extensions()
    widest = next((name for name in names if name.startswith("AVX")), "SSE")
    return f"{model}, {widest} ({bits}-bit), {blas_kernels()}"


def versions() -> str:
    """Python and the installed libraries a benchmark's figures depend on (none imported)."""
    from importlib.metadata import PackageNotFoundError, version

    parts = [f"Python {platform.python_version()}"]
    for name in ("numpy", "scipy", "scikit-learn", "numba", "torch", "gaussmix"):
        try:
            parts.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            continue
    return ", ".join(parts)


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, or 'unknown' where the OS has none."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f} (1, 5, 15 min; {os.cpu_count()} CPUs)"


def header() -> str:
    """The lines every benchmark prints before its figures."""
    names, bits = vector_extensions()
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            f"Machine kind: {machine_kind()}",
            f"CPU: {_cpuinfo()[0]}, {os.cpu_count()} CPUs; vector extensions: "
            f"{', '.join(names) or 'none beyond SSE'} ({bits}-bit); "
            f"numba target: {numba_target()}",
            f"BLAS: {'; '.join(blas())}",
            f"Software: {versions()}",
            f"Load average: {load_average()}",
            f"Date: {now}",
        ]
    )


if __name__ == "__main__":
    print(header())


def require_r() -> None:
    """Exit with a message unless R's ``Rscript`` is on PATH (the mclust comparisons)."""
    if shutil.which("Rscript") is None:
        sys.exit("Rscript not found: this comparison needs R with the mclust package.")
