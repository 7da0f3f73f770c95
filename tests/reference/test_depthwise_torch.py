"""depthwise_conv2d against torch.nn.functional.conv2d(groups=C): outputs and gradients, float32 and float64.

Layouts are transposed at the boundary: NHWC <-> NCHW for images; our (KH, KW, C, M) kernel is
PyTorch's (C * M, 1, KH, KW) grouped kernel, output channel c * M + m in both.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
TF = torch.nn.functional

import cnnkit.functional as F  # noqa: E402
from cnnkit import Tensor  # noqa: E402
from cnnkit.ops.conv import _resolve_padding  # noqa: E402

TOLERANCE = {np.float32: 1e-4, np.float64: 1e-10}

# (N, H, W, C, M, (KH, KW), stride, padding)
DEPTHWISE = [
    (2, 9, 8, 3, 1, (3, 3), 1, 1),
    (3, 10, 9, 4, 2, (3, 2), 1, "same"),
    (2, 11, 10, 5, 1, (3, 3), 2, "same"),
    (2, 12, 12, 16, 1, (3, 3), 2, "valid"),
    (1, 13, 11, 6, 3, (5, 5), (2, 1), 2),
    (2, 7, 7, 8, 1, (1, 1), 1, 0),
]


def to_torch_kernel(w):
    KH, KW, C, M = w.shape
    return torch.from_numpy(np.ascontiguousarray(w.transpose(2, 3, 0, 1).reshape(C * M, 1, KH, KW)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("N,H,W,C,M,kernel,stride,padding", DEPTHWISE)
def test_depthwise_conv2d_output_and_gradients_equal_torch_grouped_conv(N, H, W, C, M, kernel, stride, padding,
                                                                        dtype):
    rng = np.random.default_rng(2)
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in ((N, H, W, C), (*kernel, C, M), (C * M,)))
    xt, wt, bt = (Tensor(a, requires_grad=True) for a in (x, w, b))
    out = F.depthwise_conv2d(xt, wt, bt, stride=stride, padding=padding)
    g = rng.standard_normal(out.shape).astype(dtype)
    out.backward(g)

    strides = (stride, stride) if isinstance(stride, int) else stride
    (top, bottom), (left, right) = _resolve_padding(padding, H, W, *kernel, *strides)
    rx = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).requires_grad_()
    rw, rb = to_torch_kernel(w).requires_grad_(), torch.from_numpy(b).requires_grad_()
    ref = TF.conv2d(TF.pad(rx, (left, right, top, bottom)), rw, rb, stride=strides, groups=C)
    ref.backward(torch.from_numpy(np.ascontiguousarray(g.transpose(0, 3, 1, 2))))

    rtol = TOLERANCE[dtype]
    for ours, theirs, what in ((out.numpy(), ref.detach().numpy().transpose(0, 2, 3, 1), "output"),
                               (xt.grad, rx.grad.numpy().transpose(0, 2, 3, 1), "grad_x"),
                               (wt.grad, rw.grad.numpy().reshape(C, M, *kernel).transpose(2, 3, 0, 1), "grad_w"),
                               (bt.grad, rb.grad.numpy(), "grad_b")):
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol * 0.1 * np.abs(theirs).max(), err_msg=what)
