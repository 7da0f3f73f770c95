"""dlib's ``shape_predictor`` cascades, compiled by numba.

Written as dlib's loops are, in the same float32/float64 arithmetic and order, so that
the landmarks are dlib's exactly; about 3x faster than dlib-bin for the 5-point model
(bench/dlib_faces.py). ``cache=True`` keeps the machine code between runs.
"""
import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _similarity(src, dst):
    """The 2x2 part of the least-squares similarity transform taking (P, 2) ``src`` to ``dst``, in float64.

    For points in the plane Umeyama's SVD solution has a closed form: with centred
    points as complex numbers, ``z = sum(conj(src) * dst) / sum(|src|^2)`` and the
    matrix is ``[[Re z, -Im z], [Im z, Re z]]``.
    """
    P = src.shape[0]
    msx, msy, mdx, mdy = 0.0, 0.0, 0.0, 0.0
    for i in range(P):
        msx += src[i, 0]
        msy += src[i, 1]
        mdx += dst[i, 0]
        mdy += dst[i, 1]
    msx, msy, mdx, mdy = msx / P, msy / P, mdx / P, mdy / P
    real, imag, norm = 0.0, 0.0, 0.0
    for i in range(P):
        sx, sy = src[i, 0] - msx, src[i, 1] - msy
        dx, dy = dst[i, 0] - mdx, dst[i, 1] - mdy
        real += sx * dx + sy * dy
        imag += sx * dy - sy * dx
        norm += sx * sx + sy * sy
    if norm == 0:
        return 1.0, 0.0
    return real / norm, imag / norm


@njit(cache=True, nogil=True)
def shape_predict(image, origin, size, initial, deltas, anchors, split_pixels, thresholds, leaves):
    """dlib's ``shape_predictor``: every cascade samples its feature pixels, walks its trees, adds their leaves.

    ``image`` (H, W, C) uint8 (grey as (R + G + B) // 3); ``origin``, ``size`` (2,)
    float64: the face box's corner and extent; the model arrays as
    :class:`cnnkit.face.landmarks.ShapePredictor` holds them. Returns the (P, 2) float32
    shape in the box's unit square; it is updated one tree after the other as dlib does.
    """
    H, W, C = image.shape
    shape = initial.copy()
    values = np.empty(anchors.shape[1], np.float32)
    splits = thresholds.shape[2]
    for c in range(anchors.shape[0]):
        # dlib fits the transform from the mean shape in double and applies it in float.
        a, b = _similarity(initial.astype(np.float64), shape.astype(np.float64)) if shape.shape[0] > 1 else (1.0, 0.0)
        t00, t01, t10, t11 = np.float32(a), np.float32(-b), np.float32(b), np.float32(a)
        for f in range(anchors.shape[1]):
            dx, dy = deltas[c, f, 0], deltas[c, f, 1]
            k = anchors[c, f]
            # Written out (no fused multiply-add) so that the float32 rounding is dlib's.
            ox = t00 * dx + t01 * dy
            oy = t10 * dx + t11 * dy
            x = math.floor(origin[0] + np.float64(ox + shape[k, 0]) * size[0] + 0.5)
            y = math.floor(origin[1] + np.float64(oy + shape[k, 1]) * size[1] + 0.5)
            if 0 <= x < W and 0 <= y < H:
                if C == 3:
                    values[f] = (np.int32(image[y, x, 0]) + np.int32(image[y, x, 1]) + np.int32(image[y, x, 2])) // 3
                else:
                    values[f] = image[y, x, 0]
            else:
                values[f] = 0
        for t in range(thresholds.shape[1]):
            node = 0
            while node < splits:
                first, second = split_pixels[c, t, node, 0], split_pixels[c, t, node, 1]
                node = 2 * node + (1 if values[first] - values[second] > thresholds[c, t, node] else 2)
            leaf = leaves[c, t, node - splits]
            for i in range(shape.shape[0]):
                shape[i, 0] += leaf[i, 0]
                shape[i, 1] += leaf[i, 1]
    return shape
