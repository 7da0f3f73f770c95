import numpy as np
import pytest

import cnnkit.functional as F
from cnnkit import filters

COURSE_IMAGE = np.array([[3, 0, 1, 2, 7, 4], [1, 5, 8, 9, 3, 1], [2, 7, 2, 5, 1, 3],
                         [0, 1, 3, 1, 7, 8], [4, 2, 1, 6, 2, 8], [2, 4, 5, 2, 3, 9]], dtype=np.float32)


def _correlate(image, kernel):
    return F.conv2d(image[None, :, :, None], kernel[:, :, None, None]).numpy()[0, :, :, 0]


def test_course_example_vertical_filter_gives_the_worked_4x4_map():
    out = _correlate(COURSE_IMAGE, filters.vertical())
    expected = np.array([[-5, -4, 0, 8], [-10, -2, 2, 3], [0, -2, -4, -7], [-3, -2, -3, -16]], dtype=np.float32)
    assert out.shape == (4, 4)
    assert out[0, 0] == -5
    np.testing.assert_array_equal(out, expected)


def test_half_bright_image_gives_the_bright_band_in_every_row():
    image = np.zeros((6, 6), dtype=np.float32)
    image[:, :3] = 10
    out = _correlate(image, filters.vertical())
    np.testing.assert_array_equal(out, np.tile([0, 30, 30, 0], (4, 1)))


def test_kernels_are_the_classic_ones():
    np.testing.assert_array_equal(filters.horizontal(), [[1, 1, 1], [0, 0, 0], [-1, -1, -1]])
    np.testing.assert_array_equal(filters.sobel(), [[1, 0, -1], [2, 0, -2], [1, 0, -1]])
    np.testing.assert_array_equal(filters.sobel(vertical=False), filters.sobel().T)
    np.testing.assert_array_equal(filters.scharr(), [[3, 0, -3], [10, 0, -10], [3, 0, -3]])
    np.testing.assert_array_equal(filters.scharr(vertical=False), filters.scharr().T)
    assert filters.vertical().dtype == np.float32


@pytest.mark.parametrize("kind", ["sobel", "scharr", "vertical", "horizontal"])
def test_detect_edges_keeps_the_image_size_and_finds_a_step(kind):
    image = np.zeros((12, 10), dtype=np.float32)
    if kind == "horizontal":
        image[:5] = 1
    else:
        image[:, :5] = 1
    edges = filters.detect_edges(image, kind=kind)
    assert edges.shape == (12, 10)
    strong = np.argwhere(edges > 0.5 * edges.max())
    axis = 0 if kind == "horizontal" else 1
    assert set(strong[:, axis]) <= {4, 5}


def test_detect_edges_gradient_magnitude_matches_a_direct_computation():
    rng = np.random.default_rng(0)
    image = rng.random((9, 7)).astype(np.float32)
    padded = np.pad(image, 1, mode="reflect")
    k = filters.sobel()
    gx = np.array([[np.sum(padded[i:i + 3, j:j + 3] * k) for j in range(7)] for i in range(9)])
    gy = np.array([[np.sum(padded[i:i + 3, j:j + 3] * k.T) for j in range(7)] for i in range(9)])
    np.testing.assert_allclose(filters.detect_edges(image), np.sqrt(gx ** 2 + gy ** 2), rtol=1e-5, atol=1e-5)


def test_detect_edges_on_colour_uses_luminance():
    rng = np.random.default_rng(1)
    rgb = rng.random((8, 8, 3)).astype(np.float32)
    grey = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    np.testing.assert_allclose(filters.detect_edges(rgb), filters.detect_edges(grey), rtol=1e-5, atol=1e-6)


def test_detect_edges_rejects_unknown_kind_and_bad_shapes():
    with pytest.raises(ValueError, match="unknown edge kind"):
        filters.detect_edges(np.zeros((4, 4)), kind="laplace")
    with pytest.raises(ValueError, match=r"\(2, 3, 4, 5\)"):
        filters.detect_edges(np.zeros((2, 3, 4, 5)))
