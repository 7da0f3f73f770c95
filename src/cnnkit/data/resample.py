"""The one resampler of cnnkit: bilinear (antialiased when shrinking) or area, for images and batches.

Separable: each axis is one (n_out, n_in) matrix of filter weights, applied by
a matrix product. ``"bilinear"`` is the triangle filter with half-pixel
centres, widened by the scale factor when shrinking so every input pixel
counts (Pillow's ``BILINEAR``, PyTorch's ``antialias=True``); ``"area"`` weights
each input pixel by the fraction of it an output pixel covers (TensorFlow's
``AREA``). Rows of weights that fall partly outside the image are renormalised,
which for enlarging is the same as clamping to the edge pixel.
"""
import numpy as np

from cnnkit.utils import pair

__all__ = ["resize", "resample", "target_shape", "METHODS"]

METHODS = ("bilinear", "area")


def target_shape(size, longer_side, H, W):
    """The output (height, width) asked for by ``size`` or ``longer_side`` for an H x W picture, or None."""
    if size is not None and longer_side is not None:
        raise ValueError("pass at most one of size and longer_side")
    if longer_side is not None:
        if isinstance(longer_side, bool) or not isinstance(longer_side, (int, np.integer)) or longer_side < 1:
            raise ValueError(f"longer_side must be a positive integer, got {longer_side!r}")
        scale = int(longer_side) / max(H, W)
        return max(1, round(H * scale)), max(1, round(W * scale))
    if size is None:
        return None
    return pair(size, "size", low=1)


def _taps(n_in, n_out, method, extent):
    """The (n_out, n_in) resampling matrix of one axis; ``extent`` source pixels map onto ``n_out``."""
    scale = extent / n_out
    if method == "area":
        start = np.arange(n_out) * scale                                    # output i covers [i s, (i+1) s)
        index = np.floor(start)[:, None].astype(np.int64) + np.arange(int(np.ceil(scale)) + 1)
        weights = np.minimum(index + 1, start[:, None] + scale) - np.maximum(index, start[:, None])
    else:
        support = max(scale, 1.0)                                           # the triangle's half-width
        centre = (np.arange(n_out) + 0.5) * scale
        index = np.floor(centre - support)[:, None].astype(np.int64) + np.arange(int(np.ceil(2 * support)) + 2)
        weights = 1 - np.abs(index + 0.5 - centre[:, None]) / support
    inside = (index >= 0) & (index < n_in)
    weights = np.where(inside, np.clip(weights, 0, None), 0)
    weights /= weights.sum(axis=1, keepdims=True)                          # edges: renormalise what is inside
    matrix = np.zeros((n_out, n_in))
    np.add.at(matrix, (np.repeat(np.arange(n_out), index.shape[1]), np.clip(index, 0, n_in - 1).ravel()),
              weights.ravel())
    return matrix


def resample(batch, shape, method, extent=None):
    """Resize a float batch (N, H, W, C) to ``shape``; ``extent``: the source's (height, width) in pixels."""
    N, H, W, C = batch.shape
    extent = extent or (H, W)
    if tuple(shape) == (H, W) and extent == (H, W):
        return batch.copy()
    rows = _taps(H, shape[0], method, extent[0]).astype(batch.dtype)
    cols = _taps(W, shape[1], method, extent[1]).astype(batch.dtype)
    out = np.matmul(rows, batch.reshape(N, H, W * C)).reshape(N, shape[0], W, C)         # (N, OH, W, C)
    return np.matmul(cols, out.transpose(0, 2, 1, 3).reshape(N, W, -1)) \
        .reshape(N, shape[1], shape[0], C).transpose(0, 2, 1, 3)                        # (N, OH, OW, C)


def resize(image, size=None, *, longer_side=None, method="bilinear"):
    """Resize an image or a batch of images: the one resampler of cnnkit.

    Parameters
    ----------
    image : ndarray, shape (H, W), (H, W, C) or (N, H, W, C)
        Floats (any range), or uint8 read as 0..255 -> [0, 1].
    size : int or (int, int), optional
        The new ``(height, width)``; an int gives a square.
    longer_side : int, optional
        Instead of ``size``: scale so the longer side has this many pixels, keeping the aspect ratio.
    method : {"bilinear", "area"}, default "bilinear"
        ``"bilinear"``: half-pixel centres, antialiased when shrinking (the
        triangle filter widened by the scale, as Pillow and PyTorch's
        ``antialias=True``); plain bilinear interpolation when enlarging.
        ``"area"``: each output pixel is the mean of the input it covers,
        partial pixels weighted by the covered fraction (TensorFlow's ``AREA``).
        Both are convex combinations: the output stays within the input's range.

    Returns
    -------
    ndarray, the input's layout with the new height and width
        The input's float dtype (float32 for uint8 and other input).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    image = np.asarray(image)
    if image.ndim not in (2, 3, 4) or 0 in image.shape:
        raise ValueError(f"resize expects an image (H, W), (H, W, C) or (N, H, W, C), got shape {image.shape}")
    if size is None and longer_side is None:
        raise ValueError("resize needs size or longer_side")
    H, W = image.shape[1:3] if image.ndim == 4 else image.shape[:2]
    shape = target_shape(size, longer_side, H, W)
    if image.dtype == np.uint8:
        floats = image.astype(np.float32) / np.float32(255)
    else:
        floats = image if image.dtype.kind == "f" else image.astype(np.float32)
    batch = floats.reshape((-1,) + floats.shape[-3:] if image.ndim == 4 else (1, H, W, -1))
    out = resample(batch, shape, method)
    return out.reshape(image.shape[:-3] + out.shape[1:] if image.ndim == 4 else out.shape[1:3] + image.shape[2:])
