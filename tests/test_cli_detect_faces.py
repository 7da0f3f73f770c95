"""``cnnkit detect predict --model tiny_face_detector``: face-api's tiny YOLO from the command line."""
import json
from pathlib import Path

import numpy as np
import pytest

from cnnkit.cli import main

PHOTO = Path(__file__).resolve().parent / "data" / "named_faces" / "obama" / "obama.jpg"


def test_predict_needs_weights_or_a_pretrained_model(capsys):
    assert main(["detect", "predict", "x.png"]) == 2
    assert "one of the arguments --weights --model is required" in capsys.readouterr().err


def test_predict_refuses_an_input_size_that_is_not_a_multiple_of_32(capsys):
    assert main(["detect", "predict", "x.png", "--model", "tiny_face_detector", "--input-size", "100"]) == 2
    assert "--input-size: must be a positive multiple of 32, got 100" in capsys.readouterr().err


@pytest.mark.network
def test_predict_with_tiny_face_detector_draws_and_prints_the_face(tmp_path, capsys):
    from cnnkit import weights

    if not PHOTO.exists():
        pytest.skip(f"{PHOTO} is not in the repository")
    try:
        weights.fetch("face-api", progress=False)
    except weights.FetchError as exc:
        pytest.skip(f"package registry unreachable: {exc}")
    assert main(["detect", "predict", str(PHOTO), "--model", "tiny_face_detector", "-o", str(tmp_path)]) == 0
    (report,) = json.loads(capsys.readouterr().out)
    (face,) = report["detections"]
    assert face["class"] == "face" and face["score"] > 0.8
    # dlib's HOG box of this face is (371, 79)-(614, 425) (faces.csv): the tiny YOLO box holds its centre
    x1, y1, x2, y2 = face["box"]
    assert x1 < 492 < x2 and y1 < 252 < y2
    from PIL import Image

    drawn = np.asarray(Image.open(report["output"]))
    assert drawn.shape[:2] == (1137, 910) and Path(report["output"]).name == "obama.png"
