"""dlib's face recognition ResNet (``dlib_face_recognition_resnet_model_v1``) on cnnkit ops.

The network of dlib's ``dnn_face_recognition_ex.cpp`` (file format: :mod:`cnnkit.io.dlib_dat`),
channels-last: a 7x7/2 convolution and a 3x3/2 max pool, then residual units

- ``ares``: ``relu(block(x) + x)``,
- ``ares_down``: ``relu(block_stride2(x) + avg_pool_2x2/2(x))``,

where ``block = affine(conv3x3(relu(affine(conv3x3/s(x)))))`` and ``affine`` is
dlib's per-channel ``gamma * x + beta`` (batch norm folded at training time).
When the two branches of a sum differ in shape (more channels in the block, or
a 3x3 block output against a 4x4 pooled shortcut), dlib adds them top-left
aligned with the missing entries taken as zero; :func:`_padded_add` does the same.
A global average pool and a 256 -> 128 fully connected layer without bias give
the descriptor, which is not L2-normalised; two faces are the same person when
their Euclidean distance is below 0.6.
"""
import numpy as np

from cnnkit import functional as F
from cnnkit.autograd.tensor import Tensor, no_grad
from cnnkit.backend import xp
from cnnkit.autograd import as_tensor

__all__ = ["DlibFaceResNet", "CHIP_SIZE", "CHANNEL_MEANS", "SAME_PERSON_DISTANCE"]

#: Side of the aligned RGB chip the network reads.
CHIP_SIZE = 150
#: Per-channel means (R, G, B) of the input layer, as float32 as the .dat file stores them.
CHANNEL_MEANS = np.array([122.782, 117.001, 104.298], dtype=np.float32)
#: dlib's threshold: below it, two descriptors are of the same person.
SAME_PERSON_DISTANCE = 0.6

# Residual units per stage (32, 64, 128, 256, 256 channels); every stage after the first starts with an ares_down.
_STAGE_UNITS = (3, 4, 3, 3, 1)


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


