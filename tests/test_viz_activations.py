"""Receptive fields from the layer stack, top-k activating patches, feature maps and filters as pictures."""
import numpy as np
import pytest

from cnnkit.models import lenet5
from cnnkit.models.vgg_features import vgg16_features
from cnnkit.nn import Conv2d, MaxPool2d, ReLU, Sequential
from cnnkit.viz.activations import (ReceptiveField, feature_map_grid, filter_images, layer_activations, patch_grid,
                                    receptive_fields, top_k_patches)

rng = np.random.default_rng(0)


def test_receptive_fields_of_vgg16_match_the_published_sizes():
    fields = receptive_fields(vgg16_features(weights=None, rng=0))
    assert fields["conv1_1"] == ReceptiveField(3, 1, 1)
    assert fields["conv3_1"] == ReceptiveField(24, 4, 10)
    assert fields["conv5_1"] == ReceptiveField(132, 16, 58)
    assert fields["conv5_3"] == ReceptiveField(196, 16, 90)


def test_receptive_fields_from_kernel_stride_padding_tuples():
    # AlexNet's first two layers: 11x11/4 conv, 3x3/2 pool
    fields = receptive_fields([("conv1", (11, 4, 2)), ("pool1", (3, 2, 0))])
    assert fields == {"conv1": ReceptiveField(11, 4, 2), "pool1": ReceptiveField(19, 8, 2)}


def test_receptive_fields_skip_layers_without_a_kernel():
    model = Sequential(Conv2d(1, 2, 3, padding="same"), ReLU(), MaxPool2d(2), Conv2d(2, 2, 5, stride=2))
    assert list(receptive_fields(model).values()) == [ReceptiveField(3, 1, 1), ReceptiveField(4, 2, 1),
                                                      ReceptiveField(12, 4, 1)]


def test_window_of_a_unit_follows_stride_and_padding():
    assert ReceptiveField(24, 4, 10).window(2, 3) == (-2, 2, 22, 26)


def test_top_k_patches_take_each_units_strongest_images_and_positions():
    images = np.zeros((4, 6, 6, 2), np.float32)
    images[0, 1, 2, 0], images[2, 4, 4, 0], images[3, 0, 5, 1] = 0.9, 0.7, 0.8
    patches, values = top_k_patches(lambda x: x, images, ReceptiveField(1, 1, 0), k=2)
    assert patches.shape == (2, 2, 1, 1, 2)
    np.testing.assert_array_equal(values, np.float32([[0.9, 0.7], [0.8, 0.0]]))
    np.testing.assert_array_equal(patches[[0, 0, 1], [0, 1, 0], 0, 0, [0, 0, 1]], np.float32([0.9, 0.7, 0.8]))


def test_top_k_patches_cut_the_receptive_field_grey_past_the_border_when_no_window_fits():
    images = rng.uniform(0, 1, (3, 2, 2, 1)).astype(np.float32)
    images[1, 0, 0] = 2.0
    patches, _ = top_k_patches(lambda x: x, images, ReceptiveField(3, 1, 1), k=1, units=[0])
    np.testing.assert_array_equal(patches[0, 0, 0, :, 0], [0.5, 0.5, 0.5])
    np.testing.assert_array_equal(patches[0, 0, 1:, 1:, 0], images[1, :2, :2, 0])


def test_top_k_patches_prefer_units_whose_window_lies_inside_the_image():
    images = np.zeros((2, 5, 5, 1), np.float32)
    images[:, 0, 0] = 9.0   # the strongest response, but its 3x3 window runs past the corner
    images[:, 2, 2] = 1.0   # a window wholly inside
    patches, values = top_k_patches(lambda x: x, images, ReceptiveField(3, 1, 1), k=2)
    np.testing.assert_array_equal(values, [[1.0, 1.0]])
    assert (patches != 0.5).all()  # no grey margin


def test_top_k_patches_never_repeat_a_patch_of_one_image():
    # the same crop twice (two crops of one photo at one place) and a third elsewhere in that photo
    images = np.zeros((3, 4, 4, 1), np.float32)
    images[:, 1, 1, 0] = [3.0, 2.0, 1.0]
    origins = np.array([[0, 10, 10, 1], [0, 10, 10, 1], [0, 50, 50, 1]])
    patches, values = top_k_patches(lambda x: x, images, ReceptiveField(2, 1, 0), k=3, origins=origins)
    np.testing.assert_array_equal(values[0, :2], [3.0, 1.0])
    assert np.isnan(values[0, 2]) and (patches[0, 2] == 1).all()  # no third distinct patch: left white


def test_top_k_patches_keep_windows_of_one_photo_that_barely_overlap():
    images = np.zeros((2, 4, 4, 1), np.float32)
    images[:, 0, 0, 0] = [2.0, 1.0]
    origins = np.array([[0, 0, 0, 1], [0, 0, 3, 1]])  # 4x4 windows sharing one column of four
    _, values = top_k_patches(lambda x: x, images, ReceptiveField(4, 1, 0), k=2, origins=origins)
    np.testing.assert_array_equal(values, [[2.0, 1.0]])


