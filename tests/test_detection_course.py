"""The course's YOLO functions: corners, score filter, scaling, NMS and yolo_eval, against loop references."""
import numpy as np
import pytest

from cnnkit.detection.course import (scale_boxes, yolo_boxes_to_corners, yolo_eval, yolo_filter_boxes,
                                     yolo_non_max_suppression)
from cnnkit.detection.nms import batched_nms
from test_detection_nms import reference_nms


def test_yolo_boxes_to_corners_orders_y_first_like_the_course():
    box_xy = np.array([[0.5, 0.25]])
    box_wh = np.array([[0.2, 0.1]])
    np.testing.assert_allclose(yolo_boxes_to_corners(box_xy, box_wh), [[0.2, 0.4, 0.3, 0.6]])


def test_scale_boxes_multiplies_by_height_and_width():
    np.testing.assert_allclose(scale_boxes([[0.5, 0.5, 1.0, 1.0]], (720.0, 1280.0)), [[360, 640, 720, 1280]])


def reference_filter(confidence, boxes, probs, threshold):
    """The course's filter with a loop over anchors."""
    scores, kept, classes = [], [], []
    for index in np.ndindex(probs.shape[:-1]):
        box_scores = confidence[index][0] * probs[index]
        best = int(np.argmax(box_scores))
        if box_scores[best] >= threshold:
            scores.append(box_scores[best])
            kept.append(boxes[index])
            classes.append(best)
    return np.array(scores), np.array(kept).reshape(-1, 4), np.array(classes)


def course_outputs(rng, S=19, B=5, C=80):
    """Random outputs in the course's shapes: (S, S, B, 2), (S, S, B, 2), (S, S, B, 1), (S, S, B, C)."""
    return (rng.random((S, S, B, 2)), rng.uniform(0.05, 0.3, (S, S, B, 2)), rng.random((S, S, B, 1)),
            rng.dirichlet(np.full(C, 0.05), (S, S, B)))


def test_yolo_filter_boxes_matches_loop_reference():
    rng = np.random.default_rng(10)
    _, _, confidence, probs = course_outputs(rng)
    boxes = rng.random((19, 19, 5, 4))
    result = yolo_filter_boxes(confidence, boxes, probs, threshold=0.5)
    for got, expected in zip(result, reference_filter(confidence, boxes, probs, 0.5)):
        np.testing.assert_allclose(got, expected)


def test_yolo_filter_boxes_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"\(19, 19, 5, 1\)"):
        yolo_filter_boxes(np.zeros((19, 19, 5, 1)), np.zeros((19, 19, 5, 4)), np.zeros((19, 19, 4, 80)))


def test_yolo_non_max_suppression_is_per_class_and_by_score():
    rng = np.random.default_rng(11)
    boxes = rng.uniform(0, 5, (40, 2))
    boxes = np.concatenate([boxes, boxes + rng.uniform(0.5, 3, (40, 2))], axis=1)
    scores, classes = rng.random(40), rng.integers(0, 3, 40)
    s, b, c = yolo_non_max_suppression(scores, boxes, classes, max_boxes=6, iou_threshold=0.4)
    keep = batched_nms(boxes, scores, classes, 0.4, 6)
    np.testing.assert_array_equal(s, scores[keep])
    np.testing.assert_array_equal(b, boxes[keep])
    np.testing.assert_array_equal(c, classes[keep])


def test_yolo_non_max_suppression_class_agnostic_like_the_course():
    rng = np.random.default_rng(12)
    boxes = rng.uniform(0, 5, (30, 2))
    boxes = np.concatenate([boxes, boxes + rng.uniform(0.5, 3, (30, 2))], axis=1)
    scores, classes = rng.random(30), rng.integers(0, 3, 30)
    s, _, _ = yolo_non_max_suppression(scores, boxes, classes, max_boxes=10, per_class=False)
    np.testing.assert_array_equal(s, scores[reference_nms(boxes, scores, 0.5, max_boxes=10)])


def test_yolo_eval_matches_loop_reference():
    rng = np.random.default_rng(13)
    box_xy, box_wh, confidence, probs = outputs = course_outputs(rng)
    corners = np.concatenate([box_xy[..., ::-1] - box_wh[..., ::-1] / 2, box_xy[..., ::-1] + box_wh[..., ::-1] / 2],
                             axis=-1)
    scores, boxes, classes = reference_filter(confidence, corners, probs, 0.6)
    boxes = boxes * [720.0, 1280.0, 720.0, 1280.0]
    expected = []
    for c in np.unique(classes):
        members = np.flatnonzero(classes == c)
        expected += [members[k] for k in reference_nms(boxes[members], scores[members], 0.5)]
    expected = sorted(expected, key=lambda i: (-scores[i], i))[:10]
    got_scores, got_boxes, got_classes = yolo_eval(outputs, (720.0, 1280.0), max_boxes=10)
    np.testing.assert_allclose(got_scores, scores[expected])
    np.testing.assert_allclose(got_boxes, boxes[expected])
    np.testing.assert_array_equal(got_classes, classes[expected])
    assert len(got_scores) == 10
