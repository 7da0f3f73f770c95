"""Numerical gradient check along random directions, in float64."""
import numpy as np

from cnnkit.autograd.tensor import Tensor


def gradcheck(fn, inputs, eps=1e-6, rtol=1e-6, atol=1e-9, directions=3, seed=0):
    """Check the hand-written backward of ``fn`` against central differences.

    For a random upstream gradient ``u`` the scalar ``L(x) = sum(fn(x) * u)`` is
    differentiated along random directions ``d`` of each input in turn:
    ``(L(x + eps d) - L(x - eps d)) / (2 eps)`` must equal ``<grad_x, d>``.

    Parameters
    ----------
    fn : callable
        Takes Tensors and returns one Tensor.
    inputs : sequence of ndarray or Tensor
        float64 values. An ndarray is checked; a Tensor with
        ``requires_grad=False`` is held constant.
    eps, rtol, atol : float
        Step and tolerances: ``|numeric - analytic| <= atol + rtol * max(|numeric|, |analytic|)``,
        plus the rounding error of the difference itself: one float64 ulp of
        ``sum(|fn(x) * u|)`` over ``eps``.
    directions : int
        Random directions tried per input.
    seed : int
        Seed of the random upstream gradient and directions.

    Returns
    -------
    bool
        True; an AssertionError names the input and both values otherwise.
    """
    rng = np.random.default_rng(seed)
    tensors = [x if isinstance(x, Tensor) else Tensor(np.asarray(x), requires_grad=True) for x in inputs]
    for t in tensors:
        if t.dtype != np.float64:
            raise TypeError(f"gradcheck needs float64 inputs, got {t.dtype}")
    out = fn(*tensors)
    upstream = rng.standard_normal(out.shape)
    out.backward(upstream)

    def loss(values):
        with_values = [Tensor(v) if t.requires_grad else t for t, v in zip(tensors, values)]
        return float(np.sum(fn(*with_values).data * upstream))

    # L is a sum of many products: the difference of two of its values, divided by a small eps, is no
    # more exact than the rounding of that sum (which hid a correct directional derivative near zero)
    rounding = np.finfo(np.float64).eps * float(np.sum(np.abs(out.data * upstream))) / eps
    base = [t.data.copy() for t in tensors]
    for i, t in enumerate(tensors):
        if not t.requires_grad:
            continue
        analytic_grad = np.zeros_like(base[i]) if t.grad is None else t.grad
        for _ in range(directions):
            d = rng.standard_normal(base[i].shape)
            plus, minus = list(base), list(base)
            plus[i], minus[i] = base[i] + eps * d, base[i] - eps * d
            numeric = (loss(plus) - loss(minus)) / (2 * eps)
            analytic = float(np.sum(analytic_grad * d))
            if abs(numeric - analytic) > atol + rounding + rtol * max(abs(numeric), abs(analytic)):
                raise AssertionError(
                    f"gradient of input {i} (shape {base[i].shape}) along a random direction: "
                    f"numeric {numeric!r}, analytic {analytic!r}")
    return True
