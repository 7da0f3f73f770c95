"""Compiled pooling loops (numba): one pass over the input per direction.

Max pooling remembers the winning tap of every window, so backward is one
scatter; average pooling adds each tap once. Serial, like every kernel (see ``_jit``); ``pool`` splits the batch.
"""
from numba import njit

from cnnkit.ops._jit import JIT as _JIT


@njit(**_JIT)
def max_pool(x, out, arg, KH, KW, SH, SW, ph, pw):
    """Max over each window of ``x`` (N, H, W, C) into ``out`` (N, OH, OW, C); ``arg`` gets the winning tap.

    The first maximum in row-major window order wins and a NaN always wins
    (the last one), exactly as PyTorch's kernel; taps in the padding never win.
    ``arg`` is int32 like ``out``'s float32, so the selects vectorise together.
    """
    N, H, W, C = x.shape
    _, OH, OW, _ = out.shape
    for r in range(N * OH):
        n, oh = r // OH, r % OH
        for ow in range(OW):
            o, a = out[n, oh, ow], arg[n, oh, ow]
            first = True
            for i in range(KH):
                h = oh * SH - ph + i
                if h < 0 or h >= H:
                    continue
                for j in range(KW):
                    w = ow * SW - pw + j
                    if w < 0 or w >= W:
                        continue
                    v = x[n, h, w]
                    tap = i * KW + j
                    if first:
                        for c in range(C):
                            o[c] = v[c]
                            a[c] = tap
                        first = False
                    else:
                        for c in range(C):  # selects, not branches, so that the loop vectorises
                            vc, oc = v[c], o[c]
                            take = (vc > oc) | (vc != vc)
                            o[c] = vc if take else oc
                            a[c] = tap if take else a[c]


@njit(**_JIT)
def max_pool_backward(grad_out, arg, gx, KW, SH, SW, ph, pw):
    """Add each window's gradient of ``grad_out`` (N, OH, OW, C) to its winning tap in ``gx`` (N, H, W, C)."""
    N, OH, OW, C = grad_out.shape
    for n in range(N):
        for oh in range(OH):
            for ow in range(OW):
                g, a = grad_out[n, oh, ow], arg[n, oh, ow]
                for c in range(C):
                    tap = a[c]
                    gx[n, oh * SH - ph + tap // KW, ow * SW - pw + tap % KW, c] += g[c]


@njit(**_JIT)
def avg_pool(x, out, KH, KW, SH, SW, ph, pw, scale):
    """Mean of each window of ``x`` (N, H, W, C), padding counted as zeros, into ``out`` (N, OH, OW, C).

    ``scale`` is ``1 / (KH * KW)`` in the arrays' dtype.
    """
    N, H, W, C = x.shape
    _, OH, OW, _ = out.shape
    for r in range(N * OH):
        n, oh = r // OH, r % OH
        for ow in range(OW):
            o = out[n, oh, ow]
            o[:] = 0
            for i in range(KH):
                h = oh * SH - ph + i
                if h < 0 or h >= H:
                    continue
                for j in range(KW):
                    w = ow * SW - pw + j
                    if 0 <= w < W:
                        v = x[n, h, w]
                        for c in range(C):
                            o[c] += v[c]
            for c in range(C):
                o[c] *= scale


@njit(**_JIT)
def avg_pool_backward(grad_out, gx, KH, KW, SH, SW, ph, pw, scale):
    """Spread each window's gradient of ``grad_out`` (N, OH, OW, C) evenly over its taps in ``gx`` (N, H, W, C)."""
    N, OH, OW, C = grad_out.shape
    H, W = gx.shape[1], gx.shape[2]
    for n in range(N):
        for oh in range(OH):
            for ow in range(OW):
                g = grad_out[n, oh, ow]
                for i in range(KH):
                    h = oh * SH - ph + i
                    if h < 0 or h >= H:
                        continue
                    for j in range(KW):
                        w = ow * SW - pw + j
                        if 0 <= w < W:
                            d = gx[n, h, w]
                            for c in range(C):
                                d[c] += g[c] * scale
