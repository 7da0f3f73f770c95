"""The dlib_mmod zoo model against the same network written in PyTorch (random weights)."""
import numpy as np
import pytest

from cnnkit.autograd.tensor import Tensor, no_grad
from cnnkit.models import get_model

torch = pytest.importorskip("torch")


def test_forward_matches_pytorch():
    model = get_model("dlib_mmod", rng=0).eval()
    rng = np.random.default_rng(1)
    for i in range(1, 7):
        affine = getattr(model, f"affine{i}")
        affine.gamma.data[:] = rng.uniform(0.5, 1.5, affine.gamma.shape)
        affine.beta.data[:] = rng.normal(0, 0.1, affine.beta.shape)
    x = rng.normal(0, 0.5, (2, 70, 90, 3)).astype(np.float32)
    with no_grad():
        ours = model(Tensor(x)).data
    h = torch.tensor(x).permute(0, 3, 1, 2)
    for i in range(1, 8):
        conv = getattr(model, f"conv{i}")
        w = torch.tensor(conv.weight.data).permute(3, 2, 0, 1)
        h = torch.nn.functional.conv2d(h, w, torch.tensor(conv.bias.data), stride=conv.stride, padding=conv.padding)
        if i < 7:
            affine = getattr(model, f"affine{i}")
            h = torch.relu(h * torch.tensor(affine.gamma.data)[:, None, None] + torch.tensor(affine.beta.data)[:, None, None])
    theirs = h.permute(0, 2, 3, 1).numpy()
    assert ours.shape == theirs.shape == (2, 6, 8, 1)          # 70 -> 33 -> 15 -> 6, 90 -> 43 -> 20 -> 8
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5 * np.abs(theirs).max())


def test_gradients_reach_the_input_as_in_pytorch():
    model = get_model("dlib_mmod", rng=2)
    x = np.random.default_rng(3).normal(0, 0.5, (1, 60, 60, 3)).astype(np.float32)
    xt = Tensor(x, requires_grad=True)
    model(xt).sum().backward()
    h = torch.tensor(x).permute(0, 3, 1, 2).requires_grad_(True)
    out = h
    for i in range(1, 8):
        conv = getattr(model, f"conv{i}")
        w = torch.tensor(conv.weight.data).permute(3, 2, 0, 1)
        out = torch.nn.functional.conv2d(out, w, torch.tensor(conv.bias.data), stride=conv.stride, padding=conv.padding)
        if i < 7:
            out = torch.relu(out)
    out.sum().backward()
    np.testing.assert_allclose(xt.grad, h.grad.permute(0, 2, 3, 1).numpy(), rtol=1e-3,
                               atol=1e-5 * np.abs(h.grad.numpy()).max())
