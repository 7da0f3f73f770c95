"""face-api's tiny face detector: the network, its preprocessing, the course's YOLO pipeline, the real weights."""
import csv
from pathlib import Path

import numpy as np
import pytest

from cnnkit import Tensor, models, no_grad
from cnnkit.detection import decode, iou
from cnnkit.face.tiny_yolo import TinyYoloFaceDetector, detect_faces_tiny_yolo, raw_to_course_outputs
from cnnkit.models.tiny_face_detector import ANCHORS, from_face_api, letterbox_scale, preprocess, resize_bilinear

NAMED_FACES = Path(__file__).resolve().parent / "data" / "named_faces"


def test_network_maps_416_pixels_to_a_13x13_grid_of_five_anchors():
    model = models.get_model("tiny_face_detector", rng=0)
    with no_grad():
        assert model(np.zeros((2, 416, 416, 3), np.float32)).shape == (2, 13, 13, 25)
        assert model(np.zeros((1, 320, 320, 3), np.float32)).shape == (1, 10, 10, 25)


def test_network_has_face_apis_193321_parameters_under_the_converted_names():
    model = models.get_model("tiny_face_detector", rng=0)
    state = model.state_dict()
    assert sum(v.size for v in state.values()) == 193_321
    fake = {name: np.zeros(1) for name in _tfjs_names()}
    assert sorted(from_face_api(fake)) == sorted(state)


def _tfjs_names():
    names = ["conv0/filters", "conv0/bias", "conv8/filters", "conv8/bias"]
    return names + [f"conv{k}/{p}" for k in range(1, 6) for p in ("depthwise_filter", "pointwise_filter", "bias")]


def test_converter_names_the_missing_tfjs_weights():
    with pytest.raises(ValueError, match=r"lack \['conv8/bias'\]"):
        from_face_api({name: np.zeros(1) for name in _tfjs_names() if name != "conv8/bias"})


def test_last_pool_is_tensorflows_same_pool_at_stride_one():
    model = models.get_model("tiny_face_detector", rng=0)
    x = np.random.default_rng(0).standard_normal((1, 5, 4, 3)).astype(np.float32)
    with no_grad():
        pooled = model.pool_last(Tensor(x))[:, 1:, 1:].numpy()
    padded = np.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)), constant_values=-np.inf)
    expected = np.maximum.reduce([padded[:, i:i + 5, j:j + 4] for i in (0, 1) for j in (0, 1)])
    np.testing.assert_array_equal(pooled, expected)


def test_resize_bilinear_samples_at_r_times_the_size_ratio_as_tensorflow_does():
    images = np.random.default_rng(1).random((1, 7, 5, 2)).astype(np.float32) * 255
    out = resize_bilinear(images, 4)
    for r in range(4):
        for c in range(4):
            y, x = r * 7 / 4, c * 5 / 4
            y0, x0 = int(np.floor(y)), int(np.floor(x))
            y1, x1 = min(y0 + 1, 6), min(x0 + 1, 4)
            top = images[0, y0, x0] + (images[0, y0, x1] - images[0, y0, x0]) * (x - x0)
            bottom = images[0, y1, x0] + (images[0, y1, x1] - images[0, y1, x0]) * (x - x0)
            np.testing.assert_allclose(out[0, r, c], top + (bottom - top) * (y - y0), rtol=1e-6)


def test_preprocess_pads_a_wide_image_at_the_bottom_then_normalises():
    image = np.full((2, 4, 3), 200, np.uint8)
    x = preprocess(image, 32)
    assert x.shape == (1, 32, 32, 3) and x.dtype == np.float32
    mean = np.array([117.001, 114.697, 97.404], np.float32)
    np.testing.assert_allclose(x[0, 0, 0], (200 - mean) / 255, rtol=1e-6)
    np.testing.assert_allclose(x[0, -1, -1], -mean / 255, rtol=1e-6)  # the zero padding, at the bottom


def test_preprocess_takes_float_pixels_in_0_1_as_the_rounded_uint8_ones():
    image = np.random.default_rng(4).integers(0, 256, (5, 7, 3)).astype(np.uint8)
    np.testing.assert_array_equal(preprocess(image / np.float32(255), 32), preprocess(image, 32))


def test_preprocess_rejects_what_is_not_an_rgb_image_or_a_multiple_of_32():
    with pytest.raises(ValueError, match=r"RGB image \(H, W, 3\), got shape \(4, 4\)"):
        preprocess(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="multiple of 32, got 100"):
        preprocess(np.zeros((4, 4, 3), np.uint8), 100)


def test_letterbox_scale_rounds_the_reshaped_sides_as_face_api():
    # 640 x 480 at 416: the reshaped sides are 416 and 312, so y fractions grow by 416 / 312
    assert letterbox_scale(480, 640, 416) == (1.0, 416 / 312)


def test_decode_without_class_logits_gives_each_box_probability_one():
    raw = np.random.default_rng(2).standard_normal((1, 3, 3, 25)).astype(np.float32)
    boxes, objectness, probs = decode(raw, ANCHORS, 0, 96)
    assert boxes.shape == (1, 3, 3, 5, 4) and objectness.shape == (1, 3, 3, 5)
    assert probs.shape == (1, 3, 3, 5, 1) and (probs == 1).all()


