"""Training and evaluating a YOLO detector: anchors, flips, the training loop, detection, mAP, saving.

The loop is plain mini-batch Adam on :func:`cnnkit.detection.yolo.yolo_loss`
with the learning rate annealed along a cosine from ``lr`` to 0. Its progress
is the larger of the fraction of steps done and the fraction of ``time_limit``
spent, so a time-limited run still ends its schedule at a small learning
rate instead of being cut off at full speed.

A detector file is a safetensors state dict whose metadata holds JSON under
``format`` (:data:`FORMAT`), ``model`` (``model.config``, for ``get_model``),
``anchors`` (B x 2, in grid cells) and ``class_names``.
"""
import json
import math
import time

import numpy as np

from cnnkit.autograd import Tensor, no_grad
from cnnkit.detection.metrics import mean_average_precision
from cnnkit.detection.loss import yolo_loss
from cnnkit.detection.targets import encode_targets
from cnnkit.detection.yolo import postprocess
from cnnkit.io.state import load_state, save_state
from cnnkit.models import get_model

FORMAT = "cnnkit.detector/1"


def flip_horizontal(images, boxes_list):
    """Mirror images left-right together with their corner boxes.

    Parameters
    ----------
    images : ndarray, shape (N, H, W, C)
    boxes_list : sequence of ndarray, each shape (M_n, 4)
        ``(x1, y1, x2, y2)`` in pixels.

    Returns
    -------
    images : ndarray, shape (N, H, W, C)
    boxes_list : list of ndarray, each shape (M_n, 4)
    """
    W = images.shape[2]
    flipped = [np.stack([W - b[:, 2], b[:, 1], W - b[:, 0], b[:, 3]], axis=1) if len(b) else b for b in boxes_list]
    return images[:, :, ::-1], flipped


def _set_lr(optimizer, lr):
    """Set the learning rate of every parameter group."""
    for group in optimizer.param_groups:
        group["lr"] = lr


def train_yolo(model, images, boxes_list, classes_list, anchors, optimizer, epochs=10, batch_size=32, lr=3e-3,
               flip=True, time_limit=None, seed=0, progress=None):
    """Train a YOLO model (see :mod:`cnnkit.detection.yolo` for the head) with a cosine learning-rate schedule.

    Parameters
    ----------
    model : Module
        Images (N, H, W, C) -> raw head output (N, GH, GW, B * (5 + C)).
    images : ndarray, shape (N, H, W, C)
    boxes_list : sequence of ndarray, each shape (M_n, 4)
        Corner boxes in pixels.
    classes_list : sequence of ndarray of int, each shape (M_n,)
    anchors : array_like, shape (B, 2)
        In grid cells.
    optimizer : Optimizer
        Over ``model.parameters()``; its learning rate is overwritten by the schedule.
    epochs : int, default 10
    batch_size : int, default 32
    lr : float, default 3e-3
        The starting learning rate, annealed to 0.
    flip : bool, default True
        Mirror a random half of every batch left-right.
    time_limit : float, optional
        Seconds; no step starts that would end (at the mean step time so far)
        past the limit. The schedule follows whichever of steps and time runs
        out first.
    seed : int, default 0
        Shuffling and flips.
    progress : callable, optional
        ``progress(step, total_steps, loss)`` after every step, e.g. a progress bar.

    Returns
    -------
    dict
        ``"loss"``: the mean loss of every epoch (list of float); ``"steps"``,
        ``"seconds"``: steps taken and the time spent.
    """
    images = np.asarray(images)
    N = len(images)
    if N == 0 or len(boxes_list) != N or len(classes_list) != N:
        raise ValueError(f"need as many box and class lists as images, and at least one image; got {N} images, "
                         f"{len(boxes_list)} box lists, {len(classes_list)} class lists")
    rng = np.random.default_rng(seed)
    steps_per_epoch = math.ceil(N / batch_size)
    total = epochs * steps_per_epoch
    history = {"loss": [], "steps": 0, "seconds": 0.0}
    started = time.perf_counter()
    model.train()
    for _ in range(epochs):
        order, losses = rng.permutation(N), []
        for start in range(0, N, batch_size):
            elapsed = time.perf_counter() - started
            # count the coming step as spent, so that the last one ends within the limit
            upcoming = elapsed * (history["steps"] + 1) / history["steps"] if history["steps"] else elapsed
            done = max(history["steps"] / total, upcoming / time_limit if time_limit else 0.0)
            if done >= 1:
                break
            _set_lr(optimizer, lr * 0.5 * (1 + math.cos(math.pi * done)))
            index = order[start:start + batch_size]
            batch, boxes = images[index], [boxes_list[i] for i in index]
            if flip:
                mirror = rng.random(len(index)) < 0.5
                flipped, flipped_boxes = flip_horizontal(batch, boxes)
                batch = np.where(mirror[:, None, None, None], flipped, batch)
                boxes = [f if m else b for b, f, m in zip(boxes, flipped_boxes, mirror)]
            out = model(Tensor(np.ascontiguousarray(batch)))
            num_classes = out.shape[-1] // len(anchors) - 5
            targets = encode_targets(boxes, [classes_list[i] for i in index], out.shape[1:3], anchors, num_classes,
                                     batch.shape[1:3])
            loss = yolo_loss(out, targets, anchors)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            history["steps"] += 1
            losses.append(float(loss.data))
            if progress is not None:
                progress(history["steps"], total, losses[-1])
        if losses:
            history["loss"].append(float(np.mean(losses)))
        if len(losses) < steps_per_epoch:
            break
    history["seconds"] = time.perf_counter() - started
    model.eval()
    return history


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
    was_training = model.training
    model.eval()
    results = []
    with no_grad():
        for start in range(0, len(images), batch_size):
            raw = model(Tensor(images[start:start + batch_size])).data
            results += postprocess(raw, anchors, num_classes, images.shape[1:3], score_threshold, iou_threshold,
                                   max_boxes)
    model.train(was_training)
    return results


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


def save_detector(path, model, anchors, class_names):
    """Write a detector's weights, config, anchors and class names to one safetensors file, atomically.

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
    config = getattr(model, "config", None)
    if not isinstance(config, dict) or "name" not in config:
        raise TypeError(f"{type(model).__name__} has no model.config; build it with cnnkit.models.get_model")
    anchors = np.asarray(anchors, dtype=np.float64)
    if anchors.ndim != 2 or anchors.shape[1] != 2:
        raise ValueError(f"anchors must have shape (B, 2), got {anchors.shape}")
    if len(class_names) != config.get("num_classes", len(class_names)):
        raise ValueError(f"{len(class_names)} class names for a model of {config['num_classes']} classes")
    metadata = {"format": FORMAT, "model": json.dumps(config), "anchors": json.dumps(anchors.tolist()),
                "class_names": json.dumps([str(n) for n in class_names])}
    save_state(path, model.state_dict(), metadata)


def load_detector(path):
    """Rebuild a detector written by :func:`save_detector`.

    Parameters
    ----------
    path : str

    Returns
    -------
    model : Module
        In evaluation mode.
    anchors : ndarray of float32, shape (B, 2)
    class_names : list of str
    """
    state, metadata = load_state(path)
    if metadata.get("format") != FORMAT:
        raise ValueError(f"{path} is not a cnnkit detector (no {FORMAT!r} metadata); write one with "
                         f"cnnkit detect train or save_detector")
    config = json.loads(metadata["model"])
    model = get_model(config.pop("name"), **config)
    model.load_state_dict(state)
    model.eval()
    return model, np.asarray(json.loads(metadata["anchors"]), dtype=np.float32), json.loads(metadata["class_names"])
