"""dlib's face recognition ResNet (``dlib_face_recognition_resnet_model_v1``), channels-last.

The network of dlib's ``dnn_face_recognition_ex.cpp``: a 7x7/2 convolution and a
3x3/2 max pool, then residual units

- ``ares``: ``relu(block(x) + x)``,
- ``ares_down``: ``relu(block_stride2(x) + avg_pool_2x2/2(x))``,

where ``block = affine(conv3x3(relu(affine(conv3x3/s(x)))))`` and ``affine`` is
dlib's per-channel ``gamma * x + beta`` (:class:`cnnkit.nn.Affine`, batch norm
folded at training time). When the two branches of a sum differ in shape (more
channels in the block, or a 3x3 block output against a 4x4 pooled shortcut), dlib
adds them top-left aligned with the missing entries taken as zero;
:func:`_padded_add` does the same. A global average pool and a 256 -> 128 fully
connected layer without bias give the descriptor, which is not L2-normalised; two
faces are the same person when their Euclidean distance is below 0.6.
"""
import numpy as np

from cnnkit import functional as F
from cnnkit.autograd.tensor import Tensor, no_grad
from cnnkit.backend import xp
from cnnkit.models.registry import register
from cnnkit.nn import Affine, Conv2d, Linear, Module
from cnnkit.nn.module import resolve_rng

__all__ = ["DlibFaceResNet", "dlib_face_resnet", "dlib_state_dict", "CHIP_SIZE", "CHANNEL_MEANS",
           "SAME_PERSON_DISTANCE"]

#: Side of the aligned RGB chip the network reads.
CHIP_SIZE = 150
#: Per-channel means (R, G, B) of the input layer, as float32 as the .dat file stores them.
CHANNEL_MEANS = np.array([122.782, 117.001, 104.298], dtype=np.float32)
#: dlib's threshold: below it, two descriptors are of the same person.
SAME_PERSON_DISTANCE = 0.6

# Residual units per stage (32, 64, 128, 256, 256 channels); every stage after the first starts with an ares_down.
_STAGE_UNITS = (3, 4, 3, 3, 1)
_STAGE_CHANNELS = (32, 64, 128, 256, 256)


def _padded_add(a, b):
    """``a + b`` over the elementwise-largest shape, each operand zero-filled at the bottom/right (dlib's add_prev)."""
    target = tuple(max(m, n) for m, n in zip(a.shape, b.shape))
    return _zero_fill(a, target) + _zero_fill(b, target)


def _zero_fill(x, target):
    """Extend ``x`` with zeros after its last row, column and channel up to ``target`` (N, H, W, C)."""
    for axis in (1, 2, 3):
        missing = target[axis] - x.shape[axis]
        if missing:
            shape = list(x.shape)
            shape[axis] = missing
            x = F.concat([x, xp.zeros(shape, dtype=x.dtype)], axis=axis)
    return x


def _units():
    """``(first conv number, input channels, output channels, down)`` of every residual unit."""
    units, i, channels = [], 2, _STAGE_CHANNELS[0]
    for stage, (count, width) in enumerate(zip(_STAGE_UNITS, _STAGE_CHANNELS)):
        for unit in range(count):
            units.append((i, channels, width, stage > 0 and unit == 0))
            channels, i = width, i + 2
    return units


