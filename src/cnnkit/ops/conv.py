"""Convolution, channels-last: images (N, H, W, C), kernels (KH, KW, C_in, C_out).

Four code paths, chosen per shape (``_path``):

- **Winograd** F(2x2, 3x3) (3x3 stride-1 convolutions with at least
  ``_WINOGRAD_MIN_CHANNELS`` input channels): 2.25x fewer multiplies, in 16 GEMMs over
  transformed 4x4 input tiles (``_conv_winograd``); 1.3-2x faster than shift-GEMM on
  VGG's and ResNet's 3x3 layers (measured), within 1e-6 of it in float32. Its
  input and weight gradients are Winograd's too.

- **shift-GEMM** (stride 1 with at least ``_SHIFT_MIN_CHANNELS`` input channels, and
  every 1x1 stride-1 convolution): the padded input, viewed as a matrix of
  (N * Hp * Wp) rows of C_in, times kernel tap (i, j) gives the tap's contribution
  to every output pixel at once, shifted by ``i * Wp + j`` rows. Summing the
  KH * KW shifted GEMMs and cropping the rows that are real output pixels gives
  the convolution without any im2col copy. A 1x1 convolution is one plain GEMM.
- **im2col** (strided convolutions and layers with few channels, where
  KH * KW GEMMs with a tiny inner dimension would waste the BLAS): a compiled
  gather (``_kernels.im2col``, zero padding included) copies the windows into a
  (pixels, KH * KW * C_in) buffer, one GEMM per chunk of the batch; backward
  scatters the GEMM's window gradients back with ``_kernels.col2im``.
- **direct** (stride 1, few input and output channels, where GEMMs would be too
  thin): compiled multiply-adds over whole image planes (``_conv_direct``).

The shift-GEMM and im2col paths live in ``_conv_gemm``. Every path splits its work over the
threads of ``_parallel``. Only ``x`` and ``w`` (the direct path: its input
planes) are kept for backward; the im2col buffer is rebuilt there.
"""
import numpy as np

from cnnkit.autograd.function import Function
from cnnkit.ops._conv_direct import direct_backward, direct_forward
from cnnkit.ops._conv_gemm import im2col_backward, im2col_forward, shift_backward, shift_forward
from cnnkit.ops._conv_winograd import winograd_conv, winograd_grad_input, winograd_grad_weight
from cnnkit.ops._util import bias_grad, pad_hw
from cnnkit.autograd.tensor import as_tensor
from cnnkit.utils import pair

# Below this many input channels one GEMM per kernel tap has too small an inner
# dimension to keep the BLAS busy; im2col's single deep GEMM wins (measured in bench/ops.py).
_SHIFT_MIN_CHANNELS = 32
# Up to this many input and output channels, stride-1 convolutions run the direct kernel (whose inner
# loops run over whole image planes) rather than thin GEMMs; with more channels im2col's GEMM wins
# (LeNet's 1 -> 6 direct; its 6 -> 16 and VGG's 3 -> 64 im2col: 1.3x faster, forward and backward, on
# 1 and 2 threads; measured with bench/ops.py).
_DIRECT_MAX_CHANNELS = 4
_DIRECT_MAX_OUT_CHANNELS = 16
# From this many input channels Winograd beats shift-GEMM on 3x3 stride-1 layers (1.3-2x from 32 channels at
# 16x16 and larger images; 512 channels at 16x16 only tie; measured).
_WINOGRAD_MIN_CHANNELS = 32


