"""Triplet loss and triplet mining (batch-all, batch-hard, semi-hard) on embeddings.

Distances are squared Euclidean, summed over the last axis, as in the course's
definition of the triplet loss. The mining losses pick their triplets from the
values (no gradient flows through the choice) and compute the loss from the
chosen distances with cnnkit ops, so it is differentiable with respect to the
embeddings. Each mining loss also returns the fraction of triplets with a
positive loss: when it falls to 0 the network has stopped learning, and when it
stays at 1 with the loss near the margin the embeddings have collapsed to a point.
"""
import numpy as np

from cnnkit.autograd.tensor import Tensor
from cnnkit.backend import to_numpy, xp
from cnnkit.autograd import as_tensor
from cnnkit.ops.activation import relu


def _squared_distance(a, b):
    """``sum((a - b) ** 2, axis=-1)`` as a Tensor."""
    diff = a - b
    return (diff * diff).sum(axis=-1)


def triplet_loss(anchor, positive, negative, alpha=0.2):
    """The triplet loss ``sum_i max(||a_i - p_i||^2 - ||a_i - n_i||^2 + alpha, 0)``.

    Parameters
    ----------
    anchor, positive, negative : Tensor or ndarray, shape (..., D)
        Embeddings; the positive is of the anchor's identity, the negative of
        another. The squared distances are summed over the last axis and the
        hinge over all the others (the batch).
    alpha : float, default 0.2
        The margin by which the negative must be farther than the positive; any
        finite real (a negative margin tolerates negatives closer than positives).

    Returns
    -------
    Tensor, shape ()
        The summed loss; differentiable with respect to every Tensor input.

    Raises
    ------
    ValueError
        When the three shapes differ, or ``alpha`` is not a finite number.
    """
    anchor, positive, negative = as_tensor(anchor), as_tensor(positive), as_tensor(negative)
    if not anchor.shape == positive.shape == negative.shape or anchor.ndim < 1:
        raise ValueError(f"triplet_loss: anchor {anchor.shape}, positive {positive.shape} and negative "
                         f"{negative.shape} must have one shape (..., D)")
    if not np.isfinite(np.asarray(alpha, dtype=np.float64)).all() or np.ndim(alpha) != 0:
        raise ValueError(f"triplet_loss: the margin alpha must be a finite real number, got {alpha!r}")
    gap = _squared_distance(anchor, positive) - _squared_distance(anchor, negative) + alpha
    return relu(gap).sum()


def pairwise_squared_distances(embeddings):
    """All squared Euclidean distances between the rows of ``embeddings``.

    Parameters
    ----------
    embeddings : Tensor or ndarray, shape (B, D)

    Returns
    -------
    Tensor, shape (B, B)
        ``out[i, j] = sum((e_i - e_j) ** 2)``, computed from differences
        (never negative, exactly 0 on the diagonal).
    """
    embeddings = as_tensor(embeddings)
    if embeddings.ndim != 2:
        raise ValueError(f"pairwise_squared_distances: embeddings must be (B, D), got shape {embeddings.shape}")
    B, D = embeddings.shape
    # (B, 1, D) - (1, B, D) -> (B, B, D)
    return _squared_distance(embeddings.reshape(B, 1, D), embeddings.reshape(1, B, D))


def _check_batch(name, embeddings, labels, margin):
    """Validate a mining call; return the embeddings as a Tensor and the labels as a 1-D array."""
    embeddings = as_tensor(embeddings)
    labels = np.asarray(to_numpy(labels.data if isinstance(labels, Tensor) else labels))
    if embeddings.ndim != 2:
        raise ValueError(f"{name}: embeddings must be (B, D), got shape {embeddings.shape}")
    if labels.shape != (embeddings.shape[0],):
        raise ValueError(f"{name}: labels must have shape ({embeddings.shape[0]},) to match embeddings "
                         f"{embeddings.shape}, got {labels.shape}")
    if margin < 0:
        raise ValueError(f"{name}: the margin must be >= 0, got {margin!r}")
    return embeddings, labels


def _masks(labels):
    """Boolean (B, B) masks: positive pairs (same label, i != j) and negative pairs (different labels)."""
    same = labels[:, None] == labels[None, :]
    return same & ~np.eye(len(labels), dtype=bool), ~same


def _zero(embeddings):
    """A zero loss that still belongs to the graph of ``embeddings`` (its gradient is 0)."""
    return embeddings.sum() * 0.0


