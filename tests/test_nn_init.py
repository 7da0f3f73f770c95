"""Initialisers: fans of HWIO and (in, out) weights, the documented distributions, in place, dtype kept."""
import math

import numpy as np
import pytest

from cnnkit import nn
from cnnkit.nn import init


def test_fans_of_a_dense_weight():
    assert init.calculate_fans((20, 30)) == (20, 30)


def test_fans_of_an_hwio_kernel():
    assert init.calculate_fans((3, 5, 4, 8)) == (3 * 5 * 4, 3 * 5 * 8)


def test_fans_need_two_dimensions():
    with pytest.raises(ValueError, match=r"\(5,\)"):
        init.calculate_fans((5,))


def test_kaiming_normal_std_is_gain_over_sqrt_fan_in():
    w = init.kaiming_normal_(np.empty((3, 3, 64, 64), np.float32), nonlinearity="relu", rng=0)
    assert w.dtype == np.float32
    assert abs(w.std() / math.sqrt(2 / (9 * 64)) - 1) < 0.02


def test_kaiming_normal_fan_out_mode_uses_output_channels():
    w = init.kaiming_normal_(np.empty((3, 3, 16, 128), np.float32), mode="fan_out", nonlinearity="relu", rng=0)
    assert abs(w.std() / math.sqrt(2 / (9 * 128)) - 1) < 0.02


def test_kaiming_uniform_bound():
    w = init.kaiming_uniform_(np.empty((400, 300)), nonlinearity="relu", rng=0)
    bound = math.sqrt(2) * math.sqrt(3 / 400)
    assert w.dtype == np.float64 and np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound


def test_xavier_uniform_bound():
    w = init.xavier_uniform_(np.empty((200, 100), np.float32), rng=0)
    bound = math.sqrt(6 / 300)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound


def test_xavier_normal_std():
    w = init.xavier_normal_(np.empty((400, 600), np.float32), rng=0)
    assert abs(w.std() / math.sqrt(2 / 1000) - 1) < 0.02


def test_zeros_and_ones_fill_parameters_in_place():
    p = nn.Parameter(np.full(3, 5, np.float32))
    data = p.data
    assert init.zeros_(p) is p and p.data is data and np.all(data == 0)
    init.ones_(p)
    assert np.all(data == 1)


def test_default_conv_init_is_pytorch_uniform_one_over_sqrt_fan_in():
    conv = nn.Conv2d(16, 32, 3, rng=0)
    bound = 1 / math.sqrt(3 * 3 * 16)
    for values in (conv.weight.data, conv.bias.data):
        assert np.abs(values).max() <= bound
    assert np.abs(conv.weight.data).max() > 0.99 * bound


def test_unknown_nonlinearity_lists_the_known_ones():
    with pytest.raises(ValueError, match="relu"):
        init.calculate_gain("swish")


def test_trunc_normal_stays_within_absolute_bounds_with_the_truncated_spread():
    w = init.trunc_normal_(np.empty(200_000, np.float32), std=1.0, a=-1.0, b=1.0, rng=0)
    assert w.min() >= -1 and w.max() <= 1
    # N(0, 1) cut to [-1, 1]: variance 1 - 2 phi(1) / (Phi(1) - Phi(-1)) = 0.2911
    assert abs(w.std() - np.sqrt(0.29112)) < 0.005


def test_trunc_normal_bounds_are_absolute_as_in_pytorch():
    w = init.trunc_normal_(np.empty(100_000), std=0.01, a=-2.0, b=2.0, rng=0)
    assert abs(w.std() - 0.01) < 2e-4
