"""``cnnkit face detect | verify | enroll | identify | train`` with stand-in networks (no weights needed).

``face train`` really trains (one epoch on the AT&T faces shipped with cnnkit); its run folder then
serves ``--embedding``.
"""
import importlib
import json
import multiprocessing
import sys

import numpy as np
import pytest
from PIL import Image

from cnnkit.cli import main
from cnnkit.face.align import FIVE_POINT_TEMPLATE
from cnnkit.face.mtcnn import MTCNN_TEMPLATE

# the modules themselves: cnnkit.face re-exports a function called embed
EMBED, MTCNN = (importlib.import_module(f"cnnkit.face.{name}") for name in ("embed", "mtcnn"))
FACE_CLI = importlib.import_module("cnnkit.cli.face")


def mtcnn_points(x, y, side=100):
    """MTCNN landmarks of a face whose template square has its corner at (x, y)."""
    return (0.25 + MTCNN_TEMPLATE) / 1.5 * side + [x, y]


class TwoFaces:
    """Stand-in detector: one face on the left half of any image wider than 300 pixels, one on the right."""

    def detect(self, image, min_size=20, thresholds=(0.6, 0.7, 0.7), factor=0.709):
        if image.shape[1] < 300:
            return []
        return [{"box": (x + 10.0, 20.0, x + 90.0, 120.0), "score": score, "landmarks": mtcnn_points(x, 20)}
                for x, score in ((20, 0.99), (220, 0.95))]


class ColourNet:
    """Stand-in for dlib's ResNet: the descriptor is the chip's mean colour / 100 in 128 dims."""

    def embed_chips(self, chips):
        chips = np.asarray(chips)
        out = np.zeros(chips.shape[:-3] + (128,), dtype=np.float32)
        out[..., :3] = chips.reshape(chips.shape[:-3] + (-1, 3)).mean(axis=-2) / 100
        return out


class TemplatePredictor:
    """Stand-in for dlib's shape predictor: the chip template's 5 points spread over the box."""

    def predict(self, image, box):
        left, top, right, bottom = box
        return (0.25 + FIVE_POINT_TEMPLATE) / 1.5 * [right - left, bottom - top] + [left, top]


@pytest.fixture(autouse=True)
def stand_ins(monkeypatch):
    # These tests drive the MTCNN path; the dlib detectors' are in test_cli_face_recognize.py.
    monkeypatch.setattr(FACE_CLI, "DEFAULT_DETECTOR", "mtcnn")
    monkeypatch.setattr(MTCNN, "_detector", TwoFaces())
    monkeypatch.setattr(EMBED, "_network", ColourNet())
    monkeypatch.setattr(EMBED, "_predictor", TemplatePredictor())


