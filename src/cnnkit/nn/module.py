"""Module and Parameter: attribute assignment registers parameters, buffers and submodules."""
import contextlib
import math
import threading
from collections import OrderedDict

import numpy as np

from cnnkit.autograd.tensor import Tensor
from cnnkit.backend import DEFAULT_DTYPE, xp


class Parameter(Tensor):
    """A Tensor that a Module registers as trainable: ``requires_grad`` is True by default.

    Parameters
    ----------
    data : array_like
        The initial values; a floating ndarray is used without a copy.
    requires_grad : bool, default True
    """

    def __init__(self, data, requires_grad=True):
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return f"Parameter(shape={self.shape}, dtype={self.dtype}, requires_grad={self.requires_grad})"


_limit = threading.local()


@contextlib.contextmanager
def size_limit(max_values, what):
    """Refuse to build parameters and buffers of more than ``max_values`` values in all, inside this block.

    Used when a model is rebuilt from a file's description (a checkpoint's
    config): the file's tensors say how large the model can be, so a config
    that asks for more fails before the memory is allocated.

    Parameters
    ----------
    max_values : int
        The number of values allowed, over every array ``new_array`` makes in the block.
    what : str
        Named in the error, e.g. ``"checkpoint runs/x/weights/last.safetensors"``.
    """
    previous = getattr(_limit, "state", None)
    _limit.state = [int(max_values), 0, what]
    try:
        yield
    finally:
        _limit.state = previous


def new_array(shape, dtype, fill=None):
    """A new parameter or buffer array, uninitialised or filled, within any active ``size_limit``.

    Parameters
    ----------
    shape : tuple of int
    dtype : dtype
    fill : float, optional
        The value of every element; uninitialised (for an ``init`` function to fill) when None.

    Returns
    -------
    ndarray
    """
    state = getattr(_limit, "state", None)
    if state is not None:
        count = math.prod(int(n) for n in shape)  # Python ints: no overflow
        state[1] += count
        if state[1] > state[0]:
            raise ValueError(f"{state[2]}: its description builds a model of more than {state[0]:,} values "
                             f"(reached {state[1]:,} at an array of shape {tuple(shape)}); the file is "
                             f"inconsistent or not for this model")
    return xp.empty(shape, dtype=dtype) if fill is None else xp.full(shape, fill, dtype=dtype)


class _HookHandle:
    """Returned by ``register_forward_hook``; ``remove()`` unregisters the hook."""

    def __init__(self, hooks, key):
        self._hooks, self._key = hooks, key

    def remove(self):
        self._hooks.pop(self._key, None)


