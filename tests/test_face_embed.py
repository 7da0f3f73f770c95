"""embed / verify and FaceDatabase, with a stand-in network so no weights are needed."""
import json

import numpy as np
import pytest

from cnnkit.face import FaceDatabase, embed, face_distance, verify
from cnnkit.face.align import FIVE_POINT_TEMPLATE
from cnnkit.face.database import FORMAT_VERSION

LANDMARKS = (0.25 + FIVE_POINT_TEMPLATE) / 1.5 * 150 * 1.2 + [40, 30]


class ColourNet:
    """Stand-in for DlibFaceResNet: the descriptor is the chip's mean colour, scaled, in 128 dims."""

    def embed_chips(self, chips):
        chips = np.asarray(chips)
        single = chips.ndim == 3
        colour = chips.reshape(-1, 150 * 150, 3).mean(axis=1) / 100
        out = np.zeros((len(colour), 128), dtype=np.float32)
        out[:, :3] = colour
        return out[0] if single else out


def photo(rgb):
    image = np.zeros((260, 260, 3), dtype=np.uint8)
    image[...] = rgb
    return image


NET = ColourNet()


def test_embed_aligns_the_face_then_embeds_the_chip():
    np.testing.assert_allclose(embed(photo((100, 50, 0)), LANDMARKS, network=NET)[:4], [1.0, 0.5, 0.0, 0.0])


def test_embed_takes_a_face_record_with_landmarks():
    a = embed(photo((100, 50, 0)), {"landmarks": LANDMARKS}, network=NET)
    np.testing.assert_array_equal(a, embed(photo((100, 50, 0)), LANDMARKS, network=NET))


class NoFaces:
    """Stand-in detector that finds nothing."""

    def detect(self, image, *args, **kwargs):
        return []


def test_embed_without_landmarks_detects_and_says_when_there_is_no_face(monkeypatch):
    monkeypatch.setattr("cnnkit.face.mtcnn._detector", NoFaces())
    with pytest.raises(ValueError, match="no face found"):
        embed(photo((0, 0, 0)), network=NET)


def test_verify_returns_the_distance_and_whether_it_is_below_the_threshold():
    distance, same = verify(photo((100, 50, 0)), photo((100, 80, 0)), face_a=LANDMARKS, face_b=LANDMARKS,
                            network=NET)
    assert distance == pytest.approx(0.3) and same
    assert verify(photo((100, 50, 0)), photo((100, 80, 0)), threshold=0.2, face_a=LANDMARKS, face_b=LANDMARKS,
                  network=NET) == (pytest.approx(0.3), False)


def test_face_distance_of_rows():
    np.testing.assert_allclose(face_distance(np.eye(3), np.zeros(3)), [1, 1, 1])


def test_database_identifies_the_nearest_enrolled_person_after_one_photo(tmp_path):
    db = FaceDatabase(tmp_path / "db", network=NET)
    db.enroll("red", [photo((200, 0, 0))], [LANDMARKS])
    db.enroll("green", [photo((0, 200, 0))], [LANDMARKS])
    name, distance = db.identify(photo((190, 10, 0)), LANDMARKS)
    assert name == "red" and distance == pytest.approx(np.hypot(0.1, 0.1), rel=1e-5)


def test_database_says_unknown_beyond_the_threshold(tmp_path):
    db = FaceDatabase(tmp_path, network=NET)
    db.enroll("red", [photo((200, 0, 0))], [LANDMARKS])
    name, distance = db.identify(photo((0, 0, 200)), LANDMARKS)
    assert name is None and distance > 0.6


def test_database_reopens_with_the_same_people(tmp_path):
    db = FaceDatabase(tmp_path, network=NET)
    db.add("a", np.ones(128))
    db.add("b", np.zeros((2, 128)))
    reopened = FaceDatabase(tmp_path, network=NET)
    assert reopened.names() == ["a", "b"] and len(reopened) == 3
    assert reopened.nearest(np.full(128, 0.99)) == ("a", pytest.approx(0.01 * np.sqrt(128), rel=1e-4))


def test_database_remove_forgets_every_descriptor_of_a_name(tmp_path):
    db = FaceDatabase(tmp_path, network=NET)
    db.add("a", np.ones((2, 128)))
    db.add("b", np.zeros(128))
    db.remove("a")
    assert FaceDatabase(tmp_path).names() == ["b"]
    with pytest.raises(KeyError, match="'a'"):
        db.remove("a")


def test_database_keeps_one_descriptor_file(tmp_path):
    db = FaceDatabase(tmp_path)
    for name in "abc":
        db.add(name, np.ones(128))
    assert len(list(tmp_path.glob("*.safetensors"))) == 1


def test_database_interrupted_while_saving_keeps_the_previous_state(tmp_path, monkeypatch):
    db = FaceDatabase(tmp_path)
    db.add("a", np.ones(128))

    def fail(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr("cnnkit.face.database.atomic_write", fail)
    with pytest.raises(KeyboardInterrupt):
        db.add("b", np.zeros(128))
    assert FaceDatabase(tmp_path).names() == ["a"]
    assert len(list(tmp_path.glob("*.safetensors"))) == 1


def test_database_of_a_newer_format_version_is_refused(tmp_path):
    FaceDatabase(tmp_path).add("a", np.ones(128))
    index = tmp_path / "faces.json"
    meta = json.loads(index.read_text())
    meta["format_version"] = FORMAT_VERSION + 1
    index.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="newer"):
        FaceDatabase(tmp_path)


def test_database_rejects_descriptors_of_the_wrong_size(tmp_path):
    with pytest.raises(ValueError, match=r"\(1, 64\)"):
        FaceDatabase(tmp_path).add("a", np.ones((1, 64)))
