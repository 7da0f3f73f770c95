"""``cnnkit face recognize | locate`` (face_recognition's command-line tools) with stand-in models, and --detector."""
import importlib
import json

import numpy as np
import pytest
from PIL import Image

from cnnkit.cli import main
from cnnkit.face.align import FIVE_POINT_TEMPLATE

LOCATE, EMBED = importlib.import_module("cnnkit.face.locate"), importlib.import_module("cnnkit.face.embed")


class CentreFace:
    """Stand-in for dlib's detectors: one face in the middle of any image at least 50 pixels wide."""

    def __init__(self, with_index):
        self.with_index = with_index

    def detect(self, image, upsample=0, adjust_threshold=0.0, batch_size=16):
        if image.shape[1] < 50:
            return []
        h, w = image.shape[:2]
        box = (w // 4, h // 4, 3 * w // 4, 3 * h // 4)
        return [(box, 1.25, 0) if self.with_index else (box, 1.25)]


class Template:
    """Stand-in for dlib's 5-point predictor: the chip template spread over the box."""

    def predict(self, image, box):
        left, top, right, bottom = box
        return (0.25 + FIVE_POINT_TEMPLATE) / 1.5 * [right - left, bottom - top] + [left, top]


class MeanColour:
    """Stand-in for dlib's ResNet: the chips' mean colour / 100 in 128 dimensions."""

    def embed_chips(self, chips):
        chips = np.asarray(chips, dtype=np.float32)
        out = np.zeros(chips.shape[:-3] + (128,), dtype=np.float32)
        out[..., :3] = chips.reshape(chips.shape[:-3] + (-1, 3)).mean(axis=-2) / 100
        return out


@pytest.fixture(autouse=True)
def stand_ins(monkeypatch):
    monkeypatch.setattr(LOCATE, "_loaded", {"hog": CentreFace(True), "cnn": CentreFace(False)})
    monkeypatch.setattr(EMBED, "_predictor", Template())
    monkeypatch.setattr(EMBED, "_network", MeanColour())


def photo(path, colour, width=120):
    Image.fromarray(np.full((100, width, 3), colour, dtype=np.uint8)).save(path)
    return str(path)


@pytest.fixture
def people(tmp_path):
    known = tmp_path / "known"
    known.mkdir()
    photo(known / "alice.png", (200, 20, 20))
    photo(known / "bob.jpg", (20, 20, 200))
    photo(known / "nobody.png", (0, 0, 0), width=30)
    (known / "notes.txt").write_text("not an image")
    return known


def test_recognize_names_a_known_face_by_its_file(people, tmp_path, capsys):
    image = photo(tmp_path / "who.png", (198, 22, 20))
    assert main(["face", "recognize", str(people), image]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [f"{image},alice"]
    assert "No faces found in" in captured.err and "nobody.png" in captured.err


def test_recognize_shows_the_distance_when_asked_as_face_recognition_does(people, tmp_path, capsys):
    image = photo(tmp_path / "who.png", (200, 20, 20))
    for flag in (["--show-distance"], ["--show-distance", "1"]):
        assert main(["face", "recognize", str(people), image, *flag]) == 0
        assert capsys.readouterr().out.splitlines() == [f"{image},alice,0.0"]


def test_recognize_reports_strangers_and_pictures_without_faces(people, tmp_path, capsys):
    folder = tmp_path / "unknown"
    folder.mkdir()
    stranger, empty = photo(folder / "a.png", (20, 200, 20)), photo(folder / "b.png", (0, 0, 0), width=30)
    assert main(["face", "recognize", str(people), str(folder), "--show-distance", "true"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{stranger},unknown_person,None",
                                                    f"{empty},no_persons_found,None"]


def test_recognize_tolerance_decides_the_match(people, tmp_path, capsys):
    image = photo(tmp_path / "who.png", (150, 20, 20))                  # 0.5 from alice
    assert main(["face", "recognize", str(people), image, "--tolerance", "0.4"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{image},unknown_person"]


def test_recognize_with_two_processes_prints_every_image_in_order(people, tmp_path, capsys):
    folder = tmp_path / "many"
    folder.mkdir()
    images = [photo(folder / f"{i}.png", colour) for i, colour in enumerate([(200, 20, 20), (20, 20, 200)] * 2)]
    assert main(["face", "recognize", str(people), str(folder), "--cpus", "2"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{p},{n}" for p, n in zip(images, ["alice", "bob"] * 2)]


def test_recognize_with_a_missing_folder_is_one_error_line(tmp_path, capsys):
    assert main(["face", "recognize", str(tmp_path / "none"), str(tmp_path / "x.png")]) == 1
    assert capsys.readouterr().err.startswith("cnnkit face recognize: error: ")


def test_locate_prints_top_right_bottom_left_per_face(tmp_path, capsys):
    image = photo(tmp_path / "a.png", (90, 90, 90))
    for model in ("hog", "cnn"):
        assert main(["face", "locate", image, "--model", model]) == 0
        assert capsys.readouterr().out.splitlines() == [f"{image},25,90,75,30"]


def test_locate_on_a_folder_skips_other_files(tmp_path, capsys):
    photo(tmp_path / "a.jpg", (90, 90, 90))
    photo(tmp_path / "b.PNG", (90, 90, 90), width=30)
    (tmp_path / "c.txt").write_text("x")
    assert main(["face", "locate", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{tmp_path / 'a.jpg'},25,90,75,30"]


def test_detect_with_dlibs_detector_prints_dlib_boxes_and_5_landmarks(tmp_path, capsys):
    assert main(["face", "detect", photo(tmp_path / "a.png", (90, 90, 90)), "--detector", "hog"]) == 0
    (face,) = json.loads(capsys.readouterr().out)
    assert face["box"] == [30, 25, 90, 75] and face["score"] == 1.25 and len(face["landmarks"]) == 5


def test_verify_with_the_cnn_detector(tmp_path, capsys):
    a, b = photo(tmp_path / "a.png", (100, 0, 0)), photo(tmp_path / "b.png", (100, 30, 0))
    assert main(["face", "verify", a, b, "--detector", "cnn"]) == 0
    assert "distance 0.3000: same person" in capsys.readouterr().out
