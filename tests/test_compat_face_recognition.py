"""face_recognition's API shapes and types, with stand-in models (no weights needed); dlib itself is the oracle in
tests/reference/test_compat_face_recognition.py."""
import importlib

import numpy as np
import pytest
from PIL import Image

import cnnkit.compat.face_recognition as face_recognition
from cnnkit.face.align import FIVE_POINT_TEMPLATE

LOCATE, EMBED = importlib.import_module("cnnkit.face.locate"), importlib.import_module("cnnkit.face.embed")


class OneFace:
    """Stand-in for dlib's HOG detector: one face box reaching past the image's left and top edges."""

    def detect(self, image, upsample=0, adjust_threshold=0.0):
        return [((-5, -3, 60, 70), 1.5, 0)]


class OneFaceCNN:
    """Stand-in for dlib's CNN detector: (box, confidence) per face, one list per image of a batch."""

    def detect(self, images, upsample=0, adjust_threshold=0.0, batch_size=16):
        found = [((-5, -3, 60, 70), 1.5)]
        return [found for _ in images] if isinstance(images, list) else found


class Template:
    """Stand-in for dlib's shape predictors: a fixed mean shape spread over the box."""

    def __init__(self, points):
        self.points = points

    def predict(self, image, box):
        left, top, right, bottom = box
        unit = np.linspace(0.1, 0.9, self.points)
        shape = np.stack([unit, unit[::-1]], 1) if self.points == 68 else (0.25 + FIVE_POINT_TEMPLATE) / 1.5
        return np.floor(shape * [right - left, bottom - top] + [left, top] + 0.5)


class MeanColour:
    """Stand-in for dlib's ResNet: the chips' mean colour / 100 in 128 dimensions."""

    def embed_chips(self, chips):
        chips = np.asarray(chips, dtype=np.float32)
        out = np.zeros(chips.shape[:-3] + (128,), dtype=np.float32)
        out[..., :3] = chips.reshape(chips.shape[:-3] + (-1, 3)).mean(axis=-2) / 100
        return out


@pytest.fixture(autouse=True)
def stand_ins(monkeypatch):
    monkeypatch.setattr(LOCATE, "_loaded", {"hog": OneFace(), "cnn": OneFaceCNN(), "predictor68": Template(68)})
    monkeypatch.setattr(EMBED, "_predictor", Template(5))
    monkeypatch.setattr(EMBED, "_network", MeanColour())


IMAGE = np.full((100, 80, 3), 120, dtype=np.uint8)


def test_locations_are_top_right_bottom_left_trimmed_as_face_recognition_trims_them():
    # face_recognition clips right and bottom at the width and height, not one less.
    assert face_recognition.face_locations(IMAGE) == [(0, 60, 70, 0)]
    wide = np.zeros((50, 40, 3), dtype=np.uint8)
    assert face_recognition.face_locations(wide, 0, model="cnn") == [(0, 40, 50, 0)]


def test_raw_locations_keep_the_untrimmed_rectangle():
    (rect,) = face_recognition._raw_face_locations(IMAGE, 0)
    assert (rect.left(), rect.top(), rect.right(), rect.bottom(), rect.width()) == (-5, -3, 60, 70, 66)
    (mmod,) = face_recognition._raw_face_locations(IMAGE, 0, model="cnn")
    assert mmod.confidence == 1.5 and mmod.rect == rect


def test_batch_locations_give_one_list_per_image():
    assert face_recognition.batch_face_locations([IMAGE, IMAGE], 0) == [[(0, 60, 70, 0)], [(0, 60, 70, 0)]]


def test_landmarks_are_named_lists_of_integer_tuples():
    (marks,) = face_recognition.face_landmarks(IMAGE)
    assert [len(marks[k]) for k in ("chin", "left_eyebrow", "nose_bridge", "nose_tip", "left_eye", "top_lip",
                                    "bottom_lip")] == [17, 5, 4, 5, 6, 12, 12]
    assert all(isinstance(v, int) for point in marks["chin"] for v in point)
    (small,) = face_recognition.face_landmarks(IMAGE, model="small")
    assert set(small) == {"nose_tip", "left_eye", "right_eye"} and len(small["left_eye"]) == 2


def test_raw_landmarks_have_dlibs_accessors():
    (shape,) = face_recognition._raw_face_landmarks(IMAGE, [(0, 60, 70, 0)])
    assert shape.num_parts == 68 and (shape.part(0).x, shape.part(0).y) == (shape.parts()[0].x, shape.parts()[0].y)


def test_encodings_are_float64_arrays_of_128_one_per_face():
    (encoding,) = face_recognition.face_encodings(IMAGE)
    assert encoding.shape == (128,) and encoding.dtype == np.float64
    assert face_recognition.face_encodings(IMAGE, known_face_locations=[]) == []


def test_jitters_continue_one_generator_from_call_to_call(monkeypatch):
    monkeypatch.setattr(face_recognition, "_jitter_rng", None)
    (plain,) = face_recognition.face_encodings(IMAGE, num_jitters=1)
    first, second = (face_recognition.face_encodings(IMAGE, num_jitters=4)[0] for _ in range(2))
    monkeypatch.setattr(face_recognition, "_jitter_rng", None)
    (again,) = face_recognition.face_encodings(IMAGE, num_jitters=4)
    np.testing.assert_array_equal(again, first)
    assert not np.array_equal(first, second) and not np.array_equal(first, plain) and first.dtype == np.float64


def test_face_distance_of_no_encodings_is_an_empty_array():
    for known in ([], np.array([])):
        distances = face_recognition.face_distance(known, np.zeros(128))
        assert isinstance(distances, np.ndarray) and len(distances) == 0
        assert face_recognition.compare_faces(known, np.zeros(128)) == []


def test_compare_faces_matches_within_the_tolerance():
    known = [np.zeros(128), np.full(128, 0.1)]
    distances = face_recognition.face_distance(known, np.zeros(128))
    np.testing.assert_allclose(distances, [0, np.sqrt(128) * 0.1])
    assert face_recognition.compare_faces(known, np.zeros(128)) == [True, False]
    assert face_recognition.compare_faces(known, np.zeros(128), tolerance=2) == [True, True]


def test_load_image_file_converts_to_rgb_or_grey(tmp_path):
    rgba = np.zeros((12, 10, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 128
    Image.fromarray(rgba).save(tmp_path / "a.png")
    assert face_recognition.load_image_file(tmp_path / "a.png").shape == (12, 10, 3)
    assert face_recognition.load_image_file(tmp_path / "a.png", mode="L").shape == (12, 10)
    assert face_recognition.load_image_file(tmp_path / "a.png", mode=None).shape == (12, 10, 4)


def test_load_image_file_refuses_an_image_over_cnnkits_pixel_limit(tmp_path, monkeypatch):
    Image.fromarray(np.zeros((40, 30, 3), dtype=np.uint8)).save(tmp_path / "big.png")
    monkeypatch.setenv("CNNKIT_MAX_IMAGE_PIXELS", "1000")
    with pytest.raises(ValueError, match=r"big.png.*30x40 = 1,200 pixels, over the limit of 1,000"):
        face_recognition.load_image_file(tmp_path / "big.png")


def test_css_and_rectangles_convert_both_ways():
    rect = face_recognition._css_to_rect((1, 9, 7, 2))
    assert face_recognition._rect_to_css(rect) == (1, 9, 7, 2)
    assert face_recognition._trim_css_to_bounds((-4, 120, 90, -1), (80, 100, 3)) == (0, 100, 80, 0)
