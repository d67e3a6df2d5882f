"""Chunk functions on a thread pool, with BLAS held to one thread meanwhile.

The kernels release the GIL (BLAS, NumPy loops, numba ``nogil``), so chunks of
rows run in parallel on threads. BLAS is held to one thread meanwhile: its
products here are small, and its own threads would only oversubscribe the cores
(on a busy machine they spin-wait: a chunk's product ran 5x slower with them).
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = ["map_chunks", "n_threads", "single_threaded_blas"]

T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None
_blas: Any = None
_depth = 0  # nested single_threaded_blas() contexts: only the outermost sets the limit


def n_threads() -> int:
    """Threads that work on chunks: the CPUs this process may run on.

    ``GAUSSMIX_NUM_THREADS`` overrides it (1 runs every chunk in the calling thread).
    """
    configured = os.environ.get("GAUSSMIX_NUM_THREADS")
    if configured:
        return max(1, int(configured))
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _blas_libraries() -> list[Any]:
    """threadpoolctl's controllers of the BLAS libraries loaded (found once: slow)."""
    global _blas
    if _blas is None:
        from threadpoolctl import ThreadpoolController

        _blas = ThreadpoolController().select(user_api="blas").lib_controllers
    return _blas


_BLAS_THREADED_MIN = 2**18
"""Multiply-adds from which a BLAS product may run on several threads (OpenBLAS
computes smaller ones in one thread whatever its setting: 65536 x 4 for gemm)."""


@contextmanager
def single_threaded_blas(work: int | None = None) -> Iterator[None]:
    """Hold BLAS to one thread; re-entering costs nothing (the outermost context rules).

    ``work``, the multiply-adds of the largest product inside, skips the hold where
    BLAS would use one thread anyway: then neither threadpoolctl's scan of the
    loaded libraries (a tenth of a second the first time, in a process that has
    loaded many) nor the get/set calls are paid.

    The libraries' own get/set calls are used directly: threadpoolctl's ``limit``
    re-reads every library's full description each time (about 0.1 ms, once per
    E-step, as much as a whole E-step on small data).
    """
    if work is not None and work < _BLAS_THREADED_MIN:
        yield
        return
    global _depth
    if _depth:
        _depth += 1
        try:
            yield
        finally:
            _depth -= 1
        return
    libraries = _blas_libraries()
    before = [lib.num_threads for lib in libraries]
    for lib in libraries:
        lib.set_num_threads(1)
    _depth = 1
    try:
        yield
    finally:
        _depth = 0
        for lib, threads in zip(libraries, before, strict=True):
            lib.set_num_threads(threads)


def map_chunks(fn: Callable[..., T], tasks: Iterable[tuple[Any, ...]]) -> Iterator[T]:
    """``fn(*task) for task in tasks``, in order, on a thread pool when there are several.

    Results come back in task order, so merging them is deterministic whatever the
    scheduling. Each task runs in a copy of the caller's context (its context
    variables: what the kernels decided for the whole pass). BLAS is held to one
    thread only while the pool runs: a single task runs in the calling thread with
    BLAS as the user set it (and never pays threadpoolctl's scan of the loaded
    libraries, a tenth of a second in a process that has loaded many).
    """
    global _pool
    tasks = list(tasks)
    workers = min(n_threads(), len(tasks)) if len(tasks) > 1 else 1  # (a syscall saved)
    if workers <= 1:
        for task in tasks:
            yield fn(*task)
        return
    if _pool is None or _pool._max_workers < workers:
        _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gaussmix")
    context = contextvars.copy_context()
    with single_threaded_blas():
        yield from _pool.map(lambda task: context.copy().run(fn, *task), tasks)
