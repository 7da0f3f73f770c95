"""Depthwise and depthwise-separable convolution layers (MobileNet's), channels-last."""
import math

import cnnkit.functional as F
from cnnkit.autograd.tensor import as_tensor
from cnnkit.backend import xp
from cnnkit.nn import init
from cnnkit.nn.layers import Conv2d, _padding
from cnnkit.nn.module import Module, Parameter, resolve_dtype, resolve_rng
from cnnkit.utils import pair

__all__ = ["DepthwiseConv2d", "SeparableConv2d"]


class DepthwiseConv2d(Module):
    """Depthwise 2-D convolution: each of the C input channels convolved with its own ``channel_multiplier`` filters.

    PyTorch's ``Conv2d(C, C * channel_multiplier, kernel_size, groups=C)``, TensorFlow's
    ``DepthwiseConv2D``; see :func:`cnnkit.functional.depthwise_conv2d`.

    Parameters
    ----------
    in_channels : int
        C.
    kernel_size : int or (int, int)
    stride : int or (int, int), default 1
    padding : int, (int, int), "valid" or "same", default 0
    channel_multiplier : int, default 1
        M, filters per input channel.
    bias : bool, default True
    dtype : dtype, optional
        float32 when None.
    rng : numpy.random.Generator or int, optional

    Attributes
    ----------
    weight : Parameter, shape (KH, KW, C, M)
        Initialised like PyTorch's grouped convolution: ``U(-1/sqrt(KH*KW), 1/sqrt(KH*KW))``
        (one input channel per filter).
    bias : Parameter, shape (C * M,), or None
        The same distribution.

    Shapes: input (N, H, W, C) -> output (N, OH, OW, C * M); channel ``c * M + m`` is
    channel ``c`` through filter ``m``.
    """

    def __init__(self, in_channels, kernel_size, stride=1, padding=0, channel_multiplier=1, bias=True, dtype=None,
                 rng=None):
        super().__init__()
        if in_channels < 1 or channel_multiplier < 1:
            raise ValueError(f"DepthwiseConv2d needs positive in_channels and channel_multiplier, got "
                             f"in_channels={in_channels}, channel_multiplier={channel_multiplier}")
        self.in_channels, self.channel_multiplier = int(in_channels), int(channel_multiplier)
        self.out_channels = self.in_channels * self.channel_multiplier
        self.kernel_size = pair(kernel_size, "kernel_size", low=1)
        self.stride = pair(stride, "stride", low=1)
        self.padding = _padding(padding)
        dtype = resolve_dtype(dtype)
        self.weight = Parameter(xp.empty(self.kernel_size + (self.in_channels, self.channel_multiplier), dtype=dtype))
        self.bias = Parameter(xp.empty((self.out_channels,), dtype=dtype)) if bias else None
        self.reset_parameters(rng)

    def reset_parameters(self, rng=None):
        """Draw the weights and bias again (PyTorch's default for ``groups=in_channels``)."""
        rng = resolve_rng(rng)
        bound = 1 / math.sqrt(self.kernel_size[0] * self.kernel_size[1])
        init.uniform_(self.weight, -bound, bound, rng)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound, rng)

    def forward(self, x):
        x = as_tensor(x)
        if x.ndim != 4 or x.shape[-1] != self.in_channels:
            raise ValueError(f"DepthwiseConv2d({self.in_channels}) expects input (N, H, W, {self.in_channels}), "
                             f"got shape {x.shape}")
        return F.depthwise_conv2d(x, self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self):
        text = f"{self.in_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            text += f", padding={self.padding!r}"
        if self.channel_multiplier != 1:
            text += f", channel_multiplier={self.channel_multiplier}"
        return text + ("" if self.bias is not None else ", bias=False")


class SeparableConv2d(Module):
    """Depthwise-separable convolution: a depthwise convolution, then a 1x1 convolution across channels.

    TensorFlow's ``separable_conv2d`` / Keras' ``SeparableConv2D``: the depthwise step has
    no bias, the pointwise step carries it. The same function as a full
    ``Conv2d(in_channels, out_channels, kernel_size)`` restricted to rank-M kernels,
    with ``KH*KW*C*M + C*M*out`` weights instead of ``KH*KW*C*out``.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (int, int)
    stride : int or (int, int), default 1
        Of the depthwise step.
    padding : int, (int, int), "valid" or "same", default 0
        Of the depthwise step.
    channel_multiplier : int, default 1
    bias : bool, default True
    dtype : dtype, optional
    rng : numpy.random.Generator or int, optional

    Attributes
    ----------
    depthwise : DepthwiseConv2d
        Weight (KH, KW, C, M), no bias.
    pointwise : Conv2d
        1x1, weight (1, 1, C * M, out_channels), bias (out_channels,).

    Shapes: input (N, H, W, C) -> output (N, OH, OW, out_channels).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, channel_multiplier=1, bias=True,
                 dtype=None, rng=None):
        super().__init__()
        rng = resolve_rng(rng)
        self.depthwise = DepthwiseConv2d(in_channels, kernel_size, stride, padding, channel_multiplier, bias=False,
                                         dtype=dtype, rng=rng)
        self.pointwise = Conv2d(self.depthwise.out_channels, out_channels, 1, bias=bias, dtype=dtype, rng=rng)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))
