"""The one training engine: task-agnostic losses and metrics, run folders, interruption and exact resume."""
import os
import signal

import numpy as np
import pytest

import cnnkit.functional as F
from cnnkit import data, io, nn, optim, train
from cnnkit.models import get_model
from cnnkit.train import rng as rng_state


def _digits(n=96, seed=0, size=16):
    """Random size x size 'images' whose label is the quadrant holding the brightest blob: learnable, small."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    images = rng.random((n, size, size, 1)).astype(np.float32) * 0.3
    h = size // 2
    for i, label in enumerate(labels):
        r, c = divmod(int(label), 2)
        images[i, r * h + h // 4:r * h + 3 * h // 4, c * h + h // 4:c * h + 3 * h // 4] += 1.0
    return images, labels


def _setup(seed=0):
    """A model, optimizer, scheduler and augmentation with random state in every part."""
    model = get_model("resnet_small", num_classes=4, widths=(4, 8), rng=seed)
    optimizer = optim.Adam(model.parameters(), lr=3e-3)
    scheduler = optim.CosineAnnealingLR(optimizer, T_max=4)
    transform = data.Compose([data.RandomCrop(16, padding=2, rng=seed + 1), data.RandomHorizontalFlip(rng=seed + 2)])
    return model, optimizer, scheduler, transform


def _fit(run, epochs, resume=None, callbacks=()):
    model, optimizer, scheduler, transform = _setup()
    train.fit(model, _digits(), val=_digits(32, seed=1), epochs=epochs, optimizer=optimizer, scheduler=scheduler,
              batch_size=16, transform=transform, verbose=False, run=run, resume=resume, callbacks=callbacks)
    return model


class _InterruptAfter(train.Callback):
    """Send SIGINT to this process at the end of an epoch, as Ctrl-C would."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, model, epoch, logs):
        if epoch == self.epoch:
            os.kill(os.getpid(), signal.SIGINT)


def test_an_interrupted_run_resumed_equals_an_uninterrupted_one_bit_for_bit(tmp_path):
    straight = _fit(str(tmp_path / "straight"), epochs=4)
    with pytest.raises(train.TrainingInterrupted) as info:
        _fit(str(tmp_path / "split"), epochs=4, callbacks=[_InterruptAfter(2)])
    assert info.value.last_epoch == 2 and info.value.epoch == 3
    assert train.load_checkpoint(info.value.checkpoint).epoch == 2
    resumed = _fit(str(tmp_path / "split"), epochs=4, resume=str(tmp_path / "split"))
    for key, value in straight.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[key], value, err_msg=key)


def test_two_epochs_then_resume_to_four_equals_four_straight_with_a_fixed_schedule(tmp_path):
    def run(path, epochs, resume=None):
        model = get_model("resnet_small", num_classes=4, widths=(4, 8), rng=0)
        optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        transform = data.RandomCrop(16, padding=2, rng=5)
        train.fit(model, _digits(), epochs=epochs, optimizer=optimizer, batch_size=16, transform=transform,
                  verbose=False, run=path, resume=resume)
        return model

    straight = run(str(tmp_path / "a"), 4)
    run(str(tmp_path / "b"), 2)
    resumed = run(str(tmp_path / "b"), 4, resume=str(tmp_path / "b"))
    for key, value in straight.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[key], value, err_msg=key)
    assert train.load_checkpoint(str(tmp_path / "b" / "weights" / "last.safetensors")).epoch == 4


def test_the_interrupted_model_holds_the_last_finished_epoch(tmp_path):
    model, optimizer, scheduler, transform = _setup()
    with pytest.raises(train.TrainingInterrupted) as info:
        train.fit(model, _digits(), epochs=4, optimizer=optimizer, batch_size=16, verbose=False,
                  run=str(tmp_path / "r"), callbacks=[_InterruptAfter(1)])
    saved = train.load(info.value.checkpoint)
    for key, value in saved.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[key], value)


