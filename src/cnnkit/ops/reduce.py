"""Reductions: sum, mean, max over any axes."""
from cnnkit.autograd.function import Function
from cnnkit.backend import xp
from cnnkit.autograd.tensor import as_tensor


def _axes(axis, ndim):
    """Normalise ``axis`` (None, int or tuple) to a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of range for an array of {ndim} dimensions")
    return tuple(sorted(a % ndim for a in axes))


def _expand(grad_out, axes, keepdims):
    """Reinsert the reduced axes of ``grad_out`` so it broadcasts against the input."""
    return grad_out if keepdims else xp.expand_dims(grad_out, axes)


class Sum(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdims):
        ctx.shape, ctx.axes, ctx.keepdims = x.shape, axes, keepdims
        return x.sum(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad_out):
        return xp.broadcast_to(_expand(grad_out, ctx.axes, ctx.keepdims), ctx.shape)


class Mean(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdims):
        ctx.shape, ctx.axes, ctx.keepdims = x.shape, axes, keepdims
        ctx.count = 1
        for a in axes:
            ctx.count *= x.shape[a]
        return x.mean(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad_out):
        grad = _expand(grad_out, ctx.axes, ctx.keepdims) / ctx.count
        return xp.broadcast_to(grad.astype(grad_out.dtype, copy=False), ctx.shape)


class Max(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdims):
        out = x.max(axis=axes, keepdims=True)
        # ties share the gradient equally, as torch.amax does
        mask = x == out
        ctx.save_for_backward(mask / mask.sum(axis=axes, keepdims=True).astype(x.dtype))
        ctx.axes, ctx.keepdims = axes, keepdims
        return out if keepdims else out.squeeze(axis=axes)

    @staticmethod
    def backward(ctx, grad_out):
        (share,) = ctx.saved_tensors
        return share * _expand(grad_out, ctx.axes, ctx.keepdims)


def sum(x, axis=None, keepdims=False):  # noqa: A001
    """Sum of ``x`` over ``axis`` (all axes when None)."""
    x = as_tensor(x)
    return Sum.apply(x, axes=_axes(axis, x.ndim), keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    """Mean of ``x`` over ``axis`` (all axes when None)."""
    x = as_tensor(x)
    return Mean.apply(x, axes=_axes(axis, x.ndim), keepdims=keepdims)


def max(x, axis=None, keepdims=False):  # noqa: A001
    """Maximum of ``x`` over ``axis``; tied maxima share the gradient equally."""
    x = as_tensor(x)
    if x.size == 0:
        raise ValueError(f"max of an empty tensor of shape {x.shape}")
    return Max.apply(x, axes=_axes(axis, x.ndim), keepdims=keepdims)
