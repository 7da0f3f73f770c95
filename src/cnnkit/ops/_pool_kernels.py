"""Compiled pooling loops (numba): one pass over the input per direction.

Max pooling remembers the winning tap of every window, so backward is one
scatter; average pooling adds each tap once. Serial, like every kernel (see ``_jit``); ``pool`` splits the batch.
"""
import numpy as np
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
def max_pool_2x2(x, out, arg, SH, SW):
    """``max_pool`` for 2 x 2 windows without padding, the commonest: the four taps of a window in registers,
    one store per output (3-4x faster from 16 channels up, measured in bench/ops.py); the same choices."""
    C = x.shape[3]
    _, OH, OW, _ = out.shape
    for r in range(x.shape[0] * OH):
        n, oh = r // OH, r % OH
        r0, r1 = x[n, oh * SH], x[n, oh * SH + 1]
        o, a = out[n, oh], arg[n, oh]
        for ow in range(OW):
            p0, p1, q0, q1 = r0[ow * SW], r0[ow * SW + 1], r1[ow * SW], r1[ow * SW + 1]
            oo, aa = o[ow], a[ow]
            for c in range(C):
                best, tap = p0[c], 0
                v = p1[c]
                take = (v > best) | (v != v)
                best, tap = (v, 1) if take else (best, tap)
                v = q0[c]
                take = (v > best) | (v != v)
                best, tap = (v, 2) if take else (best, tap)
                v = q1[c]
                take = (v > best) | (v != v)
                best, tap = (v, 3) if take else (best, tap)
                oo[c] = best
                aa[c] = tap


@njit(**_JIT)
def max_pool_2x2_rows(x, out, arg, SH, SW):
    """``max_pool_2x2`` for few channels, whose loop over a pixel's channels is too short to vectorise: each
    pair of input rows is reduced flat, first vertically, then every value against the one a pixel to its
    right, then the windows' results are picked out (LeNet's 6 channels: 3.5x faster, measured). The taps
    are compared in the general kernel's order, so the choices are the same: the first of tied maxima, the
    last NaN."""
    C = x.shape[3]
    _, OH, OW, _ = out.shape
    L = x.shape[2] * C
    col, col_tap = np.empty(L, x.dtype), np.empty(L, np.int32)
    pair, pair_tap = np.empty(L, x.dtype), np.empty(L, np.int32)
    for r in range(x.shape[0] * OH):
        n, oh = r // OH, r % OH
        top, bottom = x[n, oh * SH].reshape(-1), x[n, oh * SH + 1].reshape(-1)
        for k in range(L):  # taps 0 (top) and 2 (bottom) of a column
            v = bottom[k]
            take = (v > top[k]) | (v != v)
            col[k] = v if take else top[k]
            col_tap[k] = 2 if take else 0
        left, left_tap, right, right_tap = col[:L - C], col_tap[:L - C], col[C:], col_tap[C:]
        for k in range(L - C):  # the left column's tap is 0 or 2, the right one's 1 or 3
            a, b, ta, tb = left[k], right[k], left_tap[k], right_tap[k] + 1
            take = (b > a) | ((b == a) & (tb < ta)) | ((b != b) & ((a == a) | (tb > ta)))
            pair[k] = b if take else a
            pair_tap[k] = tb if take else ta
        o, t = out[n, oh].reshape(-1), arg[n, oh].reshape(-1)
        for ow in range(OW):
            src, src_tap = pair[ow * SW * C:(ow * SW + 1) * C], pair_tap[ow * SW * C:(ow * SW + 1) * C]
            dst, dst_tap = o[ow * C:(ow + 1) * C], t[ow * C:(ow + 1) * C]
            for c in range(C):
                dst[c] = src[c]
                dst_tap[c] = src_tap[c]


