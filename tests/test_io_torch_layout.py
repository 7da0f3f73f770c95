import numpy as np
import pytest

from cnnkit.io import from_torch_layout


def _torch_state():
    rng = np.random.default_rng(1)
    return {"features.0.weight": rng.standard_normal((8, 3, 5, 4)).astype(np.float32),
            "features.0.bias": rng.standard_normal(8).astype(np.float32),
            "classifier.weight": rng.standard_normal((10, 8)).astype(np.float32),
            "bn.running_mean": rng.standard_normal(8).astype(np.float32)}


def test_conv_kernels_become_hwio_and_linear_weights_become_in_out():
    state = _torch_state()
    out = from_torch_layout(state)
    np.testing.assert_array_equal(out["features.0.weight"], state["features.0.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(out["classifier.weight"], state["classifier.weight"].T)
    assert out["features.0.weight"].shape == (5, 4, 3, 8) and out["classifier.weight"].flags.c_contiguous


def test_other_tensors_pass_through_in_the_same_order():
    state = _torch_state()
    out = from_torch_layout(state)
    assert list(out) == list(state)
    np.testing.assert_array_equal(out["features.0.bias"], state["features.0.bias"])
    np.testing.assert_array_equal(out["bn.running_mean"], state["bn.running_mean"])


def test_explicit_conv_keys_limit_the_conversion():
    state = {"a": np.zeros((2, 3, 1, 1)), "b": np.zeros((2, 3, 1, 1))}
    out = from_torch_layout(state, conv_keys=["a"], linear_keys=[])
    assert out["a"].shape == (1, 1, 3, 2) and out["b"].shape == (2, 3, 1, 1)


def test_explicit_keys_with_the_wrong_rank_are_refused():
    with pytest.raises(ValueError, match=r"4-D"):
        from_torch_layout({"a": np.zeros((2, 3))}, conv_keys=["a"])
