"""Pooling, channels-last (N, H, W, C): max, average, global average.

Max and average pooling loop over the KH * KW window offsets: offset (i, j) of
every window at once is one strided slice of the input, so a pooling layer is
KH * KW vectorised ``maximum``/``add`` passes over the output, whether the
windows tile the input or overlap (reshape-and-reduce is 10-30x slower).
The passes run over blocks of the output small enough to stay in the L2 cache.
"""
import numpy as np

from cnnkit.autograd.function import Function
from cnnkit.backend import xp
from cnnkit.autograd.tensor import as_tensor
from cnnkit.utils import pair

# Bound on the pooled output of one block of work: small enough for the CPU's L2 cache.
_CHUNK_BYTES = 256 * 2**10


def _tap(a, i, j, stride, out_hw):
    """Offset (i, j) of every window: a strided slice (N, OH, OW, C) of the padded array ``a``."""
    (SH, SW), (OH, OW) = stride, out_hw
    return a[:, i:i + SH * (OH - 1) + 1:SH, j:j + SW * (OW - 1) + 1:SW]


def _pad_with(x, ph, pw, value):
    """``x`` with ``ph`` rows and ``pw`` columns of ``value`` on each side of H and W."""
    if ph == pw == 0:
        return x
    N, H, W, C = x.shape
    out = xp.full((N, H + 2 * ph, W + 2 * pw, C), value, dtype=x.dtype)
    out[:, ph:ph + H, pw:pw + W] = x
    return out


def _crop(grad_pad, ph, pw):
    """Remove the padding from a gradient of the padded input."""
    if ph == pw == 0:
        return grad_pad
    return xp.ascontiguousarray(grad_pad[:, ph:grad_pad.shape[1] - ph, pw:grad_pad.shape[2] - pw])


