"""Compiled loops (numba) of the depthwise convolution; see ``depthwise``.

The input arrives zero-padded, (N, Hp, Wp, C); kernels and outputs are flat over
the output channels, (KH, KW, C * M) and (N, OH, OW, C * M), channel c's filter m
at c * M + m. The innermost loops run over the channels of one pixel, which LLVM
vectorises; with one filter per channel (M = 1, the common case) input and
output channels line up one to one. Serial, like every kernel (see ``_jit``):
the caller splits output rows or images over the threads (``_parallel``).
"""
from numba import njit

from cnnkit.ops._jit import JIT as _JIT


@njit(**_JIT)
def forward(x, w, out, r0, r1, SH, SW):
    """Output rows ``r0:r1`` of ``out`` (N, OH, OW, C * M), counted over the batch (row r is image r // OH)."""
    C = x.shape[3]
    KH, KW, CM = w.shape
    _, OH, OW, _ = out.shape
    M = CM // C
    for r in range(r0, r1):
        n, oh = r // OH, r % OH
        o = out[n, oh]
        o[:] = 0
        for i in range(KH):
            row = x[n, oh * SH + i]
            for j in range(KW):
                wk = w[i, j]
                for ow in range(OW):
                    src, dst = row[ow * SW + j], o[ow]
                    if M == 1:
                        for k in range(CM):
                            dst[k] += src[k] * wk[k]
                    else:
                        for c in range(C):
                            v = src[c]
                            for m in range(M):
                                dst[c * M + m] += v * wk[c * M + m]


@njit(**_JIT)
def backward(x, w, g, gx, gw, n0, n1, SH, SW, want_x, want_w):
    """Add images ``n0:n1``'s gradients: of the padded input into ``gx`` (N, Hp, Wp, C), zeroed here for those
    images, if ``want_x``, and of the kernel into ``gw`` (KH, KW, C * M), a float64 sum, if ``want_w`` (an
    array not wanted may be any array of as many dimensions). ``g`` (N, OH, OW, C * M) is the output gradient."""
    C = x.shape[3]
    KH, KW, CM = w.shape
    _, OH, OW, _ = g.shape
    M = CM // C
    for n in range(n0, n1):
        if want_x:
            gx[n] = 0
        for oh in range(OH):
            for i in range(KH):
                h = oh * SH + i
                for j in range(KW):
                    wk, acc = w[i, j], gw[i, j] if want_w else gw[0, 0, :0]
                    for ow in range(OW):
                        gs, p = g[n, oh, ow], ow * SW + j
                        if want_x:
                            dst = gx[n, h, p]
                            if M == 1:
                                for k in range(CM):
                                    dst[k] += gs[k] * wk[k]
                            else:
                                for c in range(C):
                                    s = gs[c * M] * wk[c * M]
                                    for m in range(1, M):
                                        s += gs[c * M + m] * wk[c * M + m]
                                    dst[c] += s
                        if want_w:
                            src = x[n, h, p]
                            if M == 1:
                                for k in range(CM):
                                    acc[k] += src[k] * gs[k]
                            else:
                                for c in range(C):
                                    v = src[c]
                                    for m in range(M):
                                        acc[c * M + m] += v * gs[c * M + m]
