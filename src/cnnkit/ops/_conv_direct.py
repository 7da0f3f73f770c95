"""The direct path of conv2d: stride-1 convolutions of few-channel layers on channels-first planes.

See ``_conv_kernels`` for the layout: channel c of the batch is one row of
planes, image n's zero-padded grid at n * Hp * Wp, so every kernel tap is one
long multiply-add over the batch. ``conv.Conv2d`` chooses this path.
"""
from cnnkit.backend import xp
from cnnkit.ops import _conv_kernels as _kernels

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


def direct_forward(x, w, b, pads):
    """Stride-1 convolution of a few-channel input by the direct kernel; returns the output and the input planes."""
    N, H, W, C = x.shape
    KH, KW, _, CO = w.shape
    (top, bottom), (left, right) = pads
    Hp, Wp = H + top + bottom, W + left + right
    planes = _planes(x, top, left, Hp, Wp, (KH - 1) * Wp + KW - 1)
    # (KH, KW, C, CO) -> (CO, C * KH * KW), taps in (c, i, j) order
    out_planes = _direct_conv(planes, (Hp, Wp), (KH, KW), _even_rows(w.transpose(3, 2, 0, 1).reshape(CO, -1)))
    out = xp.empty((N, Hp - KH + 1, Wp - KW + 1, CO), dtype=x.dtype)
    _kernels.from_planes(out_planes, out, 0, 0, Hp, Wp, xp.zeros(CO, dtype=x.dtype) if b is None else b)
    return out, planes


def direct_backward(planes, w, grad_out, x_shape, w_shape, pads, want_x, want_w):
    """Gradients of the direct path: dot products for grad_w, the flipped kernel over the padded gradient for grad_x."""
    N, H, W, C = x_shape
    KH, KW, _, CO = w_shape
    _, OH, OW, _ = grad_out.shape
    (top, _), (left, _) = pads
    Hp, Wp = OH + KH - 1, OW + KW - 1
    grad_x = grad_w = None
    if want_w:
        g = _planes(grad_out, 0, 0, Hp, Wp, 0, even=True)
        blocks = -(-g.shape[1] // _DIRECT_BLOCK)
        parts = xp.empty((blocks, C * KH * KW, g.shape[0]), dtype=grad_out.dtype)
        _kernels.direct_conv_weight_grad(planes.reshape(-1), _plane_offsets(C, KH, KW, planes.shape[1], Wp), g, parts,
                                         _DIRECT_BLOCK)
        # (C * KH * KW, CO) in (c, i, j) order -> (KH, KW, C, CO)
        grad_w = parts.sum(axis=0)[:, :CO].reshape(C, KH, KW, CO).transpose(1, 2, 0, 3).copy()
    if want_x:
        Hg, Wg = Hp + KH - 1, Wp + KW - 1
        g = _planes(grad_out, KH - 1, KW - 1, Hg, Wg, (KH - 1) * Wg + KW - 1)
        # flipped kernel, input and output channels swapped: (C, CO * KH * KW), taps in (co, i, j) order
        w_flip = _even_rows(w[::-1, ::-1].transpose(2, 3, 0, 1).reshape(C, -1))
        grad_planes = _direct_conv(g, (Hg, Wg), (KH, KW), w_flip)
        grad_x = xp.empty(x_shape, dtype=grad_out.dtype)
        _kernels.from_planes(grad_planes, grad_x, top, left, Hg, Wg, xp.zeros(C, dtype=grad_out.dtype))
    return grad_x, grad_w
