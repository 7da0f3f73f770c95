"""Pictures out: float conversion, grids, PNG round trips, crops."""
import numpy as np
import pytest

from cnnkit.data.images import as_float_image, load_image, to_uint8
from cnnkit.viz.images import image_grid, random_crops, save_image


def test_uint8_and_grey_images_become_float_rgb_in_0_1():
    image = as_float_image(np.array([[0, 255]], np.uint8))
    assert image.shape == (1, 2, 3) and image.dtype == np.float32
    np.testing.assert_array_equal(image[0, 1], [1, 1, 1])


def test_to_uint8_clips_and_rounds():
    np.testing.assert_array_equal(to_uint8(np.array([-0.2, 0.5, 1.3])), [0, 128, 255])


def test_png_round_trip(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    save_image(tmp_path / "x.png", image)
    np.testing.assert_array_equal(load_image(tmp_path / "x.png"), image / np.float32(255))


def test_image_grid_places_images_row_by_row_between_padding():
    grid = image_grid(np.zeros((3, 2, 2)), ncols=2, pad=1)
    assert grid.shape == (2 * 3 + 1, 2 * 3 + 1)
    assert grid[1:3, 1:3].max() == 0 and grid[4:6, 4:6].min() == 1 and grid[0].min() == 1


def test_random_crops_have_the_requested_size_and_come_from_every_picture():
    pictures = [np.zeros((40, 50, 3), np.float32), np.ones((30, 30, 3), np.float32)]
    crops = random_crops(pictures, 4, 16, scale=(1, 2), seed=0)
    assert crops.shape == (4, 16, 16, 3)
    np.testing.assert_allclose(crops.mean(axis=(1, 2, 3)), [0, 1, 0, 1], atol=1e-6)
