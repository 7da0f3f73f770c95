import numpy as np
import pytest

from cnnkit import Tensor, gradcheck, no_grad


def test_float_arrays_keep_their_dtype_and_everything_else_becomes_float32():
    assert Tensor(np.zeros(3)).dtype == np.float64
    assert Tensor(np.zeros(3, dtype=np.float32)).dtype == np.float32
    assert Tensor([1.0, 2.0]).dtype == np.float32
    assert Tensor(np.arange(3)).dtype == np.float32
    assert Tensor(np.zeros(3), dtype=np.float32).dtype == np.float32


def test_a_float_array_is_shared_not_copied():
    a = np.zeros(3)
    assert Tensor(a).data is a


def test_python_scalars_and_float64_constants_do_not_upcast_float32():
    x = Tensor(np.ones(2, dtype=np.float32), requires_grad=True)
    for y in (x * 2.0, 2.0 - x, np.float64(3) * x, np.ones(2) + x, x / 3, x ** 2):
        assert y.dtype == np.float32


def test_shape_dtype_numpy_item():
    x = Tensor(np.arange(6.0).reshape(2, 3))
    assert x.shape == (2, 3) and x.ndim == 2 and x.size == 6 and len(x) == 2
    np.testing.assert_array_equal(x.numpy(), np.arange(6.0).reshape(2, 3))
    assert Tensor([4.0]).item() == 4.0
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        x.item()


def test_broadcast_gradients_are_summed_back_to_each_input_shape():
    a = Tensor(np.ones((2, 3)), requires_grad=True)
    b = Tensor(np.arange(3.0), requires_grad=True)
    c = Tensor(np.ones((2, 1)), requires_grad=True)
    ((a * b + c) ** 2).sum().backward()
    assert a.grad.shape == (2, 3) and b.grad.shape == (3,) and c.grad.shape == (2, 1)
    np.testing.assert_allclose(b.grad, (2 * (np.arange(3.0) + 1)) * 2)
    np.testing.assert_allclose(c.grad, [[2 * np.sum(np.arange(3.0) + 1)]] * 2)


def test_gradients_accumulate_across_backward_calls_and_over_reused_nodes():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * x + x  # x used twice
    y.sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data + 1)
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data + 1 + 3)


def test_backward_needs_a_grad_for_non_scalars_and_checks_its_shape():
    x = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(ValueError, match="one-element"):
        (x * 2).backward()
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        (x * 2).backward(np.ones(2))
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor(np.ones(3)).sum().backward()


def test_saved_arrays_are_freed_after_backward_unless_the_graph_is_retained():
    x = Tensor(np.array([3.0]), requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, [12.0])
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_backward_walks_a_very_deep_graph_without_recursion():
    x = Tensor(np.ones(2), requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0 + 0.0
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [1.0, 1.0])


def test_no_grad_records_nothing():
    x = Tensor(np.ones(2), requires_grad=True)
    with no_grad():
        y = x * 2
    assert not y.requires_grad and y.is_leaf
    assert (x * 2).requires_grad


def test_only_inputs_that_need_a_gradient_get_one():
    x = Tensor(np.ones(2), requires_grad=True)
    c = Tensor(np.ones(2))
    (x * c).sum().backward()
    assert c.grad is None and x.grad is not None


def test_non_leaf_grad_is_kept_only_on_request():
    x = Tensor(np.ones(2), requires_grad=True)
    h = (x * 2).retain_grad()
    g = x * 3
    (h * g).sum().backward()
    np.testing.assert_allclose(h.grad, [3.0, 3.0])
    assert g.grad is None


def test_leaf_grad_has_the_leaf_dtype():
    x = Tensor(np.ones(2, dtype=np.float32), requires_grad=True)
    (x * np.float32(2)).sum().backward()
    assert x.grad.dtype == np.float32


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match="int64"):
        Tensor(np.arange(3), requires_grad=True, dtype=np.int64)


def test_gradcheck_catches_a_wrong_backward():
    from cnnkit.autograd import Function

    class Wrong(Function):
        @staticmethod
        def forward(ctx, x):
            return x * x

        @staticmethod
        def backward(ctx, grad_out):
            return grad_out  # should be 2 x grad_out

    with pytest.raises(AssertionError, match="numeric"):
        gradcheck(lambda x: Wrong.apply(x), [np.random.default_rng(0).standard_normal(4)])


def test_gradcheck_requires_float64():
    with pytest.raises(TypeError, match="float64"):
        gradcheck(lambda x: x * 2, [np.ones(3, dtype=np.float32)])
