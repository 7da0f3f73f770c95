import numpy as np
import pytest

from cnnkit.autograd import Tensor, no_grad
from cnnkit.detection import encode_targets, make_shapes_dataset, yolo_loss
from cnnkit.detection.targets import anchors_from_boxes
from cnnkit.detection.train import detect, flip_horizontal, load_detector, save_detector, train_yolo
from cnnkit.io import load_state, save_state
from cnnkit.models import get_model, tiny_yolo
from cnnkit.optim import Adam


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


def test_a_few_training_steps_reduce_the_yolo_loss(shapes):
    images, boxes, classes = shapes
    model = small_yolo()
    anchors = anchors_from_boxes(boxes, 2, model.stride)
    targets = encode_targets(boxes, classes, model.grid_size, anchors, 3, 32)

    def loss():
        model.eval()
        with no_grad():
            return float(yolo_loss(model(Tensor(images)), targets, anchors).data)

    before = loss()
    history = train_yolo(model, images, boxes, classes, anchors, Adam(model.parameters()), epochs=4, batch_size=16,
                         lr=1e-2, flip=False)
    assert history["steps"] == 8 and len(history["loss"]) == 4
    assert loss() < before


def test_training_stops_at_the_time_limit(shapes):
    images, boxes, classes = shapes
    model = small_yolo()
    history = train_yolo(model, images, boxes, classes, [[1, 1], [2, 2]], Adam(model.parameters()), epochs=100,
                         time_limit=1e-9)
    assert history["steps"] == 0 and not model.training


def test_flip_mirrors_boxes_with_the_image():
    image = np.zeros((1, 8, 10, 1), np.float32)
    image[0, 2:4, 1:3] = 1
    flipped, boxes = flip_horizontal(image, [np.array([[1, 2, 3, 4]], np.float32)])
    np.testing.assert_array_equal(boxes[0], [[7, 2, 9, 4]])
    assert flipped[0, 2:4, 7:9].min() == 1 and flipped.sum() == image.sum()


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
    train_yolo(model, *shapes, [[1, 1], [2, 2]], Adam(model.parameters()), epochs=1)
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


def test_loading_a_plain_state_dict_is_refused(tmp_path):
    path = tmp_path / "plain.safetensors"
    save_state(path, small_yolo().state_dict())
    assert load_state(path)[1] == {}
    with pytest.raises(ValueError, match="not a cnnkit detector"):
        load_detector(path)
