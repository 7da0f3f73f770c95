"""dlib's face recognition ResNet in the zoo: structure, preprocessing, shapes (random weights).

Agreement with dlib itself and with PyTorch is in tests/reference/test_face_dlib.py.
"""
import numpy as np
import pytest

from cnnkit import Tensor, gradcheck
from cnnkit.models import get_model
from cnnkit.models.dlib_resnet import CHANNEL_MEANS, _padded_add, dlib_state_dict

from reference.test_face_dlib import random_state


def loaded(state, **kwargs):
    """The zoo's dlib_face_resnet with a state dict in dlib's layout."""
    model = get_model("dlib_face_resnet", **kwargs)
    model.load_state_dict(dlib_state_dict(state))
    return model.eval()


@pytest.fixture(scope="module")
def net():
    return loaded(random_state())


def test_padded_add_zero_fills_rows_columns_and_channels_at_the_end():
    a = np.ones((1, 1, 1, 2))
    b = np.full((1, 2, 2, 1), 10.0)
    out = _padded_add(Tensor(a), Tensor(b)).numpy()
    np.testing.assert_array_equal(out[0, :, :, 0], [[11, 10], [10, 10]])
    np.testing.assert_array_equal(out[0, :, :, 1], [[1, 0], [0, 0]])


def test_padded_add_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    assert gradcheck(_padded_add, [rng.standard_normal((2, 3, 3, 4)), rng.standard_normal((2, 4, 4, 2))])


def test_preprocess_subtracts_the_channel_means_and_divides_by_256(net):
    chip = np.zeros((150, 150, 3), dtype=np.uint8)
    chip[..., 1] = 200
    x = net.preprocess(chip)
    assert x.shape == (1, 150, 150, 3) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, 0, 0], (np.array([0, 200, 0], np.float32) - CHANNEL_MEANS) / 256)


def test_preprocess_rejects_float_pixels(net):
    with pytest.raises(TypeError, match="uint8"):
        net.preprocess(np.zeros((150, 150, 3), dtype=np.float32))


def test_embed_chips_gives_one_float32_128_vector_per_chip_independent_of_batching(net):
    chips = np.random.default_rng(1).integers(0, 256, (3, 150, 150, 3), dtype=np.uint8)
    batched = net.embed_chips(chips, batch_size=2)
    assert batched.shape == (3, 128) and batched.dtype == np.float32
    np.testing.assert_allclose(net.embed_chips(chips[2]), batched[2], rtol=1e-5, atol=1e-6)


def test_embed_chips_rejects_a_chip_of_the_wrong_size(net):
    with pytest.raises(ValueError, match="150x150"):
        net.embed_chips(np.zeros((100, 100, 3), dtype=np.uint8))


def test_a_float64_model_computes_in_float64(net):
    x = np.random.default_rng(2).standard_normal((1, 150, 150, 3)) * 0.3
    out = loaded(random_state(), dtype="float64")(x)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), net(x.astype(np.float32)).numpy(), rtol=1e-3, atol=1e-4)


def test_state_dict_with_missing_layers_is_refused():
    state = random_state()
    del state["conv29.weight"]
    with pytest.raises(ValueError, match="conv29.weight"):
        loaded(state)


def test_dlib_layout_maps_affine_gamma_and_beta_to_weight_and_bias_and_keeps_the_input_means():
    state = dlib_state_dict(random_state(), {"input": {"avg_red": 1.0, "avg_green": 2.0, "avg_blue": 3.0}})
    assert "affine7.weight" in state and "affine7.bias" in state and "affine7.gamma" not in state
    np.testing.assert_array_equal(state["mean"], [1, 2, 3])
    assert set(state) == set(get_model("dlib_face_resnet").state_dict())
