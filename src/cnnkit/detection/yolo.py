"""The YOLO head: the layout of its output, decoding, and post-processing into detections.

What the head expects from a model
----------------------------------
A detector ends in a layer (typically a 1x1 ``Conv2d(in_channels, B * (5 + C), 1)``)
whose output ``raw`` has shape (N, GH, GW, B * (5 + C)), channels-last, on a
GH x GW grid over the image (row ``i`` runs down the image, column ``j`` across).
The channels of anchor ``b`` are ``raw[..., b * (5 + C) : (b + 1) * (5 + C)]`` =
``(tx, ty, tw, th, to, class logits...)``, decoded as

    centre x = (j + sigmoid(tx)) * cell_width      width  = anchor_w * exp(tw) * cell_width
    centre y = (i + sigmoid(ty)) * cell_height     height = anchor_h * exp(th) * cell_height
    objectness = sigmoid(to)                       class probabilities = softmax(class logits)

Anchors are an array (B, 2) of ``(width, height)`` **in grid cells** (YOLOv2's
convention): an anchor of 64 x 32 pixels on a 256-pixel image with an 8 x 8 grid
(32-pixel cells) is ``(2.0, 1.0)``. ``kmeans_anchors`` on pixel sizes, divided by
the cell size, gives them.

Training step::

    targets = encode_targets(boxes_list, classes_list, (GH, GW), anchors, C, image_size)  # NumPy, per batch
    loss = yolo_loss(model(images), targets, anchors)
    loss.backward()

Inference: ``postprocess(raw, anchors, C, image_size)`` -> per image
``{"boxes", "scores", "classes"}`` in pixels.

Training pieces live beside it: :mod:`cnnkit.detection.targets` (anchors,
target encoding), :mod:`cnnkit.detection.loss` (the loss) and
:mod:`cnnkit.detection.train` (training through ``cnnkit.train.fit``); the
course's ``yolo_*`` functions are in :mod:`cnnkit.detection.course`.

Box orders: the head, ``encode_targets``, ``decode`` and ``postprocess`` use
``(x1, y1, x2, y2)`` pixels; the course's ``yolo_filter_boxes``,
``yolo_non_max_suppression`` and ``yolo_eval`` pass through the course's
``(y1, x1, y2, x2)`` from ``yolo_boxes_to_corners``.
"""
import numpy as np

from cnnkit.detection.boxes import as_float_array
from cnnkit.detection.nms import batched_nms
from cnnkit.utils import pair

# exp(tw) of an untrained head can overflow; e**10 cells is already far beyond any image
_MAX_LOG_SIZE = 10.0


def check_anchors(anchors):
    """Check anchors and return them as a float array.

    Parameters
    ----------
    anchors : array_like, shape (B, 2)
        ``(width, height)`` in grid cells, positive and finite, B >= 1.

    Returns
    -------
    ndarray, shape (B, 2)
    """
    anchors = as_float_array(anchors, "anchors")
    if anchors.ndim != 2 or anchors.shape[1] != 2 or len(anchors) == 0:
        raise ValueError(f"anchors must have shape (B, 2) of (width, height), got {anchors.shape}")
    if not (np.isfinite(anchors).all() and (anchors > 0).all()):
        raise ValueError(f"anchors must be positive and finite, got {anchors.tolist()}")
    return anchors


def _split_channels(shape, num_anchors, num_classes):
    """Check a raw output shape (N, GH, GW, B * (5 + C)) and return (N, GH, GW)."""
    if len(shape) != 4 or shape[-1] != num_anchors * (5 + num_classes):
        raise ValueError(f"raw output must have shape (N, GH, GW, B * (5 + C)) = (N, GH, GW, "
                         f"{num_anchors * (5 + num_classes)}) for B={num_anchors}, C={num_classes}, got {shape}")
    return shape[:3]


