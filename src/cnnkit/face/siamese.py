"""A Siamese face-embedding CNN trained from scratch with triplet loss, and its evaluation on unseen people.

One network maps every face to a point on the unit sphere; the triplet loss,
mined from batches of P people x K images, pulls a person's faces together and
pushes other people's apart. It is judged on people it has never seen:

- verification: every pair of their images is "same" when its distance is
  below a threshold chosen on the training people's pairs;
- one-shot identification: one image per person is enrolled and each other
  image is given the identity of the nearest enrolled one.

:func:`train_att` runs the whole experiment on the AT&T faces.
"""
import time
import warnings

import numpy as np

from cnnkit import nn
from cnnkit.autograd.tensor import Tensor, no_grad
from cnnkit.backend import to_numpy
from cnnkit.data.transforms import RandomCrop, RandomHorizontalFlip
from cnnkit.data.att import load_att_faces, split_people
from cnnkit.face.triplet import batch_all_triplet_loss, batch_hard_triplet_loss, semi_hard_triplet_loss
from cnnkit.io import load_state, save_state
from cnnkit.optim import Adam, CosineAnnealingLR
from cnnkit.train.history import ProgressBar

__all__ = ["MINING", "l2_normalize", "EmbeddingNet", "PKBatchSampler", "downscale", "embed_images",
           "pair_distances", "best_threshold", "verification_accuracy", "one_shot_identification_accuracy",
           "train_embedding", "evaluate_embeddings", "save_embedding_net", "load_embedding_net", "train_att"]

MINING = {"batch_all": batch_all_triplet_loss, "batch_hard": batch_hard_triplet_loss,
          "semi_hard": semi_hard_triplet_loss}


def l2_normalize(x, eps=1e-12):
    """Scale each row of ``x`` to unit Euclidean length (differentiable).

    Parameters
    ----------
    x : Tensor, shape (N, D)
    eps : float, default 1e-12
        Added under the square root so a zero row does not divide by zero.

    Returns
    -------
    Tensor, shape (N, D)
    """
    return x / ((x * x).sum(axis=-1, keepdims=True) + eps).sqrt()


class EmbeddingNet(nn.Module):
    """A small CNN that maps face images to L2-normalised embeddings.

    Each block is ``Conv2d(3x3, padding 1, no bias) -> BatchNorm2d -> ReLU ->
    MaxPool2d(2)``; then the feature map is flattened (or averaged, with
    ``input_size=None``), and ``Linear(..., embedding_dim)`` and
    ``BatchNorm1d(embedding_dim)`` follow, normalised to unit length. Flattening
    keeps where on the face each feature is, which matters for aligned faces.
    The last BatchNorm centres the embeddings before they are projected on the
    sphere: the ReLU features are all non-negative, and without it every face
    started near one point, with the triplet loss stuck at the margin.

    Parameters
    ----------
    channels : sequence of int, default (16, 32, 64, 64)
        Output channels of the conv blocks; each halves H and W.
    embedding_dim : int, default 64
    input_size : (int, int) or None, default (56, 46)
        The input (H, W), which sizes the flattened features; None averages
        them over the image instead (any input size).
    in_channels : int, default 1
    dtype : dtype, optional
    rng : numpy.random.Generator or int, optional

    Shapes: (N, H, W, in_channels) -> (N, embedding_dim), rows of norm 1.
    H and W must be at least ``2 ** len(channels)``.
    """

    def __init__(self, channels=(16, 32, 64, 64), embedding_dim=64, input_size=(56, 46), in_channels=1,
                 dtype=None, rng=None):
        super().__init__()
        if not channels:
            raise ValueError("EmbeddingNet needs at least one conv block, got channels=()")
        if input_size is not None and min(input_size) < 2 ** len(channels):
            raise ValueError(f"input_size {tuple(input_size)} is too small for {len(channels)} blocks that each "
                             f"halve it (at least {2 ** len(channels)} needed)")
        rng = np.random.default_rng(rng)
        layers, previous = [], in_channels
        for out in channels:
            layers += [nn.Conv2d(previous, out, 3, padding=1, bias=False, dtype=dtype, rng=rng),
                       nn.BatchNorm2d(out, dtype=dtype), nn.ReLU(), nn.MaxPool2d(2)]
            previous = out
        if input_size is None:
            layers.append(nn.GlobalAvgPool2d())
            n_features = previous
        else:
            layers.append(nn.Flatten())
            n_features = previous * (input_size[0] >> len(channels)) * (input_size[1] >> len(channels))
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(n_features, embedding_dim, dtype=dtype, rng=rng)
        self.norm = nn.BatchNorm1d(embedding_dim, dtype=dtype)
        self.channels, self.embedding_dim = tuple(channels), int(embedding_dim)
        self.input_size = None if input_size is None else tuple(input_size)

    def forward(self, x):
        return l2_normalize(self.norm(self.head(self.features(x))))

    def extra_repr(self):
        return f"channels={self.channels}, embedding_dim={self.embedding_dim}, input_size={self.input_size}"


