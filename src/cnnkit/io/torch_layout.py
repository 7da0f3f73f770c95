"""Converting PyTorch-layout state dicts (OIHW kernels, (out, in) dense weights) to cnnkit's layout."""
import numpy as np

__all__ = ["from_torch_layout"]


def _pick(state, keys, ndim):
    """The names to convert: ``keys`` checked against ``state``, or every ``ndim``-D ``*weight``."""
    if keys is None:
        return {k for k, v in state.items() if k.endswith("weight") and np.ndim(v) == ndim}
    keys = set(keys)
    missing = keys - set(state)
    if missing:
        raise ValueError(f"keys not in the state dict: {sorted(missing)}")
    wrong = {k: np.shape(state[k]) for k in keys if np.ndim(state[k]) != ndim}
    if wrong:
        raise ValueError(f"expected {ndim}-D tensors, got shapes {wrong}")
    return keys


def _flattened_inputs(model, input_shape):
    """``{dense weight name: (H, W, C)}`` for each Linear whose input is an (H, W, C) map flattened by ``Flatten``."""
    from cnnkit.nn.layers import Flatten, Linear
    from cnnkit.nn.summary import trace

    found, pending = {}, None
    for name, module, in_shape, _ in trace(model, input_shape):
        if isinstance(module, Flatten):
            pending = in_shape if len(in_shape) == 3 else None
        elif isinstance(module, Linear):
            if pending is not None and int(np.prod(pending)) == module.in_features and pending[:2] != (1, 1):
                found[f"{name}.weight"] = pending
            pending = None
    return found


def from_torch_layout(state, model=None, input_shape=None, *, conv_keys=None, linear_keys=None):
    """Convert a PyTorch-layout state dict into cnnkit's channels-last layout.

    Convolution kernels ``(O, I, KH, KW)`` become ``(KH, KW, I, O)``, dense weights
    ``(out, in)`` become ``(in, out)``, and BatchNorm's ``num_batches_tracked``
    counters (which cnnkit does not keep) are dropped. A dense layer that follows
    a flatten also needs its rows reordered: PyTorch flattens an NCHW map in
    (C, H, W) order, cnnkit an NHWC map in (H, W, C) order. Given ``model`` and
    ``input_shape``, a forward pass finds every ``Linear`` fed by a ``Flatten`` of
    an (H, W, C) map, and its rows are permuted.

    Parameters
    ----------
    state : dict of str -> numpy.ndarray
        Tensors as PyTorch stores them (``{k: v.numpy() for k, v in module.state_dict().items()}``,
        or read with :func:`cnnkit.io.load_state` from an exported ``.safetensors`` or ``.npz``).
    model : Module, optional
        The cnnkit model the weights are for, with PyTorch's parameter names.
        Without it no rows are reordered: right only for models without a
        flatten of a spatial map (global pooling, or 1x1 maps).
    input_shape : tuple of int, optional
        One input ``(H, W, C)`` the model takes; required with ``model``. For
        models with an adaptive pool before the flatten, any accepted size gives
        the same answer.
    conv_keys : iterable of str, optional
        Names of convolution kernels; by default every 4-D tensor whose name ends in ``weight``.
    linear_keys : iterable of str, optional
        Names of dense weights; by default every 2-D tensor whose name ends in ``weight``.

    Returns
    -------
    dict of str -> numpy.ndarray
        The same names in the same order, less ``num_batches_tracked``; converted
        tensors are contiguous copies, all others (biases, BatchNorm statistics, ...)
        are passed through unchanged.

    Raises
    ------
    ValueError
        When ``model`` comes without ``input_shape``, or a dense layer after a
        flatten is missing from ``state`` or has the wrong shape.
    """
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    conv, linear = _pick(state, conv_keys, 4), _pick(state, linear_keys, 2)
    flattened = {}
    if model is not None:
        if input_shape is None:
            raise ValueError("from_torch_layout: pass input_shape (H, W, C) with model, to find the flattened layers")
        flattened = _flattened_inputs(model, input_shape)
    for name, (H, W, C) in flattened.items():
        if name not in linear:
            raise ValueError(f"from_torch_layout: {name} (a dense layer after a flatten of {H}x{W}x{C}) is not among "
                             f"the dense weights of the state dict")
        if np.shape(state[name])[1] != H * W * C:
            raise ValueError(f"from_torch_layout: {name} has shape {np.shape(state[name])}, but the flattened map has "
                             f"{H}x{W}x{C} = {H * W * C} inputs")
    out = {}
    for name, value in state.items():
        array = np.asarray(value)
        if name in conv:
            array = np.ascontiguousarray(array.transpose(2, 3, 1, 0))  # (O, I, KH, KW) -> (KH, KW, I, O)
        elif name in flattened:
            H, W, C = flattened[name]
            # (out, C*H*W) -> (C, H, W, out) -> (H, W, C, out) -> (H*W*C, out)
            array = np.ascontiguousarray(array.T.reshape(C, H, W, -1).transpose(1, 2, 0, 3).reshape(H * W * C, -1))
        elif name in linear:
            array = np.ascontiguousarray(array.T)  # (out, in) -> (in, out)
        out[name] = array
    return out
