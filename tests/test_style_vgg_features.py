"""VGG-16 features: taps, one pass that stops early, preprocessing, loading weights, and HED edges on top."""
import numpy as np
import pytest

from cnnkit.models.vgg_features import LAYERS, MEAN_BGR, hed_edges, vgg16_features

rng = np.random.default_rng(0)
MODEL = vgg16_features(weights=None, rng=0)


def image(H=32, W=32, dtype=np.float32):
    return rng.uniform(0, 1, (1, H, W, 3)).astype(dtype)


def hed_state():
    """Random weights in the layout of the vgg16-hed registry entry."""
    state = {k: v.copy() for k, v in MODEL.state_dict().items()}
    for i, c in enumerate((64, 128, 256, 512, 512), 1):
        state[f"dsn{i}.weight"] = rng.standard_normal((1, 1, c, 1)).astype(np.float32) * 0.01
        state[f"dsn{i}.bias"] = np.zeros(1, np.float32)
    state["fuse.weight"] = np.full((1, 1, 5, 1), 0.2, np.float32)
    state["fuse.bias"] = np.zeros(1, np.float32)
    return state


def test_taps_have_the_vgg16_shapes():
    acts = MODEL.features(image(), ("conv1_1", "conv2_2", "conv3_3", "conv4_1", "conv5_3"))
    assert {k: v.shape for k, v in acts.items()} == {
        "conv1_1": (1, 32, 32, 64), "conv2_2": (1, 16, 16, 128), "conv3_3": (1, 8, 8, 256),
        "conv4_1": (1, 4, 4, 512), "conv5_3": (1, 2, 2, 512)}


def test_conv_taps_are_after_the_relu():
    assert MODEL.features(image(), "conv1_2")["conv1_2"].numpy().min() >= 0


def test_features_stop_at_the_deepest_requested_tap():
    ran = []
    handles = [getattr(MODEL, name).register_forward_hook(lambda module, inputs, output, name=name: ran.append(name))
               for name in ("conv1_2", "conv2_1")]
    try:
        MODEL.features(image(), ("conv1_1", "pool1"))
    finally:
        for handle in handles:
            handle.remove()
    assert ran == ["conv1_2"]


def test_odd_sizes_pool_with_rounding_up_like_keras_same_padding():
    assert MODEL.features(image(33, 17), "conv5_1")["conv5_1"].shape == (1, 3, 2, 512)


def test_preprocessing_is_bgr_in_0_255_minus_the_mean():
    x = np.array([[[[1.0, 0.5, 0.0]]]], dtype=np.float32)
    expected = np.array([0.0, 127.5, 255.0]) - np.array(MEAN_BGR)
    np.testing.assert_allclose(MODEL.preprocess(x).numpy()[0, 0, 0], expected, rtol=1e-6)


def test_unknown_tap_is_rejected_with_the_valid_names():
    with pytest.raises(ValueError, match="conv4_2"):
        MODEL.features(image(), ("conv6_1",))


def test_float64_image_into_float32_weights_is_rejected():
    with pytest.raises(TypeError, match="float64"):
        MODEL.features(image(dtype=np.float64))


def test_loading_a_state_dict_ignores_the_hed_side_outputs():
    model = vgg16_features(hed_state())
    x = image()
    np.testing.assert_array_equal(model.features(x, "conv3_1")["conv3_1"].numpy(),
                                  MODEL.features(x, "conv3_1")["conv3_1"].numpy())


def test_loading_weights_without_a_convolution_fails_naming_it():
    state = hed_state()
    del state["conv4_2.weight"]
    with pytest.raises(ValueError, match="conv4_2.weight"):
        vgg16_features(state)


def test_layers_list_every_conv_and_pool_in_order():
    assert LAYERS[:4] == ("conv1_1", "conv1_2", "pool1", "conv2_1") and LAYERS[-1] == "conv5_3"
    assert len(LAYERS) == 13 + 4


def test_hed_edges_are_probabilities_of_the_image_size():
    edges = hed_edges((image(24, 40)[0] * 255).astype(np.uint8), weights=hed_state())
    assert edges.shape == (24, 40) and edges.dtype == np.float32
    assert 0 <= edges.min() and edges.max() <= 1


def test_hed_edges_return_five_side_outputs_on_request():
    fused, sides = hed_edges(image(16, 16), weights=hed_state(), side_outputs=True)
    assert fused.shape == (1, 16, 16) and sides.shape == (5, 1, 16, 16)


def test_hed_edges_need_the_side_output_weights():
    with pytest.raises(ValueError, match="dsn1.weight"):
        hed_edges(image()[0], weights=MODEL.state_dict())


def test_the_zoo_builds_vgg16_features_and_loads_the_hed_convolutions_when_pretrained(monkeypatch):
    import cnnkit.weights
    from cnnkit.models import get_model

    monkeypatch.setattr(cnnkit.weights, "load",
                        lambda name, return_metadata=False: (hed_state(), {}) if name == "vgg16-hed" else None)
    assert get_model("vgg16_features").config == {"name": "vgg16_features", "weights": None, "dtype": None}
    model = get_model("vgg16_features", pretrained=True)
    x = image()
    np.testing.assert_array_equal(model.features(x, "conv3_1")["conv3_1"].numpy(),
                                  MODEL.features(x, "conv3_1")["conv3_1"].numpy())


def test_a_state_dict_passed_as_weights_is_not_recorded_in_the_config():
    assert vgg16_features(hed_state()).config["weights"] is None
