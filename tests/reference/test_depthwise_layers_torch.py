"""nn.DepthwiseConv2d and nn.SeparableConv2d against PyTorch's grouped and 1x1 convolutions.

Output, input gradient and every parameter gradient, float32 and float64; weights are copied
with the layout transposes ((KH, KW, C, M) -> (C * M, 1, KH, KW), HWIO -> OIHW).
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn as tnn  # noqa: E402

from cnnkit import nn  # noqa: E402

RTOL = {np.float32: 1e-4, np.float64: 1e-10}
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}


def depthwise_to_torch(w):
    KH, KW, C, M = w.shape
    return np.ascontiguousarray(w.transpose(2, 3, 0, 1).reshape(C * M, 1, KH, KW))


def assert_close(ours, ref, dtype, what):
    rtol = RTOL[dtype]
    np.testing.assert_allclose(ours, ref, rtol=rtol, atol=rtol * max(1.0, float(np.abs(ref).max())), err_msg=what)


def run_both(ours, theirs, x, dtype):
    """Forward and backward of both on channels-last ``x``; returns our input and theirs after backward."""
    xc = nn.Parameter(x.astype(dtype))
    xt = torch.from_numpy(np.ascontiguousarray(x.astype(dtype).transpose(0, 3, 1, 2))).requires_grad_(True)
    y, yt = ours(xc), theirs(xt)
    assert_close(y.numpy(), yt.detach().numpy().transpose(0, 2, 3, 1), dtype, "output")
    g = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    y.backward(g)
    yt.backward(torch.from_numpy(np.ascontiguousarray(g.transpose(0, 3, 1, 2))))
    assert_close(xc.grad, xt.grad.numpy().transpose(0, 2, 3, 1), dtype, "input gradient")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kwargs", [
    {"kernel_size": 3, "padding": 1},
    {"kernel_size": 3, "stride": 2, "channel_multiplier": 2},
    {"kernel_size": (3, 5), "padding": (1, 2), "bias": False},
])
def test_depthwise_conv2d_layer_matches_torch_grouped_conv(dtype, kwargs):
    ours = nn.DepthwiseConv2d(4, dtype=dtype, rng=0, **kwargs)
    M = kwargs.get("channel_multiplier", 1)
    theirs = tnn.Conv2d(4, 4 * M, kwargs["kernel_size"], kwargs.get("stride", 1), kwargs.get("padding", 0),
                        groups=4, bias=kwargs.get("bias", True)).to(TORCH_DTYPE[dtype])
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(depthwise_to_torch(ours.weight.data)))
        if ours.bias is not None:
            theirs.bias.copy_(torch.from_numpy(ours.bias.data))
    run_both(ours, theirs, np.random.default_rng(0).standard_normal((2, 9, 8, 4)), dtype)
    assert_close(ours.weight.grad, theirs.weight.grad.numpy().reshape(4, M, *ours.kernel_size).transpose(2, 3, 0, 1),
                 dtype, "weight gradient")
    if ours.bias is not None:
        assert_close(ours.bias.grad, theirs.bias.grad.numpy(), dtype, "bias gradient")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_separable_conv2d_layer_matches_torch_depthwise_then_pointwise(dtype):
    ours = nn.SeparableConv2d(3, 5, 3, padding="same", channel_multiplier=2, dtype=dtype, rng=0)
    theirs = tnn.Sequential(tnn.Conv2d(3, 6, 3, padding="same", groups=3, bias=False), tnn.Conv2d(6, 5, 1))
    theirs.to(TORCH_DTYPE[dtype])
    with torch.no_grad():
        theirs[0].weight.copy_(torch.from_numpy(depthwise_to_torch(ours.depthwise.weight.data)))
        theirs[1].weight.copy_(torch.from_numpy(np.ascontiguousarray(ours.pointwise.weight.data.transpose(3, 2, 0, 1))))
        theirs[1].bias.copy_(torch.from_numpy(ours.pointwise.bias.data))
    run_both(ours, theirs, np.random.default_rng(0).standard_normal((2, 7, 6, 3)), dtype)
    assert_close(ours.depthwise.weight.grad, theirs[0].weight.grad.numpy().reshape(3, 2, 3, 3).transpose(2, 3, 0, 1),
                 dtype, "depthwise gradient")
    assert_close(ours.pointwise.weight.grad, theirs[1].weight.grad.numpy().transpose(2, 3, 1, 0), dtype,
                 "pointwise gradient")
    assert_close(ours.pointwise.bias.grad, theirs[1].bias.grad.numpy(), dtype, "bias gradient")
