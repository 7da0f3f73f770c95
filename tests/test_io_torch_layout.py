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


def test_num_batches_tracked_is_dropped():
    out = from_torch_layout({"bn.running_mean": np.zeros(3), "bn.num_batches_tracked": np.array(7)})
    assert list(out) == ["bn.running_mean"]


def _small_net():
    from cnnkit import nn
    return nn.Sequential(nn.Conv2d(2, 3, 3, rng=0), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 5 * 3, 6, rng=0))


def test_a_dense_layer_after_a_flatten_gets_its_rows_in_hwc_order():
    rng = np.random.default_rng(0)
    state = {"0.weight": rng.standard_normal((3, 2, 3, 3)), "0.bias": rng.standard_normal(3),
             "3.weight": rng.standard_normal((6, 3 * 4 * 5)), "3.bias": rng.standard_normal(6)}
    out = from_torch_layout(state, _small_net(), (6, 7, 2))                 # conv output (4, 5, 3)
    c, h, w = 2, 1, 3  # ours: row (h * W + w) * C + c
    np.testing.assert_array_equal(out["3.weight"][(h * 5 + w) * 3 + c], state["3.weight"][:, c * 20 + h * 5 + w])


def test_a_model_needs_an_input_shape():
    with pytest.raises(ValueError, match="input_shape"):
        from_torch_layout({}, _small_net())


def test_a_flattened_dense_layer_missing_from_the_state_is_named():
    with pytest.raises(ValueError, match="3.weight"):
        from_torch_layout({"0.weight": np.zeros((3, 2, 3, 3))}, _small_net(), (6, 7, 2))
