"""cnnkit.compat.face_recognition: face_recognition's expectations on the repo's photos, and dlib-bin as the oracle.

Needs the released models (``network``): see the ``dlib_models`` fixture. The oracle calls
are face_recognition's own (``api.py``) made on dlib-bin directly, as face_recognition itself
needs a compiled dlib.
"""
from pathlib import Path

import numpy as np
import pytest

import cnnkit.compat.face_recognition as face_recognition

pytestmark = pytest.mark.network
NAMED_FACES = Path(__file__).resolve().parents[1] / "data" / "named_faces"
OBAMA, BIDEN = NAMED_FACES / "obama" / "obama.jpg", NAMED_FACES / "biden" / "biden.jpg"


class Oracle:
    """face_recognition's calls on dlib-bin."""

    def __init__(self, models):
        dlib, files = models.dlib, models.files
        self.dlib = dlib
        self.hog = dlib.get_frontal_face_detector()
        self.cnn = dlib.cnn_face_detection_model_v1(files["mmod_human_face_detector.dat"])
        self.sp5 = dlib.shape_predictor(files["shape_predictor_5_face_landmarks.dat"])
        self.sp68 = dlib.shape_predictor(files["shape_predictor_68_face_landmarks.dat"])
        self.encoder_file = files["dlib_face_recognition_resnet_model_v1.dat"]
        self.encoder = dlib.face_recognition_model_v1(self.encoder_file)

    def locations(self, image, upsample=1, model="hog"):
        rects = [d.rect for d in self.cnn(image, upsample)] if model == "cnn" else self.hog(image, upsample)
        return [(max(r.top(), 0), min(r.right(), image.shape[1]), min(r.bottom(), image.shape[0]), max(r.left(), 0))
                for r in rects]

    def encodings(self, image, model="small", num_jitters=1, encoder=None):
        predictor = self.sp5 if model == "small" else self.sp68
        return [np.array((encoder or self.encoder).compute_face_descriptor(image, predictor(image, r), num_jitters))
                for r in self.hog(image, 1)]


@pytest.fixture(scope="module")
def oracle(dlib_models):
    return Oracle(dlib_models)


@pytest.fixture(scope="module")
def obama():
    return face_recognition.load_image_file(OBAMA)


def test_load_image_file_gives_rgb_or_grey_arrays():
    assert face_recognition.load_image_file(OBAMA).shape == (1137, 910, 3)
    assert face_recognition.load_image_file(OBAMA, mode="L").shape == (1137, 910)


def test_face_locations_are_dlibs_boxes_as_top_right_bottom_left(oracle, obama):
    found = face_recognition.face_locations(obama)
    assert found == oracle.locations(obama) and len(found) == 1
    assert all(isinstance(v, int) for v in found[0])


def test_raw_face_locations_are_rectangles_with_dlibs_accessors(oracle, obama):
    (rect,) = face_recognition._raw_face_locations(obama)
    (theirs,) = oracle.hog(obama, 1)
    assert (rect.top(), rect.bottom(), rect.left(), rect.right()) == (theirs.top(), theirs.bottom(), theirs.left(),
                                                                      theirs.right())


def test_a_face_cut_by_the_border_is_trimmed_to_the_image(oracle, obama):
    partial = np.ascontiguousarray(obama[:, 400:])
    found = face_recognition.face_locations(partial)
    assert found == oracle.locations(partial) and found[0][3] == 0


def test_cnn_face_locations_are_within_a_pixel_of_dlibs(oracle, obama):
    small = np.ascontiguousarray(obama[::4, ::4])
    found = face_recognition.face_locations(small, number_of_times_to_upsample=0, model="cnn")
    expected = oracle.locations(small, 0, "cnn")
    assert len(found) == len(expected) == 1 and np.abs(np.subtract(found, expected)).max() <= 1


def test_batch_face_locations_give_one_list_per_image(oracle, obama):
    small = np.ascontiguousarray(obama[::4, ::4])
    batches = face_recognition.batch_face_locations([small, small, small], number_of_times_to_upsample=0)
    expected = oracle.locations(small, 0, "cnn")
    assert len(batches) == 3 and all(np.abs(np.subtract(found, expected)).max() <= 1 for found in batches)


def test_face_landmarks_are_dlibs_68_points_in_named_features(oracle, obama):
    (landmarks,) = face_recognition.face_landmarks(obama)
    assert set(landmarks) == {"chin", "left_eyebrow", "right_eyebrow", "nose_bridge", "nose_tip", "left_eye",
                              "right_eye", "top_lip", "bottom_lip"}
    (rect,) = oracle.hog(obama, 1)
    points = [(p.x, p.y) for p in oracle.sp68(obama, rect).parts()]
    assert landmarks["chin"] == points[0:17] and landmarks["nose_tip"] == points[31:36]
    assert len(landmarks["top_lip"]) == len(landmarks["bottom_lip"]) == 12


def test_small_landmarks_are_dlibs_5_points(oracle, obama):
    (landmarks,) = face_recognition.face_landmarks(obama, model="small")
    (rect,) = oracle.hog(obama, 1)
    points = [(p.x, p.y) for p in oracle.sp5(obama, rect).parts()]
    assert landmarks == {"nose_tip": [points[4]], "left_eye": points[2:4], "right_eye": points[0:2]}


def test_an_unknown_landmark_model_is_a_value_error(obama):
    with pytest.raises(ValueError, match="Invalid landmarks model type"):
        face_recognition.face_landmarks(obama, model="medium")


@pytest.mark.parametrize("model", ["small", "large"])
def test_encodings_are_within_1e_4_of_dlibs_on_every_photo(oracle, model):
    worst = 0.0
    # The four smallest photos: face_recognition upsamples once, a second or more per megapixel in dlib.
    for path in sorted(NAMED_FACES.glob("*/*.jpg"), key=lambda p: face_recognition.load_image_file(p).size)[:4]:
        image = face_recognition.load_image_file(path)
        ours, theirs = face_recognition.face_encodings(image, model=model), oracle.encodings(image, model)
        assert len(ours) == len(theirs) and all(e.shape == (128,) and e.dtype == np.float64 for e in ours), path
        worst = max([worst] + [float(np.abs(a - b).max()) for a, b in zip(ours, theirs)])
    assert worst < 1e-4


def test_jittered_encodings_follow_dlibs_random_jitters(oracle, obama, monkeypatch):
    # face_recognition's encoder owns one generator from its start: compare with a fresh dlib model.
    monkeypatch.setattr(face_recognition, "_jitter_rng", None)
    fresh = oracle.dlib.face_recognition_model_v1(oracle.encoder_file)
    for _ in range(2):
        (ours,) = face_recognition.face_encodings(obama, num_jitters=3)
        (theirs,) = oracle.encodings(obama, num_jitters=3, encoder=fresh)
        np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_face_distance_and_compare_faces_tell_obama_from_biden():
    encode = lambda path: face_recognition.face_encodings(face_recognition.load_image_file(path))[0]  # noqa: E731
    obama = encode(OBAMA)
    others = [encode(NAMED_FACES / "obama" / "obama2.jpg"), encode(NAMED_FACES / "obama" / "obama3.jpg"),
              encode(BIDEN)]
    distances = face_recognition.face_distance(others, obama)
    assert isinstance(distances, np.ndarray) and distances[0] <= 0.6 and distances[1] <= 0.6 and distances[2] > 0.6
    assert face_recognition.compare_faces(others, obama) == [True, True, False]
