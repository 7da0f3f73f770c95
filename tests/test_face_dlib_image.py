"""dlib's image geometry: resizing and pyramids equal dlib-bin's pixel for pixel; its roundings and box overlap."""
import numpy as np
import pytest

from cnnkit.face.dlib_image import (boxes_overlap, lround, point_down, point_up, pyramid_down, pyramid_up,
                                    pyramid_up_shape, rect_down, rect_up, resize_bilinear, to_rect)

dlib = pytest.importorskip("dlib")
rng = np.random.default_rng(0)
SIZES = [(37, 53, 75, 108), (100, 9, 201, 20), (60, 61, 20, 13), (5, 5, 11, 12), (211, 353, 175, 294)]


@pytest.mark.parametrize("h, w, oh, ow", SIZES)
def test_rgb_resize_equals_dlibs(h, w, oh, ow):
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    np.testing.assert_array_equal(resize_bilinear(image, oh, ow), dlib.resize_image(image, oh, ow))


@pytest.mark.parametrize("h, w, oh, ow", SIZES)
def test_grey_resize_equals_dlibs_rounding_included(h, w, oh, ow):
    image = rng.integers(0, 256, (h, w), dtype=np.uint8)
    np.testing.assert_array_equal(resize_bilinear(image, oh, ow), dlib.resize_image(image, oh, ow))


@pytest.mark.parametrize("h, w, oh, ow", SIZES)
def test_float_resize_equals_dlibs(h, w, oh, ow):
    plane = rng.normal(size=(h, w)).astype(np.float32)
    np.testing.assert_array_equal(resize_bilinear(plane, oh, ow), dlib.resize_image(plane, oh, ow))


def test_float_planes_resize_one_by_one():
    planes = rng.normal(size=(30, 40, 3)).astype(np.float32)
    out = resize_bilinear(planes, 25, 33)
    for k in range(3):
        np.testing.assert_array_equal(out[..., k], resize_bilinear(np.ascontiguousarray(planes[..., k]), 25, 33))


@pytest.mark.parametrize("h, w", [(7, 2), (30, 41), (211, 353), (64, 9)])
def test_pyramid_down_equals_dlibs_pyramid_down_6(h, w):
    for image in (rng.integers(0, 256, (h, w, 3), dtype=np.uint8), rng.integers(0, 256, (h, w), dtype=np.uint8)):
        np.testing.assert_array_equal(pyramid_down(image), dlib.pyramid_down(6)(image))


def test_pyramid_up_doubles_the_size_as_dlibs_rect_up_rounds_it():
    assert pyramid_up_shape(37, 53) == (75, 108)
    image = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    assert pyramid_up(image, 2).shape == (151, 218, 3)
    np.testing.assert_array_equal(pyramid_up(image), resize_bilinear(image, 75, 108))


def test_resize_refuses_other_images():
    with pytest.raises(ValueError, match=r"RGB \(H, W, 3\) or grey .* got shape \(4, 4, 2\) and dtype uint8"):
        resize_bilinear(np.zeros((4, 4, 2), dtype=np.uint8), 2, 2)


def test_rectangles_round_halves_away_from_zero_as_lround():
    assert to_rect((0.5, -0.5, 1.5, -2.5)) == (1, -1, 2, -3)
    np.testing.assert_array_equal(lround([2.5, -2.5, 0.49]), [3, -3, 0])


def test_point_up_inverts_point_down_for_both_pyramids():
    p = np.array([[12.0, 7.0], [-3.0, 40.0]])
    for n in (2, 6):
        np.testing.assert_allclose(point_up(point_down(p, 3, n), 3, n), p)
    assert rect_up((0, 0, 9, 9), 1, n=2) == (2.5, 1.5, 20.5, 19.5)
    np.testing.assert_allclose(rect_down((0.3, 0.3, 60.3, 60.3)), (0, 0, 50, 50))


def test_overlap_divides_by_the_bounding_box_not_the_union():
    a, b = (0, 0, 9, 9), (5, 0, 14, 9)                       # 50 shared pixels, bounding box 150
    assert boxes_overlap(a, b, 0.3, 1.0) and not boxes_overlap(a, b, 0.34, 1.0)
    assert boxes_overlap((0, 0, 9, 9), (2, 2, 5, 5), 0.9, 0.99)   # the small box is covered entirely
    assert not boxes_overlap((0, 0, 9, 9), (10, 0, 19, 9), 0.0, 0.0)
