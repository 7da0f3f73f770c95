"""dlib's shape predictor: face landmarks from a face box by a cascade of regression forests.

The ensemble of regression trees of Kazemi and Sullivan (CVPR 2014), as dlib's
``shape_predictor`` runs it (``dlib/image_processing/shape_predictor.h``). The shape
starts as the mean shape placed in the face box; each of C cascades samples F grey
pixels at points attached to the current shape, and each of its T trees compares
pairs of those pixels down to a leaf whose shape update is added. Arithmetic follows
dlib so that the landmarks come out identical: shapes and updates in float32, added
one tree after the other; the similarity transform from the mean shape to the current
one fitted in float64 and used in float32; sample points rounded to the nearest pixel
(0 outside the image); grey = (R + G + B) // 3 (dlib's ``get_pixel_intensity``); the
final points rounded to whole pixels, as dlib's ``point``. The cascades run compiled
(:func:`cnnkit.face._shape_kernels.shape_predict`).

With the weights of ``shape_predictor_5_face_landmarks.dat`` (the
``"dlib-shape-predictor-5"`` entry of :mod:`cnnkit.weights`) it gives dlib's 5 points:
outer and inner corner of the eye on the image's right, outer and inner corner of the
eye on the image's left, below the nose: what :func:`cnnkit.face.align.align_face`
aligns on. That model was trained on boxes of dlib's face detectors;
:func:`dlib_box_from_mtcnn` maps an MTCNN detection to such a box.
"""
import math

import numpy as np

from cnnkit.data.images import as_uint8_image
from cnnkit.face import _shape_kernels as _kernels

__all__ = ["ShapePredictor", "dlib_box_from_mtcnn", "MTCNN_TO_DLIB_BOX", "STATE_KEYS"]

#: The arrays a :class:`ShapePredictor` is built from (see
#: :func:`cnnkit.io.dlib_shape_predictor.load_dlib_shape_predictor`).
STATE_KEYS = ("initial_shape", "split_pixels", "split_thresholds", "leaf_values", "anchor_points", "pixel_deltas")


def _round(x):
    """dlib's conversion of a float coordinate to an integer pixel: floor(x + 0.5)."""
    return np.floor(x + 0.5)


class ShapePredictor:
    """A cascade of regression forests that places P landmarks in a face box.

    Parameters
    ----------
    state : dict of str -> ndarray
        The arrays of :data:`STATE_KEYS`, with C cascades of T complete trees of
        depth D, P points and F feature pixels: ``initial_shape`` (P, 2),
        ``split_pixels`` (C, T, 2**D - 1, 2) int, ``split_thresholds`` (C, T, 2**D - 1),
        ``leaf_values`` (C, T, 2**D, P, 2), ``anchor_points`` (C, F) int,
        ``pixel_deltas`` (C, F, 2).

    Examples
    --------
    >>> predictor = ShapePredictor.pretrained()                 # doctest: +SKIP
    >>> predictor.predict(image, (184, 150, 339, 305))          # doctest: +SKIP
    array([[304., 190.], [281., 193.], [216., 195.], [242., 194.], [271., 242.]])
    """

    def __init__(self, state):
        missing = [key for key in STATE_KEYS if key not in state]
        if missing:
            raise ValueError(f"ShapePredictor: the state lacks {missing}; it needs {list(STATE_KEYS)}")
        self.initial_shape = np.asarray(state["initial_shape"], dtype=np.float32)
        self.split_pixels = np.ascontiguousarray(state["split_pixels"], dtype=np.int64)
        self.split_thresholds = np.ascontiguousarray(state["split_thresholds"], dtype=np.float32)
        self.leaf_values = np.ascontiguousarray(state["leaf_values"], dtype=np.float32)
        self.anchor_points = np.ascontiguousarray(state["anchor_points"], dtype=np.int64)
        self.pixel_deltas = np.ascontiguousarray(state["pixel_deltas"], dtype=np.float32)
        P = len(self.initial_shape)
        C, T, S = self.split_thresholds.shape if self.split_thresholds.ndim == 3 else (-1, -1, -1)
        F = self.anchor_points.shape[1] if self.anchor_points.ndim == 2 else -1
        depth = int(math.log2(S + 1)) if S >= 0 else -1
        shapes = {"initial_shape": (self.initial_shape.shape, (P, 2)),
                  "split_pixels": (self.split_pixels.shape, (C, T, S, 2)),
                  "leaf_values": (self.leaf_values.shape, (C, T, S + 1, P, 2)),
                  "anchor_points": (self.anchor_points.shape, (C, F)),
                  "pixel_deltas": (self.pixel_deltas.shape, (C, F, 2))}
        wrong = {key: found for key, (found, expected) in shapes.items() if found != expected}
        if C < 0 or F < 0 or P < 1 or 2 ** depth != S + 1 or wrong:
            raise ValueError(f"ShapePredictor: inconsistent shapes: split_thresholds "
                             f"{self.split_thresholds.shape} (C, T, 2**D - 1), anchor_points "
                             f"{self.anchor_points.shape} (C, F), initial_shape {self.initial_shape.shape} "
                             f"(P, 2); mismatched: {wrong}")
        if self.split_pixels.size and not 0 <= self.split_pixels.min() <= self.split_pixels.max() < F:
            raise ValueError(f"ShapePredictor: split pixel indices must lie in [0, {F}), found "
                             f"[{self.split_pixels.min()}, {self.split_pixels.max()}]")
        if self.anchor_points.size and not 0 <= self.anchor_points.min() <= self.anchor_points.max() < P:
            raise ValueError(f"ShapePredictor: anchor indices must lie in [0, {P}), found "
                             f"[{self.anchor_points.min()}, {self.anchor_points.max()}]")
        self.depth = depth

    @classmethod
    def pretrained(cls, source=None):
        """dlib's 5-point face landmark model.

        Parameters
        ----------
        source : str or os.PathLike, optional
            A ``shape_predictor_5_face_landmarks.dat`` file; by default the
            ``"dlib-shape-predictor-5"`` entry of :mod:`cnnkit.weights` (fetched on first use).
        """
        if source is None:
            from cnnkit import weights

            return cls(weights.load("dlib-shape-predictor-5"))
        from cnnkit.io.dlib_shape_predictor import load_dlib_shape_predictor

        return cls(load_dlib_shape_predictor(source))

    @property
    def num_parts(self):
        """The number of landmarks P."""
        return len(self.initial_shape)

    def predict(self, image, box):
        """The landmarks of the object in ``box``, as dlib's ``shape_predictor(image, rect)``.

        Parameters
        ----------
        image : ndarray, shape (H, W, 3) or (H, W)
            RGB or grey pixels, uint8 or floats in [0, 1]; RGB is read as (R + G + B) // 3.
        box : sequence of 4 numbers
            ``(left, top, right, bottom)`` in pixels, right and bottom inclusive
            (dlib's ``rectangle``); rounded to whole pixels first, as dlib's
            rectangle holds integers.

        Returns
        -------
        ndarray of float64, shape (P, 2)
            (x, y) of each landmark, whole pixels as dlib returns them.
        """
        image = _check_image(image)
        box = np.asarray(box, dtype=np.float64)
        if box.shape != (4,) or not np.isfinite(box).all():
            raise ValueError(f"predict: box must be 4 finite numbers (left, top, right, bottom), got {box!r}")
        left, top, right, bottom = _round(box)
        origin, size = np.array([left, top]), np.array([right - left, bottom - top])
        planes = np.ascontiguousarray(image if image.ndim == 3 else image[..., None])
        shape = _kernels.shape_predict(planes, origin, size, self.initial_shape, self.pixel_deltas,
                                       self.anchor_points, self.split_pixels, self.split_thresholds,
                                       self.leaf_values)
        return _round(origin + shape.astype(np.float64) * size)


