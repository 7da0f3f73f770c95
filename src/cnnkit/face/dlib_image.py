"""dlib's image geometry for its face detectors: integer rectangles, bilinear resizing, image pyramids.

dlib's detectors report boxes in whole pixels that come out of a chain of
roundings (``drectangle`` to ``rectangle`` by ``lround``, ``dpoint`` to ``point`` by
``floor(x + 0.5)``, C++ integer division towards zero), and they scan images made
by dlib's own resampling. To find the same boxes, this module reproduces both:

- :func:`resize_bilinear` is dlib's ``resize_image`` with ``interpolate_bilinear``,
  including its arithmetic: source columns stepped in float32 in lanes of four (its
  SIMD loop) and the last columns in float64, RGB results truncated to integers,
  grey ones rounded (the loop is compiled by numba, :mod:`cnnkit.face._dlib_kernels`);
- :func:`pyramid_down` is ``pyramid_down<N>`` (a resize to ``(N-1)/N`` of the size,
  ``N = 6`` for the face detectors) and :func:`pyramid_up` is dlib's ``pyramid_up``
  with ``pyramid_down<2>`` (the upsampling of ``number_of_times_to_upsample``);
- :func:`point_up`, :func:`point_down` and :func:`to_rect` map coordinates between
  pyramid levels as dlib does.

Rectangles are ``(left, top, right, bottom)`` with right and bottom inclusive, as
dlib's ``rectangle``.
"""
import numpy as np

from cnnkit.face import _dlib_kernels as _kernels

__all__ = ["lround", "to_rect", "point_up", "point_down", "rect_up", "rect_down", "resize_bilinear", "pyramid_down",
           "pyramid_up", "pyramid_up_shape", "boxes_overlap"]

# pyramid_down<2> shifts x and y by different amounts (its 5-tap filter starts off-centre).
_HALF_PIXEL_2 = np.array([1.25, 0.75])


def lround(x):
    """C's ``lround``: the nearest integer, halves away from zero (``drectangle`` -> ``rectangle``)."""
    x = np.asarray(x, dtype=np.float64)
    return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int64)


def to_rect(rect):
    """A dlib ``drectangle`` (left, top, right, bottom floats) as a ``rectangle``: each coordinate ``lround``-ed."""
    return tuple(int(v) for v in lround(rect))


def point_up(xy, levels=1, n=6):
    """dlib's ``pyramid_down<n>::point_up``: coordinates ``levels`` pyramid levels up (towards the original).

    Parameters
    ----------
    xy : array_like, shape (..., 2)
        (x, y) coordinates.
    levels : int
    n : int
        6 for ``pyramid_down<6>`` (``x * 6/5 + 0.3``), 2 for ``pyramid_down<2>``
        (``(x + 1.25, y + 0.75) * 2``).
    """
    p = np.array(xy, dtype=np.float64)
    for _ in range(levels):
        if n == 2:
            p = (p + _HALF_PIXEL_2) * 2
        else:
            p = p * (n / (n - 1.0)) + 0.3
    return p


def point_down(xy, levels=1, n=6):
    """dlib's ``pyramid_down<n>::point_down``, the inverse of :func:`point_up`."""
    p = np.array(xy, dtype=np.float64)
    for _ in range(levels):
        if n == 2:
            p = p / 2.0 - _HALF_PIXEL_2
        else:
            p = (p - 0.3) * ((n - 1.0) / n)
    return p


def _rect_points(rect):
    """(left, top, right, bottom) -> the two corners as a (2, 2) array of (x, y)."""
    left, top, right, bottom = rect
    return np.array([[left, top], [right, bottom]], dtype=np.float64)


def rect_up(rect, levels=1, n=6):
    """A rectangle mapped ``levels`` pyramid levels up, as a float (left, top, right, bottom)."""
    (left, top), (right, bottom) = point_up(_rect_points(rect), levels, n)
    return left, top, right, bottom


def rect_down(rect, levels=1, n=6):
    """A rectangle mapped ``levels`` pyramid levels down, as a float (left, top, right, bottom)."""
    (left, top), (right, bottom) = point_down(_rect_points(rect), levels, n)
    return left, top, right, bottom


def resize_bilinear(image, out_h, out_w):
    """dlib's ``resize_image(in, out)`` (bilinear), with dlib's arithmetic.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3) uint8, (H, W) uint8, or (H, W) / (H, W, C) float32
        An RGB image (dlib's ``rgb_pixel`` path: results truncated), a grey image
        (dlib's grey path: rounded), or float planes (as dlib's DNN input pyramid).
    out_h, out_w : int
        The output size.

    Returns
    -------
    ndarray, shape (out_h, out_w) + image.shape[2:], the dtype of ``image``
    """
    image = np.asarray(image)
    rgb = image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    grey = image.dtype == np.uint8 and image.ndim == 2
    if not (rgb or grey or (image.dtype == np.float32 and image.ndim in (2, 3))):
        raise ValueError(f"resize_bilinear: image must be RGB (H, W, 3) or grey (H, W) uint8, or float32 planes "
                         f"(H, W[, C]), got shape {image.shape} and dtype {image.dtype}")
    planes = np.ascontiguousarray(image if image.ndim == 3 else image[..., None])
    out = np.zeros((int(out_h), int(out_w), planes.shape[2]), dtype=image.dtype)
    _kernels.resize_bilinear(planes, out, rgb, grey)
    return out if image.ndim == 3 else out[..., 0]


def pyramid_down(image, n=6):
    """One level of dlib's ``pyramid_down<n>`` (n >= 4): the image resized to ``((n-1) H // n, (n-1) W // n)``."""
    image = np.asarray(image)
    H, W = image.shape[:2]
    return resize_bilinear(image, (n - 1) * H // n, (n - 1) * W // n)


def pyramid_up_shape(height, width):
    """The size dlib's ``pyramid_up`` with ``pyramid_down<2>`` gives: the rounded ``rect_up`` of the image."""
    _, _, right, bottom = to_rect(rect_up((0, 0, width - 1, height - 1), 1, n=2))
    return bottom + 1, right + 1


def pyramid_up(image, times=1):
    """dlib's ``pyramid_up(img, pyramid_down<2>)`` applied ``times`` times: about twice the size each time."""
    image = np.asarray(image)
    for _ in range(times):
        if image.size == 0:
            break
        image = resize_bilinear(image, *pyramid_up_shape(*image.shape[:2]))
    return image


def boxes_overlap(a, b, iou_thresh, covered_thresh):
    """dlib's ``test_box_overlap`` of two integer rectangles (left, top, right, bottom)."""
    width = min(a[2], b[2]) - max(a[0], b[0]) + 1
    height = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if width <= 0 or height <= 0:
        return False
    inner = width * height
    # dlib divides by the area of the bounding box of both (rectangle a + b), not of their union.
    outer = (max(a[2], b[2]) - min(a[0], b[0]) + 1) * (max(a[3], b[3]) - min(a[1], b[1]) + 1)
    area_a = (a[2] - a[0] + 1) * (a[3] - a[1] + 1)
    area_b = (b[2] - b[0] + 1) * (b[3] - b[1] + 1)
    return inner / outer > iou_thresh or inner / area_a > covered_thresh or inner / area_b > covered_thresh