def test_top_k_patches_report_progress_per_batch():
    calls = []
    top_k_patches(lambda x: x, np.zeros((5, 3, 3, 1)), ReceptiveField(1, 1, 0), k=1, batch_size=2,
                  progress=lambda done, total: calls.append((done, total)))
    assert calls == [(2, 5), (4, 5), (5, 5)]


def test_receptive_fields_of_lenet5_match_hand_computed_values():
    # conv 5: 5; pool 2/2: 5 + 1 = 6, stride 2; conv 5: 6 + 4 * 2 = 14; pool 2/2: 14 + 1 * 2 = 16, stride 4
    fields = receptive_fields(lenet5())
    assert fields == {"features.0": ReceptiveField(5, 1, 0), "features.2": ReceptiveField(6, 2, 0),
                      "features.3": ReceptiveField(14, 2, 0), "features.5": ReceptiveField(16, 4, 0)}


def test_receptive_fields_of_vgg16_conv4_match_hand_computed_values():
    # after pool3 the field is 44 at stride 8; each 3x3 conv adds 2 * 8: 60, 76, 92
    fields = receptive_fields(vgg16_features(weights=None, rng=0))
    assert [fields[f"conv4_{k}"].size for k in (1, 2, 3)] == [60, 76, 92]
    assert fields["conv4_3"].stride == 8


def test_fitting_input_is_the_smallest_image_a_whole_window_fits_in():
    assert ReceptiveField(132, 16, 58).fitting_input == 138   # VGG-16 conv5_1: unit 4 sees pixels 6..137
    assert ReceptiveField(14, 2, 0).fitting_input == 14
    assert ReceptiveField(3, 1, 1).fitting_input == 3     # unit 1 sees pixels 0..2


def test_top_k_patches_need_at_least_k_images():
    with pytest.raises(ValueError, match="k must be in"):
        top_k_patches(lambda x: x, np.zeros((3, 4, 4, 1)), ReceptiveField(1, 1, 0), k=9)


def test_layer_activations_of_vgg_taps_and_of_hooked_modules_agree_in_shape():
    images = rng.uniform(0, 1, (2, 16, 16, 3)).astype(np.float32)
    assert layer_activations(vgg16_features(weights=None, rng=0), "conv2_1")(images).shape == (2, 8, 8, 128)
    model = Sequential(Conv2d(3, 4, 3, padding=1), ReLU(), MaxPool2d(2))
    assert layer_activations(model, "1")(images).shape == (2, 16, 16, 4)


def test_layer_activations_reject_an_unknown_layer_listing_the_known():
    with pytest.raises(ValueError, match="'0', '1'"):
        layer_activations(Sequential(Conv2d(3, 4, 3), ReLU()), "conv9")


def test_patch_grid_labels_each_unit_above_its_block():
    plain = patch_grid(np.zeros((2, 4, 6, 6, 1)))
    labelled = patch_grid(np.zeros((2, 4, 6, 6, 1)), labels=["unit 0  max 3", "unit 1  max 2"])
    assert labelled.shape[0] > plain.shape[0] and labelled.shape[1] == plain.shape[1]


def test_patch_grid_lays_out_units_of_nine_patches():
    grid = patch_grid(np.ones((4, 9, 5, 5, 3)), pad=2)
    block = 3 * 5 + 4  # three patches and four 1-pixel gaps
    assert grid.shape == (2 * block + 3 * 6, 2 * block + 3 * 6, 3)


def test_feature_map_grid_scales_each_channel_to_0_1():
    a = np.stack([np.arange(4.0).reshape(2, 2), 10 + 5 * np.arange(4.0).reshape(2, 2)], axis=-1)
    grid = feature_map_grid(a, ncols=2)
    np.testing.assert_allclose(grid[1:3, 1:3], [[0, 1 / 3], [2 / 3, 1]])
    np.testing.assert_allclose(grid[1:3, 4:6], [[0, 1 / 3], [2 / 3, 1]])


def test_filter_images_put_zero_at_grey_and_the_peak_at_the_ends():
    w = np.zeros((3, 3, 3, 2), np.float32)
    w[0, 0, 0, 0], w[1, 1, 2, 1] = 2.0, -0.5
    pictures = filter_images(w, scale=2)
    assert pictures.shape == (2, 6, 6, 3)
    assert pictures[0, 0, 0, 0] == 1.0 and pictures[1, 2, 2, 2] == 0.0 and pictures[0, 5, 5, 1] == 0.5


def test_top_k_patches_search_everywhere_for_a_unit_silent_inside():
    images = np.zeros((2, 5, 5, 1), np.float32)
    images[:, 0, 0, 0] = [2.0, 1.0]  # fires only where its 3x3 window runs past the corner
    _, values = top_k_patches(lambda x: x, images, ReceptiveField(3, 1, 1), k=2)
    np.testing.assert_array_equal(values, [[2.0, 1.0]])
