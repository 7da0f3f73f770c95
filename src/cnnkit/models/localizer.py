"""The localizer: a small convolutional network for one-object localization and landmark regression.

Its raw outputs are read by :mod:`cnnkit.detection.localization`: the
course's vector ``(p_c, b_x, b_y, b_h, b_w, c_1, ..., c_n)`` as logits, or the
``2k`` logits of ``k`` landmarks.
"""
from cnnkit.models.registry import register
from cnnkit.nn import BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, Module, ReLU, Sequential
from cnnkit.nn.module import resolve_rng


class Localizer(Module):
    """Three conv 3x3 + BN + ReLU + 2x2 max-pool stages, Flatten, Linear -> ReLU -> Linear.

    Attributes ``features`` and ``classifier`` are Sequentials (keys such as
    ``features.0.weight``, ``classifier.2.bias``).
    """

    def __init__(self, num_outputs, image_size, in_channels, widths, hidden, dtype, rng):
        super().__init__()
        rng = resolve_rng(rng)
        layers, channels = [], in_channels
        for width in widths:
            # BN supplies the shift, so the convolution needs no bias
            layers += [Conv2d(channels, width, 3, padding=1, bias=False, dtype=dtype, rng=rng),
                       BatchNorm2d(width, dtype=dtype), ReLU(), MaxPool2d(2)]
            channels = width
        self.features = Sequential(*layers)
        self.flatten = Flatten()
        side = image_size // 8
        self.classifier = Sequential(Linear(side * side * channels, hidden, dtype=dtype, rng=rng), ReLU(),
                                     Linear(hidden, num_outputs, dtype=dtype, rng=rng))

    def forward(self, x):
        return self.classifier(self.flatten(self.features(x)))


@register
def localizer(num_outputs=8, image_size=32, in_channels=3, widths=(16, 32, 32), hidden=64, dtype=None, rng=None):
    """The localization and landmark network, small enough to train on a CPU in a minute.

    Parameters
    ----------
    num_outputs : int, default 8
        Width of the last Linear layer: ``5 + n`` for localization of ``n``
        classes (8 for the three synthetic shapes), ``2k`` for ``k`` landmarks.
    image_size : int, default 32
        Height and width of the input, a multiple of 8 (three 2x2 poolings).
    in_channels : int, default 3
    widths : sequence of three int, default (16, 32, 32)
        Channels of the three conv stages.
    hidden : int, default 64
        Width of the hidden Linear layer.
    dtype : dtype, optional
        float32 when None.
    rng : numpy.random.Generator or int, optional

    Returns
    -------
    Localizer
        Input (N, image_size, image_size, in_channels) -> raw outputs (N, num_outputs).
    """
    widths = tuple(int(w) for w in widths)
    if num_outputs < 1 or in_channels < 1 or hidden < 1 or len(widths) != 3 or min(widths) < 1:
        raise ValueError(f"localizer needs positive num_outputs, in_channels, hidden and three positive widths, got "
                         f"num_outputs={num_outputs}, in_channels={in_channels}, hidden={hidden}, widths={widths}")
    if image_size < 8 or image_size % 8:
        raise ValueError(f"image_size must be a positive multiple of 8 (three 2x2 poolings), got {image_size}")
    return Localizer(num_outputs, image_size, in_channels, widths, hidden, dtype, rng)