def test_the_run_folder_holds_last_best_results_and_curves(tmp_path):
    _fit(str(tmp_path / "run"), epochs=2)
    run = tmp_path / "run"
    assert {p.name for p in (run / "weights").iterdir()} == {"last.safetensors", "best.safetensors"}
    rows = (run / "results.csv").read_text().splitlines()
    assert rows[0].split(",")[:3] == ["epoch", "lr", "seconds"] and "val_accuracy" in rows[0] and len(rows) == 3
    assert (run / "curves.png").stat().st_size > 0
    checkpoint = train.load_checkpoint(str(run))
    assert checkpoint.epoch in (1, 2) and len(checkpoint.history["loss"]) == checkpoint.epoch


def test_run_folders_are_numbered_when_the_name_is_taken(tmp_path):
    first = train.RunFolder.create("classify", "exp", root=str(tmp_path))
    second = train.RunFolder.create("classify", "exp", root=str(tmp_path))
    assert os.path.basename(first.path) == "exp" and os.path.basename(second.path) == "exp2"
    assert os.path.isdir(os.path.join(second.path, "weights"))


def test_a_run_folder_that_is_a_file_fails_before_training(tmp_path):
    (tmp_path / "taken").write_text("x")
    with pytest.raises(ValueError, match="taken.*not a folder"):
        train.RunFolder(str(tmp_path / "taken"))
    with pytest.raises(ValueError, match="cannot create the run folder"):
        train.RunFolder(str(tmp_path / "taken" / "sub"))


def test_resume_refuses_a_different_data_pipeline(tmp_path):
    _fit(str(tmp_path / "r"), epochs=1)
    model, optimizer, scheduler, _ = _setup()
    with pytest.raises(ValueError, match="random state.*same data pipeline"):
        train.fit(model, _digits(), epochs=2, optimizer=optimizer, scheduler=scheduler, batch_size=16,
                  verbose=False, resume=str(tmp_path / "r"))


def test_resume_needs_a_checkpoint_written_by_fit(tmp_path):
    path = str(tmp_path / "plain.safetensors")
    model, optimizer, _, _ = _setup()
    train.save(model, path)
    with pytest.raises(ValueError, match="not written by fit"):
        train.fit(model, _digits(), epochs=1, optimizer=optimizer, verbose=False, resume=path)


def test_the_time_limit_ends_the_epoch_early_and_stops(tmp_path):
    model, optimizer, _, _ = _setup()
    history = train.fit(model, _digits(), epochs=5, optimizer=optimizer, batch_size=16, verbose=False,
                        time_limit=1e-9, run=str(tmp_path / "r"))
    assert len(history) == 1 and history.stopped == "time"
    assert train.load_checkpoint(str(tmp_path / "r")).epoch == 1


def test_a_loss_callable_of_model_and_batch_with_custom_metrics():
    images, labels = _digits()
    targets = np.eye(4, dtype=np.float32)[labels]

    def squared(model, batch):
        out = model(batch[0])
        return F.mse_loss(F.softmax(out), batch[2]), out

    def hits(outputs, batch):
        return float((outputs.data.argmax(-1) == batch[1]).mean())

    model, optimizer, _, _ = _setup()
    history = train.fit(model, (images, labels, targets), epochs=3, loss=squared, metrics={"hits": hits},
                        optimizer=optimizer, batch_size=16, verbose=False)
    assert set(history.keys()) >= {"loss", "hits"} and history.hits[-1] > history.hits[0]


def test_named_losses_and_the_functional_loss_are_the_same_thing():
    images, labels = _digits(32)
    runs = []
    for loss in ("cross_entropy", F.cross_entropy):
        model = get_model("resnet_small", num_classes=4, widths=(4, 8), rng=0)
        runs.append(train.fit(model, (images, labels), epochs=1, loss=loss, batch_size=16, verbose=False).loss)
    assert runs[0] == runs[1]


def test_unknown_loss_and_metric_names_list_the_valid_ones():
    model = _setup()[0]
    with pytest.raises(ValueError, match="cross_entropy"):
        train.fit(model, _digits(16), epochs=1, loss="hinge", verbose=False)
    with pytest.raises(ValueError, match="accuracy"):
        train.fit(model, _digits(16), epochs=1, metrics=["f1"], verbose=False)


