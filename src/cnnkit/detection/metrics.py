"""Mean average precision: PASCAL VOC (all-point interpolation) and COCO (IoU 0.50:0.95, 101 recall points).

Detections are dicts ``{"image", "class", "score", "box"}`` and ground-truth
objects dicts ``{"image", "class", "box"}``, with corner boxes ``(x1, y1, x2, y2)``
in continuous coordinates (no "+1" pixel convention, as COCO). Image ids may be
any mutually orderable values (ints or strings).

Matching, shared by both metrics and the same as pycocotools': per image and
class, detections are taken by descending score (stable, so equal scores keep
their input order) and each is matched to the still-unmatched ground-truth box
of highest IoU, provided that IoU is at least the threshold; each ground-truth
box is matched at most once. Matched detections are true positives, the rest
false positives. Detections are then ranked over all images by descending score,
equal scores ordered by image id.

Classes with no ground truth are left out of the mean (their detections
cannot be scored against anything); a class with ground truth but no
detections has AP 0.
"""
import numpy as np

from cnnkit.detection.boxes import check_boxes, pairwise_iou

# COCO's thresholds, built exactly as pycocotools builds them
COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1)
COCO_RECALL_POINTS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1)


def _records(records, name, with_score):
    """Split a list of record dicts into images, classes, boxes (M, 4) float64 and scores."""
    keys = ("image", "class", "box") + (("score",) if with_score else ())
    for k, record in enumerate(records):
        missing = [key for key in keys if key not in record]
        if missing:
            raise ValueError(f"{name}[{k}] lacks the keys {missing}; each needs {list(keys)}")
        if np.shape(record["box"]) != (4,):
            raise ValueError(f"{name}[{k}]['box'] must be 4 numbers (x1, y1, x2, y2), got {record['box']!r}")
    images = [r["image"] for r in records]
    classes = [r["class"] for r in records]
    boxes = check_boxes(np.asarray([r["box"] for r in records], dtype=np.float64).reshape(-1, 4), name)
    scores = np.asarray([r["score"] for r in records] if with_score else [], dtype=np.float64)
    if with_score and np.isnan(scores).any():
        raise ValueError(f"{name}[{int(np.argmax(np.isnan(scores)))}] has a NaN score")
    return images, classes, boxes, scores


def _group(images):
    """Image id -> the indices of its records, in input order."""
    groups = {}
    for index, image in enumerate(images):
        groups.setdefault(image, []).append(index)
    return groups


def _match_class(det_images, det_boxes, det_scores, gt_images, gt_boxes, thresholds, max_dets):
    """Rank one class's detections and mark true positives.

    Returns
    -------
    ndarray of bool, shape (T, D)
        Whether each ranked detection is a true positive at each threshold.
    """
    thresholds = np.asarray(thresholds, dtype=np.float64)
    T = len(thresholds)
    hits, scores = [], []
    det_groups, gt_groups = _group(det_images), _group(gt_images)
    for image in sorted(det_groups.keys() | gt_groups.keys()):
        dets = np.asarray(det_groups.get(image, []), dtype=np.int64)
        dets = dets[np.argsort(-det_scores[dets], kind="stable")][:max_dets]
        gts = np.asarray(gt_groups.get(image, []), dtype=np.int64)
        ious = pairwise_iou(det_boxes[dets], gt_boxes[gts])  # (D_i, G_i)
        hit = np.zeros((T, len(dets)), dtype=bool)
        matched = np.zeros((T, len(gts)), dtype=bool)
        if len(gts):
            rows = np.arange(T)
            for d in range(len(dets)):
                candidates = np.where(matched, -1.0, ious[d])  # (T, G_i)
                # the last of equal best IoUs wins, as in pycocotools
                best = len(gts) - 1 - np.argmax(candidates[:, ::-1], axis=1)
                ok = candidates[rows, best] >= thresholds
                hit[ok, d] = True
                matched[rows[ok], best[ok]] = True
        hits.append(hit)
        scores.append(det_scores[dets])
    hits, scores = np.concatenate(hits, axis=1), np.concatenate(scores)
    return hits[:, np.argsort(-scores, kind="stable")]


