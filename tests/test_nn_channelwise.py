"""Per-channel layers: PReLU (one slope per channel, channels-last) and Affine (a folded BatchNorm)."""
import numpy as np
import pytest

from cnnkit import nn


def test_prelu_starts_at_pytorchs_slope_of_a_quarter():
    prelu = nn.PReLU(4)
    assert prelu.weight.shape == (4,) and prelu.weight.dtype == np.float32
    np.testing.assert_array_equal(prelu.weight.data, 0.25)


def test_prelu_slope_of_channel_c_scales_only_the_negatives_of_the_last_axis():
    prelu = nn.PReLU(2)
    prelu.weight.data[:] = [0.5, -2.0]
    x = np.array([[[[-1.0, -1.0], [3.0, 4.0]]]], dtype=np.float32)
    np.testing.assert_array_equal(prelu(x).numpy(), [[[[-0.5, 2.0], [3.0, 4.0]]]])


def test_prelu_rejects_a_slope_count_that_is_not_the_channel_count():
    with pytest.raises(ValueError, match=r"\(3,\)"):
        nn.PReLU(3)(np.zeros((2, 5), np.float32))


def test_prelu_slopes_are_trained():
    prelu = nn.PReLU(3)
    prelu(-np.ones((2, 3), np.float32)).sum().backward()
    np.testing.assert_array_equal(prelu.weight.grad, [-2.0, -2.0, -2.0])


def test_affine_scales_and_shifts_each_channel():
    affine = nn.Affine(3, dtype=np.float64)
    affine.weight.data[:] = [1.0, 2.0, 3.0]
    affine.bias.data[:] = [0.0, -1.0, 1.0]
    np.testing.assert_array_equal(affine(np.ones((1, 2, 2, 3))).numpy()[0, 0, 0], [1.0, 1.0, 4.0])


def test_affine_starts_as_the_identity():
    x = np.random.default_rng(0).standard_normal((2, 3, 3, 4)).astype(np.float32)
    np.testing.assert_array_equal(nn.Affine(4)(x).numpy(), x)


def test_affine_names_the_wrong_channel_count():
    with pytest.raises(ValueError, match=r"\(2, 5\)"):
        nn.Affine(4)(np.zeros((2, 5), np.float32))
