"""MTCNN face detection (Zhang et al. 2016): the cascade that runs the zoo's ``mtcnn_pnet``, ``mtcnn_rnet`` and
``mtcnn_onet`` (:mod:`cnnkit.models.mtcnn`, weights of PyPI ``mtcnn==1.0.0``) over an image.

Three cascaded networks, as the ``mtcnn`` package runs them:

1. **P-Net** is fully convolutional: run over a pyramid of the whole image (scales
   ``12 / min_size * 0.709**k`` while the shorter side stays >= 12 pixels), each cell of
   its output map is a 12x12 window at stride 2 of that scale: the course's
   convolutional sliding windows, every window classified in one pass. Windows above
   the first threshold become boxes (with their regression applied), NMS at IoU 0.5
   within each scale, then 0.7 across scales.
2. **R-Net** re-scores 24x24 crops of the squared boxes and regresses them again;
   NMS at 0.7.
3. **O-Net** does the same on 48x48 crops and adds 5 landmarks; NMS at 0.7 on the
   overlap divided by the smaller box ("min").

Preprocessing is mtcnn 1.0.0's: RGB pixels to ``(x - 127.5) / 128``, the pyramid
resized with area averaging (TensorFlow's ``AREA``, :func:`cnnkit.data.images.resize`), crops
sampled bilinearly as its ``tf.image.crop_and_resize`` call does (0 -- mid grey -- outside the
image). One deliberate difference: NMS here is the greedy algorithm of the original MTCNN, where
1.0.0 uses a matrix form that also lets suppressed boxes suppress others.

Landmark order (``mtcnn``'s): the eye on the image's left (the person's right
eye), the eye on the image's right, the nose tip, the mouth corner on the image's
left, the mouth corner on the image's right; eye *centres*, unlike dlib's
5-point model, which marks eye corners and the base of the nose
(:func:`dlib_landmarks` converts).
"""
import math

import numpy as np

from cnnkit import nn
from cnnkit.autograd.tensor import no_grad
from cnnkit.data.images import resize
from cnnkit.data.images import as_uint8_image
from cnnkit.detection.nms import nms
from cnnkit.face.align import FIVE_POINT_TEMPLATE, similarity_transform
from cnnkit.models import get_model
from cnnkit.nn.module import resolve_rng

__all__ = ["MTCNN", "detect_faces", "default_detector", "image_pyramid_scales",
           "crop_and_resize", "MTCNN_TEMPLATE", "dlib_landmarks"]

#: Where MTCNN's 5 points fall in dlib's unit-square face template (same frame as
#: :data:`cnnkit.face.align.FIVE_POINT_TEMPLATE`): eye centres are the means of dlib's
#: eye-corner points; the nose tip (point 30) and mouth corners (48, 54) come from
#: dlib's 68-point mean face shape, which the 5-point template was cut from.
MTCNN_TEMPLATE = np.array([FIVE_POINT_TEMPLATE[2:4].mean(axis=0),
                           FIVE_POINT_TEMPLATE[0:2].mean(axis=0),
                           [0.490127, 0.515625],
                           [0.254149, 0.780233],
                           [0.726104, 0.780233]])

_PNET_STRIDE, _PNET_CELL = 2, 12
_NMS_PNET_SCALE, _NMS_PNET, _NMS_RNET, _NMS_ONET = 0.5, 0.7, 0.7, 0.7
_CHUNK = 256  # crops per R-Net/O-Net batch: bounds the memory of the first convolution


def image_pyramid_scales(height, width, min_size=20, factor=0.709):
    """The scales at which P-Net's 12x12 window sees faces of ``min_size`` pixels and larger.

    Parameters
    ----------
    height, width : int
    min_size : float, default 20
        Smallest face side to find, in pixels; the first scale is ``12 / min_size``.
    factor : float, default 0.709
        Ratio between consecutive scales (about 1/sqrt(2): the area halves).

    Returns
    -------
    list of float
        ``12 / min_size * factor**k`` for every k whose scaled shorter side is at least 12.
    """
    if min_size <= 0 or not 0 < factor < 1:
        raise ValueError(f"min_size must be > 0 and factor in (0, 1), got {min_size!r} and {factor!r}")
    scales, scale = [], _PNET_CELL / min_size
    while min(height, width) * scale >= _PNET_CELL:
        scales.append(scale)
        scale *= factor
    return scales


