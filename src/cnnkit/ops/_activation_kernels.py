"""Compiled ReLU (numba): one pass each way."""
from numba import njit

from cnnkit.ops._jit import JIT as _JIT


@njit(**_JIT)
def relu(x, out):
    """``out = max(x, 0)`` over flat arrays; NaN stays NaN, as in PyTorch."""
    for i in range(x.shape[0]):
        v = x[i]
        out[i] = 0 if v <= 0 else v


@njit(**_JIT)
def relu_backward(grad_out, out, grad_x):
    """``grad_x = grad_out where out > 0, else 0`` over flat arrays."""
    for i in range(grad_out.shape[0]):
        g, o = grad_out[i], out[i]  # both loaded unconditionally, so the select vectorises
        grad_x[i] = g if o > 0 else g * 0
