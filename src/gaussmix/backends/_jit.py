"""Compiled row kernels (numba), imported only on the first E-step that can use them.

The kernel releases the GIL (``nogil``) so that chunks run on all cores from a
plain thread pool, and is cached on disk (``cache=True``) so compilation happens
once per installation. :mod:`._kernels` holds the pure-NumPy equivalent used when
numba is not importable, and the tests compare the two.

Feature layout (``m`` entries, one column per row) for a row ``x`` centred as ``z = x - c``:

- ``FULL``: the upper-triangle products ``z_j z_l`` (j <= l, row-major), then ``z``, then 1
- ``DIAG``: ``z_j²``, then ``z``, then 1
- ``SPHERICAL``: ``|z|²``, then ``z``, then 1

so that ``W.T @ features`` gives the weighted log-densities and ``rw @ features.T``
the responsibility mass, first and second moments in one product.
"""

from __future__ import annotations

from numba import njit

FULL, DIAG, SPHERICAL = 0, 1, 2


@njit(nogil=True, cache=True, boundscheck=False)
def features(X, centre, kind, F):
    """F[:, i] = features of X[i] - centre, in F's dtype (module docstring's layout).

    Rows are columns of F, so every loop below runs along contiguous rows and
    vectorises.

    Parameters
    ----------
    X : ndarray of shape (n, d), float32 or float64
    centre : ndarray of shape (d,), float64
    kind : int, FULL, DIAG or SPHERICAL
    F : ndarray of shape (m, n), written
    """
    n, d = X.shape
    m = F.shape[0]
    q = m - 1 - d
    for j in range(d):
        c = centre[j]
        for i in range(n):
            F[q + j, i] = X[i, j] - c
    F[m - 1, :] = 1.0
    if kind == FULL:
        t = 0
        for j in range(d):
            for j2 in range(j, d):
                for i in range(n):
                    F[t, i] = F[q + j, i] * F[q + j2, i]
                t += 1
    elif kind == DIAG:
        for j in range(d):
            for i in range(n):
                F[j, i] = F[q + j, i] * F[q + j, i]
    else:
        F[0, :] = 0.0
        for j in range(d):
            for i in range(n):
                F[0, i] += F[q + j, i] * F[q + j, i]
