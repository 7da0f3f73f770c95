"""Training and evaluating a YOLO detector through ``cnnkit.train.fit``: batches, flips, the loss, mAP, detection.

A batch is the tuple ``(images, boxes, classes)``: images (N, H, W, C), and
each image's objects padded to a common count M, corner boxes
``(x1, y1, x2, y2)`` (N, M, 4) in pixels and classes (N, M) with ``-1``
where there is no object (:func:`pad_objects`). :class:`YoloLoss` is the
loss of ``fit`` on such batches, :class:`RandomHorizontalFlipBoxes` its
augmentation (a ``batch_transform``: the boxes move with the image), and
:class:`MeanAveragePrecision` adds the held-out mAP@0.5 to every epoch's logs.
:func:`train_yolo` puts them together with Adam and a cosine learning-rate
schedule stepped per batch.

A detector checkpoint is ``cnnkit.train``'s: the model, its class names and
``extra={"anchors": [[w, h], ...]}`` in grid cells (:func:`load_detector`).
"""
import numpy as np

from cnnkit.autograd import Tensor
from cnnkit.data import DataLoader
from cnnkit.data.transforms import RandomHorizontalFlip
from cnnkit.detection.loss import yolo_loss
from cnnkit.detection.metrics import mean_average_precision
from cnnkit.detection.targets import encode_targets
from cnnkit.detection.yolo import check_anchors, postprocess
from cnnkit.optim import Adam, CosineAnnealingLR
from cnnkit.train import Callback, fit, load_checkpoint, outputs, save


def pad_objects(boxes_list, classes_list):
    """Per-image objects as two padded arrays, the form a batch carries them in.

    Parameters
    ----------
    boxes_list : sequence of array_like, each shape (M_n, 4)
        Corner boxes in pixels.
    classes_list : sequence of array_like of int, each shape (M_n,)

    Returns
    -------
    boxes : ndarray of float32, shape (N, M, 4)
        ``M = max(M_n)`` (at least 1); padding rows are 0.
    classes : ndarray of int64, shape (N, M)
        ``-1`` marks a padding row.
    """
    if len(boxes_list) != len(classes_list):
        raise ValueError(f"{len(boxes_list)} box lists for {len(classes_list)} class lists")
    boxes_list = [np.asarray(b, dtype=np.float32).reshape(-1, 4) for b in boxes_list]
    classes_list = [np.asarray(c).reshape(-1) for c in classes_list]
    for n, (b, c) in enumerate(zip(boxes_list, classes_list)):
        if len(b) != len(c) or (len(c) and (c.dtype.kind not in "iu" or c.min() < 0)):
            raise ValueError(f"image {n}: need one non-negative integer class per box, got {len(b)} boxes and "
                             f"classes {c.tolist()}")
    M = max([len(b) for b in boxes_list] + [1])
    boxes = np.zeros((len(boxes_list), M, 4), dtype=np.float32)
    classes = np.full((len(boxes_list), M), -1, dtype=np.int64)
    for n, (b, c) in enumerate(zip(boxes_list, classes_list)):
        boxes[n, :len(b)], classes[n, :len(c)] = b, c
    return boxes, classes


def unpad_objects(boxes, classes):
    """The inverse of :func:`pad_objects`: lists of each image's boxes (M_n, 4) and classes (M_n,)."""
    present = np.asarray(classes) >= 0
    return [b[p] for b, p in zip(boxes, present)], [c[p] for c, p in zip(classes, present)]


class RandomHorizontalFlipBoxes(RandomHorizontalFlip):
    """Mirror each image of a batch left-right with probability ``p``, and its boxes with it.

    A ``batch_transform`` for batches ``(images, boxes, classes, ...)`` (see
    the module docstring); padding rows are left as they are.

    Parameters
    ----------
    p : float, default 0.5
    rng : int or numpy.random.Generator, optional
    """

    def __call__(self, batch):
        images, boxes, classes = batch[:3]
        flip = self.rng.random(len(images)) < self.p
        images, boxes = images.copy(), boxes.copy()
        images[flip] = images[flip, :, ::-1]
        W = images.shape[2]
        rows = flip[:, None] & (classes >= 0)
        mirrored = boxes[rows]  # (K, 4): x1' = W - x2 and x2' = W - x1, y unchanged
        boxes[rows] = np.stack([W - mirrored[:, 2], mirrored[:, 1], W - mirrored[:, 0], mirrored[:, 3]], axis=1)
        return (images, boxes, classes) + tuple(batch[3:])


