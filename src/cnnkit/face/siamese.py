"""Training the Siamese face embedding from scratch with mined triplet loss, and the AT&T faces recipe.

One network (the zoo's ``face_embedding``) maps every face to a point on the unit
sphere; the triplet loss, mined from batches of P people x K images, pulls a
person's faces together and pushes other people's apart. Training runs through
:func:`cnnkit.train.fit`: a loss of (model, batch), a P x K batch sampler on the
DataLoader, the cosine schedule stepped per batch, and epoch-level verification
metrics from a callback. :func:`train_att` runs the whole experiment on the AT&T
faces and judges the result on people never seen in training
(:mod:`cnnkit.face.evaluation`).
"""
import time
import warnings

import numpy as np

from cnnkit import train
from cnnkit.autograd.tensor import Tensor
from cnnkit.data.loader import DataLoader
from cnnkit.data.att import load_att_faces, split_people
from cnnkit.data.images import resize
from cnnkit.data.transforms import Compose, RandomCrop, RandomHorizontalFlip
from cnnkit.face.embedders import ATT_FRAMING, TASK
from cnnkit.face.evaluation import embed_images, evaluate_embeddings, pixel_embeddings
from cnnkit.face.sampling import PKBatchSampler
from cnnkit.face.triplet import batch_all_triplet_loss, batch_hard_triplet_loss, semi_hard_triplet_loss
from cnnkit.models import get_model
from cnnkit.optim import Adam, CosineAnnealingLR

__all__ = ["MINING", "TripletLoss", "CollapseWarning", "VerificationMetrics", "train_embedding", "train_att"]

MINING = {"batch_all": batch_all_triplet_loss, "batch_hard": batch_hard_triplet_loss,
          "semi_hard": semi_hard_triplet_loss}

_COLLAPSE_EPOCHS = 3  # epochs after which a loss still at the margin is taken for a collapse, not a slow start


class TripletLoss:
    """The loss ``fit`` trains an embedding with: mined triplet loss of ``model(batch[0])`` against ``batch[1]``.

    Parameters
    ----------
    mining : {"batch_hard", "semi_hard", "batch_all"}, default "batch_hard"
    margin : float, default 0.2

    Calling it on ``(model, (images (B, H, W, C), labels (B,)))`` returns the
    loss Tensor and the fraction of mined triplets with a positive loss (the
    ``fraction_active`` metric).
    """

    def __init__(self, mining="batch_hard", margin=0.2):
        if mining not in MINING:
            raise ValueError(f"mining must be one of {sorted(MINING)}, got {mining!r}")
        self.mining, self.margin = mining, float(margin)

    def __call__(self, model, batch):
        return MINING[self.mining](model(Tensor(batch[0])), batch[1], self.margin)


def fraction_active(outputs, batch):
    """The metric of :class:`TripletLoss`: its share of active triplets in the batch."""
    return float(outputs)


class CollapseWarning(train.Callback):
    """Warn when, after 3 epochs, nearly every triplet is still active with the loss at the margin.

    That is the sign of embeddings collapsed to one point, not of a slow start.
    """

    def __init__(self, margin):
        self.margin = float(margin)

    def on_epoch_end(self, model, epoch, logs):
        if epoch == _COLLAPSE_EPOCHS and logs["fraction_active"] > 0.99 \
                and abs(logs["loss"] - self.margin) < 0.05 * self.margin:
            warnings.warn(f"triplet training looks collapsed after {epoch} epochs: every mined triplet is active "
                          f"and the loss ({logs['loss']:.4f}) sits at the margin ({self.margin}), so all embeddings "
                          f"are near one point; try a lower lr or semi_hard mining", RuntimeWarning, stacklevel=2)
        return False


class VerificationMetrics(train.Callback):
    """Epoch-level metrics: verification and one-shot identification on held-out people.

    After every epoch the images are embedded (evaluation mode, no graph); the
    distance threshold is chosen on the training people's pairs and the
    held-out people are judged at it (:func:`cnnkit.face.evaluation.evaluate_embeddings`).
    Adds ``threshold``, ``train_verification_accuracy``, ``val_verification_accuracy``
    and ``val_one_shot_accuracy`` to the epoch's logs.

    Parameters
    ----------
    images : ndarray, shape (N, H, W, C)
    labels : ndarray of int, shape (N,)
    is_train : ndarray of bool, shape (N,)
        The training people's images; the others are held out.
    extra : dict, optional
        A run folder's ``extra``: its ``"threshold"`` is set every epoch, so each
        checkpoint carries the threshold of its own weights.
    """

    def __init__(self, images, labels, is_train, extra=None):
        self.images, self.labels, self.is_train, self.extra = images, np.asarray(labels), np.asarray(is_train), extra

    def on_epoch_end(self, model, epoch, logs):
        embeddings = embed_images(model, self.images)
        t = self.is_train
        metrics = evaluate_embeddings(embeddings[t], self.labels[t], embeddings[~t], self.labels[~t])
        logs.update(threshold=metrics["threshold"], train_verification_accuracy=metrics["train_verification_accuracy"],
                    val_verification_accuracy=metrics["verification_accuracy"],
                    val_one_shot_accuracy=metrics["one_shot_accuracy"])
        if self.extra is not None:
            self.extra["threshold"] = metrics["threshold"]
        return False


