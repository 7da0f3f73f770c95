"""The course's YOLO post-processing (deeplearning.ai Course 4, week 3), function by function.

The course reads a YOLOv2 output of S x S cells with B anchors each as
``box_xy``, ``box_wh`` (centres and sizes as fractions of the image),
``box_confidence`` and ``box_class_probs``, then:

1. :func:`yolo_boxes_to_corners`: centres and sizes to corners ``(y1, x1, y2, x2)``, y first;
2. :func:`yolo_filter_boxes`: keep boxes whose best class score reaches a threshold;
3. :func:`scale_boxes`: fractions of the image to pixels;
4. :func:`yolo_non_max_suppression`: drop boxes overlapping a better one;

and :func:`yolo_eval` chains the four. The trainable head of
:mod:`cnnkit.detection.yolo` decodes its own layout with ``decode`` and
``postprocess`` in ``(x1, y1, x2, y2)`` pixels instead.
"""
import numpy as np

from cnnkit.detection.boxes import as_float_array, check_last_axis
from cnnkit.detection.nms import batched_nms, nms


def yolo_boxes_to_corners(box_xy, box_wh):
    """The course's conversion of YOLO centres and sizes to ``(y_min, x_min, y_max, x_max)``.

    Parameters
    ----------
    box_xy : array_like, shape (..., 2)
        Box centres ``(x, y)``, e.g. (19, 19, 5, 2).
    box_wh : array_like, shape (..., 2)
        Box sizes ``(w, h)``, the shape of ``box_xy``.

    Returns
    -------
    ndarray, shape (..., 4)
        ``(y_min, x_min, y_max, x_max)`` on the last axis: y first, as the
        course (and TensorFlow's ``non_max_suppression``) order them.
    """
    box_xy, box_wh = as_float_array(box_xy, "box_xy"), as_float_array(box_wh, "box_wh")
    if box_xy.shape != box_wh.shape or box_xy.shape[-1:] != (2,):
        raise ValueError(f"box_xy and box_wh must both have shape (..., 2), got {box_xy.shape} and {box_wh.shape}")
    mins, maxes = box_xy - box_wh / 2, box_xy + box_wh / 2
    return np.stack([mins[..., 1], mins[..., 0], maxes[..., 1], maxes[..., 0]], axis=-1)


def scale_boxes(boxes, image_shape):
    """Scale the course's normalised ``(y1, x1, y2, x2)`` boxes to pixels of an image (height, width).

    Parameters
    ----------
    boxes : array_like, shape (..., 4)
        Coordinates as fractions of the image, y first.
    image_shape : pair of float
        ``(height, width)`` of the image.

    Returns
    -------
    ndarray, shape (..., 4), ``boxes * (height, width, height, width)``
    """
    boxes = check_last_axis(boxes, "boxes")
    if len(image_shape) != 2:
        raise ValueError(f"image_shape must be (height, width), got {image_shape}")
    height, width = image_shape
    return boxes * np.asarray([height, width, height, width], dtype=boxes.dtype)


def yolo_filter_boxes(box_confidence, boxes, box_class_probs, threshold=0.6):
    """The course's score filter: keep boxes whose best class score reaches ``threshold``.

    Parameters
    ----------
    box_confidence : array_like, shape (S, S, B, 1)
        Objectness of each anchor box (any leading shape works).
    boxes : array_like, shape (S, S, B, 4)
        Boxes in any corner order; passed through (the course uses ``(y1, x1, y2, x2)``).
    box_class_probs : array_like, shape (S, S, B, C)
    threshold : float, default 0.6
        Kept when ``confidence * best class probability >= threshold``.

    Returns
    -------
    scores : ndarray, shape (K,)
    boxes : ndarray, shape (K, 4)
    classes : ndarray of int64, shape (K,)
        In row-major order of the kept anchors.
    """
    box_confidence = as_float_array(box_confidence, "box_confidence")
    boxes = as_float_array(boxes, "boxes")
    box_class_probs = as_float_array(box_class_probs, "box_class_probs")
    lead = box_class_probs.shape[:-1]
    if box_confidence.shape != lead + (1,) or boxes.shape != lead + (4,):
        raise ValueError(f"yolo_filter_boxes needs shapes (..., 1), (..., 4), (..., C) with equal leading axes, "
                         f"got {box_confidence.shape}, {boxes.shape}, {box_class_probs.shape}")
    box_scores = box_confidence * box_class_probs
    classes = box_scores.argmax(axis=-1)
    scores = box_scores.max(axis=-1)
    keep = scores >= threshold
    return scores[keep], boxes[keep], classes[keep].astype(np.int64)


def yolo_non_max_suppression(scores, boxes, classes, max_boxes=10, iou_threshold=0.5, per_class=True):
    """The course's NMS step on filtered boxes.

    Parameters
    ----------
    scores : array_like, shape (K,)
    boxes : array_like, shape (K, 4)
        Corner boxes in either order (the course's ``(y1, x1, y2, x2)``).
    classes : array_like of int, shape (K,)
    max_boxes : int, default 10
        In total.
    iou_threshold : float, default 0.5
    per_class : bool, default True
        Suppress only within a class (``batched_nms``). The course's TensorFlow
        version calls ``tf.image.non_max_suppression`` on all boxes at once:
        ``per_class=False`` does that.

    Returns
    -------
    scores, boxes, classes : ndarray
        The kept entries, by descending score.
    """
    scores, boxes, classes = as_float_array(scores, "scores"), as_float_array(boxes, "boxes"), np.asarray(classes)
    keep = (batched_nms(boxes, scores, classes, iou_threshold, max_boxes) if per_class
            else nms(boxes, scores, iou_threshold, max_boxes))
    return scores[keep], boxes[keep], classes[keep]


def yolo_eval(outputs, image_shape=(720.0, 1280.0), max_boxes=10, score_threshold=0.6, iou_threshold=0.5,
              per_class=True):
    """The course's ``yolo_eval``: corners, score filter, scaling to the image, NMS.

    Parameters
    ----------
    outputs : tuple of array_like
        ``(box_xy, box_wh, box_confidence, box_class_probs)`` of shapes
        (S, S, B, 2), (S, S, B, 2), (S, S, B, 1), (S, S, B, C); centres and
        sizes as fractions of the image.
    image_shape : (height, width), default (720., 1280.)
    max_boxes : int, default 10
    score_threshold : float, default 0.6
    iou_threshold : float, default 0.5
    per_class : bool, default True
        See ``yolo_non_max_suppression``.

    Returns
    -------
    scores : ndarray, shape (K,)
    boxes : ndarray, shape (K, 4)
        ``(y1, x1, y2, x2)`` in pixels, as in the course.
    classes : ndarray of int64, shape (K,)
    """
    box_xy, box_wh, box_confidence, box_class_probs = outputs
    boxes = yolo_boxes_to_corners(box_xy, box_wh)
    scores, boxes, classes = yolo_filter_boxes(box_confidence, boxes, box_class_probs, score_threshold)
    boxes = scale_boxes(boxes, image_shape)
    return yolo_non_max_suppression(scores, boxes, classes, max_boxes, iou_threshold, per_class)
