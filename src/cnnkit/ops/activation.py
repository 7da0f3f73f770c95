"""Activations (relu, leaky_relu, prelu, sigmoid, tanh, softmax, log_softmax) and inverted dropout."""
import numpy as np

from cnnkit.autograd.function import Function
from cnnkit.autograd.tensor import as_tensor
from cnnkit.backend import xp
from cnnkit.ops import _activation_kernels as _kernels, _parallel
from cnnkit.ops._util import contiguous, unbroadcast


class ReLU(Function):
    @staticmethod
    def forward(ctx, x):
        x = contiguous(x)
        out = xp.empty_like(x)
        flat_x, flat_out = x.reshape(-1), out.reshape(-1)
        _parallel.run(lambda a, b: _kernels.relu(flat_x[a:b], flat_out[a:b]), _parallel.spans(x.size, 1))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (out,) = ctx.saved_tensors
        grad_x = xp.empty_like(out)
        g, o, gx = contiguous(grad_out).reshape(-1), out.reshape(-1), grad_x.reshape(-1)
        _parallel.run(lambda a, b: _kernels.relu_backward(g[a:b], o[a:b], gx[a:b]), _parallel.spans(g.size, 1))
        return grad_x


class LeakyReLU(Function):
    @staticmethod
    def forward(ctx, x, slope):
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(x > 0)
        ctx.slope = slope
        out = x * x.dtype.type(slope)
        if 0 <= slope <= 1:
            # max(x, slope * x) is the leaky ReLU for such slopes: one pass, no mask
            return xp.maximum(x, out, out=out)
        return xp.where(x > 0, x, out)

    @staticmethod
    def backward(ctx, grad_out):
        (positive,) = ctx.saved_tensors
        return xp.where(positive, grad_out, grad_out * grad_out.dtype.type(ctx.slope))


class PReLU(Function):
    @staticmethod
    def forward(ctx, x, weight):
        positive = x > 0
        ctx.save_for_backward(positive, weight if ctx.needs_input_grad[0] else None,
                              x if ctx.needs_input_grad[1] else None)
        ctx.weight_shape = weight.shape
        return xp.where(positive, x, x * weight)

    @staticmethod
    def backward(ctx, grad_out):
        positive, weight, x = ctx.saved_tensors
        grad_x = xp.where(positive, grad_out, grad_out * weight) if weight is not None else None
        # the slope of channel c sees every negative input of that channel: sum over the other axes
        grad_w = unbroadcast(xp.where(positive, 0, grad_out * x), ctx.weight_shape) if x is not None else None
        return grad_x, grad_w


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        e = xp.exp(-xp.abs(x))  # never overflows, for either sign of x
        out = xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (out,) = ctx.saved_tensors
        return grad_out * out * (1 - out)


class Tanh(Function):
    @staticmethod
    def forward(ctx, x):
        out = xp.tanh(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (out,) = ctx.saved_tensors
        return grad_out * (1 - out * out)


def _softmax(x, axis):
    """Softmax of an array, shifted by the maximum so exp never overflows."""
    e = xp.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, axis):
        out = _softmax(x, axis)
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (out,) = ctx.saved_tensors
        return out * (grad_out - (grad_out * out).sum(axis=ctx.axis, keepdims=True))


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x, axis):
        shifted = x - x.max(axis=axis, keepdims=True)
        out = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (out,) = ctx.saved_tensors
        return grad_out - xp.exp(out) * grad_out.sum(axis=ctx.axis, keepdims=True)


class Dropout(Function):
    @staticmethod
    def forward(ctx, x, mask):
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, grad_out):
        (mask,) = ctx.saved_tensors
        return grad_out * mask


def _check_axis(x, axis, name):
    """Raise a ValueError when ``axis`` does not exist in ``x``."""
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{name}: axis {axis} is out of range for shape {x.shape}")


def relu(x):
    """Rectified linear unit ``max(x, 0)`` (gradient 0 at 0), any shape."""
    return ReLU.apply(as_tensor(x))


def leaky_relu(x, negative_slope=0.01):
    """``x`` where positive, ``negative_slope * x`` elsewhere, any shape."""
    return LeakyReLU.apply(as_tensor(x), slope=float(negative_slope))


def prelu(x, weight):
    """Parametric ReLU: ``x`` where positive, ``weight * x`` elsewhere, one slope per channel (last axis).

    Parameters
    ----------
    x : Tensor, shape (..., C)
    weight : Tensor, shape (C,) or (1,)
        The negative slopes; a single slope is shared by every channel.

    Returns
    -------
    Tensor, shape (..., C)
        Differentiable with respect to ``x`` and ``weight``.
    """
    x, weight = as_tensor(x), as_tensor(weight)
    if weight.ndim != 1 or x.ndim < 1 or weight.shape[0] not in (1, x.shape[-1]):
        raise ValueError(f"prelu: weight must have shape (1,) or (C,) with C = {x.shape[-1] if x.ndim else '?'} "
                         f"channels (the last axis of x {x.shape}), got {weight.shape}")
    return PReLU.apply(x, weight)


def sigmoid(x):
    """Logistic function ``1 / (1 + exp(-x))``, computed without overflow, any shape."""
    return Sigmoid.apply(as_tensor(x))


def tanh(x):
    """Hyperbolic tangent, any shape."""
    return Tanh.apply(as_tensor(x))


def softmax(x, axis=-1):
    """Softmax along ``axis``: non-negative, sums to 1, stable for large inputs.

    Parameters
    ----------
    x : Tensor, any shape, e.g. logits (N, num_classes)
    axis : int, default -1

    Returns
    -------
    Tensor, the shape of ``x``
    """
    x = as_tensor(x)
    _check_axis(x, axis, "softmax")
    return Softmax.apply(x, axis=axis)


def log_softmax(x, axis=-1):
    """Logarithm of the softmax along ``axis``, computed stably (``x - logsumexp(x)``)."""
    x = as_tensor(x)
    _check_axis(x, axis, "log_softmax")
    return LogSoftmax.apply(x, axis=axis)


def dropout(x, p=0.5, training=True, rng=None):
    """Inverted dropout: zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``.

    Parameters
    ----------
    x : Tensor, any shape
    p : float in [0, 1]
        Probability of dropping an element.
    training : bool
        When False, ``x`` is returned unchanged (the expectation already matches).
    rng : numpy.random.Generator, optional
        Source of the mask (NumPy's default generator when omitted).

    Returns
    -------
    Tensor, the shape of ``x``
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    x = as_tensor(x)
    if not training or p == 0.0:
        return x
    rng = rng if rng is not None else np.random.default_rng()
    keep = rng.random(x.shape) >= p
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    return Dropout.apply(x, mask=xp.asarray(keep * scale, dtype=x.dtype))
