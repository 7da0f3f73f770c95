"""FHOG features as dlib's extract_fhog_features computes them."""
from pathlib import Path

import numpy as np
import pytest

from cnnkit.face.fhog import NUM_FEATURES, extract_fhog_features, fhog_planes

DATA = Path(__file__).resolve().parent / "data" / "dlib_fhog"


def tied_image():
    """A 56x72 RGB image with few levels: many pixels whose channels tie on gradient strength."""
    y, x, c = np.mgrid[:56, :72, :3]
    return (((x * 7 + y * 13 + c * 29) % 5) * 60 + ((x // 9 + y // 7) % 2) * 15).astype(np.uint8)


def test_features_equal_dlibs_bit_for_bit_even_where_channels_tie():
    dlib_planes = np.load(DATA / "features.npy")
    np.testing.assert_array_equal(fhog_planes(tied_image(), 8, 10, 10), dlib_planes)


def test_features_are_channels_last_views_of_the_planes():
    image = tied_image()
    np.testing.assert_array_equal(extract_fhog_features(image, 8, 10, 10),
                                  fhog_planes(image, 8, 10, 10).transpose(1, 2, 0))


def test_padding_adds_zero_rows_and_columns_for_the_filter():
    features = extract_fhog_features(tied_image(), 8, 10, 10)
    # 7 x 9 cells -> 5 x 7 feature cells, plus 9 for a 10x10 filter, 4 of them before.
    assert features.shape == (14, 16, NUM_FEATURES)
    assert not features[:4].any() and not features[9:].any() and not features[:, :4].any() and features[4:9, 4:11].any()


def test_a_grey_image_gives_the_features_of_its_rgb_copy():
    grey = tied_image()[..., 0]
    np.testing.assert_array_equal(extract_fhog_features(grey), extract_fhog_features(np.repeat(grey[..., None], 3, 2)))


def test_a_vertical_edge_fills_the_horizontal_gradient_bins():
    image = np.zeros((64, 64), dtype=np.uint8)
    image[:, 32:] = 200
    cell = extract_fhog_features(image)[1, 2]                    # a cell on the edge
    assert cell[0] > 0.1 and np.isclose(cell[:18].sum(), cell[0])  # all of it in bin 0 (direction (1, 0))


def test_an_image_of_fewer_than_three_cells_has_no_features():
    assert extract_fhog_features(np.zeros((16, 100, 3), dtype=np.uint8)).shape == (0, 0, NUM_FEATURES)


def test_bad_images_are_refused():
    with pytest.raises(ValueError, match=r"uint8 RGB .* got shape \(8, 8, 4\)"):
        extract_fhog_features(np.zeros((8, 8, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match="cell_size must be >= 2"):
        extract_fhog_features(np.zeros((64, 64), dtype=np.uint8), cell_size=1)
