"""Compiled row kernels (numba), imported only on the first E-step that can use them.

The kernels release the GIL (``nogil``) so that chunks run on all cores from a
plain thread pool, and all are cached on disk (:mod:`.._core.compiled`), so
compilation happens once per installation and CPU, not in every process; the
kernels that call BLAS (the scatters, and ``maha_triangular`` on CPUs with 512-bit
vectors) call it by a symbol name
bound to SciPy's routine when this module is imported, not through a function
pointer held in the compiled code (which numba cannot cache). :mod:`._kernels` holds the
pure-NumPy equivalent used when numba is not importable, and the tests compare
the two.

Feature layouts (``m`` entries, one column per row) for a row ``x`` centred as ``z = x - c``:

- :func:`products` ('full'): the upper-triangle products ``z_j z_l`` (j <= l,
  row-major), then ``z``, then 1
- :func:`squares` ('diagonal'): ``z_j²``, then ``z``, then 1
- :func:`norms` ('spherical'): ``|z|²``, then ``z``, then 1

so that ``W.T @ features`` gives the weighted log-densities and ``rw @ features.T``
the responsibility mass, first and second moments in one product.
"""

from __future__ import annotations

import math

import numba  # noqa: F401  (without numba, ImportError here selects the NumPy kernels)
import numpy as np

from .._core.compiled import njit

_L1_VALUES = 2048  # float64 values in half of a 32 KiB L1 data cache, the smallest on x86-64