@njit(**_JIT)
def max_pool_3x3(x, out, arg, SH, SW, ph, pw):
    """``max_pool`` for 3 x 3 windows (ResNet's stem): windows inside the image keep their nine taps in
    registers, as ``max_pool_2x2``; the few reaching into the padding take the general loop. The same choices."""
    N, H, W, C = x.shape
    _, OH, OW, _ = out.shape
    for r in range(N * OH):
        n, oh = r // OH, r % OH
        h0 = oh * SH - ph
        o, a = out[n, oh], arg[n, oh]
        for ow in range(OW):
            w0 = ow * SW - pw
            oo, aa = o[ow], a[ow]
            if h0 >= 0 and w0 >= 0 and h0 + 3 <= H and w0 + 3 <= W:
                t0, t1, t2 = x[n, h0, w0], x[n, h0, w0 + 1], x[n, h0, w0 + 2]
                t3, t4, t5 = x[n, h0 + 1, w0], x[n, h0 + 1, w0 + 1], x[n, h0 + 1, w0 + 2]
                t6, t7, t8 = x[n, h0 + 2, w0], x[n, h0 + 2, w0 + 1], x[n, h0 + 2, w0 + 2]
                for c in range(C):
                    best, tap = t0[c], 0
                    v = t1[c]
                    take = (v > best) | (v != v)
                    best, tap = (v, 1) if take else (best, tap)
                    v = t2[c]
                    take = (v > best) | (v != v)
                    best, tap = (v, 2) if take else (best, tap)
                    v = t3[c]
                    take = (v > best) | (v != v)
                    best, tap = (v, 3) if take else (best, tap)
                    v = t4[c]
                    take = (v > best) | (v != v)
                    best, tap = (v, 4) if take else (best, tap)
                    v = t5[c]
                    take = (v > best) | (v != v)
                    best, tap = (v, 5) if take else (best, tap)
                    v = t6[c]
                    take = (v > best) | (v != v)
                    best, tap = (v, 6) if take else (best, tap)
                    v = t7[c]
                    take = (v > best) | (v != v)
                    best, tap = (v, 7) if take else (best, tap)
                    v = t8[c]
                    take = (v > best) | (v != v)
                    best, tap = (v, 8) if take else (best, tap)
                    oo[c] = best
                    aa[c] = tap
                continue
            first = True
            for i in range(3):
                h = h0 + i
                if h < 0 or h >= H:
                    continue
                for j in range(3):
                    w = w0 + j
                    if w < 0 or w >= W:
                        continue
                    v, tap = x[n, h, w], i * 3 + j
                    for c in range(C):
                        vc, oc = v[c], oo[c]
                        take = first | (vc > oc) | (vc != vc)
                        oo[c] = vc if take else oc
                        aa[c] = tap if take else aa[c]
                    first = False


@njit(**_JIT)
def max_pool_backward(grad_out, arg, gx, KH, KW, SH, SW, ph, pw):
    """Zero ``gx`` (N, H, W, C), then add each window's gradient of ``grad_out`` (N, OH, OW, C) to its winning tap.

    Each image is indexed flat, with a table of the taps' offsets: indexing
    ``gx[n, h, w, c]`` by four subscripts was 3x slower (measured).
    """
    N, OH, OW, C = grad_out.shape
    W = gx.shape[2]
    offsets = np.empty(KH * KW, dtype=np.int64)
    for t in range(KH * KW):
        offsets[t] = ((t // KW) * W + t % KW) * C
    for n in range(N):
        image = gx[n].reshape(-1)
        image[:] = 0
        for oh in range(OH):
            for ow in range(OW):
                g, a = grad_out[n, oh, ow], arg[n, oh, ow]
                base = ((oh * SH - ph) * W + ow * SW - pw) * C  # may point into the padding: no tap there wins
                for c in range(C):
                    image[base + offsets[a[c]] + c] += g[c]


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
def avg_pool_2x2(x, out, SH, SW, scale):
    """``avg_pool`` for 2 x 2 windows without padding: the four taps added in registers, in the same order."""
    C = x.shape[3]
    _, OH, OW, _ = out.shape
    for r in range(x.shape[0] * OH):
        n, oh = r // OH, r % OH
        r0, r1 = x[n, oh * SH], x[n, oh * SH + 1]
        o = out[n, oh]
        for ow in range(OW):
            p0, p1, q0, q1 = r0[ow * SW], r0[ow * SW + 1], r1[ow * SW], r1[ow * SW + 1]
            oo = o[ow]
            for c in range(C):
                oo[c] = (p0[c] + p1[c] + q0[c] + q1[c]) * scale


@njit(**_JIT)
def avg_pool_backward_2x2(grad_out, gx, scale):
    """``avg_pool_backward`` for 2 x 2 windows at stride 2 without padding: every pixel of ``gx`` written once
    (its window's share, or 0 past the last window), so ``gx`` needs no zeroing first."""
    N, OH, OW, C = grad_out.shape
    H, W = gx.shape[1], gx.shape[2]
    zero = np.zeros(1, dtype=gx.dtype)[0]
    for n in range(N):
        for oh in range(OH):
            r0, r1 = gx[n, 2 * oh], gx[n, 2 * oh + 1]
            g = grad_out[n, oh]
            for ow in range(OW):
                p0, p1, q0, q1 = r0[2 * ow], r0[2 * ow + 1], r1[2 * ow], r1[2 * ow + 1]
                gg = g[ow]
                for c in range(C):
                    v = gg[c] * scale
                    p0[c] = v
                    p1[c] = v
                    q0[c] = v
                    q1[c] = v
            r0[2 * OW:] = zero
            r1[2 * OW:] = zero
        gx[n, 2 * OH:] = zero


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
