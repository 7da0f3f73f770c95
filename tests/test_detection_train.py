"""Training a YOLO detector through cnnkit.train.fit: padded batches, flips, the loss callable, mAP, run folders."""
import numpy as np
import pytest

from cnnkit.autograd import Tensor, no_grad
from cnnkit.detection import encode_targets, yolo_loss
from cnnkit.detection.targets import anchors_from_boxes
from cnnkit.detection.train import (RandomHorizontalFlipBoxes, YoloLoss, evaluate_map, pad_objects, train_yolo,
                                    unpad_objects)
from cnnkit.train import Callback, RunFolder, load_checkpoint
from test_detection_model import shapes, small_yolo  # noqa: F401  (shapes is a fixture)

ANCHORS = np.array([[1.0, 1.0], [2.0, 2.0]], np.float32)


def test_pad_objects_pads_with_class_minus_one_and_unpads_back():
    boxes_list = [np.array([[1, 2, 3, 4]], np.float32), np.zeros((0, 4), np.float32),
                  np.array([[0, 0, 2, 2], [4, 4, 8, 8]], np.float32)]
    classes_list = [np.array([2]), np.zeros(0, np.int64), np.array([0, 1])]
    boxes, classes = pad_objects(boxes_list, classes_list)
    assert boxes.shape == (3, 2, 4) and boxes.dtype == np.float32
    np.testing.assert_array_equal(classes, [[2, -1], [-1, -1], [0, 1]])
    back_boxes, back_classes = unpad_objects(boxes, classes)
    for got, expected in zip(back_boxes + back_classes, boxes_list + classes_list):
        np.testing.assert_array_equal(got, expected)


def test_pad_objects_refuses_a_negative_class():
    with pytest.raises(ValueError, match="image 0"):
        pad_objects([np.zeros((1, 4))], [np.array([-3])])


def test_flip_mirrors_boxes_with_the_image_and_leaves_padding_alone():
    image = np.zeros((2, 8, 10, 1), np.float32)
    image[:, 2:4, 1:3] = 1
    boxes, classes = pad_objects([np.array([[1, 2, 3, 4]]), np.array([[1, 2, 3, 4], [0, 0, 0, 0]])],
                                 [np.array([0]), np.array([0, 1])])
    classes[1, 1] = -1  # a padding row: left as it is
    flipped, flipped_boxes, same_classes = RandomHorizontalFlipBoxes(p=1.0, rng=0)((image, boxes, classes))
    np.testing.assert_array_equal(flipped_boxes[:, 0], [[7, 2, 9, 4]] * 2)
    np.testing.assert_array_equal(flipped_boxes[:, 1], 0)
    assert flipped[:, 2:4, 7:9].min() == 1 and flipped.sum() == image.sum()
    np.testing.assert_array_equal(same_classes, classes)


def test_flip_mirrors_about_half_the_images_and_keeps_the_rest():
    images = np.random.default_rng(0).random((200, 4, 6, 1)).astype(np.float32)
    boxes, classes = pad_objects([np.array([[0, 0, 2, 2]])] * 200, [np.array([1])] * 200)
    out, out_boxes, _ = RandomHorizontalFlipBoxes(rng=1)((images, boxes, classes))
    flipped = out_boxes[:, 0, 0] == 4
    assert 70 < flipped.sum() < 130
    np.testing.assert_array_equal(out[flipped], images[flipped, :, ::-1])
    np.testing.assert_array_equal(out[~flipped], images[~flipped])


def test_the_loss_callable_is_yolo_loss_of_the_encoded_batch(shapes):
    images, boxes_list, classes_list = shapes
    model = small_yolo()
    value = YoloLoss(ANCHORS)(model, (images, *pad_objects(boxes_list, classes_list)))
    targets = encode_targets(boxes_list, classes_list, model.grid_size, ANCHORS, 3, 32)
    assert value.item() == yolo_loss(model(Tensor(images)), targets, ANCHORS).item()


