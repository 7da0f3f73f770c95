"""Float64 numerical gradient checks (random direction, random upstream gradient) of the non-conv ops."""
import numpy as np
import pytest

import cnnkit.functional as F
from cnnkit import Tensor, gradcheck, ops

rng = np.random.default_rng(0)


def randn(*shape):
    return rng.standard_normal(shape)


ELEMENTWISE = {
    "add_broadcast": (lambda a, b: a + b, [randn(3, 4), randn(4)]),
    "sub_broadcast": (lambda a, b: a - b, [randn(3, 1), randn(2, 1, 4)]),
    "mul_broadcast": (lambda a, b: a * b, [randn(2, 3, 4), randn(3, 1)]),
    "div": (lambda a, b: a / b, [randn(3, 4), np.abs(randn(3, 4)) + 0.5]),
    "pow_tensor": (lambda a, b: a ** b, [np.abs(randn(3, 4)) + 0.5, randn(4)]),
    "pow_scalar": (lambda a: a ** 3, [randn(3, 4)]),
    "neg": (lambda a: -a, [randn(5)]),
    "exp_log": (lambda a: (a.exp() + 1).log(), [randn(3, 4)]),
    "sqrt_abs": (lambda a: a.abs().sqrt(), [randn(3, 4)]),
}

REDUCE_SHAPE = {
    "sum_all": (lambda a: a.sum(), [randn(3, 4)]),
    "sum_axis_keepdims": (lambda a: a.sum(axis=(0, 2), keepdims=True), [randn(2, 3, 4)]),
    "mean_axis": (lambda a: a.mean(axis=1), [randn(2, 3, 4)]),
    "max_axis": (lambda a: a.max(axis=-1), [randn(3, 5)]),
    "max_all": (lambda a: a.max(), [randn(3, 5)]),
    "reshape": (lambda a: a.reshape(4, -1), [randn(2, 3, 4)]),
    "transpose": (lambda a: a.transpose(2, 0, 1), [randn(2, 3, 4)]),
    "T": (lambda a: a.T, [randn(2, 3)]),
    "getitem_slice": (lambda a: a[1:, ::2, None], [randn(3, 4)]),
    "getitem_repeated_index": (lambda a: a[[0, 2, 0]], [randn(3, 4)]),
    "concat": (lambda a, b: F.concat([a, b], axis=-1), [randn(2, 3, 1), randn(2, 3, 4)]),
    "flatten": (lambda a: F.flatten(a), [randn(2, 3, 4, 5)]),
}

LINALG = {
    "matmul_2d": (lambda a, b: a @ b, [randn(3, 4), randn(4, 5)]),
    "matmul_batched_broadcast": (lambda a, b: a @ b, [randn(2, 3, 4), randn(4, 5)]),
    "matmul_vector_left": (lambda a, b: a @ b, [randn(4), randn(2, 4, 5)]),
    "matmul_vector_right": (lambda a, b: a @ b, [randn(3, 4), randn(4)]),
    "linear": (lambda x, w, b: F.linear(x, w, b), [randn(5, 4), randn(4, 3), randn(3)]),
    "linear_no_bias_3d": (lambda x, w: F.linear(x, w), [randn(2, 5, 4), randn(4, 3)]),
}

ACTIVATIONS = {
    "relu": (F.relu, [randn(4, 5)]),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), [randn(4, 5)]),
    "prelu_per_channel": (F.prelu, [randn(2, 3, 4, 5), randn(5)]),
    "prelu_shared_slope": (F.prelu, [randn(4, 5), randn(1)]),
    "sigmoid": (F.sigmoid, [randn(4, 5) * 5]),
    "tanh": (F.tanh, [randn(4, 5)]),
    "softmax_last": (F.softmax, [randn(4, 5)]),
    "softmax_axis0": (lambda x: F.softmax(x, axis=0), [randn(4, 5)]),
    "log_softmax": (F.log_softmax, [randn(4, 5)]),
    "dropout": (lambda x: F.dropout(x, 0.3, rng=np.random.default_rng(1)), [randn(4, 5)]),
}

TARGETS = rng.integers(0, 5, size=4)
PROBS = rng.random((4, 5))
LOSSES = {
    "cross_entropy": (lambda z: F.cross_entropy(z, TARGETS), [randn(4, 5)]),
    "cross_entropy_sum": (lambda z: F.cross_entropy(z, TARGETS, reduction="sum"), [randn(4, 5)]),
    "cross_entropy_none_dense": (lambda z: F.cross_entropy(z, TARGETS.reshape(2, 2), reduction="none"),
                                 [randn(2, 2, 5)]),
    "bce_with_logits": (lambda z: F.binary_cross_entropy_with_logits(z, PROBS), [randn(4, 5) * 3]),
    "mse_both_sides": (lambda p, t: F.mse_loss(p, t), [randn(4, 5), randn(4, 5)]),
}

NORM = {
    "batch_norm_train_4d": (lambda x, g, b: F.batch_norm(x, g, b, None, None, training=True),
                            [randn(3, 4, 5, 6), randn(6), randn(6)]),
    "batch_norm_train_2d": (lambda x, g, b: F.batch_norm(x, g, b, None, None, training=True),
                            [randn(7, 3), randn(3), randn(3)]),
    "batch_norm_eval": (lambda x, g, b: F.batch_norm(x, g, b, np.full(6, 0.3), np.full(6, 2.0), training=False),
                        [randn(3, 4, 5, 6), randn(6), randn(6)]),
}

CASES = {**ELEMENTWISE, **REDUCE_SHAPE, **LINALG, **ACTIVATIONS, **LOSSES, **NORM}


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradient_matches_central_differences(name):
    fn, inputs = CASES[name]
    assert gradcheck(fn, inputs)


def test_max_shares_the_gradient_among_ties():
    x = Tensor(np.array([1.0, 3.0, 3.0]), requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad, [0.0, 0.5, 0.5])


def test_batch_norm_updates_running_statistics_with_unbiased_variance():
    x = randn(8, 2, 2, 3)
    mean, var = np.zeros(3), np.ones(3)
    F.batch_norm(x, None, None, mean, var, training=True, momentum=0.1)
    rows = x.reshape(-1, 3)
    np.testing.assert_allclose(mean, 0.1 * rows.mean(axis=0))
    np.testing.assert_allclose(var, 0.9 + 0.1 * rows.var(axis=0, ddof=1))


def test_dropout_is_identity_in_eval_and_keeps_the_expectation_in_training():
    x = np.ones((200, 200), dtype=np.float32)
    assert F.dropout(x, 0.5, training=False).numpy() is x
    y = F.dropout(x, 0.25, rng=np.random.default_rng(0)).numpy()
    assert y.dtype == np.float32
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
    assert abs(y.mean() - 1.0) < 0.02


def test_ops_package_exposes_the_tensor_operators():
    assert ops.add(np.ones(2), 1.0).numpy().tolist() == [2.0, 2.0]
