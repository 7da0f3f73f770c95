"""Mean average precision: VOC all-point and COCO 101-point, against hand values and pycocotools."""
import contextlib
import io

import numpy as np
import pytest

from cnnkit.detection.metrics import coco_map, mean_average_precision

A, B, FAR = [0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60]


def hand_case():
    """Class 0: ranked TP, FP, TP, FP over 3 objects (AP 5/9); class 1: one perfect detection."""
    ground_truth = [{"image": 0, "class": 0, "box": A}, {"image": 0, "class": 0, "box": B},
                    {"image": 1, "class": 0, "box": A}, {"image": 1, "class": 1, "box": B}]
    detections = [
        {"image": 0, "class": 0, "score": 0.9, "box": A},                 # TP
        {"image": 1, "class": 0, "score": 0.8, "box": FAR},               # FP: overlaps nothing
        {"image": 0, "class": 0, "score": 0.7, "box": [21, 21, 31, 31]},  # TP: IoU 81/119 with B
        {"image": 0, "class": 0, "score": 0.6, "box": A},                 # FP: A is already matched
        {"image": 1, "class": 1, "score": 0.5, "box": B},                 # TP
    ]
    return detections, ground_truth


def test_perfect_detections_give_map_one():
    _, ground_truth = hand_case()
    detections = [dict(g, score=0.9) for g in ground_truth]
    assert mean_average_precision(detections, ground_truth) == 1.0
    assert coco_map(detections, ground_truth) == pytest.approx(1.0, abs=1e-12)


def test_voc_map_of_hand_computed_case():
    # class 0: recall 1/3 at precision 1, 2/3 at precision 2/3, never 1: AP = 1/3 + 2/9
    detections, ground_truth = hand_case()
    mean, per_class = mean_average_precision(detections, ground_truth, per_class=True)
    assert per_class == pytest.approx({0: 5 / 9, 1: 1.0})
    assert mean == pytest.approx(7 / 9)


def test_classes_without_ground_truth_are_ignored():
    detections, ground_truth = hand_case()
    extra = detections + [{"image": 0, "class": 7, "score": 0.99, "box": A}]
    assert mean_average_precision(extra, ground_truth) == mean_average_precision(detections, ground_truth)
    assert coco_map(extra, ground_truth) == coco_map(detections, ground_truth)


def test_class_with_ground_truth_but_no_detections_has_ap_zero():
    detections, ground_truth = hand_case()
    ground_truth = ground_truth + [{"image": 2, "class": 5, "box": A}]
    _, per_class = mean_average_precision(detections, ground_truth, per_class=True)
    assert per_class[5] == 0.0


def test_iou_equal_to_threshold_matches():
    ground_truth = [{"image": 0, "class": 0, "box": [0, 0, 2, 1]}]
    detections = [{"image": 0, "class": 0, "score": 1.0, "box": [0, 0, 1, 1]}]  # IoU exactly 0.5
    assert mean_average_precision(detections, ground_truth, iou_threshold=0.5) == 1.0
    assert mean_average_precision(detections, ground_truth, iou_threshold=0.51) == 0.0


def test_each_ground_truth_box_is_matched_once():
    ground_truth = [{"image": 0, "class": 0, "box": A}, {"image": 1, "class": 0, "box": A}]
    detections = [{"image": 0, "class": 0, "score": 0.9, "box": A}, {"image": 0, "class": 0, "score": 0.8, "box": A},
                  {"image": 1, "class": 0, "score": 0.7, "box": A}]
    # ranked TP, FP (duplicate), TP: recall 1/2 at precision 1, then 1 at precision 2/3
    assert mean_average_precision(detections, ground_truth) == pytest.approx(1 / 2 + 1 / 2 * 2 / 3)


def test_map_rejects_record_without_score():
    _, ground_truth = hand_case()
    with pytest.raises(ValueError, match=r"detections\[0\] lacks the keys \['score'\]"):
        mean_average_precision([{"image": 0, "class": 0, "box": A}], ground_truth)


