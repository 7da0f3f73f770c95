import numpy as np
import pytest

from cnnkit.autograd import Tensor, no_grad
from cnnkit.detection.sliding import (classify_windows, sliding_windows, to_fully_convolutional, window_boxes,
                                      window_stride)
from cnnkit.models import lenet5
from cnnkit.nn import Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential, Sigmoid


def course_classifier(rng=0):
    """The course's 14x14x3 window classifier: conv 5x5 -> 16, max-pool 2, FC 400, FC 400, 4 outputs."""
    return Sequential(Conv2d(3, 16, 5, rng=rng), ReLU(), MaxPool2d(2), Flatten(), Linear(400, 400, rng=rng), ReLU(),
                      Linear(400, 400, rng=rng), ReLU(), Linear(400, 4, rng=rng)).eval()


def run(model, x):
    with no_grad():
        return model(Tensor(x)).data


def test_fully_convolutional_equals_the_classifier_on_its_window():
    model = course_classifier()
    x = np.random.default_rng(1).random((2, 14, 14, 3), dtype=np.float32)
    fcn = to_fully_convolutional(model, (14, 14, 3))
    out = run(fcn, x)
    assert out.shape == (2, 1, 1, 4)
    np.testing.assert_allclose(out[:, 0, 0], run(model, x), rtol=1e-5, atol=1e-5)


def test_fully_convolutional_equals_the_classifier_on_every_window_of_a_larger_image():
    model = course_classifier()
    image = np.random.default_rng(2).random((28, 24, 3), dtype=np.float32)
    grid = run(to_fully_convolutional(model, (14, 14, 3)), image[None])[0]
    assert window_stride(model) == (2, 2)
    naive = classify_windows(model, image, 14, 2)
    assert grid.shape == naive.shape == (8, 6, 4)
    np.testing.assert_allclose(grid, naive, rtol=1e-4, atol=1e-5)


def test_the_course_example_16x16_gives_a_2x2_grid():
    assert run(to_fully_convolutional(course_classifier(), (14, 14, 3)), np.zeros((1, 16, 16, 3), np.float32)).shape \
        == (1, 2, 2, 4)


def test_lenet_with_features_flatten_classifier_children_converts():
    model = lenet5(in_channels=1, rng=0).eval()
    image = np.random.default_rng(3).random((40, 36, 1), dtype=np.float32)
    grid = run(to_fully_convolutional(model, (32, 32, 1)), image[None])[0]
    np.testing.assert_allclose(grid, classify_windows(model, image, 32, window_stride(model)), rtol=1e-4, atol=1e-5)
    assert window_stride(model) == (4, 4) and grid.shape == (3, 2, 10)


def test_conversion_copies_weights_so_the_classifier_is_untouched():
    model = course_classifier()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    fcn = to_fully_convolutional(model, (14, 14, 3))
    for p in fcn.parameters():
        p.data += 1
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())


def test_pointwise_layers_after_flatten_are_kept():
    model = Sequential(Conv2d(1, 2, 3, rng=0), Flatten(), Linear(8, 3, rng=0), Sigmoid()).eval()
    fcn = to_fully_convolutional(model, (4, 4, 1))
    assert isinstance(fcn[-1], Sigmoid)
    x = np.random.default_rng(4).random((1, 4, 4, 1), dtype=np.float32)
    np.testing.assert_allclose(run(fcn, x)[:, 0, 0], run(model, x), rtol=1e-6)


def test_a_classifier_without_flatten_is_refused():
    with pytest.raises(ValueError, match="exactly one Flatten"):
        to_fully_convolutional(Sequential(Conv2d(1, 2, 3)), (4, 4, 1))


def test_a_non_pointwise_layer_after_flatten_is_refused():
    with pytest.raises(TypeError, match="MaxPool2d"):
        to_fully_convolutional(Sequential(Flatten(), Linear(16, 4), MaxPool2d(2)), (4, 4, 1))


def test_sliding_windows_are_the_crops_at_the_stride():
    image = np.arange(7 * 6 * 2).reshape(7, 6, 2)
    crops = sliding_windows(image, (3, 2), 2)
    assert crops.shape == (3, 3, 3, 2, 2)
    np.testing.assert_array_equal(crops[1, 2], image[2:5, 4:6])


def test_a_window_larger_than_the_image_is_refused():
    with pytest.raises(ValueError, match="at least as large as the window"):
        sliding_windows(np.zeros((5, 5, 1)), 6, 1)


def test_window_boxes_place_each_output_over_its_window():
    boxes = window_boxes((2, 3), 14, 2)
    np.testing.assert_array_equal(boxes[1, 2], [4, 2, 18, 16])
