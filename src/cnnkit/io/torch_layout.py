"""Converting PyTorch-layout state dicts (OIHW kernels, (out, in) dense weights) to cnnkit's layout."""
import numpy as np

__all__ = ["from_torch_layout"]


def from_torch_layout(state, conv_keys=None, linear_keys=None):
    """Transpose a PyTorch-layout state dict into cnnkit's channels-last layout.

    Parameters
    ----------
    state : dict of str -> numpy.ndarray
        Tensors as PyTorch stores them, e.g. read with :func:`cnnkit.io.load_state`
        from an exported ``.safetensors`` or ``.npz``.
    conv_keys : iterable of str, optional
        Names of convolution kernels, ``(O, I, KH, KW)`` -> ``(KH, KW, I, O)``. By default
        every 4-D tensor whose name ends in ``weight``.
    linear_keys : iterable of str, optional
        Names of dense weights, ``(out, in)`` -> ``(in, out)``. By default every 2-D
        tensor whose name ends in ``weight``.

    Returns
    -------
    dict of str -> numpy.ndarray
        The same names in the same order; converted tensors are contiguous copies,
        all others (biases, BatchNorm statistics, ...) are passed through unchanged.
    """
    def pick(keys, ndim):
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

    conv, linear = pick(conv_keys, 4), pick(linear_keys, 2)
    out = {}
    for name, value in state.items():
        array = np.asarray(value)
        if name in conv:
            array = np.ascontiguousarray(array.transpose(2, 3, 1, 0))  # (O, I, KH, KW) -> (KH, KW, I, O)
        elif name in linear:
            array = np.ascontiguousarray(array.T)  # (out, in) -> (in, out)
        out[name] = array
    return out
