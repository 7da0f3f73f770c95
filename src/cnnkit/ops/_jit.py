"""The one numba setting every compiled kernel uses (``_conv_kernels``, ``_pool_kernels``, ...).

The kernels are serial: a parallel (``prange``) kernel's fork-join threads
busy-wait, and on two cores they fought OpenBLAS's threads, which spin after
every GEMM (measured: a LeNet-5 step 2x slower on 2 threads than on 1), and
they cost 3-4x the compile time. Instead ``nogil`` lets ``_parallel`` run one
kernel on spans of a batch from several Python threads at once;
``cache=True`` compiles each signature once and keeps it next to the source.
"""
JIT = dict(cache=True, nogil=True)
