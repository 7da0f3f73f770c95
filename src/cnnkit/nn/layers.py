"""Layers: convolution, pooling, dense, activations. Channels-last (normalisation and dropout: :mod:`cnnkit.nn.regularization`).

Every layer with parameters takes ``dtype`` (float32 when None) and ``rng``
(a ``numpy.random.Generator`` or a seed; fresh entropy when None) for its
initialisation; see :mod:`cnnkit.nn.init` for the defaults.
"""
import math

import cnnkit.functional as F
from cnnkit.autograd.tensor import as_tensor
from cnnkit.backend import xp
from cnnkit.nn import init
from cnnkit.nn.module import Module, Parameter, new_array, resolve_dtype, resolve_rng
from cnnkit.utils import pair


def _padding(padding):
    """Normalise padding: "valid", "same", or a pair of ints."""
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
        return padding
    return pair(padding, "padding")


def _torch_default_init(weight, bias, rng):
    """PyTorch's Conv2d/Linear initialisation: kaiming_uniform(a=sqrt(5)) weight, U(+-1/sqrt(fan_in)) bias."""
    rng = resolve_rng(rng)
    init.kaiming_uniform_(weight, a=math.sqrt(5), rng=rng)
    if bias is not None:
        bound = 1 / math.sqrt(init.calculate_fans(weight.shape)[0])
        init.uniform_(bias, -bound, bound, rng)


class Conv2d(Module):
    """2-D convolution over (N, H, W, C_in) images.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (int, int)
    stride : int or (int, int), default 1
    padding : int, (int, int), "valid" or "same", default 0
    bias : bool, default True
    dtype : dtype, optional
        float32 when None.
    rng : numpy.random.Generator or int, optional

    Attributes
    ----------
    weight : Parameter, shape (KH, KW, C_in, C_out)
        Initialised like PyTorch: ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, ``fan_in = KH*KW*C_in``.
    bias : Parameter, shape (C_out,), or None
        The same distribution.

    Shapes: input (N, H, W, C_in) -> output (N, OH, OW, C_out), with
    ``OH = floor((H + 2*PH - KH) / SH) + 1``.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True, dtype=None, rng=None):
        super().__init__()
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"Conv2d needs positive channel counts, got in_channels={in_channels}, "
                             f"out_channels={out_channels}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = pair(kernel_size, "kernel_size", low=1)
        self.stride = pair(stride, "stride", low=1)
        self.padding = _padding(padding)
        dtype, rng = resolve_dtype(dtype), resolve_rng(rng)
        self.weight = Parameter(new_array(self.kernel_size + (in_channels, out_channels), dtype))
        self.bias = Parameter(new_array((out_channels,), dtype)) if bias else None
        self.reset_parameters(rng)

    def reset_parameters(self, rng=None):
        """Draw the weights and bias again (PyTorch's default Conv2d initialisation)."""
        _torch_default_init(self.weight, self.bias, rng)

    def forward(self, x):
        x = as_tensor(x)
        if x.ndim != 4 or x.shape[-1] != self.in_channels:
            raise ValueError(f"Conv2d({self.in_channels}, {self.out_channels}) expects input (N, H, W, "
                             f"{self.in_channels}), got shape {x.shape}")
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self):
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            text += f", padding={self.padding!r}"
        return text + ("" if self.bias is not None else ", bias=False")