def crop_and_resize(image, boxes, size):
    """Bilinear crops of boxes resized to ``size x size``, as mtcnn 1.0.0 calls ``tf.image.crop_and_resize``.

    Sample j of a crop of box ``(x1, y1, x2, y2)`` lies at
    ``(x1 + j (x2 - x1) / (size - 1)) (W - 1) / W`` (and likewise in y): the package
    divides pixel boxes by W and H, and TensorFlow maps [0, 1] onto [0, W - 1].
    Rows or columns that fall outside the image are 0.

    Parameters
    ----------
    image : ndarray, shape (H, W, C)
    boxes : ndarray, shape (K, 4)
        ``(x1, y1, x2, y2)`` in pixels.
    size : int
        Side of the crops, >= 2.

    Returns
    -------
    ndarray, shape (K, size, size, C), the image's dtype
    """
    H, W = image.shape[:2]
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    t = np.arange(size) / (size - 1)
    xs = (boxes[:, 0:1] + t * (boxes[:, 2:3] - boxes[:, 0:1])) * ((W - 1) / W)  # (K, size)
    ys = (boxes[:, 1:2] + t * (boxes[:, 3:4] - boxes[:, 1:2])) * ((H - 1) / H)
    x0, y0 = np.floor(xs), np.floor(ys)
    fx, fy = (xs - x0).astype(image.dtype), (ys - y0).astype(image.dtype)
    x0, y0 = np.clip(x0, 0, W - 1).astype(np.int64), np.clip(y0, 0, H - 1).astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, W - 1), np.minimum(y0 + 1, H - 1)
    # (K, size, 1) rows against (K, 1, size) columns: every sample of every crop in one gather
    top = image[y0[:, :, None], x0[:, None, :]] * (1 - fx[:, None, :, None]) \
        + image[y0[:, :, None], x1[:, None, :]] * fx[:, None, :, None]
    bottom = image[y1[:, :, None], x0[:, None, :]] * (1 - fx[:, None, :, None]) \
        + image[y1[:, :, None], x1[:, None, :]] * fx[:, None, :, None]
    crops = top * (1 - fy[:, :, None, None]) + bottom * fy[:, :, None, None]
    inside = ((ys >= 0) & (ys <= H - 1))[:, :, None] & ((xs >= 0) & (xs <= W - 1))[:, None, :]
    return np.where(inside[..., None], crops, 0).astype(image.dtype)


def _nms_min(boxes, scores, threshold):
    """Greedy NMS on intersection over the smaller area (MTCNN's last stage); kept indices by score."""
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    order, keep = np.argsort(-scores, kind="stable"), []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        sides = np.clip(np.minimum(boxes[best, 2:], boxes[rest, 2:]) - np.maximum(boxes[best, :2], boxes[rest, :2]),
                        0, None)
        smaller = np.minimum(area[best], area[rest])
        overlap = np.divide(sides[:, 0] * sides[:, 1], smaller, out=np.zeros(len(rest)), where=smaller > 0)
        order = rest[overlap <= threshold]
    return np.asarray(keep, dtype=np.int64)


def _square(boxes):
    """Boxes (K, 4) grown to squares of their longer side about the same centre."""
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    return np.concatenate([centre - side[:, None] / 2, centre + side[:, None] / 2], axis=1)


def _regress(boxes, offsets):
    """Apply box offsets (K, 4), fractions of each box's side (mtcnn's ``w = x2 - x1 + 1``)."""
    sides = np.stack([boxes[:, 2] - boxes[:, 0] + 1, boxes[:, 3] - boxes[:, 1] + 1], axis=1)
    return boxes + offsets * np.tile(sides, 2)


def _proposals(reg, prob, scale, threshold):
    """P-Net's output map at one scale -> boxes (K, 4) in image pixels and scores (K,)."""
    ys, xs = np.nonzero(prob > threshold)
    # each output cell is the 12x12 window at (stride x + 1, stride y + 1) of the scaled image
    corners = np.stack([xs, ys, xs, ys], axis=1) * _PNET_STRIDE + np.array([1, 1, _PNET_CELL, _PNET_CELL])
    boxes = corners + reg[ys, xs] * (_PNET_CELL - 1)
    return boxes / scale, prob[ys, xs]


