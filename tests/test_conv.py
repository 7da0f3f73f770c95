"""conv2d, zero_pad and conv_output_size: gradients by numerical check (float64), shapes, dtypes, errors."""
import numpy as np
import pytest

import cnnkit.functional as F
from cnnkit import Tensor, gradcheck, no_grad
from cnnkit.ops import _conv_gemm, _conv_winograd, _parallel, conv

rng = np.random.default_rng(0)


def rand(*shape):
    return rng.standard_normal(shape)


@pytest.fixture(params=["im2col", "im2col in chunks", "im2col one pixel a row", "shift", "direct", "winograd", "im2col split", "shift split",
                        "direct split", "winograd split"])
def path(request, monkeypatch):
    """Run the test with each code path forced (at stride 1); im2col whole and one image per chunk, tiny row blocks;
    serial, or split over 3 threads however small the work."""
    name = request.param.split()[0]
    monkeypatch.setattr(conv, "_SHIFT_MIN_CHANNELS", 1 if name == "shift" else 10**9)
    monkeypatch.setattr(conv, "_DIRECT_MAX_CHANNELS", 10**9 if name == "direct" else 0)
    monkeypatch.setattr(conv, "_DIRECT_MAX_OUT_CHANNELS", 10**9)
    # Winograd takes the 3x3 stride-1 convolutions; the others fall to shift-GEMM
    monkeypatch.setattr(conv, "_WINOGRAD_MIN_CHANNELS", 1 if name == "winograd" else 10**9)
    if name == "winograd":
        monkeypatch.setattr(conv, "_SHIFT_MIN_CHANNELS", 1)
        monkeypatch.setattr(_conv_winograd, "_CHUNK_BYTES", 1)  # one tile per chunk
    if request.param != "im2col":
        monkeypatch.setattr(_conv_gemm, "_CHUNK_BYTES", 1)
    if request.param == "im2col one pixel a row":  # thin layers' GEMM rows otherwise hold groups of pixels
        monkeypatch.setattr(_conv_gemm, "_WIDE_MAX_CHANNELS", 0)
    monkeypatch.setattr(_conv_gemm, "_SHIFT_BLOCK_BYTES", 1)
    split_threads(monkeypatch, 3 if request.param.endswith("split") else 1)
    return request.param


def split_threads(monkeypatch, n):
    """Split every op over ``n`` threads, whatever the size of its work."""
    monkeypatch.setattr(_parallel, "_threads", n)
    monkeypatch.setattr(_parallel, "MIN_SPAN_ELEMENTS", 1)
    monkeypatch.setattr(_parallel, "MIN_SPAN_MACS", 1)


@pytest.mark.parametrize("padding", [0, 1, 2, "same"])
def test_conv2d_gradients_of_3x3_kernels(path, padding):
    """3x3 stride-1 kernels: the Winograd path's shape (odd sizes leave part-filled tiles)."""
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=padding), [rand(2, 5, 6, 3), rand(3, 3, 3, 4), rand(4)])


@pytest.mark.parametrize("stride", [1, 2])
def test_conv2d_gradients_of_one_image_with_its_gemm_rows_split(path, stride):
    """With one image there is no batch to split: the GEMMs split their rows (im2col) or pixels (shift)."""
    x, w, b = rand(1, 7, 6, 3), rand(3, 3, 3, 5), rand(5)
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=1), [x, w, b])


@pytest.mark.parametrize("stride", [1, 2, (1, 2)])
@pytest.mark.parametrize("padding", ["valid", "same", 1, (2, 0)])
def test_conv2d_gradients_match_numerical_ones(path, stride, padding):
    x, w, b = rand(2, 6, 7, 3), rand(3, 2, 3, 4), rand(4)
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=padding), [x, w, b])


def test_conv2d_gradients_without_bias(path):
    assert gradcheck(lambda x, w: F.conv2d(x, w, padding="same"), [rand(2, 5, 5, 2), rand(2, 4, 2, 3)])


@pytest.mark.parametrize("stride,padding", [(1, 0), (1, 1), (2, 0)])
def test_conv2d_gradients_of_1x1_kernels(path, stride, padding):
    x, w, b = rand(2, 5, 4, 6), rand(1, 1, 6, 3), rand(3)
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=padding), [x, w, b])


def test_conv2d_gradient_of_weight_alone(path):
    x = Tensor(rand(2, 5, 5, 3))
    assert gradcheck(lambda w: F.conv2d(x, w, padding=1), [rand(3, 3, 3, 2)])


