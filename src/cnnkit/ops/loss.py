"""Losses: cross-entropy on logits, binary cross-entropy on logits, mean squared error."""
import numpy as np

from cnnkit.autograd.function import Function
from cnnkit.autograd.tensor import Tensor
from cnnkit.backend import xp
from cnnkit.autograd.tensor import as_tensor

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(loss, reduction):
    """Apply ``reduction`` to an elementwise loss array."""
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss


def _reduce_grad(grad_out, shape, reduction, dtype):
    """The gradient of ``_reduce`` with respect to the elementwise loss."""
    if reduction == "none":
        return grad_out
    scale = 1.0 / max(int(np.prod(shape)), 1) if reduction == "mean" else 1.0
    return xp.full(shape, grad_out * scale, dtype=dtype)


def _check_reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


class CrossEntropy(Function):
    @staticmethod
    def forward(ctx, logits, targets, reduction):
        shifted = logits - logits.max(axis=-1, keepdims=True)
        log_probs = shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))
        picked = xp.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]
        ctx.save_for_backward(log_probs, targets)
        ctx.reduction = reduction
        return _reduce(-picked, reduction)

    @staticmethod
    def backward(ctx, grad_out):
        log_probs, targets = ctx.saved_tensors
        grad_loss = _reduce_grad(grad_out, targets.shape, ctx.reduction, log_probs.dtype)
        grad_logits = xp.exp(log_probs)
        xp.put_along_axis(grad_logits, targets[..., None],
                          xp.take_along_axis(grad_logits, targets[..., None], axis=-1) - 1, axis=-1)
        return grad_logits * grad_loss[..., None]


class BCEWithLogits(Function):
    @staticmethod
    def forward(ctx, logits, targets, reduction):
        # max(x, 0) - x t + log(1 + exp(-|x|)) never overflows
        loss = xp.maximum(logits, 0) - logits * targets + xp.log1p(xp.exp(-xp.abs(logits)))
        ctx.save_for_backward(logits, targets)
        ctx.reduction = reduction
        return _reduce(loss, reduction)

    @staticmethod
    def backward(ctx, grad_out):
        logits, targets = ctx.saved_tensors
        e = xp.exp(-xp.abs(logits))
        probs = xp.where(logits >= 0, 1 / (1 + e), e / (1 + e))
        return (probs - targets) * _reduce_grad(grad_out, logits.shape, ctx.reduction, logits.dtype)


class MSE(Function):
    @staticmethod
    def forward(ctx, prediction, target, reduction):
        diff = prediction - target
        ctx.save_for_backward(diff)
        ctx.reduction = reduction
        return _reduce(diff * diff, reduction)

    @staticmethod
    def backward(ctx, grad_out):
        (diff,) = ctx.saved_tensors
        grad = 2 * diff * _reduce_grad(grad_out, diff.shape, ctx.reduction, diff.dtype)
        return (grad if ctx.needs_input_grad[0] else None, -grad if ctx.needs_input_grad[1] else None)


def _constant(x, dtype):
    """The array of a target that takes no gradient."""
    return xp.asarray(x.data if isinstance(x, Tensor) else x, dtype=dtype)


def cross_entropy(logits, targets, reduction="mean"):
    """Softmax cross-entropy between logits and integer class targets.

    Parameters
    ----------
    logits : Tensor, shape (N, C) or (..., C)
        Unnormalised scores; classes on the last axis.
    targets : array of int, shape (N,) or (...)
        Class indices in ``[0, C)``.
    reduction : {"mean", "sum", "none"}
        "mean" averages over the batch (and any other leading axes).

    Returns
    -------
    Tensor
        A scalar, or shape (...) with ``reduction="none"``. Stable for large
        logits: computed from ``log_softmax``.
    """
    _check_reduction(reduction)
    logits = as_tensor(logits)
    targets = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
    if logits.ndim < 2 or targets.shape != logits.shape[:-1]:
        raise ValueError(f"cross_entropy: logits of shape (N, C) need targets of shape (N,), "
                         f"got logits {logits.shape} and targets {targets.shape}")
    if targets.dtype.kind not in "iu" and not (targets.dtype.kind == "f" and np.all(targets == np.round(targets))):
        raise TypeError(f"cross_entropy: targets must be integer class indices, got dtype {targets.dtype}")
    targets = targets.astype(np.int64)
    num_classes = logits.shape[-1]
    if targets.size and (targets.min() < 0 or targets.max() >= num_classes):
        bad = targets[(targets < 0) | (targets >= num_classes)]
        raise ValueError(f"cross_entropy: targets must be in [0, {num_classes}), got {bad[:5].tolist()}")
    return CrossEntropy.apply(logits, xp.asarray(targets), reduction=reduction)


def binary_cross_entropy_with_logits(logits, targets, reduction="mean"):
    """Binary cross-entropy of ``sigmoid(logits)`` against targets in [0, 1], computed stably.

    Parameters
    ----------
    logits : Tensor, any shape
    targets : array_like, the shape of ``logits``
        Probabilities in [0, 1]; treated as constants (no gradient).
    reduction : {"mean", "sum", "none"}

    Returns
    -------
    Tensor, a scalar (or the shape of ``logits`` with ``reduction="none"``)
    """
    _check_reduction(reduction)
    logits = as_tensor(logits)
    targets = _constant(targets, logits.dtype)
    if targets.shape != logits.shape:
        raise ValueError(f"binary_cross_entropy_with_logits: logits {logits.shape} and targets {targets.shape} differ")
    return BCEWithLogits.apply(logits, targets, reduction=reduction)


def mse_loss(prediction, target, reduction="mean"):
    """Mean squared error ``mean((prediction - target) ** 2)``; both may require gradients.

    Parameters
    ----------
    prediction, target : Tensor or array, the same shape
    reduction : {"mean", "sum", "none"}

    Returns
    -------
    Tensor, a scalar (or the common shape with ``reduction="none"``)
    """
    _check_reduction(reduction)
    prediction = as_tensor(prediction)
    target = target if isinstance(target, Tensor) else _constant(target, prediction.dtype)
    if target.shape != prediction.shape:
        raise ValueError(f"mse_loss: prediction {prediction.shape} and target {target.shape} differ")
    return MSE.apply(prediction, target, reduction=reduction)
