"""LeNet-5 (LeCun et al., 1998) with the modern ReLU and max-pooling."""
from cnnkit.nn import Conv2d, Flatten, Linear, MaxPool2d, Module, ReLU, Sequential
from cnnkit.nn.module import resolve_rng
from cnnkit.models.registry import register


class LeNet5(Module):
    """conv 5x5 -> 6, pool, conv 5x5 -> 16, pool, dense 400 -> 120 -> 84 -> classes.

    Attributes ``features`` and ``classifier`` are Sequentials (keys such as
    ``features.0.weight``, ``classifier.4.bias``).
    """

    def __init__(self, num_classes, in_channels, input_size, dtype, rng):
        super().__init__()
        rng = resolve_rng(rng)
        kw = {"dtype": dtype, "rng": rng}
        # a 28x28 image padded by 2 is the 32x32 input LeNet-5 was designed for
        self.features = Sequential(Conv2d(in_channels, 6, 5, padding=(32 - input_size) // 2, **kw), ReLU(),
                                   MaxPool2d(2), Conv2d(6, 16, 5, **kw), ReLU(), MaxPool2d(2))
        self.flatten = Flatten()
        self.classifier = Sequential(Linear(16 * 5 * 5, 120, **kw), ReLU(), Linear(120, 84, **kw), ReLU(),
                                     Linear(84, num_classes, **kw))

    def forward(self, x):
        return self.classifier(self.flatten(self.features(x)))


@register
def lenet5(num_classes=10, in_channels=1, input_size=32, dtype=None, rng=None):
    """LeNet-5: 61,706 parameters for 32x32x1 input and 10 classes.

    Parameters
    ----------
    num_classes : int, default 10
    in_channels : int, default 1
    input_size : {32, 28}, default 32
        The image height and width. 28 (MNIST, Fashion-MNIST) pads the first
        convolution by 2, which keeps the 5x5x16 feature map and the parameter
        count of the 32x32 design.
    dtype : dtype, optional
        float32 when None.
    rng : numpy.random.Generator or int, optional

    Returns
    -------
    Module
        Input (N, input_size, input_size, in_channels) -> logits (N, num_classes).
    """
    if input_size not in (28, 32):
        raise ValueError(f"lenet5 takes input_size 32 (the original) or 28 (padded to 32), got {input_size}")
    return LeNet5(num_classes, in_channels, input_size, dtype, rng)
