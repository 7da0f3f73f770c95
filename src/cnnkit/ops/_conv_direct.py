"""The direct path of conv2d: stride-1 convolutions of few-channel layers on channels-first planes.

See ``_conv_kernels`` for the layout: channel c of the batch is one row of
planes, image n's zero-padded grid at n * Hp * Wp, so every kernel tap is one
long multiply-add over the batch. ``conv.Conv2d`` chooses this path. The batch
is split into spans over the kernel threads (``_parallel``); each span has its
own planes, and the spans' weight gradients are summed.
"""
from cnnkit.backend import xp
from cnnkit.ops import _conv_kernels as _kernels, _parallel

# Positions per block of the direct kernels: two output rows of this many floats stay in the L1 cache.
_DIRECT_BLOCK = 2048


def _planes(x, top, left, Hp, Wp, tail, even=False):
    """``x`` (N, H, W, C) as channels-first planes (C, N * Hp * Wp + tail) (see ``_conv_kernels``), C made even if asked."""
    N, _, _, C = x.shape
    planes = xp.empty((C + (C % 2 if even else 0), N * Hp * Wp + tail), dtype=x.dtype)
    _kernels.to_planes(xp.ascontiguousarray(x), planes, top, left, Hp, Wp)
    return planes


def _plane_offsets(C, KH, KW, S, Wp):
    """Offset of tap (c, i, j) in planes with rows of length S and grids of width Wp: c * S + i * Wp + j."""
    return xp.asarray([c * S + i * Wp + j for c in range(C) for i in range(KH) for j in range(KW)], dtype=xp.int64)


def _even_rows(m):
    """``m`` (rows, cols) with a zero row appended when the row count is odd (the direct kernels pair rows)."""
    m = xp.ascontiguousarray(m)
    return m if m.shape[0] % 2 == 0 else xp.concatenate([m, xp.zeros((1, m.shape[1]), dtype=m.dtype)])


def _direct_conv(planes, grid, kernel_hw, w_cf):
    """Convolve planes (C, S) whose image grids are ``grid`` (Hg, Wg) with ``w_cf`` (CO, C * KH * KW): (CO, N * Hg * Wg)."""
    C, S = planes.shape
    (_, Wg), (KH, KW) = grid, kernel_hw
    tail = (KH - 1) * Wg + KW - 1
    out = xp.empty((w_cf.shape[0], S - tail), dtype=planes.dtype)
    _kernels.direct_conv(planes.reshape(-1), _plane_offsets(C, KH, KW, S, Wg), w_cf, out, _DIRECT_BLOCK)
    return out


def _forward_span(x, w_cf, b, pads, kernel_hw, out):
    """Convolve the images ``x`` into ``out`` (both NHWC) by the direct kernel; returns their input planes."""
    (top, bottom), (left, right) = pads
    KH, KW = kernel_hw
    Hp, Wp = x.shape[1] + top + bottom, x.shape[2] + left + right
    planes = _planes(x, top, left, Hp, Wp, (KH - 1) * Wp + KW - 1)
    _kernels.from_planes(_direct_conv(planes, (Hp, Wp), kernel_hw, w_cf), out, 0, 0, Hp, Wp, b)
    return planes


def direct_forward(x, w, b, pads):
    """Stride-1 convolution of a few-channel input by the direct kernel, the batch split over the kernel threads.

    Returns the output (N, OH, OW, CO) and, for backward, each span's
    ``(start, stop, input planes)``.
    """
    N, H, W, C = x.shape
    KH, KW, _, CO = w.shape
    (top, bottom), (left, right) = pads
    x = xp.ascontiguousarray(x)
    # (KH, KW, C, CO) -> (CO, C * KH * KW), taps in (c, i, j) order
    w_cf = _even_rows(w.transpose(3, 2, 0, 1).reshape(CO, -1))
    b = xp.zeros(CO, dtype=x.dtype) if b is None else b
    out = xp.empty((N, H + top + bottom - KH + 1, W + left + right - KW + 1, CO), dtype=x.dtype)
    parts = _parallel.spans(N, out[0].size * C * KH * KW)
    planes = _parallel.run(lambda n0, n1: _forward_span(x[n0:n1], w_cf, b, pads, (KH, KW), out[n0:n1]), parts)
    return out, [(n0, n1, p) for (n0, n1), p in zip(parts, planes)]


def _backward_span(planes, w_flip, grad_out, grad_x, C, kernel_hw, pads, want_w):
    """Gradients of one span of images: its (C * KH * KW, CO) weight gradient, and its grad_x written in place."""
    KH, KW = kernel_hw
    _, OH, OW, CO = grad_out.shape
    (top, _), (left, _) = pads
    Hp, Wp = OH + KH - 1, OW + KW - 1
    grad_w = None
    if want_w:
        g = _planes(grad_out, 0, 0, Hp, Wp, 0, even=True)
        blocks = -(-g.shape[1] // _DIRECT_BLOCK)
        parts = xp.empty((blocks, C * KH * KW, g.shape[0]), dtype=grad_out.dtype)
        _kernels.direct_conv_weight_grad(planes.reshape(-1), _plane_offsets(C, KH, KW, planes.shape[1], Wp), g, parts,
                                         _DIRECT_BLOCK)
        grad_w = parts.sum(axis=0)[:, :CO]
    if grad_x is not None:
        Hg, Wg = Hp + KH - 1, Wp + KW - 1
        g = _planes(grad_out, KH - 1, KW - 1, Hg, Wg, (KH - 1) * Wg + KW - 1)
        grad_planes = _direct_conv(g, (Hg, Wg), kernel_hw, w_flip)
        _kernels.from_planes(grad_planes, grad_x, top, left, Hg, Wg, xp.zeros(C, dtype=grad_out.dtype))
    return grad_w


def direct_backward(spans, w, grad_out, x_shape, w_shape, pads, want_x, want_w):
    """Gradients of the direct path, span by span as in forward: dot products for grad_w, the flipped kernel
    over the padded gradient for grad_x."""
    C = x_shape[3]
    KH, KW, _, CO = w_shape
    grad_out = xp.ascontiguousarray(grad_out)
    grad_x = xp.empty(x_shape, dtype=grad_out.dtype) if want_x else None
    # flipped kernel, input and output channels swapped: (C, CO * KH * KW), taps in (co, i, j) order
    w_flip = _even_rows(w[::-1, ::-1].transpose(2, 3, 0, 1).reshape(C, -1)) if want_x else None
    by_start = {n0: (n1, planes) for n0, n1, planes in spans}

    def span(n0, n1):
        return _backward_span(by_start[n0][1], w_flip, grad_out[n0:n1], None if grad_x is None else grad_x[n0:n1], C,
                              (KH, KW), pads, want_w)

    grad_w = _parallel.run_sum(span, [(n0, n1) for n0, n1, _ in spans])
    if want_w:
        # (C * KH * KW, CO) in (c, i, j) order -> (KH, KW, C, CO)
        grad_w = xp.ascontiguousarray(grad_w.reshape(C, KH, KW, CO).transpose(1, 2, 0, 3))
    return grad_x, grad_w
