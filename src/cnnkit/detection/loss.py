"""The YOLO loss on the head's raw output and the targets of :func:`cnnkit.detection.targets.encode_targets`."""
import numpy as np

import cnnkit.functional as F
from cnnkit.autograd import as_tensor
from cnnkit.backend import to_numpy
from cnnkit.detection.boxes import pairwise_iou
from cnnkit.detection.yolo import check_anchors, grid_boxes


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
    raw = as_tensor(raw)
    anchors = check_anchors(anchors)
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
    boxes = grid_boxes(pred, anchors.astype(pred.dtype))
    gt_boxes = np.asarray(gt_boxes, dtype=pred.dtype)
    if gt_boxes.shape[1] == 0:
        return np.zeros(boxes.shape[:4], dtype=pred.dtype)
    return np.stack([pairwise_iou(b.reshape(-1, 4), g).max(axis=1).reshape(b.shape[:3])
                     for b, g in zip(boxes, gt_boxes)])
