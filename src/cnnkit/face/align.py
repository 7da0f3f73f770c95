"""Face alignment as dlib does it: a 5-landmark similarity transform and a bilinear chip.

``face_chip_details`` is dlib's ``get_face_chip_details``: the least-squares
similarity transform (Umeyama) from a template of 5 points in the chip to the 5
landmarks found in the image gives a rotation angle and a square rectangle in the
image. ``extract_chip`` is dlib's ``extract_image_chips``: every chip pixel is
mapped into the image and sampled bilinearly, truncated to uint8, 0 outside the
image. When the rectangle is more than about twice the chip's side, dlib first
shrinks the image with its ``pyramid_down<2>`` (a 5x5 binomial filter and a
factor 2 per level) and samples the smaller level, so that bilinear sampling does
not alias; this module does the same, with dlib's integer filter and its
coordinate mapping between levels.
"""
import math
from dataclasses import dataclass

import numpy as np

from cnnkit.data.images import as_uint8_image

__all__ = ["FIVE_POINT_TEMPLATE", "SIXTY_EIGHT_POINT_TEMPLATE", "ChipDetails", "similarity_transform",
           "face_chip_details", "extract_chip", "align_face"]

#: dlib's 5-point face template in the unit square, (x, y) in dlib's landmark order:
#: outer and inner corner of the image's right eye, outer and inner corner of the
#: image's left eye, the point below the nose.
FIVE_POINT_TEMPLATE = np.array([[0.8595674595992, 0.2134981538014],
                                [0.6460604764104, 0.2289674387677],
                                [0.1205750620789, 0.2137274526848],
                                [0.3340850613712, 0.2290642403242],
                                [0.4901123135679, 0.6277975316475]])


#: dlib's mean face for the 68-point (iBUG 300-W) markup in the unit square: points 17-67
#: as (x, y); get_face_chip_details aligns on the 33 of them that are neither eyebrows
#: (17-26) nor lower lip (55-59, 65-67).
SIXTY_EIGHT_POINT_TEMPLATE = np.array([
    [0.000213256, 0.106454], [0.0752622, 0.038915], [0.18113, 0.0187482], [0.29077, 0.0344891],
    [0.393397, 0.0773906], [0.586856, 0.0773906], [0.689483, 0.0344891], [0.799124, 0.0187482],
    [0.904991, 0.038915], [0.98004, 0.106454], [0.490127, 0.203352], [0.490127, 0.307009],
    [0.490127, 0.409805], [0.490127, 0.515625], [0.36688, 0.587326], [0.426036, 0.609345],
    [0.490127, 0.628106], [0.554217, 0.609345], [0.613373, 0.587326], [0.121737, 0.216423],
    [0.187122, 0.178758], [0.265825, 0.179852], [0.334606, 0.231733], [0.260918, 0.245099],
    [0.182743, 0.244077], [0.645647, 0.231733], [0.714428, 0.179852], [0.793132, 0.178758],
    [0.858516, 0.216423], [0.79751, 0.244077], [0.719335, 0.245099], [0.254149, 0.780233],
    [0.340985, 0.745405], [0.428858, 0.727388], [0.490127, 0.742578], [0.551395, 0.727388],
    [0.639268, 0.745405], [0.726104, 0.780233], [0.642159, 0.864805], [0.556721, 0.902192],
    [0.490127, 0.909281], [0.423532, 0.902192], [0.338094, 0.864805], [0.290379, 0.784792],
    [0.428096, 0.778746], [0.490127, 0.785343], [0.552157, 0.778746], [0.689874, 0.784792],
    [0.553364, 0.824182], [0.490127, 0.831803], [0.42689, 0.824182]])
_SIXTY_EIGHT_USED = np.array([i for i in range(17, 68) if not (17 <= i <= 26 or 55 <= i <= 59 or 65 <= i <= 67)])


@dataclass(frozen=True)
class ChipDetails:
    """Where a square chip lies in an image, as dlib's ``chip_details``.

    Attributes
    ----------
    rect : tuple of float
        ``(left, top, right, bottom)`` in image pixels, before rotation; dlib's
        ``drectangle``, whose width is ``right - left + 1``.
    angle : float
        Rotation of the chip's axes in the image, radians.
    size : int
        Side of the chip in pixels.
    """

    rect: tuple
    angle: float
    size: int


