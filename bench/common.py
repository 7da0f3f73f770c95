"""What every bench script shares: the same threads for both libraries, side-by-side timing, the machine's state.

The machine is shared and noisy, so a figure is a ratio of cnnkit to PyTorch
measured in the same run, both timed in turn (round-robin) so they see the
same load, each the median of several rounds after a warm-up.
"""
import os
import time

import numpy as np


def set_cnnkit_threads(n):
    """Give cnnkit's BLAS ``n`` threads (its compiled kernels are serial)."""
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
    """One line: threads, load average (the machine is shared) and the GEMM ceiling now."""
    import torch

    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return (f"threads {threads} (cnnkit and torch {torch.__version__}); load average {load} on {os.cpu_count()} cores; "
            f"float32 GEMM 2048^3 {gemm_peak():.0f} GFLOP/s")
