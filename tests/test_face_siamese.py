"""The Siamese training recipe (through cnnkit.train.fit)."""
import math

import numpy as np
import pytest

from cnnkit import Tensor, nn, no_grad, train
from cnnkit.face.siamese import VerificationMetrics, train_embedding
from cnnkit.face.triplet import batch_hard_triplet_loss
from cnnkit.models import get_model
from cnnkit.models.face_embedding import EmbeddingNet, l2_normalize


def _toy_faces(n_people=4, per_person=6, seed=0):
    """Tiny 'faces': each person a fixed random 12x12 pattern, each image with noise."""
    rng = np.random.default_rng(seed)
    patterns = rng.random((n_people, 12, 12, 1), dtype=np.float32)
    labels = np.repeat(np.arange(n_people), per_person)
    noise = rng.normal(scale=0.2, size=(len(labels), 12, 12, 1)).astype(np.float32)
    return patterns[labels] + noise, labels


def _small_net(seed=0):
    return get_model("face_embedding", channels=(4, 8), embedding_dim=6, input_size=(12, 12), rng=seed)


def test_training_steps_reduce_the_batch_hard_loss():
    images, labels = _toy_faces()
    model = EmbeddingNet(channels=(8, 16), embedding_dim=8, input_size=(12, 12), rng=0)

    def loss_on_all():
        with no_grad():
            return batch_hard_triplet_loss(model(Tensor(images)), labels)[0].item()

    before = loss_on_all()
    history = train_embedding(model, images, labels, epochs=4, P=4, K=3, lr=1e-2, shift=-1, seed=0)
    assert len(history) == 4 and all(0 <= f <= 1 for f in history["fraction_active"])
    assert loss_on_all() < 0.5 * before


def test_learning_rate_is_annealed_to_zero_over_the_batches_of_all_epochs():
    images, labels = _toy_faces()  # 24 images in batches of 4 x 3: 2 steps per epoch, 8 in all
    history = train_embedding(_small_net(), images, labels, epochs=4, P=4, K=3, lr=1e-2, shift=-1)
    np.testing.assert_allclose(history["lr"], [1e-2 * (1 + math.cos(math.pi * 2 * k / 8)) / 2 for k in range(4)])


class _StopAfter(train.Callback):
    """Ends training after ``epochs`` epochs, as an interruption would."""

    def __init__(self, epochs):
        self.epochs, self.stop_reason = epochs, f"stopped after {epochs} epochs"

    def on_epoch_end(self, model, epoch, logs):
        return epoch == self.epochs


def test_resumed_training_equals_uninterrupted_training_bit_for_bit(tmp_path):
    images, labels = _toy_faces()
    options = dict(epochs=4, P=4, K=3, shift=2, seed=3, mining="semi_hard")  # sampler and augmentation both random
    straight = _small_net()
    train_embedding(straight, images, labels, run=train.RunFolder(tmp_path / "straight"), **options)
    interrupted = _small_net()
    train_embedding(interrupted, images, labels, run=train.RunFolder(tmp_path / "run"), callbacks=[_StopAfter(2)],
                    **options)
    resumed = _small_net()
    history = train_embedding(resumed, images, labels, run=train.RunFolder(tmp_path / "run"),
                              resume=tmp_path / "run", **options)
    assert len(history) == 4
    for key, value in straight.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[key], value, err_msg=key)


def test_verification_metrics_are_logged_every_epoch_and_the_threshold_travels_with_the_run(tmp_path):
    images, labels = _toy_faces(n_people=6)
    is_train = labels < 4
    extra = {"task": "face_embedding"}
    run = train.RunFolder(tmp_path / "run", preprocessing={"input_shape": [12, 12, 1]}, extra=extra)
    history = train_embedding(_small_net(), images[is_train], labels[is_train], epochs=2, P=4, K=3, shift=-1,
                              callbacks=[VerificationMetrics(images, labels, is_train, extra)], run=run)
    assert {"threshold", "train_verification_accuracy", "val_verification_accuracy",
            "val_one_shot_accuracy"} <= set(history.keys())
    saved = train.load_checkpoint(run.last)
    assert saved.extra["threshold"] == history["threshold"][-1]


class _OnePoint(nn.Module):
    """Maps every image to the same unit vector: a fully collapsed embedding."""

    def __init__(self):
        super().__init__()
        self.point = nn.Parameter(np.ones((1, 4), dtype=np.float32))

    def forward(self, x):
        return l2_normalize(self.point * Tensor(np.ones((x.shape[0], 1), dtype=np.float32)))


def test_train_embedding_warns_when_the_embeddings_collapse_to_a_point():
    images, labels = _toy_faces()
    with pytest.warns(RuntimeWarning, match="collapsed"):
        history = train_embedding(_OnePoint(), images, labels, epochs=3, P=4, K=3, lr=0.0, shift=-1)
    assert list(history["fraction_active"]) == [1.0, 1.0, 1.0]


def test_train_embedding_rejects_an_unknown_mining():
    images, labels = _toy_faces()
    with pytest.raises(ValueError, match="mining"):
        train_embedding(EmbeddingNet(channels=(4,), input_size=(12, 12), rng=0), images, labels, mining="hardest")