class YoloLoss:
    """The loss of ``fit`` for a YOLO model: ``yolo_loss`` of ``model(images)`` against the batch's encoded objects.

    Parameters
    ----------
    anchors : array_like, shape (B, 2)
        In grid cells.
    lambda_coord, lambda_noobj, ignore_threshold : float
        See :func:`cnnkit.detection.loss.yolo_loss`.

    Calling it with ``(model, (images, boxes, classes))`` returns the scalar
    loss Tensor; the grid and the number of classes come from the model's output.
    """

    def __init__(self, anchors, lambda_coord=5.0, lambda_noobj=0.5, ignore_threshold=0.6):
        self.anchors = check_anchors(anchors)
        self.lambda_coord, self.lambda_noobj, self.ignore_threshold = lambda_coord, lambda_noobj, ignore_threshold

    def __call__(self, model, batch):
        images, boxes, classes = batch[:3]
        out = model(Tensor(np.ascontiguousarray(images)))
        num_classes = out.shape[-1] // len(self.anchors) - 5
        targets = encode_targets(*unpad_objects(boxes, classes), out.shape[1:3], self.anchors, num_classes,
                                 images.shape[1:3])
        return yolo_loss(out, targets, self.anchors, self.lambda_coord, self.lambda_noobj, self.ignore_threshold)


class MeanAveragePrecision(Callback):
    """An epoch-level metric: the mAP of the model on labelled images, added to the logs as ``key``.

    Parameters
    ----------
    images : ndarray, shape (N, H, W, C)
    boxes_list : sequence of ndarray, each shape (M_n, 4)
        Ground-truth corner boxes in pixels.
    classes_list : sequence of ndarray of int, each shape (M_n,)
    anchors : array_like, shape (B, 2)
    num_classes : int
    key : str, default "val_map50"
    iou_threshold : float, default 0.5
    """

    def __init__(self, images, boxes_list, classes_list, anchors, num_classes, key="val_map50", iou_threshold=0.5):
        self.images, self.boxes_list, self.classes_list = images, boxes_list, classes_list
        self.anchors, self.num_classes, self.key, self.iou_threshold = anchors, num_classes, key, iou_threshold

    def on_epoch_end(self, model, epoch, logs):
        logs[self.key] = evaluate_map(model, self.images, self.boxes_list, self.classes_list, self.anchors,
                                      self.num_classes, iou_threshold=self.iou_threshold)
        return False


def train_yolo(model, images, boxes_list, classes_list, anchors, *, val=None, epochs=10, batch_size=32, lr=3e-3,
               flip=True, time_limit=None, seed=0, run=None, resume=None, verbose=True, callbacks=()):
    """Train a YOLO model with ``cnnkit.train.fit``: Adam, a per-batch cosine schedule from ``lr`` to 0, flips.

    Parameters
    ----------
    model : Module
        Images (N, H, W, C) -> raw head output (N, GH, GW, B * (5 + C)), with
        a ``num_classes`` attribute (C) as the zoo's ``tiny_yolo`` has.
    images : ndarray, shape (N, H, W, C)
    boxes_list : sequence of ndarray, each shape (M_n, 4)
        Corner boxes in pixels.
    classes_list : sequence of ndarray of int, each shape (M_n,)
    anchors : array_like, shape (B, 2)
        In grid cells.
    val : (images, boxes_list, classes_list), optional
        Held-out images: ``val_loss`` and the mAP@0.5 ``val_map50`` after every epoch.
    epochs : int, default 10
        The cosine schedule spans ``epochs`` epochs of batches.
    batch_size : int, default 32
    lr : float, default 3e-3
    flip : bool, default True
        Mirror each training image left-right with probability 1/2 (boxes with it).
    time_limit : float, optional
        Seconds (see ``fit``).
    seed : int, default 0
        Shuffling and flips.
    run : RunFolder or str, optional
    resume : str, optional
        A checkpoint or run folder to continue.
    verbose : bool, default True
    callbacks : sequence of Callback
        After the mAP callback.

    Returns
    -------
    History
        From ``fit``.
    """
    images = np.asarray(images)
    if len(images) == 0 or len(boxes_list) != len(images) or len(classes_list) != len(images):
        raise ValueError(f"need as many box and class lists as images, and at least one image; got {len(images)} "
                         f"images, {len(boxes_list)} box lists, {len(classes_list)} class lists")
    # the flips draw from their own stream, not a copy of the shuffle's
    flips = RandomHorizontalFlipBoxes(rng=np.random.default_rng([seed, 1])) if flip else None
    loader = DataLoader((images, *pad_objects(boxes_list, classes_list)), batch_size=batch_size, shuffle=True,
                        seed=seed, batch_transform=flips)
    optimizer = Adam(model.parameters(), lr=lr)
    metrics = []
    if val is not None:
        metrics.append(MeanAveragePrecision(*val, anchors, model.num_classes))
        val = (np.asarray(val[0]), *pad_objects(val[1], val[2]))
    return fit(model, loader, epochs=epochs, loss=YoloLoss(anchors), optimizer=optimizer,
               scheduler=CosineAnnealingLR(optimizer, T_max=epochs * len(loader)), scheduler_interval="batch",
               val=val, callbacks=metrics + list(callbacks), seed=seed, verbose=verbose, time_limit=time_limit,
               run=run, resume=resume)


