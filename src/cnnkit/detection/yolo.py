"""The YOLO head (decode, target encoding, loss, anchors, post-processing) and the course's filtering functions.

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

Box orders: the head, ``encode_targets``, ``decode`` and ``postprocess`` use
``(x1, y1, x2, y2)`` pixels; the course's ``yolo_filter_boxes``,
``yolo_non_max_suppression`` and ``yolo_eval`` pass through the course's
``(y1, x1, y2, x2)`` from ``yolo_boxes_to_corners``.
"""
import numpy as np

import cnnkit.functional as F
from cnnkit.autograd.tensor import Tensor
from cnnkit.backend import to_numpy
from cnnkit.detection.boxes import (as_float_array, check_boxes, pairwise_iou, scale_boxes,
                                    yolo_boxes_to_corners)
from cnnkit.detection.nms import batched_nms, nms
from cnnkit.utils import pair

# exp(tw) of an untrained head can overflow; e**10 cells is already far beyond any image
_MAX_LOG_SIZE = 10.0


def _check_anchors(anchors):
    """Anchors as a float array (B, 2) of positive widths and heights."""
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


def _grid_boxes(pred, anchors):
    """Corner boxes (N, GH, GW, B, 4) in grid cells from raw predictions (N, GH, GW, B, 5 + C)."""
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
    anchors = _check_anchors(anchors)
    N, GH, GW = _split_channels(raw.shape, len(anchors), num_classes)
    height, width = pair(image_size, "image_size", integer=False)
    pred = raw.reshape(N, GH, GW, len(anchors), 5 + num_classes)
    cell = np.asarray([width / GW, height / GH, width / GW, height / GH], dtype=raw.dtype)
    class_probs = _softmax(pred[..., 5:]) if num_classes else np.ones(pred.shape[:4] + (1,), dtype=raw.dtype)
    return _grid_boxes(pred, anchors) * cell, _sigmoid(pred[..., 4]), class_probs


def _shape_iou(sizes, anchors):
    """IoU (M, K) of boxes (M, 2) and (K, 2) given by (width, height) and placed on a common corner."""
    inter = np.minimum(sizes[:, None, 0], anchors[None, :, 0]) * np.minimum(sizes[:, None, 1], anchors[None, :, 1])
    areas = sizes[:, 0] * sizes[:, 1]
    return inter / (areas[:, None] + (anchors[:, 0] * anchors[:, 1])[None, :] - inter)


def _check_classes(classes, count, num_classes, image):
    """Image ``image``'s classes as an int array of ``count`` indices in [0, num_classes)."""
    classes = np.asarray(classes).reshape(-1)
    integral = classes.dtype.kind in "iu" or len(classes) == 0
    if len(classes) != count or not integral or (count and (classes.min() < 0 or classes.max() >= num_classes)):
        raise ValueError(f"image {image}: need {count} integer class indices in [0, {num_classes}), "
                         f"got {classes.tolist()}")
    return classes