def _check_image(image):
    """``image`` as uint8 (floats in [0, 1] are scaled), or a ValueError unless it is RGB (H, W, 3) or grey (H, W)."""
    image = as_uint8_image(image, "predict: image")
    if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise ValueError(f"predict: image must be uint8 (H, W, 3) RGB or (H, W) grey, got shape {image.shape} "
                         f"and dtype {image.dtype}")
    return image


#: A dlib HOG face box from an MTCNN box (x1, y1, x2, y2) of width w and height h: a
#: square of side ``SIDE * w`` centred at the MTCNN box's centre moved by
#: ``(DX * w, DY * h)``. MTCNN boxes reach from the brows to the chin and are taller than
#: wide; dlib's are square, from the forehead to the chin. The three numbers are the means
#: over the 14 faces of tests/data/named_faces (dlib boxes in its faces.csv,
#: cnnkit's MTCNN detections); with them, leave-one-out, the shape predictor's points are
#: within 3 px of dlib's own. dlib's boxes are themselves quantised (pyramid levels 6/5
#: apart, positions on an 8-cell grid), so no mapping matches them exactly.
MTCNN_TO_DLIB_BOX = {"DX": 0.0084, "DY": 0.0753, "SIDE": 1.1006}


def dlib_box_from_mtcnn(box):
    """A dlib-like face box (what the 5-point model was trained on) from an MTCNN box.

    Parameters
    ----------
    box : sequence of 4 numbers
        MTCNN's ``(x1, y1, x2, y2)`` in pixels (the ``"box"`` of
        :func:`cnnkit.face.mtcnn.detect_faces`).

    Returns
    -------
    ndarray of float64, shape (4,)
        ``(left, top, right, bottom)``, a square (see :data:`MTCNN_TO_DLIB_BOX`).
    """
    box = np.asarray(box, dtype=np.float64)
    if box.shape != (4,) or not np.isfinite(box).all() or box[2] <= box[0] or box[3] <= box[1]:
        raise ValueError(f"dlib_box_from_mtcnn: box must be (x1, y1, x2, y2) with x2 > x1 and y2 > y1, got {box!r}")
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    cx = (x1 + x2) / 2 + MTCNN_TO_DLIB_BOX["DX"] * w
    cy = (y1 + y2) / 2 + MTCNN_TO_DLIB_BOX["DY"] * h
    half = MTCNN_TO_DLIB_BOX["SIDE"] * w / 2
    return np.array([cx - half, cy - half, cx + half, cy + half])
