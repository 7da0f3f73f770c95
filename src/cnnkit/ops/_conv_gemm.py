"""The GEMM paths of conv2d: shift-GEMM and im2col (see ``conv``'s docstring for when each runs).

Both split their work over the kernel threads (``_parallel``), each span with
its own buffers and one BLAS thread: shift-GEMM by rows of the padded input
(output rows for the products, the summed pixels for the weight gradient),
im2col by images of the batch, or by GEMM rows when the batch is one image.
"""
from cnnkit.backend import xp
from cnnkit.ops import _conv_kernels as _kernels, _parallel
from cnnkit.ops._util import pad_hw

# Bound on the im2col buffer of one batch chunk (a chunk holds at least one image): each thread has one, and
# at 2 threads 2 MiB was 10-20% faster than 8 on dlib's 7x7 stride-2 layer and ResNet's 3x3 stride-2 one,
# the same on LeNet's and VGG's (A/B runs, forward + backward).
_CHUNK_BYTES = 2 * 2**20
# Bytes of output per block of the shift-GEMM accumulation, so the partial sums stay in cache.
_SHIFT_BLOCK_BYTES = 2 * 2**20
# Layers of at most _WIDE_MAX_CHANNELS output channels compute several output pixels a GEMM row, at least two
# and up to _WIDE_COLUMNS columns (``_pixels_per_row``). Measured (bench/ops.py and A/B runs, forward +
# backward, 2 threads): LeNet's 6 -> 16 layer 1.6x faster with 32 columns (48 and 64 were slower than 16);
# with two pixels a row MTCNN's 10 -> 16 layer 1.4-1.6x faster, its 3 -> 28 and 3 -> 32 layers 1.1-1.2x,
# dlib's 5x5 and 7x7 stride-2 layers of 16 and 32 channels 1.1-1.5x (the 7x7 one 7% slower on 1 thread).
_WIDE_MAX_CHANNELS = 32
_WIDE_COLUMNS = 32