def _augmentation(size, pad, seed):
    """Random left-right flips, then shifts of up to ``pad`` pixels (zero-filled); None when ``pad`` < 0."""
    if pad < 0:
        return None
    rng = np.random.default_rng(seed)  # one generator for both, so the draws alternate as they always did
    return Compose([RandomHorizontalFlip(rng=rng), RandomCrop(size, padding=pad, rng=rng)])


def train_embedding(model, images, labels, epochs=10, P=8, K=4, lr=3e-3, margin=0.2, mining="batch_hard",
                    shift=3, seed=0, progress=False, callbacks=(), run=None, resume=None, time_limit=None):
    """Train an embedding network with mined triplet loss on P x K batches, through :func:`cnnkit.train.fit`.

    Adam with a cosine-annealed learning rate (to zero over all the steps,
    stepped after every batch).

    Parameters
    ----------
    model : Module
        Maps (B, H, W, C) images to (B, D) embeddings (L2-normalised ones suit ``margin``).
    images : ndarray of float32, shape (N, H, W, C)
    labels : array_like of int, shape (N,)
    epochs : int, default 10
        Each epoch is ``N // (P * K)`` batches from :class:`cnnkit.face.sampling.PKBatchSampler`.
    P, K : int, default 8, 4
    lr : float, default 3e-3
    margin : float, default 0.2
    mining : {"batch_hard", "semi_hard", "batch_all"}
    shift : int, default 3
        Augmentation: random left-right flips and shifts of up to ``shift``
        pixels; a negative value turns augmentation off.
    seed : int, default 0
        Seeds the batches (``seed``) and the augmentation (``seed + 1``).
    progress : bool, default False
        Show a progress bar per epoch on stderr.
    callbacks : sequence of Callback
        Besides :class:`CollapseWarning`, e.g. :class:`VerificationMetrics`.
    run, resume, time_limit :
        As in :func:`cnnkit.train.fit` (a run folder, a run to continue, seconds).

    Returns
    -------
    History
        Per epoch: ``loss`` and ``fraction_active`` (means over the batches:
        the share of mined triplets with a positive loss, which should fall as
        training goes on but not reach 0 early, and must not stay at 1 with the
        loss at the margin), ``lr``, ``seconds`` and the callbacks' additions.

    Warns
    -----
    RuntimeWarning
        When after 3 epochs nearly every triplet is still active with the
        loss at the margin.
    """
    loss = TripletLoss(mining, margin)
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim != 4 or labels.shape != (len(images),):
        raise ValueError(f"train_embedding expects images (N, H, W, C) and labels (N,), got {images.shape} "
                         f"and {labels.shape}")
    sampler = PKBatchSampler(labels, P, K, seed=seed)
    loader = DataLoader((images, labels), batch_sampler=sampler, transform=_augmentation(images.shape[1:3], shift,
                                                                                         seed + 1))
    optimizer = Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    scheduler = CosineAnnealingLR(optimizer, T_max=epochs * len(sampler))
    return train.fit(model, loader, epochs=epochs, loss=loss, metrics={"fraction_active": fraction_active},
                     optimizer=optimizer, scheduler=scheduler, scheduler_interval="batch",
                     callbacks=[CollapseWarning(margin), *callbacks], seed=seed, verbose=progress, run=run,
                     resume=resume, time_limit=time_limit)


