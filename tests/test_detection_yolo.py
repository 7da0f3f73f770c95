"""The YOLO head: decode, target encoding, loss, anchors, postprocess."""
import math

import numpy as np
import pytest

from cnnkit import Tensor, gradcheck
from cnnkit.detection.boxes import iou
from cnnkit.detection.loss import yolo_loss
from cnnkit.detection.metrics import coco_map, mean_average_precision
from cnnkit.detection.synthetic import make_shapes_dataset
from cnnkit.detection.targets import encode_targets, kmeans_anchors
from cnnkit.detection.yolo import decode, postprocess

ANCHORS = np.array([[1.0, 1.0], [2.5, 1.5]])


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def reference_decode(raw, anchors, num_classes, height, width):
    """Decode with explicit loops over images, cells and anchors."""
    N, GH, GW, _ = raw.shape
    B = len(anchors)
    boxes = np.zeros((N, GH, GW, B, 4))
    objectness = np.zeros((N, GH, GW, B))
    probs = np.zeros((N, GH, GW, B, num_classes))
    for n in range(N):
        for i in range(GH):
            for j in range(GW):
                for b in range(B):
                    t = raw[n, i, j, b * (5 + num_classes):(b + 1) * (5 + num_classes)]
                    cx = (j + sigmoid(t[0])) * width / GW
                    cy = (i + sigmoid(t[1])) * height / GH
                    w = anchors[b, 0] * math.exp(t[2]) * width / GW
                    h = anchors[b, 1] * math.exp(t[3]) * height / GH
                    boxes[n, i, j, b] = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
                    objectness[n, i, j, b] = sigmoid(t[4])
                    e = np.exp(t[5:] - t[5:].max())
                    probs[n, i, j, b] = e / e.sum()
    return boxes, objectness, probs


def random_objects(rng, n_images, image_size, max_objects=3, num_classes=3):
    """Random ground truth: per image, corner boxes in pixels and classes."""
    boxes_list, classes_list = [], []
    for _ in range(n_images):
        m = int(rng.integers(0, max_objects + 1))
        centres = rng.uniform(2, image_size - 2, (m, 2))
        sizes = rng.uniform(4, image_size / 2, (m, 2))
        boxes_list.append(np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1))
        classes_list.append(rng.integers(0, num_classes, m))
    return boxes_list, classes_list


def raw_from_targets(targets, num_classes, confidence=12.0):
    """A raw output that decodes exactly to the encoded objects, with confident objectness and classes."""
    mask = targets["mask"]
    N, GH, GW, B = mask.shape
    raw = np.zeros((N, GH, GW, B, 5 + num_classes))
    offsets = np.clip(targets["offsets"].astype(np.float64), 1e-9, 1 - 1e-9)
    raw[..., 0:2] = np.log(offsets / (1 - offsets))
    raw[..., 2:4] = targets["log_sizes"]
    raw[..., 4] = np.where(mask, confidence, -confidence)
    raw[..., 5:] = -confidence
    n, i, j, b = np.nonzero(mask)
    raw[n, i, j, b, 5 + targets["classes"][n, i, j, b]] = confidence
    return raw.reshape(N, GH, GW, B * (5 + num_classes))


