"""Compiled loops (numba) for convolution: im2col/col2im, and direct convolution of few-channel layers.

- ``im2col``/``col2im`` gather the windows for the BLAS GEMMs and scatter their
  gradients back, zero padding handled inside (no padded copy is made). Images
  arrive as (N, H, W * C) rows, so one window row is a contiguous run of KW * C values.
- The direct path (stride 1, few input channels, where GEMMs would be too thin
  for the BLAS) works on channels-first planes: channel c of the whole batch is
  one row, image n's zero-padded (Hp, Wp) grid at n * Hp * Wp. Output position
  q = n * Hp * Wp + oh * Wp + ow of channel co is
  ``sum over taps t = (c, i, j) of w[co, t] * x[c * S + i * Wp + j + q]``, so each
  tap is one long contiguous multiply-add over the batch (positions that are no
  output pixel are computed and dropped). Weight gradients are the matching dot
  products, and the input gradient is the same convolution of the zero-padded
  output gradient with the flipped kernel.

Every kernel is serial (see ``_jit``); callers split the batch over threads (``_parallel``). Inner loops index slices from 0 so that
LLVM can vectorise them.
"""
import numpy as np
from numba import njit

from cnnkit.ops._jit import JIT as _JIT

# The direct kernels reassociate their sums (multiply-adds of four taps at once, vectorised dot products).
_FAST = dict(_JIT, fastmath=True)


@njit(**_JIT)
def im2col(x, cols, n0, KH, KW, SH, SW, top, left):
    """Fill ``cols`` (n, OH, OW, KH * KW * C) with the windows of images ``n0:n0 + n`` of ``x`` (N, H, W * C)."""
    n, OH, OW, _ = cols.shape
    H = x.shape[1]
    C = cols.shape[3] // (KH * KW)
    W = x.shape[2] // C
    run = KW * C
    for r in range(n * OH):
        b, oh = r // OH, r % OH
        for ow in range(OW):
            w0 = ow * SW - left
            for i in range(KH):
                h = oh * SH - top + i
                dst = cols[b, oh, ow, i * run:(i + 1) * run]
                if h < 0 or h >= H:
                    dst[:] = 0
                elif w0 >= 0 and w0 + KW <= W:
                    src = x[n0 + b, h, w0 * C:w0 * C + run]
                    for k in range(run):
                        dst[k] = src[k]
                else:
                    src = x[n0 + b, h]
                    for j in range(KW):
                        w = w0 + j
                        if 0 <= w < W:
                            dst[j * C:(j + 1) * C] = src[w * C:(w + 1) * C]
                        else:
                            dst[j * C:(j + 1) * C] = 0


@njit(**_JIT)
def col2im(cols, gx, n0, KH, KW, SH, SW, top, left):
    """Add every window of ``cols`` (n, OH, OW, KH * KW * C) into images ``n0:n0 + n`` of ``gx`` (N, H, W * C)."""
    n, OH, OW, _ = cols.shape
    H = gx.shape[1]
    C = cols.shape[3] // (KH * KW)
    W = gx.shape[2] // C
    run = KW * C
    for b in range(n):
        for oh in range(OH):
            for ow in range(OW):
                w0 = ow * SW - left
                for i in range(KH):
                    h = oh * SH - top + i
                    if h < 0 or h >= H:
                        continue
                    src = cols[b, oh, ow, i * run:(i + 1) * run]
                    if w0 >= 0 and w0 + KW <= W:
                        dst = gx[n0 + b, h, w0 * C:w0 * C + run]
                        for k in range(run):
                            dst[k] += src[k]
                    else:
                        for j in range(KW):
                            w = w0 + j
                            if 0 <= w < W:
                                dst = gx[n0 + b, h, w * C:(w + 1) * C]
                                part = src[j * C:(j + 1) * C]
                                for c in range(C):
                                    dst[c] += part[c]


@njit(**_JIT)
def to_planes(x, planes, top, left, Hp, Wp):
    """Write ``x`` (N, H, W, C) into channels-first planes (C', S): image n's (Hp, Wp) grid at n * Hp * Wp.

    Each image sits at (top, left) of its grid; everything else (borders, the
    tail after the last grid, planes c >= C) is zero.
    """
    N, H, W, C = x.shape
    CP, S = planes.shape
    L = Hp * Wp
    for r in range(CP * N):
        c, n = r // N, r % N
        grid = planes[c, n * L:(n + 1) * L]
        grid[:] = 0
        if c < C:
            for h in range(H):
                row = grid[(top + h) * Wp + left:(top + h) * Wp + left + W]
                src = x[n, h]
                for w in range(W):
                    row[w] = src[w, c]
    for c in range(CP):
        planes[c, N * L:] = 0


