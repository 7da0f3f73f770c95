import json
import re

import numpy as np
import pytest
from PIL import Image

from cnnkit.cli import main
from cnnkit.detection import make_shapes_dataset, write_yolo_labels, xyxy_to_xywh
from cnnkit.detection.train import load_detector, save_detector
from cnnkit.io import save_state
from cnnkit.models import tiny_yolo
from cnnkit.train import load_checkpoint


@pytest.fixture
def weights(tmp_path):
    path = tmp_path / "detector.safetensors"
    save_detector(path, tiny_yolo(image_size=16, widths=(4, 8), num_anchors=2, rng=0), [[1, 1], [2, 2]],
                  ["circle", "square", "triangle"])
    return path


@pytest.fixture
def picture(tmp_path):
    path = tmp_path / "shapes.png"
    image = make_shapes_dataset(1, 40, seed=3)[0][0]
    Image.fromarray((image * 255).astype(np.uint8)).save(path)
    return path


def test_predict_writes_a_png_and_prints_the_detections_as_json(tmp_path, weights, picture, capsys):
    out = tmp_path / "out"
    assert main(["detect", "predict", str(picture), "--weights", str(weights), "--score-threshold", "0",
                 "-o", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["image"] for r in report] == [str(picture)] and report[0]["output"] == str(out / "shapes.png")
    detection = report[0]["detections"][0]
    assert set(detection) == {"class", "class_id", "score", "box"} and detection["class"] in ("circle", "square",
                                                                                              "triangle")
    assert all(0 <= v <= 40 for v in detection["box"])
    with Image.open(out / "shapes.png") as drawn:
        assert drawn.size == (280, 280)  # enlarged 7x so the labels are legible


def test_predict_without_detections_prints_an_empty_list_and_says_so(tmp_path, weights, picture, capsys):
    assert main(["detect", "predict", str(picture), "--weights", str(weights), "--score-threshold", "1",
                 "-o", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)[0]["detections"] == []
    assert "no detections" in captured.err


def test_predict_names_an_unreadable_image(tmp_path, weights, picture, capsys):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a picture")
    assert main(["detect", "predict", str(picture), str(broken), "--weights", str(weights), "-o",
                 str(tmp_path / "out")]) == 1
    assert "broken.png" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_predict_refuses_weights_that_are_not_a_checkpoint(tmp_path, picture, capsys):
    plain = tmp_path / "plain.safetensors"
    save_state(plain, {"w": np.zeros(2, np.float32)})
    assert main(["detect", "predict", str(picture), "--weights", str(plain)]) == 1
    assert "not a cnnkit checkpoint" in capsys.readouterr().err


def test_predict_refuses_an_old_detector_file_saying_how_to_retrain(tmp_path, picture, capsys):
    old = tmp_path / "detector.safetensors"
    model = tiny_yolo(image_size=16, widths=(4, 8), num_anchors=2, rng=0)
    save_state(old, model.state_dict(), {"format": "cnnkit.detector/1", "model": json.dumps(model.config),
                                         "anchors": "[[1, 1], [2, 2]]", "class_names": '["a", "b", "c"]'})
    assert main(["detect", "predict", str(picture), "--weights", str(old)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("cnnkit detect predict: error:") and re.search(r"old detector.*`cnnkit detect train`", err)


def test_predict_refuses_a_threshold_outside_zero_one(weights, picture, capsys):
    assert main(["detect", "predict", str(picture), "--weights", str(weights), "--iou-threshold", "1.5"]) == 2
    assert "argument --iou-threshold: must be in [0, 1], got 1.5" in capsys.readouterr().err


TINY = ["--train-images", "16", "--test-images", "4", "--image-size", "16", "--quiet"]


def test_train_writes_a_run_folder_and_prints_the_map(tmp_path, capsys):
    assert main(["detect", "train", *TINY, "--epochs", "2", "--project", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "mAP@0.5: " in out and "4 held-out images" in out
    run = tmp_path / "detect" / "train"
    for name in ("weights/last.safetensors", "weights/best.safetensors", "results.csv", "args.json", "curves.png",
                 "predictions.png"):
        assert (run / name).is_file(), name
    assert len((run / "results.csv").read_text().splitlines()) == 3  # a header and two epochs
    assert json.loads((run / "args.json").read_text())["epochs"] == 2


def test_train_numbers_the_run_name_when_it_is_taken(tmp_path):
    for _ in range(2):
        assert main(["detect", "train", *TINY, "--epochs", "1", "--project", str(tmp_path)]) == 0
    assert (tmp_path / "detect" / "train2" / "weights" / "last.safetensors").is_file()


def test_predict_takes_a_run_folder_of_train(tmp_path, picture, capsys):
    assert main(["detect", "train", *TINY, "--epochs", "1", "--out", str(tmp_path / "run")]) == 0
    model, anchors, names = load_detector(tmp_path / "run")
    assert names == ["circle", "square", "triangle"] and anchors.shape == (3, 2)
    assert model.config["image_size"] == 16
    capsys.readouterr()
    assert main(["detect", "predict", str(picture), "--weights", str(tmp_path / "run"), "--score-threshold", "0",
                 "-o", str(tmp_path / "out")]) == 0
    assert json.loads(capsys.readouterr().out)[0]["detections"]


def test_resume_after_the_time_limit_gives_the_weights_of_an_uninterrupted_run(tmp_path):
    assert main(["detect", "train", *TINY, "--epochs", "3", "--seed", "2", "--out", str(tmp_path / "straight")]) == 0
    # a limit that passes at once: epoch 1 (one batch) is finished and saved, then training stops
    assert main(["detect", "train", *TINY, "--epochs", "3", "--seed", "2", "--minutes", "1e-9",
                 "--out", str(tmp_path / "halves")]) == 0
    assert load_checkpoint(tmp_path / "halves" / "weights" / "last.safetensors").epoch == 1
    assert main(["detect", "train", "--resume", str(tmp_path / "halves"), "--quiet"]) == 0
    straight, resumed = (load_checkpoint(tmp_path / name / "weights" / "last.safetensors")
                         for name in ("straight", "halves"))
    assert resumed.epoch == 3 and resumed.extra == straight.extra
    for key, value in straight.model.state_dict().items():
        np.testing.assert_array_equal(resumed.model.state_dict()[key], value, err_msg=key)


def test_resume_with_more_epochs_extends_the_run(tmp_path):
    assert main(["detect", "train", *TINY, "--epochs", "1", "--out", str(tmp_path / "run")]) == 0
    assert main(["detect", "train", "--resume", str(tmp_path / "run"), "--epochs", "2", "--quiet"]) == 0
    assert load_checkpoint(tmp_path / "run" / "weights" / "last.safetensors").history["epochs"] == [1, 2]


def test_resume_needs_a_run_folder(tmp_path, capsys):
    assert main(["detect", "train", "--resume", str(tmp_path / "nowhere")]) == 1
    assert "--resume" in capsys.readouterr().err


def test_train_stops_on_a_nan_loss_keeping_the_last_good_epoch(tmp_path, monkeypatch, capsys):
    from cnnkit.detection import train as detection_train
    calls, good = {"n": 0}, detection_train.YoloLoss.__call__

    def poisoned(self, model, batch):
        calls["n"] += 1
        value = good(self, model, batch)
        return value * float("nan") if calls["n"] > 1 else value  # epoch 1 has one batch of 16 images

    monkeypatch.setattr(detection_train.YoloLoss, "__call__", poisoned)
    assert main(["detect", "train", *TINY, "--epochs", "3", "--out", str(tmp_path / "run")]) == 3
    err = capsys.readouterr().err
    assert "cnnkit detect train: warning: the loss became nan at epoch 2" in err
    assert "cnnkit detect train: error: training diverged" in err
    assert load_checkpoint(tmp_path / "run" / "weights" / "last.safetensors").epoch == 1


def test_train_reads_a_yolo_folder_with_class_names(tmp_path, capsys):
    images, boxes, classes = make_shapes_dataset(5, 24, seed=4)
    (tmp_path / "data" / "images").mkdir(parents=True)
    (tmp_path / "data" / "labels").mkdir()
    for k, (image, b, c) in enumerate(zip(images, boxes, classes)):
        Image.fromarray((image * 255).astype(np.uint8)).save(tmp_path / "data" / "images" / f"{k}.png")
        write_yolo_labels(tmp_path / "data" / "labels" / f"{k}.txt", c, xyxy_to_xywh(b) / 24)
    (tmp_path / "data" / "classes.txt").write_text("round\nboxy\npointy\n")
    assert main(["detect", "train", "--data", str(tmp_path / "data"), "--image-size", "16", "--epochs", "1",
                 "--anchors", "2", "--quiet", "--out", str(tmp_path / "run")]) == 0
    assert "1 held-out images" in capsys.readouterr().out
    assert load_detector(tmp_path / "run")[2] == ["round", "boxy", "pointy"]


def test_train_names_a_malformed_label_line(tmp_path, capsys):
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    for k in range(2):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "images" / f"{k}.png")
    (tmp_path / "labels" / "1.txt").write_text("0 0.5 0.5 0.2 0.2\n0 0.5 0.5\n")
    assert main(["detect", "train", "--data", str(tmp_path), "--quiet", "--out", str(tmp_path / "run")]) == 1
    assert "1.txt, line 2" in capsys.readouterr().err