class Module:
    """Base class of layers and models.

    Assigning a :class:`Parameter` registers a parameter, assigning a Module
    registers a submodule, and :meth:`register_buffer` registers a buffer (a
    plain ndarray saved in the state dict but not trained, e.g. BatchNorm's
    running statistics). Subclasses call ``super().__init__()`` first and
    define ``forward``; calling the module runs ``forward`` and then the
    forward hooks.

    Attributes
    ----------
    training : bool
        True in training mode (the default), False after :meth:`eval`.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "training", True)

    # -- registration -------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() before "
                                 f"assigning {name!r}")
        if isinstance(value, (Parameter, Module)):
            self._forget(name)
            table = self._parameters if isinstance(value, Parameter) else self._modules
            table[name] = value
        elif name in self._parameters:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} to parameter {name!r} "
                                "(expected Parameter or None)")
            self._parameters[name] = None
        elif name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} to submodule {name!r} (expected Module or None)")
            self._modules[name] = None
        elif name in self._buffers:
            self._buffers[name] = _as_buffer(name, value)
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name):
        """Remove ``name`` from every table and the instance dict, before registering it anew."""
        for table in (self._parameters, self._buffers, self._modules, self.__dict__):
            table.pop(name, None)

    def __getattr__(self, name):
        # only called when normal lookup fails: the registered names live in the tables
        for table in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(table)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                return
        object.__delattr__(self, name)

    def register_buffer(self, name, array):
        """Register ``array`` (an ndarray, or None) as a buffer: saved in the state dict, never trained.

        Parameters
        ----------
        name : str
            The attribute name, e.g. ``"running_mean"``.
        array : ndarray or None
            Kept by reference, so ops that update it in place (``F.batch_norm``)
            update the module's state.
        """
        if "." in name or not name:
            raise ValueError(f"buffer name must be a non-empty name without '.', got {name!r}")
        if name in self._parameters or name in self._modules:
            raise ValueError(f"{name!r} is already a parameter or submodule of {type(self).__name__}")
        self.__dict__.pop(name, None)
        self._buffers[name] = _as_buffer(name, array)

    def register_forward_hook(self, hook):
        """Call ``hook(module, inputs, output)`` after every forward; returns a handle with ``remove()``."""
        key = object()
        self._forward_hooks[key] = hook
        return _HookHandle(self._forward_hooks, key)

    # -- calling ------------------------------------------------------------
    def forward(self, *inputs):
        """The computation; every subclass defines it."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *inputs, **kwargs):
        output = self.forward(*inputs, **kwargs)
        for hook in list(self._forward_hooks.values()):
            hook(self, inputs, output)
        return output

    # -- traversal ----------------------------------------------------------
    def children(self):
        """Iterate over the direct submodules."""
        return iter(self._modules.values())

    def named_children(self):
        """Iterate over ``(name, submodule)`` for the direct submodules."""
        return iter(self._modules.items())

    def named_modules(self, prefix=""):
        """Iterate over ``(path, module)`` for this module (path ``""``) and every submodule, depth first."""
        stack = [(prefix, self)]
        seen = set()
        while stack:
            path, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield path, module
            children = [(f"{path}.{name}" if path else name, child)
                        for name, child in module._modules.items() if child is not None]
            stack.extend(reversed(children))

    def modules(self):
        """Iterate over this module and every submodule, depth first."""
        return (module for _, module in self.named_modules())

    def named_parameters(self):
        """Iterate over ``(path, Parameter)`` in state-dict order, e.g. ``("features.0.weight", w)``."""
        seen = set()
        for path, module in self.named_modules():
            for name, param in module._parameters.items():
                if param is not None and id(param) not in seen:
                    seen.add(id(param))
                    yield (f"{path}.{name}" if path else name), param

    def parameters(self):
        """Iterate over the Parameters (each once), e.g. for an optimiser."""
        return (param for _, param in self.named_parameters())

    def named_buffers(self):
        """Iterate over ``(path, ndarray)`` for every buffer, e.g. ``("bn1.running_mean", m)``."""
        for path, module in self.named_modules():
            for name, buf in module._buffers.items():
                if buf is not None:
                    yield (f"{path}.{name}" if path else name), buf

    def buffers(self):
        """Iterate over the buffers (ndarrays)."""
        return (buf for _, buf in self.named_buffers())

    # -- state --------------------------------------------------------------
    def state_dict(self):
        """Return an ordered dict of path -> ndarray (copies): per module, parameters then buffers.

        Returns
        -------
        OrderedDict of str -> ndarray
            Keys are attribute paths such as ``"features.0.weight"`` or
            ``"bn1.running_var"``; values are copies in the stored layout
            (conv weights HWIO, dense weights (in, out)).
        """
        state = OrderedDict()
        for path, module in self.named_modules():
            prefix = f"{path}." if path else ""
            for name, param in module._parameters.items():
                if param is not None:
                    state[prefix + name] = param.data.copy()
            for name, buf in module._buffers.items():
                if buf is not None:
                    state[prefix + name] = buf.copy()
        return state

    def _state_targets(self):
        """Map path -> the live array (parameter data or buffer) that loading writes into."""
        targets = OrderedDict()
        for path, module in self.named_modules():
            prefix = f"{path}." if path else ""
            for name, param in module._parameters.items():
                if param is not None:
                    targets[prefix + name] = param.data
            for name, buf in module._buffers.items():
                if buf is not None:
                    targets[prefix + name] = buf
        return targets

    def load_state_dict(self, state, strict=True):
        """Copy the arrays of ``state`` into the parameters and buffers, in place.

        Parameters
        ----------
        state : mapping of str -> array_like
            As returned by :meth:`state_dict`; values are cast to each target's dtype.
        strict : bool, default True
            Require the keys to match exactly.

        Returns
        -------
        tuple of (list of str, list of str)
            The missing keys (in the module, not in ``state``) and the
            unexpected keys (in ``state``, not in the module).

        Raises
        ------
        ValueError
            When a shape differs (always) or, with ``strict``, when keys are
            missing or unexpected; the message lists all three kinds. Nothing
            is copied when it raises.
        """
        targets = self._state_targets()
        missing = [key for key in targets if key not in state]
        unexpected = [key for key in state if key not in targets]
        mismatched = [f"{key}: expected {targets[key].shape}, got {tuple(np.shape(state[key]))}"
                      for key in targets if key in state and tuple(np.shape(state[key])) != targets[key].shape]
        if mismatched or (strict and (missing or unexpected)):
            raise ValueError(f"cannot load state dict into {type(self).__name__}: "
                             f"missing keys {missing}, unexpected keys {unexpected}, "
                             f"wrongly shaped keys {mismatched}")
        for key, target in targets.items():
            if key in state:
                value = state[key]
                target[...] = xp.asarray(value.data if isinstance(value, Tensor) else value, dtype=target.dtype)
        return missing, unexpected

    # -- modes --------------------------------------------------------------
    def train(self, mode=True):
        """Set training mode (``mode=True``) or evaluation mode on this module and all submodules; returns self."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self):
        """Set evaluation mode (BatchNorm uses running statistics, Dropout is off); returns self."""
        return self.train(False)

    def freeze(self):
        """Set ``requires_grad=False`` on every parameter (e.g. a pretrained backbone); returns self."""
        for param in self.parameters():
            param.requires_grad = False
        return self

    def unfreeze(self):
        """Set ``requires_grad=True`` on every parameter; returns self."""
        for param in self.parameters():
            param.requires_grad = True
        return self

    def zero_grad(self):
        """Forget the accumulated gradient of every parameter."""
        for param in self.parameters():
            param.grad = None

    def summary(self, input_shape, dtype=None, show=True):
        """Run a zero batch through the model and tabulate each layer; see :func:`cnnkit.nn.summary.summary`."""
        from cnnkit.nn.summary import summary
        return summary(self, input_shape, dtype=dtype, show=show)

    # -- printing -----------------------------------------------------------
    def extra_repr(self):
        """The constructor arguments shown inside the parentheses of ``repr``; layers override it."""
        return ""

    def __repr__(self):
        # PyTorch's layout: one line for a leaf, else the extra lines and children indented by two
        lines = self.extra_repr().split("\n") if self.extra_repr() else []
        lines += [f"({name}): " + repr(child).replace("\n", "\n  ") for name, child in self._modules.items()]
        if not self._modules and len(lines) <= 1:
            return f"{type(self).__name__}({''.join(lines)})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


def _as_buffer(name, array):
    """Check that a buffer is an ndarray (or None)."""
    if array is None or isinstance(array, (np.ndarray, xp.ndarray)):
        return array
    raise TypeError(f"buffer {name!r} must be an ndarray or None, got {type(array).__name__}")


def resolve_dtype(dtype):
    """The floating dtype for new parameters: float32 unless asked."""
    dtype = np.dtype(DEFAULT_DTYPE if dtype is None else dtype)
    if dtype.kind != "f":
        raise TypeError(f"parameters need a floating dtype, got {dtype}")
    return dtype


def resolve_rng(rng):
    """A numpy Generator from None (fresh entropy), an int seed or a Generator."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