def detect(model, images, anchors, num_classes, score_threshold=0.5, iou_threshold=0.5, max_boxes=100,
           batch_size=64):
    """Run a YOLO model in evaluation mode and return each image's detections.

    Parameters
    ----------
    model : Module
    images : ndarray, shape (N, H, W, C)
        At the size the model was trained on.
    anchors : array_like, shape (B, 2)
        In grid cells.
    num_classes : int
    score_threshold, iou_threshold : float, default 0.5
        See :func:`cnnkit.detection.yolo.postprocess`.
    max_boxes : int, default 100
        Per image.
    batch_size : int, default 64

    Returns
    -------
    list of dict, one per image
        ``"boxes"`` (K, 4) corner boxes in pixels, ``"scores"`` (K,), ``"classes"`` (K,), by descending score.
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must have shape (N, H, W, C), got {images.shape}")
    raw = outputs(model, images, batch_size)
    return postprocess(raw, anchors, num_classes, images.shape[1:3], score_threshold, iou_threshold, max_boxes)


def evaluate_map(model, images, boxes_list, classes_list, anchors, num_classes, iou_threshold=0.5,
                 score_threshold=0.01, nms_threshold=0.5, per_class=False):
    """mAP of a YOLO model on labelled images (VOC all-point, see ``mean_average_precision``).

    Parameters
    ----------
    model : Module
    images : ndarray, shape (N, H, W, C)
    boxes_list : sequence of ndarray, each shape (M_n, 4)
        Ground-truth corner boxes in pixels.
    classes_list : sequence of ndarray of int, each shape (M_n,)
    anchors : array_like, shape (B, 2)
    num_classes : int
    iou_threshold : float, default 0.5
        For matching detections to ground truth.
    score_threshold : float, default 0.01
        Low, because AP integrates over every score level.
    nms_threshold : float, default 0.5
        The IoU threshold of the per-class NMS.
    per_class : bool, default False
        Also return each class's AP.

    Returns
    -------
    float, or (float, dict) with ``per_class=True``
    """
    results = detect(model, images, anchors, num_classes, score_threshold, nms_threshold)
    detections = [{"image": n, "class": int(c), "score": float(s), "box": b}
                  for n, r in enumerate(results) for b, s, c in zip(r["boxes"], r["scores"], r["classes"])]
    ground_truth = [{"image": n, "class": int(c), "box": b}
                    for n, (boxes, classes) in enumerate(zip(boxes_list, classes_list))
                    for b, c in zip(boxes, classes)]
    return mean_average_precision(detections, ground_truth, iou_threshold, per_class=per_class)


def _checked_anchors(model, anchors, where):
    """Anchors (B, 2) that fit ``model``'s head, as float32."""
    anchors = check_anchors(anchors).astype(np.float32)
    expected = (getattr(model, "config", None) or {}).get("num_anchors")
    if expected is not None and len(anchors) != expected:
        raise ValueError(f"{where}: {len(anchors)} anchors for a model with {expected} anchors per cell")
    return anchors


def save_detector(path, model, anchors, class_names):
    """Write a detector as a ``cnnkit.train`` checkpoint: weights, config, class names, ``extra["anchors"]``.

    Parameters
    ----------
    path : str
        Ending in ``.safetensors``.
    model : Module
        Built by ``cnnkit.models.get_model`` (it carries ``model.config``).
    anchors : array_like, shape (B, 2)
        In grid cells.
    class_names : sequence of str
        One per class of the model.
    """
    anchors = _checked_anchors(model, anchors, "save_detector")
    classes = (getattr(model, "config", None) or {}).get("num_classes", len(class_names))
    if len(class_names) != classes:
        raise ValueError(f"{len(class_names)} class names for a model of {classes} classes")
    save(model, path, class_names=class_names, extra={"anchors": anchors.tolist()})


def load_detector(path):
    """Rebuild a detector from a checkpoint or run folder written by ``cnnkit detect train`` or :func:`save_detector`.

    Parameters
    ----------
    path : str
        A ``.safetensors`` checkpoint, or a run folder (its best, else last, weights).

    Returns
    -------
    model : Module
        In evaluation mode.
    anchors : ndarray of float32, shape (B, 2)
    class_names : list of str

    Raises
    ------
    ValueError
        For a checkpoint without anchors, and for the old detector files
        (``cnnkit.detector/1``), which must be retrained.
    """
    checkpoint = load_checkpoint(path)
    if "anchors" not in checkpoint.extra:
        raise ValueError(f"{checkpoint.path} is a checkpoint of a {checkpoint.config['name']} without anchors, not "
                         f"a detector; write one with cnnkit detect train")
    anchors = _checked_anchors(checkpoint.model, checkpoint.extra["anchors"], checkpoint.path)
    names = checkpoint.class_names or [str(c) for c in range(checkpoint.config.get("num_classes", 0))]
    return checkpoint.model, anchors, names
