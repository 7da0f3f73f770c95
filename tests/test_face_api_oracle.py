"""Our tiny face detector against face-api itself, run in Node on the pure-JavaScript TensorFlow.js CPU backend.

``tests/oracle`` pins face-api 1.7.15 and TensorFlow.js 4.22.0 (``package-lock.json``; ``.ci/run`` installs them
with ``npm ci --ignore-scripts``). Each photo's pixels are decoded once, here, and handed to face-api as a
tensor, so both sides see the same pixels; face-api then letterboxes, resizes, runs the network, decodes and
suppresses by its own code. Skipped only when Node is not installed.
"""
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from cnnkit.face.tiny_yolo import TinyYoloFaceDetector
from cnnkit.weights.registry import REGISTRY
from oracle.face_api import NAMED_FACES, ORACLE, missing, photos, run_face_api

# low, so that many boxes reach NMS (up to 15 a photo); greedy NMS keeps the same boxes above any higher threshold
THRESHOLD = 0.01
# boxes within 1 pixel, scores within 1e-4: the bar
BOX_PX, SCORE = 1.0, 1e-4


@pytest.fixture(scope="module")
def oracle():
    """The photos, and face-api's raw output and detections for each."""
    if shutil.which("node") is None:
        pytest.skip(missing())
    if missing():
        pytest.fail(missing())
    if not (NAMED_FACES / "faces.csv").exists():
        pytest.skip(f"the named faces photos are not in {NAMED_FACES}")
    images = photos()
    return images, run_face_api([image for _, image in images], 416, THRESHOLD)


@pytest.fixture(scope="module")
def ours():
    from cnnkit import weights

    try:
        weights.fetch("face-api", progress=False)
    except weights.FetchError as exc:
        pytest.skip(f"package registry unreachable: {exc}")
    return TinyYoloFaceDetector()


def test_oracle_runs_face_api_1_7_15_on_the_tensorflow_js_4_22_cpu_backend(oracle):
    _, answer = oracle
    assert answer["backend"] == "cpu" and answer["face_api"] == "1.7.15" and answer["tfjs"]["tfjs-core"] == "4.22.0"


def test_oracle_reads_the_same_weight_files_as_our_registry_entry():
    model = ORACLE / "node_modules" / "@vladmandic" / "face-api" / "model"
    if not model.is_dir():
        pytest.skip(f"face-api is not installed in {ORACLE}")
    for member, digest in REGISTRY["face-api"].members.items():
        assert hashlib.sha256((model / Path(member).name).read_bytes()).hexdigest() == digest


def test_raw_network_output_equals_face_apis_to_float32_rounding(oracle, ours):
    photos, answer = oracle
    for (name, image), result in zip(photos, answer["results"]):
        ref = np.asarray(result["raw"]).reshape(result["raw_shape"])
        np.testing.assert_allclose(ours.raw(image), ref, rtol=0, atol=1e-4 * np.abs(ref).max(), err_msg=name)


def test_boxes_within_a_pixel_and_scores_within_1e4_of_face_apis(oracle, ours):
    photos, answer = oracle
    for (name, image), result in zip(photos, answer["results"]):
        theirs = result["detections"]
        mine = ours.detect(image, score_threshold=THRESHOLD, clip=False)
        assert len(mine) == len(theirs), name
        if not theirs:
            continue
        # both lists are by descending score
        boxes = np.array([f["box"] for f in mine]) - np.array([f["box"] for f in theirs])
        scores = np.array([f["score"] for f in mine]) - np.array([f["score"] for f in theirs])
        assert np.abs(boxes).max() < BOX_PX and np.abs(scores).max() < SCORE, name


def test_the_oracle_sees_several_faces_and_boxes_that_nms_must_sort_out(oracle):
    _, answer = oracle
    counts = [len(result["detections"]) for result in answer["results"]]
    assert sum(counts) > 2 * len(counts) and max(counts) >= 5
    assert sum(f["score"] > 0.5 for f in answer["results"][-1]["detections"]) == 4  # the collage's four faces
