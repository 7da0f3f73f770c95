"""Convolution, channels-last: images (N, H, W, C), kernels (KH, KW, C_in, C_out).

Two code paths, chosen per shape, both ending in BLAS GEMMs:

- **shift-GEMM** (stride 1 with at least ``_SHIFT_MIN_CHANNELS`` input channels, and
  every 1x1 stride-1 convolution): the padded input, viewed as a matrix of
  (N * Hp * Wp) rows of C_in, times kernel tap (i, j) gives the tap's contribution
  to every output pixel at once, shifted by ``i * Wp + j`` rows. Summing the
  KH * KW shifted GEMMs and cropping the rows that are real output pixels gives
  the convolution without any im2col copy. A 1x1 convolution is one plain GEMM.
- **im2col** (strided convolutions and layers with few channels, where
  KH * KW GEMMs with a tiny inner dimension would waste the BLAS): a strided view
  of the windows is copied into a (pixels, KH * KW * C_in) buffer, one GEMM per
  chunk of the batch; col2im adds the gradient back with a loop over the kernel taps.

Only ``x`` and ``w`` are kept for backward; the im2col buffer is rebuilt there.
"""
import numpy as np

from cnnkit.autograd.function import Function
from cnnkit.backend import xp
from cnnkit.autograd.tensor import as_tensor
from cnnkit.utils import pair

# Below this many input channels one GEMM per kernel tap has too small an inner
# dimension to keep the BLAS busy; im2col's single deep GEMM wins (measured in bench/ops.py).
_SHIFT_MIN_CHANNELS = 32
# Bound on the im2col buffer of one batch chunk: small enough to stay in the L3 cache (4-8 MiB measured best).
_CHUNK_BYTES = 8 * 2**20
# Bytes of output per block of the shift-GEMM accumulation, so the partial sums stay in cache.
_SHIFT_BLOCK_BYTES = 2 * 2**20
# im2col copies (runs of KW * C values) and col2im adds (runs of C values) whose
# contiguous runs in channels-last order are shorter than these use the
# channels-first layout (see _Im2col; thresholds measured with bench/ops.py shapes).
_SHORT_COPY = 8
_SHORT_ADD = 16


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


def _uses_shift(KH, KW, C, SH, SW):
    """True when the shift-GEMM path is the faster one for this shape (see the module docstring)."""
    return SH == SW == 1 and (C >= _SHIFT_MIN_CHANNELS or KH == KW == 1)


def _tap(a, i, j, SH, SW, OH, OW):
    """Kernel tap (i, j) of every window: a strided slice (.., OH, OW) of the last two axes of ``a``."""
    return a[..., i:i + SH * (OH - 1) + 1:SH, j:j + SW * (OW - 1) + 1:SW]