def _blocks(out_shape, itemsize, size, stride):
    """Blocks of the pooled output small enough for the CPU cache, so the per-offset passes run there.

    Yields ``(in_index, out_index, block_hw)``: the input rows a block reads, the
    block of output (whole images, or rows of one image when an image is too
    big), and its (rows, OW).
    """
    N, OH, OW, C = out_shape
    row_bytes = max(1, OW * C * itemsize)
    rows = max(1, min(OH, _CHUNK_BYTES // row_bytes))
    images = max(1, _CHUNK_BYTES // (OH * row_bytes)) if rows == OH else 1
    for n0 in range(0, N, images):
        part = slice(n0, min(n0 + images, N))
        for r0 in range(0, OH, rows):
            r1 = min(r0 + rows, OH)
            yield ((part, slice(r0 * stride[0], (r1 - 1) * stride[0] + size[0])), (part, slice(r0, r1)),
                   (r1 - r0, OW))


class MaxPool2d(Function):
    @staticmethod
    def forward(ctx, x, size, stride, padding, out_hw):
        KH, KW = size
        x_pad = _pad_with(x, *padding, -np.inf)
        N, _, _, C = x.shape
        out = xp.empty((N, *out_hw, C), dtype=x.dtype)
        for in_index, out_index, block_hw in _blocks(out.shape, out.itemsize, size, stride):
            xs, o = x_pad[in_index], out[out_index]
            o[...] = _tap(xs, 0, 0, stride, block_hw)
            for k in range(1, KH * KW):
                xp.maximum(o, _tap(xs, k // KW, k % KW, stride, block_hw), out=o)
        ctx.save_for_backward(x_pad, out)
        ctx.geometry = size, stride, padding
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x_pad, out = ctx.saved_tensors
        size, stride, (ph, pw) = ctx.geometry
        KH, KW = size
        grad_pad = xp.zeros(x_pad.shape, dtype=grad_out.dtype)
        for in_index, out_index, block_hw in _blocks(out.shape, out.itemsize, size, stride):
            xs, grad, o, g = x_pad[in_index], grad_pad[in_index], out[out_index], grad_out[out_index]
            routed, first, share = xp.zeros(o.shape, dtype=bool), xp.empty(o.shape, dtype=bool), xp.empty_like(g)
            # Each window's gradient goes to its first maximum in window order, as in PyTorch.
            for k in range(KH * KW):
                xp.equal(_tap(xs, k // KW, k % KW, stride, block_hw), o, out=first)
                xp.greater(first, routed, out=first)  # first and not yet routed
                routed |= first
                xp.multiply(g, first, out=share)
                target = _tap(grad, k // KW, k % KW, stride, block_hw)
                target += share
        return _crop(grad_pad, ph, pw)


class AvgPool2d(Function):
    @staticmethod
    def forward(ctx, x, size, stride, padding, out_hw):
        KH, KW = size
        x_pad = _pad_with(x, *padding, 0)
        N, _, _, C = x.shape
        out = xp.empty((N, *out_hw, C), dtype=x.dtype)
        for in_index, out_index, block_hw in _blocks(out.shape, out.itemsize, size, stride):
            xs, o = x_pad[in_index], out[out_index]
            o[...] = _tap(xs, 0, 0, stride, block_hw)
            for k in range(1, KH * KW):
                o += _tap(xs, k // KW, k % KW, stride, block_hw)
            o *= o.dtype.type(1 / (KH * KW))
        ctx.geometry = x_pad.shape, size, stride, padding
        return out

    @staticmethod
    def backward(ctx, grad_out):
        pad_shape, size, stride, (ph, pw) = ctx.geometry
        KH, KW = size
        grad_pad = xp.zeros(pad_shape, dtype=grad_out.dtype)
        share = grad_out * grad_out.dtype.type(1 / (KH * KW))
        for in_index, out_index, block_hw in _blocks(grad_out.shape, grad_out.itemsize, size, stride):
            grad, s = grad_pad[in_index], share[out_index]
            for k in range(KH * KW):
                target = _tap(grad, k // KW, k % KW, stride, block_hw)
                target += s
        return _crop(grad_pad, ph, pw)


class GlobalAvgPool2d(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.shape = x.shape
        return x.mean(axis=(1, 2))

    @staticmethod
    def backward(ctx, grad_out):
        N, H, W, C = ctx.shape
        share = grad_out * grad_out.dtype.type(1 / (H * W))
        return xp.ascontiguousarray(xp.broadcast_to(share[:, None, None, :], ctx.shape))


def _pool_geometry(name, x, size, stride, padding):
    """Validated ``(size, stride, padding, (OH, OW))`` pairs of a pooling call."""
    where = f"{name}: input {x.shape}, size {size!r}, stride {stride!r}, padding {padding!r}"
    if x.ndim != 4:
        raise ValueError(f"{where}: the input must be 4-D (N, H, W, C)")
    try:
        size = pair(size, "size", low=None)
        stride = size if stride is None else pair(stride, "stride", low=None)
        padding = pair(padding, "padding", low=None)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: size, stride and padding must be ints or pairs of ints") from None
    if min(size) < 1 or min(stride) < 1:
        raise ValueError(f"{where}: the window size and stride must be >= 1")
    if min(padding) < 0 or padding[0] > size[0] // 2 or padding[1] > size[1] // 2:
        raise ValueError(f"{where}: the padding must be >= 0 and at most half the window, as in PyTorch")
    _, H, W, _ = x.shape
    if size[0] > H + 2 * padding[0] or size[1] > W + 2 * padding[1]:
        raise ValueError(f"{where}: the window is larger than the padded input "
                         f"({H + 2 * padding[0]}, {W + 2 * padding[1]})")
    out_hw = tuple((n + 2 * p - f) // s + 1 for n, f, p, s in zip((H, W), size, padding, stride))
    return size, stride, padding, out_hw


def max_pool2d(x, size, stride=None, padding=0):
    """Max pooling over windows of H and W, channels-last.

    Parameters
    ----------
    x : Tensor or ndarray, shape (N, H, W, C)
    size : int or (int, int)
        Window ``(KH, KW)``.
    stride : int or (int, int), optional
        Step between windows; the window size by default. Smaller strides
        give overlapping windows.
    padding : int or (int, int), default 0
        ``-inf`` rows/columns added on each side (at most half the window),
        so padding never wins a maximum.

    Returns
    -------
    Tensor, shape (N, OH, OW, C)
        ``OH = floor((H + 2 * ph - KH) / SH) + 1``, likewise ``OW``. The
        gradient of each window goes to its first maximum in window order
        (row-major), as in PyTorch.
    """
    x = as_tensor(x)
    size, stride, padding, out_hw = _pool_geometry("max_pool2d", x, size, stride, padding)
    return MaxPool2d.apply(x, size=size, stride=stride, padding=padding, out_hw=out_hw)


def avg_pool2d(x, size, stride=None, padding=0):
    """Average pooling over windows of H and W, channels-last.

    Parameters
    ----------
    x : Tensor or ndarray, shape (N, H, W, C)
    size : int or (int, int)
        Window ``(KH, KW)``.
    stride : int or (int, int), optional
        Step between windows; the window size by default.
    padding : int or (int, int), default 0
        Zeros added on each side (at most half the window). The zeros count
        in the mean: every window is divided by ``KH * KW``, as PyTorch's
        default ``count_include_pad=True``.

    Returns
    -------
    Tensor, shape (N, OH, OW, C)
        ``OH = floor((H + 2 * ph - KH) / SH) + 1``, likewise ``OW``.
    """
    x = as_tensor(x)
    size, stride, padding, out_hw = _pool_geometry("avg_pool2d", x, size, stride, padding)
    return AvgPool2d.apply(x, size=size, stride=stride, padding=padding, out_hw=out_hw)


def global_avg_pool2d(x):
    """Mean over all of H and W.

    Parameters
    ----------
    x : Tensor or ndarray, shape (N, H, W, C)

    Returns
    -------
    Tensor, shape (N, C)
    """
    x = as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"global_avg_pool2d: the input must be 4-D (N, H, W, C), got shape {x.shape}")
    return GlobalAvgPool2d.apply(x)