def test_decode_matches_loop_reference():
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(2, 3, 4, 2 * 8))
    boxes, objectness, probs = decode(raw, ANCHORS, 3, (48, 64))
    ref_boxes, ref_objectness, ref_probs = reference_decode(raw, ANCHORS, 3, 48, 64)
    np.testing.assert_allclose(boxes, ref_boxes, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(objectness, ref_objectness, rtol=1e-12)
    np.testing.assert_allclose(probs, ref_probs, rtol=1e-12)


def test_decode_accepts_tensor_and_keeps_float32():
    raw = Tensor(np.zeros((1, 2, 2, 2 * 7), dtype=np.float32))
    boxes, objectness, probs = decode(raw, ANCHORS, 2, 32)
    assert boxes.dtype == objectness.dtype == probs.dtype == np.float32


def test_decode_rejects_wrong_channel_count():
    with pytest.raises(ValueError, match=r"B \* \(5 \+ C\)"):
        decode(np.zeros((1, 2, 2, 15)), ANCHORS, 3, 32)


def test_encode_assigns_centre_cell_and_best_shaped_anchor():
    # 64 px image on a 4 x 4 grid: 16 px cells; the box is 40 x 24 px = 2.5 x 1.5 cells, centred at (40, 20)
    targets = encode_targets([np.array([[20.0, 8.0, 60.0, 32.0]])], [np.array([2])], 4, ANCHORS, 3, 64)
    assert np.argwhere(targets["mask"]).tolist() == [[0, 1, 2, 1]]
    np.testing.assert_allclose(targets["offsets"][0, 1, 2, 1], [0.5, 0.25])
    np.testing.assert_allclose(targets["log_sizes"][0, 1, 2, 1], [0.0, 0.0], atol=1e-7)
    assert targets["classes"][0, 1, 2, 1] == 2
    np.testing.assert_allclose(targets["boxes"][0], [[1.25, 0.5, 3.75, 2.0]])


def test_encode_then_decode_recovers_the_boxes():
    rng = np.random.default_rng(1)
    boxes_list, classes_list = random_objects(rng, 4, 96)
    targets = encode_targets(boxes_list, classes_list, (6, 6), ANCHORS, 3, 96)
    decoded, _, _ = decode(raw_from_targets(targets, 3), ANCHORS, 3, 96)
    for n, boxes in enumerate(boxes_list):
        kept = decoded[n][targets["mask"][n]]
        assert len(kept) == len(boxes)  # no two random objects share a cell and anchor here
        np.testing.assert_allclose(iou(kept, boxes).max(axis=0, initial=0.0), 1.0, atol=1e-6)


def test_encode_keeps_the_later_object_when_two_share_cell_and_anchor():
    boxes = np.array([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0]])
    targets = encode_targets([boxes], [np.array([0, 1])], 2, ANCHORS, 2, 32)
    assert targets["mask"].sum() == 1
    assert targets["classes"][targets["mask"]].tolist() == [1]


def test_encode_rejects_zero_width_box():
    with pytest.raises(ValueError, match="image 0, box 1"):
        encode_targets([np.array([[0, 0, 4, 4], [5, 5, 5, 9]])], [np.array([0, 0])], 2, ANCHORS, 2, 32)


def test_encode_rejects_class_out_of_range():
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        encode_targets([np.array([[0, 0, 4, 4]])], [np.array([2])], 2, ANCHORS, 2, 32)


def reference_loss(raw, targets, anchors, lambda_coord, lambda_noobj):
    """The YOLO loss with loops over every anchor of every cell (ignore rule off)."""
    mask = targets["mask"]
    N, GH, GW, B = mask.shape
    C = raw.shape[-1] // B - 5
    total = 0.0
    for n, i, j, b in np.ndindex(N, GH, GW, B):
        t = raw[n, i, j, b * (5 + C):(b + 1) * (5 + C)]
        p = sigmoid(t[4])
        if mask[n, i, j, b]:
            dx, dy = np.array([sigmoid(t[0]), sigmoid(t[1])]) - targets["offsets"][n, i, j, b]
            dw, dh = t[2:4] - targets["log_sizes"][n, i, j, b]
            total += lambda_coord * (dx ** 2 + dy ** 2 + dw ** 2 + dh ** 2)
            total += -math.log(p)
            logits = t[5:]
            total += -(logits[targets["classes"][n, i, j, b]] - logits.max()
                       - math.log(np.exp(logits - logits.max()).sum()))
        else:
            total += lambda_noobj * -math.log(1 - p)
    return total / N


def loss_case(seed, dtype=np.float64):
    """A small random raw output with random ground truth on a 3 x 3 grid of a 48 px image."""
    rng = np.random.default_rng(seed)
    boxes_list, classes_list = random_objects(rng, 2, 48, max_objects=3, num_classes=3)
    targets = encode_targets(boxes_list, classes_list, 3, ANCHORS, 3, 48)
    raw = rng.normal(size=(2, 3, 3, 2 * 8)).astype(dtype)
    return raw, targets


def test_yolo_loss_matches_loop_reference():
    raw, targets = loss_case(2)
    loss = yolo_loss(Tensor(raw), targets, ANCHORS, lambda_coord=5.0, lambda_noobj=0.5, ignore_threshold=1.0)
    expected = reference_loss(raw, targets, ANCHORS, 5.0, 0.5)
    assert loss.shape == () and loss.item() == pytest.approx(expected, rel=1e-6)


def test_yolo_loss_gradient_passes_gradcheck():
    raw, targets = loss_case(3)
    assert gradcheck(lambda r: yolo_loss(r, targets, ANCHORS), [raw])


