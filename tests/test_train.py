"""fit / evaluate / predict, callbacks, and checkpoints."""
import os

import numpy as np
import pytest

import cnnkit.functional as F
from cnnkit import io, nn, optim, train
from cnnkit.models import get_model


def _blobs(n=64, seed=0):
    """Two separable classes of 4x4x1 images: bright or dark."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    images = (rng.random((n, 4, 4, 1)) * 0.5 + labels[:, None, None, None] * 0.5).astype(np.float32)
    return images, labels


def _dense(seed=0):
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 2, rng=seed))


def _lenet_batch(n=6, seed=0):
    return np.random.default_rng(seed).random((n, 32, 32, 1)).astype(np.float32)


def test_fit_decreases_the_loss_on_a_tiny_problem():
    model = _dense()
    history = train.fit(model, _blobs(), epochs=5, optimizer=optim.SGD(model.parameters(), lr=0.5), batch_size=16,
                        verbose=False)
    assert history.loss[-1] < 0.5 * history.loss[0]


def test_fit_records_every_metric_per_epoch():
    history = train.fit(_dense(), _blobs(), val=_blobs(seed=1), epochs=3, verbose=False)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"):
        assert len(getattr(history, key)) == 3


def test_fit_repeats_exactly_under_the_same_seed():
    first = train.fit(_dense(), _blobs(), epochs=2, seed=3, verbose=False)
    second = train.fit(_dense(), _blobs(), epochs=2, seed=3, verbose=False)
    assert first.loss == second.loss


def test_fit_records_the_scheduled_learning_rate():
    model = _dense()
    opt = optim.SGD(model.parameters(), lr=1.0)
    history = train.fit(model, _blobs(), epochs=3, optimizer=opt, scheduler=optim.StepLR(opt, 1, gamma=0.5),
                        verbose=False)
    assert history.lr == [1.0, 0.5, 0.25]


def test_fit_default_optimizer_skips_frozen_parameters():
    model = _dense()
    model[1].bias.requires_grad = False
    bias = model[1].bias.data.copy()
    train.fit(model, _blobs(), epochs=1, verbose=False)
    np.testing.assert_array_equal(model[1].bias.data, bias)


def test_fit_progress_bar_shows_loss_accuracy_and_throughput(capsys):
    train.fit(_dense(), _blobs(), epochs=1, verbose=True)
    err = capsys.readouterr().err
    assert "epoch 1/1" in err and "loss" in err and "accuracy" in err and "img/s" in err


def test_nan_loss_stops_training_and_keeps_the_last_good_weights():
    model, snapshots, calls = _dense(), [], [0]

    class Snapshot(train.Callback):
        def on_epoch_end(self, model, epoch, logs):
            snapshots.append(model.state_dict())

    def loss(model, batch):
        calls[0] += 1
        value = F.cross_entropy(model(batch[0]), batch[1])
        return value * float("nan") if calls[0] == 6 else value  # batch 2 of epoch 2

    with pytest.warns(RuntimeWarning, match="nan"):
        history = train.fit(model, _blobs(), epochs=5, loss=loss, batch_size=16, callbacks=[Snapshot()],
                            verbose=False)
    assert len(history) == 1 and "epoch 2, batch 2" in history.stop_reason and history.stopped == "nan"
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, snapshots[0][key])


def test_early_stopping_stops_after_patience_epochs_without_improvement():
    stopper = train.EarlyStopping(monitor="val_loss", patience=2)
    stopper.on_train_begin(_dense())
    stops = [stopper.on_epoch_end(None, e, {"val_loss": v}) for e, v in enumerate([1.0, 0.8, 0.9, 0.85], 1)]
    assert stops == [False, False, False, True]
    assert "epoch 2" in stopper.stop_reason


def test_early_stopping_in_fit_sets_the_stop_reason():
    history = train.fit(_dense(), _blobs(), epochs=10, callbacks=[train.EarlyStopping("loss", patience=1,
                                                                                      min_delta=10.0)],
                        verbose=False)
    assert len(history) == 2 and history.stop_reason.startswith("early stopping") and history.stopped == "early"


def test_early_stopping_without_the_monitored_metric_says_so():
    with pytest.raises(ValueError, match="val_loss"):
        train.fit(_dense(), _blobs(), epochs=1, callbacks=[train.EarlyStopping()], verbose=False)


def test_keep_best_restores_the_weights_of_the_best_epoch():
    model, keeper = _dense(), train.KeepBest(monitor="val_accuracy")
    keeper.on_train_begin(model)
    keeper.on_epoch_end(model, 1, {"val_accuracy": 0.9})
    best = model.state_dict()
    model[1].weight.data += 1.0
    keeper.on_epoch_end(model, 2, {"val_accuracy": 0.8})
    keeper.on_train_end(model)
    np.testing.assert_array_equal(model[1].weight.data, best["1.weight"])


def test_evaluate_reports_accuracy_per_class_accuracy_and_confusion():
    logits = np.array([[2, 0, 0], [0, 2, 0], [0, 2, 0], [0, 0, 2]], dtype=np.float32).reshape(4, 1, 1, 3)
    result = train.evaluate(nn.Flatten(), (logits, np.array([0, 1, 2, 2])))
    assert result["accuracy"] == 0.75
    np.testing.assert_array_equal(result["confusion"], [[1, 0, 0], [0, 1, 0], [0, 1, 1]])
    np.testing.assert_array_equal(result["per_class_accuracy"], [1.0, 1.0, 0.5])


def test_predict_returns_softmax_probabilities():
    logits = np.random.default_rng(0).standard_normal((5, 1, 1, 4)).astype(np.float32)
    probabilities = train.predict(nn.Flatten(), logits, batch_size=2)
    np.testing.assert_allclose(probabilities, F.softmax(logits.reshape(5, 4)).data, rtol=1e-6)


def test_predict_runs_in_eval_mode_and_restores_the_mode():
    model = get_model("resnet_small", widths=(4, 8), rng=0)
    images = np.random.default_rng(0).random((3, 8, 8, 1)).astype(np.float32)
    model.train()
    first = train.predict(model, images)
    assert model.training
    np.testing.assert_array_equal(first, train.predict(model, images))


# checkpoints

def test_checkpoint_round_trip_gives_identical_predictions(tmp_path):
    model, images = get_model("lenet5", rng=0), _lenet_batch()
    path = str(tmp_path / "model.safetensors")
    train.save(model, path, class_names=list("abcdefghij"), preprocessing={"resize": [32, 32]}, epoch=7)
    checkpoint = train.load_checkpoint(path)
    np.testing.assert_array_equal(train.predict(checkpoint.model, images), train.predict(model, images))
    assert checkpoint.class_names == list("abcdefghij") and checkpoint.epoch == 7
    assert checkpoint.preprocessing == {"resize": [32, 32]}


def test_checkpoint_restores_the_optimizer_for_resuming(tmp_path):
    lenet = get_model("lenet5", rng=0)
    lenet_opt = optim.Adam(lenet.parameters())
    lenet.features[0].weight.grad = np.ones_like(lenet.features[0].weight.data)
    lenet_opt.step()
    path = str(tmp_path / "resume.safetensors")
    train.save(lenet, path, optimizer=lenet_opt, epoch=1)
    saved = train.load_checkpoint(path)
    resumed = optim.Adam(saved.model.parameters())
    resumed.load_state_dict(saved.optimizer_state)
    assert saved.optimizer_state["type"] == "Adam"
    first = resumed.state[id(saved.model.features[0].weight)]
    np.testing.assert_array_equal(first["exp_avg"], lenet_opt.state[id(lenet.features[0].weight)]["exp_avg"])
    assert int(first["step"]) == 1


def test_failed_checkpoint_write_leaves_no_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    model = get_model("lenet5", rng=0)
    train.save(model, str(path))
    before = path.read_bytes()

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(io.state.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        train.save(get_model("lenet5", rng=1), str(path))
    assert os.listdir(tmp_path) == ["model.safetensors"] and path.read_bytes() == before


def test_loading_another_architecture_lists_the_mismatched_keys(tmp_path):
    path = str(tmp_path / "lenet.safetensors")
    train.save(get_model("lenet5", rng=0), path)
    with pytest.raises(ValueError, match=r"lenet5.*resnet_small.*features\.0\.weight"):
        train.load_weights(get_model("resnet_small", widths=(4, 8), rng=0), path)


def test_loading_a_plain_state_file_says_it_is_not_a_checkpoint(tmp_path):
    path = str(tmp_path / "plain.safetensors")
    io.save_state(path, {"w": np.zeros(2, dtype=np.float32)})
    with pytest.raises(ValueError, match="not a cnnkit checkpoint"):
        train.load(path)


def test_saving_a_model_without_config_is_an_error(tmp_path):
    with pytest.raises(TypeError, match="model.config"):
        train.save(_dense(), str(tmp_path / "m.safetensors"))