class _Im2col:
    """The im2col buffer of one convolution, reused by every batch chunk.

    In channels-last order a window copy moves runs of KW * C contiguous values
    and a col2im add runs of C values; when a run is short (tiny-channel layers,
    ``_SHORT_COPY``, ``_SHORT_ADD``) that step uses the transposed, channels-first
    layout (KH * KW * C, pixels) instead, whose runs are output rows (2-3x faster there).
    The GEMMs take either layout as a (pixels, K) matrix or its transpose.
    """

    def __init__(self, x_shape, w_shape, stride, pads, dtype):
        N, H, W, _ = x_shape
        self.KH, self.KW, self.C, self.CO = w_shape
        self.SH, self.SW = stride
        self.Hp, self.Wp = H + sum(pads[0]), W + sum(pads[1])
        self.OH, self.OW = (self.Hp - self.KH) // self.SH + 1, (self.Wp - self.KW) // self.SW + 1
        self.K = self.KH * self.KW * self.C
        self.fill_channels_first = self.KW * self.C < _SHORT_COPY
        self.col2im_channels_first = self.C < _SHORT_ADD
        step = max(1, min(N, _CHUNK_BYTES // max(1, self.OH * self.OW * self.K * dtype.itemsize)))
        self.chunks = [slice(n0, min(n0 + step, N)) for n0 in range(0, N, step)]
        self.buffer = xp.empty(step * self.OH * self.OW * self.K, dtype=dtype)

    def _cols(self, n, channels_first):
        """The first ``n`` images' share of the buffer: (KH, KW, C, n, OH, OW) or (n, OH, OW, KH, KW, C)."""
        shape = ((self.KH, self.KW, self.C, n, self.OH, self.OW) if channels_first
                 else (n, self.OH, self.OW, self.KH, self.KW, self.C))
        return self.buffer[:n * self.OH * self.OW * self.K].reshape(shape)

    def source(self, x_pad):
        """The padded input in the layout ``fill`` reads: (C, N, Hp, Wp) when channels-first."""
        return xp.ascontiguousarray(x_pad.transpose(3, 0, 1, 2)) if self.fill_channels_first else x_pad

    def fill(self, src, part):
        """Copy the windows of the images ``part`` of ``src`` (from ``source``); returns the (pixels, K) matrix."""
        cols = self._cols(part.stop - part.start, self.fill_channels_first)
        if self.fill_channels_first:
            # (C, n, Hp, Wp) -> (KH, KW, C, n, OH, OW)
            for i in range(self.KH):
                for j in range(self.KW):
                    cols[i, j] = _tap(src[:, part], i, j, self.SH, self.SW, self.OH, self.OW)
            return cols.reshape(self.K, -1).T
        # (n, Hp, Wp, C) -> (n, OH, OW, KH, KW, C) in one copy of a strided view
        cols[...] = _windows(src[part], self.KH, self.KW, self.SH, self.SW, self.OH, self.OW)
        return cols.reshape(-1, self.K)

    def grad_source(self, N):
        """Zeros for the padded input's gradient, in the layout ``col2im`` adds to."""
        shape = (self.C, N, self.Hp, self.Wp) if self.col2im_channels_first else (N, self.Hp, self.Wp, self.C)
        return xp.zeros(shape, dtype=self.buffer.dtype)

    def to_nhwc(self, grad_src):
        """A view (N, Hp, Wp, C) of a gradient from ``grad_source``."""
        return grad_src.transpose(1, 2, 3, 0) if self.col2im_channels_first else grad_src

    def col2im(self, g_mat, w_mat, grad_src, part):
        """Add the input gradient of the images ``part``, from their (pixels, C_out) gradient, into ``grad_src``."""
        cols = self._cols(part.stop - part.start, self.col2im_channels_first)
        if self.col2im_channels_first:
            xp.matmul(w_mat, g_mat.T, out=cols.reshape(self.K, -1))
            target = grad_src[:, part]
            windows = [cols[i, j] for i in range(self.KH) for j in range(self.KW)]
        else:
            xp.matmul(g_mat, w_mat.T, out=cols.reshape(-1, self.K))
            # (n, Hp, Wp, C) -> (n, C, Hp, Wp) views, so both layouts slice their last two axes
            target = grad_src[part].transpose(0, 3, 1, 2)
            windows = [cols[:, :, :, i, j].transpose(0, 3, 1, 2) for i in range(self.KH) for j in range(self.KW)]
        for k, window in enumerate(windows):
            view = _tap(target, k // self.KW, k % self.KW, self.SH, self.SW, self.OH, self.OW)
            view += window


def _windows(x_pad, KH, KW, SH, SW, OH, OW):
    """Strided view of the windows, only ever read: (N, Hp, Wp, C) -> (N, OH, OW, KH, KW, C), no copy."""
    sN, sH, sW, sC = x_pad.strides
    return xp.lib.stride_tricks.as_strided(
        x_pad, (x_pad.shape[0], OH, OW, KH, KW, x_pad.shape[3]), (sN, sH * SH, sW * SW, sH, sW, sC))


def _im2col_forward(x_pad, w, stride):
    """Convolution of a padded (N, Hp, Wp, C) array by im2col and one GEMM per batch chunk."""
    N = x_pad.shape[0]
    cols = _Im2col(x_pad.shape, w.shape, stride, ((0, 0), (0, 0)), x_pad.dtype)
    w_mat = w.reshape(cols.K, cols.CO)
    out = xp.empty((N, cols.OH, cols.OW, cols.CO), dtype=x_pad.dtype)
    src = cols.source(x_pad)
    for part in cols.chunks:
        xp.matmul(cols.fill(src, part), w_mat, out=out[part].reshape(-1, cols.CO))
    return out


def _im2col_backward(x, w, grad_out, x_shape, w_shape, stride, pads, want_x, want_w):
    """Gradients of the im2col path: im2col rebuilt for grad_w, col2im by a loop over the kernel taps."""
    N, H, W, _ = x_shape
    (top, _), (left, _) = pads
    cols = _Im2col(x_shape, w_shape, stride, pads, grad_out.dtype)
    grad_x = grad_w = None
    if want_w:
        src = cols.source(_pad_array(x, pads))
        grad_w = xp.zeros((cols.K, cols.CO), dtype=grad_out.dtype)
    if want_x:
        w_mat = w.reshape(cols.K, cols.CO)
        grad_src = cols.grad_source(N)
    for part in cols.chunks:
        g_mat = grad_out[part].reshape(-1, cols.CO)
        if want_w:
            grad_w += cols.fill(src, part).T @ g_mat
        if want_x:
            cols.col2im(g_mat, w_mat, grad_src, part)
    if want_w:
        grad_w = grad_w.reshape(w_shape)
    if want_x:
        grad_x = xp.ascontiguousarray(cols.to_nhwc(grad_src)[:, top:top + H, left:left + W])
    return grad_x, grad_w


class Conv2d(Function):
    @staticmethod
    def forward(ctx, x, w, b=None, stride=(1, 1), pads=((0, 0), (0, 0))):
        KH, KW, C, CO = w.shape
        SH, SW = stride
        x_pad = _pad_array(x, pads)
        Hp, Wp = x_pad.shape[1:3]
        OH, OW = (Hp - KH) // SH + 1, (Wp - KW) // SW + 1
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, w if ctx.needs_input_grad[0] else None)
        ctx.shapes, ctx.stride, ctx.pads = (x.shape, w.shape), stride, pads
        if _uses_shift(KH, KW, C, SH, SW):
            out = _shift_forward(x_pad, w, OH, OW)
        else:
            out = _im2col_forward(x_pad, w, stride)
        if b is not None:
            out += b
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x, w = ctx.saved_tensors
        needs = ctx.needs_input_grad
        want_x, want_w = needs[0], needs[1]
        grad_b = grad_out.sum(axis=(0, 1, 2)) if len(needs) > 2 and needs[2] else None
        grad_x = grad_w = None
        if want_x or want_w:
            x_shape, w_shape = ctx.shapes
            KH, KW, C, _ = w_shape
            if _uses_shift(KH, KW, C, *ctx.stride):
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
    x, w = as_tensor(x), as_tensor(w)
    where = f"conv2d: input {x.shape}, kernel {w.shape}, stride {stride!r}, padding {padding!r}"
    if x.ndim != 4:
        raise ValueError(f"{where}: the input must be 4-D (N, H, W, C_in)")
    if w.ndim != 4:
        raise ValueError(f"{where}: the kernel must be 4-D (KH, KW, C_in, C_out)")
    N, H, W, C = x.shape
    KH, KW, CI, CO = w.shape
    if CI != C:
        raise ValueError(f"{where}: the input has {C} channels but the kernel expects {CI}")
    try:
        SH, SW = pair(stride, "stride", low=1)
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
    if KH > H + sum(pads[0]) or KW > W + sum(pads[1]) or KH < 1 or KW < 1:
        raise ValueError(f"{where}: the kernel is larger than the padded input "
                         f"({H + sum(pads[0])}, {W + sum(pads[1])})")
    if x.dtype != w.dtype:
        raise TypeError(f"{where}: input dtype {x.dtype} and kernel dtype {w.dtype} differ")
    args = (x, w)
    if b is not None:
        b = as_tensor(b)
        if b.shape != (CO,):
            raise ValueError(f"{where}: the bias must have shape ({CO},), got {b.shape}")
        if b.dtype != x.dtype:
            raise TypeError(f"{where}: input dtype {x.dtype} and bias dtype {b.dtype} differ")
        args = (x, w, b)
    return Conv2d.apply(*args, stride=(SH, SW), pads=pads)
