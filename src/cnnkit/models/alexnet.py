"""AlexNet in torchvision's layout (the single-GPU variant of Krizhevsky et al., 2012)."""
from cnnkit.nn import AdaptiveAvgPool2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, Module, ReLU, Sequential
from cnnkit.nn.module import resolve_rng
from cnnkit.models.registry import register


class AlexNet(Module):
    """Five convolutions and three dense layers; ``features``, ``avgpool``, ``classifier`` as in torchvision."""

    def __init__(self, num_classes, in_channels, dropout, dtype, rng):
        super().__init__()
        rng = resolve_rng(rng)
        kw = {"dtype": dtype, "rng": rng}
        self.features = Sequential(
            Conv2d(in_channels, 64, 11, 4, 2, **kw), ReLU(), MaxPool2d(3, 2),
            Conv2d(64, 192, 5, padding=2, **kw), ReLU(), MaxPool2d(3, 2),
            Conv2d(192, 384, 3, padding=1, **kw), ReLU(),
            Conv2d(384, 256, 3, padding=1, **kw), ReLU(),
            Conv2d(256, 256, 3, padding=1, **kw), ReLU(), MaxPool2d(3, 2))
        self.avgpool = AdaptiveAvgPool2d(6)
        self.flatten = Flatten()
        self.classifier = Sequential(
            Dropout(dropout, rng=rng), Linear(256 * 6 * 6, 4096, **kw), ReLU(),
            Dropout(dropout, rng=rng), Linear(4096, 4096, **kw), ReLU(),
            Linear(4096, num_classes, **kw))

    def forward(self, x):
        return self.classifier(self.flatten(self.avgpool(self.features(x))))


@register
def alexnet(num_classes=1000, in_channels=3, dropout=0.5, dtype=None, rng=None):
    """AlexNet: 61,100,840 parameters for 1000 classes.

    The 224x224 input gives a 6x6x256 feature map; the adaptive average pool
    to 6x6 (torchvision's, with PyTorch's bins) is then the identity and lets
    other input sizes (at least 63x63) reach the same classifier.

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
    return AlexNet(num_classes, in_channels, dropout, dtype, rng)
