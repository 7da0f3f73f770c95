"""Every nn layer and block against PyTorch: outputs, input gradients, parameter gradients, running statistics.

Weights are copied over with the layout transposes (HWIO -> OIHW, (in, out) -> (out, in)),
images with NHWC -> NCHW. The torch blocks below restate torchvision's code (not installed).
"""
import numpy as np
import pytest
import torch
from torch import nn as tnn

from cnnkit import nn

RTOL = {np.float32: 1e-4, np.float64: 1e-10}
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}
DTYPES = [np.float32, np.float64]


def to_torch_layout(array):
    """Our layout -> PyTorch's: images and kernels of 4 axes, dense weights of 2 (vectors unchanged)."""
    if array.ndim == 4:
        return array.transpose(3, 2, 0, 1)  # HWIO -> OIHW
    if array.ndim == 2:
        return array.T  # (in, out) -> (out, in)
    return array


def image_to_torch(x):
    return x.transpose(0, 3, 1, 2) if x.ndim == 4 else x  # NHWC -> NCHW


def image_from_torch(t):
    a = t.detach().numpy()
    return a.transpose(0, 2, 3, 1) if a.ndim == 4 else a  # NCHW -> NHWC


def assert_close(ours, ref, dtype, what):
    """Relative tolerance of the dtype, with the absolute floor set by the reference's magnitude."""
    rtol = RTOL[dtype]
    np.testing.assert_allclose(ours, ref, rtol=rtol, atol=rtol * max(1.0, float(np.abs(ref).max(initial=0))),
                               err_msg=what)


def copy_weights(ours, theirs):
    """Load our parameters and buffers into the torch module (torch's extra num_batches_tracked stays)."""
    state = {k: torch.from_numpy(np.ascontiguousarray(to_torch_layout(v))) for k, v in ours.state_dict().items()}
    missing, unexpected = theirs.load_state_dict(state, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)


def compare(ours, theirs, x, dtype, image_input=True):
    """Run both on ``x`` (channels-last) and compare output, input gradient, parameter gradients and buffers."""
    theirs.to(TORCH_DTYPE[dtype])
    copy_weights(ours, theirs)
    x = x.astype(dtype)
    xt = torch.from_numpy(np.ascontiguousarray(image_to_torch(x) if image_input else x)).requires_grad_(True)
    xc = nn.Parameter(x)
    y, yt = ours(xc), theirs(xt)
    ref = image_from_torch(yt)
    assert y.dtype == dtype
    assert_close(y.numpy(), ref, dtype, "output")
    upstream = np.random.default_rng(1).standard_normal(ref.shape).astype(dtype)
    y.backward(upstream)
    yt.backward(torch.from_numpy(np.ascontiguousarray(image_to_torch(upstream))))
    grad_ref = xt.grad.numpy()
    assert_close(xc.grad, grad_ref.transpose(0, 2, 3, 1) if image_input and x.ndim == 4 else grad_ref, dtype,
                 "input gradient")
    torch_params = dict(theirs.named_parameters())
    assert set(torch_params) == {name for name, _ in ours.named_parameters()}
    for name, param in ours.named_parameters():
        assert_close(to_torch_layout(param.grad), torch_params[name].grad.numpy(), dtype, f"gradient of {name}")
    torch_buffers = dict(theirs.named_buffers())
    for name, buf in ours.named_buffers():
        assert_close(buf, torch_buffers[name].numpy(), dtype, f"buffer {name}")


