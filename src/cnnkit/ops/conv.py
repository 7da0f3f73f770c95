"""Convolution, channels-last: images (N, H, W, C), kernels (KH, KW, C_in, C_out).

Two code paths, chosen per shape, both ending in BLAS GEMMs:

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

Only ``x`` and ``w`` are kept for backward; the im2col buffer is rebuilt there.
"""
import numpy as np

from cnnkit.autograd.function import Function
from cnnkit.backend import xp
from cnnkit.ops import _conv_kernels as _kernels
from cnnkit.ops._conv_direct import direct_backward, direct_forward
from cnnkit.autograd.tensor import as_tensor
from cnnkit.utils import pair

# Below this many input channels one GEMM per kernel tap has too small an inner
# dimension to keep the BLAS busy; im2col's single deep GEMM wins (measured in bench/ops.py).
_SHIFT_MIN_CHANNELS = 32
# Up to this many input and output channels, stride-1 convolutions run the direct kernel (whose inner
# loops run over whole image planes) rather than thin GEMMs; with more output channels im2col's GEMM
# wins (LeNet's 1 -> 6 and 6 -> 16 direct, VGG's 3 -> 64 im2col; measured with bench/ops.py).
_DIRECT_MAX_CHANNELS = 8
_DIRECT_MAX_OUT_CHANNELS = 16
# Bound on the im2col buffer of one batch chunk: small enough to stay in the L3 cache (4-8 MiB measured best).
_CHUNK_BYTES = 8 * 2**20
# Bytes of output per block of the shift-GEMM accumulation, so the partial sums stay in cache.
_SHIFT_BLOCK_BYTES = 2 * 2**20


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


def _pad_array(x, pads):
    """Zero-pad the H and W axes of an (N, H, W, C) array by ``((top, bottom), (left, right))``."""
    (top, bottom), (left, right) = pads
    if top == bottom == left == right == 0:
        return x
    N, H, W, C = x.shape
    out = xp.zeros((N, H + top + bottom, W + left + right, C), dtype=x.dtype)
    out[:, top:top + H, left:left + W] = x
    return out


class ZeroPad(Function):
    @staticmethod
    def forward(ctx, x, pads):
        ctx.crop = (slice(None), slice(pads[0][0], pads[0][0] + x.shape[1]),
                    slice(pads[1][0], pads[1][0] + x.shape[2]))
        return _pad_array(x, pads)

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


