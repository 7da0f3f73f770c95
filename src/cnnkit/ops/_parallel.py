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
import ctypes
import os
import threading

from cnnkit.backend import usable_cpus, xp
from cnnkit.ops import _gemm_kernels

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
_workers = []
_lock = threading.Lock()     # guards the list of workers
_busy = threading.Lock()     # held by the one call using the workers
_inside = threading.local()


def _after_fork():
    """A forked child has none of the parent's threads: it starts its own workers, and its locks afresh."""
    global _workers, _lock, _busy
    _workers, _lock, _busy = [], threading.Lock(), threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def set_threads(n):
    """Split ops over ``n`` threads from now on (1: run them on the caller's thread only); the BLAS gets one."""
    global _threads
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


class _Worker:
    """A thread that runs one span at a time, handed over through two locks (a ThreadPoolExecutor's futures
    and queue cost 3x more per call: 40 us against 14 us measured, on calls of about 1 ms)."""

    def __init__(self):
        self._go, self._done = threading.Lock(), threading.Lock()
        self._go.acquire()
        self._done.acquire()
        self._task = self._result = None
        self.placed_off = None  # the CPU this thread was last kept off (``_place``)
        started = threading.Event()
        threading.Thread(target=self._loop, args=(started,), name="cnnkit-ops", daemon=True).start()
        started.wait()

    def _loop(self, started):
        _inside.worker = True
        self.native_id = threading.get_native_id()
        started.set()
        while True:
            self._go.acquire()
            fn, part = self._task
            try:
                self._result = (fn(*part), None)
            except BaseException as exc:  # handed to the caller, which raises it
                self._result = (None, exc)
            self._task = None
            self._done.release()

    def start(self, fn, part):
        self._task = (fn, part)
        self._go.release()

    def wait(self):
        """The span's ``(result, exception)`` once it has finished, even when a signal handler raises (Ctrl-C)
        while this thread waits: returning early would hand the worker's next span a stale release."""
        interrupted = None
        while True:
            try:
                self._done.acquire()
                break
            except BaseException as exc:  # raised by a signal handler during the wait: keep waiting
                interrupted = interrupted or exc
        if interrupted is not None:
            raise interrupted
        return self._result


def _pool(k):
    """``k`` started workers (the first call also puts the BLAS on one thread)."""
    with _lock:
        if not _workers:
            _one_blas_thread()
        while len(_workers) < k:
            _workers.append(_Worker())
        return _workers[:k]


def _sched_getcpu():
    """libc's ``sched_getcpu`` (the CPU the calling thread runs on), or None where there is none."""
    try:
        getcpu = ctypes.CDLL(None, use_errno=True).sched_getcpu
    except (OSError, AttributeError):
        return None
    getcpu.restype = ctypes.c_int
    return getcpu


_getcpu = _sched_getcpu() if hasattr(os, "sched_setaffinity") else None


def _place(workers):
    """Keep the workers off the CPU the calling thread runs on.

    After a pause (between requests or epochs, or a data loader's wait) the
    sleeping workers look idle to Linux, which wakes them on the caller's
    own CPU: caller and worker then share one core, call after call
    (measured: 2x pooling's time on 2 cores until the next pause). PyTorch's
    OpenMP threads avoid this by spinning between ops. Nothing is pinned: a
    worker may run on every CPU the process may use but the caller's, and
    is moved only when the caller has moved.
    """
    cpu = _getcpu() if _getcpu is not None else -1
    if cpu < 0:
        return
    moved = [worker for worker in workers if worker.placed_off != cpu]
    if not moved:
        return
    try:
        others = os.sched_getaffinity(0) - {cpu}
        for worker in moved:
            if others:
                os.sched_setaffinity(worker.native_id, others)
    except OSError:  # not allowed here (some containers): leave placement to the OS
        pass
    for worker in moved:
        worker.placed_off = cpu


def run(fn, parts):
    """``[fn(start, stop) for (start, stop) in parts]``, the first on this thread and the rest on the workers.

    Exceptions propagate to the caller, after every span has finished. While
    another thread's call holds the workers, this one runs its spans itself.
    """
    if len(parts) == 1 or not _busy.acquire(blocking=False):
        return [fn(*part) for part in parts]
    try:
        workers = _pool(len(parts) - 1)
        _place(workers)
        for worker, part in zip(workers, parts[1:]):
            worker.start(fn, part)
        try:
            first = fn(*parts[0])
        finally:
            results, interrupted = [], None
            for worker in workers:  # no span outlives the call, even when one fails or Ctrl-C comes
                try:
                    results.append(worker.wait())
                except BaseException as exc:
                    results.append((None, None))
                    interrupted = interrupted or exc
            if interrupted is not None:
                raise interrupted
    finally:
        _busy.release()
    for _, exc in results:
        if exc is not None:
            raise exc
    return [first] + [result for result, _ in results]


def run_sum(fn, parts):
    """The sum of ``fn(start, stop)`` over ``parts``, run as ``run`` does: each span returns its partial sum
    (an array, such as its images' weight gradient), added in place into the first span's, in span order.
    None when the spans return None."""
    partial = run(fn, parts)
    total = partial[0]
    if total is not None:
        for part in partial[1:]:
            total += part
    return total


# Products with at most this many output columns, or as short an inner dimension, are computed transposed.
THIN_COLUMNS = 16


def matmul(a, b, out):
    """``out = a @ b`` on this thread: by the compiled GEMM where ``_gemm_kernels.fits`` (a conv layer's
    products), otherwise by OpenBLAS (``blas_matmul``)."""
    if _gemm_kernels.fits(a, b, out):
        return _gemm_kernels.gemm(a, b, out)
    return blas_matmul(a, b, out)


def blas_matmul(a, b, out):
    """``out = a @ b`` by OpenBLAS on this thread. With few output columns or a short inner dimension (a layer
    of 16 or fewer channels) OpenBLAS is 1.1-1.7x faster at the transposed product ``out.T = b.T @ a.T``
    (measured on LeNet's shapes)."""
    if min(b.shape) <= THIN_COLUMNS:
        xp.matmul(b.T, a.T, out=out.T)
    else:
        xp.matmul(a, b, out=out)
    return out


def matmul_tn(a, b):
    """``a.T @ b`` on this thread, transposed as in ``matmul`` when ``b`` has few columns (a C-ordered result)."""
    if b.shape[1] <= THIN_COLUMNS:
        return xp.ascontiguousarray((b.T @ a).T)
    return a.T @ b


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
        run(lambda i, j: matmul(a[i:j], b, out[i:j]), parts)
        return out
    parts = spans(N, M * K, MIN_SPAN_MACS)
    if len(parts) > 1:
        def columns(i, j):
            out[:, i:j] = a @ b[:, i:j]
        run(columns, parts)
    else:
        matmul(a, b, out)
    return out


def gemm_tn(a, b, out=None):
    """``a.T @ b`` of matrices (M, K) and (M, N), the shared M split over the threads and the partial
    products summed (a weight gradient: a sum over every pixel or sample)."""
    M, K = a.shape
    N = b.shape[1]
    total = run_sum(lambda i, j: matmul_tn(a[i:j], b[i:j]), spans(M, K * N, MIN_SPAN_MACS))
    if out is None:
        return total
    out[...] = total
    return out
