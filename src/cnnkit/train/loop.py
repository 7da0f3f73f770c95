"""Keras-style training: ``fit``, ``evaluate`` and ``predict``, a ``History`` and a progress bar."""
import json
import math
import sys
import time
import warnings

import numpy as np

import cnnkit.functional as F
from cnnkit.autograd.tensor import Tensor, no_grad
from cnnkit.backend import to_numpy
from cnnkit.data.loader import DataLoader

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")


class History:
    """Per-epoch metrics recorded by ``fit``.

    Attributes
    ----------
    loss, accuracy : list of float
        Training loss and accuracy, averaged over each epoch's batches (as trained, so with augmentation).
    val_loss, val_accuracy : list of float
        On the validation data (empty lists without it).
    lr : list of float
        The learning rate of the first parameter group during each epoch.
    seconds : list of float
        Wall time of each epoch, validation included.
    stop_reason : str or None
        Why training ended before ``epochs``: early stopping or a NaN loss.
    """

    def __init__(self):
        for key in HISTORY_KEYS:
            setattr(self, key, [])
        self.stop_reason = None

    def __len__(self):
        return len(self.loss)

    def __repr__(self):
        last = ", ".join(f"{k}={getattr(self, k)[-1]:.4g}" for k in HISTORY_KEYS if getattr(self, k))
        return f"History(epochs={len(self)}{', ' + last if last else ''})"

    def append(self, **values):
        """Record one epoch's values (keys from ``HISTORY_KEYS``)."""
        for key, value in values.items():
            getattr(self, key).append(float(value))

    def to_dict(self):
        """Return the lists (and ``stop_reason``) as a JSON-serialisable dict."""
        return {**{key: list(getattr(self, key)) for key in HISTORY_KEYS}, "stop_reason": self.stop_reason}

    def save(self, path):
        """Write ``to_dict()`` as JSON to ``path``."""
        with open(path, "w") as f:
            json.dump(self.to_dict(), f, indent=1)


class ProgressBar:
    """A small tqdm-like bar on stderr: ``epoch 2/10 [#####-----] 12/23 loss 0.41 acc 0.87 1520 img/s``.

    On a terminal it redraws in place at most ten times a second; elsewhere
    (logs, pipes) it writes only the finished line.

    Parameters
    ----------
    total : int
        The number of steps (batches).
    prefix : str
        Written before the bar.
    file : file object, default sys.stderr
    width : int, default 24
        Characters of the bar itself.
    """

    def __init__(self, total, prefix="", file=None, width=24):
        self.total, self.prefix, self.width = total, prefix, width
        self.file = file if file is not None else sys.stderr
        self.live = hasattr(self.file, "isatty") and self.file.isatty()
        self.count, self.started, self.drawn = 0, time.perf_counter(), 0.0

    def _line(self, postfix):
        """The text of the bar after ``self.count`` steps."""
        filled = int(self.width * self.count / max(self.total, 1))
        elapsed = time.perf_counter() - self.started
        stats = " ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in postfix.items())
        return (f"{self.prefix} [{'#' * filled}{'-' * (self.width - filled)}] {self.count}/{self.total} "
                f"{stats} {elapsed:.1f}s")

    def update(self, steps=1, **postfix):
        """Advance by ``steps`` and show ``postfix`` (name -> value) after the bar."""
        self.count += steps
        now = time.perf_counter()
        if self.live and (now - self.drawn > 0.1 or self.count >= self.total):
            self.file.write("\r" + self._line(postfix) + "\033[K")
            self.file.flush()
            self.drawn = now

    def close(self, **postfix):
        """Write the final line (with ``postfix``) and a newline."""
        self.file.write(("\r" if self.live else "") + self._line(postfix) + ("\033[K" if self.live else "") + "\n")
        self.file.flush()


def _arrays(data):
    """(images, labels) from a Dataset-like object or a pair of arrays."""
    if isinstance(data, (tuple, list)):
        return np.asarray(data[0]), np.asarray(data[1])
    return data.images, data.labels


def _trainable(model):
    """The parameters that require gradients."""
    return [p for p in model.parameters() if p.requires_grad]