def test_map_rejects_box_without_four_numbers():
    _, ground_truth = hand_case()
    with pytest.raises(ValueError, match=r"detections\[1\]\['box'\] must be 4 numbers"):
        mean_average_precision([{"image": 0, "class": 0, "score": 1.0, "box": A},
                                {"image": 0, "class": 0, "score": 1.0, "box": [0, 0, 1]}], ground_truth)


def test_map_rejects_inverted_box():
    _, ground_truth = hand_case()
    with pytest.raises(ValueError, match=r"detections\[0\]"):
        mean_average_precision([{"image": 0, "class": 0, "score": 1.0, "box": [5, 0, 1, 1]}], ground_truth)


def test_map_rejects_nan_score():
    _, ground_truth = hand_case()
    with pytest.raises(ValueError, match="NaN score"):
        mean_average_precision([{"image": 0, "class": 0, "score": np.nan, "box": A}], ground_truth)


def test_map_rejects_empty_ground_truth():
    with pytest.raises(ValueError, match="at least one ground-truth box"):
        mean_average_precision([], [])


def random_scene(seed, n_images=12, n_classes=3, crowded_image=True):
    """Ground truth and noisy detections (jittered matches, duplicates, false positives)."""
    rng = np.random.default_rng(seed)
    ground_truth, detections = [], []
    for image in range(n_images):
        for _ in range(rng.integers(0, 6)):
            x, y = rng.uniform(0, 200, 2)
            w, h = rng.uniform(5, 60, 2)
            box = np.array([x, y, x + w, y + h])
            c = int(rng.integers(n_classes))
            ground_truth.append({"image": image, "class": c, "box": box.tolist()})
            for _ in range(rng.integers(0, 3)):  # 0 to 2 detections near each object
                grown = box + np.abs(rng.normal(0, 0.12, 4)) * [-w, -h, w, h]
                label = c if rng.random() < 0.9 else int(rng.integers(n_classes))
                detections.append({"image": image, "class": label, "score": float(rng.random()), "box": grown.tolist()})
        for _ in range(rng.integers(0, 4)):  # background false positives
            x, y = rng.uniform(0, 200, 2)
            w, h = rng.uniform(5, 60, 2)
            detections.append({"image": image, "class": int(rng.integers(n_classes)), "score": float(rng.random()),
                               "box": [x, y, x + w, y + h]})
    if crowded_image:  # more than COCO's 100 detections of one class in one image
        for _ in range(130):
            x, y = rng.uniform(0, 200, 2)
            detections.append({"image": 0, "class": 0, "score": float(rng.random()), "box": [x, y, x + 30, y + 30]})
    return detections, ground_truth


def pycocotools_stats(detections, ground_truth, n_images, n_classes):
    """COCOeval's bbox stats on the same boxes (converted to xywh)."""
    pytest.importorskip("pycocotools")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def xywh(box):
        return [box[0], box[1], box[2] - box[0], box[3] - box[1]]

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = {
            "images": [{"id": i} for i in range(n_images)],
            "categories": [{"id": c} for c in range(n_classes)],
            "annotations": [{"id": k + 1, "image_id": g["image"], "category_id": g["class"], "bbox": xywh(g["box"]),
                             "area": xywh(g["box"])[2] * xywh(g["box"])[3], "iscrowd": 0}
                            for k, g in enumerate(ground_truth)],
        }
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes([{"image_id": d["image"], "category_id": d["class"], "bbox": xywh(d["box"]),
                                    "score": d["score"]} for d in detections])
        evaluator = COCOeval(coco_gt, coco_dt, "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator.stats


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_coco_map_matches_pycocotools(seed):
    detections, ground_truth = random_scene(seed)
    stats = pycocotools_stats(detections, ground_truth, 12, 3)
    assert coco_map(detections, ground_truth) == pytest.approx(stats[0], abs=1e-12)


def test_coco_map_differs_from_voc_map_on_loose_boxes():
    detections, ground_truth = random_scene(3, crowded_image=False)
    assert coco_map(detections, ground_truth) < mean_average_precision(detections, ground_truth)
