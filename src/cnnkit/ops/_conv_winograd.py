"""Winograd's minimal filtering F(2x2, 3x3) for 3x3 stride-1 convolutions of many channels.

Each 2x2 block of output pixels (a tile) comes from a 4x4 patch of the input:
``Y = A^T [ (G g G^T) * (B^T d B) ] A`` per channel pair, so the sum over input
channels becomes 16 GEMMs, one per element of the 4x4 transform, of
(tiles, C_in) by (C_in, C_out): 16 multiplies per tile where direct
convolution needs 36, 2.25x fewer. The input and output transforms are
compiled loops over the channels (``_winograd_kernels``); padding is read as
zeros, never materialised. Tiles are split over the kernel threads
(``_parallel``) in chunks whose transformed input stays in the cache.

The input gradient is the same convolution of the output gradient with the
flipped, transposed kernel. The weight gradient is the transforms' adjoint:
16 GEMMs of (C_in, tiles) by (tiles, C_out) between the transformed input and
the output gradient's ``A dY A^T``, then ``G^T . G`` back to 3x3 (2.25x fewer
multiplies than shift-GEMM's nine).
"""
from cnnkit.backend import xp
from cnnkit.ops import _parallel, _winograd_kernels as _kernels

# Bytes of transformed input (16 x tiles x C_in) per chunk of tiles.
_CHUNK_BYTES = 4 * 2**20


def _g(dtype):
    """Winograd's G (4, 3): the filter transform."""
    return xp.asarray([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=dtype)


def _filter_transform(w):
    """``G g G^T`` of every (C_in, C_out) pair of a (3, 3, C_in, C_out) kernel: (16, C_in, C_out)."""
    g = _g(w.dtype)
    C, CO = w.shape[2:]
    rows = (g @ w.reshape(3, 3 * C * CO)).reshape(4, 3, C * CO)        # G g: (4, 3, C * CO)
    u = (rows.transpose(0, 2, 1) @ g.T).transpose(0, 2, 1)               # (G g) G^T: (4, 4, C * CO)
    return xp.ascontiguousarray(u).reshape(16, C, CO)


def winograd_conv(x, w, pads, out_hw, b=None):
    """Convolve ``x`` (N, H, W, C) by ``w`` (3, 3, C, CO) at stride 1, padded by ``((top, bottom), (left, right))``.

    Returns (N, OH, OW, CO) for ``out_hw = (OH, OW)``, plus the bias ``b`` (CO,) when given.
    """
    x = xp.ascontiguousarray(x)
    N, H, W, C = x.shape
    CO = w.shape[3]
    OH, OW = out_hw
    TH, TW = -(-OH // 2), -(-OW // 2)
    tiles = N * TH * TW
    u = _filter_transform(w)
    bias = xp.zeros(CO, dtype=x.dtype) if b is None else xp.asarray(b, dtype=x.dtype)
    out = xp.empty((N, OH, OW, CO), dtype=x.dtype)
    step = max(1, _CHUNK_BYTES // (16 * C * x.itemsize))
    top, left = pads[0][0], pads[1][0]

    def span(t0, t1):
        v = xp.empty((16, min(step, t1 - t0), C), dtype=x.dtype)
        m = xp.empty((16, v.shape[1], CO), dtype=x.dtype)
        for c0 in range(t0, t1, step):
            n = min(c0 + step, t1) - c0
            _kernels.input_transform(x, v, c0, n, TH, TW, top, left)
            for k in range(16):
                _parallel.matmul(v[k, :n], u[k], m[k, :n])
            _kernels.output_transform(m, out, c0, n, TH, TW, bias)

    _parallel.run(span, _parallel.spans(tiles, 16 * C * CO, _parallel.MIN_SPAN_MACS))
    return out


def winograd_grad_input(grad_out, w, x_shape, pads):
    """The input gradient (N, H, W, C) of ``winograd_conv``: the full convolution of ``grad_out`` by the
    flipped kernel with its channels swapped."""
    _, H, W, _ = x_shape
    (top, _), (left, _) = pads
    w_flip = xp.ascontiguousarray(w[::-1, ::-1].transpose(0, 1, 3, 2))
    # output pixel (h, w) of grad_x reads grad_out rows h + top - 2 ... h + top: pad by 2 - top before
    return winograd_conv(grad_out, w_flip, ((2 - top, 0), (2 - left, 0)), (H, W))


def winograd_grad_weight(x, grad_out, pads):
    """The weight gradient (3, 3, C, CO) of ``winograd_conv`` of ``x`` (N, H, W, C), given ``grad_out``
    (N, OH, OW, CO): the gradient of each transformed filter ``G g G^T`` is a sum over tiles, taken back
    through ``G``."""
    x, grad_out = xp.ascontiguousarray(x), xp.ascontiguousarray(grad_out)
    N, H, W, C = x.shape
    _, OH, OW, CO = grad_out.shape
    TH, TW = -(-OH // 2), -(-OW // 2)
    tiles = N * TH * TW
    step = max(1, _CHUNK_BYTES // (16 * max(C, CO) * x.itemsize))
    top, left = pads[0][0], pads[1][0]

    def span(t0, t1):
        v = xp.empty((16, min(step, t1 - t0), C), dtype=x.dtype)
        dm = xp.empty((16, v.shape[1], CO), dtype=x.dtype)
        du, part = xp.zeros((16, C, CO), dtype=x.dtype), xp.empty((C, CO), dtype=x.dtype)
        for c0 in range(t0, t1, step):
            n = min(c0 + step, t1) - c0
            _kernels.input_transform(x, v, c0, n, TH, TW, top, left)
            _kernels.grad_output_transform(grad_out, dm, c0, n, TH, TW)
            for k in range(16):
                du[k] += xp.matmul(v[k, :n].T, dm[k, :n], out=part)
        return du

    du = _parallel.run_sum(span, _parallel.spans(tiles, 16 * C * CO, _parallel.MIN_SPAN_MACS))
    g = _g(x.dtype)
    # dg[a, b] = sum over (i, j) of G[i, a] dU[i, j] G[j, b]
    return xp.einsum("ia,jb,ijxy->abxy", g, g, du.reshape(4, 4, C, CO), optimize=True)
