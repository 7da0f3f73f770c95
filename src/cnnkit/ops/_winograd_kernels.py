"""Compiled transforms of Winograd's F(2x2, 3x3) (numba), vectorised over the channels; see ``_conv_winograd``.

Tile t is image ``t // (TH * TW)``, tile row ``t // TW % TH``, tile column
``t % TW``; its 4x4 input patch starts at pixel (2 * row - top, 2 * column - left).
Each transform is applied down the columns, then along the rows, as short
loops over the channels with a few streams in and out: LLVM vectorises those
(one loop reading 16 and writing 16 streams was 3x slower, measured). Serial,
like every kernel (see ``_jit``); the caller splits the tiles over threads.
"""
import numpy as np
from numba import njit

from cnnkit.ops._jit import JIT as _JIT


@njit(**_JIT, inline="always")
def _patch(x, n, h0, w0, size, buffer):
    """``x[n, h0:h0 + size, w0:w0 + size]`` of ``x`` (N, H, W, C), or, where it reaches past the image, its
    copy in ``buffer`` (size, size, C) with zeros there."""
    H, W = x.shape[1], x.shape[2]
    if h0 >= 0 and w0 >= 0 and h0 + size <= H and w0 + size <= W:
        return x[n, h0:h0 + size, w0:w0 + size]
    buffer[:] = 0
    for i in range(max(0, -h0), min(size, H - h0)):
        for j in range(max(0, -w0), min(size, W - w0)):
            buffer[i, j] = x[n, h0 + i, w0 + j]
    return buffer


@njit(**_JIT)
def input_transform(x, v, t0, count, TH, TW, top, left):
    """``v[k, t - t0]`` (C,): element k of ``B^T d B`` for the 4x4 patch d of tile t (t0 <= t < t0 + count)
    of ``x`` (N, H, W, C)."""
    C = x.shape[3]
    patch = np.empty((4, 4, C), dtype=x.dtype)
    r = np.empty((4, 4, C), dtype=x.dtype)
    for tt in range(count):
        t = t0 + tt
        n, th, tw = t // (TH * TW), t // TW % TH, t % TW
        d = _patch(x, n, 2 * th - top, 2 * tw - left, 4, patch)  # copied with its zeros where it reaches the padding
        for j in range(4):  # B^T d, down column j
            d0, d1, d2, d3 = d[0, j], d[1, j], d[2, j], d[3, j]
            r0, r1, r2, r3 = r[0, j], r[1, j], r[2, j], r[3, j]
            for c in range(C):
                a0, a1, a2, a3 = d0[c], d1[c], d2[c], d3[c]
                r0[c] = a0 - a2
                r1[c] = a1 + a2
                r2[c] = a2 - a1
                r3[c] = a1 - a3
        for i in range(4):  # (B^T d) B, along row i
            e0, e1, e2, e3 = r[i, 0], r[i, 1], r[i, 2], r[i, 3]
            v0, v1, v2, v3 = v[4 * i, tt], v[4 * i + 1, tt], v[4 * i + 2, tt], v[4 * i + 3, tt]
            for c in range(C):
                a0, a1, a2, a3 = e0[c], e1[c], e2[c], e3[c]
                v0[c] = a0 - a2
                v1[c] = a1 + a2
                v2[c] = a2 - a1
                v3[c] = a1 - a3


@njit(**_JIT)
def output_transform(m, out, t0, count, TH, TW, bias):
    """Write ``A^T m A`` (2x2) of each tile t0 + tt (``m[k, tt]`` (CO,), tt < count) plus ``bias`` into
    ``out`` (N, OH, OW, CO); pixels past the output's edge are dropped."""
    _, OH, OW, CO = out.shape
    s = np.empty((2, 4, CO), dtype=out.dtype)
    y = np.empty((2, 2, CO), dtype=out.dtype)
    for tt in range(count):
        t = t0 + tt
        n, th, tw = t // (TH * TW), t // TW % TH, t % TW
        h, w = 2 * th, 2 * tw
        for j in range(4):  # A^T m, down column j
            m0, m1, m2, m3 = m[j, tt], m[4 + j, tt], m[8 + j, tt], m[12 + j, tt]
            s0, s1 = s[0, j], s[1, j]
            for c in range(CO):
                a1, a2 = m1[c], m2[c]
                s0[c] = m0[c] + a1 + a2
                s1[c] = a1 - a2 - m3[c]
        full = h + 2 <= OH and w + 2 <= OW
        for i in range(2):  # (A^T m) A + bias, along row i
            e0, e1, e2, e3 = s[i, 0], s[i, 1], s[i, 2], s[i, 3]
            y0, y1 = (out[n, h + i, w], out[n, h + i, w + 1]) if full else (y[i, 0], y[i, 1])
            for c in range(CO):
                a1, a2 = e1[c], e2[c]
                y0[c] = e0[c] + a1 + a2 + bias[c]
                y1[c] = a1 - a2 - e3[c] + bias[c]
        if not full:
            for i in range(min(2, OH - h)):
                for j in range(min(2, OW - w)):
                    out[n, h + i, w + j] = y[i, j]


@njit(**_JIT)
def grad_output_transform(g, dm, t0, count, TH, TW):
    """``dm[k, tt]`` (CO,): element k of ``A dY A^T`` for the 2x2 block dY of ``g`` (N, OH, OW, CO) of each
    tile t0 + tt (tt < count), pixels past the output's edge read as zero: the gradient of ``output_transform``'s
    ``m``."""
    CO = g.shape[3]
    y = np.empty((2, 2, CO), dtype=g.dtype)
    e = np.empty((2, 4, CO), dtype=g.dtype)
    for tt in range(count):
        t = t0 + tt
        n, th, tw = t // (TH * TW), t // TW % TH, t % TW
        d = _patch(g, n, 2 * th, 2 * tw, 2, y)
        for i in range(2):  # dY A^T, along row i
            y0, y1 = d[i, 0], d[i, 1]
            e0, e1, e2, e3 = e[i, 0], e[i, 1], e[i, 2], e[i, 3]
            for c in range(CO):
                a0, a1 = y0[c], y1[c]
                e0[c] = a0
                e1[c] = a0 + a1
                e2[c] = a0 - a1
                e3[c] = -a1
        for j in range(4):  # A (dY A^T), down column j
            f0, f1 = e[0, j], e[1, j]
            m0, m1, m2, m3 = dm[j, tt], dm[4 + j, tt], dm[8 + j, tt], dm[12 + j, tt]
            for c in range(CO):
                a0, a1 = f0[c], f1[c]
                m0[c] = a0
                m1[c] = a0 + a1
                m2[c] = a0 - a1
                m3[c] = -a1
