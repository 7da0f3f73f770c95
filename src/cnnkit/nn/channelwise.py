"""Layers with one learned value per channel (the last axis): PReLU's slope, Affine's scale and shift."""
import numpy as np

import cnnkit.functional as F
from cnnkit.backend import xp
from cnnkit.nn.module import Module, Parameter, resolve_dtype


class PReLU(Module):
    """Parametric ReLU, PyTorch's ``nn.PReLU`` channels-last: ``max(x, 0) + weight * min(x, 0)``.

    Parameters
    ----------
    num_parameters : int, default 1
        1 (one slope shared by every channel) or the number of channels C.
    init : float, default 0.25
        The initial slope, as in PyTorch.
    dtype : dtype, optional
        float32 when None.

    Attributes
    ----------
    weight : Parameter, shape (num_parameters,)

    Shapes: (..., C) -> (..., C).
    """

    def __init__(self, num_parameters=1, init=0.25, dtype=None):
        super().__init__()
        if num_parameters < 1:
            raise ValueError(f"PReLU needs num_parameters >= 1, got {num_parameters}")
        self.num_parameters = int(num_parameters)
        self.weight = Parameter(xp.full((self.num_parameters,), init, dtype=resolve_dtype(dtype)))

    def forward(self, x):
        return F.prelu(x, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class Affine(Module):
    """A per-channel scale and shift ``x * weight + bias``: a BatchNorm folded into constants.

    dlib's ``affine`` layer: networks trained with batch normalisation are
    saved with the running statistics folded into ``weight`` and ``bias``.

    Parameters
    ----------
    num_features : int
        Channels C.
    dtype : dtype, optional
        float32 when None.

    Attributes
    ----------
    weight : Parameter, shape (C,)
        Initialised to 1.
    bias : Parameter, shape (C,)
        Initialised to 0.

    Shapes: (..., C) -> (..., C).
    """

    def __init__(self, num_features, dtype=None):
        super().__init__()
        if num_features < 1:
            raise ValueError(f"Affine needs num_features >= 1, got {num_features}")
        dtype = resolve_dtype(dtype)
        self.num_features = int(num_features)
        self.weight = Parameter(xp.ones((self.num_features,), dtype=dtype))
        self.bias = Parameter(xp.zeros((self.num_features,), dtype=dtype))

    def forward(self, x):
        if np.shape(x)[-1:] != (self.num_features,):
            raise ValueError(f"Affine({self.num_features}) expects input (..., {self.num_features}), "
                             f"got shape {tuple(np.shape(x))}")
        return x * self.weight + self.bias

    def extra_repr(self):
        return f"{self.num_features}"