def encode_targets(boxes_list, classes_list, grid_size, anchors, num_classes, image_size):
    """Assign each ground-truth object to one grid cell and anchor, and encode its regression targets.

    Each object goes to the cell holding its centre and to the anchor whose
    shape matches it best (IoU of the two boxes placed on a common corner).
    When two objects of an image land on the same cell and anchor, the later
    one in the list is kept.

    Parameters
    ----------
    boxes_list : sequence of array_like, each shape (M_n, 4)
        Per image, corner boxes ``(x1, y1, x2, y2)`` in pixels with positive
        width and height and centres inside the image.
    classes_list : sequence of array_like of int, each shape (M_n,)
        Per image, class indices in ``[0, num_classes)``.
    grid_size : int or (GH, GW)
        The head's grid.
    anchors : array_like, shape (B, 2)
        Anchor ``(width, height)`` in grid cells.
    num_classes : int
    image_size : int or (height, width)
        In pixels.

    Returns
    -------
    dict of ndarray
        ``"mask"`` (N, GH, GW, B) bool: the anchors responsible for an object;
        ``"offsets"`` (N, GH, GW, B, 2) float32: the centre's ``(x, y)`` offset in its cell, in [0, 1];
        ``"log_sizes"`` (N, GH, GW, B, 2) float32: ``log(size / anchor)`` for width and height;
        ``"classes"`` (N, GH, GW, B) int64: the class (0 where ``mask`` is False);
        ``"boxes"`` (N, M, 4) float32: every object's corner box in grid cells,
        zero-padded to the largest M (zero-area boxes overlap nothing).
        Entries outside ``mask`` are 0.
    """
    anchors = _check_anchors(anchors)
    GH, GW = pair(grid_size, "grid_size", low=1)
    height, width = pair(image_size, "image_size", integer=False)
    if len(boxes_list) != len(classes_list):
        raise ValueError(f"boxes_list has {len(boxes_list)} images but classes_list has {len(classes_list)}")
    N, B = len(boxes_list), len(anchors)
    to_grid = np.asarray([GW / width, GH / height, GW / width, GH / height])
    per_image = [check_boxes(np.asarray(b, dtype=np.float64).reshape(-1, 4), f"boxes_list[{n}]") * to_grid
                 for n, b in enumerate(boxes_list)]
    targets = {
        "mask": np.zeros((N, GH, GW, B), dtype=bool),
        "offsets": np.zeros((N, GH, GW, B, 2), dtype=np.float32),
        "log_sizes": np.zeros((N, GH, GW, B, 2), dtype=np.float32),
        "classes": np.zeros((N, GH, GW, B), dtype=np.int64),
        "boxes": np.zeros((N, max([len(b) for b in per_image], default=0), 4), dtype=np.float32),
    }
    for n, (boxes, classes) in enumerate(zip(per_image, classes_list)):
        classes = _check_classes(classes, len(boxes), num_classes, n)
        centres, sizes = (boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]
        outside = (sizes <= 0).any(axis=1) | (centres < 0).any(axis=1) | (centres > [GW, GH]).any(axis=1)
        if outside.any():
            m = int(np.argmax(outside))
            raise ValueError(f"image {n}, box {m} = {boxes_list[n][m]}: needs positive width and height "
                             f"and its centre inside the {width} x {height} image")
        # a centre on the far edge belongs to the last cell
        cells = np.minimum(np.floor(centres).astype(np.int64), [GW - 1, GH - 1])
        best = np.argmax(_shape_iou(sizes, anchors), axis=1)
        for m in range(len(boxes)):
            j, i, b = cells[m, 0], cells[m, 1], best[m]
            targets["mask"][n, i, j, b] = True
            targets["offsets"][n, i, j, b] = centres[m] - cells[m]
            targets["log_sizes"][n, i, j, b] = np.log(sizes[m] / anchors[b])
            targets["classes"][n, i, j, b] = classes[m]
        targets["boxes"][n, :len(boxes)] = boxes
    return targets


