"""conv2d, max_pool2d and avg_pool2d against torch.nn.functional: outputs and gradients, float32 and float64.

Layouts are transposed at the boundary: NHWC <-> NCHW for images, HWIO <-> OIHW for kernels.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
TF = torch.nn.functional

import cnnkit.functional as F  # noqa: E402
from cnnkit import Tensor  # noqa: E402
from cnnkit.ops.conv import _resolve_padding  # noqa: E402

TOLERANCE = {np.float32: 1e-4, np.float64: 1e-10}


def to_nchw(a):
    return torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2))).requires_grad_()


def from_nchw(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


def assert_close(ours, ref, dtype):
    rtol = TOLERANCE[dtype]
    np.testing.assert_allclose(ours, ref, rtol=rtol, atol=rtol * 0.1 * np.abs(ref).max())


# (N, H, W, C_in, C_out, (KH, KW), stride, padding): every path (im2col in both layouts, shift-GEMM, 1x1)
CONVS = [
    (2, 9, 8, 1, 4, (5, 5), 1, 2),
    (3, 10, 9, 6, 5, (3, 2), 1, "same"),
    (2, 11, 10, 3, 8, (4, 4), 2, "same"),
    (2, 9, 9, 40, 6, (3, 3), 1, 1),
    (2, 8, 7, 33, 5, (2, 3), 1, "same"),
    (2, 7, 7, 12, 16, (3, 3), 2, (1, 0)),
    (2, 6, 5, 35, 7, (1, 1), 1, 0),
    (2, 7, 6, 9, 4, (1, 1), 2, "valid"),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("N,H,W,C,CO,kernel,stride,padding", CONVS)
def test_conv2d_output_and_gradients_equal_torch(N, H, W, C, CO, kernel, stride, padding, dtype):
    rng = np.random.default_rng(1)
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in ((N, H, W, C), (*kernel, C, CO), (CO,)))
    xt, wt, bt = (Tensor(a, requires_grad=True) for a in (x, w, b))
    out = F.conv2d(xt, wt, bt, stride=stride, padding=padding)
    g = rng.standard_normal(out.shape).astype(dtype)
    out.backward(g)

    (top, bottom), (left, right) = _resolve_padding(padding, H, W, *kernel, stride, stride)
    rx, rw, rb = to_nchw(x), torch.from_numpy(w.transpose(3, 2, 0, 1).copy()).requires_grad_(), \
        torch.from_numpy(b).requires_grad_()
    ref = TF.conv2d(TF.pad(rx, (left, right, top, bottom)), rw, rb, stride=stride)
    ref.backward(torch.from_numpy(np.ascontiguousarray(g.transpose(0, 3, 1, 2))))

    assert_close(out.numpy(), from_nchw(ref), dtype)
    assert_close(xt.grad, from_nchw(rx.grad), dtype)
    assert_close(wt.grad, rw.grad.numpy().transpose(2, 3, 1, 0), dtype)
    assert_close(bt.grad, rb.grad.numpy(), dtype)


# (N, H, W, C, size, stride, padding)
POOLS = [
    (2, 8, 8, 3, 2, None, 0),
    (2, 9, 7, 4, 3, 2, 1),
    (2, 7, 9, 2, (3, 2), (1, 2), (1, 1)),
    (3, 6, 6, 5, 2, 1, 0),
    (2, 11, 11, 3, 3, 3, 0),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("N,H,W,C,size,stride,padding", POOLS)
def test_pooling_output_and_gradient_equal_torch(N, H, W, C, size, stride, padding, kind, dtype):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((N, H, W, C)).astype(dtype)
    if kind == "max":
        x = np.round(x, 1)  # ties, to check that both route the gradient to the same element
    ours_fn, ref_fn = (F.max_pool2d, TF.max_pool2d) if kind == "max" else (F.avg_pool2d, TF.avg_pool2d)
    xt = Tensor(x, requires_grad=True)
    out = ours_fn(xt, size, stride, padding)
    g = rng.standard_normal(out.shape).astype(dtype)
    out.backward(g)

    rx = to_nchw(x)
    ref = ref_fn(rx, size, size if stride is None else stride, padding)
    ref.backward(torch.from_numpy(np.ascontiguousarray(g.transpose(0, 3, 1, 2))))

    assert_close(out.numpy(), from_nchw(ref), dtype)
    assert_close(xt.grad, from_nchw(rx.grad), dtype)