def fit(model, train, val=None, epochs=10, optimizer=None, loss=F.cross_entropy, batch_size=64, callbacks=(),
        scheduler=None, seed=0, verbose=True, transform=None):
    """Train ``model`` on mini-batches, Keras style.

    Parameters
    ----------
    model : Module
        Maps images (N, H, W, C) to logits (N, K).
    train : Dataset or (images, labels)
        Training images (N, H, W, C) and integer labels (N,), already preprocessed
        to the model's input size.
    val : Dataset or (images, labels), optional
        Evaluated after every epoch (``val_loss``, ``val_accuracy``).
    epochs : int, default 10
    optimizer : Optimizer, optional
        Default: ``Adam(lr=1e-3)`` over the trainable (not frozen) parameters.
    loss : callable, default cnnkit.functional.cross_entropy
        ``loss(logits, labels) -> scalar Tensor``.
    batch_size : int, default 64
    callbacks : sequence of Callback
        E.g. ``EarlyStopping``, ``KeepBest``; see ``cnnkit.train.callbacks``.
    scheduler : LRScheduler, optional
        Stepped once after every epoch.
    seed : int, default 0
        Seed of the shuffling: the same seed, model and data repeat a run.
    verbose : bool, default True
        Show a progress bar on stderr.
    transform : callable, optional
        Augmentation applied to each training batch (never to ``val``).

    Returns
    -------
    History
        Per-epoch ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``, ``lr``, ``seconds``.

    Notes
    -----
    A NaN or infinite loss stops training at once with a ``RuntimeWarning``;
    the model is put back to its weights after the last complete epoch (or
    the initial ones) and ``history.stop_reason`` says where it happened.
    """
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    if optimizer is None:
        from cnnkit.optim import Adam
        optimizer = Adam(_trainable(model))
    loader = DataLoader(train, batch_size=batch_size, shuffle=True, seed=seed, transform=transform)
    history = History()
    for callback in callbacks:
        callback.on_train_begin(model)
    last_good = model.state_dict()
    for epoch in range(1, epochs + 1):
        started = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        bar = ProgressBar(len(loader), f"epoch {epoch}/{epochs}") if verbose else None
        model.train()
        total_loss, correct, seen = 0.0, 0, 0
        for batch, (images, labels) in enumerate(loader, 1):
            optimizer.zero_grad()
            logits = model(Tensor(images))
            value = loss(logits, labels)
            batch_loss = value.item()
            if not math.isfinite(batch_loss):
                model.load_state_dict(last_good)
                history.stop_reason = (f"the loss became {batch_loss} at epoch {epoch}, batch {batch}; "
                                       f"stopped and restored the weights after epoch {epoch - 1}")
                if bar:
                    bar.close(loss="nan")
                warnings.warn(history.stop_reason + " (lower the learning rate?)", RuntimeWarning, stacklevel=2)
                break
            value.backward()
            optimizer.step()
            n = len(labels)
            total_loss += batch_loss * n
            correct += int((to_numpy(logits.data).argmax(-1) == labels).sum())
            seen += n
            if bar:
                bar.update(loss=total_loss / seen, acc=correct / seen,
                           **{"img/s": f"{seen / (time.perf_counter() - started):.0f}"})
        if history.stop_reason:
            break
        logs = {"loss": total_loss / max(seen, 1), "accuracy": correct / max(seen, 1), "lr": lr}
        if val is not None:
            result = evaluate(model, val, batch_size=max(batch_size, 256), loss=loss)
            logs.update(val_loss=result["loss"], val_accuracy=result["accuracy"])
        logs["seconds"] = time.perf_counter() - started
        history.append(**logs)
        if bar:
            shown = {k: v for k, v in logs.items() if k not in ("lr", "seconds")}
            bar.close(**shown, **{"img/s": f"{seen / logs['seconds']:.0f}"})
        last_good = model.state_dict()
        if scheduler is not None:
            scheduler.step()
        stops = [callback.on_epoch_end(model, epoch, logs) for callback in callbacks]
        if any(stops):
            history.stop_reason = next(c.stop_reason for c, s in zip(callbacks, stops) if s)
            break
    for callback in callbacks:
        callback.on_train_end(model)
    model.eval()
    return history


def _logits(model, images, batch_size):
    """The model's logits for ``images`` in evaluation mode, batch by batch, without a graph."""
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            return np.concatenate([to_numpy(model(Tensor(images[i:i + batch_size])).data)
                                   for i in range(0, len(images), batch_size)])
    finally:
        model.train(was_training)


def evaluate(model, data, batch_size=256, loss=F.cross_entropy):
    """Loss, accuracy, per-class accuracy and confusion matrix on labelled data.

    Parameters
    ----------
    model : Module
    data : Dataset or (images, labels)
        Images (N, H, W, C), integer labels (N,).
    batch_size : int, default 256
    loss : callable, default cnnkit.functional.cross_entropy

    Returns
    -------
    dict
        ``loss`` (float, the mean over images), ``accuracy`` (float),
        ``per_class_accuracy`` (ndarray (K,), NaN for a class absent from
        ``data``), ``confusion`` (ndarray (K, K) of int64: row = true class,
        column = predicted class).
    """
    images, labels = _arrays(data)
    if len(images) == 0:
        raise ValueError("evaluate needs at least one image")
    logits = _logits(model, images, batch_size)
    mean_loss = float(loss(Tensor(logits), labels).item())
    K = logits.shape[-1]
    confusion = np.zeros((K, K), dtype=np.int64)
    np.add.at(confusion, (labels, logits.argmax(-1)), 1)
    support = confusion.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(support > 0, np.diag(confusion) / support, np.nan)
    return {"loss": mean_loss, "accuracy": float(np.trace(confusion) / len(labels)),
            "per_class_accuracy": per_class, "confusion": confusion}


def predict(model, images, batch_size=256):
    """Class probabilities for a batch of images.

    Parameters
    ----------
    model : Module
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
    logits = _logits(model, images, batch_size)
    shifted = np.exp(logits - logits.max(-1, keepdims=True))
    return shifted / shifted.sum(-1, keepdims=True)
