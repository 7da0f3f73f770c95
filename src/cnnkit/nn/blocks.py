"""Residual and Inception blocks, with torchvision's attribute names so its weights load by renaming.

All blocks take channels-last input (N, H, W, C) and ``dtype`` / ``rng`` for
their layers.
"""
import cnnkit.functional as F
from cnnkit.nn.containers import Sequential
from cnnkit.nn.layers import Conv2d, MaxPool2d, ReLU
from cnnkit.nn.regularization import BatchNorm2d
from cnnkit.nn.module import Module, resolve_rng


class BasicBlock(Module):
    """The ResNet-18/34 block: two 3x3 convolutions with BatchNorm and an identity shortcut.

    ``out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``, where the
    shortcut is ``downsample`` (1x1 conv with ``stride`` + BatchNorm) when the
    shape changes and the identity otherwise. Convolutions have no bias (the
    BatchNorm that follows has one), as in torchvision.

    Parameters
    ----------
    in_channels, out_channels : int
    stride : int, default 1
        Stride of the first 3x3 convolution (2 halves H and W).
    dtype : dtype, optional
    rng : numpy.random.Generator or int, optional

    Shapes: (N, H, W, in_channels) -> (N, ceil(H/stride), ceil(W/stride), out_channels).
    """

    def __init__(self, in_channels, out_channels, stride=1, dtype=None, rng=None):
        super().__init__()
        rng = resolve_rng(rng)
        self.conv1 = Conv2d(in_channels, out_channels, 3, stride, 1, bias=False, dtype=dtype, rng=rng)
        self.bn1 = BatchNorm2d(out_channels, dtype=dtype)
        self.relu = ReLU()
        self.conv2 = Conv2d(out_channels, out_channels, 3, 1, 1, bias=False, dtype=dtype, rng=rng)
        self.bn2 = BatchNorm2d(out_channels, dtype=dtype)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = Sequential(Conv2d(in_channels, out_channels, 1, stride, bias=False, dtype=dtype, rng=rng),
                                         BatchNorm2d(out_channels, dtype=dtype))

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)


class _Bottleneck(Module):
    """1x1 -> KxK (with the stride, ResNet v1.5) -> 1x1 convolutions, BatchNorm after each, plus a shortcut."""

    def __init__(self, in_channels, filters, kernel_size, stride, projection, dtype, rng):
        super().__init__()
        if len(filters) != 3:
            raise ValueError(f"filters must be three channel counts (f1, f2, f3), got {filters!r}")
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd to keep the spatial size, got {kernel_size}")
        f1, f2, f3 = filters
        rng = resolve_rng(rng)
        self.conv1 = Conv2d(in_channels, f1, 1, bias=False, dtype=dtype, rng=rng)
        self.bn1 = BatchNorm2d(f1, dtype=dtype)
        self.conv2 = Conv2d(f1, f2, kernel_size, stride, kernel_size // 2, bias=False, dtype=dtype, rng=rng)
        self.bn2 = BatchNorm2d(f2, dtype=dtype)
        self.conv3 = Conv2d(f2, f3, 1, bias=False, dtype=dtype, rng=rng)
        self.bn3 = BatchNorm2d(f3, dtype=dtype)
        self.relu = ReLU()
        self.downsample = None
        if projection:
            self.downsample = Sequential(Conv2d(in_channels, f3, 1, stride, bias=False, dtype=dtype, rng=rng),
                                         BatchNorm2d(f3, dtype=dtype))

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + shortcut)


class IdentityBlock(_Bottleneck):
    """The ResNet-50 bottleneck whose shortcut is the identity (input and output shapes equal).

    ``out = relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))) + x)`` with
    conv1 1x1 -> f1, conv2 KxK -> f2 ("same" padding), conv3 1x1 -> f3, no
    conv biases (torchvision's ``Bottleneck`` without ``downsample``).

    Parameters
    ----------
    in_channels : int
        Must equal f3.
    filters : (int, int, int)
        (f1, f2, f3).
    kernel_size : int, default 3
        Odd size of the middle convolution.
    dtype : dtype, optional
    rng : numpy.random.Generator or int, optional

    Shapes: (N, H, W, f3) -> (N, H, W, f3).
    """

    def __init__(self, in_channels, filters, kernel_size=3, dtype=None, rng=None):
        if len(filters) == 3 and in_channels != filters[2]:
            raise ValueError(f"IdentityBlock needs in_channels == f3 for the identity shortcut, "
                             f"got in_channels={in_channels}, filters={tuple(filters)}")
        super().__init__(in_channels, filters, kernel_size, 1, False, dtype, rng)


