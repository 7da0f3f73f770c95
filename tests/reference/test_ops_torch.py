"""Forward values and gradients of the non-conv ops equal PyTorch's, float32 and float64."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as TF  # noqa: E402

import cnnkit.functional as F  # noqa: E402
from cnnkit import Tensor  # noqa: E402

TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}


def compare(ours, theirs, inputs, dtype, seed=0):
    """Run both on the same inputs and a random upstream gradient; compare outputs and input gradients."""
    arrays = [np.asarray(a, dtype=dtype) for a in inputs]
    xs = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    ts = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    out, ref = ours(*xs), theirs(*ts)
    assert out.dtype == dtype
    scale = max(1.0, float(np.abs(ref.detach().numpy()).max()))
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=TOL[dtype]["rtol"], atol=TOL[dtype]["atol"] * scale)
    upstream = np.random.default_rng(seed).standard_normal(out.shape).astype(dtype)
    out.backward(upstream)
    ref.backward(torch.tensor(upstream))
    for x, t in zip(xs, ts):
        g_scale = max(1.0, float(t.grad.abs().max()))
        np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=TOL[dtype]["rtol"], atol=TOL[dtype]["atol"] * g_scale)


rng = np.random.default_rng(1)
TARGETS = rng.integers(0, 7, size=6)
PROBS = rng.random((6, 7))

CASES = {
    "add_mul_div_broadcast": (lambda a, b: (a + b) * a / (b * b + 1), lambda a, b: (a + b) * a / (b * b + 1),
                              [rng.standard_normal((3, 4)), rng.standard_normal(4)]),
    "pow_exp_log": (lambda a: (a ** 2 + 1).log() + (-a).exp(), lambda a: (a ** 2 + 1).log() + (-a).exp(),
                    [rng.standard_normal((3, 4))]),
    "sum_mean_max": (lambda a: a.sum(axis=0) + a.mean(axis=0) * a.max(axis=0),
                     lambda a: a.sum(dim=0) + a.mean(dim=0) * a.amax(dim=0), [rng.standard_normal((5, 4))]),
    "matmul_batched": (lambda a, b: a @ b, lambda a, b: a @ b,
                       [rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5))]),
    "linear": (lambda x, w, b: F.linear(x, w, b), lambda x, w, b: TF.linear(x, w.T, b),
               [rng.standard_normal((6, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)]),
    "relu": (F.relu, TF.relu, [rng.standard_normal((4, 5))]),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), lambda x: TF.leaky_relu(x, 0.1), [rng.standard_normal((4, 5))]),
    "prelu_channels_last": (F.prelu, lambda x, w: TF.prelu(x.permute(0, 3, 1, 2), w).permute(0, 2, 3, 1),
                            [rng.standard_normal((2, 3, 4, 5)), rng.standard_normal(5)]),
    "prelu_shared_slope": (F.prelu, TF.prelu, [rng.standard_normal((4, 5)), rng.standard_normal(1)]),
    "sigmoid": (F.sigmoid, torch.sigmoid, [rng.standard_normal((4, 5)) * 10]),
    "tanh": (F.tanh, torch.tanh, [rng.standard_normal((4, 5))]),
    "softmax": (lambda x: F.softmax(x, axis=1), lambda x: TF.softmax(x, dim=1), [rng.standard_normal((4, 5)) * 5]),
    "log_softmax": (F.log_softmax, lambda x: TF.log_softmax(x, dim=-1), [rng.standard_normal((4, 5)) * 5]),
    "cross_entropy": (lambda z: F.cross_entropy(z, TARGETS), lambda z: TF.cross_entropy(z, torch.tensor(TARGETS)),
                      [rng.standard_normal((6, 7)) * 4]),
    "cross_entropy_large_logits": (lambda z: F.cross_entropy(z, TARGETS),
                                   lambda z: TF.cross_entropy(z, torch.tensor(TARGETS)),
                                   [rng.standard_normal((6, 7)) * 1e4]),
    "bce_with_logits": (lambda z: F.binary_cross_entropy_with_logits(z, PROBS),
                        lambda z: TF.binary_cross_entropy_with_logits(z, torch.tensor(PROBS, dtype=z.dtype)),
                        [rng.standard_normal((6, 7)) * 20]),
    "mse": (F.mse_loss, TF.mse_loss, [rng.standard_normal((6, 7)), rng.standard_normal((6, 7))]),
    "concat": (lambda a, b: F.concat([a, b], axis=-1), lambda a, b: torch.cat([a, b], dim=-1),
               [rng.standard_normal((2, 3, 2)), rng.standard_normal((2, 3, 5))]),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch(name, dtype):
    ours, theirs, inputs = CASES[name]
    compare(ours, theirs, inputs, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batch_norm_matches_torch_including_running_statistics(training, dtype):
    x = rng.standard_normal((4, 5, 3, 6)).astype(dtype) * 3 + 1
    gamma, beta = rng.standard_normal(6).astype(dtype), rng.standard_normal(6).astype(dtype)
    mean, var = rng.standard_normal(6).astype(dtype), rng.random(6).astype(dtype) + 0.5
    t_mean, t_var = torch.tensor(mean.copy()), torch.tensor(var.copy())
    compare(lambda x, g, b: F.batch_norm(x, g, b, mean, var, training, momentum=0.2, eps=1e-3),
            lambda x, g, b: TF.batch_norm(x.permute(0, 3, 1, 2), t_mean, t_var, g, b, training, 0.2, 1e-3)
            .permute(0, 2, 3, 1), [x, gamma, beta], dtype)
    np.testing.assert_allclose(mean, t_mean.numpy(), **TOL[dtype])
    np.testing.assert_allclose(var, t_var.numpy(), **TOL[dtype])
