"""model.summary(): output shapes, parameter totals, trainable split and multiply-adds."""
import numpy as np

from cnnkit import nn


def test_same_conv_5x5_from_192_to_32_channels_costs_120_million_macs():
    s = nn.Sequential(nn.Conv2d(192, 32, 5, padding="same")).summary((28, 28, 192), show=False)
    assert s.macs == 120_422_400
    assert s.rows[0].output_shape == (28, 28, 32)


def test_1x1_bottleneck_then_5x5_costs_12_million_macs():
    net = nn.Sequential(nn.Conv2d(192, 16, 1), nn.Conv2d(16, 32, 5, padding="same"))
    assert net.summary((28, 28, 192), show=False).macs == 12_443_648


def test_linear_macs_are_in_times_out():
    assert nn.Sequential(nn.Linear(400, 120)).summary((400,), show=False).macs == 48_000


def test_rows_record_leaf_layers_in_call_order():
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 3 * 3, 2))
    s = net.summary((8, 8, 1), show=False)
    assert [(r.name, r.type, r.output_shape, r.params) for r in s.rows] == [
        ("0", "Conv2d", (6, 6, 4), 40), ("1", "ReLU", (6, 6, 4), 0), ("2", "MaxPool2d", (3, 3, 4), 0),
        ("3", "Flatten", (36,), 0), ("4", "Linear", (2,), 74)]


def test_total_params_counts_trainable_and_frozen_parameters_not_buffers():
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 36, 2))
    net[3].freeze()
    s = net.summary((8, 8, 1), show=False)
    assert s.trainable_params == 40 + 8
    assert s.non_trainable_params == 290
    assert s.total_params == 40 + 8 + 290 == sum(p.size for p in net.parameters())
    assert s.buffer_elements == 8                                         # BatchNorm's running mean and variance
    assert [r.params for r in s.rows] == [40, 8, 0, 290]


def test_buffers_are_printed_on_their_own_line(capsys):
    nn.Sequential(nn.BatchNorm2d(3)).summary((2, 2, 3))
    printed = capsys.readouterr().out
    assert "Total params: 6" in printed and "Buffers (not parameters): 6" in printed


def test_summary_restores_training_mode_and_running_stats():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    net.summary((5, 5, 1), show=False)
    assert net.training and net[1].training and np.all(net[1].running_mean == 0)


def test_summary_prints_a_table_with_totals(capsys):
    nn.Sequential(nn.Linear(3, 2)).summary((3,))
    printed = capsys.readouterr().out
    assert "0 (Linear)" in printed and "(None, 2)" in printed and "Total params: 8" in printed