def _shift_gemm(src, weights, offsets, out, bias=None):
    """``out = sum_k src[offsets[k]:][:len(out)] @ weights[k]`` (+ ``bias``), in row blocks that stay in cache,
    rows split over the threads."""
    rows, CO = out.shape
    block = max(64, _SHIFT_BLOCK_BYTES // (CO * out.itemsize))

    def span(s0, s1):
        tmp = xp.empty((min(s1 - s0, block), CO), dtype=out.dtype)
        for r0 in range(s0, s1, block):
            r1 = min(r0 + block, s1)
            acc, part = out[r0:r1], tmp[:r1 - r0]
            _parallel.matmul(src[offsets[0] + r0:offsets[0] + r1], weights[0], acc)
            for off, wk in zip(offsets[1:], weights[1:]):
                _parallel.matmul(src[off + r0:off + r1], wk, part)
                acc += part
            if bias is not None:  # while the block is in cache
                acc += bias

    _parallel.run(span, _parallel.spans(rows, len(weights) * weights[0].size, _parallel.MIN_SPAN_MACS))


def _tap_offsets(KH, KW, Wp):
    """Row offset of each kernel tap (i, j) in the (N * Hp * Wp, C) matrix of a padded input."""
    return [i * Wp + j for i in range(KH) for j in range(KW)]


def shift_forward(x_pad, w, OH, OW, bias=None):
    """Stride-1 convolution of a padded (N, Hp, Wp, C) array by KH * KW shifted GEMMs, plus ``bias`` (CO,) if given."""
    N, Hp, Wp, C = x_pad.shape
    KH, KW, _, CO = w.shape
    offsets = _tap_offsets(KH, KW, Wp)
    # Output pixel (n, oh, ow) is row n*Hp*Wp + oh*Wp + ow of `full`; the last
    # offsets[-1] rows would read past the input and hold no output pixel.
    full = xp.empty((N * Hp * Wp, CO), dtype=x_pad.dtype)
    _shift_gemm(x_pad.reshape(N * Hp * Wp, C), [w[i, j] for i in range(KH) for j in range(KW)], offsets,
                full[:N * Hp * Wp - offsets[-1]], bias)
    full = full.reshape(N, Hp, Wp, CO)
    return full if (OH, OW) == (Hp, Wp) else xp.ascontiguousarray(full[:, :OH, :OW])


def shift_backward(x, w, grad_out, x_shape, w_shape, pads, want_x, want_w):
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
    if want_w and want_x and (KH, KW) == (1, 1) and (H, W) == (Hp, Wp):
        return _one_by_one_backward(x.reshape(rows, C), w.reshape(C, CO), g, x_shape, w_shape)
    if want_w:
        x_mat = pad_hw(x, pads).reshape(rows, C)

        def taps(r0, r1):
            # every tap's product over the pixels r0:r1; the spans' products are summed
            part = xp.empty((len(offsets), C, CO), dtype=grad_out.dtype)
            for k, off in enumerate(offsets):
                xp.matmul(x_mat[off + r0:off + r1].T, g[r0:r1], out=part[k])
            return part

        grad_w = _parallel.run_sum(taps, _parallel.spans(rows - last, len(offsets) * C * CO,
                                                         _parallel.MIN_SPAN_MACS)).reshape(w_shape)
    if want_x:
        # grad of padded-input row q is sum_k g[q - offsets[k]] @ w[k].T
        grad_pad = xp.empty((rows, C), dtype=grad_out.dtype)
        _shift_gemm(g_ext, [w[i, j].T for i in range(KH) for j in range(KW)], [last - off for off in offsets],
                    grad_pad)
        grad_pad = grad_pad.reshape(N, Hp, Wp, C)
        grad_x = grad_pad if (H, W) == (Hp, Wp) else xp.ascontiguousarray(grad_pad[:, top:top + H, left:left + W])
    return grad_x, grad_w


def _one_by_one_backward(x_mat, w_mat, g, x_shape, w_shape):
    """Both gradients of an unpadded 1x1 convolution in one pass over the rows of ``g``: each span's rows give
    their part of grad_w while in cache, and their rows of grad_x."""
    rows, C = x_mat.shape
    grad_x = xp.empty((rows, C), dtype=g.dtype)
    w_t = w_mat.T

    def span(r0, r1):
        _parallel.matmul(g[r0:r1], w_t, grad_x[r0:r1])
        return _parallel.matmul_tn(x_mat[r0:r1], g[r0:r1])

    grad_w = _parallel.run_sum(span, _parallel.spans(rows, 2 * C * w_mat.shape[1], _parallel.MIN_SPAN_MACS))
    return grad_x.reshape(x_shape), grad_w.reshape(w_shape)


def _im2col_spans(N, pixels, K, CO, itemsize):
    """Spans of the batch for the threads, and images per chunk: im2col matrices that fit in ``_CHUNK_BYTES``."""
    step = max(1, min(N, _CHUNK_BYTES // max(1, pixels * K * itemsize)))
    return _parallel.spans(N, pixels * K * CO, _parallel.MIN_SPAN_MACS), step


def _pixels_per_row(KW, SW, CO, OW):
    """Output pixels of a row that one im2col GEMM row computes (``_widen``): 1 unless the layer is thin."""
    if CO > _WIDE_MAX_CHANNELS:
        return 1
    P = max(1, min(OW, max(2, _WIDE_COLUMNS // CO)))
    # at most 1.5x the multiply-adds (a strided 3x3 layer of 8 channels with 1.67x: 1.35x slower; measured)
    while P > 1 and 2 * (P - 1) * SW > KW:
        P -= 1
    return P


def _widen(w, P, SW):
    """The kernel (KH, KW + (P - 1) * SW, C, P * CO) of P horizontally adjacent output pixels of ``w``.

    Pixel p of a group reads the window's columns p * SW : p * SW + KW, so its
    copy of ``w`` sits there, zeros elsewhere.
    """
    KH, KW, C, CO = w.shape
    wide = xp.zeros((KH, KW + (P - 1) * SW, C, P, CO), dtype=w.dtype)
    for p in range(P):
        wide[:, p * SW:p * SW + KW, :, p] = w
    return wide.reshape(KH, KW + (P - 1) * SW, C, P * CO)


def im2col_forward(x, w, stride, pads, OH, OW, bias=None):
    """Convolution by im2col (a compiled gather, padding included) and one GEMM per batch chunk.

    A thin layer (``_pixels_per_row``) convolves groups of P adjacent output
    pixels of a row at once, as one convolution of the wider kernel
    ``_widen(w)`` with P times the stride and P * CO channels: OpenBLAS is
    2-3x faster at 32 output columns than at 16 or 6, more than the extra
    multiply-adds by its zeros cost (LeNet's 6 -> 16 layer: 1.6x faster).
    The group's columns past the image read as zero padding and are dropped.
    """
    P = _pixels_per_row(w.shape[1], stride[1], w.shape[3], OW)
    if P == 1:
        return _im2col_forward(x, w, stride, pads, OH, OW, bias)
    groups = -(-OW // P)
    out = _im2col_forward(x, _widen(w, P, stride[1]), (stride[0], stride[1] * P), pads, OH, groups,
                          None if bias is None else xp.tile(bias, P))
    out = out.reshape(x.shape[0], OH, groups * P, w.shape[3])
    return out if groups * P == OW else xp.ascontiguousarray(out[:, :, :OW])


def im2col_backward(x, w, grad_out, x_shape, w_shape, stride, pads, want_x, want_w):
    """Gradients of the im2col path, thin layers by groups of output pixels as in ``im2col_forward``."""
    N, OH, OW, CO = grad_out.shape
    KH, KW, C, _ = w_shape
    SH, SW = stride
    P = _pixels_per_row(KW, SW, CO, OW)
    if P == 1:
        return _im2col_backward(x, w, grad_out, x_shape, w_shape, stride, pads, want_x, want_w)
    groups = -(-OW // P)
    if groups * P != OW:  # the dropped pixels' gradient is zero
        grad_out = xp.concatenate([grad_out, xp.zeros((N, OH, groups * P - OW, CO), dtype=grad_out.dtype)], axis=2)
    grad_out = xp.ascontiguousarray(grad_out).reshape(N, OH, groups, P * CO)
    wide = _widen(w, P, SW) if want_x else None
    wide_shape = (KH, KW + (P - 1) * SW, C, P * CO)
    grad_x, grad_wide = _im2col_backward(x, wide, grad_out, x_shape, wide_shape, (SH, SW * P), pads, want_x, want_w)
    grad_w = None
    if want_w:
        grad_wide = grad_wide.reshape(KH, KW + (P - 1) * SW, C, P, CO)
        grad_w = grad_wide[:, :KW, :, 0].copy()
        for p in range(1, P):
            grad_w += grad_wide[:, p * SW:p * SW + KW, :, p]
    return grad_x, grad_w


def _im2col_forward(x, w, stride, pads, OH, OW, bias=None):
    """Convolution by im2col (a compiled gather, padding included) and one GEMM per batch chunk, plus ``bias``."""
    N, H, W, C = x.shape
    KH, KW, _, CO = w.shape
    K = KH * KW * C
    rows = xp.ascontiguousarray(x).reshape(N, H, W * C)
    w_mat = w.reshape(K, CO)
    out = xp.empty((N, OH, OW, CO), dtype=x.dtype)
    parts, step = _im2col_spans(N, OH * OW, K, CO, x.itemsize)
    # one span: its GEMMs split their rows over the threads instead
    matmul = _parallel.gemm if len(parts) == 1 else _parallel.matmul

    def span(n0, n1):
        buffer = xp.empty(min(step, n1 - n0) * OH * OW * K, dtype=x.dtype)
        for c0 in range(n0, n1, step):
            n = min(c0 + step, n1) - c0
            cols = buffer[:n * OH * OW * K].reshape(n, OH, OW, K)
            _kernels.im2col(rows, cols, c0, KH, KW, *stride, pads[0][0], pads[1][0])
            chunk = out[c0:c0 + n].reshape(-1, CO)
            matmul(cols.reshape(-1, K), w_mat, out=chunk)
            if bias is not None:  # while the chunk is in cache
                chunk += bias

    _parallel.run(span, parts)
    return out


def _im2col_backward(x, w, grad_out, x_shape, w_shape, stride, pads, want_x, want_w):
    """Gradients of the im2col path: the windows gathered again for grad_w, col2im by a compiled scatter."""
    N, H, W, C = x_shape
    KH, KW, _, CO = w_shape
    _, OH, OW, _ = grad_out.shape
    K = KH * KW * C
    geometry = (KH, KW, *stride, pads[0][0], pads[1][0])
    grad_out = xp.ascontiguousarray(grad_out)
    parts, step = _im2col_spans(N, OH * OW, K, CO, grad_out.itemsize)
    one = len(parts) == 1
    rows = xp.ascontiguousarray(x).reshape(N, H, W * C) if want_w else None
    w_t = w.reshape(K, CO).T if want_x else None
    grad_x = xp.zeros((N, H, W * C), dtype=grad_out.dtype) if want_x else None

    def span(n0, n1):
        """grad_x of images n0:n1 in place; returns their weight gradient (K, CO)."""
        buffer = xp.empty(min(step, n1 - n0) * OH * OW * K, dtype=grad_out.dtype)
        grad_w = None
        for c0 in range(n0, n1, step):
            n = min(c0 + step, n1) - c0
            cols = buffer[:n * OH * OW * K].reshape(n, OH, OW, K)
            g_mat = grad_out[c0:c0 + n].reshape(-1, CO)
            if want_w:
                _kernels.im2col(rows, cols, c0, *geometry)
                part = (_parallel.gemm_tn if one else _parallel.matmul_tn)(cols.reshape(-1, K), g_mat)
                grad_w = part if grad_w is None else xp.add(grad_w, part, out=grad_w)
            if want_x:
                (_parallel.gemm if one else _parallel.matmul)(g_mat, w_t, cols.reshape(-1, K))
                _kernels.col2im(cols, grad_x, c0, *geometry)
        return grad_w

    grad_w = _parallel.run_sum(span, parts)
    if want_w:
        grad_w = (xp.zeros((K, CO), dtype=grad_out.dtype) if grad_w is None else grad_w).reshape(w_shape)  # no images
    return None if grad_x is None else grad_x.reshape(x_shape), grad_w
