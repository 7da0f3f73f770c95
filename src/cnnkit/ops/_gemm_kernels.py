"""A compiled GEMM for the conv layers' products: ``out = a @ b`` with ``b`` small (a layer's weights).

OpenBLAS copies all of ``a`` into its packed layout before multiplying; for
a conv layer's (pixels, C_in) by (C_in, C_out) product that copy is as big as
the input, and each copied element is used only C_out times. This kernel reads ``a``'s rows
where they are and packs only ``b``: each 6 x (2 * lanes) block of ``out``
is twelve vector registers (``_simd``), added to along ``a``'s rows (a
software prefetch of the next rows made LLVM spill those registers: 1.5-1.8x slower).
Serial, like every kernel (``_jit``); ``_parallel.matmul`` splits the rows.
"""
import numpy as np
from numba import njit

from cnnkit.ops._jit import JIT as _JIT
from cnnkit.ops._simd import lanes, vfma, vload, vsplat, vstore, vzeros

ROWS = 6       # rows of a block: 12 accumulators, 2 weight vectors and 1 broadcast fill AVX2's 16 registers
_DEPTH = 256   # rows of b packed at a time: a column panel (256 x 16 float32) stays in the 32 KiB L1 cache
_MAX_COLUMNS = 64  # see ``fits``
_MAX_DEPTH = 128
_MIN_ROWS_STRIDED = 256


@njit(**_JIT, inline="always")
def _block(a, ia, K, packed, ip, out, io, N, kc, accumulate):
    """``out[6 rows, 2 * lanes columns] (+)= a[6 rows, kc] @ panel`` on flat C-ordered arrays: ``a``'s rows
    start at ``ia`` every ``K``, the panel at ``ip`` (kc rows of 2 * lanes), ``out``'s rows at ``io`` every
    ``N``."""
    L = lanes(out)
    if accumulate:
        c00, c01 = vload(out, io), vload(out, io + L)
        c10, c11 = vload(out, io + N), vload(out, io + N + L)
        c20, c21 = vload(out, io + 2 * N), vload(out, io + 2 * N + L)
        c30, c31 = vload(out, io + 3 * N), vload(out, io + 3 * N + L)
        c40, c41 = vload(out, io + 4 * N), vload(out, io + 4 * N + L)
        c50, c51 = vload(out, io + 5 * N), vload(out, io + 5 * N + L)
    else:
        c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = vzeros(out)
    for k in range(kc):
        w0, w1 = vload(packed, ip), vload(packed, ip + L)
        x = vsplat(a, ia)
        c00, c01 = vfma(x, w0, c00), vfma(x, w1, c01)
        x = vsplat(a, ia + K)
        c10, c11 = vfma(x, w0, c10), vfma(x, w1, c11)
        x = vsplat(a, ia + 2 * K)
        c20, c21 = vfma(x, w0, c20), vfma(x, w1, c21)
        x = vsplat(a, ia + 3 * K)
        c30, c31 = vfma(x, w0, c30), vfma(x, w1, c31)
        x = vsplat(a, ia + 4 * K)
        c40, c41 = vfma(x, w0, c40), vfma(x, w1, c41)
        x = vsplat(a, ia + 5 * K)
        c50, c51 = vfma(x, w0, c50), vfma(x, w1, c51)
        ia += 1
        ip += 2 * L
    vstore(out, io, c00), vstore(out, io + L, c01)
    vstore(out, io + N, c10), vstore(out, io + N + L, c11)
    vstore(out, io + 2 * N, c20), vstore(out, io + 2 * N + L, c21)
    vstore(out, io + 3 * N, c30), vstore(out, io + 3 * N + L, c31)
    vstore(out, io + 4 * N, c40), vstore(out, io + 4 * N + L, c41)
    vstore(out, io + 5 * N, c50), vstore(out, io + 5 * N + L, c51)


