"""Every core for cnnkit's ops: each call's work split into spans run on one small pool of threads.

The compiled kernels release the GIL (``_jit``'s ``nogil``) and so do NumPy's
GEMMs, so Python threads run them at once. The pool's threads sleep on a lock
between calls. The BLAS runs one thread per span: OpenBLAS's own threads
busy-wait for a while after every GEMM, and on two cores they took the core a
span needed (measured: a LeNet-5 step no faster on 2 threads than on 1), as
numba's parallel threads did (see ``_jit``). So the first split call sets the
process's BLAS to one thread. ``cnnkit.backend.set_num_threads`` sets how many
threads share a call (the caller's thread is one of them).
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from cnnkit.backend import usable_cpus, xp

# Below this many elements per span, handing work to a thread costs more than it saves (about 20 us).
MIN_SPAN_ELEMENTS = 1 << 14
# The same for GEMMs, in multiply-adds (M * K * N) per span.
MIN_SPAN_MACS = 1 << 20


def _default_threads():
    """``OMP_NUM_THREADS`` when set to a positive integer (as PyTorch reads it; Ray sets it to each worker's
    CPUs), otherwise every core this process may use."""
    try:
        n = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        n = 0
    return n if n > 0 else usable_cpus()


_threads = _default_threads()
_pool, _pool_pid = None, None
_lock = threading.Lock()
_inside = threading.local()


def set_threads(n):
    """Split ops over ``n`` threads from now on (1: run them on the caller's thread only); the BLAS gets one."""
    global _threads, _pool
    with _lock:
        if n != _threads and _pool is not None:
            _pool.shutdown(wait=False)
            _pool = None
        _threads = int(n)
    _one_blas_thread()


def _one_blas_thread():
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")


def get_threads():
    """How many threads share each kernel call."""
    return _threads


def spans(n, item_elements, min_elements=None):
    """Contiguous ``(start, stop)`` spans of ``range(n)``, at most one per thread and none below ``min_elements``.

    Parameters
    ----------
    n : int
        Items to share out (images of a batch, rows, elements).
    item_elements : int
        Elements an item touches, which sets how many spans are worth a thread.
    min_elements : int, optional
        Least elements per span (``MIN_SPAN_ELEMENTS`` by default).
    """
    least = MIN_SPAN_ELEMENTS if min_elements is None else min_elements
    k = max(1, min(_threads, n, (n * item_elements) // max(1, least)))
    if getattr(_inside, "worker", False):
        k = 1  # a span already running on the pool never waits for the pool
    return [(i * n // k, (i + 1) * n // k) for i in range(k)]


def _executor():
    global _pool, _pool_pid
    with _lock:
        # a forked child inherits the pool object but not its threads
        if _pool is None or _pool_pid != os.getpid():
            _one_blas_thread()
            _pool = ThreadPoolExecutor(max_workers=max(1, _threads - 1), thread_name_prefix="cnnkit",
                                       initializer=_mark_worker)
            _pool_pid = os.getpid()
        return _pool


def _mark_worker():
    _inside.worker = True


def run(fn, parts):
    """``[fn(start, stop) for (start, stop) in parts]``, the first on this thread and the rest on the pool.

    Exceptions propagate to the caller, after every span has finished.
    """
    if len(parts) == 1:
        return [fn(*parts[0])]
    futures = [_executor().submit(fn, *part) for part in parts[1:]]
    try:
        first = fn(*parts[0])
    finally:
        for future in futures:
            future.exception()  # waits: no span outlives the call, even when one fails
    return [first] + [future.result() for future in futures]


def gemm(a, b, out=None):
    """``a @ b`` of matrices (M, K) and (K, N): rows of ``a`` split over the threads, or columns of ``b`` when
    ``a`` has too few rows. Every output element is summed in the order of one whole GEMM.
    """
    M, K = a.shape
    N = b.shape[1]
    if out is None:
        out = xp.empty((M, N), dtype=xp.result_type(a.dtype, b.dtype))
    parts = spans(M, K * N, MIN_SPAN_MACS)
    if len(parts) > 1:
        run(lambda i, j: xp.matmul(a[i:j], b, out=out[i:j]), parts)
        return out
    parts = spans(N, M * K, MIN_SPAN_MACS)
    if len(parts) > 1:
        def columns(i, j):
            out[:, i:j] = a @ b[:, i:j]
        run(columns, parts)
    else:
        xp.matmul(a, b, out=out)
    return out


def gemm_tn(a, b, out=None):
    """``a.T @ b`` of matrices (M, K) and (M, N), the shared M split over the threads and the partial
    products summed (a weight gradient: a sum over every pixel or sample)."""
    M, K = a.shape
    N = b.shape[1]
    parts = spans(M, K * N, MIN_SPAN_MACS)
    if len(parts) == 1:
        return xp.matmul(a.T, b, out=out)
    partial = run(lambda i, j: a[i:j].T @ b[i:j], parts)
    if out is None:
        out = partial[0]
    else:
        out[...] = partial[0]
    for p in partial[1:]:
        out += p
    return out