def similarity_transform(src, dst):
    """Least-squares similarity transform (scale, rotation, translation) taking ``src`` to ``dst``.

    Umeyama's method as dlib's ``find_similarity_transform``: minimises
    ``sum_i ||A src_i + t - dst_i||^2`` with ``A = s R``, R a rotation.

    Parameters
    ----------
    src, dst : array_like, shape (K, 2)
        Corresponding points (x, y), K >= 2.

    Returns
    -------
    A : ndarray, shape (2, 2)
    t : ndarray, shape (2,)
    """
    src, dst = np.asarray(src, dtype=np.float64), np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"similarity_transform: src {src.shape} and dst {dst.shape} must both be (K, 2), K >= 2")
    mean_src, mean_dst = src.mean(axis=0), dst.mean(axis=0)
    var_src = np.mean(np.sum((src - mean_src) ** 2, axis=1))
    cov = (dst - mean_dst).T @ (src - mean_src) / len(src)
    u, d, vt = np.linalg.svd(cov)
    s = np.eye(2)
    # A reflection would fit better than any rotation: flip the weakest axis instead, as dlib does.
    if np.linalg.det(cov) < 0 or (np.linalg.det(cov) == 0 and np.linalg.det(u) * np.linalg.det(vt) < 0):
        s[1, 1] = -1
    rotation = u @ s @ vt
    scale = np.trace(np.diag(d) @ s) / var_src if var_src != 0 else 1.0
    return scale * rotation, mean_dst - scale * rotation @ mean_src


