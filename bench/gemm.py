"""The compiled GEMM (``cnnkit.ops._gemm_kernels``) against OpenBLAS, one thread each, side by side.

For each (rows M, depth K, columns N) of a grid of conv-layer products it
prints the ratio of the compiled GEMM's time to OpenBLAS's as cnnkit calls it
(``_parallel.blas_matmul``; below 1: the compiled one is faster), each the median over blocks that alternate the
two, and marks with ``*`` the shapes where ``_parallel.matmul`` picks the
compiled one (``_gemm_kernels.fits``). ``--strided`` passes ``b`` transposed
(a transposed weight, packed element by element).

    python bench/gemm.py [--dtype float32] [--rows 96,784,3136] [--strided]
"""
import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from cnnkit.ops import _gemm_kernels, _parallel

DEPTHS = (16, 32, 64, 128, 150, 256, 576, 1152, 2304)
COLUMNS = (16, 32, 64, 128, 256, 512)


def block_ms(fn, repeat):
    """Median ms of ``repeat`` calls of ``fn``."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def ratio(a, b, out, blocks=3):
    """Median over ``blocks`` of the compiled GEMM's block median over OpenBLAS's."""
    repeat = max(3, min(200, int(3e7 / a.size / out.shape[1])))
    ours = lambda: _gemm_kernels.gemm(a, b, out)  # noqa: E731
    blas = lambda: _parallel.blas_matmul(a, b, out)  # noqa: E731
    ours(), blas()
    return float(np.median([block_ms(ours, repeat) / block_ms(blas, repeat) for _ in range(blocks)]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--rows", default="96,784,3136", help="rows of a, comma-separated")
    parser.add_argument("--strided", action="store_true", help="b transposed (rows not contiguous)")
    args = parser.parse_args()
    dtype = np.dtype(args.dtype)
    rng = np.random.default_rng(0)
    threadpool_limits(1, user_api="blas")
    print(f"compiled GEMM time / OpenBLAS's, 1 thread, {dtype}{', b transposed' if args.strided else ''};"
          " * where _parallel.matmul uses the compiled one")
    print("   M     N  " + "".join(f"K={k:<7}" for k in DEPTHS))
    for M in (int(m) for m in args.rows.split(",")):
        for N in COLUMNS:
            cells = []
            for K in DEPTHS:
                a = rng.standard_normal((M, K)).astype(dtype)
                b = rng.standard_normal((K, N)).astype(dtype)
                if args.strided:
                    b = np.asfortranarray(b)
                out = np.empty((M, N), dtype=dtype)
                mark = "*" if _gemm_kernels.fits(a, b, out) else " "
                cells.append(f"{ratio(a, b, out):5.2f}{mark}  ")
            print(f"{M:5d} {N:5d}  " + "".join(cells))


if __name__ == "__main__":
    main()
