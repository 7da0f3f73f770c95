"""depthwise_conv2d: float64 numerical gradient checks, shapes, the direct definition, dtypes, errors."""
import numpy as np
import pytest

import cnnkit.functional as F
from cnnkit import Tensor, gradcheck, nn, no_grad
from cnnkit.ops import _parallel

rng = np.random.default_rng(0)


def rand(*shape):
    return rng.standard_normal(shape)


@pytest.fixture(params=["one thread", "split"])
def blocks(request, monkeypatch):
    """Run on one thread, and with the rows (forward) and images (backward) split over 3 threads however small."""
    monkeypatch.setattr(_parallel, "_threads", 1 if request.param == "one thread" else 3)
    monkeypatch.setattr(_parallel, "MIN_SPAN_ELEMENTS", 1)
    return request.param


@pytest.mark.parametrize("multiplier", [1, 3])
@pytest.mark.parametrize("stride", [1, 2, (1, 2)])
@pytest.mark.parametrize("padding", ["valid", "same", 1, (2, 0)])
def test_depthwise_conv2d_gradients_match_numerical_ones(blocks, multiplier, stride, padding):
    x, w, b = rand(2, 6, 7, 3), rand(3, 2, 3, multiplier), rand(3 * multiplier)
    assert gradcheck(lambda x, w, b: F.depthwise_conv2d(x, w, b, stride=stride, padding=padding), [x, w, b])


def test_depthwise_conv2d_gradient_of_input_alone(blocks):
    w = Tensor(rand(3, 3, 4, 2))
    assert gradcheck(lambda x: F.depthwise_conv2d(x, w, stride=2, padding=1), [rand(2, 5, 6, 4)])


def test_depthwise_conv2d_gradient_of_weight_alone(blocks):
    x = Tensor(rand(2, 5, 5, 4))
    assert gradcheck(lambda w: F.depthwise_conv2d(x, w, padding="same"), [rand(3, 3, 4, 1)])


def test_depthwise_conv2d_is_the_direct_sum_over_each_channels_window():
    x, w, b = rand(2, 6, 5, 3), rand(3, 2, 3, 2), rand(6)
    out = F.depthwise_conv2d(x, w, b, stride=(2, 1)).numpy()
    expected = np.empty((2, 2, 4, 6))
    for i in range(2):
        for j in range(4):
            window = x[:, 2 * i:2 * i + 3, j:j + 2, :]                      # (N, 3, 2, C)
            expected[:, i, j] = np.einsum("nhwc,hwcm->ncm", window, w).reshape(2, 6)
    np.testing.assert_allclose(out, expected + b, rtol=1e-12, atol=1e-12)


def test_depthwise_conv2d_output_channel_c_times_m_plus_m_is_channel_c_filter_m():
    x = rand(1, 5, 5, 2)
    w = np.zeros((1, 1, 2, 3))
    w[0, 0, 1, 2] = 1.0  # channel 1, filter 2 -> output channel 1 * 3 + 2
    out = F.depthwise_conv2d(x, w).numpy()
    np.testing.assert_array_equal(out[..., 5], x[..., 1])
    assert not out[..., :5].any()


def test_depthwise_conv2d_with_one_filter_per_channel_equals_conv2d_with_a_diagonal_kernel():
    x, w = rand(2, 7, 6, 4), rand(3, 3, 4, 1)
    diagonal = np.zeros((3, 3, 4, 4))
    for c in range(4):
        diagonal[:, :, c, c] = w[:, :, c, 0]
    np.testing.assert_allclose(F.depthwise_conv2d(x, w, padding="same").numpy(),
                               F.conv2d(x, diagonal, padding="same").numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_depthwise_conv2d_keeps_the_dtype_in_output_and_gradients(dtype):
    x = Tensor(rand(1, 5, 5, 2).astype(dtype), requires_grad=True)
    w = Tensor(rand(3, 3, 2, 2).astype(dtype), requires_grad=True)
    out = F.depthwise_conv2d(x, w, padding=1)
    out.sum().backward()
    assert out.dtype == x.grad.dtype == w.grad.dtype == dtype


def test_depthwise_conv2d_without_grad_keeps_no_input():
    with no_grad():
        out = F.depthwise_conv2d(rand(1, 4, 4, 2), rand(3, 3, 2, 1))
    assert out.shape == (1, 2, 2, 2) and not out.requires_grad


@pytest.mark.parametrize("x_shape,w_shape,kwargs,match", [
    ((4, 4, 2), (3, 3, 2, 1), {}, "must be 4-D"),
    ((1, 4, 4, 2), (3, 3, 2), {}, "kernel must be 4-D"),
    ((1, 4, 4, 2), (3, 3, 3, 1), {}, "has 2 channels but the kernel's third axis is 3"),
    ((1, 4, 4, 2), (3, 3, 2, 1), {"stride": 0}, "stride must be >= 1"),
    ((1, 4, 4, 2), (3, 3, 2, 1), {"padding": "full"}, "unknown padding 'full'"),
    ((1, 4, 4, 2), (3, 3, 2, 1), {"padding": -1}, "padding must be >= 0"),
    ((1, 2, 2, 2), (3, 3, 2, 1), {}, "larger than the padded input"),
    ((1, 4, 4, 2), (3, 3, 2, 2), {"b": np.zeros(2)}, r"bias must have shape \(4,\)"),
])
def test_depthwise_conv2d_rejects_bad_shapes_with_a_clear_message(x_shape, w_shape, kwargs, match):
    with pytest.raises(ValueError, match=match):
        F.depthwise_conv2d(np.zeros(x_shape), np.zeros(w_shape), **kwargs)


def test_depthwise_conv2d_rejects_mixed_dtypes():
    with pytest.raises(TypeError, match="float32 and kernel dtype float64"):
        F.depthwise_conv2d(np.zeros((1, 4, 4, 2), np.float32), np.zeros((3, 3, 2, 1)))


def test_depthwise_layer_initialises_like_torch_grouped_conv_within_one_over_sqrt_kernel_area():
    layer = nn.DepthwiseConv2d(64, 3, channel_multiplier=2, rng=0)
    assert layer.weight.shape == (3, 3, 64, 2) and layer.bias.shape == (128,)
    assert np.abs(layer.weight.data).max() <= 1 / 3 and np.abs(layer.weight.data).max() > 0.3


def test_separable_layer_has_a_biasless_depthwise_step_and_a_pointwise_step():
    layer = nn.SeparableConv2d(4, 8, 3, padding=1)
    assert sorted(layer.state_dict()) == ["depthwise.weight", "pointwise.bias", "pointwise.weight"]
    assert layer.pointwise.weight.shape == (1, 1, 4, 8)
    assert layer(np.zeros((1, 5, 5, 4), np.float32)).shape == (1, 5, 5, 8)


def test_depthwise_layer_rejects_input_with_other_channels():
    with pytest.raises(ValueError, match=r"DepthwiseConv2d\(4\) expects input \(N, H, W, 4\), got shape "
                                         r"\(1, 5, 5, 3\)"):
        nn.DepthwiseConv2d(4, 3)(np.zeros((1, 5, 5, 3), np.float32))
