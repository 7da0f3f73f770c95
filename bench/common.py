"""What every bench script shares: the same threads for both libraries, side-by-side timing, the machine's state.

The machine is shared and noisy, so a figure is a ratio of cnnkit to PyTorch
measured in the same run, both timed in turn (round-robin) so they see the
same load, each the median of several rounds after a warm-up.

Whole workloads run each library in a process of its own (``Worker``), driven
in turn by the parent: both libraries' threads wait for work by spinning a
while after each op (PyTorch's OpenMP threads, a BLAS's threads), and in one
process those spinning threads take the cores the other library's timing needs.
"""
import os
import subprocess
import sys
import time

import numpy as np


def set_cnnkit_threads(n):
    """Run cnnkit's ops on ``n`` threads."""
    try:
        from cnnkit.backend import set_num_threads
    except ImportError:  # a cnnkit from before set_num_threads (to measure the version before a change)
        from threadpoolctl import threadpool_limits as set_num_threads
    set_num_threads(n)


def set_threads(n):
    """Give PyTorch and cnnkit ``n`` threads each; returns n."""
    import torch

    torch.set_num_threads(n)
    set_cnnkit_threads(n)
    return n


def side_by_side(fns, rounds, warmup=1):
    """Median seconds of each of ``fns`` over ``rounds`` round-robin rounds (after ``warmup`` calls each).

    Returns
    -------
    medians : list of float
    ratios : ndarray
        Per round, the time of ``fns[0]`` over that of ``fns[1]``: their median is the
        ratio least disturbed by load that changes between rounds.
    """
    for fn in fns:
        for _ in range(warmup):
            fn()
    times = np.zeros((rounds, len(fns)))
    for r in range(rounds):
        for k, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            times[r, k] = time.perf_counter() - t0
    ratios = times[:, 0] / times[:, 1] if len(fns) > 1 else np.ones(rounds)
    return [float(np.median(times[:, k])) for k in range(len(fns))], ratios


def gemm_peak(repeat=5):
    """float32 GFLOP/s of a 2048 x 2048 NumPy matmul (the BLAS ceiling of this run)."""
    a = np.random.default_rng(0).standard_normal((2048, 2048)).astype(np.float32)
    (t,), _ = side_by_side([lambda: a @ a], repeat)
    return 2 * 2048**3 / t / 1e9


def machine(threads):
    """One line: threads, load average (the machine is shared) and the GEMM ceiling now, on ``threads`` BLAS threads."""
    import torch
    from threadpoolctl import threadpool_limits

    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    with threadpool_limits(threads, user_api="blas"):  # cnnkit keeps the BLAS on one thread (cnnkit.ops._parallel)
        peak = gemm_peak()
    return (f"threads {threads} (cnnkit and torch {torch.__version__}); load average {load} on {os.cpu_count()} cores; "
            f"float32 GEMM 2048^3 {peak:.0f} GFLOP/s")


class Worker:
    """A workload of one library in a child process, run a part at a time on command.

    The child is ``python SCRIPT --child ...``, which calls ``serve``.
    ``worker(*args)`` sends one command and returns the child's answer:
    the seconds it took and what else it printed (a loss, say).
    """

    def __init__(self, script, *args):
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(script), "--child", *map(str, args)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.ready = self.proc.stdout.readline().strip()  # the child's first line: it has built its workload
        if not self.ready:
            raise SystemExit(f"{script}: the child {args} failed to start")

    def __call__(self, *args):
        self.proc.stdin.write(" ".join(map(str, args)) + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().split()
        if not answer:
            raise SystemExit(f"the child {self.proc.args[2:]} stopped (exit status {self.proc.wait()})")
        return float(answer[0]), answer[1:]

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def serve(run, ready="ready"):
    """The child's side of ``Worker``: for each command line, time ``run(*words)`` and print the seconds and its result."""
    print(ready, flush=True)
    for line in sys.stdin:
        t0 = time.perf_counter()
        result = run(*line.split())
        print(f"{time.perf_counter() - t0:.6f} {'' if result is None else result}", flush=True)


def workers_side_by_side(workers, rounds, *command, warmup=1):
    """Like ``side_by_side`` for ``Worker`` processes, each sent ``command`` in turn and timed by itself."""
    for worker in workers:
        for _ in range(warmup):
            worker(*command)
    times = np.array([[worker(*command)[0] for worker in workers] for _ in range(rounds)])
    ratios = times[:, 0] / times[:, 1] if len(workers) > 1 else np.ones(rounds)
    return [float(np.median(times[:, k])) for k in range(len(workers))], ratios
