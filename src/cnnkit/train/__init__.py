"""Training: ``fit``, ``evaluate``, ``predict``, callbacks and safetensors checkpoints."""
from cnnkit.train.callbacks import Callback, EarlyStopping, KeepBest
from cnnkit.train.checkpoint import Checkpoint, load, load_checkpoint, load_weights, save
from cnnkit.train.loop import History, ProgressBar, evaluate, fit, predict

__all__ = ["fit", "evaluate", "predict", "History", "ProgressBar", "Callback", "EarlyStopping", "KeepBest",
           "save", "load", "load_checkpoint", "load_weights", "Checkpoint"]
