"""Using a trained model: ``evaluate`` on labelled data and ``predict`` on images, batch by batch."""
import numpy as np

from cnnkit.autograd.tensor import Tensor, no_grad
from cnnkit.backend import to_numpy
from cnnkit.data.loader import DataLoader, as_arrays
from cnnkit.train.losses import NamedLoss, resolve_loss, resolve_metrics


def outputs(model, inputs, batch_size=256):
    """The model's outputs for ``inputs`` (N, ...) in evaluation mode, batch by batch, without a graph.

    Parameters
    ----------
    model : Module
    inputs : ndarray, shape (N, H, W, C)
    batch_size : int, default 256

    Returns
    -------
    ndarray, shape (N, ...)
    """
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            return np.concatenate([to_numpy(model(Tensor(inputs[i:i + batch_size])).data)
                                   for i in range(0, len(inputs), batch_size)])
    finally:
        model.train(was_training)


def evaluate(model, data, batch_size=256, loss="cross_entropy", metrics=None):
    """Loss and metrics on labelled data; for classification also per-class accuracy and the confusion matrix.

    Parameters
    ----------
    model : Module
    data : Dataset, tuple of arrays or DataLoader
        For classification, images (N, H, W, C) and integer labels (N,).
    batch_size : int, default 256
    loss, metrics
        As for ``fit``.

    Returns
    -------
    dict
        ``loss`` (the mean over samples) and each metric. With the
        cross-entropy loss also ``accuracy``, ``per_class_accuracy``
        (ndarray (K,), NaN for a class absent from ``data``) and
        ``confusion`` (ndarray (K, K) of int64: row = true class, column = predicted).
    """
    from cnnkit.train.fit import evaluate_loader

    loss_fn = resolve_loss(loss)
    if not (isinstance(loss_fn, NamedLoss) and loss_fn.name == "cross_entropy"):
        loader = data if isinstance(data, DataLoader) else DataLoader(data, batch_size=batch_size)
        return evaluate_loader(model, loader, loss_fn, resolve_metrics(metrics, loss_fn))
    images, labels = as_arrays(data)[:2]
    if len(images) == 0:
        raise ValueError("evaluate needs at least one image")
    logits = outputs(model, images, batch_size)
    labels = np.asarray(labels)
    result = {"loss": float(loss_fn.fn(Tensor(logits), labels).item())}
    for name, fn in resolve_metrics(metrics, loss_fn).items():
        result[name] = fn(logits, (images, labels))
    K = logits.shape[-1]
    if labels.min() < 0 or labels.max() >= K:
        raise ValueError(f"labels must be in 0..{K - 1} for a model of {K} outputs, got {labels.min()}..{labels.max()}")
    confusion = np.zeros((K, K), dtype=np.int64)
    np.add.at(confusion, (labels, logits.argmax(-1)), 1)
    support = confusion.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(support > 0, np.diag(confusion) / support, np.nan)
    result.update(accuracy=float(np.trace(confusion) / len(labels)), per_class_accuracy=per_class,
                  confusion=confusion)
    return result


def predict(model, images, batch_size=256):
    """Class probabilities for a batch of images.

    Parameters
    ----------
    model : Module
        A classifier: logits (N, K).
    images : ndarray, shape (N, H, W, C)
    batch_size : int, default 256

    Returns
    -------
    ndarray, shape (N, K)
        Softmax probabilities, rows summing to 1, in the model's dtype.
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"predict expects a batch (N, H, W, C), got shape {images.shape}")
    logits = outputs(model, images, batch_size)
    shifted = np.exp(logits - logits.max(-1, keepdims=True))
    return shifted / shifted.sum(-1, keepdims=True)