class ConvBlock(_Bottleneck):
    """The ResNet-50 bottleneck with a projection shortcut (1x1 conv with ``stride`` + BatchNorm).

    As :class:`IdentityBlock`, but the shortcut is ``downsample(x)`` and the
    stride sits on the middle KxK convolution (ResNet v1.5, torchvision's
    ``Bottleneck``), not on the first 1x1.

    Parameters
    ----------
    in_channels : int
    filters : (int, int, int)
        (f1, f2, f3).
    kernel_size : int, default 3
    stride : int, default 2
        1 for the first stage of ResNet-50, which only widens the channels.
    dtype : dtype, optional
    rng : numpy.random.Generator or int, optional

    Shapes: (N, H, W, in_channels) -> (N, ceil(H/stride), ceil(W/stride), f3).
    """

    def __init__(self, in_channels, filters, kernel_size=3, stride=2, dtype=None, rng=None):
        super().__init__(in_channels, filters, kernel_size, stride, True, dtype, rng)


class BasicConv2d(Module):
    """torchvision's Inception unit: convolution without bias, BatchNorm (eps 0.001), ReLU.

    Parameters
    ----------
    in_channels, out_channels, kernel_size, stride, padding
        As :class:`Conv2d`.
    dtype : dtype, optional
    rng : numpy.random.Generator or int, optional
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dtype=None, rng=None):
        super().__init__()
        self.conv = Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False, dtype=dtype, rng=rng)
        self.bn = BatchNorm2d(out_channels, eps=0.001, dtype=dtype)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class InceptionBlock(Module):
    """The Inception (v1) module: four branches concatenated on the channel axis.

    Branches, each convolution a :class:`BasicConv2d` (conv without bias,
    BatchNorm eps 0.001, ReLU) as in torchvision's GoogLeNet:

    1. 1x1 -> ``ch1x1``
    2. 1x1 -> ``ch3x3red``, then 3x3 -> ``ch3x3``
    3. 1x1 -> ``ch5x5red``, then KxK -> ``ch5x5`` with K = ``branch3_kernel``
    4. 3x3 max-pool (stride 1, padding 1), then 1x1 -> ``pool_proj``

    The paper's third branch is 5x5 (the default here). torchvision's
    ``Inception`` builds it 3x3 (a known quirk kept for its pretrained
    weights), and its parameter count of 6,624,904 for GoogLeNet holds only
    with 3x3, so :func:`cnnkit.models.googlenet` passes ``branch3_kernel=3``.

    Parameters
    ----------
    in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj : int
    branch3_kernel : int, default 5
        Odd kernel size of the third branch's second convolution.
    dtype : dtype, optional
    rng : numpy.random.Generator or int, optional

    Shapes: (N, H, W, in_channels) -> (N, H, W, ch1x1 + ch3x3 + ch5x5 + pool_proj).
    """

    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj, branch3_kernel=5,
                 dtype=None, rng=None):
        super().__init__()
        if branch3_kernel % 2 != 1:
            raise ValueError(f"branch3_kernel must be odd to keep the spatial size, got {branch3_kernel}")
        rng = resolve_rng(rng)
        kw = {"dtype": dtype, "rng": rng}
        self.branch1 = BasicConv2d(in_channels, ch1x1, 1, **kw)
        self.branch2 = Sequential(BasicConv2d(in_channels, ch3x3red, 1, **kw),
                                  BasicConv2d(ch3x3red, ch3x3, 3, padding=1, **kw))
        self.branch3 = Sequential(BasicConv2d(in_channels, ch5x5red, 1, **kw),
                                  BasicConv2d(ch5x5red, ch5x5, branch3_kernel, padding=branch3_kernel // 2, **kw))
        self.branch4 = Sequential(MaxPool2d(3, stride=1, padding=1), BasicConv2d(in_channels, pool_proj, 1, **kw))
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj

    def forward(self, x):
        return F.concat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], axis=-1)