@njit(nogil=True, boundscheck=False)
def _centred(X, centre, F):
    """F's rows ``z = x - centre`` (just before its last row) and the 1s; returns q,
    the number of second-moment rows before them."""
    n, d = X.shape
    m = F.shape[0]
    q = m - 1 - d
    # X's columns are read a block of rows at a time, so that the block (not the whole
    # chunk) is what each column's strided pass reads: it stays in the L1 cache.
    B = max(8, _L1_VALUES // max(d, 1))
    for start in range(0, n, B):
        stop = min(start + B, n)
        for j in range(d):
            c = centre[j]
            for i in range(start, stop):
                F[q + j, i] = X[i, j] - c
    F[m - 1, :] = 1.0
    return q


@njit(nogil=True, boundscheck=False)
def centred(X, centre, F):
    """F = [X - centre; 1]ᵀ: rows centred, one per column, then a row of 1s.

    Parameters
    ----------
    X : ndarray of shape (n, d), float32 or float64
    centre : ndarray of shape (d,), float64
    F : ndarray of shape (d + 1, n), written, in F's dtype
    """
    _centred(X, centre, F)


@njit(nogil=True, boundscheck=False)
def products(X, centre, F):
    """F[:, i] = the 'full' features of X[i] - centre (the module docstring's layout).

    Rows are columns of F, so every loop below runs along contiguous rows and
    vectorises.

    Parameters
    ----------
    X : ndarray of shape (n, d), float32 or float64
    centre : ndarray of shape (d,), float64
    F : ndarray of shape (m, n), written, in F's dtype
    """
    n, d = X.shape
    q = _centred(X, centre, F)
    t = 0
    for j in range(d):
        for j2 in range(j, d):
            for i in range(n):
                F[t, i] = F[q + j, i] * F[q + j2, i]
            t += 1


@njit(nogil=True, boundscheck=False)
def squares(X, centre, F):
    """F[:, i] = the 'diagonal' features of X[i] - centre (see :func:`products`)."""
    n, d = X.shape
    q = _centred(X, centre, F)
    for j in range(d):
        for i in range(n):
            F[j, i] = F[q + j, i] * F[q + j, i]


@njit(nogil=True, boundscheck=False)
def norms(X, centre, F):
    """F[:, i] = the 'spherical' features of X[i] - centre (see :func:`products`)."""
    n, d = X.shape
    q = _centred(X, centre, F)
    F[0, :] = 0.0
    for j in range(d):
        for i in range(n):
            F[0, i] += F[q + j, i] * F[q + j, i]


# -- one-dimensional rows: the whole E-step of a chunk in one pass -----------------
# -- 'diagonal' and 'spherical' components far from the shared centre ------------------
@njit(nogil=True, boundscheck=False, fastmath={"contract", "reassoc"})
def diagonal_direct(X, centres, scales, bias, out):
    """out[k, i] = bias_k - ½ Σ_j scales[k, j] (x_ij - centres[k, j])², in float64.

    Each component about its own centre: no expanded square, nothing cancels.

    Parameters
    ----------
    X : ndarray of shape (n, d), float32 or float64
    centres, scales : ndarray of shape (K, d), float64
    bias : ndarray of shape (K,), float64
    out : ndarray of shape (K, n), X's dtype, written
    """
    n, d = X.shape
    K = centres.shape[0]
    for i in range(n):
        for k in range(K):
            s = 0.0
            for j in range(d):
                t = X[i, j] - centres[k, j]
                s += scales[k, j] * t * t
            out[k, i] = bias[k] - 0.5 * s


@njit(nogil=True, boundscheck=False, fastmath={"contract"})
def diagonal_direct_moments(X, centres, r, out):
    """out[k] = [Σ_i r_ki z_i², Σ_i r_ki z_i, Σ_i r_ki] with z_i = x_i - centres[k].

    Parameters
    ----------
    X : ndarray of shape (n, d), float32 or float64
    centres : ndarray of shape (K, d), float64
    r : ndarray of shape (K, n), float64
    out : ndarray of shape (K, 2 d + 1), float64, written
    """
    n, d = X.shape
    K = centres.shape[0]
    z = np.empty(d)
    second = np.empty(d)
    first = np.empty(d)
    for k in range(K):
        c = centres[k]
        second[:] = 0.0
        first[:] = 0.0
        mass = 0.0
        for i in range(n):
            w = r[k, i]
            if w == 0.0:
                continue
            x = X[i]
            for j in range(d):
                z[j] = w * (x[j] - c[j])
            for j in range(d):
                first[j] += z[j]
                second[j] += z[j] * (x[j] - c[j])
            mass += w
        out[k, :d] = second
        out[k, d : 2 * d] = first
        out[k, 2 * d] = mass


_BLOCK = 256  # rows per block: every per-block array stays in the L1 cache
_LOG2E = 1.4426950408889634
_LN2_HI = 0.6931471803691238  # ln 2 split so that k * _LN2_HI is exact (Cody-Waite)
_LN2_LO = 1.9082149292705877e-10
_ROUND = 6755399441055744.0  # 1.5 * 2**52: adding it rounds to an integer, kept in the low bits
# (bits of _ROUND + k) + _EXPONENT = k + 1023, the biased exponent of 2^k
_EXPONENT = 1023 - int(np.array(_ROUND).view(np.int64))
_EXP_FAST_MIN = -708.0  # from here down exp is subnormal or 0: left to math.exp
_EXP_ZERO = -746.0  # from here down exp rounds to 0
# 1/j!, j = 0..13: exp's Taylor coefficients (remainder below 1e-17 relative on |r| <= ln 2 / 2)
_C0, _C1, _C2, _C3, _C4, _C5, _C6 = 1.0, 1.0, 0.5, 1 / 6, 1 / 24, 1 / 120, 1 / 720
_C7, _C8, _C9, _C10 = 1 / 5040, 1 / 40320, 1 / 362880, 1 / 3628800
_C11, _C12, _C13 = 1 / 39916800, 1 / 479001600, 1 / 6227020800


@njit(nogil=True, boundscheck=False, fastmath={"contract"})
def _exp_nonpositive(a, out, power, n):
    """out[:n] = exp(a[:n]) for a <= 0, in loops that vectorise at any vector width.

    ``math.exp`` is a scalar library call (about 5 ns); this is a Cody-Waite
    reduction ``a = k ln 2 + r``, |r| <= ln 2 / 2, and a degree-13 Taylor
    polynomial, scaled by 2^k. Every step is a plain float64 or int64 lane
    operation that SSE2, AVX2 and AVX-512 all have: k is rounded by adding
    ``_ROUND``, whose low bits then hold k, so 2^k's exponent bits come from an
    integer add and shift of those bits (``power``, a float64 buffer), not from a
    float-to-int64 conversion, which only AVX-512 vectorises. The polynomial is
    evaluated in Estrin's scheme (depth 5 instead of Horner's 13), so independent
    lanes do not wait on one long chain. Only multiply-adds are fused
    (``contract``), nothing is reordered: within 2 ulp of exp. Arguments below
    ``_EXP_FAST_MIN`` (subnormal results, 0, -inf) and NaN go to ``math.exp``.
    """
    for i in range(n):
        x = max(a[i], _EXP_FAST_MIN)
        shifted = x * _LOG2E + _ROUND
        k = shifted - _ROUND  # round(x / ln 2)
        r = (x - k * _LN2_HI) - k * _LN2_LO
        r2 = r * r
        r4 = r2 * r2
        low = (_C3 * r + _C2) * r2 + (_C1 * r + _C0)
        mid = (_C7 * r + _C6) * r2 + (_C5 * r + _C4)
        high = (_C11 * r + _C10) * r2 + (_C9 * r + _C8)
        top = _C13 * r + _C12
        out[i] = (top * r4 + high) * (r4 * r4) + (mid * r4 + low)
        power[i] = shifted
    bits = power.view(np.int64)
    for i in range(n):
        bits[i] = (bits[i] + _EXPONENT) << 52
    for i in range(n):
        out[i] *= power[i]
    for i in range(n):
        x = a[i]
        if not x >= _EXP_FAST_MIN:
            out[i] = 0.0 if x < _EXP_ZERO else math.exp(x)


@njit(nogil=True, boundscheck=False, error_model="numpy")
def sums_1d(x, centre, W, out):
    """E-step sums of unweighted 1-D rows in one pass; returns Σ_i log p(x_i).

    Per block of rows: the K log-densities ``W[0] z² + W[1] z + W[2]`` of
    ``z = x - centre``, their maximum, the exponentials, and the responsibilities'
    contributions, accumulated per (component, row-in-block) so that every loop
    runs along the block and vectorises. ``log Σ_k e_k`` is taken from products
    of up to ``flush`` row sums (each in [1, K], so no overflow): one logarithm
    per ``flush`` rows.

    Parameters
    ----------
    x : ndarray of shape (n,), float64
    centre : float
    W : ndarray of shape (3, K), float64
        Feature weights (layout ``z², z, 1``) from ``make_plan``.
    out : ndarray of shape (K, 3), float64, written
        Σ_i r_ik z_i², Σ_i r_ik z_i, Σ_i r_ik.
    """
    n = x.shape[0]
    K = W.shape[1]
    B = _BLOCK
    z = np.empty(B)
    z2 = np.empty(B)
    top = np.empty(B)
    s = np.empty(B)
    t = np.empty((K, B))
    e = np.empty((K, B))
    power = np.empty(B)
    acc = np.zeros((3, K, B))
    prod = np.ones(B)
    tops = np.zeros(B)
    logs = np.zeros(B)
    flush = max(1, min(64, int(690.0 / math.log(K + 1.0))))
    blocks = 0
    for start in range(0, n, B):
        m = min(B, n - start)
        for i in range(m):
            z[i] = x[start + i] - centre
            z2[i] = z[i] * z[i]
            top[i] = -np.inf
        for k in range(K):
            a, b, c = W[0, k], W[1, k], W[2, k]
            for i in range(m):
                t[k, i] = a * z2[i] + b * z[i] + c
                top[i] = max(top[i], t[k, i])
        for k in range(K):
            for i in range(m):
                t[k, i] -= top[i]
            _exp_nonpositive(t[k], e[k], power, m)
        for i in range(m):
            s[i] = 0.0
        for k in range(K):
            for i in range(m):
                s[i] += e[k, i]
        for i in range(m):
            prod[i] *= s[i]
            tops[i] += top[i]
            s[i] = 1.0 / s[i]
        for k in range(K):
            for i in range(m):
                r = e[k, i] * s[i]
                acc[0, k, i] += r * z2[i]
                acc[1, k, i] += r * z[i]
                acc[2, k, i] += r
        blocks += 1
        if blocks == flush:
            for i in range(B):
                logs[i] += math.log(prod[i])
                prod[i] = 1.0
            blocks = 0
    for k in range(K):
        for j in range(3):
            out[k, j] = acc[j, k].sum()
    ll = 0.0
    for i in range(B):
        ll += logs[i] + math.log(prod[i]) + tops[i]
    return ll


# -- responsibilities of every form: exp and flush in compiled passes ------------------
@njit(nogil=True, boundscheck=False)
def exp_shifted(wlp, top, out):
    """out[k, i] = exp(wlp[k, i] - top[i]) (see :func:`_exp_nonpositive`), block by block.

    Parameters
    ----------
    wlp : ndarray of shape (K, n), float32 or float64, C order
        Weighted log-densities, each at most its row's ``top``.
    top : ndarray of shape (n,), float64
    out : ndarray of shape (K, n), float64, C order, written; may be ``wlp`` itself
    """
    K, n = wlp.shape
    B = _BLOCK
    shifted = np.empty(B)
    power = np.empty(B)
    for k in range(K):
        for start in range(0, n, B):
            m = min(B, n - start)
            for i in range(m):
                shifted[i] = wlp[k, start + i] - top[start + i]
            _exp_nonpositive(shifted, out[k, start : start + m], power, m)


_TINY = float(np.finfo(np.float64).tiny)


@njit(nogil=True, boundscheck=False)
def flush_subnormal(rw):
    """Entries of ``rw`` (K, n) below the smallest normal float64 set to 0, in place."""
    flat = rw.reshape(-1)
    for i in range(flat.shape[0]):
        x = flat[i]
        flat[i] = 0.0 if x < _TINY else x  # a store on every lane: one vector select


# -- 'full' in many dimensions: triangular products and BLAS scatters, without the GIL --
def _blas(name: str, n_args: int):
    """SciPy's BLAS routine ``name`` as an external function numba can call and cache
    (every argument by pointer, Fortran style), or None without SciPy's Cython BLAS.

    The compiled code names the routine by a symbol that is bound here, in every
    process, to SciPy's address before any kernel is compiled or loaded.
    """
    import llvmlite.binding as llvm
    from numba import types
    from numba.extending import get_cython_function_address

    try:
        address = get_cython_function_address("scipy.linalg.cython_blas", name)
    except (ImportError, ValueError):
        return None
    symbol = f"gaussmix_scipy_blas_{name}"
    llvm.add_symbol(symbol, address)
    return types.ExternalFunction(symbol, types.void(*[types.voidptr] * n_args))


_MAHA_BLOCK_ROWS = 128  # rows per block of _maha_tiles: its copy (d, 128) stays in L2
_dtrmm = _blas("dtrmm", 11)
_R, _L, _T, _N = (np.array([ord(c)], dtype=np.uint8) for c in "RLTN")


def _blas_is_wider() -> bool:
    """Whether the host has 512-bit vectors, which OpenBLAS's kernels use and numba's
    code does not (LLVM prefers 256-bit vectors on those CPUs)."""
    import llvmlite.binding as llvm

    return bool(llvm.get_host_cpu_features().get("avx512f", False))


_TRMM = _blas_is_wider() and _dtrmm is not None


@njit(nogil=True, boundscheck=False)
def maha_triangular(Z, offsets, factors, out):
    """out[k, i] = |P_k^T (z_i - δ_k)|² by a triangular product per component.

    Numba's own 4 × 4 tiles (:func:`_maha_tiles`), squared as they are formed: on
    AVX2 faster than BLAS's ``dtrmm`` with the subtract and square passes
    (bench/RESULTS.md); ``dtrmm`` (:func:`_maha_trmm`) where the CPU has 512-bit
    vectors, which BLAS uses and numba's code does not.

    Parameters
    ----------
    Z : ndarray of shape (m, n), float64, C order
        Its first d rows are the chunk's rows centred on the group's centre.
    offsets : ndarray of shape (K, d), float64
        δ_k = μ_k - centre.
    factors : ndarray of shape (K, d, d), float64, C order
        Upper-triangular precision factors P_k (only the upper triangle is read).
    out : ndarray of shape (K, n), float64, written
    """
    if _TRMM:
        _maha_trmm(Z, offsets, factors, out)
    else:
        _maha_tiles(Z, offsets, factors, out, _MAHA_BLOCK_ROWS)


@njit(nogil=True, boundscheck=False)
def _maha_trmm(Z, offsets, factors, out):
    """:func:`maha_triangular` by one BLAS ``dtrmm`` per component (half the
    multiplications of a general product, inside this ``nogil`` function)."""
    K, d = offsets.shape
    n = Z.shape[1]
    D = np.empty((d, n))
    # In BLAS's column-major view D is an n × d matrix and P_k the lower-triangular
    # P_k^T; D := D op(P_k^T) with op = transpose gives P_k^T (z - δ_k) in place.
    rows = np.array([n], dtype=np.int32)
    dims = np.array([d], dtype=np.int32)
    one = np.array([1.0])
    for k in range(K):
        for j in range(d):
            o = offsets[k, j]
            for i in range(n):
                D[j, i] = Z[j, i] - o
        P = factors[k]
        _dtrmm(
            _R.ctypes, _L.ctypes, _T.ctypes, _N.ctypes, rows.ctypes, dims.ctypes,
            one.ctypes, P.ctypes, dims.ctypes, D.ctypes, rows.ctypes,
        )  # fmt: skip
        for i in range(n):
            out[k, i] = 0.0
        for j in range(d):
            for i in range(n):
                out[k, i] += D[j, i] * D[j, i]


@njit(nogil=True, boundscheck=False)
def _upper(P, row, col):
    """P[row, col] inside the upper triangle of the (d, d) factor P, else 0."""
    return P[row, col] if (col < P.shape[0] and row <= col) else 0.0


@njit(nogil=True, boundscheck=False, fastmath={"contract"})
def _maha_tiles(Z, offsets, factors, out, B):
    """:func:`maha_triangular` in 4 × 4 tiles on blocks of B rows (an argument: with B
    a compile-time constant the block loops measured slower).

    Blocks of rows are copied centred on δ_k; each block of 4 output coordinates
    accumulates 4 factor rows at a time over the block's rows (16 multiply-adds per
    4 loads), so the loop vectorises at numba's width, and the squares are summed as
    they are formed (no product written out, no separate passes). Only P_k's upper
    triangle is read.
    """
    K, d = offsets.shape
    n = Z.shape[1]
    D = np.zeros((d + 3, B))  # 3 rows of zeros below: a tile's rows past d read 0
    y0, y1, y2, y3 = np.empty(B), np.empty(B), np.empty(B), np.empty(B)
    sq = np.empty(B)
    for k in range(K):
        P = factors[k]
        for start in range(0, n, B):
            m = min(B, n - start)
            for j in range(d):
                o = offsets[k, j]
                for i in range(m):
                    D[j, i] = Z[j, start + i] - o
            for i in range(m):
                sq[i] = 0.0
            for j0 in range(0, d, 4):
                for i in range(m):
                    y0[i] = 0.0
                    y1[i] = 0.0
                    y2[i] = 0.0
                    y3[i] = 0.0
                for l0 in range(0, min(j0 + 4, d), 4):
                    c00, c01, c02, c03 = (
                        _upper(P, l0, j0),
                        _upper(P, l0, j0 + 1),
                        _upper(P, l0, j0 + 2),
                        _upper(P, l0, j0 + 3),
                    )
                    c10, c11, c12, c13 = (
                        _upper(P, l0 + 1, j0),
                        _upper(P, l0 + 1, j0 + 1),
                        _upper(P, l0 + 1, j0 + 2),
                        _upper(P, l0 + 1, j0 + 3),
                    )
                    c20, c21, c22, c23 = (
                        _upper(P, l0 + 2, j0),
                        _upper(P, l0 + 2, j0 + 1),
                        _upper(P, l0 + 2, j0 + 2),
                        _upper(P, l0 + 2, j0 + 3),
                    )
                    c30, c31, c32, c33 = (
                        _upper(P, l0 + 3, j0),
                        _upper(P, l0 + 3, j0 + 1),
                        _upper(P, l0 + 3, j0 + 2),
                        _upper(P, l0 + 3, j0 + 3),
                    )
                    for i in range(m):
                        x0 = D[l0, i]
                        x1 = D[l0 + 1, i]
                        x2 = D[l0 + 2, i]
                        x3 = D[l0 + 3, i]
                        y0[i] += x0 * c00 + x1 * c10 + x2 * c20 + x3 * c30
                        y1[i] += x0 * c01 + x1 * c11 + x2 * c21 + x3 * c31
                        y2[i] += x0 * c02 + x1 * c12 + x2 * c22 + x3 * c32
                        y3[i] += x0 * c03 + x1 * c13 + x2 * c23 + x3 * c33
                for i in range(m):
                    sq[i] += y0[i] * y0[i] + y1[i] * y1[i] + y2[i] * y2[i] + y3[i] * y3[i]
            for i in range(m):
                out[k, start + i] = sq[i]


_dsyrk = _blas("dsyrk", 10)
HAVE_BLAS = _dsyrk is not None
_U = np.array([ord("U")], dtype=np.uint8)
_EPS = float(np.finfo(np.float64).eps)


@njit(nogil=True, boundscheck=False)
def _terms_that_count(size, keep):
    """Columns whose term enters a scatter; returns their number m (``keep[:m]``).

    ``size[i]`` bounds every entry of column i's term (r_i |z_i|²). Columns with
    ``size[i] <= ε Σ size / n`` are left out: together they change any entry by at
    most ε Σ size, ε times the full scatter's trace (which its own rounding bound
    for the trace, n ε Σ size, exceeds), so the sum is the full one to rounding; and
    where clusters are apart (most rows' terms near 0 for most components) the
    product covers a fraction of the rows.
    """
    n = size.shape[0]
    total = 0.0
    for i in range(n):
        total += size[i]
    bound = _EPS * total / max(n, 1)
    m = 0
    for i in range(n):
        if size[i] > bound:
            keep[m] = i
            m += 1
    return m


@njit(nogil=True, boundscheck=False)
def _upper_scatter(A, m, C, out_row):
    """out_row[:T] = A[:, :m] A[:, :m]ᵀ's upper triangle in the feature layout, by one dsyrk.

    A is (d, n), C order (to BLAS an n × d matrix of leading dimension n), C a (d, d)
    work array.
    """
    d, n = A.shape
    if m == 0:
        out_row[: d * (d + 1) // 2] = 0.0
        return
    rows = np.array([m], dtype=np.int32)
    lead = np.array([n], dtype=np.int32)
    dims = np.array([d], dtype=np.int32)
    one = np.array([1.0])
    zero = np.array([0.0])
    # Column-major, A is n × d: C := A^T A, its upper triangle (our lower).
    _dsyrk(
        _U.ctypes, _T.ctypes, dims.ctypes, rows.ctypes, one.ctypes, A.ctypes,
        lead.ctypes, zero.ctypes, C.ctypes, dims.ctypes,
    )  # fmt: skip
    t = 0
    for j in range(d):
        for j2 in range(j, d):
            out_row[t] = C[j2, j]
            t += 1


@njit(nogil=True, boundscheck=False)
def scatter_syrk(r, Z, out):
    """out[k, :T] = Σ_i r_ik z_i z_i^T's upper triangle by a symmetric rank update (dsyrk)
    over the rows whose terms count (:func:`_terms_that_count`).

    The triangle is written in the feature layout of :func:`products` (z_j z_l,
    j <= l, row-major; T = d (d + 1) / 2 entries), so the sums need no gather
    afterwards.

    Parameters
    ----------
    r : ndarray of shape (K, n), float64, >= 0
        Weighted responsibilities.
    Z : ndarray of shape (m, n), float64, C order
        Its first d rows are the chunk's rows centred on the group's centre.
    out : ndarray of shape (K, p), float64, p >= T
        Its first T columns are written.
    """
    K, n = r.shape
    d = Z.shape[0] - 1
    A = np.empty((d, n))
    C = np.empty((d, d))
    norm = np.zeros(n)
    for j in range(d):
        for i in range(n):
            norm[i] += Z[j, i] * Z[j, i]
    size = np.empty(n)
    keep = np.empty(n, dtype=np.int64)
    root = np.empty(n)
    for k in range(K):
        for i in range(n):
            size[i] = r[k, i] * norm[i]
        m = _terms_that_count(size, keep)
        for q in range(m):
            root[q] = math.sqrt(r[k, keep[q]])
        for j in range(d):
            for q in range(m):
                A[j, q] = Z[j, keep[q]] * root[q]
        _upper_scatter(A, m, C, out[k])


@njit(nogil=True, boundscheck=False)
def moments_about(r, Z, offsets, out):
    """Each component's moments about its own offset: out[k] = [Σ_i r_ik y y^T's upper
    triangle (feature layout), Σ_i r_ik y, Σ_i r_ik] with y = z_i - δ_k.

    The far components of a direct 'full' group: their sums about their own means
    keep every digit, as a group of one centred there would (the same y, bit for bit).

    Parameters
    ----------
    r : ndarray of shape (K, n), float64, >= 0
    Z : ndarray of shape (m, n), float64, C order
        Its first d rows are the chunk's rows (about the group's centre).
    offsets : ndarray of shape (K, d), float64
        δ_k: each component's centre, in the coordinates of Z.
    out : ndarray of shape (K, T + d + 1), float64, written
    """
    K, n = r.shape
    d = Z.shape[0] - 1
    T = d * (d + 1) // 2
    A = np.empty((d, n))
    C = np.empty((d, d))
    root = np.empty(n)
    size = np.empty(n)
    keep = np.empty(n, dtype=np.int64)
    for k in range(K):
        mass = 0.0
        for i in range(n):
            root[i] = math.sqrt(r[k, i])
            mass += r[k, i]
            size[i] = 0.0
        for j in range(d):
            o = offsets[k, j]
            first = 0.0
            for i in range(n):
                y = Z[j, i] - o
                first += r[k, i] * y
                a = y * root[i]
                A[j, i] = a
                size[i] += a * a
            out[k, T + j] = first
        out[k, T + d] = mass
        m = _terms_that_count(size, keep)
        for j in range(d):  # the columns that count, moved to the front (keep[q] >= q)
            for q in range(m):
                A[j, q] = A[j, keep[q]]
        _upper_scatter(A, m, C, out[k])