def test_the_scheduler_can_step_every_batch():
    model = _setup()[0]
    optimizer = optim.SGD(model.parameters(), lr=1.0)
    history = train.fit(model, _digits(32), epochs=2, optimizer=optimizer, batch_size=16, verbose=False,
                        scheduler=optim.StepLR(optimizer, 1, gamma=0.5), scheduler_interval="batch")
    assert history.lr == [1.0, 0.25]


def test_the_generators_of_loader_transforms_and_layers_are_found_by_path():
    loader = data.DataLoader(_digits(8), shuffle=True, seed=0, transform=data.Compose([data.RandomCrop(16, 1, rng=1)]))
    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.5, rng=3))
    found = rng_state.find_generators({"loader": loader, "model": model})
    assert sorted(found) == ["loader.rng", "loader.transform.transforms.0.rng", "model._modules.1.rng"]
    state = rng_state.get_state({"loader": loader, "model": model})
    first = loader.rng.random()
    rng_state.set_state({"loader": loader, "model": model}, state)
    assert loader.rng.random() == first


def test_a_checkpoint_whose_config_is_larger_than_its_tensors_is_refused_before_allocating(tmp_path):
    path = str(tmp_path / "huge.safetensors")
    train.save(get_model("lenet5", rng=0), path)
    state, metadata = io.load_state(path)
    metadata["model"] = metadata["model"].replace('"num_classes": 10', '"num_classes": 100000000')
    io.save_state(path, state, metadata)
    with pytest.raises(ValueError, match=r"huge\.safetensors.*more than 61,706 values"):
        train.load_checkpoint(path)


def test_a_checkpoint_with_metadata_of_the_wrong_type_names_the_file(tmp_path):
    path = str(tmp_path / "bad.safetensors")
    train.save(get_model("lenet5", rng=0), path)
    state, metadata = io.load_state(path)
    metadata["epoch"] = '"seven"'
    io.save_state(path, state, metadata)
    with pytest.raises(ValueError, match=r"bad\.safetensors.*'epoch'"):
        train.load_checkpoint(path)


def test_load_weights_takes_a_checkpoint_a_run_folder_or_a_state_file(tmp_path):
    trained = _fit(str(tmp_path / "run"), epochs=1)
    plain = str(tmp_path / "plain.safetensors")
    io.save_state(plain, trained.state_dict())
    for source in (str(tmp_path / "run"), str(tmp_path / "run" / "weights" / "last.safetensors"), plain):
        loaded = train.load_weights(_setup(seed=9)[0], source).state_dict()
        for key, value in trained.state_dict().items():
            np.testing.assert_array_equal(loaded[key], value)


def test_data_loader_batch_transform_sees_every_array_and_the_sampler_picks_batches():
    images, labels = np.arange(6, dtype=np.float32).reshape(6, 1, 1, 1), np.arange(6)
    loader = data.DataLoader((images, labels), batch_transform=lambda b: (b[0] * 10, b[1] + 100),
                             batch_sampler=[np.array([4, 0]), np.array([5])])
    batches = list(loader)
    assert len(loader) == 2 and [b[1].tolist() for b in batches] == [[104, 100], [105]]
    assert batches[0][0].ravel().tolist() == [40.0, 0.0]


def test_gradient_hook_changes_the_gradients_between_backward_and_the_step():
    def trained(hook, lr):
        model = get_model("resnet_small", num_classes=4, widths=(4, 8), rng=0)
        train.fit(model, _digits(32), epochs=1, optimizer=optim.SGD(model.parameters(), lr=lr), batch_size=16,
                  verbose=False, gradient_hook=hook)
        return model.state_dict()

    seen = []

    def halve(parameters):
        seen.append(len(parameters))
        for p in parameters:
            p.grad = p.grad * 0.5

    halved, plain = trained(halve, 0.1), trained(None, 0.05)
    assert seen == [len(list(get_model("resnet_small", num_classes=4, widths=(4, 8), rng=0).parameters()))] * 2
    for key, value in plain.items():
        np.testing.assert_allclose(halved[key], value, rtol=1e-6, atol=1e-7, err_msg=key)
