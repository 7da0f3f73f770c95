"""The array module every op computes with, and the default dtype.

NumPy by default; CuPy when ``CNNKIT_BACKEND=cupy`` is set and CuPy is
installed, so the same op code can run on a GPU. Nothing requires one.
"""
import os

import numpy as np

xp = np
if os.environ.get("CNNKIT_BACKEND", "numpy").lower() == "cupy":
    try:
        import cupy as xp  # noqa: F811
    except ImportError as exc:
        raise ImportError("CNNKIT_BACKEND=cupy but CuPy is not installed") from exc

DEFAULT_DTYPE = np.float32


def to_numpy(array):
    """Return ``array`` as a NumPy ndarray (copies from the GPU under CuPy)."""
    if xp is not np and isinstance(array, xp.ndarray):
        return xp.asnumpy(array)
    return np.asarray(array)