def batch_all_triplet_loss(embeddings, labels, margin=0.2):
    """Mean triplet loss over the active triplets among all valid ones in the batch.

    Every (a, p, n) with ``label[a] == label[p]``, ``a != p`` and
    ``label[n] != label[a]`` is a valid triplet; the hinge
    ``max(d(a, p) - d(a, n) + margin, 0)`` is summed over them and divided by
    the number of active ones (positive hinge), so easy triplets do not dilute it.

    Parameters
    ----------
    embeddings : Tensor or ndarray, shape (B, D)
    labels : array_like of int, shape (B,)
    margin : float, default 0.2

    Returns
    -------
    loss : Tensor, shape ()
        0 when no triplet is active.
    fraction_active : float
        Active triplets / valid triplets (0 when there is no valid triplet).
    """
    embeddings, labels = _check_batch("batch_all_triplet_loss", embeddings, labels, margin)
    positive, negative = _masks(labels)
    valid = positive[:, :, None] & negative[:, None, :]  # (a, p, n)
    d = pairwise_squared_distances(embeddings)
    B = len(labels)
    # (B, B, 1) - (B, 1, B) -> (B, B, B): hinge of every (a, p, n)
    hinge = relu(d.reshape(B, B, 1) - d.reshape(B, 1, B) + margin) * xp.asarray(valid, dtype=embeddings.dtype)
    active = int(np.count_nonzero(to_numpy(hinge.data) > 0))
    n_valid = int(np.count_nonzero(valid))
    if active == 0:
        return _zero(embeddings), 0.0
    return hinge.sum() / float(active), active / n_valid


def batch_hard_triplet_loss(embeddings, labels, margin=0.2):
    """Triplet loss of the hardest positive and hardest negative of every anchor.

    For each anchor that has a positive and a negative in the batch, the
    farthest positive and the closest negative make one triplet; the loss is
    the mean hinge over those anchors (Hermans et al., 2017).

    Parameters
    ----------
    embeddings : Tensor or ndarray, shape (B, D)
    labels : array_like of int, shape (B,)
    margin : float, default 0.2

    Returns
    -------
    loss : Tensor, shape ()
        0 when no anchor has both a positive and a negative.
    fraction_active : float
        Anchors with a positive hinge / anchors used.
    """
    embeddings, labels = _check_batch("batch_hard_triplet_loss", embeddings, labels, margin)
    positive, negative = _masks(labels)
    d = pairwise_squared_distances(embeddings)
    values = to_numpy(d.data)
    anchors = np.flatnonzero(positive.any(axis=1) & negative.any(axis=1))
    if len(anchors) == 0:
        return _zero(embeddings), 0.0
    hardest_positive = np.where(positive, values, -np.inf)[anchors].argmax(axis=1)
    hardest_negative = np.where(negative, values, np.inf)[anchors].argmin(axis=1)
    hinge = relu(d[anchors, hardest_positive] - d[anchors, hardest_negative] + margin)
    return hinge.mean(), float(np.mean(to_numpy(hinge.data) > 0))


def semi_hard_triplet_loss(embeddings, labels, margin=0.2):
    """Triplet loss with semi-hard negatives, as in FaceNet (Schroff et al., 2015).

    For every positive pair (a, p) the negative is the closest one that is
    still farther than the positive, ``d(a, n) > d(a, p)``; it lies inside the
    margin when the hinge is positive. When every negative is closer than the
    positive, the farthest negative is used, so hard early batches do not
    drive the embeddings to collapse. The loss is the mean hinge over the pairs.

    Parameters
    ----------
    embeddings : Tensor or ndarray, shape (B, D)
    labels : array_like of int, shape (B,)
    margin : float, default 0.2

    Returns
    -------
    loss : Tensor, shape ()
        0 when no anchor has both a positive and a negative.
    fraction_active : float
        Positive pairs with a positive hinge / positive pairs used.
    """
    embeddings, labels = _check_batch("semi_hard_triplet_loss", embeddings, labels, margin)
    positive, negative = _masks(labels)
    positive &= negative.any(axis=1)[:, None]
    d = pairwise_squared_distances(embeddings)
    values = to_numpy(d.data)
    a, p = np.nonzero(positive)
    if len(a) == 0:
        return _zero(embeddings), 0.0
    d_ap = values[a, p][:, None]                    # (pairs, 1)
    d_an = np.where(negative[a], values[a], np.nan)  # (pairs, B), NaN where not a negative
    farther = d_an > d_ap
    semi_hard = np.where(farther, d_an, np.inf).argmin(axis=1)
    hardest_fallback = np.where(np.isnan(d_an), -np.inf, d_an).argmax(axis=1)
    n = np.where(farther.any(axis=1), semi_hard, hardest_fallback)
    hinge = relu(d[a, p] - d[a, n] + margin)
    return hinge.mean(), float(np.mean(to_numpy(hinge.data) > 0))