class PKBatchSampler:
    """Batches of P people x K images of each, for triplet mining.

    Each batch draws P different people and K different images of each,
    uniformly without replacement, so every anchor has K - 1 positives and
    (P - 1) * K negatives in its batch. An epoch is ``len(labels) // (P * K)``
    batches (about one pass over the images).

    Parameters
    ----------
    labels : array_like of int, shape (N,)
    P : int
        People per batch (at least 2, at most the number of people).
    K : int
        Images per person (at least 2; every person needs K images).
    seed : int or numpy.random.Generator, optional

    Yields
    ------
    ndarray of int64, shape (P * K,)
        Indices into ``labels``, person by person: ``labels[batch].reshape(P, K)``
        has one person per row.
    """

    def __init__(self, labels, P, K, seed=None):
        self.labels = np.asarray(labels)
        self.people = np.unique(self.labels)
        if self.labels.ndim != 1:
            raise ValueError(f"labels must be 1-D, got shape {self.labels.shape}")
        if not 2 <= P <= len(self.people):
            raise ValueError(f"P must be between 2 and the number of people ({len(self.people)}), got {P}")
        self.by_person = [np.flatnonzero(self.labels == person) for person in self.people]
        fewest = min(len(indices) for indices in self.by_person)
        if not 2 <= K <= fewest:
            raise ValueError(f"K must be between 2 and the fewest images of one person ({fewest}), got {K}")
        self.P, self.K = int(P), int(K)
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return max(1, len(self.labels) // (self.P * self.K))

    def __iter__(self):
        for _ in range(len(self)):
            people = self.rng.choice(len(self.people), self.P, replace=False)
            yield np.concatenate([self.rng.choice(self.by_person[p], self.K, replace=False) for p in people])


def downscale(images, factor=2):
    """Average ``factor x factor`` blocks of pixels (the AT&T 112x92 faces become 56x46).

    Parameters
    ----------
    images : ndarray, shape (N, H, W, C)
    factor : int, default 2
        Trailing rows/columns that do not fill a block are dropped.

    Returns
    -------
    ndarray of the input dtype, shape (N, H // factor, W // factor, C)
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"downscale expects images (N, H, W, C), got shape {images.shape}")
    N, H, W, C = images.shape
    OH, OW = H // factor, W // factor
    # (N, OH*f, OW*f, C) -> (N, OH, f, OW, f, C), averaged over the block axes
    blocks = images[:, :OH * factor, :OW * factor].reshape(N, OH, factor, OW, factor, C)
    return blocks.mean(axis=(2, 4), dtype=images.dtype)


def embed_images(model, images, batch_size=100):
    """Embeddings of ``images`` in evaluation mode (BatchNorm running statistics), without a graph.

    Parameters
    ----------
    model : Module
        Maps (B, H, W, C) to (B, D).
    images : ndarray, shape (N, H, W, C)
    batch_size : int, default 100

    Returns
    -------
    ndarray, shape (N, D)
        The model is left in the mode it was in.
    """
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            out = [to_numpy(model(Tensor(images[i:i + batch_size])).data) for i in range(0, len(images), batch_size)]
    finally:
        model.train(was_training)
    return np.concatenate(out)


def pair_distances(embeddings, labels):
    """Euclidean distance and same-person flag of every unordered pair of embeddings.

    Parameters
    ----------
    embeddings : ndarray, shape (N, D)
    labels : array_like of int, shape (N,)

    Returns
    -------
    distances : ndarray of float64, shape (N * (N - 1) / 2,)
    same : ndarray of bool, shape (N * (N - 1) / 2,)
        True where both images are of one person.
    """
    embeddings = np.asarray(embeddings, dtype=np.float64)
    labels = np.asarray(labels)
    if embeddings.ndim != 2 or labels.shape != (len(embeddings),):
        raise ValueError(f"pair_distances expects embeddings (N, D) and labels (N,), got {embeddings.shape} "
                         f"and {labels.shape}")
    i, j = np.triu_indices(len(embeddings), k=1)
    distances = np.sqrt(((embeddings[i] - embeddings[j]) ** 2).sum(axis=-1))
    return distances, labels[i] == labels[j]


def _rates(distances, same, threshold):
    """(accuracy, true-positive rate, true-negative rate) of "same when distance <= threshold"."""
    predicted = distances <= threshold
    tpr = float(np.mean(predicted[same])) if same.any() else 0.0
    tnr = float(np.mean(~predicted[~same])) if (~same).any() else 0.0
    return float(np.mean(predicted == same)), tpr, tnr


def best_threshold(distances, same, balanced=False):
    """The distance threshold that best separates same-person from different-person pairs.

    A pair is predicted "same" when its distance is ``<= threshold``. Every
    cut between two consecutive sorted distances is tried; the threshold is
    the midpoint of the best cut.

    Parameters
    ----------
    distances : ndarray, shape (M,)
    same : ndarray of bool, shape (M,)
    balanced : bool, default False
        Maximise the balanced accuracy ``(TPR + TNR) / 2`` instead of the
        accuracy over all pairs (which "different" pairs dominate).

    Returns
    -------
    threshold : float
    score : float
        The accuracy (or balanced accuracy) at that threshold.
    """
    distances, same = np.asarray(distances, dtype=np.float64), np.asarray(same, dtype=bool)
    if distances.ndim != 1 or same.shape != distances.shape or len(distances) == 0:
        raise ValueError(f"best_threshold expects distances (M,) and same (M,) with M > 0, got {distances.shape} "
                         f"and {same.shape}")
    order = np.argsort(distances, kind="stable")
    d, s = distances[order], same[order]
    n_same, n_diff = int(s.sum()), int((~s).sum())
    # Cutting after the first k sorted pairs (k = 0 ... M) calls those k "same".
    true_pos = np.concatenate([[0], np.cumsum(s)])
    true_neg = n_diff - np.concatenate([[0], np.cumsum(~s)])
    if balanced:
        score = (true_pos / max(n_same, 1) + true_neg / max(n_diff, 1)) / 2
    else:
        score = (true_pos + true_neg) / len(d)
    # Only cuts between distinct distances can be realised by a threshold.
    cuttable = np.concatenate([[True], d[1:] > d[:-1], [True]])
    k = int(np.flatnonzero(cuttable)[np.argmax(score[cuttable])])
    if k == 0:
        threshold = d[0] - 1.0
    elif k == len(d):
        threshold = d[-1] + 1.0
    else:
        threshold = (d[k - 1] + d[k]) / 2
    return float(threshold), float(score[k])


def verification_accuracy(distances, same, threshold):
    """Accuracy of "same person when distance <= threshold" over the given pairs.

    Parameters
    ----------
    distances : ndarray, shape (M,)
    same : ndarray of bool, shape (M,)
    threshold : float

    Returns
    -------
    accuracy, true_positive_rate, true_negative_rate : float
    """
    distances, same = np.asarray(distances, dtype=np.float64), np.asarray(same, dtype=bool)
    if distances.shape != same.shape:
        raise ValueError(f"distances {distances.shape} and same {same.shape} must have one shape")
    return _rates(distances, same, threshold)


def one_shot_identification_accuracy(embeddings, labels, enrolled=None):
    """One-shot identification: enrol one image per person, name every other image by its nearest enrolled one.

    Parameters
    ----------
    embeddings : ndarray, shape (N, D)
    labels : array_like of int, shape (N,)
    enrolled : int, optional
        Enrol the ``enrolled``-th image (in the given order) of every person. When
        None, the accuracy is averaged over every choice ``0 ... n - 1``, where n
        is the fewest images of one person.

    Returns
    -------
    float
        Fraction of the queried (not enrolled) images given the right person.
    """
    embeddings, labels = np.asarray(embeddings, dtype=np.float64), np.asarray(labels)
    if embeddings.ndim != 2 or labels.shape != (len(embeddings),):
        raise ValueError(f"one_shot_identification_accuracy expects embeddings (N, D) and labels (N,), got "
                         f"{embeddings.shape} and {labels.shape}")
    people = np.unique(labels)
    by_person = [np.flatnonzero(labels == person) for person in people]
    fewest = min(len(indices) for indices in by_person)
    if len(people) < 2 or fewest < 2:
        raise ValueError(f"one-shot identification needs >= 2 people with >= 2 images each, got {len(people)} "
                         f"people with at least {fewest} images")
    if enrolled is not None and not 0 <= enrolled < fewest:
        raise ValueError(f"enrolled must be in 0 ... {fewest - 1}, got {enrolled}")
    choices = range(fewest) if enrolled is None else [int(enrolled)]
    accuracies = []
    for choice in choices:
        gallery = np.array([indices[choice] for indices in by_person])
        queries = np.setdiff1d(np.arange(len(labels)), gallery)
        # (Q, 1, D) - (1, G, D) -> (Q, G) squared distances
        d = ((embeddings[queries, None] - embeddings[None, gallery]) ** 2).sum(axis=-1)
        accuracies.append(np.mean(people[d.argmin(axis=1)] == labels[queries]))
    return float(np.mean(accuracies))


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


def evaluate_embeddings(train_embeddings, train_labels, eval_embeddings, eval_labels):
    """Verification and one-shot identification on unseen people, thresholds chosen on the training people.

    Parameters
    ----------
    train_embeddings : ndarray, shape (N_train, D)
    train_labels : array_like of int, shape (N_train,)
        The people the network was trained on; only their pairs choose the thresholds.
    eval_embeddings : ndarray, shape (N_eval, D)
    eval_labels : array_like of int, shape (N_eval,)
        People disjoint from the training ones.

    Returns
    -------
    dict
        ``threshold`` (best accuracy on all training pairs) and, on all the
        evaluation pairs at it, ``verification_accuracy``, ``true_positive_rate``,
        ``true_negative_rate``; ``balanced_threshold`` (best balanced accuracy on
        the training pairs) and ``verification_balanced_accuracy`` at it;
        ``train_verification_accuracy``; ``eval_pairs``, ``eval_same_pairs``;
        ``all_different_accuracy`` (the accuracy of always answering
        "different", the floor to beat); ``one_shot_accuracy`` (averaged over
        the choice of enrolled image) and ``one_shot_accuracy_first`` (the first
        image of each person enrolled).
    """
    if np.intersect1d(np.unique(train_labels), np.unique(eval_labels)).size:
        raise ValueError("the evaluation people must not appear among the training people")
    train_d, train_same = pair_distances(train_embeddings, train_labels)
    eval_d, eval_same = pair_distances(eval_embeddings, eval_labels)
    threshold, train_accuracy = best_threshold(train_d, train_same)
    balanced_threshold, _ = best_threshold(train_d, train_same, balanced=True)
    accuracy, tpr, tnr = verification_accuracy(eval_d, eval_same, threshold)
    _, btpr, btnr = verification_accuracy(eval_d, eval_same, balanced_threshold)
    return {"threshold": threshold, "train_verification_accuracy": train_accuracy,
            "verification_accuracy": accuracy, "true_positive_rate": tpr, "true_negative_rate": tnr,
            "balanced_threshold": balanced_threshold, "verification_balanced_accuracy": (btpr + btnr) / 2,
            "eval_pairs": int(len(eval_d)), "eval_same_pairs": int(eval_same.sum()),
            "all_different_accuracy": float(np.mean(~eval_same)),
            "one_shot_accuracy": one_shot_identification_accuracy(eval_embeddings, eval_labels),
            "one_shot_accuracy_first": one_shot_identification_accuracy(eval_embeddings, eval_labels, enrolled=0)}


def save_embedding_net(path, model, metadata=None):
    """Save an :class:`EmbeddingNet`'s weights with its architecture, so :func:`load_embedding_net` can rebuild it.

    Parameters
    ----------
    path : str or Path
        ``.safetensors`` or ``.npz``; written atomically.
    model : EmbeddingNet
    metadata : dict of str -> str, optional
        Extra strings stored alongside (e.g. the training split).
    """
    architecture = {"model": "EmbeddingNet", "channels": ",".join(map(str, model.channels)),
                    "embedding_dim": str(model.embedding_dim),
                    "input_size": "" if model.input_size is None else ",".join(map(str, model.input_size))}
    save_state(path, model.state_dict(), {**(metadata or {}), **architecture})


def load_embedding_net(path):
    """Rebuild an :class:`EmbeddingNet` saved by :func:`save_embedding_net` (or ``train_att(out=...)``).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    model : EmbeddingNet
        In evaluation mode.
    metadata : dict of str -> str
        Everything saved with it (architecture, training split, threshold).

    Raises
    ------
    ValueError
        When the file was not saved from an EmbeddingNet.
    """
    state, metadata = load_state(path)
    if metadata.get("model") != "EmbeddingNet":
        raise ValueError(f"{path} does not hold an EmbeddingNet (its metadata says model={metadata.get('model')!r})")
    input_size = tuple(int(v) for v in metadata["input_size"].split(",")) if metadata["input_size"] else None
    model = EmbeddingNet(tuple(int(v) for v in metadata["channels"].split(",")), int(metadata["embedding_dim"]),
                         input_size=input_size, in_channels=state["features.0.weight"].shape[2],
                         dtype=state["head.weight"].dtype)
    model.load_state_dict(state)
    return model.eval(), metadata


def _pixel_embeddings(images):
    """Raw pixels, centred and scaled to unit length per image: the baseline a learned embedding must beat."""
    flat = images.reshape(len(images), -1).astype(np.float64)
    flat = flat - flat.mean(axis=1, keepdims=True)
    return flat / np.linalg.norm(flat, axis=1, keepdims=True)


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
        The :class:`EmbeddingNet` architecture.
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
    model = EmbeddingNet(channels, embedding_dim, input_size=images.shape[1:3], in_channels=1, rng=seed)
    started = time.perf_counter()
    history = train_embedding(model, images[is_train], labels[is_train], epochs=epochs, P=P, K=K, lr=lr,
                              margin=margin, mining=mining, seed=seed, progress=progress)
    train_seconds = time.perf_counter() - started
    model.eval()
    embeddings = embed_images(model, images)
    metrics = evaluate_embeddings(embeddings[is_train], labels[is_train], embeddings[~is_train], labels[~is_train])
    pixels = _pixel_embeddings(images)
    baseline = evaluate_embeddings(pixels[is_train], labels[is_train], pixels[~is_train], labels[~is_train])
    report = {"train_people": train_people.tolist(), "eval_people": eval_people.tolist(), **history,
              "train_seconds": train_seconds, "seconds_per_step": train_seconds / history["steps"], **metrics,
              "pixel_baseline": {key: baseline[key] for key in
                                 ("verification_accuracy", "verification_balanced_accuracy", "one_shot_accuracy")}}
    if out is not None:
        save_embedding_net(out, model, {
            "input": "AT&T faces downscaled 2x: greyscale in [0, 1]",
            "train_people": ",".join(map(str, train_people)), "eval_people": ",".join(map(str, eval_people)),
            "threshold": repr(metrics["threshold"])})
    return model, report
