"""MTCNN's three networks (Zhang et al. 2016), channels-last, with the weights of PyPI ``mtcnn==1.0.0``.

The cascade that runs them over an image pyramid is :class:`cnnkit.face.mtcnn.MTCNN`.
The ``mtcnn`` package's Keras models read the image untransposed, channels-last; the
transposition the original Caffe models needed lives in the weights and in the
``Permute((2, 1, 3))`` before R-Net's and O-Net's dense layers, which read the last
feature map in (W, H, C) order: :class:`RNet` and :class:`ONet` do the same. Their
pools are Keras ``"same"`` pools (``ceil_mode=True``: padding at the bottom and
right only) where the package has them.
"""
from cnnkit import functional as F
from cnnkit.models.registry import register
from cnnkit.nn import Conv2d, Linear, MaxPool2d, Module, PReLU
from cnnkit.nn.module import resolve_rng

__all__ = ["PNet", "RNet", "ONet", "mtcnn_pnet", "mtcnn_rnet", "mtcnn_onet"]


class PNet(Module):
    """Proposal network: fully convolutional, a 12x12 window per output cell at stride 2.

    Shapes: (N, H, W, 3) normalised pixels -> regression (N, OH, OW, 4) and face
    probability (N, OH, OW) with ``OH = ceil((H - 2) / 2) - 4``.
    """

    def __init__(self, dtype=None, rng=None):
        super().__init__()
        rng = resolve_rng(rng)
        self.conv1, self.prelu1 = Conv2d(3, 10, 3, dtype=dtype, rng=rng), PReLU(10, dtype=dtype)
        self.pool1 = MaxPool2d(2, 2, ceil_mode=True)
        self.conv2, self.prelu2 = Conv2d(10, 16, 3, dtype=dtype, rng=rng), PReLU(16, dtype=dtype)
        self.conv3, self.prelu3 = Conv2d(16, 32, 3, dtype=dtype, rng=rng), PReLU(32, dtype=dtype)
        self.conv4_1 = Conv2d(32, 4, 1, dtype=dtype, rng=rng)
        self.conv4_2 = Conv2d(32, 2, 1, dtype=dtype, rng=rng)

    def forward(self, x):
        for layer in (self.conv1, self.prelu1, self.pool1, self.conv2, self.prelu2, self.conv3, self.prelu3):
            x = layer(x)
        return self.conv4_1(x), F.softmax(self.conv4_2(x), axis=-1)[..., 1]


class RNet(Module):
    """Refinement network on 24x24 crops.

    Shapes: (N, 24, 24, 3) -> regression (N, 4), face probability (N,).
    """

    def __init__(self, dtype=None, rng=None):
        super().__init__()
        rng = resolve_rng(rng)
        self.conv1, self.prelu1 = Conv2d(3, 28, 3, dtype=dtype, rng=rng), PReLU(28, dtype=dtype)
        self.pool1 = MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = Conv2d(28, 48, 3, dtype=dtype, rng=rng), PReLU(48, dtype=dtype)
        self.pool2 = MaxPool2d(3, 2)
        self.conv3, self.prelu3 = Conv2d(48, 64, 2, dtype=dtype, rng=rng), PReLU(64, dtype=dtype)
        self.fc4, self.prelu4 = Linear(576, 128, dtype=dtype, rng=rng), PReLU(128, dtype=dtype)
        self.fc5_1 = Linear(128, 4, dtype=dtype, rng=rng)
        self.fc5_2 = Linear(128, 2, dtype=dtype, rng=rng)

    def forward(self, x):
        for layer in (self.conv1, self.prelu1, self.pool1, self.conv2, self.prelu2, self.pool2, self.conv3,
                      self.prelu3):
            x = layer(x)
        # (N, 3, 3, 64) -> (N, W, H, C) -> (N, 576): the order the dense weights were trained on
        x = self.prelu4(self.fc4(F.flatten(F.transpose(x, (0, 2, 1, 3)))))
        return self.fc5_1(x), F.softmax(self.fc5_2(x), axis=-1)[:, 1]


