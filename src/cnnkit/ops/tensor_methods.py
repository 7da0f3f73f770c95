"""Tensor's operators and methods, attached here so that autograd imports nothing above it.

``cnnkit.ops`` imports this module last; until then a Tensor has no arithmetic.
"""
from cnnkit import ops
from cnnkit.autograd.tensor import Tensor


class _TensorMethods:
    """The methods copied onto Tensor (a class body, so they read as methods)."""

    def __add__(self, other):
        return ops.add(self, other)

    def __radd__(self, other):
        return ops.add(other, self)

    def __sub__(self, other):
        return ops.sub(self, other)

    def __rsub__(self, other):
        return ops.sub(other, self)

    def __mul__(self, other):
        return ops.mul(self, other)

    def __rmul__(self, other):
        return ops.mul(other, self)

    def __truediv__(self, other):
        return ops.div(self, other)

    def __rtruediv__(self, other):
        return ops.div(other, self)

    def __pow__(self, other):
        return ops.pow(self, other)

    def __rpow__(self, other):
        return ops.pow(other, self)

    def __matmul__(self, other):
        return ops.matmul(self, other)

    def __rmatmul__(self, other):
        return ops.matmul(other, self)

    def __neg__(self):
        return ops.neg(self)

    def __getitem__(self, index):
        return ops.getitem(self, index)

    def sum(self, axis=None, keepdims=False):
        """Sum over ``axis`` (all axes by default)."""
        return ops.sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        """Mean over ``axis`` (all axes by default)."""
        return ops.mean(self, axis, keepdims)

    def max(self, axis=None, keepdims=False):
        """Maximum over ``axis``; the gradient is shared equally among ties."""
        return ops.max(self, axis, keepdims)

    def reshape(self, *shape):
        """Return a tensor with the same data and a new shape (one dimension may be -1)."""
        return ops.reshape(self, shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape)

    def transpose(self, *axes):
        """Permute the axes (reverse them when none are given)."""
        return ops.transpose(self, axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes or None)

    @property
    def T(self):
        """The tensor with its axes reversed."""
        return ops.transpose(self, None)

    def exp(self):
        """Elementwise exponential."""
        return ops.exp(self)

    def log(self):
        """Elementwise natural logarithm."""
        return ops.log(self)

    def sqrt(self):
        """Elementwise square root."""
        return ops.sqrt(self)

    def abs(self):
        """Elementwise absolute value."""
        return ops.abs(self)


for _name, _value in vars(_TensorMethods).items():
    if _name not in ("__module__", "__qualname__", "__doc__", "__dict__", "__weakref__", "__firstlineno__",
                     "__static_attributes__"):
        setattr(Tensor, _name, _value)