def test_yolo_loss_ignores_background_predictions_overlapping_an_object():
    # 32 px image, 2 x 2 grid: the object is (0, 0)-(1.5, 1.5) cells, owned by anchor 0 of cell (0, 0);
    # anchor 1 of that cell predicts it exactly, every other prediction overlaps it by IoU < 0.3
    anchors = np.array([[1.5, 1.5], [1.5, 1.5]])
    targets = encode_targets([np.array([[0.0, 0.0, 24.0, 24.0]])], [np.array([0])], 2, anchors, 1, 32)
    raw = np.zeros((1, 2, 2, 2, 6))
    raw[..., 4] = 3.0
    raw[0, 0, 0, 1, 0:2] = math.log(0.75 / 0.25)
    raw = raw.reshape(1, 2, 2, 12)
    with_rule = yolo_loss(Tensor(raw), targets, anchors, lambda_noobj=1.0).item()
    without_rule = yolo_loss(Tensor(raw), targets, anchors, lambda_noobj=1.0, ignore_threshold=1.0).item()
    assert without_rule - with_rule == pytest.approx(math.log1p(math.exp(3.0)))  # one BCE(3, 0) left out


def test_yolo_loss_is_near_zero_for_a_perfect_prediction():
    rng = np.random.default_rng(4)
    boxes_list, classes_list = random_objects(rng, 3, 64)
    targets = encode_targets(boxes_list, classes_list, 4, ANCHORS, 3, 64)
    raw = raw_from_targets(targets, 3, confidence=20.0)
    assert yolo_loss(Tensor(raw), targets, ANCHORS).item() < 1e-6


def test_yolo_loss_keeps_float32_forward_and_backward():
    raw, targets = loss_case(5, dtype=np.float32)
    raw = Tensor(raw, requires_grad=True)
    loss = yolo_loss(raw, targets, ANCHORS)
    loss.backward()
    assert loss.dtype == np.float32 and raw.grad.dtype == np.float32


def test_yolo_loss_rejects_raw_that_does_not_fit_targets():
    raw, targets = loss_case(6)
    with pytest.raises(ValueError, match="does not fit"):
        yolo_loss(Tensor(raw[:, :2]), targets, ANCHORS)


def test_kmeans_anchors_recover_clustered_sizes():
    rng = np.random.default_rng(7)
    true = np.array([[10.0, 10.0], [40.0, 20.0], [15.0, 60.0]])
    sizes = np.concatenate([c * rng.uniform(0.95, 1.05, (50, 2)) for c in true])
    anchors = kmeans_anchors(sizes, 3, seed=0)
    np.testing.assert_allclose(anchors, true[np.argsort(true.prod(axis=1))], rtol=0.03)


def test_kmeans_anchors_are_deterministic_under_a_seed():
    sizes = np.random.default_rng(8).uniform(1, 50, (100, 2))
    np.testing.assert_array_equal(kmeans_anchors(sizes, 5, seed=3), kmeans_anchors(sizes, 5, seed=3))


def test_kmeans_anchors_reject_more_clusters_than_sizes():
    with pytest.raises(ValueError, match="2 distinct"):
        kmeans_anchors([[1, 1], [2, 2], [1, 1]], 3)


def test_postprocess_returns_the_encoded_objects():
    rng = np.random.default_rng(9)
    boxes_list, classes_list = random_objects(rng, 3, 96)
    targets = encode_targets(boxes_list, classes_list, 6, ANCHORS, 3, 96)
    detections = postprocess(raw_from_targets(targets, 3), ANCHORS, 3, 96, score_threshold=0.5)
    for det, boxes, classes in zip(detections, boxes_list, classes_list):
        assert len(det["boxes"]) == len(boxes)
        order = np.argmax(iou(det["boxes"], boxes), axis=1) if len(boxes) else []
        np.testing.assert_array_equal(det["classes"], classes[order])
        np.testing.assert_allclose(det["boxes"], np.clip(boxes[order], 0, 96), atol=1e-5)
        assert np.all(np.diff(det["scores"]) <= 0)


def test_shapes_through_encode_and_postprocess_score_map_one():
    images, boxes_list, classes_list = make_shapes_dataset(20, image_size=64, seed=0)
    anchors = kmeans_anchors(np.concatenate([b[:, 2:] - b[:, :2] for b in boxes_list]), 3) / 8.0  # 8-pixel cells
    targets = encode_targets(boxes_list, classes_list, 8, anchors, 3, 64)
    assert targets["mask"].sum() == sum(len(b) for b in boxes_list)  # no two objects share a cell and anchor
    detections = postprocess(raw_from_targets(targets, 3), anchors, 3, 64)
    found = [{"image": n, "class": c, "score": s, "box": b} for n, d in enumerate(detections)
             for b, s, c in zip(d["boxes"], d["scores"], d["classes"])]
    truth = [{"image": n, "class": c, "box": b} for n, (bs, cs) in enumerate(zip(boxes_list, classes_list))
             for b, c in zip(bs, cs)]
    assert mean_average_precision(found, truth) == 1.0
    assert coco_map(found, truth) == pytest.approx(1.0)
