"""Non-maximum suppression, class-agnostic and per class.

Works on corner boxes in either ``(x1, y1, x2, y2)`` or the course's
``(y1, x1, y2, x2)`` order (IoU does not change when x and y swap).
"""
import numpy as np

from cnnkit.detection.boxes import as_float_array, check_boxes, pairwise_iou


def _check_inputs(boxes, scores):
    """Validate ``boxes`` (M, 4) and ``scores`` (M,) and return them as arrays."""
    boxes = check_boxes(boxes, "boxes")
    scores = as_float_array(scores, "scores")
    if boxes.ndim != 2 or scores.shape != boxes.shape[:1]:
        raise ValueError(f"nms needs boxes of shape (M, 4) and scores of shape (M,), "
                         f"got {boxes.shape} and {scores.shape}")
    if np.isnan(scores).any():
        raise ValueError(f"scores contain NaN at indices {np.flatnonzero(np.isnan(scores))[:5].tolist()}")
    return boxes, scores


def _check_max_boxes(max_boxes):
    """Raise a ValueError unless ``max_boxes`` is None or a non-negative int."""
    if max_boxes is not None and (int(max_boxes) != max_boxes or max_boxes < 0):
        raise ValueError(f"max_boxes must be None or a non-negative integer, got {max_boxes!r}")


def _score_order(scores):
    """Indices by descending score; equal scores keep the lower index first (stable sort)."""
    return np.argsort(-scores, kind="stable")


def nms(boxes, scores, iou_threshold=0.5, max_boxes=None):
    """Greedy non-maximum suppression.

    The highest-scoring remaining box is kept and every remaining box whose IoU
    with it is greater than ``iou_threshold`` is dropped, until none remain or
    ``max_boxes`` are kept. Each step compares one kept box with all remaining
    boxes at once.

    Parameters
    ----------
    boxes : array_like, shape (M, 4)
        Corner boxes.
    scores : array_like, shape (M,)
        Confidence of each box; NaN is an error.
    iou_threshold : float, default 0.5
        A box is suppressed when its IoU with a kept box is strictly greater.
    max_boxes : int, optional
        Keep at most this many boxes (all by default).

    Returns
    -------
    ndarray of int64, shape (K,)
        Indices of the kept boxes in descending score order; equal scores are
        ordered by lower index first. Empty input gives an empty array.
    """
    boxes, scores = _check_inputs(boxes, scores)
    _check_max_boxes(max_boxes)
    limit = len(scores) if max_boxes is None else int(max_boxes)
    order = _score_order(scores)
    keep = []
    while order.size and len(keep) < limit:
        best, rest = order[0], order[1:]
        keep.append(best)
        overlap = pairwise_iou(boxes[best][None], boxes[rest])[0]
        order = rest[overlap <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(boxes, scores, classes, iou_threshold=0.5, max_boxes=None):
    """Non-maximum suppression within each class: boxes of different classes never suppress each other.

    Parameters
    ----------
    boxes : array_like, shape (M, 4)
    scores : array_like, shape (M,)
    classes : array_like of int, shape (M,)
    iou_threshold : float, default 0.5
        Suppress when the IoU with a kept box of the same class is greater.
    max_boxes : int, optional
        Keep at most this many boxes in total, the highest-scoring ones.

    Returns
    -------
    ndarray of int64, shape (K,)
        Indices of the kept boxes, all classes together, in descending score
        order (equal scores: lower index first).
    """
    boxes, scores = _check_inputs(boxes, scores)
    _check_max_boxes(max_boxes)
    classes = np.asarray(classes)
    if classes.shape != scores.shape:
        raise ValueError(f"classes must have shape {scores.shape}, like scores, got {classes.shape}")
    kept = [members[nms(boxes[members], scores[members], iou_threshold, max_boxes)]
            for members in (np.flatnonzero(classes == c) for c in np.unique(classes))]
    kept = np.sort(np.concatenate(kept)) if kept else np.zeros(0, dtype=np.int64)
    kept = kept[_score_order(scores[kept])]
    return kept if max_boxes is None else kept[:int(max_boxes)]
