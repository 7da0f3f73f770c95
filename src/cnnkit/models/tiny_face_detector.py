"""face-api.js's tiny face detector: a Tiny-YOLOv2 with depthwise-separable convolutions, on cnnkit's engine.

The network (face-api's ``TinyFaceDetector``, the MobileNet-style variant of its
``TinyYolov2``), channels-last, for an input of S x S pixels (S a multiple of 32)::

    conv0   3x3 conv 3 -> 16, no padding, LeakyReLU(0.1)      S - 2
    pool    2x2 max, stride 2 (TensorFlow "same")              (S - 2) / 2
    conv1   separable 3x3 16 -> 32, padding 1, LeakyReLU(0.1)
    pool    2x2 max, stride 2 ("same": an odd side rounds up)
    conv2   separable 32 -> 64, then pool; conv3 64 -> 128, then pool; conv4 128 -> 256, then pool
    conv5   separable 256 -> 512, LeakyReLU(0.1)               S / 32
    pool    2x2 max, stride 1 ("same": -inf after the last row and column)
    conv8   1x1 conv 512 -> 25: 5 anchors x (tx, ty, tw, th, to), no class scores

The head's layout is the one :func:`cnnkit.detection.decode` reads with
``num_classes=0``. Batch norm is folded into the weights, so there is none here.
Inputs are prepared as face-api prepares them (:func:`preprocess`): the image is
padded with zeros at the bottom or right to a square, resized to S x S by
TensorFlow's bilinear resize (``align_corners=False, half_pixel_centers=False``),
then ``(pixel - MEAN_RGB) / 255``.
"""
import numpy as np

import cnnkit.functional as F
from cnnkit.data.images import as_uint8_image
from cnnkit.models.registry import register
from cnnkit.nn import Conv2d, MaxPool2d, Module, SeparableConv2d
from cnnkit.nn.module import resolve_rng

__all__ = ["TinyFaceDetector", "tiny_face_detector", "ANCHORS", "MEAN_RGB", "NEGATIVE_SLOPE", "preprocess",
           "letterbox_scale", "resize_bilinear", "from_face_api"]

#: Anchor (width, height) in grid cells (32 pixels), face-api's ``BOX_ANCHORS``.
ANCHORS = np.array([[1.603231, 2.094468], [6.041143, 7.080126], [2.882459, 3.518061],
                    [4.266906, 5.178857], [9.041765, 10.66308]])
#: Mean RGB subtracted before dividing by 255, face-api's ``MEAN_RGB``.
MEAN_RGB = np.array([117.001, 114.697, 97.404])
#: face-api's leaky ReLU slope (0.1 as a float32).
NEGATIVE_SLOPE = 0.1
_WIDTHS = (16, 32, 64, 128, 256, 512)


class TinyFaceDetector(Module):
    """The tiny face detector's network; see the module docstring for its layers.

    Attributes
    ----------
    conv0 : Conv2d
        3x3, 3 -> 16, no padding.
    conv1 ... conv5 : SeparableConv2d
        3x3 depthwise (padding 1) + 1x1 pointwise with bias.
    conv8 : Conv2d
        1x1, 512 -> 25.
    anchors : ndarray, shape (5, 2)
        :data:`ANCHORS`; not weights.
    stride : int
        32 pixels per grid cell.

    Shapes: (N, S, S, 3) preprocessed pixels -> raw head output (N, S / 32, S / 32, 25).
    """

    def __init__(self, dtype=None, rng=None):
        super().__init__()
        rng = resolve_rng(rng)
        self.conv0 = Conv2d(3, _WIDTHS[0], 3, dtype=dtype, rng=rng)
        for k in range(1, 6):
            setattr(self, f"conv{k}", SeparableConv2d(_WIDTHS[k - 1], _WIDTHS[k], 3, padding=1, dtype=dtype, rng=rng))
        self.conv8 = Conv2d(_WIDTHS[-1], 5 * len(ANCHORS), 1, dtype=dtype, rng=rng)
        # TensorFlow's "same" 2x2/2 pooling: pads -inf only when a side is odd, as ceil_mode does
        self.pool = MaxPool2d(2, 2, ceil_mode=True)
        self.pool_last = MaxPool2d(2, 1, padding=1)
        self.anchors = ANCHORS.copy()
        self.stride = 32

    def features(self, x):
        """Everything but the head: (N, S, S, 3) -> (N, S / 32, S / 32, 512), what ``conv8`` reads."""
        x = F.leaky_relu(self.conv0(x), NEGATIVE_SLOPE)
        for k in range(1, 6):
            x = F.leaky_relu(getattr(self, f"conv{k}")(self.pool(x)), NEGATIVE_SLOPE)
        # TensorFlow's "same" 2x2 pooling at stride 1 pads one -inf row and column after the image
        # only; symmetric padding 1 gives one extra leading row and column, dropped here.
        return self.pool_last(x)[:, 1:, 1:]

    def forward(self, x):
        return self.conv8(self.features(x))


@register(weights="face-api", input_shape=(416, 416, 3))
def tiny_face_detector(dtype=None, rng=None):
    """face-api.js's tiny face detector (Tiny-YOLOv2, depthwise-separable, 5 anchors, faces only).

    ``get_model("tiny_face_detector", pretrained=True)`` loads face-api 1.7.15's weights
    (the ``"face-api"`` entry of :mod:`cnnkit.weights`, fetched from npm on first use).

    Parameters
    ----------
    dtype : dtype, optional
        float32 when None.
    rng : numpy.random.Generator or int, optional
        For the random initialisation when not pretrained.

    Returns
    -------
    TinyFaceDetector
        (N, S, S, 3) inputs from :func:`preprocess` -> (N, S / 32, S / 32, 25).
    """
    return TinyFaceDetector(dtype, rng)


