"""``cnnkit predict``, ``detect predict`` and ``face index | search | cluster`` over folders, into Parquet tables."""
import csv
import importlib
import json

import numpy as np
import pytest
from PIL import Image

from cnnkit import train
from cnnkit.cli import main
from cnnkit.detection.train import save_detector
from cnnkit.io.shards import ShardFolder
from cnnkit.models import get_model, tiny_yolo
from test_distributed_index import StandInDetector, StandInNetwork, StandInPredictor

pytest.importorskip("pyarrow")
EMBED, MTCNN = (importlib.import_module(f"cnnkit.face.{name}") for name in ("embed", "mtcnn"))


def table(out):
    """Every row of a shard folder, sorted by path then score."""
    parts = list(ShardFolder(out).read())
    rows = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.lexsort((-rows["score"], rows["path"].astype(str)))
    return {k: v[order] for k, v in rows.items()}


@pytest.fixture
def folder(tmp_path):
    """Five small pictures in a folder and a subfolder."""
    rng = np.random.default_rng(0)
    for i in range(5):
        path = tmp_path / "pictures" / ("sub" if i > 2 else "") / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(path)
    return tmp_path / "pictures"


def test_predict_writes_one_row_per_image_with_the_printed_probabilities(tmp_path, folder, capsys):
    weights = str(tmp_path / "lenet.safetensors")
    train.save(get_model("lenet5", num_classes=3, rng=0), weights, class_names=["a", "b", "c"],
               preprocessing={"input_shape": [32, 32, 1], "mean": [0.5], "std": [0.25]})
    out = str(tmp_path / "predictions.parquet")
    assert main(["predict", "--weights", weights, str(folder), "--out", out, "--quiet"]) == 0
    assert "5 images done now (5 rows)" in capsys.readouterr().out
    assert main(["predict", "--weights", weights, str(folder), "--top-k", "1"]) == 0
    printed = dict(line.split(": ") for line in capsys.readouterr().out.strip().splitlines())
    rows = table(out)
    assert rows["probabilities"].shape == (5, 3)
    np.testing.assert_allclose(rows["probabilities"].sum(1), 1, rtol=1e-5)
    for path, label, score in zip(rows["path"], rows["label"], rows["score"]):
        assert printed[path] == f"{label} ({score:.3f})"


def test_detect_predict_writes_one_row_per_box_as_the_json_reports_them(tmp_path, folder, capsys):
    weights = str(tmp_path / "detector.safetensors")
    save_detector(weights, tiny_yolo(image_size=16, widths=(4, 8), num_anchors=2, rng=0), [[1, 1], [2, 2]],
                  ["circle", "square", "triangle"])
    out = str(tmp_path / "boxes.parquet")
    assert main(["detect", "predict", str(folder), "--weights", weights, "--score-threshold", "0", "-o", out,
                 "--quiet"]) == 0
    capsys.readouterr()
    images = sorted(str(p) for p in folder.rglob("*.png"))
    assert main(["detect", "predict", *images, "--weights", weights, "--score-threshold", "0", "-o",
                 str(tmp_path / "pngs")]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = table(out)
    expected = sorted((r["image"], d["class"], round(d["score"], 4)) for r in report for d in r["detections"])
    assert len(rows["path"]) == len(expected) > 0
    assert sorted(zip(rows["path"], rows["label"], np.round(rows["score"].astype(float), 4))) == expected


@pytest.fixture
def stand_ins(monkeypatch):
    monkeypatch.setattr(MTCNN, "_detector", StandInDetector())
    monkeypatch.setattr(EMBED, "_network", StandInNetwork())
    monkeypatch.setattr(EMBED, "_predictor", StandInPredictor())


@pytest.fixture
def index(tmp_path, stand_ins, capsys):
    """An index of 9 photos of three colours, 1 or 2 faces each (the first pixel sets how many)."""
    for i in range(9):
        image = np.full((140, 320, 3), [(200, 30, 30), (30, 200, 30), (30, 30, 200)][i % 3], np.uint8)
        image[0, 0, 0] = 1 + i % 2
        Image.fromarray(image).save(tmp_path / f"{i}.png")
    out = str(tmp_path / "faces.parquet")
    assert main(["face", "index", str(tmp_path), "--out", out, "--quiet"]) == 0
    assert "9 images done now (13 rows)" in capsys.readouterr().out
    return out


def test_face_search_prints_the_nearest_faces_nearest_first(index, tmp_path, capsys):
    query = np.full((140, 320, 3), (30, 200, 30), np.uint8)
    query[0, 0, 0] = 1
    Image.fromarray(query).save(tmp_path / "query.png")
    assert main(["face", "search", index, str(tmp_path / "query.png"), "--k", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and all(line.split()[1].endswith(("1.png", "4.png", "7.png")) for line in lines)
    distances = [float(line.split()[0]) for line in lines]
    assert distances == sorted(distances) and distances[0] < 0.01


def test_face_cluster_writes_a_row_per_face_grouped_by_colour(index, tmp_path, capsys):
    out = tmp_path / "clusters.csv"
    assert main(["face", "cluster", index, "--out", str(out)]) == 0
    assert "13 faces in 3 clusters" in capsys.readouterr().out
    with open(out) as f:
        rows = list(csv.DictReader(f))
    colour = {row["path"]: int(row["path"].rsplit("/", 1)[1][0]) % 3 for row in rows}
    assert len(rows) == 13 and len({(colour[r["path"]], r["cluster"]) for r in rows}) == 3


def test_face_index_without_out_says_so(stand_ins, tmp_path, capsys):
    assert main(["face", "index", str(tmp_path)]) == 1
    assert "--out INDEX.parquet is required" in capsys.readouterr().err


def test_face_search_names_a_table_that_is_not_a_face_index(tmp_path, folder, capsys):
    weights = str(tmp_path / "lenet.safetensors")
    train.save(get_model("lenet5", num_classes=3, rng=0), weights,
               preprocessing={"input_shape": [32, 32, 1], "mean": [0.5], "std": [0.25]})
    out = str(tmp_path / "predictions.parquet")
    assert main(["predict", "--weights", weights, str(folder), "--out", out, "--quiet"]) == 0
    assert main(["face", "search", out, str(next(folder.glob("*.png")))]) == 1
    assert "has no column 'descriptor'" in capsys.readouterr().err