def test_course_pipeline_turns_one_confident_anchor_into_its_box_in_image_pixels():
    raw = np.full((1, 13, 13, 25), -10.0, np.float32)
    # cell (row 4, column 6), anchor 2: centre offsets sigmoid(0) = 0.5, sizes exp(0) x anchor, objectness ~1
    raw[0, 4, 6, 10:15] = [0, 0, 0, 0, 10]
    box_xy, box_wh, confidence, probs = raw_to_course_outputs(raw, (416, 416), 416)
    np.testing.assert_allclose(box_xy[4, 6, 2], [6.5 / 13, 4.5 / 13], rtol=1e-6)
    np.testing.assert_allclose(box_wh[4, 6, 2], ANCHORS[2] / 13, rtol=1e-6)
    detector = TinyYoloFaceDetector(model=lambda x: Tensor(raw))
    (face,) = detector.detect(np.zeros((416, 416, 3), np.uint8))
    w, h = ANCHORS[2] * 32
    np.testing.assert_allclose(face["box"], [6.5 * 32 - w / 2, 4.5 * 32 - h / 2, 6.5 * 32 + w / 2, 4.5 * 32 + h / 2],
                               rtol=1e-5)
    assert face["score"] == pytest.approx(1 / (1 + np.exp(-10)), rel=1e-6)


def test_overlapping_boxes_above_face_apis_iou_are_suppressed_and_the_rest_kept():
    raw = np.full((1, 13, 13, 25), -10.0, np.float32)
    raw[0, 4, 6, 10:15] = [0, 0, 0, 0, 3]     # the better box
    raw[0, 4, 6, 15:20] = [0, 0, 0, 0, 2]     # anchor 3 at the same place: IoU 0.68 with anchor 2, suppressed
    raw[0, 10, 1, 0:5] = [0, 0, 0, 0, 1]      # far away: kept
    faces = TinyYoloFaceDetector(model=lambda x: Tensor(raw)).detect(np.zeros((416, 416, 3), np.uint8))
    assert [round(f["score"], 4) for f in faces] == [round(1 / (1 + np.exp(-s)), 4) for s in (3, 1)]


def named_faces():
    """(file, RGB image, dlib's box) of every photo in tests/data/named_faces/faces.csv."""
    from PIL import Image

    if not (NAMED_FACES / "faces.csv").exists():
        pytest.skip(f"the named faces photos are not in {NAMED_FACES}")
    rows = list(csv.DictReader(open(NAMED_FACES / "faces.csv")))
    return [(r["file"], np.asarray(Image.open(NAMED_FACES / r["file"]).convert("RGB")),
             [float(r[k]) for k in ("left", "top", "right", "bottom")]) for r in rows]


@pytest.fixture(scope="module")
def pretrained():
    from cnnkit import weights

    try:
        weights.fetch("face-api", progress=False)
    except weights.FetchError as exc:
        pytest.skip(f"package registry unreachable: {exc}")
    return TinyYoloFaceDetector()


@pytest.mark.network
def test_pretrained_detector_finds_dlibs_faces_in_the_named_faces_photos_and_nothing_else(pretrained):
    found = 0
    for file, image, box in named_faces():
        faces = detect_faces_tiny_yolo(image, detector=pretrained)
        # face-api's boxes run from brow to chin, wider than dlib's square ones: measured IoU 0.46-0.77
        assert all(iou(f["box"], box) > 0.4 for f in faces), file
        found += len(faces) == 1
    # one photo (kit_harington/johnsnow_test1.jpg) scores 0.48 at input size 416, under the 0.5 threshold
    assert found >= 13


def test_detect_faces_dispatches_to_the_tiny_yolo_detector_it_is_given():
    from cnnkit import face

    raw = np.full((1, 13, 13, 25), -10.0, np.float32)
    raw[0, 4, 6, 10:15] = [0, 0, 0, 0, 10]
    detector = TinyYoloFaceDetector(model=lambda x: Tensor(raw))
    faces = face.detect_faces(np.zeros((416, 416, 3), np.uint8), detector=detector)
    assert len(faces) == 1 and sorted(faces[0]) == ["box", "score"]


def test_detect_faces_names_the_known_detectors_for_an_unknown_one():
    from cnnkit import face

    with pytest.raises(ValueError, match="unknown face detector 'yolo9000'; known: mtcnn, tiny_yolo"):
        face.detect_faces(np.zeros((8, 8, 3), np.uint8), detector="yolo9000")


@pytest.mark.network
def test_detect_faces_by_name_gives_the_pretrained_tiny_yolos_records(pretrained):
    from cnnkit import face

    _, image, _ = named_faces()[0]
    assert face.detect_faces(image, detector="tiny_yolo") == pretrained.detect(image)


def test_yolo_loss_of_a_head_without_class_logits_equals_the_loss_with_one_certain_class():
    from cnnkit.detection import encode_targets, yolo_loss

    raw = np.random.default_rng(3).standard_normal((2, 3, 3, 25))
    targets = encode_targets([[[10, 20, 50, 70]], [[40, 40, 90, 80]]], [[0], [0]], 3, ANCHORS, 1, 96)
    # one class logit per anchor: its softmax is 1 and its cross-entropy 0, so the two losses agree
    with_logit = np.concatenate([raw.reshape(2, 3, 3, 5, 5), np.zeros((2, 3, 3, 5, 1))], axis=-1).reshape(2, 3, 3, 30)
    t = Tensor(raw, requires_grad=True)
    loss = yolo_loss(t, targets, ANCHORS)
    loss.backward()
    assert loss.item() == pytest.approx(yolo_loss(with_logit, targets, ANCHORS).item(), rel=1e-12)
    assert np.isfinite(t.grad).all() and np.abs(t.grad).max() > 0