def face_chip_details(landmarks, size=150, padding=0.25):
    """Where dlib's aligned face chip lies in the image, from 5 landmarks.

    Parameters
    ----------
    landmarks : array_like, shape (5, 2) or (68, 2)
        (x, y) pixels in dlib's ``shape_predictor_5_face_landmarks`` order (see
        :data:`FIVE_POINT_TEMPLATE`), or the 68 points of
        ``shape_predictor_68_face_landmarks`` (see :data:`SIXTY_EIGHT_POINT_TEMPLATE`).
    size : int, default 150
        Side of the chip (150 for the face recognition ResNet).
    padding : float, default 0.25
        Margin around the template, as a fraction of the template's side.

    Returns
    -------
    ChipDetails
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.shape not in ((5, 2), (68, 2)):
        raise ValueError(f"face_chip_details: landmarks must be 5 or 68 (x, y) points, shape (5, 2) or (68, 2), got "
                         f"{landmarks.shape}")
    if size < 1 or padding < 0:
        raise ValueError(f"face_chip_details: size must be >= 1 and padding >= 0, got {size!r} and {padding!r}")
    if len(landmarks) == 68:
        mean_face, landmarks = SIXTY_EIGHT_POINT_TEMPLATE[_SIXTY_EIGHT_USED - 17], landmarks[_SIXTY_EIGHT_USED]
    else:
        mean_face = FIVE_POINT_TEMPLATE
    template = (padding + mean_face) / (2 * padding + 1) * size
    A, t = similarity_transform(template, landmarks)
    angle = math.atan2(A[1, 0], A[0, 0])
    scale = math.hypot(A[0, 0], A[1, 0])
    cx, cy = A @ np.array([size / 2, size / 2]) + t
    # dlib's centered_drect(p, w, h): right - left = w - 1.
    half = (size * scale - 1) / 2
    return ChipDetails(rect=(cx - half, cy - half, cx + half, cy + half), angle=angle, size=int(size))


def _area(rect):
    """Area of a dlib drectangle: (right - left + 1) * (bottom - top + 1), 0 when empty."""
    left, top, right, bottom = rect
    if left > right or top > bottom:
        return 0.0
    return (right - left + 1) * (bottom - top + 1)


def _rect_down(rect):
    """dlib's ``pyramid_down<2>::rect_down``: a rectangle's coordinates one pyramid level down."""
    left, top, right, bottom = rect
    return left / 2 - 1.25, top / 2 - 0.75, right / 2 - 1.25, bottom / 2 - 0.75


def _rotated_corners(rect, angle):
    """The corners tl, tr, bl, br of ``rect`` rotated by ``angle`` about its centre, shape (4, 2)."""
    left, top, right, bottom = rect
    centre = np.array([(left + right) / 2, (top + bottom) / 2])
    corners = np.array([[left, top], [right, top], [left, bottom], [right, bottom]]) - centre
    c, s = math.cos(angle), math.sin(angle)
    return corners @ np.array([[c, s], [-s, c]]) + centre


def pyramid_down(image):
    """One level of dlib's ``pyramid_down<2>`` on an RGB uint8 image.

    A separable [1 4 6 4 1] filter applied to every other row and column in
    integer arithmetic, divided by 256 and truncated, as dlib does.

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W, 3)

    Returns
    -------
    ndarray of uint8, shape ((H - 3) // 2, (W - 3) // 2, 3)
        Empty when H or W is 8 or less.
    """
    H, W = image.shape[:2]
    if H <= 8 or W <= 8:
        return np.zeros((0, 0, 3), dtype=np.uint8)
    OH, OW = (H - 3) // 2, (W - 3) // 2
    x = image.astype(np.uint32)
    taps = (1, 4, 6, 4, 1)
    rows = sum(k * x[:, i:i + 2 * OW:2] for i, k in enumerate(taps))          # (H, OW, 3)
    out = sum(k * rows[i:i + 2 * OH:2] for i, k in enumerate(taps)) // 256   # (OH, OW, 3)
    return out.astype(np.uint8)


def _bilinear(image, x, y):
    """Sample ``image`` (H, W, 3) at float coordinates; truncated to uint8, 0 where a neighbour is outside."""
    H, W = image.shape[:2]
    left, top = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    inside = (left >= 0) & (top >= 0) & (left + 1 < W) & (top + 1 < H)
    left, top = np.where(inside, left, 0), np.where(inside, top, 0)
    fx, fy = (x - left)[..., None], (y - top)[..., None]
    img = image.astype(np.float64)
    value = ((1 - fy) * ((1 - fx) * img[top, left] + fx * img[top, left + 1])
             + fy * ((1 - fx) * img[top + 1, left] + fx * img[top + 1, left + 1]))
    return np.where(inside[..., None], np.clip(value, 0, 255).astype(np.uint8), 0).astype(np.uint8)


def _copy_chip(image, rect):
    """dlib's basic_extract_image_chip: an unrotated, unscaled chip is a plain copy of the rounded rectangle."""
    left, top, right, bottom = (math.floor(v + 0.5) for v in rect)
    H, W = image.shape[:2]
    chip = np.zeros((bottom - top + 1, right - left + 1, 3), dtype=np.uint8)
    y0, x0, y1, x1 = max(top, 0), max(left, 0), min(bottom, H - 1), min(right, W - 1)
    if y0 <= y1 and x0 <= x1:
        chip[y0 - top:y1 - top + 1, x0 - left:x1 - left + 1] = image[y0:y1 + 1, x0:x1 + 1]
    return chip


def extract_chip(image, details):
    """Cut the chip described by ``details`` out of ``image``, as dlib's ``extract_image_chips``.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3)
        RGB pixels, uint8 or floats in [0, 1].
    details : ChipDetails

    Returns
    -------
    ndarray of uint8, shape (size, size, 3)
        Bilinear samples truncated to integers; pixels whose neighbours fall
        outside the image are 0.
    """
    image = as_uint8_image(image, "extract_chip: image")  # floats in [0, 1] (load_image's) become 0..255
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"extract_chip: image must be RGB uint8 (H, W, 3), got shape {image.shape} and "
                         f"dtype {image.dtype}")
    size, rect, angle = details.size, details.rect, details.angle
    H, W = image.shape[:2]
    if angle == 0 and _area(rect) == size * size:
        return _copy_chip(image, rect)
    depth, grow = 0, 2.0
    down = _rect_down(rect)
    while _area(down) > size * size:
        down = _rect_down(down)
        depth += 1
        grow = grow * 2 + 2
    # dlib works in a crop around the rotated rectangle (grown by the pyramid filter's reach),
    # rounded to whole pixels; the pyramid levels are aligned on that crop's corner.
    corners = _rotated_corners(rect, angle)
    (x0, y0), (x1, y1) = corners.min(axis=0) - grow, corners.max(axis=0) + grow
    left, top = math.floor(max(x0, 0) + 0.5), math.floor(max(y0, 0) + 0.5)
    right, bottom = math.floor(min(x1, W - 1) + 0.5), math.floor(min(y1, H - 1) + 0.5)
    if left > right or top > bottom:
        return np.zeros((size, size, 3), dtype=np.uint8)
    source = image[top:bottom + 1, left:right + 1]
    local = (rect[0] - left, rect[1] - top, rect[2] - left, rect[3] - top)
    while _area(_rect_down(local)) > size * size:
        local = _rect_down(local)
        source = pyramid_down(source)
    tl, tr, bl, _ = _rotated_corners(local, angle)
    steps = np.arange(size, dtype=np.float64) / (size - 1) if size > 1 else np.zeros(1)
    # chip pixel (c, r) -> tl + c/(size-1) (tr - tl) + r/(size-1) (bl - tl)
    points = tl + steps[None, :, None] * (tr - tl) + steps[:, None, None] * (bl - tl)  # (size, size, 2)
    return _bilinear(source, points[..., 0], points[..., 1])


def align_face(image, landmarks, size=150, padding=0.25):
    """dlib's ``get_face_chip``: the aligned face chip from an RGB image and its 5 landmarks.

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W, 3)
    landmarks : array_like, shape (5, 2) or (68, 2)
        (x, y) in dlib's 5-point order, or dlib's 68 points.
    size : int, default 150
    padding : float, default 0.25

    Returns
    -------
    ndarray of uint8, shape (size, size, 3)
    """
    return extract_chip(image, face_chip_details(landmarks, size, padding))