@njit(**_JIT)
def from_planes(planes, out, top, left, Hp, Wp, bias):
    """Read ``out`` (N, OH, OW, C) from planes (C', Q) laid out as ``to_planes`` does, plus ``bias`` (C,)."""
    N, OH, OW, C = out.shape
    for r in range(N * OH):
        n, oh = r // OH, r % OH
        dst = out[n, oh]
        base = n * Hp * Wp + (top + oh) * Wp + left
        for c in range(C):
            src = planes[c, base:base + OW]
            b = bias[c]
            for w in range(OW):
                dst[w, c] = src[w] + b


@njit(**_FAST)
def direct_conv(x, offsets, w, out, block):
    """``out[co, q] = sum_t w[co, t] * x[offsets[t] + q]`` for (CO, Q) ``out``, CO even.

    Work is split into blocks of ``block`` positions that stay in the L1 cache;
    each pass over a block does two output channels and four taps, so every
    load of ``x`` feeds several multiply-adds.
    """
    CO, Q = out.shape
    T = offsets.shape[0]
    pairs = CO // 2
    for r in range(((Q + block - 1) // block) * pairs):
        q0, co = (r // pairs) * block, 2 * (r % pairs)
        B = min(block, Q - q0)
        o, p = out[co, q0:q0 + B], out[co + 1, q0:q0 + B]
        wo, wp = w[co], w[co + 1]
        o[:] = 0
        p[:] = 0
        t = 0
        while t + 4 <= T:
            y0, y1 = x[q0 + offsets[t]:q0 + offsets[t] + B], x[q0 + offsets[t + 1]:q0 + offsets[t + 1] + B]
            y2, y3 = x[q0 + offsets[t + 2]:q0 + offsets[t + 2] + B], x[q0 + offsets[t + 3]:q0 + offsets[t + 3] + B]
            a0, a1, a2, a3 = wo[t], wo[t + 1], wo[t + 2], wo[t + 3]
            b0, b1, b2, b3 = wp[t], wp[t + 1], wp[t + 2], wp[t + 3]
            for q in range(B):
                v0, v1, v2, v3 = y0[q], y1[q], y2[q], y3[q]
                o[q] += a0 * v0 + a1 * v1 + a2 * v2 + a3 * v3
                p[q] += b0 * v0 + b1 * v1 + b2 * v2 + b3 * v3
            t += 4
        while t < T:
            y0 = x[q0 + offsets[t]:q0 + offsets[t] + B]
            a0, b0 = wo[t], wp[t]
            for q in range(B):
                o[q] += a0 * y0[q]
                p[q] += b0 * y0[q]
            t += 1


@njit(**_FAST)
def direct_conv_weight_grad(x, offsets, g, parts, block):
    """``parts[k, t, co] = sum over q in block k of x[offsets[t] + q] * g[co, q]``; the caller sums over k.

    ``g`` (CO, Q), CO even, is the output gradient as planes, zero at the
    positions that are no output pixel. Two taps by two channels per pass.
    """
    CO, Q = g.shape
    T = offsets.shape[0]
    zero = np.zeros(1, dtype=g.dtype)[0]
    for k in range(parts.shape[0]):
        q0 = k * block
        B = min(block, Q - q0)
        acc = parts[k]
        for t in range(0, T, 2):
            t1 = min(t + 1, T - 1)  # an odd last tap is done twice, written once
            y0, y1 = x[q0 + offsets[t]:q0 + offsets[t] + B], x[q0 + offsets[t1]:q0 + offsets[t1] + B]
            for co in range(0, CO, 2):
                g0, g1 = g[co, q0:q0 + B], g[co + 1, q0:q0 + B]
                s00 = s01 = s10 = s11 = zero
                for q in range(B):
                    s00 += y0[q] * g0[q]
                    s01 += y0[q] * g1[q]
                    s10 += y1[q] * g0[q]
                    s11 += y1[q] * g1[q]
                acc[t, co], acc[t, co + 1] = s00, s01
                acc[t1, co], acc[t1, co + 1] = s10, s11


@njit(**_JIT)
def channel_sums(g, out):
    """``out[c] = sum of g[:, c]`` for a (P, C) array, summed in float64 over blocks of rows."""
    P, C = g.shape
    parts = 16
    partial = np.zeros((parts, C), dtype=np.float64)
    step = (P + parts - 1) // parts
    for k in range(parts):
        acc = partial[k]
        for p in range(k * step, min(P, (k + 1) * step)):
            row = g[p]
            for c in range(C):
                acc[c] += row[c]
    for c in range(C):
        s = 0.0
        for k in range(parts):
            s += partial[k, c]
        out[c] = s
