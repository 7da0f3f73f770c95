import json

import numpy as np
import pytest

from cnnkit.autograd import Tensor, no_grad
from cnnkit.detection import make_shapes_dataset
from cnnkit.detection.targets import anchors_from_boxes
from cnnkit.detection.train import detect, load_detector, save_detector, train_yolo
from cnnkit.io import load_state, save_state
from cnnkit.models import get_model, tiny_yolo
from cnnkit.train import load_checkpoint, save


@pytest.fixture(scope="module")
def shapes():
    return make_shapes_dataset(32, 32, seed=0)


def small_yolo(**kwargs):
    return tiny_yolo(**{"image_size": 32, "widths": (8, 8, 16), "num_anchors": 2, "rng": 0, **kwargs})


def test_output_is_the_grid_of_anchor_predictions():
    model = tiny_yolo(num_classes=3, num_anchors=3, image_size=64, rng=0)
    out = model(Tensor(np.zeros((2, 64, 64, 3), np.float32)))
    assert out.shape == (2, 8, 8, 3 * (5 + 3)) and out.dtype == np.float32
    assert (model.stride, model.grid_size) == (8, 8)


def test_registered_and_rebuilt_from_its_config():
    model = small_yolo(num_classes=4)
    rebuilt = get_model(**model.config)
    assert model.config["name"] == "tiny_yolo" and model.config["widths"] == [8, 8, 16]
    assert rebuilt.state_dict().keys() == model.state_dict().keys()


def test_image_size_must_be_a_multiple_of_the_stride():
    with pytest.raises(ValueError, match="multiple of the stride 8"):
        tiny_yolo(image_size=60)


def test_anchors_are_k_means_sizes_in_grid_cells():
    boxes = [np.array([[0, 0, 8, 8], [0, 0, 9, 9]]), np.array([[0, 0, 32, 16], [0, 0, 30, 16]])]
    np.testing.assert_allclose(anchors_from_boxes(boxes, 2, 8), [[1.0625, 1.0625], [3.875, 2.0]])


def test_detect_returns_one_result_per_image_in_pixels(shapes):
    model = small_yolo()
    results = detect(model, shapes[0][:3], [[1, 1], [2, 2]], 3, score_threshold=0.0)
    assert len(results) == 3 and model.training
    assert results[0]["boxes"].shape[1] == 4 and (results[0]["boxes"] >= 0).all() and (results[0]["boxes"] <= 32).all()


def test_save_and_load_round_trip_keeps_weights_anchors_and_names(tmp_path, shapes):
    model = small_yolo()
    train_yolo(model, *shapes, [[1, 1], [2, 2]], epochs=1, verbose=False)
    path = tmp_path / "detector.safetensors"
    save_detector(path, model, [[1.5, 1.0], [2.5, 3.0]], ["a", "b", "c"])
    loaded, anchors, names = load_detector(path)
    np.testing.assert_array_equal(anchors, [[1.5, 1.0], [2.5, 3.0]])
    assert names == ["a", "b", "c"] and not loaded.training
    model.eval()
    with no_grad():
        np.testing.assert_array_equal(loaded(Tensor(shapes[0][:2])).data, model(Tensor(shapes[0][:2])).data)


def test_saving_needs_one_name_per_class(tmp_path):
    with pytest.raises(ValueError, match="2 class names for a model of 3 classes"):
        save_detector(tmp_path / "d.safetensors", small_yolo(), [[1, 1], [2, 2]], ["a", "b"])


def test_a_detector_is_a_training_checkpoint_with_anchors_in_extra(tmp_path):
    path = tmp_path / "detector.safetensors"
    save_detector(path, small_yolo(), [[1.5, 1.0], [2.5, 3.0]], ["a", "b", "c"])
    checkpoint = load_checkpoint(path)
    assert checkpoint.extra == {"anchors": [[1.5, 1.0], [2.5, 3.0]]} and checkpoint.class_names == ["a", "b", "c"]
    assert checkpoint.config["name"] == "tiny_yolo"


def test_saving_needs_one_anchor_pair_per_anchor_of_the_model(tmp_path):
    with pytest.raises(ValueError, match="3 anchors for a model with 2 anchors per cell"):
        save_detector(tmp_path / "d.safetensors", small_yolo(), [[1, 1], [2, 2], [3, 3]], ["a", "b", "c"])


def test_loading_a_plain_state_dict_is_refused(tmp_path):
    path = tmp_path / "plain.safetensors"
    save_state(path, small_yolo().state_dict())
    assert load_state(path)[1] == {}
    with pytest.raises(ValueError, match="not a cnnkit checkpoint"):
        load_detector(path)


def test_loading_a_checkpoint_without_anchors_is_refused(tmp_path):
    path = tmp_path / "classifier.safetensors"
    save(small_yolo(), path)
    with pytest.raises(ValueError, match="without anchors, not a detector"):
        load_detector(path)


def test_an_old_detector_file_is_refused_with_how_to_retrain(tmp_path):
    path = tmp_path / "detector.safetensors"
    model = small_yolo()
    save_state(path, model.state_dict(), {"format": "cnnkit.detector/1", "model": json.dumps(model.config),
                                          "anchors": "[[1, 1], [2, 2]]", "class_names": '["a", "b", "c"]'})
    with pytest.raises(ValueError, match=r"old detector.*`cnnkit detect train`"):
        load_detector(path)
