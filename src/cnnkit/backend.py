"""The array module every op computes with, the default dtype, and the CPU threads.

NumPy by default; CuPy when ``CNNKIT_BACKEND=cupy`` is set and CuPy is
installed, so the same op code can run on a GPU. Nothing requires one.
The compiled kernels of convolution and pooling (numba) and the GEMMs run on
the CPU, each op's work split over ``set_num_threads`` threads (``cnnkit.ops._parallel``).
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


def usable_cpus():
    """The cores this process may run on (its CPU affinity where the system tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def set_num_threads(n):
    """Run cnnkit's ops on ``n`` CPU threads.

    Each op splits its work (the images of a batch, the rows of a GEMM) into
    up to ``n`` spans on one pool of threads (``cnnkit.ops._parallel``). The
    BLAS runs one thread per span, so this sets the process's BLAS (NumPy's
    ``@`` outside cnnkit too) to one thread: its own threads busy-wait after
    each GEMM and would take the cores the spans need.

    Parameters
    ----------
    n : int
        At least 1; by default ``OMP_NUM_THREADS`` when it is set (as in
        PyTorch; Ray sets it for its workers), otherwise every core this
        process may run on.
    """
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        raise TypeError(f"set_num_threads: n must be an int, got {type(n).__name__} {n!r}")
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    from cnnkit.ops import _parallel

    _parallel.set_threads(int(n))


def get_num_threads():
    """The number of threads cnnkit's ops share their work over (see ``set_num_threads``)."""
    from cnnkit.ops import _parallel

    return _parallel.get_threads()


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