class Linear(Module):
    """Dense layer ``x @ weight + bias``.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool, default True
    dtype : dtype, optional
    rng : numpy.random.Generator or int, optional

    Attributes
    ----------
    weight : Parameter, shape (in_features, out_features)
        Initialised like PyTorch: ``U(-1/sqrt(in_features), 1/sqrt(in_features))``.
    bias : Parameter, shape (out_features,), or None

    Shapes: input (..., in_features) -> output (..., out_features).
    """

    def __init__(self, in_features, out_features, bias=True, dtype=None, rng=None):
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(f"Linear needs positive sizes, got in_features={in_features}, out_features={out_features}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        dtype = resolve_dtype(dtype)
        self.weight = Parameter(new_array((in_features, out_features), dtype))
        self.bias = Parameter(new_array((out_features,), dtype)) if bias else None
        self.reset_parameters(rng)

    def reset_parameters(self, rng=None):
        """Draw the weights and bias again (PyTorch's default Linear initialisation)."""
        _torch_default_init(self.weight, self.bias, rng)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class _Pool2d(Module):
    """The window geometry of a pooling layer: ``kernel_size``, ``stride`` (``kernel_size`` by default), ``padding``."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = pair(kernel_size, "kernel_size", low=1)
        self.stride = self.kernel_size if stride is None else pair(stride, "stride", low=1)
        self.padding = pair(padding, "padding")

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """Max pooling over (N, H, W, C).

    Parameters
    ----------
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Defaults to ``kernel_size``.
    padding : int or (int, int), default 0
        Implicit padding with -inf (it never wins the maximum).
    ceil_mode : bool, default False
        Round the output size up, as PyTorch's ``ceil_mode``: windows may run
        over the bottom/right edge (padded with -inf), but none starts in the
        padding. torchvision's GoogLeNet uses it.

    Shapes: (N, H, W, C) -> (N, OH, OW, C).
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False):
        super().__init__(kernel_size, stride, padding)
        self.ceil_mode = bool(ceil_mode)

    def forward(self, x):
        x = as_tensor(x)
        if self.ceil_mode:
            x = self._pad_for_ceil(x)
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)

    def _pad_for_ceil(self, x):
        """Append -inf rows/columns so that floor division gives PyTorch's ceil-mode output size."""
        if x.ndim != 4:
            raise ValueError(f"MaxPool2d expects input (N, H, W, C), got shape {x.shape}")
        extra = []
        for n, k, s, p in zip(x.shape[1:3], self.kernel_size, self.stride, self.padding):
            out = -(-(n + 2 * p - k) // s) + 1
            if (out - 1) * s >= n + p:  # the last window would start inside the right padding
                out -= 1
            extra.append(max(0, (out - 1) * s + k - (n + 2 * p)))
        N, H, W, C = x.shape
        if extra[0]:
            x = F.concat([x, xp.full((N, extra[0], W, C), -xp.inf, dtype=x.dtype)], axis=1)
        if extra[1]:
            x = F.concat([x, xp.full((N, H + extra[0], extra[1], C), -xp.inf, dtype=x.dtype)], axis=2)
        return x

    def extra_repr(self):
        return super().extra_repr() + (", ceil_mode=True" if self.ceil_mode else "")


class AvgPool2d(_Pool2d):
    """Average pooling over (N, H, W, C).

    Parameters
    ----------
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Defaults to ``kernel_size``.
    padding : int or (int, int), default 0

    Shapes: (N, H, W, C) -> (N, OH, OW, C).
    """

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)


class GlobalAvgPool2d(Module):
    """Mean over the spatial axes: (N, H, W, C) -> (N, C)."""

    def forward(self, x):
        return F.global_avg_pool2d(x)


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size, with PyTorch's bins.

    Bin ``i`` of ``OH`` covers rows ``floor(i*H/OH)`` to ``ceil((i+1)*H/OH)``
    (bins overlap or repeat rows when ``H`` is not a multiple of ``OH``,
    exactly as ``torch.nn.AdaptiveAvgPool2d``). When ``H, W`` already equal the
    output size it returns its input; when they are multiples it is one
    reshape and mean; otherwise one slice per bin.

    Parameters
    ----------
    output_size : int or (int, int)

    Shapes: (N, H, W, C) -> (N, OH, OW, C).
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = pair(output_size, "output_size", low=1)
        if min(self.output_size) < 1:
            raise ValueError(f"output_size must be positive, got {output_size!r}")

    def forward(self, x):
        x = as_tensor(x)
        if x.ndim != 4:
            raise ValueError(f"AdaptiveAvgPool2d expects input (N, H, W, C), got shape {x.shape}")
        N, H, W, C = x.shape
        OH, OW = self.output_size
        if (H, W) == (OH, OW):
            return x
        if H % OH == 0 and W % OW == 0:
            # (N, H, W, C) -> (N, OH, H/OH, OW, W/OW, C), averaged over the window axes
            return x.reshape(N, OH, H // OH, OW, W // OW, C).mean(axis=(2, 4))
        rows = []
        for i in range(OH):
            h0, h1 = (i * H) // OH, -(-((i + 1) * H) // OH)
            cells = [x[:, h0:h1, (j * W) // OW:-(-((j + 1) * W) // OW), :].mean(axis=(1, 2), keepdims=True)
                     for j in range(OW)]
            rows.append(F.concat(cells, axis=2))
        return F.concat(rows, axis=1)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class Flatten(Module):
    """Flatten all axes but the batch axis: (N, H, W, C) -> (N, H*W*C), in channels-last order."""

    def forward(self, x):
        return F.flatten(x)


class Identity(Module):
    """Return the input unchanged (a placeholder layer, e.g. a removed classifier head)."""

    def forward(self, x):
        return x


class ReLU(Module):
    """``max(x, 0)`` elementwise."""

    def forward(self, x):
        return F.relu(x)


class LeakyReLU(Module):
    """``x`` where positive, ``negative_slope * x`` elsewhere.

    Parameters
    ----------
    negative_slope : float, default 0.01
    """

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Module):
    """``1 / (1 + exp(-x))`` elementwise."""

    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    """``tanh(x)`` elementwise."""

    def forward(self, x):
        return F.tanh(x)


class Softmax(Module):
    """Softmax along ``axis`` (the last by default).

    Parameters
    ----------
    axis : int, default -1
    """

    def __init__(self, axis=-1):
        super().__init__()
        self.axis = int(axis)

    def forward(self, x):
        return F.softmax(x, self.axis)

    def extra_repr(self):
        return f"axis={self.axis}"
