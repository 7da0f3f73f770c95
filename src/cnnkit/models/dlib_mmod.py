"""dlib's CNN face detector network (``mmod_human_face_detector.dat``), channels-last.

The ``net_type`` of dlib's ``cnn_face_detector.cpp`` (Davis King's max-margin object
detection, MMOD): three 5x5 stride-2 convolutions (16, 32, 32 filters, no padding)
that divide the image by 8, three 5x5 convolutions of 45 filters (padding 2), each
followed by dlib's ``affine`` (a per-channel scale and shift, batch norm folded at
training time) and a ReLU, then a 9x9 convolution (padding 4) to one map of window
scores: a face is centred where the score is positive. The image pyramid, the
read-out of the score map and the overlap suppression are in
:mod:`cnnkit.face.dlib_cnn`.
"""
import numpy as np

from cnnkit.backend import xp
from cnnkit.models.registry import register
from cnnkit.nn import Conv2d, Module, ReLU
from cnnkit.nn.module import Parameter, resolve_dtype, resolve_rng

__all__ = ["DlibMMOD", "dlib_mmod"]

# (filters, kernel, stride, padding) of the six convolutions before the score layer.
_LAYERS = ((16, 5, 2, 0), (32, 5, 2, 0), (32, 5, 2, 0), (45, 5, 1, 2), (45, 5, 1, 2), (45, 5, 1, 2))


class ChannelAffine(Module):
    """dlib's ``affine`` layer in its per-channel mode: ``gamma * x + beta`` over the last axis.

    Parameters
    ----------
    num_features : int
        C, the channels of (N, H, W, C) inputs.
    dtype : dtype, optional

    Attributes
    ----------
    gamma, beta : Parameter, shape (C,)
        1 and 0 initially.
    """

    def __init__(self, num_features, dtype=None):
        super().__init__()
        dtype = resolve_dtype(dtype)
        self.gamma = Parameter(xp.ones((num_features,), dtype=dtype))
        self.beta = Parameter(xp.zeros((num_features,), dtype=dtype))

    def forward(self, x):
        return x * self.gamma + self.beta


class DlibMMOD(Module):
    """The MMOD face detector's network: (N, H, W, 3) normalised RGB -> (N, OH, OW, 1) window scores.

    Attributes ``conv1`` ... ``conv7`` and ``affine1`` ... ``affine6``, named as
    :func:`cnnkit.io.dlib_dat.load_dlib_dnn` names dlib's layers. Each of the first three
    convolutions maps a side ``n`` to ``(n - 5) // 2 + 1``; the others keep it.
    """

    def __init__(self, dtype=None, rng=None):
        super().__init__()
        rng = resolve_rng(rng)
        channels = 3
        for i, (filters, kernel, stride, padding) in enumerate(_LAYERS, 1):
            setattr(self, f"conv{i}", Conv2d(channels, filters, kernel, stride, padding, dtype=dtype, rng=rng))
            setattr(self, f"affine{i}", ChannelAffine(filters, dtype=dtype))
            channels = filters
        self.conv7 = Conv2d(channels, 1, 9, 1, 4, dtype=dtype, rng=rng)
        self.relu = ReLU()

    def forward(self, x):
        for i in range(1, len(_LAYERS) + 1):
            x = self.relu(getattr(self, f"affine{i}")(getattr(self, f"conv{i}")(x)))
        return self.conv7(x)

    def output_to_input(self, rows, cols):
        """The input pixel each score position is centred on: dlib's ``output_tensor_to_input_tensor``.

        Parameters
        ----------
        rows, cols : array_like of int
            Positions in the score map.

        Returns
        -------
        (ndarray, ndarray) of float64
            ``p * stride - padding + kernel // 2`` applied layer by layer from the last.
        """
        y, x = np.asarray(rows, dtype=np.float64), np.asarray(cols, dtype=np.float64)
        for i in range(len(_LAYERS) + 1, 0, -1):
            conv = getattr(self, f"conv{i}")
            (kh, kw), (sh, sw), (ph, pw) = conv.kernel_size, conv.stride, conv.padding
            y, x = y * sh - ph + kh // 2, x * sw - pw + kw // 2
        return y, x


@register(weights="dlib-mmod-face", input_shape=(80, 80, 3))
def dlib_mmod(dtype=None, rng=None):
    """dlib's CNN face detector network (7 convolutions, 0.18 M parameters).

    ``get_model("dlib_mmod", pretrained=True)`` loads dlib's weights (the
    ``"dlib-mmod-face"`` registry entry, fetched on first use).

    Parameters
    ----------
    dtype : dtype, optional
        float32 when None.
    rng : numpy.random.Generator or int, optional
        For the random initialisation.

    Returns
    -------
    DlibMMOD
        Input (N, H, W, 3) of ``(pixel - channel mean) / 256`` (see
        :class:`cnnkit.face.dlib_cnn.CNNFaceDetector`), output (N, OH, OW, 1).
    """
    return DlibMMOD(dtype=dtype, rng=rng)
