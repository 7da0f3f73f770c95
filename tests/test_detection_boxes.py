"""IoU and box conversions, against loop-based references."""
import numpy as np
import pytest

from cnnkit.detection.boxes import iou, xywh_to_xyxy, xyxy_to_xywh


def random_boxes(rng, n, size=10.0):
    """Random valid corner boxes (n, 4), some of zero width or height."""
    corners = rng.uniform(0, size, (n, 2))
    sides = rng.uniform(0, size / 2, (n, 2))
    sides[rng.random((n, 2)) < 0.1] = 0.0
    return np.concatenate([corners, corners + sides], axis=1)


def reference_iou(a, b):
    """IoU of two single boxes, written out."""
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def test_iou_matrix_matches_loop_reference():
    rng = np.random.default_rng(0)
    a, b = random_boxes(rng, 30), random_boxes(rng, 20)
    expected = np.array([[reference_iou(p, q) for q in b] for p in a])
    np.testing.assert_allclose(iou(a, b), expected, rtol=1e-12, atol=0)


def test_iou_of_two_single_boxes_is_a_float():
    result = iou([0, 0, 2, 2], [1, 1, 3, 3])
    assert isinstance(result, float)
    assert result == pytest.approx(1 / 7)


def test_iou_of_single_box_against_many_drops_its_axis():
    rng = np.random.default_rng(1)
    many = random_boxes(rng, 5)
    assert iou(many[0], many).shape == (5,)
    assert iou(many, many[0]).shape == (5,)
    np.testing.assert_allclose(iou(many[0], many), iou(many[:1], many)[0])


def test_iou_of_disjoint_boxes_is_zero_not_negative():
    assert iou([0, 0, 1, 1], [5, 5, 6, 6]) == 0.0
    assert iou([0, 0, 1, 1], [5, 0, 6, 1]) == 0.0  # overlapping in y only


def test_iou_of_identical_boxes_is_one():
    assert iou([1.5, 2.0, 4.0, 7.0], [1.5, 2.0, 4.0, 7.0]) == 1.0


def test_iou_of_zero_area_boxes_is_zero_not_nan():
    assert iou([1, 1, 1, 1], [1, 1, 1, 1]) == 0.0
    assert iou([1, 1, 1, 3], [0, 0, 2, 2]) == 0.0


def test_iou_is_unchanged_when_x_and_y_swap():
    rng = np.random.default_rng(2)
    a, b = random_boxes(rng, 8), random_boxes(rng, 6)
    swap = [1, 0, 3, 2]
    np.testing.assert_allclose(iou(a[:, swap], b[:, swap]), iou(a, b))


def test_iou_rejects_inverted_box_naming_its_index():
    good = np.array([[0, 0, 1, 1], [0, 0, 2, 2], [3, 0, 2, 1]], dtype=float)
    with pytest.raises(ValueError, match=r"a\[2\]"):
        iou(good, good[:2])
    with pytest.raises(ValueError, match=r"b\[0\]"):
        iou(good[:2], [[0, 2, 1, 1]])


def test_iou_rejects_nan_naming_its_index():
    with pytest.raises(ValueError, match=r"b\[1\]"):
        iou([0, 0, 1, 1], [[0, 0, 1, 1], [0, np.nan, 1, 1]])


def test_iou_keeps_float32():
    a = np.array([[0, 0, 2, 2]], dtype=np.float32)
    assert iou(a, a).dtype == np.float32


def test_iou_of_empty_sets_is_an_empty_matrix():
    assert iou(np.zeros((0, 4)), np.ones((3, 4))).shape == (0, 3)


def test_xywh_and_xyxy_are_inverse():
    rng = np.random.default_rng(3)
    boxes = random_boxes(rng, 10).reshape(2, 5, 4)
    np.testing.assert_allclose(xywh_to_xyxy(xyxy_to_xywh(boxes)), boxes, atol=1e-12)


def test_xyxy_to_xywh_gives_centre_and_size():
    np.testing.assert_array_equal(xyxy_to_xywh([2, 4, 6, 10]), [4, 7, 4, 6])
    np.testing.assert_array_equal(xywh_to_xyxy([4, 7, 4, 6]), [2, 4, 6, 10])
