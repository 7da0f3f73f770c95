"""max_pool2d, avg_pool2d and global_avg_pool2d: values, gradients (float64 numerical checks), errors."""
import numpy as np
import pytest

import cnnkit.functional as F
from cnnkit import Tensor, gradcheck

rng = np.random.default_rng(0)

# (size, stride, padding): windows that tile, overlap, have gaps, are not square, are padded
WINDOWS = [(2, None, 0), (3, 2, 0), (3, 2, 1), ((3, 2), (1, 2), (1, 0)), (2, 3, 0), (2, 1, 1)]


def rand(*shape):
    return rng.standard_normal(shape)


@pytest.mark.parametrize("size,stride,padding", WINDOWS)
def test_max_pool2d_gradient_matches_numerical_one(size, stride, padding):
    assert gradcheck(lambda x: F.max_pool2d(x, size, stride, padding), [rand(2, 7, 6, 3)])


@pytest.mark.parametrize("size,stride,padding", WINDOWS)
def test_avg_pool2d_gradient_matches_numerical_one(size, stride, padding):
    assert gradcheck(lambda x: F.avg_pool2d(x, size, stride, padding), [rand(2, 7, 6, 3)])


def test_global_avg_pool2d_gradient_matches_numerical_one():
    assert gradcheck(F.global_avg_pool2d, [rand(2, 4, 5, 3)])


def test_max_pool2d_takes_the_maximum_of_each_window():
    x = np.arange(16.0).reshape(1, 4, 4, 1)
    np.testing.assert_array_equal(F.max_pool2d(x, 2).numpy()[0, :, :, 0], [[5, 7], [13, 15]])


def test_max_pool2d_padding_never_wins_the_maximum():
    x = -np.ones((1, 2, 2, 1))
    np.testing.assert_array_equal(F.max_pool2d(x, 2, 1, 1).numpy(), -np.ones((1, 3, 3, 1)))


def test_max_pool2d_routes_the_gradient_to_the_first_maximum_of_a_tie():
    x = Tensor(np.ones((1, 2, 2, 1)), requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad[0, :, :, 0], [[1, 0], [0, 0]])


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("channels", [1, 3, 6, 17])
@pytest.mark.parametrize("window,padding", [(2, 0), (3, 0), (3, 1)])
def test_the_2x2_and_3x3_max_pool_kernels_choose_as_the_general_one(stride, channels, window, padding):
    """Ties, NaNs (the last one wins), padding and every stride: the special kernels' values and winning taps
    are the general kernel's."""
    from cnnkit.ops import _pool_kernels

    x = np.random.default_rng(stride).integers(0, 3, (3, 7, 8, channels)).astype(np.float32)
    x[x == 2] = np.nan
    out_hw = ((7 + 2 * padding - window) // stride + 1, (8 + 2 * padding - window) // stride + 1)
    general = [np.empty((3, *out_hw, channels), dtype) for dtype in (np.float32, np.int32)]
    special = [np.empty_like(a) for a in general]
    _pool_kernels.max_pool(x, *general, window, window, stride, stride, padding, padding)
    if window == 2:
        _pool_kernels.max_pool_2x2(x, *special, stride, stride)
        rows = [np.empty_like(a) for a in general]
        _pool_kernels.max_pool_2x2_rows(x, *rows, stride, stride)
        np.testing.assert_array_equal(rows[0], general[0])
        np.testing.assert_array_equal(rows[1], general[1])
    else:
        _pool_kernels.max_pool_3x3(x, *special, stride, stride, padding, padding)
    np.testing.assert_array_equal(special[0], general[0])
    np.testing.assert_array_equal(special[1], general[1])


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_the_2x2_avg_pool_kernels_add_as_the_general_ones(stride):
    from cnnkit.ops import _pool_kernels

    rng = np.random.default_rng(stride)
    x, scale = rng.standard_normal((3, 7, 9, 5)).astype(np.float32), np.float32(0.25)
    out_hw = ((7 - 2) // stride + 1, (9 - 2) // stride + 1)
    general, special = np.empty((3, *out_hw, 5), np.float32), np.empty((3, *out_hw, 5), np.float32)
    _pool_kernels.avg_pool(x, general, 2, 2, stride, stride, 0, 0, scale)
    _pool_kernels.avg_pool_2x2(x, special, stride, stride, scale)
    np.testing.assert_array_equal(special, general)
    g = rng.standard_normal((3, 3, 4, 5)).astype(np.float32)  # stride 2: the odd last row and column get nothing
    general, special = np.zeros(x.shape, np.float32), np.full(x.shape, np.nan, np.float32)
    _pool_kernels.avg_pool_backward(g, general, 2, 2, 2, 2, 0, 0, scale)
    _pool_kernels.avg_pool_backward_2x2(g, special, scale)
    np.testing.assert_array_equal(special, general)


def test_max_pool2d_overlapping_windows_add_their_gradients():
    x = Tensor(np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]).reshape(1, 2, 3, 1), requires_grad=True)
    F.max_pool2d(x, 2, 1).sum().backward()
    np.testing.assert_array_equal(x.grad[0, :, :, 0], [[0, 2, 0], [0, 0, 0]])


def test_avg_pool2d_counts_the_zero_padding_in_the_mean():
    out = F.avg_pool2d(np.ones((1, 2, 2, 1)), 2, 2, 1).numpy()
    np.testing.assert_array_equal(out[0, :, :, 0], np.full((2, 2), 0.25))


def test_avg_pool2d_averages_each_window():
    x = np.arange(16.0).reshape(1, 4, 4, 1)
    np.testing.assert_array_equal(F.avg_pool2d(x, 2).numpy()[0, :, :, 0], [[2.5, 4.5], [10.5, 12.5]])


def test_global_avg_pool2d_returns_the_mean_per_image_and_channel():
    x = rand(2, 3, 4, 5)
    out = F.global_avg_pool2d(x)
    assert out.shape == (2, 5)
    np.testing.assert_allclose(out.numpy(), x.mean(axis=(1, 2)), rtol=1e-12)


@pytest.mark.parametrize("fn", [F.max_pool2d, F.avg_pool2d])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pooling_keeps_the_dtype_forward_and_backward(fn, dtype):
    x = Tensor(rand(1, 4, 4, 2).astype(dtype), requires_grad=True)
    out = fn(x, 2)
    out.backward(np.ones(out.shape))
    assert out.dtype == x.grad.dtype == dtype


@pytest.mark.parametrize("fn", [F.max_pool2d, F.avg_pool2d])
@pytest.mark.parametrize("shape,kwargs,fragment", [
    ((4, 4, 1), {"size": 2}, "4-D"),
    ((1, 4, 4, 1), {"size": 0}, ">= 1"),
    ((1, 4, 4, 1), {"size": 2, "stride": 0}, ">= 1"),
    ((1, 4, 4, 1), {"size": 5}, "larger than the padded input"),
    ((1, 4, 4, 1), {"size": 2, "padding": 2}, "half the window"),
    ((1, 4, 4, 1), {"size": 2, "padding": -1}, "padding must be >= 0"),
])
def test_pooling_rejects_bad_input_naming_the_shape(fn, shape, kwargs, fragment):
    with pytest.raises(ValueError, match=fragment) as info:
        fn(rand(*shape), **kwargs)
    assert str(shape) in str(info.value)


def test_global_avg_pool2d_rejects_non_4d_input():
    with pytest.raises(ValueError, match=r"\(3, 4, 5\)"):
        F.global_avg_pool2d(rand(3, 4, 5))
