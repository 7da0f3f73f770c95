"""The Tensor: an ndarray plus the graph that made it, and the backward engine."""
import contextlib
import threading

import numpy as np

from cnnkit.backend import DEFAULT_DTYPE, to_numpy, xp

_state = threading.local()


def is_grad_enabled():
    """Return True unless inside a ``no_grad()`` block (per thread)."""
    return getattr(_state, "enabled", True)


@contextlib.contextmanager
def no_grad():
    """Context manager that records no graph: ops inside build no backward.

    Examples
    --------
    >>> with no_grad():
    ...     y = model(x)   # y.requires_grad is False
    """
    previous = is_grad_enabled()
    _state.enabled = False
    try:
        yield
    finally:
        _state.enabled = previous


def _as_array(data, dtype):
    """Convert ``data`` to an array: float arrays keep their dtype, all else becomes float32."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return xp.asarray(data, dtype=dtype)
    if isinstance(data, (np.ndarray, xp.ndarray)) and data.dtype.kind == "f":
        return data
    return xp.asarray(data, dtype=DEFAULT_DTYPE)


class Tensor:
    """An n-dimensional array that records the operations applied to it.

    Parameters
    ----------
    data : array_like
        The values. A floating ndarray is used as it is (no copy, dtype kept,
        as ``torch.from_numpy`` does); anything else becomes float32.
    requires_grad : bool, default False
        Whether ``backward()`` should compute a gradient for this tensor.
    dtype : dtype, optional
        Cast to this dtype.

    Attributes
    ----------
    data : ndarray
        The values.
    grad : ndarray or None
        The accumulated gradient, the same shape as ``data``, after ``backward()``.
    """

    __array_ufunc__ = None  # make ``ndarray <op> Tensor`` defer to Tensor's reflected operators

    def __init__(self, data, requires_grad=False, dtype=None):
        self.data = _as_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"only floating tensors can require gradients, got dtype {self.data.dtype}")
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._ctx = None
        self._retains_grad = False

    @classmethod
    def _make(cls, data, requires_grad):
        """Wrap an op's output array without conversion."""
        out = cls.__new__(cls)
        out.data, out.requires_grad, out.grad, out._ctx, out._retains_grad = data, requires_grad, None, None, False
        return out

    shape = property(lambda self: self.data.shape, doc="The shape of ``data``.")
    dtype = property(lambda self: self.data.dtype, doc="The dtype of ``data``.")
    ndim = property(lambda self: self.data.ndim, doc="The number of dimensions.")
    size = property(lambda self: self.data.size, doc="The number of elements.")
    is_leaf = property(lambda self: self._ctx is None, doc="True when no recorded op made this tensor.")

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({to_numpy(self.data)!r}{grad})"

    def numpy(self):
        """Return the values as a NumPy array (the same memory on the CPU)."""
        return to_numpy(self.data)

    def item(self):
        """Return the value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.reshape(-1)[0].item()

    def detach(self):
        """Return a tensor sharing ``data`` but cut from the graph."""
        return Tensor._make(self.data, False)

    def retain_grad(self):
        """Keep ``grad`` on this non-leaf tensor after ``backward()``."""
        self._retains_grad = True
        return self

    def zero_grad(self):
        """Forget the accumulated gradient."""
        self.grad = None

    def backward(self, grad=None, retain_graph=False):
        """Compute gradients of this tensor with respect to every leaf that requires one.

        Parameters
        ----------
        grad : array_like, optional
            The upstream gradient, the same shape as this tensor; may be
            omitted only for a one-element tensor (taken as 1).
        retain_graph : bool, default False
            Keep the saved arrays so ``backward`` can run through the graph again.

        Gradients are accumulated (added) into the ``grad`` of leaf tensors.
        """
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad")
        if grad is None:
            if self.data.size != 1:
                raise ValueError(f"backward() without grad needs a one-element tensor, got shape {self.shape}")
            grad = xp.ones_like(self.data)
        else:
            grad = xp.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=self.dtype)
            if grad.shape != self.shape:
                raise ValueError(f"grad has shape {grad.shape}, but the tensor has shape {self.shape}")
        grads = {id(self): grad}
        for node in reversed(self._topological_order()):
            grad_out = grads.pop(id(node), None)
            if grad_out is None:
                continue
            if node._ctx is None or node._retains_grad:
                grad_out = xp.asarray(grad_out, dtype=node.dtype)
                if not grad_out.flags.c_contiguous:  # (ascontiguousarray would make a 0-d gradient 1-d)
                    grad_out = xp.ascontiguousarray(grad_out)
                node.grad = grad_out if node.grad is None else node.grad + grad_out
            if node._ctx is None:
                continue
            ctx = node._ctx
            grad_inputs = ctx.fn.backward(ctx, grad_out)
            if not isinstance(grad_inputs, tuple):
                grad_inputs = (grad_inputs,)
            for parent, grad_in in zip(ctx.parents, grad_inputs):
                if grad_in is None or not isinstance(parent, Tensor) or not parent.requires_grad:
                    continue
                key = id(parent)
                grads[key] = grad_in if key not in grads else grads[key] + grad_in
            if not retain_graph:
                ctx.release()

    def _topological_order(self):
        """Nodes that lead to self, each after all of its inputs (iterative DFS, no recursion)."""
        order, visited, stack = [], set(), [(self, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
                continue
            if id(node) in visited:
                continue
            visited.add(id(node))
            stack.append((node, True))
            if node._ctx is not None:
                for parent in node._ctx.parents:
                    if isinstance(parent, Tensor) and parent.requires_grad and id(parent) not in visited:
                        stack.append((parent, False))
        return order


def as_tensor(x):
    """Return ``x`` as a Tensor: a Tensor as it is, a floating array without a copy, anything else as float32.

    Parameters
    ----------
    x : Tensor or array_like

    Returns
    -------
    Tensor
    """
    return x if isinstance(x, Tensor) else Tensor(x)
