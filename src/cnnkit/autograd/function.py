"""Function: one differentiable op with a hand-written forward and backward on raw arrays."""
from cnnkit.autograd.tensor import Tensor, is_grad_enabled
from cnnkit.backend import xp


class Context:
    """What ``forward`` leaves for ``backward``: saved arrays and hyperparameters.

    Attributes
    ----------
    needs_input_grad : tuple of bool
        For each input, whether its gradient is wanted; all False under ``no_grad``,
        so ``forward`` can skip preparing for a backward that will never run.
    """

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad
        self._saved = ()
        self._released = False

    def save_for_backward(self, *arrays):
        """Keep ``arrays`` for ``backward``; save only what it needs."""
        self._saved = arrays

    @property
    def saved_tensors(self):
        """The arrays given to ``save_for_backward``."""
        if self._released:
            raise RuntimeError(
                "backward through the graph a second time: the saved arrays were freed; "
                "pass retain_graph=True to the first backward()")
        return self._saved

    def release(self):
        """Free the saved arrays (after backward, unless the graph is retained)."""
        self._saved = ()
        self._released = True


class Function:
    """Base class of every op.

    Subclasses define ``forward(ctx, *arrays, **hyperparameters) -> array`` and
    ``backward(ctx, grad_out) -> grad or tuple of grads`` (one per positional
    input, ``None`` where not needed), and are called through ``apply``.
    """

    @staticmethod
    def forward(ctx, *arrays, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad_out):
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs, **kwargs):
        """Run ``forward`` on the inputs' arrays and record the op when a gradient is needed."""
        track = is_grad_enabled()
        needs = tuple(track and isinstance(t, Tensor) and t.requires_grad for t in inputs)
        ctx = Context(needs)
        out = cls.forward(ctx, *(t.data if isinstance(t, Tensor) else t for t in inputs), **kwargs)
        result = Tensor._make(xp.asarray(out), any(needs))  # reductions return NumPy scalars
        if result.requires_grad:
            ctx.fn, ctx.parents = cls, inputs
            result._ctx = ctx
        return result
