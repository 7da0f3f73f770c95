"""Data-parallel training on a local Ray cluster: N workers give one worker's weights, resume, survive a death."""
import os

import numpy as np
import pytest

import cnnkit.functional as F
from cnnkit import Tensor, distributed, optim, train
from cnnkit.models import get_model
from test_train_engine import _digits


def quadrants(n=48):
    """32x32 images whose label is the quadrant of a bright square, and each sample's id."""
    return (*_digits(n, size=32), np.arange(n))


class Loss:
    """Cross-entropy that can kill its own process once (at sample ``die_at`` in epoch 2) or turn NaN there."""

    def __init__(self, marker=None, die_at=None, nan_at=None, steps_per_epoch=3):
        self.marker, self.die_at, self.nan_at, self.steps, self.calls = marker, die_at, nan_at, steps_per_epoch, 0

    def __call__(self, model, batch):
        self.calls += 1
        late = self.calls > self.steps
        if late and self.die_at in batch[2] and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os._exit(1)
        outputs = model(Tensor(batch[0]))
        loss = F.cross_entropy(outputs, batch[1])
        return (loss * float("nan") if late and self.nan_at in batch[2] else loss), outputs


def train_lenet(workers, epochs=2, run=None, resume=None, loss=None, **kwargs):
    """LeNet-5 on 48 quadrant images, global batch 16, Adam, no augmentation; the weights and history."""
    model = get_model("lenet5", num_classes=4, rng=0)
    optimizer = optim.Adam(model.parameters(), lr=2e-3)
    options = dict(epochs=epochs, batch_size=16, optimizer=optimizer, loss=loss or Loss(), verbose=False, run=run,
                   resume=resume, **kwargs)
    if workers == 1:
        history = train.fit(model, quadrants(), **options)
    else:
        history = distributed.fit(model, quadrants(), workers=workers, **options)
    return model.state_dict(), history


def relative_difference(a, b):
    """The largest ||a - b|| / ||a|| over the tensors of two state dicts."""
    return max(float(np.linalg.norm(a[k] - b[k]) / max(np.linalg.norm(a[k]), 1e-12)) for k in a)


@pytest.fixture(scope="module")
def two_workers(ray_cluster, tmp_path_factory):
    """A straight 2-worker, 2-epoch run into a run folder (shared by the tests that compare against it)."""
    run = str(tmp_path_factory.mktemp("straight") / "run")
    return (*train_lenet(2, run=run), run)


def test_two_workers_reach_one_workers_weights_within_1e_4_after_two_epochs(two_workers):
    one, history_one = train_lenet(1)
    two, history_two = two_workers[:2]
    assert relative_difference(one, two) < 1e-4
    np.testing.assert_allclose(history_two.loss, history_one.loss, rtol=1e-5)


def test_a_killed_replica_restarts_every_replica_from_the_last_checkpoint(two_workers, tmp_path):
    marker = str(tmp_path / "died")
    weights, history = train_lenet(2, run=str(tmp_path / "run"), loss=Loss(marker, die_at=40), max_failures=1)
    assert os.path.exists(marker) and history.epochs == [1, 2]
    for key, value in two_workers[0].items():
        np.testing.assert_array_equal(weights[key], value, err_msg=key)


def test_a_dead_replica_without_retries_left_names_the_checkpoint_to_resume_from(ray_cluster, tmp_path):
    run = str(tmp_path / "run")
    with pytest.raises(distributed.WorkerFailed, match=r"last\.safetensors holds the last finished epoch"):
        train_lenet(2, run=run, loss=Loss(str(tmp_path / "died"), die_at=40))
    assert train.load_checkpoint(run).epoch == 1


def test_a_nan_loss_on_one_replica_stops_every_replica_with_the_last_good_epoch(ray_cluster, tmp_path):
    weights, history = train_lenet(2, run=str(tmp_path / "run"), loss=Loss(nan_at=40))
    one_epoch = train.load_checkpoint(str(tmp_path / "run")).model.state_dict()
    assert history.stopped == "nan" and history.epochs == [1]
    for key, value in one_epoch.items():
        np.testing.assert_array_equal(weights[key], value, err_msg=key)


def test_cnnkit_train_hands_workers_and_the_cluster_address_to_data_parallel_fit(monkeypatch, tmp_path, capsys):
    from cnnkit.cli import main

    asked = {}

    def fake_fit(model, data, workers, address, **options):
        asked.update(workers=workers, address=address, resume=options["resume"])
        return train.fit(model, data, **options)

    monkeypatch.setattr(distributed, "fit", fake_fit)
    run = str(tmp_path / "run")
    assert main(["train", "--limit", "40", "--epochs", "1", "--workers", "3", "--ray", "10.0.0.5:6379", "--out", run,
                 "--quiet"]) == 0
    assert asked == {"workers": 3, "address": "10.0.0.5:6379", "resume": None}
    assert train.load_checkpoint(run).epoch == 1 and "test accuracy" in capsys.readouterr().out


def test_cnnkit_train_refuses_zero_workers(capsys):
    from cnnkit.cli import main

    assert main(["train", "--workers", "0"]) == 2
    assert "--workers: must be at least 1" in capsys.readouterr().err


def test_importing_cnnkit_and_its_command_line_needs_neither_ray_nor_pyarrow():
    import subprocess
    import sys

    code = ("import sys, cnnkit, cnnkit.cli, cnnkit.distributed, cnnkit.face.index, cnnkit.distributed.batch; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('ray', 'pyarrow', 'pandas')))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
