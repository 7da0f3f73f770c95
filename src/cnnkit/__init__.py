"""cnnkit: a from-scratch convolutional neural network toolkit on NumPy, channels-last.

``import cnnkit`` gives ``Tensor``, ``no_grad`` and ``functional``; the other
subpackages (``nn``, ``optim``, ``data``, ``train``, ``models``, ...) load on
first use as attributes, e.g. ``cnnkit.nn.Conv2d``.
"""
import importlib

from cnnkit.autograd import Tensor, as_tensor, gradcheck, no_grad
from cnnkit import functional

__version__ = "0.1.0"
__all__ = ["Tensor", "as_tensor", "no_grad", "gradcheck", "functional"]

_SUBPACKAGES = {"autograd", "backend", "cli", "data", "detection", "face", "filters", "io", "models", "nn",
                "ops", "optim", "style", "train", "utils", "viz", "weights"}


def __getattr__(name):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"cnnkit.{name}")
    raise AttributeError(f"module 'cnnkit' has no attribute {name!r}")
