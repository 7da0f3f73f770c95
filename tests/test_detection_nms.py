"""Non-maximum suppression against a pair-by-pair loop reference."""
import numpy as np
import pytest

from cnnkit.detection.nms import batched_nms, nms
from test_detection_boxes import random_boxes, reference_iou


def reference_nms(boxes, scores, threshold, max_boxes=None):
    """Greedy NMS with a Python loop over every pair."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    keep = []
    for i in order:
        if max_boxes is not None and len(keep) == max_boxes:
            break
        if all(reference_iou(boxes[i], boxes[k]) <= threshold for k in keep):
            keep.append(i)
    return keep


def clustered_boxes(rng, n):
    """Random boxes crowded enough for many to overlap."""
    return random_boxes(rng, n, size=6.0)


@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.9])
def test_nms_matches_loop_reference(threshold):
    rng = np.random.default_rng(int(threshold * 10))
    boxes, scores = clustered_boxes(rng, 60), rng.random(60)
    assert nms(boxes, scores, threshold).tolist() == reference_nms(boxes, scores, threshold)


def test_nms_respects_max_boxes():
    rng = np.random.default_rng(4)
    boxes, scores = clustered_boxes(rng, 60), rng.random(60)
    assert nms(boxes, scores, 0.5, max_boxes=3).tolist() == reference_nms(boxes, scores, 0.5, max_boxes=3)


def test_nms_returns_indices_in_descending_score_order():
    rng = np.random.default_rng(5)
    boxes, scores = clustered_boxes(rng, 40), rng.random(40)
    kept = nms(boxes, scores, 0.4)
    assert np.all(np.diff(scores[kept]) <= 0)


def test_nms_breaks_score_ties_by_lower_index():
    boxes = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [5, 5, 6, 6], [5, 5, 6, 6]], dtype=float)
    assert nms(boxes, np.ones(4), 0.5).tolist() == [0, 2]


def test_nms_keeps_box_whose_iou_equals_threshold():
    boxes = np.array([[0, 0, 2, 1], [1, 0, 3, 1]], dtype=float)  # IoU exactly 1/3
    assert nms(boxes, [0.9, 0.8], iou_threshold=1 / 3).tolist() == [0, 1]
    assert nms(boxes, [0.9, 0.8], iou_threshold=0.33).tolist() == [0]


def test_nms_suppresses_identical_boxes_keeping_the_best():
    boxes = np.tile([[1.0, 1.0, 4.0, 4.0]], (3, 1))
    assert nms(boxes, [0.2, 0.7, 0.5]).tolist() == [1]


def test_nms_of_empty_input_is_an_empty_int_array():
    kept = nms(np.zeros((0, 4)), np.zeros(0))
    assert kept.shape == (0,) and kept.dtype == np.int64


def test_nms_rejects_nan_scores():
    with pytest.raises(ValueError, match="NaN"):
        nms([[0, 0, 1, 1], [0, 0, 2, 2]], [0.5, np.nan])


def test_nms_rejects_inverted_box():
    with pytest.raises(ValueError, match=r"boxes\[1\]"):
        nms([[0, 0, 1, 1], [2, 0, 1, 1]], [0.5, 0.4])


def test_nms_rejects_mismatched_scores():
    with pytest.raises(ValueError, match=r"\(2, 4\) and \(3,\)"):
        nms(np.zeros((2, 4)), np.zeros(3))


def test_batched_nms_matches_per_class_loop_reference():
    rng = np.random.default_rng(6)
    boxes, scores, classes = clustered_boxes(rng, 80), rng.random(80), rng.integers(0, 4, 80)
    expected = []
    for c in range(4):
        members = np.flatnonzero(classes == c)
        expected += [members[k] for k in reference_nms(boxes[members], scores[members], 0.5)]
    expected.sort(key=lambda i: (-scores[i], i))
    assert batched_nms(boxes, scores, classes, 0.5).tolist() == expected


def test_batched_nms_never_suppresses_across_classes():
    boxes = np.tile([[0.0, 0.0, 1.0, 1.0]], (2, 1))
    assert batched_nms(boxes, [0.9, 0.8], [0, 1]).tolist() == [0, 1]
    assert batched_nms(boxes, [0.9, 0.8], [1, 1]).tolist() == [0]


def test_batched_nms_max_boxes_keeps_the_best_overall():
    rng = np.random.default_rng(7)
    boxes, scores, classes = clustered_boxes(rng, 50), rng.random(50), rng.integers(0, 3, 50)
    everything = batched_nms(boxes, scores, classes)
    assert batched_nms(boxes, scores, classes, max_boxes=4).tolist() == everything[:4].tolist()


def test_batched_nms_of_empty_input_is_an_empty_int_array():
    kept = batched_nms(np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=int))
    assert kept.shape == (0,) and kept.dtype == np.int64
