"""The one numba setting every compiled kernel uses (``_conv_kernels``, ``_pool_kernels``, ...).

The kernels are serial: a parallel (``prange``) kernel's fork-join threads
busy-wait, and on two cores they fought OpenBLAS's threads, which spin after
every GEMM (measured: a LeNet-5 step 2x slower on 2 threads than on 1), and
they cost 3-4x the compile time. The threads go to the BLAS, which does most of
the arithmetic. ``nogil`` lets callers run kernels from several Python threads;
``cache=True`` compiles each signature once and keeps it next to the source.
"""
JIT = dict(cache=True, nogil=True)
