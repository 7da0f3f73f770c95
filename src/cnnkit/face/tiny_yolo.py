"""Face detection with face-api.js's pretrained tiny YOLO, through the course's YOLO functions.

The pipeline is the course's, on a real network's real output:

1. :func:`cnnkit.models.tiny_face_detector.preprocess`: face-api's letterbox and normalisation;
2. the network (``models.get_model("tiny_face_detector", pretrained=True)``) -> raw (1, S/32, S/32, 25);
3. :func:`cnnkit.detection.decode` with the 5 anchors and no class logits -> corner boxes
   as fractions of the network input, objectness (sigmoid) and class probabilities (1);
4. the boxes as the course's ``(box_xy, box_wh)`` fractions of the image (face-api's
   letterbox correction), then :func:`cnnkit.detection.yolo_eval`:
   ``yolo_boxes_to_corners``, ``yolo_filter_boxes`` (score = objectness, kept when at
   least ``score_threshold``), scaling to pixels and ``yolo_non_max_suppression`` over all
   boxes at IoU ``iou_threshold`` (face-api's 0.4).

With the same weights, input size and thresholds, the boxes and scores are face-api's
(``TinyFaceDetector.locateFaces``); the tests check them against face-api itself.
"""
import numpy as np

from cnnkit.autograd.tensor import no_grad
from cnnkit.detection import decode, yolo_eval
from cnnkit.models.tiny_face_detector import ANCHORS, letterbox_scale, preprocess

__all__ = ["TinyYoloFaceDetector", "detect_faces_tiny_yolo", "default_tiny_yolo", "raw_to_course_outputs"]

#: face-api's ``IOU_THRESHOLD`` for the tiny face detector.
IOU_THRESHOLD = 0.4


def raw_to_course_outputs(raw, image_shape, input_size, anchors=ANCHORS):
    """The network's raw output as the course's ``(box_xy, box_wh, box_confidence, box_class_probs)``.

    Parameters
    ----------
    raw : ndarray, shape (1, G, G, 25)
        The head's output for one image.
    image_shape : (int, int)
        ``(height, width)`` of the original image.
    input_size : int
        The side S of the network's input.
    anchors : array_like, shape (5, 2), default :data:`ANCHORS`
        In grid cells.

    Returns
    -------
    box_xy, box_wh : ndarray, shape (G, G, 5, 2)
        Centres and sizes as fractions of the image's width and height.
    box_confidence : ndarray, shape (G, G, 5, 1)
    box_class_probs : ndarray, shape (G, G, 5, 1)
        All 1: a single class, faces.
    """
    boxes, objectness, class_probs = decode(raw, anchors, 0, (1.0, 1.0))
    boxes = boxes[0] * np.tile(np.asarray(letterbox_scale(*image_shape, input_size), dtype=boxes.dtype), 2)
    box_xy, box_wh = (boxes[..., :2] + boxes[..., 2:]) / 2, boxes[..., 2:] - boxes[..., :2]
    return box_xy, box_wh, objectness[0][..., None], class_probs[0]


class TinyYoloFaceDetector:
    """face-api's tiny face detector around a :class:`~cnnkit.models.tiny_face_detector.TinyFaceDetector`.

    Parameters
    ----------
    model : TinyFaceDetector, optional
        The pretrained network (fetched on first use) by default; a fine-tuned one works the same.
    input_size : int, default 416
        The network's input side, a multiple of 32: larger finds smaller faces, slower.
    """

    def __init__(self, model=None, input_size=416):
        if model is None:
            from cnnkit.models import get_model

            model = get_model("tiny_face_detector", pretrained=True).eval()
        self.model, self.input_size = model, int(input_size)

    def raw(self, image):
        """The network's raw output (1, S/32, S/32, 25) for an RGB uint8 image."""
        with no_grad():
            return self.model(preprocess(image, self.input_size)).numpy()

    def detect(self, image, score_threshold=0.5, iou_threshold=IOU_THRESHOLD, max_faces=100, clip=True):
        """Faces in an RGB image; see :func:`detect_faces_tiny_yolo`."""
        if not 0 <= score_threshold <= 1 or not 0 <= iou_threshold <= 1:
            raise ValueError(f"score_threshold and iou_threshold must be in [0, 1], got {score_threshold} and "
                             f"{iou_threshold}")
        image = np.asarray(image)
        raw = self.raw(image)
        H, W = image.shape[:2]
        scores, boxes, _ = yolo_eval(raw_to_course_outputs(raw, (H, W), self.input_size), image_shape=(H, W),
                                     max_boxes=max_faces, score_threshold=score_threshold,
                                     iou_threshold=iou_threshold, per_class=False)
        boxes = boxes[:, [1, 0, 3, 2]]  # the course's (y1, x1, y2, x2) -> (x1, y1, x2, y2)
        if clip:
            boxes = np.clip(boxes, 0, [W - 1, H - 1, W - 1, H - 1])
        return [{"box": tuple(float(v) for v in box), "score": float(score)} for box, score in zip(boxes, scores)]


_detector = None


def default_tiny_yolo():
    """The pretrained :class:`TinyYoloFaceDetector` at input size 416, loaded on first call."""
    global _detector
    if _detector is None:
        _detector = TinyYoloFaceDetector()
    return _detector


def detect_faces_tiny_yolo(image, score_threshold=0.5, iou_threshold=IOU_THRESHOLD, input_size=416, max_faces=100,
                           clip=True, detector=None):
    """Find faces with face-api.js's tiny YOLO face detector.

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W, 3)
        RGB pixels.
    score_threshold : float, default 0.5
        Objectness a box needs (face-api's default).
    iou_threshold : float, default 0.4
        Boxes overlapping a better one by more are suppressed (face-api's value).
    input_size : int, default 416
        The network's input side (a multiple of 32), as face-api's ``inputSize``.
    max_faces : int, default 100
    clip : bool, default True
        Clip boxes to the image, as the other detectors do; False keeps them as the
        network predicts them (face-api does not clip).
    detector : TinyYoloFaceDetector, optional
        The pretrained one by default (its own input size is then used).

    Returns
    -------
    list of dict, by descending score
        ``"box"``: ``(x1, y1, x2, y2)`` floats in pixels; ``"score"``: the objectness.
        Empty when no face is found.
    """
    if detector is None:
        detector = default_tiny_yolo() if input_size == 416 else TinyYoloFaceDetector(default_tiny_yolo().model,
                                                                                      input_size)
    return detector.detect(image, score_threshold, iou_threshold, max_faces, clip)
