"""ResNets (He et al., 2015) in torchvision's layout (v1.5: the stride on the 3x3 convolution), and a small one."""
from cnnkit.nn import (BasicBlock, BatchNorm2d, Conv2d, ConvBlock, GlobalAvgPool2d, IdentityBlock, Linear, MaxPool2d,
                       Module, ReLU, Sequential, init)
from cnnkit.nn.module import resolve_rng
from cnnkit.models.registry import register


def _stage(kind, in_channels, width, blocks, stride, kw):
    """One stage (torchvision's ``layerN``) of ``blocks`` residual blocks; returns it and its output channels."""
    if kind == "basic":
        layers = [BasicBlock(in_channels, width, stride, **kw)]
        layers += [BasicBlock(width, width, **kw) for _ in range(blocks - 1)]
        return Sequential(*layers), width
    filters = (width, width, 4 * width)
    layers = [ConvBlock(in_channels, filters, stride=stride, **kw)]
    layers += [IdentityBlock(4 * width, filters, **kw) for _ in range(blocks - 1)]
    return Sequential(*layers), 4 * width


class ResNet(Module):
    """Stem, residual stages ``layer1``, ``layer2``, ..., global average pool, ``fc``.

    The ImageNet stem is a 7x7 stride-2 convolution to 64 channels, BatchNorm,
    ReLU and a 3x3 stride-2 max-pool (H/4); the small stem is a 3x3 stride-1
    convolution, BatchNorm and ReLU, for 28x28 or 32x32 images. Convolutions
    are initialised He-normal with fan-out (torchvision's choice).
    """

    def __init__(self, kind, blocks, widths, strides, num_classes, in_channels, small_stem, stem_channels, dtype, rng):
        super().__init__()
        rng = resolve_rng(rng)
        kw = {"dtype": dtype, "rng": rng}
        if small_stem:
            self.conv1 = Conv2d(in_channels, stem_channels, 3, 1, 1, bias=False, **kw)
        else:
            self.conv1 = Conv2d(in_channels, stem_channels, 7, 2, 3, bias=False, **kw)
        self.bn1 = BatchNorm2d(stem_channels, dtype=dtype)
        self.relu = ReLU()
        self.maxpool = None if small_stem else MaxPool2d(3, 2, 1)
        channels = stem_channels
        self.num_stages = len(blocks)
        for i, (n, width, stride) in enumerate(zip(blocks, widths, strides), start=1):
            stage, channels = _stage(kind, channels, width, n, stride, kw)
            setattr(self, f"layer{i}", stage)
        self.avgpool = GlobalAvgPool2d()
        self.fc = Linear(channels, num_classes, **kw)
        for module in self.modules():
            if isinstance(module, Conv2d):
                init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu", rng=rng)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        if self.maxpool is not None:
            x = self.maxpool(x)
        for i in range(1, self.num_stages + 1):
            x = getattr(self, f"layer{i}")(x)
        return self.fc(self.avgpool(x))


def _imagenet_resnet(kind, blocks, num_classes, in_channels, dtype, rng):
    """A torchvision ResNet: four stages of widths 64, 128, 256, 512, strides 1, 2, 2, 2."""
    return ResNet(kind, blocks, (64, 128, 256, 512), (1, 2, 2, 2), num_classes, in_channels, False, 64, dtype, rng)


@register
def resnet18(num_classes=1000, in_channels=3, dtype=None, rng=None):
    """ResNet-18, BasicBlocks (2, 2, 2, 2): 11,689,512 parameters for 1000 classes.

    Input (N, H, W, in_channels) with H, W >= 32 (global pooling accepts any
    size; 224 is ImageNet's) -> logits (N, num_classes). Parameters as :func:`resnet50`.
    """
    return _imagenet_resnet("basic", (2, 2, 2, 2), num_classes, in_channels, dtype, rng)


@register
def resnet34(num_classes=1000, in_channels=3, dtype=None, rng=None):
    """ResNet-34, BasicBlocks (3, 4, 6, 3): 21,797,672 parameters for 1000 classes. Parameters as :func:`resnet50`."""
    return _imagenet_resnet("basic", (3, 4, 6, 3), num_classes, in_channels, dtype, rng)


@register
def resnet50(num_classes=1000, in_channels=3, dtype=None, rng=None):
    """ResNet-50, bottlenecks (3, 4, 6, 3): 25,557,032 parameters for 1000 classes.

    Each stage is one :class:`~cnnkit.nn.ConvBlock` then
    :class:`~cnnkit.nn.IdentityBlock` s, as in the course; the attribute
    paths (``layer1.0.conv1.weight``, ``layer1.0.downsample.0.weight``) are
    torchvision's.

    Parameters
    ----------
    num_classes : int, default 1000
    in_channels : int, default 3
    dtype : dtype, optional
    rng : numpy.random.Generator or int, optional

    Returns
    -------
    Module
        Input (N, H, W, in_channels), e.g. (N, 224, 224, 3) or the course's
        (N, 64, 64, 3) signs -> logits (N, num_classes).
    """
    return _imagenet_resnet("bottleneck", (3, 4, 6, 3), num_classes, in_channels, dtype, rng)


@register
def resnet_small(num_classes=10, in_channels=1, widths=(32, 64, 128), dtype=None, rng=None):
    """A small ResNet for 28x28 images (Fashion-MNIST): about 0.29M parameters, 23M multiply-adds per image.

    A 3x3 stem convolution to ``widths[0]`` channels (BatchNorm, ReLU) at full
    resolution, then one stride-2 :class:`~cnnkit.nn.BasicBlock` per further
    width (28 -> 14 -> 7 with the defaults), global average pooling and a
    dense layer.

    Parameters
    ----------
    num_classes : int, default 10
    in_channels : int, default 1
    widths : sequence of int, default (32, 64, 128)
        The stem's channels, then each stage's.
    dtype : dtype, optional
    rng : numpy.random.Generator or int, optional

    Returns
    -------
    Module
        Input (N, H, W, in_channels) -> logits (N, num_classes).
    """
    widths = tuple(int(w) for w in widths)
    if len(widths) < 2:
        raise ValueError(f"resnet_small needs a stem width and at least one stage width, got widths={widths}")
    stages = len(widths) - 1
    return ResNet("basic", (1,) * stages, widths[1:], (2,) * stages, num_classes, in_channels, True, widths[0],
                  dtype, rng)
