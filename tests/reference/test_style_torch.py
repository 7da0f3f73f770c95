"""The gradient of the style-transfer cost with respect to the generated image equals PyTorch's.

The same VGG-16 (random He-initialised weights: the maths is the same as with
the pretrained ones), preprocessing, costs and image in both frameworks.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as TF  # noqa: E402

from cnnkit import Tensor  # noqa: E402
from cnnkit.models.vgg_features import MEAN_BGR, hed_edges, vgg16_features  # noqa: E402
from cnnkit.nn import init  # noqa: E402
from cnnkit.style import content_cost, style_cost, total_cost, total_variation  # noqa: E402

STYLE_LAYERS = {"conv1_1": 0.2, "conv2_1": 0.2, "conv3_1": 0.2, "conv4_1": 0.2, "conv5_1": 0.2}
ORDER = ["conv1_1", "conv1_2", "pool", "conv2_1", "conv2_2", "pool", "conv3_1", "conv3_2", "conv3_3", "pool",
         "conv4_1", "conv4_2", "conv4_3", "pool", "conv5_1", "conv5_2", "conv5_3"]
rng = np.random.default_rng(0)
SIDE_SCALE = 1e-3


def make_model(dtype):
    model = vgg16_features(weights=None, dtype=dtype, rng=0)
    for name, param in model.named_parameters():
        init.kaiming_normal_(param, nonlinearity="relu", rng=rng) if name.endswith("weight") else init.normal_(
            param, std=0.1, rng=rng)
    return model.freeze()


def torch_features(state, image):
    """VGG-16 in PyTorch (NCHW) from cnnkit's HWIO state dict: the activations after each ReLU."""
    x = image.flip(-1) * 255 - torch.tensor(MEAN_BGR, dtype=image.dtype)
    x = x.permute(0, 3, 1, 2)
    acts = {}
    for name in ORDER:
        if name == "pool":
            x = TF.max_pool2d(x, 2, ceil_mode=True)
            continue
        w = torch.tensor(state[f"{name}.weight"]).permute(3, 2, 0, 1)
        x = TF.relu(TF.conv2d(x, w, torch.tensor(state[f"{name}.bias"]), padding=1))
        acts[name] = x.permute(0, 2, 3, 1)
    return acts


def torch_gram(a):
    A = a.reshape(-1, a.shape[-1]).T
    return A @ A.T


def torch_cost(acts, a_C, a_S, image):
    _, n_H, n_W, n_C = a_C.shape
    J_content = ((a_C - acts["conv4_2"]) ** 2).sum() / (4 * n_H * n_W * n_C)
    J_style = 0
    for k, lam in STYLE_LAYERS.items():
        _, n_H, n_W, n_C = a_S[k].shape
        J_style = J_style + lam * ((torch_gram(a_S[k]) - torch_gram(acts[k])) ** 2).sum() / (
            4 * n_C ** 2 * (n_H * n_W) ** 2)
    tv = ((image[:, 1:] - image[:, :-1]) ** 2).sum() + ((image[:, :, 1:] - image[:, :, :-1]) ** 2).sum()
    return 10 * J_content + 40 * J_style + 1e-3 * tv


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-8), (np.float32, 1e-4)])
def test_total_cost_gradient_with_respect_to_the_image_matches_pytorch(dtype, rtol):
    model = make_model(dtype)
    content, style, generated = (rng.uniform(0, 1, (1, 32, 32, 3)).astype(dtype) for _ in range(3))
    taps = tuple(STYLE_LAYERS) + ("conv4_2",)

    a_C = model.features(content, "conv4_2")["conv4_2"].detach()
    a_S = {k: v.detach() for k, v in model.features(style, taps).items()}
    G = Tensor(generated.copy(), requires_grad=True)
    acts = model.features(G, taps)
    J = total_cost(content_cost(a_C, acts["conv4_2"]), style_cost(a_S, acts, STYLE_LAYERS)) + 1e-3 * total_variation(G)
    J.backward()

    state = {k: v.copy() for k, v in model.state_dict().items()}
    with torch.no_grad():
        t_C = torch_features(state, torch.tensor(content))["conv4_2"]
        t_S = torch_features(state, torch.tensor(style))
    t_G = torch.tensor(generated.copy(), requires_grad=True)
    t_J = torch_cost(torch_features(state, t_G), t_C, t_S, t_G)
    t_J.backward()

    np.testing.assert_allclose(J.item(), t_J.item(), rtol=rtol)
    assert G.grad.dtype == dtype
    scale = np.abs(t_G.grad.numpy()).max()
    np.testing.assert_allclose(G.grad, t_G.grad.numpy(), rtol=rtol, atol=rtol * scale)


def test_hed_edges_match_pytorch_with_bilinear_upsampling():
    model = make_model(np.float32)
    state = {k: v.copy() for k, v in model.state_dict().items()}
    for i, c in enumerate((64, 128, 256, 512, 512), 1):
        # scaled so that the side outputs are of order 1, not saturating the sigmoid
        state[f"dsn{i}.weight"] = rng.standard_normal((1, 1, c, 1)).astype(np.float32) * SIDE_SCALE
        state[f"dsn{i}.bias"] = rng.standard_normal(1).astype(np.float32)
    state["fuse.weight"] = rng.uniform(0, 0.4, (1, 1, 5, 1)).astype(np.float32)
    state["fuse.bias"] = rng.standard_normal(1).astype(np.float32)
    image = rng.uniform(0, 1, (36, 52, 3)).astype(np.float32)  # 52 / 16 is not whole: the pools round up

    with torch.no_grad():
        acts = torch_features(state, torch.tensor(image[None]))
        sides = []
        for i, tap in enumerate(("conv1_2", "conv2_2", "conv3_3", "conv4_3", "conv5_3"), 1):
            side = acts[tap] @ torch.tensor(state[f"dsn{i}.weight"][0, 0]) + torch.tensor(state[f"dsn{i}.bias"])
            sides.append(TF.interpolate(side.permute(0, 3, 1, 2), size=(36, 52), mode="bilinear", align_corners=False))
        fused = torch.cat(sides, dim=1).permute(0, 2, 3, 1) @ torch.tensor(state["fuse.weight"][0, 0])
        expected = torch.sigmoid(fused + torch.tensor(state["fuse.bias"]))[0, :, :, 0].numpy()

    assert 0.05 < expected.mean() < 0.95 and expected.std() > 0.05  # the sigmoid is not saturated
    np.testing.assert_allclose(hed_edges(image, weights=state), expected, rtol=1e-4, atol=1e-5)
