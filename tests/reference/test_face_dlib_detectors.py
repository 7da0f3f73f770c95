"""dlib's HOG and CNN face detectors and 68-point predictor on cnnkit against dlib-bin, on real photos.

Needs the released models (``network``): see the ``dlib_models`` fixture.
"""
import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnkit.compat.face_recognition import load_image_file
from cnnkit.face import locate
from cnnkit.io.dlib_fhog_detector import read_frontal_face_header

pytestmark = pytest.mark.network
NAMED_FACES = Path(__file__).resolve().parents[1] / "data" / "named_faces"


def photos():
    """(file, RGB image, dlib's HOG box) of every named-faces photo."""
    with open(NAMED_FACES / "faces.csv", newline="") as f:
        return [(row["file"], load_image_file(NAMED_FACES / row["file"]),
                 tuple(int(row[k]) for k in ("left", "top", "right", "bottom"))) for row in csv.DictReader(f)]


def smallest(count):
    """The ``count`` smallest photos (dlib needs a second or more per megapixel at upsample 1)."""
    return sorted(photos(), key=lambda item: item[1].size)[:count]


def shrunk(image, width):
    """The photo resized to ``width`` pixels wide (dlib's CNN takes seconds per full photo)."""
    height = round(width * image.shape[0] / image.shape[1])
    return np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))


def test_the_header_in_dlibs_source_holds_dlibs_frontal_face_detector(dlib_models, tmp_path):
    dlib_models.dlib.get_frontal_face_detector().save(str(tmp_path / "frontal.svm"))
    header = read_frontal_face_header(dlib_models.files["frontal_face_detector.h"])
    assert header == (tmp_path / "frontal.svm").read_bytes()


def test_hog_boxes_equal_dlibs_on_every_photo(dlib_models):
    hog = dlib_models.dlib.get_frontal_face_detector()
    worst = 0.0
    for name, image, _ in photos():
        rects, scores, indices = hog.run(image, 0, 0.0)
        ours = locate.hog_detector().detect(image, 0)
        assert [(box, d) for box, _, d in ours] == [((r.left(), r.top(), r.right(), r.bottom()), i)
                                                    for r, i in zip(rects, indices)], name
        worst = max([worst] + [abs(s - t) for (_, s, _), t in zip(ours, scores)])
    assert worst < 1e-5


def test_hog_boxes_equal_dlibs_upsampled_as_face_recognition_does(dlib_models):
    hog = dlib_models.dlib.get_frontal_face_detector()
    for name, image, box in smallest(4):
        expected = [(r.left(), r.top(), r.right(), r.bottom()) for r in hog(image, 1)]
        assert [found for found, _, _ in locate.hog_detector().detect(image, 1)] == expected, name
        assert box in expected, name


def test_cnn_boxes_within_a_pixel_and_confidences_within_1e_3(dlib_models):
    cnn = dlib_models.dlib.cnn_face_detection_model_v1(dlib_models.files["mmod_human_face_detector.dat"])
    found = 0
    for name, image, _ in photos()[::4]:
        small = shrunk(image, 240)
        theirs = [((d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()), d.confidence) for d in cnn(small, 0)]
        ours = locate.cnn_detector().detect(small, 0)
        assert len(ours) == len(theirs), name
        found += len(ours)
        for (box, score), (their_box, their_score) in zip(ours, theirs):
            assert np.abs(np.subtract(box, their_box)).max() <= 1 and abs(score - their_score) < 1e-3, name
    assert found >= 3


def test_68_points_equal_dlibs_on_dlibs_boxes(dlib_models):
    predictor = dlib_models.dlib.shape_predictor(dlib_models.files["shape_predictor_68_face_landmarks.dat"])
    for name, image, box in photos():
        theirs = [[p.x, p.y] for p in predictor(image, dlib_models.dlib.rectangle(*box)).parts()]
        np.testing.assert_array_equal(locate.shape_predictor(68).predict(image, box), theirs, err_msg=name)
