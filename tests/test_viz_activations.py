"""Receptive fields from the layer stack, top-k activating patches, feature maps and filters as pictures."""
import numpy as np
import pytest

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


def test_top_k_patches_cut_the_receptive_field_grey_past_the_border():
    images = rng.uniform(0, 1, (3, 5, 5, 1)).astype(np.float32)
    images[1, 0, 0] = 2.0
    patches, _ = top_k_patches(lambda x: x, images, ReceptiveField(3, 1, 1), k=1, units=[0])
    np.testing.assert_array_equal(patches[0, 0, 0, :, 0], [0.5, 0.5, 0.5])
    np.testing.assert_array_equal(patches[0, 0, 1:, 1:, 0], images[1, :2, :2, 0])


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