def test_conv2d_gradient_of_input_alone(path):
    w = Tensor(rand(3, 3, 3, 2))
    assert gradcheck(lambda x: F.conv2d(x, w, stride=2, padding=1), [rand(2, 5, 5, 3)])


def test_conv2d_default_path_choice_gradients_with_many_channels():
    x, w, b = rand(1, 4, 5, 32), rand(3, 3, 32, 2), rand(2)
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=1), [x, w, b])


def test_conv2d_matches_direct_sum_over_the_window():
    x, w, b = rand(2, 6, 5, 3), rand(3, 2, 3, 4), rand(4)
    out = F.conv2d(x, w, b, stride=2).numpy()
    expected = np.empty((2, 2, 2, 4))
    for i in range(2):
        for j in range(2):
            patch = x[:, 2 * i:2 * i + 3, 2 * j:2 * j + 2, :]
            expected[:, i, j] = np.einsum("nhwc,hwco->no", patch, w) + b
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel", [(3, 3), (2, 2), (4, 1)])
def test_conv2d_same_padding_keeps_the_size_at_stride_1(kernel):
    out = F.conv2d(rand(1, 7, 6, 2), rand(*kernel, 2, 3), padding="same")
    assert out.shape == (1, 7, 6, 3)


def test_conv2d_same_padding_even_kernel_puts_the_extra_zero_bottom_right():
    # a 2x2 kernel with one at (0, 0) reads the pixel itself: the padding is after, not before
    w = np.zeros((2, 2, 1, 1))
    w[0, 0] = 1.0
    x = rand(1, 4, 4, 1)
    np.testing.assert_array_equal(F.conv2d(x, w, padding="same").numpy(), x)


