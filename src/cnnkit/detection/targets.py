"""Training targets of the YOLO head: anchor shapes by k-means, and the assignment of objects to cells and anchors.

See :mod:`cnnkit.detection.yolo` for the head's layout and the anchors' unit (grid cells).
"""
import numpy as np

from cnnkit.detection.boxes import as_float_array, check_boxes
from cnnkit.detection.yolo import check_anchors
from cnnkit.utils import pair


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
    anchors = check_anchors(anchors)
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


def anchors_from_boxes(boxes_list, num_anchors, cell_size, seed=0):
    """YOLOv2 anchors: k-means (distance 1 - IoU) on the training boxes' sizes, in grid cells.

    Parameters
    ----------
    boxes_list : sequence of array_like, each shape (M_n, 4)
        Corner boxes ``(x1, y1, x2, y2)`` in pixels.
    num_anchors : int
    cell_size : float
        Pixels per grid cell (the model's stride).
    seed : int, default 0

    Returns
    -------
    ndarray of float32, shape (num_anchors, 2)
        ``(width, height)`` in grid cells, sorted by area.
    """
    boxes = np.concatenate([np.asarray(b, dtype=np.float64).reshape(-1, 4) for b in boxes_list])
    sizes = boxes[:, 2:] - boxes[:, :2]
    return (kmeans_anchors(sizes, num_anchors, seed=seed) / cell_size).astype(np.float32)