class ONet(Module):
    """Output network on 48x48 crops: boxes, 5 landmarks and a face probability.

    Shapes: (N, 48, 48, 3) -> regression (N, 4), landmarks (N, 10) as
    ``(x1..x5, y1..y5)`` fractions of the crop, face probability (N,).
    """

    def __init__(self, dtype=None, rng=None):
        super().__init__()
        rng = resolve_rng(rng)
        self.conv1, self.prelu1 = Conv2d(3, 32, 3, dtype=dtype, rng=rng), PReLU(32, dtype=dtype)
        self.pool1 = MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = Conv2d(32, 64, 3, dtype=dtype, rng=rng), PReLU(64, dtype=dtype)
        self.pool2 = MaxPool2d(3, 2)
        self.conv3, self.prelu3 = Conv2d(64, 64, 3, dtype=dtype, rng=rng), PReLU(64, dtype=dtype)
        self.pool3 = MaxPool2d(2, 2, ceil_mode=True)
        self.conv4, self.prelu4 = Conv2d(64, 128, 2, dtype=dtype, rng=rng), PReLU(128, dtype=dtype)
        self.fc5, self.prelu5 = Linear(1152, 256, dtype=dtype, rng=rng), PReLU(256, dtype=dtype)
        self.fc6_1 = Linear(256, 4, dtype=dtype, rng=rng)
        self.fc6_2 = Linear(256, 10, dtype=dtype, rng=rng)
        self.fc6_3 = Linear(256, 2, dtype=dtype, rng=rng)

    def forward(self, x):
        for layer in (self.conv1, self.prelu1, self.pool1, self.conv2, self.prelu2, self.pool2, self.conv3,
                      self.prelu3, self.pool3, self.conv4, self.prelu4):
            x = layer(x)
        # (N, 3, 3, 128) -> (N, W, H, C) -> (N, 1152), as R-Net
        x = self.prelu5(self.fc5(F.flatten(F.transpose(x, (0, 2, 1, 3)))))
        return self.fc6_1(x), self.fc6_2(x), F.softmax(self.fc6_3(x), axis=-1)[:, 1]


def _one_net(prefix):
    """A converter that keeps the ``prefix.*`` tensors of the ``mtcnn`` entry (which holds all three nets)."""
    def convert(state, metadata):
        return {key[len(prefix) + 1:]: value for key, value in state.items() if key.startswith(prefix + ".")}
    return convert


@register(weights="mtcnn", convert=_one_net("pnet"), input_shape=(12, 12, 3))
def mtcnn_pnet(dtype=None, rng=None):
    """MTCNN's P-Net (6,632 parameters); ``pretrained=True`` loads mtcnn 1.0.0's weights.

    Returns
    -------
    PNet
        Input: RGB ``(pixel - 127.5) / 128``, (N, H, W, 3) with H, W >= 12.
    """
    return PNet(dtype, rng)


@register(weights="mtcnn", convert=_one_net("rnet"), input_shape=(24, 24, 3))
def mtcnn_rnet(dtype=None, rng=None):
    """MTCNN's R-Net (100,178 parameters); ``pretrained=True`` loads mtcnn 1.0.0's weights.

    Returns
    -------
    RNet
        Input: (N, 24, 24, 3) normalised as P-Net's.
    """
    return RNet(dtype, rng)


@register(weights="mtcnn", convert=_one_net("onet"), input_shape=(48, 48, 3))
def mtcnn_onet(dtype=None, rng=None):
    """MTCNN's O-Net (389,040 parameters); ``pretrained=True`` loads mtcnn 1.0.0's weights.

    Returns
    -------
    ONet
        Input: (N, 48, 48, 3) normalised as P-Net's.
    """
    return ONet(dtype, rng)
