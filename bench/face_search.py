"""Milliseconds per face-search query over 1,000,000 synthetic 128-d descriptors: FaceIndex vs PyTorch, one run.

``cnnkit.face.index.FaceIndex`` (exact: |x|^2 - 2 q.x block by block with BLAS,
then a partial sort) with the BLAS library's threads and with one, against the
same exact search in PyTorch (``mm`` + ``topk``, its default threads) on the same
float32 values. One query at a time (what
``cnnkit face search`` does) and batches of 64 (per query). Descriptors are
drawn like dlib's: 128 values of about N(0, 0.09) each, so faces lie ~0.6-1.2 apart.

    python bench/face_search.py [--n 1000000] [--queries 30] [--k 5]
"""
import argparse
import os
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

from cnnkit.face.index import FaceIndex


def median_ms(fn, repeats):
    """Median wall and CPU (this process's) times of ``fn()`` in milliseconds, after one warm-up call.

    On one thread the CPU time is what the call takes on an otherwise idle core
    (memory stalls count as CPU time), however busy the machine is.
    """
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return np.array([1000 * statistics.median(wall), 1000 * statistics.median(cpu)])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=30, help="timed single queries (default 30)")
    parser.add_argument("--k", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    descriptors = (rng.standard_normal((args.n, 128), dtype=np.float32) * 0.09)
    queries = descriptors[rng.integers(0, args.n, 64)] + rng.standard_normal((64, 128), dtype=np.float32) * 0.01
    start = time.perf_counter()
    index = FaceIndex(descriptors)
    print(f"{args.n:,} descriptors, {descriptors.nbytes / 2**20:.0f} MiB; index built in "
          f"{time.perf_counter() - start:.2f} s")
    it = iter(range(10**9))
    ours_one = median_ms(lambda: index.search(queries[next(it) % 64], k=args.k), args.queries)
    ours_batch = median_ms(lambda: index.search(queries, k=args.k), 3) / len(queries)
    with threadpool_limits(1):
        single_one = median_ms(lambda: index.search(queries[next(it) % 64], k=args.k), args.queries)
        single_batch = median_ms(lambda: index.search(queries, k=args.k), 3) / len(queries)
    _, found = index.search(queries, k=1)
    rows = [("cnnkit FaceIndex", ours_one, ours_batch), ("  ... BLAS held to 1 thread", single_one, single_batch)]
    try:
        import torch
        torch.set_num_threads(max(1, torch.get_num_threads()))
        stored = torch.from_numpy(descriptors)
        norms = (stored * stored).sum(1)

        def torch_search(q):
            q = torch.from_numpy(np.atleast_2d(q))
            return torch.topk(norms[None] - 2 * (q @ stored.T), args.k, largest=False)

        theirs_one = median_ms(lambda: torch_search(queries[next(it) % 64]), args.queries)
        theirs_batch = median_ms(lambda: torch_search(queries), 3) / len(queries)
        assert (torch_search(queries).indices[:, 0].numpy() == found[:, 0]).all()
        rows.append(("PyTorch mm + topk", theirs_one, theirs_batch))
    except ImportError:
        print("(PyTorch is not installed: no reference row)")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; milliseconds, wall (CPU of this process)")
    print(f"{'method':<28} {'1 query':>16} {'per query in 64':>18}")
    for name, one, batch in rows:
        print(f"{name:<28} {one[0]:8.1f} ({one[1]:5.1f}) {batch[0]:9.2f} ({batch[1]:5.2f})")
    if len(rows) == 3:
        print(f"ratio cnnkit / PyTorch (wall): {rows[0][1][0] / rows[2][1][0]:.2f} (1 query), "
              f"{rows[0][2][0] / rows[2][2][0]:.2f} (64)")


if __name__ == "__main__":
    main()
