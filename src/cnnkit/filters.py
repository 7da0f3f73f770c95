"""Classic edge-detection kernels and edge maps.

As in every CNN library, "convolution" here is cross-correlation: the kernel
is not flipped. The vertical-edge kernel ``[[1, 0, -1]] * 3`` is bright where
the image is lighter on the left than on the right.
"""
import numpy as np

from cnnkit.ops.conv import conv2d

_KINDS = ("vertical", "horizontal", "sobel", "scharr", "hed")


def vertical():
    """The course's vertical-edge kernel ``[[1, 0, -1]] * 3``, shape (3, 3), float32."""
    return np.array([[1, 0, -1]] * 3, dtype=np.float32)


def horizontal():
    """The horizontal-edge kernel: ``vertical().T``, shape (3, 3), float32."""
    return vertical().T.copy()


def sobel(vertical=True):
    """The Sobel kernel ``[[1, 0, -1], [2, 0, -2], [1, 0, -1]]`` (its transpose when ``vertical=False``)."""
    k = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float32)
    return k if vertical else k.T.copy()


def scharr(vertical=True):
    """The Scharr kernel ``[[3, 0, -3], [10, 0, -10], [3, 0, -3]]`` (its transpose when ``vertical=False``)."""
    k = np.array([[3, 0, -3], [10, 0, -10], [3, 0, -3]], dtype=np.float32)
    return k if vertical else k.T.copy()


def _grey(image):
    """(H, W) or (H, W, C) -> (H, W) float32; RGB by luminance (ITU-R 601), other channel counts by mean."""
    image = np.asarray(image)
    if image.ndim == 2:
        return image.astype(np.float32)
    if image.ndim != 3:
        raise ValueError(f"detect_edges expects a grey (H, W) or colour (H, W, C) image, got shape {image.shape}")
    if image.shape[2] == 3:
        return (image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32))
    return image.astype(np.float32).mean(axis=2)


def detect_edges(image, kind="sobel"):
    """Edge-strength map of an image.

    Parameters
    ----------
    image : array_like, shape (H, W) or (H, W, C)
        A grey or colour image (colour is turned to grey first).
    kind : {"sobel", "scharr", "vertical", "horizontal", "hed"}
        "sobel" and "scharr" give the gradient magnitude ``sqrt(gx**2 + gy**2)``;
        "vertical" and "horizontal" the absolute response of that one kernel;
        "hed" the edge probability of the pretrained HED network on VGG-16
        (``cnnkit.models.hed_edges``; needs an RGB image and the ``vgg16-hed`` weights).

    Returns
    -------
    ndarray, shape (H, W), float32
        Borders are handled by reflecting the image, so they show no false edges.
    """
    if kind not in _KINDS:
        raise ValueError(f"unknown edge kind {kind!r}; choose one of {', '.join(_KINDS)}")
    if kind == "hed":
        from cnnkit.models.vgg_features import hed_edges  # a deep model, loaded only when asked for

        return hed_edges(image)
    grey = _grey(image)
    if min(grey.shape) < 2:
        raise ValueError(f"detect_edges needs an image at least 2x2, got shape {grey.shape}")
    padded = np.pad(grey, 1, mode="reflect")[None, :, :, None]  # (H, W) -> (1, H+2, W+2, 1)
    if kind in ("vertical", "horizontal"):
        kernel = vertical() if kind == "vertical" else horizontal()
        return np.abs(conv2d(padded, kernel[:, :, None, None]).numpy()[0, :, :, 0])
    make = sobel if kind == "sobel" else scharr
    kernels = np.stack([make(True), make(False)], axis=-1)[:, :, None, :]  # (3, 3, 1, 2)
    g = conv2d(padded, kernels).numpy()[0]  # (H, W, 2): gx, gy
    return np.sqrt((g * g).sum(axis=-1))


def normalize_edges(edges, percentile=99.0):
    """Scale an edge map for display: divide by a high percentile of ``|edges|`` and clip to [0, 1].

    Dividing by the maximum leaves most edges nearly black (one strong edge
    sets the scale); the 99th percentile lets the top 1% saturate instead.

    Parameters
    ----------
    edges : ndarray, shape (H, W)
        Edge strengths (any non-negative scale), e.g. from :func:`detect_edges`.
    percentile : float, default 99.0
        In (0, 100]; 100 divides by the maximum.

    Returns
    -------
    scaled : ndarray, float32, shape (H, W)
        In [0, 1].
    divisor : float
        The value mapped to 1 (1.0 for an all-zero map).
    """
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}")
    magnitude = np.abs(np.asarray(edges, dtype=np.float32))
    divisor = float(np.percentile(magnitude, percentile)) if magnitude.size else 0.0
    if divisor <= 0:  # a map that is mostly zero: fall back to its maximum
        divisor = float(magnitude.max()) if magnitude.size and magnitude.max() > 0 else 1.0
    return np.clip(magnitude / divisor, 0, 1), divisor