def yolo_loss(raw, targets, anchors, lambda_coord=5.0, lambda_noobj=0.5, ignore_threshold=0.6):
    """The YOLO loss, differentiable through the engine.

    Summed over every cell and anchor of an image, then averaged over the batch::

        lambda_coord * sum_obj [(sigmoid(txy) - offsets)^2 + (twh - log_sizes)^2]
      + sum_obj   BCE(to, 1)
      + lambda_noobj * sum_noobj BCE(to, 0)
      + sum_obj   cross_entropy(class logits, class)      (none for a head without class logits, C = 0)

    where "obj" are the anchors in ``targets["mask"]`` and "noobj" the others,
    except those whose predicted box already overlaps a ground-truth box by
    more than ``ignore_threshold`` (YOLOv2/v3: a good box in the wrong anchor
    is not punished as background).

    Parameters
    ----------
    raw : Tensor, shape (N, GH, GW, B * (5 + C))
        The head's output.
    targets : dict
        From ``encode_targets`` with the same grid and anchors.
    anchors : array_like, shape (B, 2)
        Anchor ``(width, height)`` in grid cells (to decode predictions for the ignore rule).
    lambda_coord, lambda_noobj : float
        Weights of the box regression and of the no-object term.
    ignore_threshold : float, default 0.6
        Predictions with an IoU above this with some object are left out of the
        no-object term; 1.0 or more switches the rule off.

    Returns
    -------
    Tensor
        A scalar, in the dtype of ``raw``.
    """
    raw = raw if isinstance(raw, Tensor) else Tensor(raw)
    anchors = _check_anchors(anchors)
    mask = np.asarray(targets["mask"])
    N, GH, GW, B = mask.shape
    if B != len(anchors) or raw.ndim != 4 or raw.shape[:3] != (N, GH, GW) or raw.shape[3] % B or raw.shape[3] < 5 * B:
        raise ValueError(f"raw output {raw.shape} does not fit targets for (N, GH, GW, B) = {mask.shape} "
                         f"and {len(anchors)} anchors: it needs shape (N, GH, GW, B * (5 + C)) with C >= 0")
    pred = raw.reshape(N, GH, GW, B, raw.shape[3] // B)
    obj = mask.astype(raw.dtype)

    best_iou = _best_iou(to_numpy(pred.data), anchors, targets["boxes"])
    noobj = (~mask & (best_iou <= ignore_threshold)).astype(raw.dtype)

    coord = (F.mse_loss(F.sigmoid(pred[..., 0:2]), targets["offsets"], reduction="none")
             + F.mse_loss(pred[..., 2:4], targets["log_sizes"], reduction="none")).sum(axis=-1)
    objectness = F.binary_cross_entropy_with_logits(pred[..., 4], obj, reduction="none")
    per_anchor = coord * (lambda_coord * obj) + objectness * (obj + lambda_noobj * noobj)
    if pred.shape[-1] > 5:  # a head without class logits (C = 0) has no class term
        per_anchor = per_anchor + F.cross_entropy(pred[..., 5:], targets["classes"], reduction="none") * obj
    return per_anchor.sum() / N


def _best_iou(pred, anchors, gt_boxes):
    """Per prediction (N, GH, GW, B), the largest IoU of its decoded box with its image's objects."""
    boxes = _grid_boxes(pred, anchors.astype(pred.dtype))
    gt_boxes = np.asarray(gt_boxes, dtype=pred.dtype)
    if gt_boxes.shape[1] == 0:
        return np.zeros(boxes.shape[:4], dtype=pred.dtype)
    return np.stack([pairwise_iou(b.reshape(-1, 4), g).max(axis=1).reshape(b.shape[:3])
                     for b, g in zip(boxes, gt_boxes)])


def kmeans_anchors(box_sizes, k, seed=0, max_iter=300):
    """Anchor shapes by k-means on box sizes with the distance ``1 - IoU``, as in YOLOv2.

    The IoU is that of two boxes placed on a common corner, so large and small
    boxes are clustered by shape rather than by absolute size differences.
    Initial centres are drawn k-means++ style from ``seed``; an emptied cluster
    restarts at the box farthest from its centre.

    Parameters
    ----------
    box_sizes : array_like, shape (M, 2)
        ``(width, height)`` of the training boxes, positive, in any unit.
    k : int
        Number of anchors, at most the number of distinct sizes.
    seed : int, default 0
    max_iter : int, default 300

    Returns
    -------
    ndarray, shape (k, 2)
        The cluster means, in the unit of ``box_sizes``, sorted by area.
    """
    sizes = as_float_array(box_sizes, "box_sizes")
    if sizes.ndim != 2 or sizes.shape[1] != 2 or not (np.isfinite(sizes).all() and (sizes > 0).all()):
        raise ValueError(f"box_sizes must be positive finite (width, height) pairs of shape (M, 2), got {sizes.shape}")
    distinct = len(np.unique(sizes, axis=0))
    if not 1 <= k <= distinct:
        raise ValueError(f"k must be between 1 and the {distinct} distinct box sizes, got {k}")
    rng = np.random.default_rng(seed)
    centres = sizes[[rng.integers(len(sizes))]]
    while len(centres) < k:
        distance = (1 - _shape_iou(sizes, centres)).min(axis=1)
        centres = np.concatenate([centres, sizes[[rng.choice(len(sizes), p=distance ** 2 / np.sum(distance ** 2))]]])
    assignment = None
    for _ in range(max_iter):
        distance = 1 - _shape_iou(sizes, centres)
        new_assignment = np.argmin(distance, axis=1)
        if assignment is not None and np.array_equal(new_assignment, assignment):
            break
        assignment = new_assignment
        for c in range(k):
            members = assignment == c
            if members.any():
                centres[c] = sizes[members].mean(axis=0)
            else:
                far = np.argmax(distance[np.arange(len(sizes)), assignment])
                centres[c], assignment[far] = sizes[far], c
    return centres[np.argsort(centres[:, 0] * centres[:, 1], kind="stable")]


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
