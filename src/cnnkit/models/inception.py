"""GoogLeNet / Inception v1 (Szegedy et al., 2014) in torchvision's layout, without the auxiliary heads."""
from cnnkit.nn import BasicConv2d, Conv2d, Dropout, GlobalAvgPool2d, InceptionBlock, Linear, MaxPool2d, Module, init
from cnnkit.nn.module import resolve_rng
from cnnkit.models.registry import register

# (name, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj) of the nine Inception modules
_INCEPTIONS = [
    ("inception3a", 192, 64, 96, 128, 16, 32, 32),
    ("inception3b", 256, 128, 128, 192, 32, 96, 64),
    ("inception4a", 480, 192, 96, 208, 16, 48, 64),
    ("inception4b", 512, 160, 112, 224, 24, 64, 64),
    ("inception4c", 512, 128, 128, 256, 24, 64, 64),
    ("inception4d", 512, 112, 144, 288, 32, 64, 64),
    ("inception4e", 528, 256, 160, 320, 32, 128, 128),
    ("inception5a", 832, 256, 160, 320, 32, 128, 128),
    ("inception5b", 832, 384, 192, 384, 48, 128, 128),
]
# a max-pool (stride 2, ceil mode) comes before these modules
_POOL_BEFORE = {"inception4a": ("maxpool3", 3), "inception5a": ("maxpool4", 2)}


class GoogLeNet(Module):
    """Stem (7x7/2, pool, 1x1, 3x3, pool), nine Inception modules with pools, global average pool, dropout, ``fc``."""

    def __init__(self, num_classes, in_channels, dropout, branch3_kernel, dtype, rng):
        super().__init__()
        rng = resolve_rng(rng)
        kw = {"dtype": dtype, "rng": rng}
        self.conv1 = BasicConv2d(in_channels, 64, 7, 2, 3, **kw)
        self.maxpool1 = MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, 1, **kw)
        self.conv3 = BasicConv2d(64, 192, 3, padding=1, **kw)
        self.maxpool2 = MaxPool2d(3, 2, ceil_mode=True)
        self.order = []
        for name, *channels in _INCEPTIONS:
            if name in _POOL_BEFORE:
                pool_name, size = _POOL_BEFORE[name]
                setattr(self, pool_name, MaxPool2d(size, 2, ceil_mode=True))
                self.order.append(pool_name)
            setattr(self, name, InceptionBlock(*channels, branch3_kernel=branch3_kernel, **kw))
            self.order.append(name)
        self.avgpool = GlobalAvgPool2d()
        self.dropout = Dropout(dropout, rng=rng)
        self.fc = Linear(1024, num_classes, **kw)
        # torchvision's initialisation: every conv and dense weight N(0, 0.01) truncated at +-2 (absolute);
        # the dense bias keeps PyTorch's default, BatchNorm starts at gamma 1, beta 0
        for module in self.modules():
            if isinstance(module, (Conv2d, Linear)):
                init.trunc_normal_(module.weight, 0.0, 0.01, -2.0, 2.0, rng=rng)

    def forward(self, x):
        x = self.maxpool2(self.conv3(self.conv2(self.maxpool1(self.conv1(x)))))
        for name in self.order:
            x = getattr(self, name)(x)
        return self.fc(self.dropout(self.avgpool(x)))


@register
def googlenet(num_classes=1000, in_channels=3, dropout=0.2, branch3_kernel=3, dtype=None, rng=None):
    """GoogLeNet (Inception v1) without auxiliary classifiers: 6,624,904 parameters for 1000 classes.

    Each convolution is conv (no bias) + BatchNorm (eps 0.001) + ReLU and the
    max-pools use ceil mode, as in torchvision. ``branch3_kernel=3`` follows
    torchvision, whose "5x5" Inception branch is in fact 3x3; that is the
    choice giving 6,624,904 parameters. ``branch3_kernel=5`` builds the
    paper's 5x5 branch (7,005,832 parameters).

    Parameters
    ----------
    num_classes : int, default 1000
    in_channels : int, default 3
    dropout : float, default 0.2
    branch3_kernel : {3, 5}, default 3
    dtype : dtype, optional
    rng : numpy.random.Generator or int, optional

    Returns
    -------
    Module
        Input (N, H, W, in_channels), 224x224 for ImageNet; global pooling
        accepts any size from 32x32 -> logits (N, num_classes).
    """
    return GoogLeNet(num_classes, in_channels, dropout, branch3_kernel, dtype, rng)
