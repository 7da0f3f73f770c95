"""The synthetic shapes detection set."""
import numpy as np
import pytest

from cnnkit.detection.synthetic import CLASS_NAMES, make_shapes_dataset


def test_shapes_dataset_is_deterministic_under_a_seed():
    first, second = make_shapes_dataset(6, seed=3), make_shapes_dataset(6, seed=3)
    np.testing.assert_array_equal(first[0], second[0])
    for a, b in zip(first[1] + first[2], second[1] + second[2]):
        np.testing.assert_array_equal(a, b)


def test_shapes_dataset_differs_between_seeds():
    assert not np.array_equal(make_shapes_dataset(2, seed=0)[0], make_shapes_dataset(2, seed=1)[0])


def test_shapes_dataset_shapes_dtypes_and_range():
    images, boxes, classes = make_shapes_dataset(5, image_size=96, max_objects=3)
    assert images.shape == (5, 96, 96, 3) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert len(boxes) == len(classes) == 5
    for b, c in zip(boxes, classes):
        assert b.dtype == np.float32 and b.shape == (len(c), 4) and c.dtype == np.int64
        assert 1 <= len(c) <= 3


def test_shapes_dataset_boxes_are_inside_the_image_with_positive_size():
    _, boxes, _ = make_shapes_dataset(30, image_size=64)
    boxes = np.concatenate(boxes)
    assert (boxes >= 0).all() and (boxes <= 64).all()
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()


def test_shapes_dataset_has_every_class_and_varied_sizes():
    _, boxes, classes = make_shapes_dataset(30)
    assert set(np.concatenate(classes).tolist()) == set(range(len(CLASS_NAMES)))
    widths = np.concatenate(boxes)[:, 2] - np.concatenate(boxes)[:, 0]
    assert widths.max() > 2 * widths.min()


def test_shapes_dataset_boxes_hold_the_shapes_colour():
    # the background is muted (channels <= 0.55 plus faint noise); every shape has a channel of at least 0.75
    images, boxes, _ = make_shapes_dataset(10)
    for image, image_boxes in zip(images, boxes):
        strong = image.max(axis=-1) > 0.7
        inside = np.zeros(strong.shape, dtype=bool)
        for x1, y1, x2, y2 in image_boxes.astype(int):
            inside[y1:y2, x1:x2] = True
            assert strong[y1:y2, x1:x2].any()
        assert not (strong & ~inside).any()


def test_shapes_dataset_has_some_overlapping_objects():
    _, boxes, _ = make_shapes_dataset(40)
    overlaps = 0
    for b in boxes:
        for i in range(len(b)):
            for j in range(i):
                w = min(b[i, 2], b[j, 2]) - max(b[i, 0], b[j, 0])
                h = min(b[i, 3], b[j, 3]) - max(b[i, 1], b[j, 1])
                overlaps += w > 0 and h > 0
    assert overlaps > 0


def test_shapes_dataset_rejects_bad_object_counts():
    with pytest.raises(ValueError, match="min_objects=5, max_objects=4"):
        make_shapes_dataset(1, min_objects=5)
