"""Milliseconds per face-search query over 1,000,000 synthetic 128-d descriptors: FaceIndex vs PyTorch, one run.

``cnnkit.face.FaceIndex`` (exact: |x|^2 - 2 x.q block by block with BLAS, then a
partial sort) against the same exact search in PyTorch (``mm`` + ``topk``) on the
same float32 matrix, both given the same threads. One query at a time (what
``cnnkit face search`` does) and batches of 64 (per query). Descriptors are
drawn like dlib's: 128 values of about N(0, 0.09) each, so faces lie ~0.6-1.2 apart.

    python bench/face_search.py [--n 1000000] [--queries 30] [--k 5]
"""
import argparse
import statistics
import time

import numpy as np

from cnnkit.face.index import FaceIndex


def median_ms(fn, repeats):
    """Median wall time of ``fn()`` in milliseconds, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


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
    _, found = index.search(queries, k=1)
    rows = [("cnnkit FaceIndex", ours_one, ours_batch)]
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
    print(f"{'method':<20} {'1 query (ms)':>13} {'per query in 64 (ms)':>21}")
    for name, one, batch in rows:
        print(f"{name:<20} {one:13.1f} {batch:21.2f}")
    if len(rows) == 2:
        print(f"ratio cnnkit / PyTorch: {rows[0][1] / rows[1][1]:.2f} (1 query), {rows[0][2] / rows[1][2]:.2f} (64)")


if __name__ == "__main__":
    main()
