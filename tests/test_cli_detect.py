import json

import numpy as np
import pytest
from PIL import Image

from cnnkit.cli import main
from cnnkit.detection import make_shapes_dataset, write_yolo_labels, xyxy_to_xywh
from cnnkit.detection.train import load_detector, save_detector
from cnnkit.models import tiny_yolo


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


def test_predict_refuses_weights_that_are_not_a_detector(tmp_path, picture, capsys):
    from cnnkit.io import save_state
    plain = tmp_path / "plain.safetensors"
    save_state(plain, {"w": np.zeros(2, np.float32)})
    assert main(["detect", "predict", str(picture), "--weights", str(plain)]) == 1
    assert "not a cnnkit detector" in capsys.readouterr().err


def test_predict_refuses_a_threshold_outside_zero_one(weights, picture, capsys):
    assert main(["detect", "predict", str(picture), "--weights", str(weights), "--iou-threshold", "1.5"]) == 2
    assert "argument --iou-threshold: must be in [0, 1], got 1.5" in capsys.readouterr().err


def test_train_on_synthetic_data_prints_map_and_saves_a_loadable_detector(tmp_path, capsys):
    assert main(["detect", "train", "--train-images", "16", "--test-images", "4", "--image-size", "16",
                 "--epochs", "1", "--quiet", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "mAP@0.5: " in out and "4 held-out images" in out
    model, anchors, names = load_detector(tmp_path / "detector.safetensors")
    assert names == ["circle", "square", "triangle"] and anchors.shape == (3, 2)
    assert model.config["image_size"] == 16


def test_train_reads_a_yolo_folder_with_class_names(tmp_path, capsys):
    images, boxes, classes = make_shapes_dataset(5, 24, seed=4)
    (tmp_path / "data" / "images").mkdir(parents=True)
    (tmp_path / "data" / "labels").mkdir()
    for k, (image, b, c) in enumerate(zip(images, boxes, classes)):
        Image.fromarray((image * 255).astype(np.uint8)).save(tmp_path / "data" / "images" / f"{k}.png")
        write_yolo_labels(tmp_path / "data" / "labels" / f"{k}.txt", c, xyxy_to_xywh(b) / 24)
    (tmp_path / "data" / "classes.txt").write_text("round\nboxy\npointy\n")
    assert main(["detect", "train", "--data", str(tmp_path / "data"), "--image-size", "16", "--epochs", "1",
                 "--anchors", "2", "--quiet", "--out", str(tmp_path)]) == 0
    assert "1 held-out images" in capsys.readouterr().out
    assert load_detector(tmp_path / "detector.safetensors")[2] == ["round", "boxy", "pointy"]


def test_train_names_a_malformed_label_line(tmp_path, capsys):
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    for k in range(2):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "images" / f"{k}.png")
    (tmp_path / "labels" / "1.txt").write_text("0 0.5 0.5 0.2 0.2\n0 0.5 0.5\n")
    assert main(["detect", "train", "--data", str(tmp_path), "--quiet", "--out", str(tmp_path)]) == 1
    assert "1.txt, line 2" in capsys.readouterr().err
