"""Weight initialisers, in place, for the HWIO conv layout and the (in, out) dense layout.

Fans: a dense weight ``(in, out)`` has ``fan_in = in`` and ``fan_out = out``; a
conv kernel ``(KH, KW, C_in, C_out)`` has ``fan_in = KH*KW*C_in`` and
``fan_out = KH*KW*C_out`` (the same numbers PyTorch gets from OIHW).

Defaults of the layers: ``Conv2d`` and ``Linear`` initialise like PyTorch,
weights ``kaiming_uniform_(w, a=sqrt(5))`` (that is ``U(-1/sqrt(fan_in),
1/sqrt(fan_in))``) and biases ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``. The zoo
re-initialises as torchvision does: the ResNets' and VGG's convolutions with
``kaiming_normal_(mode="fan_out", nonlinearity="relu")`` (VGG: zero conv biases,
dense weights ``N(0, 0.01**2)`` and zero dense biases), GoogLeNet's convolution
and dense weights with ``trunc_normal_(std=0.01, a=-2, b=2)``. Each function takes an optional
``rng`` (a ``numpy.random.Generator`` or a seed) and draws in the target's
dtype, so a float32 VGG never allocates a float64 copy.
"""
import math

import numpy as np

from cnnkit.autograd.tensor import Tensor
from cnnkit.backend import xp
from cnnkit.nn.module import resolve_rng

_GAINS = {"linear": 1.0, "conv2d": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3, "relu": math.sqrt(2.0), "selu": 0.75}


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for a nonlinearity, as in PyTorch.

    Parameters
    ----------
    nonlinearity : str
        One of "linear", "conv2d", "sigmoid", "tanh", "relu", "leaky_relu", "selu".
    param : float, optional
        The negative slope of "leaky_relu" (default 0.01).

    Returns
    -------
    float
        ``sqrt(2 / (1 + param**2))`` for leaky ReLU, ``sqrt(2)`` for ReLU, 5/3 for tanh, ...
    """
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity not in _GAINS:
        raise ValueError(f"unknown nonlinearity {nonlinearity!r}; expected one of {sorted(_GAINS) + ['leaky_relu']}")
    return _GAINS[nonlinearity]


def calculate_fans(shape):
    """Return ``(fan_in, fan_out)`` of a weight of ``shape`` (in, out) or (KH, KW, C_in, C_out)."""
    shape = tuple(shape)
    if len(shape) < 2:
        raise ValueError(f"fans need a weight with at least 2 dimensions, got shape {shape}")
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _array(tensor):
    """The ndarray to fill: a Tensor's data or the array itself."""
    return tensor.data if isinstance(tensor, Tensor) else tensor


def _fill(tensor, values):
    """Copy ``values`` into ``tensor`` in place and return ``tensor``."""
    arr = _array(tensor)
    if values is not arr:
        arr[...] = xp.asarray(values)
    return tensor


def _fan(shape, mode):
    """The fan that ``mode`` ("fan_in" or "fan_out") selects."""
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fans(shape)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor, a=0.0, b=1.0, rng=None):
    """Fill ``tensor`` in place with ``U(a, b)``; returns it."""
    arr = _array(tensor)
    values = _draw(resolve_rng(rng).random, arr)
    values *= b - a
    values += a
    return _fill(tensor, values)


def normal_(tensor, mean=0.0, std=1.0, rng=None):
    """Fill ``tensor`` in place with ``N(mean, std**2)``; returns it."""
    arr = _array(tensor)
    values = _draw(resolve_rng(rng).standard_normal, arr)
    values *= std
    values += mean
    return _fill(tensor, values)


def _draw(method, arr):
    """Draw ``arr.shape`` values with a Generator method, straight into ``arr`` when it is a float32/64 NumPy array.

    Drawing in place keeps VGG's 0.5 GB of weights from needing temporaries.
    """
    if isinstance(arr, np.ndarray) and arr.dtype in (np.float32, np.float64) and arr.flags.c_contiguous:
        return method(dtype=arr.dtype, out=arr)
    return method(arr.shape, dtype=np.float64 if arr.dtype == np.float64 else np.float32)


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, rng=None):
    """Fill ``tensor`` in place with ``N(mean, std**2)`` truncated to ``[a, b]``; returns it.

    As PyTorch's ``trunc_normal_``, ``a`` and ``b`` are absolute bounds, not
    multiples of ``std``. Values outside are drawn again until none is left.
    """
    if not a < b or not a <= mean <= b:
        raise ValueError(f"trunc_normal_ needs a < b and the mean inside [a, b], got a={a}, b={b}, mean={mean}")
    rng = resolve_rng(rng)
    arr = _array(tensor)
    values = _draw(rng.standard_normal, arr)
    values *= std
    values += mean
    flat = values.reshape(-1)
    outside = np.flatnonzero((flat < a) | (flat > b))
    while outside.size:
        flat[outside] = mean + std * rng.standard_normal(outside.size)
        outside = outside[(flat[outside] < a) | (flat[outside] > b)]
    return _fill(tensor, values)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", rng=None):
    """He initialisation, uniform: ``U(-bound, bound)`` with ``bound = gain * sqrt(3 / fan)``.

    Parameters
    ----------
    tensor : Tensor or ndarray, shape (in, out) or (KH, KW, C_in, C_out)
        Filled in place and returned.
    a : float, default 0
        The negative slope of the leaky ReLU that follows (``gain = sqrt(2 / (1 + a**2))``).
    mode : {"fan_in", "fan_out"}
        "fan_in" keeps the forward variance, "fan_out" the backward variance.
    nonlinearity : str, default "leaky_relu"
        See :func:`calculate_gain`.
    rng : numpy.random.Generator or int, optional
    """
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(_array(tensor).shape, mode))
    return uniform_(tensor, -bound, bound, rng)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", rng=None):
    """He initialisation, normal: ``N(0, std**2)`` with ``std = gain / sqrt(fan)``.

    Parameters are those of :func:`kaiming_uniform_`.
    """
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(_array(tensor).shape, mode))
    return normal_(tensor, 0.0, std, rng)


def xavier_uniform_(tensor, gain=1.0, rng=None):
    """Glorot initialisation, uniform: ``U(-bound, bound)`` with ``bound = gain * sqrt(6 / (fan_in + fan_out))``.

    Parameters
    ----------
    tensor : Tensor or ndarray, shape (in, out) or (KH, KW, C_in, C_out)
        Filled in place and returned.
    gain : float, default 1
    rng : numpy.random.Generator or int, optional
    """
    fan_in, fan_out = calculate_fans(_array(tensor).shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, rng)


def xavier_normal_(tensor, gain=1.0, rng=None):
    """Glorot initialisation, normal: ``N(0, std**2)`` with ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = calculate_fans(_array(tensor).shape)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng)


def zeros_(tensor):
    """Fill ``tensor`` with zeros in place; returns it."""
    _array(tensor)[...] = 0
    return tensor


def ones_(tensor):
    """Fill ``tensor`` with ones in place; returns it."""
    _array(tensor)[...] = 1
    return tensor
