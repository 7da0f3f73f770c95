"""Training the Siamese face embedding from scratch with mined triplet loss, and the AT&T faces recipe.

One network (the zoo's ``face_embedding``) maps every face to a point on the unit
sphere; the triplet loss, mined from batches of P people x K images, pulls a
person's faces together and pushes other people's apart. :func:`train_att` runs the
whole experiment on the AT&T faces and judges the result on people never seen in
training (:mod:`cnnkit.face.evaluation`).
"""
import time
import warnings

import numpy as np

from cnnkit.autograd.tensor import Tensor
from cnnkit.data.transforms import RandomCrop, RandomHorizontalFlip
from cnnkit.data.att import load_att_faces, split_people
from cnnkit.face.evaluation import embed_images, evaluate_embeddings, pixel_embeddings
from cnnkit.face.sampling import PKBatchSampler, downscale
from cnnkit.face.triplet import batch_all_triplet_loss, batch_hard_triplet_loss, semi_hard_triplet_loss
from cnnkit.models import get_model
from cnnkit.optim import Adam, CosineAnnealingLR
from cnnkit.train.history import ProgressBar

__all__ = ["MINING", "train_embedding", "train_att"]

MINING = {"batch_all": batch_all_triplet_loss, "batch_hard": batch_hard_triplet_loss,
          "semi_hard": semi_hard_triplet_loss}


_COLLAPSE_EPOCHS = 3  # epochs after which a loss still at the margin is taken for a collapse, not a slow start


def _augmenter(pad, seed):
    """Random left-right flips and shifts of up to ``pad`` pixels (zero-filled), or None when ``pad`` < 0."""
    if pad < 0:
        return None
    rng = np.random.default_rng(seed)
    flip = RandomHorizontalFlip(rng=rng)

    def augment(images):
        crop = RandomCrop(images.shape[1:3], padding=pad, rng=rng)
        return crop(flip(images))
    return augment


def train_embedding(model, images, labels, epochs=10, P=8, K=4, lr=3e-3, margin=0.2, mining="batch_hard",
                    shift=3, seed=0, progress=False):
    """Train an embedding network with mined triplet loss on P x K batches.

    Adam with a cosine-annealed learning rate (to zero over all the steps).

    Parameters
    ----------
    model : Module
        Maps (B, H, W, C) images to (B, D) embeddings (L2-normalised ones suit ``margin``).
    images : ndarray of float32, shape (N, H, W, C)
    labels : array_like of int, shape (N,)
    epochs : int, default 10
        Each epoch is ``N // (P * K)`` batches from :class:`PKBatchSampler`.
    P, K : int, default 8, 4
    lr : float, default 3e-3
    margin : float, default 0.2
    mining : {"batch_hard", "semi_hard", "batch_all"}
    shift : int, default 3
        Augmentation: random left-right flips and shifts of up to ``shift``
        pixels; a negative value turns augmentation off.
    seed : int, default 0
        Seeds the batches and the augmentation.
    progress : bool, default False
        Show a progress bar per epoch on stderr.

    Returns
    -------
    dict
        Per epoch: ``"loss"`` and ``"fraction_active"`` (means over the
        batches: the share of mined triplets with a positive loss, which
        should fall as training goes on but not reach 0 early, and must not
        stay at 1 with the loss at the margin, the sign of embeddings
        collapsed to one point), ``"seconds"``; and ``"steps"``.

    Warns
    -----
    RuntimeWarning
        When after 3 epochs nearly every triplet is still active with the
        loss at the margin.
    """
    if mining not in MINING:
        raise ValueError(f"mining must be one of {sorted(MINING)}, got {mining!r}")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim != 4 or labels.shape != (len(images),):
        raise ValueError(f"train_embedding expects images (N, H, W, C) and labels (N,), got {images.shape} "
                         f"and {labels.shape}")
    loss_fn = MINING[mining]
    sampler = PKBatchSampler(labels, P, K, seed=seed)
    augment = _augmenter(shift, seed + 1)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = Adam(params, lr=lr)
    scheduler = CosineAnnealingLR(optimizer, T_max=epochs * len(sampler))
    history = {"loss": [], "fraction_active": [], "seconds": [], "steps": 0}
    model.train()
    for epoch in range(epochs):
        started, losses, fractions = time.perf_counter(), [], []
        bar = ProgressBar(len(sampler), prefix=f"epoch {epoch + 1}/{epochs}") if progress else None
        for batch in sampler:
            x = images[batch] if augment is None else augment(images[batch])
            loss, fraction = loss_fn(model(Tensor(x)), labels[batch], margin)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            fractions.append(fraction)
            history["steps"] += 1
            if bar is not None:
                bar.update(loss=float(np.mean(losses)), active=float(np.mean(fractions)))
        history["loss"].append(float(np.mean(losses)))
        history["fraction_active"].append(float(np.mean(fractions)))
        history["seconds"].append(time.perf_counter() - started)
        if bar is not None:
            bar.close(loss=history["loss"][-1], active=history["fraction_active"][-1])
        if epoch == _COLLAPSE_EPOCHS - 1 and _collapsed(history, margin):
            warnings.warn(f"triplet training looks collapsed after {epoch + 1} epochs: every mined triplet is "
                          f"active and the loss ({history['loss'][-1]:.4f}) sits at the margin ({margin}), so all "
                          f"embeddings are near one point; try a lower lr or semi_hard mining", RuntimeWarning,
                          stacklevel=2)
    return history


