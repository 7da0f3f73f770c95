"""Depthwise convolution, channels-last: images (N, H, W, C), kernels (KH, KW, C, M).

Each input channel ``c`` is convolved with its own ``M`` filters ``w[:, :, c, :]``
(M is the channel multiplier); output channel ``c * M + m`` holds filter ``m`` of
channel ``c``: TensorFlow's ``depthwise_conv2d`` and PyTorch's
``conv2d(groups=C)`` with ``C * M`` output channels order them the same way.

There is no sum over channels, so no GEMM: compiled loops (``_depthwise_kernels``)
multiply-add each kernel tap into the output, vectorised over a pixel's channels,
on the zero-padded input. The forward pass splits the output rows of the batch
over the kernel threads (``_parallel``), backward the images (the input gradient
of neighbouring rows overlaps); the kernel gradient is summed in float64.
"""
from cnnkit.autograd.function import Function
from cnnkit.backend import xp
from cnnkit.ops import _depthwise_kernels as _kernels, _parallel
from cnnkit.ops._util import bias_grad, pad_hw
from cnnkit.ops.conv import conv_arguments

__all__ = ["depthwise_conv2d"]


class DepthwiseConv2d(Function):
    @staticmethod
    def forward(ctx, x, w, b=None, stride=(1, 1), pads=((0, 0), (0, 0))):
        KH, KW, C, M = w.shape
        x_pad = xp.ascontiguousarray(pad_hw(x, pads))
        N, Hp, Wp, _ = x_pad.shape
        OH, OW = (Hp - KH) // stride[0] + 1, (Wp - KW) // stride[1] + 1
        ctx.save_for_backward(x_pad if ctx.needs_input_grad[1] else None, w if ctx.needs_input_grad[0] else None)
        ctx.geometry = x.shape, w.shape, stride, pads
        out = xp.empty((N, OH, OW, C * M), dtype=x.dtype)
        taps = xp.ascontiguousarray(w).reshape(KH, KW, C * M)
        _parallel.run(lambda r0, r1: _kernels.forward(x_pad, taps, out, r0, r1, *stride),
                      _parallel.spans(N * OH, OW * C * M * KH * KW))
        if b is not None:
            out += b
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x_pad, w = ctx.saved_tensors
        needs = ctx.needs_input_grad
        x_shape, (KH, KW, C, M), stride, pads = ctx.geometry
        N, OH, OW, CM = grad_out.shape
        grad_b = bias_grad(grad_out) if len(needs) > 2 and needs[2] else None
        want_x, want_w = needs[0], needs[1]
        if not (want_x or want_w):
            return None, None, grad_b
        g = xp.ascontiguousarray(grad_out)
        (top, bottom), (left, right) = pads
        Hp, Wp = x_shape[1] + top + bottom, x_shape[2] + left + right
        grad_pad = xp.empty((N, Hp, Wp, C), dtype=g.dtype) if want_x else xp.empty((1, 1, 1, 1), dtype=g.dtype)
        taps = xp.ascontiguousarray(w).reshape(KH, KW, CM) if want_x else xp.zeros((KH, KW, CM), dtype=g.dtype)
        x_in = x_pad if want_w else xp.zeros((1, 1, 1, C), dtype=g.dtype)

        def span(n0, n1):
            """Images n0:n1: their input gradient in place, and their kernel gradient (float64)."""
            part = xp.zeros((KH, KW, CM) if want_w else (1, 1, 1), dtype=xp.float64)
            _kernels.backward(x_in, taps, g, grad_pad, part, n0, n1, *stride, want_x, want_w)
            return part

        grad_w = _parallel.run_sum(span, _parallel.spans(N, OH * OW * CM * KH * KW))
        grad_x = None
        if want_x:
            grad_x = grad_pad[:, top:top + x_shape[1], left:left + x_shape[2]]
            grad_x = grad_x if grad_x.shape == grad_pad.shape else xp.ascontiguousarray(grad_x)
        grad_w = grad_w.astype(g.dtype).reshape(KH, KW, C, M) if want_w else None
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
