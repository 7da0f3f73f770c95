"""Run folders, as Ultralytics users know them: ``runs/<task>/<name>/`` with weights, results and plots.

::

    runs/classify/lenet5-digits/
        args.json            what the run was started with
        weights/last.safetensors   after every epoch (atomically): resume from here
        weights/best.safetensors   the best epoch by the monitored metric
        results.csv          one row per epoch
        curves.png           loss and metrics per epoch
"""
import csv
import io
import json
import math
import os

from cnnkit.io.state import atomic_write
from cnnkit.train.checkpoint import save


class RunFolder:
    """Where ``fit`` keeps a run's checkpoints, results and plots.

    Parameters
    ----------
    path : str
        The folder; created (with ``weights/``) at once, so a bad path fails
        before training starts.
    class_names : sequence of str, optional
    preprocessing : dict, optional
    extra : dict, optional
        Stored in every checkpoint of the run (see ``cnnkit.train.save``).
    monitor : str, optional
        The epoch-log key that picks ``best``: ``val_loss`` when the run has
        validation data, else ``loss``.
    mode : {"auto", "min", "max"}, default "auto"
        "auto" maximises keys containing "acc" or "map" and minimises the rest.
    plots : bool, default True
        Draw ``curves.png`` when training ends (or stops).
    title : str, optional
        The plots' title, e.g. the model and the data.

    Attributes
    ----------
    last, best : str
        The paths of the two checkpoints.
    """

    def __init__(self, path, class_names=None, preprocessing=None, extra=None, monitor=None, mode="auto",
                 plots=True, title=None):
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.path = os.fspath(path)
        self.class_names, self.preprocessing, self.extra = class_names, preprocessing, extra
        self.monitor, self.mode, self.plots, self.title, self.best_value = monitor, mode, plots, title, None
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise ValueError(f"run folder {self.path} exists and is not a folder")
        try:
            os.makedirs(os.path.join(self.path, "weights"), exist_ok=True)
        except OSError as exc:
            raise ValueError(f"cannot create the run folder {self.path}: {exc.strerror}") from None
        if not os.access(os.path.join(self.path, "weights"), os.W_OK | os.X_OK):
            raise ValueError(f"cannot write into the run folder {self.path} (permission denied)")
        self.last = os.path.join(self.path, "weights", "last.safetensors")
        self.best = os.path.join(self.path, "weights", "best.safetensors")

    @classmethod
    def create(cls, task, name, root="runs", exist_ok=False, **kwargs):
        """A new run folder ``root/task/name``, numbered ``name2``, ``name3``... when ``name`` is taken.

        Parameters
        ----------
        task : str
            ``classify``, ``detect``, ``face``, ``localize``...
        name : str
        root : str, default "runs"
        exist_ok : bool, default False
            Reuse ``root/task/name`` even if it exists.
        **kwargs
            Passed to ``RunFolder``.
        """
        base = os.path.join(root, task, name)
        path, number = base, 1
        while not exist_ok and os.path.exists(path):
            number += 1
            path = f"{base}{number}"
        return cls(path, **kwargs)

    def write_args(self, args):
        """Write ``args`` (a JSON-serialisable dict) to ``args.json``, atomically."""
        text = json.dumps(args, indent=1, sort_keys=True, default=str)
        atomic_write(os.path.join(self.path, "args.json"), lambda f: f.write(text.encode()))

    def read_args(self):
        """The ``args.json`` of this run (an empty dict when there is none)."""
        path = os.path.join(self.path, "args.json")
        if not os.path.exists(path):
            return {}
        try:
            with open(path) as f:
                args = json.load(f)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path} is not readable JSON: {exc}") from None
        if not isinstance(args, dict):
            raise ValueError(f"{path} must hold a JSON object")
        return args

    def _improved(self, logs):
        """Whether this epoch beats the best so far by the monitored key (and remember it)."""
        monitor = self.monitor or ("val_loss" if "val_loss" in logs else "loss")
        value = logs.get(monitor)
        if value is None:
            raise ValueError(f"the run folder monitors {monitor!r}, but the epoch logs have {sorted(logs)}")
        if not math.isfinite(value):
            return False
        mode = self.mode if self.mode != "auto" else (
            "max" if any(k in monitor for k in ("acc", "map", "ap")) else "min")
        if self.best_value is None or (value < self.best_value if mode == "min" else value > self.best_value):
            self.best_value = value
            return True
        return False

    def save_epoch(self, model, epoch, logs, history, **state):
        """Write ``last`` (and ``best`` if this epoch is the best) and ``results.csv`` after an epoch.

        Parameters
        ----------
        model : Module
        epoch : int
            Finished epochs.
        logs : dict
            This epoch's metrics.
        history : History
            Up to and including this epoch.
        **state
            ``optimizer``, ``scheduler``, ``rng``, ``callbacks``: passed to ``save``.
        """
        improved = self._improved(logs)
        state["callbacks"] = {**(state.get("callbacks") or {}), "run": {"best_value": self.best_value}}
        kwargs = dict(class_names=self.class_names, preprocessing=self.preprocessing, extra=self.extra, epoch=epoch,
                      history=history, **state)
        save(model, self.last, **kwargs)
        if improved:
            save(model, self.best, **kwargs)
        self.write_results(history)

    def restore(self, callback_states):
        """Take back the best value so far from a resumed checkpoint's callback states."""
        self.best_value = ((callback_states or {}).get("run") or {}).get("best_value")

    def write_results(self, history):
        """``results.csv``: a row per epoch, a column per logged key."""
        values = history.to_dict()
        keys = history.keys()
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["epoch", *keys])
        for row, epoch in enumerate(values["epochs"]):
            writer.writerow([epoch, *("" if values[k][row] is None else f"{values[k][row]:.6g}" for k in keys)])
        atomic_write(os.path.join(self.path, "results.csv"), lambda f: f.write(buffer.getvalue().encode()))

    def finish(self, history):
        """Draw ``curves.png`` from the history (when ``plots``)."""
        if self.plots and len(history):
            from cnnkit.viz.curves import plot_history
            plot_history(history, os.path.join(self.path, "curves.png"), title=self.title)