def test_a_few_epochs_reduce_the_yolo_loss(shapes):
    images, boxes, classes = shapes
    model = small_yolo()
    anchors = anchors_from_boxes(boxes, 2, model.stride)
    targets = encode_targets(boxes, classes, model.grid_size, anchors, 3, 32)

    def loss():
        model.eval()
        with no_grad():
            return float(yolo_loss(model(Tensor(images)), targets, anchors).data)

    before = loss()
    history = train_yolo(model, images, boxes, classes, anchors, epochs=4, batch_size=16, lr=1e-2, flip=False,
                         verbose=False)
    assert len(history) == 4 and not model.training
    assert loss() < before


def test_the_learning_rate_follows_a_cosine_over_every_batch(shapes):
    history = train_yolo(small_yolo(), *shapes, ANCHORS, epochs=2, batch_size=16, lr=1e-2, verbose=False)
    # 2 batches per epoch: epoch 2 starts at batch 2 of 4, half way down the cosine
    np.testing.assert_allclose(history.lr, [1e-2, 1e-2 * 0.5 * (1 + np.cos(np.pi * 2 / 4))])


def test_training_stops_at_the_time_limit_after_one_batch(shapes):
    history = train_yolo(small_yolo(), *shapes, ANCHORS, epochs=100, time_limit=1e-9, verbose=False)
    assert len(history) == 1 and history.stopped == "time"


def test_held_out_images_give_val_loss_and_map_every_epoch(shapes):
    images, boxes, classes = shapes
    model = small_yolo()
    history = train_yolo(model, images[:24], boxes[:24], classes[:24], ANCHORS, val=(images[24:], boxes[24:],
                         classes[24:]), epochs=2, batch_size=16, verbose=False)
    assert len(history["val_loss"]) == 2 and np.isfinite(history["val_loss"]).all()
    assert history["val_map50"][-1] == evaluate_map(model, images[24:], boxes[24:], classes[24:], ANCHORS, 3)


def test_a_run_folder_keeps_last_and_best_with_the_anchors(tmp_path, shapes):
    images, boxes, classes = shapes
    run = RunFolder(tmp_path / "run", class_names=["a", "b", "c"], extra={"anchors": ANCHORS.tolist()},
                    monitor="val_map50")
    train_yolo(small_yolo(), images[:24], boxes[:24], classes[:24], ANCHORS,
               val=(images[24:], boxes[24:], classes[24:]), epochs=2, batch_size=16, run=run, verbose=False)
    best = load_checkpoint(run.best)
    assert best.extra["anchors"] == ANCHORS.tolist() and best.class_names == ["a", "b", "c"]
    assert load_checkpoint(run.last).epoch == 2
    assert "val_map50" in (tmp_path / "run" / "results.csv").read_text().splitlines()[0]


class StopAfter(Callback):
    """Stop a run after ``epochs`` epochs, as an interruption would (the schedule still spans the full run)."""

    def __init__(self, epochs):
        self.epochs, self.stop_reason = epochs, f"stopped after {epochs} epochs"

    def on_epoch_end(self, model, epoch, logs):
        return epoch >= self.epochs


def test_two_epochs_and_a_resume_to_four_equal_four_epochs_bit_for_bit(tmp_path, shapes):
    def train(folder, callbacks=(), resume=None):
        model = small_yolo()
        train_yolo(model, *shapes, ANCHORS, epochs=4, batch_size=16, seed=3, run=RunFolder(folder),
                   resume=resume, callbacks=callbacks, verbose=False)
        return model

    straight = train(tmp_path / "straight")
    train(tmp_path / "halves", callbacks=[StopAfter(2)])
    assert load_checkpoint(tmp_path / "halves").epoch == 2
    resumed = train(tmp_path / "halves", resume=tmp_path / "halves")
    for key, value in straight.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[key], value, err_msg=key)
