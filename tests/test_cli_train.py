"""``cnnkit train | evaluate | predict | summary``."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from cnnkit import train
from cnnkit.cli import main


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A one-epoch LeNet-5 trained by ``cnnkit train`` on 100 digits, in the default output folder."""
    root = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        assert main(["train", "--epochs", "1", "--limit", "100", "--quiet"]) == 0
    return root / "runs" / "classify" / "lenet5-digits"


def test_train_writes_a_run_folder(trained):
    assert {p.name for p in trained.iterdir()} == {"weights", "args.json", "results.csv", "curves.png"}
    assert {p.name for p in (trained / "weights").iterdir()} == {"last.safetensors", "best.safetensors"}
    rows = (trained / "results.csv").read_text().splitlines()
    assert len(rows) == 2 and "val_accuracy" in rows[0]


def test_a_second_run_of_the_same_name_gets_a_numbered_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        assert main(["train", "--epochs", "0", "--limit", "20", "--quiet"]) == 0
    assert sorted(os.listdir(tmp_path / "runs" / "classify")) == ["lenet5-digits", "lenet5-digits2"]


def test_an_out_folder_that_cannot_be_created_fails_before_training(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    started = time.perf_counter()
    assert main(["train", "--out", str(tmp_path / "file"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("cnnkit train: error:") and "file" in err and time.perf_counter() - started < 5


def _weights(run):
    return train.load(str(run / "weights" / "last.safetensors")).state_dict()


def test_train_resumed_after_an_interruption_equals_an_uninterrupted_run(tmp_path, monkeypatch, capsys):
    common = ["--limit", "120", "--batch-size", "40", "--quiet"]
    assert main(["train", "--epochs", "4", "--out", str(tmp_path / "straight"), *common]) == 0
    save_epoch = train.RunFolder.save_epoch

    def interrupt_after_two(self, model, epoch, *args, **kwargs):
        save_epoch(self, model, epoch, *args, **kwargs)
        if epoch == 2:
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C during epoch 3

    monkeypatch.setattr(train.RunFolder, "save_epoch", interrupt_after_two)
    assert main(["train", "--epochs", "4", "--out", str(tmp_path / "split"), *common]) == 130
    err = capsys.readouterr().err
    assert "epoch 2 is saved" in err and f"cnnkit train --resume {tmp_path / 'split'}" in err
    monkeypatch.undo()
    assert main(["train", "--resume", str(tmp_path / "split"), "--quiet"]) == 0
    straight, resumed = _weights(tmp_path / "straight"), _weights(tmp_path / "split")
    for key, value in straight.items():
        np.testing.assert_array_equal(resumed[key], value, err_msg=key)


def test_resume_can_raise_the_number_of_epochs(tmp_path):
    assert main(["train", "--epochs", "1", "--limit", "40", "--quiet", "--out", str(tmp_path / "r")]) == 0
    assert main(["train", "--resume", str(tmp_path / "r"), "--epochs", "2", "--quiet"]) == 0
    assert train.load_checkpoint(str(tmp_path / "r" / "weights" / "last.safetensors")).epoch == 2
    assert json.loads((tmp_path / "r" / "args.json").read_text())["epochs"] == 2  # the run's new target


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_command_with_exit_130_and_no_traceback(tmp_path, sig):
    run = tmp_path / "r"
    process = subprocess.Popen([sys.executable, "-m", "cnnkit.cli", "train", "--epochs", "200", "--limit", "64",
                                "--quiet", "--out", str(run)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    deadline = time.time() + 120
    while not (run / "weights" / "last.safetensors").exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(sig)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "--resume" in err
    assert train.load_checkpoint(str(run / "weights" / "last.safetensors")).epoch >= 1


def test_train_prints_the_test_accuracy(tmp_path, capsys):
    assert main(["train", "--epochs", "1", "--limit", "40", "--no-augment", "--quiet", "--out", str(tmp_path)]) == 0
    assert "test accuracy: " in capsys.readouterr().out


def test_evaluate_prints_a_per_class_report_and_draws_the_confusion_matrix(trained, tmp_path, capsys):
    assert main(["evaluate", "--weights", str(trained), "--limit", "50",
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("accuracy: ") and "support" in out and len(out.splitlines()) >= 12
    assert (tmp_path / "confusion.png").stat().st_size > 0


def test_predict_prints_the_top_k_classes(trained, tmp_path, capsys):
    from PIL import Image
    image = tmp_path / "digit.png"
    Image.fromarray((np.eye(8) * 255).astype(np.uint8)).save(image)
    assert main(["predict", "--weights", str(trained / "weights" / "best.safetensors"), str(image), "--top-k", "3"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{image}: ") and line.count("(") == 3


def _digit(path, light_on_dark):
    """A 24x24 'one' like the bundled digits (light on dark), or its negative."""
    from PIL import Image
    image = np.zeros((24, 24), np.uint8)
    image[4:20, 10:14] = 255
    Image.fromarray(image if light_on_dark else 255 - image).save(path)
    return str(path)


def test_train_records_the_training_border_brightness_and_image_shape(trained):
    preprocessing = train.load_checkpoint(str(trained)).preprocessing
    assert preprocessing["source_shape"] == [8, 8, 1] and 0 <= preprocessing["border_mean"] < 0.25  # dark


def test_predict_warns_once_in_one_line_about_pictures_that_look_inverted(trained, tmp_path, capsys):
    dark = [_digit(tmp_path / f"dark{k}.png", light_on_dark=False) for k in range(2)]
    assert main(["predict", "--weights", str(trained), *dark, _digit(tmp_path / "light.png", True)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cnnkit predict: warning: 2 of 3 picture(s) (dark0.png, dark1.png) "
                                               "look inverted") and "--invert" in err[0]


def test_predict_invert_reads_pictures_as_their_negatives(trained, tmp_path, capsys):
    weights = str(trained)
    assert main(["predict", "--weights", weights, _digit(tmp_path / "light.png", True), "--top-k", "1"]) == 0
    plain = capsys.readouterr()
    assert main(["predict", "--weights", weights, _digit(tmp_path / "dark.png", False), "--top-k", "1",
                 "--invert"]) == 0
    inverted = capsys.readouterr()
    assert inverted.out.split(": ")[1] == plain.out.split(": ")[1] and inverted.err == plain.err == ""


def test_predict_names_an_unreadable_image(trained, tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"garbage")
    assert main(["predict", "--weights", str(trained / "weights" / "best.safetensors"), str(bad)]) == 1
    assert "bad.png" in capsys.readouterr().err


def test_visualize_takes_a_run_folder_of_cnnkit_train(trained, tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["visualize", "lenet5", "--weights", str(trained), "--layer", "features.0", "--images", "digits",
                 "--count", "40", "--units", "2", "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(f"wrote {out}: 2 units of features.0")
    title = Image.open(out).text["Title"]
    assert title.startswith("lenet5 features.0: the 9 patches that most activate each of units 0-1")
    assert "receptive field 5 px" in title and "visualize features.0" in captured.err  # the progress bar


def test_curves_and_confusion_matrix_are_titled_with_model_and_data(trained, tmp_path, capsys):
    assert Image.open(trained / "curves.png").text["Title"].startswith("lenet5 on digits (100 training images at "
                                                                       "32x32x1): Adam lr 0.002")
    assert main(["evaluate", "--weights", str(trained), "--limit", "30", "--out", str(tmp_path)]) == 0
    assert f"wrote {tmp_path / 'confusion.png'}" in capsys.readouterr().out
    assert Image.open(tmp_path / "confusion.png").text["Title"].startswith(
        "lenet5 on the digits test split: 10 classes, 30 images")


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


def test_summary_help_lists_the_model_names(capsys):
    assert main(["summary", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "a model name: alexnet, dlib_face_resnet, dlib_mmod, face_embedding, googlenet, lenet5" in out and "vgg19" in out
