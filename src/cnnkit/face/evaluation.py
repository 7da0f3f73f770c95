"""Judging a face embedding on people it has never seen: pair distances, thresholds, verification and
one-shot identification.

- verification: every pair of their images is "same" when its distance is
  below a threshold chosen on the training people's pairs;
- one-shot identification: one image per person is enrolled and each other
  image is given the identity of the nearest enrolled one.
"""
import numpy as np

from cnnkit.autograd.tensor import Tensor, no_grad
from cnnkit.backend import to_numpy

__all__ = ["embed_images", "pair_distances", "best_threshold", "verification_accuracy",
           "one_shot_identification_accuracy", "evaluate_embeddings", "pixel_embeddings"]


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
    # one row of pairs at a time: an (N - k, D) buffer, never the (N (N - 1) / 2, D) of all pairs at once
    distances = np.concatenate([np.sqrt(((embeddings[k + 1:] - embeddings[k]) ** 2).sum(axis=-1))
                                for k in range(len(embeddings))])
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


def pixel_embeddings(images):
    """Raw pixels, centred and scaled to unit length per image: the baseline a learned embedding must beat.

    Parameters
    ----------
    images : ndarray, shape (N, H, W, C)

    Returns
    -------
    ndarray of float64, shape (N, H * W * C)
    """
    flat = images.reshape(len(images), -1).astype(np.float64)
    flat = flat - flat.mean(axis=1, keepdims=True)
    return flat / np.linalg.norm(flat, axis=1, keepdims=True)
