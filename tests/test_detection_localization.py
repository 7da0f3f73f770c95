import numpy as np
import pytest

from cnnkit.autograd import Tensor
from cnnkit.detection.localization import (decode_landmarks, decode_localization, landmark_loss, localization_loss,
                                           localization_metrics, localization_targets, make_localization_dataset,
                                           triangle_landmarks)
from cnnkit.models import get_model
from cnnkit.optim import Adam
from cnnkit.train import fit


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def logit(p):
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-9, 1 - 1e-9)
    return np.log(p / (1 - p))


def softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_localizer_is_a_zoo_model_rebuilt_from_its_config():
    model = get_model("localizer", num_outputs=6, image_size=16, widths=(4, 8, 8), hidden=12, rng=0)
    rebuilt = get_model(**model.config)
    assert model.config["name"] == "localizer" and model.config["widths"] == [4, 8, 8]
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}
    assert model(Tensor(np.zeros((2, 16, 16, 3), np.float32))).shape == (2, 6)


def test_localizer_image_size_must_be_a_multiple_of_8():
    with pytest.raises(ValueError, match="multiple of 8"):
        get_model("localizer", image_size=20)


@pytest.fixture
def outputs_and_targets():
    rng = np.random.default_rng(0)
    output = rng.standard_normal((4, 8))
    targets = np.zeros((4, 8))
    targets[0] = [1, 0.5, 0.4, 0.3, 0.2, 0, 1, 0]
    targets[2] = [1, 0.2, 0.7, 0.1, 0.3, 1, 0, 0]
    return output, targets


def test_targets_follow_the_course_vector_for_an_object_and_an_empty_image():
    targets = localization_targets([np.array([[8, 4, 16, 20]]), np.zeros((0, 4))], [np.array([2]), np.zeros(0, int)],
                                   3, 32)
    np.testing.assert_allclose(targets, [[1, 0.375, 0.375, 0.5, 0.25, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0, 0]])


def test_targets_refuse_two_objects_in_one_image():
    with pytest.raises(ValueError, match="at most one object"):
        localization_targets([np.zeros((2, 4))], [np.zeros(2, int)], 3, 32)


def test_squared_loss_is_the_course_formula(outputs_and_targets):
    output, y = outputs_and_targets
    y_hat = np.concatenate([sigmoid(output[:, :5]), softmax(output[:, 5:])], axis=1)
    per_image = np.where(y[:, 0] == 1, ((y_hat - y) ** 2).sum(axis=1), (y_hat[:, 0] - y[:, 0]) ** 2)
    loss = localization_loss(Tensor(output), y, "squared")
    np.testing.assert_allclose(loss.data, per_image.mean(), rtol=1e-10)


def test_logistic_loss_is_bce_plus_box_error_and_cross_entropy_when_present(outputs_and_targets):
    output, y = outputs_and_targets
    p = sigmoid(output[:, 0])
    bce = -(y[:, 0] * np.log(p) + (1 - y[:, 0]) * np.log(1 - p))
    box = ((sigmoid(output[:, 1:5]) - y[:, 1:5]) ** 2).sum(axis=1)
    ce = -np.log(softmax(output[:, 5:])[np.arange(4), y[:, 5:].argmax(axis=1)])
    loss = localization_loss(Tensor(output), y, "logistic")
    np.testing.assert_allclose(loss.data, (bce + y[:, 0] * (box + ce)).mean(), rtol=1e-10)


def test_box_weight_scales_only_the_box_term(outputs_and_targets):
    output, y = outputs_and_targets
    box = (y[:, 0] * ((sigmoid(output[:, 1:5]) - y[:, 1:5]) ** 2).sum(axis=1)).mean()
    for kind in ("squared", "logistic"):
        gap = localization_loss(Tensor(output), y, kind, box_weight=3).data - localization_loss(Tensor(output), y,
                                                                                                 kind).data
        np.testing.assert_allclose(gap, 2 * box, rtol=1e-10)


def test_an_empty_image_only_pays_for_p_c(outputs_and_targets):
    output, y = outputs_and_targets
    changed = output.copy()
    changed[1, 1:] += 5  # image 1 has no object: its box and class outputs are "don't care"
    for kind in ("squared", "logistic"):
        assert localization_loss(Tensor(changed), y, kind).data == pytest.approx(
            localization_loss(Tensor(output), y, kind).data)


def test_an_unknown_loss_kind_is_refused(outputs_and_targets):
    with pytest.raises(ValueError, match="kind"):
        localization_loss(Tensor(outputs_and_targets[0]), outputs_and_targets[1], "hinge")


def test_decode_turns_the_target_vector_back_into_the_box():
    targets = localization_targets([np.array([[8, 4, 16, 20]])], [np.array([1])], 3, 32)
    decoded = decode_localization(np.concatenate([logit(targets[:, :5]), 10 * targets[:, 5:]], axis=1), 32)
    np.testing.assert_allclose(decoded["boxes"], [[8, 4, 16, 20]], atol=1e-6)
    assert decoded["classes"].tolist() == [1]


def test_a_few_epochs_of_fit_reduce_the_localization_loss():
    images, boxes, classes = make_localization_dataset(64, 16, seed=0)
    targets = localization_targets(boxes, classes, 3, 16)
    model = get_model("localizer", num_outputs=8, image_size=16, widths=(8, 8, 8), hidden=16, rng=0)
    model.eval()
    before = localization_loss(model(Tensor(images)), targets).data
    history = fit(model, (images, targets), loss=lambda model, batch: localization_loss(model(batch[0]), batch[1]),
                  optimizer=Adam(model.parameters(), lr=1e-2), epochs=3, batch_size=16, verbose=False)
    assert len(history) == 3
    assert localization_loss(model(Tensor(images)), targets).data < before


def test_triangle_landmarks_are_apex_and_base_corners():
    np.testing.assert_allclose(triangle_landmarks([[2, 4, 10, 12]]), [[[6, 4], [2, 12], [10, 12]]])


def test_triangles_only_dataset_holds_one_triangle_per_image():
    images, boxes, classes = make_localization_dataset(5, 32, seed=1, triangles_only=True)
    assert images.shape == (5, 32, 32, 3)
    assert all(len(b) == 1 for b in boxes) and [int(c[0]) for c in classes] == [2] * 5


def test_landmark_loss_is_the_mean_squared_error_of_image_fractions():
    rng = np.random.default_rng(5)
    output, points = rng.standard_normal((3, 6)), rng.uniform(0, 32, (3, 3, 2))
    expected = ((sigmoid(output) - points.reshape(3, 6) / 32) ** 2).mean()
    np.testing.assert_allclose(landmark_loss(Tensor(output), points, 32).data, expected, rtol=1e-10)
    np.testing.assert_allclose(decode_landmarks(output, 32), sigmoid(output).reshape(3, 3, 2) * 32)


def test_landmark_loss_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match=r"\(N, 2k\)"):
        landmark_loss(Tensor(np.zeros((2, 5))), np.zeros((2, 3, 2)), 32)


def test_metrics_report_perfect_iou_for_exact_boxes():
    boxes, classes = [np.array([[8., 4, 16, 20]]), np.zeros((0, 4))], [np.array([0]), np.zeros(0, int)]
    targets = localization_targets(boxes, classes, 3, 32)
    metrics = localization_metrics(np.concatenate([logit(targets[:, :5]), 10 * targets[:, 5:]], axis=1), boxes,
                                   classes, 32)
    assert metrics["mean_iou"] == pytest.approx(1, abs=1e-6)
    assert metrics["p_c_accuracy"] == 1 and metrics["class_accuracy"] == 1