@pytest.mark.parametrize("size,stride", [(7, 2), (8, 2), (7, 3), (5, 1)])
def test_conv2d_same_padding_with_stride_gives_ceil_of_size_over_stride(size, stride):
    out = F.conv2d(rand(1, size, size, 1), rand(3, 3, 1, 1), stride=stride, padding="same")
    assert out.shape[1:3] == (-(-size // stride),) * 2


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_keeps_the_dtype_forward_and_backward(dtype, path):
    x = Tensor(rand(2, 5, 5, 3).astype(dtype), requires_grad=True)
    w = Tensor(rand(3, 3, 3, 2).astype(dtype), requires_grad=True)
    b = Tensor(rand(2).astype(dtype), requires_grad=True)
    out = F.conv2d(x, w, b, padding=1)
    out.backward(np.ones(out.shape))
    assert {out.dtype, x.grad.dtype, w.grad.dtype, b.grad.dtype} == {np.dtype(dtype)}


def test_conv2d_skips_gradients_no_input_needs():
    x, w = Tensor(rand(1, 4, 4, 2), requires_grad=True), Tensor(rand(3, 3, 2, 2))
    F.conv2d(x, w, padding=1).sum().backward()
    assert x.grad is not None and w.grad is None


def test_conv2d_under_no_grad_records_nothing():
    with no_grad():
        out = F.conv2d(Tensor(rand(1, 4, 4, 2), requires_grad=True), rand(3, 3, 2, 2))
    assert not out.requires_grad


def test_conv2d_accepts_ndarrays_and_returns_a_tensor():
    assert isinstance(F.conv2d(rand(1, 3, 3, 1), rand(2, 2, 1, 1)), Tensor)


@pytest.mark.parametrize("x_shape,w_shape,kwargs,fragment", [
    ((4, 4, 1), (3, 3, 1, 1), {}, "4-D"),
    ((1, 4, 4, 1), (3, 3, 1), {}, "4-D"),
    ((1, 4, 4, 2), (3, 3, 3, 1), {}, "channels"),
    ((1, 4, 4, 1), (5, 3, 1, 1), {}, "larger than the padded input"),
    ((1, 4, 4, 1), (3, 3, 1, 1), {"stride": 0}, "stride"),
    ((1, 4, 4, 1), (3, 3, 1, 1), {"padding": -1}, "padding"),
    ((1, 4, 4, 1), (3, 3, 1, 1), {"padding": "full"}, "unknown padding"),
])
def test_conv2d_rejects_bad_input_naming_the_shapes(x_shape, w_shape, kwargs, fragment):
    with pytest.raises(ValueError, match=fragment) as info:
        F.conv2d(rand(*x_shape), rand(*w_shape), **kwargs)
    assert str(x_shape) in str(info.value) and str(w_shape) in str(info.value)
    assert "stride" in str(info.value) and "padding" in str(info.value)


def test_conv2d_rejects_a_bias_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"bias must have shape \(2,\)"):
        F.conv2d(rand(1, 4, 4, 1), rand(3, 3, 1, 2), rand(3))


def test_conv2d_rejects_mixed_dtypes():
    with pytest.raises(TypeError, match="float32"):
        F.conv2d(rand(1, 4, 4, 1).astype(np.float32), rand(3, 3, 1, 2))


def test_zero_pad_pads_height_and_width_only():
    x = rand(2, 3, 4, 5)
    out = F.zero_pad(x, (1, 2)).numpy()
    assert out.shape == (2, 5, 8, 5)
    np.testing.assert_array_equal(out[:, 1:4, 2:6], x)
    assert np.count_nonzero(out) == np.count_nonzero(x)


def test_zero_pad_gradient_matches_numerical_one():
    assert gradcheck(lambda x: F.zero_pad(x, 2), [rand(2, 3, 3, 2)])


def test_zero_pad_rejects_negative_padding():
    with pytest.raises(ValueError, match=r"\(1, 3, 3, 1\)"):
        F.zero_pad(rand(1, 3, 3, 1), -1)


@pytest.mark.parametrize("n,f,p,s,expected", [(28, 5, 2, 1, 28), (14, 5, 0, 1, 10), (28, 3, 1, 2, 14),
                                              (150, 7, 0, 2, 72), (5, 2, 0, 2, 2)])
def test_conv_output_size_is_floor_of_n_plus_2p_minus_f_over_s_plus_1(n, f, p, s, expected):
    assert F.conv_output_size(n, f, padding=p, stride=s) == expected


@pytest.mark.parametrize("args", [(5, 0), (5, 3, -1), (5, 3, 0, 0), (5.0, 3), (2, 5)])
def test_conv_output_size_rejects_bad_arguments(args):
    with pytest.raises(ValueError):
        F.conv_output_size(*args)


def test_winograd_float32_stays_within_1e_6_of_the_shift_gemm_path(monkeypatch):
    """Winograd reassociates the sums (its transforms add and subtract inputs before the GEMMs): in float32 its
    convolution and both gradients stay within about 1e-6 of the largest value on a VGG-sized layer."""
    gen = np.random.default_rng(3)
    x, w = gen.standard_normal((2, 20, 18, 64)).astype(np.float32), gen.standard_normal((3, 3, 64, 48)).astype(np.float32)
    g = gen.standard_normal((2, 20, 18, 48)).astype(np.float32)

    def run(min_channels):
        monkeypatch.setattr(conv, "_WINOGRAD_MIN_CHANNELS", min_channels)
        xs, ws = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
        out = F.conv2d(xs, ws, padding=1)
        out.backward(g)
        return out.data, xs.grad, ws.grad

    for ours, reference in zip(run(32), run(10**9)):
        assert ours.dtype == np.float32
        assert np.abs(ours - reference).max() <= 2e-6 * np.abs(reference).max()


@pytest.mark.parametrize("shape,stride,padding", [((4, 14, 13, 6, 16, 5), 1, 0), ((2, 11, 11, 3, 6, 3), (2, 1), 1),
                                                  ((2, 9, 12, 2, 5, 4), 2, (1, 2)), ((2, 15, 16, 3, 32, 7), 2, 0)])
def test_thin_layers_grouped_pixels_match_one_pixel_a_row(monkeypatch, shape, stride, padding):
    """The widened im2col GEMM of thin layers (groups of P pixels, a part-filled last group) equals the plain one."""
    N, H, W, C, CO, K = shape
    x, w, b, g = rand(N, H, W, C), rand(K, K, C, CO), rand(CO), None
    assert conv._path(K, K, C, CO, *((stride, stride) if np.isscalar(stride) else stride), ((0, 0), (0, 0))) == "im2col"
    assert _conv_gemm._pixels_per_row(K, stride if np.isscalar(stride) else stride[1], CO, 99) > 1
    results = []
    for channels in (_conv_gemm._WIDE_MAX_CHANNELS, 0):
        monkeypatch.setattr(_conv_gemm, "_WIDE_MAX_CHANNELS", channels)
        xt, wt, bt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True), Tensor(b, requires_grad=True)
        out = F.conv2d(xt, wt, bt, stride=stride, padding=padding)
        g = rand(*out.shape) if g is None else g
        out.backward(g)
        results.append([out.numpy(), xt.grad, wt.grad, bt.grad])
    for wide, plain in zip(*results):
        np.testing.assert_allclose(wide, plain, rtol=1e-12, atol=1e-12)
