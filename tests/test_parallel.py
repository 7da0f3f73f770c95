"""The thread pool that splits ops (cnnkit.ops._parallel): spans, errors, GEMMs, and every split op's gradients."""
import multiprocessing
import signal
import threading
import time

import numpy as np
import pytest

import cnnkit.functional as F
from cnnkit import Tensor, gradcheck
from cnnkit.backend import get_num_threads, set_num_threads
from cnnkit.ops import _parallel

rng = np.random.default_rng(0)


@pytest.fixture
def split(monkeypatch):
    """Split every op over 3 threads, however small its work."""
    monkeypatch.setattr(_parallel, "_threads", 3)
    monkeypatch.setattr(_parallel, "MIN_SPAN_ELEMENTS", 1)
    monkeypatch.setattr(_parallel, "MIN_SPAN_MACS", 1)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 100])
def test_spans_cover_the_range_in_order_one_per_thread(split, n):
    parts = _parallel.spans(n, 1)
    assert len(parts) == min(3, n)
    assert parts[0][0] == 0 and parts[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
    assert all(stop > start for start, stop in parts)


def test_spans_are_not_split_below_the_least_work(monkeypatch):
    monkeypatch.setattr(_parallel, "_threads", 2)
    assert len(_parallel.spans(100, 10, min_elements=1000)) == 1
    assert len(_parallel.spans(100, 10, min_elements=500)) == 2


def test_a_span_running_on_the_pool_is_not_split_again(split):
    inner = _parallel.run(lambda a, b: len(_parallel.spans(10, 1)), [(0, 1), (1, 2)])
    assert inner == [3, 1]  # the caller's own span may split; the pool's may not (it would wait on itself)


def test_run_raises_the_error_of_a_span_after_every_span_has_finished(split):
    finished = []

    def work(a, b):
        if a == 1:
            raise ValueError("span 1 failed")
        threading.Event().wait(0.05)
        finished.append(a)

    with pytest.raises(ValueError, match="span 1 failed"):
        _parallel.run(work, [(0, 1), (1, 2), (2, 3)])
    assert sorted(finished) == [0, 2]


def test_ops_called_from_several_threads_at_once_give_each_its_own_answer(split):
    xs = [rng.standard_normal((6, 8, 8, 3)) for _ in range(4)]
    expected = [F.max_pool2d(x, 2).data for x in xs]
    answers = [None] * len(xs)

    def pool(k):
        for _ in range(20):  # while another thread holds the workers, a call runs its spans itself
            answers[k] = F.max_pool2d(xs[k], 2).data

    threads = [threading.Thread(target=pool, args=(k,)) for k in range(len(xs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for answer, reference in zip(answers, expected):
        np.testing.assert_array_equal(answer, reference)


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs pthread_kill")
def test_ctrl_c_during_a_split_call_waits_for_every_span_before_it_propagates(split):
    finished = []

    def work(a, b):
        if a:
            time.sleep(0.4)  # a worker's span still running when Ctrl-C comes
            finished.append(a)
        return a

    main = threading.main_thread()
    timer = threading.Timer(0.1, lambda: signal.pthread_kill(main.ident, signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        _parallel.run(work, [(0, 1), (1, 2), (2, 3)])
    assert sorted(finished) == [1, 2]  # both workers' spans ended before the call returned
    assert _parallel.run(lambda a, b: a * 10, [(0, 1), (1, 2), (2, 3)]) == [0, 10, 20]  # and the pool still works


@pytest.mark.parametrize("shape", [(50, 7, 9), (2, 30, 40)])  # many rows: rows split; few: columns split
def test_gemm_equals_matmul(split, shape):
    M, K, N = shape
    a, b = rng.standard_normal((M, K)), rng.standard_normal((K, N))
    np.testing.assert_allclose(_parallel.gemm(a, b), a @ b, rtol=1e-12, atol=1e-12)
    out = np.empty((M, N))
    assert _parallel.gemm(a, b, out=out) is out
    np.testing.assert_allclose(out, a @ b, rtol=1e-12, atol=1e-12)


def test_gemm_tn_sums_the_spans_partial_products(split):
    a, b = rng.standard_normal((50, 7)), rng.standard_normal((50, 4))
    np.testing.assert_allclose(_parallel.gemm_tn(a, b), a.T @ b, rtol=1e-12, atol=1e-12)


def test_split_pooling_relu_and_linear_have_correct_gradients(split):
    x = rng.standard_normal((4, 7, 6, 3))
    assert gradcheck(lambda x: F.max_pool2d(x, 3, stride=2, padding=1), [x])
    assert gradcheck(lambda x: F.avg_pool2d(x, 2), [x])
    assert gradcheck(lambda x: F.relu(x), [x])
    assert gradcheck(lambda x, w, b: F.linear(x, w, b), [rng.standard_normal((5, 3, 4)), rng.standard_normal((4, 6)),
                                                          rng.standard_normal(6)])


@pytest.mark.parametrize("c_in", [1, 8, 40])  # the direct, im2col and shift-GEMM paths
def test_split_convolution_agrees_with_one_thread(monkeypatch, c_in):
    x, w, b = rng.standard_normal((5, 9, 8, c_in)), rng.standard_normal((3, 3, c_in, 4)), rng.standard_normal(4)
    g = rng.standard_normal((5, 9, 8, 4))

    def run():
        xs, ws, bs = (Tensor(a, requires_grad=True) for a in (x, w, b))
        out = F.conv2d(xs, ws, bs, padding=1)
        out.backward(g)
        return [out.data, xs.grad, ws.grad, bs.grad]

    monkeypatch.setattr(_parallel, "_threads", 1)
    serial = run()
    monkeypatch.setattr(_parallel, "_threads", 3)
    monkeypatch.setattr(_parallel, "MIN_SPAN_ELEMENTS", 1)
    monkeypatch.setattr(_parallel, "MIN_SPAN_MACS", 1)
    for ours, reference in zip(run(), serial):
        np.testing.assert_allclose(ours, reference, rtol=1e-12, atol=1e-12)


def test_set_num_threads_sets_the_pool_and_keeps_the_blas_on_one_thread():
    from threadpoolctl import threadpool_info

    before = get_num_threads()
    try:
        set_num_threads(3)
        assert get_num_threads() == 3 and _parallel.get_threads() == 3
        assert all(pool["num_threads"] == 1 for pool in threadpool_info() if pool["user_api"] == "blas")
    finally:
        set_num_threads(before)


@pytest.mark.parametrize("value,expected", [("3", 3), ("0", None), ("many", None), ("", None)])
def test_the_default_threads_follow_omp_num_threads(monkeypatch, value, expected):
    from cnnkit.backend import usable_cpus

    monkeypatch.setenv("OMP_NUM_THREADS", value)
    assert _parallel._default_threads() == (expected or usable_cpus())


def _child_pools(queue):
    x = np.arange(4 * 6 * 6 * 2, dtype=np.float32).reshape(4, 6, 6, 2)
    queue.put(F.max_pool2d(x, 2).data.sum())


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork on this platform")
def test_a_forked_child_makes_its_own_pool(split):
    x = np.arange(4 * 6 * 6 * 2, dtype=np.float32).reshape(4, 6, 6, 2)
    expected = F.max_pool2d(x, 2).data.sum()  # the parent's pool exists now
    queue = multiprocessing.get_context("fork").Queue()
    child = multiprocessing.get_context("fork").Process(target=_child_pools, args=(queue,))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert queue.get(timeout=5) == expected


@pytest.mark.skipif(not hasattr(_parallel.os, "sched_setaffinity") or len(_parallel.os.sched_getaffinity(0)) < 2,
                    reason="needs Linux thread affinity and two CPUs")
def test_workers_are_kept_off_the_callers_cpu_and_follow_it(split, monkeypatch):
    """Linux wakes an idle worker on its waker's CPU; the pool keeps each worker off the caller's current CPU."""
    allowed = _parallel.os.sched_getaffinity(0)
    first, second = sorted(allowed)[:2]
    workers = _parallel._pool(2)
    try:
        for cpu in (first, second, first):
            monkeypatch.setattr(_parallel, "_getcpu", lambda: cpu)
            assert _parallel.run(lambda a, b: b - a, [(0, 1), (1, 3), (3, 6)]) == [1, 2, 3]
            for worker in workers:
                assert _parallel.os.sched_getaffinity(worker.native_id) == allowed - {cpu}
    finally:
        for worker in workers:
            _parallel.os.sched_setaffinity(worker.native_id, allowed)
            worker.placed_off = None


def test_run_sum_adds_the_spans_partial_sums_and_passes_none_through(split):
    parts = _parallel.spans(10, 1)
    assert len(parts) == 3
    total = _parallel.run_sum(lambda a, b: np.arange(a, b, dtype=np.float64).sum(keepdims=True), parts)
    np.testing.assert_array_equal(total, [45.0])
    assert _parallel.run_sum(lambda a, b: None, parts) is None
