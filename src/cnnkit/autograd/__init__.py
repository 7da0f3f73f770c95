"""Reverse-mode automatic differentiation: Tensor, Function, no_grad, gradcheck."""
from cnnkit.autograd.tensor import Tensor, as_tensor, is_grad_enabled, no_grad
from cnnkit.autograd.function import Context, Function
from cnnkit.autograd.gradcheck import gradcheck

__all__ = ["Tensor", "as_tensor", "Function", "Context", "no_grad", "is_grad_enabled", "gradcheck"]