class MTCNN(nn.Module):
    """The cascade: the zoo's three MTCNN networks, the image pyramid, NMS and box calibration.

    A container of ``get_model("mtcnn_pnet")``, ``"mtcnn_rnet"`` and
    ``"mtcnn_onet"``; its state dict keys are those of the ``"mtcnn"`` weights
    entry: ``pnet.conv1.weight`` (3, 3, 3, 10) HWIO, ``pnet.prelu1.weight`` (10,),
    ..., ``onet.fc6_3.bias`` (2,).

    Parameters
    ----------
    pretrained : bool, default False
        Load mtcnn 1.0.0's weights (the ``mtcnn`` entry of :mod:`cnnkit.weights`,
        fetched on first use); random ones otherwise.
    dtype : dtype, optional
    rng : numpy.random.Generator or int, optional

    Examples
    --------
    >>> detector = MTCNN.pretrained()                    # doctest: +SKIP
    >>> faces = detector.detect(image)                   # doctest: +SKIP
    """

    def __init__(self, pretrained=False, dtype=None, rng=None):
        super().__init__()
        rng = resolve_rng(rng)
        self.pnet, self.rnet, self.onet = (get_model(f"mtcnn_{net}", pretrained=pretrained, dtype=dtype, rng=rng)
                                           for net in ("pnet", "rnet", "onet"))

    @classmethod
    def pretrained(cls):
        """The cascade with mtcnn 1.0.0's weights, in evaluation mode."""
        return cls(pretrained=True).eval()

    def _run(self, net, crops):
        """Run R-Net or O-Net on crops in chunks; each output as a NumPy array."""
        outputs = []
        with no_grad():
            for start in range(0, len(crops), _CHUNK):
                outputs.append([o.data for o in net(crops[start:start + _CHUNK])])
        return [np.concatenate(parts) for parts in zip(*outputs)]

    def propose(self, image, min_size=20, threshold=0.6, factor=0.709):
        """Stage 1: P-Net over the image pyramid.

        Parameters
        ----------
        image : ndarray of float32, shape (H, W, 3)
            Normalised pixels ``(x - 127.5) / 128``.
        min_size, factor : see :func:`image_pyramid_scales`
        threshold : float
            Face probability above which a window is kept.

        Returns
        -------
        boxes : ndarray, shape (K, 4)
            Regressed, then squared; image pixels ``(x1, y1, x2, y2)``.
        scores : ndarray, shape (K,)
        """
        H, W = image.shape[:2]
        all_boxes, all_scores = [np.zeros((0, 4))], [np.zeros(0)]
        for scale in image_pyramid_scales(H, W, min_size, factor):
            scaled = resize(image, (int(math.ceil(H * scale)), int(math.ceil(W * scale))), method="area")
            with no_grad():
                reg, prob = self.pnet(scaled[None])
            boxes, scores = _proposals(reg.data[0], prob.data[0], scale, threshold)
            keep = nms(boxes, scores, _NMS_PNET_SCALE) if len(boxes) else np.zeros(0, dtype=np.int64)
            all_boxes.append(boxes[keep])
            all_scores.append(scores[keep])
        boxes, scores = np.concatenate(all_boxes), np.concatenate(all_scores)
        keep = nms(boxes, scores, _NMS_PNET) if len(boxes) else np.zeros(0, dtype=np.int64)
        return _square(boxes[keep]), scores[keep]

    def refine(self, image, boxes, threshold=0.7):
        """Stage 2: R-Net on 24x24 crops of ``boxes``; returns regressed, squared boxes (K, 4) and scores (K,)."""
        if not len(boxes):
            return boxes, np.zeros(0)
        offsets, scores = self._run(self.rnet, crop_and_resize(image, boxes, 24))
        boxes = _regress(boxes, offsets)
        kept = scores > threshold
        boxes, scores = boxes[kept], scores[kept]
        keep = nms(boxes, scores, _NMS_RNET) if len(boxes) else np.zeros(0, dtype=np.int64)
        return _square(boxes[keep]), scores[keep]

    def output(self, image, boxes, threshold=0.7):
        """Stage 3: O-Net on 48x48 crops; returns boxes (K, 4), scores (K,) and landmarks (K, 5, 2)."""
        if not len(boxes):
            return boxes, np.zeros(0), np.zeros((0, 5, 2))
        offsets, points, scores = self._run(self.onet, crop_and_resize(image, boxes, 48))
        sides = np.stack([boxes[:, 2] - boxes[:, 0] + 1, boxes[:, 3] - boxes[:, 1] + 1], axis=1)  # (K, 2)
        # (K, 10) = (x1..x5, y1..y5) fractions of the crop -> (K, 5, 2) pixels; mtcnn's "- 1"
        landmarks = points.reshape(-1, 2, 5).transpose(0, 2, 1) * sides[:, None, :] + boxes[:, None, :2] - 1
        boxes = _regress(boxes, offsets)
        kept = scores > threshold
        boxes, scores, landmarks = boxes[kept], scores[kept], landmarks[kept]
        keep = _nms_min(boxes, scores, _NMS_ONET)
        return boxes[keep], scores[keep], landmarks[keep]

    def detect(self, image, min_size=20, thresholds=(0.6, 0.7, 0.7), factor=0.709):
        """Faces in an RGB image; see :func:`detect_faces`."""
        image = _check_image(image)
        if len(thresholds) != 3:
            raise ValueError(f"thresholds must be three probabilities (P-Net, R-Net, O-Net), got {thresholds!r}")
        H, W = image.shape[:2]
        normalised = (image.astype(np.float32) - np.float32(127.5)) / np.float32(128)
        boxes, _ = self.propose(normalised, min_size, thresholds[0], factor)
        boxes, _ = self.refine(normalised, boxes, thresholds[1])
        boxes, scores, landmarks = self.output(normalised, boxes, thresholds[2])
        boxes = np.clip(boxes, 0, [W - 1, H - 1, W - 1, H - 1])
        return [{"box": tuple(float(v) for v in box), "score": float(score), "landmarks": points.astype(np.float64)}
                for box, score, points in zip(boxes, scores, landmarks)]