def _by_class(detections, ground_truth, thresholds, max_dets):
    """Per class with ground truth: (number of ground-truth boxes, true-positive flags (T, D))."""
    det_images, det_classes, det_boxes, det_scores = _records(detections, "detections", True)
    gt_images, gt_classes, gt_boxes, _ = _records(ground_truth, "ground_truth", False)
    if not gt_classes:
        raise ValueError("mean average precision needs at least one ground-truth box")
    det_classes, gt_classes = np.asarray(det_classes), np.asarray(gt_classes)
    result = {}
    for c in np.unique(gt_classes):
        d, g = np.flatnonzero(det_classes == c), np.flatnonzero(gt_classes == c)
        hits = _match_class([det_images[i] for i in d], det_boxes[d], det_scores[d],
                            [gt_images[i] for i in g], gt_boxes[g], thresholds, max_dets)
        result[c.item()] = len(g), hits
    return result


def _voc_ap(hits, n_gt):
    """VOC all-point AP: the area under the precision envelope, one step per recall change."""
    tp = np.cumsum(hits)
    recall = np.concatenate([[0.0], tp / n_gt, [1.0]])
    precision = np.concatenate([[0.0], tp / np.arange(1, len(hits) + 1), [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.flatnonzero(recall[1:] != recall[:-1])
    return float(np.sum((recall[steps + 1] - recall[steps]) * precision[steps + 1]))


def _coco_ap(hits, n_gt):
    """COCO AP: the precision envelope read at 101 recall points (0 beyond the last recall reached)."""
    tp = np.cumsum(hits)
    recall = tp / n_gt
    precision = tp / (np.arange(1, len(hits) + 1) + np.spacing(1))  # pycocotools' guard, kept for equal numbers
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    index = np.searchsorted(recall, COCO_RECALL_POINTS, side="left")
    reached = index < len(hits)
    return float(np.where(reached, precision[np.minimum(index, len(hits) - 1)], 0.0).mean()) if len(hits) else 0.0


def mean_average_precision(detections, ground_truth, iou_threshold=0.5, per_class=False):
    """PASCAL VOC mean average precision with all-point interpolation.

    Parameters
    ----------
    detections : sequence of dict
        ``{"image", "class", "score", "box"}``, box ``(x1, y1, x2, y2)``.
    ground_truth : sequence of dict
        ``{"image", "class", "box"}``.
    iou_threshold : float, default 0.5
        A detection matches a ground-truth box when their IoU is at least this.
    per_class : bool, default False
        Also return each class's AP.

    Returns
    -------
    float
        The mean over classes that have ground truth of their average precision.
    dict, only with ``per_class=True``
        Class -> AP.

    Raises
    ------
    ValueError
        When a record lacks a key, a box is invalid or a score is NaN, or
        there is no ground truth at all.

    Notes
    -----
    Two details differ from the VOC devkit: a match needs IoU ``>=`` the
    threshold (the devkit: ``>``), and a detection whose best ground-truth box
    is taken tries the next best (the devkit counts it a false positive). Both
    follow COCO, so the two metrics here share one matching.
    """
    per = {c: _voc_ap(hits[0], n_gt)
           for c, (n_gt, hits) in _by_class(detections, ground_truth, [iou_threshold], None).items()}
    mean = float(np.mean(list(per.values())))
    return (mean, per) if per_class else mean


def coco_map(detections, ground_truth, max_detections=100):
    """COCO's AP@[.50:.05:.95]: the mean over 10 IoU thresholds and the classes of 101-point interpolated AP.

    Matches pycocotools' ``COCOeval`` (bbox, area range "all", ``maxDets=100``)
    ``stats[0]`` on the same boxes; no crowd annotations.

    Parameters
    ----------
    detections, ground_truth : sequence of dict
        As for :func:`mean_average_precision`.
    max_detections : int, default 100
        Per image and class, the highest-scoring ones.

    Returns
    -------
    float
        Over the classes that have ground truth.
    """
    per_class = _by_class(detections, ground_truth, COCO_IOU_THRESHOLDS, max_detections)
    return float(np.mean([np.mean([_coco_ap(h, n_gt) for h in hits]) for n_gt, hits in per_class.values()]))
