"""``cnnkit train | evaluate | predict | summary``."""
import json

import numpy as np
import pytest

from cnnkit.cli import main


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A one-epoch LeNet-5 trained by ``cnnkit train`` on 100 digits, in the default output folder."""
    root = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        assert main(["train", "--epochs", "1", "--limit", "100", "--quiet"]) == 0
    return root / "runs" / "lenet5-digits"


def test_train_writes_weights_history_and_curves(trained):
    assert {p.name for p in trained.iterdir()} == {"model.safetensors", "history.json", "curves.png"}
    history = json.loads((trained / "history.json").read_text())
    assert len(history["loss"]) == 1 and len(history["val_accuracy"]) == 1


def test_train_prints_the_test_accuracy(tmp_path, capsys):
    assert main(["train", "--epochs", "1", "--limit", "40", "--no-augment", "--quiet", "--out", str(tmp_path)]) == 0
    assert "test accuracy: " in capsys.readouterr().out


def test_evaluate_prints_a_per_class_report_and_draws_the_confusion_matrix(trained, tmp_path, capsys):
    assert main(["evaluate", "--weights", str(trained / "model.safetensors"), "--limit", "50",
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("accuracy: ") and "support" in out and len(out.splitlines()) >= 12
    assert (tmp_path / "confusion.png").stat().st_size > 0


def test_predict_prints_the_top_k_classes(trained, tmp_path, capsys):
    from PIL import Image
    image = tmp_path / "digit.png"
    Image.fromarray((np.eye(8) * 255).astype(np.uint8)).save(image)
    assert main(["predict", "--weights", str(trained / "model.safetensors"), str(image), "--top-k", "3"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{image}: ") and line.count("(") == 3


def test_predict_names_an_unreadable_image(trained, tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"garbage")
    assert main(["predict", "--weights", str(trained / "model.safetensors"), str(bad)]) == 1
    assert "bad.png" in capsys.readouterr().err


def test_summary_prints_the_parameter_totals(capsys):
    assert main(["summary", "lenet5"]) == 0
    assert "Total params: 61,706" in capsys.readouterr().out


def test_summary_takes_an_input_shape(capsys):
    assert main(["summary", "lenet5", "--input-shape", "28,28,3"]) == 0
    out = capsys.readouterr().out
    assert '"input_size": 28' in out and '"in_channels": 3' in out


def test_unknown_model_lists_the_valid_names(tmp_path, capsys):
    assert main(["train", "--model", "lenet6", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "lenet6" in err and "lenet5" in err and "resnet_small" in err


def test_unknown_dataset_lists_the_valid_names(tmp_path, capsys):
    assert main(["train", "--data", "cifar", "--out", str(tmp_path)]) == 1
    assert "digits, mnist5k, fashion-mnist" in capsys.readouterr().err
