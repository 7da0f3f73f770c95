"""The compiled GEMM (``ops._gemm_kernels``) against NumPy's, and when ``_parallel.matmul`` uses it."""
import numpy as np
import pytest

from cnnkit.ops import _gemm_kernels, _parallel

def _reference(a, b):
    return a.astype(np.float64) @ b.astype(np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("M, K, N", [
    (6272, 256, 64),   # ResNet-50's 1x1 layer
    (1, 3, 16),        # one row: only the single-row path
    (13, 300, 32),     # rows left over after the blocks of 6, and a depth past one packed panel
    (12, 513, 48),     # three panels, the last one row deep
    (6, 1, 64),
    (7, 1000, 16),
])
def test_gemm_equals_numpys_matmul(dtype, M, K, N):
    rng = np.random.default_rng(M + K + N)
    a = rng.standard_normal((M, K)).astype(dtype)
    b = rng.standard_normal((K, N)).astype(dtype)
    out = np.full((M, N), np.nan, dtype=dtype)
    assert _gemm_kernels.fits(a, b, out) == (N <= 64 or K <= 128)
    _gemm_kernels.gemm(a, b, out)
    ref = _reference(a, b)
    # rounding of K products summed in the dtype; one term left out or counted twice is ~1
    assert np.abs(out - ref).max() <= 4 * np.sqrt(K) * np.finfo(dtype).eps * np.abs(ref).max()


@pytest.mark.parametrize("layout", ["transposed", "strided"])
def test_gemm_reads_b_of_any_strides(layout):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((20, 40)).astype(np.float32)
    base = rng.standard_normal((96, 80)).astype(np.float32)
    b = base[:40, :32].T.copy().T if layout == "transposed" else base[:80:2, ::2][:, :32]
    assert not b.flags.c_contiguous
    out = np.empty((20, 32), dtype=np.float32)
    _gemm_kernels.gemm(a, b, out)
    np.testing.assert_allclose(out, _reference(a, b), rtol=0, atol=1e-4)


def test_gemm_of_an_empty_inner_dimension_is_zero():
    out = np.full((7, 16), np.nan, dtype=np.float32)
    _gemm_kernels.gemm(np.empty((7, 0), np.float32), np.empty((0, 16), np.float32), out)
    assert (out == 0).all()


def test_gemm_propagates_nan_and_inf_like_blas():
    a = np.ones((8, 4), dtype=np.float32)
    a[2, 1], a[5, 3] = np.nan, np.inf
    b = np.ones((4, 16), dtype=np.float32)
    out = np.empty((8, 16), dtype=np.float32)
    _gemm_kernels.gemm(a, b, out)
    np.testing.assert_array_equal(out, a @ b)


@pytest.mark.parametrize("a, b, out, why", [
    (np.ones((6, 8), np.float32), np.ones((8, 20), np.float32), np.empty((6, 20), np.float32), "20 columns"),
    (np.ones((6, 8), np.float32), np.ones((8, 12), np.float64), np.empty((6, 12), np.float64), "mixed dtypes"),
    (np.ones((6, 8), np.int32), np.ones((8, 16), np.int32), np.empty((6, 16), np.int32), "integers"),
    (np.ones((6, 16), np.float32)[:, :8], np.ones((8, 16), np.float32), np.empty((6, 16), np.float32),
     "a's rows not contiguous"),
    (np.ones((6, 8), np.float32), np.ones((8, 16), np.float32), np.empty((6, 32), np.float32)[:, :16],
     "out's rows not contiguous"),
    (np.ones((6, 512), np.float32), np.ones((512, 128), np.float32), np.empty((6, 128), np.float32),
     "deep and wide: OpenBLAS is faster"),
])
def test_gemm_is_not_used_where_it_does_not_apply(a, b, out, why):
    assert not _gemm_kernels.fits(a, b, out), why
    _parallel.matmul(a, b, out)  # OpenBLAS then
    np.testing.assert_allclose(out, _reference(a, b), rtol=1e-6)


def test_parallel_matmul_uses_the_compiled_gemm_where_it_fits(monkeypatch):
    calls = []
    monkeypatch.setattr(_gemm_kernels, "gemm", lambda a, b, out: calls.append(a.shape))
    out = np.empty((10, 64), np.float32)
    _parallel.matmul(np.ones((10, 256), np.float32), np.ones((256, 64), np.float32), out)
    _parallel.matmul(np.ones((10, 256), np.float32), np.ones((256, 60), np.float32), np.empty((10, 60), np.float32))
    assert calls == [(10, 256)]


@pytest.mark.parametrize("M, N", [(0, 16), (5, 0)])
def test_gemm_of_no_rows_or_no_columns_writes_nothing(M, N):
    out = np.empty((M, N), np.float32)
    _gemm_kernels.gemm(np.ones((M, 8), np.float32), np.ones((8, N), np.float32), out)
    assert out.shape == (M, N)