class DlibFaceResNet(Module):
    """The 29-convolution face recognition ResNet: aligned 150x150 RGB chips -> 128-d descriptors.

    Parameters are numbered from the input as in dlib's file: ``conv{i}.weight``
    (KH, KW, C_in, C_out), ``conv{i}.bias`` (C_out,), ``affine{i}.weight`` /
    ``affine{i}.bias`` (C,) for i = 1..29, ``fc.weight`` (256, 128); the buffer
    ``mean`` (3,) holds the input layer's R, G, B means. Strided convolutions pad
    0, the others k // 2, as dlib does.

    Parameters
    ----------
    dtype : dtype, optional
        float32 when None; float64 computes in float64.
    rng : numpy.random.Generator or int, optional

    Examples
    --------
    >>> net = DlibFaceResNet.pretrained()          # doctest: +SKIP
    >>> net.embed_chips(chips).shape               # doctest: +SKIP
    (4, 128)
    """

    def __init__(self, dtype=None, rng=None):
        super().__init__()
        rng = resolve_rng(rng)
        self.conv1 = Conv2d(3, 32, 7, stride=2, dtype=dtype, rng=rng)
        self.affine1 = Affine(32, dtype=dtype)
        for i, c_in, c_out, down in _units():
            setattr(self, f"conv{i}", Conv2d(c_in, c_out, 3, 2 if down else 1, 0 if down else 1, dtype=dtype, rng=rng))
            setattr(self, f"affine{i}", Affine(c_out, dtype=dtype))
            setattr(self, f"conv{i + 1}", Conv2d(c_out, c_out, 3, padding=1, dtype=dtype, rng=rng))
            setattr(self, f"affine{i + 1}", Affine(c_out, dtype=dtype))
        self.fc = Linear(256, 128, bias=False, dtype=dtype, rng=rng)
        self.register_buffer("mean", CHANNEL_MEANS.copy())

    @classmethod
    def pretrained(cls, source=None):
        """The network with dlib's released weights, in evaluation mode.

        Parameters
        ----------
        source : str or os.PathLike, optional
            A ``dlib_face_recognition_resnet_model_v1.dat`` file; by default the
            ``"dlib-face-resnet"`` entry of :mod:`cnnkit.weights` (fetched on first use),
            as ``get_model("dlib_face_resnet", pretrained=True)``.
        """
        if source is None:
            from cnnkit.models import get_model

            return get_model("dlib_face_resnet", pretrained=True).eval()
        from cnnkit.io.dlib_dat import load_dlib_dnn

        model = dlib_face_resnet()
        model.load_state_dict(dlib_state_dict(*load_dlib_dnn(source)))
        return model.eval()

    def _unit(self, x, i, down):
        """One residual unit made of convolutions ``i`` and ``i + 1``."""
        y = F.relu(getattr(self, f"affine{i}")(getattr(self, f"conv{i}")(x)))
        y = getattr(self, f"affine{i + 1}")(getattr(self, f"conv{i + 1}")(y))
        shortcut = F.avg_pool2d(x, 2, 2) if down else x
        return F.relu(_padded_add(y, shortcut))

    def forward(self, x):
        """Descriptors of preprocessed chips: (N, 150, 150, 3) ``(pixel - mean_c) / 256`` -> (N, 128)."""
        if np.ndim(x) != 4 or np.shape(x)[3] != 3:
            raise ValueError(f"DlibFaceResNet: input must be (N, H, W, 3), got shape {tuple(np.shape(x))}")
        x = F.max_pool2d(F.relu(self.affine1(self.conv1(x))), 3, 2)
        for i, _, _, down in _units():
            x = self._unit(x, i, down)
        return self.fc(F.global_avg_pool2d(x))

    def preprocess(self, chips):
        """uint8 RGB chips (N, H, W, 3) or (H, W, 3) -> ``(pixel - mean_c) / 256`` (N, H, W, 3) in the model's dtype."""
        chips = xp.asarray(chips)
        if chips.ndim == 3:
            chips = chips[None]
        if chips.ndim != 4 or chips.shape[3] != 3:
            raise ValueError(f"chips must be RGB images (H, W, 3) or (N, H, W, 3), got shape {chips.shape}")
        if chips.dtype != np.uint8:
            raise TypeError(f"chips must be uint8 pixels 0..255 (as dlib reads them), got dtype {chips.dtype}")
        dtype = self.fc.weight.dtype
        return (chips.astype(dtype) - self.mean.astype(dtype)) / dtype.type(256)

    def embed_chips(self, chips, batch_size=32):
        """128-d descriptors of aligned 150x150 RGB chips, without building a graph.

        Parameters
        ----------
        chips : ndarray of uint8, shape (N, 150, 150, 3) or (150, 150, 3)
            Aligned face chips as :func:`cnnkit.face.align.extract_chip` makes them.
        batch_size : int, default 32
            Chips per forward pass (bounds the memory).

        Returns
        -------
        ndarray, shape (N, 128), or (128,) for one chip
            float32 (the model's dtype).
        """
        single = np.ndim(chips) == 3
        x = self.preprocess(chips)
        if x.shape[1:3] != (CHIP_SIZE, CHIP_SIZE):
            raise ValueError(f"chips must be {CHIP_SIZE}x{CHIP_SIZE}, got shape {tuple(x.shape)}")
        with no_grad():
            out = xp.concatenate([self.forward(Tensor(x[i:i + batch_size])).data
                                  for i in range(0, len(x), batch_size)])
        return out[0] if single else out


def dlib_state_dict(state, metadata=None):
    """dlib's layout (``load_dlib_dnn``, the ``dlib-face-resnet`` entry) -> :class:`DlibFaceResNet`'s state dict.

    Parameters
    ----------
    state : dict of str -> ndarray
        ``conv{i}.weight``, ``conv{i}.bias``, ``affine{i}.gamma``, ``affine{i}.beta``, ``fc.weight``.
    metadata : dict, optional
        With ``"input"``: ``{"avg_red", "avg_green", "avg_blue"}`` (dlib's input layer);
        :data:`CHANNEL_MEANS` otherwise.

    Returns
    -------
    dict of str -> ndarray
        ``affine{i}.gamma``/``beta`` renamed ``weight``/``bias``, and ``mean``.
    """
    names = {"gamma": "weight", "beta": "bias"}
    out = {}
    for key, value in state.items():
        layer, _, param = key.rpartition(".")
        out[f"{layer}.{names[param]}" if layer.startswith("affine") and param in names else key] = value
    net_input = (metadata or {}).get("input")
    out["mean"] = CHANNEL_MEANS if net_input is None else np.array(
        [net_input["avg_red"], net_input["avg_green"], net_input["avg_blue"]], dtype=np.float32)
    return out


@register(weights="dlib-face-resnet", convert=dlib_state_dict, input_shape=(150, 150, 3))
def dlib_face_resnet(dtype=None, rng=None):
    """dlib's face recognition ResNet (5,614,592 parameters, 99.38% on LFW with dlib's weights).

    Returns
    -------
    DlibFaceResNet
        Input: aligned chips preprocessed by :meth:`DlibFaceResNet.preprocess`,
        (N, 150, 150, 3) -> descriptors (N, 128).
    """
    return DlibFaceResNet(dtype, rng)
