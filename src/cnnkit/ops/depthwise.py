"""Depthwise convolution, channels-last: images (N, H, W, C), kernels (KH, KW, C, M).

Each input channel ``c`` is convolved with its own ``M`` filters ``w[:, :, c, :]``
(M is the channel multiplier); output channel ``c * M + m`` holds filter ``m`` of
channel ``c``: TensorFlow's ``depthwise_conv2d`` and PyTorch's
``conv2d(groups=C)`` with ``C * M`` output channels order them the same way.

There is no sum over channels, so no GEMM: tap (i, j) of every window is one
strided slice of the padded input, and the convolution is KH * KW vectorised
multiply-adds over the output, run on blocks of output rows small enough to stay
in the CPU cache (the loop pooling uses). Backward walks the same taps: the
input gradient is added back tap by tap, the kernel gradient of tap (i, j) is
the per-channel sum of ``tap * grad_out``.
"""
from cnnkit.autograd.function import Function
from cnnkit.backend import xp
from cnnkit.ops._util import pad_hw
from cnnkit.ops.conv import conv_arguments

__all__ = ["depthwise_conv2d"]

# Output bytes per block of work: the block, its tap slices and a temporary stay in the L2 cache.
_BLOCK_BYTES = 256 * 2**10


def _tap(a, i, j, stride, rows, OW):
    """Tap (i, j) of ``rows`` output rows: a strided slice (n, rows, OW, C) of padded input rows ``a``."""
    SH, SW = stride
    return a[:, i:i + SH * (rows - 1) + 1:SH, j:j + SW * (OW - 1) + 1:SW]


def _blocks(N, OH, OW, CM, itemsize, KH, SH):
    """``(images, input rows, output rows)`` slices covering the output in cache-sized blocks."""
    row_bytes = max(1, OW * CM * itemsize)
    rows = max(1, min(OH, _BLOCK_BYTES // row_bytes))
    images = max(1, _BLOCK_BYTES // (OH * row_bytes)) if rows == OH else 1
    for n0 in range(0, N, images):
        part = slice(n0, min(n0 + images, N))
        for r0 in range(0, OH, rows):
            r1 = min(r0 + rows, OH)
            yield part, slice(r0 * SH, (r1 - 1) * SH + KH), slice(r0, r1)


class DepthwiseConv2d(Function):
    @staticmethod
    def forward(ctx, x, w, b=None, stride=(1, 1), pads=((0, 0), (0, 0))):
        KH, KW, C, M = w.shape
        x_pad = pad_hw(x, pads)
        N, Hp, Wp, _ = x_pad.shape
        OH, OW = (Hp - KH) // stride[0] + 1, (Wp - KW) // stride[1] + 1
        ctx.save_for_backward(x_pad if ctx.needs_input_grad[1] else None, w if ctx.needs_input_grad[0] else None)
        ctx.geometry = x.shape, w.shape, stride, pads
        # (N, OH, OW, C, M): filter m of channel c at [..., c, m], output channel c * M + m once flattened
        out = xp.empty((N, OH, OW, C, M), dtype=x.dtype)
        taps = w.reshape(KH * KW, C, M)
        for part, rows_in, rows_out in _blocks(N, OH, OW, C * M, x.itemsize, KH, stride[0]):
            xs, o = x_pad[part, rows_in], out[part, rows_out]
            tmp = xp.empty_like(o)
            for k in range(KH * KW):
                tap = _tap(xs, k // KW, k % KW, stride, o.shape[1], OW)[..., None]
                if k == 0:
                    xp.multiply(tap, taps[0], out=o)
                else:
                    xp.multiply(tap, taps[k], out=tmp)
                    o += tmp
        out = out.reshape(N, OH, OW, C * M)
        if b is not None:
            out += b
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x_pad, w = ctx.saved_tensors
        needs = ctx.needs_input_grad
        x_shape, (KH, KW, C, M), stride, pads = ctx.geometry
        N, OH, OW, CM = grad_out.shape
        grad_b = grad_out.sum(axis=(0, 1, 2)) if len(needs) > 2 and needs[2] else None
        if not (needs[0] or needs[1]):
            return None, None, grad_b
        g_all = grad_out.reshape(N, OH, OW, C, M)
        grad_x = grad_w = None
        if needs[0]:
            (top, bottom), (left, right) = pads
            grad_pad = xp.zeros((N, x_shape[1] + top + bottom, x_shape[2] + left + right, C), dtype=grad_out.dtype)
            taps = w.reshape(KH * KW, C, M)
        if needs[1]:
            grad_w = xp.zeros((KH * KW, C, M), dtype=grad_out.dtype)
        for part, rows_in, rows_out in _blocks(N, OH, OW, CM, grad_out.itemsize, KH, stride[0]):
            g = g_all[part, rows_out]
            tmp = xp.empty_like(g)
            for k in range(KH * KW):
                if needs[0]:
                    # the window pixels of tap k receive grad_out times the tap's weights, summed over the M filters
                    # (one strided pass per filter: a reduction over a short last axis is slow in NumPy)
                    target = _tap(grad_pad[part, rows_in], k // KW, k % KW, stride, g.shape[1], OW)
                    for m in range(M):
                        xp.multiply(g[..., m], taps[k, :, m], out=tmp[..., 0])
                        target += tmp[..., 0]
                if needs[1]:
                    tap = _tap(x_pad[part, rows_in], k // KW, k % KW, stride, g.shape[1], OW)[..., None]
                    xp.multiply(tap, g, out=tmp)
                    grad_w[k] += tmp.reshape(-1, C, M).sum(axis=0)
        if needs[0]:
            grad_x = grad_pad[:, top:top + x_shape[1], left:left + x_shape[2]]
            grad_x = grad_x if grad_x.shape == grad_pad.shape else xp.ascontiguousarray(grad_x)
        if needs[1]:
            grad_w = grad_w.reshape(KH, KW, C, M)
        return grad_x, grad_w, grad_b


def depthwise_conv2d(x, w, b=None, stride=1, padding=0):
    """Depthwise 2-D convolution, channels-last: every channel convolved with its own filters.

    Parameters
    ----------
    x : Tensor or ndarray, shape (N, H, W, C)
    w : Tensor or ndarray, shape (KH, KW, C, M)
        ``M`` filters per input channel (the channel multiplier), TensorFlow's layout.
    b : Tensor or ndarray, shape (C * M,), optional
    stride : int or (int, int), default 1
    padding : int, (int, int), "valid" or "same", default 0
        As in :func:`cnnkit.functional.conv2d` ("same" follows TensorFlow).

    Returns
    -------
    Tensor, shape (N, OH, OW, C * M)
        Channel ``c * M + m`` is input channel ``c`` convolved with ``w[:, :, c, m]``;
        ``OH = floor((H + pad_top + pad_bottom - KH) / SH) + 1``, likewise ``OW``.

    Raises
    ------
    ValueError
        For inputs that are not 4-D, a kernel whose third axis is not C, a bias that
        is not (C * M,), a stride < 1, negative or unknown padding, or a kernel
        larger than the padded input.
    TypeError
        When ``x``, ``w`` and ``b`` have different dtypes.
    """
    args, stride, pads = conv_arguments("depthwise_conv2d", x, w, b, stride, padding, "channel_multiplier",
                                        lambda C, w: C * w.shape[3])
    return DepthwiseConv2d.apply(*args, stride=stride, pads=pads)
