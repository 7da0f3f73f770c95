"""Helpers shared by the ops: constants as arrays, and the adjoint of broadcasting."""
import numpy as np

from cnnkit.autograd.tensor import Tensor
from cnnkit.backend import DEFAULT_DTYPE, xp


def unbroadcast(grad, shape):
    """Sum ``grad`` back to ``shape``: the adjoint of broadcasting sums over the broadcast axes."""
    if grad.shape == shape:
        return grad
    grad = grad.sum(axis=tuple(range(grad.ndim - len(shape)))) if grad.ndim > len(shape) else grad
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(axis=axes, keepdims=True) if axes else grad


def operands(a, b):
    """Return ``a, b`` with a non-Tensor converted to an array of the other's dtype."""
    if isinstance(a, Tensor) and not isinstance(b, Tensor):
        return a, xp.asarray(b, dtype=a.dtype)
    if isinstance(b, Tensor) and not isinstance(a, Tensor):
        return xp.asarray(a, dtype=b.dtype), b
    if not isinstance(a, Tensor):
        a = Tensor(a)
        return a, xp.asarray(b, dtype=a.dtype)
    return a, b


def float_dtype(*arrays):
    """The floating dtype the arrays promote to (float32 when none is floating)."""
    dt = np.result_type(*arrays)
    return dt if dt.kind == "f" else np.dtype(DEFAULT_DTYPE)


def contiguous(a):
    """``a`` in C order, copied only when it is not (unlike ``ascontiguousarray``, a 0-d array stays 0-d)."""
    return a if a.flags.c_contiguous else xp.ascontiguousarray(a)


def pad_hw(x, pads):
    """Zero-pad the H and W axes of an (N, H, W, C) array by ``((top, bottom), (left, right))``."""
    (top, bottom), (left, right) = pads
    if top == bottom == left == right == 0:
        return x
    N, H, W, C = x.shape
    out = xp.zeros((N, H + top + bottom, W + left + right, C), dtype=x.dtype)
    out[:, top:top + H, left:left + W] = x
    return out


def channel_sums(rows):
    """Per-channel sums of ``rows`` (P, C) in float64, (C,): a compiled pass per span of rows over the threads
    (the bias gradient of a convolution, the mean of batch normalisation)."""
    from cnnkit.ops import _conv_kernels, _parallel

    def span(a, b):
        out = xp.empty(rows.shape[1], dtype=xp.float64)
        _conv_kernels.channel_sums(rows[a:b], out)
        return out

    return _parallel.run_sum(span, _parallel.spans(rows.shape[0], rows.shape[1]))


def bias_grad(grad_out):
    """The bias gradient of a layer's output gradient (..., C): its sum over every axis but the channels,
    summed in float64 and returned in ``grad_out``'s dtype."""
    return channel_sums(xp.ascontiguousarray(grad_out).reshape(-1, grad_out.shape[-1])).astype(grad_out.dtype)