def _shift_gemm(src, weights, offsets, out):
    """``out = sum_k src[offsets[k]:][:len(out)] @ weights[k]``, in row blocks that stay in cache."""
    rows = out.shape[0]
    block = max(64, _SHIFT_BLOCK_BYTES // (out.shape[1] * out.itemsize))
    tmp = xp.empty((min(rows, block), out.shape[1]), dtype=out.dtype)
    for r0 in range(0, rows, block):
        r1 = min(r0 + block, rows)
        acc, part = out[r0:r1], tmp[:r1 - r0]
        xp.matmul(src[offsets[0] + r0:offsets[0] + r1], weights[0], out=acc)
        for off, wk in zip(offsets[1:], weights[1:]):
            xp.matmul(src[off + r0:off + r1], wk, out=part)
            acc += part


def _tap_offsets(KH, KW, Wp):
    """Row offset of each kernel tap (i, j) in the (N * Hp * Wp, C) matrix of a padded input."""
    return [i * Wp + j for i in range(KH) for j in range(KW)]


def _shift_forward(x_pad, w, OH, OW):
    """Stride-1 convolution of a padded (N, Hp, Wp, C) array by KH * KW shifted GEMMs."""
    N, Hp, Wp, C = x_pad.shape
    KH, KW, _, CO = w.shape
    offsets = _tap_offsets(KH, KW, Wp)
    # Output pixel (n, oh, ow) is row n*Hp*Wp + oh*Wp + ow of `full`; the last
    # offsets[-1] rows would read past the input and hold no output pixel.
    full = xp.empty((N * Hp * Wp, CO), dtype=x_pad.dtype)
    _shift_gemm(x_pad.reshape(N * Hp * Wp, C), [w[i, j] for i in range(KH) for j in range(KW)], offsets,
                full[:N * Hp * Wp - offsets[-1]])
    full = full.reshape(N, Hp, Wp, CO)
    return full if (OH, OW) == (Hp, Wp) else xp.ascontiguousarray(full[:, :OH, :OW])


def _shift_backward(x, w, grad_out, x_shape, w_shape, pads, want_x, want_w):
    """Gradients of the shift-GEMM path: taps as GEMMs again, against the gradient laid out like the input."""
    N, H, W, C = x_shape
    KH, KW, _, CO = w_shape
    _, OH, OW, _ = grad_out.shape
    (top, _), (left, _) = pads
    Hp, Wp = OH + KH - 1, OW + KW - 1
    offsets = _tap_offsets(KH, KW, Wp)
    last = offsets[-1]
    rows = N * Hp * Wp
    if last == 0 and (OH, OW) == (Hp, Wp):
        g_ext = xp.ascontiguousarray(grad_out).reshape(rows, CO)
    else:
        # grad_out placed at its pixels' rows of the padded layout, zeros elsewhere,
        # after `last` leading zero rows so that grad_x's shifted reads stay in bounds.
        g_ext = xp.zeros((last + rows, CO), dtype=grad_out.dtype)
        g_ext[last:].reshape(N, Hp, Wp, CO)[:, :OH, :OW] = grad_out
    g = g_ext[last:]
    grad_x = grad_w = None
    if want_w:
        x_mat = _pad_array(x, pads).reshape(rows, C)
        grad_w = xp.empty(w_shape, dtype=grad_out.dtype)
        for k, off in enumerate(offsets):
            xp.matmul(x_mat[off:off + rows - last].T, g[:rows - last], out=grad_w[k // KW, k % KW])
    if want_x:
        # grad of padded-input row q is sum_k g[q - offsets[k]] @ w[k].T
        grad_pad = xp.empty((rows, C), dtype=grad_out.dtype)
        _shift_gemm(g_ext, [w[i, j].T for i in range(KH) for j in range(KW)], [last - off for off in offsets],
                    grad_pad)
        grad_pad = grad_pad.reshape(N, Hp, Wp, C)
        grad_x = grad_pad if (H, W) == (Hp, Wp) else xp.ascontiguousarray(grad_pad[:, top:top + H, left:left + W])
    return grad_x, grad_w


def _path(KH, KW, C, CO, SH, SW):
    """The faster code path for this shape: "direct", "shift" or "im2col" (see the module docstring)."""
    if SH == SW == 1 and (KH, KW) != (1, 1) and C <= _DIRECT_MAX_CHANNELS and CO <= _DIRECT_MAX_OUT_CHANNELS:
        return "direct"
    if SH == SW == 1 and (C >= _SHIFT_MIN_CHANNELS or KH == KW == 1):
        return "shift"
    return "im2col"


def _chunks(N, pixels, K, itemsize):
    """Slices of the batch whose im2col matrices (pixels per image x K) fit in ``_CHUNK_BYTES``."""
    step = max(1, min(N, _CHUNK_BYTES // max(1, pixels * K * itemsize)))
    return [slice(n0, min(n0 + step, N)) for n0 in range(0, N, step)], step


def _im2col_forward(x, w, stride, pads, OH, OW):
    """Convolution by im2col (a compiled gather, padding included) and one GEMM per batch chunk."""
    N, H, W, C = x.shape
    KH, KW, _, CO = w.shape
    K = KH * KW * C
    rows = xp.ascontiguousarray(x).reshape(N, H, W * C)
    w_mat = w.reshape(K, CO)
    out = xp.empty((N, OH, OW, CO), dtype=x.dtype)
    chunks, step = _chunks(N, OH * OW, K, x.itemsize)
    buffer = xp.empty(step * OH * OW * K, dtype=x.dtype)
    for part in chunks:
        n = part.stop - part.start
        cols = buffer[:n * OH * OW * K].reshape(n, OH, OW, K)
        _kernels.im2col(rows, cols, part.start, KH, KW, *stride, pads[0][0], pads[1][0])
        xp.matmul(cols.reshape(-1, K), w_mat, out=out[part].reshape(-1, CO))
    return out


def _im2col_backward(x, w, grad_out, x_shape, w_shape, stride, pads, want_x, want_w):
    """Gradients of the im2col path: the windows gathered again for grad_w, col2im by a compiled scatter."""
    N, H, W, C = x_shape
    KH, KW, _, CO = w_shape
    _, OH, OW, _ = grad_out.shape
    K = KH * KW * C
    geometry = (KH, KW, *stride, pads[0][0], pads[1][0])
    grad_out = xp.ascontiguousarray(grad_out)
    chunks, step = _chunks(N, OH * OW, K, grad_out.itemsize)
    buffer = xp.empty(step * OH * OW * K, dtype=grad_out.dtype)
    grad_x = grad_w = None
    if want_w:
        rows = xp.ascontiguousarray(x).reshape(N, H, W * C)
        grad_w = xp.empty((K, CO), dtype=grad_out.dtype)
        partial = xp.empty_like(grad_w) if len(chunks) > 1 else None
    if want_x:
        w_t = w.reshape(K, CO).T
        grad_x = xp.zeros((N, H, W * C), dtype=grad_out.dtype)
    for k, part in enumerate(chunks):
        n = part.stop - part.start
        cols = buffer[:n * OH * OW * K].reshape(n, OH, OW, K)
        g_mat = grad_out[part].reshape(-1, CO)
        if want_w:
            _kernels.im2col(rows, cols, part.start, *geometry)
            xp.matmul(cols.reshape(-1, K).T, g_mat, out=grad_w if k == 0 else partial)
            if k:
                grad_w += partial
        if want_x:
            xp.matmul(g_mat, w_t, out=cols.reshape(-1, K))
            _kernels.col2im(cols, grad_x, part.start, *geometry)
    return (None if grad_x is None else grad_x.reshape(x_shape),
            None if grad_w is None else grad_w.reshape(w_shape))


def _bias_grad(grad_out):
    """Sum of ``grad_out`` (N, OH, OW, C_out) over every axis but the channels."""
    out = xp.empty(grad_out.shape[-1], dtype=grad_out.dtype)
    _kernels.channel_sums(xp.ascontiguousarray(grad_out).reshape(-1, grad_out.shape[-1]), out)
    return out


class Conv2d(Function):
    @staticmethod
    def forward(ctx, x, w, b=None, stride=(1, 1), pads=((0, 0), (0, 0))):
        KH, KW, C, CO = w.shape
        SH, SW = stride
        Hp, Wp = x.shape[1] + sum(pads[0]), x.shape[2] + sum(pads[1])
        OH, OW = (Hp - KH) // SH + 1, (Wp - KW) // SW + 1
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, w if ctx.needs_input_grad[0] else None)
        ctx.shapes, ctx.stride, ctx.pads = (x.shape, w.shape), stride, pads
        ctx.path = _path(KH, KW, C, CO, SH, SW)
        if ctx.path == "direct":
            out, planes = direct_forward(x, w, b, pads)
            ctx.save_for_backward(planes if ctx.needs_input_grad[1] else None, w if ctx.needs_input_grad[0] else None)
            return out
        if ctx.path == "shift":
            out = _shift_forward(_pad_array(x, pads), w, OH, OW)
        else:
            out = _im2col_forward(x, w, stride, pads, OH, OW)
        if b is not None:
            out += b
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x, w = ctx.saved_tensors
        needs = ctx.needs_input_grad
        want_x, want_w = needs[0], needs[1]
        grad_b = _bias_grad(grad_out) if len(needs) > 2 and needs[2] else None
        grad_x = grad_w = None
        if want_x or want_w:
            x_shape, w_shape = ctx.shapes
            if ctx.path == "direct":
                grad_x, grad_w = direct_backward(x, w, grad_out, x_shape, w_shape, ctx.pads, want_x, want_w)
            elif ctx.path == "shift":
                grad_x, grad_w = _shift_backward(x, w, grad_out, x_shape, w_shape, ctx.pads, want_x, want_w)
            else:
                grad_x, grad_w = _im2col_backward(x, w, grad_out, x_shape, w_shape, ctx.stride, ctx.pads,
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