def images(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kwargs", [
    {"kernel_size": 3},
    {"kernel_size": 3, "stride": 2, "padding": 1},
    {"kernel_size": (3, 2), "stride": (2, 1), "padding": (1, 0), "bias": False},
    {"kernel_size": 1},
    {"kernel_size": 5, "padding": "same"},
])
def test_conv2d_matches_torch(dtype, kwargs):
    ours = nn.Conv2d(3, 4, dtype=dtype, rng=0, **kwargs)
    theirs = tnn.Conv2d(3, 4, **kwargs)
    compare(ours, theirs, images((2, 7, 8, 3)), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_matches_torch(dtype):
    compare(nn.Linear(5, 3, dtype=dtype, rng=0), tnn.Linear(5, 3), images((4, 5)), dtype, image_input=False)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kwargs", [
    {"kernel_size": 2},
    {"kernel_size": 3, "stride": 2, "padding": 1},
    {"kernel_size": 3, "stride": 2, "ceil_mode": True},
    {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
    {"kernel_size": 3, "stride": 1, "padding": 1, "ceil_mode": True},
])
def test_max_pool2d_matches_torch(dtype, kwargs):
    compare(nn.MaxPool2d(**kwargs), tnn.MaxPool2d(**kwargs), images((2, 8, 9, 3)), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kwargs", [{"kernel_size": 2}, {"kernel_size": 3, "stride": 2, "padding": 1}])
def test_avg_pool2d_matches_torch(dtype, kwargs):
    compare(nn.AvgPool2d(**kwargs), tnn.AvgPool2d(**kwargs), images((2, 8, 9, 3)), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_global_avg_pool2d_matches_torch(dtype):
    compare(nn.GlobalAvgPool2d(), tnn.Sequential(tnn.AdaptiveAvgPool2d(1), tnn.Flatten()), images((2, 5, 6, 3)), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hw, size", [((6, 6), 6), ((6, 9), (3, 3)), ((5, 7), 3), ((2, 2), (3, 4))])
def test_adaptive_avg_pool2d_matches_torch(dtype, hw, size):
    compare(nn.AdaptiveAvgPool2d(size), tnn.AdaptiveAvgPool2d(size), images((2,) + hw + (3,)), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ours, theirs", [
    (nn.ReLU, tnn.ReLU), (nn.Sigmoid, tnn.Sigmoid), (nn.Tanh, tnn.Tanh), (nn.Identity, tnn.Identity),
    (lambda: nn.LeakyReLU(0.2), lambda: tnn.LeakyReLU(0.2)),
])
def test_activation_matches_torch(dtype, ours, theirs):
    compare(ours(), theirs(), images((2, 4, 5, 3)), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("slopes", [[0.1, -0.3, 0.7], [0.25]], ids=["per_channel", "shared"])
def test_prelu_matches_torch(dtype, slopes):
    ours, theirs = nn.PReLU(len(slopes), dtype=dtype), tnn.PReLU(len(slopes))
    ours.weight.data[:] = slopes
    compare(ours, theirs, images((2, 4, 5, 3)), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_matches_torch(dtype):
    compare(nn.Softmax(axis=-1), tnn.Softmax(dim=-1), images((4, 6)), dtype, image_input=False)


@pytest.mark.parametrize("dtype", DTYPES)
def test_flatten_is_channels_last_reshape(dtype):
    x = images((2, 3, 4, 5)).astype(dtype)
    np.testing.assert_array_equal(nn.Flatten()(x).numpy(), x.reshape(2, 60))


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm2d_train_matches_torch_with_running_stats(dtype):
    ours, theirs = nn.BatchNorm2d(3, momentum=0.3, dtype=dtype), tnn.BatchNorm2d(3, momentum=0.3)
    ours.weight.data[:] = [0.5, 1.5, -2.0]
    ours.bias.data[:] = [0.1, -0.2, 0.3]
    ours.running_mean[:] = [0.2, -0.1, 0.4]
    ours.running_var[:] = [1.5, 0.5, 2.0]
    compare(ours, theirs, images((4, 3, 5, 3)) * 2 + 1, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm2d_eval_matches_torch(dtype):
    ours, theirs = nn.BatchNorm2d(3, dtype=dtype), tnn.BatchNorm2d(3)
    ours.running_mean[:] = [0.2, -0.1, 0.4]
    ours.running_var[:] = [1.5, 0.5, 2.0]
    ours.weight.data[:] = [0.5, 1.5, -2.0]
    compare(ours.eval(), theirs.eval(), images((2, 3, 4, 3)), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm1d_matches_torch(dtype, training):
    ours, theirs = nn.BatchNorm1d(4, dtype=dtype), tnn.BatchNorm1d(4)
    ours.train(training)
    theirs.train(training)
    compare(ours, theirs, images((6, 4)), dtype, image_input=False)


# torchvision's blocks, restated (torchvision/models/resnet.py, googlenet.py)
class TorchBasicBlock(tnn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = tnn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(cout)
        self.relu = tnn.ReLU()
        self.conv2 = tnn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = tnn.Sequential(tnn.Conv2d(cin, cout, 1, stride, bias=False), tnn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class TorchBottleneck(tnn.Module):
    def __init__(self, cin, filters, stride=1, projection=False):
        super().__init__()
        f1, f2, f3 = filters
        self.conv1 = tnn.Conv2d(cin, f1, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(f1)
        self.conv2 = tnn.Conv2d(f1, f2, 3, stride, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(f2)
        self.conv3 = tnn.Conv2d(f2, f3, 1, bias=False)
        self.bn3 = tnn.BatchNorm2d(f3)
        self.relu = tnn.ReLU()
        self.downsample = None
        if projection:
            self.downsample = tnn.Sequential(tnn.Conv2d(cin, f3, 1, stride, bias=False), tnn.BatchNorm2d(f3))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


class TorchBasicConv2d(tnn.Module):
    def __init__(self, cin, cout, **kwargs):
        super().__init__()
        self.conv = tnn.Conv2d(cin, cout, bias=False, **kwargs)
        self.bn = tnn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class TorchInception(tnn.Module):
    def __init__(self, cin, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj, k3):
        super().__init__()
        self.branch1 = TorchBasicConv2d(cin, ch1x1, kernel_size=1)
        self.branch2 = tnn.Sequential(TorchBasicConv2d(cin, ch3x3red, kernel_size=1),
                                      TorchBasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1))
        self.branch3 = tnn.Sequential(TorchBasicConv2d(cin, ch5x5red, kernel_size=1),
                                      TorchBasicConv2d(ch5x5red, ch5x5, kernel_size=k3, padding=k3 // 2))
        self.branch4 = tnn.Sequential(tnn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
                                      TorchBasicConv2d(cin, pool_proj, kernel_size=1))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


def randomise_batch_norms(module, seed=0):
    """Non-trivial gamma, beta and running statistics, so eval mode and the affine gradients are exercised."""
    rng = np.random.default_rng(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data[:] = rng.uniform(0.5, 1.5, m.num_features)
            m.bias.data[:] = rng.uniform(-0.5, 0.5, m.num_features)
            m.running_mean[:] = rng.uniform(-0.5, 0.5, m.num_features)
            m.running_var[:] = rng.uniform(0.5, 1.5, m.num_features)
    return module


BLOCKS = [
    ("basic identity", lambda d: nn.BasicBlock(4, 4, dtype=d, rng=0), lambda: TorchBasicBlock(4, 4), 4),
    ("basic downsample", lambda d: nn.BasicBlock(4, 6, stride=2, dtype=d, rng=0), lambda: TorchBasicBlock(4, 6, 2), 4),
    ("identity block", lambda d: nn.IdentityBlock(8, (3, 4, 8), dtype=d, rng=0),
     lambda: TorchBottleneck(8, (3, 4, 8)), 8),
    ("conv block", lambda d: nn.ConvBlock(4, (3, 4, 8), stride=2, dtype=d, rng=0),
     lambda: TorchBottleneck(4, (3, 4, 8), stride=2, projection=True), 4),
    ("inception 3x3", lambda d: nn.InceptionBlock(5, 2, 3, 4, 2, 3, 2, branch3_kernel=3, dtype=d, rng=0),
     lambda: TorchInception(5, 2, 3, 4, 2, 3, 2, k3=3), 5),
    ("inception 5x5", lambda d: nn.InceptionBlock(5, 2, 3, 4, 2, 3, 2, dtype=d, rng=0),
     lambda: TorchInception(5, 2, 3, 4, 2, 3, 2, k3=5), 5),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name, ours, theirs, channels", BLOCKS, ids=[b[0] for b in BLOCKS])
def test_block_matches_torch(dtype, training, name, ours, theirs, channels):
    ours_block, theirs_block = randomise_batch_norms(ours(dtype)), theirs()
    ours_block.train(training)
    theirs_block.train(training)
    compare(ours_block, theirs_block, images((2, 6, 7, channels)), dtype)
