"""The array module every op computes with, the default dtype, and the CPU threads.

NumPy by default; CuPy when ``CNNKIT_BACKEND=cupy`` is set and CuPy is
installed, so the same op code can run on a GPU. Nothing requires one.
The compiled kernels of convolution and pooling (numba) run on the CPU, serially.
"""
import ctypes
import os
import platform

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


def set_num_threads(n):
    """Use ``n`` CPU threads for the BLAS (the GEMMs of convolutions and dense layers).

    The compiled kernels (numba) are serial by design (see ``cnnkit.ops._jit``).

    Parameters
    ----------
    n : int
        At least 1; by default the BLAS uses every core.
    """
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        raise TypeError(f"set_num_threads: n must be an int, got {type(n).__name__} {n!r}")
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    from threadpoolctl import threadpool_limits

    threadpool_limits(int(n), user_api="blas")


def get_num_threads():
    """The number of threads the BLAS uses (see ``set_num_threads``)."""
    from threadpoolctl import threadpool_info

    return max((pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"), default=1)


def _keep_freed_memory():
    """Ask glibc to keep freed memory for reuse instead of returning it to the system.

    A training step allocates and frees the same large arrays every time; by
    default glibc gives blocks above a few MiB back to the kernel, and each new
    one costs a page fault per 4 KiB when first written (measured: a fifth of a
    LeNet-5 step). Blocks up to 32 MiB (glibc's largest setting) now come from
    the heap, which is trimmed only when 1 GiB lies free at its top.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 32 * 2**20)
    mallopt(m_trim_threshold, 2**30)


_keep_freed_memory()
