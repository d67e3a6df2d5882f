"""numba's compiler for the package's kernels, cached on disk wherever a cache can live.

Every kernel is compiled with ``cache=True``, so a fresh process loads machine
code instead of compiling it (about a second per process otherwise). numba looks
for a writable cache folder in this order: ``NUMBA_CACHE_DIR`` when set, the
``__pycache__`` folder beside the module, then the user's cache folder
(``~/.cache/numba``, or under ``XDG_CACHE_HOME``). A read-only install (a system
site-packages, a container image) therefore caches once per user; with
``NUMBA_CACHE_DIR`` an administrator can point every user at one folder filled
ahead of time. The cache is keyed by the source file's contents, the argument
types and the CPU numba compiles for, so a different machine or a new version
compiles afresh instead of loading code built for another.

Where no folder is writable at all, numba refuses ``cache=True`` when a kernel is
defined; :func:`njit` then compiles that kernel in each process instead (and
logs once), so the package still imports and runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

__all__ = ["njit"]

logger = logging.getLogger("gaussmix")
_warned = False


def njit(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """numba's ``njit(cache=True, **options)``; no compilation at all without numba.

    Modules whose kernels are useless uncompiled import numba themselves first,
    so that its absence raises ImportError there and their callers choose a
    NumPy path.
    """
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a core dependency
        return lambda func: func

    def compile_(func: Callable[..., Any]) -> Any:
        global _warned
        try:
            return numba.njit(cache=True, **options)(func)
        except RuntimeError as exc:  # "cannot cache function ...: no locator available"
            if not _warned:
                logger.warning(
                    "numba cannot cache compiled kernels (%s): they are compiled in every "
                    "process. Set NUMBA_CACHE_DIR to a writable folder to cache them.",
                    exc,
                )
                _warned = True
            return numba.njit(**options)(func)

    return compile_
