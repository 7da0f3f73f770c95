"""Bounding boxes: validation, intersection over union, and conversions between formats.

Corner boxes are ``(x1, y1, x2, y2)`` with ``x1 <= x2`` and ``y1 <= y2``, in
continuous coordinates (no "+1" pixel convention). IoU is unchanged when x and
y are swapped in both boxes, so ``iou`` and the NMS built on it work equally on
the course's ``(y1, x1, y2, x2)`` order, as long as both arguments use the same one.
"""
import numpy as np

from cnnkit.autograd.tensor import Tensor
from cnnkit.backend import DEFAULT_DTYPE, to_numpy


def as_float_array(x, name="array"):
    """Return ``x`` (array_like or Tensor) as a NumPy float array; float dtypes are kept, the rest become float32."""
    array = to_numpy(x.data) if isinstance(x, Tensor) else np.asarray(x)
    if array.dtype.kind == "f":
        return array
    if array.dtype.kind not in "iub":
        raise TypeError(f"{name} must be numeric, got dtype {array.dtype}")
    return array.astype(DEFAULT_DTYPE)


def check_boxes(boxes, name="boxes"):
    """Validate corner boxes and return them as a float array of shape (..., 4).

    Parameters
    ----------
    boxes : array_like, shape (4,) or (M, 4)
        Corner boxes, ``(x1, y1, x2, y2)`` (or ``(y1, x1, y2, x2)``).
    name : str
        How the error message calls the argument.

    Returns
    -------
    ndarray, the shape of ``boxes``

    Raises
    ------
    ValueError
        When the last axis is not 4, a coordinate is NaN or infinite, or a box
        has ``x2 < x1`` or ``y2 < y1``; the message names the first such box's index.
    """
    boxes = as_float_array(boxes, name)
    if boxes.ndim not in (1, 2) or boxes.shape[-1] != 4:
        raise ValueError(f"{name} must have shape (4,) or (M, 4), got {boxes.shape}")
    rows = boxes.reshape(-1, 4)
    bad = ~np.isfinite(rows).all(axis=1) | (rows[:, 2] < rows[:, 0]) | (rows[:, 3] < rows[:, 1])
    if bad.any():
        index = int(np.argmax(bad))
        raise ValueError(f"{name}[{index}] = {rows[index].tolist()} is not a valid corner box: coordinates "
                         f"must be finite with x2 >= x1 and y2 >= y1")
    return boxes


def box_area(boxes):
    """Areas ``(x2 - x1) * (y2 - y1)`` of corner boxes of shape (..., 4), shape (...)."""
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def pairwise_iou(a, b):
    """IoU matrix (A, B) of already validated corner boxes (A, 4) and (B, 4); 0 where the union is 0."""
    # (A, 1, 2) against (1, B, 2): the corners of every intersection at once
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    sides = np.clip(bottom_right - top_left, 0, None)  # disjoint boxes have no negative overlap
    inter = sides[..., 0] * sides[..., 1]
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    # two zero-area boxes have union 0: their IoU is 0, not 0/0
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def iou(a, b):
    """Intersection over union of corner boxes.

    Parameters
    ----------
    a : array_like, shape (4,) or (A, 4)
    b : array_like, shape (4,) or (B, 4)
        Corner boxes ``(x1, y1, x2, y2)``; ``(y1, x1, y2, x2)`` gives the same
        result when both use it.

    Returns
    -------
    float or ndarray
        A float for two single boxes; otherwise the IoU matrix of shape (A, B),
        with the axis of a single box dropped ((B,) or (A,)). The intersection
        is clamped at zero, and boxes of zero area give 0 rather than NaN.

    Raises
    ------
    ValueError
        For NaN coordinates or a box with ``x2 < x1`` or ``y2 < y1``, naming its index.

    Examples
    --------
    >>> iou([0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 3.0])
    0.14285714285714285
    """
    a, b = check_boxes(a, "a"), check_boxes(b, "b")
    dtype = np.result_type(a, b)
    out = pairwise_iou(a.reshape(-1, 4).astype(dtype), b.reshape(-1, 4).astype(dtype))
    if a.ndim == 1 and b.ndim == 1:
        return float(out[0, 0])
    if a.ndim == 1:
        return out[0]
    return out[:, 0] if b.ndim == 1 else out


def check_last_axis(boxes, name="boxes"):
    """Return ``boxes`` (array_like, shape (..., 4)) as a float array, or raise a ValueError naming ``name``."""
    boxes = as_float_array(boxes, name)
    if boxes.ndim == 0 or boxes.shape[-1] != 4:
        raise ValueError(f"{name} must have shape (..., 4), got {boxes.shape}")
    return boxes


def xywh_to_xyxy(boxes):
    """Centre boxes ``(cx, cy, w, h)`` to corner boxes ``(x1, y1, x2, y2)``.

    Parameters
    ----------
    boxes : array_like, shape (..., 4)

    Returns
    -------
    ndarray, shape (..., 4), the dtype of ``boxes`` (float32 for integers)
    """
    boxes = check_last_axis(boxes, "boxes")
    centre, size = boxes[..., :2], boxes[..., 2:]
    return np.concatenate([centre - size / 2, centre + size / 2], axis=-1)


def xyxy_to_xywh(boxes):
    """Corner boxes ``(x1, y1, x2, y2)`` to centre boxes ``(cx, cy, w, h)``.

    Parameters
    ----------
    boxes : array_like, shape (..., 4)

    Returns
    -------
    ndarray, shape (..., 4), the dtype of ``boxes`` (float32 for integers)
    """
    boxes = check_last_axis(boxes, "boxes")
    top_left, bottom_right = boxes[..., :2], boxes[..., 2:]
    return np.concatenate([(top_left + bottom_right) / 2, bottom_right - top_left], axis=-1)
