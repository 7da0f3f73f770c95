"""Callbacks for ``fit``: early stopping and keeping the best weights."""
import math


class Callback:
    """Hooks ``fit`` calls; ``on_epoch_end`` returns True to stop training.

    Attributes
    ----------
    stop_reason : str or None
        Set by a callback that stops training, copied into ``History.stop_reason``.
    """

    stop_reason = None

    def on_train_begin(self, model):
        """Called once before the first epoch."""

    def on_epoch_end(self, model, epoch, logs):
        """Called after each epoch with its metrics (``loss``, ``accuracy``, ``val_loss``, ...); True stops."""
        return False

    def on_train_end(self, model):
        """Called once when training ends (normally, early, or on a NaN loss)."""


class _Monitor(Callback):
    """Track the best value of one metric; subclasses decide what to do with it."""

    def __init__(self, monitor, mode, min_delta):
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor, self.min_delta = monitor, abs(min_delta)
        self.mode = mode if mode != "auto" else ("max" if "acc" in monitor else "min")
        self.best, self.best_epoch = None, None

    def on_train_begin(self, model):
        self.best, self.best_epoch = None, None

    def state_dict(self):
        """What a resumed run needs: the best value and its epoch."""
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state):
        """Restore ``state_dict()``'s values."""
        self.best, self.best_epoch = state.get("best"), state.get("best_epoch")

    def _improved(self, logs):
        """Whether ``logs[monitor]`` beats the best by more than ``min_delta`` (records it if so)."""
        if self.monitor not in logs:
            raise ValueError(f"{type(self).__name__} monitors {self.monitor!r}, but the epoch logs have "
                             f"{sorted(logs)}; pass val data to fit or monitor 'loss'")
        value = logs[self.monitor]
        if not math.isfinite(value):
            return False
        better = self.best is None or (value < self.best - self.min_delta if self.mode == "min"
                                       else value > self.best + self.min_delta)
        if better:
            self.best = value
        return better


class EarlyStopping(_Monitor):
    """Stop when a metric has not improved for ``patience`` epochs.

    Parameters
    ----------
    monitor : str, default "val_loss"
        A key of the epoch logs.
    patience : int, default 3
        Epochs without improvement to wait before stopping.
    min_delta : float, default 0
        The smallest change that counts as an improvement.
    mode : {"auto", "min", "max"}, default "auto"
        "auto" maximises metrics with "acc" in their name and minimises the rest.
    restore_best : bool, default False
        On stopping, put back the weights of the best epoch.
    """

    def __init__(self, monitor="val_loss", patience=3, min_delta=0.0, mode="auto", restore_best=False):
        super().__init__(monitor, mode, min_delta)
        self.patience, self.restore_best = int(patience), restore_best
        self.wait, self.best_state = 0, None

    def on_train_begin(self, model):
        super().on_train_begin(model)
        self.wait, self.best_state, self.stop_reason = 0, None, None

    def state_dict(self):
        return {**super().state_dict(), "wait": self.wait}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.wait = int(state.get("wait", 0))

    def on_epoch_end(self, model, epoch, logs):
        if self._improved(logs):
            self.wait, self.best_epoch = 0, epoch
            if self.restore_best:
                self.best_state = model.state_dict()
            return False
        self.wait += 1
        if self.wait >= self.patience:
            self.stop_reason = (f"early stopping: {self.monitor} has not improved for {self.wait} epochs "
                                f"(best {self.best:.4g} at epoch {self.best_epoch})")
            return True
        return False

    def on_train_end(self, model):
        if self.restore_best and self.best_state is not None:
            model.load_state_dict(self.best_state)


class KeepBest(_Monitor):
    """Keep the weights of the best epoch in memory and restore them when training ends.

    To keep the best epoch on disk, train with a run folder (``fit(run=...)``): it writes ``weights/best.safetensors``.

    Parameters
    ----------
    monitor : str, default "val_accuracy"
        A key of the epoch logs.
    mode : {"auto", "min", "max"}, default "auto"
    min_delta : float, default 0
    """

    def __init__(self, monitor="val_accuracy", mode="auto", min_delta=0.0):
        super().__init__(monitor, mode, min_delta)
        self.best_state = None

    def on_train_begin(self, model):
        super().on_train_begin(model)
        self.best_state = None

    def on_epoch_end(self, model, epoch, logs):
        if self._improved(logs):
            self.best_epoch, self.best_state = epoch, model.state_dict()
        return False

    def on_train_end(self, model):
        if self.best_state is not None:
            model.load_state_dict(self.best_state)
