"""What training reports: the per-epoch ``History`` and a small progress bar."""
import json
import sys
import time

import numpy as np


class History:
    """Per-epoch metrics recorded by ``fit``: one list per key, read as attributes or items.

    Keys are ``loss`` and each metric (``accuracy``, ...), their ``val_``
    versions when there is validation data, anything callbacks add to the
    epoch logs (``map50``, ...), plus ``lr`` and ``seconds``. A key missing
    from some epochs is NaN there, so every list has one value per epoch.

    Attributes
    ----------
    epochs : list of int
        The epoch numbers recorded (1-based; a resumed run continues them).
    stopped : str or None
        Why training ended before its last epoch: ``"early"`` (a callback),
        ``"nan"`` (the loss was not finite), ``"time"`` (the time limit).
    stop_reason : str or None
        The same, in words.
    """

    def __init__(self):
        self.values, self.epochs, self.stopped, self.stop_reason = {}, [], None, None

    def __len__(self):
        return len(self.epochs)

    def __getattr__(self, key):
        values = self.__dict__.get("values", {})
        if key in values:
            return values[key]
        if key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"):
            return []
        raise AttributeError(f"History has no {key!r}; it has {sorted(values)}")

    def __getitem__(self, key):
        return self.values[key]

    def keys(self):
        """The recorded keys, in the order they first appeared."""
        return list(self.values)

    def __repr__(self):
        last = ", ".join(f"{k}={v[-1]:.4g}" for k, v in self.values.items() if v)
        return f"History(epochs={len(self)}{', ' + last if last else ''})"

    def append(self, epoch, logs):
        """Record epoch ``epoch``'s ``logs`` (name -> number)."""
        for key in logs:
            self.values.setdefault(key, [float("nan")] * len(self.epochs))
        for key, column in self.values.items():
            column.append(float(logs.get(key, float("nan"))))
        self.epochs.append(int(epoch))

    def to_dict(self):
        """The lists, ``epochs``, ``stopped`` and ``stop_reason``, JSON-serialisable (NaN as null)."""
        clean = {k: [None if np.isnan(v) else v for v in column] for k, column in self.values.items()}
        return {**clean, "epochs": list(self.epochs), "stopped": self.stopped, "stop_reason": self.stop_reason}

    @classmethod
    def from_dict(cls, state):
        """Rebuild a History from ``to_dict()``'s output (a checkpoint's)."""
        history = cls()
        state = dict(state)
        history.epochs = [int(e) for e in state.pop("epochs", [])]
        history.stopped, history.stop_reason = state.pop("stopped", None), state.pop("stop_reason", None)
        for key, column in state.items():
            if not isinstance(column, list) or len(column) != len(history.epochs):
                raise ValueError(f"history column {key!r} does not have one value per epoch")
            history.values[key] = [float("nan") if v is None else float(v) for v in column]
        return history

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
        self.count, self.started, self.drawn, self.postfix = 0, time.perf_counter(), 0.0, {}

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
        self.postfix = postfix
        now = time.perf_counter()
        if self.live and (now - self.drawn > 0.1 or self.count >= self.total):
            self.file.write("\r" + self._line(postfix) + "\033[K")
            self.file.flush()
            self.drawn = now

    def close(self, **postfix):
        """Write the final line (the last update's values, updated with ``postfix``) and a newline."""
        postfix = {**self.postfix, **postfix}
        self.file.write(("\r" if self.live else "") + self._line(postfix) + ("\033[K" if self.live else "") + "\n")
        self.file.flush()
