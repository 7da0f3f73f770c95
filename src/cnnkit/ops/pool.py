"""Pooling, channels-last (N, H, W, C): max, average, global average.

Max and average pooling are compiled loops (``_pool_kernels``, numba) that read
each window once, whether the windows tile the input, overlap or leave gaps;
padding is handled inside, never materialised. Max pooling keeps the winning
tap of every window so that backward is a single scatter. The batch is split
over the kernel threads (``_parallel``): images never share a window.
"""
from cnnkit.autograd.function import Function
from cnnkit.backend import xp
from cnnkit.ops import _parallel, _pool_kernels as _kernels
from cnnkit.autograd.tensor import as_tensor
from cnnkit.utils import pair

# Below this many channels 2x2 max pooling reduces whole rows (``max_pool_2x2_rows``; 1.3-4x faster at 1-8
# channels, 2x slower at 16 and more; measured).
_ROWS_MAX_CHANNELS = 16


def _per_image(kernel, x):
    """``kernel(start, stop)`` over spans of the batch of ``x`` (N, H, W, C), one per kernel thread."""
    _parallel.run(kernel, _parallel.spans(x.shape[0], x.size // max(1, x.shape[0])))


class MaxPool2d(Function):
    @staticmethod
    def forward(ctx, x, size, stride, padding, out_hw):
        x = xp.ascontiguousarray(x)
        N, _, _, C = x.shape
        out = xp.empty((N, *out_hw, C), dtype=x.dtype)
        # the winning tap of every window, for backward
        arg = xp.empty(out.shape, dtype=xp.int32)
        if size == (2, 2) and padding == (0, 0):
            kernel = _kernels.max_pool_2x2_rows if C < _ROWS_MAX_CHANNELS else _kernels.max_pool_2x2
            _per_image(lambda a, b: kernel(x[a:b], out[a:b], arg[a:b], *stride), x)
        elif size == (3, 3):
            _per_image(lambda a, b: _kernels.max_pool_3x3(x[a:b], out[a:b], arg[a:b], *stride, *padding), x)
        else:
            _per_image(lambda a, b: _kernels.max_pool(x[a:b], out[a:b], arg[a:b], *size, *stride, *padding), x)
        ctx.save_for_backward(arg)
        ctx.geometry = x.shape, size, stride, padding
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (arg,) = ctx.saved_tensors
        x_shape, size, stride, padding = ctx.geometry
        g = xp.ascontiguousarray(grad_out)
        grad_x = xp.empty(x_shape, dtype=grad_out.dtype)  # zeroed by the kernel, span by span
        _per_image(lambda a, b: _kernels.max_pool_backward(g[a:b], arg[a:b], grad_x[a:b], *size, *stride, *padding),
                   grad_x)
        return grad_x


class AvgPool2d(Function):
    @staticmethod
    def forward(ctx, x, size, stride, padding, out_hw):
        x = xp.ascontiguousarray(x)
        N, _, _, C = x.shape
        out = xp.empty((N, *out_hw, C), dtype=x.dtype)
        scale = x.dtype.type(1 / (size[0] * size[1]))
        if size == (2, 2) and padding == (0, 0):
            _per_image(lambda a, b: _kernels.avg_pool_2x2(x[a:b], out[a:b], *stride, scale), x)
        else:
            _per_image(lambda a, b: _kernels.avg_pool(x[a:b], out[a:b], *size, *stride, *padding, scale), x)
        ctx.geometry = x.shape, size, stride, padding
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x_shape, size, stride, padding = ctx.geometry
        g, scale = xp.ascontiguousarray(grad_out), grad_out.dtype.type(1 / (size[0] * size[1]))
        if size == stride == (2, 2) and padding == (0, 0):
            grad_x = xp.empty(x_shape, dtype=grad_out.dtype)  # every pixel written by the kernel
            _per_image(lambda a, b: _kernels.avg_pool_backward_2x2(g[a:b], grad_x[a:b], scale), grad_x)
            return grad_x
        grad_x = xp.zeros(x_shape, dtype=grad_out.dtype)
        _per_image(lambda a, b: _kernels.avg_pool_backward(g[a:b], grad_x[a:b], *size, *stride, *padding, scale),
                   grad_x)
        return grad_x


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