def _sigmoid(x):
    """Logistic function of an array, without overflow."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _softmax(x):
    """Softmax over the last axis of an array, shifted by the maximum."""
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def grid_boxes(pred, anchors):
    """Decode the boxes of raw predictions, in grid cells.

    Parameters
    ----------
    pred : ndarray, shape (N, GH, GW, B, 5 + C)
        The head's output split per anchor.
    anchors : ndarray, shape (B, 2)
        In grid cells.

    Returns
    -------
    ndarray, shape (N, GH, GW, B, 4)
        Corner boxes ``(x1, y1, x2, y2)`` in grid cells.
    """
    GH, GW = pred.shape[1:3]
    cols = np.arange(GW, dtype=pred.dtype)[None, None, :, None]
    rows = np.arange(GH, dtype=pred.dtype)[None, :, None, None]
    cx, cy = cols + _sigmoid(pred[..., 0]), rows + _sigmoid(pred[..., 1])
    sizes = anchors.astype(pred.dtype) * np.exp(np.minimum(pred[..., 2:4], _MAX_LOG_SIZE))
    w, h = sizes[..., 0], sizes[..., 1]
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)


def decode(raw, anchors, num_classes, image_size):
    """Decode raw head outputs into boxes, objectness and class probabilities.

    Parameters
    ----------
    raw : Tensor or ndarray, shape (N, GH, GW, B * (5 + C))
        The head's output, channels-last (see the module docstring for the layout).
    anchors : array_like, shape (B, 2)
        Anchor ``(width, height)`` in grid cells.
    num_classes : int
        C; 0 for a single-class head without class logits (face-api's tiny face
        detector: 5 channels per anchor), whose class probability is 1.
    image_size : int or (height, width)
        Size of the input images in pixels.

    Returns
    -------
    boxes : ndarray, shape (N, GH, GW, B, 4)
        Corner boxes ``(x1, y1, x2, y2)`` in pixels (not clipped to the image).
    objectness : ndarray, shape (N, GH, GW, B)
    class_probs : ndarray, shape (N, GH, GW, B, max(C, 1))
    """
    raw = as_float_array(raw, "raw")
    anchors = check_anchors(anchors)
    N, GH, GW = _split_channels(raw.shape, len(anchors), num_classes)
    height, width = pair(image_size, "image_size", integer=False)
    pred = raw.reshape(N, GH, GW, len(anchors), 5 + num_classes)
    cell = np.asarray([width / GW, height / GH, width / GW, height / GH], dtype=raw.dtype)
    class_probs = _softmax(pred[..., 5:]) if num_classes else np.ones(pred.shape[:4] + (1,), dtype=raw.dtype)
    return grid_boxes(pred, anchors) * cell, _sigmoid(pred[..., 4]), class_probs


def postprocess(raw, anchors, num_classes, image_size, score_threshold=0.5, iou_threshold=0.5, max_boxes=100):
    """Detections per image: decode, keep scores above a threshold, per-class NMS.

    Parameters
    ----------
    raw : Tensor or ndarray, shape (N, GH, GW, B * (5 + C))
    anchors : array_like, shape (B, 2)
        In grid cells.
    num_classes : int
    image_size : int or (height, width)
    score_threshold : float, default 0.5
        A box's score is objectness times its best class probability; kept when ``>=``.
    iou_threshold : float, default 0.5
        Per-class NMS threshold (see ``batched_nms``).
    max_boxes : int, default 100
        Per image.

    Returns
    -------
    list of dict, one per image
        ``"boxes"`` (K, 4) corner boxes ``(x1, y1, x2, y2)`` in pixels, clipped
        to the image; ``"scores"`` (K,); ``"classes"`` (K,) int64; by descending score.
    """
    boxes, objectness, class_probs = decode(raw, anchors, num_classes, image_size)
    height, width = pair(image_size, "image_size", integer=False)
    boxes = np.clip(boxes, 0, np.asarray([width, height, width, height], dtype=boxes.dtype))
    scores = objectness * class_probs.max(axis=-1)
    classes = class_probs.argmax(axis=-1)
    N = len(boxes)
    results = []
    for b, s, c in zip(boxes.reshape(N, -1, 4), scores.reshape(N, -1), classes.reshape(N, -1)):
        candidates = np.flatnonzero(s >= score_threshold)
        keep = candidates[batched_nms(b[candidates], s[candidates], c[candidates], iou_threshold, max_boxes)]
        results.append({"boxes": b[keep], "scores": s[keep], "classes": c[keep].astype(np.int64)})
    return results
