"""The random state of a fit: scikit-learn's ``check_random_state``, with integer seeds
served from re-seeded instances.

Building a ``RandomState`` costs a noticeable share of a whole fit on small data
(its bit generator draws fresh entropy before the seed replaces it; bench/RESULTS.md);
re-seeding an idle one is a hundred times cheaper and gives the same stream
(``RandomState(seed)`` is ``RandomState().seed(seed)``).
"""

from __future__ import annotations

import numbers
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["random_state"]

_idle: list[np.random.RandomState] = []  # instances no fit holds now
_lock = threading.Lock()


@contextmanager
def random_state(seed: Any) -> Iterator[np.random.RandomState]:
    """``check_random_state(seed)`` for the duration of a fit.

    An integer seed gets an instance no other fit holds (fits in several threads,
    or one inside another, never share one), given back when the block ends.
    """
    if not isinstance(seed, numbers.Integral):  # None (numpy's global) or an instance
        yield check_random_state(seed)
        return
    with _lock:
        rng = _idle.pop() if _idle else np.random.RandomState()
    rng.seed(int(seed))
    try:
        yield rng
    finally:
        with _lock:
            _idle.append(rng)
