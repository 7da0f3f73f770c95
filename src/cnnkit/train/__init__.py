"""Training: the one loop (``fit``), ``evaluate``/``predict``, callbacks, checkpoints and run folders."""
from cnnkit.train.callbacks import Callback, EarlyStopping, KeepBest
from cnnkit.train.checkpoint import Checkpoint, load, load_checkpoint, load_weights, save
from cnnkit.train.evaluate import evaluate, outputs, predict
from cnnkit.train.fit import fit
from cnnkit.train.history import History, ProgressBar
from cnnkit.train.interrupt import TrainingInterrupted
from cnnkit.train.losses import LOSSES, METRICS
from cnnkit.train.run import RunFolder

__all__ = ["fit", "evaluate", "predict", "outputs", "History", "ProgressBar", "Callback", "EarlyStopping",
           "KeepBest", "save", "load", "load_checkpoint", "load_weights", "Checkpoint", "RunFolder",
           "TrainingInterrupted", "LOSSES", "METRICS"]