def photo(path, left, right, width=400):
    """A picture whose left and right halves are two flat colours, saved to ``path``."""
    image = np.zeros((160, width, 3), dtype=np.uint8)
    image[:, :width // 2], image[:, width // 2:] = left, right
    Image.fromarray(image).save(path)
    return str(path)


def test_detect_prints_every_face_as_json_and_draws_them(tmp_path, capsys):
    out = tmp_path / "faces.png"
    assert main(["face", "detect", photo(tmp_path / "a.png", (200, 0, 0), (0, 0, 200)), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    faces = json.loads(captured.out)
    assert [face["score"] for face in faces] == [0.99, 0.95]
    assert captured.err == f"wrote {out}\n"  # on stderr: stdout stays JSON
    assert len(faces[0]["landmarks"]) == 5 and faces[1]["box"] == [230.0, 20.0, 310.0, 120.0]
    assert Image.open(out).size == (400, 160)


def test_detect_on_a_picture_without_faces_says_so(tmp_path, capsys):
    assert main(["face", "detect", photo(tmp_path / "small.png", 0, 0, width=200)]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == [] and "no face found" in captured.err


def test_verify_prints_the_distance_and_the_verdict(tmp_path, capsys):
    a = photo(tmp_path / "a.png", (100, 0, 0), (0, 0, 0))
    b = photo(tmp_path / "b.png", (100, 30, 0), (0, 0, 0))
    assert main(["face", "verify", a, b]) == 0
    assert "distance 0.3000: same person" in capsys.readouterr().out
    assert main(["face", "verify", a, b, "--threshold", "0.2"]) == 0
    assert "different people" in capsys.readouterr().out


def test_verify_names_the_picture_without_a_face(tmp_path, capsys):
    empty = photo(tmp_path / "empty.png", 0, 0, width=200)
    assert main(["face", "verify", photo(tmp_path / "a.png", 0, 0), empty]) == 1
    error = capsys.readouterr().err
    assert "empty.png" in error and "no face found" in error


def test_identify_names_every_face_of_a_group_photo(tmp_path, capsys):
    db = str(tmp_path / "db")
    assert main(["face", "enroll", "red", photo(tmp_path / "r.png", (200, 0, 0), 0), "--db", db]) == 0
    assert main(["face", "enroll", "blue", photo(tmp_path / "b.png", (0, 0, 200), 0), "--db", db]) == 0
    capsys.readouterr()
    assert main(["face", "identify", photo(tmp_path / "group.png", (200, 0, 0), (0, 0, 200)), "--db", db]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and "red (distance 0.000)" in lines[0] and "blue (distance 0.000)" in lines[1]


def test_identify_calls_a_stranger_unknown(tmp_path, capsys):
    db = str(tmp_path / "db")
    assert main(["face", "enroll", "red", photo(tmp_path / "r.png", (200, 0, 0), 0), "--db", db]) == 0
    assert main(["face", "identify", photo(tmp_path / "g.png", (0, 200, 0), (200, 0, 0)), "--db", db]) == 0
    lines = capsys.readouterr().out.splitlines()[-2:]
    assert "unknown" in lines[0] and "red" in lines[1]


def test_identify_with_an_empty_database_says_so(tmp_path, capsys):
    assert main(["face", "identify", photo(tmp_path / "a.png", 0, 0), "--db", str(tmp_path / "none")]) == 1
    assert "empty" in capsys.readouterr().err


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """What `cnnkit face train --epochs 1` writes (one epoch on the AT&T faces shipped with cnnkit)."""
    run = tmp_path_factory.mktemp("runs") / "att"
    assert main(["face", "train", "--epochs", "1", "--out", str(run), "--quiet"]) == 0
    return run


def test_train_writes_a_run_folder_in_the_engines_format(trained_run):
    from cnnkit import train

    assert {"args.json", "results.csv", "curves.png", "weights"} <= {p.name for p in trained_run.iterdir()}
    checkpoint = train.load_checkpoint(trained_run / "weights" / "last.safetensors")
    assert checkpoint.config["name"] == "face_embedding" and checkpoint.preprocessing["input_shape"] == [56, 46, 1]
    assert checkpoint.extra["task"] == "face_embedding" and checkpoint.extra["threshold"] > 0
    assert len(checkpoint.extra["eval_people"]) == 10 and (trained_run / "weights" / "best.safetensors").is_file()


def test_verify_uses_the_embedding_and_threshold_a_run_folder_holds(trained_run, tmp_path, capsys):
    from cnnkit.face.embedders import load_embedding

    a = photo(tmp_path / "a.png", (100, 0, 0), (0, 0, 0))
    assert main(["face", "verify", a, a, "--embedding", str(trained_run)]) == 0
    threshold = load_embedding(trained_run).threshold
    assert capsys.readouterr().out == f"distance 0.0000: same person (threshold {threshold:g})\n"


def test_identify_names_faces_with_the_embedding_of_a_checkpoint_file(trained_run, tmp_path, capsys):
    db, weights = str(tmp_path / "db"), str(trained_run / "weights" / "last.safetensors")
    assert main(["face", "enroll", "red", photo(tmp_path / "r.png", (200, 0, 0), 0), "--db", db,
                 "--embedding", weights]) == 0
    assert main(["face", "enroll", "blue", photo(tmp_path / "b.png", (0, 0, 200), 0), "--db", db,
                 "--embedding", weights]) == 0
    capsys.readouterr()
    group = photo(tmp_path / "group.png", (200, 0, 0), (0, 0, 200))
    assert main(["face", "identify", group, "--db", db, "--embedding", weights]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and "red (distance 0.000)" in lines[0] and "blue (distance 0.000)" in lines[1]
    assert main(["face", "identify", group, "--db", db]) == 1
    assert "open it with the embedding that filled it" in capsys.readouterr().err


def test_train_resumes_a_finished_run_and_reports_the_people_never_seen(trained_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "att"
    shutil.copytree(trained_run, run)
    results = (run / "results.csv").read_text()
    assert main(["face", "train", "--resume", str(run), "--quiet"]) == 0  # its args.json says 1 epoch: done
    out = capsys.readouterr().out
    assert "on 10 people never seen in training: verification" in out and f"--embedding {run}" in out
    assert (run / "results.csv").read_text() == results


def test_an_old_face_embedding_file_is_refused_with_how_to_retrain(tmp_path, capsys):
    from cnnkit.io import save_state

    old = tmp_path / "att_embedding.safetensors"
    save_state(old, {"head.weight": np.zeros((4, 2), np.float32)}, {"model": "EmbeddingNet", "channels": "16"})
    a = photo(tmp_path / "a.png", 0, 0)
    assert main(["face", "verify", a, a, "--embedding", str(old)]) == 1
    assert "retrain it with `cnnkit face train`" in capsys.readouterr().err


def _enroll_all(names, picture, db):
    """Child process: ``cnnkit face enroll`` each name in turn; exits non-zero at the first failure."""
    sys.exit(max(main(["face", "enroll", name, picture, "--db", db]) for name in names))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_concurrent_enrolments_into_one_database_keep_every_person(tmp_path):
    picture = photo(tmp_path / "p.png", (200, 0, 0), (0, 0, 200))
    context = multiprocessing.get_context("fork")
    groups = [[f"{tag}{i}" for i in range(6)] for tag in "ab"]
    workers = [context.Process(target=_enroll_all, args=(names, picture, str(tmp_path / "db"))) for names in groups]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert [worker.exitcode for worker in workers] == [0, 0]
    from cnnkit.face.database import FaceDatabase
    assert FaceDatabase(tmp_path / "db").names() == sorted(groups[0] + groups[1])
    assert len(list((tmp_path / "db").glob("descriptors-*.safetensors"))) == 1


def test_summary_shows_a_face_network_at_its_own_input_size(capsys):
    assert main(["summary", "mtcnn_onet"]) == 0
    out = capsys.readouterr().out
    assert "Total params: 389,040" in out and "(None, 46, 46, 32)" in out
