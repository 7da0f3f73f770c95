"""Compiled batch-normalisation loops (numba): per-channel sums in one pass, the affine map in another.

Arrays are (P, C) rows of channels (N*H*W rows for images); ``ops.norm`` runs
each kernel on spans of rows over the threads and adds up the spans' sums. Sums
are taken in float64 over blocks of rows and added up at the end, so float32
statistics of large batches lose no precision.
"""
import numpy as np
from numba import njit

from cnnkit.ops._jit import JIT as _JIT

_BLOCKS = 64


@njit(**_JIT)
def centered_squares(x, mean):
    """Per-channel ``sum((x - mean) ** 2)`` of ``x`` (P, C) as float64 (C,): the variance's second pass around
    the mean, with no cancellation for large means (the first pass is ``_conv_kernels.channel_sums``)."""
    P, C = x.shape
    step = (P + _BLOCKS - 1) // _BLOCKS
    s2 = np.zeros((_BLOCKS, C))
    for k in range(_BLOCKS):
        a = s2[k]
        for p in range(k * step, min(P, (k + 1) * step)):
            row = x[p]
            for c in range(C):
                d = row[c] - mean[c]
                a[c] += d * d
    return s2.sum(axis=0)


@njit(**_JIT)
def affine(x, scale, shift, out):
    """``out = x * scale + shift`` for (P, C) ``x`` and (C,) ``scale``, ``shift``."""
    P, C = x.shape
    for p in range(P):
        row, dst = x[p], out[p]
        for c in range(C):
            dst[c] = row[c] * scale[c] + shift[c]


@njit(**_JIT)
def backward_sums(g, x, mean, inv_std):
    """Per-channel ``sum(g)`` and ``sum(g * x_hat)``, ``x_hat = (x - mean) * inv_std``, as float64 (C,) arrays."""
    P, C = x.shape
    step = (P + _BLOCKS - 1) // _BLOCKS
    sg = np.zeros((_BLOCKS, C))
    sgx = np.zeros((_BLOCKS, C))
    for k in range(_BLOCKS):
        a, b = sg[k], sgx[k]
        for p in range(k * step, min(P, (k + 1) * step)):
            grow, xrow = g[p], x[p]
            for c in range(C):
                a[c] += grow[c]
                b[c] += grow[c] * ((xrow[c] - mean[c]) * inv_std[c])
    return sg.sum(axis=0), sgx.sum(axis=0)


@njit(**_JIT)
def backward_input(g, x, mean, inv_std, a, b, d, out):
    """``out = a g - b x_hat - d`` per channel: the input gradient of batch normalisation, given its coefficients."""
    P, C = x.shape
    for p in range(P):
        grow, xrow, dst = g[p], x[p], out[p]
        for c in range(C):
            dst[c] = a[c] * grow[c] - b[c] * ((xrow[c] - mean[c]) * inv_std[c]) - d[c]
