"""Classification with localization, and landmark regression: one object per image.

The network is the zoo's ``localizer`` (``cnnkit.models.get_model("localizer", num_outputs=...)``).
For localization it outputs, per image, the course's vector
``y = (p_c, b_x, b_y, b_h, b_w, c_1, ..., c_n)``: whether there is an object,
its box (centre ``b_x, b_y`` and size ``b_h, b_w`` as fractions of the image)
and its class. The raw outputs are logits; the prediction ``y_hat`` is
``sigmoid`` of the first five and ``softmax`` of the class logits.

Two losses (:func:`localization_loss`):

- ``"squared"``, the course's: ``sum_i (y_hat_i - y_i)^2`` over all ``5 + n``
  components when ``p_c = 1``, and only ``(y_hat_1 - p_c)^2`` when ``p_c = 0``
  (the box and class of an empty image are "don't care").
- ``"logistic"``, the usual practice: binary cross-entropy for ``p_c``, and
  when ``p_c = 1`` also the squared error of the four box values and the
  softmax cross-entropy of the class.

Both are averaged over the batch. ``box_weight`` (YOLO's lambda_coord, 1 in
the course) scales the box term: its errors, in fractions of the image, are
small next to the others, and weighting it by 50 lifts the held-out mean IoU
from 0.70 to 0.85 in ``examples/localization_landmarks.py``.

Landmarks: the network outputs ``2k`` logits whose sigmoids are the ``k``
points' ``(x, y)`` as fractions of the image; the loss is the mean squared
error of those fractions. The synthetic landmarks are the three vertices of
the triangles of :func:`cnnkit.detection.synthetic.make_shapes_dataset`.

Training goes through ``cnnkit.train.fit`` with a loss of ``(model, batch)``::

    fit(model, (images, targets), loss=lambda model, batch: localization_loss(model(batch[0]), batch[1]))

and ``cnnkit.train.outputs(model, images)`` gives the raw outputs to decode.
"""
import numpy as np

import cnnkit.functional as F
from cnnkit.autograd import as_tensor
from cnnkit.backend import to_numpy
from cnnkit.detection.boxes import pairwise_iou
from cnnkit.detection.synthetic import CLASS_NAMES, make_shapes_dataset

LOSSES = ("squared", "logistic")


def localization_targets(boxes_list, classes_list, num_classes, image_size):
    """The course's target vectors ``(p_c, b_x, b_y, b_h, b_w, c_1..c_n)`` of single-object images.

    Parameters
    ----------
    boxes_list : sequence of array_like, each shape (0, 4) or (1, 4)
        Corner boxes ``(x1, y1, x2, y2)`` in pixels; empty for an image without an object.
    classes_list : sequence of array_like of int, each shape (0,) or (1,)
    num_classes : int
    image_size : int
        Height and width of the (square) images.

    Returns
    -------
    ndarray of float32, shape (N, 5 + num_classes)
        Zeros after ``p_c`` when there is no object.
    """
    if len(boxes_list) != len(classes_list):
        raise ValueError(f"{len(boxes_list)} box lists for {len(classes_list)} class lists")
    targets = np.zeros((len(boxes_list), 5 + num_classes), dtype=np.float32)
    for n, (boxes, classes) in enumerate(zip(boxes_list, classes_list)):
        boxes, classes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4), np.asarray(classes).reshape(-1)
        if len(boxes) > 1 or len(classes) != len(boxes):
            raise ValueError(f"image {n}: localization takes at most one object with one class, "
                             f"got {len(boxes)} boxes and {len(classes)} classes")
        if len(boxes):
            x1, y1, x2, y2 = boxes[0] / image_size
            targets[n, :5] = [1, (x1 + x2) / 2, (y1 + y2) / 2, y2 - y1, x2 - x1]
            targets[n, 5 + int(classes[0])] = 1
    return targets


def localization_loss(output, targets, kind="squared", box_weight=1.0):
    """The classification-with-localization loss (see the module docstring for both kinds).

    Parameters
    ----------
    output : Tensor, shape (N, 5 + n)
        Raw network outputs (logits).
    targets : array_like, shape (N, 5 + n)
        From :func:`localization_targets`.
    kind : {"squared", "logistic"}, default "squared"
    box_weight : float, default 1.0
        Multiplies the box term (YOLO's lambda_coord); 1 is the course's loss.

    Returns
    -------
    Tensor
        A scalar: the loss summed over components, averaged over images.
    """
    output = as_tensor(output)
    targets = np.asarray(targets, dtype=output.dtype)
    if output.ndim != 2 or output.shape != targets.shape or output.shape[1] < 6:
        raise ValueError(f"output and targets must both have shape (N, 5 + n) with n >= 1, "
                         f"got {output.shape} and {targets.shape}")
    if kind not in LOSSES:
        raise ValueError(f"kind must be one of {LOSSES}, got {kind!r}")
    N = output.shape[0]
    present = targets[:, 0]
    box_error = F.mse_loss(F.sigmoid(output[:, 1:5]), targets[:, 1:5], reduction="none").sum(axis=1)
    if kind == "squared":
        p_error = F.mse_loss(F.sigmoid(output[:, 0]), present, reduction="none")
        class_error = F.mse_loss(F.softmax(output[:, 5:], axis=-1), targets[:, 5:], reduction="none").sum(axis=1)
    else:
        p_error = F.binary_cross_entropy_with_logits(output[:, 0], present, reduction="none")
        class_error = F.cross_entropy(output[:, 5:], targets[:, 5:].argmax(axis=1), reduction="none")
    return (p_error + (box_error * box_weight + class_error) * present).sum() / N