def conv_output_size(n, f, padding=0, stride=1):
    """Output length of a convolution or pooling window along one axis.

    Parameters
    ----------
    n : int
        Input length (>= 0).
    f : int
        Window (kernel) length (>= 1).
    padding : int, default 0
        Zeros added on each side (>= 0).
    stride : int, default 1
        Step between windows (>= 1).

    Returns
    -------
    int
        ``floor((n + 2 * padding - f) / stride) + 1``.
    """
    for name, value, low in (("n", n, 0), ("f", f, 1), ("padding", padding, 0), ("stride", stride, 1)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise ValueError(f"conv_output_size: {name} must be an int >= {low}, got {value!r}")
    if f > n + 2 * padding:
        raise ValueError(f"conv_output_size: window {f} is larger than the padded input {n} + 2 * {padding}")
    return (n + 2 * padding - f) // stride + 1


class ZeroPad(Function):
    @staticmethod
    def forward(ctx, x, pads):
        ctx.crop = (slice(None), slice(pads[0][0], pads[0][0] + x.shape[1]),
                    slice(pads[1][0], pads[1][0] + x.shape[2]))
        return pad_hw(x, pads)

    @staticmethod
    def backward(ctx, grad_out):
        return grad_out[ctx.crop]


def zero_pad(x, pad):
    """Pad the height and width of a batch of images with zeros.

    Parameters
    ----------
    x : Tensor or ndarray, shape (N, H, W, C)
    pad : int or (int, int)
        Zeros added on each side of H and W, or ``(ph, pw)`` per axis.

    Returns
    -------
    Tensor, shape (N, H + 2 * ph, W + 2 * pw, C)
    """
    x = as_tensor(x)
    ph, pw = pair(pad, "zero_pad: pad", low=None)
    if x.ndim != 4:
        raise ValueError(f"zero_pad: input must be (N, H, W, C), got shape {x.shape}")
    if ph < 0 or pw < 0:
        raise ValueError(f"zero_pad: padding must be >= 0, got {pad!r} for input of shape {x.shape}")
    return ZeroPad.apply(x, pads=((ph, ph), (pw, pw)))


def _same_pads(n, f, s):
    """TensorFlow's "same" padding along one axis: (before, after), the extra zero after."""
    out = -(-n // s)
    total = max((out - 1) * s + f - n, 0)
    return total // 2, total - total // 2


def _resolve_padding(padding, H, W, KH, KW, SH, SW):
    """``((top, bottom), (left, right))`` from an int, a pair, "valid" or "same"; None if unknown."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding == "same":
            return _same_pads(H, KH, SH), _same_pads(W, KW, SW)
        return None
    ph, pw = pair(padding, "padding", low=None)
    return (ph, ph), (pw, pw)


def _path(KH, KW, C, CO, SH, SW, pads):
    """The faster code path for this shape: "direct", "winograd", "shift" or "im2col" (see the module docstring)."""
    if SH == SW == 1 and (KH, KW) != (1, 1) and C <= _DIRECT_MAX_CHANNELS and CO <= _DIRECT_MAX_OUT_CHANNELS:
        return "direct"
    # (padding of at most 2 a side: the input gradient pads the output gradient by 2 - padding)
    if SH == SW == 1 and (KH, KW) == (3, 3) and C >= _WINOGRAD_MIN_CHANNELS and max(pads[0] + pads[1]) <= 2:
        return "winograd"
    if SH == SW == 1 and (C >= _SHIFT_MIN_CHANNELS or KH == KW == 1):
        return "shift"
    return "im2col"


class Conv2d(Function):
    @staticmethod
    def forward(ctx, x, w, b=None, stride=(1, 1), pads=((0, 0), (0, 0))):
        KH, KW, C, CO = w.shape
        SH, SW = stride
        Hp, Wp = x.shape[1] + sum(pads[0]), x.shape[2] + sum(pads[1])
        OH, OW = (Hp - KH) // SH + 1, (Wp - KW) // SW + 1
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, w if ctx.needs_input_grad[0] else None)
        ctx.shapes, ctx.stride, ctx.pads = (x.shape, w.shape), stride, pads
        ctx.path = _path(KH, KW, C, CO, SH, SW, pads)
        if ctx.path == "direct":
            out, spans = direct_forward(x, w, b, pads)
            if not ctx.needs_input_grad[1]:
                spans = [(n0, n1, None) for n0, n1, _ in spans]  # the planes are only for grad_w
            ctx.save_for_backward(spans, w if ctx.needs_input_grad[0] else None)
            return out
        if ctx.path == "winograd":
            return winograd_conv(x, w, pads, (OH, OW), b)
        if ctx.path == "shift":
            return shift_forward(pad_hw(x, pads), w, OH, OW, b)
        return im2col_forward(x, w, stride, pads, OH, OW, b)

    @staticmethod
    def backward(ctx, grad_out):
        x, w = ctx.saved_tensors
        needs = ctx.needs_input_grad
        want_x, want_w = needs[0], needs[1]
        grad_b = bias_grad(grad_out) if len(needs) > 2 and needs[2] else None
        grad_x = grad_w = None
        if want_x or want_w:
            x_shape, w_shape = ctx.shapes
            if ctx.path == "direct":
                grad_x, grad_w = direct_backward(x, w, grad_out, x_shape, w_shape, ctx.pads, want_x, want_w)
            elif ctx.path == "winograd":
                grad_x = winograd_grad_input(grad_out, w, x_shape, ctx.pads) if want_x else None
                grad_w = winograd_grad_weight(x, grad_out, ctx.pads) if want_w else None
            elif ctx.path == "shift":
                grad_x, grad_w = shift_backward(x, w, grad_out, x_shape, w_shape, ctx.pads, want_x, want_w)
            else:
                grad_x, grad_w = im2col_backward(x, w, grad_out, x_shape, w_shape, ctx.stride, ctx.pads,
                                                  want_x, want_w)
        return grad_x, grad_w, grad_b


def conv2d(x, w, b=None, stride=1, padding=0):
    """2-D convolution (cross-correlation, as in every deep learning library), channels-last.

    Parameters
    ----------
    x : Tensor or ndarray, shape (N, H, W, C_in)
    w : Tensor or ndarray, shape (KH, KW, C_in, C_out)
        The kernel, HWIO; kernels need not be square.
    b : Tensor or ndarray, shape (C_out,), optional
    stride : int or (int, int), default 1
        Step between windows, ``(SH, SW)`` per axis.
    padding : int, (int, int), "valid" or "same", default 0
        Zeros around H and W: the same on both sides, per axis for a pair,
        none for "valid". "same" follows TensorFlow: the output has
        ``ceil(H / SH) x ceil(W / SW)`` pixels (the input size at stride 1);
        the total padding along an axis is ``max((out - 1) * s + k - n, 0)``,
        split in half with the odd zero at the bottom/right (asymmetric for
        even kernels at stride 1).

    Returns
    -------
    Tensor, shape (N, OH, OW, C_out)
        ``OH = floor((H + pad_top + pad_bottom - KH) / SH) + 1``, likewise ``OW``;
        the dtype of ``x`` (float32 or float64).

    Raises
    ------
    ValueError
        For inputs that are not 4-D, channels of ``x`` and ``w`` that differ, a
        bias that is not (C_out,), a stride < 1, negative or unknown padding, or
        a kernel larger than the padded input.
    TypeError
        When ``x`` and ``w`` (or ``b``) have different dtypes.
    """
    args, stride, pads = conv_arguments("conv2d", x, w, b, stride, padding, "C_out", lambda C, w: w.shape[3])
    return Conv2d.apply(*args, stride=stride, pads=pads)


def conv_arguments(name, x, w, b, stride, padding, kernel_out, out_channels):
    """Check a convolution's arguments once for every kind (conv2d, depthwise_conv2d).

    ``kernel_out`` names the kernel's last axis in messages; ``out_channels(C, w)``
    is the number of output channels (the bias's length). Returns the tensors to
    apply (``(x, w)`` or ``(x, w, b)``), the stride pair and the resolved padding.
    """
    x, w = as_tensor(x), as_tensor(w)
    where = f"{name}: input {x.shape}, kernel {w.shape}, stride {stride!r}, padding {padding!r}"
    if x.ndim != 4:
        raise ValueError(f"{where}: the input must be 4-D (N, H, W, C_in)")
    if w.ndim != 4:
        raise ValueError(f"{where}: the kernel must be 4-D (KH, KW, C_in, {kernel_out})")
    N, H, W, C = x.shape
    KH, KW, CI, _ = w.shape
    if CI != C:
        raise ValueError(f"{where}: the input has {C} channels but the kernel's third axis is {CI}")
    try:
        SH, SW = pair(stride, "stride")
        pads = _resolve_padding(padding, H, W, KH, KW, max(SH, 1), max(SW, 1))
    except (TypeError, ValueError):
        raise ValueError(f"{where}: stride and padding must be ints or pairs of ints "
                         "(padding may also be 'valid' or 'same')") from None
    if SH < 1 or SW < 1:
        raise ValueError(f"{where}: the stride must be >= 1")
    if pads is None:
        raise ValueError(f"{where}: unknown padding {padding!r}; use an int, a pair, 'valid' or 'same'")
    if min(min(p) for p in pads) < 0:
        raise ValueError(f"{where}: the padding must be >= 0")
    if min(KH, KW, w.shape[3]) < 1 or KH > H + sum(pads[0]) or KW > W + sum(pads[1]):
        raise ValueError(f"{where}: the kernel is empty or larger than the padded input "
                         f"({H + sum(pads[0])}, {W + sum(pads[1])})")
    if x.dtype != w.dtype:
        raise TypeError(f"{where}: input dtype {x.dtype} and kernel dtype {w.dtype} differ")
    if b is None:
        return (x, w), (SH, SW), pads
    b, size = as_tensor(b), out_channels(C, w)
    if b.shape != (size,):
        raise ValueError(f"{where}: the bias must have shape ({size},), got {b.shape}")
    if b.dtype != x.dtype:
        raise TypeError(f"{where}: input dtype {x.dtype} and bias dtype {b.dtype} differ")
    return (x, w, b), (SH, SW), pads