def _check_image(image):
    """``image`` (uint8, or floats in [0, 1] as ``load_image`` gives) as RGB uint8 (H, W, 3), or a ValueError."""
    image = as_uint8_image(image, "detect_faces: image")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"detect_faces needs an RGB uint8 image of shape (H, W, 3), got shape {image.shape} and "
                         f"dtype {image.dtype}")
    return image


_detector = None


def default_detector():
    """The pretrained :class:`MTCNN`, loaded from the weights cache on first call."""
    global _detector
    if _detector is None:
        _detector = MTCNN.pretrained()
    return _detector


def detect_faces(image, min_size=20, thresholds=(0.6, 0.7, 0.7), factor=0.709, detector=None):
    """Find faces and their 5 landmarks with MTCNN.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3)
        RGB pixels: uint8, or floats in [0, 1] (as :func:`cnnkit.data.load_image` reads them).
    min_size : float, default 20
        Smallest face side to look for, in pixels.
    thresholds : (float, float, float), default (0.6, 0.7, 0.7)
        Face probability each of P-Net, R-Net and O-Net must exceed.
    factor : float, default 0.709
        Scale ratio between pyramid levels.
    detector : MTCNN, optional
        The pretrained networks by default.

    Returns
    -------
    list of dict, by descending score
        ``"box"``: ``(x1, y1, x2, y2)`` floats in pixels, clipped to the image;
        ``"score"``: O-Net's face probability; ``"landmarks"``: ndarray (5, 2) of
        (x, y): the eye on the image's left, the eye on the image's right, the nose
        tip, the mouth corner on the image's left, the one on the image's right.
        Empty when no face is found.
    """
    return (detector or default_detector()).detect(image, min_size, thresholds, factor)


def dlib_landmarks(landmarks):
    """dlib 5-point landmarks that align a face as MTCNN's 5 points do.

    The least-squares similarity transform from :data:`MTCNN_TEMPLATE` to the 5
    MTCNN points, applied to dlib's own template: handing the result to
    :func:`cnnkit.face.align.align_face` gives the chip that fitting MTCNN's points
    to their template positions would give.

    Parameters
    ----------
    landmarks : array_like, shape (5, 2)
        MTCNN's points (x, y) in its order (see :func:`detect_faces`).

    Returns
    -------
    ndarray of float64, shape (5, 2)
        In dlib's ``shape_predictor_5_face_landmarks`` order.
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.shape != (5, 2):
        raise ValueError(f"dlib_landmarks: MTCNN landmarks must be (5, 2), got shape {landmarks.shape}")
    A, t = similarity_transform(MTCNN_TEMPLATE, landmarks)
    return FIVE_POINT_TEMPLATE @ A.T + t