@njit(**_JIT, inline="always")
def _row(a, ia, packed, ip, out, io, kc, accumulate):
    """``_block`` for one row (the last M % 6 rows)."""
    L = lanes(out)
    if accumulate:
        c0, c1 = vload(out, io), vload(out, io + L)
    else:
        c0 = c1 = vzeros(out)
    for k in range(kc):
        x = vsplat(a, ia + k)
        c0, c1 = vfma(x, vload(packed, ip), c0), vfma(x, vload(packed, ip + L), c1)
        ip += 2 * L
    vstore(out, io, c0), vstore(out, io + L, c1)


@njit(**_JIT, inline="always")
def _pack(b, k0, kc, packed):
    """Rows ``k0:k0 + kc`` of ``b`` as column panels of 2 * lanes: each panel's kc rows one after another."""
    N = b.shape[1]
    L = lanes(packed)
    W = 2 * L
    if b.strides[1] == b.itemsize:  # rows contiguous (a layer's weights): two vectors at a time
        sb = b.strides[0] // b.itemsize
        for k in range(kc):
            for j0 in range(0, N, W):
                src, dst = (k0 + k) * sb + j0, j0 * kc + k * W
                vstore(packed, dst, vload(b, src))
                vstore(packed, dst + L, vload(b, src + L))
    else:
        for j0 in range(0, N, W):
            for k in range(kc):
                for v in range(W):
                    packed[j0 * kc + k * W + v] = b[k0 + k, j0 + v]


@njit(**_JIT)
def _gemm(a, K, b, out):
    """``gemm`` on ``a`` and ``out`` flattened: (M * K,) and (M * N,)."""
    N = b.shape[1]
    M = out.size // N
    W = 2 * lanes(out)
    full = M - M % ROWS
    packed = np.empty(min(K, _DEPTH) * N, dtype=out.dtype)
    for k0 in range(0, K, _DEPTH):
        kc = min(K, k0 + _DEPTH) - k0
        _pack(b, k0, kc, packed)
        accumulate = k0 > 0
        for i0 in range(0, full, ROWS):
            for j0 in range(0, N, W):
                _block(a, i0 * K + k0, K, packed, j0 * kc, out, i0 * N + j0, N, kc, accumulate)
        for i in range(full, M):
            for j0 in range(0, N, W):
                _row(a, i * K + k0, packed, j0 * kc, out, i * N + j0, kc, accumulate)


def gemm(a, b, out):
    """``out = a @ b`` for C-ordered ``a`` (M, K) and ``out`` (M, N), ``b`` (K, N) of any strides, one dtype
    (float32 or float64), N a multiple of twice the lanes (16 float32 or 8 float64, ``_simd``)."""
    if a.shape[1] == 0:
        out[...] = 0
    elif out.size:
        _gemm(a.reshape(-1), a.shape[1], b, out.reshape(-1))
    return out


def fits(a, b, out):
    """Whether ``gemm`` computes ``out = a @ b`` for these arrays, and faster than OpenBLAS on one thread.

    Measured (float32 and float64, 16 to 3136 rows; ``bench/gemm.py``): 0.56-0.98
    of OpenBLAS's time with up to ``_MAX_COLUMNS`` columns at any depth, or at
    most ``_MAX_DEPTH`` deep at any width; level or slower beyond (0.82-1.17,
    mostly 0.95 and above), where OpenBLAS's packing of ``a`` pays for itself. A ``b`` whose rows are not contiguous (a
    transposed weight) is packed element by element, which pays only from
    ``_MIN_ROWS_STRIDED`` rows of ``a``.
    """
    if not all(isinstance(array, np.ndarray) for array in (a, b, out)):  # CuPy's run on the GPU
        return False
    dtype = out.dtype
    if dtype not in (np.float32, np.float64) or a.dtype != dtype or b.dtype != dtype:
        return False
    K, N = b.shape
    return (a.flags.c_contiguous and out.flags.c_contiguous and N % (64 // dtype.itemsize) == 0
            and (N <= _MAX_COLUMNS or K <= _MAX_DEPTH)
            and (b.strides[1] == dtype.itemsize or a.shape[0] >= _MIN_ROWS_STRIDED))