def from_face_api(weights):
    """face-api's TF.js weight names -> :class:`TinyFaceDetector` state dict keys (layouts already match).

    Parameters
    ----------
    weights : dict of str -> ndarray
        From :func:`cnnkit.io.tfjs.load_tfjs_weights` on ``tiny_face_detector_model-weights_manifest.json``:
        ``conv0/filters`` (3, 3, 3, 16), ``conv{k}/depthwise_filter`` (3, 3, C, 1),
        ``conv{k}/pointwise_filter`` (1, 1, C, C_out), ``conv{k}/bias``, ``conv8/filters``, ``conv8/bias``.

    Returns
    -------
    dict of str -> ndarray
        ``conv0.weight``, ``conv0.bias``, ``conv{k}.depthwise.weight``, ``conv{k}.pointwise.weight``,
        ``conv{k}.pointwise.bias`` (k = 1..5), ``conv8.weight``, ``conv8.bias``.
    """
    names = {"conv0.weight": "conv0/filters", "conv0.bias": "conv0/bias",
             "conv8.weight": "conv8/filters", "conv8.bias": "conv8/bias"}
    for k in range(1, 6):
        names.update({f"conv{k}.depthwise.weight": f"conv{k}/depthwise_filter",
                      f"conv{k}.pointwise.weight": f"conv{k}/pointwise_filter",
                      f"conv{k}.pointwise.bias": f"conv{k}/bias"})
    missing = sorted(set(names.values()) - set(weights))
    if missing:
        raise ValueError(f"face-api tiny face detector weights lack {missing}; is this "
                         f"tiny_face_detector_model-weights_manifest.json?")
    return {ours: np.asarray(weights[theirs], dtype=np.float32) for ours, theirs in names.items()}


def letterbox_scale(height, width, input_size):
    """How face-api maps network-input fractions back to the image: ``(scale_x, scale_y)``.

    The image, padded to a square at the bottom or right, fills the network input;
    a box's fraction of the input becomes a fraction of the image times
    ``input_size / reshaped side``, where face-api rounds the reshaped sides
    (``round(side * input_size / max(height, width))``).
    """
    ratio = input_size / max(height, width)
    # JavaScript's Math.round: halves up
    return (input_size / np.floor(width * ratio + 0.5), input_size / np.floor(height * ratio + 0.5))


def resize_bilinear(images, size):
    """TensorFlow's bilinear resize with ``align_corners=False, half_pixel_centers=False``.

    Output pixel ``(r, c)`` samples the input at ``(r * H / size, c * W / size)``,
    interpolating between the floor and the ceiling (clamped) of each coordinate, as
    TensorFlow.js's CPU kernel does (in double precision, stored as float32).

    Parameters
    ----------
    images : ndarray, shape (N, H, W, C)
    size : int
        Output height and width.

    Returns
    -------
    ndarray of float32, shape (N, size, size, C)
    """
    N, H, W, C = images.shape

    def axis(n):
        source = np.arange(size) * (n / size)
        low = np.floor(source).astype(np.int64)
        return low, np.minimum(np.ceil(source).astype(np.int64), n - 1), source - low

    (top, bottom, fy), (left, right, fx) = axis(H), axis(W)
    x = images.astype(np.float64)
    fx = fx[None, None, :, None]
    # rows first, as the kernel interpolates along each row and then between rows
    upper = x[:, top][:, :, left] + (x[:, top][:, :, right] - x[:, top][:, :, left]) * fx
    lower = x[:, bottom][:, :, left] + (x[:, bottom][:, :, right] - x[:, bottom][:, :, left]) * fx
    return (upper + (lower - upper) * fy[None, :, None, None]).astype(np.float32)


def preprocess(image, input_size=416):
    """An RGB image as face-api feeds it to the tiny face detector.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3)
        RGB pixels, uint8 or floats in [0, 1] (what :func:`cnnkit.data.load_image` gives),
        which are rounded to 0..255 as face-api sees them.
    input_size : int, default 416
        The network's input side, a multiple of 32 (face-api's ``inputSize``).

    Returns
    -------
    ndarray of float32, shape (1, input_size, input_size, 3)
        Zero-padded at the bottom or right to a square, resized by :func:`resize_bilinear`
        (unless already ``input_size``), then ``(pixel - MEAN_RGB) / 255``.
    """
    image = as_uint8_image(image)
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
        raise ValueError(f"the tiny face detector needs an RGB image (H, W, 3), got shape {image.shape}")
    if not isinstance(input_size, (int, np.integer)) or input_size < 32 or input_size % 32:
        raise ValueError(f"input_size must be a positive multiple of 32, got {input_size!r}")
    H, W, _ = image.shape
    side = max(H, W)
    square = np.zeros((1, side, side, 3), dtype=np.float32)
    square[0, :H, :W] = image
    if side != input_size:
        square = resize_bilinear(square, int(input_size))
    # face-api subtracts the float32 mean, then divides by 255, each step rounded to float32
    return (square - MEAN_RGB.astype(np.float32)) / np.float32(255)