def train_att(root=None, epochs=40, run=None, seed=0, progress=True, n_eval=10, channels=(16, 32, 64, 64),
              embedding_dim=64, P=8, K=4, lr=3e-3, margin=0.5, mining="batch_hard", resume=None, time_limit=None):
    """Train the Siamese embedding on the AT&T faces from scratch and evaluate it on held-out people.

    The 40 people are split by :func:`cnnkit.data.att.split_people` (``seed``):
    ``40 - n_eval`` for training, ``n_eval`` never seen in training. Images are
    downscaled to 56x46 and trained with :func:`train_embedding`, then
    evaluated with :func:`cnnkit.face.evaluation.evaluate_embeddings`.

    Parameters
    ----------
    root : str or Path, optional
        The AT&T faces folder; the copy shipped with cnnkit by default.
    epochs : int, default 40
        360 steps of 32 images; a few minutes on two CPU cores.
    run : RunFolder or str, optional
        A run folder (:class:`cnnkit.train.RunFolder`): ``weights/last`` and
        ``best`` (lowest loss) after every epoch, carrying what
        ``cnnkit face verify --embedding`` needs: the input shape in
        ``preprocessing``; the task, the framing (:data:`cnnkit.face.embedders.ATT_FRAMING`),
        the threshold of that epoch, the split and the margin in ``extra``.
    seed : int, default 0
        Seeds the split, the initial weights, the batches and the augmentation.
    progress : bool, default True
        Progress bars on stderr.
    n_eval : int, default 10
    channels, embedding_dim :
        The ``face_embedding`` architecture (:class:`cnnkit.models.face_embedding.EmbeddingNet`).
    P, K, lr, mining :
        As in :func:`train_embedding`.
    margin : float, default 0.5
        Wider than the usual 0.2: on the unit sphere it leaves more room
        between people, which carried over better to unseen people.
    resume, time_limit :
        As in :func:`cnnkit.train.fit`; resume with the same arguments.

    Returns
    -------
    model : EmbeddingNet
        In evaluation mode.
    report : dict
        ``train_people``, ``eval_people`` (ids 0-39, folder ``s{id + 1}``), the
        training history (per epoch ``loss``, ``fraction_active``, ``seconds``,
        ``threshold``, ``val_verification_accuracy``...), ``steps``,
        ``stopped`` and ``stop_reason`` (None when all epochs ran),
        ``train_seconds``, ``seconds_per_step``, the metrics of
        :func:`cnnkit.face.evaluation.evaluate_embeddings` for the final
        weights, and ``pixel_baseline``: the same metrics (verification,
        balanced verification, one-shot) of nearest neighbours on raw pixels.
    """
    faces = load_att_faces(root)
    images, labels = resize(faces.images, (56, 46), method="area"), faces.labels  # 2x2 blocks averaged
    train_people, eval_people = split_people(labels, n_eval=n_eval, seed=seed)
    is_train = np.isin(labels, train_people)
    model = get_model("face_embedding", channels=channels, embedding_dim=embedding_dim, input_size=images.shape[1:3],
                      in_channels=1, rng=seed)
    extra = {"task": TASK, "dataset": "AT&T faces (ORL), 112x92 grey halved by area averaging",
             "framing": ATT_FRAMING, "threshold": None, "margin": margin, "mining": mining,
             "train_people": train_people.tolist(), "eval_people": eval_people.tolist()}
    if run is not None:
        run = run if isinstance(run, train.RunFolder) else train.RunFolder(run)
        run.preprocessing = {"input_shape": list(images.shape[1:]), "resize": list(images.shape[1:3]),
                             "colour": "grey", "range": [0, 1], "resample": "area"}
        run.extra, run.monitor = extra, "loss"
        run.title = "face_embedding on the AT&T faces"
    started = time.perf_counter()
    history = train_embedding(model, images[is_train], labels[is_train], epochs=epochs, P=P, K=K, lr=lr,
                              margin=margin, mining=mining, seed=seed, progress=progress,
                              callbacks=[VerificationMetrics(images, labels, is_train, extra)], run=run, resume=resume,
                              time_limit=time_limit)
    train_seconds = time.perf_counter() - started
    embeddings = embed_images(model.eval(), images)
    metrics = evaluate_embeddings(embeddings[is_train], labels[is_train], embeddings[~is_train], labels[~is_train])
    pixels = pixel_embeddings(images)
    baseline = evaluate_embeddings(pixels[is_train], labels[is_train], pixels[~is_train], labels[~is_train])
    steps = len(history) * (int(is_train.sum()) // (P * K))
    report = {"train_people": train_people.tolist(), "eval_people": eval_people.tolist(),
              **{key: list(history[key]) for key in history.keys()}, "steps": steps,
              "stopped": history.stopped, "stop_reason": history.stop_reason,
              "train_seconds": train_seconds, "seconds_per_step": train_seconds / max(steps, 1), **metrics,
              "pixel_baseline": {key: baseline[key] for key in
                                 ("verification_accuracy", "verification_balanced_accuracy", "one_shot_accuracy")}}
    return model, report