def decode_localization(output, image_size):
    """Turn raw localization outputs into probabilities, corner boxes and classes.

    Parameters
    ----------
    output : Tensor or ndarray, shape (N, 5 + n)
    image_size : int

    Returns
    -------
    dict of ndarray
        ``"p_c"`` (N,), ``"boxes"`` (N, 4) corner boxes ``(x1, y1, x2, y2)`` in
        pixels, ``"classes"`` (N,) int64, ``"class_probs"`` (N, n).
    """
    raw = to_numpy(getattr(output, "data", output)).astype(np.float64)
    if raw.ndim != 2 or raw.shape[1] < 6:
        raise ValueError(f"output must have shape (N, 5 + n) with n >= 1, got {raw.shape}")
    squashed = 1 / (1 + np.exp(-raw[:, :5]))
    bx, by, bh, bw = squashed[:, 1:5].T
    boxes = np.stack([bx - bw / 2, by - bh / 2, bx + bw / 2, by + bh / 2], axis=1) * image_size
    logits = raw[:, 5:] - raw[:, 5:].max(axis=1, keepdims=True)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return {"p_c": squashed[:, 0], "boxes": boxes, "classes": probs.argmax(axis=1), "class_probs": probs}


def triangle_landmarks(boxes):
    """The three vertices of upward triangles from their tight boxes: apex, bottom left, bottom right.

    Parameters
    ----------
    boxes : array_like, shape (N, 4)
        Corner boxes ``(x1, y1, x2, y2)``.

    Returns
    -------
    ndarray of float32, shape (N, 3, 2)
        ``(x, y)`` of each vertex, in the unit of ``boxes``.
    """
    x1, y1, x2, y2 = np.asarray(boxes, dtype=np.float32).reshape(-1, 4).T
    return np.stack([np.stack([(x1 + x2) / 2, y1], 1), np.stack([x1, y2], 1), np.stack([x2, y2], 1)], axis=1)


def landmark_loss(output, points, image_size):
    """Mean squared error of predicted landmarks as fractions of the image.

    Parameters
    ----------
    output : Tensor, shape (N, 2k)
        Raw outputs; ``sigmoid(output)`` reshaped to (N, k, 2) are the points' ``(x, y)`` fractions.
    points : array_like, shape (N, k, 2)
        True ``(x, y)`` in pixels.
    image_size : int

    Returns
    -------
    Tensor
        A scalar.
    """
    output = as_tensor(output)
    points = np.asarray(points, dtype=output.dtype)
    if points.ndim != 3 or points.shape[2] != 2 or output.shape != (len(points), 2 * points.shape[1]):
        raise ValueError(f"output must have shape (N, 2k) for points (N, k, 2), got {output.shape} and {points.shape}")
    return F.mse_loss(F.sigmoid(output), points.reshape(len(points), -1) / image_size)


def decode_landmarks(output, image_size):
    """Predicted landmarks ``(N, k, 2)`` in pixels from raw outputs ``(N, 2k)``."""
    raw = to_numpy(getattr(output, "data", output)).astype(np.float64)
    return (1 / (1 + np.exp(-raw))).reshape(len(raw), -1, 2) * image_size


def make_localization_dataset(n, image_size=32, seed=0, triangles_only=False):
    """Single-object synthetic images: zero or one shape (or exactly one triangle) on a textured background.

    Parameters
    ----------
    n : int
    image_size : int, default 32
    seed : int, default 0
    triangles_only : bool, default False
        Keep only images holding one triangle (for landmarks).

    Returns
    -------
    images : ndarray of float32, shape (n, image_size, image_size, 3)
    boxes : list of ndarray, each shape (0, 4) or (1, 4)
    classes : list of ndarray of int64, each shape (0,) or (1,)
    """
    if not triangles_only:
        return make_shapes_dataset(n, image_size, seed=seed, min_objects=0, max_objects=1)
    # a third of single-object images hold a triangle; draw batches until there are enough
    images, boxes, classes, rng = [], [], [], np.random.default_rng(seed)
    while len(images) < n:
        batch = make_shapes_dataset(3 * (n - len(images)) + 8, image_size, seed=int(rng.integers(2 ** 31)))
        for image, b, c in zip(*batch):
            if len(images) < n and len(c) == 1 and CLASS_NAMES[c[0]] == "triangle":
                images.append(image)
                boxes.append(b)
                classes.append(c)
    return np.stack(images) if images else np.zeros((0, image_size, image_size, 3), np.float32), boxes, classes


def localization_metrics(output, boxes_list, classes_list, image_size):
    """Detection accuracy of p_c, and mean IoU and class accuracy on the images that hold an object.

    Parameters
    ----------
    output : ndarray, shape (N, 5 + n)
    boxes_list, classes_list : as for :func:`localization_targets`
    image_size : int

    Returns
    -------
    dict of float
        ``"p_c_accuracy"`` (threshold 0.5), ``"mean_iou"``, ``"class_accuracy"``.
    """
    decoded = decode_localization(output, image_size)
    present = np.asarray([len(b) == 1 for b in boxes_list])
    truth = np.asarray([b[0] for b in boxes_list if len(b)], dtype=np.float64).reshape(-1, 4)
    labels = np.asarray([c[0] for c in classes_list if len(c)])
    ious = np.diag(pairwise_iou(decoded["boxes"][present], truth)) if present.any() else np.zeros(0)
    return {"p_c_accuracy": float(np.mean((decoded["p_c"] >= 0.5) == present)),
            "mean_iou": float(ious.mean()) if len(ious) else float("nan"),
            "class_accuracy": float(np.mean(decoded["classes"][present] == labels)) if present.any() else float("nan")}
