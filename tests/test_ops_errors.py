"""Bad input raises ValueError/TypeError naming the shapes or values at fault."""
import numpy as np
import pytest

import cnnkit.functional as F
from cnnkit import Tensor


def test_cross_entropy_rejects_targets_out_of_range():
    with pytest.raises(ValueError, match=r"\[0, 3\).*\[5\]"):
        F.cross_entropy(np.zeros((2, 3)), [0, 5])


def test_cross_entropy_rejects_mismatched_target_shape():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3,\)"):
        F.cross_entropy(np.zeros((2, 3)), [0, 1, 2])


def test_cross_entropy_rejects_fractional_targets():
    with pytest.raises(TypeError, match="integer"):
        F.cross_entropy(np.zeros((2, 3)), np.array([0.5, 1.0]))


def test_matmul_and_linear_name_misaligned_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 5\)"):
        Tensor(np.zeros((2, 3))) @ Tensor(np.zeros((4, 5)))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 5\)"):
        F.linear(np.zeros((2, 3)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match=r"\(5,\).*\(4,\)"):
        F.linear(np.zeros((2, 3)), np.zeros((3, 5)), np.zeros(4))


def test_softmax_axis_out_of_range():
    with pytest.raises(ValueError, match="axis 2"):
        F.softmax(np.zeros((2, 3)), axis=2)


def test_concat_names_the_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3, 3\)"):
        F.concat([np.zeros((2, 3)), np.zeros((3, 3))], axis=1)


def test_batch_norm_checks_shapes_and_batch_size():
    with pytest.raises(ValueError, match=r"\(4,\)"):
        F.batch_norm(np.zeros((2, 3)), np.ones(4), None, None, None, training=True)
    with pytest.raises(ValueError, match="more than one value"):
        F.batch_norm(np.zeros((1, 3)), None, None, None, None, training=True)
    with pytest.raises(ValueError, match=r"\(2, 3, 4\)"):
        F.batch_norm(np.zeros((2, 3, 4)), None, None, None, None, training=True)


def test_dropout_probability_range():
    with pytest.raises(ValueError, match="1.5"):
        F.dropout(np.zeros(3), 1.5)


def test_loss_shape_mismatches():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3, 2\)"):
        F.mse_loss(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2,\)"):
        F.binary_cross_entropy_with_logits(np.zeros((2, 3)), np.zeros(2))
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(np.zeros(2), np.zeros(2), reduction="avg")


def test_reshape_names_the_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 2\)"):
        Tensor(np.zeros((2, 3))).reshape(4, 2)


def test_reduction_axis_out_of_range():
    with pytest.raises(ValueError, match="axis 3"):
        Tensor(np.zeros((2, 3))).sum(axis=3)
