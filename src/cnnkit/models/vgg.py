"""VGG-16 and VGG-19 (Simonyan and Zisserman, 2014), configurations D and E, in torchvision's layout."""
from cnnkit.nn import AdaptiveAvgPool2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, Module, ReLU, Sequential, init
from cnnkit.nn.module import resolve_rng
from cnnkit.models.registry import register

# channels of each 3x3 convolution; "M" is a 2x2 max-pool
_CONFIGS = {
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


class VGG(Module):
    """3x3 convolutions (padding 1) with ReLU, 2x2 max-pools, an adaptive 7x7 average pool, three dense layers."""

    def __init__(self, depth, num_classes, in_channels, dropout, dtype, rng):
        super().__init__()
        rng = resolve_rng(rng)
        kw = {"dtype": dtype, "rng": rng}
        layers, channels = [], in_channels
        for item in _CONFIGS[depth]:
            if item == "M":
                layers.append(MaxPool2d(2))
            else:
                layers += [Conv2d(channels, item, 3, padding=1, **kw), ReLU()]
                channels = item
        self.features = Sequential(*layers)
        self.avgpool = AdaptiveAvgPool2d(7)
        self.flatten = Flatten()
        self.classifier = Sequential(
            Linear(512 * 7 * 7, 4096, **kw), ReLU(), Dropout(dropout, rng=rng),
            Linear(4096, 4096, **kw), ReLU(), Dropout(dropout, rng=rng),
            Linear(4096, num_classes, **kw))
        # torchvision's initialisation: He (fan_out) convolutions, N(0, 0.01) dense layers, zero biases
        for module in self.modules():
            if isinstance(module, Conv2d):
                init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu", rng=rng)
                init.zeros_(module.bias)
            elif isinstance(module, Linear):
                init.normal_(module.weight, 0.0, 0.01, rng=rng)
                init.zeros_(module.bias)

    def forward(self, x):
        return self.classifier(self.flatten(self.avgpool(self.features(x))))


@register
def vgg16(num_classes=1000, in_channels=3, dropout=0.5, dtype=None, rng=None):
    """VGG-16 (configuration D, no BatchNorm): 138,357,544 parameters for 1000 classes.

    Input (N, 224, 224, in_channels) -> logits (N, num_classes); the
    adaptive 7x7 average pool is the identity at 224 and accepts inputs of at
    least 32x32. Parameters as :func:`vgg19`.
    """
    return VGG(16, num_classes, in_channels, dropout, dtype, rng)


@register
def vgg19(num_classes=1000, in_channels=3, dropout=0.5, dtype=None, rng=None):
    """VGG-19 (configuration E, no BatchNorm): 143,667,240 parameters for 1000 classes.

    Parameters
    ----------
    num_classes : int, default 1000
    in_channels : int, default 3
    dropout : float, default 0.5
    dtype : dtype, optional
    rng : numpy.random.Generator or int, optional

    Returns
    -------
    Module
        Input (N, 224, 224, in_channels) -> logits (N, num_classes).
    """
    return VGG(19, num_classes, in_channels, dropout, dtype, rng)