class DlibFaceResNet:
    """The 29-convolution face recognition ResNet with weights from dlib's ``.dat`` file.

    Parameters
    ----------
    state : dict of str -> ndarray
        ``conv{i}.weight`` (KH, KW, C_in, C_out), ``conv{i}.bias`` (C_out,),
        ``affine{i}.gamma`` / ``affine{i}.beta`` (C,) for i = 1..29, and
        ``fc.weight`` (256, 128), as :func:`cnnkit.io.dlib_dat.load_dlib_dnn` and
        ``cnnkit.weights.load("dlib-face-resnet")`` give them.
    means : array_like, shape (3,), optional
        The input layer's R, G, B means; :data:`CHANNEL_MEANS` by default.

    Examples
    --------
    >>> net = DlibFaceResNet.pretrained()          # doctest: +SKIP
    >>> net.embed_chips(chips).shape               # doctest: +SKIP
    (4, 128)
    """

    def __init__(self, state, means=CHANNEL_MEANS):
        expected = {f"{kind}{i}.{p}" for i in range(1, 30) for kind, ps in (("conv", ("weight", "bias")),
                                                                         ("affine", ("gamma", "beta")))
                    for p in ps} | {"fc.weight"}
        missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
        if missing or unexpected:
            raise ValueError(f"DlibFaceResNet: state dict keys do not match the network: missing {missing[:5]}"
                             f"{'...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}")
        self.params = {k: xp.asarray(v, dtype=np.float32) for k, v in state.items()}
        if self.params["conv1.weight"].shape != (7, 7, 3, 32) or self.params["fc.weight"].shape != (256, 128):
            raise ValueError(f"DlibFaceResNet: conv1.weight {self.params['conv1.weight'].shape} and fc.weight "
                             f"{self.params['fc.weight'].shape} must be (7, 7, 3, 32) and (256, 128)")
        self.means = xp.asarray(means, dtype=np.float32)

    @classmethod
    def pretrained(cls, source=None):
        """Build the network from dlib's released weights.

        Parameters
        ----------
        source : str or os.PathLike, optional
            A ``dlib_face_recognition_resnet_model_v1.dat`` file; by default the
            ``"dlib-face-resnet"`` entry of :mod:`cnnkit.weights` (fetched on first use).
        """
        if source is None:
            from cnnkit import weights

            state, metadata = weights.load("dlib-face-resnet", return_metadata=True)
            net_input = metadata["input"]
        else:
            from cnnkit.io.dlib_dat import load_dlib_dnn

            state, info = load_dlib_dnn(source)
            net_input = info["input"]
        return cls(state, means=[net_input["avg_red"], net_input["avg_green"], net_input["avg_blue"]])

    def _param(self, name, dtype):
        """Parameter ``name`` in ``dtype`` (the stored float32, or a float64 copy for float64 inputs)."""
        value = self.params[name]
        return value if value.dtype == dtype else value.astype(dtype)

    def _conv(self, x, i, stride):
        """dlib's con + affine number ``i``: 3x3/1 pads 1; strided convolutions pad 0."""
        w = self._param(f"conv{i}.weight", x.dtype)
        pad = 0 if stride != 1 else w.shape[0] // 2
        x = F.conv2d(x, w, self._param(f"conv{i}.bias", x.dtype), stride=stride, padding=pad)
        return x * self._param(f"affine{i}.gamma", x.dtype) + self._param(f"affine{i}.beta", x.dtype)

    def _unit(self, x, i, down):
        """One residual unit made of convolutions ``i`` and ``i + 1``."""
        y = F.relu(self._conv(x, i, 2 if down else 1))
        y = self._conv(y, i + 1, 1)
        shortcut = F.avg_pool2d(x, 2, 2) if down else x
        return F.relu(_padded_add(y, shortcut))

    def forward(self, x):
        """Descriptors of preprocessed chips.

        Parameters
        ----------
        x : Tensor or ndarray, shape (N, 150, 150, 3)
            ``(pixel - mean_c) / 256`` (see :meth:`preprocess`); float32, or
            float64 to compute in float64.

        Returns
        -------
        Tensor, shape (N, 128)
            Differentiable with respect to ``x``; the weights are constants.
        """
        x = as_tensor(x)
        if x.ndim != 4 or x.shape[3] != 3:
            raise ValueError(f"DlibFaceResNet: input must be (N, H, W, 3), got shape {x.shape}")
        x = F.relu(self._conv(x, 1, 2))
        x = F.max_pool2d(x, 3, 2)
        i = 2
        for stage, units in enumerate(_STAGE_UNITS):
            for unit in range(units):
                x = self._unit(x, i, down=stage > 0 and unit == 0)
                i += 2
        return F.global_avg_pool2d(x) @ self._param("fc.weight", x.dtype)

    __call__ = forward

    def preprocess(self, chips):
        """uint8 RGB chips (N, H, W, 3) or (H, W, 3) -> float32 ``(pixel - mean_c) / 256`` of shape (N, H, W, 3)."""
        chips = xp.asarray(chips)
        if chips.ndim == 3:
            chips = chips[None]
        if chips.ndim != 4 or chips.shape[3] != 3:
            raise ValueError(f"chips must be RGB images (H, W, 3) or (N, H, W, 3), got shape {chips.shape}")
        if chips.dtype != np.uint8:
            raise TypeError(f"chips must be uint8 pixels 0..255 (as dlib reads them), got dtype {chips.dtype}")
        return (chips.astype(np.float32) - self.means) / np.float32(256)

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
        ndarray of float32, shape (N, 128), or (128,) for one chip
        """
        single = np.ndim(chips) == 3
        x = self.preprocess(chips)
        if x.shape[1:3] != (CHIP_SIZE, CHIP_SIZE):
            raise ValueError(f"chips must be {CHIP_SIZE}x{CHIP_SIZE}, got shape {tuple(x.shape)}")
        with no_grad():
            out = xp.concatenate([self.forward(Tensor(x[i:i + batch_size])).data
                                  for i in range(0, len(x), batch_size)])
        return out[0] if single else out