def _collapsed(history, margin):
    """True when the last epoch had nearly every triplet active and the loss at the margin."""
    return history["fraction_active"][-1] > 0.99 and abs(history["loss"][-1] - margin) < 0.05 * margin


def train_att(root=None, epochs=40, out=None, seed=0, progress=True, n_eval=10, channels=(16, 32, 64, 64),
              embedding_dim=64, P=8, K=4, lr=3e-3, margin=0.5, mining="batch_hard"):
    """Train the Siamese embedding on the AT&T faces from scratch and evaluate it on held-out people.

    The 40 people are split by :func:`cnnkit.data.split_people` (``seed``):
    ``40 - n_eval`` for training, ``n_eval`` never seen in training. Images are
    downscaled to 56x46 and trained with :func:`train_embedding`, then
    evaluated with :func:`evaluate_embeddings`.

    Parameters
    ----------
    root : str or Path, optional
        An AT&T faces folder (s1 ... s40); the copy shipped with cnnkit when None.
    epochs : int, default 40
        360 steps of 32 images; about two minutes on two CPU cores.
    out : str or Path, optional
        Save the trained weights there (``.safetensors`` or ``.npz``) with the
        split and the architecture in the metadata.
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

    Returns
    -------
    model : EmbeddingNet
        In evaluation mode.
    report : dict
        ``train_people``, ``eval_people`` (ids 0-39, folder ``s{id + 1}``), the
        training history (``loss``, ``fraction_active``, ``seconds`` per epoch,
        ``steps``), ``train_seconds``, ``seconds_per_step``, the metrics of
        :func:`evaluate_embeddings`, and ``pixel_baseline``: the same metrics
        (verification, balanced verification, one-shot) of nearest neighbours
        on raw pixels, for comparison.
    """
    faces = load_att_faces(root)
    images, labels = downscale(faces.images, 2), faces.labels
    train_people, eval_people = split_people(labels, n_eval=n_eval, seed=seed)
    is_train = np.isin(labels, train_people)
    model = get_model("face_embedding", channels=channels, embedding_dim=embedding_dim, input_size=images.shape[1:3],
                      in_channels=1, rng=seed)
    started = time.perf_counter()
    history = train_embedding(model, images[is_train], labels[is_train], epochs=epochs, P=P, K=K, lr=lr,
                              margin=margin, mining=mining, seed=seed, progress=progress)
    train_seconds = time.perf_counter() - started
    model.eval()
    embeddings = embed_images(model, images)
    metrics = evaluate_embeddings(embeddings[is_train], labels[is_train], embeddings[~is_train], labels[~is_train])
    pixels = pixel_embeddings(images)
    baseline = evaluate_embeddings(pixels[is_train], labels[is_train], pixels[~is_train], labels[~is_train])
    report = {"train_people": train_people.tolist(), "eval_people": eval_people.tolist(), **history,
              "train_seconds": train_seconds, "seconds_per_step": train_seconds / history["steps"], **metrics,
              "pixel_baseline": {key: baseline[key] for key in
                                 ("verification_accuracy", "verification_balanced_accuracy", "one_shot_accuracy")}}
    if out is not None:
        from cnnkit.train import save

        save(model, str(out), preprocessing={
            "input": "AT&T faces downscaled 2x: greyscale in [0, 1]", "train_people": train_people.tolist(),
            "eval_people": eval_people.tolist(), "threshold": metrics["threshold"]})
    return model, report
