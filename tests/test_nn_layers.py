"""Layer behaviour not covered by the PyTorch comparison: shapes, dtypes, errors, dropout, BatchNorm modes."""
import numpy as np
import pytest

from cnnkit import nn


def test_conv2d_weight_is_hwio_and_bias_per_output_channel():
    conv = nn.Conv2d(3, 8, (5, 3))
    assert conv.weight.shape == (5, 3, 3, 8) and conv.bias.shape == (8,)


def test_linear_weight_is_in_by_out():
    assert nn.Linear(4, 7).weight.shape == (4, 7)


def test_layers_are_float32_by_default_and_float64_on_request():
    assert nn.Conv2d(1, 2, 3).weight.dtype == np.float32
    assert nn.Linear(2, 2, dtype=np.float64).bias.dtype == np.float64
    assert nn.BatchNorm2d(2, dtype=np.float64).running_var.dtype == np.float64


def test_same_seed_gives_same_weights():
    assert np.array_equal(nn.Conv2d(2, 3, 3, rng=4).weight.data, nn.Conv2d(2, 3, 3, rng=4).weight.data)


def test_conv2d_same_padding_keeps_spatial_size():
    out = nn.Conv2d(3, 4, 5, padding="same")(np.zeros((1, 9, 7, 3), np.float32))
    assert out.shape == (1, 9, 7, 4)


def test_conv2d_rejects_wrong_channel_count_naming_shapes():
    with pytest.raises(ValueError, match=r"\(2, 8, 8, 4\)"):
        nn.Conv2d(3, 4, 3)(np.zeros((2, 8, 8, 4), np.float32))


def test_conv2d_rejects_unknown_padding():
    with pytest.raises(ValueError, match="full"):
        nn.Conv2d(3, 4, 3, padding="full")


def test_batch_norm_rejects_wrong_feature_count():
    with pytest.raises(ValueError, match=r"\(2, 5\)"):
        nn.BatchNorm1d(4)(np.zeros((2, 5), np.float32))


def test_batch_norm_eval_leaves_running_stats_alone():
    bn = nn.BatchNorm2d(2).eval()
    bn(np.random.default_rng(0).standard_normal((4, 3, 3, 2)).astype(np.float32))
    assert np.all(bn.running_mean == 0) and np.all(bn.running_var == 1)


def test_batch_norm_train_updates_running_stats_in_place():
    bn = nn.BatchNorm2d(2)
    mean = bn.running_mean
    bn(np.full((4, 3, 3, 2), 10, np.float32))
    assert bn.running_mean is mean and np.allclose(mean, 1.0)


def test_max_pool_ceil_mode_rounds_the_output_size_up():
    x = np.zeros((1, 112, 112, 2), np.float32)
    assert nn.MaxPool2d(3, 2)(x).shape == (1, 55, 55, 2)
    assert nn.MaxPool2d(3, 2, ceil_mode=True)(x).shape == (1, 56, 56, 2)


def test_adaptive_avg_pool_averages_pytorch_bins():
    x = np.arange(5, dtype=np.float32).reshape(1, 5, 1, 1)
    out = nn.AdaptiveAvgPool2d((2, 1))(x).numpy().ravel()
    assert out.tolist() == [1.0, 3.0]  # rows 0-2 and 2-4 overlap at row 2


def test_dropout_zeroes_about_p_and_scales_the_rest():
    x = np.ones((200, 500), np.float32)
    out = nn.Dropout(0.3, rng=0)(x).numpy()
    dropped = np.mean(out == 0)
    assert abs(dropped - 0.3) < 0.01  # 100,000 draws: the standard error is 0.0014
    assert np.allclose(out[out != 0], 1 / 0.7)


def test_dropout_keeps_the_expectation():
    x = np.ones((200, 500), np.float32)
    assert abs(nn.Dropout(0.5, rng=1)(x).numpy().mean() - 1.0) < 0.02


def test_dropout_is_identity_in_eval_mode():
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    np.testing.assert_array_equal(nn.Dropout(0.5).eval()(x).numpy(), x)


def test_dropout_masks_differ_between_calls():
    drop, x = nn.Dropout(0.5, rng=2), np.ones((10, 10), np.float32)
    assert not np.array_equal(drop(x).numpy(), drop(x).numpy())


def test_dropout_gradient_follows_the_mask():
    x = nn.Parameter(np.ones((20, 20), np.float32))
    out = nn.Dropout(0.5, rng=3)(x)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, out.numpy())


def test_dropout_rejects_p_of_one():
    with pytest.raises(ValueError, match="1"):
        nn.Dropout(1.0)


def test_softmax_rows_sum_to_one():
    out = nn.Softmax()(np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32))
    np.testing.assert_allclose(out.numpy().sum(axis=-1), 1.0, rtol=1e-6)
