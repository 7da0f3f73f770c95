"""A tiny YOLO: a few conv-BN-LeakyReLU(-maxpool) stages down to an S x S grid, then a 1x1 head.

The head's output layout is the one :mod:`cnnkit.detection.yolo` decodes:
(N, S, S, B * (5 + C)), anchor ``b``'s channels ``(tx, ty, tw, th, to, class logits)``.
Anchors are not weights: they travel with the checkpoint (see
:mod:`cnnkit.detection.train`).
"""
from cnnkit.models.registry import register
from cnnkit.nn import BatchNorm2d, Conv2d, LeakyReLU, MaxPool2d, Module, Sequential
from cnnkit.nn.module import resolve_rng

# Darknet's slope; a smaller one leaves the detection head little signal from negative features
NEGATIVE_SLOPE = 0.1


class TinyYOLO(Module):
    """``features`` (conv 3x3 + BN + LeakyReLU stages, a 2x2 max-pool after all but the last) and ``head``.

    Attributes
    ----------
    features : Sequential
    head : Conv2d
        1x1, ``widths[-1] -> num_anchors * (5 + num_classes)``.
    num_classes, num_anchors, image_size, stride, grid_size : int
        ``stride = 2 ** (len(widths) - 1)``, ``grid_size = image_size // stride``.
    """

    def __init__(self, num_classes, num_anchors, in_channels, image_size, widths, dtype, rng):
        super().__init__()
        rng = resolve_rng(rng)
        layers, channels = [], in_channels
        for k, width in enumerate(widths):
            # BN supplies the shift, so the convolution needs no bias
            layers += [Conv2d(channels, width, 3, padding=1, bias=False, dtype=dtype, rng=rng),
                       BatchNorm2d(width, dtype=dtype), LeakyReLU(NEGATIVE_SLOPE)]
            if k < len(widths) - 1:
                layers.append(MaxPool2d(2))
            channels = width
        self.features = Sequential(*layers)
        self.head = Conv2d(channels, num_anchors * (5 + num_classes), 1, dtype=dtype, rng=rng)
        self.num_classes, self.num_anchors, self.image_size = num_classes, num_anchors, image_size
        self.stride = 2 ** (len(widths) - 1)
        self.grid_size = image_size // self.stride

    def forward(self, x):
        return self.head(self.features(x))


@register
def tiny_yolo(num_classes=3, num_anchors=3, in_channels=3, image_size=64, widths=(16, 32, 64, 128), dtype=None,
              rng=None):
    """A tiny YOLO detector, small enough to train from scratch on a CPU.

    Parameters
    ----------
    num_classes : int, default 3
        C.
    num_anchors : int, default 3
        B, anchor boxes per grid cell.
    in_channels : int, default 3
    image_size : int, default 64
        Height and width of the input; a multiple of the stride ``2 ** (len(widths) - 1)``.
    widths : sequence of int, default (16, 32, 64, 128)
        Output channels of the 3x3 convolution stages; every stage but the
        last halves the resolution, so the default gives an 8 x 8 grid on 64 x 64 images.
    dtype : dtype, optional
        float32 when None.
    rng : numpy.random.Generator or int, optional

    Returns
    -------
    TinyYOLO
        Input (N, image_size, image_size, in_channels) -> raw head output
        (N, S, S, num_anchors * (5 + num_classes)) with ``S = image_size // stride``.
    """
    widths = tuple(int(w) for w in widths)
    if num_classes < 1 or num_anchors < 1 or in_channels < 1 or not widths or min(widths) < 1:
        raise ValueError(f"tiny_yolo needs positive num_classes, num_anchors, in_channels and widths, got "
                         f"num_classes={num_classes}, num_anchors={num_anchors}, in_channels={in_channels}, "
                         f"widths={widths}")
    stride = 2 ** (len(widths) - 1)
    if image_size < stride or image_size % stride:
        raise ValueError(f"image_size must be a positive multiple of the stride {stride} "
                         f"(2 ** (len(widths) - 1) for widths={widths}), got {image_size}")
    return TinyYOLO(num_classes, num_anchors, in_channels, image_size, widths, dtype, rng)
